/* test_udp.c — two processes over the kernel UDP fallback (127.0.0.1
 * only) exchange messages from 1 byte to 16 MiB both ways: all delivered
 * intact, once, in order. */
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/dataplane/dp_testlib.h"
#include "tests/testutil.h"

static const size_t sizes[] = {1, 2, 100, 1387, 1388, 1389, 4096, 65536, 1 << 20, 3, 16u << 20, 7, 200, 9000};
static size_t len_sizes(uint64_t idx) { return sizes[idx % PC_ARRAY_LEN(sizes)]; }

static uint16_t base_port(void) { return (uint16_t)(20000 + (getpid() * 7) % 30000); }

static int replica(uint16_t self, uint16_t port, uint32_t frame, uint64_t total) {
  pc_dp_cfg_t cfg;
  tl_cfg(&cfg, PC_DP_KIND_UDP, self, 2, port);
  cfg.frame_size = frame;
  tl_rx_t rx = {.len_of = len_sizes};
  pc_dp_t *dp = pc_dp_create(&cfg, tl_deliver, &rx);
  if (!dp) return 3;
  int rc = tl_exchange(dp, &rx, self, 2, total, 150ull * 1000000000ull, 500000000ull);
  pc_dp_counters_t k;
  pc_dp_counters(dp, (uint16_t)(1 - self), &k);
  fprintf(stderr, "udp replica %u: rx %llu msgs, %llu frames, %llu retransmits, %llu ring full\n", self,
          (unsigned long long)k.rx_msgs, (unsigned long long)k.rx_frames, (unsigned long long)k.retransmits,
          (unsigned long long)k.ring_full);
  pc_dp_destroy(dp);
  return rc;
}

/* Two replicas, parent and child, exchange every size both ways with frames
 * of `frame` ParaChain bytes (datagrams of that size). */
static void pair_scenario(uint16_t port, uint32_t frame) {
  uint64_t total = 2 * PC_ARRAY_LEN(sizes);
  pid_t child = fork();
  cr_assert_geq(child, 0);
  if (child == 0) _exit(replica(1, port, frame, total));
  int rc = replica(0, port, frame, total);
  int st = 0;
  if (rc != 0) kill(child, SIGKILL);
  cr_assert_eq(waitpid(child, &st, 0), child);
  cr_assert_eq(rc, 0, "parent replica failed (%d)", rc);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child replica failed (status %d)", st);
}

Test(udp, two_processes_1B_to_16MiB_both_ways, .timeout = 200) { pair_scenario(base_port(), 1472); }

/* Jumbo frames (mtu = 9000 in node.conf): 8972-byte datagrams. */
Test(udp, jumbo_frames_mtu_9000_1B_to_16MiB_both_ways, .timeout = 200) {
  pair_scenario((uint16_t)(base_port() + 300), PC_DP_DPDK_MAX_FRAME);
}

Test(udp, bind_conflict_is_a_clean_error) {
  uint16_t port = (uint16_t)(base_port() + 100);
  pc_dp_cfg_t cfg;
  tl_cfg(&cfg, PC_DP_KIND_UDP, 0, 2, port);
  tl_rx_t rx = {.len_of = len_sizes};
  pc_dp_t *a = pc_dp_create(&cfg, tl_deliver, &rx);
  cr_assert_not_null(a);
  cr_assert_null(pc_dp_create(&cfg, tl_deliver, &rx));
  pc_dp_destroy(a);
}

/* The stage runs on its own thread with pc_dp_run until told to stop. */
#include <pthread.h>

static size_t len_small(uint64_t idx) { return 1 + (idx * 31) % 500; }

Test(udp, stage_thread_runs_until_stopped, .timeout = 120) {
  uint16_t port = (uint16_t)(base_port() + 200);
  pc_dp_cfg_t cfg[2];
  tl_rx_t rx[2] = {{.len_of = len_small}, {.len_of = len_small}};
  pc_dp_t *dp[2];
  for (uint16_t i = 0; i < 2; i++) {
    tl_cfg(&cfg[i], PC_DP_KIND_UDP, i, 2, port);
    dp[i] = pc_dp_create(&cfg[i], tl_deliver, &rx[i]);
    cr_assert_not_null(dp[i]);
  }
  tl_stage_t r = {.dp = dp[1]};
  atomic_init(&r.stop, false);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, tl_stage_thread, &r), 0);
  uint64_t total = pc_test_iters(5000), sent = 0;
  uint8_t buf[512];
  uint64_t deadline = pc_now_ns() + 60ull * 1000000000ull;
  unsigned idle = 0;
  while (sent < total || !pc_dp_tx_idle(dp[0])) {
    while (sent < total) {
      tl_fill(buf, len_small(sent), 0, sent);
      if (pc_dp_send(dp[0], 1, buf, len_small(sent)) != 0) break;
      sent++;
    }
    if (pc_dp_poll(dp[0], 64) > 0)
      idle = 0;
    else
      pc_dp_idle(++idle);
    cr_assert_lt(pc_now_ns(), deadline);
  }
  /* release: pairs with the acquire load in pc_dp_run */
  atomic_store_explicit(&r.stop, true, memory_order_release);
  cr_assert_eq(pthread_join(th, NULL), 0);
  /* Everything acknowledged was delivered on the stage thread, in order. */
  cr_assert_eq(rx[1].next[0], total);
  cr_assert_eq(rx[1].errors, 0, "%s", rx[1].first_error);
  pc_dp_destroy(dp[0]);
  pc_dp_destroy(dp[1]);
}
