/* Gateway wire codec: round trips and every rejection path of the request
 * decoder, receipt branches against the executor's receipts root. */
#include <criterion/criterion.h>
#include <string.h>

#include "executor/executor.h"
#include "node/gateway/gateway.h"
#include "tests/testutil.h"

static uint8_t buf[1 << 16];
static pc_gw_request_t q;

static uint64_t rejects(void) { return pc_reject_count(PC_DEC_GATEWAY, 1); }

static long make_tx_frame(uint32_t id, unsigned n, uint32_t txlen) {
  static uint8_t tx[PC_TX_MIN_SIZE + 64];
  const uint8_t *txs[4];
  uint32_t lens[4];
  memset(tx, 0xab, sizeof tx);
  for (unsigned i = 0; i < n; i++) {
    txs[i] = tx;
    lens[i] = txlen;
  }
  return pc_gw_enc_submit(buf, sizeof buf, id, txs, lens, n);
}

Test(gw_codec, submit_round_trip) {
  long n = make_tx_frame(7, 3, PC_TX_MIN_SIZE);
  cr_assert_gt(n, 0);
  cr_assert_eq(pc_gw_request_decode(buf, (size_t)n, PC_GW_FRAME_DEFAULT_MAX, &q), 0);
  cr_assert_eq(q.type, PC_GW_REQ_SUBMIT);
  cr_assert_eq(q.id, 7);
  cr_assert_eq(q.n_txs, 3);
  cr_assert_eq(q.tx_lens[2], PC_TX_MIN_SIZE);
}

Test(gw_codec, wait_query_status_follow_round_trip) {
  pc_hash_t h;
  memset(h.b, 0x11, sizeof h.b);
  long n = pc_gw_enc_wait(buf, sizeof buf, 9, &h, 1234);
  cr_assert_eq(pc_gw_request_decode(buf, (size_t)n, PC_GW_FRAME_DEFAULT_MAX, &q), 0);
  cr_assert(pc_hash_equal(&q.tx_hash, &h));
  cr_assert_eq(q.timeout_ms, 1234);
  n = pc_gw_enc_query(buf, sizeof buf, 10, 42, "abc", 3);
  cr_assert_eq(pc_gw_request_decode(buf, (size_t)n, PC_GW_FRAME_DEFAULT_MAX, &q), 0);
  cr_assert_eq(q.height, 42);
  cr_assert_eq(q.key_len, 3);
  cr_assert_eq(memcmp(q.key, "abc", 3), 0);
  n = pc_gw_enc_status(buf, sizeof buf, 11);
  cr_assert_eq(pc_gw_request_decode(buf, (size_t)n, PC_GW_FRAME_DEFAULT_MAX, &q), 0);
  cr_assert_eq(q.type, PC_GW_REQ_STATUS);
  n = pc_gw_enc_follow(buf, sizeof buf, 12, 99);
  cr_assert_eq(pc_gw_request_decode(buf, (size_t)n, PC_GW_FRAME_DEFAULT_MAX, &q), 0);
  cr_assert_eq(q.from_height, 99);
}

Test(gw_codec, every_truncation_rejected) {
  long n = make_tx_frame(1, 2, PC_TX_MIN_SIZE + 3);
  for (long cut = 0; cut < n; cut++) {
    uint64_t before = rejects();
    cr_assert_lt(pc_gw_request_decode(buf, (size_t)cut, PC_GW_FRAME_DEFAULT_MAX, &q), 0, "cut %ld", cut);
    cr_assert_eq(rejects(), before + 1, "cut %ld not counted", cut);
  }
}

Test(gw_codec, oversized_frame_rejected) {
  pc_store_le32(buf, 5000);
  cr_assert_eq(pc_gw_frame_length(buf, 4, 4096), PC_ERR_TOO_LARGE);
  cr_assert_eq(pc_gw_frame_length(buf, 4, 5000), 5004);
  pc_store_le32(buf, 4);
  cr_assert_eq(pc_gw_frame_length(buf, 4, 4096), PC_ERR_INVALID);
}

