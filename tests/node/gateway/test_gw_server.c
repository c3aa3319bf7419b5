/* Gateway server + client library over 127.0.0.1 with a fake backend:
 * round trips, proof verification (and its failure for every tampered
 * part), connection limits, slow and oversized clients, /metrics, /health. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <urcu.h>

#include "executor/executor.h"
#include "storage/storage.h"
#include "tools/cli/gwclient.h"
#include "txpool/client.h"

#define CHAIN 77
#define NREP 4
#define DEPTH 2
#define HEIGHT 5 /* the block that holds the fake receipts */
#define NRCPT 3

/* ---------------------------------------------------------- fake backend */

typedef struct {
  pc_client_key_t reps[NREP];
  pc_gw_trust_t trust;
  pc_state_t *state;
  pc_hash_t state_root;
  uint8_t renc[NRCPT][64];
  int rlen[NRCPT];
  pc_hash_t leaves[NRCPT];
  pc_hash_t receipts_root;
  pc_hash_t tx[NRCPT + 1]; /* tx[NRCPT] becomes ready only when `late_ready` */
  pc_gw_certified_t cb;
  uint8_t proof[PC_STATE_PROOF_MAX];
  atomic_bool late_ready;
  atomic_uint_fast64_t provable;
  unsigned signers; /* signers of the certificate (tests vary it) */
  atomic_uint submits;
  pc_hash_t seen[8192]; /* submitted hashes (server thread only) */
  unsigned n_seen;
} fake_t;

static fake_t F;

static void make_cert(pc_gw_certified_t *cb, unsigned signers) {
  pc_hash_t id;
  pc_block_id(&cb->header, &id);
  pc_cert_init(&cb->cert, PC_PROTO_SBFT, PC_CERT_COMMIT, CHAIN, cb->header.height, 0, &id, NREP);
  for (unsigned i = 0; i < signers; i++) {
    uint8_t sig[PC_SIG_SIZE];
    pc_vote_sign(sig, F.reps[i].sk, CHAIN, PC_PROTO_SBFT, PC_PHASE_COMMIT, cb->header.height, 0, &id);
    pc_cert_add(&cb->cert, (uint16_t)i, sig);
  }
}

static int fb_submit(void *ctx, const uint8_t *tx, size_t len) {
  (void)ctx;
  pc_tx_t t;
  int rc = pc_tx_decode(tx, len, &t);
  if (rc) return rc;
  if (pc_tx_verify(&t)) return PC_ERR_SIGNATURE;
  atomic_fetch_add_explicit(&F.submits, 1, memory_order_relaxed); /* read by the test thread after a round trip */
  if (F.n_seen < PC_ARRAY_LEN(F.seen)) F.seen[F.n_seen++] = t.hash;
  return 0;
}

/* Hashes the fake backend answers without a receipt: 0x5e.. was refused
 * by the pool (REJECTED, nonce_used); a WAIT for 0x7a.. that runs out is
 * NOT_HELD (receipts from height 40 only). */
static bool fill_hash(const pc_hash_t *h, uint8_t b) {
  for (int i = 0; i < 32; i++)
    if (h->b[i] != b) return false;
  return true;
}

static int fb_wait_expired(void *ctx, const pc_hash_t *h, pc_gw_receipt_ans_t *a) {
  (void)ctx;
  if (!fill_hash(h, 0x7a)) return PC_ERR_TIMEOUT;
  a->tx_status = PC_GW_TX_NOT_HELD;
  a->held_from = 40;
  a->why = "not held here";
  return PC_ERR_NOT_FOUND;
}

static int fb_receipt(void *ctx, const pc_hash_t *h, pc_gw_receipt_ans_t *a) {
  (void)ctx;
  if (fill_hash(h, 0x5e)) {
    a->tx_status = PC_GW_TX_REJECTED;
    a->why = "nonce_used";
    return PC_ERR_NONCE;
  }
  for (unsigned i = 0; i <= NRCPT + 1; i++) {
    if (i <= NRCPT && !pc_hash_equal(h, &F.tx[i])) continue;
    unsigned idx = i;
    if (i == NRCPT + 1) { /* a submitted transaction gets receipt 0's answer (unverifiable, for load tests) */
      bool seen = false;
      for (unsigned k = 0; k < F.n_seen && !seen; k++) seen = pc_hash_equal(h, &F.seen[k]);
      if (!seen) break;
      idx = 0;
    }
    if (i == NRCPT) {
      /* acquire: pairs with the test's release store, published before it bumps provable */
      if (!atomic_load_explicit(&F.late_ready, memory_order_acquire)) return PC_ERR_AGAIN;
      idx = 1;
    }
    memset(a, 0, sizeof *a);
    a->height = HEIGHT;
    a->index = idx;
    a->count = NRCPT;
    a->receipt = F.renc[idx];
    a->receipt_len = (uint32_t)F.rlen[idx];
    int nb = pc_gw_receipt_branch(F.leaves, NRCPT, idx, a->branch);
    if (nb < 0) return nb;
    a->n_branch = (uint8_t)nb;
    a->state_root = F.state_root;
    a->cb = F.cb;
    return 0;
  }
  return PC_ERR_AGAIN;
}

