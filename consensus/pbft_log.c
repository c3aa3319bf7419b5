/* pbft_log.c — PBFT's persisted records and restore().
 *
 * Records (PC_ACT_PERSIST; the driver holds every send emitted after one
 * until it is durable, and replays them oldest first into a fresh instance
 * with pc_consensus_restore before start). Little-endian:
 *
 *   u8 type ‖ u64 seq ‖ body
 *   1 VIEW     u32 v ‖ u32 len ‖ my VIEW-CHANGE for v   entered view v (left every
 *                                                       view < v), seq = h_s + 1
 *   2 BLOCK    91 block ‖ u32 len ‖ batch               a block and its batch, durable
 *                                                       before my first vote for it
 *   3 PREPARE  u32 v ‖ 91 block ‖ 64 sig                my prepare vote (or, as
 *                                                       primary, my pre-prepare) at (seq, v)
 *   4 COMMIT   u32 v ‖ 32 block id ‖ 64 sig ‖ cert      my commit vote and the prepared
 *                                                       certificate it rests on
 *   5 DECIDED  u32 len ‖ DECISION message               seq decided (in order)
 *   6 STABLE   32 root ‖ 32 manifest ‖ cert             stable checkpoint seq
 *   7 NEWVIEW  u32 v ‖ u64 max_s                        view v installed (active); its
 *                                                       NEW-VIEW re-issued seq ≤ max_s
 *   8 BASE     32 chain hash ‖ 32 root                  state transfer to checkpoint seq
 *                                                       installed: the log continues at
 *                                                       seq + 1 with that chain hash (the
 *                                                       heights below were never decided here)
 *
 * Restore rebuilds: the decided prefix and chain hash (DECIDED, from a BASE
 * on if there is one), the stable
 * checkpoint (STABLE), the view and whether it is installed (the highest of
 * VIEW / NEWVIEW / a vote's view; a VIEW above every NEWVIEW and vote means
 * "waiting for NEW-VIEW"), my last VIEW-CHANGE, and per sequence number my
 * prepare and commit votes, blocks and prepared certificate. Since a vote is
 * durable before it is sent and the restored instance never signs a second
 * prepare or commit at a (seq, view) it has a record for, nor acts in a view
 * below the restored one, a restarted replica never votes twice.
 * A record that does not parse is PC_ERR_CORRUPT.
 */
#include <stdlib.h>
#include <string.h>

#include "consensus/pbft_private.h"

void pbft_rec_view(pbft_t *s, uint32_t view, const uint8_t *vc, size_t vc_len) {
  pc_writer_t w;
  if (!pbft_rscratch(s, &w, 1 + 8 + 4 + 4 + vc_len)) return;
  pc_put_u8(&w, PBFT_REC_VIEW);
  pc_put_u64(&w, s->stable_h + 1);
  pc_put_u32(&w, view);
  pc_put_blob32(&w, vc, vc_len);
  pbft_persist(s, w.buf, w.len);
}

void pbft_rec_newview(pbft_t *s, uint32_t view, uint64_t max_s) {
  pc_writer_t w;
  if (!pbft_rscratch(s, &w, 1 + 8 + 4 + 8)) return;
  pc_put_u8(&w, PBFT_REC_NEWVIEW);
  pc_put_u64(&w, 1);
  pc_put_u32(&w, view);
  pc_put_u64(&w, max_s);
  pbft_persist(s, w.buf, w.len);
}

void pbft_rec_block(pbft_t *s, pbft_blk_t *b) {
  pc_writer_t w;
  if (!pbft_rscratch(s, &w, 1 + 8 + PC_BLOCK_SIZE + 4 + b->batch_len)) return;
  pc_put_u8(&w, PBFT_REC_BLOCK);
  pc_put_u64(&w, b->block.height);
  pc_block_encode(&w, &b->block);
  pc_put_blob32(&w, b->batch, b->batch_len);
  pbft_persist(s, w.buf, w.len);
  b->persisted = true;
}

