/* test_bench_cli.c — the benchmark programs' command lines (suite `tools`).
 *
 * For each of bench_common, bench_consensus, bench_dataplane,
 * bench_executor, bench_storage, bench_txpool and bench_gateway: -h and
 * --help print a usage text naming the program and its make target on
 * stdout and exit 0 with nothing on stderr; a malformed argument exits 2
 * with one line on stderr that names the program and the argument, then
 * the usage, and nothing on stdout (every benchmark prints a header on
 * stdout before its first figure). None of these may start a benchmark:
 * each run is killed, with its whole process group, after
 * RUN_TIMEOUT_S, which a correct run (it returns before initialising
 * anything) never comes near; a killed run fails the test instead of
 * hanging the suite. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "run.h"

#ifndef RUN_TIMEOUT_S
#define RUN_TIMEOUT_S 20
#endif

typedef struct {
  run_t r;
  bool timed_out;
} timed_run_t;

/* run_timed runs argv through run.h's run_tool_timed: its own process
 * group, killed after RUN_TIMEOUT_S (a benchmark's child processes go
 * with it). */
static void run_timed(timed_run_t *t, const char *const *argv) {
  t->timed_out = run_tool_timed(&t->r, RUN_TIMEOUT_S, argv);
}

#define RUN(t, ...) run_timed((t), (const char *const[]){__VA_ARGS__, NULL})

/* bench_storage removes its directory when it ends: every storage case
 * names one of its own, so a regression that runs the benchmark cannot
 * touch the default /tmp/pc-bench-storage of someone's benchmark. */
#define STORAGE_DIR "/tmp/pc-bench-cli-storage"

/* expect_help: exit 0, the usage on stdout naming the program and how
 * `make` runs it, nothing on stderr. */
static void expect_help(const char *name, const char *flag, const timed_run_t *t) {
  cr_assert(!t->timed_out, "%s %s still running after %d s: it started a benchmark", name, flag,
            RUN_TIMEOUT_S);
  cr_expect_eq(t->r.status, 0, "%s %s: exit %d, want 0; stderr: %s", name, flag, t->r.status, t->r.err);
  cr_expect(strstr(t->r.out, "usage:") != NULL, "%s %s: no 'usage:' on stdout: %s", name, flag, t->r.out);
  cr_expect(strstr(t->r.out, name) != NULL, "%s %s: stdout does not name the program: %s", name, flag,
            t->r.out);
  cr_expect(strstr(t->r.out, "make bench") != NULL, "%s %s: usage does not name its make target: %s", name,
            flag, t->r.out);
  cr_expect(strstr(t->r.out, "-h, --help") != NULL, "%s %s: usage does not list -h, --help", name, flag);
  cr_expect_str_empty(t->r.err, "%s %s: stderr not empty: %s", name, flag, t->r.err);
}

/* expect_rejected: exit 2; stderr's first line is "<name>: ..." and
 * quotes the bad argument, the usage follows it; nothing on stdout. */
static void expect_rejected(const char *name, const char *bad, const timed_run_t *t) {
  cr_assert(!t->timed_out, "%s with '%s' still running after %d s: it started a benchmark", name, bad,
            RUN_TIMEOUT_S);
  cr_expect_eq(t->r.status, 2, "%s with '%s': exit %d, want 2; stderr: %s", name, bad, t->r.status, t->r.err);
  char first[512], prefix[64], quoted[256];
  size_t n = strcspn(t->r.err, "\n");
  snprintf(first, sizeof first, "%.*s", (int)(n < sizeof first ? n : sizeof first - 1), t->r.err);
  snprintf(prefix, sizeof prefix, "%s: ", name);
  snprintf(quoted, sizeof quoted, "'%s'", bad);
  cr_expect(!strncmp(first, prefix, strlen(prefix)),
            "%s with '%s': first stderr line does not start with '%s': %s", name, bad, prefix, first);
  cr_expect(strstr(first, quoted) != NULL, "%s: first stderr line does not name %s: %s", name, quoted, first);
  cr_expect(strstr(t->r.err + n, "usage:") != NULL, "%s with '%s': no usage after the message on stderr: %s",
            name, bad, t->r.err);
  cr_expect_str_empty(t->r.out, "%s with '%s': something ran (stdout): %s", name, bad, t->r.out);
}

/* Three tests per program: --help, -h, and one malformed argument (BAD,
 * passed after ARGS...). */