static int fb_query(void *ctx, uint64_t height, const uint8_t *key, size_t klen, pc_gw_query_ans_t *a) {
  (void)ctx;
  if (height != 0 && height != HEIGHT) return PC_ERR_NOT_FOUND;
  memset(a, 0, sizeof *a);
  a->height = HEIGHT;
  rcu_read_lock();
  const pc_state_version_t *v = pc_state_current(F.state);
  const uint8_t *val;
  size_t vlen, plen;
  int rc = pc_state_get(v, key, klen, &val, &vlen);
  static uint8_t vcopy[256];
  if (rc == 0) {
    a->present = true;
    memcpy(vcopy, val, PC_MIN(vlen, sizeof vcopy));
    a->value = vcopy;
    a->value_len = (uint32_t)PC_MIN(vlen, sizeof vcopy);
  }
  rc = pc_state_prove(v, key, klen, F.proof, sizeof F.proof, &plen);
  rcu_read_unlock();
  if (rc) return rc;
  a->proof = F.proof;
  a->proof_len = (uint32_t)plen;
  a->state_root = F.state_root;
  a->receipts_root = F.receipts_root;
  a->cb = F.cb;
  return 0;
}

static int fb_block(void *ctx, uint64_t height, pc_block_t *b) {
  (void)ctx;
  if (height == 0 || height > HEIGHT + DEPTH) return PC_ERR_NOT_FOUND;
  *b = F.cb.header;
  b->height = height;
  return 0;
}

static void fb_status(void *ctx, pc_gw_status_t *s) {
  (void)ctx;
  s->chain_id = CHAIN;
  s->n = NREP;
  s->depth = DEPTH;
  s->decided_height = HEIGHT + DEPTH;
  s->executed_height = HEIGHT + DEPTH;
  /* relaxed: the value only triggers a retry; late_ready carries the ordering */
  s->provable_height = atomic_load_explicit(&F.provable, memory_order_relaxed);
  s->healthy = s->provable_height != 999;
}

static size_t fb_metrics(void *ctx, pc_gw_metric_t *rows, size_t cap) {
  (void)ctx;
  if (cap < 2) return 0;
  rows[0] = (pc_gw_metric_t){"parachain_consensus_decided_height", "Highest decided height.", "gauge", HEIGHT + DEPTH};
  rows[1] = (pc_gw_metric_t){"parachain_txpool_admitted_total", "Transactions admitted,\nwith a \\ in help.", "counter",
                             12345};
  return 2;
}

static void fake_init(void) {
  memset(&F, 0, sizeof F);
  pc_crypto_init();
  for (unsigned i = 0; i < NREP; i++) {
    uint8_t seed[32];
    memset(seed, (int)(i + 1), sizeof seed);
    pc_client_key_from_seed(&F.reps[i], seed);
  }
  F.trust.chain_id = CHAIN;
  F.trust.n = NREP;
  F.trust.q = 3;
  F.trust.depth = DEPTH;
  for (unsigned i = 0; i < NREP; i++) memcpy(F.trust.keys[i], F.reps[i].pk, 32);
  rcu_register_thread();
  F.state = pc_state_new(4);
  pc_state_batch_t *b = pc_state_batch_new(F.state);
  pc_state_batch_put(b, "\x02kvehello", 9, "world", 5);
  pc_state_batch_put(b, "\x02kveother", 9, "x", 1);
  int64_t v = pc_state_commit(b, &F.state_root);
  cr_assert_gt(v, 0);
  pc_state_publish(F.state, (uint64_t)v);
  static pc_receipt_t rs[NRCPT];
  static uint8_t out[NRCPT][4];
  for (unsigned i = 0; i < NRCPT; i++) {
    memset(out[i], (int)i, 4);
    rs[i] = (pc_receipt_t){.status = 0, .budget_used = 10 + i, .output = {out[i], 4}};
    F.rlen[i] = pc_receipt_encode(&rs[i], F.renc[i], sizeof F.renc[i]);
    pc_hash_tagged(&F.leaves[i], "parachain/receipt", F.renc[i], (size_t)F.rlen[i]);
    memset(F.tx[i].b, (int)(0x40 + i), 32);
  }
  memset(F.tx[NRCPT].b, 0x77, 32);
  pc_receipts_root(rs, NRCPT, &F.receipts_root);
  F.cb.header = (pc_block_t){.chain_id = CHAIN, .height = HEIGHT + DEPTH, .creator = 1, .timestamp_us = 1000};
  pc_hash_pair(&F.cb.header.exec_root, "parachain/exec-root", &F.state_root, &F.receipts_root);
  make_cert(&F.cb, 3);
  atomic_store(&F.provable, HEIGHT);
}