void pbft_rec_prepare(pbft_t *s, uint64_t seq, uint32_t view, const pc_block_t *b,
                      const uint8_t sig[PC_SIG_SIZE]) {
  pc_writer_t w;
  if (!pbft_rscratch(s, &w, 1 + 8 + 4 + PC_BLOCK_SIZE + PC_SIG_SIZE)) return;
  pc_put_u8(&w, PBFT_REC_PREPARE);
  pc_put_u64(&w, seq);
  pc_put_u32(&w, view);
  pc_block_encode(&w, b);
  pc_put_bytes(&w, sig, PC_SIG_SIZE);
  pbft_persist(s, w.buf, w.len);
}

void pbft_rec_commit(pbft_t *s, uint64_t seq, uint32_t view, const pc_hash_t *id,
                     const uint8_t sig[PC_SIG_SIZE], const pc_cert_t *prepared) {
  pc_writer_t w;
  if (!pbft_rscratch(s, &w, 1 + 8 + 4 + PC_HASH_SIZE + PC_SIG_SIZE + pc_cert_encoded_size(prepared))) return;
  pc_put_u8(&w, PBFT_REC_COMMIT);
  pc_put_u64(&w, seq);
  pc_put_u32(&w, view);
  pc_put_bytes(&w, id->b, PC_HASH_SIZE);
  pc_put_bytes(&w, sig, PC_SIG_SIZE);
  pc_cert_encode(&w, prepared);
  pbft_persist(s, w.buf, w.len);
}

void pbft_rec_decided(pbft_t *s, uint64_t seq, const uint8_t *msg, size_t len) {
  pc_writer_t w;
  if (!pbft_rscratch(s, &w, 1 + 8 + 4 + len)) return;
  pc_put_u8(&w, PBFT_REC_DECIDED);
  pc_put_u64(&w, seq);
  pc_put_blob32(&w, msg, len);
  pbft_persist(s, w.buf, w.len);
}

void pbft_rec_stable(pbft_t *s, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest,
                     const pc_cert_t *c) {
  pc_writer_t w;
  if (!pbft_rscratch(s, &w, 1 + 8 + 2 * PC_HASH_SIZE + pc_cert_encoded_size(c))) return;
  pc_put_u8(&w, PBFT_REC_STABLE);
  pc_put_u64(&w, h);
  pc_put_bytes(&w, root->b, PC_HASH_SIZE);
  pc_put_bytes(&w, manifest->b, PC_HASH_SIZE);
  pc_cert_encode(&w, c);
  pbft_persist(s, w.buf, w.len);
}

void pbft_rec_base(pbft_t *s, uint64_t h, const pc_hash_t *chain, const pc_hash_t *root) {
  pc_writer_t w;
  if (!pbft_rscratch(s, &w, 1 + 8 + 2 * PC_HASH_SIZE)) return;
  pc_put_u8(&w, PBFT_REC_BASE);
  pc_put_u64(&w, h);
  pc_put_bytes(&w, chain->b, PC_HASH_SIZE);
  pc_put_bytes(&w, root->b, PC_HASH_SIZE);
  pbft_persist(s, w.buf, w.len);
}

/* A vote at view v proves v was installed when it was cast. */
static void saw_view_active(pbft_t *s, uint32_t v) {
  if (v > s->view || (v == s->view && !s->active)) {
    s->view = v;
    s->active = true;
  }
}

