/* pbft_msg.c — PBFT's messages. Envelope header as in consensus.h
 * (height = sequence number, round = view); all integers little-endian.
 * A decoder accepts exactly what its encoder writes: no trailing bytes, no
 * unknown flag bits, limits enforced; every rejection is counted with
 * pc_cons_reject (PC_DEC_CONSENSUS) and, by the protocol, in stats.rejected.
 *
 * PRE-PREPARE (0x40), header: height = seq, round = view, sender = the
 * view's primary (view mod n):
 *   64        sig          the primary's PREPARE vote: pc_vote_bytes(chain,
 *                          PBFT, PREPARE, seq, view, block id) — the
 *                          pre-prepare counts as the primary's prepare, so a
 *                          prepared certificate is q prepare signatures
 *   ...       proposal     common/block.h proposal, the rest of the message:
 *                          round = view, proposer = sender, empty
 *                          justification, block.height = seq, block.chain_id
 *                          = chain id, batch ≤ batch_max_bytes and well formed
 *
 * PREPARE (0x41), COMMIT (0x42), header height = seq, round = view:
 *   32        block id
 *   64        vote signature over pc_vote_bytes(chain, PBFT, PREPARE|COMMIT,
 *             seq, view, block id)
 *
 * VIEW-CHANGE (0x43), header height = h_s + 1 where h_s is the sender's
 * stable checkpoint (0 = none yet), round = v, the view entered (≥ 1):
 *   1         flags        bit 0: stable proof follows; set iff h_s > 0;
 *                          other bits 0
 *   [32 + 32 + cert]       exec root ‖ manifest hash ‖ CHECKPOINT certificate
 *                          (PBFT, height h_s, round 0, digest =
 *                          pc_checkpoint_digest(h_s, root, manifest), ≥ q)
 *   2         count        prepared entries, ≤ L (the log size)
 *   count ×   entry        91-byte block ‖ PREPARE certificate (PBFT,
 *                          height = block height = seq, round = the view it
 *                          prepared in < v, digest = block id, ≥ q signers);
 *                          seq strictly increasing, in (h_s, h_s + L]
 *   64        signature    trailing message signature (consensus.h)
 *
 * NEW-VIEW (0x44), header height = 1, round = v, sender = primary(v):
 *   2         vc_count     1..n
 *   vc_count × (u32 len ‖ a whole VIEW-CHANGE message for view v)
 *   2         o_count      ≤ L
 *   o_count × (u64 seq ‖ 91-byte block ‖ 64 prepare vote signature of the
 *             primary on (seq, v, block id))
 *   64        signature    trailing message signature
 *   The contents (q distinct valid VIEW-CHANGEs, O equal to the set every
 *   replica recomputes) are checked in pbft_view.c.
 *
 * DEC-REQ (0x45), header height = the decided height wanted, round 0:
 *   empty body. Answered with the shared DECISION message (msg.c), or with
 *   STABLE when that DECISION is no longer kept.
 *
 * STABLE (0x46), header height = S (the sender's stable checkpoint, a
 *   multiple of K), round 0 — the same body as SBFT's STABLE (0x25):
 *   32        exec root of S
 *   32        snapshot manifest hash of S
 *   32        chain hash at S (covered by no signature: a lagging replica
 *             acts only on f+1 STABLEs for S from distinct senders that
 *             agree on it, so one of them is honest)
 *   ...       CHECKPOINT certificate: PBFT, height S, round 0, digest =
 *             pc_checkpoint_digest(S, root, manifest), ≥ q signers over n
 *   nothing may follow.
 *
 * Shared types used: DECISION (answers), BLOCK_REQ / BLOCK (fetch a batch
 * by block id), CHECKPOINT (pbft_checkpoint.c).
 */
#include <string.h>

#include "consensus/pbft_private.h"

/* ------------------------------------------------------------ PRE-PREPARE */

void pc_pbft_pp_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_block_t *b, const uint8_t *batch,
                       size_t batch_len, const uint8_t sig[PC_SIG_SIZE]) {
  pc_msg_hdr_t h = *hdr;
  h.type = PC_MSG_PBFT_PRE_PREPARE;
  pc_msg_put_header(w, &h);
  pc_put_bytes(w, sig, PC_SIG_SIZE);
  pc_proposal_t p = {
      .round = hdr->round, .proposer = hdr->sender, .block = *b, .batch = batch, .batch_len = batch_len};
  pc_proposal_encode(w, &p);
}

