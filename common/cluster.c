/* cluster.c — the cluster file: parse, validate as a whole, encode.
 * Format and defaults in config.h; annotated example in docs/config.md. */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

#define DEF_COLLECTOR_WAIT_NS 2000000ull  /* 2ms */
#define DEF_ROUND_TIMEOUT_NS 500000000ull /* 500ms */
#define DEF_BATCH_WAIT_NS 1000000ull      /* 1ms */

static const char *const protocol_names[] = {"sbft", "pbft"}; /* index + 1 = pc_protocol_t */
static const char *const vote_names[] = {"broadcast", "collector"};

void pc_cluster_defaults(pc_cluster_t *c) {
  memset(c, 0, sizeof *c);
  c->protocol = PC_PROTO_SBFT;
  c->vote_mode = PC_VOTES_BROADCAST;
  c->fast_path = true;
  c->fast_wait_ns = 0;
  c->collector_wait_ns = DEF_COLLECTOR_WAIT_NS;
  c->round_timeout_ns = DEF_ROUND_TIMEOUT_NS;
  c->window = 8;
  c->checkpoint_interval = 128;
  c->batch_size = 1024;
  c->batch_bytes = 1u << 20;
  c->batch_wait_ns = DEF_BATCH_WAIT_NS;
}

unsigned pc_cluster_quorum(const pc_cluster_t *c) { return ((unsigned)c->n + c->f + 2) / 2; }
unsigned pc_cluster_depth(const pc_cluster_t *c) { return 2 * c->window; }

const pc_hash_t *pc_cluster_plugin(const pc_cluster_t *c, const char *name) {
  for (unsigned i = 0; i < c->n_plugins && i < PC_CLUSTER_PLUGINS_MAX; i++)
    if (!strcmp(c->plugins[i].name, name)) return &c->plugins[i].hash;
  return NULL;
}

/* ------------------------------------------------------------ validation */

/* Where validation messages go: a parsed file (with lines) or a bare buffer. */
typedef struct {
  pc_conf_t *cf; /* NULL when validating a struct */
  char *err;
  size_t errlen;
  /* Lines of the fields whole-file rules point at (0 = unknown). */
  uint32_t n_line, f_line, chain_line;
  uint32_t replica_line[PC_MAX_REPLICAS];
  uint32_t plugin_line[PC_CLUSTER_PLUGINS_MAX];
} vctx_t;

static int vfail(vctx_t *v, uint32_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int vfail(vctx_t *v, uint32_t line, const char *fmt, ...) {
  char msg[PC_CONF_ERR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (v->cf) return pc_conf_fail(v->cf, PC_DEC_CLUSTER, line, "%s", msg);
  pc_reject_note(PC_DEC_CLUSTER, PC_ERR_CONFIG);
  if (v->err && v->errlen) snprintf(v->err, v->errlen, "cluster: %s", msg);
  return PC_ERR_CONFIG;
}

static bool valid_plugin_name(const char *s) {
  size_t n = strnlen(s, PC_CONF_NAME_MAX);
  if (n == 0 || n >= PC_CONF_NAME_MAX) return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' ||
          s[i] == '.'))
      return false;
  return true;
}

