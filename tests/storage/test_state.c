/* test_state.c — the RCU-published Merkle trie: get/put/delete, versions,
 * canonical roots, proofs, readers under concurrent commits. */
#include <pthread.h>
#include <stdatomic.h>
#include <urcu.h>

#include "storage/storage_private.h"
#include "tests/storage/helpers.h"

#define STABLE_ROOT_100 "eda885f9374ec46c9ed2c9f6823453c6fb7e1451ac400a4292fa303c55df6cc6"

static void setup(void) {
  pc_log_set_level(PC_LOG_ERROR);
  rcu_register_thread();
}
static void teardown(void) { rcu_unregister_thread(); }

TestSuite(state, .init = setup, .fini = teardown, .timeout = 240);

static void put_str(pc_state_batch_t *b, const char *k, const char *v) {
  cr_assert_eq(pc_state_batch_put(b, k, strlen(k), v, strlen(v)), 0);
}

static void key_of(char *out, size_t cap, unsigned i) { snprintf(out, cap, "key-%u", i); }

/* build commits keys 0..n-1 (value "v<i>") in the order of a seeded shuffle. */
static void build(pc_state_t *s, unsigned n, uint64_t seed, pc_hash_t *root) {
  unsigned *order = malloc(n * sizeof *order);
  for (unsigned i = 0; i < n; i++) order[i] = i;
  uint64_t rs = seed;
  for (unsigned i = n; i > 1; i--) {
    unsigned j = (unsigned)(pc_test_rand(&rs) % i);
    unsigned t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
  pc_state_batch_t *b = pc_state_batch_new(s);
  for (unsigned i = 0; i < n; i++) {
    char k[32], v[32];
    key_of(k, sizeof k, order[i]);
    snprintf(v, sizeof v, "v%u", order[i]);
    put_str(b, k, v);
  }
  cr_assert_gt(pc_state_commit(b, root), 0);
  free(order);
}

Test(state, put_get_delete) {
  pc_state_t *s = pc_state_new(4);
  pc_state_batch_t *b = pc_state_batch_new(s);
  put_str(b, "alice", "10");
  put_str(b, "bob", "20");
  const uint8_t *v;
  size_t vl;
  cr_assert_eq(pc_state_batch_get(b, "alice", 5, &v, &vl), 0);
  cr_assert_eq(vl, 2);
  cr_assert_eq(memcmp(v, "10", 2), 0);
  pc_hash_t r1;
  cr_assert_eq(pc_state_commit(b, &r1), 1);
  cr_assert(!pc_hash_is_zero(&r1));
  /* Not published yet: readers still see version 0. */
  rcu_read_lock();
  cr_assert_eq(pc_state_version_number(pc_state_current(s)), 0);
  cr_assert_eq(pc_state_get(pc_state_current(s), "alice", 5, &v, &vl), PC_ERR_NOT_FOUND);
  cr_assert_eq(pc_state_get(pc_state_at(s, 1), "alice", 5, &v, &vl), 0);
  rcu_read_unlock();
  cr_assert_eq(pc_state_publish(s, 1), 0);
  b = pc_state_batch_new(s);
  put_str(b, "alice", "11");
  cr_assert_eq(pc_state_batch_delete(b, "bob", 3), 0);
  cr_assert_eq(pc_state_batch_delete(b, "nobody", 6), 0);
  cr_assert_eq(pc_state_commit(b, NULL), 2);
  cr_assert_eq(pc_state_publish(s, 2), 0);
  rcu_read_lock();
  const pc_state_version_t *cur = pc_state_current(s);
  cr_assert_eq(pc_state_version_count(cur), 1);
  cr_assert_eq(pc_state_get(cur, "alice", 5, &v, &vl), 0);
  cr_assert_eq(memcmp(v, "11", 2), 0);
  cr_assert_eq(pc_state_get(cur, "bob", 3, &v, &vl), PC_ERR_NOT_FOUND);
  /* The older version is intact. */
  cr_assert_eq(pc_state_get(pc_state_at(s, 1), "bob", 3, &v, &vl), 0);
  rcu_read_unlock();
  pc_state_free(s);
}

Test(state, limits) {
  pc_state_t *s = pc_state_new(2);
  pc_state_batch_t *b = pc_state_batch_new(s);
  static uint8_t big[PC_STATE_VALUE_MAX + 1];
  uint8_t key[PC_STATE_KEY_MAX + 1] = {0};
  cr_assert_eq(pc_state_batch_put(b, key, 0, "x", 1), PC_ERR_INVALID);
  cr_assert_eq(pc_state_batch_put(b, key, PC_STATE_KEY_MAX + 1, "x", 1), PC_ERR_INVALID);
  cr_assert_eq(pc_state_batch_put(b, key, PC_STATE_KEY_MAX, big, PC_STATE_VALUE_MAX + 1), PC_ERR_TOO_LARGE);
  cr_assert_eq(pc_state_batch_put(b, key, PC_STATE_KEY_MAX, big, PC_STATE_VALUE_MAX), 0);
  cr_assert_eq(pc_state_batch_put(b, "empty", 5, "", 0), 0);
  cr_assert_eq(pc_state_batch_delete(b, key, 0), PC_ERR_INVALID);
  cr_assert_null(pc_state_batch_new(s), "one open batch at a time");
  cr_assert_eq(pc_state_commit(b, NULL), 1);
  rcu_read_lock();
  const uint8_t *v;
  size_t vl;
  cr_assert_eq(pc_state_get(pc_state_at(s, 1), "empty", 5, &v, &vl), 0);
  cr_assert_eq(vl, 0);
  cr_assert_eq(pc_state_get(pc_state_at(s, 1), key, PC_STATE_KEY_MAX, &v, &vl), 0);
  cr_assert_eq(vl, PC_STATE_VALUE_MAX);
  rcu_read_unlock();
  pc_state_free(s);
}

Test(state, retain_window_and_publish) {
  pc_state_t *s = pc_state_new(3);
  for (unsigned i = 1; i <= 10; i++) {
    pc_state_batch_t *b = pc_state_batch_new(s);
    char v[16];
    snprintf(v, sizeof v, "%u", i);
    put_str(b, "k", v);
    cr_assert_eq(pc_state_commit(b, NULL), i);
  }
  cr_assert_eq(pc_state_head(s), 10);
  rcu_read_lock();
  cr_assert_null(pc_state_at(s, 7));
  cr_assert_not_null(pc_state_at(s, 8));
  cr_assert_not_null(pc_state_at(s, 10));
  cr_assert_eq(pc_state_version_number(pc_state_current(s)), 0, "version 0 stays current until published");
  rcu_read_unlock();
  cr_assert_eq(pc_state_publish(s, 7), PC_ERR_NOT_FOUND);
  cr_assert_eq(pc_state_publish(s, 9), 0);
  pc_state_free(s);
}

Test(state, abort_changes_nothing) {
  pc_state_t *s = pc_state_new(2);
  pc_hash_t r1, r2;
  build(s, 300, 1, &r1);
  size_t mem = pc_state_memory(s);
  pc_state_batch_t *b = pc_state_batch_new(s);
  put_str(b, "key-1", "changed");
  cr_assert_eq(pc_state_batch_delete(b, "key-2", 5), 0);
  put_str(b, "new", "x");
  pc_state_abort(b);
  cr_assert_eq(pc_state_memory(s), mem);
  /* Enough writes that some were applied and some still wait in the queue. */
  b = pc_state_batch_new(s);
  for (unsigned i = 0; i < 45; i++) {
    char k[32];
    key_of(k, sizeof k, i * 7);
    if (i % 3) put_str(b, k, "changed");
    else cr_assert_eq(pc_state_batch_delete(b, k, strlen(k)), 0);
  }
  pc_state_abort(b);
  cr_assert_eq(pc_state_memory(s), mem);
  b = pc_state_batch_new(s);
  cr_assert_eq(pc_state_commit(b, &r2), 2);
  cr_assert(pc_hash_equal(&r1, &r2));
  pc_state_free(s);
}

Test(state, root_independent_of_order_and_history) {
  pc_hash_t ra, rb, rc;
  pc_state_t *a = pc_state_new(2), *bs = pc_state_new(2), *c = pc_state_new(2);
  build(a, 2000, 11, &ra);
  build(bs, 2000, 12345, &rb);
  cr_assert(pc_hash_equal(&ra, &rb), "same set, different order, same root");
  /* c: 3000 keys, then the extra 1000 deleted and one value changed back. */
  build(c, 3000, 7, &rc);
  pc_state_batch_t *b = pc_state_batch_new(c);
  for (unsigned i = 2000; i < 3000; i++) {
    char k[32];
    key_of(k, sizeof k, i);
    cr_assert_eq(pc_state_batch_delete(b, k, strlen(k)), 0);
  }
  put_str(b, "key-5", "temp");
  put_str(b, "key-5", "v5");
  cr_assert_eq(pc_state_commit(b, &rc), 2);
  cr_assert(pc_hash_equal(&ra, &rc), "deletes restore the canonical shape");
  /* A different value gives a different root. */
  b = pc_state_batch_new(c);
  put_str(b, "key-5", "v6");
  cr_assert_eq(pc_state_commit(b, &rc), 3);
  cr_assert(!pc_hash_equal(&ra, &rc));
  pc_state_free(a);
  pc_state_free(bs);
  pc_state_free(c);
}

/* The root of keys key-0..key-99 = v0..v99 is a constant of the format:
 * any change to hashing or shape shows here (and across runs). */
Test(state, root_is_stable_across_runs) {
  pc_state_t *s = pc_state_new(2);
  pc_hash_t r;
  build(s, 100, 99, &r);
  char hex[PC_HASH_HEX_SIZE];
  pc_hash_to_hex(&r, hex);
  cr_assert_str_eq(hex, STABLE_ROOT_100);
  pc_state_free(s);
}

Test(state, empty_state_root_is_zero_and_deleting_all_returns_to_it) {
  pc_state_t *s = pc_state_new(2);
  pc_hash_t r;
  build(s, 50, 3, &r);
  pc_state_batch_t *b = pc_state_batch_new(s);
  for (unsigned i = 0; i < 50; i++) {
    char k[32];
    key_of(k, sizeof k, i);
    cr_assert_eq(pc_state_batch_delete(b, k, strlen(k)), 0);
  }
  cr_assert_eq(pc_state_commit(b, &r), 2);
  cr_assert(pc_hash_is_zero(&r));
  pc_state_free(s);
}

/* ------------------------------------------------------------------ proofs */

static void flip_fails(const pc_hash_t *root, const char *k, const char *v, uint8_t *proof, size_t plen) {
  size_t kl = strlen(k), vl = v ? strlen(v) : 0;
  uint8_t kb[64], vb[64];
  memcpy(kb, k, kl);
  if (v) memcpy(vb, v, vl);
  cr_assert_eq(pc_state_proof_verify(root, kb, kl, v ? vb : NULL, vl, proof, plen), 0, "key %s", k);
  if (v) {
    for (size_t i = 0; i < kl * 8; i++) {
      kb[i / 8] ^= (uint8_t)(1u << (i % 8));
      cr_assert_neq(pc_state_proof_verify(root, kb, kl, vb, vl, proof, plen), 0, "key bit %zu", i);
      kb[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    for (size_t i = 0; i < vl * 8; i++) {
      vb[i / 8] ^= (uint8_t)(1u << (i % 8));
      cr_assert_neq(pc_state_proof_verify(root, kb, kl, vb, vl, proof, plen), 0, "value bit %zu", i);
      vb[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    /* A present key's proof does not prove absence. */
    cr_assert_neq(pc_state_proof_verify(root, kb, kl, NULL, 0, proof, plen), 0);
  } else {
    cr_assert_neq(pc_state_proof_verify(root, kb, kl, "x", 1, proof, plen), 0, "absent is not present");
  }
  for (size_t i = 0; i < plen * 8; i++) {
    proof[i / 8] ^= (uint8_t)(1u << (i % 8));
    cr_assert_neq(pc_state_proof_verify(root, kb, kl, v ? vb : NULL, vl, proof, plen), 0, "proof bit %zu", i);
    proof[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
  pc_hash_t r2 = *root;
  for (size_t i = 0; i < 256; i++) {
    r2.b[i / 8] ^= (uint8_t)(1u << (i % 8));
    cr_assert_neq(pc_state_proof_verify(&r2, kb, kl, v ? vb : NULL, vl, proof, plen), 0, "root bit %zu", i);
    r2.b[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
  cr_assert_neq(pc_state_proof_verify(root, kb, kl, v ? vb : NULL, vl, proof, plen - 1), 0, "truncated");
}

Test(state, proofs_verify_and_every_flipped_bit_fails) {
  pc_state_t *s = pc_state_new(2);
  pc_hash_t root;
  build(s, 500, 5, &root);
  rcu_read_lock();
  const pc_state_version_t *v = pc_state_at(s, 1);
  uint8_t proof[PC_STATE_PROOF_MAX];
  size_t plen;
  unsigned kinds[5] = {0};
  for (unsigned i = 0; i < 40; i++) {
    char k[32], val[32];
    key_of(k, sizeof k, i * 7);
    snprintf(val, sizeof val, "v%u", i * 7);
    cr_assert_eq(pc_state_prove(v, k, strlen(k), proof, sizeof proof, &plen), 0);
    kinds[proof[1]]++;
    flip_fails(&root, k, val, proof, plen);
    key_of(k, sizeof k, 100000 + i); /* absent */
    cr_assert_eq(pc_state_prove(v, k, strlen(k), proof, sizeof proof, &plen), 0);
    kinds[proof[1]]++;
    flip_fails(&root, k, NULL, proof, plen);
  }
  cr_assert_eq(kinds[1], 40);
  cr_assert_gt(kinds[2], 0, "some absent keys end at an empty slot");
  cr_assert_gt(kinds[3], 0, "some absent keys end at another leaf");
  uint8_t small[8];
  cr_assert_eq(pc_state_prove(v, "key-1", 5, small, sizeof small, &plen), PC_ERR_OVERFLOW);
  rcu_read_unlock();
  pc_state_free(s);
}

Test(state, proofs_on_empty_and_single_key_tries) {
  pc_state_t *s = pc_state_new(2);
  uint8_t proof[PC_STATE_PROOF_MAX];
  size_t plen;
  pc_hash_t zero = {{0}};
  rcu_read_lock();
  cr_assert_eq(pc_state_prove(pc_state_current(s), "a", 1, proof, sizeof proof, &plen), 0);
  rcu_read_unlock();
  cr_assert_eq(proof[1], 4);
  cr_assert_eq(pc_state_proof_verify(&zero, "a", 1, NULL, 0, proof, plen), 0);
  pc_state_batch_t *b = pc_state_batch_new(s);
  put_str(b, "only", "one");
  pc_hash_t root;
  cr_assert_eq(pc_state_commit(b, &root), 1);
  cr_assert_neq(pc_state_proof_verify(&root, "a", 1, NULL, 0, proof, plen), 0, "stale empty proof fails");
  rcu_read_lock();
  cr_assert_eq(pc_state_prove(pc_state_at(s, 1), "only", 4, proof, sizeof proof, &plen), 0);
  cr_assert_eq(pc_state_proof_verify(&root, "only", 4, "one", 3, proof, plen), 0);
  flip_fails(&root, "only", "one", proof, plen);
  cr_assert_eq(pc_state_prove(pc_state_at(s, 1), "other", 5, proof, sizeof proof, &plen), 0);
  cr_assert_eq(proof[1], 3);
  flip_fails(&root, "other", NULL, proof, plen);
  rcu_read_unlock();
  pc_state_free(s);
}

Test(state, garbage_proofs_are_rejected_and_counted) {
  pc_hash_t root = {{1}};
  uint64_t before = pc_reject_count(PC_DEC_OTHER, 1);
  uint8_t junk[300];
  uint64_t rs = pc_test_seed(77);
  for (unsigned i = 0; i < pc_test_iters(2000); i++) {
    size_t n = (size_t)(pc_test_rand(&rs) % sizeof junk);
    fill_bytes(junk, n, pc_test_rand(&rs));
    if (n > 0) junk[0] = 1;
    cr_assert_neq(pc_state_proof_verify(&root, "k", 1, NULL, 0, junk, n), 0);
  }
  cr_assert_gt(pc_reject_count(PC_DEC_OTHER, 1), before);
}

/* -------------------------------------------------------------------- RCU */

#define ACCOUNTS 64
#define START_BALANCE 1000u

static pc_state_t *g_state;
static atomic_bool g_stop;
static atomic_uint_fast64_t g_bad;

typedef struct {
  uint64_t sum, n;
} sum_t;

static int add_balance(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
  (void)k;
  (void)kl;
  sum_t *s = arg;
  if (vl != 8) return 1;
  s->sum += pc_load_le64(v);
  s->n++;
  return 0;
}

static void *reader(void *arg) {
  uint64_t *reads = arg;
  rcu_register_thread();
  /* relaxed: a stop flag; the join orders everything else */
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    rcu_read_lock();
    const pc_state_version_t *v = pc_state_current(g_state);
    sum_t s = {0, 0};
    int e = pc_state_iter(v, add_balance, &s);
    uint64_t num = pc_state_version_number(v);
    if (num > 0 && (e || s.n != ACCOUNTS || s.sum != (uint64_t)ACCOUNTS * START_BALANCE))
      atomic_fetch_add_explicit(&g_bad, 1, memory_order_relaxed);
    rcu_read_unlock();
    (*reads)++;
  }
  rcu_unregister_thread();
  return NULL;
}

Test(state, rcu_readers_always_see_whole_versions) {
  g_state = pc_state_new(4);
  atomic_store(&g_stop, false);
  atomic_store(&g_bad, 0);
  pc_state_batch_t *b = pc_state_batch_new(g_state);
  for (unsigned i = 0; i < ACCOUNTS; i++) {
    char k[32];
    uint8_t v[8];
    key_of(k, sizeof k, i);
    pc_store_le64(v, START_BALANCE);
    cr_assert_eq(pc_state_batch_put(b, k, strlen(k), v, 8), 0);
  }
  cr_assert_eq(pc_state_commit(b, NULL), 1);
  cr_assert_eq(pc_state_publish(g_state, 1), 0);
  pthread_t th[2];
  uint64_t reads[2] = {0, 0};
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, reader, &reads[i]);
  uint64_t rs = pc_test_seed(2024);
  unsigned commits = pc_test_iters(5000);
  for (unsigned c = 0; c < commits; c++) {
    b = pc_state_batch_new(g_state);
    /* Several transfers per version, each read through the batch. */
    for (int t = 0; t < 4; t++) {
      unsigned from = (unsigned)(pc_test_rand(&rs) % ACCOUNTS), to = (unsigned)(pc_test_rand(&rs) % ACCOUNTS);
      char kf[32], kt[32];
      key_of(kf, sizeof kf, from);
      key_of(kt, sizeof kt, to);
      const uint8_t *v;
      size_t vl;
      cr_assert_eq(pc_state_batch_get(b, kf, strlen(kf), &v, &vl), 0);
      uint64_t bf = pc_load_le64(v);
      uint64_t amt = bf ? pc_test_rand(&rs) % (bf + 1) : 0;
      uint8_t nv[8];
      pc_store_le64(nv, bf - amt);
      cr_assert_eq(pc_state_batch_put(b, kf, strlen(kf), nv, 8), 0);
      cr_assert_eq(pc_state_batch_get(b, kt, strlen(kt), &v, &vl), 0);
      pc_store_le64(nv, pc_load_le64(v) + amt);
      cr_assert_eq(pc_state_batch_put(b, kt, strlen(kt), nv, 8), 0);
    }
    int64_t ver = pc_state_commit(b, NULL);
    cr_assert_gt(ver, 0);
    cr_assert_eq(pc_state_publish(g_state, (uint64_t)ver), 0);
  }
  atomic_store_explicit(&g_stop, true, memory_order_relaxed);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  cr_assert_eq(atomic_load(&g_bad), 0, "a reader saw a torn version (seed %lu)", (unsigned long)pc_test_seed(2024));
  cr_assert_gt(reads[0] + reads[1], 0);
  /* Memory is bounded by the retained versions, not by the commit count. */
  cr_assert_lt(pc_state_memory(g_state), (size_t)ACCOUNTS * 2000);
  pc_state_free(g_state);
}

/* A seeded history recorded with the trie before its nodes were rebuilt
 * (compact branches holding their children's hashes, slab allocation):
 * 30 commits over 3000 keys of puts (values 0..300 bytes), overwrites and
 * deletes (also of absent keys, and of keys put earlier in the same batch),
 * then proofs of present and absent keys. The hash of every version's root
 * and of the proof bytes is a constant of the format. */
#define HISTORY_DIGEST "dc3170b6e8cd751c59e5134bdb09fae2a456f3d922cdb74c3600ce9eb4589614"

/* Commits b, publishes the new version, and feeds its root to h: the step
 * of the tests that record a history of roots. */
static void commit_publish_hash(pc_state_t *s, pc_state_batch_t *b, pc_hasher_t *h) {
  pc_hash_t root;
  int64_t v = pc_state_commit(b, &root);
  cr_assert_gt(v, 0);
  cr_assert_eq(pc_state_publish(s, (uint64_t)v), 0);
  pc_hasher_update(h, root.b, PC_HASH_SIZE);
}

Test(state, seeded_history_roots_and_proofs_match_recorded_constant) {
  pc_state_t *s = pc_state_new(4);
  pc_hasher_t h;
  pc_hasher_init_tagged(&h, "test/history");
  uint64_t rs = 0x5eedf00d;
  static uint8_t val[300];
  for (unsigned c = 0; c < 30; c++) {
    pc_state_batch_t *b = pc_state_batch_new(s);
    cr_assert_not_null(b);
    unsigned ops = c < 3 ? 1500 : 1 + (unsigned)(pc_test_rand(&rs) % 400);
    for (unsigned i = 0; i < ops; i++) {
      char k[32];
      key_of(k, sizeof k, (unsigned)(pc_test_rand(&rs) % 3000));
      uint64_t r = pc_test_rand(&rs);
      if (r % 5 == 0) {
        cr_assert_eq(pc_state_batch_delete(b, k, strlen(k)), 0);
      } else {
        size_t vl = (size_t)(r >> 8) % sizeof val;
        fill_bytes(val, vl, r);
        cr_assert_eq(pc_state_batch_put(b, k, strlen(k), val, vl), 0);
      }
    }
    commit_publish_hash(s, b, &h);
  }
  const pc_state_version_t *cur = pc_state_current(s);
  uint64_t count = pc_state_version_count(cur);
  pc_hasher_update(&h, &count, sizeof count);
  for (unsigned i = 0; i < 3200; i += 7) {
    char k[32];
    key_of(k, sizeof k, i);
    static uint8_t proof[4096];
    size_t plen;
    cr_assert_eq(pc_state_prove(cur, k, strlen(k), proof, sizeof proof, &plen), 0);
    pc_hasher_update(&h, proof, plen);
  }
  pc_hash_t d;
  pc_hasher_final(&h, &d);
  char hex[PC_HASH_HEX_SIZE];
  pc_hash_to_hex(&d, hex);
  cr_assert_str_eq(hex, HISTORY_DIGEST, "history digest %s", hex);
  pc_state_free(s);
}

/* ------------------------------------------------ benchmark-shaped batches
 * The shapes the benchmark times (16-byte keys, big preload batches, then
 * blocks of 1k and 10k random updates) plus inserts of new keys, deletes,
 * values of every size class and a few above the slab limit, repeated
 * writes of one key in a batch, reads through the batch. The digest of
 * every root, the final count and proof bytes was recorded with the trie
 * of session 4 (before the 1M-key work); the final root must also equal
 * that of a trie built by the naive path: the model's keys inserted one
 * per batch in another order. */
#define SHAPES_DIGEST "83a2d859364a5cef9b629de9c1dc5d403fe329f2c20a1e76e026f994afb3bad2"

enum { SH_PRELOAD = 40000, SH_KEYS = 48000 };

typedef struct {
  uint64_t seed;
  uint32_t len;
  bool present;
} sh_val_t;

static void sh_key(uint8_t k[16], uint64_t i) {
  memcpy(k, "acct", 4);
  pc_store_le64(k + 4, i);
  memcpy(k + 12, "/bal", 4);
}

/* sh_value fills the value of (seed, len); lengths up to 6000 bytes. */
static void sh_value(uint8_t *v, const sh_val_t *m) { fill_bytes(v, m->len, m->seed); }

static uint32_t sh_len(uint64_t r) {
  unsigned c = (unsigned)(r % 100);
  if (c < 80) return 8;
  if (c < 95) return (uint32_t)((r >> 8) % 64);
  if (c < 99) return (uint32_t)((r >> 8) % 1000);
  return 2000 + (uint32_t)((r >> 8) % 4000); /* bigger than a slab node */
}

static void sh_put(pc_state_batch_t *b, sh_val_t *model, uint64_t i, uint64_t seed, uint32_t len) {
  static uint8_t v[6000];
  uint8_t k[16];
  sh_key(k, i);
  model[i] = (sh_val_t){seed, len, true};
  sh_value(v, &model[i]);
  cr_assert_eq(pc_state_batch_put(b, k, 16, v, len), 0);
}

static void sh_check_get(pc_state_batch_t *b, const sh_val_t *model, uint64_t i) {
  static uint8_t v[6000];
  uint8_t k[16];
  sh_key(k, i);
  const uint8_t *got;
  size_t gl;
  int e = pc_state_batch_get(b, k, 16, &got, &gl);
  if (!model[i].present) {
    cr_assert_eq(e, PC_ERR_NOT_FOUND, "key %lu deleted in the batch", (unsigned long)i);
    return;
  }
  cr_assert_eq(e, 0, "key %lu", (unsigned long)i);
  sh_value(v, &model[i]);
  cr_assert_eq(gl, model[i].len);
  cr_assert_eq(memcmp(got, v, gl), 0);
}

Test(state, benchmark_shaped_batches_match_recorded_roots_and_naive_path) {
  pc_state_t *s = pc_state_new(4);
  sh_val_t *model = calloc(SH_KEYS, sizeof *model);
  pc_hasher_t h;
  pc_hasher_init_tagged(&h, "test/shapes");
  uint64_t rs = 0x1f2e3d4c;
  for (uint64_t base = 0; base < SH_PRELOAD; base += 10000) {
    pc_state_batch_t *b = pc_state_batch_new(s);
    for (uint64_t i = base; i < base + 10000; i++) sh_put(b, model, i, i, 8);
    pc_hash_t root;
    int64_t v = pc_state_commit(b, &root);
    cr_assert_gt(v, 0);
    cr_assert_eq(pc_state_publish(s, (uint64_t)v), 0);
    pc_hasher_update(&h, root.b, PC_HASH_SIZE);
  }
  static const unsigned sizes[] = {1000, 10000, 1000, 37, 1, 10000, 1000, 1000, 5000, 2, 1000, 10000};
  for (unsigned c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
    pc_state_batch_t *b = pc_state_batch_new(s);
    cr_assert_not_null(b);
    for (unsigned j = 0; j < sizes[c]; j++) {
      uint64_t r = pc_test_rand(&rs), i = pc_test_rand(&rs) % SH_PRELOAD;
      unsigned op = (unsigned)(r % 100);
      if (op < 75) {
        sh_put(b, model, i, r, sh_len(r >> 7));
      } else if (op < 85) {
        sh_put(b, model, SH_PRELOAD + (r >> 7) % (SH_KEYS - SH_PRELOAD), r, sh_len(r >> 9));
      } else if (op < 95) {
        uint8_t k[16];
        sh_key(k, i);
        cr_assert_eq(pc_state_batch_delete(b, k, 16), 0);
        model[i].present = false;
      } else if (op < 98) {
        /* the same key twice in one batch, then maybe gone again */
        sh_put(b, model, i, r, 8);
        sh_put(b, model, i, r + 1, sh_len(r >> 11));
        if (r & 1) {
          uint8_t k[16];
          sh_key(k, i);
          cr_assert_eq(pc_state_batch_delete(b, k, 16), 0);
          model[i].present = false;
        }
        sh_check_get(b, model, i);
      } else {
        sh_check_get(b, model, i);
      }
    }
    commit_publish_hash(s, b, &h);
  }
  const pc_state_version_t *cur = pc_state_current(s);
  uint64_t count = pc_state_version_count(cur), want = 0;
  for (uint64_t i = 0; i < SH_KEYS; i++) want += model[i].present;
  cr_assert_eq(count, want);
  pc_hasher_update(&h, &count, sizeof count);
  static uint8_t proof[PC_STATE_PROOF_MAX];
  for (uint64_t i = 0; i < SH_KEYS; i += 97) {
    uint8_t k[16];
    sh_key(k, i);
    size_t plen;
    cr_assert_eq(pc_state_prove(cur, k, 16, proof, sizeof proof, &plen), 0);
    pc_hasher_update(&h, proof, plen);
  }
  pc_hash_t final_root, d;
  pc_state_version_root(cur, &final_root);
  pc_hasher_final(&h, &d);
  char hex[PC_HASH_HEX_SIZE];
  pc_hash_to_hex(&d, hex);
  cr_assert_str_eq(hex, SHAPES_DIGEST, "shapes digest %s", hex);

  /* The naive path: one key per batch, descending key numbers. */
  pc_state_t *t = pc_state_new(2);
  pc_hash_t ref = {{0}};
  static uint8_t v[6000];
  for (uint64_t i = SH_KEYS; i-- > 0;) {
    if (!model[i].present) continue;
    uint8_t k[16];
    sh_key(k, i);
    sh_value(v, &model[i]);
    pc_state_batch_t *b = pc_state_batch_new(t);
    cr_assert_eq(pc_state_batch_put(b, k, 16, v, model[i].len), 0);
    cr_assert_gt(pc_state_commit(b, &ref), 0);
  }
  cr_assert(pc_hash_equal(&ref, &final_root), "the naive path gives another root");
  pc_state_free(t);
  pc_state_free(s);
  free(model);
}

/* sh_root_of builds a fresh trie from the model (one batch) and returns its root. */
static void sh_root_of(const sh_val_t *model, uint64_t n, pc_hash_t *root, uint64_t *count) {
  static uint8_t v[6000];
  pc_state_t *t = pc_state_new(2);
  pc_state_batch_t *b = pc_state_batch_new(t);
  *count = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (!model[i].present) continue;
    uint8_t k[16];
    sh_key(k, i);
    sh_value(v, &model[i]);
    cr_assert_eq(pc_state_batch_put(b, k, 16, v, model[i].len), 0);
    ++*count;
  }
  cr_assert_gt(pc_state_commit(b, root), 0);
  pc_state_free(t);
}

/* Out of memory in the middle of a batch: a write refused with
 * PC_ERR_NOMEM changes nothing, a write accepted (0) is never lost —
 * writes are applied in groups after they are accepted, so applying them
 * must not fail even when every allocation fails by then (deletes still
 * get accepted then: their branch copies come from the reserve) — and the
 * batch then commits to exactly the accepted writes, or aborts to the
 * memory it started from. */
Test(state, out_of_memory_mid_batch_loses_no_accepted_write) {
  enum { N = 5000, PRE = 4000 };
  sh_val_t *model = calloc(N, sizeof *model), *saved = calloc(N, sizeof *model);
  pc_state_t *s = pc_state_new(2);
  pc_state_batch_t *b = pc_state_batch_new(s);
  for (uint64_t i = 0; i < PRE; i++) sh_put(b, model, i, i, 8);
  cr_assert_eq(pc_state_commit(b, NULL), 1);
  uint64_t rs = pc_test_seed(0x00f00f);
  unsigned refused = 0, deletes_after_refusal = 0;
  static uint8_t v[6000];
  for (long k = 0; k < 240; k += 1 + k / 8) {
    memcpy(saved, model, N * sizeof *model);
    size_t mem = pc_state_memory(s);
    b = pc_state_batch_new(s);
    cr_assert_not_null(b);
    pc_state_fail_allocs_after(s, k);
    bool failed = false;
    for (unsigned j = 0; j < 300; j++) {
      uint64_t r = pc_test_rand(&rs), i = pc_test_rand(&rs) % N;
      uint8_t key[16];
      sh_key(key, i);
      int e;
      if (r % 4 == 0) {
        e = pc_state_batch_delete(b, key, 16);
        if (e == 0) {
          model[i].present = false;
          deletes_after_refusal += failed;
        }
      } else {
        sh_val_t m = {r, sh_len(r >> 8), true};
        sh_value(v, &m);
        e = pc_state_batch_put(b, key, 16, v, m.len);
        if (e == 0) model[i] = m;
      }
      if (e) {
        cr_assert_eq(e, PC_ERR_NOMEM, "k %ld op %u: %d (seed %#lx)", k, j, e, (unsigned long)pc_test_seed(0x00f00f));
        refused++;
        failed = true;
      }
    }
    pc_state_fail_allocs_after(s, -1);
    if (k % 2) {
      pc_state_abort(b);
      cr_assert_eq(pc_state_memory(s), mem, "abort after out of memory, k %ld", k);
      memcpy(model, saved, N * sizeof *model);
      continue;
    }
    for (uint64_t i = 0; i < N; i += 61) sh_check_get(b, model, i);
    pc_hash_t root, want;
    uint64_t count;
    int64_t ver = pc_state_commit(b, &root);
    cr_assert_gt(ver, 0, "commit after out of memory, k %ld: %ld", k, (long)ver);
    sh_root_of(model, N, &want, &count);
    cr_assert(pc_hash_equal(&root, &want), "k %ld: the root is not that of the accepted writes", k);
    rcu_read_lock();
    cr_assert_eq(pc_state_version_count(pc_state_at(s, (uint64_t)ver)), count);
    rcu_read_unlock();
  }
  cr_assert_gt(refused, 0);
  cr_assert_gt(deletes_after_refusal, 0, "the reserve path was not exercised");
  pc_state_free(s);
  free(model);
  free(saved);
}
