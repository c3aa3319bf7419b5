/* test_cutrule.c — the per-sender cut rule (several cuts outstanding, a
 * sender in at most one), its settlement (decided as cut, decided
 * otherwise, state-transfer jump), checkpoint-epoch rotation, and seeded
 * runs of a window of heights against an execution model that fails on a
 * nonce gap (a lost transaction) or a nonce used twice. */
#include "tests/testutil.h"
#include "txpool/txpool.h"
#include "txtest.h"

static void setup(void) { cr_assert_eq(pc_crypto_init(), 0); }
TestSuite(cutrule, .init = setup);

#define MAXK 16
static pc_client_key_t keys[MAXK];
static unsigned nkeys;

static void keys_make(unsigned n) {
  cr_assert_leq(n, MAXK);
  for (unsigned i = 0; i < n; i++) tt_key(&keys[i], i);
  nkeys = n;
}

static int key_index(const uint8_t *pk) {
  for (unsigned i = 0; i < nkeys; i++)
    if (memcmp(keys[i].pk, pk, PC_TX_PUBKEY_SIZE) == 0) return (int)i;
  return -1;
}

static void insert(pc_mempool_t *mp, unsigned sender, uint64_t nonce) {
  tt_tx_t t;
  tt_build(&t, &keys[sender], TT_CHAIN, nonce, 0, 0);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, NULL), 0, "sender %u nonce %llu", sender, (unsigned long long)nonce);
}

static pc_batch_limits_t lim(uint32_t count) {
  return (pc_batch_limits_t){.max_count = count, .max_bytes = 1u << 20, .max_wait_ns = 0};
}

typedef struct {
  uint8_t buf[1 << 14];
  size_t len;
  int n;
  int sender[64];
  uint64_t nonce[64];
} batch_t;

/* Cuts (forced) for height h in epoch into b and decodes it. */
static int cut(pc_mempool_t *mp, uint64_t epoch, uint64_t h, uint32_t max, batch_t *b) {
  pc_writer_t w;
  pc_writer_init(&w, b->buf, sizeof b->buf);
  pc_batch_limits_t l = lim(max);
  int n = pc_mempool_cut(mp, epoch, h, &l, 0, true, &w);
  cr_assert_geq(n, 0);
  cr_assert_leq(n, 64);
  b->len = w.len;
  b->n = 0;
  size_t pos = 0, len;
  const uint8_t *t;
  static pc_tx_t tx;
  while ((t = pc_batch_next(b->buf, b->len, &pos, &len))) {
    cr_assert_eq(pc_tx_decode(t, len, &tx), 0);
    b->sender[b->n] = key_index(tx.sender);
    b->nonce[b->n++] = tx.nonce;
  }
  cr_assert_eq(b->n, n);
  return n;
}

static bool has_sender(const batch_t *b, int s) {
  for (int i = 0; i < b->n; i++)
    if (b->sender[i] == s) return true;
  return false;
}

static pc_mempool_t *pool1(const pc_tx_state_view_t *view) {
  pc_mempool_cfg_t c;
  pc_mempool_cfg_default(&c, 1, 0); /* one replica owns every bucket (PBFT's primary) */
  pc_mempool_t *mp = pc_mempool_create(&c, view);
  cr_assert_not_null(mp);
  return mp;
}

/* ------------------------------------------------------------ the rule */

Test(cutrule, cut_excludes_in_flight_sender) {
  keys_make(2);
  pc_mempool_t *mp = pool1(NULL);
  for (uint64_t n = 0; n < 4; n++) insert(mp, 0, n);
  for (uint64_t n = 0; n < 2; n++) insert(mp, 1, n);
  static batch_t b1, b2, b3;
  cr_assert_eq(cut(mp, 0, 1, 2, &b1), 2);
  int first = b1.sender[0];
  cr_assert_eq(b1.sender[1], first, "a run of one sender's consecutive nonces");
  cr_assert_eq(b1.nonce[0], 0);
  cr_assert_eq(b1.nonce[1], 1);
  cr_assert_eq(pc_mempool_in_flight(mp, keys[first].pk), 2);
  /* the first sender still has uncut nonces (or not), but is in flight:
   * the next height gets only the other sender */
  int other = 1 - first;
  cr_assert_eq(cut(mp, 0, 2, 8, &b2), other == 0 ? 4 : 2);
  cr_assert_not(has_sender(&b2, first), "an in-flight sender was cut again");
  cr_assert_eq(b2.sender[0], other);
  cr_assert_eq(b2.nonce[0], 0);
  /* both in flight: nothing left to cut although sender 0's later nonces wait */
  cr_assert_eq(cut(mp, 0, 3, 8, &b3), 0);
  pc_mempool_stats_t st;
  pc_mempool_stats(mp, &st);
  cr_assert_eq(st.cut, 2u + (unsigned)b2.n);
  cr_assert_eq(st.senders_in_flight, 2);
  cr_assert_geq(st.skipped_in_flight, 1);
  pc_mempool_destroy(mp);
}

