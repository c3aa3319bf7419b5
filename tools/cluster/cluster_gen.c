/* pc-cluster-gen — write every file a static-membership cluster needs.
 *
 *   pc-cluster-gen --nodes N --transport memif|af_packet|udp|pci --out DIR
 *                  [--f F] [--base-port P] [--ip A.B.C.D ...] [--protocol sbft|pbft]
 *                  [--votes broadcast|collector] [--cores-per-node K] [--chain-id X]
 *                  [--iface NAME ...] [--pci ADDR ...]
 *
 * Output (DIR is created; it must not exist or be empty):
 *   DIR/cluster.conf              the cluster file (pc_cluster_encode), the same on every replica
 *   DIR/replica-<i>/replica.key   replica i's Ed25519 key (mode 0600; folder mode 0700)
 *   DIR/replica-<i>/coremap.conf  its core map, proposed from this machine's hwloc topology
 *   DIR/replica-<i>/node.conf     its node config (relative paths, so the folder can move,
 *                                 except memif_dir: absolute, see node_conf_text)
 *   DIR/sock/                     memif only: the sockets, one per replica pair
 *   DIR/README.txt                what was written and how to start each replica
 * --synthetic DESC proposes the core maps (and checks them) for an hwloc
 * synthetic topology instead of this machine: planning, and tests.
 * Addresses: one --ip for all replicas (default 127.0.0.1) or one per
 * replica. Replica i's UDP port is P+i when addresses repeat, else P; its
 * gateway listens on P+S+i and its metrics on P+2S+i (S = max(100, N)).
 * Core maps: when every replica is on one address (one machine), each gets
 * K CPUs (default: CPUs / N, at least 2 when the machine has 2), rotated so
 * replicas use different CPUs while there are enough; otherwise each gets
 * pc_coremap_propose's default map (all CPUs but 0) — regenerate with
 * `pc-coremap propose` on the real hosts.
 * Before it exits the tool loads every file back with the node's own
 * parsers and checks (pc_node_config_load + pc_node_config_check).
 *
 * Exit status: 0 written, 1 failure (nothing is removed: inspect DIR),
 * 2 bad arguments (nothing written). Errors are one line on stderr. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hwloc.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "node/node_private.h"
#include "txpool/client.h"

static const char usage[] =
    "usage: pc-cluster-gen --nodes N --transport memif|af_packet|udp|pci --out DIR\n"
    "         [--f F] [--base-port P] [--ip A.B.C.D ...] [--protocol sbft|pbft]\n"
    "         [--votes broadcast|collector] [--cores-per-node K] [--chain-id X]\n"
    "         [--iface NAME ...] [--pci ADDR ...]\n"
    "\n"
    "Writes into DIR (new or empty): cluster.conf, and per replica i a folder\n"
    "replica-<i> with replica.key (0600), coremap.conf and node.conf; sock/ for\n"
    "memif; README.txt. Every file is loaded back and checked before exit.\n"
    "  --nodes N           replicas, 1..256\n"
    "  --f F               faults tolerated (default (N-1)/3; N >= 3F+1)\n"
    "  --transport T       memif (one machine, DPDK), af_packet, udp (kernel), pci (NICs)\n"
    "  --base-port P       replica UDP ports (default 7100); gateway P+100+i, metrics P+200+i\n"
    "  --ip A.B.C.D        once for all replicas, or once per replica (default 127.0.0.1)\n"
    "  --protocol          sbft (default) | pbft\n"
    "  --votes             broadcast (default) | collector\n"
    "  --cores-per-node K  CPUs per replica's core map (default: CPUs / N on one machine)\n"
    "  --chain-id X        chain id (default: random)\n"
    "  --iface NAME        af_packet: the interface, once for all or once per replica\n"
    "  --pci ADDR          pci: the NIC's PCI address, once for all or once per replica\n"
    "  --synthetic DESC    propose core maps for an hwloc synthetic topology (e.g.\n"
    "                      \"pack:2 [numa] core:8 pu:2\") instead of this machine\n";

#define FILE_CAP (1u << 20)

typedef struct {
  unsigned n, f, cores;
  bool f_set, cores_set;
  unsigned transport, protocol, votes;
  bool transport_set;
  const char *out;
  const char *synthetic; /* hwloc synthetic topology instead of this machine */
  unsigned base_port;
  uint64_t chain_id;
  bool chain_set;
  unsigned n_ip, n_iface, n_pci;
  uint8_t ip[PC_MAX_REPLICAS][4];
  const char *iface[PC_MAX_REPLICAS];
  const char *pci[PC_MAX_REPLICAS];
  char sock_dir[PATH_MAX]; /* memif: DIR/sock as an absolute, canonical path */
} opts_t;

