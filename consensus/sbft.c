/* sbft.c — SBFT as a pure state machine (DESIGN.md "Consensus", PROTOCOL.md).
 *
 * ------------------------------------------------------------ messages
 * Envelope header as in consensus.h (height = h, round = r). Bodies:
 *
 * PROPOSAL (0x20): a common/block.h proposal; proposal.round = header
 *   round, proposal.proposer = header sender = proposer(h, r),
 *   block.height = h, block.chain_id = chain id. In round 0 the
 *   justification is empty and block.creator = proposer. In round r > 0
 *   the justification is
 *     u16 count (= q) ‖ count × (u32 length ‖ a whole ROUND_CHANGE message)
 *   from distinct senders, each for exactly (h, r), and the block obeys the
 *   justification rule (PROTOCOL.md §4).
 * PREPARE (0x21), COMMIT (0x22): block id (32) ‖ vote signature (64) over
 *   pc_vote_bytes(chain, SBFT, PREPARE|COMMIT, h, r, block id).
 * ROUND_CHANGE (0x23), header round = the round entered (r ≥ 1):
 *   u8 flags            bit 0: a certificate follows; bit 1: a vote follows;
 *                       other bits 0
 *   [certificate]       the sender's highest prepare certificate: SBFT,
 *                       kind PREPARE (≥ q signers) or FAST (n), height h,
 *                       round < r
 *   [u32 round ‖ 32 id ‖ 64 sig]  the sender's last prepare vote at h,
 *                       round < r, signed by the sender
 *   64                  trailing message signature (consensus.h)
 * CERT (0x24), collector mode: a certificate (PREPARE, FAST or COMMIT) for
 *   (h, r); its height/round equal the header's.
 * STABLE (0x25), header height = S (a stable checkpoint), round 0: the
 *   answer to a catch-up request for a height whose DECISION is no longer
 *   kept (dropped at the stable checkpoint, or beyond the ring):
 *     32 exec root ‖ 32 manifest hash ‖ 32 chain hash at S ‖ certificate
 *   The certificate is an SBFT CHECKPOINT certificate (≥ q signers) for
 *   height S, round 0, digest pc_checkpoint_digest(S, root, manifest). The
 *   chain hash is not covered by any certificate, so a lagging replica
 *   acts only on f+1 STABLE answers for S from distinct senders that agree
 *   on it (one is honest). Nothing may follow.
 *
 * ------------------------------------------------------------ records
 * Persisted records (PC_ACT_PERSIST, replayed by restore), little-endian:
 *   u8 type ‖ u64 h ‖ ...
 *   1 ROUND    u32 r                       entered round r (left all below)
 *   2 BLOCK    91 block ‖ u32 len ‖ batch  a block, durable before voting for it
 *   3 VOTE     u32 r ‖ u8 phase ‖ 32 id ‖ 64 sig   my vote
 *   4 LOCK     u32 r ‖ certificate         my prepare certificate (lock)
 *   5 DECIDED  u32 len ‖ DECISION message  height h decided (in order)
 *   6 STABLE   32 root ‖ 32 manifest ‖ certificate   checkpoint h is stable
 *   7 BASE     32 chain hash ‖ 32 root       state transfer to h done: the
 *                                          window continues at h + 1
 *
 * ------------------------------------------------------------ checkpoints
 * Every K heights (K = checkpoint_interval > 0), once h is executed and the
 * driver gives the snapshot manifest hash, the replica broadcasts a
 * CHECKPOINT (consensus.h: root ‖ manifest ‖ vote signature over
 * pc_vote_bytes(chain, SBFT, CHECKPOINT, h, 0, pc_checkpoint_digest)).
 * q matching votes make a CHECKPOINT certificate: h is stable. A stable
 * root that differs from the replica's own root of h is a certified
 * mismatch: it stops voting and asks for a state transfer to h.
 *
 * ------------------------------------------------------------ garbage collection
 * When checkpoint S becomes stable, DECISIONs at or below S − max(K,
 * keep_decided) are dropped (some are kept so that a replica a little
 * behind still catches up cheaply by DECISIONs); the ring of DEC_RING
 * decisions bounds memory whatever the settings. A catch-up request for a height whose DECISION is gone is
 * answered with STABLE(S). A replica that gathers f+1 matching STABLE
 * answers for S ≥ its next undecided height adopts S as stable, stops
 * voting and emits STATE_TRANSFER(S); on_transfer_done(S) persists a BASE
 * record and moves the window to S + 1 with the agreed chain hash (the
 * heights in between are never decided locally: the driver's ledger
 * continues after a base record). Safety is unaffected: the replica only
 * skips deciding heights, and votes again only for heights above S, whose
 * certified history it now shares.
 */
#include <stdlib.h>
#include <string.h>

#include "consensus/consensus.h"
#include "consensus/sbft_private.h"
#include "consensus/stable_claims_private.h"

#define MAX_BLOCKS 8
#define MAX_TALLIES 24
#define DEC_RING 512
#define ROOT_RING 512
#define VCACHE 256

enum { REC_ROUND = 1, REC_BLOCK = 2, REC_VOTE = 3, REC_LOCK = 4, REC_DECIDED = 5, REC_STABLE = 6, REC_BASE = 7 };
#define CHAIN_RING 8

#define CKPT_SLOTS 4

typedef struct {
  bool used;
  pc_hash_t id;
  pc_block_t block;
  uint8_t *batch;
  size_t batch_len;
} blk_t;

typedef struct {
  bool used;
  uint32_t round;
  uint8_t phase;
  pc_hash_t id;
  unsigned count;
  uint8_t bitmap[PC_MAX_REPLICAS / 8];
  uint8_t (*sigs)[PC_SIG_SIZE]; /* n slots, by replica id */
} tally_t;

typedef struct {
  uint64_t h; /* 0 = slot unused */
  uint32_t round;
  bool timer_armed;
  uint64_t deadline;
  /* proposal accepted in the current round */
  bool accepted;
  pc_hash_t accepted_id;
  /* a proposal waiting for h−D to execute before we can vote */
  bool vote_pending;
  /* my last prepare vote (what a round-change reports) */
  bool voted;
  uint32_t vote_round;
  pc_hash_t vote_id;
  uint8_t vote_sig[PC_SIG_SIZE];
  uint64_t vote_time;
  bool commit_voted;
  uint32_t commit_round;
  uint8_t commit_sig[PC_SIG_SIZE];
  pc_hash_t commit_id;
  /* lock: highest prepare certificate known */
  bool locked;
  uint32_t lock_round;
  pc_hash_t lock_id;
  pc_cert_t *lock_cert;
  bool commit_wait; /* locked in current round, waiting Δf */
  uint64_t commit_at;
  /* decision (maybe not yet emitted: lower heights pending) */
  bool decided;
  pc_hash_t dec_id;
  pc_cert_t *dec_cert;
  uint32_t dec_round;
  /* proposer state */
  bool need_batch;      /* asked the driver for a batch */
  bool proposed;        /* proposed in `round` */
  uint32_t proposed_round;
  bool want_block;      /* a forced block or a decided block is missing */
  pc_hash_t want_id;
  /* collector */
  bool cert_sent_prep, cert_sent_commit;
  uint64_t collect_wait_at; /* collector: q prepare votes, waiting Δf for n */
  uint64_t fallback_at;     /* voter: no certificate by then → broadcast */
  bool fallback_done;
  blk_t blocks[MAX_BLOCKS];
  tally_t tallies[MAX_TALLIES];
  uint8_t **rc;      /* per sender: latest round-change message */
  size_t *rc_len;
  uint32_t *rc_round;
} hs_t;

typedef struct {
  uint64_t h;
  uint8_t *msg; /* DECISION message */
  size_t len;
  pc_block_t block;
  pc_hash_t id;
  const uint8_t *batch; /* view into msg */
  size_t batch_len;
} dec_t;

typedef struct {
  uint64_t h; /* 0 = free */
  pc_hash_t root, manifest, digest;
  unsigned count;
  uint8_t bitmap[PC_MAX_REPLICAS / 8];
  uint8_t (*sigs)[PC_SIG_SIZE];
} ckpt_t;

typedef struct sbft {
  const pc_consensus_ops_t *ops;
  pc_consensus_config_t cfg;
  pc_consensus_io_t io;
  unsigned q, n, f, W, D;
  uint64_t now;
  bool started;
  bool restoring;
  bool halted; /* certified-root mismatch: no voting until transfer done */
  uint64_t persist_seq, durable_seq;
  uint64_t next; /* lowest undecided height; window = [next, next+W) */
  pc_hash_t chain_hash; /* chain hash of next−1 */
  hs_t *hs;      /* W slots, index h % W */
  dec_t dec[DEC_RING];
  struct {
    uint64_t h;
    pc_hash_t root;
  } roots[ROOT_RING];
  uint64_t last_executed;
  pc_hash_t vcache[VCACHE]; /* ids of certificates / round-changes already verified */
  unsigned vcache_pos;
  uint64_t *answered; /* per sender: last height answered with a DECISION */
  uint64_t catchup_next, catchup_at; /* last catch-up request (for next, at time) */
  ckpt_t ckpt[CKPT_SLOTS];
  pc_hash_t stable_root, stable_manifest;
  pc_cert_t *stable_cert;
  struct {
    uint64_t h;
    pc_hash_t chain;
  } ckchain[CHAIN_RING]; /* chain hashes at checkpoint heights */
  uint64_t *stable_sent; /* per peer: last stable height answered */
  /* catching up by state transfer: STABLE answers for one checkpoint */
  pc_claims_t claims;
  uint64_t jt_req_at;
  uint64_t jump_h; /* transfer asked for by a jump to this height (0 = none) */
  pc_hash_t jump_chain;
  pc_consensus_stats_t st;
  pc_cert_t *tmp_cert, *tmp_cert2;
  uint8_t *buf; /* scratch for encoding */
  size_t buf_cap;
} sbft_t;

#define MUT(s, m) (((s)->cfg.test_mutants & (m)) != 0)

/* --------------------------------------------------------------- helpers */

static void act(sbft_t *s, const pc_cons_action_t *a) {
  if (s->restoring) return;
  s->io.action(s->io.ctx, a);
}

static void send_to(sbft_t *s, uint16_t to, const uint8_t *m, size_t len) {
  if (to == s->cfg.my_id) return;
  pc_cons_action_t a = {.kind = PC_ACT_SEND};
  a.u.msg.to = to;
  a.u.msg.data = m;
  a.u.msg.len = len;
  s->st.msgs_sent++;
  s->st.bytes_sent += len;
  act(s, &a);
}

static void broadcast(sbft_t *s, const uint8_t *m, size_t len) {
  pc_cons_action_t a = {.kind = PC_ACT_BROADCAST};
  a.u.msg.data = m;
  a.u.msg.len = len;
  s->st.msgs_sent += s->n - 1;
  s->st.bytes_sent += (uint64_t)len * (s->n - 1);
  act(s, &a);
}

static void persist(sbft_t *s, const uint8_t *rec, size_t len) {
  if (s->restoring) return;
  pc_cons_action_t a = {.kind = PC_ACT_PERSIST};
  a.u.persist.seq = ++s->persist_seq;
  a.u.persist.data = rec;
  a.u.persist.len = len;
  act(s, &a);
}

