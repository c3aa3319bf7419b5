/* bench_txpool — prints the verify stage's rate per verify core as a ratio
 * of bare crypto_sign_verify_detached on the same transactions, measured in
 * the same run, and mempool insert / cut+remove rates as a ratio of
 * pc_tx_decode on the same transactions.
 *
 *   bench_txpool [--rounds R] [--slice M] [--only PHASE] [n_tx [core_a [core_b]]]
 *   bench_txpool -h | --help   (usage)
 *
 * n_tx (64..10000000, default 20000, about 1 s of verification per phase)
 * signed transactions from 64 senders, in slices of M (default 1000; each
 * slice goes through every phase before the next). R rounds (1..101,
 * default 5); each round measures,
 * one after the other on the same transactions (each stage next to the
 * bare runs it is compared with):
 *
 *   inline the stage verifying on the pool thread (pinned to core_a);
 *   bare   crypto_sign_verify_detached, the thread pinned to core_a;
 *   one    the stage with 1 worker pinned to core_a, the pool thread to
 *          core_b;
 *   bare   the same on core_b;
 *   two    the stage with 2 workers on core_a and core_b, the pool thread
 *          on core_b (it shares that core);
 *   bare2  bare on both cores at once (two threads started together).
 *
 * Odd rounds run the phases in that order, even rounds in reverse, so a
 * steady drift of the host's speed pushes the ratios of consecutive rounds
 * in opposite directions. Every ratio is computed within a round against
 * the bare rates of the same round on the same cores (1 worker and inline:
 * core_a; 2 workers per verify core: each worker's count weighed by its
 * core's bare rate); the figures printed are the median and the min–max of
 * those per-round ratios. A 2-vCPU shared host changes speed over minutes,
 * and its per-thread CPU time includes interrupt work and the host's
 * steal (this kernel accounts neither separately): a bare rate measured
 * once and compared with a stage measured later carries that drift into
 * the ratio.
 *
 * --only PHASE (bare, bare2, inline, one, two) runs that phase alone in
 * each round (for perf record); no ratios are printed then. Defaults:
 * core_a 1, core_b 0 (CPU numbers below 1024). A malformed or missing
 * value, an unknown option or phase, or an extra argument is reported on
 * stderr with the usage and exit status 2 before anything runs.
 * Environment: none read. Run by `make bench` (tools/scripts/bench.sh,
 * section d: no arguments). */
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/block.h"
#include "common/config.h"
#include "txpool/client.h"
#include "txpool/txpool.h"
#include "tools/bench_args.h"

#define CHAIN 1
#define SENDERS 64
#define MAX_ROUNDS 101

typedef struct {
  uint8_t *raw;
  size_t len;
} blob_t;

static double secs(uint64_t ns) { return (double)ns / 1e9; }

static uint64_t clock_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Pins the calling thread to core (-1: every core). */
static void pin_self(int core) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (core < 0) {
    for (int c = 0; c < CPU_SETSIZE; c++) CPU_SET(c, &set);
  } else {
    CPU_SET(core, &set);
  }
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0 && core >= 0)
    fprintf(stderr, "bench_txpool: cannot pin to core %d; running unpinned\n", core);
}

/* What one phase accumulates over the slices of a round (seconds). */
typedef struct {
  double n;                      /* transactions (bare2: per thread) */
  double wall, cpu, thr;         /* wall clock, process CPU, the measuring thread's CPU (bare) */
  double wv[2], wcpu[2];         /* stage: per worker (0 on core_a, 1 on core_b) verifications, CPU */
  double both_n[2], both_cpu[2]; /* bare2: per thread (0 on core_a, 1 on core_b) */
  double waits, sleeps;          /* stage: pool thread blocked, workers blocked idle */
} acc_t;

/* A phase's rates over a round: by wall clock, by CPU time of the whole
 * process (every thread: robust to other processes taking the cores away)
 * and per CPU-second of the verifying threads alone (bare: the measuring
 * thread; stage: the verify workers; 0 when verifying inline). */
