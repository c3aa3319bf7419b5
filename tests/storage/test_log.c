/* test_log.c — block log: round trips, segments, limits, torn tails,
 * corruption, injected failures, group commit policy. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>

#include "tests/storage/helpers.h"

#define SEG (1u << 20)

static char dir[64];
static char seg0[128];

static void setup(void) {
  pc_log_set_level(PC_LOG_ERROR);
  tmp_dir(dir);
  snprintf(seg0, sizeof seg0, "%s/seg-00000000.log", dir);
}
static void teardown(void) { rm_rf(dir); }

TestSuite(log, .init = setup, .fini = teardown, .timeout = 240);

typedef struct {
  uint64_t n;
  uint64_t heights[4096];
  uint32_t rounds[4096];
} votes_t;

static int collect_vote(void *arg, const pc_log_consensus_t *c) {
  votes_t *v = arg;
  cr_assert(vote_matches(c), "vote h=%lu r=%u damaged", (unsigned long)c->height, c->round);
  v->heights[v->n] = c->height;
  v->rounds[v->n] = c->round;
  v->n++;
  return 0;
}

Test(log, round_trip_blocks_and_votes) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_report_t rep;
  pc_log_t *log = pc_log_open(&cfg, &rep);
  cr_assert_not_null(log);
  cr_assert_eq(rep.status, PC_LOG_CLEAN);
  for (uint64_t h = 1; h <= 40; h++) {
    cr_assert_gt(append_test_block(log, h, 3000), 0);
    cr_assert_gt(append_test_vote(log, h, (uint32_t)(h % 3)), 0);
    if (h % 7 == 0) cr_assert_eq(pc_log_sync(log), 0);
  }
  cr_assert_eq(pc_log_sync(log), 0);
  cr_assert_eq(pc_log_durable_height(log), 40);
  cr_assert_eq(pc_log_durable_seq(log), 80);
  for (uint64_t h = 1; h <= 40; h++) {
    pc_log_block_t b;
    cr_assert_eq(pc_log_get(log, h, &b), 0);
    cr_assert(block_matches(&b, h, 3000), "height %lu", (unsigned long)h);
  }
  pc_log_block_t b;
  cr_assert_eq(pc_log_get(log, 41, &b), PC_ERR_NOT_FOUND);
  cr_assert_eq(pc_log_get(log, 0, &b), PC_ERR_NOT_FOUND);
  pc_log_close(log);

  log = pc_log_open(&cfg, &rep);
  cr_assert_not_null(log);
  cr_assert_eq(rep.status, PC_LOG_CLEAN);
  cr_assert_eq(rep.first_height, 1);
  cr_assert_eq(rep.last_height, 40);
  cr_assert_eq(rep.records, 80);
  for (uint64_t h = 1; h <= 40; h++) {
    cr_assert_eq(pc_log_get(log, h, &b), 0);
    cr_assert(block_matches(&b, h, 3000));
  }
  static votes_t v;
  v.n = 0;
  cr_assert_eq(pc_log_iter_consensus(log, collect_vote, &v), 0);
  cr_assert_eq(v.n, 40);
  for (uint64_t i = 0; i < 40; i++) {
    cr_assert_eq(v.heights[i], i + 1);
    cr_assert_eq(v.rounds[i], (i + 1) % 3);
  }
  /* Appends continue after the recovered tail, with consecutive heights. */
  cr_assert_eq(append_test_block(log, 42, 3000), PC_ERR_RANGE);
  cr_assert_eq(append_test_block(log, 41, 3000), 81);
  cr_assert_eq(pc_log_sync(log), 0);
  cr_assert_eq(pc_log_get(log, 41, &b), 0);
  cr_assert(block_matches(&b, 41, 3000));
  pc_log_close(log);
}

Test(log, log_may_start_above_one) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  cr_assert_not_null(log);
  cr_assert_gt(append_test_block(log, 1000, 500), 0);
  cr_assert_gt(append_test_block(log, 1001, 500), 0);
  cr_assert_eq(append_test_block(log, 1003, 500), PC_ERR_RANGE);
  cr_assert_eq(pc_log_sync(log), 0);
  cr_assert_eq(pc_log_first_height(log), 1000);
  pc_log_close(log);
  log = pc_log_open(&cfg, NULL);
  pc_log_block_t b;
  cr_assert_eq(pc_log_get(log, 999, &b), PC_ERR_NOT_FOUND);
  cr_assert_eq(pc_log_get(log, 1001, &b), 0);
  cr_assert(block_matches(&b, 1001, 500));
  pc_log_close(log);
}

