/* parachain_bench.c — parachain-bench, the load generator.
 *
 * Every transaction is built and signed before the clock starts (many
 * senders, consecutive nonces each, so a per-sender nonce window never
 * blocks). Then, over C connections, each transaction is SUBMITted and a
 * WAIT for its receipt pipelined right behind it; latency is from the
 * submit to the receipt (which the node sends only once the block is
 * durable, executed and certified D heights later).
 *
 * Modes: open loop (--rate R: transaction i is sent at i/R seconds, late
 * sends are counted) and closed loop (--outstanding K in flight).
 *
 * Connections: every transaction of one sender goes over the same
 * connection (sender mod C), so a gateway receives each sender's nonces in
 * order. Backpressure: a SUBMIT answered PC_ERR_FULL (the replica's intake
 * ring is full) is sent again after a back-off (1 ms doubling to 64 ms per
 * transaction); its WAIT stays pending on the server, and its latency
 * still counts from the first submit. Any other refusal is final.
 * A WAIT answered PC_ERR_NOT_FOUND (the replica does not know the
 * transaction yet: its gateway answers that instead of waiting) is sent
 * again every 50 ms until the transaction's own --wait-ms has passed.
 *
 * Argument encodings of the built-in contracts (executor.h) are written
 * here, since executor/ exports no encoder: token.transfer(to[32], u64),
 * kv.put(u16 n, name[n], value), counter.add(u64), compute.run(u32, [32]).
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor/executor.h"
#include "tools/cli/gwclient.h"
#include "txpool/client.h"

#define CONNS_MAX 64
#define WAITS_PER_CONN 4000 /* below the server's default max_waits */
#define FUND_WINDOW 30      /* unanswered funding transactions: below the pools' nonce gap (32) */

typedef enum { W_TRANSFER, W_ZIPF, W_KV, W_COUNTER, W_PLUGIN, W_NOOP } workload_t;
static const char *wl_names[] = {"transfer", "transfer-zipf", "kv", "counter", "plugin", "noop"};

typedef struct {
  uint8_t *bytes;
  uint32_t len;
  pc_hash_t hash;
  uint64_t t_submit, t_done;
  int8_t submit_code; /* 0, or the rejection */
  int8_t receipt;     /* -1 pending, else receipt status; -2 error/timeout */
  bool sent;
  uint8_t backoff; /* PC_ERR_FULL retries so far */
  int8_t wait_code; /* the code of a WAIT answered without a receipt (or of an ERROR answer) */
} txrec_t;

/* Transactions refused with PC_ERR_FULL, to be submitted again at `due`
 * (or, with RETRY_WAIT set in the index, whose WAIT is to be sent again)
 * (FIFO: every entry gets the same or a later due time than the one
 * before it per back-off step, close enough for a load generator). */
#define RETRY_WAIT (1ul << (sizeof(unsigned long) * 8 - 1))
typedef struct {
  unsigned long *ti;
  uint64_t *due;
  size_t head, n, cap;
} retryq_t;

static int retry_push(retryq_t *q, unsigned long ti, uint64_t due) {
  if (q->n == q->cap) return -1;
  size_t at = (q->head + q->n++) % q->cap;
  q->ti[at] = ti;
  q->due[at] = due;
  return 0;
}

