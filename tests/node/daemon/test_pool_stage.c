/* test_pool_stage.c — the pool stage (node/node_pool.c) on its own, driven
 * through its queues the way the consensus stage drives it: which batch it
 * answers for which height.
 *
 * The case that matters is PBFT after a view change. The old primary cut
 * heights this replica never answered; they may still be decided (the new
 * primary re-proposes prepared batches without asking the pool). If the
 * new primary cut the same senders for a higher height, both copies would
 * be decided (seen once in CI: 2009 transactions executed of 1985
 * submitted). So a height gets a cut only when every undecided height
 * below it was answered here. One replica, no threads: the test thread
 * plays the consensus stage and the clock. */
#include <criterion/criterion.h>
#include <string.h>
#include <urcu.h>

#include "node/node_int_private.h"
#include "tests/txpool/txtest.h"

static pc_node_t N;
static void *P;
static pc_stage_def_t S;

/* The queues the pool stage reads and writes. */
static node_q_t *const QUEUES[] = {&N.client2pool, &N.cons2pool, &N.pool2cons, &N.pool2net, &N.net2pool};
#define NQUEUES (sizeof QUEUES / sizeof QUEUES[0])

/* Mempool capacity for the next open_stage (0 = the default). */
static uint32_t pool_max_txs;

static void open_stage(uint8_t protocol) {
  rcu_register_thread();
  memset(&N, 0, sizeof N);
  N.o.pool_max_txs = pool_max_txs;
  N.cp = (node_cons_params_t){.protocol = protocol,
                              .n = 4,
                              .f = 1,
                              .id = 1,
                              .chain_id = TT_CHAIN,
                              .window = 4,
                              .checkpoint_interval = 1000,
                              .batch_size = 1,
                              .batch_bytes = 1 << 16};
  N.cluster.batch_wait_ns = 0; /* cut at once, even one transaction */
  N.o.verify_workers = 0;      /* transactions arrive verified (as from the gateway) */
  for (size_t i = 0; i < NQUEUES; i++) cr_assert_eq(node_q_init(QUEUES[i], "t", 1024, true), 0);
  cr_assert_eq(node_sig_init(&N), 0);
  N.rs = node_rs_new(8, 64, 1 << 20); /* never opened: every sender's nonce reads 0 */
  N.refused = node_refused_new(0);
  cr_assert(N.rs && N.refused);
  pthread_mutex_init(&N.st_mu, NULL);
  P = node_pool_new(&N);
  cr_assert_not_null(P);
  S = node_pool_stage(P);
  cr_assert_eq(S.init(S.ctx), 0);
}

static void drain(node_q_t *q) {
  node_msg_t *m;
  while ((m = node_q_pop(q)) != NULL) free(m);
}

static void close_stage(void) {
  S.fini(S.ctx);
  node_pool_free(P);
  for (size_t i = 0; i < NQUEUES; i++) {
    drain(QUEUES[i]);
    node_q_fini(QUEUES[i]);
  }
  node_rs_free(N.rs);
  node_refused_free(N.refused);
  node_sig_fini(&N);
  pthread_mutex_destroy(&N.st_mu);
  rcu_unregister_thread();
}

/* Two senders' first transactions (senders 1 and 2, nonce 0). */
static tt_tx_t A, B;

/* Fixture: a PBFT replica's pool stage, A and B signed. */
static void open_pbft(void) {
  open_stage(PC_PROTO_PBFT);
  tt_sign(&A, 1, 0, 1000000, 0);
  tt_sign(&B, 2, 0, 1000000, 0);
}

/* Fixture: a PBFT replica's pool stage that holds at most 10 transactions. */
static void open_pbft_small(void) {
  pool_max_txs = 10;
  open_stage(PC_PROTO_PBFT);
  pool_max_txs = 0;
}

static void poll_stage(void) {
  for (int i = 0; i < 4; i++) S.poll(S.ctx, pc_now_ns());
}

/* A client's transaction, already verified, as the gateway hands it in. */
static void submit(const tt_tx_t *t) {
  node_msg_t *m = node_msg_new(NM_CLIENT_TX, 0, 1, t->raw, t->len, NULL, 0);
  cr_assert_not_null(m);
  node_q_push(&N.client2pool, m);
  poll_stage();
}

typedef struct {
  uint8_t b[4096];
  size_t len;
} batch_t;

/* Consensus asks for height h's batch; returns the pool's answer. */
static batch_t ask(uint64_t h) {
  node_msg_t *m = node_msg_new(NM_NEED_BATCH, 0, h, NULL, 0, NULL, 0);
  cr_assert_not_null(m);
  node_q_push(&N.cons2pool, m);
  poll_stage();
  node_msg_t *r = node_q_pop(&N.pool2cons);
  cr_assert_not_null(r, "no answer for height %llu", (unsigned long long)h);
  cr_assert_eq(r->kind, NM_BATCH);
  cr_assert_eq(r->a, h);
  batch_t b = {.len = r->len};
  cr_assert_leq(r->len, sizeof b.b);
  memcpy(b.b, r->data, r->len);
  free(r);
  cr_assert_null(node_q_pop(&N.pool2cons), "one answer per request");
  return b;
}