/* A writer over the scratch buffer, grown to at least need bytes. */
static bool scratch(sbft_t *s, pc_writer_t *w, size_t need) {
  if (need > s->buf_cap) {
    uint8_t *nb = realloc(s->buf, need);
    if (!nb) return false;
    s->buf = nb;
    s->buf_cap = need;
  }
  pc_writer_init(w, s->buf, s->buf_cap);
  return true;
}

uint16_t pc_sbft_proposer(uint64_t h, uint32_t r, uint16_t n) {
  uint8_t b[12];
  pc_store_le64(b, h);
  pc_store_le32(b + 8, r);
  pc_hash_t x;
  pc_hash_blake2b(&x, b, sizeof b);
  return (uint16_t)(pc_load_le64(x.b) % n);
}

static pc_msg_hdr_t hdr(sbft_t *s, uint8_t type, uint64_t h, uint32_t r) {
  return (pc_msg_hdr_t){.type = type, .sender = s->cfg.my_id, .chain_id = s->cfg.chain_id, .height = h, .round = r};
}

static hs_t *slot(sbft_t *s, uint64_t h) {
  if (h < s->next || h >= s->next + s->W) return NULL;
  hs_t *x = &s->hs[h % s->W];
  return x->h == h ? x : NULL;
}

static dec_t *dec_get(sbft_t *s, uint64_t h) {
  dec_t *d = &s->dec[h % DEC_RING];
  return d->h == h && d->msg ? d : NULL;
}

static bool root_of(sbft_t *s, uint64_t h, pc_hash_t *out) {
  if (h == 0) {
    memset(out, 0, sizeof *out);
    return true;
  }
  if (s->roots[h % ROOT_RING].h != h) return false;
  *out = s->roots[h % ROOT_RING].root;
  return true;
}

static bool vcache_has(sbft_t *s, const pc_hash_t *id) {
  for (unsigned i = 0; i < VCACHE; i++)
    if (pc_hash_equal(&s->vcache[i], id)) return true;
  return false;
}
static void vcache_add(sbft_t *s, const pc_hash_t *id) {
  s->vcache[s->vcache_pos] = *id;
  s->vcache_pos = (s->vcache_pos + 1) % VCACHE;
}

/* Verify a certificate through the signer, at most once per certificate. */
static int cert_check(sbft_t *s, const pc_cert_t *c, unsigned min) {
  if (c->protocol != PC_PROTO_SBFT) return PC_ERR_INVALID;
  pc_hash_t id;
  pc_cert_id(c, &id);
  if (pc_cert_signers(c) < min) return PC_ERR_QUORUM;
  if (vcache_has(s, &id)) return 0;
  int err = pc_signer_cert_verify(&s->cfg.signer, c, s->cfg.chain_id, s->cfg.n, min, &s->st.verifies);
  if (!err) vcache_add(s, &id);
  return err;
}

static unsigned cert_min(sbft_t *s, uint8_t kind) { return kind == PC_CERT_FAST ? s->n : s->q; }

static int reject(sbft_t *s, int err) {
  s->st.rejected++;
  return pc_cons_reject(err);
}

/* --------------------------------------------------------------- blocks */

static blk_t *blk_find(hs_t *x, const pc_hash_t *id) {
  for (int i = 0; i < MAX_BLOCKS; i++)
    if (x->blocks[i].used && pc_hash_equal(&x->blocks[i].id, id)) return &x->blocks[i];
  return NULL;
}

/* Stores a block (copying the batch) and persists it; returns it, or NULL
 * when the table is full (a flooding proposer). */
static blk_t *blk_add(sbft_t *s, hs_t *x, const pc_block_t *b, const uint8_t *batch, size_t len) {
  pc_hash_t id;
  pc_block_id(b, &id);
  blk_t *e = blk_find(x, &id);
  if (e) return e;
  /* Table full (many rounds, each with a fresh block): drop a block nothing
   * refers to — not the accepted one, the lock's, my votes', the decided or
   * the wanted one — so a later decision can always be stored. */
  bool full = true;
  for (int i = 0; i < MAX_BLOCKS && full; i++) full = x->blocks[i].used;
  for (int i = 0; i < MAX_BLOCKS && full; i++) {
    blk_t *v = &x->blocks[i];
    if ((x->accepted && pc_hash_equal(&v->id, &x->accepted_id)) || (x->locked && pc_hash_equal(&v->id, &x->lock_id)) ||
        (x->voted && pc_hash_equal(&v->id, &x->vote_id)) || (x->commit_voted && pc_hash_equal(&v->id, &x->commit_id)) ||
        (x->decided && pc_hash_equal(&v->id, &x->dec_id)) || (x->want_block && pc_hash_equal(&v->id, &x->want_id)))
      continue;
    free(v->batch);
    memset(v, 0, sizeof *v);
    full = false;
  }
  for (int i = 0; i < MAX_BLOCKS; i++) {
    if (x->blocks[i].used) continue;
    e = &x->blocks[i];
    e->batch = malloc(len ? len : 1);
    if (!e->batch) return NULL;
    if (len) memcpy(e->batch, batch, len);
    e->batch_len = len;
    e->block = *b;
    e->id = id;
    e->used = true;
    pc_writer_t w;
    if (scratch(s, &w, 1 + 8 + PC_BLOCK_SIZE + 4 + len)) {
      pc_put_u8(&w, REC_BLOCK);
      pc_put_u64(&w, x->h);
      pc_block_encode(&w, b);
      pc_put_blob32(&w, batch, len);
      persist(s, w.buf, w.len);
    }
    return e;
  }
  return NULL;
}

/* --------------------------------------------------------------- tallies */

static tally_t *tally_get(sbft_t *s, hs_t *x, uint32_t r, uint8_t phase, const pc_hash_t *id, bool create) {
  tally_t *free_t = NULL, *low = NULL;
  for (int i = 0; i < MAX_TALLIES; i++) {
    tally_t *t = &x->tallies[i];
    if (!t->used) {
      if (!free_t) free_t = t;
      continue;
    }
    if (t->round == r && t->phase == phase && pc_hash_equal(&t->id, id)) return t;
    if (!low || t->round < low->round) low = t;
  }
  if (!create) return NULL;
  if (!free_t) {
    if (!low || low->round >= x->round) return NULL;
    free_t = low; /* evict the lowest old round */
  }
  if (!free_t->sigs) free_t->sigs = calloc(s->n, PC_SIG_SIZE);
  if (!free_t->sigs) return NULL;
  free_t->used = true;
  free_t->round = r;
  free_t->phase = phase;
  free_t->id = *id;
  free_t->count = 0;
  memset(free_t->bitmap, 0, sizeof free_t->bitmap);
  return free_t;
}

/* Whether `who` already voted `phase` in round r (for any block). */
static bool tally_voted(hs_t *x, uint32_t r, uint8_t phase, uint16_t who) {
  for (int i = 0; i < MAX_TALLIES; i++) {
    tally_t *t = &x->tallies[i];
    if (t->used && t->round == r && t->phase == phase && (t->bitmap[who / 8] >> (who % 8) & 1)) return true;
  }
  return false;
}

static void tally_cert(sbft_t *s, const tally_t *t, uint8_t kind, uint64_t h, pc_cert_t *c) {
  pc_cert_init(c, PC_PROTO_SBFT, kind, s->cfg.chain_id, h, t->round, &t->id, s->cfg.n);
  for (uint16_t i = 0; i < s->n; i++)
    if (t->bitmap[i / 8] >> (i % 8) & 1) pc_cert_add(c, i, t->sigs[i]);
}

/* --------------------------------------------------------------- forward */

static void try_propose(sbft_t *s, hs_t *x);
static void try_vote(sbft_t *s, hs_t *x);
static void check_tally(sbft_t *s, hs_t *x, tally_t *t);
static void decide(sbft_t *s, hs_t *x, const pc_hash_t *id, const pc_cert_t *cert);
static void emit_decisions(sbft_t *s);

/* --------------------------------------------------------------- slots */

static void slot_clear(sbft_t *s, hs_t *x) {
  for (int i = 0; i < MAX_BLOCKS; i++) free(x->blocks[i].batch);
  for (int i = 0; i < MAX_TALLIES; i++) {
    uint8_t (*sigs)[PC_SIG_SIZE] = x->tallies[i].sigs;
    memset(&x->tallies[i], 0, sizeof x->tallies[i]);
    x->tallies[i].sigs = sigs;
  }
  for (unsigned i = 0; i < s->n; i++) {
    free(x->rc[i]);
    x->rc[i] = NULL;
    x->rc_len[i] = 0;
    x->rc_round[i] = 0;
  }
  pc_cert_t *lc = x->lock_cert, *dc = x->dec_cert;
  uint8_t **rc = x->rc;
  size_t *rcl = x->rc_len;
  uint32_t *rcr = x->rc_round;
  tally_t tallies[MAX_TALLIES];
  memcpy(tallies, x->tallies, sizeof tallies);
  memset(x, 0, sizeof *x);
  memcpy(x->tallies, tallies, sizeof tallies);
  x->lock_cert = lc;
  x->dec_cert = dc;
  x->rc = rc;
  x->rc_len = rcl;
  x->rc_round = rcr;
}

static uint64_t timeout_of(sbft_t *s, uint32_t r) {
  unsigned k = r > 16 ? 16 : r;
  return s->cfg.base_timeout_ns << k;
}

/* Whether h−D is executed (so the block's execution root can be checked). */
static bool exec_ready(sbft_t *s, uint64_t h) {
  return h <= s->D || s->last_executed >= h - s->D;
}

static void arm_timer(sbft_t *s, hs_t *x) {
  if (!s->started || x->decided) return;
  x->timer_armed = true;
  x->deadline = s->now + timeout_of(s, x->round);
}

static void slot_open(sbft_t *s, uint64_t h) {
  hs_t *x = &s->hs[h % s->W];
  slot_clear(s, x);
  x->h = h;
}

/* Work a slot needs once started: timer, batch for round 0. */
static void slot_kick(sbft_t *s, hs_t *x) {
  if (!s->started || x->decided) return;
  if (!x->timer_armed && exec_ready(s, x->h)) arm_timer(s, x);
  try_propose(s, x);
  if (x->vote_pending) try_vote(s, x);
}

/* --------------------------------------------------------------- round change */

static void persist_round(sbft_t *s, uint64_t h, uint32_t r) {
  uint8_t rec[13];
  pc_writer_t w;
  pc_writer_init(&w, rec, sizeof rec);
  pc_put_u8(&w, REC_ROUND);
  pc_put_u64(&w, h);
  pc_put_u32(&w, r);
  persist(s, rec, w.len);
}

static void store_rc(hs_t *x, uint16_t from, uint32_t r, const uint8_t *m, size_t len) {
  if (x->rc[from] && x->rc_round[from] >= r) return;
  uint8_t *copy = malloc(len);
  if (!copy) return;
  memcpy(copy, m, len);
  free(x->rc[from]);
  x->rc[from] = copy;
  x->rc_len[from] = len;
  x->rc_round[from] = r;
}

/* Enter round r > x->round: leave every lower round durably, then send a
 * round-change for (h, r) with the lock and last vote. */