typedef struct {
  double wall, cpu, core;
  double waits, sleeps; /* per 1000 transactions: pool thread blocked, a worker blocked idle */
  double wv[2], wcpu[2]; /* stage: per worker (0 on core_a, 1 on core_b) verifications, CPU seconds */
  double both[2];        /* bare2: each core's rate */
} rate_t;

static blob_t *make_txs(unsigned n, pc_client_key_t *keys) {
  blob_t *b = calloc(n, sizeof *b);
  uint64_t nonce[SENDERS] = {0};
  uint8_t buf[512];
  uint8_t args[64];
  memset(args, 0xab, sizeof args);
  if (!b) abort();
  for (unsigned i = 0; i < n; i++) {
    unsigned s = i % SENDERS;
    pc_client_tx_t t = {.chain_id = CHAIN, .nonce = nonce[s]++, .contract = "token", .method = "transfer",
                        .args = args, .args_len = sizeof args};
    int len = pc_client_tx_build(buf, sizeof buf, &keys[s], &t, NULL);
    if (len < 0) abort();
    b[i].raw = malloc((size_t)len);
    if (!b[i].raw) abort();
    memcpy(b[i].raw, buf, (size_t)len);
    b[i].len = (size_t)len;
  }
  return b;
}

/* Bare libsodium on core: verifies each transaction's signature over its
 * signed bytes (what pc_tx_verify does, without the stage around it);
 * returns how many verified, adds the time to a. */
static unsigned bare_slice(const blob_t *b, unsigned from, unsigned to, int core, acc_t *a) {
  pin_self(core);
  uint8_t msg[600];
  size_t tag = sizeof(PC_TX_SIG_TAG);
  memcpy(msg, PC_TX_SIG_TAG, tag);
  uint64_t t0 = pc_now_ns(), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), h0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  unsigned ok = 0;
  for (unsigned i = from; i < to; i++) {
    size_t body = b[i].len - 64;
    memcpy(msg + tag, b[i].raw, body);
    ok += crypto_sign_verify_detached(b[i].raw + body, msg, tag + body, b[i].raw + 1 + 8) == 0;
  }
  uint64_t t1 = pc_now_ns(), c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), h1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  a->n += to - from;
  a->wall += secs(t1 - t0);
  a->cpu += secs(c1 - c0);
  a->thr += secs(h1 - h0);
  if (ok != to - from) fprintf(stderr, "bare: %u of %u verified?\n", ok, to - from);
  return ok;
}

/* Bare on core_a and core_b at the same time (two threads started
 * together): the rate per core when both cores verify, which is what two
 * workers can at best reach per core — on a virtual machine the two vCPUs
 * may share a physical core's resources, so each verifies slower when the
 * other is busy. */
typedef struct {
  const blob_t *b;
  unsigned from, to;
  int core;
  pthread_barrier_t *start;
  acc_t a;
} bare_arg_t;

static void *bare_thread(void *arg) {
  bare_arg_t *x = arg;
  pthread_barrier_wait(x->start);
  bare_slice(x->b, x->from, x->to, x->core, &x->a);
  return NULL;
}

static void bare2_slice(const blob_t *b, unsigned from, unsigned to, int core_a, int core_b, acc_t *a) {
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, 2);
  bare_arg_t x = {.b = b, .from = from, .to = to, .core = core_b, .start = &start};
  pthread_t t;
  if (pthread_create(&t, NULL, bare_thread, &x) != 0) abort();
  acc_t mine = {0};
  pthread_barrier_wait(&start);
  bare_slice(b, from, to, core_a, &mine);
  pthread_join(t, NULL);
  pthread_barrier_destroy(&start);
  a->n += to - from;
  a->wall += mine.wall;
  a->both_n[0] += mine.n, a->both_cpu[0] += mine.thr;
  a->both_n[1] += x.a.n, a->both_cpu[1] += x.a.thr;
}

/* A pool for one round of a stage phase: workers pinned to core_a (and
 * core_b), tables sized for n transactions. */
