/* test_pool.c — the pool stage: admission reasons, verify-once, the verify
 * workers against serial checking, dissemination over the loopback, and
 * the execution-time replay check. */
#include "tests/testutil.h"
#include "txpool/txpool.h"
#include "txtest.h"

static void setup(void) { cr_assert_eq(pc_crypto_init(), 0); }
TestSuite(pool, .init = setup);

static pc_txpool_t *make_pool(unsigned workers, const pc_txpool_transport_t *tp, uint16_t n, uint16_t self) {
  return tt_pool(workers, 256, tp, n, self, NULL);
}

static pc_txpool_stats_t stats(pc_txpool_t *p) { return tt_stats(p); }

/* ------------------------------------------------ execution-time check */

typedef struct {
  uint64_t nonce;
  pc_hash_t executed;
} view_ctx_t;

static uint64_t v_nonce(void *ctx, const uint8_t *s) {
  (void)s;
  return ((view_ctx_t *)ctx)->nonce;
}
static bool v_executed(void *ctx, const pc_hash_t *h) { return pc_hash_equal(&((view_ctx_t *)ctx)->executed, h); }

Test(pool, exec_check_accepts_next_nonce) {
  tt_tx_t t;
  tt_sign(&t, 1, 4, 10, 0);
  view_ctx_t vc = {.nonce = 4};
  pc_tx_state_view_t v = {&vc, v_nonce, v_executed};
  cr_assert_eq(pc_txpool_exec_check(&t.tx, 10, &v), 0);
}

Test(pool, exec_check_rejects_old_nonce) {
  pc_client_key_t k;
  tt_key(&k, 1);
  tt_tx_t t;
  tt_build(&t, &k, TT_CHAIN, 3, 0, 0);
  view_ctx_t vc = {.nonce = 4};
  pc_tx_state_view_t v = {&vc, v_nonce, v_executed};
  cr_assert_eq(pc_txpool_exec_check(&t.tx, 1, &v), PC_ERR_NONCE);
  tt_build(&t, &k, TT_CHAIN, 5, 0, 0); /* ahead: would skip a nonce */
  cr_assert_eq(pc_txpool_exec_check(&t.tx, 1, &v), PC_ERR_NONCE);
}

Test(pool, exec_check_rejects_duplicate_hash) {
  tt_tx_t t;
  tt_sign(&t, 1, 4, 0, 0);
  view_ctx_t vc = {.nonce = 4, .executed = t.tx.hash};
  pc_tx_state_view_t v = {&vc, v_nonce, v_executed};
  cr_assert_eq(pc_txpool_exec_check(&t.tx, 1, &v), PC_ERR_DUPLICATE);
}

Test(pool, exec_check_rejects_expired) {
  tt_tx_t t;
  tt_sign(&t, 1, 4, 10, 0);
  view_ctx_t vc = {.nonce = 4};
  pc_tx_state_view_t v = {&vc, v_nonce, v_executed};
  cr_assert_eq(pc_txpool_exec_check(&t.tx, 11, &v), PC_ERR_EXPIRED);
}

/* --------------------------------------------------------- admission */

Test(pool, bad_config_refused) {
  pc_txpool_cfg_t c;
  pc_txpool_cfg_default(&c, TT_CHAIN, 1, 0);
  c.ring_size = 100;
  cr_assert_null(pc_txpool_create(&c, NULL, NULL));
  pc_txpool_cfg_default(&c, TT_CHAIN, 1, 0);
  c.n_workers = PC_TXPOOL_MAX_WORKERS + 1;
  cr_assert_null(pc_txpool_create(&c, NULL, NULL));
}

Test(pool, valid_tx_admitted) {
  pc_txpool_t *p = make_pool(0, NULL, 1, 0);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 0, 0);
  pc_hash_t h;
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT, &h, NULL), 0);
  cr_assert(pc_hash_equal(&h, &t.tx.hash));
  cr_assert(pc_mempool_contains(pc_txpool_mempool(p), &h));
  cr_assert_eq(stats(p).admitted, 1);
  pc_txpool_destroy(p);
}

