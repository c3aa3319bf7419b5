/* test_wait.c — how the pool thread and the verify workers sleep and wake
 * each other (pc_txpool_wait, idle workers blocking until work arrives),
 * and verification of transactions larger than a recycled message. A lost
 * wake-up shows as pc_txpool_wait returning false after a long timeout, or
 * as a drain that never ends (the test's timeout). */
#include "tests/testutil.h"
#include "txpool/txpool.h"
#include "txtest.h"

static void setup(void) { cr_assert_eq(pc_crypto_init(), 0); }
TestSuite(wait, .init = setup, .timeout = 60);

#define LONG_NS (30ull * 1000000000ull) /* "forever" for a wait that must be woken */

/* one sender may queue far ahead (the tests submit long nonce runs) */
static void long_runs(pc_txpool_cfg_t *c) {
  c->mempool.gap_limit = 4096;
  c->mempool.sender_max_count = 10000;
}

static pc_txpool_t *make_pool(unsigned workers) { return tt_pool(workers, 64, NULL, 1, 0, long_runs); }

static pc_txpool_stats_t stats(pc_txpool_t *p) { return tt_stats(p); }

/* Takes every result waiting; returns how many. */
static unsigned take_all(pc_txpool_t *p) {
  unsigned n = 0, k;
  while ((k = pc_txpool_poll(p, pc_now_ns()))) n += k;
  return n;
}

static void submit_ok(pc_txpool_t *p, unsigned sender, uint64_t nonce) {
  tt_tx_t t;
  tt_sign(&t, sender, nonce, 0, 0);
  cr_assert_eq(pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL), 0, "sender %u nonce %llu", sender,
               (unsigned long long)nonce);
}

Test(wait, nothing_queued_returns_false_at_once) {
  /* nothing could wake it: it must not block (a block here is the test's timeout) */
  pc_txpool_t *p = make_pool(1);
  cr_assert(!pc_txpool_wait(p, 3600ull * 1000000000ull));
  pc_txpool_destroy(p);
  p = make_pool(0); /* inline: never anything queued */
  submit_ok(p, 1, 0);
  cr_assert(!pc_txpool_wait(p, 3600ull * 1000000000ull));
  cr_assert_eq(stats(p).admitted, 1);
  pc_txpool_destroy(p);
}

Test(wait, results_taken_are_not_waited_for_again) {
  pc_txpool_t *p = make_pool(1);
  submit_ok(p, 1, 0);
  cr_assert(pc_txpool_wait(p, LONG_NS));
  cr_assert_eq(take_all(p), 1);
  cr_assert_eq(stats(p).verify_inflight, 0);
  cr_assert(!pc_txpool_wait(p, 3600ull * 1000000000ull), "nothing in flight any more");
  pc_txpool_destroy(p);
}

Test(wait, worker_wakes_the_waiting_pool_thread) {
  /* each round: one transaction queued, the pool thread blocks (usually
   * before the ~50 µs verification ends) and the worker must wake it */
  pc_txpool_t *p = make_pool(1);
  unsigned rounds = pc_test_iters(50);
  for (unsigned i = 0; i < rounds; i++) {
    submit_ok(p, 1, i);
    cr_assert(pc_txpool_wait(p, LONG_NS), "round %u: not woken", i);
    cr_assert_eq(take_all(p), 1, "round %u", i);
  }
  cr_assert_eq(stats(p).admitted, rounds);
  cr_assert_eq(stats(p).verified, rounds);
  pc_txpool_destroy(p);
}

Test(wait, wakes_at_half_a_ring_or_when_the_worker_is_done) {
  /* 40 queued on a ring of 63: it returns with half a ring (31) of
   * results or all 40, never with nothing ready */
  pc_txpool_t *p = make_pool(1);
  for (unsigned i = 0; i < 40; i++) submit_ok(p, 2, i);
  unsigned got = 0;
  while (got < 40) {
    cr_assert(pc_txpool_wait(p, LONG_NS), "after %u results", got);
    unsigned k = take_all(p);
    cr_assert_gt(k, 0, "woken with no result after %u", got);
    got += k;
  }
  cr_assert_eq(got, 40);
  cr_assert_eq(stats(p).admitted, 40);
  pc_txpool_destroy(p);
}

/* Waits (sleeping, no timing assumed) until the workers blocked at least
 * `times` times since they started: an idle worker must block, not spin. */
static void until_worker_slept(pc_txpool_t *p, uint64_t times) {
  for (unsigned i = 0; stats(p).worker_sleeps < times; i++) {
    cr_assert_lt(i, 30000u, "an idle worker never blocked");
    pc_sleep_ns(1000000);
  }
}

Test(wait, idle_worker_blocks_and_new_work_wakes_it) {
  pc_txpool_t *p = make_pool(1);
  for (unsigned i = 0; i < 10; i++) {
    /* i + 1 blocks: the one after the previous transaction (or at the
     * start) happened, so the worker is blocked now (or on its way) */
    until_worker_slept(p, i + 1);
    submit_ok(p, 3, i);
    pc_txpool_drain(p); /* never returns if the worker is not woken */
    cr_assert_eq(stats(p).admitted, i + 1);
  }
  pc_txpool_destroy(p);
}

