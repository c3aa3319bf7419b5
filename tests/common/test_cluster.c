/* test_cluster.c — the cluster file: parsing, defaults, every whole-file
 * rule with its message, the encoder round trip. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "tests/testutil.h"

static pc_cluster_t cl;
static char err[PC_CONF_ERR_MAX];

/* A deterministic, valid Ed25519 public key for replica i (variant v). */
static void key_of(unsigned i, unsigned v, uint8_t pk[32]) {
  uint8_t seed[32] = {0}, sk[64];
  seed[0] = (uint8_t)i;
  seed[1] = (uint8_t)(i >> 8);
  seed[2] = (uint8_t)v;
  crypto_sign_seed_keypair(pk, sk, seed);
}

/* Appends "[replica i]" with a valid key, a MAC, 10.0.0.1 and port 7000+i. */
static size_t add_replica(char *out, size_t cap, unsigned i) {
  uint8_t pk[32];
  char hex[65];
  key_of(i, 0, pk);
  pc_hex_encode(hex, pk, 32);
  return (size_t)snprintf(out, cap,
                          "[replica %u]\nkey = %s\nmac = 02:00:00:00:00:%02x\nip = 10.0.0.1\nport = %u\n\n",
                          i, hex, i & 0xff, 7000 + i);
}

/* A valid cluster file of n replicas, with `extra` inserted after [chain]. */
static char *cluster_text(unsigned n, const char *chain_extra, const char *after) {
  size_t cap = 256 + 200 * (size_t)n + strlen(chain_extra) + strlen(after);
  char *t = malloc(cap);
  size_t pos = (size_t)snprintf(t, cap, "[chain]\nid = 0x42\nn = %u\n%s\n", n, chain_extra);
  for (unsigned i = 0; i < n; i++) pos += add_replica(t + pos, cap - pos, i);
  snprintf(t + pos, cap - pos, "%s", after);
  return t;
}

static int parse_text(const char *text) {
  return pc_cluster_parse(&cl, "c.conf", text, strlen(text), err, sizeof err);
}

static int parse4(const char *chain_extra, const char *after) {
  char *t = cluster_text(4, chain_extra, after);
  int rc = parse_text(t);
  free(t);
  return rc;
}

#define ASSERT_FAILS(rc_expr, needle)                                        \
  do {                                                                       \
    cr_assert_eq((rc_expr), PC_ERR_CONFIG, "accepted; wanted '%s'", needle); \
    cr_assert(strstr(err, needle), "error '%s' lacks '%s'", err, needle);    \
  } while (0)

static void init(void) { cr_assert_eq(pc_crypto_init(), 0); }
TestSuite(cluster, .init = init);

/* ----------------------------------------------------------------- valid */

Test(cluster, minimal_file_gets_defaults) {
  cr_assert_eq(parse4("f = 1", ""), 0, "%s", err);
  cr_assert_str_eq(err, "");
  cr_assert_eq(cl.chain_id, 0x42);
  cr_assert_eq(cl.n, 4);
  cr_assert_eq(cl.f, 1);
  cr_assert_eq(cl.protocol, PC_PROTO_SBFT);
  cr_assert_eq(cl.vote_mode, PC_VOTES_BROADCAST);
  cr_assert(cl.fast_path);
  cr_assert_eq(cl.fast_wait_ns, 0);
  cr_assert_eq(cl.collector_wait_ns, 2000000);
  cr_assert_eq(cl.round_timeout_ns, 500000000);
  cr_assert_eq(cl.window, 8);
  cr_assert_eq(pc_cluster_depth(&cl), 16);
  cr_assert_eq(cl.checkpoint_interval, 128);
  cr_assert_eq(cl.batch_size, 1024);
  cr_assert_eq(cl.batch_bytes, 1u << 20);
  cr_assert_eq(cl.batch_wait_ns, 1000000);
  cr_assert_eq(cl.n_plugins, 0);
  uint8_t pk[32];
  key_of(3, 0, pk);
  cr_assert_arr_eq(cl.replicas[3].pubkey, pk, 32);
  cr_assert_eq(cl.replicas[3].id, 3);
  cr_assert_eq(cl.replicas[3].port, 7003);
  cr_assert_eq(cl.replicas[3].mac[5], 3);
  cr_assert(cl.replicas[3].ip[0] == 10 && cl.replicas[3].ip[3] == 1);
}

