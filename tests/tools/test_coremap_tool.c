/* test_coremap_tool.c — pc-coremap: check of a good and a bad map, NUMA
 * warnings on synthetic topologies, proposals that load back, show, and
 * one-line errors with exit 2 on bad arguments. */
#include <criterion/criterion.h>

#include "common/config.h"
#include "tests/tools/run.h"

static run_t r;
#define EX(f) PC_EXAMPLES_DIR "/" f
#define NUMA2 "pack:2 [numa] core:8 pu:1"

Test(coremap_tool, check_good_map) {
  /* CPUs 0 and 1 exist on every machine this runs on (and in the synthetic one). */
  run_tool(&r, PC_COREMAP, "check", EX("coremap-shared.conf"), "--synthetic", "pack:1 core:2 pu:1", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.out, "coremap-shared.conf: ok (stages share cores, 0 NUMA warnings)"), "%s", r.out);
}

Test(coremap_tool, check_good_map_on_this_machine) {
  run_tool(&r, PC_COREMAP, "check", EX("coremap-shared.conf"), NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
}

Test(coremap_tool, check_bad_map_names_file_line_and_fix) {
  run_tool(&r, PC_COREMAP, "check", EX("coremap.conf"), "--synthetic", "pack:1 core:2 pu:1", NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "coremap.conf:4: core 2 (rx) does not exist on this machine: use cores 0-1"), "%s", r.err);
  cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
}

Test(coremap_tool, check_missing_file) {
  run_tool(&r, PC_COREMAP, "check", "/nonexistent-pc/cm.conf", NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "/nonexistent-pc/cm.conf"), "%s", r.err);
}

Test(coremap_tool, check_warns_when_the_port_is_on_another_node) {
  run_tool(&r, PC_COREMAP, "check", EX("coremap.conf"), "--synthetic", NUMA2, "--port-numa", "1", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.out, "warning: port on NUMA node 1 is polled by cores 2-3 on NUMA node 0"), "%s", r.out);
  cr_assert(strstr(r.out, "1 NUMA warning)"), "%s", r.out);
}

Test(coremap_tool, check_no_port_warning_on_the_right_node) {
  run_tool(&r, PC_COREMAP, "check", EX("coremap.conf"), "--synthetic", NUMA2, "--port-numa", "0", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_null(strstr(r.out, "warning:"), "%s", r.out);
  cr_assert(strstr(r.out, "0 NUMA warnings"), "%s", r.out);
}

Test(coremap_tool, check_warns_when_a_stage_spans_nodes) {
  char dir[] = "/tmp/pc-cmtool-XXXXXX", path[64];
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/cm.conf", dir);
  FILE *f = fopen(path, "w");
  fputs("net = 1\nconsensus = 2\nstore = 3\nverify = 4\nexec = 6-9\n", f);
  fclose(f);
  run_tool(&r, PC_COREMAP, "check", path, "--synthetic", NUMA2, NULL);
  rm_tree(dir);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.out, "warning: exec runs on cores 6-9, which span NUMA nodes (0 and 1)"), "%s", r.out);
}

/* The proposal printed for each size loads back against the same topology. */
Test(coremap_tool, proposals_load_back) {
  pc_topo_t *t = pc_topo_open(NUMA2);
  cr_assert_not_null(t);
  const char *ks[] = {"1", "2", "3", "4", "5", "6", "9", "16"};
  for (unsigned i = 0; i < PC_ARRAY_LEN(ks); i++) {
    run_tool(&r, PC_COREMAP, "propose", "--cores", ks[i], "--port-numa", "1", "--synthetic", NUMA2, NULL);
    cr_assert_eq(r.status, 0, "--cores %s: %s", ks[i], r.err);
    pc_coremap_t m;
    char err[PC_CONF_ERR_MAX];
    cr_assert_eq(pc_coremap_parse(&m, "proposed", r.out, strlen(r.out), t, err, sizeof err), 0, "--cores %s: %s",
                 ks[i], err);
  }
  pc_topo_close(t);
}

Test(coremap_tool, proposal_for_this_machine_loads_back) {
  run_tool(&r, PC_COREMAP, "propose", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  pc_topo_t *t = pc_topo_open(NULL);
  pc_coremap_t m;
  char err[PC_CONF_ERR_MAX];
  cr_assert_eq(pc_coremap_parse(&m, "proposed", r.out, strlen(r.out), t, err, sizeof err), 0, "%s", err);
  pc_topo_close(t);
}

Test(coremap_tool, propose_more_cores_than_exist) {
  run_tool(&r, PC_COREMAP, "propose", "--cores", "17", "--synthetic", NUMA2, NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "asked for 17 cores but this machine has 16"), "%s", r.err);
}

Test(coremap_tool, show_lists_packages_numa_cores_and_pus) {
  run_tool(&r, PC_COREMAP, "show", "--synthetic", "pack:2 [numa] core:2 pu:2", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.out, "2 package(s), 2 NUMA node(s), 4 core(s), 8 PU(s); OS CPUs 0-7"), "%s", r.out);
  cr_assert(strstr(r.out, "package 1: CPUs 4-7"), "%s", r.out);
  cr_assert(strstr(r.out, "numa 1: CPUs 4-7"), "%s", r.out);
  cr_assert(strstr(r.out, "core 3: PUs (OS CPUs) 6-7; package 1; numa 1"), "%s", r.out);
}

Test(coremap_tool, show_this_machine) {
  run_tool(&r, PC_COREMAP, "show", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.out, "machine: "), "%s", r.out);
}

static void assert_bad_args(const char *needle) {
  cr_assert_eq(r.status, 2, "status %d, stderr %s", r.status, r.err);
  cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
  cr_assert(strstr(r.err, needle), "'%s' lacks '%s'", r.err, needle);
  cr_assert_str_eq(r.out, "");
}

Test(coremap_tool, no_command) {
  run_tool(&r, PC_COREMAP, NULL);
  assert_bad_args("give a command");
}
Test(coremap_tool, unknown_command) {
  run_tool(&r, PC_COREMAP, "fix", NULL);
  assert_bad_args("unknown command");
}
Test(coremap_tool, check_without_file) {
  run_tool(&r, PC_COREMAP, "check", NULL);
  assert_bad_args("check needs the core-map file");
}
Test(coremap_tool, zero_cores) {
  run_tool(&r, PC_COREMAP, "propose", "--cores", "0", NULL);
  assert_bad_args("--cores wants a number");
}
Test(coremap_tool, cores_is_for_propose_only) {
  run_tool(&r, PC_COREMAP, "check", EX("coremap.conf"), "--cores", "2", NULL);
  assert_bad_args("unknown option for this command");
}
Test(coremap_tool, port_numa_beyond_the_machine) {
  run_tool(&r, PC_COREMAP, "propose", "--port-numa", "2", "--synthetic", NUMA2, NULL);
  assert_bad_args("--port-numa 2: this machine has NUMA nodes 0..1");
}
Test(coremap_tool, bad_synthetic) {
  run_tool(&r, PC_COREMAP, "propose", "--synthetic", "pack:two", NULL);
  assert_bad_args("bad synthetic topology");
}
Test(coremap_tool, missing_option_value) {
  run_tool(&r, PC_COREMAP, "propose", "--cores", NULL);
  assert_bad_args("missing value after");
}