/* ------------------------------------------------------ server thread */

static pc_gw_server_t *S;
static pthread_t T;
static atomic_bool stop;

static void *server_main(void *arg) {
  (void)arg;
  rcu_register_thread();
  /* acquire: pairs with the release store in stop_server */
  while (!atomic_load_explicit(&stop, memory_order_acquire)) {
    pc_gw_server_poll(S, 5);
    pc_gw_server_housekeeping(S);
  }
  rcu_unregister_thread();
  return NULL;
}

static void start_server(const pc_gw_config_t *cfg) {
  fake_init();
  pc_gw_backend_t be = {.submit = fb_submit, .receipt = fb_receipt, .wait_expired = fb_wait_expired,
                        .query = fb_query, .block = fb_block, .status = fb_status, .metrics = fb_metrics};
  S = pc_gw_server_new(cfg, &be);
  cr_assert_not_null(S);
  atomic_store(&stop, false);
  pthread_create(&T, NULL, server_main, NULL);
}

static void start_default(void) {
  pc_gw_config_t cfg;
  pc_gw_config_defaults(&cfg);
  start_server(&cfg);
}

static void stop_server(void) {
  atomic_store_explicit(&stop, true, memory_order_release);
  pthread_join(T, NULL);
  pc_gw_server_free(S);
  pc_state_free(F.state);
  rcu_unregister_thread();
}

static pc_gwc_t *client(void) {
  pc_gwc_t *c = pc_gwc_connect("127.0.0.1", pc_gw_server_port(S), 5000);
  cr_assert_not_null(c);
  return c;
}

static int raw_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

/* closed_within waits (bounded) until the peer closes fd; true if it did. */
static bool closed_within(int fd, int ms) {
  uint8_t b[4096];
  uint64_t end = pc_now_ns() + (uint64_t)ms * 1000000ull;
  while (pc_now_ns() < end) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 50) == 1) {
      ssize_t k = recv(fd, b, sizeof b, 0);
      if (k <= 0) return true;
    }
  }
  return false;
}

static pc_gw_response_t *R;
static void setup_r(void) {
  R = malloc(sizeof *R);
  cr_assert_not_null(R);
}

/* -------------------------------------------------------- round trips */

Test(gw_server, submit_accepts_valid_and_reports_bad_signature, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  pc_client_key_t k;
  pc_client_key_generate(&k);
  uint8_t a[PC_TX_MAX], b[PC_TX_MAX];
  pc_client_tx_t t = {.chain_id = CHAIN, .nonce = 0, .contract = "counter", .method = "add", .args = "\1\0\0\0\0\0\0\0",
                      .args_len = 8};
  int la = pc_client_tx_build(a, sizeof a, &k, &t, NULL);
  t.nonce = 1;
  int lb = pc_client_tx_build(b, sizeof b, &k, &t, NULL);
  b[lb - 1] ^= 1; /* break the signature */
  const uint8_t *txs[2] = {a, b};
  uint32_t lens[2] = {(uint32_t)la, (uint32_t)lb};
  int codes[2];
  cr_assert_eq(pc_gwc_submit(c, txs, lens, 2, codes, 5000, R), 0);
  cr_assert_eq(codes[0], 0);
  cr_assert_eq(codes[1], PC_ERR_SIGNATURE);
  pc_gwc_close(c);
  free(R);
}

Test(gw_server, wait_returns_verified_receipt, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  cr_assert_eq(pc_gwc_wait(c, &F.tx[2], 1000, &F.trust, R), 0);
  cr_assert_eq(R->receipt.index, 2);
  cr_assert_eq(R->receipt.height, HEIGHT);
  pc_gwc_close(c);
  free(R);
}

