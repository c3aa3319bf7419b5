/* test_node_config.c — the node config file: defaults, relative paths, every
 * parse-time error with its "file:line:" text, and the cross-file check
 * (cluster file, key file, core map) against real files in a temp folder. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "executor/executor.h"
#include "node/node_private.h"
#include "tests/testutil.h"
#include "txpool/client.h"

static pc_node_config_t cfg;
static char err[PC_CONF_ERR_MAX];

#define HEAD "[node]\nid = 1\nkey = r.key\ncluster = cluster.conf\ncoremap = cm.conf\n"

static int parse(const char *text) {
  return pc_node_config_parse(&cfg, "n.conf", "/etc/pc", text, strlen(text), err, sizeof err);
}

/* rc must be PC_ERR_CONFIG and err must contain needle. */
#define ASSERT_FAILS(text, needle)                                                    \
  do {                                                                                \
    int rc_ = parse(text);                                                            \
    cr_assert_eq(rc_, PC_ERR_CONFIG, "accepted (rc %d); wanted '%s'", rc_, needle);   \
    cr_assert(strstr(err, needle), "error '%s' lacks '%s'", err, needle);             \
  } while (0)

/* ------------------------------------------------------------ defaults */

Test(node_config, defaults) {
  cr_assert_eq(parse(HEAD), 0, "%s", err);
  cr_assert_eq(cfg.id, 1);
  cr_assert_str_eq(cfg.key, "/etc/pc/r.key");
  cr_assert_str_eq(cfg.cluster, "/etc/pc/cluster.conf");
  cr_assert_str_eq(cfg.coremap, "/etc/pc/cm.conf");
  cr_assert_str_eq(cfg.data_dir, "/etc/pc/data");
  cr_assert_eq(cfg.log_level, PC_LOG_INFO);
  cr_assert_eq(cfg.transport, PC_NET_UDP);
  cr_assert_str_eq(cfg.eal_args, "");
  cr_assert_str_eq(cfg.memif_dir, "/tmp");
  cr_assert_str_eq(cfg.memif_tag, "pc");
  cr_assert_eq(cfg.mtu, 1500);
  cr_assert_eq(cfg.max_message, 16u << 20);
  cr_assert_eq(cfg.window, 512);
  cr_assert_eq(cfg.tx_buffer, 32ull << 20);
  /* 16M + 512 × 1472 = 17530880, rounded up to 17M */
  cr_assert_eq(cfg.rx_buffer, 17ull << 20);
  cr_assert_eq(cfg.mbufs, 4095);
  cr_assert_eq(cfg.burst, 32);
  char a[24];
  pc_listen_addr_format(&cfg.gateway, a, sizeof a);
  cr_assert_str_eq(a, "127.0.0.1:7201");
  pc_listen_addr_format(&cfg.metrics, a, sizeof a);
  cr_assert_str_eq(a, "127.0.0.1:7301");
  cr_assert(cfg.metrics_enabled);
  cr_assert_eq(cfg.gw_max_connections, 1024);
  cr_assert_eq(cfg.gw_max_request, 1u << 20);
  cr_assert_eq(cfg.gw_idle_timeout_ns, 30000000000ull);
  cr_assert_str_eq(pc_node_sched_names[cfg.scheduler], "auto");
  cr_assert_str_eq(cfg.plugin_dir, "");
  cr_assert_eq(cfg.segment_size, 64ull << 20);
  cr_assert_eq(cfg.group_count, 256);
  cr_assert_eq(cfg.group_time_ns, 0);
}

