/* pbft_testlib.h — helpers for the PBFT tests: a cheap checked signer
 * stand-in, message builders, and a small deterministic cluster driver (n
 * instances wired by one FIFO queue, records durable at once, blocks
 * "executed" as soon as decided). Header-only, test code. */
#ifndef PBFT_TESTLIB_H
#define PBFT_TESTLIB_H

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/pbft_private.h"
#include "tests/testutil.h"

/* Pull PBFT out of the static library (consensus.h declares pc_pbft_ops
 * weak; a weak reference does not load pbft.o, a strong one does). */
uint16_t (*const pc_pbft_link_ref)(uint32_t, uint16_t) = pc_pbft_primary;

/* ------------------------------------------------------------ signer */

/* Stand-in: sig = BLAKE2b("tsig" ‖ signer ‖ msg) twice (64 bytes). Any
 * test can forge any replica's signature with it — on purpose. */
typedef struct {
  uint16_t id;
} tsign_t;

static inline void tsig_make(uint16_t id, const uint8_t *msg, size_t len, uint8_t sig[PC_SIG_SIZE]) {
  pc_hasher_t h;
  uint8_t idb[2] = {(uint8_t)id, (uint8_t)(id >> 8)};
  pc_hash_t a;
  pc_hasher_init_tagged(&h, "tsig");
  pc_hasher_update(&h, idb, 2);
  pc_hasher_update(&h, msg, len);
  pc_hasher_final(&h, &a);
  memcpy(sig, a.b, 32);
  pc_hash_tagged(&a, "tsig2", a.b, 32);
  memcpy(sig + 32, a.b, 32);
}

static inline void tsig_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[PC_SIG_SIZE]) {
  tsig_make(((tsign_t *)ctx)->id, msg, len, sig);
}

static inline int tsig_verify(void *ctx, uint16_t signer, const uint8_t *msg, size_t len,
                              const uint8_t sig[PC_SIG_SIZE]) {
  (void)ctx;
  uint8_t want[PC_SIG_SIZE];
  tsig_make(signer, msg, len, want);
  return memcmp(want, sig, PC_SIG_SIZE) ? PC_ERR_SIGNATURE : 0;
}

/* ------------------------------------------------------------ cluster */

#define CL_MAXN 8
#define CL_MAXH 4096
#define CL_MAXREC 8192

typedef struct cl cl_t;

typedef struct {
  cl_t *cl;
  uint16_t id;
} cl_ctx_t;

typedef struct {
  uint16_t from, to;
  uint8_t *data;
  size_t len;
} cl_msg_t;

/* an outgoing vote seen by the driver: (who, phase, seq, view) → id */
typedef struct {
  uint16_t who;
  uint8_t phase;
  uint64_t seq;
  uint32_t view;
  pc_hash_t id;
} cl_vote_t;

struct cl {
  unsigned n, f;
  pc_consensus_config_t cfg;
  pc_consensus_t *c[CL_MAXN];
  cl_ctx_t ctx[CL_MAXN];
  tsign_t ts[CL_MAXN];
  bool real_crypto;
  pc_ed25519_signer_t ed[CL_MAXN];
  uint8_t pk[CL_MAXN][PC_PUBKEY_SIZE];
  uint8_t sk[CL_MAXN][PC_SECKEY_SIZE];
  bool up[CL_MAXN];
  bool silent[CL_MAXN]; /* drop everything it sends and everything sent to it */
  cl_msg_t *q;
  size_t qh, qn, qcap;
  /* records, per replica */
  uint8_t **rec[CL_MAXN];
  size_t *rec_len[CL_MAXN];
  size_t n_rec[CL_MAXN];
  /* decisions and execution */
  pc_hash_t ids[CL_MAXN][CL_MAXH];
  pc_hash_t roots[CL_MAXN][CL_MAXH];
  uint64_t decided[CL_MAXN];
  uint64_t executed[CL_MAXN];
  uint64_t want_batch[CL_MAXN][16];
  unsigned n_want[CL_MAXN];
  uint64_t now;
  /* checks */
  bool out_of_order;
  cl_vote_t *votes;
  size_t n_votes, cap_votes;
  bool double_vote;
  uint64_t sent_by_type[256];
  /* state transfers asked for (the test completes them by hand) */
  uint64_t xfer_h[CL_MAXN];
  pc_hash_t xfer_root[CL_MAXN], xfer_chain[CL_MAXN];
  bool xfer_has_chain[CL_MAXN];
  unsigned xfers[CL_MAXN];
};