#define BENCH_CLI_TESTS(id, name, exe, bad, ...) \
  Test(bench_cli, id##_help_long) {              \
    static timed_run_t t;                        \
    RUN(&t, exe, "--help");                      \
    expect_help(name, "--help", &t);             \
  }                                              \
  Test(bench_cli, id##_help_short) {             \
    static timed_run_t t;                        \
    RUN(&t, exe, "-h");                          \
    expect_help(name, "-h", &t);                 \
  }                                              \
  Test(bench_cli, id##_rejects_malformed) {      \
    static timed_run_t t;                        \
    RUN(&t, exe, __VA_ARGS__);                   \
    expect_rejected(name, bad, &t);              \
  }

/* the examples: a word where seconds or a section name belong */
BENCH_CLI_TESTS(common, "bench_common", PC_BENCH_COMMON, "foo", "foo")
BENCH_CLI_TESTS(consensus, "bench_consensus", PC_BENCH_CONSENSUS, "foo", "foo")
BENCH_CLI_TESTS(dataplane, "bench_dataplane", PC_BENCH_DATAPLANE, "x", "x")
BENCH_CLI_TESTS(executor, "bench_executor", PC_BENCH_EXECUTOR, "x", "-r", "x")
BENCH_CLI_TESTS(storage, "bench_storage", PC_BENCH_STORAGE, "x", "--dir", STORAGE_DIR, "--keys", "x")
BENCH_CLI_TESTS(txpool, "bench_txpool", PC_BENCH_TXPOOL, "x", "--rounds", "x")
BENCH_CLI_TESTS(gateway, "bench_gateway", PC_BENCH_GATEWAY, "0", "0")

/* One malformed command line beyond the three above: BAD is the argument
 * the message must quote. */
#define BENCH_CLI_REJECTS(id, name, exe, bad, ...) \
  Test(bench_cli, id) {                            \
    static timed_run_t t;                          \
    RUN(&t, exe, __VA_ARGS__);                     \
    expect_rejected(name, bad, &t);                \
  }

BENCH_CLI_REJECTS(common_negative_seconds, "bench_common", PC_BENCH_COMMON, "-1", "-1")
BENCH_CLI_REJECTS(common_too_many, "bench_common", PC_BENCH_COMMON, "2", "1", "2")
BENCH_CLI_REJECTS(consensus_extra_after_mode, "bench_consensus", PC_BENCH_CONSENSUS, "x", "cpu", "x")
BENCH_CLI_REJECTS(consensus_csv_bad_batch, "bench_consensus", PC_BENCH_CONSENSUS, "0", "csv", "4", "0", "100",
                  "60", "1")
BENCH_CLI_REJECTS(consensus_csv_bad_n_list, "bench_consensus", PC_BENCH_CONSENSUS, "4,x", "csv", "4,x", "10",
                  "100", "60", "1")
BENCH_CLI_REJECTS(consensus_delays_bad_n, "bench_consensus", PC_BENCH_CONSENSUS, "3", "delays", "3")
BENCH_CLI_REJECTS(dataplane_unknown_section, "bench_dataplane", PC_BENCH_DATAPLANE, "foo", "1", "mac,foo")
BENCH_CLI_REJECTS(dataplane_unknown_option, "bench_dataplane", PC_BENCH_DATAPLANE, "--quick", "--quick")
BENCH_CLI_REJECTS(dataplane_too_many, "bench_dataplane", PC_BENCH_DATAPLANE, "3", "1", "mac", "3")

/* bench_dataplane's settings from the environment are checked like its
 * arguments, before anything starts (a bad one used to be read with atoi
 * or skipped: PC_BENCH_SIZES=65536,x measured 65536 alone). Each test
 * runs in a process of its own, so setenv stays there. */
#define DATAPLANE_ENV_REJECTS(id, var, value, bad)              \
  Test(bench_cli, dataplane_env_##id) {                         \
    static timed_run_t t;                                       \
    cr_assert_eq(setenv(var, value, 1), 0);                     \
    RUN(&t, PC_BENCH_DATAPLANE, "1", "sizes");                  \
    expect_rejected("bench_dataplane", bad, &t);                \
  }
