/* pbft.c — Castro–Liskov PBFT as a pure state machine behind
 * pc_consensus_ops_t (pc_pbft_ops): the normal case (pre-prepare, prepare,
 * commit, all-to-all), in-order decisions, batches, the execution-root rule,
 * answering about decided heights, and the event entry points. View change
 * is in pbft_view.c, checkpoints and garbage collection in
 * pbft_checkpoint.c, records and restore in pbft_log.c, messages in
 * pbft_msg.c. The protocol and its argument: PROTOCOL-PBFT.md.
 *
 * Sequence numbers are heights. The primary of view v is v mod n. The log
 * holds sequence numbers in [base, base + L) with base = min(next, h_s + 1)
 * (next = lowest undecided, h_s = stable checkpoint) and L = 2K + 3W; the
 * primary pre-prepares only sequence numbers < next + W (the same window W
 * as SBFT) and ≤ h_s + L (the high watermark). A block of height h carries
 * the execution root of h − D, D = 2W; a replica votes for it only after it
 * has executed h − D with that root (null blocks of a NEW-VIEW — empty
 * batch, zero root — are exempt: they execute nothing).
 *
 * Catching up by state transfer (PROTOCOL-PBFT.md, "Catch-up"): a request
 * about a height whose DECISION is no longer kept is answered with STABLE
 * (the stable checkpoint S, its certificate and the chain hash at S). A
 * replica with f+1 STABLEs for one S ≥ next that agree on the chain hash
 * adopts S as stable, stops voting and deciding, and emits
 * PC_ACT_STATE_TRANSFER(S) with that chain hash; on_transfer_done(S)
 * persists a BASE record and moves the log to S + 1 (pbft_jump). Heights
 * up to S are never decided nor voted on here.
 */
#include <stdlib.h>
#include <string.h>

#include "consensus/pbft_private.h"

/* --------------------------------------------------------------- helpers */

uint16_t pc_pbft_primary(uint32_t view, uint16_t n) { return (uint16_t)(view % n); }

void pbft_act(pbft_t *s, const pc_cons_action_t *a) {
  if (s->restoring) return;
  s->io.action(s->io.ctx, a);
}

void pbft_send(pbft_t *s, uint16_t to, const uint8_t *m, size_t len) {
  if (to == s->cfg.my_id || s->restoring) return;
  pc_cons_action_t a = {.kind = PC_ACT_SEND};
  a.u.msg.to = to;
  a.u.msg.data = m;
  a.u.msg.len = len;
  s->st.msgs_sent++;
  s->st.bytes_sent += len;
  pbft_act(s, &a);
}

void pbft_broadcast(pbft_t *s, const uint8_t *m, size_t len) {
  if (s->restoring) return;
  pc_cons_action_t a = {.kind = PC_ACT_BROADCAST};
  a.u.msg.data = m;
  a.u.msg.len = len;
  s->st.msgs_sent += s->n - 1;
  s->st.bytes_sent += (uint64_t)len * (s->n - 1);
  pbft_act(s, &a);
}

void pbft_persist(pbft_t *s, const uint8_t *rec, size_t len) {
  if (s->restoring) return;
  pc_cons_action_t a = {.kind = PC_ACT_PERSIST};
  a.u.persist.seq = ++s->persist_seq;
  a.u.persist.data = rec;
  a.u.persist.len = len;
  pbft_act(s, &a);
}

static bool grow(uint8_t **buf, size_t *cap, pc_writer_t *w, size_t need) {
  if (need > *cap) {
    uint8_t *nb = realloc(*buf, need);
    if (!nb) return false;
    *buf = nb;
    *cap = need;
  }
  pc_writer_init(w, *buf, need);
  return true;
}

/* Two scratch buffers: buf for messages, rbuf for records (a record is
 * often built while a message is pending in buf). */
bool pbft_scratch(pbft_t *s, pc_writer_t *w, size_t need) { return grow(&s->buf, &s->buf_cap, w, need); }
bool pbft_rscratch(pbft_t *s, pc_writer_t *w, size_t need) { return grow(&s->rbuf, &s->rbuf_cap, w, need); }

pc_msg_hdr_t pbft_hdr(const pbft_t *s, uint8_t type, uint64_t h, uint32_t view) {
  return (pc_msg_hdr_t){
      .type = type, .sender = s->cfg.my_id, .chain_id = s->cfg.chain_id, .height = h, .round = view};
}

uint64_t pbft_base(const pbft_t *s) { return PC_MIN(s->next, s->stable_h + 1); }

void pbft_slot_release(pbft_t *s, pbft_slot_t *x) {
  (void)s;
  for (int i = 0; i < PBFT_MAX_BLOCKS; i++) free(x->blocks[i].batch);
  for (int i = 0; i < PBFT_MAX_TALLIES; i++) free(x->tallies[i].sigs);
  free(x->prep_cert);
  free(x->dec_cert);
  memset(x, 0, sizeof *x);
}

/* The slot of seq, (re)initialised if it held an older sequence number;
 * NULL outside [base, base + L). */
pbft_slot_t *pbft_slot(pbft_t *s, uint64_t seq) {
  uint64_t base = pbft_base(s);
  if (seq < base || seq >= base + s->L) return NULL;
  pbft_slot_t *x = &s->slots[seq % s->L];
  if (x->seq != seq) {
    pbft_slot_release(s, x);
    x->seq = seq;
  }
  return x;
}

pbft_blk_t *pbft_blk_find(pbft_slot_t *x, const pc_hash_t *id) {
  for (int i = 0; i < PBFT_MAX_BLOCKS; i++)
    if (x->blocks[i].used && pc_hash_equal(&x->blocks[i].id, id)) return &x->blocks[i];
  return NULL;
}

/* Adds (or completes with its batch) a block; when full, replaces a block
 * nothing refers to. */
pbft_blk_t *pbft_blk_add(pbft_t *s, pbft_slot_t *x, const pc_block_t *b, const uint8_t *batch, size_t len,
                         bool has_batch) {
  (void)s;
  pc_hash_t id;
  pc_block_id(b, &id);
  pbft_blk_t *k = pbft_blk_find(x, &id);
  if (!k) {
    for (int i = 0; i < PBFT_MAX_BLOCKS && !k; i++)
      if (!x->blocks[i].used) k = &x->blocks[i];
    for (int i = 0; i < PBFT_MAX_BLOCKS && !k; i++) {
      pbft_blk_t *c = &x->blocks[i];
      bool ref = (x->pp && pc_hash_equal(&c->id, &x->pp_id)) ||
                 (x->pvoted && pc_hash_equal(&c->id, &x->pvote_id)) ||
                 (x->prep_cert && pc_hash_equal(&c->id, &x->prep_cert->digest)) ||
                 (x->decided && pc_hash_equal(&c->id, &x->dec_id));
      if (!ref) {
        free(c->batch);
        memset(c, 0, sizeof *c);
        k = c;
      }
    }
    if (!k) return NULL;
    k->used = true;
    k->id = id;
    k->block = *b;
  }
  if (has_batch && !k->has_batch) {
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return k;
    if (len) memcpy(copy, batch, len);
    k->batch = copy;
    k->batch_len = len;
    k->has_batch = true;
  }
  return k;
}

