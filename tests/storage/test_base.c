/* test_base.c — the log's base record (the ledger continuing after a state
 * transfer) and installing a snapshot received chunk by chunk. */
#include <urcu.h>

#include "tests/storage/helpers.h"

#define SEG (1u << 20)

static char dir[64];

static void setup(void) {
  pc_log_set_level(PC_LOG_ERROR);
  tmp_dir(dir);
}
static void teardown(void) { rm_rf(dir); }

TestSuite(base, .init = setup, .fini = teardown, .timeout = 240);

static pc_log_block_t base_rec(uint64_t h, const uint8_t *cert, size_t cert_len) {
  pc_log_block_t b = {.height = h, .cert = cert, .cert_len = cert_len};
  pc_hash_tagged(&b.block_hash, "test/chain", &h, 8);
  pc_hash_tagged(&b.exec_root, "test/base-root", &h, 8);
  return b;
}

static void check_base(pc_log_t *log, uint64_t h) {
  pc_log_block_t got, want = base_rec(h, NULL, 0);
  cr_assert_eq(pc_log_base_height(log), h);
  cr_assert_eq(pc_log_base(log, &got), 0);
  cr_assert_eq(got.height, h);
  cr_assert(pc_hash_equal(&got.block_hash, &want.block_hash));
  cr_assert(pc_hash_equal(&got.exec_root, &want.exec_root));
  cr_assert_eq(got.cert_len, 5);
  cr_assert_eq(memcmp(got.cert, "certs", 5), 0);
}

Test(base, log_continues_after_the_base_height_and_reopens) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  cr_assert_not_null(log);
  for (uint64_t h = 1; h <= 10; h++) cr_assert_gt(append_test_block(log, h, 2000), 0);
  pc_log_block_t b = base_rec(1000, (const uint8_t *)"certs", 5);
  cr_assert_gt(pc_log_append_base(log, &b), 0);
  cr_assert_eq(append_test_block(log, 11, 2000), PC_ERR_RANGE);
  cr_assert_eq(pc_log_sync(log), 0);
  cr_assert_eq(pc_log_durable_height(log), 1000);
  cr_assert_eq(pc_log_first_height(log), 1001);
  check_base(log, 1000);
  for (uint64_t h = 1001; h <= 1005; h++) cr_assert_gt(append_test_block(log, h, 2000), 0);
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);

  pc_log_report_t rep;
  log = pc_log_open(&cfg, &rep);
  cr_assert_not_null(log);
  cr_assert_eq(rep.status, PC_LOG_CLEAN, "%s", rep.message);
  cr_assert_eq(rep.base_height, 1000);
  cr_assert_eq(rep.first_height, 1001);
  cr_assert_eq(rep.last_height, 1005);
  check_base(log, 1000);
  cr_assert_eq(pc_log_first_height(log), 1001);
  pc_log_block_t g;
  cr_assert_eq(pc_log_get(log, 5, &g), PC_ERR_NOT_FOUND); /* superseded */
  cr_assert_eq(pc_log_get(log, 1000, &g), PC_ERR_NOT_FOUND);
  for (uint64_t h = 1001; h <= 1005; h++) {
    cr_assert_eq(pc_log_get(log, h, &g), 0);
    cr_assert(block_matches(&g, h, 2000));
  }
  cr_assert_eq(append_test_block(log, 1007, 2000), PC_ERR_RANGE);
  cr_assert_gt(append_test_block(log, 1006, 2000), 0);
  cr_assert_eq(pc_log_sync(log), 0);
  cr_assert_eq(pc_log_durable_height(log), 1006);
  pc_log_close(log);
}

Test(base, base_never_goes_backwards) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  for (uint64_t h = 1; h <= 10; h++) cr_assert_gt(append_test_block(log, h, 500), 0);
  pc_log_block_t b = base_rec(9, (const uint8_t *)"certs", 5);
  cr_assert_eq(pc_log_append_base(log, &b), PC_ERR_RANGE);
  b.height = 0;
  cr_assert_eq(pc_log_append_base(log, &b), PC_ERR_RANGE);
  b = base_rec(10, (const uint8_t *)"certs", 5); /* at the last block: allowed */
  cr_assert_gt(pc_log_append_base(log, &b), 0);
  cr_assert_eq(pc_log_sync(log), 0);
  cr_assert_eq(pc_log_first_height(log), 11);
  pc_log_block_t g;
  cr_assert_eq(pc_log_get(log, 10, &g), PC_ERR_NOT_FOUND);
  cr_assert_gt(append_test_block(log, 11, 500), 0);
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);
}

