/* test_dpdk_port.c — the DPDK transport on caller-given ports
 * (cfg.dpdk_port): two replicas in one process, each on one end of a pair
 * of ring-backed ethdevs, exchange messages both ways with Ethernet/IPv4/UDP
 * framing; an unknown port name is a clean error. */
#include <criterion/criterion.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>
#include <unistd.h>

#include "tests/dataplane/dp_testlib.h"
#include "tests/testutil.h"

static void eal_up(void) {
  char prefix[64];
  snprintf(prefix, sizeof prefix, "--file-prefix=pct-port-%d", (int)getpid());
  char *argv[] = {"t", "--no-huge", "-m", "64", "--no-shconf", "--no-pci", prefix, "--log-level=*:error", "-l", "0"};
  cr_assert_geq(rte_eal_init((int)PC_ARRAY_LEN(argv), argv), 0, "EAL: %s", rte_strerror(rte_errno));
}

static size_t len_mix(uint64_t idx) {
  static const size_t s[] = {1, 300, 1388, 1389, 70000, 5, 1 << 20};
  return s[idx % PC_ARRAY_LEN(s)];
}

Test(dpdk_port, two_replicas_over_ring_ports, .timeout = 120) {
  eal_up();
  struct rte_ring *a = rte_ring_create("pct_a", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  struct rte_ring *b = rte_ring_create("pct_b", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  cr_assert(a && b);
  /* port 0 receives from a and sends to b; port 1 the other way round */
  int p0 = rte_eth_from_rings("pct_port0", &a, 1, &b, 1, 0);
  int p1 = rte_eth_from_rings("pct_port1", &b, 1, &a, 1, 0);
  cr_assert(p0 >= 0 && p1 >= 0);
  pc_dp_cfg_t cfg[2];
  tl_rx_t rx[2] = {{.len_of = len_mix}, {.len_of = len_mix}};
  pc_dp_t *dp[2];
  for (uint16_t i = 0; i < 2; i++) {
    tl_cfg(&cfg[i], PC_DP_KIND_DPDK, i, 2, 9000);
    cr_assert_eq(rte_eth_dev_get_name_by_port((uint16_t)(i ? p1 : p0), cfg[i].dpdk_port), 0);
    dp[i] = pc_dp_create(&cfg[i], tl_deliver, &rx[i]);
    cr_assert_not_null(dp[i]);
  }
  uint64_t total = pc_test_iters(70);
  uint64_t sent[2] = {0};
  uint8_t *buf = malloc(1 << 20);
  uint64_t deadline = pc_now_ns() + 100ull * 1000000000ull;
  while (rx[0].next[1] < total || rx[1].next[0] < total) {
    for (uint16_t i = 0; i < 2; i++) {
      uint16_t peer = (uint16_t)(1 - i);
      while (sent[i] < total) {
        size_t len = len_mix(sent[i]);
        tl_fill(buf, len, i, sent[i]);
        if (pc_dp_send(dp[i], peer, buf, len) != 0) break;
        sent[i]++;
      }
      pc_dp_poll(dp[i], 256);
    }
    cr_assert_lt(pc_now_ns(), deadline, "stuck at %llu / %llu", (unsigned long long)rx[0].next[1],
                 (unsigned long long)rx[1].next[0]);
  }
  for (int i = 0; i < 2; i++) cr_assert_eq(rx[i].errors, 0, "%s", rx[i].first_error);
  pc_dp_counters_t port;
  pc_dp_counters(dp[0], 0, &port);
  cr_assert_eq(port.malformed, 0);
  free(buf);
  pc_dp_destroy(dp[1]);
  pc_dp_destroy(dp[0]);
  char prefix[64];
  snprintf(prefix, sizeof prefix, "pct-port-%d", (int)getpid());
  tl_rm_runtime(prefix);
}

Test(dpdk_port, unknown_port_is_a_clean_error, .timeout = 60) {
  eal_up();
  pc_dp_cfg_t cfg;
  tl_cfg(&cfg, PC_DP_KIND_DPDK, 0, 2, 9000);
  snprintf(cfg.dpdk_port, sizeof cfg.dpdk_port, "no_such_port");
  tl_rx_t rx = {.len_of = len_mix};
  cr_assert_null(pc_dp_create(&cfg, tl_deliver, &rx));
  char prefix[64];
  snprintf(prefix, sizeof prefix, "pct-port-%d", (int)getpid());
  tl_rm_runtime(prefix);
}
