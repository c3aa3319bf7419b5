/* test_snapshot.c — canonical snapshots: round trip, identical bytes,
 * corrupted chunks, manifest decoding, restart = snapshot + log replay. */
#include <urcu.h>

#include "tests/storage/helpers.h"

static char dir[64];

static void setup(void) {
  pc_log_set_level(PC_LOG_ERROR);
  rcu_register_thread();
  tmp_dir(dir);
}
static void teardown(void) {
  rm_rf(dir);
  rcu_unregister_thread();
}

TestSuite(snapshot, .init = setup, .fini = teardown, .timeout = 240);

/* fill_state commits n keys with values of varied sizes (some kilobytes,
 * so the snapshot spans several chunks), in a seeded order. */
static int64_t fill_state(pc_state_t *s, unsigned n, uint64_t seed, pc_hash_t *root) {
  pc_state_batch_t *b = pc_state_batch_new(s);
  static uint8_t val[8192];
  cr_assert_neq(n % 13, 0);
  for (unsigned j = 0; j < n; j++) {
    unsigned i = (unsigned)(((uint64_t)j * 13) % n); /* a permutation: 13 does not divide n */
    if (seed & 1) i = n - 1 - i;
    char k[32];
    snprintf(k, sizeof k, "acct/%u", i);
    size_t vl = (i % 10 == 0) ? 3000 + i % 4000 : i % 40;
    fill_bytes(val, vl, i);
    cr_assert_eq(pc_state_batch_put(b, k, strlen(k), val, vl), 0);
  }
  return pc_state_commit(b, root);
}

/* A fresh state with fill_state(n, seed) committed at version 1, written
 * as the snapshot of height `height` into dir; m (may be NULL) gets the
 * manifest. */
static pc_state_t *write_filled_snapshot(unsigned n, uint64_t seed, uint64_t height, pc_hash_t *root,
                                         pc_snapshot_manifest_t *m) {
  pc_state_t *s = pc_state_new(2);
  cr_assert_not_null(s);
  cr_assert_eq(fill_state(s, n, seed, root), 1);
  rcu_read_lock();
  cr_assert_eq(pc_snapshot_write(pc_state_at(s, 1), height, dir, NULL, m), 0);
  rcu_read_unlock();
  return s;
}

Test(snapshot, write_load_verify) {
  pc_hash_t root;
  pc_snapshot_manifest_t m;
  pc_state_t *s = write_filled_snapshot(1501, 2, 7, &root, &m);
  cr_assert_gt(m.chunks, 3, "spans several chunks");
  cr_assert(pc_hash_equal(&m.root, &root));
  cr_assert_eq(m.keys, 1501);
  pc_state_t *t = pc_state_new(2);
  cr_assert_eq(pc_snapshot_load(t, dir, 7, NULL, &root), 1);
  rcu_read_lock();
  pc_hash_t r2;
  pc_state_version_root(pc_state_at(t, 1), &r2);
  cr_assert(pc_hash_equal(&root, &r2));
  cr_assert_eq(pc_state_version_count(pc_state_at(t, 1)), 1501);
  const uint8_t *v;
  size_t vl;
  cr_assert_eq(pc_state_get(pc_state_at(t, 1), "acct/1500", 9, &v, &vl), 0);
  cr_assert_eq(vl, 3000 + 1500 % 4000);
  rcu_read_unlock();
  uint64_t h;
  cr_assert_eq(pc_snapshot_latest(dir, &h), 0);
  cr_assert_eq(h, 7);
  pc_snapshot_manifest_t m2;
  cr_assert_eq(pc_snapshot_manifest_read(dir, 7, NULL, &m2), 0);
  cr_assert(pc_hash_equal(&m.manifest_hash, &m2.manifest_hash));
  pc_snapshot_manifest_free(&m);
  pc_snapshot_manifest_free(&m2);
  pc_state_free(s);
  pc_state_free(t);
}

Test(snapshot, same_state_same_bytes) {
  pc_state_t *a = pc_state_new(2), *b = pc_state_new(2);
  pc_hash_t ra, rb;
  fill_state(a, 801, 2, &ra);
  fill_state(b, 801, 3, &rb); /* other insertion order */
  cr_assert(pc_hash_equal(&ra, &rb));
  char da[80], db[80];
  snprintf(da, sizeof da, "%s/a", dir);
  snprintf(db, sizeof db, "%s/b", dir);
  pc_snapshot_manifest_t ma, mb;
  rcu_read_lock();
  cr_assert_eq(pc_snapshot_write(pc_state_at(a, 1), 5, da, NULL, &ma), 0);
  cr_assert_eq(pc_snapshot_write(pc_state_at(b, 1), 5, db, NULL, &mb), 0);
  rcu_read_unlock();
  cr_assert(pc_hash_equal(&ma.manifest_hash, &mb.manifest_hash));
  const char *ext[2] = {"dat", "manifest"};
  for (int i = 0; i < 2; i++) {
    char pa[128], pb[128];
    snprintf(pa, sizeof pa, "%s/snap-5.%s", da, ext[i]);
    snprintf(pb, sizeof pb, "%s/snap-5.%s", db, ext[i]);
    size_t na, nb;
    uint8_t *fa = read_file(pa, &na), *fb = read_file(pb, &nb);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(fa, fb, na), 0, "%s differs", ext[i]);
    free(fa);
    free(fb);
  }
  pc_snapshot_manifest_free(&ma);
  pc_snapshot_manifest_free(&mb);
  pc_state_free(a);
  pc_state_free(b);
}