Test(log, get_across_segment_boundaries) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  cr_assert_not_null(log);
  for (uint64_t h = 1; h <= 150; h++) {
    cr_assert_gt(append_test_block(log, h, 60000), 0);
    if (h % 5 == 0) cr_assert_eq(pc_log_sync(log), 0);
  }
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);
  pc_log_report_t rep;
  log = pc_log_open(&cfg, &rep);
  cr_assert_not_null(log, "%s", rep.message);
  cr_assert_eq(rep.status, PC_LOG_CLEAN, "%s", rep.message);
  cr_assert_geq(rep.segments, 3, "only %u segments", rep.segments);
  for (uint64_t h = 1; h <= 150; h++) {
    pc_log_block_t b;
    cr_assert_eq(pc_log_get(log, h, &b), 0, "height %lu", (unsigned long)h);
    cr_assert(block_matches(&b, h, 60000), "height %lu", (unsigned long)h);
  }
  pc_log_close(log);
}

Test(log, rejects_bad_appends) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  cr_assert_not_null(log);
  pc_log_block_t b = {.height = 0};
  cr_assert_eq(pc_log_append_block(log, &b), PC_ERR_RANGE);
  b.height = 1;
  b.cert_len = PC_LOG_CERT_MAX + 1;
  b.cert = (const uint8_t *)"";
  cr_assert_eq(pc_log_append_block(log, &b), PC_ERR_TOO_LARGE);
  b.cert_len = 0;
  b.block_len = SEG; /* fits the limit but not a 1 MiB segment */
  static uint8_t big[SEG];
  b.block = big;
  cr_assert_eq(pc_log_append_block(log, &b), PC_ERR_TOO_LARGE);
  uint8_t p[PC_LOG_CONSENSUS_MAX + 1] = {0};
  pc_log_consensus_t c = {.kind = 1, .payload = p, .payload_len = sizeof p};
  cr_assert_eq(pc_log_append_consensus(log, &c), PC_ERR_TOO_LARGE);
  c.payload = NULL;
  c.payload_len = 3;
  cr_assert_eq(pc_log_append_consensus(log, &c), PC_ERR_INVALID);
  pc_log_close(log);
}

Test(log, bad_segment_size_refused) {
  pc_log_config_t cfg = log_cfg(dir, NULL, 4096);
  cr_assert_null(pc_log_open(&cfg, NULL));
}

/* First group's first record sits at 64 (segment header) + 64 (group header). */
Test(log, record_decoder_rejects_every_flipped_bit) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  cr_assert_gt(append_test_block(log, 1, 200), 0);
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);
  size_t n;
  uint8_t *f = read_file(seg0, &n);
  uint8_t *rec = f + 128;
  uint32_t len = pc_load_le32(rec + 8);
  uint8_t type;
  pc_log_block_t b;
  cr_assert_eq(pc_log_record_decode(rec, len, &type, &b, NULL), 0);
  cr_assert_eq(type, PC_LOG_REC_BLOCK);
  cr_assert(block_matches(&b, 1, 200));
  uint64_t before = pc_reject_count(PC_DEC_LOG_RECORD, 1);
  for (size_t i = 0; i < len * 8; i++) {
    rec[i / 8] ^= (uint8_t)(1u << (i % 8));
    cr_assert_neq(pc_log_record_decode(rec, len, &type, &b, NULL), 0, "bit %zu", i);
    rec[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
  cr_assert_eq(pc_log_record_decode(rec, len - 1, &type, &b, NULL) != 0, true);
  cr_assert_eq(pc_reject_count(PC_DEC_LOG_RECORD, 1), before + len * 8 + 1);
  free(f);
}

/* Builds groups {1..3}, {4..6}, {7..9}; returns the byte range of the last
 * group in the segment file. */
static void three_groups(size_t *start, size_t *end, uint8_t **image, size_t *image_len) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  cr_assert_not_null(log);
  for (uint64_t h = 1; h <= 6; h++) {
    cr_assert_gt(append_test_block(log, h, 700), 0);
    if (h % 3 == 0) cr_assert_eq(pc_log_sync(log), 0);
  }
  size_t n1;
  uint8_t *before = read_file(seg0, &n1);
  /* Small blocks in the last group keep the every-offset loop short. */
  for (uint64_t h = 7; h <= 9; h++) cr_assert_gt(append_test_block(log, h, 200), 0);
  cr_assert_gt(append_test_vote(log, 9, 1), 0);
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);
  size_t n2;
  uint8_t *after = read_file(seg0, &n2);
  cr_assert_eq(n1, n2);
  size_t s = 0, e = n2;
  while (s < n2 && before[s] == after[s]) s++;
  while (e > s && before[e - 1] == after[e - 1]) e--;
  cr_assert_lt(s, e);
  free(before);
  *start = s;
  *end = e;
  *image = after;
  *image_len = n2;
}