int pc_pbft_pp_decode(pc_reader_t *r, const pc_msg_hdr_t *hd, size_t max_bytes, pc_pbft_pp_t *out) {
  pc_get_bytes(r, out->sig, PC_SIG_SIZE);
  if (pc_reader_ok(r)) return pc_cons_reject(pc_reader_ok(r));
  pc_proposal_t p;
  size_t left = pc_reader_left(r);
  int err = pc_proposal_decode(pc_get_view(r, left), left, &p);
  if (err) return pc_cons_reject(err);
  if (p.round != hd->round || p.proposer != hd->sender || p.justification_len != 0)
    return pc_cons_reject(PC_ERR_INVALID);
  if (p.block.height != hd->height || p.block.chain_id != hd->chain_id) return pc_cons_reject(PC_ERR_RANGE);
  if (p.batch_len > max_bytes) return pc_cons_reject(PC_ERR_TOO_LARGE);
  out->block = p.block;
  out->batch = p.batch;
  out->batch_len = p.batch_len;
  return 0;
}

/* ------------------------------------------------------------ votes */

void pc_pbft_vote_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_hash_t *id,
                         const uint8_t sig[PC_SIG_SIZE]) {
  pc_msg_put_header(w, hdr);
  pc_put_bytes(w, id->b, PC_HASH_SIZE);
  pc_put_bytes(w, sig, PC_SIG_SIZE);
}

int pc_pbft_vote_decode(pc_reader_t *r, pc_hash_t *id, uint8_t sig[PC_SIG_SIZE]) {
  pc_get_bytes(r, id->b, PC_HASH_SIZE);
  pc_get_bytes(r, sig, PC_SIG_SIZE);
  int err = pc_reader_finish(r);
  return err ? pc_cons_reject(err) : 0;
}

/* ------------------------------------------------------------ VIEW-CHANGE */

void pc_pbft_vc_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, uint64_t stable_h, const pc_hash_t *root,
                       const pc_hash_t *manifest, const pc_cert_t *stable_cert, const pc_pbft_prepared_t *p,
                       unsigned count, const pc_signer_t *s) {
  pc_msg_hdr_t h = *hdr;
  h.type = PC_MSG_PBFT_VIEW_CHANGE;
  h.height = stable_h + 1;
  pc_msg_put_header(w, &h);
  bool has = stable_h > 0 && stable_cert;
  pc_put_u8(w, has ? 1 : 0);
  if (has) {
    pc_put_bytes(w, root->b, PC_HASH_SIZE);
    pc_put_bytes(w, manifest->b, PC_HASH_SIZE);
    pc_cert_encode(w, stable_cert);
  }
  pc_put_u16(w, (uint16_t)count);
  for (unsigned i = 0; i < count; i++) {
    pc_block_encode(w, &p[i].block);
    pc_cert_encode(w, p[i].cert);
  }
  pc_msg_sign_finish(w, s);
}

int pc_pbft_vc_next(pc_reader_t *r, pc_block_t *b, pc_cert_t *c) {
  int err = pc_block_decode(r, b);
  if (err) return err;
  return pc_cert_decode(r, c);
}

