/* test_daemon_gw.c — four replicas in one process (dataplane loop
 * transport, one stage-runner thread), each with its client gateway on an
 * ephemeral 127.0.0.1 port. A client (tools/cli/gwclient.h) submits signed
 * token transactions through the gateways, WAITs for every receipt and
 * VERIFIES each receipt proof and query proofs against the cluster keys
 * alone (the library checks the Merkle branch, the exec root and the
 * certificate's signatures). Rounds: every sender has one transaction in
 * flight at a time (nonce k+1 only after nonce k's receipt), so no
 * transaction can be superseded and every receipt is demanded.
 * Bad client input (garbage, bad signature, wrong chain, replayed nonce,
 * exact replay) gets its per-transaction code and counter, and the replica
 * keeps serving. Bounded waits only; no timing assertions. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "dataplane/dataplane.h"
#include "executor/executor.h"
#include "node/node.h"
#include "node/node_int_private.h" /* node_pool_refused: the pool stage's report, stood in for below */
#include "tests/node/daemon/harness.h"
#include "tests/testutil.h"
#include "tools/cli/gwclient.h"
#include "txpool/client.h"
#include "txpool/txpool.h"

#define N 4
#define CHAIN 78
#define MAX_SENDERS 64
#define WAIT_MS 60000

typedef struct {
  pc_cluster_t cl;
  uint8_t sk[N][64];
  char dir[128];
  pc_dp_loop_t *loop;
  pc_node_t *node[N];
  pc_runner_t *run;
  pc_gwc_t *gw[N];
  pc_gw_trust_t trust;
  pc_gw_response_t *r;
} cluster_t;

static void make_cluster(cluster_t *c, uint8_t protocol) {
  memset(c, 0, sizeof *c);
  harness_cluster(&c->cl, c->sk, CHAIN, protocol, 0x9a, 21100, c->dir, sizeof c->dir, "pc-daemon-gw-test");
  c->cl.batch_size = 256;
  c->cl.window = 4; /* D = 8: receipts are provable 8 heights later */
  pc_gw_trust_from_cluster(&c->trust, &c->cl);
  c->r = malloc(sizeof *c->r);
  cr_assert_not_null(c->r);
}

/* Receipt heights kept by replica 3 (0 = default): a small bound makes it
 * evict, so it lacks the receipts of the oldest heights. */
static uint32_t rs_heights_of_3;

static void with_gateway(pc_node_opts_t *o, uint16_t i, void *user) {
  (void)user;
  o->gw.port = 0; /* ephemeral, 127.0.0.1 */
  o->gw.http_port = 0;
  if (i == 3) o->receipt_heights = rs_heights_of_3;
}

static void start(cluster_t *c) {
  c->loop = pc_dp_loop_create(N, 8192);
  cr_assert_not_null(c->loop);
  int t = harness_runner(&c->run);
  harness_add_all(c->run, t, c->node, N, &c->cl, c->sk, c->dir, c->loop, PC_NODE_STAGE_GATEWAY + 1, with_gateway,
                  NULL);
  cr_assert_eq(pc_runner_start(c->run), 0, "the replicas did not start");
  for (int i = 0; i < N; i++) {
    uint16_t port = 0, http = 0;
    cr_assert_eq(pc_node_gateway_ports(c->node[i], &port, &http), 0);
    cr_assert_gt(port, 0);
    cr_assert_gt(http, 0);
    c->gw[i] = pc_gwc_connect("127.0.0.1", port, 5000);
    cr_assert_not_null(c->gw[i], "cannot connect to replica %d's gateway", i);
  }
}

static void stop(cluster_t *c) {
  for (int i = 0; i < N; i++) {
    pc_gwc_close(c->gw[i]);
    c->gw[i] = NULL;
  }
  harness_stop(&c->run, c->node, &c->loop);
}

static void cleanup(cluster_t *c) {
  harness_rm(c->dir);
  free(c->r);
}

static void key_of(pc_client_key_t *k, unsigned i) {
  uint8_t seed[32] = {0};
  seed[0] = 0xc2;
  pc_store_le32(seed + 1, i);
  cr_assert_eq(pc_client_key_from_seed(k, seed), 0);
}

typedef struct {
  uint8_t buf[512];
  uint32_t len;
  pc_hash_t hash;
} tx_t;

