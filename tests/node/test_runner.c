/* test_runner.c — the stage runner (node/stage.c) on its own: the idle
 * back-off hands its sleep phase to a stage's wait hook. One thread: the
 * test runs the loop with pc_runner_run_here and the hooks set the stop
 * flag. */
#include <criterion/criterion.h>

#include "node/node.h"

#define WAITS 40

typedef struct {
  atomic_bool *stop;
  unsigned polls, polls_before_first_wait, waits;
  uint64_t min_ns, max_ns;
  int rc;                  /* what the hook returns */
  uint64_t returned_ns, ns; /* when the hook last returned, and its max_ns */
  unsigned early;           /* passes that came sooner than max_ns after a hook that returned rc < 0 */
} st_t;

static unsigned idle_poll(void *ctx, uint64_t now) {
  st_t *s = ctx;
  if (s->rc < 0 && s->returned_ns && now - s->returned_ns < s->ns) s->early++;
  s->returned_ns = 0;
  s->polls++;
  return 0;
}

static int count_wait(void *ctx, uint64_t max_ns) {
  st_t *s = ctx;
  if (s->waits++ == 0) s->polls_before_first_wait = s->polls;
  if (max_ns < s->min_ns) s->min_ns = max_ns;
  if (max_ns > s->max_ns) s->max_ns = max_ns;
  /* release: pairs with run_loop's acquire load */
  if (s->waits == WAITS) atomic_store_explicit(s->stop, true, memory_order_release);
  s->ns = max_ns;
  s->returned_ns = pc_now_ns();
  return s->rc;
}

static void run(pc_stage_def_t *defs, unsigned n) {
  pc_runner_t *r = pc_runner_new();
  cr_assert_not_null(r);
  int t = pc_runner_add_thread(r, NULL);
  cr_assert_geq(t, 0);
  for (unsigned i = 0; i < n; i++) cr_assert_eq(pc_runner_add_stage(r, t, &defs[i]), 0);
  atomic_bool *stop = ((st_t *)defs[0].ctx)->stop;
  cr_assert_eq(pc_runner_run_here(r, t, stop), 0);
  pc_runner_free(r);
}

Test(runner, idle_sleep_phase_calls_the_wait_hook_with_the_sleep_duration, .timeout = 30) {
  atomic_bool stop = false;
  st_t s = {.stop = &stop, .min_ns = UINT64_MAX, .rc = 0};
  pc_stage_def_t d = {.name = "w", .ctx = &s, .poll = idle_poll, .wait = count_wait};
  run(&d, 1);
  cr_assert_eq(s.waits, WAITS);
  /* idle passes 0..127 spin or yield; the 129th idle pass is the first to
   * reach the sleep phase */
  cr_assert_eq(s.polls_before_first_wait, 129, "first wait after %u idle polls", s.polls_before_first_wait);
  cr_assert_eq(s.polls, s.polls_before_first_wait + WAITS - 1);
  cr_assert_eq(s.min_ns, 20000, "shortest wait %llu ns", (unsigned long long)s.min_ns);
  cr_assert_eq(s.max_ns, 40000, "longest wait %llu ns (the 33rd sleep-phase pass doubles it)",
               (unsigned long long)s.max_ns);
}

Test(runner, unsupported_wait_falls_back_to_the_sleep, .timeout = 30) {
  atomic_bool stop = false;
  st_t s = {.stop = &stop, .min_ns = UINT64_MAX, .rc = PC_ERR_UNSUPPORTED};
  pc_stage_def_t d = {.name = "w", .ctx = &s, .poll = idle_poll, .wait = count_wait};
  run(&d, 1);
  cr_assert_eq(s.waits, WAITS);
  /* every pass after an unsupported wait came at least max_ns later: the
   * runner slept (a lower bound: pc_sleep_ns sleeps at least that long) */
  cr_assert_eq(s.early, 0, "%u of %u passes came sooner than the sleep after an unsupported wait", s.early,
               WAITS - 1);
}

Test(runner, only_the_first_stage_with_a_wait_hook_is_called, .timeout = 30) {
  atomic_bool stop = false;
  st_t a = {.stop = &stop, .min_ns = UINT64_MAX}, b = a, c = a;
  pc_stage_def_t d[3] = {{.name = "no hook", .ctx = &a, .poll = idle_poll},
                         {.name = "first hook", .ctx = &b, .poll = idle_poll, .wait = count_wait},
                         {.name = "second hook", .ctx = &c, .poll = idle_poll, .wait = count_wait}};
  run(d, 3);
  cr_assert_eq(a.waits, 0);
  cr_assert_eq(b.waits, WAITS);
  cr_assert_eq(c.waits, 0);
  cr_assert_eq(a.polls, b.polls);
  cr_assert_eq(c.polls, b.polls);
}