Test(node_config, every_key_set) {
  const char *t = "[node]\nid = 3\nkey = /k/r3.key\ncluster = ../c.conf\ncoremap = cm3.conf\ndata_dir = /var/pc\n"
                  "log_level = debug\n"
                  "[net]\ntransport = memif\neal_args = --no-huge -m 64\nmemif_dir = /run/pc\nmemif_tag = demo\n"
                  "mtu = 9000\nmax_message = 4M\nwindow = 1024\ntx_buffer = 8M\nrx_buffer = 16M\nmbufs = 8191\n"
                  "burst = 64\n"
                  "[gateway]\nlisten = 0.0.0.0:9000\nmax_connections = 10\nmax_request = 64K\nidle_timeout = 5s\n"
                  "[metrics]\nlisten = 127.0.0.1:9001\n"
                  "[exec]\nscheduler = dag\nplugin_dir = plugins\n"
                  "[storage]\nsegment_size = 1G\ngroup_count = 64\ngroup_time = 200us\n";
  cr_assert_eq(parse(t), 0, "%s", err);
  cr_assert_eq(cfg.id, 3);
  cr_assert_str_eq(cfg.key, "/k/r3.key");
  cr_assert_str_eq(cfg.cluster, "/etc/pc/../c.conf");
  cr_assert_str_eq(cfg.data_dir, "/var/pc");
  cr_assert_eq(cfg.log_level, PC_LOG_DEBUG);
  cr_assert_eq(cfg.transport, PC_NET_MEMIF);
  cr_assert_str_eq(cfg.eal_args, "--no-huge -m 64");
  cr_assert_str_eq(cfg.memif_dir, "/run/pc");
  cr_assert_str_eq(cfg.memif_tag, "demo");
  cr_assert_eq(cfg.mtu, 9000);
  cr_assert_eq(cfg.max_message, 4u << 20);
  cr_assert_eq(cfg.window, 1024);
  cr_assert_eq(cfg.tx_buffer, 8u << 20);
  cr_assert_eq(cfg.rx_buffer, 16u << 20);
  cr_assert_eq(cfg.mbufs, 8191);
  cr_assert_eq(cfg.burst, 64);
  cr_assert_eq(cfg.gateway.port, 9000);
  cr_assert_eq(cfg.gateway.ip[0], 0);
  cr_assert_eq(cfg.gw_max_connections, 10);
  cr_assert_eq(cfg.gw_max_request, 64u << 10);
  cr_assert_eq(cfg.gw_idle_timeout_ns, 5000000000ull);
  cr_assert_eq(cfg.metrics.port, 9001);
  cr_assert_str_eq(pc_node_sched_names[cfg.scheduler], "dag");
  cr_assert_str_eq(cfg.plugin_dir, "/etc/pc/plugins");
  cr_assert_eq(cfg.segment_size, 1ull << 30);
  cr_assert_eq(cfg.group_count, 64);
  cr_assert_eq(cfg.group_time_ns, 200000);
}

Test(node_config, af_packet_and_pci_keys) {
  cr_assert_eq(parse(HEAD "[net]\ntransport = af_packet\niface = veth0\n"), 0, "%s", err);
  cr_assert_str_eq(cfg.iface, "veth0");
  cr_assert_eq(parse(HEAD "[net]\ntransport = pci\npci = 0000:03:00.1\n"), 0, "%s", err);
  cr_assert_str_eq(cfg.pci, "0000:03:00.1");
  cr_assert_eq(parse(HEAD "[net]\ntransport = pci\npci = 3b:00.0\n"), 0, "%s", err);
}

Test(node_config, metrics_disabled_frees_its_port) {
  cr_assert_eq(parse(HEAD "[gateway]\nlisten = 127.0.0.1:7301\n[metrics]\nenabled = no\n"), 0, "%s", err);
  cr_assert_not(cfg.metrics_enabled);
}

Test(node_config, relative_paths_resolve_against_the_files_folder) {
  char dir[] = "/tmp/pc-nodecfg-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char sub[128], path[160];
  snprintf(sub, sizeof sub, "%s/conf", dir);
  cr_assert_eq(mkdir(sub, 0700), 0);
  snprintf(path, sizeof path, "%s/node.conf", sub);
  FILE *f = fopen(path, "w");
  fputs(HEAD "data_dir = ../state\n[exec]\nplugin_dir = /abs/plugins\n", f);
  fclose(f);
  cr_assert_eq(pc_node_config_load(&cfg, path, err, sizeof err), 0, "%s", err);
  char want[200];
  char real[128];
  cr_assert_not_null(realpath(sub, real));
  snprintf(want, sizeof want, "%s/r.key", real);
  cr_assert_str_eq(cfg.key, want);
  snprintf(want, sizeof want, "%s/../state", real);
  cr_assert_str_eq(cfg.data_dir, want);
  cr_assert_str_eq(cfg.plugin_dir, "/abs/plugins");
  unlink(path);
  rmdir(sub);
  rmdir(dir);
}

