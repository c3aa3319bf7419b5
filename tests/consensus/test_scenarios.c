/* test_scenarios.c — scripted SBFT scenarios (n = 4, one Byzantine replica,
 * fixed schedules through the simulator's message filter), the adversarial
 * sweep, and the proof that the checks can fail: every test-only mutant
 * that breaks one safety rule is caught by the simulator. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "consensus/sbft_private.h"
#include "consensus/sim/sim.h"
#include "tests/testutil.h"

#define MS 1000000ull

typedef struct {
  int scenario;
  uint16_t special; /* the replica the schedule singles out */
  unsigned dropped;
} script_t;

static int filter(void *ctx, const pc_sim_msg_t *m, uint64_t *extra) {
  script_t *sc = ctx;
  if (m->height != 1) return PC_SIM_DELIVER;
  switch (sc->scenario) {
  case 1: /* fast decision seen by one replica only; later votes late or lost */
    if (m->type == PC_MSG_SBFT_PREPARE && m->round == 0 && m->to_id != sc->special) {
      sc->dropped++;
      return PC_SIM_DROP;
    }
    if ((m->type == PC_MSG_SBFT_PREPARE || m->type == PC_MSG_SBFT_COMMIT) && m->round == 1) {
      if (m->to_id & 1) {
        sc->dropped++;
        return PC_SIM_DROP;
      }
      *extra = 200 * MS; /* far beyond the round-1 timeout */
    }
    if (m->type == PC_MSG_DECISION && m->from_id == sc->special) return PC_SIM_DROP; /* it cannot tell */
    return PC_SIM_DELIVER;
  case 2: /* the slow path locks; commit votes lost so a round change follows */
    if (m->type == PC_MSG_SBFT_COMMIT && m->round == 0) {
      sc->dropped++;
      return PC_SIM_DROP;
    }
    return PC_SIM_DELIVER;
  case 3: /* the round-0 proposal arrives after its receivers left round 0 */
    if (m->type == PC_MSG_SBFT_PROPOSAL && m->round == 0) *extra = 30 * MS; /* timeout: 20 ms */
    return PC_SIM_DELIVER;
  case 4: /* no decision in round 0: prepare votes only reach their sender's neighbour */
    if (m->type == PC_MSG_SBFT_PREPARE && m->round == 0 && m->to_id != (uint16_t)((m->from_id + 1) % 4)) {
      sc->dropped++;
      return PC_SIM_DROP;
    }
    return PC_SIM_DELIVER;
  case 5: /* the collector goes silent after collecting votes */
    if (m->type == PC_MSG_SBFT_CERT) {
      sc->dropped++;
      return PC_SIM_DROP;
    }
    return PC_SIM_DELIVER;
  }
  return PC_SIM_DELIVER;
}

static void scripted(script_t *sc, pc_sim_config_t *cfg) {
  pc_sim_config_default(cfg, 4, 11);
  cfg->proto.window = 1;
  cfg->target_height = 8;
  cfg->filter = filter;
  cfg->filter_ctx = sc;
  cfg->gst_ns = 2000 * MS; /* the filter plays the adversary before GST */
}

static void run_checked(pc_sim_config_t *cfg, pc_sim_result_t *r, const char *what) {
  int err = pc_sim_run(cfg, r);
  cr_assert_eq(err, 0, "%s: %s", what, r->failure);
  cr_assert(!r->agreement_violated);
  cr_assert_geq(r->min_height, cfg->target_height);
}

Test(scenarios, fast_decision_seen_by_one_then_two_round_changes) {
  script_t sc = {.scenario = 1, .special = 2};
  pc_sim_config_t cfg;
  pc_sim_result_t r;
  scripted(&sc, &cfg);
  cfg.byz[3] = PC_BYZ_LYING_RC;
  run_checked(&cfg, &r, "fast-then-round-changes");
  cr_assert_gt(sc.dropped, 0);
  cr_assert_geq(r.round_changes, 2 * 3, "each honest replica left rounds 0 and 1 of height 1");
}

Test(scenarios, equivocating_proposer_against_locked_slow_path) {
  script_t sc = {.scenario = 2};
  pc_sim_config_t cfg;
  pc_sim_result_t r;
  scripted(&sc, &cfg);
  cfg.proto.fast_path = false;
  cfg.byz[pc_sbft_proposer(1, 0, 4)] = PC_BYZ_EQUIVOCATE;
  run_checked(&cfg, &r, "equivocation vs lock");
  cr_assert_gt(sc.dropped, 0);
  cr_assert_gt(r.round_changes, 0);
}

