/* test_mempool.c — limits, fairness, nonce ordering, eviction, buckets and
 * batch cutting of the mempool. */
#include "tests/testutil.h"
#include "txpool/txpool.h"
#include "txtest.h"

static pc_mempool_cfg_t cfg1(void) {
  pc_mempool_cfg_t c;
  pc_mempool_cfg_default(&c, 1, 0); /* one replica: it owns every bucket */
  return c;
}

static pc_batch_limits_t lim(uint32_t count) {
  pc_batch_limits_t l = {.max_count = count, .max_bytes = 1u << 20, .max_wait_ns = 0};
  return l;
}

/* Cuts with force from epoch 0 into buf; returns the nonces (by sender order) decoded. */
static int cut_nonces(pc_mempool_t *mp, uint64_t epoch, uint32_t max, uint64_t *nonces, uint8_t *buf, size_t cap,
                      size_t *blen) {
  pc_writer_t w;
  pc_writer_init(&w, buf, cap);
  pc_batch_limits_t l = lim(max);
  int n = pc_mempool_cut(mp, epoch, 1, &l, 0, true, &w);
  cr_assert_geq(n, 0);
  size_t pos = 0, len;
  const uint8_t *t;
  int i = 0;
  static pc_tx_t tx;
  while ((t = pc_batch_next(buf, w.len, &pos, &len))) {
    cr_assert_eq(pc_tx_decode(t, len, &tx), 0);
    nonces[i++] = tx.nonce;
  }
  cr_assert_eq(i, n);
  if (blen) *blen = w.len;
  return n;
}

/* Inserts nonces 0..count-1 of sender k; t keeps the last one. */
static void insert_chain(pc_mempool_t *mp, const pc_client_key_t *k, tt_tx_t *t, unsigned count) {
  for (unsigned i = 0; i < count; i++) {
    tt_build(t, k, TT_CHAIN, i, 0, 0);
    cr_assert_eq(pc_mempool_insert(mp, &t->tx, 0, NULL), 0);
  }
}

static uint64_t nonce_ten(void *ctx, const uint8_t *s) {
  (void)ctx;
  (void)s;
  return 10;
}

static void setup(void) { cr_assert_eq(pc_crypto_init(), 0); }
TestSuite(mempool, .init = setup);

Test(mempool, bad_config_refused) {
  pc_mempool_cfg_t c = cfg1();
  c.self = 1;
  cr_assert_null(pc_mempool_create(&c, NULL));
  c = cfg1();
  c.max_count = 0;
  cr_assert_null(pc_mempool_create(&c, NULL));
  c = cfg1();
  c.n_buckets = 0;
  cr_assert_null(pc_mempool_create(&c, NULL));
}

Test(mempool, insert_then_contains) {
  pc_mempool_cfg_t c = cfg1();
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 0, 0);
  cr_assert(!pc_mempool_contains(mp, &t.tx.hash));
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  cr_assert(pc_mempool_contains(mp, &t.tx.hash));
  pc_mempool_stats_t st;
  pc_mempool_stats(mp, &st);
  cr_assert_eq(st.count, 1);
  cr_assert_eq(st.bytes, t.len);
  pc_mempool_destroy(mp);
}

Test(mempool, duplicate_rejected) {
  pc_mempool_cfg_t c = cfg1();
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 0, 0);
  pc_txpool_reason_t why;
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, &why), 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, &why), PC_ERR_DUPLICATE);
  cr_assert_eq(why, PC_TXR_DUPLICATE);
  pc_mempool_destroy(mp);
}

Test(mempool, same_nonce_other_tx_rejected) {
  pc_mempool_cfg_t c = cfg1();
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_client_key_t k;
  tt_key(&k, 1);
  tt_tx_t a, b;
  tt_build(&a, &k, TT_CHAIN, 0, 0, 0);
  tt_build(&b, &k, TT_CHAIN, 0, 0, 8); /* same nonce, other content */
  pc_txpool_reason_t why;
  cr_assert_eq(pc_mempool_insert(mp, &a.tx, 0, &why), 0);
  cr_assert_eq(pc_mempool_insert(mp, &b.tx, 0, &why), PC_ERR_NONCE);
  cr_assert_eq(why, PC_TXR_NONCE_USED);
  pc_mempool_destroy(mp);
}