static int bad(const char *fmt, const char *arg) {
  fprintf(stderr, "pc-cluster-gen: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see pc-cluster-gen --help)\n");
  return 2;
}

static int choice(const char *v, const char *const *names, unsigned n, unsigned *out) {
  for (unsigned i = 0; i < n; i++)
    if (!strcmp(v, names[i])) return *out = i, 0;
  return -1;
}

static int parse_args(int argc, char **argv, opts_t *o) {
  static const char *const transports[] = {"memif", "af_packet", "udp", "pci"};
  static const char *const protocols[] = {"sbft", "pbft"};
  static const char *const votes[] = {"broadcast", "collector"};
  o->base_port = 7100;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      return 1;
    }
    if (strncmp(a, "--", 2) != 0) return bad("unexpected argument '%s'", a);
    if (i + 1 >= argc) return bad("%s needs a value", a);
    const char *v = argv[++i];
    uint64_t x;
    if (!strcmp(a, "--nodes")) {
      if (pc_parse_u64(v, &x) || x < 1 || x > PC_MAX_REPLICAS) return bad("--nodes %s: want 1..256", v);
      o->n = (unsigned)x;
    } else if (!strcmp(a, "--f")) {
      if (pc_parse_u64(v, &x) || x > 85) return bad("--f %s: want a number with N >= 3F+1", v);
      o->f = (unsigned)x, o->f_set = true;
    } else if (!strcmp(a, "--transport")) {
      if (choice(v, transports, 4, &o->transport)) return bad("--transport %s: want memif, af_packet, udp or pci", v);
      o->transport_set = true;
    } else if (!strcmp(a, "--out")) {
      o->out = v;
    } else if (!strcmp(a, "--base-port")) {
      if (pc_parse_u64(v, &x) || x < 1024 || x > 65535) return bad("--base-port %s: want 1024..65535", v);
      o->base_port = (unsigned)x;
    } else if (!strcmp(a, "--ip")) {
      if (o->n_ip >= PC_MAX_REPLICAS) return bad("%s", "too many --ip");
      if (pc_parse_ipv4(v, o->ip[o->n_ip])) return bad("--ip %s: want a dotted IPv4 address like 10.0.0.1", v);
      o->n_ip++;
    } else if (!strcmp(a, "--protocol")) {
      if (choice(v, protocols, 2, &o->protocol)) return bad("--protocol %s: want sbft or pbft", v);
    } else if (!strcmp(a, "--votes")) {
      if (choice(v, votes, 2, &o->votes)) return bad("--votes %s: want broadcast or collector", v);
    } else if (!strcmp(a, "--cores-per-node")) {
      if (pc_parse_u64(v, &x) || x < 1 || x > PC_MAX_CORES) return bad("--cores-per-node %s: want 1 or more", v);
      o->cores = (unsigned)x, o->cores_set = true;
    } else if (!strcmp(a, "--chain-id")) {
      if (pc_parse_u64(v, &x)) return bad("--chain-id %s: want a decimal or 0x-hex u64", v);
      o->chain_id = x, o->chain_set = true;
    } else if (!strcmp(a, "--synthetic")) {
      o->synthetic = v;
    } else if (!strcmp(a, "--iface")) {
      if (o->n_iface >= PC_MAX_REPLICAS) return bad("%s", "too many --iface");
      o->iface[o->n_iface++] = v;
    } else if (!strcmp(a, "--pci")) {
      if (o->n_pci >= PC_MAX_REPLICAS) return bad("%s", "too many --pci");
      o->pci[o->n_pci++] = v;
    } else {
      return bad("unknown option '%s'", a);
    }
  }
  if (!o->n) return bad("%s", "--nodes N is required");
  if (!o->transport_set) return bad("%s", "--transport memif|af_packet|udp|pci is required");
  if (!o->out) return bad("%s", "--out DIR is required");
  if (!o->f_set) o->f = (o->n - 1) / 3;
  if (o->n < 3 * o->f + 1) {
    fprintf(stderr, "pc-cluster-gen: --nodes %u is too small for --f %u: BFT needs N >= 3F+1 = %u\n", o->n, o->f,
            3 * o->f + 1);
    return 2;
  }
  if (o->n_ip > 1 && o->n_ip != o->n) {
    fprintf(stderr, "pc-cluster-gen: %u --ip given for %u replicas: give one (all replicas) or exactly %u\n", o->n_ip,
            o->n, o->n);
    return 2;
  }
  if (o->n_ip == 0) o->ip[0][0] = 127, o->ip[0][3] = 1, o->n_ip = 1;
  if (o->n_iface && o->transport != PC_NET_AF_PACKET) return bad("%s", "--iface is only for --transport af_packet");
  if (o->n_pci && o->transport != PC_NET_PCI) return bad("%s", "--pci is only for --transport pci");
  if (o->transport == PC_NET_AF_PACKET && o->n_iface != 1 && o->n_iface != o->n)
    return bad("%s", "--transport af_packet needs --iface NAME (once, or once per replica)");
  if (o->transport == PC_NET_PCI && o->n_pci != 1 && o->n_pci != o->n)
    return bad("%s", "--transport pci needs --pci ADDR (once, or once per replica)");
  return 0;
}

