/* test_pbft_cluster.c — PBFT behaviour through a small deterministic
 * in-test driver (pbft_testlib.h): n = 4 instances wired by a FIFO queue. */
#include <stdio.h>

#include "pbft_testlib.h"

static pbft_t *P(pc_consensus_t *c) { return (pbft_t *)c; }

Test(pbft_cluster, normal_case_decides_in_order_same_blocks) {
  cl_t cl;
  cl_init(&cl, 4, 4, 16, false);
  cr_assert(cl_run_to(&cl, 40, 200000), "stuck at %llu", (unsigned long long)cl_min_decided(&cl, true));
  cl_check_agreement(&cl);
  cr_assert(!cl.double_vote);
  uint64_t late = 0;
  for (unsigned i = 0; i < 4; i++) {
    pc_consensus_stats_t st;
    pc_consensus_get_stats(cl.c[i], &st);
    late += st.late;
    cr_assert_eq(st.round_changes, 0, "no view change without faults");
    if (st.rejected)
      for (int e = -1; e > -PC_ERR_COUNT; e--)
        if (pc_reject_count(PC_DEC_CONSENSUS, e))
          fprintf(stderr, "reject %s: %llu\n", pc_strerror(e),
                  (unsigned long long)pc_reject_count(PC_DEC_CONSENSUS, e));
    cr_assert_eq(st.rejected, 0, "replica %u rejected %llu messages", i, (unsigned long long)st.rejected);
    cr_assert_eq(P(cl.c[i])->view, 0);
  }
  /* 2f+1 of 3f+1 votes decide: the last one arrives late, counted, not rejected */
  cr_assert_gt(late, 0);
  /* the same batches: every block at h was created by the view-0 primary */
  cr_assert_eq(cl.sent_by_type[PC_MSG_PBFT_VIEW_CHANGE], 0);
  cl_free(&cl);
}

Test(pbft_cluster, real_ed25519_normal_case) {
  cl_t cl;
  cl_init(&cl, 4, 2, 8, true);
  cr_assert(cl_run_to(&cl, 12, 100000));
  cl_check_agreement(&cl);
  for (unsigned i = 0; i < 4; i++) {
    pc_consensus_stats_t st;
    pc_consensus_get_stats(cl.c[i], &st);
    cr_assert_eq(st.rejected, 0);
    cr_assert_gt(st.verifies, 0);
  }
  cl_free(&cl);
}

Test(pbft_cluster, silent_primary_view_change_then_progress) {
  cl_t cl;
  cl_init(&cl, 4, 2, 8, false);
  cl.silent[0] = true; /* primary of view 0 */
  cr_assert(cl_run_to(&cl, 20, 400000), "stuck at %llu", (unsigned long long)cl_min_decided(&cl, true));
  cl_check_agreement(&cl);
  cr_assert(!cl.double_vote);
  for (unsigned i = 1; i < 4; i++) {
    cr_assert_geq(P(cl.c[i])->view, 1);
    cr_assert(P(cl.c[i])->active);
    pc_consensus_stats_t st;
    pc_consensus_get_stats(cl.c[i], &st);
    cr_assert_geq(st.round_changes, 1);
  }
  cr_assert_gt(cl.sent_by_type[PC_MSG_PBFT_NEW_VIEW], 0);
  cl_free(&cl);
}

Test(pbft_cluster, primary_silenced_midway_keeps_decided_prefix) {
  cl_t cl;
  cl_init(&cl, 4, 4, 8, false);
  cr_assert(cl_run_to(&cl, 10, 200000));
  cl.silent[0] = true; /* in-flight sequence numbers must survive the view change */
  cr_assert(cl_run_to(&cl, 30, 400000), "stuck at %llu", (unsigned long long)cl_min_decided(&cl, true));
  cl_check_agreement(&cl);
  cr_assert(!cl.double_vote);
  cl_free(&cl);
}

Test(pbft_cluster, two_successive_view_changes) {
  cl_t cl;
  cl_init(&cl, 4, 2, 8, false);
  cr_assert(cl_run_to(&cl, 6, 200000));
  cl.silent[0] = true;
  cr_assert(cl_run_to(&cl, 12, 400000));
  cl.silent[0] = false;
  cl.silent[1] = true; /* primary of view 1 goes silent too */
  cr_assert(cl_run_to(&cl, 24, 800000), "stuck at %llu", (unsigned long long)cl_min_decided(&cl, true));
  cl_check_agreement(&cl);
  for (unsigned i = 2; i < 4; i++) cr_assert_geq(P(cl.c[i])->view, 2);
  cl_free(&cl);
}