Test(base, base_on_an_empty_log) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  cr_assert_eq(pc_log_base_height(log), 0);
  pc_log_block_t g;
  cr_assert_eq(pc_log_base(log, &g), PC_ERR_NOT_FOUND);
  pc_log_block_t b = base_rec(500, (const uint8_t *)"certs", 5);
  cr_assert_gt(pc_log_append_base(log, &b), 0);
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);
  pc_log_report_t rep;
  log = pc_log_open(&cfg, &rep);
  cr_assert_not_null(log);
  cr_assert_eq(rep.base_height, 500);
  cr_assert_eq(pc_log_durable_height(log), 500);
  check_base(log, 500);
  cr_assert_eq(append_test_block(log, 1, 500), PC_ERR_RANGE);
  cr_assert_gt(append_test_block(log, 501, 500), 0);
  cr_assert_eq(pc_log_sync(log), 0);
  cr_assert_eq(pc_log_get(log, 501, &g), 0);
  pc_log_close(log);
}

Test(base, decoded_by_the_record_decoder) {
  uint8_t rec[512];
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  pc_log_block_t b = base_rec(77, (const uint8_t *)"certs", 5);
  cr_assert_gt(pc_log_append_base(log, &b), 0);
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);
  /* The record sits right after the segment (64) and group (64) headers. */
  char path[128];
  snprintf(path, sizeof path, "%s/seg-00000000.log", dir);
  size_t n;
  uint8_t *f = read_file(path, &n);
  size_t len = pc_load_le32(f + 128 + 8);
  cr_assert_lt(len, sizeof rec);
  memcpy(rec, f + 128, len);
  free(f);
  uint8_t type = 0;
  pc_log_block_t got;
  cr_assert_eq(pc_log_record_decode(rec, len, &type, &got, NULL), 0);
  cr_assert_eq(type, PC_LOG_REC_BASE);
  cr_assert_eq(got.height, 77);
  rec[20] ^= 1; /* height, under the CRC */
  cr_assert_eq(pc_log_record_decode(rec, len, &type, &got, NULL), PC_ERR_CHECKSUM);
}

/* A base record whose group is torn by power loss: the log reopens either
 * with the base (continuing at b + 1) or exactly as before it; the blocks
 * made durable before it are never lost; a durable base survives. */
