/* test_coremap.c — core map parsing against injected hwloc topologies,
 * NUMA warnings and the proposer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "tests/testutil.h"

static pc_coremap_t m;
static char err[PC_CONF_ERR_MAX];
static pc_topo_t *topo8; /* one node, CPUs 0-7 */
static pc_topo_t *numa2; /* two nodes: CPUs 0-3 on node 0, 4-7 on node 1 */

static void setup(void) {
  topo8 = pc_topo_open("pack:1 core:8 pu:1");
  numa2 = pc_topo_open("pack:2 [numa] core:4 pu:1");
  cr_assert_not_null(topo8);
  cr_assert_not_null(numa2);
}
static void teardown(void) {
  pc_topo_close(topo8);
  pc_topo_close(numa2);
}
TestSuite(coremap, .init = setup, .fini = teardown);

static int parse(const char *text, const pc_topo_t *t) {
  return pc_coremap_parse(&m, "cm.conf", text, strlen(text), t, err, sizeof err);
}

#define ASSERT_FAILS(text, needle)                                                    \
  do {                                                                                \
    cr_assert_eq(parse(text, topo8), PC_ERR_CONFIG, "accepted; wanted '%s'", needle); \
    cr_assert(strstr(err, needle), "error '%s' lacks '%s'", err, needle);             \
  } while (0)

static const char *full = "rx = 1\ntx = 2\nverify = 3-4\nconsensus = 5\nexec = 6\nstore = 7\ngateway = 0\n";

/* ---------------------------------------------------------------- topology */

Test(coremap, synthetic_topologies) {
  pc_coreset_t all;
  char buf[64];
  pc_topo_cores(topo8, &all);
  pc_coreset_format(&all, buf, sizeof buf);
  cr_assert_str_eq(buf, "0-7");
  cr_assert_eq(pc_topo_numa_count(topo8), 1);
  cr_assert(pc_topo_has_core(topo8, 7));
  cr_assert_not(pc_topo_has_core(topo8, 8));
  cr_assert_eq(pc_topo_numa_count(numa2), 2);
  cr_assert_eq(pc_topo_core_numa(numa2, 3), 0);
  cr_assert_eq(pc_topo_core_numa(numa2, 4), 1);
  cr_assert_eq(pc_topo_core_numa(numa2, 8), -1);
}

Test(coremap, bad_synthetic_description) { cr_assert_null(pc_topo_open("pack:two")); }

Test(coremap, real_machine_topology_has_cpus) {
  pc_topo_t *t = pc_topo_open(NULL);
  cr_assert_not_null(t);
  pc_coreset_t all;
  pc_topo_cores(t, &all);
  cr_assert_geq(pc_coreset_count(&all), 1);
  pc_topo_close(t);
}

/* ------------------------------------------------------------------ valid */

Test(coremap, full_map) {
  cr_assert_eq(parse(full, topo8), 0, "%s", err);
  cr_assert_str_eq(err, "");
  cr_assert_not(m.shared);
  cr_assert_not(m.net);
  cr_assert(m.gateway_set);
  cr_assert(pc_coreset_has(&m.cores[PC_STAGE_VERIFY], 4));
  cr_assert_eq(pc_coreset_count(&m.cores[PC_STAGE_VERIFY]), 2);
  cr_assert(pc_coreset_has(&m.cores[PC_STAGE_GATEWAY], 0));
}

Test(coremap, net_stands_for_rx_and_tx) {
  cr_assert_eq(parse("net = 1\nverify = 2\nconsensus = 3\nexec = 4-6\nstore = 7\n", topo8), 0, "%s", err);
  cr_assert(m.net);
  cr_assert(pc_coreset_has(&m.cores[PC_STAGE_RX], 1) && pc_coreset_has(&m.cores[PC_STAGE_TX], 1));
}

Test(coremap, gateway_defaults_to_store) {
  cr_assert_eq(parse("net = 1\nverify = 2\nconsensus = 3\nexec = 4-6\nstore = 7\n", topo8), 0, "%s", err);
  cr_assert_not(m.gateway_set);
  cr_assert(pc_coreset_has(&m.cores[PC_STAGE_GATEWAY], 7));
  cr_assert_eq(pc_coreset_count(&m.cores[PC_STAGE_GATEWAY]), 1);
}

