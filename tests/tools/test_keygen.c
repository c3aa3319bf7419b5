/* test_keygen.c — pc-keygen: key files (mode, format, public key printed),
 * refusal to overwrite, --show, and one-line errors with exit 2 on bad
 * arguments. */
#include <criterion/criterion.h>

#include "tests/tools/run.h"
#include "txpool/client.h"

static char dir[64], path[128];
static run_t r;

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/pc-keygen-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/r.key", dir);
}
static void teardown(void) { rm_tree(dir); }

TestSuite(keygen, .init = setup, .fini = teardown);

static void assert_prints_key_of(const char *file) {
  pc_client_key_t k;
  cr_assert_eq(pc_client_key_load(&k, file), 0);
  char hex[65];
  pc_hex_encode(hex, k.pk, 32);
  cr_assert_eq(strlen(r.out), 65, "stdout '%s'", r.out);
  cr_assert_eq(strncmp(r.out, hex, 64), 0, "printed %s, file holds %s", r.out, hex);
}

Test(keygen, replica_key_mode_0600_and_public_key_printed) {
  run_tool(&r, PC_KEYGEN, "--replica", "--out", path, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0600);
  assert_prints_key_of(path);
}

Test(keygen, default_is_replica_and_client_works) {
  run_tool(&r, PC_KEYGEN, "--out", path, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.err, "replica key"), "%s", r.err);
  char p2[160];
  snprintf(p2, sizeof p2, "%s/c.key", dir);
  run_tool(&r, PC_KEYGEN, "--client", "--out", p2, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.err, "client key"), "%s", r.err);
  assert_prints_key_of(p2);
}

Test(keygen, two_keys_differ) {
  run_tool(&r, PC_KEYGEN, "--out", path, NULL);
  char first[80];
  snprintf(first, sizeof first, "%.79s", r.out);
  char p2[160];
  snprintf(p2, sizeof p2, "%s/b.key", dir);
  run_tool(&r, PC_KEYGEN, "--out", p2, NULL);
  cr_assert_eq(r.status, 0);
  cr_assert_str_neq(first, r.out);
}

Test(keygen, refuses_to_overwrite) {
  run_tool(&r, PC_KEYGEN, "--out", path, NULL);
  cr_assert_eq(r.status, 0);
  char before[200], after[200];
  slurp(path, before, sizeof before);
  run_tool(&r, PC_KEYGEN, "--out", path, NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "already exists: refusing to overwrite"), "%s", r.err);
  cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
  cr_assert_str_eq(r.out, "");
  slurp(path, after, sizeof after);
  cr_assert_str_eq(before, after);
}

Test(keygen, refuses_to_overwrite_any_file) {
  FILE *f = fopen(path, "w");
  fputs("precious\n", f);
  fclose(f);
  run_tool(&r, PC_KEYGEN, "--out", path, NULL);
  cr_assert_eq(r.status, 1);
  char now[64];
  slurp(path, now, sizeof now);
  cr_assert_str_eq(now, "precious\n");
}

Test(keygen, show_prints_the_same_public_key) {
  run_tool(&r, PC_KEYGEN, "--out", path, NULL);
  char made[80];
  snprintf(made, sizeof made, "%.79s", r.out);
  run_tool(&r, PC_KEYGEN, "--show", path, NULL);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_str_eq(r.out, made);
}

Test(keygen, show_rejects_a_non_key_file) {
  FILE *f = fopen(path, "w");
  fputs("pc-ed25519-seed:zz\n", f);
  fclose(f);
  run_tool(&r, PC_KEYGEN, "--show", path, NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "is not a key file"), "%s", r.err);
  cr_assert_str_eq(r.out, "");
}

Test(keygen, show_missing_file) {
  run_tool(&r, PC_KEYGEN, "--show", path, NULL);
  cr_assert_eq(r.status, 1);
  cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
}

Test(keygen, unwritable_folder) {
  run_tool(&r, PC_KEYGEN, "--out", "/nonexistent-pc-dir/r.key", NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.err, "cannot create"), "%s", r.err);
  cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
}

Test(keygen, help) {
  run_tool(&r, PC_KEYGEN, "--help", NULL);
  cr_assert_eq(r.status, 0);
  cr_assert(strstr(r.out, "usage: pc-keygen"), "%s", r.out);
}

static void assert_bad_args(const char *needle) {
  cr_assert_eq(r.status, 2, "status %d, stderr %s", r.status, r.err);
  cr_assert_eq(count_lines(r.err), 1, "%s", r.err);
  cr_assert(strstr(r.err, needle), "'%s' lacks '%s'", r.err, needle);
  cr_assert_not(exists(path), "wrote a file on bad arguments");
}

Test(keygen, no_arguments) {
  run_tool(&r, PC_KEYGEN, NULL);
  assert_bad_args("nothing to do");
}
Test(keygen, unknown_argument) {
  run_tool(&r, PC_KEYGEN, "--out", path, "--force", NULL);
  assert_bad_args("unknown argument '--force'");
}
Test(keygen, out_without_value) {
  run_tool(&r, PC_KEYGEN, "--out", NULL);
  assert_bad_args("--out needs a file name");
}
Test(keygen, replica_and_client) {
  run_tool(&r, PC_KEYGEN, "--replica", "--client", "--out", path, NULL);
  assert_bad_args("only one of --replica and --client");
}
Test(keygen, show_with_kind) {
  run_tool(&r, PC_KEYGEN, "--client", "--show", path, NULL);
  assert_bad_args("--show takes no");
}
