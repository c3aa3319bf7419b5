/* node_config.c — the node config file: parse, validate, check against the
 * files it names. Format and rules: node_private.h and docs/node-config.md. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "executor/executor.h"
#include "node/node_private.h"
#include "txpool/client.h"

#define SUN_PATH_MAX 108 /* sizeof(struct sockaddr_un.sun_path), NUL included */
#define FRAME_MAX 65000 /* dataplane.h PC_DP_MAX_FRAME */
#define DPDK_MTU_MAX 9000 /* dataplane.h PC_DP_DPDK_MAX_MTU */
#define IPUDP_HDR 28     /* IPv4 + UDP headers: an MTU carries mtu − 28 ParaChain bytes */
#define SEGMENT_MIN (1ull << 20) /* storage.h PC_LOG_SEGMENT_MIN */
#define SEGMENT_MAX (1ull << 31) /* storage.h PC_LOG_SEGMENT_MAX */
#define PROPOSAL_SLACK (64u << 10) /* proposal header, justification, certificate beside a batch */

const char *const pc_node_sched_names[PC_NODE_SCHED_COUNT] = {"serial", "tasks", "dag", "optimistic", "auto"};
static const char *const transport_names[PC_NET_COUNT] = {"memif", "af_packet", "udp", "pci"};
static const char *const level_names[] = {"error", "warn", "info", "debug"};

static const char *const section_names[] = {"node", "net", "gateway", "metrics", "exec", "storage"};
static const char *const node_keys[] = {"id", "key", "cluster", "coremap", "data_dir", "log_level"};
static const char *const net_keys[] = {"transport", "eal_args", "memif_dir", "memif_tag", "iface", "pci",  "mtu",
                                       "max_message", "window", "tx_buffer", "rx_buffer", "mbufs", "burst"};
static const char *const gateway_keys[] = {"listen", "max_connections", "max_request", "idle_timeout"};
static const char *const metrics_keys[] = {"enabled", "listen"};
static const char *const exec_keys[] = {"scheduler", "plugin_dir"};
static const char *const storage_keys[] = {"segment_size", "group_count", "group_time"};

const char *pc_net_transport_name(pc_net_transport_t t) {
  return (unsigned)t < PC_NET_COUNT ? transport_names[t] : "?";
}

int pc_listen_addr_parse(const char *s, pc_listen_addr_t *out) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || (size_t)(colon - s) >= 16) return PC_ERR_INVALID;
  char ip[16];
  memcpy(ip, s, (size_t)(colon - s));
  ip[colon - s] = '\0';
  uint64_t port;
  if (pc_parse_ipv4(ip, out->ip) || pc_parse_u64(colon + 1, &port) || port == 0 || port > 65535) return PC_ERR_INVALID;
  out->port = (uint16_t)port;
  return 0;
}

void pc_listen_addr_format(const pc_listen_addr_t *a, char *out, size_t len) {
  snprintf(out, len, "%u.%u.%u.%u:%u", a->ip[0], a->ip[1], a->ip[2], a->ip[3], a->port);
}

/* ------------------------------------------------------------- helpers */

static int resolve(pc_conf_t *cf, const pc_conf_entry_t *e, const char *base, char *out, size_t cap) {
  const char *v = e->value;
  if (v[0] == '~')
    return pc_conf_fail(cf, PC_DEC_CONFIG, e->line, "%s = %s: '~' is not expanded: write the full path", e->key, v);
  int w = v[0] == '/' ? snprintf(out, cap, "%s", v) : snprintf(out, cap, "%s/%s", base, v);
  if (w < 0 || (size_t)w >= cap)
    return pc_conf_fail(cf, PC_DEC_CONFIG, e->line,
                        "%s = %s resolves to a path longer than %zu bytes: move the file closer to the root", e->key, v,
                        cap - 1);
  return 0;
}

/* A path key: absent → default (relative to base, or "" when def is NULL). */
static int get_path(pc_conf_t *cf, int sec, const char *key, const char *def, const char *base, char *out, size_t cap,
                    uint32_t *line) {
  pc_conf_entry_t *e = pc_conf_entry(cf, sec, key);
  if (!e) {
    if (!def) return out[0] = '\0', 0;
    int w = def[0] == '/' ? snprintf(out, cap, "%s", def) : snprintf(out, cap, "%s/%s", base, def);
    if (w < 0 || (size_t)w >= cap)
      return pc_conf_fail(cf, PC_DEC_CONFIG, 0, "the default %s (%s/%s) is longer than %zu bytes: set %s explicitly",
                          key, base, def, cap - 1, key);
    return 0;
  }
  if (line) *line = e->line;
  return resolve(cf, e, base, out, cap);
}

