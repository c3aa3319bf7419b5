/* pbft_view.c — PBFT view change (Castro–Liskov §4.4, with signatures).
 * Messages are specified in pbft_msg.c, records in pbft_log.c.
 *
 * Leaving view v: on its timer (which runs while the lowest undecided
 * sequence number can be voted on, restarts on each decision and doubles
 * with each view change since the last decision, up to 2^6 × base), or on
 * f+1 VIEW-CHANGEs for views above its own (it joins the lowest), a replica
 * enters v' > v: it stops taking part in every view < v', persists its
 * VIEW-CHANGE for v' (its stable checkpoint with its proof and, for every
 * sequence number above it, its highest-view prepared certificate with the
 * block) and only then broadcasts it.
 *
 * NEW-VIEW: the primary of v' with q valid VIEW-CHANGEs for v' (its own
 * included) computes min_s = the highest stable checkpoint among them and,
 * for each seq in (min_s, max_s] (max_s = highest prepared seq reported),
 * the block of the highest-view prepared certificate reported for seq, or a
 * null block (empty batch, zero root, creator = primary) when none is. It
 * signs a prepare vote on each (the re-issued pre-prepares), persists those
 * votes, and broadcasts NEW-VIEW. Every replica checks the signatures of
 * the NEW-VIEW, of each VIEW-CHANGE and of every certificate inside
 * (each certificate verified once, cached), recomputes the set and accepts
 * only an identical one; then it installs v', adopts the stable checkpoint
 * min_s if higher than its own, and processes the re-issued pre-prepares as
 * in the normal case. The primary proposes new blocks only above max_s.
 */
#include <stdlib.h>
#include <string.h>

#include "consensus/pbft_private.h"

#define NV_ENTRY_SIZE (8 + PC_BLOCK_SIZE + PC_SIG_SIZE)

/* Builds, persists and broadcasts this replica's VIEW-CHANGE for s->view. */
static void send_view_change(pbft_t *s) {
  unsigned cnt = 0;
  pc_pbft_prepared_t *p = calloc(s->L, sizeof *p);
  if (!p) return;
  size_t need = PC_MSG_HEADER_SIZE + 1 + 64 + 2 + PC_SIG_SIZE +
                (s->stable_cert ? pc_cert_encoded_size(s->stable_cert) : 0);
  for (uint64_t seq = s->stable_h + 1; seq <= s->stable_h + s->L; seq++) {
    pbft_slot_t *x = &s->slots[seq % s->L];
    if (x->seq != seq || !x->prep_cert) continue;
    p[cnt].block = x->prep_block;
    p[cnt].cert = x->prep_cert;
    need += PC_BLOCK_SIZE + pc_cert_encoded_size(x->prep_cert);
    cnt++;
  }
  uint8_t *m = malloc(need);
  if (!m) {
    free(p);
    return;
  }
  pc_writer_t w;
  pc_writer_init(&w, m, need);
  pc_msg_hdr_t h = pbft_hdr(s, PC_MSG_PBFT_VIEW_CHANGE, s->stable_h + 1, s->view);
  pc_pbft_vc_encode(&w, &h, s->stable_h, &s->stable_root, &s->stable_manifest, s->stable_cert, p, cnt,
                    &s->cfg.signer);
  free(p);
  s->st.signs++;
  if (pc_writer_finish(&w)) {
    free(m);
    return;
  }
  uint16_t me = s->cfg.my_id;
  free(s->vc_msg[me]);
  s->vc_msg[me] = m;
  s->vc_len[me] = w.len;
  s->vc_view[me] = s->view;
  pbft_rec_view(s, s->view, m, w.len); /* durable before it leaves */
  pbft_broadcast(s, m, w.len);
}

static void maybe_new_view(pbft_t *s);

