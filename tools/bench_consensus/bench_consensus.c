/* bench_consensus — simulator sweep and real CPU cost per decided height.
 *
 *   bench_consensus [quick|full|cpu]
 *   bench_consensus csv N[,N...] BATCH RTT_US HEIGHTS SEEDS   (CSV, below)
 *   bench_consensus delays N [ONE_WAY_US]                     (CSV, below)
 *   bench_consensus -h | --help                               (usage)
 *
 * quick (the default): Part 1 at n = 4..31, batch 1..100, then Part 2;
 * full: Part 1 at n = 4..128, batch 1..1000, then Part 2; cpu: Part 2 only.
 * Every number is an integer: N 4..256 (each of the list), BATCH, RTT_US,
 * HEIGHTS and ONE_WAY_US 1..4294967295, SEEDS 1..10000. An unknown mode, a
 * malformed or missing number or an extra argument is reported on stderr
 * with the usage and exit status 2 before anything runs. Environment:
 * PC_LOG (library log level). Run by `make bench` (tools/scripts/bench.sh,
 * section b: csv and delays), `make bench-check` (csv, delays) and `make
 * demo` (cpu).
 *
 * Part 1 (simulated, stand-in signatures with LIMITS.md costs, 10 Gbit/s):
 * for each n, protocol variant, RTT and batch size: messages, bytes and
 * signature verifications per decided height (per replica), simulated
 * throughput (tx/s) and decision latency p50/p99; each throughput is also
 * printed as a ratio against the baseline variant measured in the same run
 * (PBFT when it is built, else SBFT-broadcast with the fast path off).
 * Part 2 (real): CPU time per decided height with real Ed25519, n = 4,
 * measured with CLOCK_PROCESS_CPUTIME_ID over a whole clean run.
 *
 * csv: the Part 1 model (same network, costs and timers) for every variant
 * at each listed n, one batch size and one RTT, once per seed 1..SEEDS; one
 * CSV row per (variant, n, seed):
 *   variant,n,rtt_us,batch,seed,ok,decided_heights,msgs_per_h,bytes_per_h,
 *   verifies_per_h,tps,p50_ms,p99_ms,fast_share
 * (per decided height per replica, as in Part 1; decided_heights = decisions
 * of one replica on average; fast_share = fast-path decisions / decisions).
 *
 * delays: message delays per decision from a deterministic zero-jitter
 * model: every one-way link latency exactly L (ONE_WAY_US, default 1000),
 * no CPU cost (sign, verify, message, persist = 0), infinite bandwidth, no
 * faults, batch 1, W = 1; decision latency (first proposal send to first
 * honest decision) divided by L is then the number of message delays on the
 * critical path. One CSV row per variant:
 *   variant,n,one_way_us,decided_heights,lat_p50_us,lat_p99_us,delays_p50,
 *   delays_p99,fast_share,ok */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "consensus/sim/sim.h"
#include "tools/bench_args.h"

typedef struct {
  const char *name;
  uint8_t protocol, vote_mode;
  bool fast;
} variant_t;

static const variant_t variants[] = {
    {"pbft", PC_PROTO_PBFT, PC_VOTES_BROADCAST, false},
    {"sbft-bcast-nofast", PC_PROTO_SBFT, PC_VOTES_BROADCAST, false},
    {"sbft-bcast-fast", PC_PROTO_SBFT, PC_VOTES_BROADCAST, true},
    {"sbft-coll-nofast", PC_PROTO_SBFT, PC_VOTES_COLLECTOR, false},
    {"sbft-coll-fast", PC_PROTO_SBFT, PC_VOTES_COLLECTOR, true},
};

static bool run(const variant_t *v, uint16_t n, uint64_t rtt_ns, uint32_t batch, uint64_t heights, uint64_t seed,
                pc_sim_result_t *r) {
  pc_sim_config_t cfg;
  pc_sim_preset(&cfg, "clean", n, seed);
  cfg.proto.protocol = v->protocol;
  cfg.proto.vote_mode = v->vote_mode;
  cfg.proto.fast_path = v->fast;
  /* Δf: a round trip plus verifying n votes; Δc: Δf plus two more round
   * trips and the collector's verifications */
  cfg.proto.delta_fast_ns = 2 * rtt_ns + n * cfg.verify_ns;
  cfg.proto.window = 16;
  cfg.proto.base_timeout_ns = 200 * rtt_ns + 200000000;
  /* Δc only matters when the collector fails; under load its CPU queue
   * (W heights × n verifications) must not trigger the fallback */
  cfg.proto.delta_collect_ns = cfg.proto.base_timeout_ns / 2;
  cfg.lat_min_ns = rtt_ns / 2;
  cfg.lat_max_ns = rtt_ns / 2 + rtt_ns / 10;
  cfg.batch_txs = batch;
  cfg.target_height = heights;
  cfg.liveness_bound_ns = 600000000000ull;
  if (pc_sim_run(&cfg, r)) return false;
  return true;
}