static void enter_round(sbft_t *s, hs_t *x, uint32_t r) {
  if (r <= x->round) return;
  x->round = r;
  x->accepted = false;
  x->vote_pending = false;
  x->commit_wait = false;
  x->need_batch = false;
  x->fallback_at = 0;
  x->collect_wait_at = 0;
  x->cert_sent_prep = x->cert_sent_commit = false;
  persist_round(s, x->h, r);
  pc_writer_t w;
  size_t need = PC_MSG_HEADER_SIZE + 1 + (x->lock_cert ? pc_cert_encoded_size(x->lock_cert) : 0) + 100 + PC_SIG_SIZE;
  if (scratch(s, &w, need)) {
    pc_msg_hdr_t h = hdr(s, PC_MSG_SBFT_ROUND_CHANGE, x->h, r);
    pc_msg_put_header(&w, &h);
    bool has_cert = x->locked && x->lock_round < r;
    bool has_vote = x->voted && x->vote_round < r;
    pc_put_u8(&w, (uint8_t)((has_cert ? 1 : 0) | (has_vote ? 2 : 0)));
    if (has_cert) pc_cert_encode(&w, x->lock_cert);
    if (has_vote) {
      pc_put_u32(&w, x->vote_round);
      pc_put_bytes(&w, x->vote_id.b, PC_HASH_SIZE);
      pc_put_bytes(&w, x->vote_sig, PC_SIG_SIZE);
    }
    s->st.signs++;
    pc_msg_sign_finish(&w, &s->cfg.signer);
    if (!pc_writer_finish(&w)) {
      store_rc(x, s->cfg.my_id, r, w.buf, w.len);
      broadcast(s, w.buf, w.len);
    }
  }
  arm_timer(s, x);
  try_propose(s, x);
}

/* A validated round-change. */
typedef struct {
  uint16_t sender;
  uint32_t round;
  bool has_cert;
  pc_hash_t cert_id; /* block id */
  uint32_t cert_round;
  uint8_t cert_kind;
  bool has_vote;
  uint32_t vote_round;
  pc_hash_t vote_id;
} rc_info_t;

/* Decode and check a ROUND_CHANGE message (received directly or inside a
 * justification). h is the height it must be for; r_max the highest
 * acceptable round (exactly r unless a mutant allows earlier ones). */
static int rc_check(sbft_t *s, const uint8_t *m, size_t len, uint64_t h, rc_info_t *out) {
  pc_reader_t r;
  pc_msg_hdr_t hd;
  int err = pc_msg_get_header(&r, m, len, s->cfg.chain_id, s->n, PC_MSG_ANY_SENDER, &hd);
  if (err) return err;
  if (hd.type != PC_MSG_SBFT_ROUND_CHANGE || hd.height != h || hd.round == 0) return PC_ERR_INVALID;
  if (len < PC_MSG_HEADER_SIZE + 1 + PC_SIG_SIZE) return PC_ERR_TRUNCATED;
  pc_reader_t body;
  pc_reader_init(&body, m + PC_MSG_HEADER_SIZE, len - PC_MSG_HEADER_SIZE - PC_SIG_SIZE);
  uint8_t flags = pc_get_u8(&body);
  if (pc_reader_ok(&body)) return pc_reader_ok(&body);
  if (flags & ~3u) return PC_ERR_INVALID;
  memset(out, 0, sizeof *out);
  out->sender = hd.sender;
  out->round = hd.round;
  pc_cert_t *c = s->tmp_cert2;
  if (flags & 1) {
    if ((err = pc_cert_decode(&body, c))) return err;
    if (c->protocol != PC_PROTO_SBFT || (c->kind != PC_CERT_PREPARE && c->kind != PC_CERT_FAST) || c->height != h ||
        c->round >= hd.round)
      return PC_ERR_INVALID;
    out->has_cert = true;
    out->cert_id = c->digest;
    out->cert_round = c->round;
    out->cert_kind = c->kind;
  }
  uint8_t vsig[PC_SIG_SIZE];
  if (flags & 2) {
    out->has_vote = true;
    out->vote_round = pc_get_u32(&body);
    pc_get_bytes(&body, out->vote_id.b, PC_HASH_SIZE);
    pc_get_bytes(&body, vsig, PC_SIG_SIZE);
    if (pc_reader_ok(&body)) return pc_reader_ok(&body);
    if (out->vote_round >= hd.round) return PC_ERR_INVALID;
  }
  if ((err = pc_reader_finish(&body))) return err;
  /* Signatures last, and once per distinct message. */
  pc_hash_t mid;
  pc_hash_tagged(&mid, "parachain/sbft/rc-seen", m, len);
  if (vcache_has(s, &mid)) return 0;
  if (out->has_cert && (err = cert_check(s, c, cert_min(s, c->kind)))) return err;
  if (out->has_vote) {
    s->st.verifies++;
    if (pc_signer_vote_verify(&s->cfg.signer, hd.sender, vsig, s->cfg.chain_id, PC_PROTO_SBFT, PC_PHASE_PREPARE, h,
                              out->vote_round, &out->vote_id))
      return PC_ERR_SIGNATURE;
  }
  s->st.verifies++;
  if ((err = pc_msg_verify_trailing(&s->cfg.signer, hd.sender, m, len))) return err;
  vcache_add(s, &mid);
  return 0;
}

/* The justification rule over q validated round-changes (PROTOCOL.md §4).
 * Returns 0 = any block, 1 = must be *out. */
static int justify_rule(sbft_t *s, const rc_info_t *rcs, unsigned k, pc_hash_t *out) {
  bool have_c = false;
  uint32_t c = 0;
  pc_hash_t bc = {0};
  if (!MUT(s, PC_MUTANT_NO_LOCK)) {
    for (unsigned i = 0; i < k; i++)
      if (rcs[i].has_cert && (!have_c || rcs[i].cert_round > c)) {
        have_c = true;
        c = rcs[i].cert_round;
        bc = rcs[i].cert_id;
      }
  }
  unsigned thresh = s->q - s->f;
  for (unsigned i = 0; i < k; i++) {
    if (!rcs[i].has_vote || (have_c && rcs[i].vote_round <= c)) continue;
    unsigned cnt = 0;
    for (unsigned j = 0; j < k; j++)
      if (rcs[j].has_vote && (!have_c || rcs[j].vote_round > c) && pc_hash_equal(&rcs[j].vote_id, &rcs[i].vote_id))
        cnt++;
    if (cnt >= thresh) {
      *out = rcs[i].vote_id;
      return 1;
    }
  }
  if (have_c) {
    *out = bc;
    return 1;
  }
  return 0;
}

/* Collect q stored round-changes for exactly (h, r) (mine included). */
static unsigned gather_rcs(sbft_t *s, hs_t *x, uint32_t r, uint16_t *who) {
  unsigned k = 0;
  for (uint16_t i = 0; i < s->n && k < s->q; i++) {
    if (!x->rc[i]) continue;
    if (x->rc_round[i] == r || (MUT(s, PC_MUTANT_OLD_RC) && x->rc_round[i] <= r)) who[k++] = i;
  }
  return k;
}

/* --------------------------------------------------------------- proposing */

static void send_proposal(sbft_t *s, hs_t *x, const blk_t *b, const uint8_t *just, size_t jlen) {
  pc_proposal_t p = {.round = x->round,
                     .proposer = s->cfg.my_id,
                     .justification = just,
                     .justification_len = jlen,
                     .block = b->block,
                     .batch = b->batch,
                     .batch_len = b->batch_len};
  pc_writer_t w;
  if (!scratch(s, &w, PC_MSG_HEADER_SIZE + 1 + 4 + 2 + 4 + jlen + PC_BLOCK_SIZE + 4 + b->batch_len)) return;
  pc_msg_hdr_t h = hdr(s, PC_MSG_SBFT_PROPOSAL, x->h, x->round);
  pc_msg_put_header(&w, &h);
  pc_proposal_encode(&w, &p);
  if (pc_writer_finish(&w)) return;
  x->proposed = true;
  x->proposed_round = x->round;
  broadcast(s, w.buf, w.len);
  /* Vote for my own proposal as any replica would. */
  x->accepted = true;
  x->accepted_id = b->id;
  x->vote_pending = true;
  try_vote(s, x);
}

static void request_block(sbft_t *s, hs_t *x, const pc_hash_t *id) {
  x->want_block = true;
  x->want_id = *id;
  uint8_t m[PC_MSG_HEADER_SIZE + PC_HASH_SIZE];
  pc_writer_t w;
  pc_writer_init(&w, m, sizeof m);
  pc_msg_hdr_t h = hdr(s, PC_MSG_BLOCK_REQ, x->h, x->round);
  pc_msg_block_req_encode(&w, &h, id);
  broadcast(s, m, w.len);
}

static void try_propose(sbft_t *s, hs_t *x) {
  if (!s->started || s->halted || x->decided) return;
  if (pc_sbft_proposer(x->h, x->round, s->cfg.n) != s->cfg.my_id) return;
  if (x->proposed && x->proposed_round == x->round) return;
  if (!exec_ready(s, x->h)) return;
  pc_hash_t root;
  if (!root_of(s, x->h > s->D ? x->h - s->D : 0, &root)) return;
  if (x->round == 0) {
    for (int i = 0; i < MAX_BLOCKS; i++)
      if (x->blocks[i].used && x->blocks[i].block.creator == s->cfg.my_id) {
        send_proposal(s, x, &x->blocks[i], NULL, 0);
        return;
      }
    if (!x->need_batch) {
      x->need_batch = true;
      pc_cons_action_t a = {.kind = PC_ACT_NEED_BATCH};
      a.u.need_batch.height = x->h;
      a.u.need_batch.max_txs = s->cfg.batch_max_txs;
      a.u.need_batch.max_bytes = s->cfg.batch_max_bytes;
      act(s, &a);
    }
    return;
  }
  uint16_t who[PC_MAX_REPLICAS];
  unsigned k = gather_rcs(s, x, x->round, who);
  if (k < s->q) return;
  rc_info_t *rcs = calloc(k, sizeof *rcs);
  if (!rcs) return;
  size_t jlen = 2;
  for (unsigned i = 0; i < k; i++) {
    jlen += 4 + x->rc_len[who[i]];
    if (rc_check(s, x->rc[who[i]], x->rc_len[who[i]], x->h, &rcs[i])) {
      free(rcs); /* cannot happen: stored ones were checked */
      return;
    }
  }
  pc_hash_t forced;
  int must = justify_rule(s, rcs, k, &forced);
  free(rcs);
  const blk_t *b = NULL;
  if (must && !MUT(s, PC_MUTANT_NO_JUSTIFY)) {
    b = blk_find(x, &forced);
    if (!b) {
      if (!x->want_block || !pc_hash_equal(&x->want_id, &forced)) request_block(s, x, &forced);
      return;
    }
  } else {
    /* Any block: prefer one I already hold with the right root. */
    for (int i = 0; i < MAX_BLOCKS && !b; i++)
      if (x->blocks[i].used && pc_hash_equal(&x->blocks[i].block.exec_root, &root)) b = &x->blocks[i];
    if (!b) {
      if (!x->need_batch) {
        x->need_batch = true;
        pc_cons_action_t a = {.kind = PC_ACT_NEED_BATCH};
        a.u.need_batch.height = x->h;
        a.u.need_batch.max_txs = s->cfg.batch_max_txs;
        a.u.need_batch.max_bytes = s->cfg.batch_max_bytes;
        act(s, &a);
      }
      return;
    }
  }
  uint8_t *just = malloc(jlen);
  if (!just) return;
  pc_writer_t w;
  pc_writer_init(&w, just, jlen);
  pc_put_u16(&w, (uint16_t)k);
  for (unsigned i = 0; i < k; i++) pc_put_blob32(&w, x->rc[who[i]], x->rc_len[who[i]]);
  send_proposal(s, x, b, just, w.len);
  free(just);
}

