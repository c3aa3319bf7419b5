/* test_plugins.c — plugin loading: good, wrong ABI, missing symbol,
 * duplicate name, wrong hash, directory pins. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

#include "tests/executor/exec_testutil.h"

static pc_executor_t *mk(void) {
  pc_exec_config_t cfg = {.sched = PC_SCHED_SERIAL, .n_workers = 1};
  pc_executor_t *e = pc_exec_create(&cfg);
  cr_assert_not_null(e);
  return e;
}

static pc_hash_t hash_of(const char *path) {
  pc_hash_t h;
  cr_assert_eq(pc_exec_plugin_hash(path, &h), 0, "cannot hash %s", path);
  return h;
}

Test(executor_plugins, good_plugin_loads_and_runs) {
  pc_executor_t *e = mk();
  pc_hash_t h = hash_of(PC_PLUGIN_GOOD);
  cr_assert_eq(pc_exec_load_plugin(e, PC_PLUGIN_GOOD, &h), 0);
  pc_memstate_t *m = pc_memstate_create();
  pc_exec_state_t st = pc_memstate_iface(m);
  tblock_t b;
  tb_init(&b, 8);
  uint8_t a[16] = {3, 'd', 'o', 'c', 'h', 'i'};
  tb_add(&b, 1, 0, "notary", "stamp", a, 6);
  tb_add(&b, 2, 0, "notary", "stamp", a, 6); /* already stamped */
  tb_add(&b, 3, 0, "notary", "check", "doc", 3);
  pc_exec_block_t blk = {.height = 9, .txs = b.tx, .n_txs = b.n};
  pc_exec_result_t r;
  cr_assert_eq(pc_exec_run(e, &st, &blk, &r), 0);
  cr_assert_eq(r.receipts[0].status, PC_TX_OK);
  cr_assert_eq(r.receipts[0].n_events, 1);
  cr_assert_eq(r.receipts[1].status, PC_TX_FAILED);
  cr_assert_eq(r.receipts[2].status, PC_TX_OK);
  cr_assert_eq(r.receipts[2].output.len, 32 + 8 + 2);
  cr_assert_eq(pc_load_le64(r.receipts[2].output.p + 32), 9);
  tb_free(&b);
  pc_memstate_destroy(m);
  pc_exec_destroy(e);
}

Test(executor_plugins, wrong_hash_is_refused) {
  pc_executor_t *e = mk();
  pc_hash_t h = hash_of(PC_PLUGIN_GOOD);
  h.b[0] ^= 1;
  cr_assert_eq(pc_exec_load_plugin(e, PC_PLUGIN_GOOD, &h), PC_ERR_CHECKSUM);
  cr_assert_eq(pc_exec_load_plugin(e, PC_PLUGIN_GOOD, NULL), PC_ERR_CHECKSUM);
  /* nothing was registered: a notary call is an unknown contract */
  pc_memstate_t *m = pc_memstate_create();
  pc_exec_state_t st = pc_memstate_iface(m);
  tblock_t b;
  tb_init(&b, 2);
  tb_add(&b, 3, 0, "notary", "check", "doc", 3);
  pc_exec_block_t blk = {.height = 1, .txs = b.tx, .n_txs = b.n};
  pc_exec_result_t r;
  cr_assert_eq(pc_exec_run(e, &st, &blk, &r), 0);
  cr_assert_eq(r.receipts[0].status, PC_TX_UNKNOWN_CONTRACT);
  tb_free(&b);
  pc_memstate_destroy(m);
  pc_exec_destroy(e);
}

Test(executor_plugins, wrong_abi_version_is_refused) {
  pc_executor_t *e = mk();
  pc_hash_t h = hash_of(PC_PLUGIN_BAD_ABI);
  cr_assert_eq(pc_exec_load_plugin(e, PC_PLUGIN_BAD_ABI, &h), PC_ERR_VERSION);
  pc_exec_destroy(e);
}

Test(executor_plugins, missing_symbol_is_refused) {
  pc_executor_t *e = mk();
  pc_hash_t h = hash_of(PC_PLUGIN_NO_GET);
  cr_assert_eq(pc_exec_load_plugin(e, PC_PLUGIN_NO_GET, &h), PC_ERR_NOT_FOUND);
  pc_exec_destroy(e);
}