Test(wait, random_gaps_lose_no_wakeup) {
  /* bursts of 1-70 transactions (beyond a ring: busy refusals, retried)
   * after gaps of 0-300 µs, taken by wait + poll or by drain, on two
   * workers: every transaction comes back exactly once */
  uint64_t seed = pc_test_seed(0x3a17e), s = seed;
  pc_txpool_t *p = make_pool(2);
  unsigned rounds = pc_test_iters(150), sent = 0;
  uint64_t nonce[8] = {0};
  for (unsigned r = 0; r < rounds; r++) {
    unsigned burst = 1 + (unsigned)(pc_test_rand(&s) % 70);
    for (unsigned i = 0; i < burst; i++) {
      unsigned snd = (unsigned)(pc_test_rand(&s) % 8);
      tt_tx_t t;
      tt_sign(&t, 10 + snd, nonce[snd], 0, 0);
      int rc;
      while ((rc = pc_txpool_submit(p, t.raw, t.len, PC_ORIGIN_CLIENT, NULL, NULL)) == PC_ERR_AGAIN) {
        cr_assert(pc_txpool_wait(p, LONG_NS), "seed %llu round %u: queues full, not woken", (unsigned long long)seed,
                  r);
        take_all(p);
      }
      cr_assert_eq(rc, 0, "seed %llu", (unsigned long long)seed);
      nonce[snd]++;
      sent++;
    }
    if (pc_test_rand(&s) % 2) {
      pc_txpool_drain(p);
    } else {
      while (stats(p).verify_inflight) {
        cr_assert(pc_txpool_wait(p, LONG_NS), "seed %llu round %u: not woken", (unsigned long long)seed, r);
        take_all(p);
      }
    }
    cr_assert_eq(stats(p).admitted, sent, "seed %llu round %u", (unsigned long long)seed, r);
    pc_sleep_ns(pc_test_rand(&s) % 300000);
  }
  cr_assert_eq(stats(p).verified, sent, "seed %llu", (unsigned long long)seed);
  pc_txpool_destroy(p);
}

/* A signed transaction with args_len argument bytes (fill), into buf. */
static size_t build_big(uint8_t *buf, size_t cap, unsigned sender, uint64_t nonce, uint32_t args_len, uint8_t fill) {
  static uint8_t args[8192];
  cr_assert_leq(args_len, sizeof args);
  memset(args, fill, args_len);
  pc_client_key_t k;
  tt_key(&k, sender);
  pc_client_tx_t c = {.chain_id = TT_CHAIN, .nonce = nonce, .contract = "token", .method = "store",
                      .args = args, .args_len = args_len};
  int n = pc_client_tx_build(buf, cap, &k, &c, NULL);
  cr_assert_gt(n, 0);
  return (size_t)n;
}

Test(wait, small_and_large_transactions_alternate_through_a_worker) {
  /* small messages are recycled, large ones (args of 900-6000 bytes, past
   * the recycled size) allocated each time; a forged large one is refused
   * as a bad signature; rounds reuse the recycled messages */
  pc_txpool_t *p = make_pool(1);
  static uint8_t buf[16384];
  uint64_t nonce = 0, good = 0, good_large = 0;
  for (unsigned round = 0; round < 3; round++) {
    for (unsigned i = 0; i < 40; i++) {
      uint32_t args = i % 2 ? 900 + 128 * i : (uint32_t)i;
      size_t len = build_big(buf, sizeof buf, 4, nonce, args, (uint8_t)(round + i));
      bool forge = i % 10 == 7;
      if (forge) buf[len - 1] ^= 1; /* the signature's last byte */
      else nonce++, good++, good_large += len > 1024;
      cr_assert_eq(pc_txpool_submit(p, buf, len, PC_ORIGIN_CLIENT, NULL, NULL), 0, "round %u tx %u", round, i);
    }
    pc_txpool_drain(p);
    cr_assert_eq(stats(p).admitted, good, "round %u", round);
  }
  pc_txpool_stats_t st = stats(p);
  cr_assert_eq(st.rejected[PC_TXR_BAD_SIGNATURE], 12);
  cr_assert_eq(st.verified, 120, "each verified once");
  /* what was admitted is the bytes submitted: every transaction the pool
   * cuts still decodes and verifies, the large ones among them */
  size_t cap = 1u << 20, pos = 0, n;
  uint8_t *batch = malloc(cap);
  cr_assert_not_null(batch);
  pc_writer_t w;
  pc_writer_init(&w, batch, cap);
  pc_batch_limits_t lim = {.max_count = 1000, .max_bytes = cap, .max_wait_ns = 0};
  cr_assert_eq(pc_mempool_cut(pc_txpool_mempool(p), 0, 1, &lim, 0, true, &w), (int)good);
  const uint8_t *t;
  unsigned large = 0;
  while ((t = pc_batch_next(batch, w.len, &pos, &n))) {
    pc_tx_t tx;
    cr_assert_eq(pc_tx_decode(t, n, &tx), 0);
    cr_assert_eq(pc_tx_verify(&tx), 0);
    large += n > 1024;
  }
  cr_assert_eq(large, good_large);
  cr_assert_gt(large, 0);
  free(batch);
  pc_txpool_destroy(p);
}

Test(wait, worker_stats_add_up_to_the_pool_stats) {
  pc_txpool_t *p = make_pool(2);
  for (unsigned i = 0; i < 20; i++) submit_ok(p, 5, i);
  pc_txpool_drain(p);
  uint64_t v0, c0, v1, c1, v, c;
  cr_assert_eq(pc_txpool_worker_stats(p, 0, &v0, &c0), 0);
  cr_assert_eq(pc_txpool_worker_stats(p, 1, &v1, &c1), 0);
  cr_assert_eq(pc_txpool_worker_stats(p, 2, &v, &c), PC_ERR_INVALID);
  cr_assert_eq(v0 + v1, 20);
  cr_assert_eq(stats(p).verified, 20);
  cr_assert(c0 > 0 || c1 > 0, "twenty Ed25519 verifications cost CPU time");
  pc_txpool_destroy(p);
  p = make_pool(0);
  cr_assert_eq(pc_txpool_worker_stats(p, 0, &v, &c), PC_ERR_INVALID, "inline: no worker");
  pc_txpool_destroy(p);
}