static int sbft_on_batch(pc_consensus_t *c, uint64_t height, const uint8_t *batch, size_t len, uint64_t ts) {
  sbft_t *s = (sbft_t *)c;
  hs_t *x = slot(s, height);
  if (!x || !x->need_batch || x->decided) return PC_ERR_STATE;
  if (pc_batch_count(batch, len) < 0 || len > s->cfg.batch_max_bytes) return PC_ERR_INVALID;
  pc_hash_t root;
  if (!root_of(s, height > s->D ? height - s->D : 0, &root)) return PC_ERR_STATE;
  x->need_batch = false;
  pc_block_t b = {.chain_id = s->cfg.chain_id, .height = height, .creator = s->cfg.my_id, .timestamp_us = ts,
                  .exec_root = root};
  pc_batch_hash(&b.batch_hash, batch, len);
  blk_t *e = blk_add(s, x, &b, batch, len);
  if (!e) return PC_ERR_FULL;
  try_propose(s, x);
  return 0;
}

/* --------------------------------------------------------------- voting */

static void vote_msg(sbft_t *s, hs_t *x, uint8_t type, uint32_t r, const pc_hash_t *id, const uint8_t *sig,
                     bool to_all) {
  uint8_t m[PC_MSG_HEADER_SIZE + PC_HASH_SIZE + PC_SIG_SIZE];
  pc_writer_t w;
  pc_writer_init(&w, m, sizeof m);
  pc_msg_hdr_t h = hdr(s, type, x->h, r);
  pc_msg_put_header(&w, &h);
  pc_put_bytes(&w, id->b, PC_HASH_SIZE);
  pc_put_bytes(&w, sig, PC_SIG_SIZE);
  if (to_all || s->cfg.vote_mode == PC_VOTES_BROADCAST) broadcast(s, m, w.len);
  else send_to(s, pc_sbft_proposer(x->h, r, s->cfg.n), m, w.len);
}

static void persist_vote(sbft_t *s, uint64_t h, uint32_t r, uint8_t phase, const pc_hash_t *id, const uint8_t *sig) {
  uint8_t rec[1 + 8 + 4 + 1 + PC_HASH_SIZE + PC_SIG_SIZE];
  pc_writer_t w;
  pc_writer_init(&w, rec, sizeof rec);
  pc_put_u8(&w, REC_VOTE);
  pc_put_u64(&w, h);
  pc_put_u32(&w, r);
  pc_put_u8(&w, phase);
  pc_put_bytes(&w, id->b, PC_HASH_SIZE);
  pc_put_bytes(&w, sig, PC_SIG_SIZE);
  persist(s, rec, w.len);
}

static void add_vote(sbft_t *s, hs_t *x, uint16_t who, uint32_t r, uint8_t phase, const pc_hash_t *id,
                     const uint8_t *sig) {
  tally_t *t = tally_get(s, x, r, phase, id, true);
  if (!t || (t->bitmap[who / 8] >> (who % 8) & 1)) return;
  t->bitmap[who / 8] |= (uint8_t)(1u << (who % 8));
  memcpy(t->sigs[who], sig, PC_SIG_SIZE);
  t->count++;
  check_tally(s, x, t);
}

/* Prepare-vote the accepted proposal of the current round if allowed. */
static void try_vote(sbft_t *s, hs_t *x) {
  if (!x->vote_pending || !x->accepted || s->halted || x->decided) return;
  if (x->voted && x->vote_round >= x->round) {
    x->vote_pending = false; /* one prepare vote per (h, r) */
    return;
  }
  blk_t *b = blk_find(x, &x->accepted_id);
  if (!b) return;
  if (!exec_ready(s, x->h)) return; /* wait for h−D to execute */
  x->vote_pending = false;
  pc_hash_t root;
  if (!root_of(s, x->h > s->D ? x->h - s->D : 0, &root)) return;
  if (!pc_hash_equal(&root, &b->block.exec_root)) return; /* mismatch: withhold the vote */
  x->voted = true;
  x->vote_round = x->round;
  x->vote_id = b->id;
  x->vote_time = s->now;
  s->st.signs++;
  pc_signer_vote_sign(&s->cfg.signer, x->vote_sig, s->cfg.chain_id, PC_PROTO_SBFT, PC_PHASE_PREPARE, x->h, x->round,
                      &b->id);
  persist_vote(s, x->h, x->round, PC_PHASE_PREPARE, &b->id, x->vote_sig);
  vote_msg(s, x, PC_MSG_SBFT_PREPARE, x->round, &b->id, x->vote_sig, false);
  /* Collector mode: without a certificate within Δc everyone, the collector
   * included, falls back to broadcasting its votes. */
  if (s->cfg.vote_mode == PC_VOTES_COLLECTOR) {
    x->fallback_at = s->now + s->cfg.delta_collect_ns;
    x->fallback_done = false;
  }
  add_vote(s, x, s->cfg.my_id, x->round, PC_PHASE_PREPARE, &b->id, x->vote_sig);
}

static void commit_vote(sbft_t *s, hs_t *x) {
  x->commit_wait = false;
  if (s->halted || x->decided || !x->locked) return;
  uint32_t r = x->lock_round;
  /* Only in the current round (rule 2), unless the mutant allows late votes. */
  if (r != x->round && !MUT(s, PC_MUTANT_VOTE_LEFT_ROUND)) return;
  if (x->commit_voted && x->commit_round >= r) return;
  x->commit_voted = true;
  x->commit_round = r;
  x->commit_id = x->lock_id;
  s->st.signs++;
  pc_signer_vote_sign(&s->cfg.signer, x->commit_sig, s->cfg.chain_id, PC_PROTO_SBFT, PC_PHASE_COMMIT, x->h, r,
                      &x->lock_id);
  persist_vote(s, x->h, r, PC_PHASE_COMMIT, &x->lock_id, x->commit_sig);
  vote_msg(s, x, PC_MSG_SBFT_COMMIT, r, &x->lock_id, x->commit_sig, false);
  if (s->cfg.vote_mode == PC_VOTES_COLLECTOR) {
    x->fallback_at = s->now + s->cfg.delta_collect_ns;
    x->fallback_done = false;
  }
  pc_hash_t id = x->lock_id;
  add_vote(s, x, s->cfg.my_id, r, PC_PHASE_COMMIT, &id, x->commit_sig);
}

/* Adopt a prepare certificate as the lock if it is the highest known. */
static void take_lock(sbft_t *s, hs_t *x, const pc_cert_t *c) {
  if (x->locked && x->lock_round >= c->round) return;
  if (!x->lock_cert && !(x->lock_cert = malloc(sizeof *x->lock_cert))) return;
  memcpy(x->lock_cert, c, sizeof *c);
  x->locked = true;
  x->lock_round = c->round;
  x->lock_id = c->digest;
  pc_writer_t w;
  if (scratch(s, &w, 1 + 8 + 4 + pc_cert_encoded_size(c))) {
    pc_put_u8(&w, REC_LOCK);
    pc_put_u64(&w, x->h);
    pc_put_u32(&w, c->round);
    pc_cert_encode(&w, c);
    persist(s, w.buf, w.len);
  }
  if (c->round == x->round || MUT(s, PC_MUTANT_VOTE_LEFT_ROUND)) {
    /* Collector mode: the collector already waited Δf for the fast path. */
    if (s->cfg.fast_path && s->cfg.delta_fast_ns > 0 && s->cfg.vote_mode == PC_VOTES_BROADCAST) {
      x->commit_wait = true;
      x->commit_at = s->now + s->cfg.delta_fast_ns;
    } else {
      commit_vote(s, x);
    }
  }
}

static void send_cert(sbft_t *s, hs_t *x, const pc_cert_t *c) {
  pc_writer_t w;
  if (!scratch(s, &w, PC_MSG_HEADER_SIZE + pc_cert_encoded_size(c))) return;
  pc_msg_hdr_t h = hdr(s, PC_MSG_SBFT_CERT, x->h, c->round);
  pc_msg_put_header(&w, &h);
  pc_cert_encode(&w, c);
  if (!pc_writer_finish(&w)) broadcast(s, w.buf, w.len);
}

static void check_tally(sbft_t *s, hs_t *x, tally_t *t) {
  if (x->decided) return;
  pc_cert_t *c = s->tmp_cert;
  bool collector = s->cfg.vote_mode == PC_VOTES_COLLECTOR && pc_sbft_proposer(x->h, t->round, s->n) == s->cfg.my_id;
  if (t->phase == PC_PHASE_PREPARE) {
    if (s->cfg.fast_path && t->count >= s->n) {
      tally_cert(s, t, PC_CERT_FAST, x->h, c);
      if (collector) send_cert(s, x, c);
      s->st.fast_decisions++;
      decide(s, x, &t->id, c);
      return;
    }
    if (t->count >= s->q) {
      tally_cert(s, t, PC_CERT_PREPARE, x->h, c);
      if (collector && !x->cert_sent_prep) {
        if (!s->cfg.fast_path || s->cfg.delta_fast_ns == 0 || x->collect_wait_at == UINT64_MAX) {
          x->cert_sent_prep = true;
          send_cert(s, x, c);
        } else if (!x->collect_wait_at) {
          x->collect_wait_at = s->now + s->cfg.delta_fast_ns;
        }
      }
      take_lock(s, x, c);
    }
  } else if (t->phase == PC_PHASE_COMMIT && t->count >= s->q) {
    tally_cert(s, t, PC_CERT_COMMIT, x->h, c);
    if (collector && !x->cert_sent_commit) {
      x->cert_sent_commit = true;
      send_cert(s, x, c);
    }
    decide(s, x, &t->id, c);
  }
}

/* --------------------------------------------------------------- deciding */

static void decide(sbft_t *s, hs_t *x, const pc_hash_t *id, const pc_cert_t *cert) {
  if (x->decided) return;
  if (!x->dec_cert && !(x->dec_cert = malloc(sizeof *x->dec_cert))) return;
  memcpy(x->dec_cert, cert, sizeof *cert);
  x->decided = true;
  x->dec_id = *id;
  x->dec_round = cert->round;
  x->timer_armed = false;
  x->commit_wait = false;
  s->st.decided++;
  if (!blk_find(x, id)) request_block(s, x, id);
  emit_decisions(s);
}

static void emit_transfer(sbft_t *s, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest,
                          const pc_cert_t *cert);

/* Our root of h disagrees with a certified one: stop voting, transfer. */
static void certified_mismatch(sbft_t *s, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest,
                               const pc_cert_t *cert) {
  PC_WARN("sbft r%u: execution root of %llu disagrees with a certified one: stop voting, transfer state",
          s->cfg.my_id, (unsigned long long)h);
  emit_transfer(s, h, root, manifest, cert);
}

/* emit_transfer: no more voting until the certified state of h is in. */
static void emit_transfer(sbft_t *s, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest,
                          const pc_cert_t *cert) {
  s->halted = true;
  pc_cons_action_t a = {.kind = PC_ACT_STATE_TRANSFER};
  a.u.transfer.height = h;
  a.u.transfer.exec_root = root;
  a.u.transfer.manifest = manifest;
  a.u.transfer.cert = cert;
  a.u.transfer.chain_hash = s->jump_h == h ? &s->jump_chain : NULL;
  act(s, &a);
}

static void check_certified_root(sbft_t *s, const pc_block_t *b, const pc_cert_t *cert) {
  if (b->height <= s->D) return;
  uint64_t h = b->height - s->D;
  pc_hash_t mine;
  /* a decided block certifies the root of h−D */
  if (!root_of(s, h, &mine) || pc_hash_equal(&mine, &b->exec_root)) return;
  certified_mismatch(s, h, &b->exec_root, NULL, cert);
}

