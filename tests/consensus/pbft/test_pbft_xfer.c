/* test_pbft_xfer.c — PBFT catching up by state transfer: the STABLE
 * message (pbft_msg.c) and each rejection path of its decoder, and the
 * protocol's side with one backup fed STABLE answers by hand: f+1 that
 * agree on the chain hash start a transfer (and fewer, or disagreeing
 * ones, do not), nothing is decided or voted on below the target, the
 * transfer's end persists a BASE record and moves the log, a wrong root
 * is refused, and a restart from the records comes back past the jump;
 * and in the in-test cluster, replicas whose DECISIONs are gone answer a
 * laggard with STABLE, and it catches up by a transfer (completed by the
 * test with the certified state) and keeps deciding in agreement. */
#include "pbft_testlib.h"

#define N 4
#define K 4
#define CHAIN 1

static uint8_t buf[1 << 16];
static pc_cert_t cert, dcert;

static void mk_stable_cert(pc_cert_t *c, uint8_t proto, uint8_t kind, uint64_t h, const pc_hash_t *root,
                           const pc_hash_t *man, unsigned signers) {
  pc_hash_t d;
  pc_checkpoint_digest(&d, h, root, man);
  pc_cert_init(c, proto, kind, CHAIN, h, 0, &d, N);
  uint8_t vb[PC_VOTE_BYTES_SIZE], sig[PC_SIG_SIZE];
  pc_vote_bytes(vb, CHAIN, proto, pc_cert_phase(kind), h, 0, &d);
  for (uint16_t i = 0; i < signers; i++) {
    tsig_make(i, vb, sizeof vb, sig);
    pc_cert_add(c, i, sig);
  }
}

static const pc_hash_t ROOT = {{0x11}}, MAN = {{0x22}}, CH = {{0x33}}, CH2 = {{0x44}};

/* A STABLE from `sender` for checkpoint h into buf; returns its length. */
static size_t stable_build(uint16_t sender, uint64_t h, const pc_hash_t *chain, const pc_cert_t *c) {
  pc_writer_t w;
  pc_writer_init(&w, buf, sizeof buf);
  pc_msg_hdr_t hd = {.type = PC_MSG_PBFT_STABLE, .sender = sender, .chain_id = CHAIN, .height = h};
  pc_pbft_stable_encode(&w, &hd, &ROOT, &MAN, chain, c);
  cr_assert_eq(pc_writer_finish(&w), 0);
  return w.len;
}

static int stable_parse(size_t len, pc_pbft_stable_t *out) {
  pc_reader_t r;
  pc_msg_hdr_t hd;
  int err = pc_msg_get_header(&r, buf, len, CHAIN, N, PC_MSG_ANY_SENDER, &hd);
  if (err) return err;
  out->cert = &dcert;
  return pc_pbft_stable_decode(&r, &hd, N, 3, K, out);
}

/* ------------------------------------------------------------ codec */

Test(pbft_xfer, stable_roundtrip) {
  mk_stable_cert(&cert, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, 8, &ROOT, &MAN, 3);
  size_t len = stable_build(1, 8, &CH, &cert);
  cr_assert_eq(buf[1], PC_MSG_PBFT_STABLE);
  pc_pbft_stable_t st;
  cr_assert_eq(stable_parse(len, &st), 0);
  cr_assert(pc_hash_equal(&st.root, &ROOT));
  cr_assert(pc_hash_equal(&st.manifest, &MAN));
  cr_assert(pc_hash_equal(&st.chain, &CH));
  cr_assert_eq(pc_cert_signers(st.cert), 3);
  cr_assert_eq(st.cert->height, 8);
}

Test(pbft_xfer, stable_truncated_every_length_and_trailing) {
  mk_stable_cert(&cert, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, 8, &ROOT, &MAN, 3);
  size_t len = stable_build(1, 8, &CH, &cert);
  pc_pbft_stable_t st;
  for (size_t l = 0; l < len; l++) cr_assert_neq(stable_parse(l, &st), 0, "accepted %zu of %zu bytes", l, len);
  buf[len] = 0;
  cr_assert_eq(stable_parse(len + 1, &st), PC_ERR_TRAILING);
}