static const char *csv_header =
    "variant,n,rtt_us,batch,seed,ok,decided_heights,msgs_per_h,bytes_per_h,verifies_per_h,tps,p50_ms,p99_ms,"
    "fast_share";

/* ------------------------------------------------------------ arguments */
static void usage(FILE *f) {
  fprintf(
      f,
      "usage: bench_consensus [quick|full|cpu]\n"
      "       bench_consensus csv N[,N...] BATCH RTT_US HEIGHTS SEEDS\n"
      "       bench_consensus delays N [ONE_WAY_US]\n"
      "Measures SBFT variants against PBFT in the same run: simulated cost, tx/s, latency; real CPU/height.\n"
      "  quick       (default) simulator at n = 4..31, batch 1..100, then the CPU part\n"
      "  full        simulator at n = 4..128, batch 1..1000 (long), then the CPU part\n"
      "  cpu         the CPU part only\n"
      "  csv         one CSV row per variant, n and seed: N replicas each (4..%d), BATCH transactions,\n"
      "              RTT_US round trip, HEIGHTS heights, seeds 1..SEEDS (1..10000)\n"
      "  delays      message delays per decision in a zero-jitter model, N replicas (4..%d),\n"
      "              ONE_WAY_US link latency (default 1000)\n"
      "  -h, --help  this text\n"
      "Environment: PC_LOG (library log level).\n"
      "Run by: make bench (tools/scripts/bench.sh, section b: csv, delays, cpu), make bench-check (csv,\n"
      "delays), make demo (cpu).\n",
      PC_MAX_REPLICAS, PC_MAX_REPLICAS);
}

#define MAX_NS 64 /* replica counts in one csv list */

/* parse_n_list parses "N[,N...]" (each 4..PC_MAX_REPLICAS) into ns[]; all
 * of it before the first run, so a typo at its end costs nothing. */
static size_t parse_n_list(const char *list, uint16_t ns[MAX_NS]) {
  size_t k = 0;
  for (const char *p = list;; k++) {
    const char *c = strchr(p, ',');
    size_t len = c ? (size_t)(c - p) : strlen(p);
    char tok[24];
    uint64_t v;
    if (k == MAX_NS) bad_arg("bad n list '%s' (at most %d sizes)", list, MAX_NS);
    if (len >= sizeof tok) len = sizeof tok - 1; /* still not a number in range */
    memcpy(tok, p, len);
    tok[len] = '\0';
    if (pc_parse_u64(tok, &v) || v < 4 || v > PC_MAX_REPLICAS)
      bad_arg("bad n list '%s' at '%s' (want replica counts from 4 to %d, separated by commas)", list, tok,
              PC_MAX_REPLICAS);
    ns[k] = (uint16_t)v;
    if (!c) return k + 1;
    p = c + 1;
  }
}

