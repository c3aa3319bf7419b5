/* helpers.h — shared by the storage tests: temp dirs and deterministic blocks. */
#ifndef PC_TEST_STORAGE_HELPERS_H
#define PC_TEST_STORAGE_HELPERS_H

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "storage/storage.h"
#include "tests/testutil.h"

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static inline void rm_rf(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* tmp_dir makes a fresh directory under /tmp; the caller removes it. */
static inline void tmp_dir(char out[64]) {
  snprintf(out, 64, "/tmp/pc-storage-XXXXXX");
  cr_assert_not_null(mkdtemp(out));
}

/* A deterministic block of height h: sizes and bytes depend on h and scale. */
typedef struct {
  uint8_t cert[2048];
  uint8_t block[70000];
  pc_log_block_t b;
} test_block_t;

static inline void fill_bytes(uint8_t *p, size_t n, uint64_t seed) {
  uint64_t s = seed;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t r = pc_test_rand(&s);
    for (size_t k = 0; k < 8 && i + k < n; k++) p[i + k] = (uint8_t)(r >> (8 * k));
  }
}

static inline void make_block(test_block_t *t, uint64_t h, size_t max_block) {
  memset(&t->b, 0, sizeof t->b);
  t->b.height = h;
  uint64_t s = h * 7919;
  t->b.cert_len = 32 + (size_t)(pc_test_rand(&s) % 1000);
  t->b.block_len = 91 + (size_t)(pc_test_rand(&s) % (max_block - 91));
  fill_bytes(t->cert, t->b.cert_len, h ^ 0xc0ffee);
  fill_bytes(t->block, t->b.block_len, h ^ 0xb10c);
  pc_hash_tagged(&t->b.prev_hash, "test/hash", &(uint64_t){h - 1}, 8);
  pc_hash_tagged(&t->b.block_hash, "test/hash", &h, 8);
  pc_hash_tagged(&t->b.exec_root, "test/root", &h, 8);
  t->b.cert = t->cert;
  t->b.block = t->block;
}

/* block_matches: the read-back block equals make_block(h, max_block). */
static inline bool block_matches(const pc_log_block_t *got, uint64_t h, size_t max_block) {
  static test_block_t t; /* tests are single-threaded where they call this */
  make_block(&t, h, max_block);
  return got->height == h && got->cert_len == t.b.cert_len && got->block_len == t.b.block_len &&
         memcmp(got->cert, t.cert, got->cert_len) == 0 && memcmp(got->block, t.block, got->block_len) == 0 &&
         pc_hash_equal(&got->prev_hash, &t.b.prev_hash) && pc_hash_equal(&got->block_hash, &t.b.block_hash) &&
         pc_hash_equal(&got->exec_root, &t.b.exec_root);
}

static inline int64_t append_test_block(pc_log_t *log, uint64_t h, size_t max_block) {
  static test_block_t t;
  make_block(&t, h, max_block);
  return pc_log_append_block(log, &t.b);
}

static inline int64_t append_test_vote(pc_log_t *log, uint64_t h, uint32_t round) {
  uint8_t payload[200];
  fill_bytes(payload, sizeof payload, h * 31 + round);
  pc_log_consensus_t c = {.kind = 7, .height = h, .round = round, .payload = payload, .payload_len = 17 + h % 150};
  return pc_log_append_consensus(log, &c);
}

static inline bool vote_matches(const pc_log_consensus_t *c) {
  uint8_t payload[200];
  fill_bytes(payload, sizeof payload, c->height * 31 + c->round);
  return c->kind == 7 && c->payload_len == 17 + c->height % 150 && memcmp(c->payload, payload, c->payload_len) == 0;
}

static inline pc_log_config_t log_cfg(const char *dir, const pc_io_t *io, uint64_t seg) {
  pc_log_config_t c = {.dir = dir, .io = io, .segment_size = seg};
  return c;
}

/* read_file / write_file: whole-file helpers for damage tests. */
static inline uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

static inline void write_file(const char *path, const uint8_t *b, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(b, 1, len, f), len);
  fclose(f);
}

#endif
