/* test_cluster_gen.c — pc-cluster-gen end to end into a temp folder: for
 * N = 4 (memif) and N = 7 (udp, pbft, collector) and a bare-metal layout,
 * every file it writes loads back with the project's own parsers and
 * checks, and every replica's key file matches the cluster file; bad
 * arguments give one line, exit 2 and write nothing. */
#include <criterion/criterion.h>

#include "node/node_private.h"
#include "tests/tools/run.h"
#include "txpool/client.h"

static char base[64], out[96];
static run_t r;

static void setup(void) {
  snprintf(base, sizeof base, "/tmp/pc-cgen-XXXXXX");
  cr_assert_not_null(mkdtemp(base));
  snprintf(out, sizeof out, "%s/c", base);
}
static void teardown(void) { rm_tree(base); }

TestSuite(cluster_gen, .init = setup, .fini = teardown);

/* Loads everything under out and checks it; returns the cluster. */
static void check_all(unsigned n, pc_cluster_t *cl) {
  char path[256], err[PC_CONF_ERR_MAX];
  snprintf(path, sizeof path, "%s/cluster.conf", out);
  cr_assert_eq(pc_cluster_load(cl, path, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cl->n, n);
  pc_topo_t *topo = pc_topo_open(NULL);
  cr_assert_not_null(topo);
  for (unsigned i = 0; i < n; i++) {
    pc_node_config_t nc;
    snprintf(path, sizeof path, "%s/replica-%u/node.conf", out, i);
    cr_assert_eq(pc_node_config_load(&nc, path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(nc.id, i);
    pc_coremap_t m;
    cr_assert_eq(pc_node_config_check(&nc, topo, NULL, &m, err, sizeof err), 0, "%s", err);
    /* the key file: mode 0600 and the cluster file's public key */
    struct stat st;
    cr_assert_eq(stat(nc.key, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    pc_client_key_t k;
    cr_assert_eq(pc_client_key_load(&k, nc.key), 0);
    cr_assert_eq(memcmp(k.pk, cl->replicas[i].pubkey, 32), 0, "replica %u key differs from the cluster file", i);
    /* the core map also loads on its own */
    snprintf(path, sizeof path, "%s/replica-%u/coremap.conf", out, i);
    cr_assert_eq(pc_coremap_load(&m, path, topo, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/replica-%u", out, i);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
  }
  for (unsigned i = 0; i < n; i++)
    for (unsigned j = i + 1; j < n; j++)
      cr_assert_neq(memcmp(cl->replicas[i].pubkey, cl->replicas[j].pubkey, 32), 0, "replicas %u and %u share a key",
                    i, j);
  pc_topo_close(topo);
  snprintf(path, sizeof path, "%s/README.txt", out);
  char readme[8192];
  slurp(path, readme, sizeof readme);
  char want[64];
  for (unsigned i = 0; i < n; i++) {
    snprintf(want, sizeof want, "parachain-node --config replica-%u/node.conf", i);
    cr_assert(strstr(readme, want), "README lacks '%s'", want);
  }
}

Test(cluster_gen, four_replicas_memif) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "memif", "--out", out, "--chain-id", "0x1234", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  pc_cluster_t cl;
  check_all(4, &cl);
  cr_assert_eq(cl.f, 1);
  cr_assert_eq(cl.chain_id, 0x1234);
  cr_assert_eq(cl.protocol, PC_PROTO_SBFT);
  for (unsigned i = 0; i < 4; i++) cr_assert_eq(cl.replicas[i].port, 7100 + i);
  char path[160], err[PC_CONF_ERR_MAX];
  snprintf(path, sizeof path, "%s/sock", out);
  cr_assert(exists(path));
  pc_node_config_t nc;
  snprintf(path, sizeof path, "%s/replica-2/node.conf", out);
  cr_assert_eq(pc_node_config_load(&nc, path, err, sizeof err), 0, "%s", err);
  cr_assert_eq(nc.transport, PC_NET_MEMIF);
  cr_assert(strstr(nc.memif_dir, "/sock"), "%s", nc.memif_dir);
  cr_assert(strstr(nc.eal_args, "--file-prefix pc-00001234-r2"), "%s", nc.eal_args);
  cr_assert_eq(nc.gateway.port, 7202);
  cr_assert_eq(nc.metrics.port, 7302);
}

Test(cluster_gen, seven_replicas_udp_pbft_collector) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "7", "--transport", "udp", "--out", out, "--protocol", "pbft", "--votes",
           "collector", "--base-port", "20000", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  pc_cluster_t cl;
  check_all(7, &cl);
  cr_assert_eq(cl.f, 2);
  cr_assert_eq(cl.protocol, PC_PROTO_PBFT);
  cr_assert_eq(cl.vote_mode, PC_VOTES_COLLECTOR);
  for (unsigned i = 0; i < 7; i++) {
    cr_assert_eq(cl.replicas[i].port, 20000 + i);
    cr_assert_eq(cl.replicas[i].ip[0], 127);
  }
}

Test(cluster_gen, explicit_f_and_cores) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "7", "--f", "1", "--transport", "udp", "--out", out, "--cores-per-node",
           "1", NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  pc_cluster_t cl;
  check_all(7, &cl);
  cr_assert_eq(cl.f, 1);
}

Test(cluster_gen, one_address_per_host_pci) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "pci", "--pci", "0000:03:00.0", "--ip", "10.0.0.1",
           "--ip", "10.0.0.2", "--ip", "10.0.0.3", "--ip", "10.0.0.4", "--out", out, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  pc_cluster_t cl;
  check_all(4, &cl);
  for (unsigned i = 0; i < 4; i++) {
    cr_assert_eq(cl.replicas[i].port, 7100, "distinct hosts share the port");
    cr_assert_eq(cl.replicas[i].ip[3], i + 1);
  }
  char path[160], err[PC_CONF_ERR_MAX];
  pc_node_config_t nc;
  snprintf(path, sizeof path, "%s/replica-3/node.conf", out);
  cr_assert_eq(pc_node_config_load(&nc, path, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(nc.pci, "0000:03:00.0");
  cr_assert_eq(nc.gateway.ip[3], 4, "gateway listens on the host's address");
}

Test(cluster_gen, af_packet_per_replica_iface) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "af_packet", "--iface", "v0", "--iface", "v1", "--iface",
           "v2", "--iface", "v3", "--out", out, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  pc_cluster_t cl;
  check_all(4, &cl);
  char path[160], err[PC_CONF_ERR_MAX];
  pc_node_config_t nc;
  snprintf(path, sizeof path, "%s/replica-1/node.conf", out);
  cr_assert_eq(pc_node_config_load(&nc, path, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(nc.iface, "v1");
}

Test(cluster_gen, refuses_a_non_empty_folder) {
  cr_assert_eq(mkdir(out, 0755), 0);
  char path[160];
  snprintf(path, sizeof path, "%s/keep.txt", out);
  FILE *f = fopen(path, "w");
  fputs("mine\n", f);
  fclose(f);
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "udp", "--out", out, NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "is not empty: refusing to overwrite"), "%s", r.err);
  cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
  snprintf(path, sizeof path, "%s/cluster.conf", out);
  cr_assert_not(exists(path));
}

Test(cluster_gen, accepts_an_empty_folder) {
  cr_assert_eq(mkdir(out, 0755), 0);
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "1", "--transport", "udp", "--out", out, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  pc_cluster_t cl;
  check_all(1, &cl);
  cr_assert_eq(cl.f, 0);
}

static void assert_bad_args(const char *needle) {
  cr_assert_eq(r.status, 2, "status %d, stderr %s", r.status, r.err);
  cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
  cr_assert(strstr(r.err, needle), "'%s' lacks '%s'", r.err, needle);
  cr_assert_not(exists(out), "wrote %s on bad arguments", out);
}

Test(cluster_gen, missing_nodes) {
  run_tool(&r, PC_CLUSTER_GEN, "--transport", "udp", "--out", out, NULL);
  assert_bad_args("--nodes N is required");
}
Test(cluster_gen, missing_transport) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--out", out, NULL);
  assert_bad_args("--transport memif|af_packet|udp|pci is required");
}
Test(cluster_gen, missing_out) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "udp", NULL);
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.err, "--out DIR is required"), "%s", r.err);
}
Test(cluster_gen, too_few_nodes_for_f) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "6", "--f", "2", "--transport", "udp", "--out", out, NULL);
  assert_bad_args("--nodes 6 is too small for --f 2: BFT needs N >= 3F+1 = 7");
}
Test(cluster_gen, bad_transport) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "tcp", "--out", out, NULL);
  assert_bad_args("--transport tcp: want memif, af_packet, udp or pci");
}
Test(cluster_gen, nodes_out_of_range) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "257", "--transport", "udp", "--out", out, NULL);
  assert_bad_args("--nodes 257: want 1..256");
}
Test(cluster_gen, wrong_number_of_ips) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "udp", "--out", out, "--ip", "10.0.0.1", "--ip",
           "10.0.0.2", NULL);
  assert_bad_args("2 --ip given for 4 replicas");
}
Test(cluster_gen, bad_ip) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "udp", "--out", out, "--ip", "10.0.0", NULL);
  assert_bad_args("--ip 10.0.0: want a dotted IPv4 address");
}
Test(cluster_gen, af_packet_without_iface) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "af_packet", "--out", out, NULL);
  assert_bad_args("--transport af_packet needs --iface NAME");
}
Test(cluster_gen, pci_for_udp) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "udp", "--pci", "03:00.0", "--out", out, NULL);
  assert_bad_args("--pci is only for --transport pci");
}
Test(cluster_gen, bad_protocol) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "udp", "--protocol", "raft", "--out", out, NULL);
  assert_bad_args("--protocol raft: want sbft or pbft");
}
Test(cluster_gen, unknown_option) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "udp", "--out", out, "--replicas", "4", NULL);
  assert_bad_args("unknown option '--replicas'");
}
Test(cluster_gen, option_without_value) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "udp", "--out", out, "--votes", NULL);
  assert_bad_args("--votes needs a value");
}
Test(cluster_gen, more_cores_than_the_machine) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "udp", "--out", out, "--cores-per-node", "1024", NULL);
  assert_bad_args("--cores-per-node 1024: this machine has");
}
Test(cluster_gen, base_port_too_high) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "udp", "--out", out, "--base-port", "65500", NULL);
  assert_bad_args("--base-port 65500 leaves no room");
}
Test(cluster_gen, help) {
  run_tool(&r, PC_CLUSTER_GEN, "--help", NULL);
  cr_assert_eq(r.status, 0);
  cr_assert(strstr(r.out, "usage: pc-cluster-gen"), "%s", r.out);
}

