/* bench_executor — throughput of each scheduler against serial execution of
 * the same blocks, measured in the same run.
 *
 *   bench_executor [-w max_workers] [-b blocks] [-n txs_per_block] [-r rounds]
 *                  [-k substring[,substring...]] [-u] [-c FILE] [-V] [-P]
 *   bench_executor -h | --help   (usage)
 *
 *   -w  workers 1..W, W from 1 to 64 (default: the machine's PUs)
 *   -b  blocks per workload, 1..1000000 (default 4)
 *   -n  transactions per block, 1..1000000 (default 1000)
 *   -r  rounds, best of which is printed, 1..1000000 (default 3)
 *   -k  only the workloads whose name contains one of the substrings
 *       ("overhead" names the overhead figure); each must match one
 *   -u  leave the workers unpinned
 * A malformed or out-of-range value, an unknown option or a stray argument
 * is reported on stderr with the usage and exit status 2 before anything
 * runs (and before -c creates its file). Environment: none read. Run by
 * `make bench` (tools/scripts/bench.sh, section c: -r 2 -c FILE; --quick:
 * -r 1 -b 2 -k transfer-uniform, then -k compute) and `make bench-check`
 * (tools/scripts/bench-check.sh: -V -b 3 -n 500).
 *
 * Workloads (1000-transaction blocks by default, all transactions declare
 * their keys; the optimistic scheduler ignores declarations for scheduling):
 *   transfer-{uniform,zipf}-A  token transfers between A accounts (A = 2, 10,
 *                              100, 1k, 10k; Zipf s = 1.1), each sender's
 *                              nonce chain included
 *   counter                    every transaction adds to one hot key (100% conflict)
 *   kvput                      puts of distinct names by distinct senders
 *   compute-Xus                compute calls of ~X µs (X = 1, 10, 100;
 *                              iterations calibrated at start)
 * For each workload: serial, then taskset, dag and optimistic with 1..W
 * workers (fallback to serial enabled, as in production). Only pc_exec_run
 * is timed; every run starts from the same state and commits each block.
 * Prints transactions per second, the ratio to serial, and how many blocks
 * fell back to serial. Then the scheduling overhead per transaction: the
 * extra time per transaction over serial on compute calls of 0 iterations
 * with one worker and no fallback.
 *
 *   -c FILE  also append one CSV row per measured configuration to FILE:
 *            workload,scheduler,workers,tps,vs_serial,fallback_blocks,blocks
 *            (serial rows have workers 0 and vs_serial 1); the text output
 *            is unchanged. A header is written when FILE is empty.
 *   -P       also print, for every block a parallel scheduler runs, where its time went (pc_exec_last_profile): what
 *            ran and why it fell back, prepare / analysis / workers /
 *            serial / output wall µs, and per worker the transactions it
 *            executed and its CPU µs (for a serial block, the caller's
 *            CPU per transaction) — the structural view of a speed-up
 *            that wall-clock ratios on a shared machine cannot give.
 *   -V       verification only, no timing: every scheduler with 1..W workers
 *            (at least 2), with and without the serial fallback, on every
 *            selected workload, must produce the same state root and the
 *            same receipts root as serial execution, block after block.
 *            Prints one line per configuration ("ok" or "DIFFERS") and
 *            "verify: N ok, N differ"; exits 1 if any differs.
 */
#include <errno.h>
#include <getopt.h>
#include <hwloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "executor/executor.h"
#include "tools/bench_args.h"

static unsigned g_blocks = 4, g_ntx = 1000, g_maxw = 0, g_rounds = 3;
static const char *g_only;
static bool g_nopin, g_verify, g_profile;
static const char *g_cur; /* workload being measured, for -P */
/* Workload parameters: transfer-{uniform,zipf}-A over accs[] accounts,
 * compute-Xus for X in us[] (main() and -k's check both read them). */
static const uint32_t accs[] = {2, 10, 100, 1000, 10000};
static const unsigned us[] = {1, 10, 100};
static FILE *g_csv;
static unsigned g_verify_ok, g_verify_bad;