static void expect_reject(pc_txpool_t *p, const void *raw, size_t len, int err, pc_txpool_reason_t r) {
  pc_txpool_reason_t why = PC_TXR_COUNT;
  uint64_t before = stats(p).rejected[r];
  cr_assert_eq(pc_txpool_submit(p, raw, len, PC_ORIGIN_CLIENT, NULL, &why), err);
  cr_assert_eq(why, r, "got %s", pc_txpool_reason_name(why));
  cr_assert_eq(stats(p).rejected[r], before + 1);
}

Test(pool, bad_format_rejected) {
  pc_txpool_t *p = make_pool(0, NULL, 1, 0);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 0, 0);
  expect_reject(p, t.raw, t.len - 1, PC_ERR_TRUNCATED, PC_TXR_BAD_FORMAT);
  t.raw[0] = 9;
  expect_reject(p, t.raw, t.len, PC_ERR_VERSION, PC_TXR_BAD_FORMAT);
  pc_txpool_destroy(p);
}

Test(pool, too_large_rejected) {
  pc_txpool_t *p = make_pool(0, NULL, 1, 0);
  static uint8_t big[PC_TX_MAX + 1];
  expect_reject(p, big, sizeof big, PC_ERR_TOO_LARGE, PC_TXR_TOO_LARGE);
  pc_txpool_destroy(p);
}

Test(pool, wrong_chain_rejected) {
  pc_txpool_t *p = make_pool(0, NULL, 1, 0);
  pc_client_key_t k;
  tt_key(&k, 1);
  tt_tx_t t;
  tt_build(&t, &k, TT_CHAIN + 1, 0, 0, 0);
  expect_reject(p, t.raw, t.len, PC_ERR_CHAIN, PC_TXR_WRONG_CHAIN);
  cr_assert_eq(stats(p).verified, 0);
  pc_txpool_destroy(p);
}

Test(pool, expired_rejected) {
  pc_txpool_t *p = make_pool(0, NULL, 1, 0);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 5, 0);
  pc_txpool_set_next_height(p, 6);
  expect_reject(p, t.raw, t.len, PC_ERR_EXPIRED, PC_TXR_EXPIRED);
  pc_txpool_set_next_height(p, 5);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  pc_txpool_destroy(p);
}

typedef struct {
  unsigned calls;
  pc_hash_t hash;
  uint16_t origin;
  int err;
  pc_txpool_reason_t why;
} refusals_t;

static void on_refused(void *ctx, const pc_hash_t *h, uint16_t origin, int err, pc_txpool_reason_t why) {
  refusals_t *r = ctx;
  r->calls++;
  r->hash = *h;
  r->origin = origin;
  r->err = err;
  r->why = why;
}