static int restore_decided(pbft_t *s, uint64_t h, pc_reader_t *r) {
  size_t mlen;
  const uint8_t *m = pc_get_blob32(r, PC_MSG_MAX, &mlen);
  if (!m || pc_reader_finish(r) || mlen < PC_MSG_HEADER_SIZE) return PC_ERR_CORRUPT;
  if (h != s->next) return 0; /* already have it (or a gap: ignore) */
  pc_reader_t mr;
  pc_msg_hdr_t hd;
  if (pc_msg_get_header(&mr, m, mlen, s->cfg.chain_id, s->n, PC_MSG_ANY_SENDER, &hd) ||
      hd.type != PC_MSG_DECISION)
    return PC_ERR_CORRUPT;
  pc_msg_decision_t d = {.cert = s->tmp_cert2};
  if (pc_msg_decision_decode(&mr, &hd, &d)) return PC_ERR_CORRUPT;
  uint8_t *copy = malloc(mlen);
  if (!copy) return PC_ERR_NOMEM;
  memcpy(copy, m, mlen);
  pc_hash_t id;
  pc_block_id(&d.block, &id);
  pc_chain_hash(&s->chain_hash, &id, &s->chain_hash);
  pbft_dec_store(s, h, copy, mlen);
  pbft_ckchain_note(s, h, &s->chain_hash);
  pbft_slot_t *x = pbft_slot(s, h);
  if (x) {
    pbft_blk_add(s, x, &d.block, d.batch, d.batch_len, true);
    if (!x->dec_cert) x->dec_cert = malloc(sizeof *x->dec_cert);
    if (x->dec_cert) memcpy(x->dec_cert, d.cert, sizeof *d.cert);
    x->decided = true;
    x->dec_id = id;
  }
  s->st.last_decided = h;
  s->next = h + 1;
  return 0;
}