Test(mempool, nonce_gap_rejected) {
  pc_mempool_cfg_t c = cfg1();
  c.gap_limit = 4;
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_client_key_t k;
  tt_key(&k, 1);
  tt_tx_t t;
  pc_txpool_reason_t why;
  tt_build(&t, &k, TT_CHAIN, 5, 0, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, &why), PC_ERR_NONCE);
  cr_assert_eq(why, PC_TXR_NONCE_GAP);
  tt_build(&t, &k, TT_CHAIN, 4, 0, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, &why), 0); /* at the limit: held */
  pc_mempool_destroy(mp);
}

Test(mempool, view_gives_new_sender_nonce) {
  pc_mempool_cfg_t c = cfg1();
  pc_tx_state_view_t v = {.account_nonce = nonce_ten};
  pc_mempool_t *mp = pc_mempool_create(&c, &v);
  pc_client_key_t k;
  tt_key(&k, 1);
  tt_tx_t t;
  pc_txpool_reason_t why;
  tt_build(&t, &k, TT_CHAIN, 9, 0, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, &why), PC_ERR_NONCE);
  cr_assert_eq(why, PC_TXR_NONCE_USED);
  tt_build(&t, &k, TT_CHAIN, 10, 0, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, &why), 0);
  cr_assert_eq(pc_mempool_next_nonce(mp, k.pk), 10);
  pc_mempool_destroy(mp);
}

Test(mempool, count_limit) {
  pc_mempool_cfg_t c = cfg1();
  c.max_count = 5;
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_txpool_reason_t why;
  for (unsigned i = 0; i < 6; i++) {
    pc_client_key_t k;
    tt_key(&k, i);
    tt_tx_t t;
    tt_build(&t, &k, TT_CHAIN, 0, 0, 0);
    int rc = pc_mempool_insert(mp, &t.tx, 0, &why);
    if (i < 5)
      cr_assert_eq(rc, 0);
    else {
      cr_assert_eq(rc, PC_ERR_FULL);
      cr_assert_eq(why, PC_TXR_POOL_FULL);
    }
  }
  pc_mempool_destroy(mp);
}

Test(mempool, bytes_limit) {
  pc_mempool_cfg_t c = cfg1();
  pc_client_key_t k;
  tt_key(&k, 0);
  tt_tx_t t;
  tt_build(&t, &k, TT_CHAIN, 0, 0, 100);
  c.max_bytes = 2 * t.len + 10; /* room for two */
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_txpool_reason_t why;
  for (unsigned i = 0; i < 3; i++) {
    tt_key(&k, i);
    tt_build(&t, &k, TT_CHAIN, 0, 0, 100);
    int rc = pc_mempool_insert(mp, &t.tx, 0, &why);
    cr_assert_eq(rc, i < 2 ? 0 : PC_ERR_FULL);
  }
  cr_assert_eq(why, PC_TXR_POOL_FULL);
  pc_mempool_destroy(mp);
}

Test(mempool, sender_quota_leaves_room_for_others) {
  pc_mempool_cfg_t c = cfg1();
  c.max_count = 200;
  c.sender_max_count = 50;
  c.gap_limit = 2000;
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_client_key_t flood, other;
  tt_key(&flood, 1000);
  tt_tx_t t;
  unsigned flood_ok = 0, quota = 0;
  pc_txpool_reason_t why;
  /* the flooder submits 100x what each of the others does, first */
  for (unsigned n = 0; n < 1000; n++) {
    tt_build(&t, &flood, TT_CHAIN, n, 0, 0);
    int rc = pc_mempool_insert(mp, &t.tx, 0, &why);
    if (rc == 0) flood_ok++;
    if (rc == PC_ERR_FULL && why == PC_TXR_SENDER_QUOTA) quota++;
  }
  cr_assert_eq(flood_ok, 50);
  cr_assert_eq(quota, 950);
  for (unsigned s = 0; s < 10; s++) {
    tt_key(&other, s);
    for (unsigned n = 0; n < 10; n++) {
      tt_build(&t, &other, TT_CHAIN, n, 0, 0);
      cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, &why), 0, "sender %u nonce %u: %s", s, n,
                   pc_txpool_reason_name(why));
    }
  }
  pc_mempool_destroy(mp);
}

