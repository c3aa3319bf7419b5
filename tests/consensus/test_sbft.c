/* test_sbft.c — one SBFT instance driven by hand: what it refuses (and
 * counts), durability ordering of its actions, and votes across a restart. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/consensus.h"
#include "consensus/sbft_private.h"

#define CHAIN 7
#define N 4

static uint8_t pk[N][PC_PUBKEY_SIZE], sk[N][PC_SECKEY_SIZE];
static pc_ed25519_signer_t st[N];
static pc_signer_t sg[N];

typedef struct {
  uint8_t kind;
  int32_t to;
  uint64_t a;
  uint8_t *data;
  size_t len;
} act_t;

typedef struct {
  act_t a[256];
  size_t n;
} log_t;

static void on_act(void *ctx, const pc_cons_action_t *a) {
  log_t *l = ctx;
  if (l->n >= 256) return;
  act_t *x = &l->a[l->n++];
  memset(x, 0, sizeof *x);
  x->kind = a->kind;
  const uint8_t *d = NULL;
  size_t len = 0;
  if (a->kind == PC_ACT_SEND || a->kind == PC_ACT_BROADCAST) {
    x->to = a->kind == PC_ACT_SEND ? a->u.msg.to : -1;
    d = a->u.msg.data;
    len = a->u.msg.len;
  } else if (a->kind == PC_ACT_PERSIST) {
    x->a = a->u.persist.seq;
    d = a->u.persist.data;
    len = a->u.persist.len;
  } else if (a->kind == PC_ACT_DECIDE) {
    x->a = a->u.decide.height;
  } else if (a->kind == PC_ACT_NEED_BATCH) {
    x->a = a->u.need_batch.height;
  } else if (a->kind == PC_ACT_STATE_TRANSFER) {
    x->a = a->u.transfer.height;
    if (a->u.transfer.chain_hash) {
      d = a->u.transfer.chain_hash->b;
      len = PC_HASH_SIZE;
    }
  }
  if (d) {
    x->data = malloc(len);
    memcpy(x->data, d, len);
    x->len = len;
  }
}

static void log_clear(log_t *l) {
  for (size_t i = 0; i < l->n; i++) free(l->a[i].data);
  l->n = 0;
}

static void setup_keys(void) {
  cr_assert_eq(pc_crypto_init(), 0);
  for (int i = 0; i < N; i++) {
    uint8_t seed[32] = {(uint8_t)(i + 1)};
    crypto_sign_seed_keypair(pk[i], sk[i], seed);
  }
  for (int i = 0; i < N; i++) sg[i] = pc_signer_ed25519(&st[i], sk[i], (const uint8_t(*)[PC_PUBKEY_SIZE])pk, N);
}

/* A replica that is not the proposer of (1, 0). */
static uint16_t me_not_p0(void) { return (uint16_t)((pc_sbft_proposer(1, 0, N) + 1) % N); }

static pc_consensus_t *make(uint16_t me, log_t *l, uint32_t mutants) {
  pc_consensus_config_t c;
  pc_consensus_config_defaults(&c, N, 1, me);
  c.chain_id = CHAIN;
  c.window = 2;
  c.signer = sg[me];
  c.test_mutants = mutants;
  pc_consensus_io_t io = {.ctx = l, .action = on_act};
  pc_consensus_t *x = pc_consensus_create(&c, &io);
  cr_assert_not_null(x);
  return x;
}

/* A proposal message for (h, r) by `from` with a one-transaction batch
 * (stamp varies the block). */
