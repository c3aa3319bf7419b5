/* bench_gateway.c — gateway micro-benchmarks (a program, never a test).
 *
 *   1. STATUS round trips/s over 127.0.0.1 with 64 pipelined, against a
 *      baseline measured in the same run: a plain blocking echo thread
 *      returning frames of the same size (kernel TCP + one thread).
 *   2. SUBMIT of 64-transaction frames: transactions/s through the codec
 *      and server into a backend that only decodes them (no signature).
 *   3. Client receipt verification (4 replicas, q = 3 signatures) per
 *      second, against a baseline of single Ed25519 verifications.
 *
 * Usage: bench_gateway [SECONDS]    (-h, --help: usage)
 * SECONDS per measurement: a positive number up to 86400, default 2. A
 * malformed argument is reported on stderr with the usage and exit status
 * 2 before anything runs. Environment: none read. Run by `make bench`
 * (tools/scripts/bench.sh, section d: 2 s, 1 s with --quick).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "executor/executor.h"
#include "tools/cli/gwclient.h"
#include "txpool/client.h"
#include "tools/bench_args.h"

static atomic_bool stop_srv;
static pc_gw_server_t *S;

static int b_submit(void *ctx, const uint8_t *tx, size_t len) {
  (void)ctx;
  pc_tx_t t;
  return pc_tx_decode(tx, len, &t);
}
static int b_receipt(void *ctx, const pc_hash_t *h, pc_gw_receipt_ans_t *a) {
  (void)ctx, (void)h, (void)a;
  return PC_ERR_NOT_FOUND;
}
static int b_query(void *ctx, uint64_t height, const uint8_t *k, size_t kl, pc_gw_query_ans_t *a) {
  (void)ctx, (void)height, (void)k, (void)kl, (void)a;
  return PC_ERR_NOT_FOUND;
}
static int b_block(void *ctx, uint64_t height, pc_block_t *b) {
  (void)ctx, (void)height, (void)b;
  return PC_ERR_NOT_FOUND;
}
static void b_status(void *ctx, pc_gw_status_t *s) {
  (void)ctx;
  s->chain_id = 1;
  s->healthy = true;
}

static void *srv_main(void *arg) {
  (void)arg;
  /* acquire: pairs with the release store in main */
  while (!atomic_load_explicit(&stop_srv, memory_order_acquire)) {
    pc_gw_server_poll(S, 1);
    pc_gw_server_housekeeping(S);
  }
  return NULL;
}

/* echo baseline: answer every STATUS-sized request with a STATUS-sized frame */
static int echo_lfd;
static size_t echo_req, echo_rsp;
static void *echo_main(void *arg) {
  (void)arg;
  int fd = accept(echo_lfd, NULL, NULL);
  if (fd < 0) return NULL;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  uint8_t in[1 << 16], out[1 << 16];
  memset(out, 0, sizeof out);
  size_t have = 0;
  for (;;) {
    ssize_t k = recv(fd, in + have, sizeof in - have, 0);
    if (k <= 0) break;
    have += (size_t)k;
    size_t n = have / echo_req;
    have %= echo_req;
    if (n && send(fd, out, n * echo_rsp, MSG_NOSIGNAL) < 0) break;
  }
  close(fd);
  return NULL;
}

static double round_trips(uint16_t port, double secs, const uint8_t *req, size_t req_len, size_t rsp_len) {
  pc_gwc_t *c = pc_gwc_connect("127.0.0.1", port, 2000);
  if (!c) return 0;
  int fd = pc_gwc_fd(c);
  uint8_t buf[1 << 16];
  unsigned window = 64, outstanding = 0;
  uint64_t done = 0, t0 = pc_now_ns(), end = t0 + (uint64_t)(secs * 1e9);
  size_t have = 0;
  while (pc_now_ns() < end) {
    while (outstanding < window) {
      if (pc_gwc_send(c, req, req_len, 2000)) goto out;
      outstanding++;
    }
    ssize_t k = recv(fd, buf + have, sizeof buf - have, 0);
    if (k < 0) { /* non-blocking socket: EAGAIN */
      struct pollfd p = {.fd = fd, .events = POLLIN};
      poll(&p, 1, 10);
      continue;
    }
    if (k == 0) break;
    have += (size_t)k;
    size_t n = have / rsp_len;
    have %= rsp_len;
    done += n;
    outstanding -= (unsigned)n;
  }
out:;
  double el = (double)(pc_now_ns() - t0) / 1e9;
  pc_gwc_close(c);
  return (double)done / el;
}