static const uint8_t *ip_of(const opts_t *o, unsigned i) { return o->ip[o->n_ip == 1 ? 0 : i]; }

static bool one_machine(const opts_t *o) {
  for (unsigned i = 1; i < o->n_ip; i++)
    if (memcmp(o->ip[i], o->ip[0], 4)) return false;
  return true;
}

static bool addresses_repeat(const opts_t *o) {
  if (o->n_ip == 1) return o->n > 1;
  for (unsigned i = 0; i < o->n_ip; i++)
    for (unsigned j = i + 1; j < o->n_ip; j++)
      if (!memcmp(o->ip[i], o->ip[j], 4)) return true;
  return false;
}

static int write_text(const char *path, const char *text, mode_t mode) {
  FILE *f = NULL;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd >= 0) f = fdopen(fd, "w");
  if (!f || fputs(text, f) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
    fprintf(stderr, "pc-cluster-gen: cannot write %s: %s\n", path, strerror(errno));
    if (f) fclose(f);
    else if (fd >= 0) close(fd);
    return -1;
  }
  if (fclose(f) != 0) {
    fprintf(stderr, "pc-cluster-gen: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

static int make_dir(const char *path, mode_t mode) {
  if (mkdir(path, mode) == 0) return 0;
  fprintf(stderr, "pc-cluster-gen: cannot create folder %s: %s\n", path, strerror(errno));
  return -1;
}

/* DIR must not exist (it is created) or be an empty folder. */
static int prepare_out(const char *dir) {
  struct stat st;
  if (stat(dir, &st) != 0) return make_dir(dir, 0755);
  if (!S_ISDIR(st.st_mode)) {
    fprintf(stderr, "pc-cluster-gen: --out %s exists and is not a folder\n", dir);
    return -1;
  }
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "pc-cluster-gen: cannot read %s: %s\n", dir, strerror(errno));
    return -1;
  }
  struct dirent *e;
  bool empty = true;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = false;
  closedir(d);
  if (!empty) {
    fprintf(stderr, "pc-cluster-gen: --out %s is not empty: refusing to overwrite a cluster (pick a new folder)\n", dir);
    return -1;
  }
  return 0;
}

