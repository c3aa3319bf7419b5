/* test_node_cli.c — parachain-node's command line and start-up errors, run
 * as the built binary (suite `tools`; issue 8: "Bad config, cluster file or
 * core map: a `file:line: message` error, non-zero exit; nothing started").
 *
 * The loader's messages are unit-tested in tests/node/test_node_config.c;
 * this checks what the daemon does with them: --help exits 0 with the
 * usage on stdout; a bad argument or a missing --config exits 2 with the
 * usage on stderr; a config that does not exist exits 2 naming it. On a
 * cluster from pc-cluster-gen (udp, and memif, whose start leaves the most
 * traces), --check exits 0 and starts nothing, and one line broken in
 * node.conf, cluster.conf or coremap.conf, or a key file readable by
 * others, makes the daemon (run without --check) exit 2 with one line on
 * stderr that starts "file:line:" of the file and line that were broken.
 *
 * "Nothing started" is checked on what a started replica leaves behind,
 * each seen on a real start of the generated config: its data_dir (made
 * at start), log or EAL lines on stderr (so stderr must be the one line),
 * and under memif the EAL runtime folder <run>/dpdk/<file-prefix> (made by
 * rte_eal_init and left after exit). A daemon
 * that started would not return: each run is killed with its process group
 * after RUN_TIMEOUT_S and the test fails instead of hanging. */
#include <criterion/criterion.h>
#include <limits.h>

#include "run.h"

#ifndef RUN_TIMEOUT_S
#define RUN_TIMEOUT_S 10 /* a correct run returns in milliseconds */
#endif

static char base[64], out[96], dpdk_dir[PATH_MAX];
static bool memif;
static run_t r;
static bool killed;

#define RUN(...) \
  (killed = run_tool_timed(&r, RUN_TIMEOUT_S, (const char *const[]){PC_NODE, __VA_ARGS__, NULL}))

static void setup(void) {
  snprintf(base, sizeof base, "/tmp/pc-nodecli-XXXXXX");
  cr_assert_not_null(mkdtemp(base));
  snprintf(out, sizeof out, "%s/c", base);
  dpdk_dir[0] = '\0';
  memif = false;
}
/* Also removes the EAL runtime folder a failing memif run left: its file
 * prefix is this test's own (see gen). */
static void teardown(void) {
  rm_tree(base);
  if (dpdk_dir[0]) rm_tree(dpdk_dir);
}

TestSuite(node_cli, .init = setup, .fini = teardown);

/* gen writes a 4-replica cluster over transport into out. Its chain id
 * carries this process's pid, so the memif replicas' EAL file prefix
 * (pc-<low 32 bits of the chain id>-r<i>) is this test's alone; its ports
 * are away from the default 7100.. so that a daemon that wrongly started
 * cannot disturb a cluster someone runs on this machine. */
static void gen(const char *transport) {
  char chain[32];
  unsigned tag = (unsigned)getpid();
  snprintf(chain, sizeof chain, "0x6e63%08x", tag);
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", transport, "--out", out, "--chain-id", chain,
           "--base-port", "23100", NULL);
  cr_assert_eq(r.status, 0, "pc-cluster-gen: %s", r.err);
  memif = !strcmp(transport, "memif");
  if (!memif) return;
  /* where DPDK puts its runtime folder (eal_create_runtime_dir) */
  char dir[PATH_MAX];
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  const char *run_dir = getuid() == 0 ? "/var/run" : xdg ? xdg : "/tmp";
  snprintf(dir, sizeof dir, "%s/dpdk/pc-%08x-r0", run_dir, tag);
  cr_assert_not(exists(dir), "%s exists before the test", dir);
  snprintf(dpdk_dir, sizeof dpdk_dir, "%s", dir); /* teardown removes it from here on */
}

static void path_of(char *p, size_t cap, const char *rel) { snprintf(p, cap, "%s/%s", out, rel); }

/* line_at finds the first line of text that starts with prefix: its
 * number (1-based, 0 when there is none), its start and its length with
 * the newline. */
static unsigned line_at(const char *text, const char *prefix, size_t *start, size_t *len) {
  unsigned no = 1;
  for (const char *l = text; *l; no++) {
    const char *end = strchr(l, '\n');
    size_t n = end ? (size_t)(end - l + 1) : strlen(l);
    if (!strncmp(l, prefix, strlen(prefix))) {
      *start = (size_t)(l - text), *len = n;
      return no;
    }
    l += n;
  }
  return 0;
}

/* set_line replaces the first line of out/rel that starts with prefix by
 * line, and returns its number. */
static unsigned set_line(const char *rel, const char *prefix, const char *line) {
  char path[PATH_MAX], text[16384], edited[16384];
  path_of(path, sizeof path, rel);
  slurp(path, text, sizeof text);
  size_t at = 0, len = 0;
  unsigned no = line_at(text, prefix, &at, &len);
  cr_assert(no, "%s has no line starting with '%s':\n%s", path, prefix, text);
  int n = snprintf(edited, sizeof edited, "%.*s%s\n%s", (int)at, text, line, text + at + len);
  cr_assert(n > 0 && (size_t)n < sizeof edited);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  fputs(edited, f);
  cr_assert_eq(fclose(f), 0);
  return no;
}