static inline void cl_note_vote(cl_t *cl, uint16_t who, const uint8_t *m, size_t len) {
  if (len < PC_MSG_HEADER_SIZE + PC_HASH_SIZE) return;
  uint8_t type = m[1];
  uint8_t phase;
  pc_hash_t id;
  if (type == PC_MSG_PBFT_PREPARE || type == PC_MSG_PBFT_COMMIT) {
    phase = type == PC_MSG_PBFT_PREPARE ? PC_PHASE_PREPARE : PC_PHASE_COMMIT;
    memcpy(id.b, m + PC_MSG_HEADER_SIZE, PC_HASH_SIZE);
  } else if (type == PC_MSG_PBFT_PRE_PREPARE) {
    phase = PC_PHASE_PREPARE;
    pc_reader_t r;
    pc_msg_hdr_t hd;
    pc_pbft_pp_t pp;
    if (pc_msg_get_header(&r, m, len, cl->cfg.chain_id, (uint16_t)cl->n, who, &hd)) return;
    if (pc_pbft_pp_decode(&r, &hd, PC_BATCH_MAX, &pp)) return;
    pc_block_id(&pp.block, &id);
  } else {
    return;
  }
  uint64_t seq = pc_load_le64(m + 12);
  uint32_t view = pc_load_le32(m + 20);
  for (size_t i = 0; i < cl->n_votes; i++) {
    cl_vote_t *v = &cl->votes[i];
    if (v->who == who && v->phase == phase && v->seq == seq && v->view == view) {
      if (!pc_hash_equal(&v->id, &id)) cl->double_vote = true;
      return;
    }
  }
  if (cl->n_votes == cl->cap_votes) {
    cl->cap_votes = cl->cap_votes ? 2 * cl->cap_votes : 256;
    cl->votes = realloc(cl->votes, cl->cap_votes * sizeof *cl->votes);
  }
  cl->votes[cl->n_votes++] = (cl_vote_t){.who = who, .phase = phase, .seq = seq, .view = view, .id = id};
}

static inline void cl_push(cl_t *cl, uint16_t from, uint16_t to, const uint8_t *d, size_t len) {
  if (cl->silent[from] || cl->silent[to]) return;
  if (cl->qn == cl->qcap) {
    size_t ncap = cl->qcap ? 2 * cl->qcap : 1024;
    cl_msg_t *nq = malloc(ncap * sizeof *nq);
    for (size_t i = 0; i < cl->qn; i++) nq[i] = cl->q[(cl->qh + i) % cl->qcap];
    free(cl->q);
    cl->q = nq;
    cl->qh = 0;
    cl->qcap = ncap;
  }
  uint8_t *copy = malloc(len);
  memcpy(copy, d, len);
  cl->q[(cl->qh + cl->qn) % cl->qcap] = (cl_msg_t){.from = from, .to = to, .data = copy, .len = len};
  cl->qn++;
}

static inline void cl_action(void *ctx, const pc_cons_action_t *a) {
  cl_ctx_t *x = ctx;
  cl_t *cl = x->cl;
  uint16_t me = x->id;
  switch (a->kind) {
    case PC_ACT_SEND:
      cl->sent_by_type[a->u.msg.data[1]]++;
      cl_note_vote(cl, me, a->u.msg.data, a->u.msg.len);
      cl_push(cl, me, a->u.msg.to, a->u.msg.data, a->u.msg.len);
      break;
    case PC_ACT_BROADCAST:
      cl->sent_by_type[a->u.msg.data[1]]++;
      cl_note_vote(cl, me, a->u.msg.data, a->u.msg.len);
      for (uint16_t j = 0; j < cl->n; j++)
        if (j != me) cl_push(cl, me, j, a->u.msg.data, a->u.msg.len);
      break;
    case PC_ACT_PERSIST: {
      size_t k = cl->n_rec[me]++;
      if (k > CL_MAXREC - 40 && getenv("CL_TRACE"))
        fprintf(stderr, "rec r%u type %u seq %llu view %u now %llu\n", me, a->u.persist.data[0],
                (unsigned long long)pc_load_le64(a->u.persist.data + 1),
                a->u.persist.len > 13 ? pc_load_le32(a->u.persist.data + 9) : 0, (unsigned long long)cl->now);
      cr_assert_lt(k, CL_MAXREC);
      cl->rec[me][k] = malloc(a->u.persist.len);
      memcpy(cl->rec[me][k], a->u.persist.data, a->u.persist.len);
      cl->rec_len[me][k] = a->u.persist.len;
      break;
    }
    case PC_ACT_DECIDE: {
      uint64_t h = a->u.decide.height;
      if (h != cl->decided[me] + 1) cl->out_of_order = true;
      cr_assert_lt(h, CL_MAXH);
      cl->ids[me][h] = *a->u.decide.block_id;
      cl->decided[me] = h;
      cr_assert_eq(a->u.decide.cert->kind, PC_CERT_COMMIT);
      cr_assert_geq(pc_cert_signers(a->u.decide.cert), pc_quorum(cl->n, cl->f));
      break;
    }
    case PC_ACT_STATE_TRANSFER:
      cl->xfers[me]++;
      cl->xfer_h[me] = a->u.transfer.height;
      cl->xfer_root[me] = *a->u.transfer.exec_root;
      cl->xfer_has_chain[me] = a->u.transfer.chain_hash != NULL;
      if (a->u.transfer.chain_hash) cl->xfer_chain[me] = *a->u.transfer.chain_hash;
      break;
    case PC_ACT_NEED_BATCH:
      if (cl->n_want[me] < 16) cl->want_batch[me][cl->n_want[me]++] = a->u.need_batch.height;
      break;
    default: break;
  }
}