bool pbft_tally_voted(const pbft_slot_t *x, uint32_t view, uint8_t phase, uint16_t who) {
  for (int i = 0; i < PBFT_MAX_TALLIES; i++) {
    const pbft_tally_t *t = &x->tallies[i];
    if (t->used && t->view == view && t->phase == phase && (t->bitmap[who / 8] >> (who % 8) & 1)) return true;
  }
  return false;
}

/* Adds who's vote; PC_ERR_DUPLICATE if who already voted in (view, phase)
 * (for any block), PC_ERR_FULL if no tally is free. */
int pbft_tally_add(pbft_t *s, pbft_slot_t *x, uint32_t view, uint8_t phase, const pc_hash_t *id, uint16_t who,
                   const uint8_t sig[PC_SIG_SIZE], pbft_tally_t **out) {
  if (pbft_tally_voted(x, view, phase, who)) return PC_ERR_DUPLICATE;
  pbft_tally_t *t = NULL, *free_t = NULL, *low = NULL;
  for (int i = 0; i < PBFT_MAX_TALLIES; i++) {
    pbft_tally_t *c = &x->tallies[i];
    if (!c->used) {
      if (!free_t) free_t = c;
      continue;
    }
    if (c->view == view && c->phase == phase && pc_hash_equal(&c->id, id))
      t = c;
    else if (!low || c->view < low->view)
      low = c;
  }
  if (!t) {
    if (!free_t && low && low->view < view && low->view < s->view) free_t = low; /* evict a stale view */
    if (!free_t) return PC_ERR_FULL;
    uint8_t(*sigs)[PC_SIG_SIZE] = free_t->sigs;
    memset(free_t, 0, sizeof *free_t);
    free_t->sigs = sigs ? sigs : malloc((size_t)s->n * PC_SIG_SIZE);
    if (!free_t->sigs) return PC_ERR_NOMEM;
    free_t->used = true;
    free_t->view = view;
    free_t->phase = phase;
    free_t->id = *id;
    t = free_t;
  }
  t->bitmap[who / 8] |= (uint8_t)(1u << (who % 8));
  memcpy(t->sigs[who], sig, PC_SIG_SIZE);
  t->count++;
  if (out) *out = t;
  return 0;
}

void pbft_tally_cert(const pbft_t *s, const pbft_tally_t *t, uint8_t kind, uint64_t seq, pc_cert_t *c) {
  pc_cert_init(c, PC_PROTO_PBFT, kind, s->cfg.chain_id, seq, t->view, &t->id, s->n);
  for (uint16_t i = 0; i < s->n; i++)
    if (t->bitmap[i / 8] >> (i % 8) & 1) pc_cert_add(c, i, t->sigs[i]);
}

static pbft_tally_t *tally_find(pbft_slot_t *x, uint32_t view, uint8_t phase, const pc_hash_t *id) {
  for (int i = 0; i < PBFT_MAX_TALLIES; i++) {
    pbft_tally_t *t = &x->tallies[i];
    if (t->used && t->view == view && t->phase == phase && pc_hash_equal(&t->id, id)) return t;
  }
  return NULL;
}

bool pbft_root_of(const pbft_t *s, uint64_t h, pc_hash_t *out) {
  if (h == 0) {
    memset(out, 0, sizeof *out);
    return true;
  }
  if (s->roots[h % PBFT_ROOT_RING].h != h) return false;
  *out = s->roots[h % PBFT_ROOT_RING].root;
  return true;
}

bool pbft_vcache_has(const pbft_t *s, const pc_hash_t *id) {
  for (int i = 0; i < PBFT_VCACHE; i++)
    if (pc_hash_equal(&s->vcache[i], id)) return true;
  return false;
}

void pbft_vcache_add(pbft_t *s, const pc_hash_t *id) {
  s->vcache[s->vcache_pos] = *id;
  s->vcache_pos = (s->vcache_pos + 1) % PBFT_VCACHE;
}

/* Verifies a PBFT certificate of `kind` with ≥ q signers, once (cached). */
int pbft_cert_check(pbft_t *s, const pc_cert_t *c, uint8_t kind) {
  if (c->protocol != PC_PROTO_PBFT || c->kind != kind) return PC_ERR_INVALID;
  pc_hash_t id;
  pc_cert_id(c, &id);
  if (pbft_vcache_has(s, &id)) return pc_cert_signers(c) >= s->q ? 0 : PC_ERR_QUORUM;
  int err = pc_signer_cert_verify(&s->cfg.signer, c, s->cfg.chain_id, s->n, s->q, &s->st.verifies);
  if (err) return err;
  pbft_vcache_add(s, &id);
  return 0;
}

void pbft_null_block(const pbft_t *s, uint64_t seq, uint32_t view, pc_block_t *b) {
  memset(b, 0, sizeof *b);
  b->chain_id = s->cfg.chain_id;
  b->height = seq;
  b->creator = pc_pbft_primary(view, s->n);
  pc_batch_hash(&b->batch_hash, NULL, 0);
}

static bool is_null(const pbft_blk_t *b) {
  return b->has_batch && b->batch_len == 0 && pc_hash_is_zero(&b->block.exec_root);
}

uint64_t pbft_timeout(const pbft_t *s) {
  unsigned sh = PC_MIN(s->vc_attempts, PBFT_MAX_SHIFT);
  return s->cfg.base_timeout_ns << sh;
}

static bool exec_ready(const pbft_t *s, uint64_t h) { return h <= s->D || s->last_executed >= h - s->D; }

/* The execution-root rule: vote for b at its height only after executing
 * h − D with the same root (null blocks execute nothing: exempt). */
static bool can_vote(const pbft_t *s, const pbft_blk_t *b) {
  if (s->halted || !b->has_batch) return false;
  if (is_null(b)) return true;
  uint64_t h = b->block.height;
  if (!exec_ready(s, h)) return false;
  pc_hash_t root;
  if (!pbft_root_of(s, h > s->D ? h - s->D : 0, &root)) return false;
  return pc_hash_equal(&root, &b->block.exec_root);
}

static int reject(pbft_t *s, int err) {
  s->st.rejected++;
  return err;
}

/* --------------------------------------------------------------- sending */