static void build(tx_t *t, const pc_client_key_t *k, uint64_t chain, uint64_t nonce, const char *method,
                  const void *args, uint32_t alen) {
  pc_client_tx_t ct = {.chain_id = chain, .nonce = nonce, .contract = "token", .method = method, .args = args,
                       .args_len = alen};
  int len = pc_client_tx_build(t->buf, sizeof t->buf, k, &ct, &t->hash);
  cr_assert_gt(len, 0);
  t->len = (uint32_t)len;
}

/* Submits one transaction through replica r's gateway and returns its
 * per-transaction code, retrying while the gateway says PC_ERR_FULL
 * (backpressure) — bounded. */
static int submit_one(cluster_t *c, int r, const tx_t *t) {
  const uint8_t *p = t->buf;
  int code = PC_ERR_FULL;
  for (int tries = 0; tries < 2000 && code == PC_ERR_FULL; tries++) {
    cr_assert_eq(pc_gwc_submit(c->gw[r], &p, &t->len, 1, &code, 10000, c->r), 0, "SUBMIT to replica %d failed", r);
    if (code == PC_ERR_FULL) pc_sleep_ns(5000000);
  }
  return code;
}

/* WAITs for t's receipt at replica r and verifies it; checks status ok. */
static void wait_ok(cluster_t *c, int r, const tx_t *t) {
  int rc = pc_gwc_wait(c->gw[r], &t->hash, WAIT_MS, &c->trust, c->r);
  cr_assert_eq(rc, 0, "receipt from replica %d: %s", r, pc_strerror(rc));
  cr_assert_eq(c->r->code, 0);
  pc_receipt_t rc_;
  static pc_bytes_t ev[PC_EXEC_EVENTS_MAX];
  cr_assert_eq(pc_receipt_decode(c->r->receipt.receipt, c->r->receipt.receipt_len, &rc_, ev), 0);
  cr_assert_eq(rc_.status, PC_TX_OK, "transaction executed with status %s", pc_tx_status_name(rc_.status));
}

/* token.init and a mint of 1000 to each of n senders, by the admin key
 * (client key 1000), one at a time through rotating gateways. */
static void fund(cluster_t *c, const pc_client_key_t *s, unsigned n) {
  pc_client_key_t admin;
  key_of(&admin, 1000);
  tx_t t;
  uint64_t nonce = 0;
  build(&t, &admin, CHAIN, nonce++, "init", NULL, 0);
  cr_assert_eq(submit_one(c, 0, &t), 0);
  wait_ok(c, 1, &t);
  /* the mints: pipelined (consecutive nonces of one sender, all to replica
   * 0, whose pool orders them), then every receipt */
  static tx_t mint[MAX_SENDERS];
  for (unsigned i = 0; i < n; i++) {
    uint8_t a[40];
    memcpy(a, s[i].pk, 32);
    pc_store_le64(a + 32, 1000);
    build(&mint[i], &admin, CHAIN, nonce++, "mint", a, sizeof a);
    cr_assert_eq(submit_one(c, 0, &mint[i]), 0);
    wait_ok(c, (int)(i % N), &mint[i]);
  }
}

/* Verifies a query of sender's nonce key at the latest provable height:
 * proof, certified header, and the value itself. */
static void check_nonce(cluster_t *c, int r, const pc_client_key_t *k, uint64_t want) {
  uint8_t key[PC_EXEC_NONCE_KEY_LEN];
  pc_exec_nonce_key(key, k->pk);
  int rc = PC_ERR_AGAIN;
  for (int tries = 0; tries < 400; tries++) {
    rc = pc_gwc_query(c->gw[r], 0, key, sizeof key, 10000, &c->trust, c->r);
    cr_assert(rc == 0 || rc == PC_ERR_AGAIN, "query at replica %d: %s", r, pc_strerror(rc));
    if (rc == 0 && c->r->query.present && c->r->query.value_len == 8 &&
        pc_load_le64(c->r->query.value) == want)
      break;
    pc_sleep_ns(25000000);
  }
  cr_assert_eq(rc, 0);
  cr_assert(c->r->query.present, "nonce key absent at height %llu", (unsigned long long)c->r->query.height);
  cr_assert_eq(c->r->query.value_len, 8);
  cr_assert_eq(pc_load_le64(c->r->query.value), want, "verified nonce value");
}