static uint64_t rnd(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void bacct(uint8_t out[32], uint32_t id) {
  memset(out, 0, 32);
  pc_store_le32(out, id);
  out[31] = 0xbe;
}

/* ------------------------------------------------------------ workloads */

typedef struct {
  pc_tx_t *tx;  /* g_blocks × g_ntx */
  uint8_t *mem; /* args and keys */
  size_t used, cap;
  uint32_t n_accounts; /* funded accounts */
} work_t;

static uint8_t *wmem(work_t *w, const void *p, size_t n) {
  if (w->used + n > w->cap) {
    fprintf(stderr, "bench: workload arena too small\n");
    exit(1);
  }
  uint8_t *d = w->mem + w->used;
  memcpy(d, p, n);
  w->used += n;
  return d;
}

static void hash_tx(pc_tx_t *t, uint64_t salt) {
  uint8_t b[48];
  memcpy(b, t->sender, 32);
  pc_store_le64(b + 32, t->nonce);
  pc_store_le64(b + 40, salt);
  pc_hash_blake2b(&t->hash, b, sizeof b);
}

static pc_tx_t *new_tx(work_t *w, size_t i, uint32_t sender, uint64_t nonce, const char *c, const char *m,
                       const void *args, size_t alen) {
  pc_tx_t *t = &w->tx[i];
  memset(t, 0, sizeof *t);
  bacct(t->sender, sender);
  t->nonce = nonce;
  snprintf(t->contract, sizeof t->contract, "%s", c);
  snprintf(t->method, sizeof t->method, "%s", m);
  t->args = wmem(w, args, alen);
  t->args_len = (uint32_t)alen;
  t->declared = true;
  hash_tx(t, i);
  return t;
}

static void declare_w(work_t *w, pc_tx_t *t, const void *k, size_t kl) {
  t->writes[t->n_writes++] = (pc_tx_key_t){wmem(w, k, kl), (uint16_t)kl};
}

static void work_init(work_t *w) {
  memset(w, 0, sizeof *w);
  w->tx = calloc((size_t)g_blocks * g_ntx, sizeof *w->tx);
  w->cap = (size_t)g_blocks * g_ntx * 160;
  w->mem = malloc(w->cap);
  if (!w->tx || !w->mem) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
}

static void work_free(work_t *w) {
  free(w->tx);
  free(w->mem);
}

static void gen_transfers(work_t *w, uint32_t accounts, bool zipf, uint64_t seed) {
  double *cdf = NULL;
  if (zipf) {
    cdf = malloc(sizeof *cdf * accounts);
    double sum = 0;
    for (uint32_t k = 0; k < accounts; k++) sum += 1.0 / pow(k + 1, 1.1);
    double acc = 0;
    for (uint32_t k = 0; k < accounts; k++) cdf[k] = (acc += 1.0 / pow(k + 1, 1.1) / sum);
  }
  uint64_t *nonce = calloc(accounts, sizeof *nonce);
  for (size_t i = 0; i < (size_t)g_blocks * g_ntx; i++) {
    uint32_t pick[2];
    for (int j = 0; j < 2; j++) {
      if (zipf) {
        double u = (double)(rnd(&seed) >> 11) / 9007199254740992.0;
        uint32_t lo = 0, hi = accounts - 1;
        while (lo < hi) {
          uint32_t mid = (lo + hi) / 2;
          if (cdf[mid] < u)
            lo = mid + 1;
          else
            hi = mid;
        }
        pick[j] = lo;
      } else {
        pick[j] = (uint32_t)(rnd(&seed) % accounts);
      }
    }
    uint8_t a[40], k[PC_TOKEN_BALANCE_KEY_LEN], who[32];
    bacct(a, pick[1]);
    pc_store_le64(a + 32, 1);
    pc_tx_t *t = new_tx(w, i, pick[0], nonce[pick[0]]++, "token", "transfer", a, 40);
    bacct(who, pick[0]);
    pc_token_balance_key(k, who);
    declare_w(w, t, k, sizeof k);
    bacct(who, pick[1]);
    pc_token_balance_key(k, who);
    declare_w(w, t, k, sizeof k);
  }
  w->n_accounts = accounts;
  free(cdf);
  free(nonce);
}

/* one fresh sender per transaction: no nonce conflicts */
static uint32_t fresh_sender(size_t i) { return 0x100000u + (uint32_t)i; }

static void gen_counter(work_t *w) {
  for (size_t i = 0; i < (size_t)g_blocks * g_ntx; i++) {
    uint8_t d[8];
    pc_store_le64(d, 1);
    declare_w(w, new_tx(w, i, fresh_sender(i), 0, "counter", "add", d, 8), "n", 1);
  }
}

static void gen_kvput(work_t *w) {
  for (size_t i = 0; i < (size_t)g_blocks * g_ntx; i++) {
    uint8_t a[2 + 12 + 32], k[13];
    int nl = snprintf((char *)k + 1, 12, "n%zu", i);
    k[0] = 'e';
    pc_store_le16(a, (uint16_t)nl);
    memcpy(a + 2, k + 1, (size_t)nl);
    memset(a + 2 + nl, 0x5a, 32);
    declare_w(w, new_tx(w, i, fresh_sender(i), 0, "kv", "put", a, 2 + (size_t)nl + 32), k, (size_t)nl + 1);
  }
}

static void gen_compute(work_t *w, uint32_t iters) {
  for (size_t i = 0; i < (size_t)g_blocks * g_ntx; i++) {
    uint8_t a[36];
    pc_store_le32(a, iters);
    memset(a + 4, (int)i, 32);
    new_tx(w, i, fresh_sender(i), 0, "compute", "run", a, 36);
  }
}

/* ------------------------------------------------------------ measuring */

static double cpu_secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
  double secs, cpu; /* wall and process CPU time inside pc_exec_run */
  unsigned fallbacks;
  pc_hash_t last_root;
  /* chained over the blocks: H(prev || root of block b) */
  pc_hash_t state_chain, receipts_chain;
} meas_t;