static void send_vote(pbft_t *s, uint8_t type, uint64_t seq, uint32_t view, const pc_hash_t *id,
                      const uint8_t *sig, int to) {
  pc_writer_t w;
  if (!pbft_scratch(s, &w, PC_MSG_HEADER_SIZE + PC_HASH_SIZE + PC_SIG_SIZE)) return;
  pc_msg_hdr_t h = pbft_hdr(s, type, seq, view);
  pc_pbft_vote_encode(&w, &h, id, sig);
  if (to < 0)
    pbft_broadcast(s, w.buf, w.len);
  else
    pbft_send(s, (uint16_t)to, w.buf, w.len);
}

static void send_pp(pbft_t *s, const pbft_blk_t *b, uint32_t view, const uint8_t *sig, int to) {
  size_t need = PC_MSG_HEADER_SIZE + PC_SIG_SIZE + 1 + 4 + 2 + 4 + PC_BLOCK_SIZE + 4 + b->batch_len;
  pc_writer_t w;
  if (!pbft_scratch(s, &w, need)) return;
  pc_msg_hdr_t h = pbft_hdr(s, PC_MSG_PBFT_PRE_PREPARE, b->block.height, view);
  pc_pbft_pp_encode(&w, &h, &b->block, b->batch, b->batch_len, sig);
  if (to < 0)
    pbft_broadcast(s, w.buf, w.len);
  else
    pbft_send(s, (uint16_t)to, w.buf, w.len);
}

/* to < 0: ask every replica. */
void pbft_request_block(pbft_t *s, pbft_slot_t *x, const pc_hash_t *id, int to) {
  /* at most one request per half timeout (requests and answers can be lost) */
  if (x->want_block && pc_hash_equal(&x->want_id, id) && to < 0 && s->now < x->want_at) return;
  x->want_block = true;
  x->want_id = *id;
  x->want_at = s->now + s->cfg.base_timeout_ns / 2;
  pc_writer_t w;
  if (!pbft_scratch(s, &w, PC_MSG_HEADER_SIZE + PC_HASH_SIZE)) return;
  pc_msg_hdr_t h = pbft_hdr(s, PC_MSG_BLOCK_REQ, x->seq, 0);
  pc_msg_block_req_encode(&w, &h, id);
  if (to < 0)
    pbft_broadcast(s, w.buf, w.len);
  else
    pbft_send(s, (uint16_t)to, w.buf, w.len);
}

static void send_dec_req(pbft_t *s, uint16_t to, uint64_t seq) {
  pc_writer_t w;
  if (!pbft_scratch(s, &w, PC_MSG_HEADER_SIZE)) return;
  pc_msg_hdr_t h = pbft_hdr(s, PC_MSG_PBFT_DEC_REQ, seq, 0);
  pc_msg_put_header(&w, &h);
  pbft_send(s, to, w.buf, w.len);
}

/* Behind the others (seen_high ≥ next): ask `to` for the decisions of up
 * to PBFT_CATCHUP heights from next on that are not decided here and not
 * asked for since the last retry (req_hi), so that catching up takes one
 * round trip per PBFT_CATCHUP heights, not per height. Once a STABLE said
 * the decisions are gone (claims.h ≥ next), only next is asked for. */
void pbft_catch_up(pbft_t *s, uint16_t to) {
  if (s->jump_h || s->seen_high < s->next) return;
  /* no further than the log holds: a DECISION beyond it would be refused */
  uint64_t hi = PC_MIN(PC_MIN(s->seen_high, s->next + PBFT_CATCHUP - 1), pbft_base(s) + s->L - 1);
  if (s->claims.h >= s->next) hi = s->next;
  for (uint64_t seq = PC_MAX(s->req_hi + 1, s->next); seq <= hi; seq++) {
    pbft_slot_t *x = pbft_slot(s, seq);
    pbft_blk_t *b = x && x->decided ? pbft_blk_find(x, &x->dec_id) : NULL;
    if (!b || !b->has_batch) send_dec_req(s, to, seq);
  }
  if (hi > s->req_hi) s->req_hi = hi;
}

/* --------------------------------------------------------------- primary */

static void try_propose(pbft_t *s) {
  if (!s->started || !s->active || s->halted || pc_pbft_primary(s->view, s->n) != s->cfg.my_id) return;
  uint64_t first = PC_MAX(s->next, s->max_issued + 1);
  for (uint64_t seq = first; seq < s->next + s->W && seq <= s->stable_h + s->L; seq++) {
    pbft_slot_t *x = pbft_slot(s, seq);
    if (!x || x->decided) continue;
    if ((x->pp && x->pp_view == s->view) || (x->pvoted && x->pvote_view == s->view)) continue;
    if (!exec_ready(s, seq)) break; /* the block needs the root of seq − D */
    if (x->need_batch && x->need_view == s->view) continue;
    x->need_batch = true;
    x->need_view = s->view;
    pc_cons_action_t a = {.kind = PC_ACT_NEED_BATCH};
    a.u.need_batch.height = seq;
    a.u.need_batch.max_txs = s->cfg.batch_max_txs;
    a.u.need_batch.max_bytes = s->cfg.batch_max_bytes;
    pbft_act(s, &a);
  }
}

static int pbft_on_batch(pc_consensus_t *c, uint64_t seq, const uint8_t *batch, size_t len, uint64_t ts) {
  pbft_t *s = (pbft_t *)c;
  pbft_slot_t *x = pbft_slot(s, seq);
  if (!x || !x->need_batch || x->need_view != s->view || !s->active || x->decided ||
      pc_pbft_primary(s->view, s->n) != s->cfg.my_id || (x->pvoted && x->pvote_view == s->view) ||
      seq <= s->max_issued)
    return PC_ERR_STATE;
  if (len > s->cfg.batch_max_bytes || pc_batch_count(batch, len) < 0) return PC_ERR_INVALID;
  pc_hash_t root;
  if (!pbft_root_of(s, seq > s->D ? seq - s->D : 0, &root)) return PC_ERR_STATE;
  x->need_batch = false;
  pc_block_t b = {.chain_id = s->cfg.chain_id,
                  .height = seq,
                  .creator = s->cfg.my_id,
                  .timestamp_us = ts,
                  .exec_root = root};
  pc_batch_hash(&b.batch_hash, batch, len);
  pbft_blk_t *k = pbft_blk_add(s, x, &b, batch, len, true);
  if (!k || !k->has_batch) return PC_ERR_NOMEM;
  uint8_t sig[PC_SIG_SIZE];
  pc_signer_vote_sign(&s->cfg.signer, sig, s->cfg.chain_id, PC_PROTO_PBFT, PC_PHASE_PREPARE, seq, s->view,
                      &k->id);
  s->st.signs++;
  /* durable before the pre-prepare (= my prepare vote) leaves */
  pbft_rec_block(s, k);
  pbft_rec_prepare(s, seq, s->view, &k->block, sig);
  x->pp = true;
  x->pp_view = s->view;
  x->pp_id = k->id;
  x->pvoted = true;
  x->pvote_view = s->view;
  x->pvote_id = k->id;
  memcpy(x->pvote_sig, sig, PC_SIG_SIZE);
  pbft_tally_add(s, x, s->view, PC_PHASE_PREPARE, &k->id, s->cfg.my_id, sig, NULL);
  send_pp(s, k, s->view, sig, -1);
  pbft_try_progress(s, x);
  return 0;
}

