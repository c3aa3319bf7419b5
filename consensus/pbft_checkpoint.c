/* pbft_checkpoint.c — PBFT checkpoints, watermarks and garbage collection.
 *
 * Every K sequence numbers (K = checkpoint_interval, or 2W when that is 0),
 * once a replica has executed h (h mod K = 0) it broadcasts the shared
 * CHECKPOINT message (consensus.h, msg.c):
 *   header  height = h, round 0
 *   32      exec root of h
 *   32      snapshot manifest hash of h (zero when the driver gives none)
 *   64      vote signature over pc_vote_bytes(chain, PBFT, CHECKPOINT, h, 0,
 *           pc_checkpoint_digest(h, root, manifest))
 * q matching votes on one digest form a CHECKPOINT certificate: h becomes
 * the stable checkpoint h_s (persisted, and carried with its proof in
 * VIEW-CHANGEs). The low watermark is h_s, the high one h_s + L; the log
 * keeps [min(next, h_s + 1), … + L) and frees everything below (slots,
 * votes, certificates, batches). A replica whose own root at h differs
 * from a stable checkpoint's stops voting and asks for a state transfer; a
 * replica that learns of a stable checkpoint above its decisions fetches
 * the missing decisions (DEC-REQ, answered with DECISION).
 *
 * DECISIONs at or below h_s − max(K, keep_decided) are dropped (at most
 * PBFT_DEC_RING are kept in any case); a request about such a height is
 * answered with STABLE (pbft_msg.c). A replica gathering f+1 STABLEs for
 * one checkpoint S ≥ its next undecided height, from distinct senders,
 * each with a valid certificate and all claiming the same chain hash at S,
 * adopts S as stable, stops voting and deciding, and asks the driver for a
 * state transfer to S (with that chain hash). The target stays fixed until
 * the transfer is done (on_transfer_done → pbft_jump) or the replica
 * restarts (then it asks again).
 *
 * Rejected: wrong round, h not a multiple of K, h < h_s (stale), malformed
 * body, a second vote by one sender for h, a bad signature. Heights far
 * ahead are accepted (a lagging replica learns a stable checkpoint that
 * way, which moves its log window to its next undecided height); at most
 * PBFT_CKPT_SLOTS tallies are kept, the one with the fewest votes evicted.
 */
#include <stdlib.h>
#include <string.h>

#include "consensus/pbft_private.h"

void pbft_gc(pbft_t *s) {
  uint64_t keep = PC_MAX((uint64_t)s->K, (uint64_t)s->cfg.keep_decided);
  if (s->stable_h > keep)
    for (int i = 0; i < PBFT_DEC_RING; i++) {
      pbft_dec_t *d = &s->dec[i];
      if (d->msg && d->h <= s->stable_h - keep) {
        free(d->msg);
        memset(d, 0, sizeof *d);
      }
    }
  uint64_t base = pbft_base(s);
  for (uint64_t i = 0; i < s->L; i++) {
    pbft_slot_t *x = &s->slots[i];
    if (x->seq && x->seq < base) pbft_slot_release(s, x);
  }
  for (int i = 0; i < PBFT_CKPT_SLOTS; i++) {
    pbft_ckpt_t *k = &s->ckpts[i];
    if (k->used && k->h <= s->stable_h) k->used = false;
  }
}

void pbft_set_stable(pbft_t *s, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest,
                     const pc_cert_t *cert, bool persist) {
  if (h <= s->stable_h) return;
  if (!s->stable_cert && !(s->stable_cert = malloc(sizeof *s->stable_cert))) return;
  memcpy(s->stable_cert, cert, sizeof *cert);
  s->stable_h = h;
  s->st.stable_checkpoint = h;
  s->stable_root = *root;
  s->stable_manifest = *manifest;
  if (persist) pbft_rec_stable(s, h, root, manifest, cert);
  pbft_gc(s);
  if (s->restoring) return;
  pc_hash_t mine;
  if (pbft_root_of(s, h, &mine) && !pc_hash_equal(&mine, root)) {
    PC_WARN(
        "pbft r%u: execution root of %llu disagrees with a stable checkpoint: stop voting, transfer state",
        s->cfg.my_id, (unsigned long long)h);
    s->halted = true;
    pc_cons_action_t a = {.kind = PC_ACT_STATE_TRANSFER};
    a.u.transfer.height = h;
    a.u.transfer.exec_root = root;
    a.u.transfer.manifest = manifest;
    a.u.transfer.cert = cert;
    pc_hash_t chain;
    if (pbft_ckchain_get(s, h, &chain)) a.u.transfer.chain_hash = &chain; /* decided here: the chain is ours */
    pbft_act(s, &a);
  }
  if (h >= s->next && h > s->seen_high) s->seen_high = h;
  /* the log may have moved up to next: ask for what now fits in it */
  if (s->started && s->seen_high >= s->next) {
    s->req_peer = (uint16_t)((s->req_peer + 1) % s->n);
    if (s->req_peer == s->cfg.my_id) s->req_peer = (uint16_t)((s->req_peer + 1) % s->n);
    pbft_catch_up(s, s->req_peer);
  }
}

