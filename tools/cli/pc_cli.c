/* pc_cli.c — pc-cli, the command-line client of the gateway.
 *
 * Exit codes: 0 success; 1 the node answered but the operation failed
 * (transaction rejected, receipt/query proof does not verify, not found,
 * timeout); 2 usage error; 3 cannot connect or talk to the gateway, or
 * cannot read a file.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli/gwclient.h"
#include "txpool/client.h"

#define EX_FAIL 1
#define EX_USAGE 2
#define EX_CONN 3

static void usage(FILE *f) {
  fputs("usage: pc-cli [options] COMMAND [command options]\n"
        "\n"
        "Talks to a ParaChain gateway and verifies every receipt and query\n"
        "proof against the cluster file (certificate signatures, quorum,\n"
        "execution root of height h certified in block h + D).\n"
        "\n"
        "options:\n"
        "  -g, --gateway HOST:PORT  gateway address [127.0.0.1:7700]\n"
        "  -c, --cluster FILE       cluster file: chain id, keys, quorum, D (needed to\n"
        "                           build transactions and to verify proofs)\n"
        "  -t, --timeout MS         network timeout [10000]\n"
        "      --no-verify          print answers without verifying (not recommended)\n"
        "  -h, --help               this text\n"
        "\n"
        "commands:\n"
        "  submit --key FILE --contract C --method M [--args-hex HEX] --nonce N\n"
        "         [--expiry H] [--wait MS]      build, sign and submit a transaction\n"
        "  submit --raw-hex HEX [--wait MS]     submit an already encoded transaction\n"
        "  wait TXHASH [--wait MS]              wait for a receipt (verified)\n"
        "  query --contract C --key-hex HEX [--height H]\n"
        "  query --state-key-hex HEX [--height H]   value or absence (verified)\n"
        "  status                               node status\n"
        "  follow [--from H] [--count N]        print decided heights as they come\n"
        "\n"
        "exit codes: 0 ok, 1 operation failed or proof rejected, 2 usage, 3 connection\n",
        f);
}

static int die_usage(const char *msg) {
  fprintf(stderr, "pc-cli: %s (see pc-cli --help)\n", msg);
  return EX_USAGE;
}

static int parse_u64(const char *s, uint64_t *out) {
  char *e;
  if (!s || !*s || *s == '-') return -1;
  *out = strtoull(s, &e, 0);
  return *e ? -1 : 0;
}

static int hex_arg(const char *hex, uint8_t **out, size_t *n) {
  size_t hl = strlen(hex);
  if (hl % 2) return -1;
  *n = hl / 2;
  *out = malloc(*n ? *n : 1);
  if (!*out) return -1;
  if (*n && pc_hex_decode(*out, *n, hex, hl)) {
    free(*out);
    return -1;
  }
  return 0;
}

static void print_hex(const char *label, const uint8_t *p, size_t n) {
  printf("%s", label);
  for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
  printf("\n");
}

typedef struct {
  pc_gwc_t *c;
  pc_gw_trust_t *trust; /* NULL with --no-verify */
  bool have_cluster;
  bool no_verify;
  pc_cluster_t *cluster;
  int timeout;
  pc_gw_response_t *r;
} ctx_t;

static int print_receipt(ctx_t *x, const pc_hash_t *h, uint32_t wait_ms) {
  if (!x->trust && !x->no_verify) return die_usage("verifying a receipt needs --cluster FILE (or --no-verify)");
  int rc = pc_gwc_wait(x->c, h, wait_ms, x->trust, x->r);
  char hex[PC_HASH_HEX_SIZE];
  if (rc == PC_ERR_IO) {
    fprintf(stderr, "pc-cli: connection lost while waiting\n");
    return EX_CONN;
  }
  if (rc) {
    char why[PC_GW_MSG_MAX + 96];
    fprintf(stderr, "pc-cli: no verified receipt for %s: %s\n", pc_hash_to_hex(h, hex),
            pc_gwc_wait_text(rc, x->r, why, sizeof why));
    return EX_FAIL;
  }
  const pc_gw_receipt_ans_t *a = &x->r->receipt;
  printf("tx %s\nheight %" PRIu64 " index %u of %u\n", pc_hash_to_hex(h, hex), a->height, a->index, a->count);
  if (a->receipt_len >= 1) printf("status %u\n", a->receipt[0]);
  print_hex("receipt ", a->receipt, a->receipt_len);
  printf(x->trust ? "proof verified (certified at height %" PRIu64 ")\n" : "proof NOT verified (--no-verify)\n",
         a->cb.header.height);
  return 0;
}