Test(cutrule, decided_as_cut_frees_sender_at_its_next_nonce) {
  keys_make(1);
  pc_mempool_t *mp = pool1(NULL);
  for (uint64_t n = 0; n < 5; n++) insert(mp, 0, n);
  static batch_t b1, b2;
  cr_assert_eq(cut(mp, 0, 1, 2, &b1), 2);
  cr_assert_eq(cut(mp, 0, 2, 8, &b2), 0, "nonces 2..4 cut while 0, 1 are in flight");
  /* height 1 decided as cut: nonces 0, 1 leave, the sender is free */
  cr_assert_eq(pc_mempool_remove_decided(mp, b1.buf, b1.len), 2);
  cr_assert_eq(pc_mempool_in_flight(mp, keys[0].pk), 0);
  cr_assert_eq(cut(mp, 0, 2, 8, &b2), 3);
  for (int i = 0; i < 3; i++) cr_assert_eq(b2.nonce[i], 2u + (unsigned)i);
  pc_mempool_destroy(mp);
}

Test(cutrule, release_on_other_decision_restores_nonce_order) {
  keys_make(2);
  pc_mempool_t *mp = pool1(NULL);
  for (uint64_t n = 0; n < 6; n++) insert(mp, 0, n);
  static batch_t h10, h11, h12, other, again;
  /* height 10 carries sender 0's nonces 0..3; 11 and 12 (in flight at the
   * same time) may not carry 4, 5 */
  cr_assert_eq(cut(mp, 0, 10, 4, &h10), 4);
  cr_assert_eq(cut(mp, 0, 11, 4, &h11), 0);
  insert(mp, 1, 0);
  cr_assert_eq(cut(mp, 0, 12, 4, &h12), 1);
  cr_assert_eq(h12.sender[0], 1);
  /* height 10 is decided with another proposer's block (sender 1's tx is
   * not in it): ours is released, sender 0 comes back from nonce 0 */
  tt_tx_t t;
  tt_build(&t, &keys[1], TT_CHAIN, 7, 0, 9); /* sender 1, a nonce nobody pooled */
  pc_writer_t w;
  pc_writer_init(&w, other.buf, sizeof other.buf);
  pc_batch_append(&w, t.raw, t.len);
  other.len = w.len;
  cr_assert_eq(pc_mempool_release(mp, h10.buf, h10.len), 4);
  cr_assert_eq(pc_mempool_release(mp, h10.buf, h10.len), 0, "a second release finds nothing marked");
  cr_assert_geq(pc_mempool_remove_decided(mp, other.buf, other.len), 0);
  cr_assert_eq(pc_mempool_in_flight(mp, keys[0].pk), 0);
  cr_assert_eq(cut(mp, 0, 13, 8, &again), 6);
  for (int i = 0; i < 6; i++) {
    cr_assert_eq(again.sender[i], 0);
    cr_assert_eq(again.nonce[i], (uint64_t)i, "released nonces must come back in order");
  }
  pc_mempool_destroy(mp);
}

Test(cutrule, release_of_unknown_or_malformed_batch_changes_nothing) {
  keys_make(1);
  pc_mempool_t *mp = pool1(NULL);
  insert(mp, 0, 0);
  static batch_t b;
  cr_assert_eq(cut(mp, 0, 1, 4, &b), 1);
  uint8_t junk[] = {9, 0, 0, 0, 1, 2, 3};
  cr_assert_eq(pc_mempool_release(mp, junk, sizeof junk), 0);
  cr_assert_eq(pc_mempool_release(mp, NULL, 0), 0);
  cr_assert_eq(pc_mempool_in_flight(mp, keys[0].pk), 1);
  pc_mempool_destroy(mp);
}

