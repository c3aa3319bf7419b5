/* bench_common — speeds of common/ against baselines measured in the same
 * run (the machine is shared and noisy: compare ratios, not absolutes).
 *
 *   bench_common [SECONDS]    (-h, --help: usage)
 *
 * SECONDS per figure (a positive number up to 86400, default 1), split over
 * 5 alternating rounds of ours and the baseline. A malformed argument is
 * reported on stderr with the usage and exit status 2 before anything runs.
 * Environment: PC_LOG (library log level). Run by `make bench`
 * (tools/scripts/bench.sh, section d: 0.4 s, 0.2 s with --quick).
 *
 * Figures:
 *   crc32c      pc_crc32c (value loads, UB-free) vs DPDK rte_hash_crc (pointer casts)
 *   blake2b     BLAKE2b-256 vs SHA-256 (libsodium), 64 B and 4 KiB
 *   block       pc_block_encode + pc_block_decode vs memcpy of the 91 bytes
 *   cert        pc_cert_verify of q = 3 signatures vs 3 crypto_sign_verify_detached
 *   cluster     pc_cluster_parse of a 256-replica file vs its 256 Ed25519 point checks alone
 */
#include <rte_hash_crc.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/block.h"
#include "common/config.h"
#include "tools/bench_args.h"

static double budget_s = 1.0;
static volatile uint64_t sink;

/* Runs fn(arg) in growing batches until budget_s has passed; returns calls/s. */
static double rate(void (*fn)(void *), void *arg) {
  uint64_t n = 0, batch = 1, t0 = pc_now_ns(), t;
  do {
    for (uint64_t i = 0; i < batch; i++) fn(arg);
    n += batch;
    if (batch < (1u << 20)) batch *= 2;
    t = pc_now_ns();
  } while (t - t0 < (uint64_t)(budget_s * 1e9));
  return (double)n * 1e9 / (double)(t - t0);
}

#define ROUNDS 5

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Measures ours and the baseline in ROUNDS alternating rounds (so both see
 * the same machine load) and prints the medians and the median ratio.
 * scale converts calls/s into the unit printed (e.g. bytes per call / 1e6). */
static void pair(const char *name, const char *unit, double scale, void (*ours)(void *), void (*base)(void *),
                 const char *base_name) {
  double a[ROUNDS], b[ROUNDS], r[ROUNDS], saved = budget_s;
  budget_s = saved / ROUNDS;
  for (int i = 0; i < ROUNDS; i++) {
    a[i] = rate(ours, NULL) * scale;
    b[i] = rate(base, NULL) * scale;
    r[i] = a[i] / b[i];
  }
  budget_s = saved;
  qsort(a, ROUNDS, sizeof a[0], cmp_double);
  qsort(b, ROUNDS, sizeof b[0], cmp_double);
  qsort(r, ROUNDS, sizeof r[0], cmp_double);
  printf("%-32s %12.0f %-8s | baseline %-29s %12.0f | ratio %.2f (%.2f-%.2f)\n", name, a[ROUNDS / 2], unit,
         base_name, b[ROUNDS / 2], r[ROUNDS / 2], r[0], r[ROUNDS - 1]);
}

/* ----------------------------------------------------------------- crc */
static uint8_t crc_buf[4096 + 8];
static size_t crc_len, crc_off;
static void run_pc_crc(void *a) { (void)a, sink += pc_crc32c(0, crc_buf + crc_off, crc_len); }
static void run_rte_crc(void *a) {
  (void)a, sink += ~rte_hash_crc(crc_buf + crc_off, (uint32_t)crc_len, ~0u);
}

/* ---------------------------------------------------------------- hash */
static size_t hash_len;
static void run_blake(void *a) {
  pc_hash_t h;
  pc_hash_blake2b(&h, crc_buf, hash_len);
  sink += h.b[0];
  (void)a;
}
static void run_sha(void *a) {
  pc_hash_t h;
  pc_hash_sha256(&h, crc_buf, hash_len);
  sink += h.b[0];
  (void)a;
}

/* --------------------------------------------------------------- block */
static pc_block_t blk;
static uint8_t blk_buf[PC_BLOCK_SIZE], blk_copy[PC_BLOCK_SIZE];
static void run_block(void *a) {
  pc_writer_t w;
  pc_writer_init(&w, blk_buf, sizeof blk_buf);
  pc_block_encode(&w, &blk);
  pc_reader_t r;
  pc_reader_init(&r, blk_buf, w.len);
  pc_block_t b;
  sink += (uint64_t)pc_block_decode(&r, &b) + b.height;
  (void)a;
}
static void run_memcpy(void *a) {
  memcpy(blk_copy, blk_buf, sizeof blk_buf);
  __asm__ volatile("" ::"r"(blk_copy) : "memory");
  memcpy(blk_buf, blk_copy, sizeof blk_buf);
  __asm__ volatile("" ::"r"(blk_buf) : "memory");
  (void)a;
}

/* ---------------------------------------------------------------- cert */
static uint8_t pks[4][32], sks[4][64];
static pc_cert_t cert;
static void run_cert(void *a) {
  sink += (uint64_t)pc_cert_verify(&cert, 1, (const uint8_t(*)[32])pks, 4, 3);
  (void)a;
}
static void run_raw_verify(void *a) {
  uint8_t msg[PC_VOTE_BYTES_SIZE];
  pc_vote_bytes(msg, 1, PC_PROTO_SBFT, PC_PHASE_COMMIT, 5, 0, &cert.digest);
  for (int k = 0; k < 3; k++)
    sink += (uint64_t)crypto_sign_verify_detached(cert.sigs[k], msg, sizeof msg, pks[k]);
  (void)a;
}