void pbft_start_view_change(pbft_t *s, uint32_t v) {
  if (v <= s->view) return; /* views only grow */
  s->view = v;
  s->active = false;
  s->vc_attempts++;
  s->st.round_changes++;
  PC_DEBUG("pbft r%u: view change to %u at %.3f ms (attempts %u)", s->cfg.my_id, v, s->now / 1e6,
           s->vc_attempts);
  send_view_change(s);
  s->vc_deadline = 0;
  s->vc_resend_at = s->now + s->cfg.base_timeout_ns;
  pbft_arm_vc_timer(s);
  maybe_new_view(s);
}

/* Castro–Liskov: the timer for the NEW-VIEW of v starts only once q
 * replicas are known to have left the views below v, so a replica that ran
 * ahead alone waits for the others instead of climbing further. */
void pbft_arm_vc_timer(pbft_t *s) {
  if (s->active || s->vc_deadline) return;
  unsigned k = 0;
  for (unsigned j = 0; j < s->n; j++)
    if (s->vc_msg[j] && s->vc_view[j] >= s->view) k++;
  if (k >= s->q) s->vc_deadline = s->now + pbft_timeout(s);
}

/* Checks every signature in a decoded VIEW-CHANGE m (once per message). */
static int vc_verify(pbft_t *s, const uint8_t *m, size_t len, const pc_pbft_vc_t *vc) {
  pc_hash_t mid;
  pc_hash_tagged(&mid, "parachain/pbft/vc", m, len);
  if (pbft_vcache_has(s, &mid)) return 0;
  s->st.verifies++;
  if (pc_msg_verify_trailing(&s->cfg.signer, vc->hdr.sender, m, len)) return PC_ERR_SIGNATURE;
  int err;
  if (vc->has_stable && (err = pbft_cert_check(s, vc->stable_cert, PC_CERT_CHECKPOINT))) return err;
  pc_reader_t r;
  pc_reader_init(&r, vc->entries, vc->entries_len);
  for (unsigned i = 0; i < vc->count; i++) {
    pc_block_t b;
    if (pc_pbft_vc_next(&r, &b, s->tmp_cert)) return PC_ERR_INVALID;
    if ((err = pbft_cert_check(s, s->tmp_cert, PC_CERT_PREPARE))) return err;
  }
  pbft_vcache_add(s, &mid);
  return 0;
}

int pbft_new_view_set(pbft_t *s, uint32_t view, const pc_pbft_vc_t *vcs, unsigned k, uint64_t *min_s,
                      pc_pbft_reissue_t *o, unsigned *o_count, unsigned *min_s_vc) {
  uint64_t ms = 0;
  unsigned msv = 0;
  for (unsigned i = 0; i < k; i++)
    if (vcs[i].stable_h > ms) {
      ms = vcs[i].stable_h;
      msv = i;
    }
  struct best {
    bool has;
    uint32_t view;
    pc_hash_t id;
    pc_block_t block;
  } *best = calloc(s->L, sizeof *best);
  if (!best) return PC_ERR_NOMEM;
  uint64_t max_s = ms;
  for (unsigned i = 0; i < k; i++) {
    pc_reader_t r;
    pc_reader_init(&r, vcs[i].entries, vcs[i].entries_len);
    for (unsigned e = 0; e < vcs[i].count; e++) {
      pc_block_t b;
      if (pc_pbft_vc_next(&r, &b, s->tmp_cert)) {
        free(best);
        return PC_ERR_INVALID;
      }
      if (b.height <= ms || b.height > ms + s->L) continue;
      struct best *x = &best[b.height - ms - 1];
      uint32_t cv = s->tmp_cert->round;
      bool better = !x->has || cv > x->view ||
                    (cv == x->view && memcmp(s->tmp_cert->digest.b, x->id.b, PC_HASH_SIZE) < 0);
      if (better) {
        x->has = true;
        x->view = cv;
        x->id = s->tmp_cert->digest;
        x->block = b;
      }
      if (b.height > max_s) max_s = b.height;
    }
  }
  unsigned cnt = 0;
  for (uint64_t seq = ms + 1; seq <= max_s; seq++) {
    struct best *x = &best[seq - ms - 1];
    memset(&o[cnt], 0, sizeof o[cnt]);
    o[cnt].seq = seq;
    if (x->has)
      o[cnt].block = x->block;
    else
      pbft_null_block(s, seq, view, &o[cnt].block);
    cnt++;
  }
  free(best);
  *min_s = ms;
  *o_count = cnt;
  if (min_s_vc) *min_s_vc = msv;
  return 0;
}