Test(log, torn_write_at_every_offset_of_last_group) {
  size_t s, e, n;
  uint8_t *img;
  three_groups(&s, &e, &img, &n);
  cr_assert_eq(s % 64, 0, "groups start on 64-byte boundaries");
  /* The fault layer without faults skips the real fdatasync: the test is
   * about the scan, and a real sync per cut would take minutes. */
  pc_io_fault_t *nosync = pc_io_fault_new(0);
  pc_log_config_t cfg = log_cfg(dir, pc_io_fault_io(nosync), SEG);
  /* Start from the image without the last group (what every cut leaves). */
  uint8_t *cut = malloc(n);
  memcpy(cut, img, s);
  memset(cut + s, 0, n - s);
  write_file(seg0, cut, n);
  /* Every offset; the sanitizer pass (PC_TEST_SCALE < 1) takes every 7th. */
  size_t stride = pc_test_iters(70) < 70 ? 7 : 1;
  for (size_t t = s; t < e; t += stride) {
    /* The previous open cut the file at s: only [s, t) needs writing. */
    int fd = open(seg0, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, img + s, t - s, (off_t)s), (ssize_t)(t - s));
    close(fd);
    pc_log_report_t rep;
    pc_log_t *log = pc_log_open(&cfg, &rep);
    cr_assert_not_null(log, "cut at %zu: %s", t, rep.message);
    cr_assert_eq(rep.status, t == s ? PC_LOG_CLEAN : PC_LOG_TORN, "cut at %zu: %s", t, rep.message);
    cr_assert_eq(pc_log_durable_height(log), 6, "cut at %zu", t);
    cr_assert_eq(rep.records, 6);
    if (t > s) {
      cr_assert_eq(rep.offset, s);
      cr_assert(rep.dropped_bytes > 0 && rep.dropped_bytes <= t - s, "cut at %zu: dropped %lu", t, (unsigned long)rep.dropped_bytes);
      if (t >= s + 64) {
        cr_assert_eq(rep.dropped_first, 7, "cut at %zu: %s", t, rep.message);
        cr_assert_eq(rep.dropped_last, 9);
      }
    }
    for (uint64_t h = 1; h <= 6; h++) {
      pc_log_block_t b;
      cr_assert_eq(pc_log_get(log, h, &b), 0);
      cr_assert(block_matches(&b, h, 700));
    }
    pc_log_block_t b;
    cr_assert_eq(pc_log_get(log, 7, &b), PC_ERR_NOT_FOUND);
    pc_log_close(log);
    /* The cut is permanent: a second open is clean. */
    if ((t / stride) % 32 == 0) {
      cr_assert_eq(pc_log_check(dir, NULL, &rep), 0);
      cr_assert_eq(rep.status, PC_LOG_CLEAN, "cut at %zu: %s", t, rep.message);
      size_t n3;
      uint8_t *now = read_file(seg0, &n3);
      cr_assert_eq(memcmp(now, cut, n), 0, "cut at %zu: the file is the image up to the last good group", t);
      free(now);
    }
  }
  free(cut);
  free(img);
  pc_io_fault_free(nosync);
}

