/* msg.c — the consensus message envelope and the bodies shared by every
 * protocol. The envelope is specified in consensus.h; the shared bodies:
 *
 * DECISION (0x01), header height = the decided height, round = the
 * deciding round/view:
 *   91        block        common/block.h; block.height = header height,
 *                          block.chain_id = header chain id
 *   4 + B     batch        u32 length ≤ PC_BATCH_MAX; pc_batch_hash = block.batch_hash
 *   ...       certificate  common/block.h; its height and chain id equal the
 *                          header's, its digest the block id
 *   nothing may follow.
 *
 * BLOCK_REQ (0x07): 32 block id; nothing may follow. An all-zero id asks
 *   for the DECISION of the header's height (catch-up of a lagging replica).
 * BLOCK (0x08): 91 block (height = header height) ‖ u32 length ‖ batch
 *   (hash = block.batch_hash); nothing may follow.
 *
 * State transfer (0x03–0x06). Not signed: they travel on authenticated
 * point-to-point channels and their content is checked against the
 * checkpoint certificate (manifest hash) and the manifest (chunk hashes).
 * Header height = the checkpoint height h (≥ 1), round = 0 (else
 * PC_ERR_RANGE). Every body starts with the certified manifest hash, which
 * names the snapshot asked for or sent:
 *   MANIFEST_REQ (0x03): 32 manifest hash ‖ u32 offset — the byte offset
 *     of the manifest part wanted, < PC_XFER_MANIFEST_MAX.
 *   MANIFEST (0x04):     32 manifest hash ‖ u32 total ‖ u32 offset ‖
 *     u32 length ‖ bytes. total = the whole manifest's length,
 *     PC_XFER_MANIFEST_MIN..PC_XFER_MANIFEST_MAX; offset < total; length
 *     1..PC_XFER_PART_MAX and offset + length ≤ total. A manifest longer
 *     than one part is sent in parts, each asked for by its offset.
 *   CHUNK_REQ (0x05):    32 manifest hash ‖ u32 index < PC_XFER_CHUNKS_MAX.
 *   CHUNK (0x06):        32 manifest hash ‖ u32 index < PC_XFER_CHUNKS_MAX ‖
 *     u32 length 1..PC_XFER_CHUNK_MAX ‖ bytes (chunk `index` of the
 *     snapshot's data stream, storage/snapshot.c).
 *   Nothing may follow. Codes: truncated PC_ERR_TRUNCATED, bytes left
 *   PC_ERR_TRAILING, a length above its limit PC_ERR_TOO_LARGE, a zero
 *   length PC_ERR_INVALID, any other bound PC_ERR_RANGE; each counted once
 *   under PC_DEC_CONSENSUS.
 *
 * Trailing message signature (consensus.h): the last 64 bytes sign
 *   "parachain/msg/v1" ‖ 0 ‖ message[0 .. len−64).
 * The signer signs the concatenation directly (Ed25519 hashes internally).
 */
#include <stdlib.h>
#include <string.h>

#include "consensus/consensus.h"

#define TAG_MSG "parachain/msg/v1"

void pc_msg_put_header(pc_writer_t *w, const pc_msg_hdr_t *h) {
  pc_put_u8(w, PC_MSG_VERSION);
  pc_put_u8(w, h->type);
  pc_put_u16(w, h->sender);
  pc_put_u64(w, h->chain_id);
  pc_put_u64(w, h->height);
  pc_put_u32(w, h->round);
}

static bool type_registered(uint8_t t) {
  return (t >= PC_MSG_DECISION && t <= PC_MSG_BLOCK) || (t >= PC_MSG_SBFT_FIRST && t <= PC_MSG_PBFT_LAST);
}

int pc_msg_get_header(pc_reader_t *r, const uint8_t *msg, size_t len, uint64_t chain_id, uint16_t n,
                      uint16_t from, pc_msg_hdr_t *h) {
  if (len > PC_MSG_MAX) return pc_cons_reject(PC_ERR_TOO_LARGE);
  pc_reader_init(r, msg, len);
  uint8_t version = pc_get_u8(r);
  h->type = pc_get_u8(r);
  h->sender = pc_get_u16(r);
  h->chain_id = pc_get_u64(r);
  h->height = pc_get_u64(r);
  h->round = pc_get_u32(r);
  if (pc_reader_ok(r)) return pc_cons_reject(pc_reader_ok(r));
  if (version != PC_MSG_VERSION) return pc_cons_reject(PC_ERR_VERSION);
  if (!type_registered(h->type)) return pc_cons_reject(PC_ERR_INVALID);
  if (h->chain_id != chain_id) return pc_cons_reject(PC_ERR_CHAIN);
  if (h->sender >= n || (from != PC_MSG_ANY_SENDER && h->sender != from)) return pc_cons_reject(PC_ERR_RANGE);
  if (h->height == 0) return pc_cons_reject(PC_ERR_RANGE);
  return 0;
}

