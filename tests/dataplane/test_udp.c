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

static int replica(uint16_t self, uint16_t port, uint64_t total) {
  pc_dp_cfg_t cfg;
  tl_cfg(&cfg, PC_DP_KIND_UDP, self, 2, port);
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

Test(udp, two_processes_1B_to_16MiB_both_ways, .timeout = 200) {
  uint16_t port = base_port();
  uint64_t total = 2 * PC_ARRAY_LEN(sizes);
  pid_t child = fork();
  cr_assert_geq(child, 0);
  if (child == 0) _exit(replica(1, port, total));
  int rc = replica(0, port, total);
  int st = 0;
  if (rc != 0) kill(child, SIGKILL);
  cr_assert_eq(waitpid(child, &st, 0), child);
  cr_assert_eq(rc, 0, "parent replica failed (%d)", rc);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child replica failed (status %d)", st);
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