Test(cutrule, superseded_in_flight_tx_clears_the_mark) {
  keys_make(1);
  pc_mempool_t *mp = pool1(NULL);
  for (uint64_t n = 0; n < 3; n++) insert(mp, 0, n);
  static batch_t b;
  cr_assert_eq(cut(mp, 0, 5, 2, &b), 2);
  /* another proposer's block, decided first, used nonces 0 and 1 with
   * other transactions: ours are superseded and the sender is free */
  uint8_t blk[2048];
  pc_writer_t w;
  pc_writer_init(&w, blk, sizeof blk);
  tt_tx_t t;
  for (uint64_t n = 0; n < 2; n++) {
    tt_build(&t, &keys[0], TT_CHAIN, n, 0, 40);
    pc_batch_append(&w, t.raw, t.len);
  }
  cr_assert_eq(pc_mempool_remove_decided(mp, blk, w.len), 2);
  pc_mempool_stats_t st;
  pc_mempool_stats(mp, &st);
  cr_assert_eq(st.cut, 0);
  cr_assert_eq(st.senders_in_flight, 0);
  cr_assert_eq(cut(mp, 0, 6, 4, &b), 1);
  cr_assert_eq(b.nonce[0], 2);
  pc_mempool_destroy(mp);
}

Test(cutrule, batch1_many_senders_fill_the_window) {
  keys_make(8);
  pc_mempool_t *mp = pool1(NULL);
  for (unsigned s = 0; s < 8; s++)
    for (uint64_t n = 0; n < 3; n++) insert(mp, s, n);
  static batch_t b[9];
  bool used[8] = {0};
  for (unsigned h = 0; h < 8; h++) {
    cr_assert_eq(cut(mp, 0, 1 + h, 1, &b[h]), 1, "height %u in flight got an empty batch", 1 + h);
    cr_assert_eq(b[h].nonce[0], 0);
    cr_assert_not(used[b[h].sender[0]], "sender %d in two outstanding cuts", b[h].sender[0]);
    used[b[h].sender[0]] = true;
  }
  cr_assert_eq(cut(mp, 0, 9, 1, &b[8]), 0, "every sender is in flight");
  /* heights decide in order, as cut: each sender's next nonce follows */
  for (unsigned h = 0; h < 8; h++) cr_assert_eq(pc_mempool_remove_decided(mp, b[h].buf, b[h].len), 1);
  for (unsigned h = 0; h < 8; h++) {
    cr_assert_eq(cut(mp, 0, 9 + h, 1, &b[0]), 1);
    cr_assert_eq(b[0].nonce[0], 1);
  }
  pc_mempool_destroy(mp);
}

Test(cutrule, pbft_one_owner_cuts_every_sender_in_every_epoch) {
  keys_make(16);
  pc_mempool_t *mp = pool1(NULL);
  for (unsigned s = 0; s < 16; s++) insert(mp, s, 0);
  static batch_t b;
  for (uint64_t epoch = 0; epoch < 5; epoch++) {
    cr_assert_eq(cut(mp, epoch, 1 + epoch, 64, &b), 16, "epoch %llu", (unsigned long long)epoch);
    cr_assert_eq(pc_mempool_release(mp, b.buf, b.len), 16);
  }
  pc_mempool_destroy(mp);
}

/* ------------------------------------------------------------- epochs */

Test(cutrule, epoch_of_height_moves_after_each_checkpoint) {
  cr_assert_eq(pc_txpool_epoch_of(0, 10), 0);
  cr_assert_eq(pc_txpool_epoch_of(1, 10), 0);
  cr_assert_eq(pc_txpool_epoch_of(10, 10), 0);
  cr_assert_eq(pc_txpool_epoch_of(11, 10), 1);
  cr_assert_eq(pc_txpool_epoch_of(20, 10), 1);
  cr_assert_eq(pc_txpool_epoch_of(21, 10), 2);
  cr_assert_eq(pc_txpool_epoch_of(12345, 0), 0, "no checkpoints: no rotation");
  cr_assert_eq(pc_txpool_epoch_of(UINT64_MAX, 1), UINT64_MAX - 1);
}

