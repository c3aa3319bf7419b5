/* test_crash.c — a real kill -9 loop: a child appends with the flush
 * thread and reports each durable height through a pipe; the parent kills
 * it at a random moment, reopens, and checks every reported height. (The
 * page cache survives kill -9, so this exercises the crash paths of the
 * code, not missing syncs: the power-loss test covers those.) */
#include <signal.h>
#include <sys/wait.h>

#include "tests/storage/helpers.h"

#define SEG (1u << 20)
#define CRASH_MAX(h) ((h) % 10 == 0 ? 40000u : 2000u)

static char dir[64];
static int report_fd = -1;

static void child_durable(void *arg, uint64_t seq, uint64_t height) {
  (void)arg;
  (void)seq;
  if (write(report_fd, &height, sizeof height) != sizeof height) _exit(3);
}

static void child(void) {
  pc_log_set_level(PC_LOG_ERROR);
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  cfg.flush_thread = true;
  cfg.max_group = 16;
  cfg.max_delay_us = 200;
  cfg.on_durable = child_durable;
  cfg.max_group_bytes = 256u << 10;
  pc_log_t *log = pc_log_open(&cfg, NULL);
  if (!log) _exit(2);
  uint64_t h = pc_log_durable_height(log);
  for (;;) {
    h++;
    int64_t seq = append_test_block(log, h, CRASH_MAX(h));
    if (seq < 0) _exit(4);
    if (h % 5 == 0 && append_test_vote(log, h, 0) < 0) _exit(4);
    /* Pace like a store stage: at most a few groups in flight. */
    if (h % 8 == 0 && pc_log_wait_durable(log, seq > 16 ? (uint64_t)seq - 16 : 1, 10000000) < 0) _exit(5);
  }
}

Test(crash, kill9_loop, .timeout = 240) {
  pc_log_set_level(PC_LOG_ERROR);
  tmp_dir(dir);
  uint64_t rs = pc_test_seed(0x4b111), seed = rs;
  unsigned iters = pc_test_iters(12);
  uint64_t reported = 0;
  for (unsigned it = 0; it < iters; it++) {
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
      close(p[0]);
      report_fd = p[1];
      child();
    }
    close(p[1]);
    /* Let it make a random number of groups durable, then kill it. */
    unsigned wait_groups = 1 + (unsigned)(pc_test_rand(&rs) % 20);
    uint64_t hh;
    for (unsigned g = 0; g < wait_groups; g++) {
      if (read(p[0], &hh, sizeof hh) != sizeof hh) break;
      if (hh > reported) reported = hh;
    }
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFSIGNALED(st), "seed %lu: child exited early with %d", (unsigned long)seed, WEXITSTATUS(st));
    while (read(p[0], &hh, sizeof hh) == sizeof hh)
      if (hh > reported) reported = hh;
    close(p[0]);
    pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
    pc_log_report_t rep;
    pc_log_t *log = pc_log_open(&cfg, &rep);
    cr_assert_not_null(log, "seed %lu iteration %u: %s", (unsigned long)seed, it, rep.message);
    cr_assert_geq(pc_log_durable_height(log), reported, "seed %lu", (unsigned long)seed);
    for (uint64_t h = 1; h <= reported; h++) {
      pc_log_block_t b;
      cr_assert_eq(pc_log_get(log, h, &b), 0, "seed %lu height %lu", (unsigned long)seed, (unsigned long)h);
      cr_assert_eq(b.height, h);
      if (h + 64 > reported)
        cr_assert(block_matches(&b, h, CRASH_MAX(h)), "seed %lu height %lu", (unsigned long)seed, (unsigned long)h);
    }
    pc_log_close(log);
  }
  cr_assert_gt(reported, 0);
  rm_rf(dir);
}