static int required(pc_conf_t *cf, int sec, const char *key, const char *form, uint32_t sec_line) {
  if (sec >= 0 && pc_conf_entry(cf, sec, key)) return 0;
  return pc_conf_fail(cf, PC_DEC_CONFIG, sec_line, "[node] needs '%s = %s'", key, form);
}

static bool name_ok(const char *s, size_t max, const char *extra) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr(extra, ch);
    if (!ok) return false;
  }
  return true;
}

static bool hexn(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'))) return false;
  }
  return true;
}

/* PCI address DDDD:BB:DD.F or BB:DD.F (hex, function 0..7). */
static bool pci_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 12) {
    if (!hexn(s, 4) || s[4] != ':') return false;
    s += 5;
  } else if (n != 7) {
    return false;
  }
  return hexn(s, 2) && s[2] == ':' && hexn(s + 3, 2) && s[5] == '.' && s[6] >= '0' && s[6] <= '7';
}

static int get_listen(pc_conf_t *cf, int sec, pc_listen_addr_t *out, uint32_t *line) {
  pc_conf_entry_t *e = pc_conf_entry(cf, sec, "listen");
  if (!e) return 0;
  *line = e->line;
  if (pc_listen_addr_parse(e->value, out))
    return pc_conf_fail(cf, PC_DEC_CONFIG, e->line,
                        "listen = %s is not an address: write A.B.C.D:port with port 1..65535 (e.g. 127.0.0.1:7200)",
                        e->value);
  return 1;
}

static bool addr_overlap(const pc_listen_addr_t *a, const pc_listen_addr_t *b) {
  static const uint8_t any[4] = {0, 0, 0, 0};
  if (a->port != b->port) return false;
  return !memcmp(a->ip, b->ip, 4) || !memcmp(a->ip, any, 4) || !memcmp(b->ip, any, 4);
}

/* ------------------------------------------------------------ sections */

static int check_sections(pc_conf_t *cf) {
  if (cf->sections[0].count) {
    const pc_conf_entry_t *e = &cf->entries[cf->sections[0].first];
    return pc_conf_fail(cf, PC_DEC_CONFIG, e->line,
                        "'%s' is outside any section: put it under [node], [net], [gateway], [metrics], [exec] or "
                        "[storage]",
                        e->key);
  }
  for (unsigned i = 1; i < cf->n_sections; i++) {
    const pc_conf_section_t *s = &cf->sections[i];
    bool known = false;
    for (unsigned k = 0; k < PC_ARRAY_LEN(section_names); k++) known |= !strcmp(s->name, section_names[k]);
    if (!known) {
      const char *hint = pc_conf_suggest(s->name, section_names, PC_ARRAY_LEN(section_names));
      if (hint) return pc_conf_fail(cf, PC_DEC_CONFIG, s->line, "unknown section [%s] (did you mean [%s]?)", s->name, hint);
      return pc_conf_fail(cf, PC_DEC_CONFIG, s->line,
                          "unknown section [%s]: use [node], [net], [gateway], [metrics], [exec] or [storage]", s->name);
    }
    if (s->has_arg)
      return pc_conf_fail(cf, PC_DEC_CONFIG, s->line, "[%s %s] takes no argument: write [%s]", s->name, s->arg,
                          s->name);
  }
  return 0;
}

#define TRY(x)                     \
  do {                             \
    int rc_ = (x);                 \
    if (rc_ < 0) return rc_;       \
  } while (0)