Test(node_config, relative_config_path_gets_an_absolute_base) {
  char dir[] = "/tmp/pc-nodecfg-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[160];
  snprintf(path, sizeof path, "%s/node.conf", dir);
  FILE *f = fopen(path, "w");
  fputs(HEAD, f);
  fclose(f);
  char cwd[512];
  cr_assert_not_null(getcwd(cwd, sizeof cwd));
  cr_assert_eq(chdir(dir), 0);
  int rc = pc_node_config_load(&cfg, "node.conf", err, sizeof err);
  cr_assert_eq(chdir(cwd), 0);
  cr_assert_eq(rc, 0, "%s", err);
  cr_assert_eq(cfg.key[0], '/', "key path %s is not absolute", cfg.key);
  unlink(path);
  rmdir(dir);
}

Test(node_config, example_file_loads) {
  char path[512];
  snprintf(path, sizeof path, "%s/node.conf", PC_EXAMPLES_DIR);
  cr_assert_eq(pc_node_config_load(&cfg, path, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cfg.transport, PC_NET_MEMIF);
}

Test(node_config, listen_addr_parser) {
  pc_listen_addr_t a;
  cr_assert_eq(pc_listen_addr_parse("10.1.2.3:65535", &a), 0);
  cr_assert_eq(a.port, 65535);
  cr_assert_eq(a.ip[3], 3);
  const char *bad[] = {"10.1.2.3", ":80", "10.1.2.3:0", "10.1.2.3:65536", "10.1.2:80", "host:80", "10.1.2.3:8x",
                       "1.2.3.4.5.6.7.8.9:1"};
  for (unsigned i = 0; i < PC_ARRAY_LEN(bad); i++)
    cr_assert_eq(pc_listen_addr_parse(bad[i], &a), PC_ERR_INVALID, "%s accepted", bad[i]);
}

/* ------------------------------------------------ parse-time error paths */

Test(node_config, syntax_error_names_file_and_line) {
  ASSERT_FAILS(HEAD "[net\n", "n.conf:6: section header without ']'");
}
Test(node_config, no_node_section) { ASSERT_FAILS("[net]\ntransport = udp\n", "n.conf: no [node] section"); }
Test(node_config, missing_id) {
  ASSERT_FAILS("\n[node]\nkey = k\ncluster = c\ncoremap = m\n", "n.conf:2: [node] needs 'id = ");
}
Test(node_config, missing_key) {
  ASSERT_FAILS("[node]\nid = 0\ncluster = c\ncoremap = m\n", "n.conf:1: [node] needs 'key = ");
}
Test(node_config, missing_cluster) {
  ASSERT_FAILS("[node]\nid = 0\nkey = k\ncoremap = m\n", "n.conf:1: [node] needs 'cluster = ");
}
Test(node_config, missing_coremap) {
  ASSERT_FAILS("[node]\nid = 0\nkey = k\ncluster = c\n", "n.conf:1: [node] needs 'coremap = ");
}
Test(node_config, key_outside_section) {
  ASSERT_FAILS("id = 0\n" HEAD, "n.conf:1: 'id' is outside any section: put it under [node]");
}
Test(node_config, unknown_section_suggests) { ASSERT_FAILS(HEAD "[nett]\n", "n.conf:6: unknown section [nett] (did you mean [net]?)"); }
Test(node_config, unknown_section_lists_known) {
  ASSERT_FAILS(HEAD "[zzzzzz]\n", "n.conf:6: unknown section [zzzzzz]: use [node], [net]");
}
Test(node_config, section_with_argument) { ASSERT_FAILS(HEAD "[net 2]\n", "n.conf:6: [net 2] takes no argument: write [net]"); }
Test(node_config, unknown_key_suggests) {
  ASSERT_FAILS(HEAD "[net]\ntransprot = udp\n", "n.conf:7: unknown key 'transprot' in [net] (did you mean 'transport'?)");
  /* removed: it was parsed and ignored (a snapshot is written at every checkpoint) */
  ASSERT_FAILS(HEAD "[storage]\nsnapshot_interval = 128\n", "n.conf:7: unknown key 'snapshot_interval' in [storage]");
}
Test(node_config, duplicate_key) { ASSERT_FAILS(HEAD "id = 2\n", "n.conf:6: "); }
Test(node_config, id_out_of_range) {
  ASSERT_FAILS("[node]\nid = 256\nkey = k\ncluster = c\ncoremap = m\n", "n.conf:2: id = 256");
}
Test(node_config, bad_log_level) {
  ASSERT_FAILS(HEAD "log_level = loud\n", "n.conf:6: log_level = loud is not allowed: write error, warn, info or debug");
}
Test(node_config, tilde_path) {
  ASSERT_FAILS("[node]\nid = 0\nkey = ~/r.key\ncluster = c\ncoremap = m\n",
               "n.conf:3: key = ~/r.key: '~' is not expanded: write the full path");
}
Test(node_config, resolved_path_too_long) {
  char t[600], longname[200];
  memset(longname, 'a', 150);
  longname[150] = '\0';
  snprintf(t, sizeof t, "[node]\nid = 0\nkey = k\ncluster = c\ncoremap = m\ndata_dir = %s\n", longname);
  int rc = pc_node_config_parse(&cfg, "n.conf",
                                "/a-very-long-base-folder/that-goes-on/and-on/and-on/and-on/and-on/and-on/and-on/"
                                "and-on/and-on/and-on/and-on",
                                t, strlen(t), err, sizeof err);
  cr_assert_eq(rc, PC_ERR_CONFIG);
  cr_assert(strstr(err, "n.conf:6: data_dir = aaa"), "%s", err);
  cr_assert(strstr(err, "resolves to a path longer than 255 bytes"), "%s", err);
}
Test(node_config, bad_transport) {
  ASSERT_FAILS(HEAD "[net]\ntransport = dpdk\n", "n.conf:7: transport = dpdk is not allowed: write memif, af_packet, udp or pci");
}
Test(node_config, eal_args_under_udp) {
  ASSERT_FAILS(HEAD "[net]\neal_args = --no-huge\n", "n.conf:7: eal_args is for the DPDK transports");
}
Test(node_config, memif_dir_under_af_packet) {
  ASSERT_FAILS(HEAD "[net]\ntransport = af_packet\niface = eth0\nmemif_dir = /run\n",
               "n.conf:9: memif_dir is only for transport = memif (this file says af_packet): remove it");
}
Test(node_config, pci_under_memif) {
  ASSERT_FAILS(HEAD "[net]\ntransport = memif\npci = 0000:03:00.0\n", "n.conf:8: pci is only for transport = pci");
}
Test(node_config, af_packet_without_iface) {
  ASSERT_FAILS(HEAD "[net]\ntransport = af_packet\n", "n.conf:6: transport = af_packet needs 'iface = NAME'");
}
Test(node_config, pci_without_address) {
  ASSERT_FAILS(HEAD "[net]\ntransport = pci\n", "n.conf:6: transport = pci needs 'pci = DDDD:BB:DD.F'");
}
Test(node_config, bad_pci_address) {
  ASSERT_FAILS(HEAD "[net]\ntransport = pci\npci = 0000:03:00.8\n", "n.conf:8: pci = 0000:03:00.8 is not a PCI address");
}
Test(node_config, pci_with_no_pci_in_eal_args) {
  ASSERT_FAILS(HEAD "[net]\ntransport = pci\npci = 0000:03:00.0\neal_args = --file-prefix x --no-pci\n",
               "n.conf:9: eal_args has --no-pci, which hides the NIC from DPDK under transport = pci");
  /* only the word itself; and the other DPDK transports keep it */
  cr_assert_eq(parse(HEAD "[net]\ntransport = pci\npci = 0000:03:00.0\neal_args = --no-pcix --file-prefix x\n"), 0,
               "%s", err);
  cr_assert_eq(parse(HEAD "[net]\ntransport = af_packet\niface = v0\neal_args = --no-pci --file-prefix x\n"), 0,
               "%s", err);
}
Test(node_config, bad_iface) {
  ASSERT_FAILS(HEAD "[net]\ntransport = af_packet\niface = a/b\n", "n.conf:8: iface = a/b is not an interface name");
}
Test(node_config, bad_memif_tag) {
  ASSERT_FAILS(HEAD "[net]\ntransport = memif\nmemif_tag = a.b\n", "n.conf:8: memif_tag = a.b: write 1..23 letters");
}
Test(node_config, memif_dir_too_long) {
  ASSERT_FAILS(HEAD "[net]\ntransport = memif\nmemif_dir = /0123456789/0123456789/0123456789/0123456789/0123456789/"
                    "0123456789/0123456789/0123456789/0123456789\n",
               "n.conf:8: memif_dir = /0123456789");
}
Test(node_config, memif_socket_path_too_long) {
  ASSERT_FAILS(HEAD "[net]\ntransport = memif\nmemif_dir = /0123456789/0123456789/0123456789/0123456789/"
                    "0123456789/0123456789/01234567\nmemif_tag = abcdefghijklmnopqrstuvw\n",
               "n.conf: memif sockets /0123456789");
}
Test(node_config, mtu_out_of_range) { ASSERT_FAILS(HEAD "[net]\nmtu = 100\n", "n.conf:7: mtu = 100"); }
/* A DPDK port carries at most a 9000-byte jumbo MTU: a larger one is refused
 * here, at its line, rather than by the dataplane once the node starts. */
Test(node_config, mtu_above_jumbo_only_for_udp) {
  ASSERT_FAILS(HEAD "[net]\ntransport = memif\nmtu = 9001\n", "n.conf:8: mtu = 9001: the DPDK transports");
  ASSERT_FAILS(HEAD "[net]\ntransport = af_packet\niface = eth0\nmtu = 16000\n", "n.conf:9: mtu = 16000");
  cr_assert_eq(parse(HEAD "[net]\ntransport = memif\nmtu = 9000\n"), 0, "%s", err);
  cr_assert_eq(parse(HEAD "[net]\ntransport = udp\nmtu = 16000\n"), 0, "%s", err);
  cr_assert_eq(cfg.mtu, 16000);
}
Test(node_config, window_not_power_of_two) {
  ASSERT_FAILS(HEAD "[net]\nwindow = 1000\n", "n.conf:7: window = 1000 is not a power of two");
}
Test(node_config, max_message_not_a_size) { ASSERT_FAILS(HEAD "[net]\nmax_message = lots\n", "n.conf:7: max_message = lots is not a size"); }
Test(node_config, tx_buffer_below_max_message) {
  ASSERT_FAILS(HEAD "[net]\nmax_message = 1M\ntx_buffer = 512K\n",
               "n.conf:8: tx_buffer = 512K is smaller than max_message (1M): a message must fit; raise it to at least 1M");
}
Test(node_config, rx_buffer_too_small) {
  ASSERT_FAILS(HEAD "[net]\nmax_message = 1M\nrx_buffer = 1M\n",
               "n.conf:8: rx_buffer = 1M cannot hold one message (1M) plus a window of 512 frames of 1472 bytes");
}
Test(node_config, bad_gateway_listen) {
  ASSERT_FAILS(HEAD "[gateway]\nlisten = localhost:80\n", "n.conf:7: listen = localhost:80 is not an address: write A.B.C.D:port");
}
Test(node_config, gateway_request_limit_range) {
  ASSERT_FAILS(HEAD "[gateway]\nmax_request = 32M\n", "n.conf:7: max_request = 32M");
}
Test(node_config, idle_timeout_without_unit) {
  ASSERT_FAILS(HEAD "[gateway]\nidle_timeout = 30\n", "n.conf:7: idle_timeout = 30");
}
Test(node_config, gateway_and_metrics_same_port) {
  ASSERT_FAILS(HEAD "[gateway]\nlisten = 0.0.0.0:8000\n[metrics]\nlisten = 127.0.0.1:8000\n",
               "n.conf:9: gateway and metrics both listen on 127.0.0.1:8000: give them different ports");
}
Test(node_config, metrics_listen_while_disabled) {
  ASSERT_FAILS(HEAD "[metrics]\nenabled = no\nlisten = 127.0.0.1:1\n", "n.conf:8: listen is set but enabled = no");
}
Test(node_config, bad_scheduler) {
  ASSERT_FAILS(HEAD "[exec]\nscheduler = fast\n",
               "n.conf:7: scheduler = fast is not allowed: write serial, tasks, dag, optimistic or auto");
}
Test(node_config, segment_too_small) { ASSERT_FAILS(HEAD "[storage]\nsegment_size = 4K\n", "n.conf:7: segment_size = 4K"); }
Test(node_config, group_count_zero) { ASSERT_FAILS(HEAD "[storage]\ngroup_count = 0\n", "n.conf:7: group_count = 0"); }
Test(node_config, group_time_too_long) { ASSERT_FAILS(HEAD "[storage]\ngroup_time = 2s\n", "n.conf:7: group_time = 2s"); }

Test(node_config, errors_are_counted) {
  uint64_t before = pc_reject_count(PC_DEC_CONFIG, 1);
  cr_assert_eq(parse(HEAD "[net]\nwindow = 7\n"), PC_ERR_CONFIG);
  cr_assert_gt(pc_reject_count(PC_DEC_CONFIG, 1), before);
}

Test(node_config, unreadable_file) {
  int rc = pc_node_config_load(&cfg, "/nonexistent-pc/node.conf", err, sizeof err);
  cr_assert_eq(rc, PC_ERR_IO);
  cr_assert(strstr(err, "/nonexistent-pc"), "%s", err);
}

/* ------------------------------------------------------ cross-file check */

static char tmp[64];
static pc_topo_t *topo;

static void write_file(const char *name, const char *text, mode_t mode) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", tmp, name);
  unlink(p);
  FILE *f = fopen(p, "w");
  cr_assert_not_null(f, "%s", p);
  fputs(text, f);
  fclose(f);
  chmod(p, mode);
}