static int cmd_submit(ctx_t *x, int argc, char **argv) {
  static const struct option lo[] = {{"key", 1, 0, 'k'},     {"contract", 1, 0, 'C'}, {"method", 1, 0, 'm'},
                                     {"args-hex", 1, 0, 'a'}, {"nonce", 1, 0, 'n'},    {"expiry", 1, 0, 'e'},
                                     {"raw-hex", 1, 0, 'r'},  {"wait", 1, 0, 'w'},     {0, 0, 0, 0}};
  const char *key = NULL, *contract = NULL, *method = NULL, *args = "", *raw = NULL;
  uint64_t nonce = 0, expiry = 0, wait = 0;
  bool have_nonce = false;
  optind = 0; /* glibc: 0 re-initialises getopt (ordering of the new option string) */
  int o;
  while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (o) {
    case 'k': key = optarg; break;
    case 'C': contract = optarg; break;
    case 'm': method = optarg; break;
    case 'a': args = optarg; break;
    case 'r': raw = optarg; break;
    case 'n':
      if (parse_u64(optarg, &nonce)) return die_usage("--nonce needs an unsigned integer");
      have_nonce = true;
      break;
    case 'e':
      if (parse_u64(optarg, &expiry)) return die_usage("--expiry needs an unsigned integer");
      break;
    case 'w':
      if (parse_u64(optarg, &wait) || wait > PC_GW_WAIT_MAX_MS) return die_usage("--wait needs milliseconds ≤ 600000");
      break;
    default: return die_usage("bad submit option");
    }
  }
  static uint8_t tx[PC_TX_MAX];
  size_t txlen;
  pc_hash_t h;
  if (raw) {
    uint8_t *b;
    if (hex_arg(raw, &b, &txlen) || txlen > PC_TX_MAX) return die_usage("--raw-hex is not hex or too long");
    memcpy(tx, b, txlen);
    free(b);
    pc_tx_hash_bytes(&h, tx, txlen);
  } else {
    if (!key || !contract || !method || !have_nonce)
      return die_usage("submit needs --key, --contract, --method and --nonce (or --raw-hex)");
    if (!x->have_cluster) return die_usage("submit needs --cluster (for the chain id)");
    pc_client_key_t k;
    int rc = pc_client_key_load(&k, key);
    if (rc) {
      fprintf(stderr, "pc-cli: cannot load key file %s: %s\n", key, pc_strerror(rc));
      return EX_CONN;
    }
    uint8_t *a;
    size_t al;
    if (hex_arg(args, &a, &al)) return die_usage("--args-hex is not hex");
    pc_client_tx_t t = {.chain_id = x->cluster->chain_id, .nonce = nonce, .expiry_height = expiry,
                        .contract = contract, .method = method, .args = a, .args_len = (uint32_t)al};
    rc = pc_client_tx_build(tx, sizeof tx, &k, &t, &h);
    pc_client_key_wipe(&k);
    free(a);
    if (rc < 0) {
      fprintf(stderr, "pc-cli: cannot build the transaction: %s\n", pc_strerror(rc));
      return EX_USAGE;
    }
    txlen = (size_t)rc;
  }
  const uint8_t *txs[1] = {tx};
  uint32_t lens[1] = {(uint32_t)txlen};
  int code = 0;
  int rc = pc_gwc_submit(x->c, txs, lens, 1, &code, x->timeout, x->r);
  if (rc) {
    fprintf(stderr, "pc-cli: submit failed: %s\n", pc_strerror(rc));
    return rc == PC_ERR_IO || rc == PC_ERR_TIMEOUT ? EX_CONN : EX_FAIL;
  }
  char hex[PC_HASH_HEX_SIZE];
  if (code) {
    printf("rejected %s: %s\n", pc_hash_to_hex(&h, hex), pc_strerror(code));
    return EX_FAIL;
  }
  printf("accepted %s\n", pc_hash_to_hex(&h, hex));
  if (wait) return print_receipt(x, &h, (uint32_t)wait);
  return 0;
}

