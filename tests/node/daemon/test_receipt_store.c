/* test_receipt_store.c — the daemon's receipt store (node/node_rs.c) on
 * its own (and, at the end, the refused-transactions memory of
 * node/node_refused.c): what the gateway answers at which moment (durable, h + D
 * decided), that answers carry a branch to the block's receipts root and a
 * state proof of the right version, and that memory stays bounded (heights
 * and bytes) while the newest D + 2 heights are always kept. Synthetic
 * blocks: headers, an empty certificate, three receipts each, one state
 * key per height. */
#include <criterion/criterion.h>
#include <string.h>
#include <urcu.h>

#include "node/node_int_private.h"

#define D 4
#define PER 3

typedef struct {
  pc_state_t *state;
  node_rs_t *rs;
  pc_hash_t tx[128][PER];
  pc_hash_t rroot[128], sroot[128];
  uint64_t ver[128];
} fx_t;

static fx_t F;

static pc_hash_t tx_hash(uint64_t h, unsigned i) {
  pc_hash_t x;
  uint8_t b[16];
  pc_store_le64(b, h);
  pc_store_le64(b + 8, i);
  pc_hash_tagged(&x, "test/tx", b, sizeof b);
  return x;
}

static void setup(uint32_t max_heights, size_t max_bytes) {
  rcu_register_thread();
  memset(&F, 0, sizeof F);
  F.state = pc_state_new(64);
  cr_assert_not_null(F.state);
  F.rs = node_rs_new(D, max_heights, max_bytes);
  cr_assert_not_null(F.rs);
  cr_assert_eq(node_rs_open(F.rs, F.state), 0);
}

static void teardown(void) {
  node_rs_close(F.rs);
  node_rs_free(F.rs);
  pc_state_free(F.state);
  rcu_unregister_thread();
}

/* Executes (synthetically) and publishes heights from..to. */
static void publish(uint64_t from, uint64_t to) {
  for (uint64_t h = from; h <= to; h++) {
    pc_state_batch_t *b = pc_state_batch_new(F.state);
    uint8_t v[8];
    pc_store_le64(v, h);
    cr_assert_eq(pc_state_batch_put(b, "k", 1, v, 8), 0);
    int64_t ver = pc_state_commit(b, &F.sroot[h]);
    cr_assert_gt(ver, 0);
    cr_assert_eq(pc_state_publish(F.state, (uint64_t)ver), 0);
    F.ver[h] = (uint64_t)ver;
    pc_receipt_t r[PER];
    pc_tx_t t[PER];
    memset(r, 0, sizeof r);
    memset(t, 0, sizeof t);
    for (unsigned i = 0; i < PER; i++) {
      r[i].budget_used = h * 10 + i;
      t[i].hash = F.tx[h][i] = tx_hash(h, i);
    }
    cr_assert_eq(pc_receipts_root(r, PER, &F.rroot[h]), 0);
    pc_block_t hdr = {.chain_id = 9, .height = h, .creator = (uint16_t)(h % 4), .timestamp_us = h};
    pc_hash_pair(&hdr.exec_root, "parachain/exec-root", &F.sroot[h], &F.rroot[h]); /* stand-in */
    pc_hash_t id;
    pc_block_id(&hdr, &id);
    pc_cert_t cert;
    pc_cert_init(&cert, 1, PC_CERT_COMMIT, 9, h, 0, &id, 4);
    uint8_t sig[PC_SIG_SIZE] = {0};
    for (uint16_t k = 0; k < 3; k++) cr_assert_eq(pc_cert_add(&cert, k, sig), 0); /* not verified here */
    uint8_t cb[512];
    pc_writer_t w;
    pc_writer_init(&w, cb, sizeof cb);
    pc_cert_encode(&w, &cert);
    cr_assert_eq(pc_writer_finish(&w), 0);
    node_rs_block_t rb = {.height = h, .header = &hdr, .cert = cb, .cert_len = w.len, .state_version = (uint64_t)ver,
                          .state_root = &F.sroot[h], .receipts_root = &F.rroot[h], .count = PER, .receipts = r,
                          .txs = t};
    cr_assert_eq(node_rs_publish(F.rs, &rb), 0);
  }
}