Test(pool, refusal_after_a_worker_checked_it_is_reported) {
  refusals_t seen = {0};
  pc_txpool_cfg_t c;
  pc_txpool_cfg_default(&c, TT_CHAIN, 1, 0);
  c.n_workers = 1;
  c.on_refused = on_refused;
  c.on_refused_ctx = &seen;
  pc_txpool_t *p = pc_txpool_create(&c, NULL, NULL);
  cr_assert_not_null(p);
  tt_tx_t good, bad;
  tt_sign(&good, 1, 0, 0, 0);
  tt_sign(&bad, 2, 0, 0, 0);
  bad.raw[bad.len - 1] ^= 0x40;
  pc_hash_t bad_hash;
  cr_assert_eq(pc_txpool_submit(p, good.raw, good.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  cr_assert_eq(pc_txpool_submit(p, bad.raw, bad.len, PC_ORIGIN_CLIENT, &bad_hash, NULL), 0,
               "queued to the worker: the verdict comes later");
  pc_txpool_drain(p);
  cr_assert_eq(seen.calls, 1, "only the forged one is refused");
  cr_assert(pc_hash_equal(&seen.hash, &bad_hash));
  cr_assert_eq(seen.origin, PC_ORIGIN_CLIENT);
  cr_assert_eq(seen.err, PC_ERR_SIGNATURE);
  cr_assert_eq(seen.why, PC_TXR_BAD_SIGNATURE);
  /* a refusal submit returns itself is not reported twice */
  cr_assert_eq(pc_txpool_submit(p, bad.raw, bad.len, PC_ORIGIN_CLIENT, NULL, NULL), PC_ERR_SIGNATURE);
  cr_assert_eq(seen.calls, 1);
  pc_txpool_destroy(p);
}

Test(pool, bad_signature_rejected) {
  pc_txpool_t *p = make_pool(0, NULL, 1, 0);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 0, 0);
  t.raw[t.len - 1] ^= 0x40;
  expect_reject(p, t.raw, t.len, PC_ERR_SIGNATURE, PC_TXR_BAD_SIGNATURE);
  pc_txpool_destroy(p);
}

/* Reports a decided block at height h holding only t. */
static void decide_txs(pc_txpool_t *p, uint64_t h, const tt_tx_t *t, unsigned k) {
  uint8_t batch[4096];
  pc_writer_t w;
  pc_writer_init(&w, batch, sizeof batch);
  for (unsigned i = 0; i < k; i++) pc_batch_append(&w, t[i].raw, t[i].len);
  cr_assert_eq(pc_txpool_decided(p, h, batch, w.len), 0);
}

static void decide_one(pc_txpool_t *p, uint64_t h, const tt_tx_t *t) { decide_txs(p, h, t, 1); }

Test(pool, used_nonce_rejected_before_verification) {
  pc_txpool_t *p = make_pool(0, NULL, 1, 0);
  pc_client_key_t k;
  tt_key(&k, 1);
  tt_tx_t a, b;
  tt_build(&a, &k, TT_CHAIN, 0, 0, 0);
  decide_one(p, 1, &a);
  /* a decided transaction this pool never saw is checked once there */
  cr_assert_eq(stats(p).verified, 1);
  tt_build(&b, &k, TT_CHAIN, 0, 0, 5); /* another tx reusing nonce 0 */
  expect_reject(p, b.raw, b.len, PC_ERR_NONCE, PC_TXR_NONCE_USED);
  cr_assert_eq(stats(p).verified, 1); /* b: refused before its signature is checked */
  pc_txpool_destroy(p);
}

Test(pool, decided_forged_tx_moves_no_nonce) {
  pc_txpool_t *p = make_pool(0, NULL, 1, 0);
  pc_client_key_t k;
  tt_key(&k, 1);
  tt_tx_t forged, real;
  tt_build(&forged, &k, TT_CHAIN, 0, 0, 7);
  forged.raw[forged.len - 1] ^= 0x40; /* its signature no longer verifies */
  decide_one(p, 1, &forged);
  cr_assert_eq(stats(p).decided_invalid, 1);
  /* the sender's real transaction with that nonce is still welcome */
  tt_build(&real, &k, TT_CHAIN, 0, 0, 0);
  cr_assert_eq(pc_txpool_submit(p, real.raw, real.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  cr_assert_eq(pc_mempool_next_nonce(pc_txpool_mempool(p), k.pk), 0);
  pc_txpool_destroy(p);
}

Test(pool, decided_forged_tx_between_valid_ones_settles_only_the_valid) {
  pc_txpool_t *p = make_pool(0, NULL, 1, 0);
  pc_client_key_t a, b;
  tt_key(&a, 1);
  tt_key(&b, 2);
  tt_tx_t t[4];
  tt_build(&t[0], &a, TT_CHAIN, 0, 0, 0);
  tt_build(&t[1], &b, TT_CHAIN, 0, 0, 7);
  t[1].raw[t[1].len - 1] ^= 0x40; /* forged */
  tt_build(&t[2], &a, TT_CHAIN, 1, 0, 0);
  tt_build(&t[3], &b, TT_CHAIN, 1, 0, 7);
  t[3].raw[t[3].len - 1] ^= 0x40; /* forged */
  cr_assert_eq(pc_txpool_submit(p, t[0].raw, t[0].len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  cr_assert_eq(pc_txpool_submit(p, t[2].raw, t[2].len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  decide_txs(p, 1, t, 4);
  cr_assert_eq(stats(p).decided_invalid, 2);
  /* both valid ones were settled as decided (not evicted as superseded) */
  cr_assert_eq(stats(p).pool.removed_decided, 2);
  cr_assert_eq(stats(p).pool.count, 0);
  /* a's two valid transactions before and after the forged one moved its nonce; b's did not */
  cr_assert_eq(pc_mempool_next_nonce(pc_txpool_mempool(p), a.pk), 2);
  cr_assert_eq(pc_mempool_next_nonce(pc_txpool_mempool(p), b.pk), 0);
  pc_txpool_destroy(p);
}

/* -------------------------------------------------------- verify once */

static void verify_once_from_four_origins(unsigned workers) {
  pc_txpool_t *p = make_pool(workers, NULL, 4, 0);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 0, 0);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  pc_txpool_drain(p);
  for (uint16_t peer = 1; peer <= 3; peer++) {
    pc_txpool_reason_t why;
    cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, peer, NULL, &why), PC_ERR_DUPLICATE);
    cr_assert_eq(why, PC_TXR_DUPLICATE);
  }
  pc_txpool_drain(p);
  pc_txpool_stats_t st = stats(p);
  cr_assert_eq(st.verified, 1);
  cr_assert_eq(st.admitted, 1);
  cr_assert_eq(st.rejected[PC_TXR_DUPLICATE], 3);
  pc_txpool_destroy(p);
}

Test(pool, verify_once_client_then_three_peers_inline) { verify_once_from_four_origins(0); }
Test(pool, verify_once_client_then_three_peers_worker) { verify_once_from_four_origins(1); }

Test(pool, verify_once_while_pending) {
  /* the peers' copies arrive while the first is still queued */
  pc_txpool_t *p = make_pool(1, NULL, 4, 0);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 0, 0);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, 2, NULL, NULL), 0);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL), PC_ERR_DUPLICATE);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, 1, NULL, NULL), PC_ERR_DUPLICATE);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, 3, NULL, NULL), PC_ERR_DUPLICATE);
  pc_txpool_drain(p);
  cr_assert_eq(stats(p).verified, 1);
  cr_assert(pc_mempool_contains(pc_txpool_mempool(p), &t.tx.hash));
  pc_txpool_destroy(p);
}