static size_t proposal(uint8_t *buf, size_t cap, uint16_t from, uint64_t h, uint32_t r, uint64_t stamp,
                       const uint8_t *just, size_t jlen, pc_hash_t *id) {
  uint8_t batch[32];
  pc_writer_t bw;
  pc_writer_init(&bw, batch, sizeof batch);
  pc_batch_append(&bw, "tx", 2);
  pc_block_t b = {.chain_id = CHAIN, .height = h, .creator = from, .timestamp_us = stamp};
  pc_batch_hash(&b.batch_hash, batch, bw.len);
  if (id) pc_block_id(&b, id);
  pc_proposal_t p = {.round = r, .proposer = from, .justification = just, .justification_len = jlen, .block = b,
                     .batch = batch, .batch_len = bw.len};
  pc_writer_t w;
  pc_writer_init(&w, buf, cap);
  pc_msg_hdr_t hd = {.type = PC_MSG_SBFT_PROPOSAL, .sender = from, .chain_id = CHAIN, .height = h, .round = r};
  pc_msg_put_header(&w, &hd);
  pc_proposal_encode(&w, &p);
  cr_assert_eq(pc_writer_finish(&w), 0);
  return w.len;
}

static size_t vote(uint8_t *buf, uint16_t from, uint8_t type, uint64_t h, uint32_t r, const pc_hash_t *id) {
  pc_writer_t w;
  pc_writer_init(&w, buf, 128);
  pc_msg_hdr_t hd = {.type = type, .sender = from, .chain_id = CHAIN, .height = h, .round = r};
  pc_msg_put_header(&w, &hd);
  pc_put_bytes(&w, id->b, 32);
  uint8_t sig[64];
  pc_signer_vote_sign(&sg[from], sig, CHAIN, PC_PROTO_SBFT,
                      type == PC_MSG_SBFT_PREPARE ? PC_PHASE_PREPARE : PC_PHASE_COMMIT, h, r, id);
  pc_put_bytes(&w, sig, 64);
  return w.len;
}

static unsigned count_kind(const log_t *l, uint8_t kind, uint8_t msg_type) {
  unsigned k = 0;
  for (size_t i = 0; i < l->n; i++)
    if (l->a[i].kind == kind && (!msg_type || (l->a[i].len > 1 && l->a[i].data[1] == msg_type))) k++;
  return k;
}

TestSuite(sbft, .init = setup_keys);

Test(sbft, votes_after_persisting_block_and_vote) {
  log_t l = {0};
  uint16_t me = me_not_p0(), p0 = pc_sbft_proposer(1, 0, N);
  pc_consensus_t *c = make(me, &l, 0);
  cr_assert_eq(pc_consensus_start(c, 1000), 0);
  log_clear(&l);
  uint8_t m[1024];
  size_t len = proposal(m, sizeof m, p0, 1, 0, 5, NULL, 0, NULL);
  cr_assert_eq(pc_consensus_on_message(c, p0, m, len), 0);
  /* order: PERSIST(block), PERSIST(vote), then the vote goes out */
  cr_assert_geq(l.n, 3);
  cr_assert_eq(l.a[0].kind, PC_ACT_PERSIST);
  cr_assert_eq(l.a[1].kind, PC_ACT_PERSIST);
  cr_assert_eq(l.a[2].kind, PC_ACT_BROADCAST);
  cr_assert_eq(l.a[2].data[1], PC_MSG_SBFT_PREPARE);
  log_clear(&l);
  pc_consensus_destroy(c);
}

Test(sbft, rejects_proposal_from_wrong_proposer_or_with_round0_justification) {
  log_t l = {0};
  uint16_t me = me_not_p0(), p0 = pc_sbft_proposer(1, 0, N);
  uint16_t other = (uint16_t)((p0 + 2) % N);
  pc_consensus_t *c = make(me, &l, 0);
  pc_consensus_start(c, 1000);
  uint8_t m[1024];
  size_t len = proposal(m, sizeof m, other, 1, 0, 5, NULL, 0, NULL);
  cr_assert_eq(pc_consensus_on_message(c, other, m, len), PC_ERR_INVALID);
  uint8_t j[4] = {0, 0, 0, 0};
  len = proposal(m, sizeof m, p0, 1, 0, 5, j, sizeof j, NULL);
  cr_assert_eq(pc_consensus_on_message(c, p0, m, len), PC_ERR_INVALID);
  pc_consensus_stats_t s;
  pc_consensus_get_stats(c, &s);
  cr_assert_eq(s.rejected, 2);
  cr_assert_eq(count_kind(&l, PC_ACT_BROADCAST, PC_MSG_SBFT_PREPARE), 0);
  log_clear(&l);
  pc_consensus_destroy(c);
}