static void chain(pc_hash_t *acc, const pc_hash_t *root) {
  uint8_t b[2 * sizeof acc->b];
  memcpy(b, acc->b, sizeof acc->b);
  memcpy(b + sizeof acc->b, root->b, sizeof root->b);
  pc_hash_blake2b(acc, b, sizeof b);
}

static void print_profile(const pc_executor_t *e, pc_sched_t s, unsigned workers, unsigned blk) {
  pc_exec_profile_t p;
  pc_exec_last_profile(e, &p);
  printf("profile %-14s %-10s w=%u b=%u ran=%-10s why=%-8s%s prep %6.0f anal %6.0f par %7.0f ser %7.0f out %5.0f us |",
         g_cur ? g_cur : "?", pc_sched_name(s), workers, blk, pc_sched_name(p.ran), pc_exec_why_name(p.why_serial),
         p.probed ? " probed" : "", p.prepare_ns / 1e3, p.analysis_ns / 1e3, p.parallel_ns / 1e3, p.serial_ns / 1e3,
         p.output_ns / 1e3);
  uint64_t cpu = 0;
  uint32_t most = 0;
  for (unsigned i = 0; i < p.n_workers && p.ran != PC_SCHED_SERIAL; i++) {
    printf(" w%u %u tx %.0f us", i, p.worker_txs[i], p.worker_cpu_ns[i] / 1e3);
    cpu += p.worker_cpu_ns[i];
    if (p.worker_txs[i] > most) most = p.worker_txs[i];
  }
  if (p.ran == PC_SCHED_SERIAL) printf(" caller CPU %.1f us/tx", (double)p.caller_cpu_ns / 1e3 / p.n_exec);
  /* the share of the block the busiest worker executed bounds the speed-up */
  if (most)
    printf(" | busiest %.2f of %u, worker CPU %.1f us/tx", (double)most / p.n_exec, p.n_exec,
           (double)cpu / 1e3 / p.n_exec);
  printf("\n");
}

/* executors are made once per (scheduler, workers, fallback) and reused:
 * creating one loads the hwloc topology, which is slow and disturbs the
 * other core (dlopen/munmap TLB shootdowns) */
static pc_executor_t *g_exec[PC_SCHED_COUNT][PC_EXEC_WORKERS_MAX + 1][2];

static pc_executor_t *get_exec(pc_sched_t s, unsigned workers, bool fallback) {
  pc_executor_t **slot = &g_exec[s][workers][fallback];
  if (!*slot) {
    pc_exec_config_t cfg = {.sched = s, .n_workers = workers, .no_fallback = !fallback, .no_pin = g_nopin};
    *slot = pc_exec_create(&cfg);
    if (!*slot) exit(1);
  }
  return *slot;
}

