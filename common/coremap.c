/* coremap.c — the core map (stage → cores) checked against an hwloc
 * topology, NUMA warnings, and a proposer. Format in config.h; annotated
 * example in docs/config.md. */
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

struct pc_topo {
  hwloc_topology_t topo;
};

static const char *const stage_names[PC_STAGE_COUNT] = {"rx",   "tx",    "verify", "consensus",
                                                        "exec", "store", "gateway"};

const char *pc_stage_name(pc_stage_t s) { return (unsigned)s < PC_STAGE_COUNT ? stage_names[s] : "?"; }

/* ---------------------------------------------------------------- topology */

pc_topo_t *pc_topo_open(const char *synthetic) {
  pc_topo_t *t = calloc(1, sizeof *t);
  if (!t) {
    PC_ERROR("topology: out of memory");
    return NULL;
  }
  if (hwloc_topology_init(&t->topo) != 0) {
    PC_ERROR("topology: hwloc_topology_init failed");
    free(t);
    return NULL;
  }
  if (synthetic && hwloc_topology_set_synthetic(t->topo, synthetic) != 0) {
    PC_ERROR("topology: bad hwloc synthetic description '%s' (e.g. \"pack:2 core:8 pu:1\")", synthetic);
    hwloc_topology_destroy(t->topo);
    free(t);
    return NULL;
  }
  if (hwloc_topology_load(t->topo) != 0) {
    PC_ERROR("topology: hwloc_topology_load failed");
    hwloc_topology_destroy(t->topo);
    free(t);
    return NULL;
  }
  return t;
}

void pc_topo_close(pc_topo_t *t) {
  if (!t) return;
  hwloc_topology_destroy(t->topo);
  free(t);
}

bool pc_topo_has_core(const pc_topo_t *t, unsigned core) {
  return hwloc_get_pu_obj_by_os_index(t->topo, core) != NULL;
}

void pc_topo_cores(const pc_topo_t *t, pc_coreset_t *out) {
  pc_coreset_clear(out);
  hwloc_obj_t pu = NULL;
  while ((pu = hwloc_get_next_obj_by_type(t->topo, HWLOC_OBJ_PU, pu)) != NULL)
    pc_coreset_add(out, pu->os_index);
}

int pc_topo_core_numa(const pc_topo_t *t, unsigned core) {
  if (!pc_topo_has_core(t, core)) return -1;
  hwloc_obj_t node = NULL;
  while ((node = hwloc_get_next_obj_by_type(t->topo, HWLOC_OBJ_NUMANODE, node)) != NULL)
    if (node->cpuset && hwloc_bitmap_isset(node->cpuset, core)) return (int)node->os_index;
  return -1;
}

unsigned pc_topo_numa_count(const pc_topo_t *t) {
  int n = hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_NUMANODE);
  return n > 0 ? (unsigned)n : 1;
}

/* ---------------------------------------------------------------- parser */

static const char *const coremap_keys[] = {"rx",   "tx",    "net",     "verify", "consensus",
                                           "exec", "store", "gateway", "shared"};