/* --------------------------------------------------------------- progress */

static void decide(pbft_t *s, pbft_slot_t *x, const pc_hash_t *id, const pc_cert_t *cert) {
  if (x->decided) return;
  if (!x->dec_cert && !(x->dec_cert = malloc(sizeof *x->dec_cert))) return;
  memcpy(x->dec_cert, cert, sizeof *cert);
  x->decided = true;
  x->dec_id = *id;
  x->need_batch = false;
  s->st.decided++;
  pbft_blk_t *b = pbft_blk_find(x, id);
  if (!b || !b->has_batch) pbft_request_block(s, x, id, -1);
  pbft_emit_decisions(s);
}

void pbft_try_progress(pbft_t *s, pbft_slot_t *x) {
  if (!x->decided) {
    /* committed: q commit votes for one block in one view */
    for (int i = 0; i < PBFT_MAX_TALLIES; i++) {
      pbft_tally_t *t = &x->tallies[i];
      if (t->used && t->phase == PC_PHASE_COMMIT && t->count >= s->q) {
        pbft_tally_cert(s, t, PC_CERT_COMMIT, x->seq, s->tmp_cert);
        decide(s, x, &t->id, s->tmp_cert);
        return;
      }
    }
  }
  if (x->decided) return;
  if (!s->active || s->halted || !s->started) return;
  uint32_t v = s->view;
  if (!x->pp || x->pp_view != v) return;
  pbft_blk_t *b = pbft_blk_find(x, &x->pp_id);
  if (!b) return;
  if (!b->has_batch) {
    pbft_request_block(s, x, &x->pp_id, -1);
    return;
  }
  if (!(x->pvoted && x->pvote_view == v)) {
    if (!can_vote(s, b)) return; /* h − D not executed yet, or a root mismatch: withhold */
    uint8_t sig[PC_SIG_SIZE];
    pc_signer_vote_sign(&s->cfg.signer, sig, s->cfg.chain_id, PC_PROTO_PBFT, PC_PHASE_PREPARE, x->seq, v,
                        &b->id);
    s->st.signs++;
    if (!b->persisted) pbft_rec_block(s, b);
    pbft_rec_prepare(s, x->seq, v, &b->block, sig);
    x->pvoted = true;
    x->pvote_view = v;
    x->pvote_id = b->id;
    memcpy(x->pvote_sig, sig, PC_SIG_SIZE);
    pbft_tally_add(s, x, v, PC_PHASE_PREPARE, &b->id, s->cfg.my_id, sig, NULL);
    send_vote(s, PC_MSG_PBFT_PREPARE, x->seq, v, &b->id, sig, -1);
  }
  if (!pc_hash_equal(&x->pvote_id, &b->id)) return;
  /* prepared: q prepare votes (the primary's inside its pre-prepare) */
  pbft_tally_t *t = tally_find(x, v, PC_PHASE_PREPARE, &b->id);
  if (!t || t->count < s->q) return;
  if (!(x->cvoted && x->cvote_view == v)) {
    if (!x->prep_cert && !(x->prep_cert = malloc(sizeof *x->prep_cert))) return;
    pbft_tally_cert(s, t, PC_CERT_PREPARE, x->seq, x->prep_cert);
    x->prep_block = b->block;
    uint8_t sig[PC_SIG_SIZE];
    pc_signer_vote_sign(&s->cfg.signer, sig, s->cfg.chain_id, PC_PROTO_PBFT, PC_PHASE_COMMIT, x->seq, v,
                        &b->id);
    s->st.signs++;
    /* the prepared certificate is durable before the commit vote leaves, so
     * a restarted replica still reports it in its VIEW-CHANGE */
    pbft_rec_commit(s, x->seq, v, &b->id, sig, x->prep_cert);
    x->cvoted = true;
    x->cvote_view = v;
    x->cvote_id = b->id;
    memcpy(x->cvote_sig, sig, PC_SIG_SIZE);
    pbft_tally_t *ct = NULL;
    pbft_tally_add(s, x, v, PC_PHASE_COMMIT, &b->id, s->cfg.my_id, sig, &ct);
    send_vote(s, PC_MSG_PBFT_COMMIT, x->seq, v, &b->id, sig, -1);
    if (ct && ct->count >= s->q) pbft_try_progress(s, x);
  }
}

static void check_certified_root(pbft_t *s, const pc_block_t *b, const pc_cert_t *cert) {
  if (b->height <= s->D || (pc_hash_is_zero(&b->exec_root))) return;
  uint64_t h = b->height - s->D;
  pc_hash_t mine;
  if (!pbft_root_of(s, h, &mine) || pc_hash_equal(&mine, &b->exec_root)) return;
  PC_WARN("pbft r%u: execution root of %llu disagrees with a certified one: stop voting, transfer state",
          s->cfg.my_id, (unsigned long long)h);
  s->halted = true;
  pc_cons_action_t a = {.kind = PC_ACT_STATE_TRANSFER};
  a.u.transfer.height = h;
  a.u.transfer.exec_root = &b->exec_root;
  a.u.transfer.manifest = NULL;
  a.u.transfer.cert = cert;
  pbft_act(s, &a);
}

void pbft_dec_store(pbft_t *s, uint64_t h, uint8_t *msg, size_t len) {
  pbft_dec_t *d = &s->dec[h % PBFT_DEC_RING];
  free(d->msg);
  d->h = h;
  d->msg = msg;
  d->len = len;
}

static void after_decision(pbft_t *s) {
  s->vc_attempts = 0;
  if (s->active) s->vc_deadline = exec_ready(s, s->next) ? s->now + pbft_timeout(s) : 0;
}