Test(sbft, rejects_unjustified_later_round_proposal) {
  log_t l = {0};
  uint16_t me = me_not_p0();
  uint16_t p1 = pc_sbft_proposer(1, 1, N);
  if (p1 == me) me = (uint16_t)((me + 1) % N);
  pc_consensus_t *c = make(me, &l, 0);
  pc_consensus_start(c, 1000);
  uint8_t m[1024];
  size_t len = proposal(m, sizeof m, p1, 1, 1, 5, NULL, 0, NULL);
  cr_assert_eq(pc_consensus_on_message(c, p1, m, len), PC_ERR_TRUNCATED, "no justification at all");
  uint8_t j[2] = {1, 0}; /* claims one round-change, carries none */
  len = proposal(m, sizeof m, p1, 1, 1, 5, j, sizeof j, NULL);
  cr_assert_eq(pc_consensus_on_message(c, p1, m, len), PC_ERR_QUORUM);
  log_clear(&l);
  pc_consensus_destroy(c);
}

Test(sbft, rejects_bad_duplicate_and_equivocating_votes) {
  log_t l = {0};
  uint16_t me = me_not_p0();
  uint16_t v = (uint16_t)((me + 1) % N);
  pc_consensus_t *c = make(me, &l, 0);
  pc_consensus_start(c, 1000);
  pc_hash_t a, b;
  pc_hash_blake2b(&a, "a", 1);
  pc_hash_blake2b(&b, "b", 1);
  uint8_t m[128];
  size_t len = vote(m, v, PC_MSG_SBFT_PREPARE, 1, 0, &a);
  m[len - 1] ^= 1;
  cr_assert_eq(pc_consensus_on_message(c, v, m, len), PC_ERR_SIGNATURE);
  m[len - 1] ^= 1;
  cr_assert_eq(pc_consensus_on_message(c, v, m, len), 0);
  cr_assert_eq(pc_consensus_on_message(c, v, m, len), PC_ERR_DUPLICATE);
  len = vote(m, v, PC_MSG_SBFT_PREPARE, 1, 0, &b);
  cr_assert_eq(pc_consensus_on_message(c, v, m, len), PC_ERR_DUPLICATE, "a second prepare in one round");
  cr_assert_eq(pc_consensus_on_message(c, v, m, len - 1), PC_ERR_TRUNCATED);
  log_clear(&l);
  pc_consensus_destroy(c);
}

Test(sbft, rejects_out_of_window_and_foreign_sender) {
  log_t l = {0};
  uint16_t me = me_not_p0();
  uint16_t v = (uint16_t)((me + 1) % N);
  pc_consensus_t *c = make(me, &l, 0);
  pc_consensus_start(c, 1000);
  pc_hash_t a;
  pc_hash_blake2b(&a, "a", 1);
  uint8_t m[128];
  size_t len = vote(m, v, PC_MSG_SBFT_PREPARE, 3, 0, &a); /* window is [1, 2] */
  cr_assert_eq(pc_consensus_on_message(c, v, m, len), PC_ERR_RANGE);
  cr_assert_eq(count_kind(&l, PC_ACT_SEND, PC_MSG_BLOCK_REQ), 1, "asks the sender to help it catch up");
  len = vote(m, v, PC_MSG_SBFT_PREPARE, 1, 0, &a);
  cr_assert_eq(pc_consensus_on_message(c, (uint16_t)((v + 1) % N), m, len), PC_ERR_RANGE, "sender ≠ peer");
  log_clear(&l);
  pc_consensus_destroy(c);
}

/* Decide height 1 with n prepare votes, then a message about height 1 is
 * refused as stale and answered with the decision. */