Test(coremap, shared_allows_overlap) {
  const char *t = "shared = yes\nnet = 0\nconsensus = 0\nstore = 0\nverify = 1\nexec = 1\n";
  cr_assert_eq(parse(t, topo8), 0, "%s", err);
  cr_assert(m.shared);
}

Test(coremap, example_files_load) {
  pc_topo_t *t16 = pc_topo_open("pack:1 core:16 pu:1");
  cr_assert_eq(pc_coremap_load(&m, PC_EXAMPLES_DIR "/coremap.conf", t16, err, sizeof err), 0, "%s", err);
  cr_assert_eq(pc_coremap_load(&m, PC_EXAMPLES_DIR "/coremap-shared.conf", t16, err, sizeof err), 0, "%s",
               err);
  pc_topo_t *t2 = pc_topo_open("pack:1 core:2 pu:1");
  cr_assert_eq(pc_coremap_load(&m, PC_EXAMPLES_DIR "/coremap-shared.conf", t2, err, sizeof err), 0, "%s",
               err);
  pc_topo_close(t2);
  pc_topo_close(t16);
}

/* ------------------------------------------------------------------ errors */

Test(coremap, overlap_names_both_stages) {
  ASSERT_FAILS("rx = 1\ntx = 2\nverify = 3-4\nconsensus = 5\nexec = 4-6\nstore = 7\n",
               "cm.conf:5: core 4 is in both verify (line 3) and exec: give each stage its own cores, or set "
               "shared = yes");
}

Test(coremap, overlap_with_net) {
  ASSERT_FAILS("net = 1\nverify = 2\nconsensus = 1\nexec = 4-6\nstore = 7\n",
               "cm.conf:3: core 1 is in both net (line 1) and consensus");
}

Test(coremap, overlap_with_explicit_gateway) {
  ASSERT_FAILS("net = 1\nverify = 2\nconsensus = 3\nexec = 4-6\nstore = 7\ngateway = 7\n",
               "cm.conf:6: core 7 is in both store (line 5) and gateway");
}

Test(coremap, shared_no_is_explicit_default) {
  ASSERT_FAILS("shared = no\nnet = 1\nverify = 1\nconsensus = 3\nexec = 4\nstore = 5\n", "core 1 is in both");
}

Test(coremap, unknown_core) {
  ASSERT_FAILS("net = 1\nverify = 2\nconsensus = 3\nexec = 4-9\nstore = 7\n",
               "cm.conf:4: core 8 (exec) does not exist on this machine: use cores 0-7");
}

Test(coremap, unknown_core_under_net) {
  ASSERT_FAILS("net = 12\nverify = 2\nconsensus = 3\nexec = 4\nstore = 7\n",
               "cm.conf:1: core 12 (net) does not exist");
}

Test(coremap, missing_stages) {
  ASSERT_FAILS("net = 1\nconsensus = 3\nexec = 4\nstore = 7\n",
               "cm.conf: stage verify has no cores: add 'verify = <cores>'");
  ASSERT_FAILS("net = 1\nverify = 2\nexec = 4\nstore = 7\n", "stage consensus has no cores");
  ASSERT_FAILS("net = 1\nverify = 2\nconsensus = 3\nstore = 7\n", "stage exec has no cores");
  ASSERT_FAILS("net = 1\nverify = 2\nconsensus = 3\nexec = 4\n", "stage store has no cores");
  ASSERT_FAILS("tx = 1\nverify = 2\nconsensus = 3\nexec = 4\nstore = 7\n",
               "stage rx has no cores: add 'rx = <cores>' (or 'net = <cores>' for rx and tx together)");
  ASSERT_FAILS("rx = 1\nverify = 2\nconsensus = 3\nexec = 4\nstore = 7\n", "stage tx has no cores");
  ASSERT_FAILS("", "stage rx has no cores");
}

Test(coremap, net_and_rx_conflict) {
  ASSERT_FAILS(
      "rx = 1\nnet = 2\nverify = 3\nconsensus = 4\nexec = 5\nstore = 6\n",
      "cm.conf:2: net and rx are both set: use net (rx and tx on one thread) or rx and tx, not both");
}