static pc_txpool_t *stage_new(unsigned n, unsigned workers, int core_a, int core_b) {
  pc_txpool_cfg_t c;
  pc_txpool_cfg_default(&c, CHAIN, 1, 0);
  c.n_workers = workers;
  c.worker_cores[0] = core_a;
  c.worker_cores[1] = core_b;
  c.ring_size = 1024;
  c.mempool.gap_limit = PC_MIN(4096u, n / SENDERS + 64); /* a sender's whole share in flight */
  c.mempool.sender_max_count = n;
  c.mempool.max_count = 2 * n;
  c.seen_max = 2 * n;
  pc_txpool_t *p = pc_txpool_create(&c, NULL, NULL);
  if (!p) exit(1);
  return p;
}

/* The stage on one slice: the calling thread is the pool thread, pinned to
 * pool_core; submits the slice, drains it, adds the time (and each worker's
 * count and CPU time, as differences) to a. */
static void stage_slice(pc_txpool_t *p, unsigned workers, const blob_t *b, unsigned from, unsigned to,
                        int pool_core, acc_t *a) {
  pin_self(pool_core);
  uint64_t v0[2] = {0, 0}, w0[2] = {0, 0};
  for (unsigned i = 0; i < workers && i < 2; i++) pc_txpool_worker_stats(p, i, &v0[i], &w0[i]);
  pc_txpool_stats_t s0, s1;
  pc_txpool_stats(p, &s0);
  uint64_t t0 = pc_now_ns(), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  for (unsigned i = from; i < to;) {
    pc_txpool_reason_t why;
    int rc = pc_txpool_submit(p, b[i].raw, b[i].len, PC_ORIGIN_CLIENT, NULL, &why);
    if (rc == PC_ERR_AGAIN) { /* queues full (1023 each, ~50 ms of work): sleep until half came back, take them */
      pc_txpool_wait(p, 100000000);
      while (pc_txpool_poll(p, pc_now_ns())) {
      }
      continue;
    }
    if (rc) fprintf(stderr, "stage: tx %u rejected: %s\n", i, pc_txpool_reason_name(why));
    i++;
    if ((i & 63) == 0) pc_txpool_poll(p, pc_now_ns());
  }
  pc_txpool_drain(p);
  uint64_t t1 = pc_now_ns(), c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  pc_txpool_stats(p, &s1);
  a->n += to - from;
  a->wall += secs(t1 - t0);
  a->cpu += secs(c1 - c0);
  for (unsigned i = 0; i < workers && i < 2; i++) {
    uint64_t v, c;
    if (pc_txpool_worker_stats(p, i, &v, &c) == 0) a->wv[i] += (double)(v - v0[i]), a->wcpu[i] += secs(c - w0[i]);
  }
  a->waits += (double)(s1.pool_waits - s0.pool_waits);
  a->sleeps += (double)(s1.worker_sleeps - s0.worker_sleeps);
  if (s1.verified - s0.verified != to - from || s1.admitted - s0.admitted != to - from)
    fprintf(stderr, "stage: verified %llu admitted %llu of %u\n", (unsigned long long)(s1.verified - s0.verified),
            (unsigned long long)(s1.admitted - s0.admitted), to - from);
}

/* The first three fields of /proc/loadavg ("?" if unreadable). */
static void loadavg(char *out, size_t cap) {
  snprintf(out, cap, "?");
  FILE *f = fopen("/proc/loadavg", "r");
  if (!f) return;
  double a, b, c;
  if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) snprintf(out, cap, "%.2f %.2f %.2f", a, b, c);
  fclose(f);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median, min and max of v[0..n) (v is reordered). */
typedef struct {
  double med, lo, hi;
} spread_t;

static spread_t spread(double *v, unsigned n) {
  qsort(v, n, sizeof *v, cmp_double);
  spread_t s = {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1]};
  return s;
}