Test(log, torn_garbage_tail_is_cut) {
  size_t s, e, n;
  uint8_t *img;
  three_groups(&s, &e, &img, &n);
  /* Last group's middle bytes replaced by garbage: still a torn tail. */
  for (size_t i = s + 100; i < e - 10; i++) img[i] ^= 0x5a;
  write_file(seg0, img, n);
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_report_t rep;
  pc_log_t *log = pc_log_open(&cfg, &rep);
  cr_assert_not_null(log);
  cr_assert_eq(rep.status, PC_LOG_TORN);
  cr_assert_eq(rep.dropped_first, 7, "%s", rep.message);
  cr_assert_eq(rep.dropped_last, 9);
  cr_assert_eq(pc_log_durable_height(log), 6);
  pc_log_close(log);
  free(img);
}

Test(log, mid_log_corruption_refused_then_repaired) {
  size_t s, e, n;
  uint8_t *img;
  three_groups(&s, &e, &img, &n);
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  /* Find the second group: the first valid header after the first group. */
  size_t g2 = 128 + pc_load_le32(img + 64 + 28);
  g2 = (g2 + 63) & ~(size_t)63;
  cr_assert_eq(pc_load_le64(img + g2 + 32), 4, "second group starts at height 4");
  img[g2 + 64 + 40] ^= 1; /* a bit inside height 4's record */
  write_file(seg0, img, n);
  pc_log_report_t rep;
  cr_assert_null(pc_log_open(&cfg, &rep));
  cr_assert_eq(rep.status, PC_LOG_CORRUPT);
  cr_assert_eq(rep.segment, 0);
  cr_assert_eq(rep.offset, g2);
  cr_assert_eq(rep.height, 4);
  cr_assert(strstr(rep.message, "pc-ledger repair") != NULL, "%s", rep.message);
  /* The files are untouched by the refused open. */
  size_t n2;
  uint8_t *again = read_file(seg0, &n2);
  cr_assert_eq(memcmp(again, img, n), 0);
  free(again);
  cr_assert_eq(pc_log_check(dir, NULL, &rep), 0);
  cr_assert_eq(rep.status, PC_LOG_CORRUPT);
  /* The documented repair: cut there. */
  cr_assert_eq(pc_log_repair_truncate(dir, NULL, rep.segment, rep.offset), 0);
  pc_log_t *log = pc_log_open(&cfg, &rep);
  cr_assert_not_null(log);
  cr_assert_eq(rep.status, PC_LOG_CLEAN, "%s", rep.message);
  cr_assert_eq(pc_log_durable_height(log), 3);
  pc_log_block_t b;
  cr_assert_eq(pc_log_get(log, 3, &b), 0);
  cr_assert(block_matches(&b, 3, 700));
  cr_assert_gt(append_test_block(log, 4, 700), 0);
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);
  free(img);
}

Test(log, zeroed_synced_group_is_corruption) {
  size_t s, e, n;
  uint8_t *img;
  three_groups(&s, &e, &img, &n);
  /* Zero the first group entirely: later groups prove it had been synced. */
  size_t g1_end = (128 + pc_load_le32(img + 64 + 28) + 63) & ~(size_t)63;
  memset(img + 64, 0, g1_end - 64);
  write_file(seg0, img, n);
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_report_t rep;
  cr_assert_null(pc_log_open(&cfg, &rep));
  cr_assert_eq(rep.status, PC_LOG_CORRUPT);
  cr_assert_eq(rep.offset, 64);
  free(img);
}

Test(log, repair_of_missing_segment_refused) {
  cr_assert_eq(pc_log_repair_truncate(dir, NULL, 3, 64), PC_ERR_NOT_FOUND);
}

/* ------------------------------------------------------- injected failures */