static int load_node(pc_node_config_t *cfg, pc_conf_t *cf) {
  int sec = pc_conf_find(cf, "node", NULL);
  if (sec < 0)
    return pc_conf_fail(cf, PC_DEC_CONFIG, 0, "no [node] section: add [node] with id, key, cluster and coremap");
  uint32_t sl = cf->sections[sec].line;
  TRY(pc_conf_check_unknown(cf, sec, node_keys, PC_ARRAY_LEN(node_keys)));
  TRY(required(cf, sec, "id", "this replica's number in the cluster file (0..n-1)", sl));
  TRY(required(cf, sec, "key", "path of this replica's key file (pc-keygen --replica)", sl));
  TRY(required(cf, sec, "cluster", "path of the cluster file", sl));
  TRY(required(cf, sec, "coremap", "path of this replica's core map (pc-coremap propose)", sl));
  uint64_t id = 0;
  TRY(pc_conf_u64(cf, sec, "id", 0, PC_MAX_REPLICAS - 1, &id));
  cfg->id = (uint16_t)id;
  cfg->line.id = pc_conf_entry(cf, sec, "id")->line;
  TRY(get_path(cf, sec, "key", NULL, cfg->base, cfg->key, sizeof cfg->key, &cfg->line.key));
  TRY(get_path(cf, sec, "cluster", NULL, cfg->base, cfg->cluster, sizeof cfg->cluster, &cfg->line.cluster));
  TRY(get_path(cf, sec, "coremap", NULL, cfg->base, cfg->coremap, sizeof cfg->coremap, &cfg->line.coremap));
  TRY(get_path(cf, sec, "data_dir", "data", cfg->base, cfg->data_dir, sizeof cfg->data_dir, &cfg->line.data_dir));
  unsigned lvl = PC_LOG_INFO;
  TRY(pc_conf_choice(cf, sec, "log_level", level_names, PC_ARRAY_LEN(level_names), &lvl));
  cfg->log_level = (pc_log_level_t)lvl;
  return 0;
}

/* A key that belongs to one transport only. */
static int only_for(pc_conf_t *cf, int sec, const char *key, unsigned transport, bool dpdk_any, unsigned have) {
  pc_conf_entry_t *e = pc_conf_entry(cf, sec, key);
  if (!e) return 0;
  bool ok = dpdk_any ? have != PC_NET_UDP : have == transport;
  if (ok) return 1;
  if (dpdk_any)
    return pc_conf_fail(cf, PC_DEC_CONFIG, e->line,
                        "%s is for the DPDK transports (memif, af_packet, pci), not transport = udp: remove it", key);
  return pc_conf_fail(cf, PC_DEC_CONFIG, e->line, "%s is only for transport = %s (this file says %s): remove it", key,
                      transport_names[transport], transport_names[have]);
}

static int load_net_keys(pc_node_config_t *cfg, pc_conf_t *cf, int sec, unsigned t);
static int net_buffers(pc_node_config_t *cfg, pc_conf_t *cf, int sec);

static int load_net(pc_node_config_t *cfg, pc_conf_t *cf) {
  int sec = pc_conf_find(cf, "net", NULL);
  unsigned t = PC_NET_UDP;
  cfg->mtu = 1500;
  cfg->max_message = 16u << 20;
  cfg->window = 512;
  cfg->mbufs = 4095;
  cfg->burst = 32;
  snprintf(cfg->memif_dir, sizeof cfg->memif_dir, "/tmp");
  snprintf(cfg->memif_tag, sizeof cfg->memif_tag, "pc");
  if (sec >= 0) {
    TRY(pc_conf_check_unknown(cf, sec, net_keys, PC_ARRAY_LEN(net_keys)));
    TRY(pc_conf_choice(cf, sec, "transport", transport_names, PC_NET_COUNT, &t));
  }
  cfg->transport = (uint8_t)t;
  if (sec >= 0) TRY(load_net_keys(cfg, cf, sec, t));
  return net_buffers(cfg, cf, sec);
}