Test(base, power_loss_around_a_base_record, .timeout = 300) {
  uint64_t seed0 = pc_test_seed(0xba5e);
  unsigned iters = pc_test_iters(60);
  unsigned with = 0, without = 0;
  for (unsigned it = 0; it < iters; it++) {
    uint64_t seed = seed0 + it, rs = seed;
    rm_rf(dir);
    pc_io_fault_t *f = pc_io_fault_new(seed);
    pc_log_config_t cfg = log_cfg(dir, pc_io_fault_io(f), SEG);
    pc_log_t *log = pc_log_open(&cfg, NULL);
    cr_assert_not_null(log);
    unsigned k = 1 + (unsigned)(pc_test_rand(&rs) % 20);
    for (uint64_t h = 1; h <= k; h++) cr_assert_gt(append_test_block(log, h, h % 3 ? 1000 : 30000), 0);
    cr_assert_eq(pc_log_sync(log), 0);
    bool base_durable = pc_test_rand(&rs) % 3 == 0;
    static uint8_t cert[20000];
    fill_bytes(cert, sizeof cert, seed);
    pc_log_block_t b = base_rec(5000, cert, 1 + (size_t)(pc_test_rand(&rs) % sizeof cert));
    cr_assert_gt(pc_log_append_base(log, &b), 0);
    if (base_durable) cr_assert_eq(pc_log_sync(log), 0);
    unsigned more = (unsigned)(pc_test_rand(&rs) % 4);
    for (unsigned i = 0; i < more; i++) cr_assert_gt(append_test_block(log, 5001 + i, 20000), 0);
    if (pc_test_rand(&rs) % 2) pc_io_fault_arm(f, PC_FAULT_EIO_SYNC, 0);
    else pc_io_fault_arm(f, PC_FAULT_EIO_WRITE, (unsigned)(pc_test_rand(&rs) % 3));
    pc_log_sync(log);
    pc_io_fault_crash(f);
    pc_log_close(log);
    pc_io_fault_power_loss(f);
    pc_log_report_t rep;
    log = pc_log_open(&cfg, &rep);
    cr_assert_not_null(log, "seed %lu: %s", (unsigned long)seed, rep.message);
    pc_log_block_t g;
    if (pc_log_base_height(log) == 5000) {
      with++;
      cr_assert_eq(pc_log_first_height(log), 5001, "seed %lu", (unsigned long)seed);
      uint64_t top = pc_log_durable_height(log);
      cr_assert(top >= 5000 && top <= 5000 + more, "seed %lu top %lu", (unsigned long)seed, (unsigned long)top);
      for (uint64_t h = 5001; h <= top; h++) cr_assert_eq(pc_log_get(log, h, &g), 0);
      cr_assert_eq(pc_log_base(log, &g), 0);
      cr_assert_eq(g.cert_len, b.cert_len);
      cr_assert_eq(memcmp(g.cert, cert, g.cert_len), 0);
      cr_assert_gt(append_test_block(log, top + 1, 1000), 0, "seed %lu", (unsigned long)seed);
    } else {
      without++;
      cr_assert(!base_durable, "seed %lu lost a durable base record: %s", (unsigned long)seed, rep.message);
      cr_assert_eq(pc_log_base_height(log), 0);
      cr_assert_eq(pc_log_durable_height(log), k, "seed %lu", (unsigned long)seed);
      for (uint64_t h = 1; h <= k; h++) {
        cr_assert_eq(pc_log_get(log, h, &g), 0, "seed %lu height %lu", (unsigned long)seed, (unsigned long)h);
        cr_assert(block_matches(&g, h, h % 3 ? 1000 : 30000));
      }
      cr_assert_gt(append_test_block(log, k + 1, 1000), 0, "seed %lu", (unsigned long)seed);
    }
    cr_assert_eq(pc_log_sync(log), 0);
    pc_log_close(log);
    cr_assert_eq(pc_log_check(dir, NULL, &rep), 0);
    cr_assert_eq(rep.status, PC_LOG_CLEAN, "seed %lu: %s", (unsigned long)seed, rep.message);
    pc_io_fault_free(f);
  }
  cr_assert_gt(with + without, 0);
}

/* ------------------------------------------------------------ install */

static pc_state_t *make_state(unsigned keys, uint64_t seed) {
  pc_state_t *s = pc_state_new(4);
  cr_assert_not_null(s);
  pc_state_batch_t *b = pc_state_batch_new(s);
  uint64_t rs = seed;
  for (unsigned i = 0; i < keys; i++) {
    char k[32];
    uint8_t v[300];
    int kl = snprintf(k, sizeof k, "key-%u", i);
    size_t vl = (size_t)(pc_test_rand(&rs) % sizeof v);
    fill_bytes(v, vl, i + seed);
    cr_assert_eq(pc_state_batch_put(b, k, (size_t)kl, v, vl), 0);
  }
  cr_assert_eq(pc_state_commit(b, NULL), 1);
  cr_assert_eq(pc_state_publish(s, 1), 0);
  return s;
}