Test(executor_plugins, duplicate_name_is_refused) {
  pc_executor_t *e = mk();
  pc_hash_t h = hash_of(PC_PLUGIN_DUP);
  cr_assert_eq(pc_exec_load_plugin(e, PC_PLUGIN_DUP, &h), PC_ERR_EXISTS);
  pc_hash_t g = hash_of(PC_PLUGIN_GOOD);
  cr_assert_eq(pc_exec_load_plugin(e, PC_PLUGIN_GOOD, &g), 0);
  cr_assert_eq(pc_exec_load_plugin(e, PC_PLUGIN_GOOD, &g), PC_ERR_EXISTS);
  pc_exec_destroy(e);
}

Test(executor_plugins, not_a_shared_object_is_refused) {
  pc_executor_t *e = mk();
  char path[] = "/tmp/pc_exec_plugin_XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, "not elf", 7), 7);
  close(fd);
  pc_hash_t h = hash_of(path);
  cr_assert_eq(pc_exec_load_plugin(e, path, &h), PC_ERR_INVALID);
  cr_assert_eq(pc_exec_load_plugin(e, "/nonexistent/plugin.so", &h), PC_ERR_IO);
  unlink(path);
  pc_exec_destroy(e);
}

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  cr_assert(in && out);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) cr_assert_eq(fwrite(buf, 1, n, out), n);
  fclose(in);
  fclose(out);
}

Test(executor_plugins, directory_needs_a_pin_for_every_file_and_a_file_for_every_pin) {
  char dir[] = "/tmp/pc_exec_plugins_XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[512];
  snprintf(path, sizeof path, "%s/notary.so", dir);
  copy_file(PC_PLUGIN_GOOD, path);
  pc_exec_plugin_pin_t good = {"notary.so", hash_of(path)};
  pc_exec_plugin_pin_t extra[2] = {good, {"other.so", hash_of(path)}};

  pc_executor_t *e = mk();
  cr_assert_eq(pc_exec_load_plugin_dir(e, dir, NULL, 0), PC_ERR_CONFIG); /* unpinned file */
  pc_exec_destroy(e);
  e = mk();
  cr_assert_eq(pc_exec_load_plugin_dir(e, dir, extra, 2), PC_ERR_CONFIG); /* pin without file */
  pc_exec_destroy(e);
  e = mk();
  cr_assert_eq(pc_exec_load_plugin_dir(e, dir, &good, 1), 0);
  pc_exec_destroy(e);
  e = mk();
  good.hash.b[5] ^= 0x40;
  cr_assert_eq(pc_exec_load_plugin_dir(e, dir, &good, 1), PC_ERR_CHECKSUM);
  pc_exec_destroy(e);
  unlink(path);
  rmdir(dir);
}

static int m_ok(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  (void)c, (void)a, (void)n;
  return 0;
}

Test(executor_plugins, register_rejects_bad_definitions) {
  pc_executor_t *e = mk();
  pc_contract_method_t ms[2] = {{"a", m_ok}, {"a", m_ok}};
  pc_contract_def_t d = {PC_CONTRACT_ABI_VERSION, "Bad", 1, ms};
  cr_assert_eq(pc_exec_register(e, &d), PC_ERR_INVALID); /* upper case */
  d.name = "good";
  d.n_methods = 2;
  cr_assert_eq(pc_exec_register(e, &d), PC_ERR_INVALID); /* duplicate method */
  d.n_methods = 0;
  cr_assert_eq(pc_exec_register(e, &d), PC_ERR_INVALID);
  d.n_methods = 1;
  d.abi_version = 7;
  cr_assert_eq(pc_exec_register(e, &d), PC_ERR_VERSION);
  d.abi_version = PC_CONTRACT_ABI_VERSION;
  cr_assert_eq(pc_exec_register(e, &d), 0);
  cr_assert_eq(pc_exec_register(e, &d), PC_ERR_EXISTS);
  pc_exec_destroy(e);
}