static pc_gw_receipt_ans_t A;
static uint8_t RBUF[4096];

Test(receipt_store, no_receipt_before_its_block_plus_d_is_in) {
  setup(1024, 1 << 30);
  publish(1, 10);
  node_rs_set_durable(F.rs, 10);
  cr_assert_eq(node_rs_receipt(F.rs, &F.tx[7][0], &A, RBUF, sizeof RBUF), PC_ERR_AGAIN, "7 + D > 10");
  cr_assert_eq(node_rs_receipt(F.rs, &F.tx[6][0], &A, RBUF, sizeof RBUF), 0, "6 + D = 10");
  pc_hash_t unknown = tx_hash(999, 0);
  cr_assert_eq(node_rs_receipt(F.rs, &unknown, &A, RBUF, sizeof RBUF), PC_ERR_AGAIN, "never seen: keep waiting");
  teardown();
}

Test(receipt_store, no_receipt_before_its_block_is_durable) {
  setup(1024, 1 << 30);
  publish(1, 20);
  node_rs_set_durable(F.rs, 5);
  cr_assert_eq(node_rs_receipt(F.rs, &F.tx[6][1], &A, RBUF, sizeof RBUF), PC_ERR_AGAIN);
  node_rs_set_durable(F.rs, 6);
  cr_assert_eq(node_rs_receipt(F.rs, &F.tx[6][1], &A, RBUF, sizeof RBUF), 0);
  uint64_t e, d, p;
  node_rs_heights(F.rs, &e, &d, &p);
  cr_assert_eq(e, 20);
  cr_assert_eq(d, 6);
  cr_assert_eq(p, 6);
  teardown();
}

Test(receipt_store, receipt_answer_leads_to_the_receipts_root_and_certified_header) {
  setup(1024, 1 << 30);
  publish(1, 12);
  node_rs_set_durable(F.rs, 12);
  for (unsigned i = 0; i < PER; i++) {
    cr_assert_eq(node_rs_receipt(F.rs, &F.tx[8][i], &A, RBUF, sizeof RBUF), 0);
    cr_assert_eq(A.height, 8);
    cr_assert_eq(A.index, i);
    cr_assert_eq(A.count, PER);
    pc_hash_t root;
    cr_assert_eq(pc_gw_receipt_root_from_branch(A.receipt, A.receipt_len, A.index, A.count, A.branch, A.n_branch,
                                                &root),
                 0);
    cr_assert(pc_hash_equal(&root, &F.rroot[8]), "branch of receipt %u does not reach the receipts root", i);
    cr_assert(pc_hash_equal(&A.state_root, &F.sroot[8]));
    cr_assert_eq(A.cb.header.height, 8 + D);
    cr_assert_eq(A.cb.cert.height, 8 + D);
    pc_hash_t id;
    pc_block_id(&A.cb.header, &id);
    cr_assert(pc_hash_equal(&id, &A.cb.cert.digest));
  }
  teardown();
}

Test(receipt_store, query_proves_the_version_of_its_height) {
  setup(1024, 1 << 30);
  publish(1, 20);
  node_rs_set_durable(F.rs, 20);
  static pc_gw_query_ans_t q;
  static uint8_t vb[PC_STATE_VALUE_MAX], pb[PC_STATE_PROOF_MAX];
  cr_assert_eq(node_rs_query(F.rs, 11, (const uint8_t *)"k", 1, &q, vb, sizeof vb, pb, sizeof pb), 0);
  cr_assert(q.present);
  cr_assert_eq(q.value_len, 8);
  cr_assert_eq(pc_load_le64(q.value), 11, "the value at height 11, not the latest");
  cr_assert_eq(pc_state_proof_verify(&q.state_root, "k", 1, q.value, q.value_len, q.proof, q.proof_len), 0);
  cr_assert(pc_hash_equal(&q.state_root, &F.sroot[11]));
  cr_assert(pc_hash_equal(&q.receipts_root, &F.rroot[11]));
  cr_assert_eq(q.cb.header.height, 11 + D);
  /* absent key: an exclusion proof */
  cr_assert_eq(node_rs_query(F.rs, 11, (const uint8_t *)"zz", 2, &q, vb, sizeof vb, pb, sizeof pb), 0);
  cr_assert(!q.present);
  cr_assert_eq(pc_state_proof_verify(&q.state_root, "zz", 2, NULL, 0, q.proof, q.proof_len), 0);
  /* height 0 = latest provable = 20 − D */
  cr_assert_eq(node_rs_query(F.rs, 0, (const uint8_t *)"k", 1, &q, vb, sizeof vb, pb, sizeof pb), 0);
  cr_assert_eq(q.height, 20 - D);
  cr_assert_eq(pc_load_le64(q.value), 20 - D);
  /* executed but h + D not in yet; never executed */
  cr_assert_eq(node_rs_query(F.rs, 17, (const uint8_t *)"k", 1, &q, vb, sizeof vb, pb, sizeof pb), PC_ERR_AGAIN);
  cr_assert_eq(node_rs_query(F.rs, 21, (const uint8_t *)"k", 1, &q, vb, sizeof vb, pb, sizeof pb), PC_ERR_NOT_FOUND);
  teardown();
}

