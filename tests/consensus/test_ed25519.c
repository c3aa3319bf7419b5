/* test_ed25519.c — simulator runs with real Ed25519 signatures (libsodium)
 * instead of the stand-in: the same checks, fewer seeds (each verification
 * costs ~50 µs of real CPU). */
#include <criterion/criterion.h>

#include "consensus/sim/sim.h"
#include "tests/testutil.h"

static void run(const char *preset, uint16_t n, unsigned iters) {
  for (unsigned i = 0; i < iters; i++) {
    pc_sim_config_t cfg;
    cr_assert_eq(pc_sim_preset(&cfg, preset, n, 1 + i), 0);
    cfg.real_crypto = true;
    pc_sim_result_t r;
    int err = pc_sim_run(&cfg, &r);
    cr_assert_eq(err, 0, "%s n=%u seed=%u (real crypto): %s", preset, n, 1 + i, r.failure);
  }
}

Test(ed25519, clean_n4) {
  pc_sim_config_t cfg;
  pc_sim_preset(&cfg, "ed25519", 4, 1);
  pc_sim_result_t r;
  cr_assert_eq(pc_sim_run(&cfg, &r), 0, "%s", r.failure);
  cr_assert_gt(r.verifies, 0);
}
Test(ed25519, mixed_n4, .timeout = 200) { run("mixed", 4, pc_test_iters(20)); }
Test(ed25519, mixed_n7, .timeout = 200) { run("mixed", 7, pc_test_iters(8)); }
Test(ed25519, collector_n4, .timeout = 200) { run("collector", 4, pc_test_iters(10)); }
Test(ed25519, adversarial_n4, .timeout = 200) { run("adversarial", 4, pc_test_iters(10)); }
