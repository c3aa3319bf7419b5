/* test_ledger_cli.c — the documented repair path end to end: a refused
 * open names segment and offset, `pc-ledger repair` cuts there, the log
 * opens again. The binary comes from the PC_LEDGER environment variable. */
#include <sys/wait.h>

#include "tests/storage/helpers.h"

static char dir[64];

static void setup(void) {
  pc_log_set_level(PC_LOG_ERROR);
  tmp_dir(dir);
}
static void teardown(void) { rm_rf(dir); }

TestSuite(ledger_cli, .init = setup, .fini = teardown, .timeout = 60);

/* run executes pc-ledger with args, captures stdout into out; returns the exit code. */
static int run(char *out, size_t cap, const char *args) {
  const char *bin = getenv("PC_LEDGER");
  cr_assert_not_null(bin, "PC_LEDGER must name the pc-ledger binary");
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", bin, args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(ledger_cli, help_and_usage_errors) {
  char out[4096], args[256];
  cr_assert_eq(run(out, sizeof out, "--help"), 0);
  cr_assert(strstr(out, "repair") && strstr(out, "--truncate-at"));
  cr_assert_eq(run(out, sizeof out, ""), 64);
  cr_assert_eq(run(out, sizeof out, "verify"), 64, "--data is required");
  cr_assert_eq(run(out, sizeof out, "frobnicate --data /tmp"), 64);
  snprintf(args, sizeof args, "repair --data %s --truncate-at nonsense", dir);
  cr_assert_eq(run(out, sizeof out, args), 64);
}

Test(ledger_cli, verify_names_corruption_and_repair_fixes_it) {
  pc_log_config_t cfg = log_cfg(dir, NULL, 1u << 20);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  for (uint64_t h = 1; h <= 9; h++) {
    cr_assert_gt(append_test_block(log, h, 700), 0);
    if (h % 3 == 0) cr_assert_eq(pc_log_sync(log), 0);
  }
  pc_log_close(log);
  char out[4096], args[256];
  snprintf(args, sizeof args, "verify --data %s", dir);
  cr_assert_eq(run(out, sizeof out, args), 0, "%s", out);
  cr_assert(strstr(out, "heights   1..9"), "%s", out);
  /* Damage height 4 (second group) in the middle of the log. */
  char seg0[128];
  snprintf(seg0, sizeof seg0, "%s/seg-00000000.log", dir);
  size_t n;
  uint8_t *img = read_file(seg0, &n);
  size_t g2 = (128 + pc_load_le32(img + 64 + 28) + 63) & ~(size_t)63;
  img[g2 + 200] ^= 0xff;
  write_file(seg0, img, n);
  free(img);
  cr_assert_null(pc_log_open(&cfg, NULL));
  cr_assert_eq(run(out, sizeof out, args), 2, "%s", out);
  unsigned seg, off;
  unsigned long long hh;
  const char *d = strstr(out, "damage");
  cr_assert_not_null(d, "%s", out);
  cr_assert_eq(sscanf(d, "damage segment %u offset %u height %llu", &seg, &off, &hh), 3);
  cr_assert_eq(seg, 0);
  cr_assert_eq(off, g2);
  cr_assert_eq(hh, 4);
  snprintf(args, sizeof args, "repair --data %s --truncate-at %u:%u", dir, seg, off);
  cr_assert_eq(run(out, sizeof out, args), 0, "%s", out);
  snprintf(args, sizeof args, "verify --data %s", dir);
  cr_assert_eq(run(out, sizeof out, args), 0, "%s", out);
  log = pc_log_open(&cfg, NULL);
  cr_assert_not_null(log);
  cr_assert_eq(pc_log_durable_height(log), 3);
  pc_log_close(log);
  snprintf(args, sizeof args, "dump --data %s --height 2 --to 3", dir);
  cr_assert_eq(run(out, sizeof out, args), 0);
  cr_assert(strstr(out, "height 2") && strstr(out, "height 3"), "%s", out);
}