/* The signed bytes are tag ‖ 0 ‖ body; built in a temporary buffer since
 * the signer interface takes one span. */
static uint8_t *tagged_copy(const uint8_t *p, size_t len, size_t *out_len) {
  size_t t = sizeof TAG_MSG; /* includes the NUL separator */
  uint8_t *buf = malloc(t + len);
  if (!buf) return NULL;
  memcpy(buf, TAG_MSG, t);
  if (len) memcpy(buf + t, p, len);
  *out_len = t + len;
  return buf;
}

void pc_msg_sign_finish(pc_writer_t *w, const pc_signer_t *s) {
  uint8_t sig[PC_SIG_SIZE] = {0};
  if (w->buf && !w->overflow) {
    size_t n;
    uint8_t *buf = tagged_copy(w->buf, w->len, &n);
    if (!buf) {
      w->overflow = true;
      return;
    }
    s->sign(s->ctx, buf, n, sig);
    free(buf);
  }
  pc_put_bytes(w, sig, PC_SIG_SIZE);
}

int pc_msg_verify_trailing(const pc_signer_t *s, uint16_t signer, const uint8_t *msg, size_t len) {
  if (len < PC_MSG_HEADER_SIZE + PC_SIG_SIZE) return PC_ERR_TRUNCATED;
  size_t n;
  uint8_t *buf = tagged_copy(msg, len - PC_SIG_SIZE, &n);
  if (!buf) return PC_ERR_NOMEM;
  int err = s->verify(s->ctx, signer, buf, n, msg + len - PC_SIG_SIZE);
  free(buf);
  return err ? PC_ERR_SIGNATURE : 0;
}

/* ------------------------------------------------------------ DECISION */

void pc_msg_decision_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_msg_decision_t *d) {
  pc_msg_hdr_t h = *hdr;
  h.type = PC_MSG_DECISION;
  pc_msg_put_header(w, &h);
  pc_block_encode(w, &d->block);
  pc_put_blob32(w, d->batch, d->batch_len);
  pc_cert_encode(w, d->cert);
}

static int check_block_batch(const pc_msg_hdr_t *hdr, const pc_block_t *b, const uint8_t *batch, size_t len) {
  if (b->height != hdr->height || b->chain_id != hdr->chain_id) return PC_ERR_RANGE;
  pc_hash_t bh;
  pc_batch_hash(&bh, batch, len);
  if (!pc_hash_equal(&bh, &b->batch_hash)) return PC_ERR_CHECKSUM;
  if (pc_batch_count(batch, len) < 0) return PC_ERR_INVALID;
  return 0;
}

int pc_msg_decision_decode(pc_reader_t *r, const pc_msg_hdr_t *hdr, pc_msg_decision_t *d) {
  int err = pc_block_decode(r, &d->block);
  if (err) return pc_cons_reject(err);
  d->batch = pc_get_blob32(r, PC_BATCH_MAX, &d->batch_len);
  if (pc_reader_ok(r)) return pc_cons_reject(pc_reader_ok(r));
  if ((err = pc_cert_decode(r, d->cert))) return pc_cons_reject(err);
  if ((err = pc_reader_finish(r))) return pc_cons_reject(err);
  if ((err = check_block_batch(hdr, &d->block, d->batch, d->batch_len))) return pc_cons_reject(err);
  pc_hash_t id;
  pc_block_id(&d->block, &id);
  if (d->cert->height != hdr->height || d->cert->chain_id != hdr->chain_id || !pc_hash_equal(&id, &d->cert->digest) ||
      d->cert->kind == PC_CERT_CHECKPOINT || d->cert->kind == PC_CERT_PREPARE)
    return pc_cons_reject(PC_ERR_INVALID);
  return 0;
}

/* ------------------------------------------------------------ BLOCK_REQ / BLOCK */

void pc_msg_block_req_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_hash_t *block_id) {
  pc_msg_hdr_t h = *hdr;
  h.type = PC_MSG_BLOCK_REQ;
  pc_msg_put_header(w, &h);
  pc_put_bytes(w, block_id->b, PC_HASH_SIZE);
}