static int coremap_from_conf(pc_coremap_t *m, pc_conf_t *cf, const pc_topo_t *t) {
  memset(m, 0, sizeof *m);
  if (cf->n_sections > 1)
    return pc_conf_fail(cf, PC_DEC_CONFIG, cf->sections[1].line,
                        "a core map has no sections: remove [%s] and write 'stage = cores' lines",
                        cf->sections[1].name);
  int rc;
  if ((rc = pc_conf_check_unknown(cf, 0, coremap_keys, PC_ARRAY_LEN(coremap_keys)))) return rc;
  if ((rc = pc_conf_bool(cf, 0, "shared", &m->shared)) < 0) return rc;

  uint32_t line[PC_STAGE_COUNT] = {0};
  bool set[PC_STAGE_COUNT] = {false};
  for (int s = 0; s < PC_STAGE_COUNT; s++) {
    if ((rc = pc_conf_cores(cf, 0, stage_names[s], &m->cores[s])) < 0) return rc;
    set[s] = rc == 1;
    if (set[s]) line[s] = pc_conf_entry(cf, 0, stage_names[s])->line;
  }
  pc_coreset_t net;
  if ((rc = pc_conf_cores(cf, 0, "net", &net)) < 0) return rc;
  if (rc == 1) {
    uint32_t net_line = pc_conf_entry(cf, 0, "net")->line;
    if (set[PC_STAGE_RX] || set[PC_STAGE_TX])
      return pc_conf_fail(cf, PC_DEC_COREMAP, net_line,
                          "net and %s are both set: use net (rx and tx on one thread) or rx and tx, not both",
                          set[PC_STAGE_RX] ? "rx" : "tx");
    m->net = true;
    m->cores[PC_STAGE_RX] = m->cores[PC_STAGE_TX] = net;
    set[PC_STAGE_RX] = set[PC_STAGE_TX] = true;
    line[PC_STAGE_RX] = line[PC_STAGE_TX] = net_line;
  }
  for (int s = 0; s < PC_STAGE_GATEWAY; s++) {
    if (set[s]) continue;
    if (s == PC_STAGE_RX || s == PC_STAGE_TX)
      return pc_conf_fail(
          cf, PC_DEC_COREMAP, 0,
          "stage %s has no cores: add '%s = <cores>' (or 'net = <cores>' for rx and tx together)",
          stage_names[s], stage_names[s]);
    return pc_conf_fail(cf, PC_DEC_COREMAP, 0, "stage %s has no cores: add '%s = <cores>', e.g. %s = 4",
                        stage_names[s], stage_names[s], stage_names[s]);
  }
  m->gateway_set = set[PC_STAGE_GATEWAY];
  if (!m->gateway_set) {
    m->cores[PC_STAGE_GATEWAY] = m->cores[PC_STAGE_STORE];
    line[PC_STAGE_GATEWAY] = line[PC_STAGE_STORE];
  }

  /* Every core must exist. */
  pc_coreset_t all;
  pc_topo_cores(t, &all);
  char avail[128];
  pc_coreset_format(&all, avail, sizeof avail);
  for (int s = 0; s < PC_STAGE_COUNT; s++) {
    for (int core = pc_coreset_next(&m->cores[s], 0); core >= 0;
         core = pc_coreset_next(&m->cores[s], (unsigned)core + 1)) {
      if (!pc_coreset_has(&all, (unsigned)core))
        return pc_conf_fail(cf, PC_DEC_COREMAP, line[s],
                            "core %d (%s) does not exist on this machine: use cores %s", core,
                            s <= PC_STAGE_TX && m->net ? "net" : stage_names[s], avail);
    }
  }

  /* No overlap unless shared. net's tx and a defaulted gateway are not stages of their own. */
  if (!m->shared) {
    for (int a = 0; a < PC_STAGE_COUNT; a++) {
      if ((a == PC_STAGE_TX && m->net) || (a == PC_STAGE_GATEWAY && !m->gateway_set)) continue;
      for (int b = a + 1; b < PC_STAGE_COUNT; b++) {
        if ((b == PC_STAGE_TX && m->net) || (b == PC_STAGE_GATEWAY && !m->gateway_set)) continue;
        int core = pc_coreset_first_common(&m->cores[a], &m->cores[b]);
        if (core >= 0)
          return pc_conf_fail(cf, PC_DEC_COREMAP, line[b],
                              "core %d is in both %s (line %u) and %s: give each stage its own cores, or set "
                              "shared = yes to let stages share",
                              core, a <= PC_STAGE_TX && m->net ? "net" : stage_names[a], line[a],
                              stage_names[b]);
      }
    }
  }
  return 0;
}

static int coremap_run(pc_coremap_t *m, const char *name, const char *path, const char *buf, size_t len,
                       const pc_topo_t *t, char *err, size_t errlen) {
  pc_conf_t *cf = pc_conf_new();
  if (!cf) {
    if (errlen) snprintf(err, errlen, "%s: out of memory", name ? name : path);
    return PC_ERR_NOMEM;
  }
  int rc = path ? pc_conf_parse_file(cf, path) : pc_conf_parse_buf(cf, name, buf, len);
  if (!rc) rc = coremap_from_conf(m, cf, t);
  if (errlen) snprintf(err, errlen, "%s", rc ? cf->err : "");
  pc_conf_free(cf);
  return rc;
}

int pc_coremap_parse(pc_coremap_t *m, const char *name, const char *buf, size_t len, const pc_topo_t *t,
                     char *err, size_t errlen) {
  return coremap_run(m, name, NULL, buf, len, t, err, errlen);
}

int pc_coremap_load(pc_coremap_t *m, const char *path, const pc_topo_t *t, char *err, size_t errlen) {
  return coremap_run(m, NULL, path, NULL, 0, t, err, errlen);
}

int pc_coremap_encode(const pc_coremap_t *m, char *out, size_t cap) {
  size_t pos = 0;
  char list[512];
  int n = snprintf(out, cap, "# ParaChain core map (format: docs/config.md)\nshared = %s\n",
                   m->shared ? "yes" : "no");
  if (n < 0 || (size_t)n >= cap) return PC_ERR_OVERFLOW;
  pos = (size_t)n;
  for (int s = 0; s < PC_STAGE_COUNT; s++) {
    if (s == PC_STAGE_TX && m->net) continue;
    if (s == PC_STAGE_GATEWAY && !m->gateway_set) continue;
    if (pc_coreset_format(&m->cores[s], list, sizeof list) < 0) return PC_ERR_OVERFLOW;
    n = snprintf(out + pos, cap - pos, "%s = %s\n", s == PC_STAGE_RX && m->net ? "net" : stage_names[s],
                 list);
    if (n < 0 || (size_t)n >= cap - pos) return PC_ERR_OVERFLOW;
    pos += (size_t)n;
  }
  return (int)pos;
}