Test(cluster, f_defaults_to_the_most_n_tolerates) {
  cr_assert_eq(parse4("", ""), 0, "%s", err);
  cr_assert_eq(cl.f, 1);
  char *t = cluster_text(10, "", "");
  cr_assert_eq(parse_text(t), 0, "%s", err);
  cr_assert_eq(cl.f, 3);
  free(t);
  t = cluster_text(1, "", "");
  cr_assert_eq(parse_text(t), 0, "%s", err);
  cr_assert_eq(cl.f, 0);
  free(t);
}

Test(cluster, every_field_set) {
  uint8_t h[32];
  char hex[65], plugins[200];
  memset(h, 0xab, sizeof h);
  pc_hex_encode(hex, h, 32);
  snprintf(plugins, sizeof plugins, "[plugins]\nbank.v2 = %s\n", hex);
  const char *consensus =
      "[consensus]\nprotocol = pbft\nvotes = collector\nfast_path = no\nfast_wait = 200us\n"
      "collector_wait = 3ms\nround_timeout = 2s\nwindow = 32\ncheckpoint_interval = 1000\n"
      "[batch]\nsize = 4096\nbytes = 4M\nwait = 500us\n";
  char *after = malloc(strlen(consensus) + strlen(plugins) + 1);
  strcpy(after, consensus);
  strcat(after, plugins);
  cr_assert_eq(parse4("f = 0", after), 0, "%s", err);
  free(after);
  cr_assert_eq(cl.f, 0);
  cr_assert_eq(cl.protocol, PC_PROTO_PBFT);
  cr_assert_eq(cl.vote_mode, PC_VOTES_COLLECTOR);
  cr_assert_not(cl.fast_path);
  cr_assert_eq(cl.fast_wait_ns, 200000);
  cr_assert_eq(cl.collector_wait_ns, 3000000);
  cr_assert_eq(cl.round_timeout_ns, 2000000000);
  cr_assert_eq(cl.window, 32);
  cr_assert_eq(pc_cluster_depth(&cl), 64);
  cr_assert_eq(cl.checkpoint_interval, 1000);
  cr_assert_eq(cl.batch_size, 4096);
  cr_assert_eq(cl.batch_bytes, 4u << 20);
  cr_assert_eq(cl.batch_wait_ns, 500000);
  cr_assert_eq(cl.n_plugins, 1);
  const pc_hash_t *ph = pc_cluster_plugin(&cl, "bank.v2");
  cr_assert_not_null(ph);
  cr_assert_arr_eq(ph->b, h, 32);
  cr_assert_null(pc_cluster_plugin(&cl, "bank"));
}

Test(cluster, quorum) {
  struct {
    uint16_t n, f;
    unsigned q;
  } cases[] = {{1, 0, 1}, {4, 1, 3},  {5, 1, 4},     {6, 1, 4},
               {7, 2, 5}, {10, 3, 7}, {100, 33, 67}, {256, 85, 171}};
  for (unsigned i = 0; i < PC_ARRAY_LEN(cases); i++) {
    cl.n = cases[i].n;
    cl.f = cases[i].f;
    cr_assert_eq(pc_cluster_quorum(&cl), cases[i].q, "n=%u f=%u", cases[i].n, cases[i].f);
    /* q = 2f+1 exactly when n = 3f+1 */
    if (cl.n == 3 * cl.f + 1) cr_assert_eq(pc_cluster_quorum(&cl), 2u * cl.f + 1);
  }
}

Test(cluster, largest_cluster) {
  char *t = cluster_text(PC_MAX_REPLICAS, "f = 85", "");
  cr_assert_eq(parse_text(t), 0, "%s", err);
  cr_assert_eq(cl.n, 256);
  cr_assert_eq(cl.replicas[255].port, 7255);
  free(t);
}

Test(cluster, replica_order_does_not_matter) {
  char a[600], b[600], text[1400];
  add_replica(a, sizeof a, 1);
  add_replica(b, sizeof b, 0);
  snprintf(text, sizeof text, "%s%s[chain]\nid = 1\nn = 2\nf = 0\n", a, b);
  cr_assert_eq(parse_text(text), 0, "%s", err);
  cr_assert_eq(cl.replicas[1].port, 7001);
}

