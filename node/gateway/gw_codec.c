/* gw_codec.c — the client gateway wire protocol.
 *
 * TCP, a stream of frames in both directions. All integers little-endian.
 *
 * ----------------------------------------------------------------- frame
 *   size  field    rule
 *   4     length   bytes after this field: 5 ≤ length ≤ max_frame (server
 *                  config, default 1 MiB); a larger length closes the
 *                  connection without reading the rest
 *   1     type     pc_gw_type_t; requests 1..5, answers 0x81..0x86, 0x8f
 *   4     id       chosen by the client, echoed in every answer to it
 *   L−5   body     by type, below; must be consumed exactly
 *
 * An i8 "code" is 0 (OK) or a negative PC_ERR_* of common.h (≥ −26).
 * A "certified" block is: block header (91 bytes, common/block.h) of
 * height h + D, then a certificate (common/block.h) on its block id.
 *
 * ------------------------------------------------------------- requests
 *   SUBMIT (1)  u16 n (1..1024); n × (u32 len (PC_TX_MIN_SIZE..PC_TX_MAX),
 *               the transaction bytes of common/tx.h)
 *   WAIT   (2)  32 tx hash; u32 timeout_ms (≤ 600000; 0 = answer now)
 *   QUERY  (3)  u64 height (0 = latest provable); u16 klen (1..1024); key
 *               (the full state key, executor.h key space)
 *   STATUS (4)  empty
 *   FOLLOW (5)  u64 from_height (0 = from the next decided height)
 *
 * --------------------------------------------------------------- answers
 *   SUBMIT  (0x81) u16 n; n × i8 code (one per submitted transaction, in order)
 *   RECEIPT (0x82) i8 code; if 0: u64 height; u32 index; u32 count
 *                  (index < count); u32 rlen (≤ 1 MiB) and the receipt
 *                  encoding (executor.h); u8 nb (≤ 32) and nb × 32 branch
 *                  hashes; 32 state root of height; certified
 *                  (PC_ERR_TIMEOUT when the wait ran out)
 *   QUERY   (0x83) i8 code; if 0: u64 height; u8 present (0|1); u32 vlen
 *                  (≤ 1 MiB, 0 when absent) and value; u32 plen (≤ 64 KiB)
 *                  and the storage state proof; 32 state root; 32 receipts
 *                  root; certified
 *   STATUS  (0x84) u64 chain id; u16 replica; u16 n; u32 D; u64 decided;
 *                  u64 executed; u64 provable; u64 pool; u8 healthy (0|1)
 *   BLOCK   (0x85) u64 height; block header (91) — one per decided height
 *                  after a FOLLOW, with the FOLLOW's id
 *   TXSTATUS (0x86) i8 code (≠ 0: the reason); u8 status (1 = REJECTED:
 *                  the pool refused the transaction after its SUBMIT was
 *                  accepted — pool full, sender quota, nonce used or gap,
 *                  bad signature found later; 2 = NOT_HELD: this replica
 *                  does not hold receipts below `held_from` and does not
 *                  know the hash, ask another replica); u64 held_from (0
 *                  for REJECTED); u16 mlen (≤ 256) and a message (the
 *                  reason's name, e.g. "nonce_used"). Answers a WAIT
 *                  instead of RECEIPT.
 *   ERROR   (0x8f) i8 code; u16 mlen (≤ 256) and a message (request-level
 *                  failure, e.g. too many pending waits)
 *
 * A client verifies a receipt: leaf = hash of the receipt, root from the
 * branch = receipts root; exec root = pc_hash_pair("parachain/exec-root",
 * state root, receipts root) must equal the certified header's exec_root;
 * the header's height is height + D and its id is the certificate's
 * digest, whose signatures verify with a quorum. A query the same way with
 * the state proof against the state root.
 */
#include <stdlib.h>
#include <string.h>

#include "node/gateway/gateway.h"

static int rej(int err) { return pc_reject_note(PC_DEC_GATEWAY, err); }