static void failure_case(pc_fault_kind_t kind) {
  pc_io_fault_t *f = pc_io_fault_new(1);
  pc_log_config_t cfg = log_cfg(dir, pc_io_fault_io(f), SEG);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  cr_assert_not_null(log);
  for (uint64_t h = 1; h <= 10; h++) cr_assert_gt(append_test_block(log, h, 9000), 0);
  cr_assert_eq(pc_log_sync(log), 0);
  pc_io_fault_arm(f, kind, 0);
  for (uint64_t h = 11; h <= 20; h++) cr_assert_gt(append_test_block(log, h, 9000), 0);
  cr_assert_eq(pc_log_sync(log), PC_ERR_IO);
  cr_assert_eq(pc_log_durable_height(log), 10, "the watermark never covers failed data");
  cr_assert_eq(pc_log_error(log), PC_ERR_IO);
  cr_assert_eq(append_test_block(log, 21, 9000), PC_ERR_IO, "a failed log refuses appends");
  pc_log_close(log);
  /* Whatever reached the disk unsynced may be lost too. */
  pc_io_fault_power_loss(f);
  pc_log_report_t rep;
  log = pc_log_open(&cfg, &rep);
  cr_assert_not_null(log, "%s", rep.message);
  cr_assert_neq(rep.status, PC_LOG_CORRUPT);
  uint64_t top = pc_log_durable_height(log);
  cr_assert(top == 10 || top == 20, "top %lu", (unsigned long)top);
  for (uint64_t h = 1; h <= top; h++) {
    pc_log_block_t b;
    cr_assert_eq(pc_log_get(log, h, &b), 0);
    cr_assert(block_matches(&b, h, 9000));
  }
  cr_assert_gt(append_test_block(log, top + 1, 9000), 0);
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);
  pc_io_fault_free(f);
}

Test(log, short_write_fails_and_recovers) { failure_case(PC_FAULT_SHORT_WRITE); }
Test(log, enospc_fails_and_recovers) { failure_case(PC_FAULT_ENOSPC); }
Test(log, eio_write_fails_and_recovers) { failure_case(PC_FAULT_EIO_WRITE); }
Test(log, eio_sync_fails_and_recovers) { failure_case(PC_FAULT_EIO_SYNC); }

/* ------------------------------------------------------------- power loss */

/* Block sizes: every third block spans many 4 KiB pages. */
#define PL_MAX(h) ((h) % 3 == 0 ? 60000u : 1000u)

Test(log, power_loss_keeps_every_durable_height, .timeout = 300) {
  uint64_t seed0 = pc_test_seed(0x5eed);
  unsigned iters = pc_test_iters(150);
  for (unsigned it = 0; it < iters; it++) {
    uint64_t seed = seed0 + it, rs = seed;
    rm_rf(dir);
    pc_io_fault_t *f = pc_io_fault_new(seed);
    pc_log_config_t cfg = log_cfg(dir, pc_io_fault_io(f), SEG);
    pc_log_t *log = pc_log_open(&cfg, NULL);
    cr_assert_not_null(log);
    uint64_t h = 0, durable = 0, votes_durable = 0, votes = 0;
    unsigned rounds = 1 + (unsigned)(pc_test_rand(&rs) % 6);
    for (unsigned r = 0; r < rounds; r++) {
      unsigned k = 1 + (unsigned)(pc_test_rand(&rs) % 12);
      for (unsigned i = 0; i < k; i++) {
        ++h;
        cr_assert_gt(append_test_block(log, h, PL_MAX(h)), 0);
        if (pc_test_rand(&rs) % 3 == 0) {
          cr_assert_gt(append_test_vote(log, h, r), 0);
          votes++;
        }
      }
      cr_assert_eq(pc_log_sync(log), 0, "seed %lu", (unsigned long)seed);
      durable = pc_log_durable_height(log);
      votes_durable = votes;
    }
    cr_assert_eq(durable, h);
    /* A last batch is written but its sync fails, or a write fails midway. */
    unsigned k = 1 + (unsigned)(pc_test_rand(&rs) % 12);
    for (unsigned i = 0; i < k; i++) cr_assert_gt(append_test_block(log, h + 1 + i, PL_MAX(h + 1 + i)), 0);
    if (pc_test_rand(&rs) % 2) pc_io_fault_arm(f, PC_FAULT_EIO_SYNC, 0);
    else pc_io_fault_arm(f, PC_FAULT_EIO_WRITE, (unsigned)(pc_test_rand(&rs) % 3));
    pc_log_sync(log);
    pc_io_fault_crash(f);
    pc_log_close(log);
    pc_io_fault_power_loss(f);
    pc_log_report_t rep;
    log = pc_log_open(&cfg, &rep);
    cr_assert_not_null(log, "seed %lu: %s", (unsigned long)seed, rep.message);
    cr_assert_geq(pc_log_durable_height(log), durable, "seed %lu lost durable heights: %s", (unsigned long)seed,
                  rep.message);
    for (uint64_t x = 1; x <= durable; x++) {
      pc_log_block_t b;
      cr_assert_eq(pc_log_get(log, x, &b), 0, "seed %lu height %lu", (unsigned long)seed, (unsigned long)x);
      cr_assert(block_matches(&b, x, PL_MAX(x)), "seed %lu height %lu", (unsigned long)seed, (unsigned long)x);
    }
    static votes_t v;
    v.n = 0;
    cr_assert_eq(pc_log_iter_consensus(log, collect_vote, &v), 0);
    cr_assert_geq(v.n, votes_durable, "seed %lu lost votes", (unsigned long)seed);
    pc_log_close(log);
    /* Reopen once more: recovery left a clean log. */
    cr_assert_eq(pc_log_check(dir, NULL, &rep), 0);
    cr_assert_eq(rep.status, PC_LOG_CLEAN, "seed %lu: %s", (unsigned long)seed, rep.message);
    pc_io_fault_free(f);
  }
}