Test(sbft, fast_decision_then_answers_decided_height) {
  log_t l = {0};
  uint16_t me = me_not_p0(), p0 = pc_sbft_proposer(1, 0, N);
  pc_consensus_t *c = make(me, &l, 0);
  pc_consensus_start(c, 1000);
  uint8_t m[1024];
  pc_hash_t id;
  size_t len = proposal(m, sizeof m, p0, 1, 0, 5, NULL, 0, &id);
  cr_assert_eq(pc_consensus_on_message(c, p0, m, len), 0);
  for (uint16_t i = 0; i < N; i++) {
    if (i == me) continue;
    len = vote(m, i, PC_MSG_SBFT_PREPARE, 1, 0, &id);
    cr_assert_eq(pc_consensus_on_message(c, i, m, len), 0);
  }
  cr_assert_eq(count_kind(&l, PC_ACT_DECIDE, 0), 1);
  pc_consensus_stats_t s;
  pc_consensus_get_stats(c, &s);
  cr_assert_eq(s.fast_decisions, 1);
  log_clear(&l);
  uint16_t v = (uint16_t)((me + 1) % N);
  len = vote(m, v, PC_MSG_SBFT_COMMIT, 1, 0, &id);
  cr_assert_eq(pc_consensus_on_message(c, v, m, len), PC_ERR_EXPIRED);
  cr_assert_eq(count_kind(&l, PC_ACT_SEND, PC_MSG_DECISION), 1);
  log_clear(&l);
  pc_consensus_destroy(c);
}

/* Restart: replay the durable records; a second proposal for the same
 * (h, r) from an equivocating proposer gets no second vote. With the
 * test-only FORGET_ON_RESTART mutant it does (so the simulator's double
 * vote check has something to catch). */
static unsigned votes_after_restart(uint32_t mutants) {
  log_t l = {0};
  uint16_t me = me_not_p0(), p0 = pc_sbft_proposer(1, 0, N);
  pc_consensus_t *c = make(me, &l, mutants);
  pc_consensus_start(c, 1000);
  uint8_t m[1024];
  size_t len = proposal(m, sizeof m, p0, 1, 0, 5, NULL, 0, NULL);
  cr_assert_eq(pc_consensus_on_message(c, p0, m, len), 0);
  pc_consensus_destroy(c);
  log_t l2 = {0};
  c = make(me, &l2, mutants);
  for (size_t i = 0; i < l.n; i++)
    if (l.a[i].kind == PC_ACT_PERSIST) cr_assert_eq(pc_consensus_restore(c, l.a[i].data, l.a[i].len), 0);
  pc_consensus_start(c, 2000);
  log_clear(&l2);
  len = proposal(m, sizeof m, p0, 1, 0, 6, NULL, 0, NULL); /* another block, same (h, r) */
  pc_consensus_on_message(c, p0, m, len);
  unsigned k = count_kind(&l2, PC_ACT_BROADCAST, PC_MSG_SBFT_PREPARE);
  log_clear(&l);
  log_clear(&l2);
  pc_consensus_destroy(c);
  return k;
}

Test(sbft, restarted_replica_does_not_vote_twice) { cr_assert_eq(votes_after_restart(0), 0); }
Test(sbft, forget_mutant_votes_twice) { cr_assert_eq(votes_after_restart(PC_MUTANT_FORGET_ON_RESTART), 1); }

Test(sbft, restore_rejects_corrupt_record_and_late_call) {
  log_t l = {0};
  pc_consensus_t *c = make(0, &l, 0);
  uint8_t junk[3] = {9, 1, 2};
  cr_assert_eq(pc_consensus_restore(c, junk, sizeof junk), PC_ERR_CORRUPT);
  uint8_t bad[13] = {42};
  pc_store_le64(bad + 1, 1);
  cr_assert_eq(pc_consensus_restore(c, bad, sizeof bad), PC_ERR_CORRUPT, "unknown record type");
  pc_consensus_start(c, 1);
  cr_assert_eq(pc_consensus_restore(c, bad, sizeof bad), PC_ERR_STATE);
  cr_assert_eq(pc_consensus_start(c, 1), PC_ERR_STATE);
  log_clear(&l);
  pc_consensus_destroy(c);
}