Test(pbft_xfer, stable_structure_rejects) {
  pc_pbft_stable_t st;
  size_t len;
  /* round ≠ 0 */
  mk_stable_cert(&cert, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, 8, &ROOT, &MAN, 3);
  len = stable_build(1, 8, &CH, &cert);
  pc_store_le32(buf + 20, 1);
  cr_assert_eq(stable_parse(len, &st), PC_ERR_INVALID);
  /* not a checkpoint height (K = 4) */
  mk_stable_cert(&cert, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, 6, &ROOT, &MAN, 3);
  len = stable_build(1, 6, &CH, &cert);
  cr_assert_eq(stable_parse(len, &st), PC_ERR_INVALID);
  /* a PREPARE certificate, an SBFT certificate */
  mk_stable_cert(&cert, PC_PROTO_PBFT, PC_CERT_PREPARE, 8, &ROOT, &MAN, 3);
  len = stable_build(1, 8, &CH, &cert);
  cr_assert_eq(stable_parse(len, &st), PC_ERR_INVALID);
  mk_stable_cert(&cert, PC_PROTO_SBFT, PC_CERT_CHECKPOINT, 8, &ROOT, &MAN, 3);
  len = stable_build(1, 8, &CH, &cert);
  cr_assert_eq(stable_parse(len, &st), PC_ERR_INVALID);
  /* certificate for another height than the header's */
  mk_stable_cert(&cert, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, 8, &ROOT, &MAN, 3);
  len = stable_build(1, 8, &CH, &cert);
  pc_store_le64(buf + 12, 12);
  cr_assert_eq(stable_parse(len, &st), PC_ERR_INVALID);
  /* digest over another root */
  pc_hash_t other = {{0x99}};
  mk_stable_cert(&cert, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, 8, &other, &MAN, 3);
  len = stable_build(1, 8, &CH, &cert);
  cr_assert_eq(stable_parse(len, &st), PC_ERR_INVALID);
  /* fewer than q signers */
  mk_stable_cert(&cert, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, 8, &ROOT, &MAN, 2);
  len = stable_build(1, 8, &CH, &cert);
  cr_assert_eq(stable_parse(len, &st), PC_ERR_QUORUM);
}

/* ------------------------------------------------------------ protocol */

#define MAXACT 64
typedef struct {
  unsigned n;
  uint8_t kind[MAXACT];
  uint64_t th;               /* last transfer: height */
  pc_hash_t troot, tchain;   /* its root and chain hash */
  bool has_chain, has_manifest;
  uint8_t *rec[MAXACT];
  size_t rec_len[MAXACT];
  unsigned n_rec;
  unsigned votes; /* PREPARE / COMMIT / PRE-PREPARE sent */
  unsigned decides;
} rec_t;

static void record(void *ctx, const pc_cons_action_t *a) {
  rec_t *r = ctx;
  if (r->n < MAXACT) r->kind[r->n] = a->kind;
  r->n++;
  if (a->kind == PC_ACT_STATE_TRANSFER) {
    r->th = a->u.transfer.height;
    r->troot = *a->u.transfer.exec_root;
    r->has_chain = a->u.transfer.chain_hash != NULL;
    if (r->has_chain) r->tchain = *a->u.transfer.chain_hash;
    r->has_manifest = a->u.transfer.manifest && pc_hash_equal(a->u.transfer.manifest, &MAN);
  } else if (a->kind == PC_ACT_PERSIST && r->n_rec < MAXACT) {
    r->rec[r->n_rec] = malloc(a->u.persist.len);
    memcpy(r->rec[r->n_rec], a->u.persist.data, a->u.persist.len);
    r->rec_len[r->n_rec++] = a->u.persist.len;
  } else if (a->kind == PC_ACT_SEND || a->kind == PC_ACT_BROADCAST) {
    uint8_t t = a->u.msg.data[1];
    if (t == PC_MSG_PBFT_PREPARE || t == PC_MSG_PBFT_COMMIT || t == PC_MSG_PBFT_PRE_PREPARE) r->votes++;
  } else if (a->kind == PC_ACT_DECIDE) {
    r->decides++;
  }
}