/* Rotates replica i's proposed map onto CPUs order[(idx + i·K) mod T], so
 * replicas of one machine take different CPUs while there are enough. */
static void rotate_map(pc_coremap_t *m, const pc_topo_t *t, unsigned k, unsigned i) {
  pc_coreset_t all;
  pc_topo_cores(t, &all);
  unsigned order[PC_MAX_CORES], total = 0, pos[PC_MAX_CORES];
  /* The proposer's order without a NIC node: ascending, CPU 0 last. */
  for (int c = pc_coreset_next(&all, 1); c >= 0; c = pc_coreset_next(&all, (unsigned)c + 1)) order[total++] = (unsigned)c;
  if (pc_coreset_has(&all, 0)) order[total++] = 0;
  for (unsigned j = 0; j < total; j++) pos[order[j]] = j;
  unsigned shift = (unsigned)(((uint64_t)i * k) % total);
  for (int s = 0; s < PC_STAGE_COUNT; s++) {
    pc_coreset_t in = m->cores[s];
    pc_coreset_clear(&m->cores[s]);
    for (int c = pc_coreset_next(&in, 0); c >= 0; c = pc_coreset_next(&in, (unsigned)c + 1))
      pc_coreset_add(&m->cores[s], order[(pos[c] + shift) % total]);
  }
}

static void fmt_ip(const uint8_t ip[4], char out[16]) { snprintf(out, 16, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]); }

static int node_conf_text(const opts_t *o, unsigned i, unsigned gw_port, unsigned metrics_port, char *out, size_t cap) {
  char ip[16];
  fmt_ip(ip_of(o, i), ip);
  bool local = one_machine(o);
  size_t pos = 0;
#define EMIT(...) pos += (size_t)snprintf(out + pos, pos < cap ? cap - pos : 0, __VA_ARGS__)
  EMIT("# Node config of replica %u, written by pc-cluster-gen. Format: docs/node-config.md.\n"
       "# Paths are relative to this file's folder. Start: parachain-node --config node.conf\n\n"
       "[node]\nid = %u\nkey = replica.key               # keep secret: mode 0600\ncluster = ../cluster.conf\n"
       "coremap = coremap.conf\ndata_dir = data\nlog_level = info\n\n[net]\ntransport = %s\n",
       i, i, pc_net_transport_name((pc_net_transport_t)o->transport));
  switch (o->transport) {
    case PC_NET_MEMIF:
      /* memif_dir is absolute: the memif sockets live in the abstract
       * namespace, where a name is compared byte for byte, so every replica
       * must spell the folder the same way ("replica-0/../sock" and
       * "replica-1/../sock" would be two different sockets). */
      EMIT("eal_args = --no-huge -m 64 --no-shconf --no-pci --file-prefix pc-%08llx-r%u\n"
           "memif_dir = %s  # one socket per replica pair; the same spelling on every replica\nmemif_tag = pc\n",
           (unsigned long long)(o->chain_id & 0xffffffffu), i, o->sock_dir);
      break;
    case PC_NET_AF_PACKET:
      EMIT("eal_args = --no-pci --file-prefix pc-r%u%s\niface = %s\n", i, local ? " --no-huge -m 256" : "",
           o->iface[o->n_iface == 1 ? 0 : i]);
      break;
    case PC_NET_PCI:
      EMIT("eal_args = --file-prefix pc-r%u           # hugepages: see docs/deploy.md\npci = %s\n", i,
           o->pci[o->n_pci == 1 ? 0 : i]);
      break;
    default: break;
  }
  EMIT("\n[gateway]\nlisten = %s:%u\n\n[metrics]\nlisten = 127.0.0.1:%u\n\n[exec]\nscheduler = auto\n\n"
       "[storage]\nsegment_size = 64M\ngroup_count = 256\n",
       local ? "127.0.0.1" : ip, gw_port, metrics_port);
#undef EMIT
  return pos < cap ? 0 : -1;
}