Test(receipt_store, heights_beyond_the_bound_are_evicted) {
  setup(16, 1 << 30);
  publish(1, 100);
  node_rs_set_durable(F.rs, 100);
  uint64_t heights, bytes, txs, evicted;
  node_rs_stats(F.rs, &heights, &bytes, &txs, &evicted);
  cr_assert_leq(heights, 16);
  cr_assert_eq(txs, heights * PER);
  cr_assert_eq(evicted, 100 - heights);
  cr_assert(!node_rs_has_tx(F.rs, &F.tx[1][0]));
  cr_assert(node_rs_has_tx(F.rs, &F.tx[100][2]));
  pc_block_t b;
  cr_assert_eq(node_rs_block(F.rs, 50, &b), PC_ERR_NOT_FOUND);
  cr_assert_eq(node_rs_block(F.rs, 100, &b), 0);
  cr_assert_eq(b.height, 100);
  cr_assert_eq(node_rs_receipt(F.rs, &F.tx[96][0], &A, RBUF, sizeof RBUF), 0, "newest heights still answer");
  teardown();
}

Test(receipt_store, byte_budget_keeps_the_newest_d_plus_two) {
  setup(1024, 1); /* a budget no record fits in */
  publish(1, 60);
  node_rs_set_durable(F.rs, 60);
  uint64_t heights, bytes, txs, evicted;
  node_rs_stats(F.rs, &heights, &bytes, &txs, &evicted);
  cr_assert_eq(heights, D + 3, "kept %llu heights", (unsigned long long)heights);
  cr_assert_eq(node_rs_receipt(F.rs, &F.tx[60 - D][0], &A, RBUF, sizeof RBUF), 0,
               "h and h + D are both kept under any budget");
  teardown();
}

Test(receipt_store, a_transaction_seen_twice_keeps_its_first_block) {
  setup(1024, 1 << 30);
  publish(1, 5);
  /* height 6 repeats height 5's first transaction hash */
  pc_state_batch_t *b = pc_state_batch_new(F.state);
  cr_assert_eq(pc_state_batch_put(b, "k", 1, "x", 1), 0);
  pc_hash_t sr, rr;
  int64_t ver = pc_state_commit(b, &sr);
  cr_assert_gt(ver, 0);
  pc_receipt_t r[1];
  pc_tx_t t[1];
  memset(r, 0, sizeof r);
  memset(t, 0, sizeof t);
  r[0].status = PC_TX_BAD_NONCE;
  t[0].hash = F.tx[5][0];
  cr_assert_eq(pc_receipts_root(r, 1, &rr), 0);
  pc_block_t hdr = {.chain_id = 9, .height = 6};
  node_rs_block_t rb = {.height = 6, .header = &hdr, .state_version = (uint64_t)ver, .state_root = &sr,
                        .receipts_root = &rr, .count = 1, .receipts = r, .txs = t};
  cr_assert_eq(node_rs_publish(F.rs, &rb), 0);
  publish(7, 12);
  node_rs_set_durable(F.rs, 12);
  cr_assert_eq(node_rs_receipt(F.rs, &F.tx[5][0], &A, RBUF, sizeof RBUF), 0);
  cr_assert_eq(A.height, 5);
  teardown();
}