static pbft_ckpt_t *ckpt_get(pbft_t *s, uint64_t h, const pc_hash_t *digest, bool create) {
  pbft_ckpt_t *free_k = NULL;
  for (int i = 0; i < PBFT_CKPT_SLOTS; i++) {
    pbft_ckpt_t *k = &s->ckpts[i];
    if (!k->used) {
      if (!free_k) free_k = k;
      continue;
    }
    if (k->h == h && pc_hash_equal(&k->digest, digest)) return k;
  }
  if (!create) return NULL;
  if (!free_k) {
    /* replace the tally with the fewest votes (then the lowest height): a
     * faulty replica's votes at made-up heights stay alone and go first */
    for (int i = 0; i < PBFT_CKPT_SLOTS; i++) {
      pbft_ckpt_t *k = &s->ckpts[i];
      if (!free_k || k->count < free_k->count || (k->count == free_k->count && k->h < free_k->h)) free_k = k;
    }
    if (free_k->count >= s->q) return NULL;
  }
  uint8_t(*sigs)[PC_SIG_SIZE] = free_k->sigs;
  memset(free_k, 0, sizeof *free_k);
  free_k->sigs = sigs ? sigs : malloc((size_t)s->n * PC_SIG_SIZE);
  if (!free_k->sigs) return NULL;
  free_k->used = true;
  free_k->h = h;
  free_k->digest = *digest;
  return free_k;
}

static bool ckpt_voted(const pbft_t *s, uint64_t h, uint16_t who) {
  for (int i = 0; i < PBFT_CKPT_SLOTS; i++) {
    const pbft_ckpt_t *k = &s->ckpts[i];
    if (k->used && k->h == h && (k->bitmap[who / 8] >> (who % 8) & 1)) return true;
  }
  return false;
}

static void ckpt_add(pbft_t *s, pbft_ckpt_t *k, uint16_t who, const uint8_t sig[PC_SIG_SIZE],
                     const pc_hash_t *root, const pc_hash_t *manifest) {
  k->root = *root;
  k->manifest = *manifest;
  k->bitmap[who / 8] |= (uint8_t)(1u << (who % 8));
  memcpy(k->sigs[who], sig, PC_SIG_SIZE);
  k->count++;
  if (k->count < s->q) return;
  pc_cert_t *c = s->tmp_cert;
  pc_cert_init(c, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, s->cfg.chain_id, k->h, 0, &k->digest, s->n);
  for (uint16_t i = 0; i < s->n; i++)
    if (k->bitmap[i / 8] >> (i % 8) & 1) pc_cert_add(c, i, k->sigs[i]);
  pc_hash_t r = k->root, m = k->manifest;
  pbft_set_stable(s, k->h, &r, &m, c, true);
  pbft_kick_all(s); /* the high watermark moved */
}

void pbft_checkpoint_executed(pbft_t *s, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest) {
  if (h % s->K || h <= s->stable_h) return;
  pc_hash_t man = {{0}};
  if (manifest) man = *manifest;
  pc_hash_t d;
  pc_checkpoint_digest(&d, h, root, &man);
  uint8_t sig[PC_SIG_SIZE];
  pc_signer_vote_sign(&s->cfg.signer, sig, s->cfg.chain_id, PC_PROTO_PBFT, PC_PHASE_CHECKPOINT, h, 0, &d);
  s->st.signs++;
  pc_writer_t w;
  if (!pbft_scratch(s, &w, PC_MSG_HEADER_SIZE + 2 * PC_HASH_SIZE + PC_SIG_SIZE)) return;
  pc_msg_hdr_t hd = pbft_hdr(s, PC_MSG_CHECKPOINT, h, 0);
  pc_msg_put_header(&w, &hd);
  pc_put_bytes(&w, root->b, PC_HASH_SIZE);
  pc_put_bytes(&w, man.b, PC_HASH_SIZE);
  pc_put_bytes(&w, sig, PC_SIG_SIZE);
  pbft_broadcast(s, w.buf, w.len);
  if (ckpt_voted(s, h, s->cfg.my_id)) return;
  pbft_ckpt_t *k = ckpt_get(s, h, &d, true);
  if (k) ckpt_add(s, k, s->cfg.my_id, sig, root, &man);
}