/* --------------------------------------------------------------- checkpoints */

static void ckchain_note(sbft_t *s, uint64_t h, const pc_hash_t *chain) {
  uint32_t K = s->cfg.checkpoint_interval;
  if (!K || h % K) return;
  s->ckchain[(h / K) % CHAIN_RING].h = h;
  s->ckchain[(h / K) % CHAIN_RING].chain = *chain;
}

static bool ckchain_get(sbft_t *s, uint64_t h, pc_hash_t *out) {
  uint32_t K = s->cfg.checkpoint_interval;
  if (!K || h % K || s->ckchain[(h / K) % CHAIN_RING].h != h) return false;
  *out = s->ckchain[(h / K) % CHAIN_RING].chain;
  return true;
}

/* gc_decisions drops the DECISIONs at or below S − max(K, keep_decided)
 * once S is stable: a replica that far behind catches up by state transfer
 * (STABLE). */
static void gc_decisions(sbft_t *s, uint64_t S) {
  uint64_t keep = PC_MAX((uint64_t)s->cfg.checkpoint_interval, (uint64_t)s->cfg.keep_decided);
  if (!s->cfg.checkpoint_interval || S <= keep) return;
  for (int i = 0; i < DEC_RING; i++) {
    if (s->dec[i].msg && s->dec[i].h <= S - keep) {
      free(s->dec[i].msg);
      memset(&s->dec[i], 0, sizeof s->dec[i]);
    }
  }
}

static void persist_stable(sbft_t *s, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest,
                           const pc_cert_t *c) {
  pc_writer_t w;
  if (scratch(s, &w, 1 + 8 + 64 + pc_cert_encoded_size(c))) {
    pc_put_u8(&w, REC_STABLE);
    pc_put_u64(&w, h);
    pc_put_bytes(&w, root->b, PC_HASH_SIZE);
    pc_put_bytes(&w, manifest->b, PC_HASH_SIZE);
    pc_cert_encode(&w, c);
    persist(s, w.buf, w.len);
  }
}

static void make_stable(sbft_t *s, ckpt_t *k) {
  pc_cert_t *c = s->tmp_cert;
  pc_cert_init(c, PC_PROTO_SBFT, PC_CERT_CHECKPOINT, s->cfg.chain_id, k->h, 0, &k->digest, s->cfg.n);
  for (uint16_t i = 0; i < s->n; i++)
    if (k->bitmap[i / 8] >> (i % 8) & 1) pc_cert_add(c, i, k->sigs[i]);
  if (!s->stable_cert && !(s->stable_cert = malloc(sizeof *s->stable_cert))) return;
  memcpy(s->stable_cert, c, sizeof *c);
  s->st.stable_checkpoint = k->h;
  s->stable_root = k->root;
  s->stable_manifest = k->manifest;
  persist_stable(s, k->h, &k->root, &k->manifest, c);
  uint64_t h = k->h;
  gc_decisions(s, h);
  for (int i = 0; i < CKPT_SLOTS; i++)
    if (s->ckpt[i].h <= h) s->ckpt[i].h = 0; /* garbage: at or below the stable checkpoint */
  pc_hash_t mine;
  if (root_of(s, h, &mine) && !pc_hash_equal(&mine, &s->stable_root))
    certified_mismatch(s, h, &s->stable_root, &s->stable_manifest, s->stable_cert);
}

static ckpt_t *ckpt_get(sbft_t *s, uint64_t h, const pc_hash_t *digest) {
  ckpt_t *victim = NULL;
  for (int i = 0; i < CKPT_SLOTS; i++)
    if (s->ckpt[i].h == h && pc_hash_equal(&s->ckpt[i].digest, digest)) return &s->ckpt[i];
  for (int i = 0; i < CKPT_SLOTS && !victim; i++)
    if (!s->ckpt[i].h) victim = &s->ckpt[i];
  /* all busy: replace the tally with the fewest votes */
  for (int i = 0; i < CKPT_SLOTS && !victim; i++)
    if (!victim || s->ckpt[i].count < victim->count) victim = &s->ckpt[i];
  if (!victim->sigs && !(victim->sigs = calloc(s->n, PC_SIG_SIZE))) return NULL;
  victim->h = h;
  victim->digest = *digest;
  victim->count = 0;
  memset(victim->bitmap, 0, sizeof victim->bitmap);
  return victim;
}

static bool ckpt_voted(sbft_t *s, uint64_t h, uint16_t who) {
  for (int i = 0; i < CKPT_SLOTS; i++)
    if (s->ckpt[i].h == h && (s->ckpt[i].bitmap[who / 8] >> (who % 8) & 1)) return true;
  return false;
}

static void ckpt_add(sbft_t *s, ckpt_t *k, uint16_t who, const uint8_t *sig, const pc_hash_t *root,
                     const pc_hash_t *manifest) {
  k->root = *root;
  k->manifest = *manifest;
  k->bitmap[who / 8] |= (uint8_t)(1u << (who % 8));
  memcpy(k->sigs[who], sig, PC_SIG_SIZE);
  if (++k->count >= s->q && k->h > s->st.stable_checkpoint) make_stable(s, k);
}

static void ckpt_executed(sbft_t *s, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest) {
  uint32_t K = s->cfg.checkpoint_interval;
  if (!K || h % K || !manifest || s->restoring) return;
  if (h == s->st.stable_checkpoint && !pc_hash_equal(root, &s->stable_root)) {
    certified_mismatch(s, h, &s->stable_root, &s->stable_manifest, s->stable_cert);
    return;
  }
  if (h <= s->st.stable_checkpoint) return;
  pc_hash_t d;
  pc_checkpoint_digest(&d, h, root, manifest);
  uint8_t sig[PC_SIG_SIZE];
  s->st.signs++;
  pc_signer_vote_sign(&s->cfg.signer, sig, s->cfg.chain_id, PC_PROTO_SBFT, PC_PHASE_CHECKPOINT, h, 0, &d);
  uint8_t m[PC_MSG_HEADER_SIZE + 2 * PC_HASH_SIZE + PC_SIG_SIZE];
  pc_writer_t w;
  pc_writer_init(&w, m, sizeof m);
  pc_msg_hdr_t hd = hdr(s, PC_MSG_CHECKPOINT, h, 0);
  pc_msg_put_header(&w, &hd);
  pc_put_bytes(&w, root->b, PC_HASH_SIZE);
  pc_put_bytes(&w, manifest->b, PC_HASH_SIZE);
  pc_put_bytes(&w, sig, PC_SIG_SIZE);
  broadcast(s, m, w.len);
  ckpt_t *k = ckpt_get(s, h, &d);
  if (k && !ckpt_voted(s, h, s->cfg.my_id)) ckpt_add(s, k, s->cfg.my_id, sig, root, manifest);
}

static int on_checkpoint(sbft_t *s, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  pc_hash_t root, manifest;
  uint8_t sig[PC_SIG_SIZE];
  pc_get_bytes(r, root.b, PC_HASH_SIZE);
  pc_get_bytes(r, manifest.b, PC_HASH_SIZE);
  pc_get_bytes(r, sig, PC_SIG_SIZE);
  int err = pc_reader_finish(r);
  if (err) return err;
  uint32_t K = s->cfg.checkpoint_interval;
  if (hd->round != 0 || !K || hd->height % K) return PC_ERR_INVALID;
  if (hd->height <= s->st.stable_checkpoint) return PC_ERR_EXPIRED;
  if (hd->height > s->next + s->D + 4ull * K) return PC_ERR_RANGE;
  if (ckpt_voted(s, hd->height, hd->sender)) return PC_ERR_DUPLICATE;
  pc_hash_t d;
  pc_checkpoint_digest(&d, hd->height, &root, &manifest);
  s->st.verifies++;
  if (pc_signer_vote_verify(&s->cfg.signer, hd->sender, sig, s->cfg.chain_id, PC_PROTO_SBFT, PC_PHASE_CHECKPOINT,
                            hd->height, 0, &d))
    return PC_ERR_SIGNATURE;
  ckpt_t *k = ckpt_get(s, hd->height, &d);
  if (!k) return PC_ERR_NOMEM;
  ckpt_add(s, k, hd->sender, sig, &root, &manifest);
  return 0;
}

/* Record decision d for height h in the ring (takes ownership of msg). */
static void dec_store(sbft_t *s, uint64_t h, uint8_t *msg, size_t len) {
  dec_t *d = &s->dec[h % DEC_RING];
  free(d->msg);
  memset(d, 0, sizeof *d);
  d->h = h;
  d->msg = msg;
  d->len = len;
  pc_reader_t r;
  pc_reader_init(&r, msg + PC_MSG_HEADER_SIZE, len - PC_MSG_HEADER_SIZE);
  pc_block_decode(&r, &d->block);
  d->batch = pc_get_blob32(&r, PC_BATCH_MAX, &d->batch_len);
  pc_block_id(&d->block, &d->id);
}

static void slide(sbft_t *s) {
  uint64_t h = s->next;
  s->next++;
  slot_open(s, h + s->W);
  if (s->started) {
    hs_t *y = slot(s, h + s->W);
    if (y) slot_kick(s, y);
  }
}

static void emit_decisions(sbft_t *s) {
  for (;;) {
    hs_t *x = slot(s, s->next);
    if (!x || !x->decided) return;
    blk_t *b = blk_find(x, &x->dec_id);
    if (!b) return;
    pc_msg_hdr_t h = hdr(s, PC_MSG_DECISION, x->h, x->dec_round);
    pc_msg_decision_t d = {.block = b->block, .batch = b->batch, .batch_len = b->batch_len, .cert = x->dec_cert};
    size_t need = PC_MSG_HEADER_SIZE + PC_BLOCK_SIZE + 4 + b->batch_len + pc_cert_encoded_size(x->dec_cert);
    uint8_t *m = malloc(need);
    if (!m) return;
    pc_writer_t w;
    pc_writer_init(&w, m, need);
    pc_msg_decision_encode(&w, &h, &d);
    /* durable record first (the ledger is rebuilt from these on restart) */
    pc_writer_t rw;
    if (scratch(s, &rw, 1 + 8 + 4 + w.len)) {
      pc_put_u8(&rw, REC_DECIDED);
      pc_put_u64(&rw, x->h);
      pc_put_blob32(&rw, m, w.len);
      persist(s, rw.buf, rw.len);
    }
    pc_hash_t ch;
    pc_chain_hash(&ch, &b->id, &s->chain_hash);
    pc_cons_action_t a = {.kind = PC_ACT_DECIDE};
    a.u.decide.height = x->h;
    a.u.decide.block = &b->block;
    a.u.decide.block_id = &b->id;
    a.u.decide.chain_hash = &ch;
    a.u.decide.batch = b->batch;
    a.u.decide.batch_len = b->batch_len;
    a.u.decide.cert = x->dec_cert;
    act(s, &a);
    s->chain_hash = ch;
    ckchain_note(s, x->h, &ch);
    s->st.last_decided = x->h;
    check_certified_root(s, &b->block, x->dec_cert);
    dec_store(s, x->h, m, w.len);
    slide(s);
  }
}

