/* test_sim.c — simulator sweeps: hundreds of seeds mixing Byzantine
 * replicas, loss, duplication, reordering, partitions and crashes, at
 * n = 4, 7 and 10; agreement, validity and liveness are checked in every
 * run. Seed counts scale with PC_TEST_SCALE; a failure prints the command
 * that replays it. Longer sweep: `pc_sim mixed 16 1 5000` (README). */
#include <criterion/criterion.h>
#include <stdio.h>

#include "consensus/sim/sim.h"
#include "tests/testutil.h"

static void sweep(const char *preset, uint16_t n, unsigned base) {
  unsigned iters = pc_test_iters(base);
  uint64_t first = pc_test_seed(1);
  if (getenv("PC_TEST_SEED")) iters = 1;
  unsigned failed = 0;
  for (unsigned i = 0; i < iters; i++) {
    uint64_t seed = first + i;
    pc_sim_config_t cfg;
    cr_assert_eq(pc_sim_preset(&cfg, preset, n, seed), 0);
    pc_sim_result_t r;
    int err = pc_sim_run(&cfg, &r);
    if (err) {
      char cmd[256];
      pc_sim_replay_cmd(cmd, sizeof cmd, preset, n, seed);
      cr_log_error("%s n=%u seed=%llu: %s\n  replay: %s", preset, n, (unsigned long long)seed, r.failure, cmd);
      failed++;
    }
  }
  cr_assert_eq(failed, 0, "%u of %u %s runs at n=%u failed (replay commands above)", failed, iters, preset, n);
}

Test(sim, clean_decides_on_fast_path) {
  pc_sim_config_t cfg;
  pc_sim_preset(&cfg, "clean", 4, 1);
  pc_sim_result_t r;
  cr_assert_eq(pc_sim_run(&cfg, &r), 0, "%s", r.failure);
  cr_assert_eq(r.round_changes, 0);
  cr_assert_eq(r.fast_decisions, 4 * cfg.target_height, "every honest replica decides every height on the fast path");
}

Test(sim, clean_slow_path_without_fast_path) {
  pc_sim_config_t cfg;
  pc_sim_preset(&cfg, "clean", 7, 3);
  cfg.proto.fast_path = false;
  pc_sim_result_t r;
  cr_assert_eq(pc_sim_run(&cfg, &r), 0, "%s", r.failure);
  cr_assert_eq(r.fast_decisions, 0);
  cr_assert_geq(r.min_height, cfg.target_height);
}

Test(sim, same_seed_same_run) {
  pc_sim_config_t cfg;
  pc_sim_preset(&cfg, "mixed", 7, 42);
  pc_sim_result_t a, b;
  pc_sim_run(&cfg, &a);
  pc_sim_run(&cfg, &b);
  cr_assert_eq(a.events, b.events);
  cr_assert_eq(a.msgs, b.msgs);
  cr_assert_eq(a.end_time_ns, b.end_time_ns);
  cr_assert_eq(a.verifies, b.verifies);
}

Test(sim, silent_replica_stalls_fast_path_only) {
  pc_sim_config_t cfg;
  pc_sim_preset(&cfg, "clean", 4, 5);
  cfg.byz[2] = PC_BYZ_SILENT;
  pc_sim_result_t r;
  cr_assert_eq(pc_sim_run(&cfg, &r), 0, "%s", r.failure);
  cr_assert_eq(r.fast_decisions, 0, "n votes are impossible with a silent replica");
}

Test(sim, liveness_check_can_fail) {
  /* f+1 silent replicas: no quorum, the liveness check must fire */
  pc_sim_config_t cfg;
  pc_sim_preset(&cfg, "clean", 4, 5);
  cfg.byz[1] = cfg.byz[2] = PC_BYZ_SILENT;
  cfg.liveness_bound_ns = 2000000000ull;
  pc_sim_result_t r;
  cr_assert_eq(pc_sim_run(&cfg, &r), PC_ERR_STATE);
  cr_assert(r.liveness_violated);
  cr_assert(!r.agreement_violated);
}

Test(sim, checkpoints_become_stable) {
  pc_sim_config_t cfg;
  pc_sim_preset(&cfg, "clean", 4, 9);
  cfg.proto.checkpoint_interval = 4;
  cfg.target_height = 12;
  pc_sim_result_t r;
  cr_assert_eq(pc_sim_run(&cfg, &r), 0, "%s", r.failure);
  cr_assert_geq(r.min_stable_checkpoint, 8, "every honest replica holds a stable checkpoint (got %llu)",
                (unsigned long long)r.min_stable_checkpoint);
  cr_assert_eq(r.root_mismatches, 0);
}

static void sweep_k(const char *preset, uint16_t n, unsigned base) {
  unsigned iters = pc_test_iters(base);
  for (unsigned i = 0; i < iters; i++) {
    pc_sim_config_t cfg;
    cr_assert_eq(pc_sim_preset(&cfg, preset, n, 7000 + i), 0);
    cfg.proto.checkpoint_interval = 2;
    pc_sim_result_t r;
    cr_assert_eq(pc_sim_run(&cfg, &r), 0, "%s n=%u seed=%u with K=2: %s", preset, n, 7000 + i, r.failure);
    cr_assert_eq(r.root_mismatches, 0, "no honest replica disagrees with a certified root");
  }
}

Test(sim, mixed_with_checkpoints_n4, .timeout = 300) { sweep_k("mixed", 4, 100); }

Test(sim, mixed_n4, .timeout = 300) { sweep("mixed", 4, 300); }
Test(sim, mixed_n7, .timeout = 300) { sweep("mixed", 7, 200); }
Test(sim, mixed_n10, .timeout = 300) { sweep("mixed", 10, 150); }
Test(sim, twins_n4, .timeout = 300) { sweep("twins", 4, 200); }
Test(sim, twins_n7, .timeout = 300) { sweep("twins", 7, 100); }
Test(sim, crash_restart_n4, .timeout = 300) { sweep("crash", 4, 150); }
Test(sim, collector_n4, .timeout = 300) { sweep("collector", 4, 150); }
Test(sim, collector_n10, .timeout = 300) { sweep("collector", 10, 60); }
Test(sim, no_fast_path_n7, .timeout = 300) { sweep("nofast", 7, 100); }

/* A replica cut off (partition or crash) while the others run several
 * checkpoint intervals ahead finds the DECISIONs it needs dropped at the
 * stable checkpoint, gathers f+1 matching STABLE answers, transfers the
 * checkpoint's state and continues from there: live, and agreeing. */
Test(sim, lagging_replica_catches_up_by_state_transfer_n4, .timeout = 300) { sweep("lagging", 4, 60); }
Test(sim, lagging_replica_catches_up_by_state_transfer_n7, .timeout = 300) { sweep("lagging", 7, 20); }

Test(sim, lagging_replica_jumps_rather_than_replaying) {
  unsigned transfers = 0;
  for (uint64_t seed = 1; seed <= 5; seed++) {
    pc_sim_config_t cfg;
    cr_assert_eq(pc_sim_preset(&cfg, "lagging", 4, seed), 0);
    pc_sim_result_t r;
    cr_assert_eq(pc_sim_run(&cfg, &r), 0, "seed %llu: %s", (unsigned long long)seed, r.failure);
    transfers += (unsigned)r.transfers;
  }
  cr_assert_geq(transfers, 5, "each lagging run transfers state (got %u in 5 runs)", transfers);
}
