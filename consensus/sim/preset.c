/* preset.c — named, seeded simulator scenarios (sim.h) and the replay command. */
#include <stdio.h>
#include <string.h>

#include "consensus/sim/sim.h"

static uint64_t prng(uint64_t *st) {
  uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static uint64_t pick(uint64_t *st, uint64_t lo, uint64_t hi) { return lo + prng(st) % (hi - lo + 1); }

void pc_sim_config_default(pc_sim_config_t *cfg, uint16_t n, uint64_t seed) {
  memset(cfg, 0, sizeof *cfg);
  cfg->seed = seed;
  uint16_t f = (uint16_t)((n - 1) / 3);
  pc_consensus_config_defaults(&cfg->proto, n, f, 0);
  cfg->proto.chain_id = 7;
  cfg->proto.base_timeout_ns = 20000000;
  cfg->proto.delta_fast_ns = 1000000;
  cfg->proto.delta_collect_ns = 3000000;
  cfg->proto.window = 4;
  cfg->proto.checkpoint_interval = 0;
  cfg->lat_min_ns = 50000;
  cfg->lat_max_ns = 500000;
  cfg->bandwidth_bps = 10000000000ull;
  cfg->sign_ns = 17500;   /* LIMITS.md: ~57k signs/s */
  cfg->verify_ns = 49000; /* LIMITS.md: ~20.3k verifies/s */
  cfg->msg_ns = 2000;
  cfg->persist_ns = 160000; /* LIMITS.md: fdatasync p50 */
  cfg->batch_txs = 10;
  cfg->tx_size = 128;
  cfg->target_height = 8;
  cfg->liveness_bound_ns = 120000000000ull;
}

static void add_faults(pc_sim_config_t *cfg, uint64_t *st, uint16_t n_byz, bool generic_only) {
  uint16_t n = cfg->proto.n;
  cfg->gst_ns = pick(st, 200, 1500) * 1000000ull;
  cfg->loss = (double)pick(st, 0, 100) / 1000.0;
  cfg->dup = (double)pick(st, 0, 50) / 1000.0;
  cfg->tail_prob = (double)pick(st, 0, 150) / 1000.0;
  cfg->tail_ns = pick(st, 1, 5) * 1000000ull;
  cfg->proto.window = (uint32_t)(1u << pick(st, 0, 2));
  cfg->proto.delta_fast_ns = pick(st, 0, 1) ? 1000000 : 0;
  static const uint8_t all[] = {PC_BYZ_SILENT, PC_BYZ_EQUIVOCATE, PC_BYZ_BAD_SIG, PC_BYZ_REPLAY, PC_BYZ_LYING_RC, PC_BYZ_FLOOD};
  static const uint8_t generic[] = {PC_BYZ_SILENT, PC_BYZ_BAD_SIG, PC_BYZ_REPLAY, PC_BYZ_FLOOD};
  for (uint16_t k = 0; k < n_byz; k++) {
    uint16_t who;
    do who = (uint16_t)pick(st, 0, n - 1u);
    while (cfg->byz[who]);
    cfg->byz[who] = generic_only ? generic[prng(st) % sizeof generic] : all[prng(st) % sizeof all];
  }
  if (pick(st, 0, 1)) {
    cfg->n_part = 1;
    cfg->part[0].start = pick(st, 0, cfg->gst_ns / 2);
    cfg->part[0].end = pick(st, cfg->part[0].start, cfg->gst_ns);
    for (uint16_t k = 0; k < n + cfg->n_twins; k++) cfg->part[0].side[k] = (uint8_t)(prng(st) & 1);
  }
  if (pick(st, 0, 1)) {
    uint16_t who = (uint16_t)pick(st, 0, n - 1u);
    cfg->n_crash = 1;
    cfg->crash[0].slot = who;
    cfg->crash[0].at = pick(st, 0, cfg->gst_ns / 2);
    cfg->crash[0].restart_at = pick(st, cfg->crash[0].at + 1, cfg->gst_ns);
  }
}

int pc_sim_preset(pc_sim_config_t *cfg, const char *name, uint16_t n, uint64_t seed) {
  pc_sim_config_default(cfg, n, seed);
  uint64_t st = seed ^ 0x5eedf00dull;
  uint16_t f = cfg->proto.f;
  if (!strcmp(name, "clean")) return 0;
  if (!strcmp(name, "ed25519")) {
    cfg->real_crypto = true;
    return 0;
  }
  if (!strcmp(name, "mixed") || !strcmp(name, "collector") || !strcmp(name, "nofast")) {
    add_faults(cfg, &st, f, false);
    if (!strcmp(name, "collector")) cfg->proto.vote_mode = PC_VOTES_COLLECTOR;
    if (!strcmp(name, "nofast")) cfg->proto.fast_path = false;
    return 0;
  }
  if (!strcmp(name, "pbft-mixed")) {
    cfg->proto.protocol = PC_PROTO_PBFT;
    add_faults(cfg, &st, f, true);
    return 0;
  }
  if (!strcmp(name, "lagging") || !strcmp(name, "pbft-lagging")) {
    /* one honest replica cut off (partition or crash) long enough for the
     * others to run several checkpoint intervals past it: it must catch up
     * by state transfer (checkpoints every 8 heights) */
    if (name[0] == 'p') cfg->proto.protocol = PC_PROTO_PBFT;
    cfg->proto.checkpoint_interval = 8;
    cfg->proto.keep_decided = 8; /* drop DECISIONs one interval below the stable checkpoint */
    cfg->proto.window = (uint32_t)(1u << pick(&st, 0, 2));
    cfg->target_height = 160;
    cfg->gst_ns = pick(&st, 300, 800) * 1000000ull;
    cfg->loss = (double)pick(&st, 0, 20) / 1000.0;
    cfg->tail_prob = (double)pick(&st, 0, 100) / 1000.0;
    cfg->tail_ns = pick(&st, 1, 3) * 1000000ull;
    uint16_t who = (uint16_t)pick(&st, 0, n - 1u);
    uint64_t from = pick(&st, 1, 20) * 1000000ull;
    if (pick(&st, 0, 1)) {
      cfg->n_part = 1;
      cfg->part[0].start = from;
      cfg->part[0].end = cfg->gst_ns;
      cfg->part[0].side[who] = 1;
    } else {
      cfg->n_crash = 1;
      cfg->crash[0].slot = who;
      cfg->crash[0].at = from;
      cfg->crash[0].restart_at = cfg->gst_ns;
    }
    return 0;
  }
  if (!strcmp(name, "crash")) {
    add_faults(cfg, &st, 0, false);
    return 0;
  }
  if (!strcmp(name, "twins")) {
    /* replica 0 runs twice with one key: that identity is the Byzantine one */
    cfg->n_twins = 1;
    cfg->twin_of[0] = 0;
    add_faults(cfg, &st, f ? (uint16_t)(f - 1) : 0, false);
    cfg->byz[0] = PC_BYZ_NONE;
    /* keep the twins apart before GST so each talks to a different side */
    cfg->n_part = 1;
    cfg->part[0].start = 0;
    cfg->part[0].end = cfg->gst_ns;
    for (uint16_t k = 0; k < n + 1; k++) cfg->part[0].side[k] = (uint8_t)(prng(&st) & 1);
    cfg->part[0].side[0] = 0;
    cfg->part[0].side[n] = 1;
    return 0;
  }
  if (!strcmp(name, "adversarial") || !strncmp(name, "adv-mutant-", 11)) {
    /* one equivocating, lying replica; heavy random delays that make rounds
     * overlap; no loss; commit votes at once (Δf = 0) */
    cfg->gst_ns = pick(&st, 500, 2000) * 1000000ull;
    cfg->tail_prob = (double)pick(&st, 0, 200) / 1000.0;
    cfg->tail_ns = pick(&st, 1, 4) * cfg->proto.base_timeout_ns;
    cfg->sdelay_prob = (double)pick(&st, 200, 600) / 1000.0;
    cfg->sdelay_max_ns = pick(&st, 1, 6) * cfg->proto.base_timeout_ns;
    cfg->proto.window = 1;
    cfg->proto.delta_fast_ns = pick(&st, 0, 1) ? 1000000 : 0;
    cfg->byz[pick(&st, 0, n - 1u)] = PC_BYZ_EQUIVOCATE;
    for (uint16_t k = 1; k < f; k++) {
      uint16_t who = (uint16_t)pick(&st, 0, n - 1u);
      if (!cfg->byz[who]) cfg->byz[who] = PC_BYZ_EQUIVOCATE;
    }
    if (name[0] == 'a' && name[3] == '-') {
      static const struct {
        const char *name;
        uint32_t flag;
      } m[] = {{"no-lock", PC_MUTANT_NO_LOCK},       {"no-justify", PC_MUTANT_NO_JUSTIFY},
               {"old-rc", PC_MUTANT_OLD_RC},         {"vote-left-round", PC_MUTANT_VOTE_LEFT_ROUND},
               {"quorum-2f", PC_MUTANT_QUORUM_2F}, {"forget-on-restart", PC_MUTANT_FORGET_ON_RESTART}};
      for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (!strcmp(name + 11, m[i].name)) cfg->proto.test_mutants = m[i].flag;
      if (!cfg->proto.test_mutants) return PC_ERR_NOT_FOUND;
      if (cfg->proto.test_mutants == PC_MUTANT_FORGET_ON_RESTART) {
        /* several quick crash/restart cycles of honest replicas */
        cfg->n_crash = PC_SIM_MAX_CRASHES;
        for (unsigned i = 0; i < cfg->n_crash; i++) {
          cfg->crash[i].slot = (uint16_t)pick(&st, 0, n - 1u);
          cfg->crash[i].at = pick(&st, 1, cfg->gst_ns);
          cfg->crash[i].restart_at = cfg->crash[i].at + pick(&st, 0, 2) * 1000000ull + 1;
        }
      }
    }
    return 0;
  }
  static const struct {
    const char *name;
    uint32_t flag;
  } mutants[] = {{"mutant-no-lock", PC_MUTANT_NO_LOCK},
                 {"mutant-no-justify", PC_MUTANT_NO_JUSTIFY},
                 {"mutant-old-rc", PC_MUTANT_OLD_RC},
                 {"mutant-vote-left-round", PC_MUTANT_VOTE_LEFT_ROUND},
                 {"mutant-quorum-2f", PC_MUTANT_QUORUM_2F},
                 {"mutant-forget-on-restart", PC_MUTANT_FORGET_ON_RESTART}};
  for (size_t i = 0; i < sizeof mutants / sizeof mutants[0]; i++)
    if (!strcmp(name, mutants[i].name)) {
      add_faults(cfg, &st, f, false);
      cfg->proto.test_mutants = mutants[i].flag;
      return 0;
    }
  /* pbft-<preset>: any other preset with the protocol switched to PBFT */
  if (!strncmp(name, "pbft-", 5) && strncmp(name + 5, "pbft-", 5)) {
    int err = pc_sim_preset(cfg, name + 5, n, seed);
    if (!err) cfg->proto.protocol = PC_PROTO_PBFT;
    return err;
  }
  return PC_ERR_NOT_FOUND;
}

void pc_sim_replay_cmd(char *out, size_t cap, const char *preset, uint16_t n, uint64_t seed) {
  snprintf(out, cap, "./build-consensus/consensus/sim/pc_sim %s %u %llu", preset, n, (unsigned long long)seed);
}