Test(snapshot, corrupted_chunk_detected_by_its_hash) {
  pc_hash_t root;
  pc_snapshot_manifest_t m;
  pc_state_t *s = write_filled_snapshot(1501, 2, 9, &root, &m);
  static uint8_t chunk[PC_SNAPSHOT_CHUNK];
  size_t n;
  for (uint32_t i = 0; i < m.chunks; i++) {
    cr_assert_eq(pc_snapshot_chunk(dir, 9, NULL, i, chunk, sizeof chunk, &n), 0);
    cr_assert_eq(pc_snapshot_chunk_verify(&m, i, chunk, n), 0, "chunk %u", i);
  }
  cr_assert_eq(pc_snapshot_chunk(dir, 9, NULL, m.chunks, chunk, sizeof chunk, &n), PC_ERR_RANGE);
  cr_assert_eq(pc_snapshot_chunk_verify(&m, m.chunks, chunk, n), PC_ERR_RANGE);
  /* Flip one byte of chunk 2 on disk. */
  char path[128];
  snprintf(path, sizeof path, "%s/snap-9.dat", dir);
  size_t len;
  uint8_t *f = read_file(path, &len);
  f[2 * PC_SNAPSHOT_CHUNK + 1234] ^= 0x40;
  write_file(path, f, len);
  free(f);
  cr_assert_eq(pc_snapshot_chunk(dir, 9, NULL, 2, chunk, sizeof chunk, &n), 0);
  cr_assert_eq(pc_snapshot_chunk_verify(&m, 2, chunk, n), PC_ERR_CHECKSUM);
  cr_assert_eq(pc_snapshot_chunk_verify(&m, 2, chunk, n - 1), PC_ERR_CHECKSUM);
  pc_state_t *t = pc_state_new(2);
  cr_assert_eq(pc_snapshot_load(t, dir, 9, NULL, NULL), PC_ERR_CHECKSUM);
  cr_assert_eq(pc_state_head(t), 0, "nothing committed from a bad snapshot");
  pc_snapshot_manifest_free(&m);
  pc_state_free(s);
  pc_state_free(t);
}

Test(snapshot, wrong_expected_root_refused) {
  pc_hash_t root;
  pc_state_t *s = write_filled_snapshot(11, 2, 3, &root, NULL);
  pc_state_t *t = pc_state_new(2);
  root.b[0] ^= 1;
  cr_assert_eq(pc_snapshot_load(t, dir, 3, NULL, &root), PC_ERR_CHECKSUM);
  cr_assert_eq(pc_snapshot_load(t, dir, 4, NULL, NULL), PC_ERR_NOT_FOUND);
  pc_state_free(s);
  pc_state_free(t);
}

Test(snapshot, manifest_decoder_rejects_damage) {
  pc_hash_t root;
  pc_state_t *s = write_filled_snapshot(301, 2, 1, &root, NULL);
  char path[128];
  snprintf(path, sizeof path, "%s/snap-1.manifest", dir);
  size_t n;
  uint8_t *f = read_file(path, &n);
  pc_snapshot_manifest_t m;
  cr_assert_eq(pc_snapshot_manifest_decode(f, n, &m), 0);
  pc_snapshot_manifest_free(&m);
  uint64_t before = pc_reject_count(PC_DEC_SNAPSHOT, 1);
  for (size_t i = 0; i < n; i++) {
    f[i] ^= 0x01;
    cr_assert_neq(pc_snapshot_manifest_decode(f, n, &m), 0, "byte %zu", i);
    f[i] ^= 0x01;
  }
  cr_assert_eq(pc_snapshot_manifest_decode(f, n - 1, &m), PC_ERR_TRUNCATED);
  uint8_t *g = malloc(n + 1);
  memcpy(g, f, n);
  g[n] = 0;
  cr_assert_eq(pc_snapshot_manifest_decode(g, n + 1, &m), PC_ERR_TRAILING);
  cr_assert_eq(pc_reject_count(PC_DEC_SNAPSHOT, 1), before + n + 2);
  free(g);
  free(f);
  pc_state_free(s);
}

/* ---------------------------------------------- restart = snapshot + replay
 * A block's bytes here are a list of writes "key=value;" that a stand-in
 * executor applies; the log also stores the resulting root. */