static void rec_free(rec_t *r) {
  for (unsigned i = 0; i < r->n_rec; i++) free(r->rec[i]);
}

static unsigned count_kind(const rec_t *r, uint8_t kind) {
  unsigned c = 0;
  for (unsigned i = 0; i < r->n && i < MAXACT; i++) c += r->kind[i] == kind;
  return c;
}

static pc_consensus_t *backup(uint16_t id, rec_t *r) {
  static tsign_t ts[N];
  ts[id].id = id;
  pc_consensus_config_t cfg;
  pc_consensus_config_defaults(&cfg, N, 1, id);
  cfg.protocol = PC_PROTO_PBFT;
  cfg.window = 2;
  cfg.checkpoint_interval = K;
  cfg.signer = (pc_signer_t){.ctx = &ts[id], .sign = tsig_sign, .verify = tsig_verify};
  pc_consensus_io_t io = {.ctx = r, .action = record};
  pc_consensus_t *c = pc_consensus_create(&cfg, &io);
  cr_assert_not_null(c);
  return c;
}

static uint64_t last_decided(pc_consensus_t *c) {
  pc_consensus_stats_t st;
  pc_consensus_get_stats(c, &st);
  return st.last_decided;
}

/* Replica 2, fresh (next = 1), hears STABLE(8) answers. */
Test(pbft_xfer, one_answer_starts_nothing_and_a_duplicate_is_refused) {
  rec_t r = {0};
  pc_consensus_t *c = backup(2, &r);
  pc_consensus_start(c, 1);
  mk_stable_cert(&cert, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, 8, &ROOT, &MAN, 3);
  size_t len = stable_build(0, 8, &CH, &cert);
  cr_assert_eq(pc_consensus_on_message(c, 0, buf, len), 0);
  cr_assert_eq(count_kind(&r, PC_ACT_STATE_TRANSFER), 0, "one answer (maybe the faulty one) started a transfer");
  cr_assert_eq(pc_consensus_on_message(c, 0, buf, len), PC_ERR_DUPLICATE);
  cr_assert_eq(count_kind(&r, PC_ACT_STATE_TRANSFER), 0);
  cr_assert_geq(count_kind(&r, PC_ACT_BROADCAST), 1, "no DEC-REQ to everyone for the other answers");
  pc_consensus_destroy(c);
  rec_free(&r);
}

Test(pbft_xfer, answers_disagreeing_on_the_chain_hash_start_nothing) {
  rec_t r = {0};
  pc_consensus_t *c = backup(2, &r);
  pc_consensus_start(c, 1);
  mk_stable_cert(&cert, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, 8, &ROOT, &MAN, 3);
  size_t len = stable_build(0, 8, &CH, &cert);
  cr_assert_eq(pc_consensus_on_message(c, 0, buf, len), 0);
  len = stable_build(1, 8, &CH2, &cert);
  cr_assert_eq(pc_consensus_on_message(c, 1, buf, len), 0);
  cr_assert_eq(count_kind(&r, PC_ACT_STATE_TRANSFER), 0, "two different chain hashes made f+1");
  pc_consensus_destroy(c);
  rec_free(&r);
}

Test(pbft_xfer, badly_signed_certificate_is_refused) {
  rec_t r = {0};
  pc_consensus_t *c = backup(2, &r);
  pc_consensus_start(c, 1);
  mk_stable_cert(&cert, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, 8, &ROOT, &MAN, 3);
  cert.sigs[1][5] ^= 1;
  size_t len = stable_build(0, 8, &CH, &cert);
  cr_assert_eq(pc_consensus_on_message(c, 0, buf, len), PC_ERR_SIGNATURE);
  pc_consensus_stats_t st;
  pc_consensus_get_stats(c, &st);
  cr_assert_eq(st.rejected, 1);
  pc_consensus_destroy(c);
  rec_free(&r);
}