static inline pc_consensus_t *cl_make(cl_t *cl, uint16_t i) {
  pc_consensus_config_t cfg = cl->cfg;
  cfg.my_id = i;
  if (cl->real_crypto) {
    cfg.signer = pc_signer_ed25519(&cl->ed[i], cl->sk[i], (const uint8_t(*)[PC_PUBKEY_SIZE])cl->pk, cl->n);
  } else {
    cl->ts[i].id = i;
    cfg.signer = (pc_signer_t){.ctx = &cl->ts[i], .sign = tsig_sign, .verify = tsig_verify};
  }
  cl->ctx[i] = (cl_ctx_t){.cl = cl, .id = i};
  pc_consensus_io_t io = {.ctx = &cl->ctx[i], .action = cl_action};
  return pc_consensus_create(&cfg, &io);
}

/* cl_init_keep: n replicas, PBFT, window W, checkpoint interval K,
 * keep_decided (0 = the default). */
static inline void cl_init_keep(cl_t *cl, unsigned n, uint32_t W, uint32_t K, bool real_crypto, uint32_t keep) {
  memset(cl, 0, sizeof *cl);
  cl->n = n;
  cl->f = (n - 1) / 3;
  pc_consensus_config_defaults(&cl->cfg, (uint16_t)n, (uint16_t)cl->f, 0);
  cl->cfg.protocol = PC_PROTO_PBFT;
  cl->cfg.window = W;
  cl->cfg.checkpoint_interval = K;
  cl->cfg.base_timeout_ns = 10000000;
  if (keep) cl->cfg.keep_decided = keep;
  cl->real_crypto = real_crypto;
  if (real_crypto) {
    cr_assert_eq(pc_crypto_init(), 0);
    for (unsigned i = 0; i < n; i++) crypto_sign_keypair(cl->pk[i], cl->sk[i]);
  }
  cl->now = 1000000000ull;
  for (uint16_t i = 0; i < n; i++) {
    cl->rec[i] = calloc(CL_MAXREC, sizeof(uint8_t *));
    cl->rec_len[i] = calloc(CL_MAXREC, sizeof(size_t));
    cl->c[i] = cl_make(cl, i);
    cr_assert_not_null(cl->c[i]);
    cl->up[i] = true;
  }
  for (uint16_t i = 0; i < n; i++) pc_consensus_start(cl->c[i], cl->now);
}

/* cl_init: the same with the default keep_decided. */
static inline void cl_init(cl_t *cl, unsigned n, uint32_t W, uint32_t K, bool real_crypto) {
  cl_init_keep(cl, n, W, K, real_crypto, 0);
}

static inline void cl_free(cl_t *cl) {
  for (unsigned i = 0; i < cl->n; i++) {
    pc_consensus_destroy(cl->c[i]);
    for (size_t k = 0; k < cl->n_rec[i]; k++) free(cl->rec[i][k]);
    free(cl->rec[i]);
    free(cl->rec_len[i]);
  }
  for (size_t i = 0; i < cl->qn; i++) free(cl->q[(cl->qh + i) % cl->qcap].data);
  free(cl->q);
  free(cl->votes);
}

/* A batch of one transaction naming (replica, height). */
static inline size_t cl_batch(uint8_t *buf, uint16_t who, uint64_t h) {
  uint8_t tx[16];
  memset(tx, 0, sizeof tx);
  pc_store_le16(tx, who);
  pc_store_le64(tx + 2, h);
  tx[15] = 0x5a;
  pc_writer_t w;
  pc_writer_init(&w, buf, 64);
  pc_batch_append(&w, tx, sizeof tx);
  return w.len;
}

/* Executes what replica i decided (root(h) = H(root(h−1) ‖ id(h))), with
 * a manifest at checkpoint heights. */
static inline void cl_exec(cl_t *cl, uint16_t i) {
  while (cl->executed[i] < cl->decided[i]) {
    uint64_t h = ++cl->executed[i];
    uint8_t in[64];
    memcpy(in, cl->roots[i][h - 1].b, 32);
    memcpy(in + 32, cl->ids[i][h].b, 32);
    pc_hash_tagged(&cl->roots[i][h], "test/exec", in, sizeof in);
    pc_hash_t man;
    pc_hash_tagged(&man, "test/manifest", cl->roots[i][h].b, 32);
    bool ck = cl->cfg.checkpoint_interval && h % cl->cfg.checkpoint_interval == 0;
    pc_consensus_on_executed(cl->c[i], h, &cl->roots[i][h], ck ? &man : NULL);
  }
}