Test(pbft_cluster, checkpoint_stable_and_garbage_collected) {
  cl_t cl;
  cl_init(&cl, 4, 2, 4, false);
  cr_assert(cl_run_to(&cl, 30, 400000));
  /* drain the last checkpoint messages */
  for (int k = 0; k < 2000 && cl.qn; k++) cl_step(&cl);
  for (unsigned i = 0; i < 4; i++) {
    pbft_t *s = P(cl.c[i]);
    cr_assert_geq(s->stable_h, 24, "replica %u stable at %llu", i, (unsigned long long)s->stable_h);
    cr_assert_eq(s->stable_h % 4, 0);
    cr_assert_not_null(s->stable_cert);
    cr_assert_eq(s->stable_cert->kind, PC_CERT_CHECKPOINT);
    cr_assert_geq(pc_cert_signers(s->stable_cert), 3);
    uint64_t base = pbft_base(s);
    cr_assert_eq(base, s->stable_h + 1);
    for (uint64_t k = 0; k < s->L; k++)
      cr_assert(s->slots[k].seq == 0 || s->slots[k].seq >= base, "slot %llu below the low watermark kept",
                (unsigned long long)s->slots[k].seq);
  }
  cl_free(&cl);
}

/* A backup alone: the test plays the primary (the stand-in signer lets it
 * sign as replica 0). */
typedef struct {
  uint8_t out[64][4096];
  size_t out_len[64];
  uint8_t out_type[64];
  unsigned n_out;
  uint8_t *rec[256];
  size_t rec_len[256];
  unsigned n_rec;
} solo_t;

static void solo_action(void *ctx, const pc_cons_action_t *a) {
  solo_t *s = ctx;
  if ((a->kind == PC_ACT_SEND || a->kind == PC_ACT_BROADCAST) && s->n_out < 64 && a->u.msg.len <= 4096) {
    memcpy(s->out[s->n_out], a->u.msg.data, a->u.msg.len);
    s->out_len[s->n_out] = a->u.msg.len;
    s->out_type[s->n_out++] = a->u.msg.data[1];
  }
  if (a->kind == PC_ACT_PERSIST && s->n_rec < 256) {
    s->rec[s->n_rec] = malloc(a->u.persist.len);
    memcpy(s->rec[s->n_rec], a->u.persist.data, a->u.persist.len);
    s->rec_len[s->n_rec++] = a->u.persist.len;
  }
}

static tsign_t solo_ts[4];

static pc_consensus_t *solo_make(solo_t *so, uint16_t id, uint32_t mutants) {
  pc_consensus_config_t cfg;
  pc_consensus_config_defaults(&cfg, 4, 1, id);
  cfg.protocol = PC_PROTO_PBFT;
  cfg.window = 2;
  cfg.checkpoint_interval = 4;
  cfg.test_mutants = mutants;
  solo_ts[id].id = id;
  cfg.signer = (pc_signer_t){.ctx = &solo_ts[id], .sign = tsig_sign, .verify = tsig_verify};
  pc_consensus_io_t io = {.ctx = so, .action = solo_action};
  return pc_consensus_create(&cfg, &io);
}

/* A pre-prepare from replica 0 for (seq, view) with a batch tagged `tag`. */
static size_t make_pp(uint8_t *buf, size_t cap, uint64_t seq, uint32_t view, uint8_t tag) {
  uint8_t batch[64];
  size_t bl = cl_batch(batch, tag, seq);
  pc_block_t b = {.chain_id = 1, .height = seq, .creator = (uint16_t)(view % 4), .timestamp_us = 1000 + tag};
  pc_batch_hash(&b.batch_hash, batch, bl);
  pc_hash_t id;
  pc_block_id(&b, &id);
  uint8_t vb[PC_VOTE_BYTES_SIZE], sig[PC_SIG_SIZE];
  pc_vote_bytes(vb, 1, PC_PROTO_PBFT, PC_PHASE_PREPARE, seq, view, &id);
  tsig_make((uint16_t)(view % 4), vb, sizeof vb, sig);
  pc_writer_t w;
  pc_writer_init(&w, buf, cap);
  pc_msg_hdr_t h = {.type = PC_MSG_PBFT_PRE_PREPARE,
                    .sender = (uint16_t)(view % 4),
                    .chain_id = 1,
                    .height = seq,
                    .round = view};
  pc_pbft_pp_encode(&w, &h, &b, batch, bl, sig);
  cr_assert_eq(pc_writer_finish(&w), 0);
  return w.len;
}

static unsigned count_type(const solo_t *s, uint8_t t) {
  unsigned k = 0;
  for (unsigned i = 0; i < s->n_out; i++) k += s->out_type[i] == t;
  return k;
}