/* expect_nothing_started: no data_dir, and under memif no EAL runtime
 * folder. (The memif sockets are in the abstract namespace, not files in
 * memif_dir, and go with the process: the runtime folder, made by
 * rte_eal_init before any port, is what stays.) */
static void expect_nothing_started(void) {
  char path[PATH_MAX];
  path_of(path, sizeof path, "replica-0/data");
  cr_expect_not(exists(path), "the daemon created its data_dir %s", path);
  if (memif) {
    cr_expect_not(exists(dpdk_dir), "the daemon initialised the EAL (%s exists)", dpdk_dir);
  }
}

/* expect_file_line: exit 2 within the timeout, nothing on stdout, exactly
 * one line on stderr: "<file>:<line>: ..." where file is the same file as
 * out/rel (compared by realpath: the daemon spells it as it resolved it,
 * e.g. replica-0/../cluster.conf), and the line contains needle. */
static void expect_file_line(const char *rel, unsigned line, const char *needle) {
  cr_assert_not(killed, "parachain-node still running after %d s: it started; stderr: %s", RUN_TIMEOUT_S,
                r.err);
  cr_expect_eq(r.status, 2, "exit %d, want 2; stderr: %s", r.status, r.err);
  cr_expect_str_empty(r.out, "something ran (stdout): %s", r.out);
  cr_expect_eq(count_lines(r.err), 1, "want one line on stderr: %s", r.err);
  char file[PATH_MAX], got[PATH_MAX], want[PATH_MAX], path[PATH_MAX];
  unsigned got_line = 0;
  int used = 0;
  cr_assert(sscanf(r.err, "%4095[^:]:%u: %n", file, &got_line, &used) == 2 && used > 0,
            "stderr does not start with 'file:line: ': %s", r.err);
  path_of(path, sizeof path, rel);
  cr_assert_not_null(realpath(path, want), "%s", path);
  cr_expect(realpath(file, got) && !strcmp(got, want), "error names %s, want %s: %s", file, path, r.err);
  cr_expect_eq(got_line, line, "error at line %u, want %u: %s", got_line, line, r.err);
  cr_expect(strstr(r.err + used, needle), "'%s' lacks '%s'", r.err, needle);
  expect_nothing_started();
}

/* --- command line --- */

Test(node_cli, help) {
  RUN("--help");
  cr_assert_not(killed);
  cr_expect_eq(r.status, 0, "exit %d; stderr: %s", r.status, r.err);
  cr_expect(!strncmp(r.out, "usage: parachain-node --config FILE", 35), "stdout: %s", r.out);
  cr_expect(strstr(r.out, "--check"), "usage lacks --check: %s", r.out);
  cr_expect_str_empty(r.err, "%s", r.err);
}

Test(node_cli, unknown_option) {
  RUN("--bogus");
  cr_assert_not(killed);
  cr_expect_eq(r.status, 2, "exit %d; stderr: %s", r.status, r.err);
  cr_expect(!strncmp(r.err, "parachain-node: unknown or incomplete argument '--bogus'\n", 57), "%s", r.err);
  cr_expect(strstr(r.err, "\nusage: parachain-node --config FILE"), "no usage after the message: %s", r.err);
  cr_expect_str_empty(r.out, "%s", r.out);
}

Test(node_cli, config_without_value) {
  RUN("--config");
  cr_assert_not(killed);
  cr_expect_eq(r.status, 2, "exit %d; stderr: %s", r.status, r.err);
  cr_expect(strstr(r.err, "argument '--config'"), "%s", r.err);
  cr_expect(strstr(r.err, "\nusage: parachain-node"), "%s", r.err);
  cr_expect_str_empty(r.out, "%s", r.out);
}

Test(node_cli, no_config) {
  RUN("--check");
  cr_assert_not(killed);
  cr_expect_eq(r.status, 2, "exit %d; stderr: %s", r.status, r.err);
  cr_expect(!strncmp(r.err, "parachain-node: --config FILE is required\n", 42), "%s", r.err);
  cr_expect(strstr(r.err, "\nusage: parachain-node"), "%s", r.err);
  cr_expect_str_empty(r.out, "%s", r.out);
}

Test(node_cli, config_does_not_exist) {
  RUN("--config", "/nonexistent/n.conf");
  cr_assert_not(killed);
  cr_expect_eq(r.status, 2, "exit %d; stderr: %s", r.status, r.err);
  cr_expect(!strncmp(r.err, "/nonexistent/n.conf", 19), "message does not name the path: %s", r.err);
  cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
  cr_expect_str_empty(r.out, "%s", r.out);
}

/* --- a generated cluster --- */

static void check_ok(const char *transport) {
  gen(transport);
  char conf[PATH_MAX], want[PATH_MAX + 64];
  path_of(conf, sizeof conf, "replica-0/node.conf");
  RUN("--config", conf, "--check");
  cr_assert_not(killed, "--check still running after %d s", RUN_TIMEOUT_S);
  cr_expect_eq(r.status, 0, "exit %d; stderr: %s", r.status, r.err);
  snprintf(want, sizeof want, "%s: ok (replica 0 of 4, sbft, %s)\n", conf, transport);
  cr_expect_str_eq(r.out, want);
  cr_expect_str_empty(r.err, "%s", r.err);
  expect_nothing_started();
}