/* ------------------------------------------------------------ n and f */

Test(cluster, refuses_n_below_3f_plus_1) {
  ASSERT_FAILS(parse4("f = 2", ""), "c.conf:4: n = 4 is too small for f = 2: BFT needs n >= 3f+1 = 7");
}

Test(cluster, refuses_n_zero_and_too_large) {
  ASSERT_FAILS(parse_text("[chain]\nid = 1\nn = 0\n"), "c.conf:3: n = 0 is out of range: use 1..256");
  ASSERT_FAILS(parse_text("[chain]\nid = 1\nn = 257\n"), "c.conf:3: n = 257 is out of range: use 1..256");
}

Test(cluster, missing_chain_fields) {
  ASSERT_FAILS(parse_text("[consensus]\nwindow = 4\n"), "c.conf: no [chain] section");
  ASSERT_FAILS(parse_text("[chain]\nn = 4\n"), "c.conf:1: [chain] needs 'id = ");
  ASSERT_FAILS(parse_text("[chain]\nid = 4\n"), "c.conf:1: [chain] needs 'n = ");
}

/* ------------------------------------------------------------ replicas */

Test(cluster, missing_replica) {
  char *t = cluster_text(3, "", "");
  char *p = strstr(t, "n = 3");
  p[4] = '4'; /* n = 4 but only three replicas */
  ASSERT_FAILS(parse_text(t), "c.conf:3: n = 4 but replica 3 is not defined: add a [replica 3] section");
  free(t);
}

Test(cluster, replica_id_out_of_range) {
  char extra[600];
  add_replica(extra, sizeof extra, 4);
  ASSERT_FAILS(parse4("", extra), "[replica 4] is not a replica of this cluster: n = 4, so ids run 0..3");
  ASSERT_FAILS(parse4("", "[replica x]\n"), "[replica x] is not a replica of this cluster");
}

Test(cluster, replica_defined_twice) {
  ASSERT_FAILS(parse4("", "[replica 03]\n"), "replica 3 is defined twice (first at line");
}

Test(cluster, replica_without_id) {
  ASSERT_FAILS(parse4("", "[replica]\n"), "[replica] needs its id: write [replica N]");
}

Test(cluster, replica_missing_fields) {
  const char *base = "[chain]\nid = 1\nn = 1\n[replica 0]\n";
  const char *k = "key = 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29\n";
  char t[400];
  ASSERT_FAILS(parse_text(base), "c.conf:4: [replica 0] needs 'key = ");
  snprintf(t, sizeof t, "%s%s", base, k);
  ASSERT_FAILS(parse_text(t), "c.conf:4: [replica 0] needs 'mac = xx:xx:xx:xx:xx:xx'");
  snprintf(t, sizeof t, "%s%smac = 02:00:00:00:00:01\n", base, k);
  ASSERT_FAILS(parse_text(t), "c.conf:4: [replica 0] needs 'ip = ");
  snprintf(t, sizeof t, "%s%smac = 02:00:00:00:00:01\nip = 1.2.3.4\n", base, k);
  ASSERT_FAILS(parse_text(t), "c.conf:4: [replica 0] needs 'port = ");
  snprintf(t, sizeof t, "%s%smac = 02:00:00:00:00:01\nip = 1.2.3.4\nport = 9\n", base, k);
  cr_assert_eq(parse_text(t), 0, "%s", err);
}

/* Replaces the first occurrence of `from` after `anchor` with `to` (same length or shorter). */
static char *edit(const char *anchor, const char *from, const char *to) {
  char *t = cluster_text(4, "", "");
  char *a = strstr(t, anchor);
  cr_assert_not_null(a);
  char *p = strstr(a, from);
  cr_assert_not_null(p);
  size_t lf = strlen(from), lt = strlen(to);
  memmove(p + lt, p + lf, strlen(p + lf) + 1);
  memcpy(p, to, lt);
  return t;
}