long pc_gw_frame_length(const uint8_t *buf, size_t len, uint32_t max_frame) {
  if (len < 4) return PC_ERR_TRUNCATED;
  uint32_t l = pc_load_le32(buf);
  if (l > max_frame) return rej(PC_ERR_TOO_LARGE);
  if (l < 5) return rej(PC_ERR_INVALID);
  return (long)l + 4;
}

static int code_ok(int8_t c) { return c <= 0 && c > -PC_ERR_COUNT; }

int pc_gw_request_decode(const uint8_t *buf, size_t len, uint32_t max_frame, pc_gw_request_t *q) {
  long fl = pc_gw_frame_length(buf, len, max_frame);
  if (fl < 0) return fl == PC_ERR_TRUNCATED ? rej((int)fl) : (int)fl;
  if ((size_t)fl != len) return rej(len < (size_t)fl ? PC_ERR_TRUNCATED : PC_ERR_TRAILING);
  pc_reader_t r;
  pc_reader_init(&r, buf + 4, len - 4);
  q->type = pc_get_u8(&r);
  q->id = pc_get_u32(&r);
  q->n_txs = 0;
  q->key = NULL;
  q->key_len = 0;
  switch (q->type) {
  case PC_GW_REQ_SUBMIT: {
    uint16_t n = pc_get_u16(&r);
    if (!pc_reader_ok(&r) && (n == 0 || n > PC_GW_SUBMIT_MAX)) return rej(n ? PC_ERR_TOO_LARGE : PC_ERR_INVALID);
    for (unsigned i = 0; i < n && !pc_reader_ok(&r); i++) {
      size_t tl = 0;
      const uint8_t *t = pc_get_blob32(&r, PC_TX_MAX, &tl);
      if (t && tl < PC_TX_MIN_SIZE) pc_reader_fail(&r, PC_ERR_INVALID);
      q->txs[i] = t;
      q->tx_lens[i] = (uint32_t)tl;
    }
    q->n_txs = n;
    break;
  }
  case PC_GW_REQ_WAIT:
    pc_get_bytes(&r, q->tx_hash.b, PC_HASH_SIZE);
    q->timeout_ms = pc_get_u32(&r);
    if (!pc_reader_ok(&r) && q->timeout_ms > PC_GW_WAIT_MAX_MS) pc_reader_fail(&r, PC_ERR_RANGE);
    break;
  case PC_GW_REQ_QUERY: {
    q->height = pc_get_u64(&r);
    size_t kl = 0;
    q->key = pc_get_blob16(&r, PC_GW_KEY_MAX, &kl);
    if (q->key && kl == 0) pc_reader_fail(&r, PC_ERR_INVALID);
    q->key_len = (uint16_t)kl;
    break;
  }
  case PC_GW_REQ_STATUS:
    break;
  case PC_GW_REQ_FOLLOW:
    q->from_height = pc_get_u64(&r);
    break;
  default:
    return rej(PC_ERR_INVALID);
  }
  int rc = pc_reader_finish(&r);
  return rc ? rej(rc) : 0;
}

uint8_t *pc_gw_frame_begin(pc_writer_t *w, uint8_t type, uint32_t id) {
  uint8_t *p = pc_writer_reserve(w, 4);
  pc_put_u8(w, type);
  pc_put_u32(w, id);
  return p;
}

long pc_gw_frame_end(pc_writer_t *w, uint8_t *prefix) {
  if (pc_writer_finish(w) || !prefix) return PC_ERR_OVERFLOW;
  if (w->len - 4 > UINT32_MAX) return PC_ERR_TOO_LARGE;
  pc_store_le32(prefix, (uint32_t)(w->len - 4));
  return (long)w->len;
}