int pbft_on_checkpoint(pbft_t *s, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  pc_hash_t root, man;
  uint8_t sig[PC_SIG_SIZE];
  pc_get_bytes(r, root.b, PC_HASH_SIZE);
  pc_get_bytes(r, man.b, PC_HASH_SIZE);
  pc_get_bytes(r, sig, PC_SIG_SIZE);
  int err = pc_reader_finish(r);
  if (err) return pc_cons_reject(err);
  uint64_t h = hd->height;
  if (hd->round != 0 || h % s->K) return pc_cons_reject(PC_ERR_INVALID);
  if (h == s->stable_h) return 0; /* a straggler for the checkpoint just made stable */
  if (h < s->stable_h) return pc_cons_reject(PC_ERR_EXPIRED);
  if (ckpt_voted(s, h, hd->sender)) return pc_cons_reject(PC_ERR_DUPLICATE);
  pc_hash_t d;
  pc_checkpoint_digest(&d, h, &root, &man);
  s->st.verifies++;
  if (pc_signer_vote_verify(&s->cfg.signer, hd->sender, sig, s->cfg.chain_id, PC_PROTO_PBFT,
                            PC_PHASE_CHECKPOINT, h, 0, &d))
    return pc_cons_reject(PC_ERR_SIGNATURE);
  pbft_ckpt_t *k = ckpt_get(s, h, &d, true);
  if (!k) return pc_cons_reject(PC_ERR_FULL);
  ckpt_add(s, k, hd->sender, sig, &root, &man);
  return 0;
}

/* ------------------------------------------------------------ catch-up by state transfer */

/* Ask every replica for our next decision (their STABLEs make f+1), at most
 * once per base timeout. */
static void ask_all(pbft_t *s) {
  if (s->jt_req_at && s->now < s->jt_req_at + s->cfg.base_timeout_ns) return;
  s->jt_req_at = s->now ? s->now : 1;
  uint8_t m[PC_MSG_HEADER_SIZE];
  pc_writer_t w;
  pc_writer_init(&w, m, sizeof m);
  pc_msg_hdr_t h = pbft_hdr(s, PC_MSG_PBFT_DEC_REQ, s->next, 0);
  pc_msg_put_header(&w, &h);
  pbft_broadcast(s, m, w.len);
}

int pbft_on_stable(pbft_t *s, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  pc_pbft_stable_t st = {.cert = s->tmp_cert2};
  int err = pc_pbft_stable_decode(r, hd, s->n, s->q, s->K, &st);
  if (err) return err;
  uint64_t S = hd->height;
  uint16_t who = hd->sender;
  if (s->jump_h) return 0; /* a transfer is under way: late answers change nothing */
  if (S < s->next) return pc_cons_reject(PC_ERR_EXPIRED);
  if ((err = pc_claims_check(&s->claims, S, who))) return pc_cons_reject(err);
  if ((err = pbft_cert_check(s, st.cert, PC_CERT_CHECKPOINT))) return pc_cons_reject(err);
  err = pc_claims_add(&s->claims, S, &st.root, &st.manifest, st.cert, who, &st.chain, s->f);
  if (err == PC_ERR_INVALID)
    PC_ERROR("pbft r%u: two certified checkpoints at %llu: the fault bound is broken", s->cfg.my_id,
             (unsigned long long)S);
  if (err < 0) return pc_cons_reject(err);
  if (err == 0) {
    ask_all(s);
    return 0;
  }
  /* f+1 agree on the chain hash at S (one of them is honest): adopt S, transfer its state */
  pc_hash_t root = s->claims.root, man = s->claims.manifest;
  pbft_set_stable(s, S, &root, &man, s->claims.cert, true);
  s->jump_h = S;
  s->jump_chain = st.chain;
  s->jump_root = root;
  s->halted = true;
  PC_INFO("pbft r%u: %llu heights behind stable checkpoint %llu: stop voting, transfer its state", s->cfg.my_id,
          (unsigned long long)(S - s->next + 1), (unsigned long long)S);
  pc_cons_action_t a = {.kind = PC_ACT_STATE_TRANSFER};
  a.u.transfer.height = S;
  a.u.transfer.exec_root = &s->jump_root;
  a.u.transfer.manifest = pc_hash_is_zero(&man) ? NULL : &s->claims.manifest;
  a.u.transfer.cert = s->claims.cert;
  a.u.transfer.chain_hash = &s->jump_chain;
  pbft_act(s, &a);
  return 0;
}