int pc_pbft_vc_decode(const uint8_t *m, size_t len, uint64_t chain_id, uint16_t n, uint16_t from, unsigned q,
                      uint64_t L, pc_pbft_vc_t *out, pc_cert_t *tmp) {
  pc_reader_t r;
  int err = pc_msg_get_header(&r, m, len, chain_id, n, from, &out->hdr);
  if (err) return err;
  if (out->hdr.type != PC_MSG_PBFT_VIEW_CHANGE || out->hdr.round == 0) return pc_cons_reject(PC_ERR_INVALID);
  if (len < PC_MSG_HEADER_SIZE + 1 + 2 + PC_SIG_SIZE) return pc_cons_reject(PC_ERR_TRUNCATED);
  /* everything but the trailing signature */
  pc_reader_init(&r, m + PC_MSG_HEADER_SIZE, len - PC_MSG_HEADER_SIZE - PC_SIG_SIZE);
  out->stable_h = out->hdr.height - 1;
  uint8_t flags = pc_get_u8(&r);
  if (pc_reader_ok(&r)) return pc_cons_reject(pc_reader_ok(&r));
  if (flags & ~1u) return pc_cons_reject(PC_ERR_INVALID);
  out->has_stable = flags & 1u;
  if (out->has_stable != (out->stable_h > 0)) return pc_cons_reject(PC_ERR_INVALID);
  if (out->has_stable) {
    pc_get_bytes(&r, out->root.b, PC_HASH_SIZE);
    pc_get_bytes(&r, out->manifest.b, PC_HASH_SIZE);
    if (pc_reader_ok(&r)) return pc_cons_reject(pc_reader_ok(&r));
    if ((err = pc_cert_decode(&r, out->stable_cert))) return pc_cons_reject(err);
    const pc_cert_t *c = out->stable_cert;
    pc_hash_t d;
    pc_checkpoint_digest(&d, out->stable_h, &out->root, &out->manifest);
    if (c->protocol != PC_PROTO_PBFT || c->kind != PC_CERT_CHECKPOINT || c->height != out->stable_h ||
        c->round != 0 || c->chain_id != chain_id || !pc_hash_equal(&d, &c->digest))
      return pc_cons_reject(PC_ERR_INVALID);
    if (c->n != n || pc_cert_signers(c) < q) return pc_cons_reject(PC_ERR_QUORUM);
  }
  unsigned count = pc_get_u16(&r);
  if (pc_reader_ok(&r)) return pc_cons_reject(pc_reader_ok(&r));
  if (count > L) return pc_cons_reject(PC_ERR_TOO_LARGE);
  out->count = count;
  out->entries = r.p + r.pos;
  size_t start = r.pos;
  uint64_t prev = out->stable_h;
  for (unsigned i = 0; i < count; i++) {
    pc_block_t b;
    if ((err = pc_pbft_vc_next(&r, &b, tmp))) return pc_cons_reject(err);
    pc_hash_t id;
    pc_block_id(&b, &id);
    if (b.height <= prev || b.height > out->stable_h + L) return pc_cons_reject(PC_ERR_RANGE);
    if (b.chain_id != chain_id || tmp->protocol != PC_PROTO_PBFT || tmp->kind != PC_CERT_PREPARE ||
        tmp->height != b.height || tmp->round >= out->hdr.round || tmp->chain_id != chain_id ||
        !pc_hash_equal(&id, &tmp->digest))
      return pc_cons_reject(PC_ERR_INVALID);
    if (tmp->n != n || pc_cert_signers(tmp) < q) return pc_cons_reject(PC_ERR_QUORUM);
    prev = b.height;
  }
  if ((err = pc_reader_finish(&r))) return pc_cons_reject(err);
  out->entries_len = r.pos - start;
  return 0;
}

/* ------------------------------------------------------------ NEW-VIEW */

void pc_pbft_nv_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const uint8_t *const *vcs,
                       const size_t *vc_lens, unsigned vc_count, const pc_pbft_reissue_t *o, unsigned o_count,
                       const pc_signer_t *s) {
  pc_msg_hdr_t h = *hdr;
  h.type = PC_MSG_PBFT_NEW_VIEW;
  h.height = 1;
  pc_msg_put_header(w, &h);
  pc_put_u16(w, (uint16_t)vc_count);
  for (unsigned i = 0; i < vc_count; i++) pc_put_blob32(w, vcs[i], vc_lens[i]);
  pc_put_u16(w, (uint16_t)o_count);
  for (unsigned i = 0; i < o_count; i++) {
    pc_put_u64(w, o[i].seq);
    pc_block_encode(w, &o[i].block);
    pc_put_bytes(w, o[i].sig, PC_SIG_SIZE);
  }
  pc_msg_sign_finish(w, s);
}

#define NV_ENTRY_SIZE (8 + PC_BLOCK_SIZE + PC_SIG_SIZE)