static int main_csv(int argc, char **argv) {
  if (argc < 7) bad_arg("csv needs N[,N...] BATCH RTT_US HEIGHTS SEEDS (%d of 5 given)", argc - 2);
  if (argc > 7) bad_arg("unexpected argument '%s' after csv's SEEDS", argv[7]);
  uint16_t ns[MAX_NS];
  size_t n_ns = parse_n_list(argv[2], ns);
  uint32_t batch = (uint32_t)bench_parse_u64("BATCH", argv[3], 1, UINT32_MAX);
  uint64_t rtt = bench_parse_u64("RTT_US", argv[4], 1, UINT32_MAX) * 1000ull;
  uint64_t heights = bench_parse_u64("HEIGHTS", argv[5], 1, UINT32_MAX);
  unsigned seeds = (unsigned)bench_parse_u64("SEEDS", argv[6], 1, 10000);
  bool have_pbft = &pc_pbft_ops != NULL;
  printf("%s\n", csv_header);
  for (size_t i = 0; i < n_ns; i++) {
    unsigned long n = ns[i];
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
      if (variants[v].protocol == PC_PROTO_PBFT && !have_pbft) continue;
      for (unsigned seed = 1; seed <= seeds; seed++) {
        pc_sim_result_t r;
        bool ok = run(&variants[v], (uint16_t)n, rtt, batch, heights, seed, &r);
        double dec = r.decided ? (double)r.decided : 1, span = (double)r.last_decide_ns / 1e9;
        double tps = span > 0 ? (double)r.txs_decided / (double)n / span : 0;
        printf("%s,%lu,%llu,%u,%u,%d,%.1f,%.2f,%.0f,%.2f,%.0f,%.3f,%.3f,%.3f\n", variants[v].name, n,
               (unsigned long long)(rtt / 1000), batch, seed, ok ? 1 : 0, (double)r.decided / (double)n,
               r.msgs / dec, r.bytes / dec, r.verifies / dec, tps, r.lat_p50_ns / 1e6, r.lat_p99_ns / 1e6,
               (double)r.fast_decisions / dec);
        if (!ok) fprintf(stderr, "bench_consensus: %s n=%lu seed %u FAILED: %s\n", variants[v].name, n, seed, r.failure);
        fflush(stdout);
      }
    }
  }
  return 0;
}

static int main_delays(int argc, char **argv) {
  if (argc < 3) bad_arg("delays needs N");
  if (argc > 4) bad_arg("unexpected argument '%s' after delays' ONE_WAY_US", argv[4]);
  uint16_t n = (uint16_t)bench_parse_u64("N", argv[2], 4, PC_MAX_REPLICAS);
  uint64_t L = (argc > 3 ? bench_parse_u64("ONE_WAY_US", argv[3], 1, UINT32_MAX) : 1000) * 1000ull;
  bool have_pbft = &pc_pbft_ops != NULL;
  int rc = 0;
  printf("variant,n,one_way_us,decided_heights,lat_p50_us,lat_p99_us,delays_p50,delays_p99,fast_share,ok\n");
  for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
    if (variants[v].protocol == PC_PROTO_PBFT && !have_pbft) continue;
    pc_sim_config_t cfg;
    pc_sim_preset(&cfg, "clean", n, 1);
    cfg.proto.protocol = variants[v].protocol;
    cfg.proto.vote_mode = variants[v].vote_mode;
    cfg.proto.fast_path = variants[v].fast;
    cfg.proto.window = 1;
    /* timers far above any fault-free decision so none fires */
    cfg.proto.delta_fast_ns = 4 * L;
    cfg.proto.delta_collect_ns = 50 * L;
    cfg.proto.base_timeout_ns = 200 * L;
    cfg.lat_min_ns = cfg.lat_max_ns = L;
    cfg.tail_prob = 0;
    cfg.bandwidth_bps = 0;
    cfg.sign_ns = cfg.verify_ns = cfg.msg_ns = cfg.persist_ns = 0;
    cfg.batch_txs = 1;
    cfg.target_height = 20;
    pc_sim_result_t r;
    bool ok = pc_sim_run(&cfg, &r) == 0;
    if (!ok) {
      fprintf(stderr, "bench_consensus: delays %s n=%u FAILED: %s\n", variants[v].name, n, r.failure);
      rc = 1;
    }
    double dec = r.decided ? (double)r.decided : 1;
    printf("%s,%u,%llu,%.1f,%.1f,%.1f,%.2f,%.2f,%.3f,%d\n", variants[v].name, n, (unsigned long long)(L / 1000),
           (double)r.decided / n, r.lat_p50_ns / 1e3, r.lat_p99_ns / 1e3, (double)r.lat_p50_ns / (double)L,
           (double)r.lat_p99_ns / (double)L, (double)r.fast_decisions / dec, ok ? 1 : 0);
  }
  return rc;
}