Test(coremap, unknown_key_suggests) {
  ASSERT_FAILS("net = 1\nverify = 2\nconsensu = 3\nexec = 4\nstore = 7\n",
               "cm.conf:3: unknown key 'consensu' in the global section (did you mean 'consensus'?)");
}

Test(coremap, sections_are_refused) {
  ASSERT_FAILS("[cores]\nnet = 1\n", "cm.conf:1: a core map has no sections: remove [cores]");
}

Test(coremap, bad_values) {
  ASSERT_FAILS("net = 1-\n",
               "cm.conf:1: net = 1-: expected a core number after '-': write a core list such as 2,4-7");
  ASSERT_FAILS("shared = maybe\n", "cm.conf:1: shared = maybe is not a boolean");
  ASSERT_FAILS("exec = 4,4\n", "a core is listed twice");
}

Test(coremap, errors_are_counted) {
  uint64_t before = pc_reject_count(PC_DEC_COREMAP, PC_ERR_CONFIG);
  cr_assert_eq(parse("net = 1\n", topo8), PC_ERR_CONFIG);
  cr_assert_eq(pc_reject_count(PC_DEC_COREMAP, PC_ERR_CONFIG), before + 1);
}

Test(coremap, missing_file) {
  cr_assert_eq(pc_coremap_load(&m, "/nonexistent/cm.conf", topo8, err, sizeof err), PC_ERR_IO);
  cr_assert(strstr(err, "/nonexistent/cm.conf: cannot open"), "%s", err);
}

/* ------------------------------------------------------------------ encode */

Test(coremap, encode_round_trip) {
  const char *maps[] = {
      full, "net = 1\nverify = 2\nconsensus = 3\nexec = 4-6\nstore = 7\n",
      "shared = yes\nnet = 0\nconsensus = 0\nstore = 0\nverify = 1\nexec = 1\ngateway = 1\n"};
  for (unsigned i = 0; i < PC_ARRAY_LEN(maps); i++) {
    cr_assert_eq(parse(maps[i], topo8), 0, "%s", err);
    pc_coremap_t a = m;
    char text[1024];
    int n = pc_coremap_encode(&a, text, sizeof text);
    cr_assert_gt(n, 0);
    cr_assert_eq(parse(text, topo8), 0, "%s\n%s", err, text);
    cr_assert_eq(memcmp(&a, &m, sizeof a), 0, "map %u:\n%s", i, text);
    cr_assert_eq(pc_coremap_encode(&a, text, (size_t)n), PC_ERR_OVERFLOW);
  }
}

/* -------------------------------------------------------------------- NUMA */

Test(coremap, numa_warning_for_remote_cores) {
  pc_coreset_t cores;
  char msg[512];
  pc_coreset_parse("4-5", &cores, NULL);
  cr_assert_eq(pc_coremap_numa_warning(numa2, 0, &cores, msg, sizeof msg), 1);
  cr_assert(strstr(msg, "port on NUMA node 0 is polled by cores 4-5 on NUMA node 1"), "%s", msg);
  cr_assert(strstr(msg, "remote memory access"), "%s", msg);
  cr_assert(strstr(msg, "per packet"), "%s", msg);
  cr_assert(strstr(msg, "cores of node 0 (0-3)"), "%s", msg);
}

Test(coremap, numa_warning_names_only_remote_cores) {
  pc_coreset_t cores;
  char msg[512];
  pc_coreset_parse("2-5", &cores, NULL);
  cr_assert_eq(pc_coremap_numa_warning(numa2, 1, &cores, msg, sizeof msg), 1);
  cr_assert(strstr(msg, "polled by cores 2-3 on NUMA node 0"), "%s", msg);
}

Test(coremap, numa_warning_with_several_remote_nodes) {
  pc_topo_t *t4 = pc_topo_open("pack:4 [numa] core:2 pu:1"); /* nodes 0..3, two CPUs each */
  cr_assert_not_null(t4);
  pc_coreset_t cores;
  char msg[512];
  pc_coreset_parse("1-5", &cores, NULL);
  cr_assert_eq(pc_coremap_numa_warning(t4, 0, &cores, msg, sizeof msg), 1);
  cr_assert(strstr(msg, "polled by cores 2-5 on other NUMA nodes"), "%s", msg);
  pc_topo_close(t4);
}