static int cmd_wait(ctx_t *x, int argc, char **argv) {
  static const struct option lo[] = {{"wait", 1, 0, 'w'}, {0, 0, 0, 0}};
  uint64_t wait = 30000;
  optind = 0; /* glibc: 0 re-initialises getopt (ordering of the new option string) */
  int o;
  while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (o != 'w' || parse_u64(optarg, &wait) || wait > PC_GW_WAIT_MAX_MS)
      return die_usage("wait takes --wait MS (≤ 600000)");
  }
  pc_hash_t h;
  if (optind != argc - 1 || pc_hash_from_hex(&h, argv[optind])) return die_usage("wait needs one 64-hex tx hash");
  return print_receipt(x, &h, (uint32_t)wait);
}

static int cmd_query(ctx_t *x, int argc, char **argv) {
  static const struct option lo[] = {
      {"contract", 1, 0, 'C'}, {"key-hex", 1, 0, 'k'}, {"state-key-hex", 1, 0, 's'}, {"height", 1, 0, 'H'}, {0, 0, 0, 0}};
  const char *contract = NULL, *khex = NULL, *skhex = NULL;
  uint64_t height = 0;
  optind = 0; /* glibc: 0 re-initialises getopt (ordering of the new option string) */
  int o;
  while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (o) {
    case 'C': contract = optarg; break;
    case 'k': khex = optarg; break;
    case 's': skhex = optarg; break;
    case 'H':
      if (parse_u64(optarg, &height)) return die_usage("--height needs an unsigned integer");
      break;
    default: return die_usage("bad query option");
    }
  }
  uint8_t key[PC_GW_KEY_MAX];
  int klen;
  uint8_t *b;
  size_t bl;
  if (skhex) {
    if (hex_arg(skhex, &b, &bl) || bl == 0 || bl > sizeof key) return die_usage("--state-key-hex: 1..1024 bytes of hex");
    memcpy(key, b, bl);
    klen = (int)bl;
    free(b);
  } else {
    if (!contract || !khex) return die_usage("query needs --contract and --key-hex, or --state-key-hex");
    if (hex_arg(khex, &b, &bl)) return die_usage("--key-hex is not hex");
    klen = pc_gw_state_key(key, sizeof key, contract, b, bl);
    free(b);
    if (klen < 0) return die_usage("bad contract name or key too long");
  }
  int rc = pc_gwc_query(x->c, height, key, (size_t)klen, x->timeout, x->trust, x->r);
  if (rc) {
    fprintf(stderr, "pc-cli: query failed: %s\n", pc_strerror(rc));
    return rc == PC_ERR_IO || rc == PC_ERR_TIMEOUT ? EX_CONN : EX_FAIL;
  }
  const pc_gw_query_ans_t *a = &x->r->query;
  printf("height %" PRIu64 "\n", a->height);
  if (a->present)
    print_hex("value ", a->value, a->value_len);
  else
    printf("absent\n");
  printf(x->trust ? "proof verified (certified at height %" PRIu64 ")\n" : "proof NOT verified (--no-verify)\n",
         a->cb.header.height);
  return 0;
}

static int cmd_status(ctx_t *x) {
  pc_gw_status_t s;
  int rc = pc_gwc_status(x->c, x->timeout, &s, x->r);
  if (rc) {
    fprintf(stderr, "pc-cli: status failed: %s\n", pc_strerror(rc));
    return EX_CONN;
  }
  printf("chain_id %" PRIu64 "\nreplica %u of %u\nD %u\ndecided %" PRIu64 "\nexecuted %" PRIu64
         "\nprovable %" PRIu64 "\npool %" PRIu64 "\nhealthy %s\n",
         s.chain_id, s.replica, s.n, s.depth, s.decided_height, s.executed_height, s.provable_height, s.pool_txs,
         s.healthy ? "yes" : "no");
  return s.healthy ? 0 : EX_FAIL;
}