Test(scenarios, proposal_arrives_after_round_left) {
  script_t sc = {.scenario = 3};
  pc_sim_config_t cfg;
  pc_sim_result_t r;
  scripted(&sc, &cfg);
  uint16_t p0 = pc_sbft_proposer(1, 0, 4);
  cfg.byz[(p0 + 1) % 4] = PC_BYZ_LYING_RC;
  uint64_t before = pc_reject_count(PC_DEC_CONSENSUS, PC_ERR_EXPIRED);
  run_checked(&cfg, &r, "late proposal");
  cr_assert_gt(pc_reject_count(PC_DEC_CONSENSUS, PC_ERR_EXPIRED), before, "the late proposal was refused as stale");
  cr_assert_gt(r.round_changes, 0);
}

Test(scenarios, replica_restarted_between_vote_and_round_change) {
  script_t sc = {.scenario = 4};
  pc_sim_config_t cfg;
  pc_sim_result_t r;
  scripted(&sc, &cfg);
  uint16_t p0 = pc_sbft_proposer(1, 0, 4);
  uint16_t victim = (uint16_t)((p0 + 2) % 4);
  cfg.byz[(p0 + 3) % 4] = PC_BYZ_EQUIVOCATE;
  /* votes go out within ~1 ms; the round-0 timeout is 20 ms */
  cfg.n_crash = 1;
  cfg.crash[0].slot = victim;
  cfg.crash[0].at = 3 * MS;
  cfg.crash[0].restart_at = 10 * MS;
  run_checked(&cfg, &r, "restart between vote and round change");
  cr_assert_gt(sc.dropped, 0);
}

Test(scenarios, collector_silent_after_collecting) {
  script_t sc = {.scenario = 5};
  pc_sim_config_t cfg;
  pc_sim_result_t r;
  scripted(&sc, &cfg);
  cfg.proto.vote_mode = PC_VOTES_COLLECTOR;
  cfg.byz[(pc_sbft_proposer(1, 0, 4) + 1) % 4] = PC_BYZ_BAD_SIG;
  run_checked(&cfg, &r, "silent collector");
  cr_assert_gt(sc.dropped, 0, "certificates were sent and withheld");
}

/* --- the adversarial sweep with honest replicas must stay clean --- */

static unsigned sweep(const char *preset, uint16_t n, unsigned iters) {
  unsigned failed = 0;
  for (unsigned i = 0; i < iters; i++) {
    pc_sim_config_t cfg;
    cr_assert_eq(pc_sim_preset(&cfg, preset, n, 1 + i), 0);
    pc_sim_result_t r;
    if (pc_sim_run(&cfg, &r)) {
      char cmd[256];
      pc_sim_replay_cmd(cmd, sizeof cmd, preset, n, 1 + i);
      cr_log_error("%s\n  replay: %s", r.failure, cmd);
      failed++;
    }
  }
  return failed;
}

Test(scenarios, adversarial_n4, .timeout = 300) { cr_assert_eq(sweep("adversarial", 4, pc_test_iters(300)), 0); }
Test(scenarios, adversarial_n7, .timeout = 300) { cr_assert_eq(sweep("adversarial", 7, pc_test_iters(100)), 0); }

/* --- the checks can fail: each mutant is caught within a bounded search --- */

static void caught(const char *mutant) {
  char preset[64];
  snprintf(preset, sizeof preset, "adv-mutant-%s", mutant);
  for (uint64_t seed = 1; seed <= 3000; seed++) {
    pc_sim_config_t cfg;
    cr_assert_eq(pc_sim_preset(&cfg, preset, 4, seed), 0);
    pc_sim_result_t r;
    if (pc_sim_run(&cfg, &r) && (r.agreement_violated || r.validity_violated)) {
      char cmd[256];
      pc_sim_replay_cmd(cmd, sizeof cmd, preset, 4, seed);
      cr_log_info("%s caught at seed %llu: %s (%s)", mutant, (unsigned long long)seed, r.failure, cmd);
      return;
    }
  }
  cr_assert_fail("mutant %s was never caught: the simulator's checks are too weak", mutant);
}

Test(mutants, lock_rule_disabled_is_caught, .timeout = 300) { caught("no-lock"); }
Test(mutants, justification_rule_disabled_is_caught, .timeout = 300) { caught("no-justify"); }
Test(mutants, earlier_round_changes_as_justification_is_caught, .timeout = 300) { caught("old-rc"); }
Test(mutants, voting_in_a_left_round_is_caught, .timeout = 300) { caught("vote-left-round"); }
Test(mutants, quorum_of_2f_is_caught, .timeout = 300) { caught("quorum-2f"); }
Test(mutants, forgetting_votes_on_restart_is_caught, .timeout = 300) { caught("forget-on-restart"); }
