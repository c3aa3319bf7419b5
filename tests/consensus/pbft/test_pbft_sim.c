/* test_pbft_sim.c — PBFT under the deterministic simulator (consensus/sim):
 * fault-free runs, the mixed fault preset (f Byzantine replicas: silent,
 * bad signatures, replays, flooding; loss, duplication, reordering,
 * partitions, a crash and restart before GST) over a few hundred seeds, and
 * real Ed25519. Agreement, validity and liveness are checked by the
 * simulator on every run; a failure prints the replay command. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "consensus/pbft_private.h"
#include "consensus/sim/sim.h"
#include "tests/testutil.h"

/* Pull PBFT out of the static library: consensus.h declares pc_pbft_ops
 * weak, and a weak reference does not make the linker load pbft.o, so
 * refer to a strong symbol of it. */
uint16_t (*const pc_pbft_link_ref)(uint32_t, uint16_t) = pc_pbft_primary;

static void run_preset(const char *preset, uint16_t n, uint64_t seed0, unsigned count, bool pbft_clean) {
  unsigned failed = 0;
  for (unsigned i = 0; i < count; i++) {
    uint64_t seed = seed0 + i;
    pc_sim_config_t cfg;
    if (pbft_clean) {
      pc_sim_config_default(&cfg, n, seed);
      cfg.proto.protocol = PC_PROTO_PBFT;
    } else {
      cr_assert_eq(pc_sim_preset(&cfg, preset, n, seed), 0);
    }
    pc_sim_result_t res;
    int err = pc_sim_run(&cfg, &res);
    if (err || !res.ok) {
      char cmd[256];
      pc_sim_replay_cmd(cmd, sizeof cmd, preset, n, seed);
      fprintf(stderr, "pbft sim %s n=%u seed=%llu failed: %s\n  replay: %s\n", preset, n, (unsigned long long)seed,
              res.failure, cmd);
      failed++;
    }
  }
  cr_assert_eq(failed, 0, "%u of %u runs failed (seeds from %llu; see stderr)", failed, count,
               (unsigned long long)seed0);
}

Test(pbft_sim, clean_n4) {
  cr_assert_not_null(pc_pbft_link_ref);
  run_preset("pbft-clean", 4, pc_test_seed(1), pc_test_iters(20), true);
}

Test(pbft_sim, clean_n7) { run_preset("pbft-clean", 7, pc_test_seed(100), pc_test_iters(5), true); }

Test(pbft_sim, mixed_n4) { run_preset("pbft-mixed", 4, pc_test_seed(1000), pc_test_iters(200), false); }

Test(pbft_sim, mixed_n7) { run_preset("pbft-mixed", 7, pc_test_seed(5000), pc_test_iters(40), false); }
