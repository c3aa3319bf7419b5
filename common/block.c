/* block.c — block, proposal, chain hash and certificate codecs (format in block.h). */
#include <sodium.h>
#include <string.h>

#include "common/block.h"

#define TAG_BLOCK "parachain/block"
#define TAG_CHAIN "parachain/chain"
#define TAG_BATCH "parachain/batch"
#define TAG_CERT "parachain/cert"
#define TAG_VOTE "parachain/vote/v1"

/* ------------------------------------------------------------ block */

void pc_block_encode(pc_writer_t *w, const pc_block_t *b) {
  pc_put_u8(w, PC_BLOCK_VERSION);
  pc_put_u64(w, b->chain_id);
  pc_put_u64(w, b->height);
  pc_put_u16(w, b->creator);
  pc_put_u64(w, b->timestamp_us);
  pc_put_bytes(w, b->exec_root.b, PC_HASH_SIZE);
  pc_put_bytes(w, b->batch_hash.b, PC_HASH_SIZE);
}

int pc_block_decode(pc_reader_t *r, pc_block_t *b) {
  uint8_t version = pc_get_u8(r);
  b->chain_id = pc_get_u64(r);
  b->height = pc_get_u64(r);
  b->creator = pc_get_u16(r);
  b->timestamp_us = pc_get_u64(r);
  pc_get_bytes(r, b->exec_root.b, PC_HASH_SIZE);
  pc_get_bytes(r, b->batch_hash.b, PC_HASH_SIZE);
  if (pc_reader_ok(r)) return pc_reject_note(PC_DEC_BLOCK, pc_reader_ok(r));
  if (version != PC_BLOCK_VERSION) return pc_reject_note(PC_DEC_BLOCK, PC_ERR_VERSION);
  if (b->height == 0 || b->creator >= PC_MAX_REPLICAS) return pc_reject_note(PC_DEC_BLOCK, PC_ERR_RANGE);
  return 0;
}

void pc_block_id(const pc_block_t *b, pc_hash_t *id) {
  uint8_t buf[PC_BLOCK_SIZE];
  pc_writer_t w;
  pc_writer_init(&w, buf, sizeof buf);
  pc_block_encode(&w, b);
  pc_hash_tagged(id, TAG_BLOCK, buf, w.len);
}

void pc_chain_hash(pc_hash_t *out, const pc_hash_t *block_id, const pc_hash_t *prev_chain_hash) {
  pc_hash_pair(out, TAG_CHAIN, block_id, prev_chain_hash);
}

void pc_batch_hash(pc_hash_t *out, const void *batch, size_t len) { pc_hash_tagged(out, TAG_BATCH, batch, len); }

const uint8_t *pc_batch_next(const uint8_t *batch, size_t batch_len, size_t *pos, size_t *len) {
  *len = 0;
  if (*pos >= batch_len || batch_len - *pos < 4) return NULL;
  size_t n = pc_load_le32(batch + *pos);
  if (n > batch_len - *pos - 4) return NULL;
  const uint8_t *tx = batch + *pos + 4;
  *pos += 4 + n;
  *len = n;
  return tx;
}

int pc_batch_count(const uint8_t *batch, size_t len) {
  size_t pos = 0, n;
  int count = 0;
  while (pos < len) {
    if (!pc_batch_next(batch, len, &pos, &n)) return PC_ERR_TRUNCATED;
    if (n == 0) return PC_ERR_INVALID; /* an empty transaction is never valid */
    count++;
  }
  return count;
}

void pc_batch_append(pc_writer_t *w, const void *tx, size_t len) { pc_put_blob32(w, tx, len); }

/* --------------------------------------------------------- proposal */

void pc_proposal_encode(pc_writer_t *w, const pc_proposal_t *p) {
  pc_put_u8(w, PC_PROPOSAL_VERSION);
  pc_put_u32(w, p->round);
  pc_put_u16(w, p->proposer);
  pc_put_blob32(w, p->justification, p->justification_len);
  pc_block_encode(w, &p->block);
  pc_put_blob32(w, p->batch, p->batch_len);
}

int pc_proposal_decode(const void *buf, size_t len, pc_proposal_t *p) {
  pc_reader_t r;
  pc_reader_init(&r, buf, len);
  uint8_t version = pc_get_u8(&r);
  if (!pc_reader_ok(&r) && version != PC_PROPOSAL_VERSION) return pc_reject_note(PC_DEC_PROPOSAL, PC_ERR_VERSION);
  p->round = pc_get_u32(&r);
  p->proposer = pc_get_u16(&r);
  p->justification = pc_get_blob32(&r, PC_JUSTIFICATION_MAX, &p->justification_len);
  if (pc_reader_ok(&r)) return pc_reject_note(PC_DEC_PROPOSAL, pc_reader_ok(&r));
  int err = pc_block_decode(&r, &p->block);
  if (err) return pc_reject_note(PC_DEC_PROPOSAL, err);
  p->batch = pc_get_blob32(&r, PC_BATCH_MAX, &p->batch_len);
  if ((err = pc_reader_finish(&r))) return pc_reject_note(PC_DEC_PROPOSAL, err);
  if (p->proposer >= PC_MAX_REPLICAS) return pc_reject_note(PC_DEC_PROPOSAL, PC_ERR_RANGE);
  pc_hash_t h;
  pc_batch_hash(&h, p->batch, p->batch_len);
  if (!pc_hash_equal(&h, &p->block.batch_hash)) return pc_reject_note(PC_DEC_PROPOSAL, PC_ERR_CHECKSUM);
  if (pc_batch_count(p->batch, p->batch_len) < 0) return pc_reject_note(PC_DEC_PROPOSAL, PC_ERR_INVALID);
  return 0;
}

