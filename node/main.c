/* main.c — parachain-node: one replica of a ParaChain cluster.
 *
 *   parachain-node --config FILE [--check] [--status-every SECONDS]
 *
 * Loads and validates the node config, the cluster file, the core map and
 * the key before any thread starts (one-line "file:line: message" errors,
 * exit 2); --check stops there. Runs the replica's stages on two pinned
 * threads (store + consensus on the consensus cores, pool + net on the
 * rx cores; exec workers on the exec cores; the client gateway on the
 * gateway cores when the core map gives it cores of its own, else with
 * pool + net) until SIGTERM or SIGINT, then stops the stages in order,
 * closes the gateway's sockets and flushes the log. Prints a status line
 * periodically on stdout. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "node/node.h"
#include "node/node_private.h"
#include "txpool/client.h"
#include "txpool/txpool.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: parachain-node --config FILE [--check] [--status-every SECONDS]\n"
          "  --config FILE        node config (see docs/node-config.md, examples/node.conf)\n"
          "  --check              validate the config, cluster file, core map and key, then exit\n"
          "  --status-every S     print a status line every S seconds (default 5, 0 = never)\n"
          "  --help               this text\n"
          "Client gateway: the binary protocol (docs/gateway.md) on the config's [gateway] listen\n"
          "(default 127.0.0.1:7200+id), HTTP /metrics and /health on [metrics] listen (default port\n"
          "7300+id, bound on the gateway's address; [metrics] enabled = no turns it off).\n"
          "Stops cleanly on SIGTERM / SIGINT. Exit status: 0 ok, 1 runtime failure, 2 bad usage or config.\n");
}

/* The DPDK port of an af_packet or pci replica: one port for every peer
 * (the dataplane's dpdk_port mode), handed to the EAL by adding a
 * --vdev (af_packet on [net] iface) or an allow-list entry (pci) to the
 * configured EAL arguments. memif ports are made by the dataplane itself. */