/* Answer a height whose DECISION is gone with the stable checkpoint. */
static void answer_stable(sbft_t *s, uint16_t to, uint64_t h, bool force) {
  uint64_t S = s->st.stable_checkpoint;
  pc_hash_t chain;
  if (!S || S < h || !s->stable_cert || !ckchain_get(s, S, &chain)) return;
  if (!force && s->stable_sent[to] == S) return;
  s->stable_sent[to] = S;
  pc_writer_t w;
  if (!scratch(s, &w, PC_MSG_HEADER_SIZE + 3 * PC_HASH_SIZE + pc_cert_encoded_size(s->stable_cert))) return;
  pc_msg_hdr_t hd = hdr(s, PC_MSG_SBFT_STABLE, S, 0);
  pc_msg_put_header(&w, &hd);
  pc_put_bytes(&w, s->stable_root.b, PC_HASH_SIZE);
  pc_put_bytes(&w, s->stable_manifest.b, PC_HASH_SIZE);
  pc_put_bytes(&w, chain.b, PC_HASH_SIZE);
  pc_cert_encode(&w, s->stable_cert);
  send_to(s, to, w.buf, w.len);
}

/* Answer a message about a decided height with its DECISION. */
static void answer_decided(sbft_t *s, uint16_t to, uint64_t h, bool force) {
  dec_t *d = dec_get(s, h);
  if (!d) {
    answer_stable(s, to, h, force);
    return;
  }
  if (!force && s->answered[to] == h) return;
  s->answered[to] = h;
  send_to(s, to, d->msg, d->len);
}

/* --------------------------------------------------------------- receiving */

static int on_proposal(sbft_t *s, hs_t *x, const pc_msg_hdr_t *hd, const uint8_t *body, size_t blen) {
  pc_proposal_t p;
  int err = pc_proposal_decode(body, blen, &p);
  if (err) return err;
  if (p.round != hd->round || p.proposer != hd->sender || pc_sbft_proposer(hd->height, hd->round, s->n) != hd->sender)
    return PC_ERR_INVALID;
  if (p.block.height != hd->height || p.block.chain_id != s->cfg.chain_id) return PC_ERR_RANGE;
  if (hd->round < x->round) return PC_ERR_EXPIRED; /* a round already left */
  if (hd->round == x->round && x->accepted) {
    pc_hash_t id;
    pc_block_id(&p.block, &id);
    return pc_hash_equal(&id, &x->accepted_id) ? PC_ERR_DUPLICATE : PC_ERR_DUPLICATE;
  }
  if (hd->round == 0) {
    if (p.justification_len != 0 || p.block.creator != hd->sender) return PC_ERR_INVALID;
  } else if (!MUT(s, PC_MUTANT_NO_JUSTIFY)) {
    pc_reader_t r;
    pc_reader_init(&r, p.justification, p.justification_len);
    unsigned k = pc_get_u16(&r);
    if (pc_reader_ok(&r)) return PC_ERR_TRUNCATED;
    if (k != s->q) return PC_ERR_QUORUM;
    rc_info_t *rcs = calloc(k, sizeof *rcs);
    uint8_t seen[PC_MAX_REPLICAS / 8] = {0};
    if (!rcs) return PC_ERR_NOMEM;
    for (unsigned i = 0; i < k && !err; i++) {
      size_t len;
      const uint8_t *m = pc_get_blob32(&r, PC_JUSTIFICATION_MAX, &len);
      if (!m) err = PC_ERR_TRUNCATED;
      else if ((err = rc_check(s, m, len, hd->height, &rcs[i]))) {
      } else if (rcs[i].round != hd->round && !(MUT(s, PC_MUTANT_OLD_RC) && rcs[i].round < hd->round))
        err = PC_ERR_RANGE; /* rule 1: exactly (h, r) */
      else if (seen[rcs[i].sender / 8] >> (rcs[i].sender % 8) & 1)
        err = PC_ERR_DUPLICATE;
      else
        seen[rcs[i].sender / 8] |= (uint8_t)(1u << (rcs[i].sender % 8));
    }
    if (!err) err = pc_reader_finish(&r);
    pc_hash_t forced;
    if (!err && justify_rule(s, rcs, k, &forced)) {
      pc_hash_t id;
      pc_block_id(&p.block, &id);
      if (!pc_hash_equal(&id, &forced)) err = PC_ERR_INVALID;
    }
    free(rcs);
    if (err) return err;
  }
  /* A justified proposal for a later round: q replicas left, join it. */
  if (hd->round > x->round) enter_round(s, x, hd->round);
  blk_t *b = blk_add(s, x, &p.block, p.batch, p.batch_len);
  if (!b) return PC_ERR_FULL;
  x->accepted = true;
  x->accepted_id = b->id;
  x->vote_pending = true;
  try_vote(s, x);
  return 0;
}

static int on_vote(sbft_t *s, hs_t *x, const pc_msg_hdr_t *hd, pc_reader_t *r, uint8_t phase) {
  pc_hash_t id;
  uint8_t sig[PC_SIG_SIZE];
  pc_get_bytes(r, id.b, PC_HASH_SIZE);
  pc_get_bytes(r, sig, PC_SIG_SIZE);
  int err = pc_reader_finish(r);
  if (err) return err;
  if (hd->round + 8 < x->round || hd->round > x->round + 64) return PC_ERR_RANGE;
  if (tally_voted(x, hd->round, phase, hd->sender)) {
    tally_t *t = tally_get(s, x, hd->round, phase, &id, false);
    if (t && (t->bitmap[hd->sender / 8] >> (hd->sender % 8) & 1)) return PC_ERR_DUPLICATE;
    return PC_ERR_DUPLICATE; /* a second vote in one round: equivocation */
  }
  s->st.verifies++;
  if (pc_signer_vote_verify(&s->cfg.signer, hd->sender, sig, s->cfg.chain_id, PC_PROTO_SBFT, phase, hd->height,
                            hd->round, &id))
    return PC_ERR_SIGNATURE;
  add_vote(s, x, hd->sender, hd->round, phase, &id, sig);
  return 0;
}

static int on_round_change(sbft_t *s, hs_t *x, const pc_msg_hdr_t *hd, const uint8_t *m, size_t len) {
  if (hd->round <= (x->rc[hd->sender] ? x->rc_round[hd->sender] : 0)) return PC_ERR_DUPLICATE;
  if (hd->round > x->round + 1024) return PC_ERR_RANGE; /* bounds what a liar can make us store */
  rc_info_t info;
  int err = rc_check(s, m, len, hd->height, &info);
  if (err) return err;
  store_rc(x, hd->sender, hd->round, m, len);
  if (info.has_cert && !x->decided) {
    /* a valid certificate is a fact: it can raise our lock (reported in our RCs) */
    pc_reader_t r;
    pc_reader_init(&r, m + PC_MSG_HEADER_SIZE + 1, len - PC_MSG_HEADER_SIZE - 1);
    if (!pc_cert_decode(&r, s->tmp_cert2) && info.cert_kind == PC_CERT_PREPARE) {
      if (!x->locked || x->lock_round < info.cert_round) {
        pc_cert_t *keep = malloc(sizeof *keep);
        if (keep) {
          memcpy(keep, s->tmp_cert2, sizeof *keep);
          take_lock(s, x, keep);
          free(keep);
        }
      }
    } else if (info.cert_kind == PC_CERT_FAST && !pc_cert_decode(&r, s->tmp_cert2)) {
      /* n prepare votes: a decision */
      pc_cert_t *keep = malloc(sizeof *keep);
      if (keep) {
        memcpy(keep, s->tmp_cert2, sizeof *keep);
        decide(s, x, &keep->digest, keep);
        free(keep);
      }
    }
  }
  if (x->decided) return 0;
  /* f+1 round-changes above my round: join the lowest of the f+1 highest. */
  uint32_t above[PC_MAX_REPLICAS];
  unsigned k = 0;
  for (uint16_t i = 0; i < s->n; i++)
    if (x->rc[i] && x->rc_round[i] > x->round) above[k++] = x->rc_round[i];
  if (k >= s->f + 1) {
    /* (f+1)-th largest */
    for (unsigned i = 0; i < s->f + 1; i++)
      for (unsigned j = i + 1; j < k; j++)
        if (above[j] > above[i]) {
          uint32_t t = above[i];
          above[i] = above[j];
          above[j] = t;
        }
    enter_round(s, x, above[s->f]);
  }
  try_propose(s, x);
  return 0;
}

static int on_cert(sbft_t *s, hs_t *x, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  pc_cert_t *c = s->tmp_cert2;
  int err = pc_cert_decode(r, c);
  if (err) return err;
  if ((err = pc_reader_finish(r))) return err;
  if (c->protocol != PC_PROTO_SBFT || c->height != hd->height || c->round != hd->round ||
      c->kind == PC_CERT_CHECKPOINT)
    return PC_ERR_INVALID;
  if ((err = cert_check(s, c, cert_min(s, c->kind)))) return err;
  pc_cert_t *keep = malloc(sizeof *keep);
  if (!keep) return PC_ERR_NOMEM;
  memcpy(keep, c, sizeof *keep);
  if (keep->kind == PC_CERT_PREPARE) {
    if (keep->round == x->round) x->fallback_at = 0;
    take_lock(s, x, keep);
  } else {
    decide(s, x, &keep->digest, keep);
  }
  free(keep);
  return 0;
}

static int on_decision(sbft_t *s, hs_t *x, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  pc_msg_decision_t d = {.cert = s->tmp_cert2};
  int err = pc_msg_decision_decode(r, hd, &d);
  if (err) return err;
  if (x->decided && x->dec_cert && blk_find(x, &x->dec_id)) return PC_ERR_DUPLICATE;
  if (d.cert->protocol != PC_PROTO_SBFT) return PC_ERR_INVALID;
  if ((err = cert_check(s, d.cert, cert_min(s, d.cert->kind)))) return err;
  pc_cert_t *keep = malloc(sizeof *keep);
  if (!keep) return PC_ERR_NOMEM;
  memcpy(keep, d.cert, sizeof *keep);
  blk_add(s, x, &d.block, d.batch, d.batch_len);
  if (!x->decided) decide(s, x, &keep->digest, keep);
  else emit_decisions(s);
  free(keep);
  return 0;
}

static int on_block_req(sbft_t *s, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  pc_hash_t id;
  int err = pc_msg_block_req_decode(r, &id);
  if (err) return err;
  const pc_block_t *b = NULL;
  const uint8_t *batch = NULL;
  size_t blen = 0;
  hs_t *x = slot(s, hd->height);
  blk_t *e = x ? blk_find(x, &id) : NULL;
  dec_t *d = dec_get(s, hd->height);
  if (e) {
    b = &e->block;
    batch = e->batch;
    blen = e->batch_len;
  } else if (d && pc_hash_equal(&d->id, &id)) {
    b = &d->block;
    batch = d->batch;
    blen = d->batch_len;
  }
  if (!b) return PC_ERR_NOT_FOUND;
  pc_writer_t w;
  if (!scratch(s, &w, PC_MSG_HEADER_SIZE + PC_BLOCK_SIZE + 4 + blen)) return PC_ERR_NOMEM;
  pc_msg_hdr_t h = hdr(s, PC_MSG_BLOCK, hd->height, hd->round);
  pc_msg_block_encode(&w, &h, b, batch, blen);
  if (!pc_writer_finish(&w)) send_to(s, hd->sender, w.buf, w.len);
  return 0;
}