static void key_of(unsigned i, pc_client_key_t *k) {
  uint8_t seed[32] = {0};
  seed[0] = (uint8_t)(i + 1);
  seed[31] = 0x5a;
  pc_client_key_from_seed(k, seed);
}

/* Writes a 4-replica cluster file (UDP ports 7100+i on 127.0.0.1) with
 * `extra` appended, replica 1's key, and a core map; returns nothing. */
static void write_cluster(const char *extra) {
  char t[4096];
  size_t pos = (size_t)snprintf(t, sizeof t, "[chain]\nid = 7\nn = 4\n[consensus]\ncheckpoint_interval = 64\n");
  for (unsigned i = 0; i < 4; i++) {
    pc_client_key_t k;
    key_of(i, &k);
    char hex[65];
    pc_hex_encode(hex, k.pk, 32);
    pos += (size_t)snprintf(t + pos, sizeof t - pos,
                            "[replica %u]\nkey = %s\nmac = 02:00:00:00:00:0%u\nip = 127.0.0.1\nport = %u\n", i, hex, i,
                            7100 + i);
  }
  snprintf(t + pos, sizeof t - pos, "%s", extra);
  write_file("cluster.conf", t, 0644);
}

static void write_key(unsigned i, mode_t mode) {
  pc_client_key_t k;
  key_of(i, &k);
  char p[256];
  snprintf(p, sizeof p, "%s/r.key", tmp);
  unlink(p);
  cr_assert_eq(pc_client_key_save(&k, p), 0);
  chmod(p, mode);
}