static void fmt_ip(const uint8_t ip[4], char out[16]) {
  snprintf(out, 16, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
}

/* The whole-struct rules, shared by the loader (with lines) and pc_cluster_validate. */
static int check_cluster(const pc_cluster_t *c, vctx_t *v) {
  if (pc_crypto_init()) return vfail(v, 0, "libsodium failed to initialise");
  if (c->n < 1 || c->n > PC_MAX_REPLICAS)
    return vfail(v, v->n_line, "n = %u is out of range: use 1..%d", c->n, PC_MAX_REPLICAS);
  if ((unsigned)c->n < 3u * c->f + 1)
    return vfail(v, v->f_line ? v->f_line : v->n_line,
                 "n = %u is too small for f = %u: BFT needs n >= 3f+1 = %u (add replicas or lower f)", c->n,
                 c->f, 3u * c->f + 1);
  if (c->protocol != PC_PROTO_SBFT && c->protocol != PC_PROTO_PBFT)
    return vfail(v, 0, "protocol %u is not sbft (1) or pbft (2)", c->protocol);
  if (c->vote_mode != PC_VOTES_BROADCAST && c->vote_mode != PC_VOTES_COLLECTOR)
    return vfail(v, 0, "vote mode %u is not broadcast (0) or collector (1)", c->vote_mode);
  if (c->window < 1 || c->window > PC_CLUSTER_WINDOW_MAX)
    return vfail(v, 0, "window = %u is out of range: use 1..%d", c->window, PC_CLUSTER_WINDOW_MAX);
  if (c->checkpoint_interval < 1) return vfail(v, 0, "checkpoint_interval must be at least 1");
  if (c->batch_size < 1 || c->batch_size > PC_CLUSTER_BATCH_TX_MAX)
    return vfail(v, 0, "batch size = %u is out of range: use 1..%u", c->batch_size, PC_CLUSTER_BATCH_TX_MAX);
  if (c->batch_bytes < 1024 || c->batch_bytes > PC_BATCH_MAX)
    return vfail(v, 0, "batch bytes = %llu is out of range: use 1K..16M", (unsigned long long)c->batch_bytes);
  if (c->round_timeout_ns < 1000 || c->round_timeout_ns > PC_CLUSTER_TIMEOUT_MAX)
    return vfail(v, 0, "round_timeout is out of range: use 1us..3600s");
  if (c->fast_wait_ns > PC_CLUSTER_TIMEOUT_MAX || c->collector_wait_ns > PC_CLUSTER_TIMEOUT_MAX ||
      c->batch_wait_ns > PC_CLUSTER_TIMEOUT_MAX)
    return vfail(v, 0, "a wait (fast_wait, collector_wait, batch wait) is above 3600s");
  for (unsigned i = 0; i < c->n; i++) {
    const pc_replica_addr_t *r = &c->replicas[i];
    uint32_t ln = v->replica_line[i];
    if (r->id != i) return vfail(v, ln, "replica %u has id %u: ids must equal their index 0..n-1", i, r->id);
    if (r->port == 0) return vfail(v, ln, "replica %u has port 0: use 1..65535", i);
    if (!(r->ip[0] | r->ip[1] | r->ip[2] | r->ip[3]))
      return vfail(v, ln, "replica %u has ip 0.0.0.0: give the address its peers send to", i);
    if (crypto_core_ed25519_is_valid_point(r->pubkey) != 1)
      return vfail(v, ln,
                   "replica %u: key is not a valid Ed25519 public key (copy it from the keygen output)", i);
    for (unsigned j = 0; j < i; j++) {
      const pc_replica_addr_t *o = &c->replicas[j];
      if (!memcmp(o->pubkey, r->pubkey, PC_PUBKEY_SIZE))
        return vfail(v, ln, "replica %u has the same key as replica %u: every replica needs its own key", i,
                     j);
      if (!memcmp(o->ip, r->ip, 4) && o->port == r->port) {
        char ip[16];
        fmt_ip(r->ip, ip);
        return vfail(v, ln, "replica %u has the same address %s:%u as replica %u: change its ip or port", i,
                     ip, r->port, j);
      }
    }
  }
  if (c->n_plugins > PC_CLUSTER_PLUGINS_MAX)
    return vfail(v, 0, "%u plugins: at most %d may be pinned", c->n_plugins, PC_CLUSTER_PLUGINS_MAX);
  for (unsigned i = 0; i < c->n_plugins; i++) {
    uint32_t ln = v->plugin_line[i];
    if (!valid_plugin_name(c->plugins[i].name))
      return vfail(v, ln, "plugin %u has a bad name: use 1..31 characters of a-z 0-9 _ . -", i);
    for (unsigned j = 0; j < i; j++)
      if (!strcmp(c->plugins[i].name, c->plugins[j].name))
        return vfail(v, ln, "plugin '%s' is pinned twice: keep one", c->plugins[i].name);
  }
  return 0;
}

int pc_cluster_validate(const pc_cluster_t *c, char *err, size_t errlen) {
  vctx_t *v = calloc(1, sizeof *v);
  if (!v) {
    if (errlen) snprintf(err, errlen, "cluster: out of memory");
    return PC_ERR_NOMEM;
  }
  v->err = err;
  v->errlen = errlen;
  int rc = check_cluster(c, v);
  free(v);
  if (!rc && errlen) err[0] = '\0';
  return rc;
}

/* ---------------------------------------------------------------- loader */

static const char *const section_names[] = {"chain", "consensus", "batch", "replica", "plugins"};
static const char *const chain_keys[] = {"id", "n", "f"};
static const char *const consensus_keys[] = {
    "protocol",       "votes",         "fast_path", "fast_wait",
    "collector_wait", "round_timeout", "window",    "checkpoint_interval"};
static const char *const batch_keys[] = {"size", "bytes", "wait"};
static const char *const replica_keys[] = {"key", "mac", "ip", "port"};

/* A required key: fails at the section header when absent. */
static int need(pc_conf_t *cf, int sec, int got, const char *key, const char *form) {
  if (got != 0) return got < 0 ? got : 0;
  char w[80];
  const pc_conf_section_t *s = &cf->sections[sec];
  snprintf(w, sizeof w, "[%s%s%s]", s->name, s->has_arg ? " " : "", s->arg);
  return pc_conf_fail(cf, PC_DEC_CLUSTER, s->line, "%s needs '%s = %s'", w, key, form);
}

static int check_sections(pc_conf_t *cf) {
  if (cf->sections[0].count) {
    const pc_conf_entry_t *e = &cf->entries[cf->sections[0].first];
    return pc_conf_fail(
        cf, PC_DEC_CONFIG, e->line,
        "'%s' is outside any section: put it under [chain], [consensus], [batch], [replica N] or "
        "[plugins]",
        e->key);
  }
  for (unsigned i = 1; i < cf->n_sections; i++) {
    const pc_conf_section_t *s = &cf->sections[i];
    bool known = false;
    for (unsigned k = 0; k < PC_ARRAY_LEN(section_names); k++) known |= !strcmp(s->name, section_names[k]);
    if (!known) {
      const char *hint = pc_conf_suggest(s->name, section_names, PC_ARRAY_LEN(section_names));
      if (hint)
        return pc_conf_fail(cf, PC_DEC_CONFIG, s->line, "unknown section [%s] (did you mean [%s]?)", s->name,
                            hint);
      return pc_conf_fail(cf, PC_DEC_CONFIG, s->line,
                          "unknown section [%s]: use [chain], [consensus], [batch], [replica N] or [plugins]",
                          s->name);
    }
    bool is_replica = !strcmp(s->name, "replica");
    if (is_replica && !s->has_arg)
      return pc_conf_fail(cf, PC_DEC_CONFIG, s->line,
                          "[replica] needs its id: write [replica N] with N in 0..n-1");
    if (!is_replica && s->has_arg)
      return pc_conf_fail(cf, PC_DEC_CONFIG, s->line, "[%s %s] takes no argument: write [%s]", s->name,
                          s->arg, s->name);
  }
  return 0;
}

static int load_chain(pc_cluster_t *c, pc_conf_t *cf, vctx_t *v) {
  int sec = pc_conf_find(cf, "chain", NULL);
  if (sec < 0) return pc_conf_fail(cf, PC_DEC_CLUSTER, 0, "no [chain] section: add [chain] with id, n and f");
  int rc = pc_conf_check_unknown(cf, sec, chain_keys, PC_ARRAY_LEN(chain_keys));
  if (rc) return rc;
  uint64_t x = 0;
  rc = need(cf, sec, pc_conf_u64(cf, sec, "id", 0, UINT64_MAX, &x), "id",
            "<chain id, e.g. 0x7061726163686e31>");
  if (rc) return rc;
  c->chain_id = x;
  rc = need(cf, sec, pc_conf_u64(cf, sec, "n", 1, PC_MAX_REPLICAS, &x), "n", "<number of replicas>");
  if (rc) return rc;
  c->n = (uint16_t)x;
  v->chain_line = cf->sections[sec].line;
  v->n_line = pc_conf_entry(cf, sec, "n")->line;
  x = (c->n - 1u) / 3u; /* default: the most faults n tolerates */
  rc = pc_conf_u64(cf, sec, "f", 0, PC_MAX_REPLICAS, &x);
  if (rc < 0) return rc;
  if (rc) v->f_line = pc_conf_entry(cf, sec, "f")->line;
  c->f = (uint16_t)x;
  return 0;
}

static int load_consensus(pc_cluster_t *c, pc_conf_t *cf) {
  int sec = pc_conf_find(cf, "consensus", NULL);
  if (sec < 0) return 0; /* all defaults */
  unsigned choice;
  int rc;
  if ((rc = pc_conf_check_unknown(cf, sec, consensus_keys, PC_ARRAY_LEN(consensus_keys)))) return rc;
  if ((rc = pc_conf_choice(cf, sec, "protocol", protocol_names, 2, &choice)) < 0) return rc;
  if (rc) c->protocol = (uint8_t)(choice + 1);
  if ((rc = pc_conf_choice(cf, sec, "votes", vote_names, 2, &choice)) < 0) return rc;
  if (rc) c->vote_mode = (uint8_t)choice;
  if ((rc = pc_conf_bool(cf, sec, "fast_path", &c->fast_path)) < 0) return rc;
  if ((rc = pc_conf_duration(cf, sec, "fast_wait", 0, PC_CLUSTER_TIMEOUT_MAX, &c->fast_wait_ns)) < 0)
    return rc;
  if ((rc = pc_conf_duration(cf, sec, "collector_wait", 0, PC_CLUSTER_TIMEOUT_MAX, &c->collector_wait_ns)) <
      0)
    return rc;
  if ((rc = pc_conf_duration(cf, sec, "round_timeout", 1000, PC_CLUSTER_TIMEOUT_MAX, &c->round_timeout_ns)) <
      0)
    return rc;
  uint64_t x = c->window;
  if ((rc = pc_conf_u64(cf, sec, "window", 1, PC_CLUSTER_WINDOW_MAX, &x)) < 0) return rc;
  c->window = (uint32_t)x;
  x = c->checkpoint_interval;
  if ((rc = pc_conf_u64(cf, sec, "checkpoint_interval", 1, UINT32_MAX, &x)) < 0) return rc;
  c->checkpoint_interval = (uint32_t)x;
  return 0;
}

static int load_batch(pc_cluster_t *c, pc_conf_t *cf) {
  int sec = pc_conf_find(cf, "batch", NULL);
  if (sec < 0) return 0;
  int rc;
  if ((rc = pc_conf_check_unknown(cf, sec, batch_keys, PC_ARRAY_LEN(batch_keys)))) return rc;
  uint64_t x = c->batch_size;
  if ((rc = pc_conf_u64(cf, sec, "size", 1, PC_CLUSTER_BATCH_TX_MAX, &x)) < 0) return rc;
  c->batch_size = (uint32_t)x;
  if ((rc = pc_conf_size(cf, sec, "bytes", 1024, PC_BATCH_MAX, &c->batch_bytes)) < 0) return rc;
  if ((rc = pc_conf_duration(cf, sec, "wait", 0, PC_CLUSTER_TIMEOUT_MAX, &c->batch_wait_ns)) < 0) return rc;
  return 0;
}

static int load_replica(pc_cluster_t *c, pc_conf_t *cf, vctx_t *v, int sec, bool *seen) {
  const pc_conf_section_t *s = &cf->sections[sec];
  uint64_t id;
  if (pc_parse_u64(s->arg, &id) || id >= c->n)
    return pc_conf_fail(cf, PC_DEC_CLUSTER, s->line,
                        "[replica %s] is not a replica of this cluster: n = %u, so ids run 0..%u", s->arg,
                        c->n, c->n - 1u);
  if (seen[id])
    return pc_conf_fail(cf, PC_DEC_CLUSTER, s->line,
                        "replica %llu is defined twice (first at line %u): keep one", (unsigned long long)id,
                        v->replica_line[id]);
  seen[id] = true;
  v->replica_line[id] = s->line;
  pc_replica_addr_t *r = &c->replicas[id];
  r->id = (uint16_t)id;
  int rc = pc_conf_check_unknown(cf, sec, replica_keys, PC_ARRAY_LEN(replica_keys));
  if (rc) return rc;
  rc = need(cf, sec, pc_conf_hex(cf, sec, "key", r->pubkey, PC_PUBKEY_SIZE), "key",
            "<Ed25519 public key, 64 hex>");
  if (rc) return rc;
  pc_conf_entry_t *e = pc_conf_entry(cf, sec, "mac");
  if (!e) return need(cf, sec, 0, "mac", "xx:xx:xx:xx:xx:xx");
  if (pc_parse_mac(e->value, r->mac))
    return pc_conf_fail(cf, PC_DEC_CONFIG, e->line,
                        "mac = %s is not a MAC address: write six hex pairs like 02:00:00:00:00:01",
                        e->value);
  e = pc_conf_entry(cf, sec, "ip");
  if (!e) return need(cf, sec, 0, "ip", "<IPv4 address, e.g. 10.0.0.1>");
  if (pc_parse_ipv4(e->value, r->ip))
    return pc_conf_fail(cf, PC_DEC_CONFIG, e->line,
                        "ip = %s is not an IPv4 address: write four numbers 0..255 like 10.0.0.1", e->value);
  uint64_t port;
  rc = need(cf, sec, pc_conf_u64(cf, sec, "port", 1, 65535, &port), "port", "<UDP port 1..65535>");
  if (rc) return rc;
  r->port = (uint16_t)port;
  return 0;
}

static int load_plugins(pc_cluster_t *c, pc_conf_t *cf, vctx_t *v) {
  int sec = pc_conf_find(cf, "plugins", NULL);
  if (sec < 0) return 0;
  const pc_conf_section_t *s = &cf->sections[sec];
  for (uint32_t i = s->first; i < s->first + s->count; i++) {
    pc_conf_entry_t *e = &cf->entries[i];
    if (c->n_plugins >= PC_CLUSTER_PLUGINS_MAX)
      return pc_conf_fail(cf, PC_DEC_CLUSTER, e->line, "too many plugins: at most %d may be pinned",
                          PC_CLUSTER_PLUGINS_MAX);
    pc_plugin_pin_t *p = &c->plugins[c->n_plugins];
    int rc = pc_conf_hex(cf, sec, e->key, p->hash.b, PC_HASH_SIZE);
    if (rc < 0) return rc;
    memset(p->name, 0, sizeof p->name);
    memcpy(p->name, e->key, strnlen(e->key, sizeof p->name - 1));
    v->plugin_line[c->n_plugins++] = e->line;
  }
  return 0;
}

static int cluster_from_conf(pc_cluster_t *c, pc_conf_t *cf, vctx_t *v) {
  pc_cluster_defaults(c);
  int rc;
  if ((rc = check_sections(cf)) || (rc = load_chain(c, cf, v)) || (rc = load_consensus(c, cf)) ||
      (rc = load_batch(c, cf)))
    return rc;
  bool seen[PC_MAX_REPLICAS] = {false};
  for (unsigned i = 1; i < cf->n_sections; i++)
    if (!strcmp(cf->sections[i].name, "replica") && (rc = load_replica(c, cf, v, (int)i, seen))) return rc;
  for (unsigned i = 0; i < c->n; i++)
    if (!seen[i])
      return pc_conf_fail(cf, PC_DEC_CLUSTER, v->n_line,
                          "n = %u but replica %u is not defined: add a [replica %u] section (ids run 0..n-1)",
                          c->n, i, i);
  if ((rc = load_plugins(c, cf, v))) return rc;
  return check_cluster(c, v);
}

int pc_cluster_parse(pc_cluster_t *c, const char *name, const char *buf, size_t len, char *err,
                     size_t errlen) {
  pc_conf_t *cf = pc_conf_new();
  vctx_t *v = calloc(1, sizeof *v);
  int rc;
  if (!cf || !v) {
    if (errlen) snprintf(err, errlen, "%s: out of memory", name);
    rc = PC_ERR_NOMEM;
  } else {
    v->cf = cf;
    rc = pc_conf_parse_buf(cf, name, buf, len);
    if (!rc) rc = cluster_from_conf(c, cf, v);
    if (errlen) snprintf(err, errlen, "%s", rc ? cf->err : "");
  }
  free(v);
  pc_conf_free(cf);
  return rc;
}

int pc_cluster_load(pc_cluster_t *c, const char *path, char *err, size_t errlen) {
  pc_conf_t *cf = pc_conf_new();
  vctx_t *v = calloc(1, sizeof *v);
  int rc;
  if (!cf || !v) {
    if (errlen) snprintf(err, errlen, "%s: out of memory", path);
    rc = PC_ERR_NOMEM;
  } else {
    v->cf = cf;
    rc = pc_conf_parse_file(cf, path);
    if (!rc) rc = cluster_from_conf(c, cf, v);
    if (errlen) snprintf(err, errlen, "%s", rc ? cf->err : "");
  }
  free(v);
  pc_conf_free(cf);
  return rc;
}

/* --------------------------------------------------------------- encoder */

typedef struct {
  char *out;
  size_t cap, len;
  bool overflow;
} sbuf_t;

static void emit(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(sbuf_t *b, const char *fmt, ...) {
  if (b->overflow) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b->out + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= b->cap - b->len) {
    b->overflow = true;
    return;
  }
  b->len += (size_t)n;
}

int pc_cluster_encode(const pc_cluster_t *c, char *out, size_t cap, char *err, size_t errlen) {
  int rc = pc_cluster_validate(c, err, errlen);
  if (rc) return rc;
  if (cap == 0) return PC_ERR_OVERFLOW;
  sbuf_t b = {out, cap, 0, false};
  char t1[32], t2[32], t3[32];
  emit(&b, "# ParaChain cluster file (format: docs/config.md)\n\n[chain]\nid = 0x%016llx\nn = %u\nf = %u\n",
       (unsigned long long)c->chain_id, c->n, c->f);
  pc_format_duration(c->fast_wait_ns, t1, sizeof t1);
  pc_format_duration(c->collector_wait_ns, t2, sizeof t2);
  pc_format_duration(c->round_timeout_ns, t3, sizeof t3);
  emit(&b,
       "\n[consensus]\nprotocol = %s\nvotes = %s\nfast_path = %s\nfast_wait = %s\ncollector_wait = %s\n"
       "round_timeout = %s\nwindow = %u\ncheckpoint_interval = %u\n",
       protocol_names[c->protocol - 1], vote_names[c->vote_mode], c->fast_path ? "yes" : "no", t1, t2, t3,
       c->window, c->checkpoint_interval);
  pc_format_size(c->batch_bytes, t1, sizeof t1);
  pc_format_duration(c->batch_wait_ns, t2, sizeof t2);
  emit(&b, "\n[batch]\nsize = %u\nbytes = %s\nwait = %s\n", c->batch_size, t1, t2);
  for (unsigned i = 0; i < c->n; i++) {
    const pc_replica_addr_t *r = &c->replicas[i];
    char key[2 * PC_PUBKEY_SIZE + 1], ip[16];
    pc_hex_encode(key, r->pubkey, PC_PUBKEY_SIZE);
    fmt_ip(r->ip, ip);
    emit(&b, "\n[replica %u]\nkey = %s\nmac = %02x:%02x:%02x:%02x:%02x:%02x\nip = %s\nport = %u\n", i, key,
         r->mac[0], r->mac[1], r->mac[2], r->mac[3], r->mac[4], r->mac[5], ip, r->port);
  }
  if (c->n_plugins) {
    emit(&b, "\n[plugins]\n");
    for (unsigned i = 0; i < c->n_plugins; i++) {
      char hex[PC_HASH_HEX_SIZE];
      emit(&b, "%s = %s\n", c->plugins[i].name, pc_hash_to_hex(&c->plugins[i].hash, hex));
    }
  }
  if (b.overflow) {
    out[0] = '\0';
    return PC_ERR_OVERFLOW;
  }
  return (int)b.len;
}