Test(gw_server, wait_answers_once_the_receipt_becomes_ready, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  uint8_t f[64];
  uint32_t id = pc_gwc_next_id(c);
  long n = pc_gw_enc_wait(f, sizeof f, id, &F.tx[NRCPT], 20000);
  cr_assert_eq(pc_gwc_send(c, f, (size_t)n, 5000), 0);
  /* nothing yet */
  cr_assert_eq(pc_gwc_recv(c, 100, R), PC_ERR_TIMEOUT);
  atomic_store_explicit(&F.late_ready, true, memory_order_release);
  atomic_store_explicit(&F.provable, HEIGHT + 1, memory_order_relaxed);
  cr_assert_eq(pc_gwc_recv(c, 15000, R), 0);
  cr_assert_eq(R->id, id);
  cr_assert_eq(R->code, 0);
  cr_assert_eq(pc_gw_verify_receipt(&F.trust, &R->receipt), 0);
  pc_gwc_close(c);
  free(R);
}

Test(gw_server, wait_times_out_with_timeout_code, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  pc_hash_t unknown;
  memset(unknown.b, 0x99, 32);
  cr_assert_eq(pc_gwc_wait(c, &unknown, 50, &F.trust, R), PC_ERR_TIMEOUT);
  cr_assert_eq(pc_gwc_wait(c, &unknown, 0, &F.trust, R), PC_ERR_TIMEOUT);
  pc_gwc_close(c);
  free(R);
}

Test(gw_server, wait_answers_txstatus_rejected_and_not_held, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  pc_hash_t refused, unheld;
  memset(refused.b, 0x5e, 32);
  memset(unheld.b, 0x7a, 32);
  char text[PC_GW_MSG_MAX + 96];
  /* a refusal is final at once, even for a long wait */
  int rc = pc_gwc_wait(c, &refused, 60000, &F.trust, R);
  cr_assert_eq(rc, PC_ERR_NONCE);
  cr_assert_eq(R->type, PC_GW_RSP_TXSTATUS);
  cr_assert_eq(R->tx_status, PC_GW_TX_REJECTED);
  cr_assert_str_eq(R->msg, "nonce_used");
  cr_assert_str_eq(pc_gwc_wait_text(rc, R, text, sizeof text), "rejected: nonce_used (nonce already used or out of order)");
  /* not held: only when the wait runs out (now, and after 50 ms) */
  rc = pc_gwc_wait(c, &unheld, 0, &F.trust, R);
  cr_assert_eq(rc, PC_ERR_NOT_FOUND);
  cr_assert_eq(R->tx_status, PC_GW_TX_NOT_HELD);
  cr_assert_eq(R->held_from, 40);
  rc = pc_gwc_wait(c, &unheld, 50, &F.trust, R);
  cr_assert_eq(rc, PC_ERR_NOT_FOUND);
  cr_assert_eq(R->type, PC_GW_RSP_TXSTATUS);
  cr_assert_not_null(strstr(pc_gwc_wait_text(rc, R, text, sizeof text), "from height 40): ask another replica"), "%s",
                     text);
  /* a plain timeout stays a RECEIPT answer, and its text is the error's */
  pc_hash_t unknown;
  memset(unknown.b, 0x99, 32);
  rc = pc_gwc_wait(c, &unknown, 0, &F.trust, R);
  cr_assert_eq(rc, PC_ERR_TIMEOUT);
  cr_assert_eq(R->type, PC_GW_RSP_RECEIPT);
  cr_assert_str_eq(pc_gwc_wait_text(rc, R, text, sizeof text), pc_strerror(PC_ERR_TIMEOUT));
  pc_gwc_close(c);
  free(R);
}

Test(gw_server, query_present_and_absent_verified, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  uint8_t key[64];
  int kl = pc_gw_state_key(key, sizeof key, "kv", "ehello", 6);
  cr_assert_eq(kl, 9);
  cr_assert_eq(pc_gwc_query(c, 0, key, (size_t)kl, 5000, &F.trust, R), 0);
  cr_assert(R->query.present);
  cr_assert_eq(R->query.value_len, 5);
  cr_assert_eq(memcmp(R->query.value, "world", 5), 0);
  kl = pc_gw_state_key(key, sizeof key, "kv", "enothere", 8);
  cr_assert_eq(pc_gwc_query(c, HEIGHT, key, (size_t)kl, 5000, &F.trust, R), 0);
  cr_assert_not(R->query.present);
  cr_assert_eq(pc_gwc_query(c, HEIGHT + 1, key, (size_t)kl, 5000, &F.trust, R), PC_ERR_NOT_FOUND);
  pc_gwc_close(c);
  free(R);
}

Test(gw_server, status_round_trip, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  pc_gw_status_t s;
  cr_assert_eq(pc_gwc_status(c, 5000, &s, R), 0);
  cr_assert_eq(s.chain_id, CHAIN);
  cr_assert_eq(s.depth, DEPTH);
  cr_assert_eq(s.decided_height, HEIGHT + DEPTH);
  pc_gwc_close(c);
  free(R);
}