static void usage(FILE *f) {
  fputs("usage: parachain-bench --cluster FILE [options]\n"
        "\n"
        "  -g, --gateway HOST:PORT[,HOST:PORT…]  gateways [127.0.0.1:7700]\n"
        "  -c, --cluster FILE      cluster file (chain id; keys for --verify)\n"
        "  -w, --workload W        transfer | transfer-zipf | kv | counter | plugin | noop [transfer]\n"
        "      --mode M            open | closed [closed]\n"
        "  -r, --rate R            open loop: transactions per second [1000]\n"
        "  -k, --outstanding K     closed loop: transactions in flight [256]\n"
        "  -d, --duration S        seconds of load [10]\n"
        "  -n, --txs N             transactions to pre-sign [open: rate*duration, closed: 200000]\n"
        "      --senders S         distinct signing keys [1024]\n"
        "      --sender-window N   unanswered transactions per sender at most [16]; keep it\n"
        "                          below the pools' nonce gap limit (32), or they drop the rest\n"
        "      --accounts A        transfer targets [10000]\n"
        "      --zipf THETA        Zipf exponent for transfer-zipf [0.99]\n"
        "      --plugin NAME --method M [--args-hex HEX]   plugin workload\n"
        "      --conns C           gateway connections [1]\n"
        "      --fund              before the clock: token.init and mint to every sender\n"
        "      --verify            verify every receipt proof (costs q signature checks each)\n"
        "      --wait-ms MS        receipt wait per transaction [30000]\n"
        "      --quiet             no progress line\n"
        "      --missing FILE      write the hex hash of every transaction left without a\n"
        "                          receipt (one a line: index sender nonce connection hash,\n"
        "                          then no-answer or error=CODE, the PC_ERR_* the WAIT got)\n"
        "      --seed X            key and workload seed [1]\n"
        "      --csv FILE          append one CSV row (header if the file is new)\n"
        "      --json FILE         write the result as JSON\n"
        "  -h, --help\n",
        f);
}

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Zipf sampling by inverse CDF over a precomputed table. */
static double *zipf_cdf;
static unsigned zipf_pick(unsigned n, uint64_t *s) {
  double u = (double)(rng(s) >> 11) / 9007199254740992.0;
  unsigned lo = 0, hi = n - 1;
  while (lo < hi) {
    unsigned mid = (lo + hi) / 2;
    if (zipf_cdf[mid] < u)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static void account_of(uint8_t out[32], unsigned i) {
  memset(out, 0, 32);
  memcpy(out, "acct", 4);
  pc_store_le32(out + 4, i);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

typedef struct {
  char host[256];
  uint16_t port;
} addr_t;

static int parse_gateways(const char *s, addr_t *out, unsigned *n) {
  *n = 0;
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *colon = strrchr(tok, ':');
    if (!colon || *n == CONNS_MAX) return -1;
    *colon = 0;
    long p = strtol(colon + 1, NULL, 10);
    if (p <= 0 || p > 65535) return -1;
    snprintf(out[*n].host, sizeof out[*n].host, "%s", tok);
    out[(*n)++].port = (uint16_t)p;
  }
  return *n ? 0 : -1;
}

int main(int argc, char **argv) {
  static const struct option lo[] = {
      {"gateway", 1, 0, 'g'}, {"cluster", 1, 0, 'c'},  {"workload", 1, 0, 'w'}, {"mode", 1, 0, 'M'},
      {"rate", 1, 0, 'r'},    {"outstanding", 1, 0, 'k'}, {"duration", 1, 0, 'd'}, {"txs", 1, 0, 'n'},
      {"senders", 1, 0, 'S'}, {"accounts", 1, 0, 'A'}, {"zipf", 1, 0, 'Z'},     {"plugin", 1, 0, 'P'},
      {"method", 1, 0, 'm'},  {"args-hex", 1, 0, 'a'}, {"conns", 1, 0, 'C'},    {"fund", 0, 0, 'F'},
      {"verify", 0, 0, 'V'},  {"wait-ms", 1, 0, 'W'},  {"seed", 1, 0, 's'},     {"csv", 1, 0, 'x'},
      {"json", 1, 0, 'j'},    {"help", 0, 0, 'h'},     {"quiet", 0, 0, 'q'},
      {"sender-window", 1, 0, 'N'}, {"missing", 1, 0, 'X'}, {0, 0, 0, 0}};
  const char *gw = "127.0.0.1:7700", *cluster = NULL, *plugin = NULL, *method = NULL, *args_hex = "";
  const char *csv = NULL, *json = NULL, *missing = NULL;
  workload_t wl = W_TRANSFER;
  bool open_loop = false, fund = false, verify = false, quiet = false;
  double rate = 1000, duration = 10, theta = 0.99;
  unsigned long k_out = 256, n_txs = 0, senders = 1024, sender_window = 16, accounts = 10000, conns_n = 1, wait_ms = 30000;
  uint64_t seed = 1;
  int o;
  while ((o = getopt_long(argc, argv, "g:c:w:r:k:d:n:h", lo, NULL)) != -1) {
    switch (o) {
    case 'g': gw = optarg; break;
    case 'c': cluster = optarg; break;
    case 'w': {
      int found = -1;
      for (int i = 0; i < (int)PC_ARRAY_LEN(wl_names); i++)
        if (!strcmp(optarg, wl_names[i])) found = i;
      if (found < 0) {
        fprintf(stderr, "parachain-bench: unknown workload '%s'\n", optarg);
        return 2;
      }
      wl = (workload_t)found;
      break;
    }
    case 'M':
      if (strcmp(optarg, "open") && strcmp(optarg, "closed")) {
        fprintf(stderr, "parachain-bench: --mode is open or closed\n");
        return 2;
      }
      open_loop = !strcmp(optarg, "open");
      break;
    case 'r': rate = atof(optarg); break;
    case 'k': k_out = strtoul(optarg, NULL, 0); break;
    case 'd': duration = atof(optarg); break;
    case 'n': n_txs = strtoul(optarg, NULL, 0); break;
    case 'S': senders = strtoul(optarg, NULL, 0); break;
    case 'A': accounts = strtoul(optarg, NULL, 0); break;
    case 'Z': theta = atof(optarg); break;
    case 'P': plugin = optarg; break;
    case 'm': method = optarg; break;
    case 'a': args_hex = optarg; break;
    case 'C': conns_n = strtoul(optarg, NULL, 0); break;
    case 'F': fund = true; break;
    case 'V': verify = true; break;
    case 'W': wait_ms = strtoul(optarg, NULL, 0); break;
    case 's': seed = strtoull(optarg, NULL, 0); break;
    case 'x': csv = optarg; break;
    case 'j': json = optarg; break;
    case 'q': quiet = true; break;
    case 'X': missing = optarg; break;
    case 'N': sender_window = strtoul(optarg, NULL, 0); break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!cluster) {
    fprintf(stderr, "parachain-bench: --cluster FILE is required (chain id)\n");
    return 2;
  }
  if (rate <= 0 || duration <= 0 || k_out == 0 || senders == 0 || sender_window == 0 || accounts == 0 || conns_n == 0 ||
      conns_n > CONNS_MAX || wait_ms > PC_GW_WAIT_MAX_MS || theta <= 0) {
    fprintf(stderr, "parachain-bench: rate, duration, outstanding, senders, accounts, conns (≤ %d), zipf must be "
                    "positive; wait-ms ≤ %u\n", CONNS_MAX, PC_GW_WAIT_MAX_MS);
    return 2;
  }
  if (wl == W_PLUGIN && (!plugin || !method)) {
    fprintf(stderr, "parachain-bench: the plugin workload needs --plugin NAME and --method M\n");
    return 2;
  }
  if (!n_txs) n_txs = open_loop ? (unsigned long)(rate * duration) : 200000;
  if (n_txs == 0) n_txs = 1;
  pc_crypto_init();
  static pc_cluster_t cl;
  static pc_gw_trust_t trust;
  char err[512];
  if (pc_cluster_load(&cl, cluster, err, sizeof err)) {
    fprintf(stderr, "parachain-bench: %s\n", err);
    return 3;
  }
  pc_gw_trust_from_cluster(&trust, &cl);
  addr_t addrs[CONNS_MAX];
  unsigned n_addrs;
  if (parse_gateways(gw, addrs, &n_addrs)) {
    fprintf(stderr, "parachain-bench: --gateway must be HOST:PORT[,HOST:PORT…]\n");
    return 2;
  }
  size_t plen = strlen(args_hex);
  uint8_t *pargs = malloc(plen / 2 + 1);
  if (plen % 2 || (plen && pc_hex_decode(pargs, plen / 2, args_hex, plen))) {
    fprintf(stderr, "parachain-bench: --args-hex is not hex\n");
    return 2;
  }

  /* ---- keys and transactions, before the clock */
  fprintf(stderr, "parachain-bench: signing %lu transactions from %lu senders…\n", n_txs, senders);
  pc_client_key_t *keys = calloc(senders, sizeof *keys);
  txrec_t *tx = calloc(n_txs, sizeof *tx);
  uint64_t *lat = calloc(n_txs, sizeof *lat);
  if (!keys || !tx || !lat) return 3;
  for (unsigned long i = 0; i < senders; i++) {
    uint8_t sd[32] = "parachain-bench-sender";
    pc_store_le64(sd + 16, seed);
    pc_store_le64(sd + 24, i);
    pc_client_key_from_seed(&keys[i], sd);
  }
  if (wl == W_ZIPF) {
    zipf_cdf = malloc(sizeof *zipf_cdf * accounts);
    double sum = 0;
    for (unsigned long i = 0; i < accounts; i++) sum += 1.0 / pow((double)(i + 1), theta);
    double acc = 0;
    for (unsigned long i = 0; i < accounts; i++) zipf_cdf[i] = (acc += 1.0 / pow((double)(i + 1), theta) / sum);
  }
  uint64_t rs = seed * 0x1234567ull + 1;
  static uint8_t buf[PC_TX_MAX];
  for (unsigned long i = 0; i < n_txs; i++) {
    uint8_t a[64 + 8];
    uint32_t al = 0;
    pc_client_tx_t t = {.chain_id = cl.chain_id, .nonce = i / senders};
    uint8_t to[32];
    pc_tx_key_t wk[1];
    switch (wl) {
    case W_TRANSFER:
    case W_ZIPF:
      account_of(to, wl == W_ZIPF ? zipf_pick((unsigned)accounts, &rs) : (unsigned)(rng(&rs) % accounts));
      memcpy(a, to, 32);
      pc_store_le64(a + 32, 1);
      al = 40;
      t.contract = "token";
      t.method = "transfer";
      break;
    case W_KV: {
      uint64_t r = rng(&rs);
      pc_store_le16(a, 8);
      memcpy(a + 2, &r, 8);
      memcpy(a + 10, "value-01", 8);
      al = 18;
      t.contract = "kv";
      t.method = "put";
      break;
    }
    case W_COUNTER:
      pc_store_le64(a, 1);
      al = 8;
      t.contract = "counter";
      t.method = "add";
      wk[0] = (pc_tx_key_t){(const uint8_t *)"n", 1};
      t.declared = true;
      t.writes = wk;
      t.n_writes = 1;
      break;
    case W_PLUGIN:
      t.contract = plugin;
      t.method = method;
      break;
    case W_NOOP:
      /* compute.run with 0 rounds, no keys declared: ordering cost only */
      pc_store_le32(a, 0);
      pc_store_le64(a + 4, i);
      memset(a + 12, 0, 24);
      al = 36;
      t.contract = "compute";
      t.method = "run";
      t.declared = true;
      break;
    }
    t.args = wl == W_PLUGIN ? pargs : a;
    t.args_len = wl == W_PLUGIN ? (uint32_t)(plen / 2) : al;
    int len = pc_client_tx_build(buf, sizeof buf, &keys[i % senders], &t, &tx[i].hash);
    if (len < 0) {
      fprintf(stderr, "parachain-bench: cannot build transaction %lu: %s\n", i, pc_strerror(len));
      return 2;
    }
    tx[i].bytes = malloc((size_t)len);
    memcpy(tx[i].bytes, buf, (size_t)len);
    tx[i].len = (uint32_t)len;
    tx[i].receipt = -1;
  }

  /* ---- connections */
  pc_gwc_t *cs[CONNS_MAX];
  unsigned outstanding_c[CONNS_MAX] = {0};
  for (unsigned long i = 0; i < conns_n; i++) {
    cs[i] = pc_gwc_connect(addrs[i % n_addrs].host, addrs[i % n_addrs].port, 5000);
    if (!cs[i]) {
      fprintf(stderr, "parachain-bench: cannot connect to %s:%u\n", addrs[i % n_addrs].host, addrs[i % n_addrs].port);
      return 3;
    }
  }
  pc_gw_response_t *r = malloc(sizeof *r);
  if (!r) return 3;

  static uint8_t frame[PC_TX_MAX + 256];
  if (fund && (wl == W_TRANSFER || wl == W_ZIPF)) {
    /* admin = its own seed tag; token.init, then one mint per sender, all
     * from the one admin key. A pool admits a sender's nonces only up to a
     * gap ahead of its next one (txpool.h gap_limit, 32 by default) and
     * refuses the rest silently, so at most FUND_WINDOW of them are
     * unanswered at a time: send one more per receipt. Ids have the top
     * bit set so that late answers never match a transaction of the run. */
    pc_client_key_t admin;
    uint8_t sd[32] = "parachain-bench-admin";
    pc_store_le64(sd + 24, seed);
    pc_client_key_from_seed(&admin, sd);
    unsigned long total = senders + 1, fsent = 0, fgot = 0, fbad = 0;
    txrec_t *ft = calloc(total, sizeof *ft);
    if (!ft) return 3;
    for (unsigned long j = 0; j < total; j++) {
      uint8_t a[40];
      pc_client_tx_t t = {.chain_id = cl.chain_id, .nonce = j, .contract = "token"};
      if (j == 0) {
        t.method = "init";
      } else {
        memcpy(a, keys[j - 1].pk, 32);
        pc_store_le64(a + 32, 1000000000ull);
        t.method = "mint";
        t.args = a;
        t.args_len = 40;
      }
      int len = pc_client_tx_build(buf, sizeof buf, &admin, &t, &ft[j].hash);
      if (len < 0 || !(ft[j].bytes = malloc((size_t)len))) return 3;
      memcpy(ft[j].bytes, buf, (size_t)len);
      ft[j].len = (uint32_t)len;
    }
    /* One admin key: its mints are decided one nonce after another, and
     * only in heights whose proposer owns each one's bucket (1 in n when
     * nothing else is in flight), so funding takes about senders x n
     * heights: a WAIT covers the whole window ahead of it (the gateway's
     * longest WAIT), and funding gives up only when no receipt came for
     * wait_ms + 60 s — stalled, not slow. */
    uint32_t fwait_ms = PC_GW_WAIT_MAX_MS;
    uint64_t fstart = pc_now_ns(), fend = fstart + (uint64_t)wait_ms * 1000000ull + 60000000000ull;
    uint64_t fnext_note = fstart + 5000000000ull;
    while (fgot < total) {
      while (fsent < total && fsent - fgot < FUND_WINDOW) {
        const uint8_t *p[1] = {ft[fsent].bytes};
        long fl = pc_gw_enc_submit(frame, sizeof frame, 0x80000000u | (uint32_t)(2 * fsent + 1), p, &ft[fsent].len, 1);
        long wl2 = fl < 0 ? fl : pc_gw_enc_wait(frame + fl, sizeof frame - (size_t)fl,
                                                0x80000000u | (uint32_t)(2 * fsent + 2), &ft[fsent].hash,
                                                fwait_ms);
        if (wl2 < 0 || pc_gwc_send(cs[0], frame, (size_t)(fl + wl2), 10000)) {
          fprintf(stderr, "parachain-bench: cannot send funding transaction %lu\n", fsent);
          return 3;
        }
        fsent++;
      }
      uint64_t now = pc_now_ns();
      int rc = now >= fend ? PC_ERR_TIMEOUT : pc_gwc_recv(cs[0], (int)((fend - now) / 1000000ull) + 1, r);
      if (rc) {
        fprintf(stderr, "parachain-bench: funding stalled: no receipt for %lu ms (%lu of %lu receipts): %s\n",
                wait_ms + 60000, fgot, total, pc_strerror(rc));
        return 1;
      }
      if (!(r->id & 0x80000000u)) continue;
      unsigned long j = ((r->id & 0x7fffffffu) - 1) / 2;
      if (r->id % 2 == 1) { /* SUBMIT answer */
        if (r->type == PC_GW_RSP_SUBMIT && r->n_codes == 1 && r->codes[0] == PC_ERR_FULL && j < total) {
          /* the replica's intake was full: submit this one again (its WAIT stays) */
          pc_sleep_ns(2000000ull);
          const uint8_t *p[1] = {ft[j].bytes};
          long fl = pc_gw_enc_submit(frame, sizeof frame, r->id, p, &ft[j].len, 1);
          if (fl < 0 || pc_gwc_send(cs[0], frame, (size_t)fl, 10000)) return 3;
        } else if (r->type != PC_GW_RSP_SUBMIT || r->n_codes != 1 || r->codes[0]) {
          fprintf(stderr, "parachain-bench: funding transaction %lu refused: %s\n", j,
                  pc_strerror(r->type == PC_GW_RSP_SUBMIT && r->n_codes == 1 ? r->codes[0] : r->code));
          return 1;
        }
        continue;
      }
      if (r->type != PC_GW_RSP_RECEIPT || r->code) {
        fprintf(stderr, "parachain-bench: no receipt for funding transaction %lu: %s\n", j, pc_strerror(r->code));
        return 1;
      }
      if (verify && pc_gw_verify_receipt(&trust, &r->receipt)) {
        fprintf(stderr, "parachain-bench: the receipt of funding transaction %lu does not verify\n", j);
        return 1;
      }
      if (j >= total || ft[j].receipt) continue;
      ft[j].receipt = 1;
      if (!r->receipt.receipt_len || r->receipt.receipt[0] != PC_TX_OK) fbad++;
      fgot++;
      now = pc_now_ns();
      fend = now + (uint64_t)wait_ms * 1000000ull + 60000000000ull; /* progress: wait again */
      if (!quiet && now >= fnext_note) {
        fprintf(stderr, "parachain-bench: funding: %lu of %lu receipts after %.0f s\n", fgot, total,
                (double)(now - fstart) / 1e9);
        fnext_note = now + 5000000000ull;
      }
    }
    for (unsigned long j = 0; j < total; j++) free(ft[j].bytes);
    free(ft);
    if (fbad)
      fprintf(stderr, "parachain-bench: %lu of %lu funding transactions failed (a chain whose token another admin "
                      "initialised?): transfers will fail for lack of balance\n", fbad, total);
    fprintf(stderr, "parachain-bench: funded %lu senders in %.1f s\n", senders, (double)(pc_now_ns() - fstart) / 1e9);
    /* Funding can outlast a gateway's idle timeout (30 s by default), and
     * the connections it did not use sat idle meanwhile: the gateway may
     * have closed them. The run starts on fresh ones. */
    for (unsigned long i = 0; i < conns_n; i++) {
      pc_gwc_close(cs[i]);
      cs[i] = pc_gwc_connect(addrs[i % n_addrs].host, addrs[i % n_addrs].port, 5000);
      if (!cs[i]) {
        fprintf(stderr, "parachain-bench: cannot reconnect to %s:%u after funding\n", addrs[i % n_addrs].host,
                addrs[i % n_addrs].port);
        return 3;
      }
    }
  }

  /* ---- the run: request id = 2i+1 (SUBMIT) or 2i+2 (WAIT) */
  retryq_t rq = {.cap = 2 * n_txs}; /* a transaction is there at most twice: a submit and a wait */
  rq.ti = malloc(sizeof *rq.ti * rq.cap);
  rq.due = malloc(sizeof *rq.due * rq.cap);
  uint32_t *sender_busy = calloc(senders, sizeof *sender_busy); /* unanswered, per sender */
  if (!rq.ti || !rq.due || !sender_busy) return 3;
  uint64_t t0 = pc_now_ns(), deadline = t0 + (uint64_t)(duration * 1e9), next_progress = t0 + 1000000000ull;
  uint64_t drain_end = deadline + (uint64_t)wait_ms * 1000000ull, ran_out_at = 0;
  unsigned long next = 0, done = 0, in_flight = 0, late = 0, rejected = 0, failed = 0, errors = 0, ok = 0;
  unsigned long retries = 0, rewaits = 0;
  uint64_t ok_lat_n = 0, verify_fail = 0;
  bool tty = isatty(STDERR_FILENO);
#define CONN_OF(ti) ((unsigned)(((ti) % senders) % conns_n))
  for (;;) {
    uint64_t now = pc_now_ns();
    bool sending = now < deadline && next < n_txs;
    if (!sending && in_flight == 0) break;
    if (!sending && now > drain_end) break;
    if (now < deadline && next == n_txs && !ran_out_at) ran_out_at = now;
    /* submit again what was refused for backpressure, once its back-off ran out */
    while (rq.n && rq.due[rq.head] <= now) {
      unsigned long ti = rq.ti[rq.head] & ~RETRY_WAIT;
      bool rewait = rq.ti[rq.head] & RETRY_WAIT;
      rq.head = (rq.head + 1) % rq.cap;
      rq.n--;
      if (tx[ti].receipt != -1) continue;
      const uint8_t *p[1] = {tx[ti].bytes};
      long fl;
      if (rewait) {
        uint64_t left_ms = (tx[ti].t_submit + (uint64_t)wait_ms * 1000000ull - now) / 1000000ull;
        fl = pc_gw_enc_wait(frame, sizeof frame, (uint32_t)(2 * ti + 2), &tx[ti].hash, (uint32_t)left_ms);
      } else {
        fl = pc_gw_enc_submit(frame, sizeof frame, (uint32_t)(2 * ti + 1), p, &tx[ti].len, 1);
      }
      if (fl < 0 || pc_gwc_send(cs[CONN_OF(ti)], frame, (size_t)fl, 10000)) {
        fprintf(stderr, "parachain-bench: send failed on connection %u\n", CONN_OF(ti));
        return 3;
      }
    }
    /* send what the mode allows */
    while (sending && next < n_txs) {
      if (open_loop) {
        uint64_t due = t0 + (uint64_t)((double)next / rate * 1e9);
        if (due > now) break;
        if (now - due > 10000000ull) late++; /* more than 10 ms behind schedule */
      } else if (in_flight >= k_out) {
        break;
      }
      unsigned ci = CONN_OF(next);
      if (outstanding_c[ci] >= WAITS_PER_CONN || sender_busy[next % senders] >= sender_window) break;
      const uint8_t *p[1] = {tx[next].bytes};
      long fl = pc_gw_enc_submit(frame, sizeof frame, (uint32_t)(2 * next + 1), p, &tx[next].len, 1);
      long wl2 = pc_gw_enc_wait(frame + fl, sizeof frame - (size_t)fl, (uint32_t)(2 * next + 2), &tx[next].hash,
                                (uint32_t)wait_ms);
      if (fl < 0 || wl2 < 0 || pc_gwc_send(cs[ci], frame, (size_t)(fl + wl2), 10000)) {
        fprintf(stderr, "parachain-bench: send failed on connection %u\n", ci);
        return 3;
      }
      tx[next].t_submit = pc_now_ns();
      tx[next].sent = true;
      sender_busy[next % senders]++;
      outstanding_c[ci]++;
      in_flight++;
      next++;
    }
    /* read answers */
    struct pollfd pf[CONNS_MAX];
    for (unsigned long i = 0; i < conns_n; i++) pf[i] = (struct pollfd){.fd = pc_gwc_fd(cs[i]), .events = POLLIN};
    bool any_pending = false;
    for (unsigned long i = 0; i < conns_n; i++) any_pending |= pc_gwc_pending(cs[i]);
    if (!any_pending) poll(pf, conns_n, 1);
    for (unsigned long i = 0; i < conns_n; i++) {
      if (!any_pending && !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      for (int burst = 0; burst < 256; burst++) {
        int rc = pc_gwc_recv(cs[i], 0, r);
        if (rc == PC_ERR_TIMEOUT) break;
        if (rc) {
          fprintf(stderr, "\nparachain-bench: connection %lu to %s:%u: %s\n", i, addrs[i % n_addrs].host,
                  addrs[i % n_addrs].port, rc == PC_ERR_IO ? "closed by the gateway" : pc_strerror(rc));
          return 3;
        }
        if (r->id == 0 || (r->id - 1) / 2 >= n_txs) continue;
        unsigned long ti = (r->id - 1) / 2;
        txrec_t *x = &tx[ti];
        bool is_submit = (r->id % 2) == 1;
        if (x->receipt != -1) continue;
        if (is_submit) {
          if (r->type == PC_GW_RSP_SUBMIT && r->n_codes == 1 && r->codes[0] == PC_ERR_FULL) {
            unsigned b = x->backoff < 6 ? x->backoff : 6;
            if (x->backoff < 255) x->backoff++;
            retry_push(&rq, ti, pc_now_ns() + (1000000ull << b));
            retries++;
            continue;
          }
          if (r->type == PC_GW_RSP_SUBMIT && r->n_codes == 1 && r->codes[0]) {
            x->submit_code = r->codes[0];
            x->receipt = -2;
            rejected++;
          } else if (r->type == PC_GW_RSP_ERROR) {
            x->receipt = -2;
            x->wait_code = (int8_t)r->code;
            errors++;
          }
          if (x->receipt == -1) continue;
        } else if (r->type == PC_GW_RSP_RECEIPT && r->code == PC_ERR_NOT_FOUND &&
                   pc_now_ns() + 50000000ull < x->t_submit + (uint64_t)wait_ms * 1000000ull &&
                   rq.n < rq.cap) {
          /* not known there yet: ask again in 50 ms (still in flight) */
          retry_push(&rq, ti | RETRY_WAIT, pc_now_ns() + 50000000ull);
          rewaits++;
          continue;
        } else if (r->type == PC_GW_RSP_RECEIPT && r->code == 0) {
          if (verify && pc_gw_verify_receipt(&trust, &r->receipt)) verify_fail++;
          x->receipt = r->receipt.receipt_len ? (int8_t)r->receipt.receipt[0] : 0;
          x->t_done = pc_now_ns();
          lat[ok_lat_n++] = x->t_done - x->t_submit;
          if (x->receipt == PC_TX_OK)
            ok++;
          else
            failed++;
        } else {
          x->receipt = -2;
          x->wait_code = (int8_t)(r->code ? r->code : PC_ERR_INVALID);
          errors++;
        }
        /* the WAIT answer of a rejected tx still arrives; it was counted already */
        done++;
        in_flight--;
        sender_busy[ti % senders]--;
        outstanding_c[i]--;
      }
    }
    now = pc_now_ns();
    if (now >= next_progress && !quiet) {
      double el = (double)(now - t0) / 1e9;
      fprintf(stderr, "%s[%5.1fs] sent %lu  committed %lu  in flight %lu  tps %.0f  busy-retries %lu  rejected %lu  "
                      "errors %lu%s",
              tty ? "\r" : "", el, next, ok + failed, in_flight, (double)(ok + failed) / el, retries, rejected, errors,
              tty ? "   " : "\n");
      next_progress += 1000000000ull;
    }
  }
#undef CONN_OF
  if (tty && !quiet) fprintf(stderr, "\n");
  if (ran_out_at)
    fprintf(stderr, "parachain-bench: all %lu pre-signed transactions were sent %.1f s before the end: the rate is "
                    "capped by --txs, raise it\n", n_txs, (double)(deadline - ran_out_at) / 1e9);
  if (rewaits)
    fprintf(stderr, "parachain-bench: %lu WAITs answered 'not found' were asked again\n", rewaits);
  if (in_flight)
    fprintf(stderr, "parachain-bench: %lu transactions got no receipt within --wait-ms %lu after the load stopped\n",
            in_flight, wait_ms);
  if (missing) {
    FILE *f = fopen(missing, "w");
    for (unsigned long i = 0; f && i < next; i++) {
      if (tx[i].receipt != -1 && !(tx[i].receipt == -2 && !tx[i].submit_code)) continue;
      char hx[65];
      pc_hex_encode(hx, tx[i].hash.b, 32);
      if (tx[i].receipt == -1)
        fprintf(f, "%lu %lu %lu %u %s no-answer\n", i, i % senders, i / senders, (unsigned)((i % senders) % conns_n), hx);
      else
        fprintf(f, "%lu %lu %lu %u %s error=%d\n", i, i % senders, i / senders, (unsigned)((i % senders) % conns_n),
                hx, tx[i].wait_code);
    }
    if (!f || fclose(f)) fprintf(stderr, "parachain-bench: cannot write %s\n", missing);
  }
  double elapsed = (double)(pc_now_ns() - t0) / 1e9;
  /* throughput over the time receipts kept coming: from the start to the
   * last receipt (a transaction that never gets one must not stretch it) */
  uint64_t t_last = t0;
  for (unsigned long i = 0; i < next; i++)
    if (tx[i].t_done > t_last) t_last = tx[i].t_done;
  double span = t_last > t0 ? (double)(t_last - t0) / 1e9 : elapsed;
  qsort(lat, ok_lat_n, sizeof *lat, cmp_u64);
#define PCT(p) (ok_lat_n ? (double)lat[(size_t)((double)(ok_lat_n - 1) * (p))] / 1e6 : 0.0)
  double p50 = PCT(0.50), p99 = PCT(0.99), p999 = PCT(0.999);
  double tps = (double)(ok + failed) / span;
  printf("%-14s %-6s %8s %8s %8s %8s %8s %8s %8s %10s %9s %9s %9s\n", "workload", "mode", "sent", "ok", "failed",
         "rejected", "errors", "late", "busy", "tps", "p50_ms", "p99_ms", "p999_ms");
  printf("%-14s %-6s %8lu %8lu %8lu %8lu %8lu %8lu %8lu %10.1f %9.2f %9.2f %9.2f\n", wl_names[wl],
         open_loop ? "open" : "closed", next, ok, failed, rejected, errors + in_flight, late, retries, tps, p50, p99,
         p999);
  if (verify) printf("receipt proofs: %" PRIu64 " verified, %" PRIu64 " failed\n", ok_lat_n - verify_fail, verify_fail);
  if (csv) {
    FILE *f = fopen(csv, "a+");
    if (f) {
      fseek(f, 0, SEEK_END);
      if (ftell(f) == 0)
        fprintf(f, "workload,mode,sent,ok,failed,rejected,errors,late,seconds,tps,p50_ms,p99_ms,p999_ms,busy\n");
      fprintf(f, "%s,%s,%lu,%lu,%lu,%lu,%lu,%lu,%.3f,%.1f,%.3f,%.3f,%.3f,%lu\n", wl_names[wl],
              open_loop ? "open" : "closed", next, ok, failed, rejected, errors + in_flight, late, span, tps, p50, p99,
              p999, retries);
      fclose(f);
    } else {
      fprintf(stderr, "parachain-bench: cannot write %s\n", csv);
    }
  }
  if (json) {
    FILE *f = fopen(json, "w");
    if (f) {
      fprintf(f,
              "{\"workload\":\"%s\",\"mode\":\"%s\",\"sent\":%lu,\"ok\":%lu,\"failed\":%lu,\"rejected\":%lu,"
              "\"errors\":%lu,\"late\":%lu,\"seconds\":%.3f,\"tps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
              "\"p999_ms\":%.3f,\"verify_failed\":%" PRIu64 ",\"busy\":%lu}\n",
              wl_names[wl], open_loop ? "open" : "closed", next, ok, failed, rejected, errors + in_flight, late, span,
              tps, p50, p99, p999, verify_fail, retries);
      fclose(f);
    } else {
      fprintf(stderr, "parachain-bench: cannot write %s\n", json);
    }
  }
  for (unsigned long i = 0; i < conns_n; i++) pc_gwc_close(cs[i]);
  for (unsigned long i = 0; i < n_txs; i++) free(tx[i].bytes);
  free(tx);
  free(lat);
  free(keys);
  free(r);
  free(pargs);
  free(zipf_cdf);
  free(rq.ti);
  free(rq.due);
  free(sender_busy);
  return errors || in_flight || verify_fail ? 1 : 0;
}