static int measure(const work_t *w, pc_sched_t s, unsigned workers, bool fallback, meas_t *out) {
  pc_executor_t *e = get_exec(s, workers, fallback);
  pc_memstate_t *m = pc_memstate_create();
  if (!e || !m) return -1;
  pc_exec_state_t st = pc_memstate_iface(m);
  for (uint32_t a = 0; a < w->n_accounts; a++) {
    uint8_t who[32], k[PC_TOKEN_BALANCE_KEY_LEN], sk[64], v[8];
    bacct(who, a);
    pc_token_balance_key(k, who);
    int n = pc_exec_state_key(sk, sizeof sk, "token", k, sizeof k);
    pc_store_le64(v, 1ull << 40);
    pc_memstate_put(m, sk, (size_t)n, v, 8);
  }
  out->secs = out->cpu = 0;
  out->fallbacks = 0;
  memset(&out->state_chain, 0, sizeof out->state_chain);
  memset(&out->receipts_chain, 0, sizeof out->receipts_chain);
  for (unsigned b = 0; b < g_blocks; b++) {
    pc_exec_block_t blk = {
        .height = b + 1, .time_us = b + 1, .txs = w->tx + (size_t)b * g_ntx, .n_txs = g_ntx};
    pc_exec_result_t r;
    double c0 = cpu_secs();
    uint64_t t0 = pc_now_ns();
    int rc = pc_exec_run(e, &st, &blk, &r);
    out->secs += (double)(pc_now_ns() - t0) / 1e9;
    out->cpu += cpu_secs() - c0;
    if (rc) return rc;
    for (size_t i = 0; i < r.n_receipts; i++)
      if (r.receipts[i].status != PC_TX_OK) {
        fprintf(stderr, "bench: tx %zu of block %u failed (%s): workload bug\n", i, b,
                pc_tx_status_name(r.receipts[i].status));
        return -1;
      }
    if (r.ran == PC_SCHED_SERIAL && s != PC_SCHED_SERIAL) out->fallbacks++;
    if (g_profile && s != PC_SCHED_SERIAL) print_profile(e, s, workers, b);
    if ((rc = pc_exec_commit(e, &st, &r))) return rc;
    out->last_root = r.exec_root;
    chain(&out->state_chain, &r.state_root);
    chain(&out->receipts_chain, &r.receipts_root);
  }
  pc_memstate_destroy(m);
  return 0;
}

/* -k takes one substring or several separated by commas */
static bool wanted(const char *name) {
  if (!g_only) return true;
  const char *p = g_only;
  for (;;) {
    const char *c = strchr(p, ',');
    size_t n = c ? (size_t)(c - p) : strlen(p);
    for (const char *q = name; n && strlen(q) >= n; q++)
      if (strncmp(q, p, n) == 0) return true;
    if (!c) return false;
    p = c + 1;
  }
}

/* -V: every scheduler, worker count and fallback setting against serial */
static void verify_workload(const char *name, const work_t *w) {
  static const pc_sched_t sch[] = {PC_SCHED_TASKSET, PC_SCHED_DAG, PC_SCHED_OPTIMISTIC};
  meas_t ser, m;
  if (measure(w, PC_SCHED_SERIAL, 1, true, &ser)) exit(1);
  unsigned maxw = g_maxw < 2 ? 2 : g_maxw;
  for (size_t k = 0; k < PC_ARRAY_LEN(sch); k++)
    for (unsigned wk = 1; wk <= maxw; wk++)
      for (int fb = 0; fb < 2; fb++) {
        if (measure(w, sch[k], wk, fb, &m)) {
          printf("verify %-22s %-10s w=%u fallback=%d: FAILED to run\n", name, pc_sched_name(sch[k]), wk, fb);
          g_verify_bad++;
          continue;
        }
        bool same_s = pc_hash_equal(&m.state_chain, &ser.state_chain);
        bool same_r = pc_hash_equal(&m.receipts_chain, &ser.receipts_chain);
        printf("verify %-22s %-10s w=%u fallback=%d: %s%s%s\n", name, pc_sched_name(sch[k]), wk, fb,
               same_s && same_r ? "ok" : "DIFFERS", same_s ? "" : " (state root)", same_r ? "" : " (receipts root)");
        if (same_s && same_r)
          g_verify_ok++;
        else
          g_verify_bad++;
      }
  fflush(stdout);
}