static void restart_no_double_vote(uint32_t mutants, bool expect_second_vote) {
  solo_t *so = calloc(1, sizeof *so);
  pc_consensus_t *c = solo_make(so, 1, mutants);
  cr_assert_not_null(c);
  pc_consensus_start(c, 1000);
  uint8_t m[1024];
  size_t len = make_pp(m, sizeof m, 1, 0, 1);
  cr_assert_eq(pc_consensus_on_message(c, 0, m, len), 0);
  cr_assert_eq(count_type(so, PC_MSG_PBFT_PREPARE), 1, "voted once");
  cr_assert_gt(so->n_rec, 0, "the vote was persisted");
  pc_consensus_destroy(c);
  /* restart from the records */
  so->n_out = 0;
  unsigned nrec = so->n_rec;
  c = solo_make(so, 1, mutants);
  for (unsigned i = 0; i < nrec; i++) cr_assert_eq(pc_consensus_restore(c, so->rec[i], so->rec_len[i]), 0);
  pc_consensus_start(c, 2000);
  /* it may re-send the very same vote; a different block at (1, view 0)
   * must not get a prepare */
  so->n_out = 0;
  len = make_pp(m, sizeof m, 1, 0, 2);
  pc_consensus_on_message(c, 0, m, len);
  unsigned prepares = count_type(so, PC_MSG_PBFT_PREPARE);
  if (expect_second_vote)
    cr_assert_eq(prepares, 1, "the mutant should vote again");
  else
    cr_assert_eq(prepares, 0, "restarted replica voted twice at (1, 0)");
  pc_consensus_destroy(c);
  for (unsigned i = 0; i < so->n_rec; i++) free(so->rec[i]);
  free(so);
}

Test(pbft_cluster, restarted_replica_does_not_vote_twice) { restart_no_double_vote(0, false); }

/* The check above can fail: a replica that forgets its records votes again. */
Test(pbft_cluster, forgetful_mutant_votes_twice) {
  restart_no_double_vote(PC_MUTANT_FORGET_ON_RESTART, true);
}

Test(pbft_cluster, restart_in_cluster_keeps_agreement) {
  cl_t cl;
  cl_init(&cl, 4, 2, 4, false);
  cr_assert(cl_run_to(&cl, 8, 200000));
  /* crash replica 2 with messages in flight, let the others move on */
  for (int k = 0; k < 7; k++) cl_step(&cl);
  cl_crash(&cl, 2);
  cl.silent[2] = true;
  cr_assert(cl_run_to(&cl, 14, 200000));
  cl.silent[2] = false;
  cl_restart(&cl, 2);
  cr_assert(cl_run_to(&cl, 30, 800000), "stuck at %llu", (unsigned long long)cl_min_decided(&cl, true));
  cl_check_agreement(&cl);
  cr_assert(!cl.double_vote);
  cl_free(&cl);
}

Test(pbft_cluster, out_of_window_and_stale_messages_rejected) {
  solo_t *so = calloc(1, sizeof *so);
  pc_consensus_t *c = solo_make(so, 1, 0);
  pc_consensus_start(c, 1000);
  pbft_t *s = P(c);
  uint8_t m[1024];
  /* beyond the high watermark */
  size_t len = make_pp(m, sizeof m, s->L + 5, 0, 1);
  uint64_t before = pc_reject_count(PC_DEC_CONSENSUS, PC_ERR_RANGE);
  cr_assert_eq(pc_consensus_on_message(c, 0, m, len), PC_ERR_RANGE);
  cr_assert_eq(pc_reject_count(PC_DEC_CONSENSUS, PC_ERR_RANGE), before + 1);
  /* a future view (no NEW-VIEW installed) */
  len = make_pp(m, sizeof m, 1, 4, 1);
  cr_assert_eq(pc_consensus_on_message(c, 0, m, len), PC_ERR_STATE);
  /* a pre-prepare not from the primary */
  len = make_pp(m, sizeof m, 1, 0, 1);
  m[2] = 2; /* sender 2 (header), authenticated as 2 */
  cr_assert_neq(pc_consensus_on_message(c, 2, m, len), 0);
  /* a good one, then its duplicate, then a conflicting one */
  len = make_pp(m, sizeof m, 1, 0, 1);
  cr_assert_eq(pc_consensus_on_message(c, 0, m, len), 0);
  cr_assert_eq(pc_consensus_on_message(c, 0, m, len), PC_ERR_DUPLICATE);
  len = make_pp(m, sizeof m, 1, 0, 9);
  cr_assert_eq(pc_consensus_on_message(c, 0, m, len), PC_ERR_INVALID);
  /* bad signature */
  len = make_pp(m, sizeof m, 2, 0, 1);
  m[PC_MSG_HEADER_SIZE] ^= 1;
  cr_assert_eq(pc_consensus_on_message(c, 0, m, len), PC_ERR_SIGNATURE);
  pc_consensus_stats_t st;
  pc_consensus_get_stats(c, &st);
  cr_assert_eq(st.rejected, 6);
  pc_consensus_destroy(c);
  for (unsigned i = 0; i < so->n_rec; i++) free(so->rec[i]);
  free(so);
}

Test(pbft_cluster, lagging_replica_catches_up_with_decisions) {
  cl_t cl;
  cl_init(&cl, 4, 2, 4, false);
  cl.silent[3] = true;
  cr_assert(cl_run_to(&cl, 40, 400000));
  cr_assert_lt(cl.decided[3], 40);
  cl.silent[3] = false;
  cr_assert(cl_run_to(&cl, 60, 800000), "stuck at %llu (replica 3 at %llu)",
            (unsigned long long)cl_min_decided(&cl, true), (unsigned long long)cl.decided[3]);
  cl_check_agreement(&cl);
  cl_free(&cl);
}