/* ------------------------------------------------------- group commit thread */

static _Atomic uint64_t cb_seq, cb_height;
static void on_durable(void *arg, uint64_t seq, uint64_t height) {
  (void)arg;
  /* relaxed: the test reads these after pc_log_wait_durable, which orders them */
  atomic_store_explicit(&cb_seq, seq, memory_order_relaxed);
  atomic_store_explicit(&cb_height, height, memory_order_relaxed);
}

Test(log, flush_thread_flushes_by_count) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  cfg.flush_thread = true;
  cfg.max_group = 8;
  cfg.max_delay_us = 600u * 1000000u; /* never by age within the test */
  cfg.on_durable = on_durable;
  pc_log_t *log = pc_log_open(&cfg, NULL);
  cr_assert_not_null(log);
  int64_t seq = 0;
  for (uint64_t h = 1; h <= 8; h++) seq = append_test_block(log, h, 500);
  cr_assert_eq(pc_log_wait_durable(log, (uint64_t)seq, 60u * 1000000u), 0);
  cr_assert_eq(pc_log_durable_height(log), 8);
  pc_log_close(log); /* joins the flusher: its callback has returned */
  cr_assert_eq(atomic_load(&cb_height), 8);
  cr_assert_eq(atomic_load(&cb_seq), 8);
}

Test(log, flush_thread_flushes_by_age_and_votes_at_once) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  cfg.flush_thread = true;
  cfg.max_group = 1000;
  cfg.max_delay_us = 1000;
  pc_log_t *log = pc_log_open(&cfg, NULL);
  cr_assert_not_null(log);
  int64_t seq = append_test_block(log, 1, 500);
  cr_assert_eq(pc_log_wait_durable(log, (uint64_t)seq, 60u * 1000000u), 0);
  pc_log_close(log);

  cfg.max_delay_us = 600u * 1000000u;
  log = pc_log_open(&cfg, NULL);
  seq = append_test_vote(log, 1, 0);
  cr_assert_eq(pc_log_wait_durable(log, (uint64_t)seq, 60u * 1000000u), 0, "a vote is flushed at once");
  pc_log_close(log);
}

Test(log, close_flushes_queued_records) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  cfg.flush_thread = true;
  cfg.max_group = 1000;
  cfg.max_delay_us = 600u * 1000000u;
  pc_log_t *log = pc_log_open(&cfg, NULL);
  for (uint64_t h = 1; h <= 5; h++) cr_assert_gt(append_test_block(log, h, 500), 0);
  pc_log_close(log);
  cfg.flush_thread = false;
  log = pc_log_open(&cfg, NULL);
  cr_assert_eq(pc_log_durable_height(log), 5);
  pc_log_close(log);
}

Test(log, zeroed_last_group_of_full_segment_is_corruption) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  pc_log_t *log = pc_log_open(&cfg, NULL);
  for (uint64_t h = 1; h <= 60; h++) {
    cr_assert_gt(append_test_block(log, h, 60000), 0);
    if (h % 4 == 0) cr_assert_eq(pc_log_sync(log), 0);
  }
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);
  size_t n;
  uint8_t *img = read_file(seg0, &n);
  /* Walk segment 0's groups to its last one. */
  size_t off = 64, last = 0;
  while (off + 64 <= n && pc_load_le32(img + off) == 0x48474350u) {
    last = off;
    off = (off + 64 + pc_load_le32(img + off + 28) + 63) & ~(size_t)63;
  }
  cr_assert_gt(last, 64);
  cr_assert_lt(off, n, "segment 0 ends with unused space");
  memset(img + last, 0, off - last);
  write_file(seg0, img, n);
  free(img);
  pc_log_report_t rep;
  cr_assert_null(pc_log_open(&cfg, &rep), "a synced group that vanished is not the end of the segment");
  cr_assert_eq(rep.status, PC_LOG_CORRUPT, "%s", rep.message);
  cr_assert_eq(rep.segment, 0);
  cr_assert_eq(rep.offset, last);
}