Test(base, install_from_chunks_loads_the_same_root) {
  char src[80], dst[80];
  snprintf(src, sizeof src, "%s/src", dir);
  snprintf(dst, sizeof dst, "%s/dst", dir);
  rcu_register_thread();
  pc_state_t *s = make_state(3000, 42);
  pc_snapshot_manifest_t m;
  rcu_read_lock();
  cr_assert_eq(pc_snapshot_write(pc_state_current(s), 64, src, NULL, &m), 0);
  rcu_read_unlock();
  cr_assert_gt(m.chunks, 3);
  uint8_t *man;
  size_t man_len;
  cr_assert_eq(pc_snapshot_manifest_raw(src, 64, NULL, &man, &man_len, NULL), 0);
  pc_snapshot_install_t *in = pc_snapshot_install_begin(dst, NULL, man, man_len);
  cr_assert_not_null(in);
  static uint8_t chunk[PC_SNAPSHOT_CHUNK];
  size_t n;
  /* Out of order, one twice, one corrupt first. */
  for (uint32_t i = m.chunks; i-- > 0;) {
    cr_assert_eq(pc_snapshot_chunk(src, 64, NULL, i, chunk, sizeof chunk, &n), 0);
    if (i == 1) {
      chunk[7] ^= 0x40;
      cr_assert_eq(pc_snapshot_install_chunk(in, i, chunk, n), PC_ERR_CHECKSUM);
      chunk[7] ^= 0x40;
    }
    cr_assert_eq(pc_snapshot_install_chunk(in, i, chunk, n), 0);
    if (i == 2) cr_assert_eq(pc_snapshot_install_chunk(in, i, chunk, n), 0);
    if (i == 1) {
      cr_assert_eq(pc_snapshot_install_missing(in), 1);
      uint64_t hh;
      cr_assert_eq(pc_snapshot_install_finish(in, &hh), PC_ERR_STATE);
      cr_assert_eq(pc_snapshot_latest(dst, &hh), PC_ERR_NOT_FOUND);
    }
  }
  cr_assert_eq(pc_snapshot_install_chunk(in, m.chunks, chunk, n), PC_ERR_RANGE);
  uint64_t h = 0;
  cr_assert_eq(pc_snapshot_install_finish(in, &h), 0);
  cr_assert_eq(h, 64);
  cr_assert_eq(pc_snapshot_latest(dst, &h), 0);
  cr_assert_eq(h, 64);
  pc_state_t *t = pc_state_new(4);
  cr_assert_eq(pc_snapshot_load(t, dst, 64, NULL, &m.root), 1);
  rcu_read_lock();
  pc_hash_t r;
  pc_state_version_root(pc_state_at(t, 1), &r);
  rcu_read_unlock();
  cr_assert(pc_hash_equal(&r, &m.root));
  pc_snapshot_manifest_t m2;
  cr_assert_eq(pc_snapshot_manifest_read(dst, 64, NULL, &m2), 0);
  cr_assert(pc_hash_equal(&m2.manifest_hash, &m.manifest_hash));
  pc_snapshot_manifest_free(&m2);
  pc_snapshot_manifest_free(&m);
  free(man);
  pc_state_free(t);
  pc_state_free(s);
  rcu_unregister_thread();
}

Test(base, install_refuses_a_bad_manifest_and_abort_leaves_nothing) {
  uint8_t junk[200] = {0};
  cr_assert_null(pc_snapshot_install_begin(dir, NULL, junk, sizeof junk));
  char src[80];
  snprintf(src, sizeof src, "%s/src", dir);
  rcu_register_thread();
  pc_state_t *s = make_state(50, 1);
  rcu_read_lock();
  cr_assert_eq(pc_snapshot_write(pc_state_current(s), 8, src, NULL, NULL), 0);
  rcu_read_unlock();
  uint8_t *man;
  size_t man_len;
  cr_assert_eq(pc_snapshot_manifest_raw(src, 8, NULL, &man, &man_len, NULL), 0);
  cr_assert_eq(pc_snapshot_manifest_raw(src, 9, NULL, &man, &man_len, NULL), PC_ERR_NOT_FOUND);
  char dst[80];
  snprintf(dst, sizeof dst, "%s/dst", dir);
  pc_snapshot_install_t *in = pc_snapshot_install_begin(dst, NULL, man, man_len);
  cr_assert_not_null(in);
  pc_snapshot_install_abort(in);
  uint64_t h;
  cr_assert_eq(pc_snapshot_latest(dst, &h), PC_ERR_NOT_FOUND);
  char p[160];
  snprintf(p, sizeof p, "%s/snap-8.dat.xfer", dst);
  cr_assert_neq(access(p, F_OK), 0);
  free(man);
  pc_state_free(s);
  rcu_unregister_thread();
}