Test(sbft, timeout_sends_signed_round_change_after_persisting) {
  log_t l = {0};
  pc_consensus_t *c = make(me_not_p0(), &l, 0);
  pc_consensus_start(c, 1000);
  log_clear(&l);
  uint64_t d = pc_consensus_next_deadline(c);
  cr_assert_neq(d, UINT64_MAX);
  pc_consensus_on_tick(c, d);
  cr_assert_geq(l.n, 2);
  cr_assert_eq(l.a[0].kind, PC_ACT_PERSIST, "leaving the round is durable first");
  cr_assert_eq(l.a[1].kind, PC_ACT_BROADCAST);
  cr_assert_eq(l.a[1].data[1], PC_MSG_SBFT_ROUND_CHANGE);
  cr_assert_eq(pc_msg_verify_trailing(&sg[0], me_not_p0(), l.a[1].data, l.a[1].len), 0);
  cr_assert_gt(pc_consensus_next_deadline(c), d, "the next round's timer is armed");
  log_clear(&l);
  pc_consensus_destroy(c);
}

/* --- checkpoints --- */

static size_t ckpt_msg(uint8_t *buf, uint16_t from, uint64_t h, uint32_t r, const pc_hash_t *root,
                       const pc_hash_t *man) {
  pc_hash_t d;
  pc_checkpoint_digest(&d, h, root, man);
  pc_writer_t w;
  pc_writer_init(&w, buf, 256);
  pc_msg_hdr_t hd = {.type = PC_MSG_CHECKPOINT, .sender = from, .chain_id = CHAIN, .height = h, .round = r};
  pc_msg_put_header(&w, &hd);
  pc_put_bytes(&w, root->b, 32);
  pc_put_bytes(&w, man->b, 32);
  uint8_t sig[64];
  pc_signer_vote_sign(&sg[from], sig, CHAIN, PC_PROTO_SBFT, PC_PHASE_CHECKPOINT, h, 0, &d);
  pc_put_bytes(&w, sig, 64);
  return w.len;
}

static void execute_to(pc_consensus_t *c, uint64_t upto, const pc_hash_t *root, const pc_hash_t *man) {
  for (uint64_t h = 1; h <= upto; h++) pc_consensus_on_executed(c, h, root, h % 64 == 0 ? man : NULL);
}

Test(sbft, checkpoint_becomes_stable_with_q_votes) {
  log_t l = {0};
  pc_consensus_t *c = make(0, &l, 0);
  pc_consensus_start(c, 1);
  pc_hash_t root, man;
  pc_hash_blake2b(&root, "root", 4);
  pc_hash_blake2b(&man, "manifest", 8);
  log_clear(&l);
  execute_to(c, 64, &root, &man);
  cr_assert_eq(count_kind(&l, PC_ACT_BROADCAST, PC_MSG_CHECKPOINT), 1);
  uint8_t m[256];
  size_t len = ckpt_msg(m, 1, 64, 0, &root, &man);
  cr_assert_eq(pc_consensus_on_message(c, 1, m, len), 0);
  pc_consensus_stats_t s;
  pc_consensus_get_stats(c, &s);
  cr_assert_eq(s.stable_checkpoint, 0, "two of q = 3");
  len = ckpt_msg(m, 2, 64, 0, &root, &man);
  cr_assert_eq(pc_consensus_on_message(c, 2, m, len), 0);
  pc_consensus_get_stats(c, &s);
  cr_assert_eq(s.stable_checkpoint, 64);
  len = ckpt_msg(m, 3, 64, 0, &root, &man);
  cr_assert_eq(pc_consensus_on_message(c, 3, m, len), PC_ERR_EXPIRED, "at or below the stable checkpoint");
  cr_assert_eq(count_kind(&l, PC_ACT_STATE_TRANSFER, 0), 0);
  log_clear(&l);
  pc_consensus_destroy(c);
}