Test(pool, bad_signature_verified_once) {
  pc_txpool_t *p = make_pool(0, NULL, 1, 0);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 0, 0);
  t.raw[t.len - 3] ^= 1;
  for (int i = 0; i < 3; i++)
    cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, (uint16_t)i, NULL, NULL), PC_ERR_SIGNATURE);
  pc_txpool_stats_t st = stats(p);
  cr_assert_eq(st.verified, 1);
  cr_assert_eq(st.rejected[PC_TXR_BAD_SIGNATURE], 3);
  pc_txpool_destroy(p);
}

Test(pool, verified_tx_that_did_not_fit_is_not_verified_again) {
  pc_txpool_cfg_t c;
  pc_txpool_cfg_default(&c, TT_CHAIN, 1, 0);
  c.n_workers = 1;
  c.ring_size = 64;
  c.mempool.max_count = 1;
  pc_txpool_t *p = pc_txpool_create(&c, NULL, NULL);
  cr_assert_not_null(p);
  pc_client_key_t ka, kb;
  tt_key(&ka, 1);
  tt_key(&kb, 2);
  tt_tx_t a, b;
  tt_build(&a, &ka, TT_CHAIN, 0, 0, 0);
  tt_build(&b, &kb, TT_CHAIN, 0, 0, 0);
  /* both pass the cheap checks while the pool is empty; one does not fit */
  cr_assert_eq(pc_txpool_submit(p, a.raw, a.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  cr_assert_eq(pc_txpool_submit(p, b.raw, b.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  pc_txpool_drain(p);
  pc_txpool_stats_t st = stats(p);
  cr_assert_eq(st.verified, 2);
  cr_assert_eq(st.admitted, 1);
  cr_assert_eq(st.rejected[PC_TXR_POOL_FULL], 1);
  /* the admitted one is decided; the other is resubmitted and admitted without a verification */
  bool a_in = pc_mempool_contains(pc_txpool_mempool(p), &a.tx.hash);
  tt_tx_t *in = a_in ? &a : &b, *out = a_in ? &b : &a;
  uint8_t batch[1024];
  pc_writer_t w;
  pc_writer_init(&w, batch, sizeof batch);
  pc_batch_append(&w, in->raw, in->len);
  cr_assert_eq(pc_txpool_decided(p, 1, batch, w.len), 0);
  cr_assert_eq(pc_txpool_submit(p, out->raw, out->len, 1, NULL, NULL), 0);
  cr_assert(pc_mempool_contains(pc_txpool_mempool(p), &out->tx.hash));
  /* the decided one comes back from a peer: duplicate, no verification */
  cr_assert_eq(pc_txpool_submit(p, in->raw, in->len, 1, NULL, NULL), PC_ERR_DUPLICATE);
  cr_assert_eq(stats(p).verified, 2);
  pc_txpool_destroy(p);
}

Test(pool, full_verify_queues_push_back) {
  pc_txpool_cfg_t c;
  pc_txpool_cfg_default(&c, TT_CHAIN, 1, 0);
  c.n_workers = 1;
  c.ring_size = 64; /* 63 outstanding at most */
  pc_txpool_t *p = pc_txpool_create(&c, NULL, NULL);
  cr_assert_not_null(p);
  unsigned ok = 0, busy = 0;
  for (unsigned i = 0; i < 80; i++) {
    pc_client_key_t k;
    tt_key(&k, i);
    tt_tx_t t;
    tt_build(&t, &k, TT_CHAIN, 0, 0, 0);
    pc_txpool_reason_t why;
    int rc = pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, &why); /* no poll in between */
    if (rc == 0) ok++;
    if (rc == PC_ERR_AGAIN && why == PC_TXR_BUSY) busy++;
    if (i == 62) cr_assert(pc_txpool_backpressure(p));
  }
  cr_assert_eq(ok, 63);
  cr_assert_eq(busy, 17);
  pc_txpool_drain(p);
  cr_assert(!pc_txpool_backpressure(p));
  cr_assert_eq(stats(p).admitted, 63);
  pc_txpool_destroy(p);
}

Test(pool, pinned_workers_run) {
  pc_txpool_cfg_t c;
  pc_txpool_cfg_default(&c, TT_CHAIN, 1, 0);
  c.n_workers = 2;
  c.worker_cores[0] = 0;
  c.worker_cores[1] = 100000; /* no such core: a warning, then unpinned */
  pc_txpool_t *p = pc_txpool_create(&c, NULL, NULL);
  cr_assert_not_null(p);
  for (unsigned i = 0; i < 10; i++) {
    pc_client_key_t k;
    tt_key(&k, i);
    tt_tx_t t;
    tt_build(&t, &k, TT_CHAIN, 0, 0, 0);
    cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  }
  pc_txpool_drain(p);
  cr_assert_eq(stats(p).admitted, 10);
  /* ten Ed25519 verifications cost the workers CPU time (the bench's per-core figure) */
  cr_assert_gt(stats(p).worker_cpu_ns, 0);
  pc_txpool_destroy(p);
}

Test(pool, inline_verification_reports_no_worker_cpu) {
  pc_txpool_cfg_t c;
  pc_txpool_cfg_default(&c, TT_CHAIN, 1, 0);
  pc_txpool_t *p = pc_txpool_create(&c, NULL, NULL);
  cr_assert_not_null(p);
  pc_client_key_t k;
  tt_key(&k, 1);
  tt_tx_t t;
  tt_build(&t, &k, TT_CHAIN, 0, 0, 0);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  cr_assert_eq(stats(p).verified, 1);
  cr_assert_eq(stats(p).worker_cpu_ns, 0);
  pc_txpool_destroy(p);
}

/* -------------------------------------------- stage vs serial checking */

#define MIX 400

typedef struct {
  uint8_t raw[512];
  size_t len;
} blob_t;

/* A seeded mix: valid, bad signature, wrong chain, malformed, repeated. */
static void make_mix(blob_t *mix, uint64_t *s) {
  pc_client_key_t keys[16];
  for (unsigned i = 0; i < 16; i++) tt_key(&keys[i], 100 + i);
  uint64_t next[16] = {0};
  for (unsigned i = 0; i < MIX; i++) {
    unsigned kind = pc_test_rand(s) % 10;
    if (kind == 9 && i > 0) { /* repeat an earlier one */
      mix[i] = mix[pc_test_rand(s) % i];
      continue;
    }
    unsigned ki = pc_test_rand(s) % 16;
    tt_tx_t t;
    tt_build(&t, &keys[ki], kind == 7 ? TT_CHAIN + 1 : TT_CHAIN, next[ki]++, 0, (uint32_t)(pc_test_rand(s) % 64));
    memcpy(mix[i].raw, t.raw, t.len);
    mix[i].len = t.len;
    if (kind == 6) mix[i].raw[pc_test_rand(s) % t.len] ^= (uint8_t)(1u << (pc_test_rand(s) % 8)); /* bad sig or format */
    if (kind == 8) mix[i].len -= 1 + pc_test_rand(s) % 10;                                         /* truncated */
  }
}

static void stage_matches_serial(unsigned workers) {
  uint64_t seed = pc_test_seed(0x5e71a1 + workers), s = seed;
  static blob_t mix[MIX];
  unsigned rounds = pc_test_iters(3);
  for (unsigned round = 0; round < rounds; round++) {
    make_mix(mix, &s);
    /* serial reference: decode, chain, first sighting, signature */
    static pc_hash_t want[MIX];
    unsigned nwant = 0, nunique = 0;
    static pc_tx_t tx;
    static pc_hash_t seen[MIX];
    for (unsigned i = 0; i < MIX; i++) {
      if (pc_tx_decode(mix[i].raw, mix[i].len, &tx) != 0 || tx.chain_id != TT_CHAIN) continue;
      bool dup = false;
      for (unsigned j = 0; j < nunique; j++) dup |= pc_hash_equal(&seen[j], &tx.hash);
      if (dup) continue;
      seen[nunique++] = tx.hash;
      if (pc_tx_verify(&tx) == 0) want[nwant++] = tx.hash;
    }
    pc_txpool_cfg_t c;
    pc_txpool_cfg_default(&c, TT_CHAIN, 1, 0);
    c.n_workers = workers;
    c.ring_size = 1024;
    c.mempool.gap_limit = MIX;
    c.mempool.sender_max_count = MIX;
    pc_txpool_t *p = pc_txpool_create(&c, NULL, NULL);
    cr_assert_not_null(p);
    for (unsigned i = 0; i < MIX; i++) {
      pc_txpool_submit(p, mix[i].raw, mix[i].len, (uint16_t)(pc_test_rand(&s) % 4), NULL, NULL);
      if (i % 50 == 0) pc_txpool_poll(p, pc_now_ns());
    }
    pc_txpool_drain(p);
    for (unsigned i = 0; i < nwant; i++) /* every wanted one is pooled */
      cr_assert(pc_mempool_contains(pc_txpool_mempool(p), &want[i]), "seed %#llx", (unsigned long long)seed);
    pc_txpool_stats_t st = stats(p);
    cr_assert_eq(st.pool.count, nwant, "pool holds %u, serial accepts %u, seed %#llx", st.pool.count, nwant,
                 (unsigned long long)seed);
    cr_assert_eq(st.admitted, nwant, "seed %#llx", (unsigned long long)seed);
    /* never two verifications of one hash (some forged copies are refused
     * on their nonce before any verification, hence ≤) */
    cr_assert_leq(st.verified, nunique, "seed %#llx", (unsigned long long)seed);
    cr_assert_geq(st.verified, nwant, "seed %#llx", (unsigned long long)seed);
    pc_txpool_destroy(p);
  }
}

Test(pool, stage_with_one_worker_matches_serial) { stage_matches_serial(1); }
Test(pool, stage_with_two_workers_matches_serial) { stage_matches_serial(2); }
Test(pool, inline_verification_matches_serial) { stage_matches_serial(0); }

/* ------------------------------------------------------ dissemination */

static void poll_all(pc_txpool_t **p, unsigned n) {
  for (int quiet = 0; quiet < 3;) {
    unsigned work = 0;
    for (unsigned i = 0; i < n; i++) {
      pc_txpool_drain(p[i]);
      pc_txpool_flush(p[i]);
      work += pc_txpool_poll(p[i], pc_now_ns());
    }
    quiet = work ? 0 : quiet + 1;
  }
}

Test(pool, four_pools_share_client_transactions) {
  const uint16_t n = 4;
  pc_txpool_loopback_t *lb = pc_txpool_loopback_create(n);
  cr_assert_not_null(lb);
  pc_txpool_t *p[4];
  for (uint16_t i = 0; i < n; i++) {
    pc_txpool_transport_t tp = pc_txpool_loopback_transport(lb, i);
    p[i] = make_pool(i % 2, &tp, n, i); /* mix inline and worker verification */
  }
  /* 40 client transactions, arriving at different gateways */
  static tt_tx_t txs[40];
  for (unsigned i = 0; i < 40; i++) {
    pc_client_key_t k;
    tt_key(&k, i);
    tt_build(&txs[i], &k, TT_CHAIN, 0, 0, 0);
    cr_assert_eq(pc_txpool_submit(p[i % n], txs[i].raw, txs[i].len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  }
  poll_all(p, n);
  uint64_t sent = 0, received = 0;
  for (uint16_t r = 0; r < n; r++) {
    for (unsigned i = 0; i < 40; i++)
      cr_assert(pc_mempool_contains(pc_txpool_mempool(p[r]), &txs[i].tx.hash), "replica %u misses tx %u", r, i);
    pc_txpool_stats_t st = stats(p[r]);
    cr_assert_eq(st.verified, 40, "replica %u verified %llu", r, (unsigned long long)st.verified);
    cr_assert_eq(st.gossip_txs_sent, 10); /* only its own clients' */
    sent += st.gossip_txs_sent;
    received += st.gossip_txs_received;
  }
  cr_assert_eq(sent, 40);
  cr_assert_eq(received, 40 * (n - 1)); /* nobody re-broadcasts a peer's */
  /* a decided block empties every pool of its transactions */
  static uint8_t batch[1 << 16];
  pc_writer_t w;
  pc_writer_init(&w, batch, sizeof batch);
  for (unsigned i = 0; i < 40; i++) pc_batch_append(&w, txs[i].raw, txs[i].len);
  for (uint16_t r = 0; r < n; r++) {
    cr_assert_eq(pc_txpool_decided(p[r], 1, batch, w.len), 0);
    cr_assert_eq(stats(p[r]).pool.count, 0);
  }
  for (uint16_t r = 0; r < n; r++) pc_txpool_destroy(p[r]);
  pc_txpool_loopback_destroy(lb);
}

Test(pool, client_batch_waits_until_full_or_old) {
  pc_txpool_loopback_t *lb = pc_txpool_loopback_create(2);
  pc_txpool_transport_t tp0 = pc_txpool_loopback_transport(lb, 0), tp1 = pc_txpool_loopback_transport(lb, 1);
  pc_txpool_cfg_t c;
  pc_txpool_cfg_default(&c, TT_CHAIN, 2, 0);
  c.gossip_max_count = 3;
  c.gossip_max_wait_ns = 1000000000ull;
  pc_txpool_t *a = pc_txpool_create(&c, NULL, &tp0);
  c.mempool.self = 1;
  pc_txpool_t *b = pc_txpool_create(&c, NULL, &tp1);
  tt_tx_t t;
  pc_client_key_t k;
  for (unsigned i = 0; i < 2; i++) {
    tt_key(&k, i);
    tt_build(&t, &k, TT_CHAIN, 0, 0, 0);
    cr_assert_eq(pc_txpool_submit(a, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  }
  pc_txpool_poll(a, pc_now_ns());
  pc_txpool_poll(b, pc_now_ns());
  cr_assert_eq(stats(a).gossip_batches_sent, 0);
  cr_assert_eq(stats(b).pool.count, 0);
  tt_key(&k, 2);
  tt_build(&t, &k, TT_CHAIN, 0, 0, 0);
  cr_assert_eq(pc_txpool_submit(a, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL), 0); /* third: full */
  pc_txpool_poll(b, pc_now_ns());
  cr_assert_eq(stats(a).gossip_batches_sent, 1);
  cr_assert_eq(stats(b).pool.count, 3);
  tt_key(&k, 3);
  tt_build(&t, &k, TT_CHAIN, 0, 0, 0);
  cr_assert_eq(pc_txpool_submit(a, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  pc_txpool_poll(a, pc_now_ns() + 2000000000ull); /* old enough */
  pc_txpool_poll(b, pc_now_ns());
  cr_assert_eq(stats(b).pool.count, 4);
  pc_txpool_destroy(a);
  pc_txpool_destroy(b);
  pc_txpool_loopback_destroy(lb);
}

Test(pool, malformed_peer_batch_counted) {
  pc_txpool_loopback_t *lb = pc_txpool_loopback_create(2);
  pc_txpool_transport_t tp0 = pc_txpool_loopback_transport(lb, 0), tp1 = pc_txpool_loopback_transport(lb, 1);
  pc_txpool_t *b = make_pool(0, &tp1, 2, 1);
  uint8_t junk[] = {50, 0, 0, 0, 1, 2, 3};
  cr_assert_eq(tp0.broadcast(tp0.ctx, junk, sizeof junk), 0);
  uint64_t before = pc_reject_count(PC_DEC_OTHER, 1);
  pc_txpool_poll(b, pc_now_ns());
  cr_assert_eq(stats(b).gossip_bad_batches, 1);
  cr_assert_eq(pc_reject_count(PC_DEC_OTHER, 1), before + 1);
  pc_txpool_destroy(b);
  pc_txpool_loopback_destroy(lb);
}

Test(pool, peer_bad_transaction_rejected_not_trusted) {
  pc_txpool_loopback_t *lb = pc_txpool_loopback_create(2);
  pc_txpool_transport_t tp0 = pc_txpool_loopback_transport(lb, 0), tp1 = pc_txpool_loopback_transport(lb, 1);
  pc_txpool_t *b = make_pool(0, &tp1, 2, 1);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 0, 0);
  t.raw[t.len - 1] ^= 1; /* a faulty peer forwards a forged transaction */
  uint8_t batch[1024];
  pc_writer_t w;
  pc_writer_init(&w, batch, sizeof batch);
  pc_batch_append(&w, t.raw, t.len);
  cr_assert_eq(tp0.broadcast(tp0.ctx, batch, w.len), 0);
  pc_txpool_poll(b, pc_now_ns());
  pc_txpool_stats_t st = stats(b);
  cr_assert_eq(st.rejected[PC_TXR_BAD_SIGNATURE], 1);
  cr_assert_eq(st.verified, 1);
  cr_assert_eq(st.pool.count, 0);
  pc_txpool_destroy(b);
  pc_txpool_loopback_destroy(lb);
}

/* The node's gateway verifies client signatures itself (to answer bad ones
 * synchronously); the pool must then not verify them a second time. */
Test(pool, client_tx_verified_by_the_gateway_is_not_verified_again) {
  pc_txpool_t *p = make_pool(0, NULL, 4, 0);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 0, 0);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT_VERIFIED, NULL, NULL), 0);
  pc_txpool_stats_t st = stats(p);
  cr_assert_eq(st.verified, 0);
  cr_assert_eq(st.admitted, 1);
  cr_assert(pc_mempool_contains(pc_txpool_mempool(p), &t.tx.hash));
  /* the same bytes from a peer are a duplicate, still not verified */
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, 2, NULL, NULL), PC_ERR_DUPLICATE);
  cr_assert_eq(stats(p).verified, 0);
  /* an unverified client transaction is verified as before */
  tt_sign(&t, 2, 0, 0, 0);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  cr_assert_eq(stats(p).verified, 1);
  pc_txpool_destroy(p);
}

static void count_verified(void *ctx, const pc_hash_t *h) {
  (void)h;
  (*(unsigned *)ctx)++;
}

/* The execution stage learns which signatures were found valid (and only those). */
Test(pool, on_verified_reports_each_valid_signature_once) {
  unsigned seen = 0;
  pc_txpool_cfg_t c;
  pc_txpool_cfg_default(&c, TT_CHAIN, 4, 0);
  c.on_verified = count_verified;
  c.on_verified_ctx = &seen;
  pc_txpool_t *p = pc_txpool_create(&c, NULL, NULL);
  cr_assert_not_null(p);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 0, 0);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, 1, NULL, NULL), PC_ERR_DUPLICATE);
  tt_sign(&t, 2, 0, 0, 0);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT_VERIFIED, NULL, NULL), 0);
  tt_sign(&t, 3, 0, 0, 0);
  t.raw[t.len - 1] ^= 1;
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, 2, NULL, NULL), PC_ERR_SIGNATURE);
  cr_assert_eq(seen, 2);
  pc_txpool_destroy(p);
}
