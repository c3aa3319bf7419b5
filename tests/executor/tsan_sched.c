/* tsan_sched.c — the scheduler property test as a plain program, for
 * ThreadSanitizer builds (meson setup -Db_sanitize=thread; Criterion cannot
 * start under TSan, so in such a build this is the executor suite's
 * scheduler test). Exit status 0 = every scheduler equals serial. */
#include <stdlib.h>

#define PROP_CHECK(cond, ...)                \
  do {                                       \
    if (!(cond)) {                           \
      fprintf(stderr, "FAIL: " __VA_ARGS__); \
      fprintf(stderr, "\n");                 \
      exit(1);                               \
    }                                        \
  } while (0)
#define PROP_LOG(...)             \
  do {                            \
    fprintf(stderr, __VA_ARGS__); \
    fprintf(stderr, "\n");        \
  } while (0)
#include "tests/executor/sched_property.h"

int main(void) {
  property(PC_SCHED_TASKSET, DECL_ALL, false, 0x7a51, 100);
  property(PC_SCHED_DAG, DECL_ALL, false, 0xda6, 100);
  property(PC_SCHED_OPTIMISTIC, DECL_NONE, false, 0x0b7, 100);
  property(PC_SCHED_OPTIMISTIC, DECL_MIXED, false, 0x313, 100);
  property(PC_SCHED_AUTO, DECL_MIXED, true, 0xa70, 100);
  fprintf(stderr, "tsan_sched: every scheduler equals serial\n");
  return 0;
}