Test(sbft, checkpoint_rejects_bad_messages) {
  log_t l = {0};
  pc_consensus_t *c = make(0, &l, 0);
  pc_consensus_start(c, 1);
  pc_hash_t root, man;
  pc_hash_blake2b(&root, "root", 4);
  pc_hash_blake2b(&man, "manifest", 8);
  uint8_t m[256];
  size_t len = ckpt_msg(m, 1, 63, 0, &root, &man);
  cr_assert_eq(pc_consensus_on_message(c, 1, m, len), PC_ERR_INVALID, "not a multiple of K");
  len = ckpt_msg(m, 1, 64, 1, &root, &man);
  cr_assert_eq(pc_consensus_on_message(c, 1, m, len), PC_ERR_INVALID, "round must be 0");
  len = ckpt_msg(m, 1, 64, 0, &root, &man);
  m[PC_MSG_HEADER_SIZE + 1] ^= 1; /* the root no longer matches the signature */
  cr_assert_eq(pc_consensus_on_message(c, 1, m, len), PC_ERR_SIGNATURE);
  m[PC_MSG_HEADER_SIZE + 1] ^= 1;
  cr_assert_eq(pc_consensus_on_message(c, 1, m, len), 0);
  cr_assert_eq(pc_consensus_on_message(c, 1, m, len), PC_ERR_DUPLICATE);
  cr_assert_eq(pc_consensus_on_message(c, 1, m, len - 1), PC_ERR_TRUNCATED);
  log_clear(&l);
  pc_consensus_destroy(c);
}

Test(sbft, certified_root_mismatch_stops_voting_and_transfers) {
  log_t l = {0};
  pc_consensus_t *c = make(0, &l, 0);
  pc_consensus_start(c, 1);
  pc_hash_t mine, theirs, man;
  pc_hash_blake2b(&mine, "mine", 4);
  pc_hash_blake2b(&theirs, "theirs", 6);
  pc_hash_blake2b(&man, "manifest", 8);
  execute_to(c, 64, &mine, &man);
  log_clear(&l);
  uint8_t m[256];
  for (uint16_t i = 1; i <= 3; i++) {
    size_t len = ckpt_msg(m, i, 64, 0, &theirs, &man);
    cr_assert_eq(pc_consensus_on_message(c, i, m, len), 0);
  }
  cr_assert_eq(count_kind(&l, PC_ACT_STATE_TRANSFER, 0), 1);
  /* halted: a vote is refused until the transfer is done */
  pc_hash_t a;
  pc_hash_blake2b(&a, "a", 1);
  size_t len = vote(m, 1, PC_MSG_SBFT_PREPARE, 1, 0, &a);
  cr_assert_eq(pc_consensus_on_message(c, 1, m, len), PC_ERR_STATE);
  cr_assert_eq(pc_consensus_on_transfer_done(c, 64, &theirs), 0);
  cr_assert_eq(pc_consensus_on_message(c, 1, m, len), 0);
  log_clear(&l);
  pc_consensus_destroy(c);
}

/* Decided on commit votes before the block arrived: the proposal that
 * brings the block must release the decision (regression: a replica once
 * stayed stuck with a decided head whose block came by proposal). */
Test(sbft, decision_waiting_for_block_is_emitted_when_block_arrives) {
  log_t l = {0};
  uint16_t me = me_not_p0(), p0 = pc_sbft_proposer(1, 0, N);
  pc_consensus_t *c = make(me, &l, 0);
  pc_consensus_start(c, 1000);
  uint8_t m[1024];
  pc_hash_t id;
  size_t plen = proposal(m, sizeof m, p0, 1, 0, 5, NULL, 0, &id);
  uint8_t v[128];
  unsigned sent = 0;
  for (uint16_t i = 0; i < N && sent < 3; i++) {
    if (i == me) continue;
    size_t len = vote(v, i, PC_MSG_SBFT_COMMIT, 1, 0, &id);
    cr_assert_eq(pc_consensus_on_message(c, i, v, len), 0);
    sent++;
  }
  cr_assert_eq(count_kind(&l, PC_ACT_DECIDE, 0), 0, "no block yet");
  cr_assert_eq(count_kind(&l, PC_ACT_BROADCAST, PC_MSG_BLOCK_REQ), 1, "asks for the decided block");
  pc_consensus_on_message(c, p0, m, plen);
  cr_assert_eq(count_kind(&l, PC_ACT_DECIDE, 0), 1);
  log_clear(&l);
  pc_consensus_destroy(c);
}