Test(coremap, no_numa_warning_when_local_or_unknown) {
  pc_coreset_t cores;
  char msg[512] = "junk";
  pc_coreset_parse("0-3", &cores, NULL);
  cr_assert_eq(pc_coremap_numa_warning(numa2, 0, &cores, msg, sizeof msg), 0);
  cr_assert_str_eq(msg, "");
  cr_assert_eq(pc_coremap_numa_warning(numa2, -1, &cores, msg, sizeof msg), 0);
  pc_coreset_parse("0-7", &cores, NULL);
  cr_assert_eq(pc_coremap_numa_warning(topo8, 0, &cores, msg, sizeof msg), 0);
}

/* ----------------------------------------------------------------- propose */

Test(coremap, proposals_are_valid_maps) {
  for (unsigned n = 1; n <= 8; n++) {
    char msg[256], text[1024];
    cr_assert_eq(pc_coremap_propose(topo8, n, -1, &m, msg, sizeof msg), 0, "n=%u: %s", n, msg);
    pc_coreset_t used;
    pc_coreset_clear(&used);
    for (int s = 0; s < PC_STAGE_COUNT; s++) {
      cr_assert_not(pc_coreset_empty(&m.cores[s]), "n=%u stage %s empty", n, pc_stage_name((pc_stage_t)s));
      for (int c = pc_coreset_next(&m.cores[s], 0); c >= 0; c = pc_coreset_next(&m.cores[s], (unsigned)c + 1))
        pc_coreset_add(&used, (unsigned)c);
    }
    cr_assert_eq(pc_coreset_count(&used), n, "n=%u uses %u cores", n, pc_coreset_count(&used));
    cr_assert_eq(m.shared, n < 5);
    if (n < 8) cr_assert_not(pc_coreset_has(&used, 0), "n=%u: CPU 0 is left to the OS", n);
    cr_assert_gt(pc_coremap_encode(&m, text, sizeof text), 0);
    pc_coremap_t proposed = m;
    cr_assert_eq(parse(text, topo8), 0, "n=%u: %s\n%s", n, err, text);
    cr_assert_eq(memcmp(&proposed, &m, sizeof m), 0, "n=%u:\n%s", n, text);
  }
}

Test(coremap, propose_default_and_too_many) {
  char msg[256];
  cr_assert_eq(pc_coremap_propose(topo8, 0, -1, &m, msg, sizeof msg), 0, "%s", msg);
  cr_assert_eq(pc_coreset_count(&m.cores[PC_STAGE_VERIFY]) + pc_coreset_count(&m.cores[PC_STAGE_EXEC]), 3);
  cr_assert_eq(pc_coremap_propose(topo8, 9, -1, &m, msg, sizeof msg), PC_ERR_RANGE);
  cr_assert_str_eq(msg, "asked for 9 cores but this machine has 8");
}

Test(coremap, propose_prefers_the_port_node) {
  char msg[512];
  cr_assert_eq(pc_coremap_propose(numa2, 4, 1, &m, msg, sizeof msg), 0, "%s", msg);
  for (int s = 0; s < PC_STAGE_COUNT; s++)
    cr_assert_eq(pc_coremap_numa_warning(numa2, 1, &m.cores[s], msg, sizeof msg), 0, "%s: %s",
                 pc_stage_name((pc_stage_t)s), msg);
  cr_assert_eq(pc_coremap_propose(numa2, 3, 0, &m, msg, sizeof msg), 0, "%s", msg);
  cr_assert_eq(pc_coremap_numa_warning(numa2, 0, &m.cores[PC_STAGE_RX], msg, sizeof msg), 0, "%s", msg);
}

Test(coremap, stage_names) {
  cr_assert_str_eq(pc_stage_name(PC_STAGE_CONSENSUS), "consensus");
  cr_assert_str_eq(pc_stage_name(PC_STAGE_COUNT), "?");
}