/* Installs view v from checked VIEW-CHANGEs and the re-issued set. */
static void install(pbft_t *s, uint32_t v, const pc_pbft_vc_t *vcs, unsigned min_s_vc, uint64_t min_s,
                    const pc_pbft_reissue_t *o, unsigned o_count) {
  uint64_t max_s = o_count ? o[o_count - 1].seq : min_s;
  s->view = v;
  s->active = true;
  s->vc_deadline = 0;
  s->max_issued = max_s;
  pbft_rec_newview(s, v, max_s); /* restart: back in v, active, never in a view below */
  if (min_s > s->stable_h)
    pbft_set_stable(s, min_s, &vcs[min_s_vc].root, &vcs[min_s_vc].manifest, vcs[min_s_vc].stable_cert, true);
  uint16_t primary = pc_pbft_primary(v, s->n);
  for (unsigned i = 0; i < o_count; i++) {
    pbft_slot_t *x = pbft_slot(s, o[i].seq);
    if (!x || x->decided) continue;
    pc_hash_t id;
    pc_block_id(&o[i].block, &id);
    /* a null block (of this view or re-issued from an earlier one) needs no fetch */
    pc_hash_t empty;
    pc_batch_hash(&empty, NULL, 0);
    bool null = pc_hash_is_zero(&o[i].block.exec_root) && pc_hash_equal(&empty, &o[i].block.batch_hash);
    if (!pbft_blk_add(s, x, &o[i].block, NULL, 0, null)) continue;
    x->pp = true;
    x->pp_view = v;
    x->pp_id = id;
    x->need_batch = false;
    if (primary == s->cfg.my_id) {
      x->pvoted = true;
      x->pvote_view = v;
      x->pvote_id = id;
      memcpy(x->pvote_sig, o[i].sig, PC_SIG_SIZE);
    }
    pbft_tally_add(s, x, v, PC_PHASE_PREPARE, &id, primary, o[i].sig, NULL);
  }
  if (min_s >= s->next && min_s > s->seen_high) s->seen_high = min_s;
  PC_DEBUG("pbft r%u: view %u installed (min_s %llu, max_s %llu)", s->cfg.my_id, v, (unsigned long long)min_s,
           (unsigned long long)max_s);
  pbft_kick_all(s);
}