long pc_gw_enc_submit(uint8_t *out, size_t cap, uint32_t id, const uint8_t *const *txs, const uint32_t *lens,
                      unsigned n) {
  if (n == 0) return PC_ERR_INVALID;
  if (n > PC_GW_SUBMIT_MAX) return PC_ERR_TOO_LARGE;
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t *p = pc_gw_frame_begin(&w, PC_GW_REQ_SUBMIT, id);
  pc_put_u16(&w, (uint16_t)n);
  for (unsigned i = 0; i < n; i++) {
    if (lens[i] > PC_TX_MAX) return PC_ERR_TOO_LARGE;
    pc_put_blob32(&w, txs[i], lens[i]);
  }
  return pc_gw_frame_end(&w, p);
}

long pc_gw_enc_wait(uint8_t *out, size_t cap, uint32_t id, const pc_hash_t *h, uint32_t timeout_ms) {
  if (timeout_ms > PC_GW_WAIT_MAX_MS) return PC_ERR_RANGE;
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t *p = pc_gw_frame_begin(&w, PC_GW_REQ_WAIT, id);
  pc_put_bytes(&w, h->b, PC_HASH_SIZE);
  pc_put_u32(&w, timeout_ms);
  return pc_gw_frame_end(&w, p);
}

long pc_gw_enc_query(uint8_t *out, size_t cap, uint32_t id, uint64_t height, const void *key, size_t klen) {
  if (klen == 0) return PC_ERR_INVALID;
  if (klen > PC_GW_KEY_MAX) return PC_ERR_TOO_LARGE;
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t *p = pc_gw_frame_begin(&w, PC_GW_REQ_QUERY, id);
  pc_put_u64(&w, height);
  pc_put_blob16(&w, key, klen);
  return pc_gw_frame_end(&w, p);
}

long pc_gw_enc_status(uint8_t *out, size_t cap, uint32_t id) {
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t *p = pc_gw_frame_begin(&w, PC_GW_REQ_STATUS, id);
  return pc_gw_frame_end(&w, p);
}

long pc_gw_enc_follow(uint8_t *out, size_t cap, uint32_t id, uint64_t from_height) {
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t *p = pc_gw_frame_begin(&w, PC_GW_REQ_FOLLOW, id);
  pc_put_u64(&w, from_height);
  return pc_gw_frame_end(&w, p);
}

long pc_gw_enc_submit_rsp(uint8_t *out, size_t cap, uint32_t id, const int *codes, unsigned n) {
  if (n > PC_GW_SUBMIT_MAX) return PC_ERR_TOO_LARGE;
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t *p = pc_gw_frame_begin(&w, PC_GW_RSP_SUBMIT, id);
  pc_put_u16(&w, (uint16_t)n);
  for (unsigned i = 0; i < n; i++) pc_put_u8(&w, (uint8_t)(int8_t)(codes[i] > -PC_ERR_COUNT && codes[i] <= 0 ? codes[i] : PC_ERR_INVALID));
  return pc_gw_frame_end(&w, p);
}

static void put_certified(pc_writer_t *w, const pc_gw_certified_t *cb) {
  pc_block_encode(w, &cb->header);
  pc_cert_encode(w, &cb->cert);
}

static void put_code(pc_writer_t *w, int code) {
  if (code > 0 || code <= -PC_ERR_COUNT) code = PC_ERR_INVALID;
  pc_put_u8(w, (uint8_t)(int8_t)code);
}

/* An answer's text: at most PC_GW_MSG_MAX bytes of msg (NULL = empty). */
static void put_msg(pc_writer_t *w, const char *msg) {
  size_t ml = msg ? strlen(msg) : 0;
  pc_put_blob16(w, msg ? msg : "", ml > PC_GW_MSG_MAX ? PC_GW_MSG_MAX : ml);
}