static int on_block(sbft_t *s, hs_t *x, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  pc_block_t b;
  const uint8_t *batch;
  size_t blen;
  int err = pc_msg_block_decode(r, hd, &b, &batch, &blen);
  if (err) return err;
  pc_hash_t id;
  pc_block_id(&b, &id);
  if (!x->want_block || !pc_hash_equal(&id, &x->want_id)) return PC_ERR_STATE; /* unsolicited */
  x->want_block = false;
  blk_add(s, x, &b, batch, blen);
  if (x->decided) emit_decisions(s);
  else try_propose(s, x);
  return 0;
}

/* --------------------------------------------------------------- catching up by state transfer */

/* do_jump moves the window to h + 1 after the state of h was installed. */
static void do_jump(sbft_t *s, uint64_t h, const pc_hash_t *chain, const pc_hash_t *root) {
  uint8_t rec[1 + 8 + 2 * PC_HASH_SIZE];
  pc_writer_t w;
  pc_writer_init(&w, rec, sizeof rec);
  pc_put_u8(&w, REC_BASE);
  pc_put_u64(&w, h);
  pc_put_bytes(&w, chain->b, PC_HASH_SIZE);
  pc_put_bytes(&w, root->b, PC_HASH_SIZE);
  persist(s, rec, w.len);
  PC_INFO("sbft r%u: state of %llu installed: continuing at %llu", s->cfg.my_id, (unsigned long long)h,
          (unsigned long long)(h + 1));
  s->next = h + 1;
  s->chain_hash = *chain;
  s->st.last_decided = h;
  ckchain_note(s, h, chain);
  s->roots[h % ROOT_RING].h = h;
  s->roots[h % ROOT_RING].root = *root;
  if (h > s->last_executed) s->last_executed = h;
  s->jump_h = 0;
  s->halted = false;
  for (uint64_t k = h + 1; k < h + 1 + s->W; k++) slot_open(s, k);
  if (s->started)
    for (uint64_t k = h + 1; k < h + 1 + s->W; k++) {
      hs_t *x = slot(s, k);
      if (x) slot_kick(s, x);
    }
}

/* ask_all_catchup asks every replica for the DECISION (or STABLE) of our
 * lowest undecided height, at most once per base timeout. */
static void ask_all_catchup(sbft_t *s) {
  if (s->jt_req_at && s->now < s->jt_req_at + s->cfg.base_timeout_ns) return;
  s->jt_req_at = s->now ? s->now : 1;
  uint8_t q[PC_MSG_HEADER_SIZE + PC_HASH_SIZE];
  pc_writer_t w;
  pc_writer_init(&w, q, sizeof q);
  pc_hash_t zero = {0};
  pc_msg_hdr_t h = hdr(s, PC_MSG_BLOCK_REQ, s->next, 0);
  pc_msg_block_req_encode(&w, &h, &zero);
  broadcast(s, q, w.len);
}

static int on_stable(sbft_t *s, const pc_msg_hdr_t *hd, pc_reader_t *r) {
  pc_hash_t root, manifest, chain, d;
  pc_cert_t *c = s->tmp_cert2;
  pc_get_bytes(r, root.b, PC_HASH_SIZE);
  pc_get_bytes(r, manifest.b, PC_HASH_SIZE);
  pc_get_bytes(r, chain.b, PC_HASH_SIZE);
  if (pc_reader_ok(r)) return pc_reader_ok(r);
  int err = pc_cert_decode(r, c);
  if (err) return err;
  if ((err = pc_reader_finish(r))) return err;
  uint64_t S = hd->height;
  pc_checkpoint_digest(&d, S, &root, &manifest);
  if (hd->round != 0 || c->kind != PC_CERT_CHECKPOINT || c->height != S || c->round != 0 ||
      !pc_hash_equal(&c->digest, &d))
    return PC_ERR_INVALID;
  if (S < s->next || (s->jump_h && S <= s->jump_h)) return PC_ERR_EXPIRED;
  if ((err = pc_claims_check(&s->claims, S, hd->sender))) return err;
  if ((err = cert_check(s, c, s->q))) return err;
  err = pc_claims_add(&s->claims, S, &root, &manifest, c, hd->sender, &chain, s->f);
  if (err == PC_ERR_INVALID)
    PC_ERROR("sbft r%u: two certified checkpoints at %llu: the fault bound is broken", s->cfg.my_id,
             (unsigned long long)S);
  if (err < 0) return err;
  if (err == 0) {
    ask_all_catchup(s); /* the others' answers make f+1 */
    return 0;
  }
  /* f+1 agree on the chain hash at S: adopt S, transfer its state. */
  if (S > s->st.stable_checkpoint) {
    if (!s->stable_cert && !(s->stable_cert = malloc(sizeof *s->stable_cert))) return PC_ERR_NOMEM;
    memcpy(s->stable_cert, s->claims.cert, sizeof *s->claims.cert);
    s->st.stable_checkpoint = S;
    s->stable_root = s->claims.root;
    s->stable_manifest = s->claims.manifest;
    persist_stable(s, S, &s->claims.root, &s->claims.manifest, s->stable_cert);
  }
  s->jump_h = S;
  s->jump_chain = chain;
  PC_INFO("sbft r%u: %llu heights behind stable checkpoint %llu: stop voting, transfer its state", s->cfg.my_id,
          (unsigned long long)(S - s->next + 1), (unsigned long long)S);
  emit_transfer(s, S, &s->stable_root, &s->stable_manifest, s->stable_cert);
  return 0;
}

static int sbft_on_message(pc_consensus_t *c, uint16_t from, const uint8_t *m, size_t len) {
  sbft_t *s = (sbft_t *)c;
  s->st.msgs_received++;
  pc_reader_t r;
  pc_msg_hdr_t hd;
  int err = pc_msg_get_header(&r, m, len, s->cfg.chain_id, s->cfg.n, from, &hd);
  if (err) {
    s->st.rejected++;
    return err;
  }
  if (hd.type > PC_MSG_SBFT_LAST && hd.type > PC_MSG_SHARED_LAST) return reject(s, PC_ERR_INVALID);
  if (hd.type == PC_MSG_CHECKPOINT) {
    err = on_checkpoint(s, &hd, &r);
    return err ? reject(s, err) : 0;
  }
  if (hd.type >= PC_MSG_MANIFEST_REQ && hd.type <= PC_MSG_CHUNK) return reject(s, PC_ERR_UNSUPPORTED);
  if (hd.type == PC_MSG_SBFT_STABLE) {
    err = on_stable(s, &hd, &r);
    return err ? reject(s, err) : 0;
  }
  if (hd.type == PC_MSG_BLOCK_REQ) {
    if (hd.height < s->next && len == PC_MSG_HEADER_SIZE + PC_HASH_SIZE &&
        pc_hash_is_zero((const pc_hash_t *)(m + PC_MSG_HEADER_SIZE))) {
      answer_decided(s, from, hd.height, true); /* a catch-up request */
      return 0;
    }
    err = on_block_req(s, &hd, &r);
    return err ? reject(s, err) : 0;
  }
  if (hd.height < s->next) {
    /* about a decided height: answer with its certificate */
    if (hd.type != PC_MSG_DECISION && hd.type != PC_MSG_BLOCK)
      answer_decided(s, from, hd.height, hd.type == PC_MSG_SBFT_ROUND_CHANGE);
    return reject(s, PC_ERR_EXPIRED);
  }
  hs_t *x = slot(s, hd.height);
  if (!x) {
    /* Beyond the window: others are ahead. Ask this sender for the decision
     * of our lowest undecided height (at most once per height and timeout). */
    if (s->started && (s->catchup_next != s->next || s->now >= s->catchup_at + s->cfg.base_timeout_ns)) {
      s->catchup_next = s->next;
      s->catchup_at = s->now;
      uint8_t q[PC_MSG_HEADER_SIZE + PC_HASH_SIZE];
      pc_writer_t w;
      pc_writer_init(&w, q, sizeof q);
      pc_hash_t zero = {0};
      pc_msg_hdr_t h = hdr(s, PC_MSG_BLOCK_REQ, s->next, 0);
      pc_msg_block_req_encode(&w, &h, &zero);
      send_to(s, from, q, w.len);
    }
    return reject(s, PC_ERR_RANGE);
  }
  if (s->halted && hd.type != PC_MSG_DECISION) return reject(s, PC_ERR_STATE);
  switch (hd.type) {
  case PC_MSG_SBFT_PROPOSAL: err = on_proposal(s, x, &hd, m + PC_MSG_HEADER_SIZE, len - PC_MSG_HEADER_SIZE); break;
  case PC_MSG_SBFT_PREPARE: err = on_vote(s, x, &hd, &r, PC_PHASE_PREPARE); break;
  case PC_MSG_SBFT_COMMIT: err = on_vote(s, x, &hd, &r, PC_PHASE_COMMIT); break;
  case PC_MSG_SBFT_ROUND_CHANGE: err = on_round_change(s, x, &hd, m, len); break;
  case PC_MSG_SBFT_CERT: err = on_cert(s, x, &hd, &r); break;
  case PC_MSG_DECISION: err = on_decision(s, x, &hd, &r); break;
  case PC_MSG_BLOCK: err = on_block(s, x, &hd, &r); break;
  default: err = PC_ERR_INVALID;
  }
  /* A decided head may have just received its block by any path (a
   * proposal, a DECISION, a BLOCK): emit what can be emitted now. */
  if (x->decided && x->h == s->next) emit_decisions(s);
  return err ? reject(s, err) : 0;
}

/* --------------------------------------------------------------- timers */

static void sbft_on_tick(pc_consensus_t *c, uint64_t now) {
  sbft_t *s = (sbft_t *)c;
  if (now > s->now) s->now = now;
  if (!s->started) return;
  for (uint64_t h = s->next; h < s->next + s->W; h++) {
    hs_t *x = slot(s, h);
    if (!x || x->decided) continue;
    if (x->commit_wait && s->now >= x->commit_at) commit_vote(s, x);
    if (x->collect_wait_at && x->collect_wait_at != UINT64_MAX && s->now >= x->collect_wait_at) {
      x->collect_wait_at = UINT64_MAX;
      for (int i = 0; i < MAX_TALLIES; i++) {
        tally_t *t = &x->tallies[i];
        if (t->used && t->round == x->round && t->phase == PC_PHASE_PREPARE && t->count >= s->q)
          check_tally(s, x, t);
      }
    }
    if (x->fallback_at && s->now >= x->fallback_at && !x->fallback_done) {
      /* no certificate from the collector within Δc: broadcast my votes */
      x->fallback_done = true;
      x->fallback_at = 0;
      if (x->voted && x->vote_round == x->round)
        vote_msg(s, x, PC_MSG_SBFT_PREPARE, x->round, &x->vote_id, x->vote_sig, true);
      if (x->commit_voted && x->commit_round == x->round)
        vote_msg(s, x, PC_MSG_SBFT_COMMIT, x->round, &x->commit_id, x->commit_sig, true);
    }
    if (!x->timer_armed && exec_ready(s, h)) arm_timer(s, x);
    if (x->timer_armed && s->now >= x->deadline && !s->halted) {
      s->st.round_changes++;
      enter_round(s, x, x->round + 1);
    }
  }
}

static uint64_t sbft_next_deadline(const pc_consensus_t *c) {
  const sbft_t *s = (const sbft_t *)c;
  uint64_t d = UINT64_MAX;
  for (uint64_t h = s->next; h < s->next + s->W; h++) {
    const hs_t *x = &s->hs[h % s->W];
    if (x->h != h || x->decided) continue;
    if (x->timer_armed && x->deadline < d) d = x->deadline;
    if (x->commit_wait && x->commit_at < d) d = x->commit_at;
    if (x->collect_wait_at && x->collect_wait_at != UINT64_MAX && x->collect_wait_at < d) d = x->collect_wait_at;
    if (x->fallback_at && !x->fallback_done && x->fallback_at < d) d = x->fallback_at;
  }
  return d;
}