DATAPLANE_ENV_REJECTS(sizes_word, "PC_BENCH_SIZES", "65536,x", "x")
DATAPLANE_ENV_REJECTS(sizes_empty_item, "PC_BENCH_SIZES", "65536,,4", "65536,,4")
DATAPLANE_ENV_REJECTS(sizes_too_large, "PC_BENCH_SIZES", "16777217", "16777217")
DATAPLANE_ENV_REJECTS(row_reps_zero, "PC_BENCH_ROW_REPS", "0", "0")
DATAPLANE_ENV_REJECTS(loss_reps_16, "PC_BENCH_LOSS_REPS", "16", "16")
DATAPLANE_ENV_REJECTS(window_not_power_of_two, "PC_BENCH_WINDOW", "100", "100")
DATAPLANE_ENV_REJECTS(frame_too_small, "PC_BENCH_FRAME", "100", "100")
BENCH_CLI_REJECTS(executor_unknown_option, "bench_executor", PC_BENCH_EXECUTOR, "-x", "-x")
BENCH_CLI_REJECTS(executor_stray_argument, "bench_executor", PC_BENCH_EXECUTOR, "foo", "foo")
BENCH_CLI_REJECTS(executor_unknown_workload, "bench_executor", PC_BENCH_EXECUTOR, "foo", "-k", "compute,foo")
BENCH_CLI_REJECTS(executor_too_many_workers, "bench_executor", PC_BENCH_EXECUTOR, "65", "-w", "65")
BENCH_CLI_REJECTS(storage_unknown_option, "bench_storage", PC_BENCH_STORAGE, "--fast", "--dir", STORAGE_DIR,
                  "--fast")
BENCH_CLI_REJECTS(storage_zero_repeat, "bench_storage", PC_BENCH_STORAGE, "0", "--dir", STORAGE_DIR,
                  "--repeat", "0")
BENCH_CLI_REJECTS(storage_value_missing, "bench_storage", PC_BENCH_STORAGE, "--keys", "--dir", STORAGE_DIR,
                  "--quick", "--keys")
BENCH_CLI_REJECTS(txpool_unknown_phase, "bench_txpool", PC_BENCH_TXPOOL, "three", "--only", "three")
BENCH_CLI_REJECTS(txpool_few_txs, "bench_txpool", PC_BENCH_TXPOOL, "10", "10")
BENCH_CLI_REJECTS(txpool_bad_core, "bench_txpool", PC_BENCH_TXPOOL, "x", "20000", "x")
BENCH_CLI_REJECTS(gateway_word, "bench_gateway", PC_BENCH_GATEWAY, "x", "x")

/* Rejected before any side effect: bench_storage does not create its
 * --dir (nor remove it afterwards), bench_executor does not create its -c
 * file. */
Test(bench_cli, storage_rejected_leaves_no_dir) {
  static timed_run_t t;
  char dir[64];
  snprintf(dir, sizeof dir, "/tmp/pc-bench-cli-dir-%d", (int)getpid());
  rm_tree(dir);
  RUN(&t, PC_BENCH_STORAGE, "--dir", dir, "--quick", "--repeat", "x");
  bool made = exists(dir);
  rm_tree(dir); /* before any assertion can end the test */
  expect_rejected("bench_storage", "x", &t);
  cr_expect(!made, "bench_storage created %s before rejecting its arguments", dir);
}

Test(bench_cli, executor_rejected_leaves_no_csv) {
  static timed_run_t t;
  char csv[64];
  snprintf(csv, sizeof csv, "/tmp/pc-bench-cli-%d.csv", (int)getpid());
  unlink(csv);
  RUN(&t, PC_BENCH_EXECUTOR, "-c", csv, "-b", "0");
  bool made = exists(csv);
  unlink(csv); /* before any assertion can end the test */
  expect_rejected("bench_executor", "0", &t);
  cr_expect(!made, "bench_executor created %s before rejecting its arguments", csv);
}

Test(bench_cli, storage_log_with_state_rejected) {
  static timed_run_t t;
  RUN(&t, PC_BENCH_STORAGE, "--dir", STORAGE_DIR, "--log", "--state");
  cr_assert(!t.timed_out, "bench_storage --log --state still running after %d s", RUN_TIMEOUT_S);
  cr_expect_eq(t.r.status, 2, "exit %d, want 2: %s", t.r.status, t.r.err);
  cr_expect(strstr(t.r.err, "--log") && strstr(t.r.err, "--state"), "message does not name both options: %s",
            t.r.err);
  cr_expect_str_empty(t.r.out, "something ran: %s", t.r.out);
}