Test(gw_server, follow_streams_decided_heights, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  uint32_t id;
  cr_assert_eq(pc_gwc_follow(c, 3, &id), 0);
  for (uint64_t h = 3; h <= HEIGHT + DEPTH; h++) {
    cr_assert_eq(pc_gwc_recv(c, 5000, R), 0);
    cr_assert_eq(R->type, PC_GW_RSP_BLOCK);
    cr_assert_eq(R->id, id);
    cr_assert_eq(R->block_height, h);
  }
  /* a second FOLLOW on the same connection is refused */
  uint32_t id2;
  cr_assert_eq(pc_gwc_follow(c, 1, &id2), 0);
  cr_assert_eq(pc_gwc_recv(c, 5000, R), 0);
  cr_assert_eq(R->type, PC_GW_RSP_ERROR);
  cr_assert_eq(R->code, PC_ERR_FULL);
  pc_gwc_close(c);
  free(R);
}

/* ------------------------------------------------- tampered answers */

static pc_gw_receipt_ans_t good_receipt(pc_gwc_t *c, uint8_t *rcopy) {
  cr_assert_eq(pc_gwc_wait(c, &F.tx[0], 1000, &F.trust, R), 0);
  pc_gw_receipt_ans_t a = R->receipt;
  memcpy(rcopy, a.receipt, a.receipt_len);
  a.receipt = rcopy;
  return a;
}

Test(gw_server, receipt_tampered_receipt_fails, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  uint8_t rc[64];
  pc_gw_receipt_ans_t a = good_receipt(c, rc);
  rc[1] ^= 1; /* budget_used */
  cr_assert_eq(pc_gw_verify_receipt(&F.trust, &a), PC_ERR_CHECKSUM);
  pc_gwc_close(c);
  free(R);
}

Test(gw_server, receipt_tampered_root_fails, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  uint8_t rc[64];
  pc_gw_receipt_ans_t a = good_receipt(c, rc);
  a.state_root.b[0] ^= 1;
  cr_assert_eq(pc_gw_verify_receipt(&F.trust, &a), PC_ERR_CHECKSUM);
  a = good_receipt(c, rc);
  a.branch[0].b[5] ^= 1;
  cr_assert_eq(pc_gw_verify_receipt(&F.trust, &a), PC_ERR_CHECKSUM);
  pc_gwc_close(c);
  free(R);
}

Test(gw_server, receipt_tampered_header_fails, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  uint8_t rc[64];
  pc_gw_receipt_ans_t a = good_receipt(c, rc);
  a.cb.header.timestamp_us++;
  cr_assert_eq(pc_gw_verify_receipt(&F.trust, &a), PC_ERR_CHECKSUM);
  a = good_receipt(c, rc);
  a.height++; /* claims another height: the certified block is not h + D */
  cr_assert_eq(pc_gw_verify_receipt(&F.trust, &a), PC_ERR_RANGE);
  pc_gwc_close(c);
  free(R);
}

Test(gw_server, receipt_tampered_certificate_fails, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  uint8_t rc[64];
  pc_gw_receipt_ans_t a = good_receipt(c, rc);
  a.cb.cert.sigs[1][7] ^= 1;
  cr_assert_eq(pc_gw_verify_receipt(&F.trust, &a), PC_ERR_SIGNATURE);
  a = good_receipt(c, rc);
  make_cert(&a.cb, 2); /* below the quorum of 3 */
  cr_assert_eq(pc_gw_verify_receipt(&F.trust, &a), PC_ERR_QUORUM);
  a = good_receipt(c, rc);
  a.cb.cert.kind = PC_CERT_PREPARE; /* not a decision */
  cr_assert_eq(pc_gw_verify_receipt(&F.trust, &a), PC_ERR_INVALID);
  pc_gw_trust_t other = F.trust;
  other.chain_id = CHAIN + 1;
  a = good_receipt(c, rc);
  cr_assert_eq(pc_gw_verify_receipt(&other, &a), PC_ERR_CHAIN);
  other = F.trust;
  memcpy(other.keys[0], F.reps[3].pk, 32); /* the client trusts a different key for replica 0 */
  cr_assert_eq(pc_gw_verify_receipt(&other, &a), PC_ERR_SIGNATURE);
  pc_gwc_close(c);
  free(R);
}