Test(mempool, sender_byte_quota) {
  pc_mempool_cfg_t c = cfg1();
  pc_client_key_t k;
  tt_key(&k, 0);
  tt_tx_t t;
  tt_build(&t, &k, TT_CHAIN, 0, 0, 200);
  c.sender_max_bytes = t.len * 2;
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_txpool_reason_t why;
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, &why), 0);
  tt_build(&t, &k, TT_CHAIN, 1, 0, 200);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, &why), 0);
  tt_build(&t, &k, TT_CHAIN, 2, 0, 200);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, &why), PC_ERR_FULL);
  cr_assert_eq(why, PC_TXR_SENDER_QUOTA);
  pc_mempool_destroy(mp);
}

Test(mempool, cut_orders_nonces_and_waits_for_gaps) {
  pc_mempool_cfg_t c = cfg1();
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_client_key_t k;
  tt_key(&k, 1);
  tt_tx_t t;
  uint64_t order[] = {3, 1, 0, 4}; /* 2 missing */
  for (unsigned i = 0; i < 4; i++) {
    tt_build(&t, &k, TT_CHAIN, order[i], 0, 0);
    cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  }
  uint64_t nonces[16];
  static uint8_t buf[1 << 16];
  size_t blen;
  int n = cut_nonces(mp, 0, 16, nonces, buf, sizeof buf, &blen);
  cr_assert_eq(n, 2);
  cr_assert_eq(nonces[0], 0);
  cr_assert_eq(nonces[1], 1);
  cr_assert_eq(pc_mempool_remove_decided(mp, buf, blen), 2);
  /* the missing predecessor arrives: the held ones follow it */
  tt_build(&t, &k, TT_CHAIN, 2, 0, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  n = cut_nonces(mp, 0, 16, nonces, buf, sizeof buf, NULL);
  cr_assert_eq(n, 3);
  cr_assert_eq(nonces[0], 2);
  cr_assert_eq(nonces[1], 3);
  cr_assert_eq(nonces[2], 4);
  pc_mempool_destroy(mp);
}

Test(mempool, cut_does_not_repeat_until_released) {
  pc_mempool_cfg_t c = cfg1();
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_client_key_t k;
  tt_key(&k, 1);
  tt_tx_t t;
  insert_chain(mp, &k, &t, 3);
  uint64_t nonces[16];
  static uint8_t b1[1 << 16], b2[1 << 16];
  size_t l1;
  cr_assert_eq(cut_nonces(mp, 0, 16, nonces, b1, sizeof b1, &l1), 3);
  cr_assert_eq(cut_nonces(mp, 0, 16, nonces, b2, sizeof b2, NULL), 0);
  cr_assert_eq(pc_mempool_release(mp, b1, l1), 3);
  cr_assert_eq(cut_nonces(mp, 0, 16, nonces, b2, sizeof b2, NULL), 3);
  pc_mempool_destroy(mp);
}

Test(mempool, cut_respects_count_bytes_and_wait) {
  pc_mempool_cfg_t c = cfg1();
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  tt_tx_t t;
  for (unsigned s = 0; s < 10; s++) {
    pc_client_key_t k;
    tt_key(&k, s);
    tt_build(&t, &k, TT_CHAIN, 0, 0, 0);
    cr_assert_eq(pc_mempool_insert(mp, &t.tx, 1000 + s, NULL), 0);
  }
  static uint8_t buf[1 << 16];
  pc_writer_t w;
  /* young and below the limits: wait */
  pc_batch_limits_t l = {.max_count = 20, .max_bytes = 1 << 20, .max_wait_ns = 500};
  pc_writer_init(&w, buf, sizeof buf);
  cr_assert_eq(pc_mempool_cut(mp, 0, 1, &l, 1100, false, &w), PC_ERR_AGAIN);
  cr_assert_eq(w.len, 0);
  /* count limit reached: cut now */
  l.max_count = 4;
  cr_assert_eq(pc_mempool_cut(mp, 0, 1, &l, 1100, false, &w), 4);
  /* bytes limit: room for exactly two more */
  l.max_count = 20;
  l.max_bytes = 2 * (4 + t.len) + 3;
  pc_writer_init(&w, buf, sizeof buf);
  cr_assert_eq(pc_mempool_cut(mp, 0, 1, &l, 1100, false, &w), 2);
  cr_assert_eq(w.len, 2 * (4 + t.len));
  /* the oldest candidate waited long enough: cut the rest */
  l.max_bytes = 1 << 20;
  pc_writer_init(&w, buf, sizeof buf);
  cr_assert_eq(pc_mempool_cut(mp, 0, 1, &l, 1100, false, &w), PC_ERR_AGAIN);
  cr_assert_eq(pc_mempool_cut(mp, 0, 1, &l, 1006 + 500, false, &w), 4);
  pc_mempool_destroy(mp);
}

Test(mempool, cut_overflow_marks_nothing) {
  pc_mempool_cfg_t c = cfg1();
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  tt_tx_t t;
  tt_sign(&t, 1, 0, 0, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  uint8_t small[16];
  pc_writer_t w;
  pc_writer_init(&w, small, sizeof small);
  pc_batch_limits_t l = lim(10);
  cr_assert_eq(pc_mempool_cut(mp, 0, 1, &l, 0, true, &w), PC_ERR_OVERFLOW);
  static uint8_t buf[4096];
  uint64_t nonces[4];
  cr_assert_eq(cut_nonces(mp, 0, 4, nonces, buf, sizeof buf, NULL), 1);
  pc_mempool_destroy(mp);
}

Test(mempool, cut_is_fair_between_senders) {
  pc_mempool_cfg_t c = cfg1();
  c.sender_max_count = 1000;
  c.gap_limit = 1000;
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_client_key_t big, small;
  tt_key(&big, 1);
  tt_key(&small, 2);
  tt_tx_t t;
  for (unsigned n = 0; n < 200; n++) {
    tt_build(&t, &big, TT_CHAIN, n, 0, 0);
    cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  }
  tt_build(&t, &small, TT_CHAIN, 0, 0, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  for (int round = 0; round < 2; round++) { /* whichever sender comes first */
    static uint8_t buf[1 << 16];
    pc_writer_t w;
    pc_writer_init(&w, buf, sizeof buf);
    pc_batch_limits_t l = lim(16);
    cr_assert_eq(pc_mempool_cut(mp, 0, 1, &l, 0, true, &w), 16);
    cr_assert_eq(pc_mempool_release(mp, buf, w.len), 16); /* voided: both senders cuttable again */
    bool has_small = false;
    size_t pos = 0, len;
    const uint8_t *p;
    static pc_tx_t tx;
    while ((p = pc_batch_next(buf, w.len, &pos, &len))) {
      cr_assert_eq(pc_tx_decode(p, len, &tx), 0);
      has_small |= memcmp(tx.sender, small.pk, 32) == 0;
    }
    if (round == 0) cr_assert(has_small, "a 16-tx batch left out the sender with one tx");
  }
  pc_mempool_destroy(mp);
}

Test(mempool, cut_stops_at_expired) {
  pc_mempool_cfg_t c = cfg1();
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_client_key_t k;
  tt_key(&k, 1);
  tt_tx_t t;
  tt_build(&t, &k, TT_CHAIN, 0, 0, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  tt_build(&t, &k, TT_CHAIN, 1, 5, 0); /* valid up to height 5 */
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  static uint8_t buf[4096];
  pc_writer_t w;
  pc_writer_init(&w, buf, sizeof buf);
  pc_batch_limits_t l = lim(10);
  cr_assert_eq(pc_mempool_cut(mp, 0, 6, &l, 0, true, &w), 1);
  pc_mempool_destroy(mp);
}

Test(mempool, evicts_expired_and_their_successors) {
  pc_mempool_cfg_t c = cfg1();
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_client_key_t a, b;
  tt_key(&a, 1);
  tt_key(&b, 2);
  tt_tx_t t;
  tt_build(&t, &a, TT_CHAIN, 0, 0, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  tt_build(&t, &a, TT_CHAIN, 1, 5, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  tt_build(&t, &a, TT_CHAIN, 2, 0, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  tt_build(&t, &b, TT_CHAIN, 0, 9, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  cr_assert_eq(pc_mempool_evict_expired(mp, 5), 0); /* still valid at height 5 */
  cr_assert_eq(pc_mempool_evict_expired(mp, 6), 2); /* a's nonce 1 and 2 */
  pc_mempool_stats_t st;
  pc_mempool_stats(mp, &st);
  cr_assert_eq(st.count, 2);
  cr_assert_eq(st.evicted_expired, 2);
  cr_assert_eq(pc_mempool_evict_expired(mp, 10), 1); /* b's */
  pc_mempool_destroy(mp);
}

Test(mempool, decided_removes_and_evicts_superseded) {
  pc_mempool_cfg_t c = cfg1();
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_client_key_t k;
  tt_key(&k, 1);
  tt_tx_t t;
  insert_chain(mp, &k, &t, 4);
  /* another replica's block carries a different tx with nonce 1 */
  tt_tx_t other;
  tt_build(&other, &k, TT_CHAIN, 1, 0, 33);
  uint8_t batch[1024];
  pc_writer_t w;
  pc_writer_init(&w, batch, sizeof batch);
  pc_batch_append(&w, other.raw, other.len);
  cr_assert_eq(pc_mempool_remove_decided(mp, batch, w.len), 2); /* nonces 0 and 1 superseded */
  pc_mempool_stats_t st;
  pc_mempool_stats(mp, &st);
  cr_assert_eq(st.count, 2);
  cr_assert_eq(st.evicted_superseded, 2);
  cr_assert_eq(pc_mempool_next_nonce(mp, k.pk), 2);
  /* an old nonce is now refused */
  pc_txpool_reason_t why;
  tt_build(&t, &k, TT_CHAIN, 0, 0, 1);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, &why), PC_ERR_NONCE);
  cr_assert_eq(why, PC_TXR_NONCE_USED);
  /* the pooled nonce 2 decided: removed as decided */
  tt_build(&t, &k, TT_CHAIN, 2, 0, 0);
  pc_writer_init(&w, batch, sizeof batch);
  pc_batch_append(&w, t.raw, t.len);
  cr_assert_eq(pc_mempool_remove_decided(mp, batch, w.len), 1);
  pc_mempool_stats(mp, &st);
  cr_assert_eq(st.removed_decided, 1);
  cr_assert_eq(st.count, 1);
  pc_mempool_destroy(mp);
}

Test(mempool, malformed_decided_batch_reported) {
  pc_mempool_cfg_t c = cfg1();
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  uint8_t junk[] = {200, 0, 0, 0, 1, 2};
  cr_assert_eq(pc_mempool_remove_decided(mp, junk, sizeof junk), PC_ERR_INVALID);
  pc_mempool_destroy(mp);
}

Test(mempool, backpressure_at_high_water) {
  pc_mempool_cfg_t c = cfg1();
  c.max_count = 10;
  c.high_water_pct = 80;
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  tt_tx_t t;
  for (unsigned s = 0; s < 8; s++) {
    cr_assert(!pc_mempool_backpressure(mp));
    pc_client_key_t k;
    tt_key(&k, s);
    tt_build(&t, &k, TT_CHAIN, 0, 0, 0);
    cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0);
  }
  cr_assert_eq(pc_mempool_fill_pct(mp), 80);
  cr_assert(pc_mempool_backpressure(mp));
  pc_mempool_destroy(mp);
}

Test(mempool, bucket_owner_rotates_through_every_replica) {
  const uint16_t n = 4;
  for (uint32_t b = 0; b < 64; b++) {
    bool seen[4] = {0};
    for (uint64_t e = 0; e < n; e++) seen[pc_txpool_bucket_owner(e, b, n)] = true;
    for (int r = 0; r < n; r++) cr_assert(seen[r], "bucket %u never owned by %d", b, r);
    cr_assert_neq(pc_txpool_bucket_owner(7, b, n), pc_txpool_bucket_owner(8, b, n));
  }
  /* each epoch splits the buckets evenly */
  for (uint64_t e = 0; e < 3; e++) {
    unsigned per[4] = {0};
    for (uint32_t b = 0; b < 64; b++) per[pc_txpool_bucket_owner(e, b, n)]++;
    for (int r = 0; r < n; r++) cr_assert_eq(per[r], 16);
  }
}

Test(mempool, proposer_cuts_only_its_buckets_and_rotation_moves_them) {
  const uint16_t n = 4;
  pc_mempool_t *mp[4];
  for (uint16_t r = 0; r < n; r++) {
    pc_mempool_cfg_t c;
    pc_mempool_cfg_default(&c, n, r);
    c.n_buckets = 16;
    mp[r] = pc_mempool_create(&c, NULL);
  }
  /* one sender owned by replica 2 in epoch 0; every replica holds its tx */
  unsigned id = tt_sender_owned_by(0, 0, 2, 16, n);
  pc_client_key_t k;
  tt_key(&k, id);
  tt_tx_t t;
  tt_build(&t, &k, TT_CHAIN, 0, 0, 0);
  for (int r = 0; r < n; r++) cr_assert_eq(pc_mempool_insert(mp[r], &t.tx, 0, NULL), 0);
  static uint8_t buf[4096];
  uint64_t nonces[4];
  for (int r = 0; r < n; r++)
    cr_assert_eq(cut_nonces(mp[r], 0, 4, nonces, buf, sizeof buf, NULL), r == 2 ? 1 : 0, "replica %d", r);
  /* next checkpoint epoch: replica 3 owns it (and 2 no longer does) */
  cr_assert_eq(cut_nonces(mp[3], 1, 4, nonces, buf, sizeof buf, NULL), 1);
  for (int r = 0; r < n; r++) pc_mempool_destroy(mp[r]);
}

Test(mempool, random_ops_keep_accounting) {
  uint64_t seed = pc_test_seed(0x3e3), s = seed;
  pc_mempool_cfg_t c = cfg1();
  c.max_count = 64;
  c.sender_max_count = 16;
  c.gap_limit = 8;
  c.max_senders = 12; /* force recycling of sender records */
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  pc_client_key_t keys[8];
  for (unsigned i = 0; i < 8; i++) tt_key(&keys[i], i);
  static uint8_t buf[1 << 16];
  unsigned iters = pc_test_iters(3000);
  for (unsigned i = 0; i < iters; i++) {
    unsigned op = pc_test_rand(&s) % 10;
    const pc_client_key_t *k = &keys[pc_test_rand(&s) % 8];
    if (op < 6) {
      tt_tx_t t;
      uint64_t next = pc_mempool_next_nonce(mp, k->pk);
      tt_build(&t, k, TT_CHAIN, next + pc_test_rand(&s) % 10, pc_test_rand(&s) % 4 ? 0 : 1 + pc_test_rand(&s) % 50,
               0);
      pc_mempool_insert(mp, &t.tx, i, NULL);
    } else if (op < 8) {
      pc_writer_t w;
      pc_writer_init(&w, buf, sizeof buf);
      pc_batch_limits_t l = lim(1 + pc_test_rand(&s) % 8);
      int n = pc_mempool_cut(mp, 0, 1, &l, i, true, &w);
      cr_assert_geq(n, 0);
      if (pc_test_rand(&s) % 2)
        cr_assert_geq(pc_mempool_remove_decided(mp, buf, w.len), 0);
      else
        cr_assert_eq(pc_mempool_release(mp, buf, w.len), n);
    } else {
      pc_mempool_evict_expired(mp, pc_test_rand(&s) % 60);
    }
    pc_mempool_stats_t st;
    pc_mempool_stats(mp, &st);
    cr_assert_leq(st.count, 64, "seed %#llx", (unsigned long long)seed);
    cr_assert_leq(st.cut, st.count, "seed %#llx", (unsigned long long)seed);
    cr_assert_leq(st.senders, 12, "seed %#llx", (unsigned long long)seed);
  }
  /* decide everything that is left, in cut order: the pool ends empty */
  for (int guard = 0; guard < 100; guard++) {
    pc_writer_t w;
    pc_writer_init(&w, buf, sizeof buf);
    pc_batch_limits_t l = lim(64);
    if (pc_mempool_cut(mp, 0, 1, &l, 0, true, &w) == 0) break;
    pc_mempool_remove_decided(mp, buf, w.len);
  }
  pc_mempool_evict_expired(mp, UINT64_MAX);
  pc_mempool_stats_t st;
  pc_mempool_stats(mp, &st);
  cr_assert_eq(st.cut, 0, "seed %#llx", (unsigned long long)seed);
  /* what is left is held behind a gap: no sender has its next nonce pooled */
  for (unsigned i = 0; i < 8; i++) {
    tt_tx_t t;
    tt_build(&t, &keys[i], TT_CHAIN, pc_mempool_next_nonce(mp, keys[i].pk), 0, 7);
    pc_txpool_reason_t why = PC_TXR_COUNT;
    pc_mempool_check(mp, &t.tx, &why);
    cr_assert_neq(why, PC_TXR_NONCE_USED, "sender %u, seed %#llx", i, (unsigned long long)seed);
  }
  pc_mempool_destroy(mp);
}