/* ------------------------------------------------ catching up by state transfer */

/* stable_msg: STABLE(64) from `from` with a checkpoint certificate signed
 * by `signers` replicas (0, 1, ...); `chain` is the claimed chain hash. */
static size_t stable_msg(uint8_t *buf, size_t cap, uint16_t from, uint64_t h, uint32_t r, unsigned signers,
                         const pc_hash_t *root, const pc_hash_t *man, const pc_hash_t *chain) {
  static pc_cert_t cert;
  pc_hash_t d;
  pc_checkpoint_digest(&d, h, root, man);
  pc_cert_init(&cert, PC_PROTO_SBFT, PC_CERT_CHECKPOINT, CHAIN, h, 0, &d, N);
  for (uint16_t i = 0; i < signers; i++) {
    uint8_t sig[64];
    pc_signer_vote_sign(&sg[i], sig, CHAIN, PC_PROTO_SBFT, PC_PHASE_CHECKPOINT, h, 0, &d);
    pc_cert_add(&cert, i, sig);
  }
  pc_writer_t w;
  pc_writer_init(&w, buf, cap);
  pc_msg_hdr_t hd = {.type = PC_MSG_SBFT_STABLE, .sender = from, .chain_id = CHAIN, .height = h, .round = r};
  pc_msg_put_header(&w, &hd);
  pc_put_bytes(&w, root->b, 32);
  pc_put_bytes(&w, man->b, 32);
  pc_put_bytes(&w, chain->b, 32);
  pc_cert_encode(&w, &cert);
  cr_assert(!w.overflow);
  return w.len;
}

static uint8_t big[PC_MSG_HEADER_SIZE + 96 + sizeof(pc_cert_t) + 64];

Test(sbft, stable_answers_need_f_plus_one_matching_chain_hashes_then_jump) {
  log_t l = {0};
  pc_consensus_t *c = make(0, &l, 0);
  pc_consensus_start(c, 1);
  log_clear(&l);
  pc_hash_t root, man, ca, cb;
  pc_hash_blake2b(&root, "root", 4);
  pc_hash_blake2b(&man, "manifest", 8);
  pc_hash_blake2b(&ca, "chain-a", 7);
  pc_hash_blake2b(&cb, "chain-b", 7);
  size_t len = stable_msg(big, sizeof big, 1, 64, 0, 3, &root, &man, &ca);
  cr_assert_eq(pc_consensus_on_message(c, 1, big, len), 0);
  cr_assert_eq(count_kind(&l, PC_ACT_STATE_TRANSFER, 0), 0, "one claim is not enough");
  cr_assert_eq(count_kind(&l, PC_ACT_BROADCAST, PC_MSG_BLOCK_REQ), 1, "asks everyone for theirs");
  cr_assert_eq(pc_consensus_on_message(c, 1, big, len), PC_ERR_DUPLICATE);
  len = stable_msg(big, sizeof big, 2, 64, 0, 3, &root, &man, &cb);
  cr_assert_eq(pc_consensus_on_message(c, 2, big, len), 0);
  cr_assert_eq(count_kind(&l, PC_ACT_STATE_TRANSFER, 0), 0, "two different chain hashes: no f+1");
  len = stable_msg(big, sizeof big, 3, 64, 0, 3, &root, &man, &ca);
  cr_assert_eq(pc_consensus_on_message(c, 3, big, len), 0);
  cr_assert_eq(count_kind(&l, PC_ACT_STATE_TRANSFER, 0), 1);
  for (size_t i = 0; i < l.n; i++)
    if (l.a[i].kind == PC_ACT_STATE_TRANSFER) {
      cr_assert_eq(l.a[i].a, 64);
      cr_assert_eq(l.a[i].len, PC_HASH_SIZE, "the agreed chain hash comes with the action");
      cr_assert_eq(memcmp(l.a[i].data, ca.b, PC_HASH_SIZE), 0);
    }
  pc_consensus_stats_t s;
  pc_consensus_get_stats(c, &s);
  cr_assert_eq(s.stable_checkpoint, 64);
  /* halted until the state is in */
  pc_hash_t a;
  pc_hash_blake2b(&a, "a", 1);
  uint8_t m[256];
  size_t vl = vote(m, 1, PC_MSG_SBFT_PREPARE, 1, 0, &a);
  cr_assert_eq(pc_consensus_on_message(c, 1, m, vl), PC_ERR_STATE);
  log_clear(&l);
  cr_assert_eq(pc_consensus_on_transfer_done(c, 64, &root), 0);
  cr_assert_eq(count_kind(&l, PC_ACT_PERSIST, 0), 1, "the BASE record");
  pc_consensus_get_stats(c, &s);
  cr_assert_eq(s.last_decided, 64);
  cr_assert_eq(pc_consensus_on_message(c, 1, m, vl), PC_ERR_EXPIRED, "height 1 is behind the window now");
  vl = vote(m, 1, PC_MSG_SBFT_PREPARE, 65, 0, &a);
  cr_assert_eq(pc_consensus_on_message(c, 1, m, vl), 0, "height 65 is in the window");
  /* a STABLE for the height it now stands on is stale */
  cr_assert_eq(pc_consensus_on_message(c, 3, big, len), PC_ERR_EXPIRED);
  /* restart from the persisted records: the jump is remembered */
  log_t l2 = {0};
  pc_consensus_t *c2 = make(0, &l2, 0);
  for (size_t i = 0; i < l.n; i++)
    if (l.a[i].kind == PC_ACT_PERSIST) cr_assert_eq(pc_consensus_restore(c2, l.a[i].data, l.a[i].len), 0);
  pc_consensus_get_stats(c2, &s);
  cr_assert_eq(s.last_decided, 64);
  log_clear(&l2);
  pc_consensus_destroy(c2);
  log_clear(&l);
  pc_consensus_destroy(c);
}