#define ASSERT_EDIT_FAILS(anchor, from, to, needle) \
  do {                                              \
    char *t_ = edit(anchor, from, to);              \
    ASSERT_FAILS(parse_text(t_), needle);           \
    free(t_);                                       \
  } while (0)

Test(cluster, bad_replica_values) {
  ASSERT_EDIT_FAILS("[replica 2]", "mac = 02:00:00:00:00:02", "mac = 02:00:00:00:02",
                    "mac = 02:00:00:00:02 is not a MAC address: write six hex pairs");
  ASSERT_EDIT_FAILS("[replica 2]", "ip = 10.0.0.1", "ip = 10.0.0.300",
                    "ip = 10.0.0.300 is not an IPv4 address");
  ASSERT_EDIT_FAILS("[replica 2]", "port = 7002", "port = 0", "port = 0 is out of range: use 1..65535");
  ASSERT_EDIT_FAILS("[replica 2]", "port = 7002", "port = 70000",
                    "port = 70000 is out of range: use 1..65535");
  ASSERT_EDIT_FAILS("[replica 2]", "key = ", "key = 00", "key must be exactly 64 hex digits (32 bytes)");
  ASSERT_EDIT_FAILS("[replica 2]", "key = ", "key = zz", "key must be exactly 64 hex digits");
}

Test(cluster, key_not_a_valid_point) {
  char *t = edit("[replica 2]",
                 "key = ", "key = 0000000000000000000000000000000000000000000000000000000000000000#");
  ASSERT_FAILS(parse_text(t), "replica 2: key is not a valid Ed25519 public key");
  free(t);
}

Test(cluster, duplicate_keys) {
  uint8_t pk[32];
  char hex[65], to[80];
  key_of(1, 0, pk);
  pc_hex_encode(hex, pk, 32);
  snprintf(to, sizeof to, "key = %s#", hex);
  char *t = edit("[replica 2]", "key = ", to);
  ASSERT_FAILS(parse_text(t), "replica 2 has the same key as replica 1: every replica needs its own key");
  cr_assert(strstr(err, "c.conf:"), "%s", err);
  free(t);
}

Test(cluster, unspecified_address) {
  ASSERT_EDIT_FAILS("[replica 1]", "ip = 10.0.0.1", "ip = 0.0.0.0", "replica 1 has ip 0.0.0.0");
}

Test(cluster, duplicate_address) {
  ASSERT_EDIT_FAILS("[replica 3]", "port = 7003", "port = 7001",
                    "replica 3 has the same address 10.0.0.1:7001 as replica 1: change its ip or port");
  /* Same port on another IP is fine. */
  char *t = edit("[replica 3]", "port = 7003", "port = 7001");
  char *p = strstr(strstr(t, "[replica 3]"), "10.0.0.1");
  p[7] = '2';
  cr_assert_eq(parse_text(t), 0, "%s", err);
  free(t);
}

/* --------------------------------------------------- sections and keys */

Test(cluster, unknown_key_suggests_the_right_one) {
  ASSERT_FAILS(parse4("", "[consensus]\nwindw = 8\n"),
               "unknown key 'windw' in [consensus] (did you mean 'window'?)");
  ASSERT_FAILS(parse4("", "[batch]\nsizes = 8\n"), "unknown key 'sizes' in [batch] (did you mean 'size'?)");
  ASSERT_FAILS(parse4("chian = 3", ""), "unknown key 'chian' in [chain]");
  ASSERT_FAILS(parse4("", "[replica 1]\n"), "section [replica 1] appears twice");
}

Test(cluster, unknown_key_line_is_exact) {
  char *t = cluster_text(4, "", "[consensus]\nwindow = 4\nwindw = 8\n");
  int lines = 1;
  for (const char *p = t; p < strstr(t, "windw"); p++) lines += *p == '\n';
  char want[64];
  snprintf(want, sizeof want, "c.conf:%d: unknown key 'windw'", lines);
  ASSERT_FAILS(parse_text(t), want);
  free(t);
}

Test(cluster, unknown_replica_key) {
  ASSERT_EDIT_FAILS("[replica 1]", "port", "prt", "unknown key 'prt' in [replica 1] (did you mean 'port'?)");
}