Test(gw_codec, unknown_type_rejected) {
  long n = pc_gw_enc_status(buf, sizeof buf, 1);
  for (unsigned t = 0; t < 256; t++) {
    if (t >= PC_GW_REQ_SUBMIT && t <= PC_GW_REQ_FOLLOW) continue;
    buf[4] = (uint8_t)t;
    uint64_t before = rejects();
    cr_assert_eq(pc_gw_request_decode(buf, (size_t)n, PC_GW_FRAME_DEFAULT_MAX, &q), PC_ERR_INVALID);
    cr_assert_eq(rejects(), before + 1);
  }
}

Test(gw_codec, trailing_byte_rejected) {
  long n = pc_gw_enc_status(buf, sizeof buf, 1);
  buf[n] = 0;
  pc_store_le32(buf, pc_load_le32(buf) + 1);
  cr_assert_eq(pc_gw_request_decode(buf, (size_t)n + 1, PC_GW_FRAME_DEFAULT_MAX, &q), PC_ERR_TRAILING);
}

Test(gw_codec, submit_zero_and_too_many_rejected) {
  long n = make_tx_frame(1, 1, PC_TX_MIN_SIZE);
  pc_store_le16(buf + PC_GW_HDR_SIZE, 0);
  cr_assert_eq(pc_gw_request_decode(buf, (size_t)n, PC_GW_FRAME_DEFAULT_MAX, &q), PC_ERR_INVALID);
  pc_store_le16(buf + PC_GW_HDR_SIZE, PC_GW_SUBMIT_MAX + 1);
  cr_assert_eq(pc_gw_request_decode(buf, (size_t)n, PC_GW_FRAME_DEFAULT_MAX, &q), PC_ERR_TOO_LARGE);
}

Test(gw_codec, submit_short_tx_rejected) {
  long n = make_tx_frame(1, 1, PC_TX_MIN_SIZE - 1);
  cr_assert_eq(pc_gw_request_decode(buf, (size_t)n, PC_GW_FRAME_DEFAULT_MAX, &q), PC_ERR_INVALID);
}

Test(gw_codec, wait_timeout_above_max_rejected) {
  pc_hash_t h = {{0}};
  cr_assert_eq(pc_gw_enc_wait(buf, sizeof buf, 1, &h, PC_GW_WAIT_MAX_MS + 1), PC_ERR_RANGE);
  long n = pc_gw_enc_wait(buf, sizeof buf, 1, &h, 0);
  pc_store_le32(buf + PC_GW_HDR_SIZE + 32, PC_GW_WAIT_MAX_MS + 1);
  cr_assert_eq(pc_gw_request_decode(buf, (size_t)n, PC_GW_FRAME_DEFAULT_MAX, &q), PC_ERR_RANGE);
}

Test(gw_codec, query_empty_and_long_key_rejected) {
  long n = pc_gw_enc_query(buf, sizeof buf, 1, 0, "k", 1);
  pc_store_le16(buf + PC_GW_HDR_SIZE + 8, 0);
  pc_store_le32(buf, pc_load_le32(buf) - 1);
  cr_assert_eq(pc_gw_request_decode(buf, (size_t)n - 1, PC_GW_FRAME_DEFAULT_MAX, &q), PC_ERR_INVALID);
  static uint8_t key[PC_GW_KEY_MAX + 1];
  cr_assert_eq(pc_gw_enc_query(buf, sizeof buf, 1, 0, key, sizeof key), PC_ERR_TOO_LARGE);
  n = pc_gw_enc_query(buf, sizeof buf, 1, 0, key, PC_GW_KEY_MAX);
  pc_store_le16(buf + PC_GW_HDR_SIZE + 8, PC_GW_KEY_MAX + 1);
  cr_assert_eq(pc_gw_request_decode(buf, (size_t)n, PC_GW_FRAME_DEFAULT_MAX, &q), PC_ERR_TOO_LARGE);
}