long pc_gw_enc_receipt_rsp(uint8_t *out, size_t cap, uint32_t id, int code, const pc_gw_receipt_ans_t *a) {
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t *p = pc_gw_frame_begin(&w, PC_GW_RSP_RECEIPT, id);
  put_code(&w, code);
  if (code == 0) {
    if (a->receipt_len > PC_GW_RECEIPT_MAX || a->n_branch > PC_GW_BRANCH_MAX) return PC_ERR_TOO_LARGE;
    if (a->index >= a->count) return PC_ERR_RANGE;
    pc_put_u64(&w, a->height);
    pc_put_u32(&w, a->index);
    pc_put_u32(&w, a->count);
    pc_put_blob32(&w, a->receipt, a->receipt_len);
    pc_put_u8(&w, a->n_branch);
    for (unsigned i = 0; i < a->n_branch; i++) pc_put_bytes(&w, a->branch[i].b, PC_HASH_SIZE);
    pc_put_bytes(&w, a->state_root.b, PC_HASH_SIZE);
    put_certified(&w, &a->cb);
  }
  return pc_gw_frame_end(&w, p);
}

long pc_gw_enc_query_rsp(uint8_t *out, size_t cap, uint32_t id, int code, const pc_gw_query_ans_t *a) {
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t *p = pc_gw_frame_begin(&w, PC_GW_RSP_QUERY, id);
  put_code(&w, code);
  if (code == 0) {
    uint32_t vl = a->present ? a->value_len : 0;
    if (vl > PC_GW_VALUE_MAX || a->proof_len > PC_GW_PROOF_MAX) return PC_ERR_TOO_LARGE;
    pc_put_u64(&w, a->height);
    pc_put_u8(&w, a->present ? 1 : 0);
    pc_put_blob32(&w, a->value, vl);
    pc_put_blob32(&w, a->proof, a->proof_len);
    pc_put_bytes(&w, a->state_root.b, PC_HASH_SIZE);
    pc_put_bytes(&w, a->receipts_root.b, PC_HASH_SIZE);
    put_certified(&w, &a->cb);
  }
  return pc_gw_frame_end(&w, p);
}

long pc_gw_enc_status_rsp(uint8_t *out, size_t cap, uint32_t id, const pc_gw_status_t *s) {
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t *p = pc_gw_frame_begin(&w, PC_GW_RSP_STATUS, id);
  pc_put_u64(&w, s->chain_id);
  pc_put_u16(&w, s->replica);
  pc_put_u16(&w, s->n);
  pc_put_u32(&w, s->depth);
  pc_put_u64(&w, s->decided_height);
  pc_put_u64(&w, s->executed_height);
  pc_put_u64(&w, s->provable_height);
  pc_put_u64(&w, s->pool_txs);
  pc_put_u8(&w, s->healthy ? 1 : 0);
  return pc_gw_frame_end(&w, p);
}

long pc_gw_enc_block_rsp(uint8_t *out, size_t cap, uint32_t id, uint64_t height, const pc_block_t *b) {
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t *p = pc_gw_frame_begin(&w, PC_GW_RSP_BLOCK, id);
  pc_put_u64(&w, height);
  pc_block_encode(&w, b);
  return pc_gw_frame_end(&w, p);
}

long pc_gw_enc_error_rsp(uint8_t *out, size_t cap, uint32_t id, int code, const char *msg) {
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t *p = pc_gw_frame_begin(&w, PC_GW_RSP_ERROR, id);
  put_code(&w, code);
  put_msg(&w, msg);
  return pc_gw_frame_end(&w, p);
}

long pc_gw_enc_txstatus_rsp(uint8_t *out, size_t cap, uint32_t id, int code, uint8_t status, uint64_t held_from,
                            const char *msg) {
  if (code >= 0 || code <= -PC_ERR_COUNT || (status != PC_GW_TX_REJECTED && status != PC_GW_TX_NOT_HELD))
    return PC_ERR_RANGE;
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t *p = pc_gw_frame_begin(&w, PC_GW_RSP_TXSTATUS, id);
  put_code(&w, code);
  pc_put_u8(&w, status);
  pc_put_u64(&w, held_from);
  put_msg(&w, msg);
  return pc_gw_frame_end(&w, p);
}

static int get_code(pc_reader_t *r) {
  int8_t c = (int8_t)pc_get_u8(r);
  if (!pc_reader_ok(r) && !code_ok(c)) pc_reader_fail(r, PC_ERR_RANGE);
  return c;
}

