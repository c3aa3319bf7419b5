/* pc-coremap — the core-map tool: show this machine's topology, check a core
 * map against it, propose one. Core-map format: docs/config.md.
 *
 *   pc-coremap show                                    packages, NUMA nodes, cores, PUs with OS indices
 *   pc-coremap check FILE [--port-numa N]              validate FILE here; print NUMA warnings
 *   pc-coremap propose [--cores K] [--port-numa N]     print a proposed core map
 * Every command takes --synthetic DESC to use an hwloc synthetic topology
 * (e.g. "pack:2 [numa] core:8 pu:2") instead of this machine: plan a map for
 * another server, or test.
 *
 * Exit status: 0 done (check: valid, warnings allowed), 1 invalid map or
 * failure, 2 bad arguments. Errors are one line on stderr. */
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

static const char usage[] =
    "usage: pc-coremap show [--synthetic DESC]\n"
    "       pc-coremap check FILE [--port-numa N] [--synthetic DESC]\n"
    "       pc-coremap propose [--cores K] [--port-numa N] [--synthetic DESC]\n"
    "\n"
    "show     this machine's packages, NUMA nodes, cores and PUs; the numbers a\n"
    "         core map uses are the PUs' OS indices (as taskset and DPDK -l use)\n"
    "check    load FILE against this machine: 0 if valid; warns when a stage's\n"
    "         cores span NUMA nodes, and with --port-numa N when rx/tx cores are\n"
    "         not on the NIC's node N (cat /sys/bus/pci/devices/ADDR/numa_node)\n"
    "propose  print a core map for K CPUs (default: all but CPU 0 when there\n"
    "         are more than two), CPUs of NUMA node N first\n"
    "--synthetic DESC  use an hwloc synthetic topology instead of this machine\n";

static int bad_args(const char *msg, const char *arg) {
  fprintf(stderr, "pc-coremap: %s%s%s (see pc-coremap --help)\n", msg, arg ? ": " : "", arg ? arg : "");
  return 2;
}

static int parse_num(const char *s, unsigned max, unsigned *out) {
  uint64_t v;
  if (pc_parse_u64(s, &v) || v > max) return -1;
  *out = (unsigned)v;
  return 0;
}

static void bitmap_list(hwloc_const_bitmap_t b, char *out, size_t len) {
  pc_coreset_t s;
  pc_coreset_clear(&s);
  unsigned i;
  hwloc_bitmap_foreach_begin(i, b) pc_coreset_add(&s, i);
  hwloc_bitmap_foreach_end();
  if (pc_coreset_format(&s, out, len) < 0 && len > 4) strcpy(out + len - 4, "...");
}

/* Checked here so a bad description gives our one line, not the library's log. */
static bool synthetic_ok(const char *desc) {
  hwloc_topology_t t;
  if (hwloc_topology_init(&t) != 0) return false;
  bool ok = hwloc_topology_set_synthetic(t, desc) == 0;
  hwloc_topology_destroy(t);
  return ok;
}

static int cmd_show(const char *synthetic) {
  hwloc_topology_t t;
  if (hwloc_topology_init(&t) != 0) return fprintf(stderr, "pc-coremap: hwloc init failed\n"), 1;
  if (synthetic && hwloc_topology_set_synthetic(t, synthetic) != 0) {
    hwloc_topology_destroy(t);
    return bad_args("bad synthetic topology (e.g. \"pack:2 [numa] core:8 pu:2\")", synthetic);
  }
  if (hwloc_topology_load(t) != 0) {
    hwloc_topology_destroy(t);
    return fprintf(stderr, "pc-coremap: cannot read the topology\n"), 1;
  }
  char list[4096];
  int npack = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE), nnuma = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
  int ncore = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE), npu = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
  bitmap_list(hwloc_topology_get_topology_cpuset(t), list, sizeof list);
  printf("machine: %d package(s), %d NUMA node(s), %d core(s), %d PU(s); OS CPUs %s\n", npack, nnuma, ncore, npu,
         list);
  for (hwloc_obj_t p = NULL; (p = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_PACKAGE, p));) {
    bitmap_list(p->cpuset, list, sizeof list);
    printf("package %u: CPUs %s\n", p->os_index == HWLOC_UNKNOWN_INDEX ? p->logical_index : p->os_index, list);
  }
  for (hwloc_obj_t n = NULL; (n = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, n));) {
    bitmap_list(n->cpuset, list, sizeof list);
    unsigned long long mib = (unsigned long long)(n->attr ? n->attr->numanode.local_memory >> 20 : 0);
    printf("numa %u: CPUs %s, memory %llu MiB\n", n->os_index, list, mib);
  }
  for (hwloc_obj_t c = NULL; (c = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_CORE, c));) {
    bitmap_list(c->cpuset, list, sizeof list);
    hwloc_obj_t pk = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE, c);
    hwloc_obj_t nu = NULL;
    for (hwloc_obj_t n = NULL; (n = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, n));)
      if (hwloc_bitmap_isincluded(c->cpuset, n->cpuset)) nu = n;
    printf("core %u: PUs (OS CPUs) %s; package %u; numa %s%u\n", c->logical_index, list,
           pk ? (pk->os_index == HWLOC_UNKNOWN_INDEX ? pk->logical_index : pk->os_index) : 0, nu ? "" : "?",
           nu ? nu->os_index : 0);
  }
  hwloc_topology_destroy(t);
  return 0;
}