static int cmd_follow(ctx_t *x, int argc, char **argv) {
  static const struct option lo[] = {{"from", 1, 0, 'f'}, {"count", 1, 0, 'n'}, {0, 0, 0, 0}};
  uint64_t from = 0, count = 0;
  optind = 0; /* glibc: 0 re-initialises getopt (ordering of the new option string) */
  int o;
  while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if ((o != 'f' && o != 'n') || parse_u64(optarg, o == 'f' ? &from : &count))
      return die_usage("follow takes --from H and --count N");
  }
  uint32_t id;
  if (pc_gwc_follow(x->c, from, &id)) {
    fprintf(stderr, "pc-cli: cannot send FOLLOW\n");
    return EX_CONN;
  }
  for (uint64_t got = 0; count == 0 || got < count;) {
    int rc = pc_gwc_recv(x->c, -1, x->r);
    if (rc) {
      fprintf(stderr, "pc-cli: follow ended: %s\n", pc_strerror(rc));
      return EX_CONN;
    }
    if (x->r->id != id) continue;
    if (x->r->type == PC_GW_RSP_ERROR) {
      fprintf(stderr, "pc-cli: follow refused: %s (%s)\n", pc_strerror(x->r->code), x->r->msg);
      return EX_FAIL;
    }
    if (x->r->type != PC_GW_RSP_BLOCK) continue;
    pc_hash_t bid;
    char hex[PC_HASH_HEX_SIZE];
    pc_block_id(&x->r->block, &bid);
    printf("height %" PRIu64 " block %s\n", x->r->block_height, pc_hash_to_hex(&bid, hex));
    fflush(stdout);
    got++;
  }
  return 0;
}

int main(int argc, char **argv) {
  static const struct option lo[] = {{"gateway", 1, 0, 'g'}, {"cluster", 1, 0, 'c'}, {"timeout", 1, 0, 't'},
                                     {"no-verify", 0, 0, 'V'}, {"help", 0, 0, 'h'},  {0, 0, 0, 0}};
  const char *gw = "127.0.0.1:7700", *cluster = NULL;
  uint64_t timeout = 10000;
  bool no_verify = false;
  int o;
  /* stop at the command word: its options are parsed by the command */
  while ((o = getopt_long(argc, argv, "+g:c:t:h", lo, NULL)) != -1) {
    switch (o) {
    case 'g': gw = optarg; break;
    case 'c': cluster = optarg; break;
    case 't':
      if (parse_u64(optarg, &timeout) || timeout == 0 || timeout > 3600000) return die_usage("--timeout: 1..3600000 ms");
      break;
    case 'V': no_verify = true; break;
    case 'h': usage(stdout); return 0;
    default: return die_usage("unknown option");
    }
  }
  if (optind >= argc) return die_usage("missing command");
  const char *cmd = argv[optind];
  int cargc = argc - optind;
  char **cargv = argv + optind;
  if (strcmp(cmd, "submit") && strcmp(cmd, "wait") && strcmp(cmd, "query") && strcmp(cmd, "status") &&
      strcmp(cmd, "follow"))
    return die_usage("unknown command");
  pc_crypto_init();

  char host[256];
  const char *colon = strrchr(gw, ':');
  uint64_t port;
  if (!colon || colon == gw || (size_t)(colon - gw) >= sizeof host || parse_u64(colon + 1, &port) || port == 0 ||
      port > 65535)
    return die_usage("--gateway must be HOST:PORT");
  memcpy(host, gw, (size_t)(colon - gw));
  host[colon - gw] = 0;

  ctx_t x = {.timeout = (int)timeout};
  static pc_cluster_t cl;
  static pc_gw_trust_t trust;
  if (cluster) {
    char err[512];
    if (pc_cluster_load(&cl, cluster, err, sizeof err)) {
      fprintf(stderr, "pc-cli: %s\n", err);
      return EX_CONN;
    }
    pc_gw_trust_from_cluster(&trust, &cl);
    x.cluster = &cl;
    x.have_cluster = true;
  }
  if (!no_verify && !cluster && (!strcmp(cmd, "wait") || !strcmp(cmd, "query")))
    return die_usage("verifying needs --cluster FILE (or --no-verify)");
  x.no_verify = no_verify;
  x.trust = (!no_verify && cluster) ? &trust : NULL;
  x.r = malloc(sizeof *x.r);
  if (!x.r) return EX_CONN;
  x.c = pc_gwc_connect(host, (uint16_t)port, x.timeout);
  if (!x.c) {
    fprintf(stderr, "pc-cli: cannot connect to %s\n", gw);
    free(x.r);
    return EX_CONN;
  }
  int rc;
  if (!strcmp(cmd, "submit"))
    rc = cmd_submit(&x, cargc, cargv);
  else if (!strcmp(cmd, "wait"))
    rc = cmd_wait(&x, cargc, cargv);
  else if (!strcmp(cmd, "query"))
    rc = cmd_query(&x, cargc, cargv);
  else if (!strcmp(cmd, "status"))
    rc = cmd_status(&x);
  else
    rc = cmd_follow(&x, cargc, cargv);
  pc_gwc_close(x.c);
  free(x.r);
  return rc;
}