static void get_certified(pc_reader_t *r, pc_gw_certified_t *cb) {
  if (pc_reader_ok(r)) return;
  int rc = pc_block_decode(r, &cb->header);
  if (rc) {
    pc_reader_fail(r, rc);
    return;
  }
  rc = pc_cert_decode(r, &cb->cert);
  if (rc) pc_reader_fail(r, rc);
}

static bool get_bool(pc_reader_t *r) {
  uint8_t v = pc_get_u8(r);
  if (v > 1) pc_reader_fail(r, PC_ERR_RANGE);
  return v == 1;
}

int pc_gw_response_decode(const uint8_t *buf, size_t len, uint32_t max_frame, pc_gw_response_t *a) {
  long fl = pc_gw_frame_length(buf, len, max_frame);
  if (fl < 0) return fl == PC_ERR_TRUNCATED ? rej((int)fl) : (int)fl;
  if ((size_t)fl != len) return rej(len < (size_t)fl ? PC_ERR_TRUNCATED : PC_ERR_TRAILING);
  pc_reader_t r;
  pc_reader_init(&r, buf + 4, len - 4);
  a->type = pc_get_u8(&r);
  a->id = pc_get_u32(&r);
  a->code = 0;
  switch (a->type) {
  case PC_GW_RSP_SUBMIT: {
    uint16_t n = pc_get_u16(&r);
    if (n > PC_GW_SUBMIT_MAX) pc_reader_fail(&r, PC_ERR_TOO_LARGE);
    for (unsigned i = 0; i < n && !pc_reader_ok(&r); i++) a->codes[i] = (int8_t)get_code(&r);
    a->n_codes = n;
    break;
  }
  case PC_GW_RSP_RECEIPT: {
    pc_gw_receipt_ans_t *x = &a->receipt;
    a->code = get_code(&r);
    if (a->code || pc_reader_ok(&r)) break;
    x->height = pc_get_u64(&r);
    x->index = pc_get_u32(&r);
    x->count = pc_get_u32(&r);
    if (!pc_reader_ok(&r) && x->index >= x->count) pc_reader_fail(&r, PC_ERR_RANGE);
    size_t rl = 0;
    x->receipt = pc_get_blob32(&r, PC_GW_RECEIPT_MAX, &rl);
    x->receipt_len = (uint32_t)rl;
    x->n_branch = pc_get_u8(&r);
    if (x->n_branch > PC_GW_BRANCH_MAX) pc_reader_fail(&r, PC_ERR_TOO_LARGE);
    for (unsigned i = 0; i < x->n_branch && !pc_reader_ok(&r); i++) pc_get_bytes(&r, x->branch[i].b, PC_HASH_SIZE);
    pc_get_bytes(&r, x->state_root.b, PC_HASH_SIZE);
    get_certified(&r, &x->cb);
    break;
  }
  case PC_GW_RSP_QUERY: {
    pc_gw_query_ans_t *x = &a->query;
    a->code = get_code(&r);
    if (a->code || pc_reader_ok(&r)) break;
    x->height = pc_get_u64(&r);
    x->present = get_bool(&r);
    size_t vl = 0, pl = 0;
    x->value = pc_get_blob32(&r, PC_GW_VALUE_MAX, &vl);
    if (!x->present && vl) pc_reader_fail(&r, PC_ERR_INVALID);
    x->value_len = (uint32_t)vl;
    x->proof = pc_get_blob32(&r, PC_GW_PROOF_MAX, &pl);
    x->proof_len = (uint32_t)pl;
    pc_get_bytes(&r, x->state_root.b, PC_HASH_SIZE);
    pc_get_bytes(&r, x->receipts_root.b, PC_HASH_SIZE);
    get_certified(&r, &x->cb);
    break;
  }
  case PC_GW_RSP_STATUS: {
    pc_gw_status_t *s = &a->status;
    s->chain_id = pc_get_u64(&r);
    s->replica = pc_get_u16(&r);
    s->n = pc_get_u16(&r);
    s->depth = pc_get_u32(&r);
    s->decided_height = pc_get_u64(&r);
    s->executed_height = pc_get_u64(&r);
    s->provable_height = pc_get_u64(&r);
    s->pool_txs = pc_get_u64(&r);
    s->healthy = get_bool(&r);
    break;
  }
  case PC_GW_RSP_BLOCK:
    a->block_height = pc_get_u64(&r);
    if (!pc_reader_ok(&r)) {
      int rc = pc_block_decode(&r, &a->block);
      if (rc) pc_reader_fail(&r, rc);
    }
    break;
  case PC_GW_RSP_TXSTATUS: {
    a->code = get_code(&r);
    a->tx_status = pc_get_u8(&r);
    a->held_from = pc_get_u64(&r);
    size_t ml = 0;
    const uint8_t *m = pc_get_blob16(&r, PC_GW_MSG_MAX, &ml);
    if (m) memcpy(a->msg, m, ml);
    a->msg[m ? ml : 0] = 0;
    if (!pc_reader_ok(&r) && (a->code == 0 || (a->tx_status != PC_GW_TX_REJECTED && a->tx_status != PC_GW_TX_NOT_HELD)))
      pc_reader_fail(&r, PC_ERR_RANGE);
    break;
  }
  case PC_GW_RSP_ERROR: {
    a->code = get_code(&r);
    size_t ml = 0;
    const uint8_t *m = pc_get_blob16(&r, PC_GW_MSG_MAX, &ml);
    if (m) memcpy(a->msg, m, ml);
    a->msg[m ? ml : 0] = 0;
    break;
  }
  default:
    return rej(PC_ERR_INVALID);
  }
  int rc = pc_reader_finish(&r);
  return rc ? rej(rc) : 0;
}