/* Consensus reports height h decided with batch b. */
static void decide(uint64_t h, const batch_t *b) {
  node_msg_t *m = node_msg_new(NM_POOL_DECIDED, 0, h, b->b, b->len, NULL, 0);
  cr_assert_not_null(m);
  node_q_push(&N.cons2pool, m);
  poll_stage();
}

static batch_t batch_of(const tt_tx_t *t) {
  batch_t b;
  pc_writer_t w;
  pc_writer_init(&w, b.b, sizeof b.b);
  if (t) pc_batch_append(&w, t->raw, t->len);
  b.len = w.len;
  return b;
}

static bool carries(const batch_t *b, const tt_tx_t *t) {
  return memmem(b->b, b->len, t->raw, t->len) != NULL;
}

Test(pool_stage, pbft_primary_in_a_stable_view_cuts_every_height_it_is_asked, .init = open_pbft,
     .fini = close_stage) {
  submit(&A);
  submit(&B);
  batch_t h1 = ask(1), h2 = ask(2); /* one transaction per batch */
  cr_assert(carries(&h1, &A) != carries(&h1, &B), "height 1 carries one of the two");
  cr_assert(carries(&h2, &A) != carries(&h2, &B), "height 2 carries the other");
  cr_assert(carries(&h1, &A) != carries(&h2, &A));
  batch_t again = ask(2); /* asked again (new view): the same batch */
  cr_assert(again.len == h2.len && memcmp(again.b, h2.b, h2.len) == 0);
}

Test(pool_stage, pbft_new_primary_cuts_nothing_above_a_height_the_old_primary_cut, .init = open_pbft,
     .fini = close_stage) {
  submit(&A);
  submit(&B);
  /* The old primary cut height 1 (with A) before the view change; this
   * replica, now primary, is first asked for height 2. Cutting A (or any
   * sender) here could decide A twice. */
  batch_t h2 = ask(2);
  cr_assert_eq(h2.len, 0, "height 2 must be empty while height 1 (cut elsewhere) is undecided");
  batch_t h2again = ask(2);
  cr_assert_eq(h2again.len, 0, "asked again: empty again");
  /* Height 1 is decided as the old primary proposed it, height 2 empty. */
  batch_t d1 = batch_of(&A), empty = batch_of(NULL);
  decide(1, &d1);
  decide(2, &empty);
  /* Every height below 3 is decided: the pool cuts again, and A (decided
   * at height 1) is not cut a second time. */
  batch_t h3 = ask(3);
  cr_assert(carries(&h3, &B), "height 3 carries the transaction still pending");
  cr_assert(!carries(&h3, &A), "the transaction decided at height 1 is not cut again");
}

Test(pool_stage, pbft_height_above_an_answered_one_is_cut, .init = open_pbft, .fini = close_stage) {
  submit(&A);
  /* Height 1 answered here (with A); B arrives; height 2 may be cut at once
   * — A is kept out of it by the per-sender cut rule, B goes in. */
  batch_t h1 = ask(1);
  cr_assert(carries(&h1, &A));
  submit(&B);
  batch_t h2 = ask(2);
  cr_assert(carries(&h2, &B) && !carries(&h2, &A));
}

/* Backpressure reaches the submitters: above the pool's high-water mark
 * (90%) node_submit refuses at once with PC_ERR_FULL (the gateway asks
 * before it checks a signature), and takes transactions again once a
 * decided height has drained the pool below it. */
Test(pool_stage, submissions_are_refused_above_the_pools_high_water_mark, .init = open_pbft_small,
     .fini = close_stage) {
  tt_tx_t t[10];
  for (unsigned i = 0; i < 10; i++) tt_sign(&t[i], 10 + i, 0, 1000000, 0);
  for (unsigned i = 0; i < 8; i++) {
    cr_assert_eq(node_submit(&N, t[i].raw, t[i].len, true), 0);
    poll_stage();
  }
  cr_assert_not(node_pool_full(&N), "8 of 10 held: below the high-water mark");
  cr_assert_eq(node_submit(&N, t[8].raw, t[8].len, true), 0);
  poll_stage();
  cr_assert(node_pool_full(&N), "9 of 10 held: at the high-water mark");
  cr_assert_eq(node_submit(&N, t[9].raw, t[9].len, true), PC_ERR_FULL);
  cr_assert_null(node_q_pop(&N.client2pool), "a refused submission is not queued");

  batch_t h1 = batch_of(&t[0]);
  decide(1, &h1);
  cr_assert_not(node_pool_full(&N), "8 of 10 held again after height 1");
  cr_assert_eq(node_submit(&N, t[9].raw, t[9].len, true), 0);
}