Test(cluster, unknown_section) {
  ASSERT_FAILS(parse4("", "[consensu]\n"), "unknown section [consensu] (did you mean [consensus]?)");
  ASSERT_FAILS(parse4("", "[network]\n"), "unknown section [network]: use [chain], [consensus]");
  ASSERT_FAILS(parse4("", "[batch fast]\n"), "[batch fast] takes no argument: write [batch]");
}

Test(cluster, key_outside_sections) {
  char *t = cluster_text(4, "", "");
  size_t cap = strlen(t) + 20;
  char *t2 = malloc(cap);
  cr_assert_not_null(t2);
  snprintf(t2, cap, "window = 3\n%s", t);
  ASSERT_FAILS(parse_text(t2), "c.conf:1: 'window' is outside any section");
  free(t);
  free(t2);
}

Test(cluster, bad_consensus_values) {
  ASSERT_FAILS(parse4("", "[consensus]\nprotocol = raft\n"),
               "protocol = raft is not allowed: write sbft or pbft");
  ASSERT_FAILS(parse4("", "[consensus]\nvotes = all\n"),
               "votes = all is not allowed: write broadcast or collector");
  ASSERT_FAILS(parse4("", "[consensus]\nfast_path = 1\n"), "fast_path = 1 is not a boolean: write yes or no");
  ASSERT_FAILS(parse4("", "[consensus]\nround_timeout = 500\n"), "round_timeout = 500 is not a duration");
  ASSERT_FAILS(parse4("", "[consensus]\nround_timeout = 0\n"),
               "round_timeout = 0 is out of range: use 1us..3600s");
  ASSERT_FAILS(parse4("", "[consensus]\nwindow = 0\n"), "window = 0 is out of range: use 1..1024");
  ASSERT_FAILS(parse4("", "[consensus]\nwindow = 2000\n"), "window = 2000 is out of range: use 1..1024");
  ASSERT_FAILS(parse4("", "[consensus]\ncheckpoint_interval = 0\n"),
               "checkpoint_interval = 0 is out of range");
  ASSERT_FAILS(parse4("", "[consensus]\nfast_wait = 2h\n"), "fast_wait = 2h is not a duration");
}

Test(cluster, bad_batch_values) {
  ASSERT_FAILS(parse4("", "[batch]\nsize = 0\n"), "size = 0 is out of range: use 1..1048576");
  ASSERT_FAILS(parse4("", "[batch]\nbytes = 32M\n"), "bytes = 32M is out of range: use 1K..16M");
  ASSERT_FAILS(parse4("", "[batch]\nbytes = 100\n"), "bytes = 100 is out of range: use 1K..16M");
  ASSERT_FAILS(parse4("", "[batch]\nwait = soon\n"), "wait = soon is not a duration");
}

Test(cluster, bad_plugins) {
  ASSERT_FAILS(parse4("", "[plugins]\nbank = 1234\n"), "bank must be exactly 64 hex digits (32 bytes)");
  size_t cap = 100 * 40;
  char *p = malloc(cap);
  size_t pos = (size_t)snprintf(p, cap, "[plugins]\n");
  for (int i = 0; i <= PC_CLUSTER_PLUGINS_MAX; i++)
    pos += (size_t)snprintf(p + pos, cap - pos, "p%d = %064d\n", i, i);
  ASSERT_FAILS(parse4("", p), "too many plugins: at most 32");
  free(p);
}

Test(cluster, errors_are_counted) {
  uint64_t sem = pc_reject_count(PC_DEC_CLUSTER, PC_ERR_CONFIG),
           syn = pc_reject_count(PC_DEC_CONFIG, PC_ERR_CONFIG);
  cr_assert_eq(parse4("f = 2", ""), PC_ERR_CONFIG);
  cr_assert_eq(pc_reject_count(PC_DEC_CLUSTER, PC_ERR_CONFIG), sem + 1);
  cr_assert_eq(parse4("", "[batch\n"), PC_ERR_CONFIG);
  cr_assert_eq(pc_reject_count(PC_DEC_CONFIG, PC_ERR_CONFIG), syn + 1);
}

Test(cluster, missing_file) {
  cr_assert_eq(pc_cluster_load(&cl, "/nonexistent/cluster.conf", err, sizeof err), PC_ERR_IO);
  cr_assert(strstr(err, "/nonexistent/cluster.conf: cannot open"), "%s", err);
}

