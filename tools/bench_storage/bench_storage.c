/* bench_storage.c — storage benchmark. Prints figures; every speed is also
 * given as a ratio against a baseline measured in the same run.
 *
 *   bench_storage [--dir DIR] [--quick] [--big] [--log | --state]
 *                 [--keys N] [--repeat R]
 *   bench_storage -h | --help   (usage)
 *
 * --dir DIR (default /tmp/pc-bench-storage, under 256 bytes) is created if
 * missing and removed with everything in it at the end. --quick runs
 * fewer appends, votes and reads; --big adds 1M keys to (c) and (e).
 * --log runs (a) only, --state (c) and (e) only (for repeated runs).
 * --keys N (1..100000000) runs (c) and (e) over N keys only (instead of
 * 100k, and 1M with --big); --repeat R (1..1000000) multiplies the rounds
 * of (c) by R (for profiling). A malformed or missing value, an unknown
 * option, or --log with --state or --keys (which would run nothing) is
 * reported on stderr with the usage and exit status 2 before anything
 * runs. Environment: none read. Run by `make bench` (tools/scripts/bench.sh,
 * section d: no arguments; --quick with --quick).
 *
 * (a) log append with group commit vs plain pwrite + fdatasync of the same
 *     bytes with the same batching, into a preallocated file;
 * (b) consensus-record persist latency (append → durable, flush thread)
 *     vs a raw 256-byte pwrite + fdatasync;
 * (c) state: key updates/s into a new version with the root computed,
 *     blocks of 1k and 10k updates over 100k keys (and 1M with --big);
 *     baseline: BLAKE2b-256 of 64-byte inputs per second;
 * (d) RCU reads/s (get of a random key in the current version) from 1 and
 *     2 reader threads while the writer commits, vs with no writer;
 * (e) trie bytes per key.
 */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "common/common.h"
#include "common/config.h"
#include "storage/storage.h"
#include "tools/bench_args.h"

static char g_dir[256] = "/tmp/pc-bench-storage";