Test(pbft_xfer, f_plus_1_agreeing_answers_transfer_then_jump_and_restart_past_it) {
  rec_t r = {0};
  pc_consensus_t *c = backup(2, &r);
  pc_consensus_start(c, 1);
  mk_stable_cert(&cert, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, 8, &ROOT, &MAN, 3);
  size_t len = stable_build(0, 8, &CH, &cert);
  cr_assert_eq(pc_consensus_on_message(c, 0, buf, len), 0);
  len = stable_build(3, 8, &CH, &cert);
  cr_assert_eq(pc_consensus_on_message(c, 3, buf, len), 0);
  cr_assert_eq(count_kind(&r, PC_ACT_STATE_TRANSFER), 1);
  cr_assert_eq(r.th, 8);
  cr_assert(pc_hash_equal(&r.troot, &ROOT));
  cr_assert(r.has_chain && pc_hash_equal(&r.tchain, &CH), "the transfer lacks the agreed chain hash");
  cr_assert(r.has_manifest);
  pc_consensus_stats_t st;
  pc_consensus_get_stats(c, &st);
  cr_assert_eq(st.stable_checkpoint, 8);
  /* further answers while the transfer runs change nothing */
  len = stable_build(1, 8, &CH, &cert);
  cr_assert_eq(pc_consensus_on_message(c, 1, buf, len), 0);
  cr_assert_eq(count_kind(&r, PC_ACT_STATE_TRANSFER), 1);
  /* a state with another root is refused: still at 0, still halted */
  pc_hash_t bad = {{0x55}};
  cr_assert_eq(pc_consensus_on_transfer_done(c, 8, &bad), PC_ERR_CHECKSUM);
  cr_assert_eq(last_decided(c), 0);
  cr_assert_eq(pc_consensus_on_transfer_done(c, 8, &ROOT), 0);
  cr_assert_eq(last_decided(c), 8);
  cr_assert_eq(r.decides, 0, "heights below the checkpoint were decided");
  cr_assert_eq(r.votes, 0, "voted while catching up");
  bool base = false;
  for (unsigned i = 0; i < r.n_rec; i++) base = base || r.rec[i][0] == PBFT_REC_BASE;
  cr_assert(base, "no BASE record");
  /* a STABLE for the checkpoint it now stands on is stale */
  len = stable_build(0, 8, &CH, &cert);
  cr_assert_eq(pc_consensus_on_message(c, 0, buf, len), PC_ERR_EXPIRED);
  /* a vote at a skipped height is stale too */
  pc_hash_t id = {{7}};
  uint8_t sig[PC_SIG_SIZE] = {0};
  pc_writer_t w;
  pc_writer_init(&w, buf, sizeof buf);
  pc_msg_hdr_t hd = {.type = PC_MSG_PBFT_PREPARE, .sender = 1, .chain_id = CHAIN, .height = 5};
  pc_pbft_vote_encode(&w, &hd, &id, sig);
  cr_assert_eq(pc_consensus_on_message(c, 1, buf, w.len), PC_ERR_EXPIRED);
  pc_consensus_destroy(c);

  /* restart on the records: back at 8 without a new transfer */
  rec_t r2 = {0};
  c = backup(2, &r2);
  for (unsigned i = 0; i < r.n_rec; i++) cr_assert_eq(pc_consensus_restore(c, r.rec[i], r.rec_len[i]), 0);
  cr_assert_eq(last_decided(c), 8);
  pc_consensus_start(c, 1);
  pc_consensus_get_stats(c, &st);
  cr_assert_eq(st.last_decided, 8);
  cr_assert_eq(st.stable_checkpoint, 8);
  cr_assert_eq(count_kind(&r2, PC_ACT_STATE_TRANSFER), 0);
  pc_consensus_destroy(c);
  rec_free(&r);
  rec_free(&r2);
}