/* has_word: word occurs in the space-separated list s. */
static bool has_word(const char *s, const char *word) {
  size_t n = strlen(word);
  for (const char *p = s; (p = strstr(p, word)); p += n)
    if ((p == s || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return true;
  return false;
}

static int load_net_keys(pc_node_config_t *cfg, pc_conf_t *cf, int sec, unsigned t) {
  int got = only_for(cf, sec, "eal_args", 0, true, t);
  TRY(got);
  if (got) snprintf(cfg->eal_args, sizeof cfg->eal_args, "%s", pc_conf_entry(cf, sec, "eal_args")->value);
  if (got && t == PC_NET_PCI && has_word(cfg->eal_args, "--no-pci"))
    return pc_conf_fail(cf, PC_DEC_CONFIG, pc_conf_entry(cf, sec, "eal_args")->line,
                        "eal_args has --no-pci, which hides the NIC from DPDK under transport = pci: remove it");

  TRY(got = only_for(cf, sec, "memif_dir", PC_NET_MEMIF, false, t));
  if (got) {
    pc_conf_entry_t *e = pc_conf_entry(cf, sec, "memif_dir");
    char path[PC_NODE_PATH_MAX];
    TRY(resolve(cf, e, cfg->base, path, sizeof path));
    if (strlen(path) >= sizeof cfg->memif_dir)
      return pc_conf_fail(cf, PC_DEC_CONFIG, e->line,
                          "memif_dir = %s resolves to %zu bytes, more than the %d a socket folder may have: use a "
                          "shorter path (e.g. /run/parachain)",
                          e->value, strlen(path), PC_NODE_MEMIF_DIR_MAX - 1);
    snprintf(cfg->memif_dir, sizeof cfg->memif_dir, "%s", path);
  }
  TRY(got = only_for(cf, sec, "memif_tag", PC_NET_MEMIF, false, t));
  if (got) {
    pc_conf_entry_t *e = pc_conf_entry(cf, sec, "memif_tag");
    if (!name_ok(e->value, PC_NODE_MEMIF_TAG_MAX - 1, "_-"))
      return pc_conf_fail(cf, PC_DEC_CONFIG, e->line,
                          "memif_tag = %s: write 1..%d letters, digits, '_' or '-' (every replica of the cluster uses "
                          "the same tag)",
                          e->value, PC_NODE_MEMIF_TAG_MAX - 1);
    memcpy(cfg->memif_tag, e->value, strlen(e->value) + 1); /* length checked above */
  }
  TRY(got = only_for(cf, sec, "iface", PC_NET_AF_PACKET, false, t));
  if (got) {
    pc_conf_entry_t *e = pc_conf_entry(cf, sec, "iface");
    if (!name_ok(e->value, PC_NODE_IFACE_MAX - 1, "_.:-"))
      return pc_conf_fail(cf, PC_DEC_CONFIG, e->line,
                          "iface = %s is not an interface name: write 1..15 letters, digits, '_', '.', ':' or '-' "
                          "(see `ip link`)",
                          e->value);
    memcpy(cfg->iface, e->value, strlen(e->value) + 1); /* length checked above */
  }
  TRY(got = only_for(cf, sec, "pci", PC_NET_PCI, false, t));
  if (got) {
    pc_conf_entry_t *e = pc_conf_entry(cf, sec, "pci");
    if (!pci_ok(e->value))
      return pc_conf_fail(cf, PC_DEC_CONFIG, e->line,
                          "pci = %s is not a PCI address: write DDDD:BB:DD.F or BB:DD.F in hex, e.g. 0000:03:00.0 "
                          "(see `dpdk-devbind.py --status`)",
                          e->value);
    memcpy(cfg->pci, e->value, strlen(e->value) + 1); /* length checked above */
  }
  if (t == PC_NET_AF_PACKET && !cfg->iface[0])
    return pc_conf_fail(cf, PC_DEC_CONFIG, cf->sections[sec].line,
                        "transport = af_packet needs 'iface = NAME', the kernel interface to use");
  if (t == PC_NET_PCI && !cfg->pci[0])
    return pc_conf_fail(cf, PC_DEC_CONFIG, cf->sections[sec].line,
                        "transport = pci needs 'pci = DDDD:BB:DD.F', the NIC's PCI address (bound to vfio-pci)");

  uint64_t v;
  v = cfg->mtu;
  TRY(pc_conf_u64(cf, sec, "mtu", 576, FRAME_MAX + IPUDP_HDR, &v));
  if (t != PC_NET_UDP && v > DPDK_MTU_MAX)
    return pc_conf_fail(cf, PC_DEC_CONFIG, pc_conf_entry(cf, sec, "mtu")->line,
                        "mtu = %llu: the DPDK transports (memif, af_packet, pci) carry at most %d (jumbo); only "
                        "transport = udp goes higher",
                        (unsigned long long)v, DPDK_MTU_MAX);
  cfg->mtu = (uint32_t)v;
  v = cfg->max_message;
  int g = pc_conf_size(cf, sec, "max_message", 64u << 10, 256u << 20, &v);
  TRY(g);
  if (g) cfg->line.max_message = pc_conf_entry(cf, sec, "max_message")->line;
  cfg->max_message = (uint32_t)v;
  v = cfg->window;
  pc_conf_entry_t *we = pc_conf_entry(cf, sec, "window");
  TRY(pc_conf_u64(cf, sec, "window", 8, 8192, &v));
  if (v & (v - 1))
    return pc_conf_fail(cf, PC_DEC_CONFIG, we->line, "window = %s is not a power of two: write 8, 16, ..., 8192",
                        we->value);
  cfg->window = (uint32_t)v;
  v = cfg->mbufs;
  TRY(pc_conf_u64(cf, sec, "mbufs", 511, 1048575, &v));
  cfg->mbufs = (uint32_t)v;
  v = cfg->burst;
  TRY(pc_conf_u64(cf, sec, "burst", 1, 512, &v));
  cfg->burst = (uint16_t)v;
  return 0;
}

static int net_buffers(pc_node_config_t *cfg, pc_conf_t *cf, int sec) {
  uint64_t rx_min = (uint64_t)cfg->max_message + (uint64_t)cfg->window * (cfg->mtu - IPUDP_HDR);
  cfg->tx_buffer = 2ull * cfg->max_message;
  cfg->rx_buffer = (rx_min + (1u << 20) - 1) & ~((uint64_t)(1u << 20) - 1);
  if (sec < 0) return 0;
  char a[24], b[24];
  pc_conf_entry_t *e = pc_conf_entry(cf, sec, "tx_buffer");
  TRY(pc_conf_size(cf, sec, "tx_buffer", 1, 1ull << 40, &cfg->tx_buffer));
  if (e && cfg->tx_buffer < cfg->max_message) {
    pc_format_size(cfg->max_message, a, sizeof a);
    return pc_conf_fail(cf, PC_DEC_CONFIG, e->line,
                        "tx_buffer = %s is smaller than max_message (%s): a message must fit; raise it to at least %s",
                        e->value, a, a);
  }
  e = pc_conf_entry(cf, sec, "rx_buffer");
  TRY(pc_conf_size(cf, sec, "rx_buffer", 1, 1ull << 40, &cfg->rx_buffer));
  if (e && cfg->rx_buffer < rx_min) {
    pc_format_size(rx_min, a, sizeof a);
    pc_format_size(cfg->max_message, b, sizeof b);
    return pc_conf_fail(cf, PC_DEC_CONFIG, e->line,
                        "rx_buffer = %s cannot hold one message (%s) plus a window of %u frames of %u bytes: raise it "
                        "to at least %s (%llu bytes)",
                        e->value, b, cfg->window, cfg->mtu - IPUDP_HDR, a, (unsigned long long)rx_min);
  }
  return 0;
}

static int load_gateway(pc_node_config_t *cfg, pc_conf_t *cf) {
  int sec = pc_conf_find(cf, "gateway", NULL);
  static const uint8_t lo[4] = {127, 0, 0, 1};
  memcpy(cfg->gateway.ip, lo, 4);
  cfg->gateway.port = (uint16_t)(7200 + cfg->id);
  cfg->gw_max_connections = 1024;
  cfg->gw_max_request = 1u << 20;
  cfg->gw_idle_timeout_ns = 30ull * 1000000000ull;
  if (sec < 0) return 0;
  TRY(pc_conf_check_unknown(cf, sec, gateway_keys, PC_ARRAY_LEN(gateway_keys)));
  TRY(get_listen(cf, sec, &cfg->gateway, &cfg->line.gateway));
  uint64_t v = cfg->gw_max_connections;
  TRY(pc_conf_u64(cf, sec, "max_connections", 1, 65536, &v));
  cfg->gw_max_connections = (uint32_t)v;
  v = cfg->gw_max_request;
  TRY(pc_conf_size(cf, sec, "max_request", 1u << 10, PC_BATCH_MAX, &v));
  cfg->gw_max_request = (uint32_t)v;
  TRY(pc_conf_duration(cf, sec, "idle_timeout", 1000000000ull, 3600ull * 1000000000ull, &cfg->gw_idle_timeout_ns));
  return 0;
}

static int load_metrics(pc_node_config_t *cfg, pc_conf_t *cf) {
  int sec = pc_conf_find(cf, "metrics", NULL);
  static const uint8_t lo[4] = {127, 0, 0, 1};
  memcpy(cfg->metrics.ip, lo, 4);
  cfg->metrics.port = (uint16_t)(7300 + cfg->id);
  cfg->metrics_enabled = true;
  if (sec < 0) return 0;
  TRY(pc_conf_check_unknown(cf, sec, metrics_keys, PC_ARRAY_LEN(metrics_keys)));
  TRY(pc_conf_bool(cf, sec, "enabled", &cfg->metrics_enabled));
  int got = get_listen(cf, sec, &cfg->metrics, &cfg->line.metrics);
  TRY(got);
  if (got && !cfg->metrics_enabled)
    return pc_conf_fail(cf, PC_DEC_CONFIG, cfg->line.metrics,
                        "listen is set but enabled = no: remove one of them (metrics off listens nowhere)");
  return 0;
}

static int load_exec(pc_node_config_t *cfg, pc_conf_t *cf) {
  int sec = pc_conf_find(cf, "exec", NULL);
  cfg->scheduler = PC_NODE_SCHED_COUNT - 1; /* auto */
  if (sec < 0) return 0;
  TRY(pc_conf_check_unknown(cf, sec, exec_keys, PC_ARRAY_LEN(exec_keys)));
  unsigned s = cfg->scheduler;
  TRY(pc_conf_choice(cf, sec, "scheduler", pc_node_sched_names, PC_NODE_SCHED_COUNT, &s));
  cfg->scheduler = (uint8_t)s;
  TRY(get_path(cf, sec, "plugin_dir", NULL, cfg->base, cfg->plugin_dir, sizeof cfg->plugin_dir,
               &cfg->line.plugin_dir));
  return 0;
}

static int load_storage(pc_node_config_t *cfg, pc_conf_t *cf) {
  int sec = pc_conf_find(cf, "storage", NULL);
  cfg->segment_size = 64ull << 20;
  cfg->group_count = 256;
  cfg->group_time_ns = 0;
  if (sec < 0) return 0;
  TRY(pc_conf_check_unknown(cf, sec, storage_keys, PC_ARRAY_LEN(storage_keys)));
  TRY(pc_conf_size(cf, sec, "segment_size", SEGMENT_MIN, SEGMENT_MAX, &cfg->segment_size));
  uint64_t v = cfg->group_count;
  TRY(pc_conf_u64(cf, sec, "group_count", 1, 65536, &v));
  cfg->group_count = (uint32_t)v;
  TRY(pc_conf_duration(cf, sec, "group_time", 0, 1000000000ull, &cfg->group_time_ns));
  return 0;
}

static int from_conf(pc_node_config_t *cfg, pc_conf_t *cf) {
  TRY(check_sections(cf));
  TRY(load_node(cfg, cf));
  TRY(load_net(cfg, cf));
  TRY(load_gateway(cfg, cf));
  TRY(load_metrics(cfg, cf));
  TRY(load_exec(cfg, cf));
  TRY(load_storage(cfg, cf));
  if (cfg->metrics_enabled && addr_overlap(&cfg->gateway, &cfg->metrics)) {
    char a[24];
    pc_listen_addr_format(&cfg->metrics, a, sizeof a);
    return pc_conf_fail(cf, PC_DEC_CONFIG, cfg->line.metrics ? cfg->line.metrics : cfg->line.gateway,
                        "gateway and metrics both listen on %s: give them different ports", a);
  }
  if (cfg->transport == PC_NET_MEMIF) {
    /* <dir>/<tag>-<lo>-<hi>.sock with ids up to 255 must fit sun_path. */
    size_t need = strlen(cfg->memif_dir) + 1 + strlen(cfg->memif_tag) + strlen("-255-255.sock") + 1;
    if (need > SUN_PATH_MAX)
      return pc_conf_fail(cf, PC_DEC_CONFIG, 0,
                          "memif sockets %s/%s-<a>-<b>.sock would need %zu bytes, more than a socket path holds (%d): "
                          "shorten memif_dir or memif_tag",
                          cfg->memif_dir, cfg->memif_tag, need, SUN_PATH_MAX);
  }
  return 0;
}

static int parse_common(pc_node_config_t *cfg, pc_conf_t *cf, const char *name, const char *base) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->file, sizeof cfg->file, "%s", name);
  if (!base || !base[0]) base = ".";
  int w = snprintf(cfg->base, sizeof cfg->base, "%s", base);
  if (w < 0 || (size_t)w >= sizeof cfg->base)
    return pc_conf_fail(cf, PC_DEC_CONFIG, 0, "the config file's folder %s is longer than %zu bytes: move it", base,
                        sizeof cfg->base - 1);
  /* strip trailing slashes except a lone "/" so joined paths read "a/b" */
  size_t n = strlen(cfg->base);
  while (n > 1 && cfg->base[n - 1] == '/') cfg->base[--n] = '\0';
  if (!strcmp(cfg->base, "/")) cfg->base[0] = '\0'; /* "/" + "/x" → "/x" */
  return from_conf(cfg, cf);
}