Test(cutrule, ownership_of_a_height_follows_its_epoch) {
  const uint16_t n = 4;
  const uint32_t K = 8, nb = 16;
  pc_mempool_t *mp[4];
  for (uint16_t r = 0; r < n; r++) {
    pc_mempool_cfg_t c;
    pc_mempool_cfg_default(&c, n, r);
    c.n_buckets = nb;
    mp[r] = pc_mempool_create(&c, NULL);
  }
  unsigned id = tt_sender_owned_by(0, 0, 1, nb, n); /* replica 1 owns it in epoch 0 */
  pc_client_key_t k;
  tt_key(&k, id);
  tt_tx_t t;
  tt_build(&t, &k, TT_CHAIN, 0, 0, 0);
  for (int r = 0; r < n; r++) cr_assert_eq(pc_mempool_insert(mp[r], &t.tx, 0, NULL), 0);
  uint8_t buf[4096];
  uint64_t heights[] = {1, K, K + 1, 2 * K, 2 * K + 1, 4 * K + 1};
  for (unsigned i = 0; i < PC_ARRAY_LEN(heights); i++) {
    uint64_t h = heights[i], e = pc_txpool_epoch_of(h, K);
    uint16_t owner = (uint16_t)((1 + e) % n);
    for (uint16_t r = 0; r < n; r++) {
      pc_writer_t w;
      pc_writer_init(&w, buf, sizeof buf);
      pc_batch_limits_t l = lim(4);
      int got = pc_mempool_cut(mp[r], e, h, &l, 0, true, &w);
      cr_assert_eq(got, r == owner ? 1 : 0, "height %llu replica %u", (unsigned long long)h, r);
      if (got) cr_assert_eq(pc_mempool_release(mp[r], buf, w.len), 1);
    }
  }
  for (int r = 0; r < n; r++) pc_mempool_destroy(mp[r]);
}

/* ------------------------------------------------------- state jumps */

static uint64_t model_next[MAXK];

static uint64_t model_nonce(void *ctx, const uint8_t *pk) {
  (void)ctx;
  int i = key_index(pk);
  return i < 0 ? 0 : model_next[i];
}

Test(cutrule, resync_after_jump_evicts_executed_and_frees_senders) {
  keys_make(3);
  memset(model_next, 0, sizeof model_next);
  pc_tx_state_view_t view = {.account_nonce = model_nonce};
  pc_mempool_t *mp = pool1(&view);
  for (uint64_t n = 0; n < 4; n++) insert(mp, 0, n);
  insert(mp, 1, 0);
  (void)pc_mempool_next_nonce(mp, keys[2].pk); /* no record: nothing happens */
  static batch_t b;
  cr_assert_eq(cut(mp, 0, 3, 2, &b), 2);
  /* state transfer installs a state where sender 0 used nonces 0..2
   * (heights the pool never saw) and sender 2 used 0..9 */
  model_next[0] = 3;
  model_next[2] = 10;
  cr_assert_eq(pc_mempool_release(mp, b.buf, b.len), b.n);
  cr_assert_eq(pc_mempool_resync(mp), 3);
  cr_assert_eq(pc_mempool_next_nonce(mp, keys[0].pk), 3);
  cr_assert_eq(pc_mempool_next_nonce(mp, keys[2].pk), 10);
  pc_mempool_stats_t st;
  pc_mempool_stats(mp, &st);
  cr_assert_eq(st.count, 2);
  cr_assert_eq(st.cut, 0);
  cr_assert_eq(st.evicted_superseded, 3);
  /* an old nonce is refused now, the next one is cut first */
  pc_txpool_reason_t why;
  tt_tx_t t;
  tt_build(&t, &keys[0], TT_CHAIN, 1, 0, 5);
  cr_assert_eq(pc_mempool_insert(mp, &t.tx, 0, &why), PC_ERR_NONCE);
  cr_assert_eq(why, PC_TXR_NONCE_USED);
  cr_assert_eq(cut(mp, 0, 4, 8, &b), 2);
  pc_mempool_destroy(mp);
}