static void mempool_rates(const blob_t *b, unsigned m, double *dec, double *ins, double *ext) {
  pc_tx_t *all = malloc((size_t)m * sizeof *all);
  if (!all) abort();
  uint64_t t0 = pc_now_ns();
  for (unsigned i = 0; i < m; i++)
    if (pc_tx_decode(b[i].raw, b[i].len, &all[i])) abort();
  *dec = m / secs(pc_now_ns() - t0);
  pc_mempool_cfg_t mc;
  pc_mempool_cfg_default(&mc, 1, 0);
  mc.gap_limit = 4096;
  mc.sender_max_count = m;
  pc_mempool_t *mp = pc_mempool_create(&mc, NULL);
  if (!mp) exit(1);
  t0 = pc_now_ns();
  for (unsigned i = 0; i < m; i++)
    if (pc_mempool_insert(mp, &all[i], i, NULL)) abort();
  *ins = m / secs(pc_now_ns() - t0);
  size_t cap = 256 * (b[0].len + 4) + 64;
  uint8_t *batch = malloc(cap);
  if (!batch) abort();
  pc_batch_limits_t lim = {.max_count = 256, .max_bytes = cap, .max_wait_ns = 0};
  unsigned cut = 0;
  t0 = pc_now_ns();
  for (;;) {
    pc_writer_t w;
    pc_writer_init(&w, batch, cap);
    int k = pc_mempool_cut(mp, 0, 1, &lim, 0, true, &w);
    if (k <= 0) break;
    cut += (unsigned)k;
    pc_mempool_remove_decided(mp, batch, w.len);
  }
  *ext = cut / secs(pc_now_ns() - t0);
  if (cut != m) fprintf(stderr, "mempool: cut %u of %u\n", cut, m);
  pc_mempool_destroy(mp);
  free(all);
  free(batch);
}

enum { PH_BARE_A, PH_BARE_B, PH_BARE_2, PH_INLINE, PH_ONE, PH_TWO, PH_N };
static const char *const phase_names[PH_N] = {"bare", "bare", "bare2", "inline", "one", "two"};

/* One round: the n transactions in slices of `slice`; each slice goes
 * through every phase (or only `only`), in the order below on even slices
 * and backwards on odd ones, the stages on pools made for the round. */
static void run_round(const blob_t *b, unsigned n, unsigned slice, int core_a, int core_b, int only, acc_t *acc) {
  /* each stage next to the bare runs it is compared with */
  static const int order[PH_N] = {PH_INLINE, PH_BARE_A, PH_ONE, PH_BARE_B, PH_TWO, PH_BARE_2};
  pc_txpool_t *pool[PH_N] = {0};
  pool[PH_INLINE] = stage_new(n, 0, -1, -1);
  pool[PH_ONE] = stage_new(n, 1, core_a, -1);
  pool[PH_TWO] = stage_new(n, 2, core_a, core_b);
  for (unsigned from = 0, s = 0; from < n; from += slice, s++) {
    unsigned to = PC_MIN(n, from + slice);
    for (int j = 0; j < PH_N; j++) {
      int ph = order[s % 2 ? PH_N - 1 - j : j];
      if (only >= 0 && ph != only) continue;
      switch (ph) {
      case PH_BARE_A: bare_slice(b, from, to, core_a, &acc[ph]); break;
      case PH_BARE_B: bare_slice(b, from, to, core_b, &acc[ph]); break;
      case PH_BARE_2: bare2_slice(b, from, to, core_a, core_b, &acc[ph]); break;
      case PH_INLINE: stage_slice(pool[ph], 0, b, from, to, core_a, &acc[ph]); break;
      case PH_ONE: stage_slice(pool[ph], 1, b, from, to, core_b, &acc[ph]); break;
      default: stage_slice(pool[ph], 2, b, from, to, core_b, &acc[ph]); break;
      }
    }
  }
  for (int ph = 0; ph < PH_N; ph++) pc_txpool_destroy(pool[ph]);
}

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: bench_txpool [--rounds R] [--slice M] [--only PHASE] [n_tx [core_a [core_b]]]\n"
      "Measures the verify stage vs bare Ed25519 verify and the mempool vs pc_tx_decode (same run, same "
      "cores).\n"
      "  --rounds R    rounds, 1..%d (default 5); prints the median and min-max of per-round ratios\n"
      "  --slice M     transactions per slice, each slice through every phase in turn, >= 1 (default 1000)\n"
      "  --only PHASE  run one phase only (bare, bare2, inline, one, two; for perf record), no ratios\n"
      "  n_tx          signed transactions from 64 senders, 64..10000000 (default 20000)\n"
      "  core_a        CPU of the bare runs, the inline stage and the first worker (default 1)\n"
      "  core_b        CPU of the pool thread and the second worker (default 0)\n"
      "  -h, --help    this text\n"
      "Environment: none read.\n"
      "Run by: make bench (tools/scripts/bench.sh, section d: no arguments).\n",
      MAX_ROUNDS);
}