/* On one machine with enough CPUs, replicas get disjoint CPU sets of K each
 * (the proposal rotated per replica), and every map is valid there. */
Test(cluster_gen, local_replicas_get_disjoint_cpus) {
  const char *topo_desc = "pack:1 core:16 pu:1";
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "udp", "--out", out, "--synthetic", topo_desc, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  pc_topo_t *t = pc_topo_open(topo_desc);
  cr_assert_not_null(t);
  pc_coreset_t used[4];
  for (unsigned i = 0; i < 4; i++) {
    char path[160], err[PC_CONF_ERR_MAX];
    snprintf(path, sizeof path, "%s/replica-%u/coremap.conf", out, i);
    pc_coremap_t m;
    cr_assert_eq(pc_coremap_load(&m, path, t, err, sizeof err), 0, "%s", err);
    cr_assert(m.shared, "4 CPUs per replica share stages");
    pc_coreset_clear(&used[i]);
    for (int s = 0; s < PC_STAGE_COUNT; s++)
      for (int c = pc_coreset_next(&m.cores[s], 0); c >= 0; c = pc_coreset_next(&m.cores[s], (unsigned)c + 1))
        pc_coreset_add(&used[i], (unsigned)c);
    cr_assert_eq(pc_coreset_count(&used[i]), 4, "replica %u uses %u CPUs", i, pc_coreset_count(&used[i]));
    for (unsigned j = 0; j < i; j++)
      cr_assert_eq(pc_coreset_first_common(&used[i], &used[j]), -1, "replicas %u and %u share a CPU", i, j);
  }
  pc_topo_close(t);
}

Test(cluster_gen, bad_synthetic_topology) {
  run_tool(&r, PC_CLUSTER_GEN, "--nodes", "4", "--transport", "udp", "--out", out, "--synthetic", "pack:two", NULL);
  assert_bad_args("--synthetic pack:two: not an hwloc synthetic topology");
}