static int dpdk_port_args(const pc_node_config_t *cfg, pc_node_opts_t *o) {
  int k = 0;
  if (cfg->transport == PC_NET_AF_PACKET) {
    snprintf(o->dpdk_port, sizeof o->dpdk_port, "net_af_packet0");
    k = snprintf(o->eal_args, sizeof o->eal_args, "%s --vdev=net_af_packet0,iface=%s", cfg->eal_args, cfg->iface);
  } else if (cfg->transport == PC_NET_PCI) {
    /* DPDK names a PCI device by its full address: add the domain if the
     * config left it out */
    bool has_domain = strchr(cfg->pci, ':') != strrchr(cfg->pci, ':');
    snprintf(o->dpdk_port, sizeof o->dpdk_port, "%s%s", has_domain ? "" : "0000:", cfg->pci);
    k = snprintf(o->eal_args, sizeof o->eal_args, "%s -a %s", cfg->eal_args, o->dpdk_port);
  } else {
    k = snprintf(o->eal_args, sizeof o->eal_args, "%s", cfg->eal_args);
  }
  if (k < 0 || (size_t)k >= sizeof o->eal_args) {
    fprintf(stderr, "%s: [net] eal_args is too long once the port is added (%zu bytes at most)\n", cfg->file,
            sizeof o->eal_args - 1);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *path = NULL;
  bool check = false;
  unsigned every = 5;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
      path = argv[++i];
    } else if (!strcmp(argv[i], "--check")) {
      check = true;
    } else if (!strcmp(argv[i], "--status-every") && i + 1 < argc) {
      every = (unsigned)strtoul(argv[++i], NULL, 10);
    } else {
      fprintf(stderr, "parachain-node: unknown or incomplete argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (!path) {
    fprintf(stderr, "parachain-node: --config FILE is required\n");
    usage(stderr);
    return 2;
  }
  static pc_node_config_t cfg;
  static pc_cluster_t cluster;
  static pc_coremap_t map;
  char err[512];
  if (pc_node_config_load(&cfg, path, err, sizeof err) != 0 ||
      pc_node_config_check(&cfg, NULL, &cluster, &map, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  pc_client_key_t key;
  if (pc_client_key_load(&key, cfg.key) != 0) {
    fprintf(stderr, "%s: cannot load the key file\n", cfg.key);
    return 2;
  }
  if (check) {
    printf("%s: ok (replica %u of %u, %s, %s)\n", path, cfg.id, cluster.n,
           cluster.protocol == PC_PROTO_PBFT ? "pbft" : "sbft", pc_net_transport_name((pc_net_transport_t)cfg.transport));
    pc_client_key_wipe(&key);
    return 0;
  }
  pc_log_set_level(cfg.log_level);
  char tag[16];
  snprintf(tag, sizeof tag, "r%u", cfg.id);
  pc_log_set_tag(tag);

  pc_node_opts_t o;
  pc_node_opts_default(&o, &cluster, cfg.id);
  memcpy(o.seckey, key.sk, 64);
  pc_client_key_wipe(&key);
  snprintf(o.data_dir, sizeof o.data_dir, "%s", cfg.data_dir);
  o.net = cfg.transport == PC_NET_UDP ? PC_NODE_NET_UDP : PC_NODE_NET_DPDK;
  if (dpdk_port_args(&cfg, &o) != 0) return 2;
  snprintf(o.memif_dir, sizeof o.memif_dir, "%s", cfg.memif_dir);
  snprintf(o.memif_tag, sizeof o.memif_tag, "%s", cfg.memif_tag);
  o.max_msg = cfg.max_message;
  /* [net] tuning, validated by the config loader against each other */
  o.frame_size = cfg.mtu - 28; /* IPv4 + UDP headers */
  o.window = cfg.window;
  o.tx_buf_bytes = cfg.tx_buffer;
  o.rx_buf_bytes = cfg.rx_buffer;
  o.mbufs = cfg.mbufs;
  o.burst = cfg.burst;
  o.sched = cfg.scheduler;
  snprintf(o.plugin_dir, sizeof o.plugin_dir, "%s", cfg.plugin_dir);
  static int exec_cores[64];
  unsigned nw = 0;
  for (int c = pc_coreset_next(&map.cores[PC_STAGE_EXEC], 0); c >= 0 && nw < 64;
       c = pc_coreset_next(&map.cores[PC_STAGE_EXEC], (unsigned)c + 1))
    exec_cores[nw++] = c;
  /* signature checks: one pinned worker per verify core of the core map
   * (txpool's verify stage), so the pool + net thread never verifies */
  static int verify_cores[PC_TXPOOL_MAX_WORKERS];
  unsigned nv = 0;
  for (int c = pc_coreset_next(&map.cores[PC_STAGE_VERIFY], 0); c >= 0 && nv < PC_TXPOOL_MAX_WORKERS;
       c = pc_coreset_next(&map.cores[PC_STAGE_VERIFY], (unsigned)c + 1))
    verify_cores[nv++] = c;
  o.verify_workers = nv;
  o.verify_cores = nv ? verify_cores : NULL;
  o.exec_workers = nw ? nw : 1;
  o.exec_cores = nw ? exec_cores : NULL;
  o.segment_size = cfg.segment_size;
  o.group_count = cfg.group_count;
  o.group_time_us = (uint32_t)(cfg.group_time_ns / 1000);
  /* client gateway: [gateway] listen and limits, [metrics] HTTP port */
  memcpy(o.gw.bind_ip, cfg.gateway.ip, 4);
  o.gw.port = cfg.gateway.port;
  o.gw.max_conns = cfg.gw_max_connections;
  o.gw.max_frame = cfg.gw_max_request < PC_GW_FRAME_MIN_MAX ? PC_GW_FRAME_MIN_MAX : cfg.gw_max_request;
  if (cfg.gw_max_request < PC_GW_FRAME_MIN_MAX)
    PC_WARN("[gateway] max_request %u raised to %u, the gateway's smallest frame limit", cfg.gw_max_request,
            PC_GW_FRAME_MIN_MAX);
  o.gw.idle_timeout_ns = cfg.gw_idle_timeout_ns;
  o.gw.no_http = !cfg.metrics_enabled;
  o.gw.http_port = cfg.metrics.port;
  if (cfg.metrics_enabled && memcmp(cfg.metrics.ip, cfg.gateway.ip, 4) != 0)
    PC_WARN("[metrics] listen %u.%u.%u.%u: the HTTP port binds the gateway's address %u.%u.%u.%u", cfg.metrics.ip[0],
            cfg.metrics.ip[1], cfg.metrics.ip[2], cfg.metrics.ip[3], cfg.gateway.ip[0], cfg.gateway.ip[1],
            cfg.gateway.ip[2], cfg.gateway.ip[3]);

  pc_node_t *node = pc_node_create(&o);
  pc_runner_t *run = node ? pc_runner_new() : NULL;
  if (!run) return 1;
  /* the store (block log, execution, snapshots): on a thread of its own
   * when the core map gives it cores other than the consensus ones, else
   * with consensus. Its thread comes first: threads start in order, and
   * the store's init hands the recovered records to the consensus init. */
  const pc_coreset_t *stc = &map.cores[PC_STAGE_STORE];
  bool store_alone = !pc_coreset_empty(stc) && memcmp(stc, &map.cores[PC_STAGE_CONSENSUS], sizeof *stc) != 0;
  int ts = store_alone ? pc_runner_add_thread(run, stc) : -1;
  int ta = pc_runner_add_thread(run, &map.cores[PC_STAGE_CONSENSUS]);
  int tb = pc_runner_add_thread(run, &map.cores[PC_STAGE_RX]);
  pc_stage_def_t d;
  d = pc_node_stage(node, PC_NODE_STAGE_STORE);
  pc_runner_add_stage(run, ts >= 0 ? ts : ta, &d);
  d = pc_node_stage(node, PC_NODE_STAGE_CONSENSUS);
  pc_runner_add_stage(run, ta, &d);
  d = pc_node_stage(node, PC_NODE_STAGE_POOL);
  pc_runner_add_stage(run, tb, &d);
  d = pc_node_stage(node, PC_NODE_STAGE_NET);
  pc_runner_add_stage(run, tb, &d);
  /* the gateway: on its own thread when the core map gives it cores of its
   * own, else with pool + net (it never blocks; idle back-off applies) */
  int tg = tb;
  const pc_coreset_t *gwc = &map.cores[PC_STAGE_GATEWAY];
  if (!pc_coreset_empty(gwc) && memcmp(gwc, &map.cores[PC_STAGE_RX], sizeof *gwc) != 0 &&
      memcmp(gwc, &map.cores[PC_STAGE_CONSENSUS], sizeof *gwc) != 0)
    tg = pc_runner_add_thread(run, gwc);
  d = pc_node_stage(node, PC_NODE_STAGE_GATEWAY);
  pc_runner_add_stage(run, tg < 0 ? tb : tg, &d);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  if (pc_runner_start(run) != 0) {
    pc_runner_free(run);
    pc_node_destroy(node);
    return 1;
  }
  uint16_t gp = 0, hp = 0;
  pc_node_gateway_ports(node, &gp, &hp);
  PC_INFO("replica %u running (%s over %s), gateway %u.%u.%u.%u:%u, metrics %s%u; SIGTERM or SIGINT stops it", cfg.id,
          cluster.protocol == PC_PROTO_PBFT ? "pbft" : "sbft", pc_net_transport_name((pc_net_transport_t)cfg.transport),
          cfg.gateway.ip[0], cfg.gateway.ip[1], cfg.gateway.ip[2], cfg.gateway.ip[3], gp, hp ? "port " : "off",
          hp);
  uint64_t next = pc_now_ns() + every * 1000000000ull, t0 = pc_now_ns();
  while (!g_stop) {
    pc_sleep_ns(100000000ull);
    if (every && pc_now_ns() >= next) {
      pc_node_status_t st;
      pc_node_get_status(node, &st);
      char ch[65], er[65];
      pc_hex_encode(ch, st.chain_hash.b, 32);
      pc_hex_encode(er, st.exec_root.b, 32);
      printf("status t=%llus decided=%llu executed=%llu durable=%llu txs=%llu ok=%llu pool=%llu admitted=%llu "
             "rejected=%llu cons_in=%llu cons_out=%llu rounds_left=%llu persisted=%llu net_rx=%llu net_tx=%llu "
             "ledger=%.16s exec_root=%.16s gw_txs=%llu gw_accepted=%llu gw_refused=%llu gw_busy=%llu "
             "receipts=%llu queries=%llu conns=%llu rs_heights=%llu rs_bytes=%llu dp_malformed=%llu dp_bad_mac=%llu "
             "refused=%llu\n",
             (unsigned long long)((pc_now_ns() - t0) / 1000000000ull), (unsigned long long)st.decided,
             (unsigned long long)st.executed, (unsigned long long)st.durable, (unsigned long long)st.txs_executed,
             (unsigned long long)st.txs_ok, (unsigned long long)st.pool_count, (unsigned long long)st.admitted,
             (unsigned long long)st.pool_rejected, (unsigned long long)st.cons_msgs_in,
             (unsigned long long)st.cons_msgs_out, (unsigned long long)st.round_changes,
             (unsigned long long)st.persisted, (unsigned long long)st.net_rx_msgs, (unsigned long long)st.net_tx_msgs,
             ch, er, (unsigned long long)st.gw_txs, (unsigned long long)st.gw_accepted,
             (unsigned long long)(st.gw_bad_format + st.gw_wrong_chain + st.gw_bad_signature + st.gw_nonce_used +
                                  st.gw_duplicate),
             (unsigned long long)st.gw_busy, (unsigned long long)st.gw_receipts, (unsigned long long)st.gw_queries,
             (unsigned long long)st.gw_conns, (unsigned long long)st.rs_heights, (unsigned long long)st.rs_bytes,
             (unsigned long long)st.dp_malformed, (unsigned long long)st.dp_bad_mac,
             (unsigned long long)st.refused_noted);
      fflush(stdout);
      next += every * 1000000000ull;
    }
  }
  PC_INFO("stopping: stages in order, log flushed");
  pc_runner_free(run);
  pc_node_status_t st;
  pc_node_get_status(node, &st);
  char ch[65], er[65];
  pc_hex_encode(ch, st.chain_hash.b, 32);
  pc_hex_encode(er, st.exec_root.b, 32);
  printf("final executed=%llu ledger=%s exec_root=%s\n", (unsigned long long)st.executed, ch, er);
  pc_node_destroy(node);
  return 0;
}