Test(cutrule, resync_never_moves_a_nonce_back) {
  keys_make(1);
  memset(model_next, 0, sizeof model_next);
  pc_tx_state_view_t view = {.account_nonce = model_nonce};
  pc_mempool_t *mp = pool1(&view);
  for (uint64_t n = 0; n < 3; n++) insert(mp, 0, n);
  static batch_t b;
  cr_assert_eq(cut(mp, 0, 1, 1, &b), 1);
  cr_assert_eq(pc_mempool_remove_decided(mp, b.buf, b.len), 1);
  /* the executed state lags the decisions (view says 0): nothing changes */
  cr_assert_eq(pc_mempool_resync(mp), 0);
  cr_assert_eq(pc_mempool_next_nonce(mp, keys[0].pk), 1);
  pc_mempool_stats_t st;
  pc_mempool_stats(mp, &st);
  cr_assert_eq(st.count, 2);
  pc_mempool_destroy(mp);
}

Test(cutrule, txpool_jumped_moves_next_height_and_resyncs) {
  keys_make(1);
  memset(model_next, 0, sizeof model_next);
  pc_tx_state_view_t view = {.account_nonce = model_nonce};
  pc_txpool_cfg_t cfg;
  pc_txpool_cfg_default(&cfg, TT_CHAIN, 1, 0);
  pc_txpool_t *pool = pc_txpool_create(&cfg, &view, NULL);
  cr_assert_not_null(pool);
  tt_tx_t t;
  for (uint64_t n = 0; n < 3; n++) {
    tt_build(&t, &keys[0], TT_CHAIN, n, n == 2 ? 50 : 0, 0);
    cr_assert_eq(pc_txpool_submit(pool, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL), 0);
  }
  pc_txpool_drain(pool);
  model_next[0] = 1;
  /* jump to 60: nonce 0 executed meanwhile, nonce 2 expired (and 1 stays) */
  cr_assert_eq(pc_txpool_jumped(pool, 60), 2);
  pc_txpool_stats_t st;
  pc_txpool_stats(pool, &st);
  cr_assert_eq(st.pool.count, 1);
  /* a transaction expiring below 61 is refused at admission now */
  pc_txpool_reason_t why;
  tt_build(&t, &keys[0], TT_CHAIN, 2, 60, 1);
  cr_assert_neq(pc_txpool_submit(pool, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, &why), 0);
  cr_assert_eq(why, PC_TXR_EXPIRED);
  pc_txpool_destroy(pool);
}

/* ------------------------------------------- seeded runs, execution model */

typedef struct {
  uint64_t h;
  batch_t b;
  bool used;
} cutslot_t;

typedef struct {
  unsigned gaps, dups, executed;
} exec_t;

/* Executes a decided batch in the model: a nonce above the sender's next
 * is a gap (its predecessor was lost or comes later), below is a reuse. */
static void execute(exec_t *x, const uint8_t *buf, size_t len) {
  size_t pos = 0, n;
  const uint8_t *t;
  static pc_tx_t tx;
  while ((t = pc_batch_next(buf, len, &pos, &n))) {
    cr_assert_eq(pc_tx_decode(t, n, &tx), 0);
    int s = key_index(tx.sender);
    cr_assert_geq(s, 0);
    if (tx.nonce == model_next[s]) {
      model_next[s]++;
      x->executed++;
    } else if (tx.nonce > model_next[s]) {
      x->gaps++;
    } else {
      x->dups++;
    }
  }
}

/* One replica (the PBFT primary, or an SBFT proposer that owns every
 * sender) with a window of W heights in flight: heights are asked for in
 * any order, decided in order either as cut or with another (empty) block,
 * sometimes skipped by a state-transfer jump that executes them without
 * telling the pool. Nothing may be lost (gap) or used twice. */