Test(gw_codec, response_round_trips) {
  static pc_gw_response_t r;
  int codes[3] = {0, PC_ERR_SIGNATURE, PC_ERR_NONCE};
  long n = pc_gw_enc_submit_rsp(buf, sizeof buf, 5, codes, 3);
  cr_assert_eq(pc_gw_response_decode(buf, (size_t)n, PC_GW_ANSWER_MAX, &r), 0);
  cr_assert_eq(r.n_codes, 3);
  cr_assert_eq(r.codes[1], PC_ERR_SIGNATURE);
  cr_assert_eq(r.codes[2], PC_ERR_NONCE);
  pc_gw_status_t s = {.chain_id = 9, .replica = 2, .n = 4, .depth = 2, .decided_height = 10, .healthy = true};
  n = pc_gw_enc_status_rsp(buf, sizeof buf, 6, &s);
  cr_assert_eq(pc_gw_response_decode(buf, (size_t)n, PC_GW_ANSWER_MAX, &r), 0);
  cr_assert_eq(r.status.decided_height, 10);
  cr_assert(r.status.healthy);
  n = pc_gw_enc_error_rsp(buf, sizeof buf, 7, PC_ERR_FULL, "busy");
  cr_assert_eq(pc_gw_response_decode(buf, (size_t)n, PC_GW_ANSWER_MAX, &r), 0);
  cr_assert_eq(r.code, PC_ERR_FULL);
  cr_assert_str_eq(r.msg, "busy");
  n = pc_gw_enc_receipt_rsp(buf, sizeof buf, 8, PC_ERR_TIMEOUT, NULL);
  cr_assert_eq(pc_gw_response_decode(buf, (size_t)n, PC_GW_ANSWER_MAX, &r), 0);
  cr_assert_eq(r.code, PC_ERR_TIMEOUT);
  /* a code outside the error range is refused */
  buf[PC_GW_HDR_SIZE] = 5;
  cr_assert_eq(pc_gw_response_decode(buf, (size_t)n, PC_GW_ANSWER_MAX, &r), PC_ERR_RANGE);
}

Test(gw_codec, txstatus_round_trips) {
  static pc_gw_response_t r;
  long n = pc_gw_enc_txstatus_rsp(buf, sizeof buf, 9, PC_ERR_NONCE, PC_GW_TX_REJECTED, 0, "nonce_used");
  cr_assert_gt(n, 0);
  cr_assert_eq(pc_gw_response_decode(buf, (size_t)n, PC_GW_ANSWER_MAX, &r), 0);
  cr_assert_eq(r.type, PC_GW_RSP_TXSTATUS);
  cr_assert_eq(r.id, 9);
  cr_assert_eq(r.code, PC_ERR_NONCE);
  cr_assert_eq(r.tx_status, PC_GW_TX_REJECTED);
  cr_assert_str_eq(r.msg, "nonce_used");
  n = pc_gw_enc_txstatus_rsp(buf, sizeof buf, 10, PC_ERR_NOT_FOUND, PC_GW_TX_NOT_HELD, 4242, NULL);
  cr_assert_eq(pc_gw_response_decode(buf, (size_t)n, PC_GW_ANSWER_MAX, &r), 0);
  cr_assert_eq(r.tx_status, PC_GW_TX_NOT_HELD);
  cr_assert_eq(r.held_from, 4242);
  cr_assert_str_eq(r.msg, "");
}