/* Decodes the VIEW-CHANGEs for s->view held in vc_msg (own included). */
static void maybe_new_view(pbft_t *s) {
  uint32_t v = s->view;
  /* halted (a certified root disagrees, or a state transfer is under way): signs no re-issued pre-prepares */
  if (s->active || s->halted || pc_pbft_primary(v, s->n) != s->cfg.my_id || s->nv_view == v) return;
  unsigned k = 0;
  for (unsigned j = 0; j < s->n; j++)
    if (s->vc_msg[j] && s->vc_view[j] == v) k++;
  if (k < s->q) return;
  k = s->q; /* exactly q: the smallest proof */
  pc_pbft_vc_t *vcs = calloc(k, sizeof *vcs);
  pc_cert_t *certs = malloc(k * sizeof *certs);
  const uint8_t **ptrs = calloc(k, sizeof *ptrs);
  size_t *lens = calloc(k, sizeof *lens);
  pc_pbft_reissue_t *o = calloc(s->L, sizeof *o);
  uint8_t *m = NULL;
  if (!vcs || !certs || !ptrs || !lens || !o) goto out;
  unsigned i = 0;
  size_t need = PC_MSG_HEADER_SIZE + 2 + 2 + PC_SIG_SIZE;
  for (unsigned j = 0; j < s->n && i < k; j++) {
    if (!s->vc_msg[j] || s->vc_view[j] != v) continue;
    vcs[i].stable_cert = &certs[i];
    if (pc_pbft_vc_decode(s->vc_msg[j], s->vc_len[j], s->cfg.chain_id, s->n, (uint16_t)j, s->q, s->L, &vcs[i],
                          s->tmp_cert))
      goto out;
    ptrs[i] = s->vc_msg[j];
    lens[i] = s->vc_len[j];
    need += 4 + lens[i];
    i++;
  }
  uint64_t min_s;
  unsigned oc, msv;
  if (pbft_new_view_set(s, v, vcs, k, &min_s, o, &oc, &msv)) goto out;
  need += (size_t)oc * NV_ENTRY_SIZE;
  for (unsigned e = 0; e < oc; e++) {
    pc_hash_t id;
    pc_block_id(&o[e].block, &id);
    pc_signer_vote_sign(&s->cfg.signer, o[e].sig, s->cfg.chain_id, PC_PROTO_PBFT, PC_PHASE_PREPARE, o[e].seq,
                        v, &id);
    s->st.signs++;
    /* the re-issued pre-prepares are my prepare votes: durable first */
    pbft_rec_prepare(s, o[e].seq, v, &o[e].block, o[e].sig);
  }
  if (need > PC_MSG_MAX || !(m = malloc(need))) {
    PC_ERROR("pbft r%u: NEW-VIEW for %u does not fit", s->cfg.my_id, v);
    goto out;
  }
  pc_writer_t w;
  pc_writer_init(&w, m, need);
  pc_msg_hdr_t h = pbft_hdr(s, PC_MSG_PBFT_NEW_VIEW, 1, v);
  pc_pbft_nv_encode(&w, &h, ptrs, lens, k, o, oc, &s->cfg.signer);
  s->st.signs++;
  if (pc_writer_finish(&w)) goto out;
  s->nv_view = v;
  free(s->nv_msg);
  s->nv_msg = m;
  s->nv_len = w.len;
  m = NULL;
  pbft_broadcast(s, s->nv_msg, s->nv_len);
  install(s, v, vcs, msv, min_s, o, oc);
out:
  free(m);
  free(vcs);
  free(certs);
  free(ptrs);
  free(lens);
  free(o);
}

int pbft_on_view_change(pbft_t *s, uint16_t from, const uint8_t *m, size_t len) {
  pc_pbft_vc_t vc;
  vc.stable_cert = s->tmp_cert2;
  int err = pc_pbft_vc_decode(m, len, s->cfg.chain_id, s->n, from, s->q, s->L, &vc, s->tmp_cert);
  if (err) return err;
  uint32_t v = vc.hdr.round;
  if (v < s->view || (v == s->view && s->active)) {
    /* a late replica, still asking for a view we left or installed: hand it
     * the NEW-VIEW that installed ours (it proves q replicas moved on; the
     * late replica repeats its VIEW-CHANGE, so this answers once per repeat) */
    if (s->active && s->nv_msg && s->nv_view == s->view) pbft_send(s, from, s->nv_msg, s->nv_len);
    return pc_cons_reject(PC_ERR_EXPIRED);
  }
  if (s->vc_msg[from] && s->vc_view[from] >= v) return pc_cons_reject(PC_ERR_DUPLICATE);
  if ((err = vc_verify(s, m, len, &vc))) return pc_cons_reject(err);
  uint8_t *copy = malloc(len);
  if (!copy) return PC_ERR_NOMEM;
  memcpy(copy, m, len);
  free(s->vc_msg[from]);
  s->vc_msg[from] = copy;
  s->vc_len[from] = len;
  s->vc_view[from] = v;
  /* f+1 replicas want a view above ours: join the lowest of them */
  unsigned above = 0;
  uint32_t lowest = UINT32_MAX;
  for (unsigned j = 0; j < s->n; j++) {
    if (j == s->cfg.my_id || !s->vc_msg[j] || s->vc_view[j] <= s->view) continue;
    above++;
    if (s->vc_view[j] < lowest) lowest = s->vc_view[j];
  }
  if (above >= s->f + 1)
    pbft_start_view_change(s, lowest);
  else {
    pbft_arm_vc_timer(s);
    maybe_new_view(s);
  }
  return 0;
}