void pbft_emit_decisions(pbft_t *s) {
  bool any = false;
  for (;;) {
    /* a transfer to jump_h is under way: its state replaces what these would execute */
    if (s->jump_h && s->next <= s->jump_h) break;
    pbft_slot_t *x = pbft_slot(s, s->next);
    if (!x || !x->decided) break;
    pbft_blk_t *b = pbft_blk_find(x, &x->dec_id);
    if (!b || !b->has_batch) break;
    pc_msg_hdr_t h = pbft_hdr(s, PC_MSG_DECISION, x->seq, x->dec_cert->round);
    pc_msg_decision_t d = {
        .block = b->block, .batch = b->batch, .batch_len = b->batch_len, .cert = x->dec_cert};
    size_t need = PC_MSG_HEADER_SIZE + PC_BLOCK_SIZE + 4 + b->batch_len + pc_cert_encoded_size(x->dec_cert);
    uint8_t *m = malloc(need);
    if (!m) break;
    pc_writer_t w;
    pc_writer_init(&w, m, need);
    pc_msg_decision_encode(&w, &h, &d);
    pbft_rec_decided(s, x->seq, m, w.len);
    pc_hash_t ch;
    pc_chain_hash(&ch, &b->id, &s->chain_hash);
    pc_cons_action_t a = {.kind = PC_ACT_DECIDE};
    a.u.decide.height = x->seq;
    a.u.decide.block = &b->block;
    a.u.decide.block_id = &b->id;
    a.u.decide.chain_hash = &ch;
    a.u.decide.batch = b->batch;
    a.u.decide.batch_len = b->batch_len;
    a.u.decide.cert = x->dec_cert;
    pbft_act(s, &a);
    s->chain_hash = ch;
    pbft_ckchain_note(s, x->seq, &ch);
    s->st.last_decided = x->seq;
    check_certified_root(s, &b->block, x->dec_cert);
    pbft_dec_store(s, x->seq, m, w.len);
    s->next++;
    any = true;
  }
  if (any && !s->restoring) {
    after_decision(s);
    try_propose(s);
  }
}

void pbft_kick_all(pbft_t *s) {
  uint64_t base = pbft_base(s);
  for (uint64_t seq = PC_MAX(base, s->next); seq < base + s->L; seq++) {
    pbft_slot_t *x = &s->slots[seq % s->L];
    if (x->seq == seq) pbft_try_progress(s, x);
  }
  pbft_emit_decisions(s);
  try_propose(s);
}

void pbft_ckchain_note(pbft_t *s, uint64_t h, const pc_hash_t *chain) {
  if (h % s->K) return;
  s->ckchain[(h / s->K) % PBFT_CHAIN_RING].h = h;
  s->ckchain[(h / s->K) % PBFT_CHAIN_RING].chain = *chain;
}

bool pbft_ckchain_get(const pbft_t *s, uint64_t h, pc_hash_t *out) {
  if (!h || h % s->K || s->ckchain[(h / s->K) % PBFT_CHAIN_RING].h != h) return false;
  *out = s->ckchain[(h / s->K) % PBFT_CHAIN_RING].chain;
  return true;
}

/* The stable checkpoint, for a replica asking about h ≤ S whose DECISION is gone. */
static void answer_stable(pbft_t *s, uint16_t to, uint64_t h, bool force) {
  uint64_t S = s->stable_h;
  pc_hash_t chain;
  if (!S || S < h || !s->stable_cert || !pbft_ckchain_get(s, S, &chain)) return;
  /* once per checkpoint and peer; a request (force) again only after half a
   * base timeout — answers can be lost, but one DEC-REQ per missing height
   * must not draw one STABLE each */
  if (s->stable_sent[to] == S && (!force || s->now < s->stable_sent_at[to] + s->cfg.base_timeout_ns / 2)) return;
  s->stable_sent[to] = S;
  s->stable_sent_at[to] = s->now;
  pc_writer_t w;
  if (!pbft_scratch(s, &w, PC_MSG_HEADER_SIZE + 3 * PC_HASH_SIZE + pc_cert_encoded_size(s->stable_cert))) return;
  pc_msg_hdr_t hd = pbft_hdr(s, PC_MSG_PBFT_STABLE, S, 0);
  pc_pbft_stable_encode(&w, &hd, &s->stable_root, &s->stable_manifest, &chain, s->stable_cert);
  pbft_send(s, to, w.buf, w.len);
}

void pbft_answer_decided(pbft_t *s, uint16_t to, uint64_t h, bool force) {
  pbft_dec_t *d = &s->dec[h % PBFT_DEC_RING];
  if (d->h != h || !d->msg) {
    answer_stable(s, to, h, force);
    return;
  }
  pbft_send(s, to, d->msg, d->len);
}

void pbft_jump(pbft_t *s, uint64_t h, const pc_hash_t *chain, const pc_hash_t *root) {
  pbft_rec_base(s, h, chain, root); /* nothing while restoring: the record is being replayed */
  if (!s->restoring)
    PC_INFO("pbft r%u: state of %llu installed: continuing at %llu", s->cfg.my_id, (unsigned long long)h,
            (unsigned long long)(h + 1));
  s->next = h + 1;
  s->chain_hash = *chain;
  s->st.last_decided = h;
  pbft_ckchain_note(s, h, chain);
  s->roots[h % PBFT_ROOT_RING].h = h;
  s->roots[h % PBFT_ROOT_RING].root = *root;
  if (h > s->last_executed) s->last_executed = h;
  s->jump_h = 0;
  s->halted = false;
  pbft_gc(s); /* the log now starts at h + 1 */
  if (s->restoring || !s->started) return;
  after_decision(s);
  s->req_at = s->now; /* still behind? ask again at the next tick */
  pbft_kick_all(s);
}

/* --------------------------------------------------------------- receiving */

/* Common window checks for messages about one sequence number. */
/* Returns 1 (ignored, counted in stats.late, not a rejection) for a
 * straggler about a height decided here and still in the log (a slow
 * replica's vote: it gets the other votes anyway). Below the low watermark
 * the message is stale: rejected, and its sender, evidently behind, gets
 * the DECISION (once per height). */
static int window_check(pbft_t *s, uint16_t from, uint64_t seq, pbft_slot_t **out) {
  if (seq < s->next) {
    if (seq >= pbft_base(s)) {
      s->st.late++;
      return 1;
    }
    if (s->answered[from] < seq) {
      s->answered[from] = seq;
      pbft_answer_decided(s, from, seq, false);
    }
    return pc_cons_reject(PC_ERR_EXPIRED);
  }
  /* a primary pre-prepares seq only below its next + W, so whoever works
   * on seq has decided seq − W: if that is beyond us, catch up */
  if (seq >= s->next + s->W && seq - s->W > s->seen_high) {
    bool was_behind = s->seen_high >= s->next;
    s->seen_high = seq - s->W;
    if (!was_behind && s->started) {
      s->req_hi = s->next - 1;
      pbft_catch_up(s, from);
      s->req_at = s->now + s->cfg.base_timeout_ns;
    }
  }
  pbft_slot_t *x = pbft_slot(s, seq);
  if (!x) return pc_cons_reject(PC_ERR_RANGE);
  *out = x;
  return 0;
}