/* One step: batches, execution, one message, else time to the next timer.
 * Returns false when nothing at all is pending. */
static inline bool cl_step(cl_t *cl) {
  for (uint16_t i = 0; i < cl->n; i++) {
    if (!cl->up[i]) continue;
    while (cl->n_want[i]) {
      uint64_t h = cl->want_batch[i][--cl->n_want[i]];
      uint8_t b[64];
      size_t len = cl_batch(b, i, h);
      pc_consensus_on_batch(cl->c[i], h, b, len, cl->now / 1000);
      return true;
    }
    if (cl->executed[i] < cl->decided[i]) {
      cl_exec(cl, i);
      return true;
    }
  }
  for (uint16_t i = 0; i < cl->n; i++)
    if (cl->up[i] && pc_consensus_next_deadline(cl->c[i]) <= cl->now) pc_consensus_on_tick(cl->c[i], cl->now);
  if (cl->qn) {
    cl_msg_t m = cl->q[cl->qh];
    cl->qh = (cl->qh + 1) % cl->qcap;
    cl->qn--;
    if (cl->up[m.to]) pc_consensus_on_message(cl->c[m.to], m.from, m.data, m.len);
    free(m.data);
    cl->now += 1000; /* 1 µs per message */
    return true;
  }
  uint64_t t = UINT64_MAX;
  for (uint16_t i = 0; i < cl->n; i++)
    if (cl->up[i]) {
      uint64_t d = pc_consensus_next_deadline(cl->c[i]);
      if (d < t) t = d;
    }
  if (t == UINT64_MAX) return false;
  if (t > cl->now) cl->now = t;
  for (uint16_t i = 0; i < cl->n; i++)
    if (cl->up[i]) pc_consensus_on_tick(cl->c[i], cl->now);
  return true;
}

static inline uint64_t cl_min_decided(const cl_t *cl, bool only_up_not_silent) {
  uint64_t m = UINT64_MAX;
  for (unsigned i = 0; i < cl->n; i++) {
    if (only_up_not_silent && (!cl->up[i] || cl->silent[i])) continue;
    if (cl->decided[i] < m) m = cl->decided[i];
  }
  return m;
}

/* Runs until every live, connected replica decided `target`, or max steps. */
static inline bool cl_run_to(cl_t *cl, uint64_t target, unsigned max_steps) {
  for (unsigned s = 0; s < max_steps; s++) {
    if (cl_min_decided(cl, true) >= target) return true;
    if (!cl_step(cl)) return cl_min_decided(cl, true) >= target;
  }
  return cl_min_decided(cl, true) >= target;
}

/* Same block at every height on every replica that decided it. */
static inline void cl_check_agreement(const cl_t *cl) {
  cr_assert(!cl->out_of_order, "a replica decided out of order");
  for (uint64_t h = 1; h < CL_MAXH; h++) {
    int ref = -1;
    for (unsigned i = 0; i < cl->n; i++) {
      if (cl->decided[i] < h) continue;
      if (ref < 0)
        ref = (int)i;
      else
        cr_assert(pc_hash_equal(&cl->ids[i][h], &cl->ids[ref][h]), "replicas %d and %u disagree at %llu", ref,
                  i, (unsigned long long)h);
    }
  }
}

/* Crash replica i (its queued input is lost; its records survive). */
static inline void cl_crash(cl_t *cl, uint16_t i) {
  pc_consensus_destroy(cl->c[i]);
  cl->c[i] = NULL;
  cl->up[i] = false;
  cl->n_want[i] = 0;
}

/* Restart replica i from its records and its executed ledger. */
static inline void cl_restart(cl_t *cl, uint16_t i) {
  cl->c[i] = cl_make(cl, i);
  cr_assert_not_null(cl->c[i]);
  for (size_t k = 0; k < cl->n_rec[i]; k++)
    cr_assert_eq(pc_consensus_restore(cl->c[i], cl->rec[i][k], cl->rec_len[i][k]), 0);
  for (uint64_t h = 1; h <= cl->executed[i]; h++) {
    pc_hash_t man;
    pc_hash_tagged(&man, "test/manifest", cl->roots[i][h].b, 32);
    bool ck = cl->cfg.checkpoint_interval && h % cl->cfg.checkpoint_interval == 0;
    pc_consensus_on_executed(cl->c[i], h, &cl->roots[i][h], ck ? &man : NULL);
  }
  cl->up[i] = true;
  pc_consensus_start(cl->c[i], cl->now);
}

#endif