static void run_transfers(uint8_t protocol) {
  rcu_register_thread();
  cluster_t *c = calloc(1, sizeof *c);
  make_cluster(c, protocol);
  start(c);
  unsigned senders = (unsigned)pc_test_iters(32);
  if (senders < 8) senders = 8;
  if (senders > MAX_SENDERS) senders = MAX_SENDERS;
  unsigned rounds = (unsigned)pc_test_iters(8);
  if (rounds < 2) rounds = 2;
  static pc_client_key_t s[MAX_SENDERS];
  for (unsigned i = 0; i < senders; i++) key_of(&s[i], i);
  fund(c, s, senders);
  static tx_t t[MAX_SENDERS];
  for (unsigned k = 0; k < rounds; k++) {
    for (unsigned i = 0; i < senders; i++) {
      uint8_t a[40];
      memcpy(a, s[(i + k + 1) % senders].pk, 32);
      pc_store_le64(a + 32, 1 + k);
      build(&t[i], &s[i], CHAIN, k, "transfer", a, sizeof a);
      cr_assert_eq(submit_one(c, (int)(i % N), &t[i]), 0, "round %u sender %u refused", k, i);
    }
    /* every receipt, from another replica than the one that took it */
    for (unsigned i = 0; i < senders; i++) wait_ok(c, (int)((i + 1) % N), &t[i]);
  }
  /* query proofs: each sender's nonce is `rounds` at the latest provable height */
  for (unsigned i = 0; i < senders; i += 7) check_nonce(c, (int)(i % N), &s[i], rounds);
  /* every replica executed the same transactions and agrees on the roots */
  pc_node_status_t st[N];
  uint64_t h = UINT64_MAX;
  for (int i = 0; i < N; i++) {
    pc_node_get_status(c->node[i], &st[i]);
    if (st[i].executed < h) h = st[i].executed;
    cr_assert_geq(st[i].txs_ok, 1 + senders * (1 + rounds), "replica %d: too few successes", i);
  }
  pc_hash_t ch0, er0;
  cr_assert_eq(pc_node_root_at(c->node[0], h, &ch0, &er0), 0);
  for (int i = 1; i < N; i++) {
    pc_hash_t ch, er;
    cr_assert_eq(pc_node_root_at(c->node[i], h, &ch, &er), 0);
    cr_assert(pc_hash_equal(&ch, &ch0) && pc_hash_equal(&er, &er0), "replica %d disagrees at %llu", i,
              (unsigned long long)h);
  }
  stop(c);
  cleanup(c);
  free(c);
  rcu_unregister_thread();
}

Test(daemon_gw, sbft_receipts_and_queries_verified, .timeout = 280) { run_transfers(PC_PROTO_SBFT); }

Test(daemon_gw, pbft_receipts_and_queries_verified, .timeout = 280) { run_transfers(PC_PROTO_PBFT); }

Test(daemon_gw, bad_client_input_refused_and_counted, .timeout = 280) {
  rcu_register_thread();
  cluster_t *c = calloc(1, sizeof *c);
  make_cluster(c, PC_PROTO_SBFT);
  start(c);
  pc_client_key_t s[2];
  key_of(&s[0], 0);
  key_of(&s[1], 1);
  fund(c, s, 2);
  uint8_t a[40];
  memcpy(a, s[1].pk, 32);
  pc_store_le64(a + 32, 5);
  tx_t ok0;
  build(&ok0, &s[0], CHAIN, 0, "transfer", a, sizeof a);
  cr_assert_eq(submit_one(c, 2, &ok0), 0);
  wait_ok(c, 2, &ok0);

  uint64_t rej0 = pc_reject_count(PC_DEC_TX, 1);
  /* a transaction that does not decode */
  tx_t bad;
  memset(bad.buf, 0xff, PC_TX_MIN_SIZE + 8);
  bad.len = PC_TX_MIN_SIZE + 8;
  int code = submit_one(c, 2, &bad);
  cr_assert_lt(code, 0, "garbage accepted");
  /* a bad signature */
  tx_t sig;
  build(&sig, &s[0], CHAIN, 1, "transfer", a, sizeof a);
  sig.buf[sig.len - 1] ^= 0x01;
  cr_assert_eq(submit_one(c, 2, &sig), PC_ERR_SIGNATURE);
  /* another chain */
  tx_t chain;
  build(&chain, &s[0], CHAIN + 1, 1, "transfer", a, sizeof a);
  cr_assert_eq(submit_one(c, 2, &chain), PC_ERR_CHAIN);
  /* a replayed nonce (new content, nonce 0 already executed) */
  tx_t replay;
  pc_store_le64(a + 32, 6);
  build(&replay, &s[0], CHAIN, 0, "transfer", a, sizeof a);
  cr_assert_eq(submit_one(c, 2, &replay), PC_ERR_NONCE);
  /* the very same transaction again */
  cr_assert_eq(submit_one(c, 2, &ok0), PC_ERR_DUPLICATE);
  cr_assert_geq(pc_reject_count(PC_DEC_TX, 1), rej0 + 3, "decoder/chain/signature refusals not counted");

  /* the replica keeps serving: a good transaction still gets a verified receipt */
  tx_t ok1;
  build(&ok1, &s[0], CHAIN, 1, "transfer", a, sizeof a);
  cr_assert_eq(submit_one(c, 2, &ok1), 0);
  wait_ok(c, 2, &ok1);
  pc_gw_status_t gs;
  cr_assert_eq(pc_gwc_status(c->gw[2], 5000, &gs, c->r), 0);
  cr_assert(gs.healthy);
  cr_assert_eq(gs.replica, 2);

  /* the counters (housekeeping copies them into the status) */
  pc_node_status_t st;
  for (int k = 0; k < 200; k++) {
    pc_node_get_status(c->node[2], &st);
    if (st.gw_accepted >= 2 && st.gw_duplicate >= 1) break;
    pc_sleep_ns(10000000);
  }
  cr_assert_geq(st.gw_bad_format, 1);
  cr_assert_eq(st.gw_bad_signature, 1);
  cr_assert_eq(st.gw_wrong_chain, 1);
  cr_assert_eq(st.gw_nonce_used, 1);
  cr_assert_eq(st.gw_duplicate, 1);
  cr_assert_geq(st.gw_accepted, 2);
  cr_assert_geq(st.gw_receipts, 2);
  stop(c);
  cleanup(c);
  free(c);
  rcu_unregister_thread();
}