static void run_workload(const char *name, const work_t *w) {
  g_cur = name;
  if (g_verify) {
    verify_workload(name, w);
    return;
  }
  /* R rounds, serial and every configuration alternating, keeping each
   * one's fastest round: the minimum is what the code costs, the rest is
   * other processes (the machine is shared) */
  static const pc_sched_t sch[] = {PC_SCHED_TASKSET, PC_SCHED_DAG, PC_SCHED_OPTIMISTIC};
  unsigned nc = 3 * g_maxw;
  meas_t best_ser = {.secs = 1e30}, best[3 * PC_EXEC_WORKERS_MAX];
  for (unsigned c = 0; c < nc; c++) best[c].secs = 1e30;
  for (unsigned round = 0; round < g_rounds; round++) {
    meas_t m;
    if (measure(w, PC_SCHED_SERIAL, 1, true, &m)) exit(1);
    if (m.secs < best_ser.secs) best_ser = m;
    for (unsigned c = 0; c < nc; c++) {
      pc_sched_t s = sch[c / g_maxw];
      unsigned wk = c % g_maxw + 1;
      if (measure(w, s, wk, true, &m)) exit(1);
      if (!pc_hash_equal(&m.last_root, &best_ser.last_root)) {
        fprintf(stderr, "bench: %s %s with %u workers: execution root differs from serial!\n", name,
                pc_sched_name(s), wk);
        exit(1);
      }
      if (m.secs < best[c].secs) best[c] = m;
    }
  }
  double total = (double)g_blocks * g_ntx;
  printf("%-22s %-10s %2s %10.0f tx/s  1.00x\n", name, "serial", "-", total / best_ser.secs);
  if (g_csv) fprintf(g_csv, "%s,serial,0,%.0f,1.000,0,%u\n", name, total / best_ser.secs, g_blocks);
  for (unsigned c = 0; c < nc && g_csv; c++)
    fprintf(g_csv, "%s,%s,%u,%.0f,%.3f,%u,%u\n", name, pc_sched_name(sch[c / g_maxw]), c % g_maxw + 1,
            total / best[c].secs, best_ser.secs / best[c].secs, best[c].fallbacks, g_blocks);
  for (unsigned c = 0; c < nc; c++) {
    char fb[48] = "";
    if (best[c].fallbacks)
      snprintf(fb, sizeof fb, "  (%u/%u blocks fell back to serial)", best[c].fallbacks, g_blocks);
    printf("%-22s %-10s %2u %10.0f tx/s  %.2fx%s\n", name, pc_sched_name(sch[c / g_maxw]), c % g_maxw + 1,
           total / best[c].secs, best_ser.secs / best[c].secs, fb);
  }
  fflush(stdout);
}

/* the fastest of 50 short runs: what a round costs when this process has
 * the core (the machine is shared) */
static double calibrate_ns_per_iter(void) {
  pc_hash_t h = {{0}};
  double best = 1e30;
  for (int r = 0; r < 50; r++) {
    uint64_t t0 = pc_now_ns();
    for (int i = 0; i < 4000; i++) pc_hash_blake2b(&h, h.b, 32);
    double ns = (double)(pc_now_ns() - t0) / 4000.0;
    if (ns < best) best = ns;
  }
  return best > 1 ? best : 1;
}

/* ------------------------------------------------------------ arguments */
static void usage(FILE *f) {
  fprintf(
      f,
      "usage: bench_executor [-w max_workers] [-b blocks] [-n txs_per_block] [-r rounds]\n"
      "                      [-k substring[,substring...]] [-u] [-c FILE] [-V] [-P]\n"
      "Measures the taskset, dag and optimistic schedulers vs serial on the same blocks, in the same run.\n"
      "  -w W        workers 1..W, W from 1 to %d (default: the machine's PUs)\n"
      "  -b B        blocks per workload, 1..1000000 (default 4)\n"
      "  -n N        transactions per block, 1..1000000 (default 1000)\n"
      "  -r R        rounds, the best printed, 1..1000000 (default 3)\n"
      "  -k LIST     only workloads whose name contains one of these comma-separated substrings\n"
      "              (transfer-uniform-A, transfer-zipf-A, counter, kvput, compute-Xus, overhead)\n"
      "  -u          leave the workers unpinned\n"
      "  -c FILE     also append one CSV row per configuration to FILE\n"
      "  -V          verification only: every scheduler's state and receipts roots against serial\n"
      "  -P          per-block profile of every parallel block\n"
      "  -h, --help  this text\n"
      "Environment: none read.\n"
      "Run by: make bench (tools/scripts/bench.sh, section c: -r 2 -c FILE), make bench-check (-V -b 3 -n "
      "500).\n",
      PC_EXEC_WORKERS_MAX);
}