Test(cluster, error_buffer_is_bounded) {
  char small[12];
  memset(small, 'x', sizeof small);
  cr_assert_eq(pc_cluster_parse(&cl, "c.conf", "[x", 2, small, sizeof small), PC_ERR_CONFIG);
  cr_assert_eq(strlen(small), sizeof small - 1);
}

Test(cluster, example_file_loads) {
  cr_assert_eq(pc_cluster_load(&cl, PC_EXAMPLES_DIR "/cluster.conf", err, sizeof err), 0, "%s", err);
  cr_assert_geq(cl.n, 4);
  cr_assert_geq((unsigned)cl.n, 3u * cl.f + 1);
}

/* ----------------------------------------------------------- encoder */

static void random_cluster(pc_cluster_t *c, uint64_t *st) {
  pc_cluster_defaults(c);
  c->chain_id = pc_test_rand(st);
  c->f = (uint16_t)(pc_test_rand(st) % 20);
  c->n = (uint16_t)(3 * c->f + 1 + pc_test_rand(st) % 5);
  c->protocol = (uint8_t)(1 + pc_test_rand(st) % 2);
  c->vote_mode = (uint8_t)(pc_test_rand(st) % 2);
  c->fast_path = pc_test_rand(st) & 1;
  c->fast_wait_ns = pc_test_rand(st) % 5000000000ull;
  c->collector_wait_ns = (pc_test_rand(st) % 5000) * 1000;
  c->round_timeout_ns = 1000 + pc_test_rand(st) % 3000000000ull;
  c->window = (uint32_t)(1 + pc_test_rand(st) % PC_CLUSTER_WINDOW_MAX);
  c->checkpoint_interval = (uint32_t)(1 + pc_test_rand(st) % UINT32_MAX);
  c->batch_size = (uint32_t)(1 + pc_test_rand(st) % PC_CLUSTER_BATCH_TX_MAX);
  c->batch_bytes = 1024 + pc_test_rand(st) % (PC_BATCH_MAX - 1023);
  c->batch_wait_ns = (pc_test_rand(st) % 100) * 1000000;
  for (unsigned i = 0; i < c->n; i++) {
    pc_replica_addr_t *r = &c->replicas[i];
    r->id = (uint16_t)i;
    key_of(i, (unsigned)(pc_test_rand(st) & 0xff), r->pubkey);
    for (int k = 0; k < 6; k++) r->mac[k] = (uint8_t)pc_test_rand(st);
    uint64_t x = pc_test_rand(st);
    memcpy(r->ip, &x, 4);
    r->port = (uint16_t)(1 + i + (pc_test_rand(st) % 1000) * 256); /* unique: differs mod 256 */
  }
  c->n_plugins = (unsigned)(pc_test_rand(st) % (PC_CLUSTER_PLUGINS_MAX + 1));
  for (unsigned i = 0; i < c->n_plugins; i++) {
    snprintf(c->plugins[i].name, sizeof c->plugins[i].name, "plugin-%u.x", i);
    for (int k = 0; k < PC_HASH_SIZE; k++) c->plugins[i].hash.b[k] = (uint8_t)pc_test_rand(st);
  }
}

static void assert_same(const pc_cluster_t *a, const pc_cluster_t *b, uint64_t seed) {
  cr_assert_eq(a->chain_id, b->chain_id, "seed %llu", (unsigned long long)seed);
  cr_assert(a->n == b->n && a->f == b->f && a->protocol == b->protocol && a->vote_mode == b->vote_mode &&
                a->fast_path == b->fast_path,
            "seed %llu", (unsigned long long)seed);
  cr_assert(a->fast_wait_ns == b->fast_wait_ns && a->collector_wait_ns == b->collector_wait_ns &&
                a->round_timeout_ns == b->round_timeout_ns && a->batch_wait_ns == b->batch_wait_ns,
            "seed %llu", (unsigned long long)seed);
  cr_assert(a->window == b->window && a->checkpoint_interval == b->checkpoint_interval &&
                a->batch_size == b->batch_size && a->batch_bytes == b->batch_bytes,
            "seed %llu", (unsigned long long)seed);
  cr_assert_eq(memcmp(a->replicas, b->replicas, sizeof a->replicas[0] * a->n), 0, "seed %llu",
               (unsigned long long)seed);
  cr_assert_eq(a->n_plugins, b->n_plugins, "seed %llu", (unsigned long long)seed);
  for (unsigned i = 0; i < a->n_plugins; i++) {
    cr_assert_str_eq(a->plugins[i].name, b->plugins[i].name);
    cr_assert(pc_hash_equal(&a->plugins[i].hash, &b->plugins[i].hash));
  }
}