/* ---------------------------------------------------- receipt branches */

int pc_gw_receipt_branch(const pc_hash_t *leaves, uint32_t count, uint32_t index, pc_hash_t *branch) {
  if (count == 0 || index >= count) return PC_ERR_RANGE;
  pc_hash_t *lv = malloc(sizeof *lv * count);
  if (!lv) return PC_ERR_NOMEM;
  memcpy(lv, leaves, sizeof *lv * count);
  int nb = 0;
  size_t pos = index;
  for (size_t m = count; m > 1; m = (m + 1) / 2) {
    size_t sib = pos ^ 1;
    if (sib < m) {
      if (nb == PC_GW_BRANCH_MAX) {
        free(lv);
        return PC_ERR_RANGE;
      }
      branch[nb++] = lv[sib];
    }
    for (size_t i = 0; i < m / 2; i++) pc_hash_pair(&lv[i], "parachain/receipts-node", &lv[2 * i], &lv[2 * i + 1]);
    if (m & 1) lv[m / 2] = lv[m - 1];
    pos /= 2;
  }
  free(lv);
  return nb;
}

int pc_gw_receipt_root_from_branch(const uint8_t *receipt, size_t len, uint32_t index, uint32_t count,
                                   const pc_hash_t *branch, unsigned n_branch, pc_hash_t *root) {
  if (count == 0 || index >= count) return PC_ERR_INVALID;
  pc_hash_t h;
  pc_hash_tagged(&h, "parachain/receipt", receipt, len);
  unsigned used = 0;
  size_t pos = index;
  for (size_t m = count; m > 1; m = (m + 1) / 2) {
    size_t sib = pos ^ 1;
    if (sib < m) {
      if (used == n_branch) return PC_ERR_INVALID;
      pc_hash_t up;
      if (pos & 1)
        pc_hash_pair(&up, "parachain/receipts-node", &branch[used], &h);
      else
        pc_hash_pair(&up, "parachain/receipts-node", &h, &branch[used]);
      h = up;
      used++;
    }
    pos /= 2;
  }
  if (used != n_branch) return PC_ERR_INVALID;
  *root = h;
  return 0;
}