static void setup_files(void) {
  snprintf(tmp, sizeof tmp, "/tmp/pc-nodechk-XXXXXX");
  cr_assert_not_null(mkdtemp(tmp));
  topo = pc_topo_open("pack:1 core:4 pu:1");
  cr_assert_not_null(topo);
  write_cluster("");
  write_key(1, 0600);
  write_file("cm.conf", "shared = yes\nnet = 0\nconsensus = 1\nstore = 1\nverify = 2\nexec = 3\n", 0644);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

static void teardown_files(void) {
  pc_topo_close(topo);
  nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Parses text as <tmp>/n.conf (resolving against tmp) then runs the check. */
static int check(const char *text) {
  int rc = pc_node_config_parse(&cfg, "n.conf", tmp, text, strlen(text), err, sizeof err);
  cr_assert_eq(rc, 0, "parse: %s", err);
  return pc_node_config_check(&cfg, topo, NULL, NULL, err, sizeof err);
}

#define ASSERT_CHECK_FAILS(text, needle)                                             \
  do {                                                                               \
    int rc_ = check(text);                                                           \
    cr_assert_lt(rc_, 0, "accepted; wanted '%s'", needle);                           \
    cr_assert(strstr(err, needle), "error '%s' lacks '%s'", err, needle);            \
  } while (0)

TestSuite(node_check, .init = setup_files, .fini = teardown_files);

Test(node_check, good_files_pass_and_fill_outputs) {
  cr_assert_eq(pc_node_config_parse(&cfg, "n.conf", tmp, HEAD, strlen(HEAD), err, sizeof err), 0, "%s", err);
  pc_cluster_t cl;
  pc_coremap_t m;
  cr_assert_eq(pc_node_config_check(&cfg, topo, &cl, &m, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cl.n, 4);
  cr_assert(m.shared);
  cr_assert(pc_coreset_has(&m.cores[PC_STAGE_EXEC], 3));
}
Test(node_check, id_beyond_cluster) {
  ASSERT_CHECK_FAILS("[node]\nkey = r.key\ncluster = cluster.conf\ncoremap = cm.conf\nid = 4\n",
                     "n.conf:5: id = 4 but the cluster file");
}
Test(node_check, key_of_another_replica) {
  write_key(2, 0600);
  ASSERT_CHECK_FAILS(HEAD, "n.conf:3: key file");
  cr_assert(strstr(err, "but the cluster file lists"), "%s", err);
  cr_assert(strstr(err, "for replica 1"), "%s", err);
}
Test(node_check, key_readable_by_others) {
  write_key(1, 0644);
  ASSERT_CHECK_FAILS(HEAD, "is readable by others (mode 644): run `chmod 600");
}
Test(node_check, key_missing) {
  ASSERT_CHECK_FAILS("[node]\nid = 1\nkey = nokey\ncluster = cluster.conf\ncoremap = cm.conf\n",
                     "n.conf:3: key file");
  cr_assert(strstr(err, "pc-keygen --replica"), "%s", err);
}
Test(node_check, key_file_garbage) {
  write_file("r.key", "hello\n", 0600);
  ASSERT_CHECK_FAILS(HEAD, "is not a key file");
}
Test(node_check, cluster_error_is_the_cluster_files) {
  write_cluster("[consensus2]\n");
  ASSERT_CHECK_FAILS(HEAD, "cluster.conf:");
  cr_assert(strstr(err, "[consensus2]"), "%s", err);
}
Test(node_check, cluster_missing) {
  ASSERT_CHECK_FAILS("[node]\nid = 1\nkey = r.key\ncluster = nope.conf\ncoremap = cm.conf\n", "nope.conf");
}
Test(node_check, coremap_error_is_the_coremaps) {
  write_file("cm.conf", "net = 0\nconsensus = 1\nstore = 1\nverify = 2\nexec = 9\n", 0644);
  ASSERT_CHECK_FAILS(HEAD, "cm.conf:5:");
}
Test(node_check, max_message_below_batch) {
  ASSERT_CHECK_FAILS(HEAD "[net]\nmax_message = 1M\n",
                     "n.conf:7: max_message = 1048576 cannot carry a proposal with a full batch");
}
Test(node_check, pinned_plugins_need_plugin_dir) {
  write_cluster("[plugins]\nfoo = 2a9483dab035cdaea4a50b97c84993b73b5be4756460fe98e94c58391d614c80\n");
  ASSERT_CHECK_FAILS(HEAD, "the cluster pins 1 plugin(s) (e.g. 'foo') but [exec] has no plugin_dir");
}
Test(node_check, plugin_dir_not_a_folder) {
  write_cluster("[plugins]\nfoo = 2a9483dab035cdaea4a50b97c84993b73b5be4756460fe98e94c58391d614c80\n");
  ASSERT_CHECK_FAILS(HEAD "[exec]\nplugin_dir = cm.conf\n", "n.conf:7: plugin_dir");
}
/* A pinned plugin must be in plugin_dir as <name>.so with the pinned hash:
 * missing or another build stops the node before it starts a thread. */
static void plugin_case(const char *so_text, bool pin_its_hash) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/plugins", tmp);
  cr_assert_eq(mkdir(dir, 0755), 0);
  char pin[PC_HASH_HEX_SIZE] = "2a9483dab035cdaea4a50b97c84993b73b5be4756460fe98e94c58391d614c80";
  if (so_text) {
    write_file("plugins/foo.so", so_text, 0644);
    if (pin_its_hash) {
      char path[256];
      pc_hash_t h;
      snprintf(path, sizeof path, "%s/plugins/foo.so", tmp);
      cr_assert_eq(pc_exec_plugin_hash(path, &h), 0);
      pc_hash_to_hex(&h, pin);
    }
  }
  char extra[128];
  snprintf(extra, sizeof extra, "[plugins]\nfoo = %s\n", pin);
  write_cluster(extra);
}
Test(node_check, pinned_plugin_missing) {
  plugin_case(NULL, false);
  ASSERT_CHECK_FAILS(HEAD "[exec]\nplugin_dir = plugins\n", "n.conf:7: the cluster pins plugin 'foo' but ");
  cr_assert(strstr(err, "/plugins/foo.so cannot be read"), "%s", err);
}
Test(node_check, pinned_plugin_of_another_build) {
  plugin_case("not the pinned build", false);
  ASSERT_CHECK_FAILS(HEAD "[exec]\nplugin_dir = plugins\n", "/plugins/foo.so has BLAKE2b-256 ");
  cr_assert(strstr(err, "but the cluster file pins 'foo' = 2a9483da"), "%s", err);
}
Test(node_check, pinned_plugin_with_its_hash_passes) {
  plugin_case("the pinned build", true);
  cr_assert_eq(check(HEAD "[exec]\nplugin_dir = plugins\n"), 0, "%s", err);
}
Test(node_check, data_dir_without_parent) {
  ASSERT_CHECK_FAILS(HEAD "data_dir = no/such/dir\n", "n.conf:6: data_dir");
  cr_assert(strstr(err, "does not exist and neither does its folder"), "%s", err);
}
Test(node_check, data_dir_is_a_file) {
  ASSERT_CHECK_FAILS(HEAD "data_dir = cm.conf\n", "n.conf:6: data_dir");
  cr_assert(strstr(err, "is not a folder"), "%s", err);
}
Test(node_check, udp_gateway_on_the_replica_port) {
  ASSERT_CHECK_FAILS(HEAD "[gateway]\nlisten = 0.0.0.0:7101\n",
                     "n.conf:7: gateway listens on port 7101, which the cluster file gives replica 1");
}
Test(node_check, memif_may_share_the_replica_port) {
  /* Under DPDK transports the cluster port is only a frame header field. */
  cr_assert_eq(check(HEAD "[net]\ntransport = memif\n[gateway]\nlisten = 127.0.0.1:7101\n"), 0, "%s", err);
}