Test(gw_server, query_tampered_value_or_absence_fails, .init = start_default, .fini = stop_server) {
  setup_r();
  pc_gwc_t *c = client();
  uint8_t key[64];
  int kl = pc_gw_state_key(key, sizeof key, "kv", "ehello", 6);
  cr_assert_eq(pc_gwc_query(c, 0, key, (size_t)kl, 5000, NULL, R), 0);
  pc_gw_query_ans_t a = R->query;
  cr_assert_eq(pc_gw_verify_query(&F.trust, key, (size_t)kl, &a), 0);
  a.value = (const uint8_t *)"worle";
  cr_assert_neq(pc_gw_verify_query(&F.trust, key, (size_t)kl, &a), 0);
  a = R->query;
  a.present = false; /* claim absence of a present key */
  cr_assert_neq(pc_gw_verify_query(&F.trust, key, (size_t)kl, &a), 0);
  a = R->query;
  a.receipts_root.b[0] ^= 1;
  cr_assert_eq(pc_gw_verify_query(&F.trust, key, (size_t)kl, &a), PC_ERR_CHECKSUM);
  a = R->query;
  key[kl - 1] ^= 1; /* the proof is for another key */
  cr_assert_neq(pc_gw_verify_query(&F.trust, key, (size_t)kl, &a), 0);
  pc_gwc_close(c);
  free(R);
}

/* ------------------------------------------------ hostile connections */

Test(gw_server, malformed_request_gets_error_then_close, .init = start_default, .fini = stop_server) {
  int fd = raw_connect(pc_gw_server_port(S));
  uint8_t f[16];
  long n = pc_gw_enc_status(f, sizeof f, 3);
  f[4] = 0x42; /* unknown type */
  uint64_t before = pc_reject_count(PC_DEC_GATEWAY, 1);
  cr_assert_eq(send(fd, f, (size_t)n, 0), n);
  uint8_t in[256];
  ssize_t k = recv(fd, in, sizeof in, MSG_WAITALL);
  cr_assert_gt(k, PC_GW_HDR_SIZE);
  cr_assert_eq(in[4], PC_GW_RSP_ERROR);
  cr_assert_eq(pc_load_le32(in + 5), 3);
  cr_assert(closed_within(fd, 5000));
  cr_assert_gt(pc_reject_count(PC_DEC_GATEWAY, 1), before);
  close(fd);
}

Test(gw_server, oversized_frame_closes_connection, .init = start_default, .fini = stop_server) {
  int fd = raw_connect(pc_gw_server_port(S));
  uint8_t f[9] = {0};
  pc_store_le32(f, PC_GW_FRAME_DEFAULT_MAX + 1);
  f[4] = PC_GW_REQ_SUBMIT;
  uint64_t before = pc_reject_count(PC_DEC_GATEWAY, PC_ERR_TOO_LARGE);
  cr_assert_eq(send(fd, f, sizeof f, 0), 9);
  cr_assert(closed_within(fd, 5000));
  cr_assert_eq(pc_reject_count(PC_DEC_GATEWAY, PC_ERR_TOO_LARGE), before + 1, "counted exactly once");
  close(fd);
  /* the server keeps serving others */
  setup_r();
  pc_gwc_t *c = client();
  pc_gw_status_t s;
  cr_assert_eq(pc_gwc_status(c, 5000, &s, R), 0);
  pc_gwc_close(c);
  free(R);
}

static void start_slow(void) {
  pc_gw_config_t cfg;
  pc_gw_config_defaults(&cfg);
  cfg.request_timeout_ns = 300000000ull; /* 300 ms for a frame to arrive whole */
  cfg.max_conns = 2;
  start_server(&cfg);
}

Test(gw_server, slow_client_is_closed, .init = start_slow, .fini = stop_server) {
  int fd = raw_connect(pc_gw_server_port(S));
  uint8_t f[16];
  long n = pc_gw_enc_status(f, sizeof f, 1);
  bool closed = false;
  /* one byte every 100 ms: the frame can never complete within 300 ms */
  for (long i = 0; i < n && !closed; i++) {
    if (send(fd, f + i, 1, MSG_NOSIGNAL) != 1) break;
    closed = closed_within(fd, 100);
  }
  if (!closed) closed = closed_within(fd, 5000);
  cr_assert(closed, "a one-byte-per-100ms client must be closed");
  close(fd);
}

Test(gw_server, connections_above_the_limit_are_closed, .init = start_slow, .fini = stop_server) {
  setup_r();
  pc_gwc_t *a = client(), *b = client();
  pc_gw_status_t s;
  cr_assert_eq(pc_gwc_status(a, 5000, &s, R), 0);
  cr_assert_eq(pc_gwc_status(b, 5000, &s, R), 0);
  int fd = raw_connect(pc_gw_server_port(S));
  cr_assert(closed_within(fd, 5000));
  close(fd);
  cr_assert_eq(pc_gwc_status(a, 5000, &s, R), 0); /* the others still work */
  pc_gwc_close(a);
  pc_gwc_close(b);
  free(R);
}