/* ------------------------------------------------- votes and certificates */

void pc_vote_bytes(uint8_t out[PC_VOTE_BYTES_SIZE], uint64_t chain_id, uint8_t protocol, uint8_t phase,
                   uint64_t height, uint32_t round, const pc_hash_t *digest) {
  pc_writer_t w;
  pc_writer_init(&w, out, PC_VOTE_BYTES_SIZE);
  pc_put_bytes(&w, TAG_VOTE, sizeof TAG_VOTE); /* includes the NUL separator */
  pc_put_u64(&w, chain_id);
  pc_put_u8(&w, protocol);
  pc_put_u8(&w, phase);
  pc_put_u64(&w, height);
  pc_put_u32(&w, round);
  pc_put_bytes(&w, digest->b, PC_HASH_SIZE);
}

uint8_t pc_cert_phase(uint8_t kind) {
  switch (kind) {
  case PC_CERT_PREPARE:
  case PC_CERT_FAST: return PC_PHASE_PREPARE;
  case PC_CERT_COMMIT: return PC_PHASE_COMMIT;
  case PC_CERT_CHECKPOINT: return PC_PHASE_CHECKPOINT;
  default: return 0;
  }
}

void pc_vote_sign(uint8_t sig[PC_SIG_SIZE], const uint8_t seckey[PC_SECKEY_SIZE], uint64_t chain_id,
                  uint8_t protocol, uint8_t phase, uint64_t height, uint32_t round, const pc_hash_t *digest) {
  uint8_t msg[PC_VOTE_BYTES_SIZE];
  pc_vote_bytes(msg, chain_id, protocol, phase, height, round, digest);
  crypto_sign_detached(sig, NULL, msg, sizeof msg, seckey);
}

int pc_vote_verify(const uint8_t sig[PC_SIG_SIZE], const uint8_t pubkey[PC_PUBKEY_SIZE], uint64_t chain_id,
                   uint8_t protocol, uint8_t phase, uint64_t height, uint32_t round, const pc_hash_t *digest) {
  uint8_t msg[PC_VOTE_BYTES_SIZE];
  pc_vote_bytes(msg, chain_id, protocol, phase, height, round, digest);
  return crypto_sign_verify_detached(sig, msg, sizeof msg, pubkey) == 0 ? 0 : PC_ERR_SIGNATURE;
}

void pc_cert_init(pc_cert_t *c, uint8_t protocol, uint8_t kind, uint64_t chain_id, uint64_t height,
                  uint32_t round, const pc_hash_t *digest, uint16_t n) {
  c->protocol = protocol;
  c->kind = kind;
  c->chain_id = chain_id;
  c->height = height;
  c->round = round;
  c->digest = *digest;
  c->n = n;
  memset(c->bitmap, 0, sizeof c->bitmap);
}

/* Bitmap bytes in use. Capped at the array size so a certificate built with
 * an out-of-range n (pc_cert_init does not check) never indexes past it. */
static size_t bitmap_len(const pc_cert_t *c) { return PC_MIN((size_t)(c->n + 7) / 8, sizeof c->bitmap); }

bool pc_cert_has(const pc_cert_t *c, uint16_t i) {
  return i < c->n && i < PC_MAX_REPLICAS && (c->bitmap[i / 8] >> (i % 8)) & 1;
}

unsigned pc_cert_signers(const pc_cert_t *c) {
  unsigned k = 0;
  for (size_t i = 0; i < bitmap_len(c); i++) k += (unsigned)__builtin_popcount(c->bitmap[i]);
  return k;
}

/* Index of replica i's signature in sigs[]: the number of signers below i. */
static unsigned sig_slot(const pc_cert_t *c, uint16_t i) {
  unsigned k = 0;
  for (uint16_t j = 0; j < i; j++) k += pc_cert_has(c, j);
  return k;
}