Test(node_cli, check_udp) { check_ok("udp"); }
Test(node_cli, check_memif) { check_ok("memif"); }

/* run_node runs replica 0 as the daemon (no --check). */
static void run_node(void) {
  char conf[PATH_MAX];
  path_of(conf, sizeof conf, "replica-0/node.conf");
  RUN("--config", conf);
}

static void node_conf_unknown_key(const char *transport) {
  gen(transport);
  unsigned line = set_line("replica-0/node.conf", "log_level =", "log_levle = info");
  run_node();
  expect_file_line("replica-0/node.conf", line, "unknown key 'log_levle' in [node]");
}

/* n >= 3f+1 (docs/config.md, whole-file rules) */
static void cluster_conf_f_too_large(const char *transport) {
  gen(transport);
  unsigned line = set_line("cluster.conf", "f =", "f = 2");
  run_node();
  expect_file_line("cluster.conf", line, "n = 4 is too small for f = 2: BFT needs n >= 3f+1 = 7");
}

/* [replica i] key: hex, exactly 2 digits per byte (the first key line of
 * the cluster file is replica 0's) */
static void cluster_conf_bad_key_hex(const char *transport) {
  gen(transport);
  unsigned line = set_line("cluster.conf", "key = ", "key = 63f9-not-hex");
  run_node();
  expect_file_line("cluster.conf", line, "key must be exactly 64 hex digits");
}

/* every core exists on this machine */
static void coremap_core_999(const char *transport) {
  gen(transport);
  unsigned line = set_line("replica-0/coremap.conf", "exec =", "exec = 999");
  run_node();
  expect_file_line("replica-0/coremap.conf", line, "core 999 (exec) does not exist on this machine");
}

/* the key file must be 0600: the error is on node.conf's key line */
static void key_readable_by_others(const char *transport) {
  gen(transport);
  char node_conf[PATH_MAX], text[4096], key[PATH_MAX];
  path_of(node_conf, sizeof node_conf, "replica-0/node.conf");
  slurp(node_conf, text, sizeof text);
  size_t at, len;
  unsigned line = line_at(text, "key = ", &at, &len);
  cr_assert(line, "node.conf has no key line: %s", text);
  path_of(key, sizeof key, "replica-0/replica.key");
  cr_assert_eq(chmod(key, 0644), 0, "%s", key);
  run_node();
  expect_file_line("replica-0/node.conf", line, "is readable by others (mode 644): run `chmod 600");
  cr_expect(strstr(r.err, "/replica-0/replica.key"), "message does not name the key file: %s", r.err);
}

#define BROKEN(name)                          \
  Test(node_cli, name##_udp) { name("udp"); } \
  Test(node_cli, name##_memif) { name("memif"); }

BROKEN(node_conf_unknown_key)
BROKEN(cluster_conf_f_too_large)
BROKEN(cluster_conf_bad_key_hex)
BROKEN(coremap_core_999)
BROKEN(key_readable_by_others)

/* transport = pci on a machine without that NIC (an address no machine
 * has: PCI domain 0x00ff): the EAL starts (without hugepages here), the
 * port is not found, and the daemon exits 1 saying what to check — the
 * device and its driver binding — rather than only "no port named". */
Test(node_cli, pci_device_missing_says_how_to_bind_it) {
  char chain[32], prefix[64], conf[PATH_MAX];
  snprintf(chain, sizeof chain, "0x6e63%08x", (unsigned)getpid());
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "pci", "--pci", "00ff:ff:1f.7", "--out", out,
           "--chain-id", chain, "--base-port", "23100", NULL);
  cr_assert_eq(r.status, 0, "pc-cluster-gen: %s", r.err);
  snprintf(prefix, sizeof prefix, "pc-nodecli-%d", (int)getpid());
  char line[160];
  snprintf(line, sizeof line, "eal_args = --file-prefix %s --no-huge -m 128 --no-shconf --log-level=*:error",
           prefix);
  set_line("replica-0/node.conf", "eal_args =", line);
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  snprintf(dpdk_dir, sizeof dpdk_dir, "%s/dpdk/%s", getuid() == 0 ? "/var/run" : xdg ? xdg : "/tmp", prefix);
  path_of(conf, sizeof conf, "replica-0/node.conf");
  RUN("--config", conf);
  cr_assert_not(killed, "parachain-node still running after %d s; stderr: %s", RUN_TIMEOUT_S, r.err);
  cr_expect_eq(r.status, 1, "exit %d, want 1; stderr: %s", r.status, r.err);
  cr_expect(strstr(r.err, "no DPDK port for PCI device 00ff:ff:1f.7"), "stderr: %s", r.err);
  cr_expect(strstr(r.err, "not bound to a DPDK driver (see dpdk-devbind.py --status"), "stderr: %s", r.err);
}