static uint64_t rnd(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double secs(uint64_t ns) { return (double)ns / 1e9; }

/* cpu_ns: this thread's CPU time. On a shared, loaded machine the
 * wall-clock rate mostly measures the time slices we were given; the
 * per-CPU-second rate is the work itself. */
static uint64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void rm_dir_files(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not clean %s\n", dir);
}

/* ------------------------------------------------------------ (a) log */

static void bench_log(size_t block_size, unsigned blocks, unsigned group) {
  char logdir[300], raw[300];
  snprintf(logdir, sizeof logdir, "%s/log", g_dir);
  snprintf(raw, sizeof raw, "%s/raw.dat", g_dir);
  rm_dir_files(logdir);
  uint8_t *payload = malloc(block_size);
  uint64_t s = 1;
  for (size_t i = 0; i < block_size; i++) payload[i] = (uint8_t)rnd(&s);
  size_t total = block_size * blocks;

  /* Baseline: the same bytes, one pwrite per block, one fdatasync per
   * group, into a preallocated file. The two runs alternate in rounds so
   * that the shared disk's drift hits both alike. */
  int fd = open(raw, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || posix_fallocate(fd, 0, (off_t)total + (1 << 20)) != 0) {
    perror("raw file");
    exit(1);
  }
  fdatasync(fd);
  pc_log_config_t cfg = {.dir = logdir, .segment_size = 256u << 20};
  pc_log_t *log = pc_log_open(&cfg, NULL);
  if (!log) exit(1);
  pc_log_block_t b = {.block = payload, .block_len = block_size - 200, .cert = payload, .cert_len = 64};
  uint64_t raw_ns = 0, log_ns = 0;
  const unsigned rounds = 8;
  for (unsigned r = 0; r < rounds; r++) {
    unsigned lo = blocks * r / rounds, hi = blocks * (r + 1) / rounds;
    uint64_t t0 = pc_now_ns();
    for (unsigned i = lo; i < hi; i++) {
      if (pwrite(fd, payload, block_size, (off_t)i * (off_t)block_size) != (ssize_t)block_size) exit(1);
      if ((i + 1) % group == 0 || i + 1 == hi) fdatasync(fd);
    }
    raw_ns += pc_now_ns() - t0;
    t0 = pc_now_ns();
    for (unsigned i = lo; i < hi; i++) {
      b.height = i + 1;
      if (pc_log_append_block(log, &b) < 0) exit(1);
      if ((i + 1) % group == 0 || i + 1 == hi) pc_log_sync(log);
    }
    log_ns += pc_now_ns() - t0;
  }
  close(fd);
  unlink(raw);
  pc_log_close(log);
  rm_dir_files(logdir);
  free(payload);
  double raw_mbs = total / secs(raw_ns) / 1e6, log_mbs = total / secs(log_ns) / 1e6;
  printf("(a) log %6zu B blocks, %3u per sync: log %8.1f MB/s %9.0f blocks/s | raw %8.1f MB/s | ratio %.2fx\n",
         block_size, group, log_mbs, blocks / secs(log_ns), raw_mbs, log_mbs / raw_mbs);
}

/* ------------------------------------------------------------ (b) votes */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void pct(uint64_t *v, unsigned n, double *p50, double *p99) {
  qsort(v, n, sizeof *v, cmp_u64);
  *p50 = v[n / 2] / 1e3;
  *p99 = v[(unsigned)(n * 0.99)] / 1e3;
}

static void bench_votes(unsigned n) {
  char logdir[300], raw[300];
  snprintf(logdir, sizeof logdir, "%s/votes", g_dir);
  snprintf(raw, sizeof raw, "%s/raw-votes.dat", g_dir);
  rm_dir_files(logdir);
  uint64_t *lat = malloc(n * sizeof *lat);
  uint8_t rec[256] = {1};
  int fd = open(raw, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || posix_fallocate(fd, 0, (off_t)n * 256 + 4096) != 0) exit(1);
  fdatasync(fd);
  for (unsigned i = 0; i < n; i++) {
    uint64_t t0 = pc_now_ns();
    if (pwrite(fd, rec, sizeof rec, (off_t)i * 256) != sizeof rec) exit(1);
    fdatasync(fd);
    lat[i] = pc_now_ns() - t0;
  }
  close(fd);
  unlink(raw);
  double r50, r99, l50, l99;
  pct(lat, n, &r50, &r99);
  pc_log_config_t cfg = {.dir = logdir, .segment_size = 64u << 20, .flush_thread = true, .max_delay_us = 0};
  pc_log_t *log = pc_log_open(&cfg, NULL);
  if (!log) exit(1);
  uint8_t payload[200] = {2};
  for (unsigned i = 0; i < n; i++) {
    pc_log_consensus_t c = {.kind = 1, .height = i + 1, .round = 0, .payload = payload, .payload_len = sizeof payload};
    uint64_t t0 = pc_now_ns();
    int64_t seq = pc_log_append_consensus(log, &c);
    if (seq < 0 || pc_log_wait_durable(log, (uint64_t)seq, 10000000) != 0) exit(1);
    lat[i] = pc_now_ns() - t0;
  }
  pc_log_close(log);
  rm_dir_files(logdir);
  pct(lat, n, &l50, &l99);
  printf("(b) vote persist (append → durable): p50 %.0f µs p99 %.0f µs | raw 256 B write+fdatasync p50 %.0f µs "
         "p99 %.0f µs | p50 ratio %.2fx\n",
         l50, l99, r50, r99, l50 / r50);
  free(lat);
}

/* ------------------------------------------------------------ (c) state */

static void key_of(uint8_t k[16], uint64_t i) {
  memcpy(k, "acct", 4);
  pc_store_le64(k + 4, i);
  memcpy(k + 12, "/bal", 4);
}

static pc_state_t *preload(uint64_t keys) {
  pc_state_t *s = pc_state_new(4);
  const uint64_t step = 100000;
  for (uint64_t base = 0; base < keys; base += step) {
    pc_state_batch_t *b = pc_state_batch_new(s);
    for (uint64_t i = base; i < base + step && i < keys; i++) {
      uint8_t k[16], v[8];
      key_of(k, i);
      pc_store_le64(v, i);
      pc_state_batch_put(b, k, 16, v, 8);
    }
    int64_t ver = pc_state_commit(b, NULL);
    pc_state_publish(s, (uint64_t)ver);
  }
  return s;
}

static double hash_rate(void) {
  uint8_t in[64] = {0};
  pc_hash_t h;
  unsigned n = 500000;
  uint64_t t0 = cpu_ns(); /* per CPU-second, like the per-CPU-s update rate */
  for (unsigned i = 0; i < n; i++) {
    in[0] = (uint8_t)i;
    pc_hash_blake2b(&h, in, sizeof in);
    in[1] ^= h.b[0];
  }
  return n / secs(cpu_ns() - t0);
}

static unsigned g_repeat = 1;

static void bench_state(uint64_t keys, double hps) {
  uint64_t t0 = pc_now_ns();
  pc_state_t *s = preload(keys);
  double load_s = secs(pc_now_ns() - t0);
  size_t mem = pc_state_memory(s), res = pc_state_memory_reserved(s);
  printf("(e) %7lu keys: trie %.1f MB, %.0f bytes/key in nodes, %.0f bytes/key reserved (4 versions retained; "
         "preload %.1f s)\n",
         (unsigned long)keys, mem / 1e6, (double)mem / keys, (double)res / keys, load_s);
  uint64_t rs = 42;
  unsigned sizes[2] = {1000, 10000};
  for (int z = 0; z < 2; z++) {
    unsigned per = sizes[z], rounds = (z == 0 ? 40 : 8) * g_repeat;
    t0 = pc_now_ns();
    uint64_t c0 = cpu_ns();
    for (unsigned r = 0; r < rounds; r++) {
      pc_state_batch_t *b = pc_state_batch_new(s);
      for (unsigned i = 0; i < per; i++) {
        uint8_t k[16], v[8];
        key_of(k, rnd(&rs) % keys);
        pc_store_le64(v, rnd(&rs));
        pc_state_batch_put(b, k, 16, v, 8);
      }
      pc_hash_t root;
      int64_t ver = pc_state_commit(b, &root);
      pc_state_publish(s, (uint64_t)ver);
    }
    double ups = (double)per * rounds / secs(pc_now_ns() - t0);
    double upc = (double)per * rounds / secs(cpu_ns() - c0);
    printf("(c) %7lu keys, blocks of %5u updates: %9.0f updates/s with root (%9.0f per CPU-s) | BLAKE2b-64B "
           "%9.0f/CPU-s | %.3f updates per hash-time, per CPU-s vs target 200k/s per core: %.2fx\n",
           (unsigned long)keys, per, ups, upc, hps, upc / hps, upc / 200000.0);
  }
  pc_state_free(s);
}

/* ------------------------------------------------------------ (d) reads */

static pc_state_t *g_s;
static uint64_t g_keys;
static atomic_bool g_stop;

static void *reader(void *arg) {
  uint64_t *count = arg, rs = (uint64_t)(uintptr_t)arg, n = 0;
  rcu_register_thread();
  /* relaxed: a stop flag, the join orders the result */
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    for (int i = 0; i < 64; i++) {
      uint8_t k[16];
      key_of(k, rnd(&rs) % g_keys);
      rcu_read_lock();
      const uint8_t *v;
      size_t vl;
      if (pc_state_get(pc_state_current(g_s), k, 16, &v, &vl) == 0) n++;
      rcu_read_unlock();
    }
  }
  *count = n;
  rcu_unregister_thread();
  return NULL;
}