/* opt_value returns the value after option argv[*i] (advancing *i) or
 * exits through bad_arg when the option ends the command line. */
static const char *opt_value(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) bad_arg("option '%s' needs a value", argv[*i]);
  return argv[++*i];
}

int main(int argc, char **argv) {
  unsigned rounds = 5, n = 20000, slice = 1000;
  int core_a = 1, core_b = 0, only = -1, pos = 0;
  bench_args_begin("bench_txpool", usage, argc, argv);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--rounds")) {
      rounds = (unsigned)bench_parse_u64("--rounds", opt_value(argc, argv, &i), 1, MAX_ROUNDS);
    } else if (!strcmp(argv[i], "--slice")) {
      slice = (unsigned)bench_parse_u64("--slice", opt_value(argc, argv, &i), 1, UINT32_MAX);
    } else if (!strcmp(argv[i], "--only")) {
      const char *ph = opt_value(argc, argv, &i);
      only = -1;
      for (int k = PH_BARE_B; k < PH_N; k++)
        if (!strcmp(ph, phase_names[k])) only = k == PH_BARE_B ? PH_BARE_A : k;
      if (only < 0) bad_arg("unknown phase '%s' for --only (want bare, bare2, inline, one or two)", ph);
    } else if (argv[i][0] == '-' && (argv[i][1] < '0' || argv[i][1] > '9')) { /* "-1": a bad number below */
      bad_arg("unknown option '%s'", argv[i]);
    } else if (pos == 0) {
      n = (unsigned)bench_parse_u64("n_tx", argv[i], 64, 10000000), pos++;
    } else if (pos == 1) {
      core_a = (int)bench_parse_u64("core_a", argv[i], 0, CPU_SETSIZE - 1), pos++;
    } else if (pos == 2) {
      core_b = (int)bench_parse_u64("core_b", argv[i], 0, CPU_SETSIZE - 1), pos++;
    } else {
      bad_arg("unexpected argument '%s' (takes at most n_tx core_a core_b)", argv[i]);
    }
  }
  if (pc_crypto_init() < 0) {
    fprintf(stderr, "bench_txpool: cannot initialise libsodium\n");
    return 1;
  }
  /* Keep freed memory in the heap: each stage run builds and destroys a
   * pool, and glibc would otherwise give the memory back at every destroy
   * and fault it in again in the next run (page faults on the pool thread,
   * TLB shoot-down interrupts on the verify cores) — the steady state of a
   * long-running node, whose heap stays at its high-water mark, has
   * neither. */
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  pc_log_set_level(PC_LOG_ERROR);
  pc_client_key_t keys[SENDERS];
  for (unsigned s = 0; s < SENDERS; s++) {
    uint8_t seed[32] = {(uint8_t)s, 1};
    pc_client_key_from_seed(&keys[s], seed);
  }
  blob_t *b = make_txs(n, keys);
  char load0[64], load1[64];
  loadavg(load0, sizeof load0);
  printf("bench_txpool: %u transactions of %zu bytes, %d senders, %u rounds, slices of %u, cores %d and %d; load "
         "average %s\n",
         n, b[0].len, SENDERS, rounds, slice, core_a, core_b, load0);

  static acc_t acc[MAX_ROUNDS][PH_N];
  static rate_t r[MAX_ROUNDS][PH_N];
  for (unsigned k = 0; k < rounds; k++) {
    run_round(b, n, slice, core_a, core_b, only, acc[k]);
    for (int ph = 0; ph < PH_N; ph++) {
      const acc_t *x = &acc[k][ph];
      rate_t *y = &r[k][ph];
      if (!x->n) continue;
      y->wall = x->n / x->wall;
      y->cpu = x->cpu > 0 ? x->n / x->cpu : 0;
      y->core = ph == PH_BARE_A || ph == PH_BARE_B ? x->n / x->thr
                : ph == PH_BARE_2                 ? (x->both_n[0] + x->both_n[1]) / (x->both_cpu[0] + x->both_cpu[1])
                : x->wcpu[0] + x->wcpu[1] > 0     ? (x->wv[0] + x->wv[1]) / (x->wcpu[0] + x->wcpu[1])
                                                  : 0;
      if (ph == PH_BARE_2) y->cpu = y->core;
      y->waits = 1000 * x->waits / x->n;
      y->sleeps = 1000 * x->sleeps / x->n;
      for (int i = 0; i < 2; i++) {
        y->wv[i] = x->wv[i], y->wcpu[i] = x->wcpu[i];
        y->both[i] = x->both_cpu[i] > 0 ? x->both_n[i] / x->both_cpu[i] : 0;
      }
    }
  }
  loadavg(load1, sizeof load1);
  if (only >= 0) {
    for (unsigned k = 0; k < rounds; k++)
      printf("round %u: %s: wall %.0f/s, process CPU %.0f/s, verify-core CPU %.0f/s; per 1000 tx: pool thread "
             "blocked %.1f times, workers %.1f\n",
             k + 1, phase_names[only], r[k][only].wall, r[k][only].cpu, r[k][only].core, r[k][only].waits,
             r[k][only].sleeps);
    return 0;
  }

  /* per-round ratios, [row][0 wall, 1 process CPU, 2 verify core][round],
   * each against a bare rate of the same round: 1 worker and inline against
   * core_a (where the worker / the inline pool thread ran); 2 workers per
   * core (wall clock halved) against the mean of both cores' bare rates,
   * and against bare on both cores at once; bare on both cores at once
   * against bare alone (what the machine loses when both vCPUs verify). */
  enum { R_INLINE, R_ONE, R_TWO, R_TWO_BOTH, R_BOTH, R_N };
  static const int row_phase[R_N] = {PH_INLINE, PH_ONE, PH_TWO, PH_TWO, PH_BARE_2};
  static const char *const row_name[R_N] = {"inline", "1 worker", "2 workers",
                                            "2 workers against bare on both cores at once, per verify-core CPU-second",
                                            "bare on both cores at once against bare alone (mean of both cores)"};
  static double q[R_N][3][MAX_ROUNDS], abs_rate[PH_N][3][MAX_ROUNDS];
  for (unsigned k = 0; k < rounds; k++) {
    const rate_t *x = r[k];
    rate_t mean_ab = {(x[PH_BARE_A].wall + x[PH_BARE_B].wall) / 2, (x[PH_BARE_A].cpu + x[PH_BARE_B].cpu) / 2,
                      (x[PH_BARE_A].core + x[PH_BARE_B].core) / 2, 0, 0, {0, 0}, {0, 0}, {0, 0}};
    for (int ph = 0; ph < PH_N; ph++) {
      double v[3] = {ph == PH_TWO ? x[ph].wall / 2 : x[ph].wall, x[ph].cpu, x[ph].core};
      for (int c = 0; c < 3; c++) abs_rate[ph][c][k] = v[c];
    }
    for (int row = 0; row < R_N; row++) {
      int ph = row_phase[row];
      const rate_t *base = row == R_TWO || row == R_BOTH ? &mean_ab : row == R_TWO_BOTH ? &x[PH_BARE_2] : &x[PH_BARE_A];
      double bv[3] = {base->wall, base->cpu, base->core};
      for (int c = 0; c < 3; c++) q[row][c][k] = bv[c] > 0 ? abs_rate[ph][c][k] / bv[c] : 0;
    }
    /* per verify core, exactly: the CPU time bare verification needs for
     * the work each worker did on its core (its count / that core's bare
     * rate), over the CPU time the workers used. The workers need not get
     * equal shares, and the cores' bare rates differ (one may take more
     * interrupts): a mean of the two rates would weigh them wrongly. */
    const rate_t *one = &x[PH_ONE], *two = &x[PH_TWO];
    if (one->wcpu[0] > 0) q[R_ONE][2][k] = one->wv[0] / x[PH_BARE_A].core / one->wcpu[0];
    double used = two->wcpu[0] + two->wcpu[1];
    if (used > 0) {
      q[R_TWO][2][k] = (two->wv[0] / x[PH_BARE_A].core + two->wv[1] / x[PH_BARE_B].core) / used;
      q[R_TWO_BOTH][2][k] = (two->wv[0] / x[PH_BARE_2].both[0] + two->wv[1] / x[PH_BARE_2].both[1]) / used;
    }
    /* the two workers apart, each against its own core's bare rate: the
     * one sharing core_b with the pool thread against the one alone */
    double w2[2];
    for (int i = 0; i < 2; i++) {
      double bare = i ? x[PH_BARE_B].core : x[PH_BARE_A].core;
      w2[i] = two->wcpu[i] > 0 && bare > 0 ? two->wv[i] / bare / two->wcpu[i] : 0;
    }
    printf("round %u: bare %5.0f/s (core %d) %5.0f/s (core %d) %5.0f/s (both at once: %.3f, %.3f of alone) | per "
           "verify-core CPU-s: 1 worker %.3f, 2 workers %.3f (core %d %.3f, core %d %.3f; %.3f vs both at once) | wall: "
           "inline %.3f, 1 worker %.3f, 2 workers %.3f per core\n",
           k + 1, x[PH_BARE_A].core, core_a, x[PH_BARE_B].core, core_b, x[PH_BARE_2].core,
           x[PH_BARE_A].core > 0 ? x[PH_BARE_2].both[0] / x[PH_BARE_A].core : 0,
           x[PH_BARE_B].core > 0 ? x[PH_BARE_2].both[1] / x[PH_BARE_B].core : 0, q[R_ONE][2][k],
           q[R_TWO][2][k], core_a, w2[0], core_b, w2[1], q[R_TWO_BOTH][2][k], q[R_INLINE][0][k], q[R_ONE][0][k],
           q[R_TWO][0][k]);
  }
  spread_t m[R_N][3], a[PH_N][3];
  for (int row = 0; row < R_N; row++)
    for (int c = 0; c < 3; c++) m[row][c] = spread(q[row][c], rounds);
  for (int ph = 0; ph < PH_N; ph++)
    for (int c = 0; c < 3; c++) a[ph][c] = spread(abs_rate[ph][c], rounds);
  printf("medians over the rounds (rates: median rate; ratios: median of the per-round ratios)\n");
  printf("                                            wall clock /s  ratio   per CPU-second  ratio   per verify-core CPU-s  ratio\n");
  printf("bare crypto_sign_verify_detached, 1 core : %9.0f        1.000  %9.0f        1.000  %9.0f              1.000\n",
         a[PH_BARE_A][0].med, a[PH_BARE_A][1].med, a[PH_BARE_A][2].med);
  printf("stage, inline on the pool thread         : %9.0f        %.3f  %9.0f        %.3f          -                  -\n",
         a[PH_INLINE][0].med, m[R_INLINE][0].med, a[PH_INLINE][1].med, m[R_INLINE][1].med);
  printf("stage, 1 worker (core %d), per core       : %9.0f        %.3f  %9.0f        %.3f  %9.0f              %.3f\n",
         core_a, a[PH_ONE][0].med, m[R_ONE][0].med, a[PH_ONE][1].med, m[R_ONE][1].med, a[PH_ONE][2].med,
         m[R_ONE][2].med);
  printf("stage, 2 workers (cores %d,%d), per core    : %9.0f        %.3f  %9.0f        %.3f  %9.0f              %.3f\n",
         core_a, core_b, a[PH_TWO][0].med, m[R_TWO][0].med, a[PH_TWO][1].med, m[R_TWO][1].med, a[PH_TWO][2].med,
         m[R_TWO][2].med);
  printf("(per CPU-second counts every thread of the process: pool thread — decode, hash, seen set, mempool — workers, idle back-off;\n"
         " verify-core CPU counts the verify workers' threads only: the stage's rate per verify core;\n"
         " 1 worker and inline against bare on core %d; 2 workers: wall clock halved, against the mean of both cores' bare rates,\n"
         " per verify-core CPU-second against each core's bare rate weighted by the work its worker did)\n",
         core_a);
  printf("per-round ratios, median [min-max] over %u rounds (load average %s at the start, %s at the end):\n", rounds,
         load0, load1);
  static const char *const what[3] = {"wall clock", "per process CPU-second", "per verify-core CPU-second"};
  for (int row = 0; row < R_N; row++)
    for (int c = 0; c < 3; c++) {
      if ((row == R_INLINE && c == 2) || (row >= R_TWO_BOTH && c != 2)) continue;
      if (row >= R_TWO_BOTH)
        printf("  %s: %.3f [%.3f-%.3f]\n", row_name[row], m[row][c].med, m[row][c].lo, m[row][c].hi);
      else
        printf("  %-9s %-26s: %.3f [%.3f-%.3f]\n", row_name[row], what[c], m[row][c].med, m[row][c].lo, m[row][c].hi);
    }
  printf("bare rates, thread CPU: core %d %.0f [%.0f-%.0f]/s, core %d %.0f [%.0f-%.0f]/s, both at once %.0f [%.0f-%.0f]/s "
         "per core\n",
         core_a, a[PH_BARE_A][2].med, a[PH_BARE_A][2].lo, a[PH_BARE_A][2].hi, core_b, a[PH_BARE_B][2].med,
         a[PH_BARE_B][2].lo, a[PH_BARE_B][2].hi, a[PH_BARE_2][2].med, a[PH_BARE_2][2].lo, a[PH_BARE_2][2].hi);
  printf("target (stage >= 0.9x bare per verify core): 1 worker %s (median %.3f, min %.3f), 2 workers %s (median %.3f, "
         "min %.3f; against bare on both cores at once %.3f, min %.3f)\n",
         m[R_ONE][2].med >= 0.9 ? "met" : "NOT met", m[R_ONE][2].med, m[R_ONE][2].lo,
         m[R_TWO][2].med >= 0.9 ? "met" : "NOT met", m[R_TWO][2].med, m[R_TWO][2].lo, m[R_TWO_BOTH][2].med,
         m[R_TWO_BOTH][2].lo);

  /* mempool: decode baseline, insert, cut + remove (no verification); best of 3 */
  pin_self(-1);
  unsigned mn = PC_MIN(n, 4000u);
  double dec = 0, ins = 0, ext = 0;
  for (int round = 0; round < 3; round++) {
    double d, i, e;
    mempool_rates(b, mn, &d, &i, &e);
    dec = PC_MAX(dec, d);
    ins = PC_MAX(ins, i);
    ext = PC_MAX(ext, e);
  }
  printf("pc_tx_decode (parse + BLAKE2b)           : %9.0f /s\n", dec);
  printf("mempool insert                           : %9.0f /s  ratio %.3f\n", ins, ins / dec);
  printf("mempool cut (batches of 256) + decided   : %9.0f /s  ratio %.3f\n", ext, ext / dec);
  for (unsigned i = 0; i < n; i++) free(b[i].raw);
  free(b);
  return 0;
}