/* GET path on the HTTP port of replica r; the whole answer into out. */
static size_t http_get(cluster_t *c, int r, const char *path, char *out, size_t cap) {
  uint16_t port = 0, http = 0;
  cr_assert_eq(pc_node_gateway_ports(c->node[r], &port, &http), 0);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert_geq(fd, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(http)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
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

Test(daemon_gw, metrics_export_node_counters_and_pass_promtool, .timeout = 280) {
  rcu_register_thread();
  cluster_t *c = calloc(1, sizeof *c);
  make_cluster(c, PC_PROTO_SBFT);
  start(c);
  pc_client_key_t s[1];
  key_of(&s[0], 0);
  fund(c, s, 1); /* two transactions with verified receipts at replica 1 */
  pc_node_status_t st;
  for (int k = 0; k < 200; k++) {
    pc_node_get_status(c->node[0], &st);
    if (st.gw_accepted >= 2 && st.txs_ok >= 2) break;
    pc_sleep_ns(10000000);
  }
  static char buf[1 << 17];
  http_get(c, 0, "/health", buf, sizeof buf);
  cr_assert(strncmp(buf, "HTTP/1.0 200", 12) == 0, "%s", buf);
  size_t n = http_get(c, 0, "/metrics", buf, sizeof buf);
  cr_assert(strncmp(buf, "HTTP/1.0 200", 12) == 0, "%s", buf);
  char *body = strstr(buf, "\r\n\r\n");
  cr_assert_not_null(body);
  body += 4;
  cr_assert_not_null(strstr(body, "parachain_gw_accepted_total 2\n"), "%s", body);
  cr_assert_not_null(strstr(body, "parachain_txs_ok_total "));
  cr_assert_not_null(strstr(body, "parachain_decided_height "));
  cr_assert_not_null(strstr(body, "parachain_receipts_heights "));
  cr_assert_not_null(strstr(body, "parachain_gateway_"), "the server's own counters");
  /* the dataplane's drops by reason, the pool's gossip and in-flight
   * figures, the remembered refusals (all zero here: nothing hostile) */
  const char *rows[] = {"parachain_dp_malformed_frames_total 0\n", "parachain_dp_bad_mac_total 0\n",
                        "parachain_dp_replays_total ", "parachain_dp_retransmits_total ",
                        "parachain_dp_link_down_total ", "parachain_pool_gossip_bad_batches_total 0\n",
                        "parachain_pool_senders_in_flight ", "parachain_pool_refused_noted_total 0\n",
                        "parachain_gw_wait_rejected_total 0\n", "parachain_gateway_tx_statuses_total 0\n"};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    cr_assert_not_null(strstr(body, rows[i]), "no row %s in /metrics", rows[i]);
  if (system("command -v promtool >/dev/null 2>&1") != 0) {
    cr_log_warn("promtool not installed (Debian package prometheus): skipping the promtool check only");
  } else {
    char path[] = "/tmp/pc_daemon_metrics_XXXXXX";
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
  stop(c);
  cleanup(c);
  free(c);
  rcu_unregister_thread();
}

/* A transaction the pool refuses after the gateway accepted it: two
 * transactions of one sender with the same nonce, both accepted by the
 * gateway (its nonce check only knows executed nonces); the pool keeps the
 * first and refuses the second (nonce_used). The pool stage reports such a
 * refusal with node_pool_refused, so a WAIT for the refused one answers
 * TXSTATUS "rejected: nonce_used", while the first gets its verified
 * receipt. A replica that did not
 * see the refusal answers a short WAIT with a plain timeout; replica 3,
 * which keeps only a few heights of receipts, says "not held here". */
Test(daemon_gw, wait_answers_rejected_and_not_held, .timeout = 280) {
  rcu_register_thread();
  cluster_t *c = calloc(1, sizeof *c);
  make_cluster(c, PC_PROTO_SBFT);
  rs_heights_of_3 = 1; /* raised to the minimum, D + 4 */
  start(c);
  rs_heights_of_3 = 0;
  pc_client_key_t s[2];
  key_of(&s[0], 0);
  key_of(&s[1], 1);
  fund(c, s, 2);
  uint8_t a[40];
  memcpy(a, s[1].pk, 32);
  tx_t first, second;
  pc_store_le64(a + 32, 5);
  build(&first, &s[0], CHAIN, 0, "transfer", a, sizeof a);
  pc_store_le64(a + 32, 7);
  build(&second, &s[0], CHAIN, 0, "transfer", a, sizeof a);
  cr_assert_eq(submit_one(c, 2, &first), 0);
  cr_assert_eq(submit_one(c, 2, &second), 0, "the gateway cannot know the pool holds nonce 0 already");

  int rc = pc_gwc_wait(c->gw[2], &second.hash, WAIT_MS, &c->trust, c->r);
  cr_assert_eq(rc, PC_ERR_NONCE, "WAIT for the refused transaction: %s", pc_strerror(rc));
  cr_assert_eq(c->r->type, PC_GW_RSP_TXSTATUS);
  cr_assert_eq(c->r->tx_status, PC_GW_TX_REJECTED);
  cr_assert_str_eq(c->r->msg, "nonce_used");
  char text[PC_GW_MSG_MAX + 96];
  pc_gwc_wait_text(rc, c->r, text, sizeof text);
  cr_assert(strncmp(text, "rejected: nonce_used", 20) == 0, "client text: %s", text);
  wait_ok(c, 2, &first);

  /* replica 1 knows nothing of the refusal: an ordinary timeout */
  rc = pc_gwc_wait(c->gw[1], &second.hash, 200, &c->trust, c->r);
  cr_assert_eq(rc, PC_ERR_TIMEOUT, "replica 1: %s", pc_strerror(rc));
  cr_assert_eq(c->r->type, PC_GW_RSP_RECEIPT);

  /* replica 3 keeps D + 4 heights: once it evicted height 1, an unknown
   * hash is "not held here" (maybe older than what it holds) */
  pc_node_status_t st;
  for (int k = 0; k < 1200; k++) {
    pc_node_get_status(c->node[3], &st);
    if (st.rs_evicted > 0) break;
    pc_sleep_ns(50000000ull);
  }
  cr_assert_gt(st.rs_evicted, 0, "replica 3 evicted no height");
  rc = pc_gwc_wait(c->gw[3], &second.hash, 200, &c->trust, c->r);
  cr_assert_eq(rc, PC_ERR_NOT_FOUND, "replica 3: %s", pc_strerror(rc));
  cr_assert_eq(c->r->type, PC_GW_RSP_TXSTATUS);
  cr_assert_eq(c->r->tx_status, PC_GW_TX_NOT_HELD);
  cr_assert_gt(c->r->held_from, 1);
  pc_gwc_wait_text(rc, c->r, text, sizeof text);
  cr_assert_not_null(strstr(text, "ask another replica"), "client text: %s", text);

  /* counted */
  for (int k = 0; k < 200; k++) {
    pc_node_get_status(c->node[2], &st);
    if (st.refused_answered >= 1) break;
    pc_sleep_ns(10000000);
  }
  cr_assert_eq(st.refused_noted, 1);
  cr_assert_geq(st.refused_answered, 1);
  stop(c);
  cleanup(c);
  free(c);
  rcu_unregister_thread();
}