Test(cutrule, window_random_decisions_lose_and_repeat_nothing) {
  uint64_t seed = pc_test_seed(0xc07), rs = seed;
  const unsigned S = 6, W = 5;
  keys_make(S);
  memset(model_next, 0, sizeof model_next);
  pc_tx_state_view_t view = {.account_nonce = model_nonce};
  pc_mempool_t *mp = pool1(&view);
  uint64_t submit_next[MAXK] = {0};
  static cutslot_t slots[5];
  memset(slots, 0, sizeof slots);
  exec_t x = {0};
  uint64_t decided = 0, released = 0, kept = 0, jumps = 0;
  unsigned iters = pc_test_iters(1500);
  static batch_t empty;
  for (unsigned it = 0; it < iters; it++) {
    unsigned op = pc_test_rand(&rs) % 16;
    if (op < 7) { /* a client submits its next nonce (sometimes two, swapped) */
      unsigned s = pc_test_rand(&rs) % S;
      if (submit_next[s] - model_next[s] > 20) continue;
      if (op == 0) {
        insert(mp, s, submit_next[s] + 1);
        insert(mp, s, submit_next[s]);
        submit_next[s] += 2;
      } else {
        insert(mp, s, submit_next[s]++);
      }
    } else if (op < 11) { /* consensus asks for some height of the window */
      uint64_t h = decided + 1 + pc_test_rand(&rs) % W;
      cutslot_t *sl = &slots[h % W];
      if (sl->used && sl->h == h) continue; /* asked again: the same batch */
      cr_assert(!sl->used, "slot of an undecided height reused");
      if (cut(mp, 0, h, 1 + (uint32_t)(pc_test_rand(&rs) % 3), &sl->b) > 0) {
        sl->used = true;
        sl->h = h;
      }
    } else if (op < 15) { /* the next height is decided */
      uint64_t h = ++decided;
      cutslot_t *sl = &slots[h % W];
      const batch_t *d = &empty;
      if (sl->used && sl->h == h) {
        if (pc_test_rand(&rs) % 3) {
          d = &sl->b;
          kept++;
        } else {
          cr_assert_eq(pc_mempool_release(mp, sl->b.buf, sl->b.len), sl->b.n, "seed %#llx", (unsigned long long)seed);
          released++;
        }
        sl->used = false;
      }
      execute(&x, d->buf, d->len);
      cr_assert_geq(pc_mempool_remove_decided(mp, d->buf, d->len), 0);
    } else { /* state transfer to a height up to the window's top */
      uint64_t a = decided + 1 + pc_test_rand(&rs) % W;
      for (uint64_t h = decided + 1; h <= a; h++) {
        cutslot_t *sl = &slots[h % W];
        if (sl->used && sl->h == h) {
          /* the skipped height was decided as we cut it (or not), but
           * the pool learns only through the state */
          if (pc_test_rand(&rs) % 2) execute(&x, sl->b.buf, sl->b.len);
          pc_mempool_release(mp, sl->b.buf, sl->b.len);
          sl->used = false;
        }
      }
      decided = a;
      jumps++;
      cr_assert_geq(pc_mempool_resync(mp), 0);
    }
    pc_mempool_stats_t st;
    pc_mempool_stats(mp, &st);
    unsigned outstanding = 0;
    for (unsigned i = 0; i < W; i++) outstanding += slots[i].used ? (unsigned)slots[i].b.n : 0;
    cr_assert_eq(st.cut, outstanding, "seed %#llx", (unsigned long long)seed);
    cr_assert_eq(x.gaps, 0, "a transaction was lost: seed %#llx, iteration %u", (unsigned long long)seed, it);
    cr_assert_eq(x.dups, 0, "a nonce was used twice: seed %#llx, iteration %u", (unsigned long long)seed, it);
  }
  /* settle what is outstanding (voided), then decide everything in order */
  for (unsigned i = 0; i < W; i++)
    if (slots[i].used) pc_mempool_release(mp, slots[i].b.buf, slots[i].b.len);
  static batch_t b;
  for (int guard = 0; guard < 1000 && cut(mp, 0, ++decided, 8, &b) > 0; guard++) {
    execute(&x, b.buf, b.len);
    pc_mempool_remove_decided(mp, b.buf, b.len);
  }
  cr_assert_eq(x.gaps + x.dups, 0, "seed %#llx", (unsigned long long)seed);
  for (unsigned s = 0; s < S; s++)
    cr_assert_eq(model_next[s], submit_next[s], "sender %u lost transactions: seed %#llx", s,
                 (unsigned long long)seed);
  pc_mempool_stats_t st;
  pc_mempool_stats(mp, &st);
  cr_assert_eq(st.count, 0, "seed %#llx", (unsigned long long)seed);
  cr_assert_gt(kept, 0);
  cr_assert_gt(released, 0);
  cr_assert_gt(jumps, 0);
  pc_mempool_destroy(mp);
}