/* Checked here so a bad description gives our one line, not the library's log. */
static bool synthetic_ok(const char *desc) {
  hwloc_topology_t t;
  if (hwloc_topology_init(&t) != 0) return false;
  bool ok = hwloc_topology_set_synthetic(t, desc) == 0;
  hwloc_topology_destroy(t);
  return ok;
}

static int generate(const opts_t *o) {
  if (pc_crypto_init() < 0) return fprintf(stderr, "pc-cluster-gen: libsodium failed to initialise\n"), 1;
  unsigned stride = o->n > 100 ? o->n : 100;
  bool repeat = addresses_repeat(o);
  if (o->base_port + 2 * stride + o->n - 1 > 65535) {
    fprintf(stderr, "pc-cluster-gen: --base-port %u leaves no room for %u replicas' ports: use at most %u\n",
            o->base_port, o->n, 65535 - 2 * stride - o->n + 1);
    return 2;
  }
  if (o->synthetic && !synthetic_ok(o->synthetic))
    return bad("--synthetic %s: not an hwloc synthetic topology (e.g. \"pack:2 core:8 pu:1\")", o->synthetic);
  pc_topo_t *topo = pc_topo_open(o->synthetic);
  if (!topo) return fprintf(stderr, "pc-cluster-gen: cannot read this machine's topology (hwloc)\n"), 1;
  pc_coreset_t all;
  pc_topo_cores(topo, &all);
  unsigned total = pc_coreset_count(&all);
  bool local = one_machine(o);
  unsigned k = o->cores;
  if (!o->cores_set) {
    unsigned floor = total < 2 ? total : 2;
    k = local ? PC_MAX(total / o->n, floor) : 0;
  }
  if (k > total) {
    pc_topo_close(topo);
    fprintf(stderr, "pc-cluster-gen: --cores-per-node %u: this machine has %u CPUs\n", k, total);
    return 2;
  }

  int rc = 1;
  pc_cluster_t *cl = calloc(1, sizeof *cl);
  char *buf = malloc(FILE_CAP), *readme = malloc(FILE_CAP);
  char path[PATH_MAX], err[PC_CONF_ERR_MAX], msg[256];
  if (!cl || !buf || !readme) {
    fprintf(stderr, "pc-cluster-gen: out of memory\n");
    goto out;
  }
  if (prepare_out(o->out)) goto out;
  if (o->transport == PC_NET_MEMIF) {
    char abs[PATH_MAX];
    if (!realpath(o->out, abs) || strlen(abs) + sizeof "/sock" > sizeof o->sock_dir) {
      fprintf(stderr, "pc-cluster-gen: cannot resolve --out %s: %s\n", o->out, strerror(errno));
      goto out;
    }
    snprintf(((opts_t *)o)->sock_dir, sizeof o->sock_dir, "%s/sock", abs);
  }

  pc_cluster_defaults(cl);
  uint64_t id = o->chain_id;
  if (!o->chain_set) randombytes_buf(&id, sizeof id);
  cl->chain_id = id;
  cl->n = (uint16_t)o->n;
  cl->f = (uint16_t)o->f;
  cl->protocol = o->protocol == 0 ? PC_PROTO_SBFT : PC_PROTO_PBFT;
  cl->vote_mode = o->votes == 0 ? PC_VOTES_BROADCAST : PC_VOTES_COLLECTOR;
  opts_t *mo = (opts_t *)o;
  mo->chain_id = id;

  for (unsigned i = 0; i < o->n; i++) {
    snprintf(path, sizeof path, "%s/replica-%u", o->out, i);
    if (make_dir(path, 0700)) goto out;
    snprintf(path, sizeof path, "%s/replica-%u/replica.key", o->out, i);
    pc_client_key_t key;
    if (pc_client_key_generate(&key) || pc_client_key_save(&key, path)) {
      fprintf(stderr, "pc-cluster-gen: cannot write key %s\n", path);
      pc_client_key_wipe(&key);
      goto out;
    }
    pc_replica_addr_t *r = &cl->replicas[i];
    r->id = (uint16_t)i;
    memcpy(r->pubkey, key.pk, PC_PUBKEY_SIZE);
    pc_client_key_wipe(&key);
    const uint8_t mac[6] = {0x02, 0x50, 0x43, 0x00, (uint8_t)(i >> 8), (uint8_t)i};
    memcpy(r->mac, mac, 6);
    memcpy(r->ip, ip_of(o, i), 4);
    r->port = (uint16_t)(repeat ? o->base_port + i : o->base_port);

    pc_coremap_t m;
    if (pc_coremap_propose(topo, k, -1, &m, msg, sizeof msg)) {
      fprintf(stderr, "pc-cluster-gen: core map: %s\n", msg);
      goto out;
    }
    if (local && k) rotate_map(&m, topo, k, i);
    int len = pc_coremap_encode(&m, buf, FILE_CAP);
    if (len < 0) goto out;
    char head[256];
    snprintf(head, sizeof head,
             "# Core map of replica %u, proposed by pc-cluster-gen from %s's topology.\n"
             "# Check or redo it on the replica's host: pc-coremap check coremap.conf / pc-coremap propose\n",
             i, local ? "this machine" : "the generating machine");
    snprintf(path, sizeof path, "%s/replica-%u/coremap.conf", o->out, i);
    memmove(buf + strlen(head), buf, (size_t)len + 1);
    memcpy(buf, head, strlen(head));
    if (write_text(path, buf, 0644)) goto out;

    if (node_conf_text(o, i, o->base_port + stride + i, o->base_port + 2 * stride + i, buf, FILE_CAP)) goto out;
    snprintf(path, sizeof path, "%s/replica-%u/node.conf", o->out, i);
    if (write_text(path, buf, 0644)) goto out;
  }
  if (pc_cluster_validate(cl, err, sizeof err)) {
    fprintf(stderr, "pc-cluster-gen: generated cluster is invalid: %s\n", err);
    goto out;
  }
  static const char cluster_head[] =
      "# Cluster file written by pc-cluster-gen: the same on every replica. Format: docs/config.md.\n";
  size_t hl = sizeof cluster_head - 1;
  memcpy(buf, cluster_head, hl);
  int len = pc_cluster_encode(cl, buf + hl, FILE_CAP - hl, err, sizeof err);
  if (len < 0) {
    fprintf(stderr, "pc-cluster-gen: cannot encode the cluster file: %s\n", err);
    goto out;
  }
  snprintf(path, sizeof path, "%s/cluster.conf", o->out);
  if (write_text(path, buf, 0644)) goto out;
  if (o->transport == PC_NET_MEMIF) {
    snprintf(path, sizeof path, "%s/sock", o->out);
    if (make_dir(path, 0700)) goto out;
  }

  /* Load everything back with the node's own parsers and checks. */
  for (unsigned i = 0; i < o->n; i++) {
    pc_node_config_t nc;
    snprintf(path, sizeof path, "%s/replica-%u/node.conf", o->out, i);
    if (pc_node_config_load(&nc, path, err, sizeof err) || pc_node_config_check(&nc, topo, NULL, NULL, err, sizeof err)) {
      fprintf(stderr, "pc-cluster-gen: a written file does not load back: %s\n", err);
      goto out;
    }
  }

  /* README.txt: what was written. */
  size_t pos = 0;
#define EMIT(...) pos += (size_t)snprintf(readme + pos, pos < FILE_CAP ? FILE_CAP - pos : 0, __VA_ARGS__)
  EMIT("ParaChain cluster written by pc-cluster-gen\n\n"
       "chain id   0x%016llx\nreplicas   n = %u, f = %u, quorum q = %u\nconsensus  %s, votes %s\n"
       "transport  %s\n\nfiles\n  cluster.conf            the cluster file: copy it unchanged to every replica\n",
       (unsigned long long)cl->chain_id, cl->n, cl->f, pc_cluster_quorum(cl), o->protocol ? "pbft" : "sbft",
       o->votes ? "collector" : "broadcast", pc_net_transport_name((pc_net_transport_t)o->transport));
  if (o->transport == PC_NET_MEMIF) EMIT("  sock/                   memif sockets, one per replica pair (made at start)\n");
  EMIT("  replica-<i>/node.conf   node config of replica i\n"
       "  replica-<i>/replica.key replica i's secret key (0600): copy it only to replica i's host\n"
       "  replica-<i>/coremap.conf its core map (%s)\n\nreplicas\n",
       local ? "CPUs of this machine" : "proposed on this machine: redo with pc-coremap propose on each host");
  for (unsigned i = 0; i < o->n; i++) {
    char ip[16], hex[65], cores[128];
    fmt_ip(cl->replicas[i].ip, ip);
    pc_hex_encode(hex, cl->replicas[i].pubkey, PC_PUBKEY_SIZE);
    pc_coremap_t m;
    snprintf(path, sizeof path, "%s/replica-%u/coremap.conf", o->out, i);
    pc_coremap_load(&m, path, topo, err, sizeof err);
    pc_coreset_t u;
    pc_coreset_clear(&u);
    for (int s = 0; s < PC_STAGE_COUNT; s++)
      for (int c = pc_coreset_next(&m.cores[s], 0); c >= 0; c = pc_coreset_next(&m.cores[s], (unsigned)c + 1))
        pc_coreset_add(&u, (unsigned)c);
    pc_coreset_format(&u, cores, sizeof cores);
    EMIT("  %u  %s:%u  gateway %s:%u  metrics 127.0.0.1:%u  cpus %s  key %.16s...\n", i, ip, cl->replicas[i].port,
         local ? "127.0.0.1" : ip, o->base_port + stride + i, o->base_port + 2 * stride + i, cores, hex);
  }
  EMIT("\nstart each replica (from this folder):\n");
  for (unsigned i = 0; i < o->n; i++) EMIT("  parachain-node --config replica-%u/node.conf\n", i);
  if (o->transport == PC_NET_PCI)
    EMIT("\nedit before use: the cluster file's mac = lines are placeholders (02:50:43:...);\n"
         "set each to the MAC of that replica's NIC (ip link, or dpdk-devbind.py --status).\n");
  if (!local) EMIT("\nBare-metal deployment (hugepages, NIC binding, systemd): docs/deploy.md\n");
#undef EMIT
  snprintf(path, sizeof path, "%s/README.txt", o->out);
  if (write_text(path, readme, 0644)) goto out;
  printf("wrote a %u-replica %s cluster (f = %u, %s) to %s; see %s/README.txt\n", o->n, o->protocol ? "pbft" : "sbft",
         o->f, pc_net_transport_name((pc_net_transport_t)o->transport), o->out, o->out);
  rc = 0;
out:
  free(cl);
  free(buf);
  free(readme);
  pc_topo_close(topo);
  return rc;
}

int main(int argc, char **argv) {
  opts_t *o = calloc(1, sizeof *o);
  if (!o) return 1;
  int rc = parse_args(argc, argv, o);
  if (rc == 0) {
    pc_log_set_level(PC_LOG_ERROR);
    rc = generate(o);
  } else if (rc == 1) {
    rc = 0; /* --help */
  }
  free(o);
  return rc;
}