Test(sbft, stable_rejections) {
  log_t l = {0};
  pc_consensus_t *c = make(0, &l, 0);
  pc_consensus_start(c, 1);
  pc_hash_t root, man, ch, other;
  pc_hash_blake2b(&root, "root", 4);
  pc_hash_blake2b(&man, "manifest", 8);
  pc_hash_blake2b(&ch, "chain", 5);
  pc_hash_blake2b(&other, "other", 5);
  size_t len = stable_msg(big, sizeof big, 1, 64, 1, 3, &root, &man, &ch);
  cr_assert_eq(pc_consensus_on_message(c, 1, big, len), PC_ERR_INVALID, "round must be 0");
  len = stable_msg(big, sizeof big, 1, 64, 0, 2, &root, &man, &ch);
  cr_assert_eq(pc_consensus_on_message(c, 1, big, len), PC_ERR_QUORUM, "fewer than q signers");
  len = stable_msg(big, sizeof big, 1, 64, 0, 3, &root, &man, &ch);
  memcpy(big + PC_MSG_HEADER_SIZE, other.b, 32); /* root not what the certificate signs */
  cr_assert_eq(pc_consensus_on_message(c, 1, big, len), PC_ERR_INVALID);
  len = stable_msg(big, sizeof big, 1, 64, 0, 3, &root, &man, &ch);
  big[len - 1] ^= 1; /* last signature */
  cr_assert_eq(pc_consensus_on_message(c, 1, big, len), PC_ERR_SIGNATURE);
  big[len - 1] ^= 1;
  cr_assert_eq(pc_consensus_on_message(c, 1, big, len - 1), PC_ERR_TRUNCATED);
  big[len] = 0;
  cr_assert_eq(pc_consensus_on_message(c, 1, big, len + 1), PC_ERR_TRAILING);
  pc_consensus_stats_t s;
  pc_consensus_get_stats(c, &s);
  cr_assert_eq(s.stable_checkpoint, 0);
  cr_assert_eq(count_kind(&l, PC_ACT_STATE_TRANSFER, 0), 0);
  log_clear(&l);
  pc_consensus_destroy(c);
}