/* ------------------------------------------------------------- cluster */
static char *cluster_text;
static size_t cluster_len;
static pc_cluster_t cl;
static void run_cluster(void *a) {
  char err[PC_CONF_ERR_MAX];
  if (pc_cluster_parse(&cl, "bench.conf", cluster_text, cluster_len, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
  (void)a;
}
/* The part of a load no parser can avoid: checking each key is a valid point. */
static void run_points(void *a) {
  for (unsigned i = 0; i < cl.n; i++)
    sink += (uint64_t)crypto_core_ed25519_is_valid_point(cl.replicas[i].pubkey);
  (void)a;
}

/* ------------------------------------------------------------ arguments */
static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_common [SECONDS]\n"
          "Same-run ratios of crc32c, BLAKE2b, codec, certs, cluster load to rte_hash_crc, SHA-256, memcpy, "
          "Ed25519.\n"
          "  SECONDS     seconds per figure, a positive number up to 86400 (default 1)\n"
          "  -h, --help  this text\n"
          "Environment: PC_LOG (library log level).\n"
          "Run by: make bench (tools/scripts/bench.sh, section d: 0.4 s; --quick 0.2 s).\n");
}

static void parse_args(int argc, char **argv) {
  bench_args_begin("bench_common", usage, argc, argv);
  if (argc > 2) bad_arg("unexpected argument '%s' (takes at most SECONDS)", argv[2]);
  if (argc > 1) budget_s = bench_parse_secs(argv[1]);
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (pc_crypto_init()) return 1;
  for (size_t i = 0; i < sizeof crc_buf; i++) crc_buf[i] = (uint8_t)(i * 31 + 7);
  printf(
      "bench_common: %.2f s per figure, %d alternating rounds; medians; ratio = ours / baseline (min-max)\n",
      budget_s, ROUNDS);

  crc_len = 4096;
  crc_off = 0;
  pair("crc32c 4 KiB aligned", "MB/s", 4096 / 1e6, run_pc_crc, run_rte_crc, "rte_hash_crc");
  crc_off = 1;
  pair("crc32c 4 KiB at offset 1", "MB/s", 4096 / 1e6, run_pc_crc, run_rte_crc, "rte_hash_crc");
  crc_len = 64;
  crc_off = 0;
  pair("crc32c 64 B", "calls/s", 1, run_pc_crc, run_rte_crc, "rte_hash_crc");

  hash_len = 64;
  pair("blake2b-256 64 B", "hashes/s", 1, run_blake, run_sha, "sha-256");
  hash_len = 4096;
  pair("blake2b-256 4 KiB", "MB/s", 4096 / 1e6, run_blake, run_sha, "sha-256");

  memset(&blk, 0, sizeof blk);
  blk.height = 9;
  blk.chain_id = 1;
  pair("block encode+decode", "rt/s", 1, run_block, run_memcpy, "2x memcpy 91 B");

  pc_hash_t d;
  memset(d.b, 7, 32);
  pc_cert_init(&cert, PC_PROTO_SBFT, PC_CERT_COMMIT, 1, 5, 0, &d, 4);
  for (int i = 0; i < 4; i++) {
    uint8_t seed[32] = {(uint8_t)(i + 1)}, sig[64];
    crypto_sign_seed_keypair(pks[i], sks[i], seed);
    if (i < 3) {
      pc_vote_sign(sig, sks[i], 1, PC_PROTO_SBFT, PC_PHASE_COMMIT, 5, 0, &d);
      pc_cert_add(&cert, (uint16_t)i, sig);
    }
  }
  if (pc_cert_verify(&cert, 1, (const uint8_t(*)[32])pks, 4, 3)) return 1;
  pair("cert verify, 3 signers", "certs/s", 1, run_cert, run_raw_verify, "3x crypto_sign_verify");

  pc_cluster_t gen;
  pc_cluster_defaults(&gen);
  gen.chain_id = 7;
  gen.n = PC_MAX_REPLICAS;
  gen.f = 85;
  for (unsigned i = 0; i < gen.n; i++) {
    uint8_t seed[32] = {(uint8_t)i, (uint8_t)(i >> 8), 1}, sk[64];
    crypto_sign_seed_keypair(gen.replicas[i].pubkey, sk, seed);
    gen.replicas[i].id = (uint16_t)i;
    gen.replicas[i].ip[0] = 10;
    gen.replicas[i].ip[3] = (uint8_t)i;
    gen.replicas[i].port = 7000;
  }
  size_t cap = 128 * 1024;
  cluster_text = malloc(cap);
  char err[PC_CONF_ERR_MAX];
  int n = pc_cluster_encode(&gen, cluster_text, cap, err, sizeof err);
  if (n < 0) {
    fprintf(stderr, "encode: %s\n", err);
    return 1;
  }
  cluster_len = (size_t)n;
  run_cluster(NULL); /* fills cl for the baseline */
  pair("cluster file load, n = 256", "files/s", 1, run_cluster, run_points, "its 256 Ed25519 point checks");
  printf("(cluster file: %zu bytes)\n", cluster_len);
  free(cluster_text);
  return (int)(sink & 0);
}