/* ----------------------------------------------------------------- NUMA */

int pc_coremap_numa_warning(const pc_topo_t *t, int port_node, const pc_coreset_t *cores, char *msg,
                            size_t len) {
  if (len) msg[0] = '\0';
  if (port_node < 0) return 0;
  pc_coreset_t remote, local;
  pc_coreset_clear(&remote);
  pc_coreset_clear(&local);
  int other = -1;
  bool several = false; /* remote cores on more than one node */
  for (int c = pc_coreset_next(cores, 0); c >= 0; c = pc_coreset_next(cores, (unsigned)c + 1)) {
    int node = pc_topo_core_numa(t, (unsigned)c);
    if (node >= 0 && node != port_node) {
      pc_coreset_add(&remote, (unsigned)c);
      if (other >= 0 && node != other) several = true;
      if (other < 0) other = node;
    }
  }
  if (pc_coreset_empty(&remote)) return 0;
  pc_coreset_t all;
  pc_topo_cores(t, &all);
  for (int c = pc_coreset_next(&all, 0); c >= 0; c = pc_coreset_next(&all, (unsigned)c + 1))
    if (pc_topo_core_numa(t, (unsigned)c) == port_node) pc_coreset_add(&local, (unsigned)c);
  char rl[128], ll[128], where[32];
  pc_coreset_format(&remote, rl, sizeof rl);
  pc_coreset_format(&local, ll, sizeof ll);
  if (several)
    snprintf(where, sizeof where, "other NUMA nodes");
  else
    snprintf(where, sizeof where, "NUMA node %d", other);
  snprintf(
      msg, len,
      "port on NUMA node %d is polled by cores %s on %s: every packet's descriptors and buffers "
      "(allocated on the port's node) are then a remote memory access, typically 1.5-2x the latency of a "
      "local one, paid per packet, and they load the link between sockets; poll it from cores of node %d "
      "(%s) or move the port",
      port_node, rl, where, port_node, ll[0] ? ll : "none");
  return 1;
}

/* --------------------------------------------------------------- proposer */

int pc_coremap_propose(const pc_topo_t *t, unsigned ncores, int port_node, pc_coremap_t *m, char *msg,
                       size_t len) {
  if (len) msg[0] = '\0';
  memset(m, 0, sizeof *m);
  pc_coreset_t all;
  pc_topo_cores(t, &all);
  unsigned total = pc_coreset_count(&all);
  if (ncores == 0) ncores = total > 2 ? total - 1 : total;
  if (ncores == 0 || ncores > total) {
    if (len) snprintf(msg, len, "asked for %u cores but this machine has %u", ncores, total);
    return PC_ERR_RANGE;
  }
  /* Order: the port's node first; CPU 0 (where the kernel and interrupts live) last. */
  unsigned order[PC_MAX_CORES], k = 0;
  for (int pass = 0; pass < 3; pass++) {
    for (int c = pc_coreset_next(&all, 0); c >= 0; c = pc_coreset_next(&all, (unsigned)c + 1)) {
      bool local = port_node < 0 || pc_topo_core_numa(t, (unsigned)c) == port_node;
      bool take = c == 0 ? pass == 2 : (pass == 0 ? local : pass == 1 && !local);
      if (take) order[k++] = (unsigned)c;
    }
  }
  /* Which of the chosen CPUs (by index into order[]) each stage gets. */
#define ON(stage, idx) pc_coreset_add(&m->cores[stage], order[idx])
  unsigned rx = 0, tx = 0, cons = 0, store = 0, verify = 0, exec = 0;
  switch (ncores) {
    case 1: break; /* everything on one CPU */
    case 2: verify = exec = 1; break;
    case 3: store = verify = 1, exec = 2; break;
    case 4: cons = store = 1, verify = 2, exec = 3; break;
    case 5: cons = 1, store = 2, verify = 3, exec = 4; break;
    default: tx = 1, cons = 2, store = 3, verify = 4, exec = 5; break;
  }
  m->net = rx == tx;
  ON(PC_STAGE_RX, rx);
  ON(PC_STAGE_TX, tx);
  ON(PC_STAGE_CONSENSUS, cons);
  ON(PC_STAGE_STORE, store);
  if (ncores >= 6) {
    unsigned rest = ncores - 4, nverify = (rest + 1) / 2;
    for (unsigned i = 0; i < rest; i++) ON(i < nverify ? PC_STAGE_VERIFY : PC_STAGE_EXEC, 4 + i);
  } else {
    ON(PC_STAGE_VERIFY, verify);
    ON(PC_STAGE_EXEC, exec);
  }
#undef ON
  m->cores[PC_STAGE_GATEWAY] = m->cores[PC_STAGE_STORE];
  m->gateway_set = false;
  m->shared = ncores < 5;
  return 0;
}