int pc_pbft_nv_decode(const uint8_t *m, size_t len, uint64_t chain_id, uint16_t n, uint16_t from,
                      pc_pbft_nv_t *out) {
  pc_reader_t r;
  int err = pc_msg_get_header(&r, m, len, chain_id, n, from, &out->hdr);
  if (err) return err;
  if (out->hdr.type != PC_MSG_PBFT_NEW_VIEW || out->hdr.round == 0 || out->hdr.height != 1)
    return pc_cons_reject(PC_ERR_INVALID);
  if (len < PC_MSG_HEADER_SIZE + 2 + 2 + PC_SIG_SIZE) return pc_cons_reject(PC_ERR_TRUNCATED);
  pc_reader_init(&r, m + PC_MSG_HEADER_SIZE, len - PC_MSG_HEADER_SIZE - PC_SIG_SIZE);
  out->vc_count = pc_get_u16(&r);
  if (pc_reader_ok(&r)) return pc_cons_reject(pc_reader_ok(&r));
  if (out->vc_count == 0 || out->vc_count > n) return pc_cons_reject(PC_ERR_RANGE);
  size_t start = r.pos;
  out->vcs = r.p + r.pos;
  for (unsigned i = 0; i < out->vc_count; i++) {
    size_t l;
    const uint8_t *v = pc_get_blob32(&r, PC_MSG_MAX, &l);
    if (!v) return pc_cons_reject(pc_reader_ok(&r) ? pc_reader_ok(&r) : PC_ERR_TRUNCATED);
    if (l < PC_MSG_HEADER_SIZE) return pc_cons_reject(PC_ERR_TRUNCATED);
  }
  out->vcs_len = r.pos - start;
  out->o_count = pc_get_u16(&r);
  if (pc_reader_ok(&r)) return pc_cons_reject(pc_reader_ok(&r));
  out->os = r.p + r.pos;
  out->os_len = (size_t)out->o_count * NV_ENTRY_SIZE;
  if (!pc_get_view(&r, out->os_len)) return pc_cons_reject(pc_reader_ok(&r));
  if ((err = pc_reader_finish(&r))) return pc_cons_reject(err);
  return 0;
}

/* ------------------------------------------------------------ STABLE */

void pc_pbft_stable_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_hash_t *root,
                           const pc_hash_t *manifest, const pc_hash_t *chain, const pc_cert_t *c) {
  pc_msg_hdr_t h = *hdr;
  h.type = PC_MSG_PBFT_STABLE;
  h.round = 0;
  h.height = c->height;
  pc_msg_put_header(w, &h);
  pc_put_bytes(w, root->b, PC_HASH_SIZE);
  pc_put_bytes(w, manifest->b, PC_HASH_SIZE);
  pc_put_bytes(w, chain->b, PC_HASH_SIZE);
  pc_cert_encode(w, c);
}

int pc_pbft_stable_decode(pc_reader_t *r, const pc_msg_hdr_t *hd, uint16_t n, unsigned q, uint64_t K,
                          pc_pbft_stable_t *out) {
  if (hd->type != PC_MSG_PBFT_STABLE || hd->round != 0 || !K || hd->height % K)
    return pc_cons_reject(PC_ERR_INVALID);
  pc_get_bytes(r, out->root.b, PC_HASH_SIZE);
  pc_get_bytes(r, out->manifest.b, PC_HASH_SIZE);
  pc_get_bytes(r, out->chain.b, PC_HASH_SIZE);
  int err = pc_reader_ok(r);
  if (err) return pc_cons_reject(err);
  if ((err = pc_cert_decode(r, out->cert))) return pc_cons_reject(err);
  if ((err = pc_reader_finish(r))) return pc_cons_reject(err);
  const pc_cert_t *c = out->cert;
  pc_hash_t d;
  pc_checkpoint_digest(&d, hd->height, &out->root, &out->manifest);
  if (c->protocol != PC_PROTO_PBFT || c->kind != PC_CERT_CHECKPOINT || c->chain_id != hd->chain_id ||
      c->height != hd->height || c->round != 0 || !pc_hash_equal(&c->digest, &d))
    return pc_cons_reject(PC_ERR_INVALID);
  if (c->n != n) return pc_cons_reject(PC_ERR_RANGE);
  if (pc_cert_signers(c) < q) return pc_cons_reject(PC_ERR_QUORUM);
  return 0;
}