static int on_pre_prepare(pbft_t *s, uint16_t from, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  if (hd->round < s->view) return pc_cons_reject(PC_ERR_EXPIRED);
  if (hd->round > s->view || !s->active) return pc_cons_reject(PC_ERR_STATE); /* NEW-VIEW not installed */
  if (from != pc_pbft_primary(hd->round, s->n)) return pc_cons_reject(PC_ERR_INVALID);
  pbft_slot_t *x;
  int err = window_check(s, from, hd->height, &x);
  if (err) return err < 0 ? err : 0;
  if (hd->height <= s->max_issued || hd->height > s->stable_h + s->L) return pc_cons_reject(PC_ERR_RANGE);
  pc_pbft_pp_t pp;
  if ((err = pc_pbft_pp_decode(r, hd, s->cfg.batch_max_bytes, &pp))) return err;
  if (pp.block.creator != from) return pc_cons_reject(PC_ERR_INVALID);
  pc_hash_t id;
  pc_block_id(&pp.block, &id);
  if (x->decided) return 0; /* decided already (emitted once the lower heights are) */
  if (x->pp && x->pp_view == hd->round)
    return pc_cons_reject(pc_hash_equal(&x->pp_id, &id) ? PC_ERR_DUPLICATE : PC_ERR_INVALID);
  if (pbft_tally_voted(x, hd->round, PC_PHASE_PREPARE, from)) return pc_cons_reject(PC_ERR_DUPLICATE);
  s->st.verifies++;
  if (pc_signer_vote_verify(&s->cfg.signer, from, pp.sig, s->cfg.chain_id, PC_PROTO_PBFT, PC_PHASE_PREPARE,
                            hd->height, hd->round, &id))
    return pc_cons_reject(PC_ERR_SIGNATURE);
  if (!pbft_blk_add(s, x, &pp.block, pp.batch, pp.batch_len, true)) return pc_cons_reject(PC_ERR_FULL);
  x->pp = true;
  x->pp_view = hd->round;
  x->pp_id = id;
  pbft_tally_add(s, x, hd->round, PC_PHASE_PREPARE, &id, from, pp.sig, NULL);
  pbft_try_progress(s, x);
  return 0;
}

static int on_vote(pbft_t *s, uint16_t from, const pc_msg_hdr_t *hd, pc_reader_t *r, uint8_t phase) {
  pbft_slot_t *x;
  int err = window_check(s, from, hd->height, &x);
  if (err) return err < 0 ? err : 0;
  if (hd->round > s->view + 2) return pc_cons_reject(PC_ERR_RANGE);
  if (phase == PC_PHASE_PREPARE && hd->round < s->view) return pc_cons_reject(PC_ERR_EXPIRED);
  if (phase == PC_PHASE_PREPARE && from == pc_pbft_primary(hd->round, s->n))
    return pc_cons_reject(PC_ERR_INVALID);
  pc_hash_t id;
  uint8_t sig[PC_SIG_SIZE];
  if ((err = pc_pbft_vote_decode(r, &id, sig))) return err;
  if (x->decided) return 0; /* a straggler: decided here, the decision is being emitted */
  if (pbft_tally_voted(x, hd->round, phase, from)) return pc_cons_reject(PC_ERR_DUPLICATE);
  s->st.verifies++;
  if (pc_signer_vote_verify(&s->cfg.signer, from, sig, s->cfg.chain_id, PC_PROTO_PBFT, phase, hd->height,
                            hd->round, &id))
    return pc_cons_reject(PC_ERR_SIGNATURE);
  if ((err = pbft_tally_add(s, x, hd->round, phase, &id, from, sig, NULL))) return pc_cons_reject(err);
  pbft_try_progress(s, x);
  return 0;
}

static int on_decision(pbft_t *s, uint16_t from, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  pc_msg_decision_t d = {.cert = s->tmp_cert2};
  int err = pc_msg_decision_decode(r, hd, &d);
  if (err) return err;
  if (d.cert->protocol != PC_PROTO_PBFT || d.cert->kind != PC_CERT_COMMIT)
    return pc_cons_reject(PC_ERR_INVALID);
  if (hd->height < s->next) return 0; /* have it already (answers can cross) */
  pbft_slot_t *x = pbft_slot(s, hd->height);
  if (!x) return pc_cons_reject(PC_ERR_RANGE);
  pbft_blk_t *have = x->decided ? pbft_blk_find(x, &x->dec_id) : NULL;
  if (have && have->has_batch) return 0; /* decided here, emitted once lower heights are */
  if ((err = pbft_cert_check(s, d.cert, PC_CERT_COMMIT))) return pc_cons_reject(err);
  pc_hash_t id;
  pc_block_id(&d.block, &id);
  if (x->decided && !pc_hash_equal(&id, &x->dec_id)) {
    PC_ERROR("pbft r%u: two certified decisions at %llu: the fault bound is broken", s->cfg.my_id,
             (unsigned long long)hd->height);
    return pc_cons_reject(PC_ERR_INVALID);
  }
  if (!pbft_blk_add(s, x, &d.block, d.batch, d.batch_len, true)) return pc_cons_reject(PC_ERR_FULL);
  uint64_t before = s->next;
  if (!x->decided)
    decide(s, x, &id, d.cert);
  else
    pbft_emit_decisions(s);
  if (s->next > before) pbft_catch_up(s, from); /* keep catching up */
  return 0;
}

static int on_dec_req(pbft_t *s, uint16_t from, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  int err = pc_reader_finish(r);
  if (err) return pc_cons_reject(err);
  if (hd->round != 0) return pc_cons_reject(PC_ERR_INVALID);
  if (hd->height >= s->next) return 0; /* not decided here yet */
  pbft_answer_decided(s, from, hd->height, true);
  return 0;
}

static int on_block_req(pbft_t *s, uint16_t from, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  pc_hash_t id;
  int err = pc_msg_block_req_decode(r, &id);
  if (err) return err;
  pbft_slot_t *x = NULL;
  uint64_t base = pbft_base(s);
  if (hd->height >= base && hd->height < base + s->L && s->slots[hd->height % s->L].seq == hd->height)
    x = &s->slots[hd->height % s->L];
  pbft_blk_t *b = x ? pbft_blk_find(x, &id) : NULL;
  if (!b || !b->has_batch) {
    if (hd->height < s->next) pbft_answer_decided(s, from, hd->height, false);
    return 0;
  }
  size_t need = PC_MSG_HEADER_SIZE + PC_BLOCK_SIZE + 4 + b->batch_len;
  pc_writer_t w;
  if (!pbft_scratch(s, &w, need)) return PC_ERR_NOMEM;
  pc_msg_hdr_t h = pbft_hdr(s, PC_MSG_BLOCK, hd->height, 0);
  pc_msg_block_encode(&w, &h, &b->block, b->batch, b->batch_len);
  pbft_send(s, from, w.buf, w.len);
  return 0;
}