/* --------------------------------------------------------------- lifecycle */

static int sbft_on_executed(pc_consensus_t *c, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest) {
  sbft_t *s = (sbft_t *)c;

  if (h == 0 || (s->last_executed && h != s->last_executed + 1 && !s->restoring && s->started)) return PC_ERR_RANGE;
  s->roots[h % ROOT_RING].h = h;
  s->roots[h % ROOT_RING].root = *root;
  if (h > s->last_executed) s->last_executed = h;
  ckpt_executed(s, h, root, manifest);
  if (s->started)
    for (uint64_t k = s->next; k < s->next + s->W; k++) {
      hs_t *x = slot(s, k);
      if (x) slot_kick(s, x);
    }
  return 0;
}

static void sbft_on_persist_done(pc_consensus_t *c, uint64_t seq) {
  sbft_t *s = (sbft_t *)c;
  if (seq > s->durable_seq) s->durable_seq = seq;
}

static int sbft_on_transfer_done(pc_consensus_t *c, uint64_t h, const pc_hash_t *root) {
  sbft_t *s = (sbft_t *)c;
  if (s->jump_h && h == s->jump_h && h >= s->next) {
    do_jump(s, h, &s->jump_chain, root);
    return 0;
  }
  s->roots[h % ROOT_RING].h = h;
  s->roots[h % ROOT_RING].root = *root;
  if (h > s->last_executed) s->last_executed = h;
  s->halted = false;
  return 0;
}

static int sbft_restore(pc_consensus_t *c, const uint8_t *rec, size_t len) {
  sbft_t *s = (sbft_t *)c;
  if (s->started) return PC_ERR_STATE;
  pc_reader_t r;
  pc_reader_init(&r, rec, len);
  uint8_t type = pc_get_u8(&r);
  uint64_t h = pc_get_u64(&r);
  if (pc_reader_ok(&r)) return PC_ERR_CORRUPT;
  bool forget = MUT(s, PC_MUTANT_FORGET_ON_RESTART);
  s->restoring = true;
  int err = 0;
  if (type == REC_DECIDED) {
    size_t mlen;
    const uint8_t *m = pc_get_blob32(&r, PC_MSG_MAX, &mlen);
    if (!m || pc_reader_finish(&r) || mlen < PC_MSG_HEADER_SIZE) err = PC_ERR_CORRUPT;
    else if (h == s->next) {
      uint8_t *copy = malloc(mlen);
      if (!copy) err = PC_ERR_NOMEM;
      else {
        memcpy(copy, m, mlen);
        dec_store(s, h, copy, mlen);
        dec_t *d = dec_get(s, h);
        pc_chain_hash(&s->chain_hash, &d->id, &s->chain_hash);
        ckchain_note(s, h, &s->chain_hash);
        s->st.last_decided = h;
        slide(s);
      }
    }
    s->restoring = false;
    return err;
  }
  if (type == REC_BASE) {
    pc_hash_t chain, root;
    pc_get_bytes(&r, chain.b, PC_HASH_SIZE);
    pc_get_bytes(&r, root.b, PC_HASH_SIZE);
    if (pc_reader_finish(&r) || h == 0) err = PC_ERR_CORRUPT;
    else if (h >= s->next) do_jump(s, h, &chain, &root);
    s->restoring = false;
    return err;
  }
  if (type == REC_STABLE) {
    pc_hash_t root, man;
    pc_get_bytes(&r, root.b, PC_HASH_SIZE);
    pc_get_bytes(&r, man.b, PC_HASH_SIZE);
    if (pc_reader_ok(&r) || pc_cert_decode(&r, s->tmp_cert) || pc_reader_finish(&r)) err = PC_ERR_CORRUPT;
    else if (h > s->st.stable_checkpoint && (s->stable_cert || (s->stable_cert = malloc(sizeof *s->stable_cert)))) {
      memcpy(s->stable_cert, s->tmp_cert, sizeof *s->tmp_cert);
      s->st.stable_checkpoint = h;
      s->stable_root = root;
      s->stable_manifest = man;
    }
    s->restoring = false;
    return err;
  }
  hs_t *x = slot(s, h);
  if (!x) {
    s->restoring = false;
    return 0; /* an old height */
  }
  if (type == REC_ROUND) {
    uint32_t rnd = pc_get_u32(&r);
    if (pc_reader_finish(&r)) err = PC_ERR_CORRUPT;
    else if (!forget && rnd > x->round) x->round = rnd;
  } else if (type == REC_BLOCK) {
    pc_block_t b;
    size_t blen;
    if (pc_block_decode(&r, &b)) err = PC_ERR_CORRUPT;
    const uint8_t *batch = err ? NULL : pc_get_blob32(&r, PC_BATCH_MAX, &blen);
    if (!err && (!batch || pc_reader_finish(&r))) err = PC_ERR_CORRUPT;
    if (!err) blk_add(s, x, &b, batch, blen);
  } else if (type == REC_VOTE) {
    uint32_t rnd = pc_get_u32(&r);
    uint8_t phase = pc_get_u8(&r);
    pc_hash_t id;
    uint8_t sig[PC_SIG_SIZE];
    pc_get_bytes(&r, id.b, PC_HASH_SIZE);
    pc_get_bytes(&r, sig, PC_SIG_SIZE);
    if (pc_reader_finish(&r)) err = PC_ERR_CORRUPT;
    else if (!forget && phase == PC_PHASE_PREPARE && (!x->voted || rnd >= x->vote_round)) {
      x->voted = true;
      x->vote_round = rnd;
      x->vote_id = id;
      memcpy(x->vote_sig, sig, PC_SIG_SIZE);
      if (rnd == x->round) {
        x->accepted = true;
        x->accepted_id = id;
      }
      add_vote(s, x, s->cfg.my_id, rnd, phase, &id, sig);
    } else if (!forget && phase == PC_PHASE_COMMIT && (!x->commit_voted || rnd >= x->commit_round)) {
      x->commit_voted = true;
      x->commit_round = rnd;
      x->commit_id = id;
      memcpy(x->commit_sig, sig, PC_SIG_SIZE);
      add_vote(s, x, s->cfg.my_id, rnd, phase, &id, sig);
    }
  } else if (type == REC_LOCK) {
    (void)pc_get_u32(&r);
    if (pc_cert_decode(&r, s->tmp_cert) || pc_reader_finish(&r)) err = PC_ERR_CORRUPT;
    else if (!x->locked || x->lock_round < s->tmp_cert->round) {
      if (!x->lock_cert) x->lock_cert = malloc(sizeof *x->lock_cert);
      if (x->lock_cert) {
        memcpy(x->lock_cert, s->tmp_cert, sizeof *s->tmp_cert);
        x->locked = true;
        x->lock_round = s->tmp_cert->round;
        x->lock_id = s->tmp_cert->digest;
      }
    }
  } else {
    err = PC_ERR_CORRUPT;
  }
  s->restoring = false;
  return err;
}

static int sbft_start(pc_consensus_t *c, uint64_t now) {
  sbft_t *s = (sbft_t *)c;
  if (s->started) return PC_ERR_STATE;
  s->now = now;
  s->started = true;
  for (uint64_t h = s->next; h < s->next + s->W; h++) {
    hs_t *x = slot(s, h);
    if (!x) continue;
    /* A restarted replica whose current round already carries its vote
     * re-sends it (same signature: not a second vote). */
    if (x->voted && x->vote_round == x->round) vote_msg(s, x, PC_MSG_SBFT_PREPARE, x->round, &x->vote_id, x->vote_sig, true);
    slot_kick(s, x);
  }
  return 0;
}

static void sbft_get_stats(const pc_consensus_t *c, pc_consensus_stats_t *out) { *out = ((const sbft_t *)c)->st; }

static void sbft_destroy(pc_consensus_t *c) {
  sbft_t *s = (sbft_t *)c;
  if (!s) return;
  if (s->hs) {
    for (unsigned i = 0; i < s->W; i++) {
      hs_t *x = &s->hs[i];
      if (x->rc) slot_clear(s, x);
      for (int k = 0; k < MAX_TALLIES; k++) free(x->tallies[k].sigs);
      free(x->lock_cert);
      free(x->dec_cert);
      free(x->rc);
      free(x->rc_len);
      free(x->rc_round);
    }
    free(s->hs);
  }
  for (int i = 0; i < DEC_RING; i++) free(s->dec[i].msg);
  for (int i = 0; i < CKPT_SLOTS; i++) free(s->ckpt[i].sigs);
  free(s->stable_cert);
  pc_claims_free(&s->claims);
  free(s->stable_sent);
  free(s->answered);
  free(s->tmp_cert);
  free(s->tmp_cert2);
  free(s->buf);
  free(s);
}

static pc_consensus_t *sbft_create(const pc_consensus_config_t *cfg, const pc_consensus_io_t *io) {
  sbft_t *s = calloc(1, sizeof *s);
  if (!s) {
    PC_ERROR("sbft: out of memory");
    return NULL;
  }
  s->ops = &pc_sbft_ops;
  s->cfg = *cfg;
  s->io = *io;
  s->n = cfg->n;
  s->f = cfg->f;
  s->q = MUT(s, PC_MUTANT_QUORUM_2F) ? 2u * cfg->f : pc_quorum(cfg->n, cfg->f);
  if (s->q == 0) s->q = 1;
  s->W = cfg->window;
  s->D = 2 * cfg->window;
  s->next = 1;
  s->hs = calloc(s->W, sizeof *s->hs);
  s->answered = calloc(s->n, sizeof *s->answered);
  s->stable_sent = calloc(s->n, sizeof *s->stable_sent);
  int claims_err = pc_claims_init(&s->claims, s->n);
  s->tmp_cert = malloc(sizeof *s->tmp_cert);
  s->tmp_cert2 = malloc(sizeof *s->tmp_cert2);
  bool ok = s->hs && s->answered && s->stable_sent && !claims_err && s->tmp_cert && s->tmp_cert2;
  for (unsigned i = 0; ok && i < s->W; i++) {
    hs_t *x = &s->hs[i];
    x->rc = calloc(s->n, sizeof *x->rc);
    x->rc_len = calloc(s->n, sizeof *x->rc_len);
    x->rc_round = calloc(s->n, sizeof *x->rc_round);
    ok = x->rc && x->rc_len && x->rc_round;
  }
  if (!ok) {
    PC_ERROR("sbft: out of memory");
    sbft_destroy((pc_consensus_t *)s);
    return NULL;
  }
  for (uint64_t h = 1; h <= s->W; h++) slot_open(s, h);
  return (pc_consensus_t *)s;
}

const pc_consensus_ops_t pc_sbft_ops = {
    .name = "sbft",
    .create = sbft_create,
    .destroy = sbft_destroy,
    .restore = sbft_restore,
    .start = sbft_start,
    .on_message = sbft_on_message,
    .on_tick = sbft_on_tick,
    .on_batch = sbft_on_batch,
    .on_executed = sbft_on_executed,
    .on_persist_done = sbft_on_persist_done,
    .on_transfer_done = sbft_on_transfer_done,
    .next_deadline = sbft_next_deadline,
    .get_stats = sbft_get_stats,
};