/* ---- the group written in place (no second copy) keeps the format ---- */

#include "storage/storage_private.h"

Test(log, crc32c_combine_matches_crc_of_concatenation) {
  static uint8_t buf[40000];
  uint64_t seed = pc_test_seed(0xc3c32c), s = seed;
  fill_bytes(buf, sizeof buf, seed);
  unsigned iters = pc_test_iters(400);
  for (unsigned i = 0; i < iters; i++) {
    size_t a = (size_t)(pc_test_rand(&s) % 20000), bl = (size_t)(pc_test_rand(&s) % 20000);
    if (i < 4) bl = i; /* empty and tiny second parts */
    uint32_t ca = pc_crc32c(0, buf, a), cb = pc_crc32c(0, buf + a, bl);
    cr_assert_eq(pc_log_crc32c_combine(ca, cb, bl), pc_crc32c(0, buf, a + bl), "seed %#lx: a=%zu b=%zu",
                 (unsigned long)seed, a, bl);
  }
  /* It can fail: a wrong length gives another CRC. */
  uint32_t ca = pc_crc32c(0, buf, 100), cb = pc_crc32c(0, buf + 100, 9000);
  cr_assert_neq(pc_log_crc32c_combine(ca, cb, 8999), pc_crc32c(0, buf, 9100));
}

/* hash_segments: BLAKE2b of every segment file's bytes, in order. */
static void hash_segments(pc_hash_t *out, unsigned n_segs) {
  pc_hasher_t h;
  pc_hasher_init_tagged(&h, "test/segments");
  for (unsigned i = 0; i < n_segs; i++) {
    char p[160];
    snprintf(p, sizeof p, "%s/seg-%08u.log", dir, i);
    size_t n;
    uint8_t *img = read_file(p, &n);
    pc_hasher_update(&h, img, n);
    free(img);
  }
  pc_hasher_final(&h, out);
}

/* A fixed sequence of blocks (91 B .. 70 KB, the large ones taking the CRC
 * combine path) and votes, several groups per sync (max_group_bytes),
 * across segments: the files are byte for byte those the log wrote before
 * groups were written in place (constant recorded with that code). */
Test(log, segment_bytes_identical_to_recorded_format) {
  pc_log_config_t cfg = log_cfg(dir, NULL, SEG);
  cfg.max_group_bytes = 40000;
  pc_log_t *log = pc_log_open(&cfg, NULL);
  cr_assert_not_null(log);
  for (uint64_t h = 1; h <= 120; h++) {
    cr_assert_gt(append_test_block(log, h, h % 3 ? 2000 : 70000), 0);
    if (h % 4 == 1) cr_assert_gt(append_test_vote(log, h, 1), 0);
    if (h % 6 == 0) cr_assert_eq(pc_log_sync(log), 0);
  }
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);
  pc_log_report_t rep;
  log = pc_log_open(&cfg, &rep);
  cr_assert_not_null(log, "%s", rep.message);
  cr_assert_eq(rep.status, PC_LOG_CLEAN, "%s", rep.message);
  cr_assert_eq(rep.last_height, 120);
  for (uint64_t h = 1; h <= 120; h++) {
    pc_log_block_t b;
    cr_assert_eq(pc_log_get(log, h, &b), 0, "height %lu", (unsigned long)h);
    cr_assert(block_matches(&b, h, h % 3 ? 2000 : 70000), "height %lu", (unsigned long)h);
  }
  unsigned segs = rep.segments;
  pc_log_close(log);
  cr_assert_geq(segs, 2);
  pc_hash_t got;
  hash_segments(&got, segs);
  char hex[65];
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", got.b[i]);
  cr_assert_str_eq(hex, "8aa8cc7119129e64648426aded5a04fe9e78f1cc71db77bbd8e7cf2c845902c1", "%u segments, files hash %s", segs, hex);
}