static void apply_block(pc_state_t *s, const uint8_t *p, size_t n, pc_hash_t *root) {
  pc_state_batch_t *b = pc_state_batch_new(s);
  size_t i = 0;
  while (i < n) {
    size_t eq = i, end;
    while (p[eq] != '=') eq++;
    end = eq;
    while (p[end] != ';') end++;
    cr_assert_eq(pc_state_batch_put(b, p + i, eq - i, p + eq + 1, end - eq - 1), 0);
    i = end + 1;
  }
  cr_assert_gt(pc_state_commit(b, root), 0);
}

typedef struct {
  pc_state_t *s;
  uint64_t applied;
} replay_t;

static int replay_one(void *arg, const pc_log_block_t *blk) {
  replay_t *r = arg;
  pc_hash_t root;
  apply_block(r->s, blk->block, blk->block_len, &root);
  cr_assert(pc_hash_equal(&root, &blk->exec_root), "replayed root of height %lu", (unsigned long)blk->height);
  r->applied++;
  return 0;
}

Test(snapshot, restart_from_snapshot_then_log) {
  char logdir[80], snapdir[80];
  snprintf(logdir, sizeof logdir, "%s/log", dir);
  snprintf(snapdir, sizeof snapdir, "%s/snap", dir);
  pc_log_config_t cfg = log_cfg(logdir, NULL, 1u << 20);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  pc_state_t *s = pc_state_new(4);
  pc_hash_t root;
  for (uint64_t h = 1; h <= 12; h++) {
    char body[512];
    size_t n = 0;
    for (int k = 0; k < 5; k++)
      n += (size_t)snprintf(body + n, sizeof body - n, "k%lu=h%lu.%d;", (unsigned long)((h * 3 + (uint64_t)k) % 17),
                            (unsigned long)h, k);
    apply_block(s, (const uint8_t *)body, n, &root);
    pc_log_block_t b = {.height = h, .exec_root = root, .block = (const uint8_t *)body, .block_len = n};
    cr_assert_gt(pc_log_append_block(log, &b), 0);
    if (h == 8) {
      rcu_read_lock();
      cr_assert_eq(pc_snapshot_write(pc_state_at(s, 8), 8, snapdir, NULL, NULL), 0);
      rcu_read_unlock();
    }
  }
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);
  pc_state_free(s);

  /* Restart: newest snapshot, then the later blocks from the log. */
  log = pc_log_open(&cfg, NULL);
  cr_assert_not_null(log);
  uint64_t snap_h;
  cr_assert_eq(pc_snapshot_latest(snapdir, &snap_h), 0);
  cr_assert_eq(snap_h, 8);
  pc_state_t *t = pc_state_new(4);
  pc_log_block_t at;
  cr_assert_eq(pc_log_get(log, snap_h, &at), 0);
  cr_assert_eq(pc_snapshot_load(t, snapdir, snap_h, NULL, &at.exec_root), 1);
  replay_t r = {.s = t};
  cr_assert_eq(pc_log_iter_blocks(log, snap_h + 1, UINT64_MAX, replay_one, &r), 0);
  cr_assert_eq(r.applied, 4);
  rcu_read_lock();
  pc_hash_t got;
  pc_state_version_root(pc_state_at(t, pc_state_head(t)), &got);
  rcu_read_unlock();
  cr_assert(pc_hash_equal(&got, &root));
  pc_log_close(log);
  pc_state_free(t);
}

/* The snapshot files of a fixed state are a constant of the format,
 * recorded with the trie of session 4 (before the 1M-key work): any
 * change in trie order, chunking or encoding shows here. */
#define SNAPSHOT_FILES_DIGEST "7ac0e28590e815802c17dde90df2322c132452ff2ffd427f87147bc8fc22d3b1"

Test(snapshot, files_match_recorded_constant) {
  pc_hash_t root;
  pc_snapshot_manifest_t m;
  pc_state_t *s = write_filled_snapshot(1501, 2, 9, &root, &m);
  pc_hasher_t h;
  pc_hasher_init_tagged(&h, "test/snapshot-files");
  const char *ext[2] = {"dat", "manifest"};
  for (int i = 0; i < 2; i++) {
    char p[128];
    snprintf(p, sizeof p, "%s/snap-9.%s", dir, ext[i]);
    size_t n;
    uint8_t *f = read_file(p, &n);
    cr_assert_not_null(f);
    pc_hasher_update(&h, &(uint64_t){n}, 8);
    pc_hasher_update(&h, f, n);
    free(f);
  }
  pc_hash_t d;
  pc_hasher_final(&h, &d);
  char hex[PC_HASH_HEX_SIZE];
  pc_hash_to_hex(&d, hex);
  cr_assert_str_eq(hex, SNAPSHOT_FILES_DIGEST, "snapshot files digest %s", hex);
  pc_snapshot_manifest_free(&m);
  pc_state_free(s);
}