Test(cluster, encode_round_trip) {
  uint64_t seed = pc_test_seed(7), st = seed;
  size_t cap = 64 * 1024;
  char *text = malloc(cap);
  pc_cluster_t *a = malloc(sizeof *a), *b = malloc(sizeof *b);
  for (unsigned it = 0; it < pc_test_iters(100); it++) {
    random_cluster(a, &st);
    int n = pc_cluster_encode(a, text, cap, err, sizeof err);
    cr_assert_gt(n, 0, "seed %llu: %s", (unsigned long long)seed, err);
    cr_assert_eq(strlen(text), (size_t)n);
    cr_assert_eq(pc_cluster_parse(b, "enc.conf", text, (size_t)n, err, sizeof err), 0, "seed %llu: %s\n%s",
                 (unsigned long long)seed, err, text);
    assert_same(a, b, seed);
  }
  free(a);
  free(b);
  free(text);
}

Test(cluster, encode_refuses_invalid_struct) {
  char text[4096];
  cr_assert_eq(parse4("", ""), 0, "%s", err);
  cl.f = 2;
  cr_assert_eq(pc_cluster_encode(&cl, text, sizeof text, err, sizeof err), PC_ERR_CONFIG);
  cr_assert_str_eq(
      err, "cluster: n = 4 is too small for f = 2: BFT needs n >= 3f+1 = 7 (add replicas or lower f)");
  cl.f = 1;
  cl.replicas[2].id = 7;
  cr_assert_eq(pc_cluster_encode(&cl, text, sizeof text, err, sizeof err), PC_ERR_CONFIG);
  cr_assert(strstr(err, "replica 2 has id 7"), "%s", err);
  cl.replicas[2].id = 2;
  cl.n_plugins = 2;
  strcpy(cl.plugins[0].name, "a");
  strcpy(cl.plugins[1].name, "a");
  cr_assert_eq(pc_cluster_validate(&cl, err, sizeof err), PC_ERR_CONFIG);
  cr_assert(strstr(err, "plugin 'a' is pinned twice"), "%s", err);
  strcpy(cl.plugins[1].name, "A b");
  cr_assert_eq(pc_cluster_validate(&cl, err, sizeof err), PC_ERR_CONFIG);
  cr_assert(strstr(err, "plugin 1 has a bad name"), "%s", err);
  cl.n_plugins = 0;
  cl.protocol = 3;
  cr_assert_eq(pc_cluster_validate(&cl, err, sizeof err), PC_ERR_CONFIG);
  cl.protocol = PC_PROTO_SBFT;
  cl.replicas[1].port = 0;
  cr_assert_eq(pc_cluster_validate(&cl, err, sizeof err), PC_ERR_CONFIG);
  cr_assert(strstr(err, "replica 1 has port 0"), "%s", err);
  cl.replicas[1].port = 9;
  cr_assert_eq(pc_cluster_validate(&cl, err, sizeof err), 0, "%s", err);
}

Test(cluster, encode_overflow) {
  cr_assert_eq(parse4("", ""), 0, "%s", err);
  char text[4096];
  int n = pc_cluster_encode(&cl, text, sizeof text, err, sizeof err);
  cr_assert_gt(n, 0);
  cr_assert_eq(pc_cluster_encode(&cl, text, (size_t)n, err, sizeof err), PC_ERR_OVERFLOW);
  cr_assert_eq(pc_cluster_encode(&cl, text, (size_t)n + 1, err, sizeof err), n);
  cr_assert_eq(pc_cluster_encode(&cl, text, 0, err, sizeof err), PC_ERR_OVERFLOW);
}