static double read_rate(int threads, bool writer, double dur) {
  atomic_store(&g_stop, false);
  pthread_t th[2];
  uint64_t cnt[2] = {0, 0};
  for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, reader, &cnt[i]);
  uint64_t t0 = pc_now_ns(), rs = 7, commits = 0;
  while (secs(pc_now_ns() - t0) < dur) {
    if (!writer) {
      pc_sleep_ns(10000000);
      continue;
    }
    pc_state_batch_t *b = pc_state_batch_new(g_s);
    for (unsigned i = 0; i < 1000; i++) {
      uint8_t k[16], v[8];
      key_of(k, rnd(&rs) % g_keys);
      pc_store_le64(v, rnd(&rs));
      pc_state_batch_put(b, k, 16, v, 8);
    }
    int64_t ver = pc_state_commit(b, NULL);
    pc_state_publish(g_s, (uint64_t)ver);
    commits++;
  }
  atomic_store(&g_stop, true);
  double el = secs(pc_now_ns() - t0);
  uint64_t total = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    total += cnt[i];
  }
  if (writer) printf("    (writer committed %lu versions of 1k updates meanwhile)\n", (unsigned long)commits);
  return total / el;
}

static void bench_reads(double dur) {
  g_keys = 100000;
  g_s = preload(g_keys);
  for (int t = 1; t <= 2; t++) {
    double idle = read_rate(t, false, dur);
    double busy = read_rate(t, true, dur);
    printf("(d) %d reader thread(s): %9.0f reads/s while committing | %9.0f reads/s idle writer | ratio %.2fx\n", t,
           busy, idle, busy / idle);
  }
  pc_state_free(g_s);
}