int pc_msg_block_req_decode(pc_reader_t *r, pc_hash_t *block_id) {
  pc_get_bytes(r, block_id->b, PC_HASH_SIZE);
  int err = pc_reader_finish(r);
  return err ? pc_cons_reject(err) : 0;
}

void pc_msg_block_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_block_t *b, const uint8_t *batch,
                         size_t batch_len) {
  pc_msg_hdr_t h = *hdr;
  h.type = PC_MSG_BLOCK;
  pc_msg_put_header(w, &h);
  pc_block_encode(w, b);
  pc_put_blob32(w, batch, batch_len);
}

int pc_msg_block_decode(pc_reader_t *r, const pc_msg_hdr_t *hdr, pc_block_t *b, const uint8_t **batch,
                        size_t *batch_len) {
  int err = pc_block_decode(r, b);
  if (err) return pc_cons_reject(err);
  *batch = pc_get_blob32(r, PC_BATCH_MAX, batch_len);
  if ((err = pc_reader_finish(r))) return pc_cons_reject(err);
  if ((err = check_block_batch(hdr, b, *batch, *batch_len))) return pc_cons_reject(err);
  return 0;
}

void pc_checkpoint_digest(pc_hash_t *out, uint64_t height, const pc_hash_t *exec_root, const pc_hash_t *manifest) {
  uint8_t buf[8 + 2 * PC_HASH_SIZE];
  pc_store_le64(buf, height);
  memcpy(buf + 8, exec_root->b, PC_HASH_SIZE);
  memcpy(buf + 8 + PC_HASH_SIZE, manifest->b, PC_HASH_SIZE);
  pc_hash_tagged(out, "parachain/checkpoint", buf, sizeof buf);
}

/* ------------------------------------------------------------ state transfer */

bool pc_msg_is_xfer(uint8_t type) { return type >= PC_MSG_MANIFEST_REQ && type <= PC_MSG_CHUNK; }

void pc_msg_xfer_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_msg_xfer_t *x) {
  pc_msg_hdr_t h = *hdr;
  h.round = 0;
  pc_msg_put_header(w, &h);
  pc_put_bytes(w, x->manifest.b, PC_HASH_SIZE);
  switch (h.type) {
  case PC_MSG_MANIFEST:
    pc_put_u32(w, x->total);
    pc_put_u32(w, x->index);
    pc_put_blob32(w, x->data, x->len);
    break;
  case PC_MSG_CHUNK:
    pc_put_u32(w, x->index);
    pc_put_blob32(w, x->data, x->len);
    break;
  default: /* the two requests */
    pc_put_u32(w, x->index);
    break;
  }
}

int pc_msg_xfer_decode(pc_reader_t *r, const pc_msg_hdr_t *hdr, pc_msg_xfer_t *x) {
  memset(x, 0, sizeof *x);
  if (!pc_msg_is_xfer(hdr->type)) return pc_cons_reject(PC_ERR_INVALID);
  if (hdr->round != 0) return pc_cons_reject(PC_ERR_RANGE);
  pc_get_bytes(r, x->manifest.b, PC_HASH_SIZE);
  if (hdr->type == PC_MSG_MANIFEST) x->total = pc_get_u32(r);
  x->index = pc_get_u32(r);
  size_t max = hdr->type == PC_MSG_MANIFEST ? PC_XFER_PART_MAX : PC_XFER_CHUNK_MAX;
  if (hdr->type == PC_MSG_MANIFEST || hdr->type == PC_MSG_CHUNK) {
    x->data = pc_get_blob32(r, max, &x->len);
    if (!pc_reader_ok(r) && x->len == 0) return pc_cons_reject(PC_ERR_INVALID);
  }
  int err = pc_reader_finish(r);
  if (err) return pc_cons_reject(err);
  switch (hdr->type) {
  case PC_MSG_MANIFEST_REQ:
    if (x->index >= PC_XFER_MANIFEST_MAX) return pc_cons_reject(PC_ERR_RANGE);
    break;
  case PC_MSG_MANIFEST:
    if (x->total < PC_XFER_MANIFEST_MIN || x->total > PC_XFER_MANIFEST_MAX || x->index >= x->total ||
        x->len > x->total - x->index)
      return pc_cons_reject(PC_ERR_RANGE);
    break;
  default: /* CHUNK_REQ, CHUNK */
    if (x->index >= PC_XFER_CHUNKS_MAX) return pc_cons_reject(PC_ERR_RANGE);
    break;
  }
  return 0;
}