/* workload_exists: does some workload name (or "overhead") contain the
 * n bytes at sub? The names are those main() generates, from the same
 * tables. */
static bool workload_exists(const char *sub, size_t n) {
  char names[PC_ARRAY_LEN(accs) * 2 + PC_ARRAY_LEN(us) + 3][64];
  size_t k = 0;
  for (int z = 0; z < 2; z++)
    for (size_t a = 0; a < PC_ARRAY_LEN(accs); a++)
      snprintf(names[k++], sizeof names[0], "transfer-%s-%u", z ? "zipf" : "uniform", accs[a]);
  snprintf(names[k++], sizeof names[0], "counter");
  snprintf(names[k++], sizeof names[0], "kvput");
  for (size_t u = 0; u < PC_ARRAY_LEN(us); u++) snprintf(names[k++], sizeof names[0], "compute-%uus", us[u]);
  snprintf(names[k++], sizeof names[0], "overhead");
  for (size_t i = 0; i < k; i++)
    for (const char *q = names[i]; n && strlen(q) >= n; q++)
      if (!strncmp(q, sub, n)) return true;
  return false;
}

/* parse_args sets the g_* options or exits: 0 after -h/--help, 2 after a
 * malformed argument. The -c file is opened only once every argument has
 * passed, so a rejected command line leaves no file behind. */