static int cmd_check(pc_topo_t *t, const char *file, int port_numa) {
  pc_coremap_t m;
  char err[PC_CONF_ERR_MAX];
  int rc = pc_coremap_load(&m, file, t, err, sizeof err);
  if (rc) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  unsigned warnings = 0;
  char list[512], msg[1024];
  for (int s = 0; s < PC_STAGE_COUNT; s++) {
    const pc_coreset_t *cs = &m.cores[s];
    int first = -2;
    for (int c = pc_coreset_next(cs, 0); c >= 0; c = pc_coreset_next(cs, (unsigned)c + 1)) {
      int node = pc_topo_core_numa(t, (unsigned)c);
      if (first == -2) first = node;
      if (node != first) {
        pc_coreset_format(cs, list, sizeof list);
        printf("warning: %s runs on cores %s, which span NUMA nodes (%d and %d): its threads then share data across "
               "the link between sockets; keep a stage on one node\n",
               pc_stage_name((pc_stage_t)s), list, first, node);
        warnings++;
        break;
      }
    }
  }
  if (port_numa >= 0) {
    pc_coreset_t net = m.cores[PC_STAGE_RX];
    for (int c = pc_coreset_next(&m.cores[PC_STAGE_TX], 0); c >= 0;
         c = pc_coreset_next(&m.cores[PC_STAGE_TX], (unsigned)c + 1))
      pc_coreset_add(&net, (unsigned)c);
    if (pc_coremap_numa_warning(t, port_numa, &net, msg, sizeof msg)) {
      printf("warning: %s\n", msg);
      warnings++;
    }
  }
  printf("%s: ok (%s, %u NUMA warning%s)\n", file, m.shared ? "stages share cores" : "every stage on its own cores",
         warnings, warnings == 1 ? "" : "s");
  return 0;
}

static int cmd_propose(pc_topo_t *t, unsigned cores, int port_numa) {
  pc_coremap_t m;
  char msg[256], out[2048];
  if (pc_coremap_propose(t, cores, port_numa, &m, msg, sizeof msg)) {
    fprintf(stderr, "pc-coremap: %s: give --cores at most that\n", msg);
    return 1;
  }
  int n = pc_coremap_encode(&m, out, sizeof out);
  if (n < 0) return fprintf(stderr, "pc-coremap: encoding failed\n"), 1;
  char nic[48] = "";
  if (port_numa >= 0) snprintf(nic, sizeof nic, ", NIC on NUMA node %d", port_numa);
  if (cores)
    printf("# proposed by pc-coremap propose for %u CPUs%s\n%s", cores, nic, out);
  else
    printf("# proposed by pc-coremap propose for the default CPUs%s\n%s", nic, out);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return bad_args("give a command: show, check FILE or propose", NULL);
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    fputs(usage, stdout);
    return 0;
  }
  const char *cmd = argv[1], *file = NULL, *synthetic = NULL;
  bool is_show = !strcmp(cmd, "show"), is_check = !strcmp(cmd, "check"), is_propose = !strcmp(cmd, "propose");
  if (!is_show && !is_check && !is_propose) return bad_args("unknown command (want show, check or propose)", cmd);
  unsigned cores = 0, numa = 0;
  int port_numa = -1;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      return 0;
    }
    bool takes = !strcmp(a, "--synthetic") || !strcmp(a, "--cores") || !strcmp(a, "--port-numa");
    if (takes && i + 1 >= argc) return bad_args("missing value after", a);
    if (!strcmp(a, "--synthetic")) {
      synthetic = argv[++i];
    } else if (!strcmp(a, "--cores") && is_propose) {
      if (parse_num(argv[++i], PC_MAX_CORES, &cores) || cores == 0)
        return bad_args("--cores wants a number of CPUs, 1 or more", argv[i]);
    } else if (!strcmp(a, "--port-numa") && !is_show) {
      if (parse_num(argv[++i], 4095, &numa)) return bad_args("--port-numa wants a NUMA node number", argv[i]);
      port_numa = (int)numa;
    } else if (is_check && !file && a[0] != '-') {
      file = a;
    } else {
      return bad_args(a[0] == '-' ? "unknown option for this command" : "unexpected argument", a);
    }
  }
  if (is_check && !file) return bad_args("check needs the core-map file: pc-coremap check FILE", NULL);
  pc_log_set_level(PC_LOG_ERROR);
  if (is_show) return cmd_show(synthetic);
  if (synthetic && !synthetic_ok(synthetic))
    return bad_args("bad synthetic topology (e.g. \"pack:2 [numa] core:8 pu:2\")", synthetic);
  pc_topo_t *t = pc_topo_open(synthetic);
  if (!t) {
    if (synthetic) return bad_args("bad synthetic topology (e.g. \"pack:2 [numa] core:8 pu:2\")", synthetic);
    fprintf(stderr, "pc-coremap: cannot read this machine's topology (hwloc)\n");
    return 1;
  }
  if (port_numa >= 0 && (unsigned)port_numa >= pc_topo_numa_count(t)) {
    unsigned nodes = pc_topo_numa_count(t);
    pc_topo_close(t);
    fprintf(stderr, "pc-coremap: --port-numa %d: this machine has NUMA nodes 0..%u (see pc-coremap --help)\n",
            port_numa, nodes - 1);
    return 2;
  }
  int rc = is_check ? cmd_check(t, file, port_numa) : cmd_propose(t, cores, port_numa);
  pc_topo_close(t);
  return rc;
}