Test(gw_codec, txstatus_bad_status_or_code_rejected) {
  static pc_gw_response_t r;
  /* the encoder refuses what the decoder would */
  cr_assert_eq(pc_gw_enc_txstatus_rsp(buf, sizeof buf, 1, 0, PC_GW_TX_REJECTED, 0, "x"), PC_ERR_RANGE);
  cr_assert_eq(pc_gw_enc_txstatus_rsp(buf, sizeof buf, 1, PC_ERR_FULL, 0, 0, "x"), PC_ERR_RANGE);
  cr_assert_eq(pc_gw_enc_txstatus_rsp(buf, sizeof buf, 1, PC_ERR_FULL, 3, 0, "x"), PC_ERR_RANGE);
  cr_assert_eq(pc_gw_enc_txstatus_rsp(buf, sizeof buf, 1, -PC_ERR_COUNT, PC_GW_TX_REJECTED, 0, "x"), PC_ERR_RANGE);
  long n = pc_gw_enc_txstatus_rsp(buf, sizeof buf, 1, PC_ERR_FULL, PC_GW_TX_REJECTED, 0, "pool_full");
  cr_assert_gt(n, 0);
  uint64_t before = rejects();
  buf[PC_GW_HDR_SIZE + 1] = 0; /* status 0 */
  cr_assert_eq(pc_gw_response_decode(buf, (size_t)n, PC_GW_ANSWER_MAX, &r), PC_ERR_RANGE);
  buf[PC_GW_HDR_SIZE + 1] = 7; /* unknown status */
  cr_assert_eq(pc_gw_response_decode(buf, (size_t)n, PC_GW_ANSWER_MAX, &r), PC_ERR_RANGE);
  buf[PC_GW_HDR_SIZE + 1] = PC_GW_TX_REJECTED;
  buf[PC_GW_HDR_SIZE] = 0; /* code 0: a status without a reason */
  cr_assert_eq(pc_gw_response_decode(buf, (size_t)n, PC_GW_ANSWER_MAX, &r), PC_ERR_RANGE);
  cr_assert_eq(rejects(), before + 3, "TXSTATUS rejections not counted");
  buf[PC_GW_HDR_SIZE] = (uint8_t)(int8_t)PC_ERR_FULL;
  for (long cut = 4; cut < n; cut++) /* every truncation */
    cr_assert_lt(pc_gw_response_decode(buf, (size_t)cut, PC_GW_ANSWER_MAX, &r), 0, "cut %ld", cut);
}

/* Receipt branches reproduce the executor's receipts root for every
 * position in trees of 1..N leaves, and a wrong branch length is refused. */
Test(gw_codec, receipt_branch_matches_executor_root) {
  uint64_t seed = pc_test_seed(77), st = seed;
  unsigned max = 1 + pc_test_iters(40);
  static pc_receipt_t rs[64];
  static uint8_t outs[64][8];
  static uint8_t enc[64][64];
  static pc_hash_t leaves[64];
  int elen[64];
  for (unsigned count = 1; count <= max && count <= 64; count++) {
    for (unsigned i = 0; i < count; i++) {
      uint64_t v = pc_test_rand(&st);
      memcpy(outs[i], &v, 8);
      rs[i] = (pc_receipt_t){.status = (uint8_t)(v & 1), .budget_used = v >> 8, .output = {outs[i], 8}};
      elen[i] = pc_receipt_encode(&rs[i], enc[i], sizeof enc[i]);
      cr_assert_gt(elen[i], 0);
      pc_hash_tagged(&leaves[i], "parachain/receipt", enc[i], (size_t)elen[i]);
    }
    pc_hash_t root;
    cr_assert_eq(pc_receipts_root(rs, count, &root), 0);
    for (unsigned i = 0; i < count; i++) {
      pc_hash_t br[PC_GW_BRANCH_MAX], got;
      int nb = pc_gw_receipt_branch(leaves, count, i, br);
      cr_assert_geq(nb, 0);
      cr_assert_eq(pc_gw_receipt_root_from_branch(enc[i], (size_t)elen[i], i, count, br, (unsigned)nb, &got), 0);
      cr_assert(pc_hash_equal(&got, &root), "seed %llu count %u index %u", (unsigned long long)seed, count, i);
      if (nb > 0)
        cr_assert_eq(pc_gw_receipt_root_from_branch(enc[i], (size_t)elen[i], i, count, br, (unsigned)nb - 1, &got),
                     PC_ERR_INVALID);
    }
  }
}