/* --------------------------------------------------------------- HTTP */

static size_t http_get(const char *path, char *out, size_t cap) {
  int fd = raw_connect(pc_gw_server_http_port(S));
  char req[128];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
  cr_assert_eq(send(fd, req, (size_t)n, 0), n);
  size_t len = 0;
  for (int i = 0; i < 1000 && len < cap - 1; i++) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 5000) != 1) break;
    ssize_t k = recv(fd, out + len, cap - 1 - len, 0);
    if (k <= 0) break;
    len += (size_t)k;
  }
  out[len] = 0;
  close(fd);
  return len;
}

Test(gw_server, health_ok_and_unhealthy, .init = start_default, .fini = stop_server) {
  static char buf[4096];
  http_get("/health", buf, sizeof buf);
  cr_assert(strncmp(buf, "HTTP/1.0 200", 12) == 0, "%s", buf);
  atomic_store(&F.provable, 999); /* the fake reports unhealthy */
  http_get("/health", buf, sizeof buf);
  cr_assert(strncmp(buf, "HTTP/1.0 503", 12) == 0, "%s", buf);
  http_get("/nope", buf, sizeof buf);
  cr_assert(strncmp(buf, "HTTP/1.0 404", 12) == 0, "%s", buf);
}

Test(gw_server, metrics_pass_promtool, .init = start_default, .fini = stop_server) {
  static char buf[1 << 16];
  size_t n = http_get("/metrics", buf, sizeof buf);
  cr_assert(strncmp(buf, "HTTP/1.0 200", 12) == 0, "%s", buf);
  char *body = strstr(buf, "\r\n\r\n");
  cr_assert_not_null(body);
  body += 4;
  cr_assert_not_null(strstr(body, "parachain_consensus_decided_height 7\n"));
  cr_assert_not_null(strstr(body, "parachain_gateway_http_requests_total"));
  cr_assert_not_null(strstr(body, "with a \\\\ in help"));
  if (system("command -v promtool >/dev/null 2>&1") != 0) {
    cr_log_warn("promtool not installed (Debian package prometheus): skipping the promtool check only");
    return;
  }
  char path[] = "/tmp/pc_gw_metrics_XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  size_t bl = n - (size_t)(body - buf);
  cr_assert_eq(write(fd, body, bl), (ssize_t)bl);
  close(fd);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
  int rc = system(cmd);
  unlink(path);
  cr_assert_eq(rc, 0, "promtool check metrics failed");
}

/* ------------------------------------------------------ load generator */

/* write_cluster writes a cluster file for the fake's keys (chain id
 * `chain`) into a fresh temporary directory; returns its path in path. */
static void write_cluster(uint64_t chain, char *dir, char *path, size_t cap) {
  static pc_cluster_t cl;
  pc_cluster_defaults(&cl);
  cl.chain_id = chain;
  cl.n = NREP;
  cl.f = 1;
  for (unsigned i = 0; i < NREP; i++) {
    cl.replicas[i].id = (uint16_t)i;
    memcpy(cl.replicas[i].pubkey, F.reps[i].pk, 32);
    uint8_t mac[6] = {2, 0, 0, 0, 0, (uint8_t)(i + 1)};
    memcpy(cl.replicas[i].mac, mac, 6);
    uint8_t ip[4] = {127, 0, 0, 1};
    memcpy(cl.replicas[i].ip, ip, 4);
    cl.replicas[i].port = (uint16_t)(9000 + i);
  }
  cl.window = DEPTH / 2; /* D = 2W */
  static char text[1 << 16];
  char err[256];
  int n = pc_cluster_encode(&cl, text, sizeof text, err, sizeof err);
  cr_assert_gt(n, 0, "%s", err);
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, cap, "%s/cluster.conf", dir);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fwrite(text, 1, (size_t)n, f);
  fclose(f);
}