static int on_block(pbft_t *s, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  pc_block_t b;
  const uint8_t *batch;
  size_t blen;
  int err = pc_msg_block_decode(r, hd, &b, &batch, &blen);
  if (err) return err;
  if (blen > s->cfg.batch_max_bytes) return pc_cons_reject(PC_ERR_TOO_LARGE);
  pbft_slot_t *x = pbft_slot(s, hd->height);
  if (!x) return pc_cons_reject(PC_ERR_RANGE);
  pc_hash_t id;
  pc_block_id(&b, &id);
  pbft_blk_t *k = pbft_blk_find(x, &id);
  bool wanted = (x->want_block && pc_hash_equal(&x->want_id, &id)) || (k && !k->has_batch);
  if (!wanted) return pc_cons_reject(PC_ERR_INVALID); /* unsolicited */
  if (k && k->has_batch) return pc_cons_reject(PC_ERR_DUPLICATE);
  if (!pbft_blk_add(s, x, &b, batch, blen, true)) return pc_cons_reject(PC_ERR_FULL);
  if (x->want_block && pc_hash_equal(&x->want_id, &id)) x->want_block = false;
  pbft_try_progress(s, x);
  pbft_emit_decisions(s);
  return 0;
}

static int pbft_on_message(pc_consensus_t *c, uint16_t from, const uint8_t *m, size_t len) {
  pbft_t *s = (pbft_t *)c;
  s->st.msgs_received++;
  if (!s->started) return reject(s, pc_cons_reject(PC_ERR_STATE));
  pc_reader_t r;
  pc_msg_hdr_t hd;
  int err = pc_msg_get_header(&r, m, len, s->cfg.chain_id, s->n, from, &hd);
  if (err) return reject(s, err);
  switch (hd.type) {
    case PC_MSG_PBFT_PRE_PREPARE: err = on_pre_prepare(s, from, &hd, &r); break;
    case PC_MSG_PBFT_PREPARE: err = on_vote(s, from, &hd, &r, PC_PHASE_PREPARE); break;
    case PC_MSG_PBFT_COMMIT: err = on_vote(s, from, &hd, &r, PC_PHASE_COMMIT); break;
    case PC_MSG_PBFT_VIEW_CHANGE: err = pbft_on_view_change(s, from, m, len); break;
    case PC_MSG_PBFT_NEW_VIEW: err = pbft_on_new_view(s, from, m, len); break;
    case PC_MSG_PBFT_DEC_REQ: err = on_dec_req(s, from, &hd, &r); break;
    case PC_MSG_PBFT_STABLE: err = pbft_on_stable(s, &hd, &r); break;
    case PC_MSG_DECISION: err = on_decision(s, from, &hd, &r); break;
    case PC_MSG_CHECKPOINT: err = pbft_on_checkpoint(s, &hd, &r); break;
    case PC_MSG_BLOCK_REQ: err = on_block_req(s, from, &hd, &r); break;
    case PC_MSG_BLOCK: err = on_block(s, &hd, &r); break;
    default: err = pc_cons_reject(PC_ERR_UNSUPPORTED); break;
  }
  /* every path that refuses a message has counted it with pc_cons_reject */
  if (err) return reject(s, err);
  return 0;
}

/* --------------------------------------------------------------- timers */

static void pbft_on_tick(pc_consensus_t *c, uint64_t now) {
  pbft_t *s = (pbft_t *)c;
  if (now > s->now) s->now = now;
  if (!s->started) return;
  if (s->active && s->vc_deadline == 0 && exec_ready(s, s->next) && !s->halted)
    s->vc_deadline = s->now + pbft_timeout(s);
  if (s->seen_high >= s->next && s->now >= s->req_at && !s->jump_h) {
    /* behind the others: ask a peer (in turn) for the next decision */
    s->req_peer = (uint16_t)((s->req_peer + 1) % s->n);
    if (s->req_peer == s->cfg.my_id) s->req_peer = (uint16_t)((s->req_peer + 1) % s->n);
    s->req_hi = s->next - 1; /* requests and answers can be lost: ask again */
    pbft_catch_up(s, s->req_peer);
    s->req_at = s->now + s->cfg.base_timeout_ns;
  }
  uint64_t base = pbft_base(s);
  for (uint64_t seq = PC_MAX(base, s->next); seq < base + s->L; seq++) {
    pbft_slot_t *x = &s->slots[seq % s->L];
    if (x->seq == seq && x->want_block && s->now >= x->want_at) {
      pbft_blk_t *b = pbft_blk_find(x, &x->want_id);
      if (b && b->has_batch)
        x->want_block = false;
      else
        pbft_request_block(s, x, &x->want_id, -1);
    }
  }
  if (!s->active && s->now >= s->vc_resend_at) {
    /* VIEW-CHANGEs can be lost: repeat mine (the same message) until the view is installed */
    uint16_t me = s->cfg.my_id;
    if (s->vc_msg[me] && s->vc_view[me] == s->view) pbft_broadcast(s, s->vc_msg[me], s->vc_len[me]);
    s->vc_resend_at = s->now + s->cfg.base_timeout_ns;
  }
  if (s->vc_deadline && s->now >= s->vc_deadline && !s->halted) {
    s->vc_deadline = 0;
    pbft_start_view_change(s, s->view + 1);
  }
}

static uint64_t pbft_next_deadline(const pc_consensus_t *c) {
  const pbft_t *s = (const pbft_t *)c;
  uint64_t d = UINT64_MAX;
  if (s->vc_deadline)
    d = s->vc_deadline;
  else if (s->active && !s->halted && exec_ready(s, s->next))
    d = s->now; /* the view timer arms on the next tick */
  if (s->seen_high >= s->next && !s->jump_h && s->req_at < d) d = PC_MAX(s->req_at, s->now);
  if (!s->active && s->vc_resend_at < d) d = s->vc_resend_at;
  uint64_t base = pbft_base(s);
  for (uint64_t seq = PC_MAX(base, s->next); seq < base + s->L; seq++) {
    const pbft_slot_t *x = &s->slots[seq % s->L];
    if (x->seq == seq && x->want_block && x->want_at < d) d = x->want_at;
  }
  return d;
}

/* --------------------------------------------------------------- lifecycle */

static int pbft_on_executed(pc_consensus_t *c, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest) {
  pbft_t *s = (pbft_t *)c;
  if (h == 0 || (s->started && s->last_executed && h != s->last_executed + 1)) return PC_ERR_RANGE;
  s->roots[h % PBFT_ROOT_RING].h = h;
  s->roots[h % PBFT_ROOT_RING].root = *root;
  if (h > s->last_executed) s->last_executed = h;
  if (!s->started) return 0;
  pbft_checkpoint_executed(s, h, root, manifest);
  pbft_kick_all(s);
  return 0;
}