Test(pbft_xfer, corrupt_base_record_is_refused) {
  rec_t r = {0};
  pc_consensus_t *c = backup(2, &r);
  uint8_t rec[1 + 8 + 64] = {PBFT_REC_BASE, 8};
  cr_assert_eq(pc_consensus_restore(c, rec, sizeof rec - 1), PC_ERR_CORRUPT);
  cr_assert_eq(pc_consensus_restore(c, rec, sizeof rec), 0);
  cr_assert_eq(last_decided(c), 8);
  pc_consensus_destroy(c);
}

/* ------------------------------------------------------------ cluster */

/* The driver's side of a transfer: install the honest replicas' state of
 * S at replica 3 and tell its instance. */
static void complete_transfer(cl_t *cl, uint64_t S) {
  cr_assert_geq(cl->executed[0], S);
  cr_assert(pc_hash_equal(&cl->xfer_root[3], &cl->roots[0][S]), "transfer to %llu: not the certified root",
            (unsigned long long)S);
  pc_hash_t ch;
  memset(&ch, 0, sizeof ch);
  for (uint64_t h = 1; h <= S; h++) pc_chain_hash(&ch, &cl->ids[0][h], &ch);
  cr_assert(cl->xfer_has_chain[3] && pc_hash_equal(&cl->xfer_chain[3], &ch),
            "transfer to %llu: the chain hash is not the chain's", (unsigned long long)S);
  cl->decided[3] = cl->executed[3] = S;
  cl->roots[3][S] = cl->roots[0][S];
  cl->ids[3][S] = cl->ids[0][S];
  cr_assert_eq(pc_consensus_on_transfer_done(cl->c[3], S, &cl->roots[0][S]), 0);
}

Test(pbft_xfer, cluster_laggard_gets_stable_answers_transfers_and_keeps_deciding) {
  static cl_t cl;
  cl_init_keep(&cl, 4, 2, 4, false, 24); /* K = 4: DECISIONs kept 24 below the stable checkpoint */
  cl.silent[3] = true;
  cr_assert(cl_run_to(&cl, 60, 600000));
  cr_assert_lt(cl.decided[3], 20);
  cl.silent[3] = false;
  /* run; complete each transfer replica 3 asks for (it may fall behind
   * again while it fetches the heights after the first jump) */
  unsigned done = 0;
  uint64_t first = 0, target = 0;
  for (unsigned k = 0; k < 2000000; k++) {
    if (cl.xfers[3] > done) {
      done = cl.xfers[3];
      uint64_t S = cl.xfer_h[3];
      cr_assert_gt(S, cl.decided[3], "a transfer to %llu at %llu", (unsigned long long)S,
                   (unsigned long long)cl.decided[3]);
      cr_assert_eq(S % 4, 0);
      /* nothing at or below S is decided while it runs */
      uint64_t before = cl.decided[3];
      for (unsigned j = 0; j < 200; j++) cl_step(&cl);
      cr_assert_eq(cl.decided[3], before);
      complete_transfer(&cl, S);
      if (!first) first = S, target = S + 40;
    }
    if (target && cl_min_decided(&cl, true) >= target) break;
    cr_assert(cl_step(&cl));
  }
  cr_assert_geq(done, 1, "replica 3 never asked for a state transfer");
  cr_assert_geq(cl_min_decided(&cl, true), target, "replica 3 at %llu, not %llu (%u transfers)",
                (unsigned long long)cl.decided[3], (unsigned long long)target, done);
  cr_assert(!cl.out_of_order, "decisions out of order");
  for (uint64_t h = first + 1; h <= target; h++)
    for (uint16_t i = 0; i < 3; i++)
      if (cl.decided[3] >= h && !pc_hash_is_zero(&cl.ids[3][h]))
        cr_assert(pc_hash_equal(&cl.ids[3][h], &cl.ids[i][h]), "replica 3 and %u differ at %llu", i,
                  (unsigned long long)h);
  cr_assert(!cl.double_vote);
  cl_free(&cl);
}