/* ------------------------------------------- refused client transactions
 * node_refused.c: what the pool refused after the gateway accepted it,
 * remembered for WAIT (hash → code, reason), cleared by a new accepted
 * submission, bounded (oldest first). */

Test(refused, unknown_hash_is_not_refused) {
  rcu_register_thread();
  node_refused_t *r = node_refused_new(8);
  cr_assert_not_null(r);
  pc_hash_t h = tx_hash(1, 0);
  int code = 1, reason = -1;
  cr_assert_not(node_refused_get(r, &h, &code, &reason));
  cr_assert_eq(code, 1, "untouched when absent");
  node_refused_note(r, &h, 0, 3); /* code 0 is not a refusal: ignored */
  cr_assert_not(node_refused_get(r, &h, NULL, NULL));
  node_refused_free(r);
  rcu_unregister_thread();
}

Test(refused, note_get_clear_and_note_again) {
  rcu_register_thread();
  node_refused_t *r = node_refused_new(8);
  cr_assert_not_null(r);
  pc_hash_t h = tx_hash(2, 0), other = tx_hash(2, 1);
  int code = 0, reason = 0;
  node_refused_note(r, &h, PC_ERR_NONCE, 4);
  cr_assert(node_refused_get(r, &h, &code, &reason));
  cr_assert_eq(code, PC_ERR_NONCE);
  cr_assert_eq(reason, 4);
  cr_assert_not(node_refused_get(r, &other, NULL, NULL));
  /* a newer refusal of the same hash replaces the reason */
  node_refused_note(r, &h, PC_ERR_FULL, 9);
  cr_assert(node_refused_get(r, &h, &code, &reason));
  cr_assert_eq(code, PC_ERR_FULL);
  cr_assert_eq(reason, 9);
  /* an accepted resubmission forgets it; a refusal after that counts again */
  node_refused_clear(r, &h);
  cr_assert_not(node_refused_get(r, &h, NULL, NULL));
  node_refused_note(r, &h, PC_ERR_DUPLICATE, 6);
  cr_assert(node_refused_get(r, &h, &code, &reason));
  cr_assert_eq(code, PC_ERR_DUPLICATE);
  uint64_t noted, answered;
  node_refused_stats(r, &noted, &answered);
  cr_assert_eq(noted, 3);
  cr_assert_eq(answered, 3);
  node_refused_free(r);
  rcu_unregister_thread();
}

Test(refused, every_code_and_reason_kept_exactly) {
  rcu_register_thread();
  node_refused_t *r = node_refused_new(64);
  cr_assert_not_null(r);
  for (int c = 1; c < PC_ERR_COUNT; c++) {
    pc_hash_t h = tx_hash(3, (unsigned)c);
    node_refused_note(r, &h, -c, c % 11);
  }
  for (int c = 1; c < PC_ERR_COUNT; c++) {
    pc_hash_t h = tx_hash(3, (unsigned)c);
    int code = 0, reason = -1;
    cr_assert(node_refused_get(r, &h, &code, &reason));
    cr_assert_eq(code, -c);
    cr_assert_eq(reason, c % 11);
  }
  node_refused_free(r);
  rcu_unregister_thread();
}

Test(refused, bounded_oldest_forgotten_first) {
  rcu_register_thread();
  const unsigned cap = 16;
  node_refused_t *r = node_refused_new(cap);
  cr_assert_not_null(r);
  unsigned total = cap * 3 + 5;
  for (unsigned i = 0; i < total; i++) {
    pc_hash_t h = tx_hash(4, i);
    node_refused_note(r, &h, PC_ERR_FULL, 9);
  }
  for (unsigned i = 0; i < total; i++) {
    pc_hash_t h = tx_hash(4, i);
    bool held = node_refused_get(r, &h, NULL, NULL);
    cr_assert_eq(held, i >= total - cap, "refusal %u: held %d (cap %u of %u)", i, held, cap, total);
  }
  node_refused_free(r);
  rcu_unregister_thread();
}