int pc_cert_add(pc_cert_t *c, uint16_t i, const uint8_t sig[PC_SIG_SIZE]) {
  if (i >= c->n || i >= PC_MAX_REPLICAS) return PC_ERR_RANGE;
  if (pc_cert_has(c, i)) return PC_ERR_DUPLICATE;
  unsigned slot = sig_slot(c, i), total = pc_cert_signers(c);
  memmove(c->sigs[slot + 1], c->sigs[slot], (size_t)(total - slot) * PC_SIG_SIZE);
  memcpy(c->sigs[slot], sig, PC_SIG_SIZE);
  c->bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
  return 0;
}

size_t pc_cert_encoded_size(const pc_cert_t *c) {
  return 1 + 1 + 1 + 8 + 8 + 4 + PC_HASH_SIZE + 2 + bitmap_len(c) + (size_t)pc_cert_signers(c) * PC_SIG_SIZE;
}

/* Everything before the signatures; shared by encode and id. */
static void cert_encode_header(pc_writer_t *w, const pc_cert_t *c) {
  pc_put_u8(w, PC_CERT_VERSION);
  pc_put_u8(w, c->protocol);
  pc_put_u8(w, c->kind);
  pc_put_u64(w, c->chain_id);
  pc_put_u64(w, c->height);
  pc_put_u32(w, c->round);
  pc_put_bytes(w, c->digest.b, PC_HASH_SIZE);
  pc_put_u16(w, c->n);
  pc_put_bytes(w, c->bitmap, bitmap_len(c));
}

void pc_cert_encode(pc_writer_t *w, const pc_cert_t *c) {
  cert_encode_header(w, c);
  pc_put_bytes(w, c->sigs, (size_t)pc_cert_signers(c) * PC_SIG_SIZE);
}

int pc_cert_decode(pc_reader_t *r, pc_cert_t *c) {
  uint8_t version = pc_get_u8(r);
  c->protocol = pc_get_u8(r);
  c->kind = pc_get_u8(r);
  c->chain_id = pc_get_u64(r);
  c->height = pc_get_u64(r);
  c->round = pc_get_u32(r);
  pc_get_bytes(r, c->digest.b, PC_HASH_SIZE);
  c->n = pc_get_u16(r);
  if (pc_reader_ok(r)) return pc_reject_note(PC_DEC_CERT, pc_reader_ok(r));
  if (version != PC_CERT_VERSION) return pc_reject_note(PC_DEC_CERT, PC_ERR_VERSION);
  if ((c->protocol != PC_PROTO_SBFT && c->protocol != PC_PROTO_PBFT) || pc_cert_phase(c->kind) == 0 ||
      c->height == 0 || c->n == 0 || c->n > PC_MAX_REPLICAS)
    return pc_reject_note(PC_DEC_CERT, PC_ERR_RANGE);
  memset(c->bitmap, 0, sizeof c->bitmap);
  size_t blen = (size_t)(c->n + 7) / 8;
  pc_get_bytes(r, c->bitmap, blen);
  if (pc_reader_ok(r)) return pc_reject_note(PC_DEC_CERT, pc_reader_ok(r));
  if (c->n % 8 && (c->bitmap[blen - 1] >> (c->n % 8)))
    return pc_reject_note(PC_DEC_CERT, PC_ERR_INVALID); /* bits beyond n */
  unsigned k = pc_cert_signers(c);
  if (k == 0) return pc_reject_note(PC_DEC_CERT, PC_ERR_QUORUM);
  pc_get_bytes(r, c->sigs, (size_t)k * PC_SIG_SIZE);
  if (pc_reader_ok(r)) return pc_reject_note(PC_DEC_CERT, pc_reader_ok(r));
  return 0;
}

int pc_cert_verify(const pc_cert_t *c, uint64_t chain_id, const uint8_t (*pubkeys)[PC_PUBKEY_SIZE],
                   unsigned n_keys, unsigned min_signers) {
  if (c->chain_id != chain_id) return PC_ERR_CHAIN;
  if (c->n != n_keys) return PC_ERR_RANGE;
  if (pc_cert_signers(c) < min_signers) return PC_ERR_QUORUM;
  uint8_t msg[PC_VOTE_BYTES_SIZE];
  pc_vote_bytes(msg, c->chain_id, c->protocol, pc_cert_phase(c->kind), c->height, c->round, &c->digest);
  unsigned k = 0;
  for (uint16_t i = 0; i < c->n; i++) {
    if (!pc_cert_has(c, i)) continue;
    if (crypto_sign_verify_detached(c->sigs[k], msg, sizeof msg, pubkeys[i]) != 0) return PC_ERR_SIGNATURE;
    k++;
  }
  return 0;
}

void pc_cert_id(const pc_cert_t *c, pc_hash_t *id) {
  uint8_t header[128];
  pc_writer_t w;
  pc_writer_init(&w, header, sizeof header);
  cert_encode_header(&w, c);
  pc_hasher_t h;
  pc_hasher_init_tagged(&h, TAG_CERT);
  pc_hasher_update(&h, header, w.len);
  pc_hasher_update(&h, c->sigs, (size_t)pc_cert_signers(c) * PC_SIG_SIZE);
  pc_hasher_final(&h, id);
}