int pbft_on_new_view(pbft_t *s, uint16_t from, const uint8_t *m, size_t len) {
  pc_pbft_nv_t nv;
  int err = pc_pbft_nv_decode(m, len, s->cfg.chain_id, s->n, from, &nv);
  if (err) return err;
  uint32_t v = nv.hdr.round;
  if (v < s->view || (v == s->view && s->active)) return pc_cons_reject(PC_ERR_EXPIRED);
  if (from != pc_pbft_primary(v, s->n)) return pc_cons_reject(PC_ERR_INVALID);
  if (nv.vc_count < s->q) return pc_cons_reject(PC_ERR_QUORUM);
  if (nv.o_count > s->L) return pc_cons_reject(PC_ERR_TOO_LARGE);
  s->st.verifies++;
  if (pc_msg_verify_trailing(&s->cfg.signer, from, m, len)) return pc_cons_reject(PC_ERR_SIGNATURE);
  unsigned k = nv.vc_count;
  pc_pbft_vc_t *vcs = calloc(k, sizeof *vcs);
  pc_cert_t *certs = malloc(k * sizeof *certs);
  pc_pbft_reissue_t *o = calloc(s->L, sizeof *o);
  uint8_t seen[PC_MAX_REPLICAS / 8] = {0};
  err = (!vcs || !certs || !o) ? PC_ERR_NOMEM : 0;
  pc_reader_t r;
  pc_reader_init(&r, nv.vcs, nv.vcs_len);
  for (unsigned i = 0; !err && i < k; i++) {
    size_t l;
    const uint8_t *vm = pc_get_blob32(&r, PC_MSG_MAX, &l);
    vcs[i].stable_cert = &certs[i];
    if ((err = pc_pbft_vc_decode(vm, l, s->cfg.chain_id, s->n, PC_MSG_ANY_SENDER, s->q, s->L, &vcs[i],
                                 s->tmp_cert)))
      break;
    uint16_t snd = vcs[i].hdr.sender;
    if (vcs[i].hdr.round != v)
      err = PC_ERR_INVALID;
    else if (seen[snd / 8] >> (snd % 8) & 1)
      err = PC_ERR_DUPLICATE;
    else
      err = vc_verify(s, vm, l, &vcs[i]);
    seen[snd / 8] |= (uint8_t)(1u << (snd % 8));
  }
  uint64_t min_s = 0;
  unsigned oc = 0, msv = 0;
  if (!err) err = pbft_new_view_set(s, v, vcs, k, &min_s, o, &oc, &msv);
  if (!err && oc != nv.o_count) err = PC_ERR_INVALID;
  pc_reader_init(&r, nv.os, nv.os_len);
  for (unsigned i = 0; !err && i < oc; i++) {
    uint64_t seq = pc_get_u64(&r);
    pc_block_t b;
    pc_hash_t a1, id;
    if (pc_block_decode(&r, &b) || seq != o[i].seq) {
      err = PC_ERR_INVALID;
      break;
    }
    pc_block_id(&b, &a1); /* the block id covers every field */
    pc_block_id(&o[i].block, &id);
    if (!pc_hash_equal(&a1, &id)) {
      err = PC_ERR_INVALID;
      break;
    }
    pc_get_bytes(&r, o[i].sig, PC_SIG_SIZE);
    s->st.verifies++;
    if (pc_signer_vote_verify(&s->cfg.signer, from, o[i].sig, s->cfg.chain_id, PC_PROTO_PBFT,
                              PC_PHASE_PREPARE, seq, v, &id))
      err = PC_ERR_SIGNATURE;
  }
  if (!err) {
    uint8_t *copy = malloc(len);
    if (copy) {
      memcpy(copy, m, len);
      free(s->nv_msg);
      s->nv_msg = copy;
      s->nv_len = len;
      s->nv_view = v;
    }
    install(s, v, vcs, msv, min_s, o, oc);
  }
  free(vcs);
  free(certs);
  free(o);
  return err ? (err == PC_ERR_NOMEM ? err : pc_cons_reject(err)) : 0;
}