static void parse_args(int argc, char **argv) {
  static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  const char *csv = NULL;
  int c;
  bench_args_begin("bench_executor", usage, argc, argv); /* help wins over a bad argument before it */
  opterr = 0; /* our messages, not getopt's */
  while ((c = getopt_long(argc, argv, ":w:b:n:k:r:uc:VPh", longopts, NULL)) != -1) {
    switch (c) {
      case 'w': g_maxw = (unsigned)bench_parse_u64("-w (max workers)", optarg, 1, PC_EXEC_WORKERS_MAX); break;
      case 'b': g_blocks = (unsigned)bench_parse_u64("-b (blocks)", optarg, 1, 1000000); break;
      case 'n': g_ntx = (unsigned)bench_parse_u64("-n (txs per block)", optarg, 1, 1000000); break;
      case 'r': g_rounds = (unsigned)bench_parse_u64("-r (rounds)", optarg, 1, 1000000); break;
      case 'k':
        for (const char *p = optarg;;) {
          size_t n = strcspn(p, ",");
          if (!n) bad_arg("-k '%s' has an empty substring", optarg);
          if (!workload_exists(p, n)) bad_arg("-k '%.*s' matches no workload name (see -k below)", (int)n, p);
          if (!p[n]) break;
          p += n + 1;
        }
        g_only = optarg;
        break;
      case 'u': g_nopin = true; break;
      case 'V': g_verify = true; break;
      case 'P': g_profile = true; break;
      case 'c': csv = optarg; break;
      case 'h': usage(stdout); exit(0);
      case ':': bad_arg("option '-%c' needs a value", optopt);
      default: /* '?': optopt is the unknown letter, 0 for an unknown long option */
        if (optopt && strncmp(argv[optind - 1], "--", 2)) bad_arg("unknown option '-%c'", optopt);
        bad_arg("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) bad_arg("unexpected argument '%s' (every argument is an option)", argv[optind]);
  if (csv) {
    if (!(g_csv = fopen(csv, "a"))) {
      fprintf(stderr, "bench_executor: cannot open -c file '%s': %s\n", csv, strerror(errno));
      exit(2);
    }
    if (ftell(g_csv) == 0)
      fprintf(g_csv, "workload,scheduler,workers,tps,vs_serial,fallback_blocks,blocks\n");
  }
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  pc_log_set_level(PC_LOG_WARN);
  if (!g_maxw) {
    hwloc_topology_t t;
    hwloc_topology_init(&t);
    hwloc_topology_load(t);
    g_maxw = (unsigned)hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
    hwloc_topology_destroy(t);
    if (!g_maxw) g_maxw = 1;
    if (g_maxw > PC_EXEC_WORKERS_MAX) g_maxw = PC_EXEC_WORKERS_MAX;
  }
  double nspi = calibrate_ns_per_iter();
  if (g_verify)
    printf("# bench_executor -V: %u blocks x %u txs, every scheduler vs serial (state and receipts roots)\n",
           g_blocks, g_ntx);
  else
    printf(
      "# bench_executor: %u blocks x %u txs, workers 1..%u (%s), best of %u rounds, BLAKE2b round %.0f ns\n",
      g_blocks, g_ntx, g_maxw, g_nopin ? "unpinned" : "pinned", g_rounds, nspi);
  if (!g_verify) printf("%-22s %-10s %2s %15s  %s\n", "workload", "scheduler", "w", "throughput", "vs serial");

  work_t w;
  for (int z = 0; z < 2; z++)
    for (size_t k = 0; k < PC_ARRAY_LEN(accs); k++) {
      char name[64];
      snprintf(name, sizeof name, "transfer-%s-%u", z ? "zipf" : "uniform", accs[k]);
      if (!wanted(name)) continue;
      work_init(&w);
      gen_transfers(&w, accs[k], z, 42 + k);
      run_workload(name, &w);
      work_free(&w);
    }
  if (wanted("counter")) {
    work_init(&w);
    gen_counter(&w);
    run_workload("counter", &w);
    work_free(&w);
  }
  if (wanted("kvput")) {
    work_init(&w);
    gen_kvput(&w);
    run_workload("kvput", &w);
    work_free(&w);
  }
  for (size_t k = 0; k < PC_ARRAY_LEN(us); k++) {
    char name[64];
    snprintf(name, sizeof name, "compute-%uus", us[k]);
    if (!wanted(name)) continue;
    work_init(&w);
    gen_compute(&w, (uint32_t)(us[k] * 1000.0 / nspi + 0.5));
    run_workload(name, &w);
    work_free(&w);
  }

  /* scheduling overhead: empty compute calls, one worker, no fallback */
  if (!g_verify && wanted("overhead")) {
    work_init(&w);
    gen_compute(&w, 0);
    meas_t ser = {.secs = 1e30}, m, best[3];
    for (int k = 0; k < 3; k++) best[k].secs = 1e30;
    static const pc_sched_t sch[] = {PC_SCHED_TASKSET, PC_SCHED_DAG, PC_SCHED_OPTIMISTIC};
    for (unsigned round = 0; round < g_rounds; round++) {
      if (measure(&w, PC_SCHED_SERIAL, 1, false, &m)) return 1;
      if (m.secs < ser.secs) ser = m;
      for (size_t k = 0; k < 3; k++) {
        if (measure(&w, sch[k], 1, false, &m)) return 1;
        if (m.secs < best[k].secs) best[k] = m;
      }
    }
    double total = (double)g_blocks * g_ntx;
    printf(
        "# scheduling overhead per transaction (compute 0 iterations, 1 worker, no fallback;\n"
        "# serial %.0f ns/tx wall, %.0f ns/tx CPU); wall = what a block waits, CPU = work added:\n",
        ser.secs * 1e9 / total, ser.cpu * 1e9 / total);
    for (size_t k = 0; k < 3; k++) {
      m = best[k];
      printf("overhead %-10s %+7.0f ns/tx wall %+7.0f ns/tx CPU\n", pc_sched_name(sch[k]),
             (m.secs - ser.secs) * 1e9 / total, (m.cpu - ser.cpu) * 1e9 / total);
    }
    work_free(&w);
  }
  for (size_t a = 0; a < PC_SCHED_COUNT; a++)
    for (size_t b = 0; b <= PC_EXEC_WORKERS_MAX; b++)
      for (size_t c = 0; c < 2; c++) pc_exec_destroy(g_exec[a][b][c]);
  if (g_csv) fclose(g_csv);
  if (g_verify) {
    printf("verify: %u ok, %u differ\n", g_verify_ok, g_verify_bad);
    return g_verify_bad ? 1 : 0;
  }
  return 0;
}
