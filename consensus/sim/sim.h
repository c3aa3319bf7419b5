/* sim.h — deterministic discrete-event simulator for consensus protocols.
 *
 * Runs n replicas (4..PC_MAX_REPLICAS, plus optional Twins) of any protocol
 * behind consensus.h in one process, single-threaded, over a seeded network
 * model (per-link latency, sender bandwidth, loss, duplication, reordering,
 * partitions that heal), with crashes and restarts that keep the durable
 * records, a CPU cost model for signing and verifying, and Byzantine
 * replicas. Same config and seed => same run, bit for bit.
 *
 * Every run checks:
 *   agreement  no two honest replicas decide different blocks at one height
 *              (and every honest replica decides heights in order, with the
 *              same chain hash);
 *   validity   every decided block is well formed, for this chain, its batch
 *              matches and holds only transactions the simulator generated,
 *              and its certificate verifies with the right quorum;
 *   liveness   after GST (no more loss, partitions healed, every crashed
 *              replica back) every honest replica reaches target_height
 *              within liveness_bound_ns.
 * A failure fills pc_sim_result_t.failure; callers print the replay command
 * pc_sim_replay_cmd() gives.
 */
#ifndef PC_SIM_H
#define PC_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "consensus/consensus.h"

typedef enum {
  PC_BYZ_NONE = 0,
  PC_BYZ_SILENT,     /* never sends anything */
  PC_BYZ_EQUIVOCATE, /* proposes different blocks to different replicas and double-votes */
  PC_BYZ_BAD_SIG,    /* corrupts its signatures */
  PC_BYZ_REPLAY,     /* re-sends its old (stale) messages */
  PC_BYZ_LYING_RC,   /* round-changes claim a vote for another block */
  PC_BYZ_FLOOD,      /* adds junk and oversized messages */
  PC_BYZ_COUNT
} pc_byz_t;

typedef struct pc_sim pc_sim_t;

/* What a scripted test's filter sees of one message about to be sent. */
typedef struct {
  uint16_t from, to; /* slot indexes (replica ids, twins are n, n+1, ...) */
  uint16_t from_id, to_id;
  uint64_t now;      /* send time, ns */
  uint8_t type;      /* envelope type */
  uint64_t height;
  uint32_t round;
  const uint8_t *msg;
  size_t len;
} pc_sim_msg_t;

/* Filter verdicts. */
enum { PC_SIM_DELIVER = 0, PC_SIM_DROP = 1 };

#define PC_SIM_MAX_PARTITIONS 8
#define PC_SIM_MAX_CRASHES 8

typedef struct {
  uint64_t seed;
  pc_consensus_config_t proto; /* protocol, n, f, modes, timers, W; my_id and signer are set per replica */
  /* network */
  uint64_t lat_min_ns, lat_max_ns; /* uniform one-way latency */
  double tail_prob;                /* probability of an extra tail_ns delay (reordering) */
  uint64_t tail_ns;
  uint64_t bandwidth_bps;          /* per sender NIC; 0 = infinite */
  /* structured delays (before GST): for each (receiver, type, height,
   * round), with this probability every such message is held back by the
   * same random extra delay up to sdelay_max_ns — the adversary's
   * scheduling ("replica 2 sees the round-0 prepare votes late") */
  double sdelay_prob;
  uint64_t sdelay_max_ns;
  double loss, dup;                /* before GST only */
  struct {
    uint64_t start, end;
    uint8_t side[PC_MAX_REPLICAS + 4]; /* per slot: 0 or 1 */
  } part[PC_SIM_MAX_PARTITIONS];
  unsigned n_part;
  struct {
    uint16_t slot;
    uint64_t at, restart_at;
  } crash[PC_SIM_MAX_CRASHES];
  unsigned n_crash;
  uint64_t gst_ns;
  /* faults */
  uint8_t byz[PC_MAX_REPLICAS]; /* pc_byz_t per replica id */
  uint16_t n_twins;             /* extra instances: twin k runs identity twin_of[k] */
  uint16_t twin_of[4];
  /* costs */
  bool real_crypto;  /* Ed25519 (libsodium) instead of the checked stand-in */
  uint64_t sign_ns, verify_ns, msg_ns, persist_ns;
  /* load */
  uint32_t batch_txs, tx_size;
  /* termination */
  uint64_t target_height;
  uint64_t liveness_bound_ns; /* after GST */
  uint64_t max_events;        /* safety stop (0 = 50M) */
  /* scripted tests: return PC_SIM_DROP to drop, or set *extra_delay */
  int (*filter)(void *ctx, const pc_sim_msg_t *m, uint64_t *extra_delay);
  void *filter_ctx;
  bool verbose;
  bool light_checks; /* skip re-verifying decision certificates (CPU benchmarks only) */
} pc_sim_config_t;

typedef struct {
  bool ok; /* agreement, validity and liveness all held */
  bool agreement_violated, validity_violated, liveness_violated;
  char failure[256];
  uint64_t end_time_ns;
  uint64_t min_height, max_height; /* over honest replicas */
  uint64_t events;
  /* totals over honest replicas */
  uint64_t msgs, bytes, verifies, signs, rejected, round_changes, fast_decisions, decided;
  uint64_t transfers; /* state transfers started by honest replicas */
  uint64_t root_mismatches; /* of which: its own executed root of h differed from the certified one */
  /* decision latency from first proposal send to first honest decision, ns */
  uint64_t lat_p50_ns, lat_p99_ns;
  uint64_t first_decide_ns, last_decide_ns;
  uint64_t txs_decided;
  uint64_t min_stable_checkpoint; /* lowest stable checkpoint over honest replicas */
} pc_sim_result_t;

/* pc_sim_config_default: n replicas, f = (n−1)/3, SBFT broadcast, seeded
 * LAN-like network (0.05–0.5 ms), no faults, stand-in signatures with the
 * LIMITS.md costs (sign 17.5 µs, verify 49 µs), persist 160 µs, batch 10 ×
 * 128 B, target height 8, liveness bound 120 s. */
void pc_sim_config_default(pc_sim_config_t *cfg, uint16_t n, uint64_t seed);

/* pc_sim_preset fills cfg for a named scenario at size n with seed; the
 * seed picks the fault mix deterministically. Names: "clean", "mixed"
 * (f Byzantine replicas with random behaviours, loss, duplication,
 * reordering, partitions, crashes before GST), "twins", "crash",
 * "collector" (mixed with collector votes), "nofast", "pbft-mixed",
 * "mutant-<name>" (mixed + a PC_MUTANT_* flag on the honest replicas:
 * no-lock, no-justify, old-rc, vote-left-round, quorum-2f,
 * forget-on-restart), "ed25519" (clean with real crypto). Returns 0 or
 * PC_ERR_NOT_FOUND. */
int pc_sim_preset(pc_sim_config_t *cfg, const char *name, uint16_t n, uint64_t seed);

/* pc_sim_run runs one simulation to completion and fills res. Returns 0 if
 * all checks held, PC_ERR_STATE if one failed (res->failure says which),
 * PC_ERR_NOMEM / PC_ERR_CONFIG on setup failure. Single-threaded; no
 * global state, so different threads may run different simulations. */
int pc_sim_run(const pc_sim_config_t *cfg, pc_sim_result_t *res);

/* pc_sim_replay_cmd writes the one command that replays (preset, n, seed). */
void pc_sim_replay_cmd(char *out, size_t cap, const char *preset, uint16_t n, uint64_t seed);

#endif
