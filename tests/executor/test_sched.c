/* test_sched.c — the scheduler property test (sched_property.h) under
 * Criterion: every scheduler equals serial, byte for byte. */
#include <criterion/criterion.h>

#define PROP_CHECK(cond, ...) cr_assert(cond, __VA_ARGS__)
#define PROP_LOG(...) cr_log_info(__VA_ARGS__)
#include "tests/executor/sched_property.h"

Test(executor_sched, taskset_equals_serial) { property(PC_SCHED_TASKSET, DECL_ALL, false, 0x7a51, 600); }
Test(executor_sched, dag_equals_serial) { property(PC_SCHED_DAG, DECL_ALL, false, 0xda6, 600); }
Test(executor_sched, optimistic_equals_serial_undeclared) {
  property(PC_SCHED_OPTIMISTIC, DECL_NONE, false, 0x0b7, 600);
}
Test(executor_sched, optimistic_equals_serial_mixed) {
  property(PC_SCHED_OPTIMISTIC, DECL_MIXED, false, 0x313, 600);
}
Test(executor_sched, auto_with_fallback_equals_serial_mixed) {
  property(PC_SCHED_AUTO, DECL_MIXED, true, 0xa70, 400);
}
Test(executor_sched, dag_with_fallback_equals_serial) { property(PC_SCHED_DAG, DECL_ALL, true, 0xfb, 400); }
Test(executor_sched, taskset_mixed_runs_optimistically_and_equals_serial) {
  property(PC_SCHED_TASKSET, DECL_MIXED, false, 0x7a52, 300);
}