Test(gw_server, loadgen_closed_loop_runs_to_completion, .init = start_default, .fini = stop_server) {
  char dir[] = "/tmp/pc_gw_bench_XXXXXX";
  char path[128];
  write_cluster(CHAIN, dir, path, sizeof path);
  char json[128], cmd[1024];
  snprintf(json, sizeof json, "%s/out.json", dir);
  snprintf(cmd, sizeof cmd,
           "%s --cluster %s --gateway 127.0.0.1:%u --workload counter --mode closed -k 16 --txs 200 --senders 8 "
           "--duration 30 --wait-ms 5000 --json %s >/dev/null 2>&1",
           PC_BENCH_PATH, path, pc_gw_server_port(S), json);
  int rc = system(cmd);
  cr_assert_eq(rc, 0, "parachain-bench failed: %s", cmd);
  static char out[4096];
  FILE *f = fopen(json, "r");
  cr_assert_not_null(f);
  size_t k = fread(out, 1, sizeof out - 1, f);
  out[k] = 0;
  fclose(f);
  cr_assert_not_null(strstr(out, "\"sent\":200,\"ok\":200,"), "%s", out);
  unlink(json);
  unlink(path);
  rmdir(dir);
}

/* ---------------------------------------------------------------- pc-cli */

static int run_cli_redir(const char *args, char *out, size_t cap, const char *redir) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s %s %s", PC_CLI_PATH, args, redir);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_cli(const char *args, char *out, size_t cap) { return run_cli_redir(args, out, cap, "2>/dev/null"); }

/* pc-cli wait prints why there is no receipt: exit 1 and one clear line. */
Test(gw_server, cli_wait_prints_rejected_and_not_held, .init = start_default, .fini = stop_server) {
  char dir[] = "/tmp/pc_gw_cli_XXXXXX", path[128], args[512];
  static char out[8192];
  write_cluster(CHAIN, dir, path, sizeof path);
  uint16_t port = pc_gw_server_port(S);
  snprintf(args, sizeof args, "-g 127.0.0.1:%u -c %s wait %s --wait 1000", port, path,
           "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e");
  cr_assert_eq(run_cli_redir(args, out, sizeof out, "2>&1"), 1, "%s", out);
  cr_assert_not_null(strstr(out, ": rejected: nonce_used ("), "%s", out);
  snprintf(args, sizeof args, "-g 127.0.0.1:%u -c %s wait %s --wait 50", port, path,
           "7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a");
  cr_assert_eq(run_cli_redir(args, out, sizeof out, "2>&1"), 1, "%s", out);
  cr_assert_not_null(strstr(out, "not held here (receipts from height 40): ask another replica"), "%s", out);
  unlink(path);
  rmdir(dir);
}

Test(gw_server, cli_query_verifies_and_exit_codes, .init = start_default, .fini = stop_server) {
  char dir[] = "/tmp/pc_gw_cli_XXXXXX", bad_dir[] = "/tmp/pc_gw_cli_XXXXXX";
  char path[128], bad[128], args[512];
  static char out[8192];
  write_cluster(CHAIN, dir, path, sizeof path);
  write_cluster(CHAIN + 1, bad_dir, bad, sizeof bad);
  uint16_t port = pc_gw_server_port(S);
  /* "ehello" in kv = 6568656c6c6f; value "world" */
  snprintf(args, sizeof args, "-g 127.0.0.1:%u -c %s query --contract kv --key-hex 6568656c6c6f", port, path);
  cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
  cr_assert_not_null(strstr(out, "value 776f726c64\n"), "%s", out);
  cr_assert_not_null(strstr(out, "proof verified"), "%s", out);
  /* a cluster file for another chain: the proof must not verify */
  snprintf(args, sizeof args, "-g 127.0.0.1:%u -c %s query --contract kv --key-hex 6568656c6c6f", port, bad);
  cr_assert_eq(run_cli(args, out, sizeof out), 1, "%s", out);
  cr_assert_null(strstr(out, "proof verified"), "%s", out);
  /* receipt wait, verified */
  char hex[PC_HASH_HEX_SIZE];
  snprintf(args, sizeof args, "-g 127.0.0.1:%u -c %s wait %s --wait 1000", port, path, pc_hash_to_hex(&F.tx[1], hex));
  cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
  cr_assert_not_null(strstr(out, "proof verified"), "%s", out);
  /* usage errors, connection errors */
  cr_assert_eq(run_cli("--help", out, sizeof out), 0);
  cr_assert_eq(run_cli("frobnicate", out, sizeof out), 2);
  snprintf(args, sizeof args, "-g 127.0.0.1:%u query --contract kv --key-hex 00", port);
  cr_assert_eq(run_cli(args, out, sizeof out), 2, "verifying without --cluster must be a usage error");
  cr_assert_eq(run_cli("-g 127.0.0.1:1 status", out, sizeof out), 3);
  snprintf(args, sizeof args, "-g 127.0.0.1:%u status", port);
  cr_assert_eq(run_cli(args, out, sizeof out), 0, "%s", out);
  cr_assert_not_null(strstr(out, "decided 7\n"), "%s", out);
  unlink(path);
  unlink(bad);
  rmdir(dir);
  rmdir(bad_dir);
}