int pbft_restore(pc_consensus_t *c, const uint8_t *rec, size_t len) {
  pbft_t *s = (pbft_t *)c;
  if (s->started) return PC_ERR_STATE;
  pc_reader_t r;
  pc_reader_init(&r, rec, len);
  uint8_t type = pc_get_u8(&r);
  uint64_t seq = pc_get_u64(&r);
  if (pc_reader_ok(&r) || seq == 0) return PC_ERR_CORRUPT;
  bool forget = PBFT_MUT(s, PC_MUTANT_FORGET_ON_RESTART);
  s->restoring = true;
  int err = 0;
  switch (type) {
    case PBFT_REC_DECIDED: err = restore_decided(s, seq, &r); break;
    case PBFT_REC_STABLE: {
      pc_hash_t root, man;
      pc_get_bytes(&r, root.b, PC_HASH_SIZE);
      pc_get_bytes(&r, man.b, PC_HASH_SIZE);
      if (pc_cert_decode(&r, s->tmp_cert) || pc_reader_finish(&r) || s->tmp_cert->height != seq)
        err = PC_ERR_CORRUPT;
      else
        pbft_set_stable(s, seq, &root, &man, s->tmp_cert, false);
      break;
    }
    case PBFT_REC_BASE: {
      pc_hash_t chain, root;
      pc_get_bytes(&r, chain.b, PC_HASH_SIZE);
      pc_get_bytes(&r, root.b, PC_HASH_SIZE);
      if (pc_reader_finish(&r))
        err = PC_ERR_CORRUPT;
      else if (seq >= s->next)
        pbft_jump(s, seq, &chain, &root);
      break;
    }
    case PBFT_REC_VIEW: {
      uint32_t v = pc_get_u32(&r);
      size_t ml;
      const uint8_t *m = pc_get_blob32(&r, PC_MSG_MAX, &ml);
      if (!m || pc_reader_finish(&r))
        err = PC_ERR_CORRUPT;
      else if (!forget && v > s->view) {
        uint8_t *copy = malloc(ml);
        if (!copy)
          err = PC_ERR_NOMEM;
        else {
          memcpy(copy, m, ml);
          uint16_t me = s->cfg.my_id;
          free(s->vc_msg[me]);
          s->vc_msg[me] = copy;
          s->vc_len[me] = ml;
          s->vc_view[me] = v;
          s->view = v;
          s->active = false;
          s->vc_attempts++;
        }
      }
      break;
    }
    case PBFT_REC_NEWVIEW: {
      uint32_t v = pc_get_u32(&r);
      uint64_t max_s = pc_get_u64(&r);
      if (pc_reader_finish(&r))
        err = PC_ERR_CORRUPT;
      else if (!forget && v >= s->view) {
        saw_view_active(s, v);
        /* the primary of v may not pre-prepare again what its NEW-VIEW re-issued */
        s->max_issued = max_s;
      }
      break;
    }
    case PBFT_REC_BLOCK: {
      pc_block_t b;
      size_t bl = 0;
      const uint8_t *batch = NULL;
      if (pc_block_decode(&r, &b))
        err = PC_ERR_CORRUPT;
      else if (!(batch = pc_get_blob32(&r, PC_BATCH_MAX, &bl)) || pc_reader_finish(&r) || b.height != seq)
        err = PC_ERR_CORRUPT;
      pbft_slot_t *x = err ? NULL : pbft_slot(s, seq);
      if (x && !x->decided) {
        pbft_blk_t *k = pbft_blk_add(s, x, &b, batch, bl, true);
        if (k) k->persisted = true;
      }
      break;
    }
    case PBFT_REC_PREPARE: {
      uint32_t v = pc_get_u32(&r);
      pc_block_t b;
      uint8_t sig[PC_SIG_SIZE];
      if (pc_block_decode(&r, &b)) err = PC_ERR_CORRUPT;
      pc_get_bytes(&r, sig, PC_SIG_SIZE);
      if (!err && (pc_reader_finish(&r) || b.height != seq)) err = PC_ERR_CORRUPT;
      pbft_slot_t *x = err || forget ? NULL : pbft_slot(s, seq);
      if (x && !x->decided && (!x->pvoted || v >= x->pvote_view)) {
        saw_view_active(s, v);
        pbft_blk_t *k = pbft_blk_add(s, x, &b, NULL, 0, false);
        if (k) {
          x->pvoted = true;
          x->pvote_view = v;
          x->pvote_id = k->id;
          memcpy(x->pvote_sig, sig, PC_SIG_SIZE);
          x->pp = true;
          x->pp_view = v;
          x->pp_id = k->id;
          pbft_tally_add(s, x, v, PC_PHASE_PREPARE, &k->id, s->cfg.my_id, sig, NULL);
        }
      }
      break;
    }
    case PBFT_REC_COMMIT: {
      uint32_t v = pc_get_u32(&r);
      pc_hash_t id;
      uint8_t sig[PC_SIG_SIZE];
      pc_get_bytes(&r, id.b, PC_HASH_SIZE);
      pc_get_bytes(&r, sig, PC_SIG_SIZE);
      if (pc_reader_ok(&r) || pc_cert_decode(&r, s->tmp_cert) || pc_reader_finish(&r)) err = PC_ERR_CORRUPT;
      pbft_slot_t *x = err || forget ? NULL : pbft_slot(s, seq);
      if (x && !x->decided && (!x->cvoted || v >= x->cvote_view)) {
        saw_view_active(s, v);
        x->cvoted = true;
        x->cvote_view = v;
        x->cvote_id = id;
        memcpy(x->cvote_sig, sig, PC_SIG_SIZE);
        pbft_blk_t *k = pbft_blk_find(x, &id);
        if (k && (!x->prep_cert || x->prep_cert->round <= s->tmp_cert->round) &&
            (x->prep_cert || (x->prep_cert = malloc(sizeof *x->prep_cert)))) {
          memcpy(x->prep_cert, s->tmp_cert, sizeof *s->tmp_cert);
          x->prep_block = k->block;
        }
        pbft_tally_add(s, x, v, PC_PHASE_COMMIT, &id, s->cfg.my_id, sig, NULL);
      }
      break;
    }
    default: err = PC_ERR_CORRUPT;
  }
  s->restoring = false;
  return err;
}