int pc_node_config_parse(pc_node_config_t *cfg, const char *name, const char *base_dir, const char *buf, size_t len,
                         char *err, size_t errlen) {
  pc_conf_t *cf = pc_conf_new();
  if (!cf) {
    if (errlen) snprintf(err, errlen, "%s: out of memory", name);
    return PC_ERR_NOMEM;
  }
  int rc = pc_conf_parse_buf(cf, name, buf, len);
  if (!rc) rc = parse_common(cfg, cf, name, base_dir);
  if (errlen) snprintf(err, errlen, "%s", rc ? cf->err : "");
  pc_conf_free(cf);
  return rc;
}

int pc_node_config_load(pc_node_config_t *cfg, const char *path, char *err, size_t errlen) {
  char dir[PATH_MAX], real[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == dir)
    dir[1] = '\0';
  else
    *slash = '\0';
  if (!realpath(dir, real)) {
    if (errlen) snprintf(err, errlen, "%s: cannot open its folder %s: %s", path, dir, strerror(errno));
    return PC_ERR_IO;
  }
  pc_conf_t *cf = pc_conf_new();
  if (!cf) {
    if (errlen) snprintf(err, errlen, "%s: out of memory", path);
    return PC_ERR_NOMEM;
  }
  int rc = pc_conf_parse_file(cf, path);
  if (!rc) rc = parse_common(cfg, cf, path, real);
  if (errlen) snprintf(err, errlen, "%s", rc ? cf->err : "");
  pc_conf_free(cf);
  return rc;
}

