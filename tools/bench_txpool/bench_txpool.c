/* bench_txpool — prints the verify stage's rate per verify core as a ratio
 * of bare crypto_sign_verify_detached on the same transactions, measured in
 * the same run, and mempool insert / cut+remove rates as a ratio of
 * pc_tx_decode on the same transactions.
 *
 *   bench_txpool [n_tx [core_a core_b]]
 *
 * n_tx (default 4000) signed transactions from 64 senders; the stage runs
 * with 1 worker (pinned to core_a, default 1) and with 2 workers (core_a,
 * core_b; default 1, 0), the pool thread unpinned. Takes a few seconds. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/block.h"
#include "txpool/client.h"
#include "txpool/txpool.h"

#define CHAIN 1
#define SENDERS 64

typedef struct {
  uint8_t *raw;
  size_t len;
} blob_t;

static double secs(uint64_t ns) { return (double)ns / 1e9; }

/* CPU time of the whole process (every thread), in ns. */
static uint64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A run's rate by wall clock, by CPU time of the whole process
 * (transactions per CPU-second of all threads: robust to other processes
 * taking the cores away) and per CPU-second of the verify workers alone
 * (the rate per verify core; 0 when verifying inline). */
typedef struct {
  double wall, cpu, core;
} rate_t;

static void best(rate_t *b, rate_t r) {
  b->wall = PC_MAX(b->wall, r.wall);
  b->cpu = PC_MAX(b->cpu, r.cpu);
  b->core = PC_MAX(b->core, r.core);
}

static blob_t *make_txs(unsigned n, pc_client_key_t *keys) {
  blob_t *b = calloc(n, sizeof *b);
  uint64_t nonce[SENDERS] = {0};
  uint8_t buf[512];
  uint8_t args[64];
  memset(args, 0xab, sizeof args);
  for (unsigned i = 0; i < n; i++) {
    unsigned s = i % SENDERS;
    pc_client_tx_t t = {.chain_id = CHAIN, .nonce = nonce[s]++, .contract = "token", .method = "transfer",
                        .args = args, .args_len = sizeof args};
    int len = pc_client_tx_build(buf, sizeof buf, &keys[s], &t, NULL);
    if (len < 0) abort();
    b[i].raw = malloc((size_t)len);
    memcpy(b[i].raw, buf, (size_t)len);
    b[i].len = (size_t)len;
  }
  return b;
}

/* Bare libsodium: verify each transaction's signature over its signed bytes. */
static rate_t bare_rate(const blob_t *b, unsigned n) {
  uint8_t msg[600];
  size_t tag = sizeof(PC_TX_SIG_TAG);
  memcpy(msg, PC_TX_SIG_TAG, tag);
  uint64_t t0 = pc_now_ns(), c0 = cpu_ns();
  unsigned ok = 0;
  for (unsigned i = 0; i < n; i++) {
    size_t body = b[i].len - 64;
    memcpy(msg + tag, b[i].raw, body);
    ok += crypto_sign_verify_detached(b[i].raw + body, msg, tag + body, b[i].raw + 1 + 8) == 0;
  }
  rate_t r = {n / secs(pc_now_ns() - t0), n / secs(cpu_ns() - c0), 0};
  r.core = r.cpu;
  if (ok != n) fprintf(stderr, "bare: %u of %u verified?\n", ok, n);
  return r;
}