/* ------------------------------------------------------------ arguments */
static void usage(FILE *f) {
  fprintf(
      f,
      "usage: bench_gateway [SECONDS]\n"
      "Measures gateway STATUS, SUBMIT, receipt checks vs an echo thread and one Ed25519 verify (same run).\n"
      "  SECONDS     seconds per measurement, a positive number up to 86400 (default 2)\n"
      "  -h, --help  this text\n"
      "Environment: none read.\n"
      "Run by: make bench (tools/scripts/bench.sh, section d: 2 s; --quick 1 s).\n");
}

/* parse_secs returns the seconds per measurement of the command line or
 * exits: 0 after -h/--help, 2 after a malformed argument. */
static double parse_secs(int argc, char **argv) {
  bench_args_begin("bench_gateway", usage, argc, argv);
  if (argc > 2) bad_arg("unexpected argument '%s' (takes at most SECONDS)", argv[2]);
  return argc < 2 ? 2.0 : bench_parse_secs(argv[1]);
}

int main(int argc, char **argv) {
  double secs = parse_secs(argc, argv);
  pc_crypto_init();
  pc_log_set_level(PC_LOG_WARN);
  pc_gw_config_t cfg;
  pc_gw_config_defaults(&cfg);
  cfg.no_http = true;
  pc_gw_backend_t be = {.submit = b_submit, .receipt = b_receipt, .query = b_query, .block = b_block,
                        .status = b_status};
  S = pc_gw_server_new(&cfg, &be);
  if (!S) return 1;
  pthread_t t;
  pthread_create(&t, NULL, srv_main, NULL);

  /* 1. STATUS round trips vs echo */
  uint8_t req[64], rsp[256];
  long rl = pc_gw_enc_status(req, sizeof req, 1);
  pc_gw_status_t st = {0};
  long sl = pc_gw_enc_status_rsp(rsp, sizeof rsp, 1, &st);
  echo_req = (size_t)rl;
  echo_rsp = (size_t)sl;
  uint16_t eport;
  echo_lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(echo_lfd, (struct sockaddr *)&a, sizeof a) || listen(echo_lfd, 4) ||
      getsockname(echo_lfd, (struct sockaddr *)&a, &al))
    return 1;
  eport = ntohs(a.sin_port);
  pthread_t et;
  pthread_create(&et, NULL, echo_main, NULL);
  double echo = round_trips(eport, secs, req, (size_t)rl, (size_t)sl);
  pthread_join(et, NULL);
  close(echo_lfd);
  double gw = round_trips(pc_gw_server_port(S), secs, req, (size_t)rl, (size_t)sl);
  printf("status round trips/s (64 pipelined): gateway %.0f, echo baseline %.0f, ratio %.2f\n", gw, echo,
         echo > 0 ? gw / echo : 0);

  /* 2. SUBMIT of 64-tx frames */
  pc_client_key_t k;
  pc_client_key_generate(&k);
  static uint8_t txb[64][512];
  const uint8_t *txs[64];
  uint32_t lens[64];
  for (unsigned i = 0; i < 64; i++) {
    pc_client_tx_t tt = {.chain_id = 1, .nonce = i, .contract = "counter", .method = "add", .args = "\1\0\0\0\0\0\0\0",
                         .args_len = 8};
    lens[i] = (uint32_t)pc_client_tx_build(txb[i], sizeof txb[i], &k, &tt, NULL);
    txs[i] = txb[i];
  }
  static uint8_t frame[64 * 600];
  long fl = pc_gw_enc_submit(frame, sizeof frame, 1, txs, lens, 64);
  int codes[64];
  int cs[64];
  long rsl = pc_gw_enc_submit_rsp((uint8_t *)rsp, sizeof rsp, 1, (memset(cs, 0, sizeof cs), cs), 64);
  (void)codes;
  double sub = round_trips(pc_gw_server_port(S), secs, frame, (size_t)fl, (size_t)rsl) * 64;
  printf("submit (64 tx per frame, decode only): %.0f tx/s, ratio to status round trips %.2f\n", sub,
         gw > 0 ? sub / gw : 0);

  /* 3. receipt verification vs single Ed25519 verification */
  pc_gw_trust_t tr = {.chain_id = 1, .n = 4, .q = 3, .depth = 2};
  pc_client_key_t reps[4];
  for (unsigned i = 0; i < 4; i++) {
    pc_client_key_generate(&reps[i]);
    memcpy(tr.keys[i], reps[i].pk, 32);
  }
  uint8_t out8[8] = {0};
  pc_receipt_t r0 = {.status = 0, .budget_used = 1, .output = {out8, 8}};
  static uint8_t renc[64];
  int rlen = pc_receipt_encode(&r0, renc, sizeof renc);
  pc_hash_t leaves[16], rroot;
  for (unsigned i = 0; i < 16; i++) pc_hash_tagged(&leaves[i], "parachain/receipt", renc, (size_t)rlen);
  static pc_gw_receipt_ans_t ans;
  ans.height = 10;
  ans.index = 3;
  ans.count = 16;
  ans.receipt = renc;
  ans.receipt_len = (uint32_t)rlen;
  ans.n_branch = (uint8_t)pc_gw_receipt_branch(leaves, 16, 3, ans.branch);
  pc_gw_receipt_root_from_branch(renc, (size_t)rlen, 3, 16, ans.branch, ans.n_branch, &rroot);
  ans.cb.header = (pc_block_t){.chain_id = 1, .height = 12};
  pc_hash_pair(&ans.cb.header.exec_root, "parachain/exec-root", &ans.state_root, &rroot);
  pc_hash_t id;
  pc_block_id(&ans.cb.header, &id);
  pc_cert_init(&ans.cb.cert, PC_PROTO_SBFT, PC_CERT_COMMIT, 1, 12, 0, &id, 4);
  for (unsigned i = 0; i < 3; i++) {
    uint8_t sig[64];
    pc_vote_sign(sig, reps[i].sk, 1, PC_PROTO_SBFT, PC_PHASE_COMMIT, 12, 0, &id);
    pc_cert_add(&ans.cb.cert, (uint16_t)i, sig);
  }
  uint64_t n = 0, t0 = pc_now_ns(), end = t0 + (uint64_t)(secs * 1e9);
  while (pc_now_ns() < end)
    if (pc_gw_verify_receipt(&tr, &ans) == 0) n++;
  double vr = (double)n / ((double)(pc_now_ns() - t0) / 1e9);
  uint8_t msg[64] = {0}, sig[64];
  crypto_sign_detached(sig, NULL, msg, sizeof msg, reps[0].sk);
  n = 0;
  t0 = pc_now_ns();
  end = t0 + (uint64_t)(secs * 1e9);
  while (pc_now_ns() < end)
    if (crypto_sign_verify_detached(sig, msg, sizeof msg, reps[0].pk) == 0) n++;
  double ed = (double)n / ((double)(pc_now_ns() - t0) / 1e9);
  printf("receipt verification (q = 3 of 4): %.0f/s, single Ed25519 verify baseline %.0f/s, ratio %.3f\n", vr, ed,
         ed > 0 ? vr / ed : 0);

  /* release: pairs with the acquire load in srv_main */
  atomic_store_explicit(&stop_srv, true, memory_order_release);
  pthread_join(t, NULL);
  pc_gw_server_free(S);
  return 0;
}