int main(int argc, char **argv) {
  bench_args_begin("bench_consensus", usage, argc, argv);
  if (argc > 1 && !strcmp(argv[1], "csv")) return main_csv(argc, argv);
  if (argc > 1 && !strcmp(argv[1], "delays")) return main_delays(argc, argv);
  if (argc > 1 && strcmp(argv[1], "quick") && strcmp(argv[1], "full") && strcmp(argv[1], "cpu"))
    bad_arg("unknown %s '%s' (want quick, full, cpu, csv or delays)", argv[1][0] == '-' ? "option" : "mode",
            argv[1]);
  if (argc > 2) bad_arg("unexpected argument '%s' after %s", argv[2], argv[1]);
  bool full = argc > 1 && !strcmp(argv[1], "full");
  bool cpu_only = argc > 1 && !strcmp(argv[1], "cpu");
  static const uint16_t ns_full[] = {4, 7, 16, 31, 64, 128}, ns_quick[] = {4, 7, 16, 31};
  static const uint32_t batches_full[] = {1, 10, 100, 1000}, batches_quick[] = {1, 10, 100};
  static const uint64_t rtts[] = {100000, 1000000};
  const uint16_t *ns = full ? ns_full : ns_quick;
  size_t n_ns = full ? 6 : 4;
  const uint32_t *batches = full ? batches_full : batches_quick;
  size_t n_b = full ? 4 : 3;
  bool have_pbft = &pc_pbft_ops != NULL;
  printf("# simulated: 10 Gbit/s, sign %.1f us, verify %.1f us, persist 160 us, W=16, tx 128 B; per decided height, per replica\n",
         17.5, 49.0);
  printf("%-18s %4s %6s %5s %9s %10s %9s %12s %9s %9s %7s\n", "variant", "n", "rtt_ms", "batch", "msgs/h", "bytes/h",
         "verif/h", "tx/s", "p50_ms", "p99_ms", "ratio");
  for (size_t a = 0; a < (cpu_only ? 0 : n_ns); a++)
    for (size_t c = 0; c < 2; c++)
      for (size_t b = 0; b < n_b; b++) {
        uint16_t n = ns[a];
        uint64_t heights = n >= 64 ? 24 : n >= 31 ? 48 : 120;
        double base_tps = 0;
        for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
          if (variants[v].protocol == PC_PROTO_PBFT && !have_pbft) continue;
          if (n >= 64 && batches[b] >= 1000 && v != 2 && v != 4) continue; /* keep the full run short */
          pc_sim_result_t r;
          if (!run(&variants[v], n, rtts[c], batches[b], heights, 1, &r)) {
            printf("%-18s %4u %6.1f %5u  FAILED: %s\n", variants[v].name, n, rtts[c] / 1e6, batches[b], r.failure);
            continue;
          }
          double hon = (double)(n - 0), dec = (double)r.decided;
          double span = (double)(r.last_decide_ns - 0) / 1e9;
          double tps = span > 0 ? (double)r.txs_decided / hon / span : 0;
          if (base_tps == 0) base_tps = tps;
          printf("%-18s %4u %6.1f %5u %9.1f %10.0f %9.1f %12.0f %9.3f %9.3f %7.2f\n", variants[v].name, n,
                 rtts[c] / 1e6, batches[b], r.msgs / dec, r.bytes / dec, r.verifies / dec, tps, r.lat_p50_ns / 1e6,
                 r.lat_p99_ns / 1e6, base_tps > 0 ? tps / base_tps : 0);
          fflush(stdout);
        }
      }
  /* Part 2: real CPU per decided height */
  printf("\n# real CPU time per decided height (Ed25519, n = 4, batch 10, all replicas in one process)\n");
  double base_ns = 0;
  for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
    if (variants[v].protocol == PC_PROTO_PBFT && !have_pbft) continue;
    pc_sim_config_t cfg;
    pc_sim_preset(&cfg, "ed25519", 4, 1);
    cfg.proto.protocol = variants[v].protocol;
    cfg.proto.vote_mode = variants[v].vote_mode;
    cfg.proto.fast_path = variants[v].fast;
    cfg.target_height = 200;
    cfg.light_checks = true; /* measure the protocol, not the simulator's checks */
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    pc_sim_result_t r;
    int err = pc_sim_run(&cfg, &r);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    double per = r.decided ? ns / (double)r.decided : 0; /* per replica per height */
    if (base_ns == 0) base_ns = per;
    printf("%-18s %s cpu/height/replica %.0f ns  (ratio vs first %.2f)  verifies/h %.1f\n", variants[v].name,
           err ? "FAILED" : "ok", per, base_ns / per, r.verifies / (double)(r.decided ? r.decided : 1));
  }
  return 0;
}