static rate_t stage_rate(const blob_t *b, unsigned n, unsigned workers, int core_a, int core_b) {
  pc_txpool_cfg_t c;
  pc_txpool_cfg_default(&c, CHAIN, 1, 0);
  c.n_workers = workers;
  c.worker_cores[0] = core_a;
  c.worker_cores[1] = core_b;
  c.ring_size = 1024;
  c.mempool.gap_limit = 4096;
  c.mempool.sender_max_count = n;
  /* tables sized for the run: first-touch page faults of a 100k-entry
   * default pool would be charged to the few thousand transactions here */
  c.mempool.max_count = 2 * n;
  c.seen_max = 2 * n;
  pc_txpool_t *p = pc_txpool_create(&c, NULL, NULL);
  if (!p) exit(1);
  uint64_t t0 = pc_now_ns(), c0 = cpu_ns();
  for (unsigned i = 0; i < n;) {
    pc_txpool_reason_t why;
    int rc = pc_txpool_submit(p, b[i].raw, b[i].len, PC_ORIGIN_CLIENT, NULL, &why);
    if (rc == PC_ERR_AGAIN) { /* queues full (1023 each, ~50 ms of work): take results, let the workers run */
      pc_txpool_poll(p, pc_now_ns());
      pc_sleep_ns(200000);
      continue;
    }
    if (rc) fprintf(stderr, "stage: tx %u rejected: %s\n", i, pc_txpool_reason_name(why));
    i++;
    if ((i & 63) == 0) pc_txpool_poll(p, pc_now_ns());
  }
  pc_txpool_drain(p);
  rate_t r = {n / secs(pc_now_ns() - t0), n / secs(cpu_ns() - c0), 0};
  pc_txpool_stats_t st;
  pc_txpool_stats(p, &st);
  /* the workers' CPU time from before t0 (start, pinning) is a few µs */
  if (st.worker_cpu_ns) r.core = st.verified / secs(st.worker_cpu_ns);
  if (st.verified != n || st.admitted != n)
    fprintf(stderr, "stage: verified %llu admitted %llu of %u\n", (unsigned long long)st.verified,
            (unsigned long long)st.admitted, n);
  pc_txpool_destroy(p);
  return r;
}

static void mempool_rates(const blob_t *b, unsigned m, double *dec, double *ins, double *ext) {
  pc_tx_t *all = malloc((size_t)m * sizeof *all);
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

int main(int argc, char **argv) {
  unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 4000;
  int core_a = argc > 2 ? atoi(argv[2]) : 1, core_b = argc > 3 ? atoi(argv[3]) : 0;
  if (n < 64 || pc_crypto_init() < 0) return 1;
  pc_log_set_level(PC_LOG_ERROR);
  pc_client_key_t keys[SENDERS];
  for (unsigned s = 0; s < SENDERS; s++) {
    uint8_t seed[32] = {(uint8_t)s, 1};
    pc_client_key_from_seed(&keys[s], seed);
  }
  blob_t *b = make_txs(n, keys);
  printf("bench_txpool: %u transactions of %zu bytes, %d senders\n", n, b[0].len, SENDERS);

  /* verify stage, per verify core; best of 3 interleaved rounds, because
   * a shared machine's noise only ever slows a run down */
  rate_t base = {0, 0, 0}, inl = {0, 0, 0}, one = {0, 0, 0}, two = {0, 0, 0};
  for (int round = 0; round < 3; round++) {
    best(&base, bare_rate(b, n));
    best(&inl, stage_rate(b, n, 0, -1, -1));
    best(&one, stage_rate(b, n, 1, core_a, -1));
    best(&two, stage_rate(b, n, 2, core_a, core_b));
  }
  printf("                                            wall clock /s  ratio   per CPU-second  ratio   per verify-core CPU-s  ratio\n");
  printf("bare crypto_sign_verify_detached, 1 core : %9.0f        1.000  %9.0f        1.000  %9.0f              1.000\n",
         base.wall, base.cpu, base.core);
  printf("stage, inline on the pool thread         : %9.0f        %.3f  %9.0f        %.3f          -                  -\n",
         inl.wall, inl.wall / base.wall, inl.cpu, inl.cpu / base.cpu);
  printf("stage, 1 worker (core %d), per core       : %9.0f        %.3f  %9.0f        %.3f  %9.0f              %.3f\n",
         core_a, one.wall, one.wall / base.wall, one.cpu, one.cpu / base.cpu, one.core, one.core / base.core);
  printf("stage, 2 workers (cores %d,%d), per core    : %9.0f        %.3f  %9.0f        %.3f  %9.0f              %.3f\n",
         core_a, core_b, two.wall / 2, two.wall / 2 / base.wall, two.cpu, two.cpu / base.cpu, two.core,
         two.core / base.core);
  printf("(per CPU-second counts every thread of the process: pool thread — decode, hash, seen set, mempool — workers, idle back-off;\n"
         " verify-core CPU counts the verify workers' threads only: the stage's rate per verify core)\n");

  /* mempool: decode baseline, insert, cut + remove (no verification); best of 3 */
  double dec = 0, ins = 0, ext = 0;
  for (int round = 0; round < 3; round++) {
    double d, i, e;
    mempool_rates(b, n, &d, &i, &e);
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