static void pbft_on_persist_done(pc_consensus_t *c, uint64_t seq) {
  (void)c;
  (void)seq; /* the driver holds dependent sends; nothing waits here */
}

static int pbft_on_transfer_done(pc_consensus_t *c, uint64_t h, const pc_hash_t *root) {
  pbft_t *s = (pbft_t *)c;
  if (s->jump_h && h == s->jump_h && h >= s->next) {
    if (!pc_hash_equal(root, &s->jump_root)) {
      PC_ERROR("pbft r%u: transferred state of %llu has another root than its checkpoint: still halted",
               s->cfg.my_id, (unsigned long long)h);
      return PC_ERR_CHECKSUM;
    }
    pbft_jump(s, h, &s->jump_chain, root);
    return 0;
  }
  s->roots[h % PBFT_ROOT_RING].h = h;
  s->roots[h % PBFT_ROOT_RING].root = *root;
  if (h > s->last_executed) s->last_executed = h;
  s->halted = false;
  pbft_kick_all(s);
  return 0;
}

static int pbft_start(pc_consensus_t *c, uint64_t now) {
  pbft_t *s = (pbft_t *)c;
  if (s->started) return PC_ERR_STATE;
  s->now = now;
  s->started = true;
  if (!s->active) {
    /* restarted during a view change: re-send the same VIEW-CHANGE */
    uint16_t me = s->cfg.my_id;
    if (s->vc_msg[me]) pbft_broadcast(s, s->vc_msg[me], s->vc_len[me]);
    s->vc_resend_at = now + s->cfg.base_timeout_ns;
    pbft_arm_vc_timer(s);
    return 0;
  }
  /* a restarted replica re-sends the votes it already cast in this view
   * (the same signatures: not a second vote) */
  uint64_t base = pbft_base(s);
  for (uint64_t seq = PC_MAX(base, s->next); seq < base + s->L; seq++) {
    pbft_slot_t *x = &s->slots[seq % s->L];
    if (x->seq != seq || x->decided) continue;
    if (x->pvoted && x->pvote_view == s->view) {
      if (pc_pbft_primary(s->view, s->n) == s->cfg.my_id) {
        pbft_blk_t *b = pbft_blk_find(x, &x->pvote_id);
        if (b && b->has_batch) send_pp(s, b, s->view, x->pvote_sig, -1);
      } else {
        send_vote(s, PC_MSG_PBFT_PREPARE, seq, s->view, &x->pvote_id, x->pvote_sig, -1);
      }
    }
    if (x->cvoted && x->cvote_view == s->view)
      send_vote(s, PC_MSG_PBFT_COMMIT, seq, s->view, &x->cvote_id, x->cvote_sig, -1);
  }
  pbft_kick_all(s);
  return 0;
}

static void pbft_get_stats(const pc_consensus_t *c, pc_consensus_stats_t *out) {
  *out = ((const pbft_t *)c)->st;
}

static void pbft_destroy(pc_consensus_t *c) {
  pbft_t *s = (pbft_t *)c;
  if (!s) return;
  if (s->slots)
    for (uint64_t i = 0; i < s->L; i++) pbft_slot_release(s, &s->slots[i]);
  free(s->slots);
  for (int i = 0; i < PBFT_DEC_RING; i++) free(s->dec[i].msg);
  for (int i = 0; i < PBFT_CKPT_SLOTS; i++) free(s->ckpts[i].sigs);
  if (s->vc_msg)
    for (unsigned i = 0; i < s->n; i++) free(s->vc_msg[i]);
  free(s->vc_msg);
  free(s->vc_len);
  free(s->vc_view);
  free(s->answered);
  free(s->stable_sent);
  free(s->stable_sent_at);
  pc_claims_free(&s->claims);
  free(s->nv_msg);
  free(s->stable_cert);
  free(s->tmp_cert);
  free(s->tmp_cert2);
  free(s->buf);
  free(s->rbuf);
  free(s);
}

static pc_consensus_t *pbft_create(const pc_consensus_config_t *cfg, const pc_consensus_io_t *io) {
  pbft_t *s = calloc(1, sizeof *s);
  if (!s) {
    PC_ERROR("pbft: out of memory");
    return NULL;
  }
  s->ops = &pc_pbft_ops;
  s->cfg = *cfg;
  s->io = *io;
  s->n = cfg->n;
  s->f = cfg->f;
  s->q = PBFT_MUT(s, PC_MUTANT_QUORUM_2F) ? 2u * cfg->f : pc_quorum(cfg->n, cfg->f);
  if (s->q == 0) s->q = 1;
  s->W = cfg->window;
  s->D = 2 * cfg->window;
  s->K = cfg->checkpoint_interval ? cfg->checkpoint_interval : 2 * cfg->window;
  s->L = 2ull * s->K + 3ull * s->W;
  s->next = 1;
  s->active = true;
  s->slots = calloc(s->L, sizeof *s->slots);
  s->vc_msg = calloc(s->n, sizeof *s->vc_msg);
  s->vc_len = calloc(s->n, sizeof *s->vc_len);
  s->vc_view = calloc(s->n, sizeof *s->vc_view);
  s->answered = calloc(s->n, sizeof *s->answered);
  s->stable_sent = calloc(s->n, sizeof *s->stable_sent);
  s->stable_sent_at = calloc(s->n, sizeof *s->stable_sent_at);
  int claims_err = pc_claims_init(&s->claims, s->n);
  s->tmp_cert = malloc(sizeof *s->tmp_cert);
  s->tmp_cert2 = malloc(sizeof *s->tmp_cert2);
  if (!s->slots || !s->vc_msg || !s->vc_len || !s->vc_view || !s->answered || !s->stable_sent || !s->stable_sent_at || claims_err || !s->tmp_cert || !s->tmp_cert2) {
    PC_ERROR("pbft: out of memory");
    pbft_destroy((pc_consensus_t *)s);
    return NULL;
  }
  return (pc_consensus_t *)s;
}

const pc_consensus_ops_t pc_pbft_ops = {
    .name = "pbft",
    .create = pbft_create,
    .destroy = pbft_destroy,
    .restore = pbft_restore,
    .start = pbft_start,
    .on_message = pbft_on_message,
    .on_tick = pbft_on_tick,
    .on_batch = pbft_on_batch,
    .on_executed = pbft_on_executed,
    .on_persist_done = pbft_on_persist_done,
    .on_transfer_done = pbft_on_transfer_done,
    .next_deadline = pbft_next_deadline,
    .get_stats = pbft_get_stats,
};