/* ------------------------------------------------------- cross-file check */

static int cfail(const pc_node_config_t *cfg, uint32_t line, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int cfail(const pc_node_config_t *cfg, uint32_t line, char *err, size_t errlen, const char *fmt, ...) {
  char msg[PC_CONF_ERR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (errlen) {
    if (line)
      snprintf(err, errlen, "%s:%u: %s", cfg->file, line, msg);
    else
      snprintf(err, errlen, "%s: %s", cfg->file, msg);
  }
  pc_reject_note(PC_DEC_CONFIG, PC_ERR_CONFIG);
  return PC_ERR_CONFIG;
}

static int check_key(const pc_node_config_t *cfg, const pc_cluster_t *cl, char *err, size_t errlen) {
  struct stat st;
  if (stat(cfg->key, &st) != 0)
    return cfail(cfg, cfg->line.key, err, errlen, "key file %s: %s: create it with `pc-keygen --replica --out %s`",
                 cfg->key, strerror(errno), cfg->key);
  if (!S_ISREG(st.st_mode))
    return cfail(cfg, cfg->line.key, err, errlen, "key file %s is not a regular file: point key at the key file",
                 cfg->key);
  if (st.st_mode & 077)
    return cfail(cfg, cfg->line.key, err, errlen,
                 "key file %s is readable by others (mode %03o): run `chmod 600 %s`", cfg->key,
                 (unsigned)(st.st_mode & 0777), cfg->key);
  pc_client_key_t k;
  int rc = pc_client_key_load(&k, cfg->key);
  if (rc)
    return cfail(cfg, cfg->line.key, err, errlen,
                 "key file %s is not a key file (want one line \"pc-ed25519-seed:\" + 64 hex digits): make one with "
                 "`pc-keygen --replica`",
                 cfg->key);
  bool same = !memcmp(k.pk, cl->replicas[cfg->id].pubkey, PC_PUBKEY_SIZE);
  char have[65], want[65];
  pc_hex_encode(have, k.pk, PC_PUBKEY_SIZE);
  pc_hex_encode(want, cl->replicas[cfg->id].pubkey, PC_PUBKEY_SIZE);
  pc_client_key_wipe(&k);
  if (!same)
    return cfail(cfg, cfg->line.key, err, errlen,
                 "key file %s has public key %.16s... but the cluster file lists %.16s... for replica %u: use replica "
                 "%u's key, or fix id",
                 cfg->key, have, want, cfg->id, cfg->id);
  return 0;
}

static int check_dir_or_parent(const pc_node_config_t *cfg, const char *path, uint32_t line, const char *key,
                               char *err, size_t errlen) {
  struct stat st;
  if (stat(path, &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return cfail(cfg, line, err, errlen, "%s %s exists but is not a folder: point %s at a folder", key, path, key);
    if (access(path, W_OK | X_OK) != 0)
      return cfail(cfg, line, err, errlen, "%s %s is not writable by this user: fix its owner or mode", key, path);
    return 0;
  }
  char parent[PC_NODE_PATH_MAX];
  snprintf(parent, sizeof parent, "%s", path);
  char *slash = strrchr(parent, '/');
  if (slash == parent)
    parent[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    snprintf(parent, sizeof parent, ".");
  if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
    return cfail(cfg, line, err, errlen, "%s %s does not exist and neither does its folder %s: create %s", key, path,
                 parent, parent);
  return 0;
}

int pc_node_config_check(const pc_node_config_t *cfg, const pc_topo_t *topo, pc_cluster_t *cluster, pc_coremap_t *map,
                         char *err, size_t errlen) {
  pc_cluster_t *cl = malloc(sizeof *cl);
  if (!cl) {
    if (errlen) snprintf(err, errlen, "%s: out of memory", cfg->file);
    return PC_ERR_NOMEM;
  }
  pc_topo_t *own = NULL;
  int rc = pc_cluster_load(cl, cfg->cluster, err, errlen);
  if (rc) goto out;
  if (cfg->id >= cl->n) {
    rc = cfail(cfg, cfg->line.id, err, errlen,
               "id = %u but the cluster file %s has n = %u replicas (ids 0..%u): set id to this replica's number",
               cfg->id, cfg->cluster, cl->n, cl->n - 1);
    goto out;
  }
  if ((rc = check_key(cfg, cl, err, errlen))) goto out;

  if (!topo) {
    own = pc_topo_open(NULL);
    if (!own) {
      rc = cfail(cfg, 0, err, errlen, "cannot read this machine's topology (hwloc): see the log");
      goto out;
    }
    topo = own;
  }
  pc_coremap_t m;
  if ((rc = pc_coremap_load(&m, cfg->coremap, topo, err, errlen))) goto out;

  if ((uint64_t)cfg->max_message < cl->batch_bytes + PROPOSAL_SLACK) {
    char a[24], b[24];
    pc_format_size(cl->batch_bytes, a, sizeof a);
    pc_format_size(cl->batch_bytes + PROPOSAL_SLACK, b, sizeof b);
    rc = cfail(cfg, cfg->line.max_message, err, errlen,
               "max_message = %u cannot carry a proposal with a full batch (cluster batch bytes = %s): raise it to at "
               "least %s",
               cfg->max_message, a, b);
    goto out;
  }
  if (cl->n_plugins) {
    struct stat st;
    if (!cfg->plugin_dir[0]) {
      rc = cfail(cfg, 0, err, errlen,
                 "the cluster pins %u plugin(s) (e.g. '%s') but [exec] has no plugin_dir: set plugin_dir to the "
                 "folder holding them",
                 cl->n_plugins, cl->plugins[0].name);
      goto out;
    }
    if (stat(cfg->plugin_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
      rc = cfail(cfg, cfg->line.plugin_dir, err, errlen, "plugin_dir %s is not a folder: create it or fix the path",
                 cfg->plugin_dir);
      goto out;
    }
    /* each pinned plugin is <plugin_dir>/<name>.so with the pinned hash:
     * checked here too, so a wrong build stops the node before any thread
     * starts (the executor checks again when it loads the file) */
    for (unsigned i = 0; i < cl->n_plugins; i++) {
      char path[PATH_MAX];
      snprintf(path, sizeof path, "%s/%s.so", cfg->plugin_dir, cl->plugins[i].name);
      pc_hash_t h;
      if (pc_exec_plugin_hash(path, &h) != 0) {
        rc = cfail(cfg, cfg->line.plugin_dir, err, errlen,
                   "the cluster pins plugin '%s' but %s cannot be read: install it there", cl->plugins[i].name, path);
        goto out;
      }
      if (!pc_hash_equal(&h, &cl->plugins[i].hash)) {
        char have[PC_HASH_HEX_SIZE], want[PC_HASH_HEX_SIZE];
        rc = cfail(cfg, cfg->line.plugin_dir, err, errlen,
                   "%s has BLAKE2b-256 %s but the cluster file pins '%s' = %s: install the pinned build (or pin "
                   "this one in every replica's cluster file)",
                   path, pc_hash_to_hex(&h, have), cl->plugins[i].name, pc_hash_to_hex(&cl->plugins[i].hash, want));
        goto out;
      }
    }
  }
  if ((rc = check_dir_or_parent(cfg, cfg->data_dir, cfg->line.data_dir, "data_dir", err, errlen))) goto out;
  if (cfg->transport == PC_NET_UDP) {
    pc_listen_addr_t self;
    memcpy(self.ip, cl->replicas[cfg->id].ip, 4);
    self.port = cl->replicas[cfg->id].port;
    const pc_listen_addr_t *l[2] = {&cfg->gateway, &cfg->metrics};
    const uint32_t ln[2] = {cfg->line.gateway, cfg->line.metrics};
    for (int i = 0; i < 2; i++) {
      if (i == 1 && !cfg->metrics_enabled) break;
      if (addr_overlap(l[i], &self)) {
        rc = cfail(cfg, ln[i], err, errlen,
                   "%s listens on port %u, which the cluster file gives replica %u for consensus traffic: use "
                   "another port",
                   i ? "metrics" : "gateway", self.port, cfg->id);
        goto out;
      }
    }
  }
  if (cluster) *cluster = *cl;
  if (map) *map = m;
  if (errlen) err[0] = '\0';
out:
  pc_topo_close(own);
  free(cl);
  return rc;
}