/* ------------------------------------------------------------ arguments */
static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_storage [--dir DIR] [--quick] [--big] [--log | --state] [--keys N] [--repeat R]\n"
          "Measures log, votes, state updates, reads vs raw pwrite+fdatasync, BLAKE2b, an idle writer (same "
          "run).\n"
          "  --dir DIR    work directory, created and at the end removed with everything in it\n"
          "               (default /tmp/pc-bench-storage)\n"
          "  --quick      fewer appends, votes and reads (~15 s instead of ~60 s)\n"
          "  --big        state figures over 1M keys as well as 100k\n"
          "  --log        the log figures (a) only\n"
          "  --state      the state figures (c) and (e) only\n"
          "  --keys N     (c) and (e) only, over N keys, 1..100000000\n"
          "  --repeat R   R times the rounds of (c), 1..1000000 (default 1)\n"
          "  -h, --help   this text\n"
          "Environment: none read.\n"
          "Run by: make bench (tools/scripts/bench.sh, section d; with --quick under bench.sh --quick).\n");
}

/* opt_value returns the value after option argv[*i] (advancing *i) or
 * exits through bad_arg when the option ends the command line. */
static const char *opt_value(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) bad_arg("option '%s' needs a value", argv[*i]);
  return argv[++*i];
}

int main(int argc, char **argv) {
  bool quick = false, big = false, only_log = false, only_state = false;
  uint64_t only_keys = 0;
  bench_args_begin("bench_storage", usage, argc, argv);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = true;
    else if (!strcmp(argv[i], "--big")) big = true;
    else if (!strcmp(argv[i], "--log")) only_log = true;
    else if (!strcmp(argv[i], "--state")) only_state = true;
    else if (!strcmp(argv[i], "--keys"))
      only_keys = bench_parse_u64("--keys", opt_value(argc, argv, &i), 1, 100000000);
    else if (!strcmp(argv[i], "--repeat"))
      g_repeat = (unsigned)bench_parse_u64("--repeat", opt_value(argc, argv, &i), 1, 1000000);
    else if (!strcmp(argv[i], "--dir")) {
      const char *d = opt_value(argc, argv, &i);
      /* a truncated path would be created and then removed: refuse it */
      if (!d[0] || strlen(d) >= sizeof g_dir)
        bad_arg("bad --dir '%s' (want a path of 1 to %zu bytes)", d, sizeof g_dir - 1);
      snprintf(g_dir, sizeof g_dir, "%s", d);
    } else if (argv[i][0] == '-')
      bad_arg("unknown option '%s'", argv[i]);
    else
      bad_arg("unexpected argument '%s' (every argument is an option)", argv[i]);
  }
  if (only_log && (only_state || only_keys))
    bad_arg("--log cannot be combined with %s (nothing would run)", only_state ? "--state" : "--keys");
  if (only_keys) only_state = true;
  pc_log_set_level(PC_LOG_WARN);
  rcu_register_thread();
  mkdir(g_dir, 0755);
  printf("bench_storage: dir %s%s\n", g_dir, quick ? " (quick)" : "");
  if (!only_state) {
    bench_log(4096, quick ? 256 : 2048, 32);
    bench_log(65536, quick ? 256 : 512, 8);
    bench_log(256, quick ? 512 : 4096, 256);
  }
  if (!only_log && !only_state) bench_votes(quick ? 100 : 1000);
  if (!only_log) {
    double hps = hash_rate();
    if (only_keys) {
      bench_state(only_keys, hps);
    } else {
      bench_state(100000, hps);
      if (big) bench_state(1000000, hps);
    }
  }
  if (!only_log && !only_state) bench_reads(quick ? 0.5 : 2.0);
  rm_dir_files(g_dir);
  rcu_unregister_thread();
  return 0;
}