/* Two proposers (SBFT, n = 2) owning alternate heights, buckets rotating
 * every K heights: across the boundary both may cut a sender, so a nonce
 * may be decided twice (the later copy fails as used), but none is ever
 * skipped and everything executes. */
Test(cutrule, two_proposers_across_epochs_lose_nothing) {
  uint64_t seed = pc_test_seed(0xe90c), rs = seed;
  const unsigned S = 8, W = 4;
  const uint32_t K = 6;
  keys_make(S);
  memset(model_next, 0, sizeof model_next);
  pc_tx_state_view_t view = {.account_nonce = model_nonce};
  pc_mempool_t *mp[2];
  for (uint16_t r = 0; r < 2; r++) {
    pc_mempool_cfg_t c;
    pc_mempool_cfg_default(&c, 2, r);
    c.n_buckets = 8;
    mp[r] = pc_mempool_create(&c, &view);
  }
  uint64_t submit_next[MAXK] = {0};
  static cutslot_t slots[4];
  memset(slots, 0, sizeof slots);
  exec_t x = {0};
  uint64_t decided = 0;
  unsigned iters = pc_test_iters(1500);
  static batch_t empty;
  for (unsigned it = 0; it < iters; it++) {
    unsigned op = pc_test_rand(&rs) % 10;
    if (op < 4) {
      unsigned s = pc_test_rand(&rs) % S;
      if (submit_next[s] - model_next[s] > 20) continue;
      tt_tx_t t;
      tt_build(&t, &keys[s], TT_CHAIN, submit_next[s]++, 0, 0);
      for (int r = 0; r < 2; r++) pc_mempool_insert(mp[r], &t.tx, 0, NULL); /* may be a duplicate: fine */
    } else if (op < 7) {
      uint64_t h = decided + 1 + pc_test_rand(&rs) % W;
      cutslot_t *sl = &slots[h % W];
      if (sl->used && sl->h == h) continue;
      if (cut(mp[h % 2], pc_txpool_epoch_of(h, K), h, 1 + (uint32_t)(pc_test_rand(&rs) % 3), &sl->b) > 0) {
        sl->used = true;
        sl->h = h;
      }
    } else {
      uint64_t h = ++decided;
      cutslot_t *sl = &slots[h % W];
      const batch_t *d = &empty;
      if (sl->used && sl->h == h) {
        if (pc_test_rand(&rs) % 3)
          d = &sl->b;
        else
          pc_mempool_release(mp[h % 2], sl->b.buf, sl->b.len);
        sl->used = false;
      }
      execute(&x, d->buf, d->len);
      for (int r = 0; r < 2; r++) cr_assert_geq(pc_mempool_remove_decided(mp[r], d->buf, d->len), 0);
    }
    cr_assert_eq(x.gaps, 0, "a transaction was skipped: seed %#llx, iteration %u", (unsigned long long)seed, it);
  }
  for (unsigned i = 0; i < W; i++)
    if (slots[i].used) pc_mempool_release(mp[slots[i].h % 2], slots[i].b.buf, slots[i].b.len);
  static batch_t b;
  for (int guard = 0; guard < 2000; guard++) {
    uint64_t h = ++decided;
    int got = cut(mp[h % 2], pc_txpool_epoch_of(h, K), h, 8, &b);
    execute(&x, b.buf, b.len);
    for (int r = 0; r < 2; r++) pc_mempool_remove_decided(mp[r], b.buf, b.len);
    pc_mempool_stats_t s0, s1;
    pc_mempool_stats(mp[0], &s0);
    pc_mempool_stats(mp[1], &s1);
    if (!got && s0.count == 0 && s1.count == 0) break;
  }
  cr_assert_eq(x.gaps, 0, "seed %#llx", (unsigned long long)seed);
  for (unsigned s = 0; s < S; s++)
    cr_assert_eq(model_next[s], submit_next[s], "sender %u: seed %#llx", s, (unsigned long long)seed);
  for (int r = 0; r < 2; r++) pc_mempool_destroy(mp[r]);
}
