/* test_codec.c — the little-endian writer/reader, error strings, rejection
 * counters and log levels. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/common.h"
#include "tests/testutil.h"

/* ------------------------------------------------------------- writer */

Test(codec_writer, little_endian_layout) {
  uint8_t buf[32];
  pc_writer_t w;
  pc_writer_init(&w, buf, sizeof buf);
  pc_put_u8(&w, 0x01);
  pc_put_u16(&w, 0x0302);
  pc_put_u32(&w, 0x07060504);
  pc_put_u64(&w, 0x0f0e0d0c0b0a0908ull);
  pc_put_bytes(&w, "\x10\x11", 2);
  cr_assert_eq(pc_writer_finish(&w), 0);
  cr_assert_eq(w.len, 17);
  for (int i = 0; i < 16; i++) cr_assert_eq(buf[i], i + 1, "byte %d", i);
  cr_assert_eq(buf[16], 0x11);
}

Test(codec_writer, overflow_is_sticky_and_writes_nothing) {
  uint8_t buf[4] = {0xaa, 0xaa, 0xaa, 0xaa};
  pc_writer_t w;
  pc_writer_init(&w, buf, 3);
  pc_put_u16(&w, 0x1234);
  pc_put_u16(&w, 0x5678); /* 2 > 1 left */
  cr_assert(w.overflow);
  cr_assert_eq(w.len, 2);
  cr_assert_eq(buf[2], 0xaa, "a field that does not fit writes nothing");
  pc_put_u8(&w, 1); /* would fit, but the writer is already broken */
  cr_assert_eq(w.len, 2);
  cr_assert_eq(buf[2], 0xaa);
  cr_assert_null(pc_writer_reserve(&w, 0));
  cr_assert_eq(pc_writer_finish(&w), PC_ERR_OVERFLOW);
}

Test(codec_writer, overflow_each_width) {
  for (int width = 1; width <= 8; width *= 2) {
    uint8_t buf[8];
    pc_writer_t w;
    pc_writer_init(&w, buf, (size_t)width - 1);
    if (width == 1) pc_put_u8(&w, 1);
    if (width == 2) pc_put_u16(&w, 1);
    if (width == 4) pc_put_u32(&w, 1);
    if (width == 8) pc_put_u64(&w, 1);
    cr_assert_eq(pc_writer_finish(&w), PC_ERR_OVERFLOW, "width %d", width);
    cr_assert_eq(w.len, 0);
  }
}

Test(codec_writer, exact_fit) {
  uint8_t buf[8];
  pc_writer_t w;
  pc_writer_init(&w, buf, sizeof buf);
  pc_put_u64(&w, 1);
  cr_assert_eq(pc_writer_finish(&w), 0);
  pc_put_bytes(&w, NULL, 0);
  cr_assert_eq(pc_writer_finish(&w), 0, "zero bytes always fit");
}

Test(codec_writer, null_buffer_has_no_room) {
  pc_writer_t w;
  pc_writer_init(&w, NULL, 100);
  pc_put_u8(&w, 1);
  cr_assert_eq(pc_writer_finish(&w), PC_ERR_OVERFLOW);
}

Test(codec_writer, measure_mode_counts) {
  pc_writer_t w;
  pc_writer_measure(&w);
  pc_put_u8(&w, 1);
  pc_put_u64(&w, 1);
  pc_put_blob16(&w, "abc", 3);
  pc_put_blob32(&w, "abcd", 4);
  cr_assert_null(pc_writer_reserve(&w, 4), "nothing to fill when measuring");
  cr_assert_eq(w.len, 1 + 8 + 2 + 3 + 4 + 4 + 4);
  cr_assert_eq(pc_writer_finish(&w), 0);
}

Test(codec_writer, blob_too_long_for_its_prefix) {
  static uint8_t big[UINT16_MAX + 1];
  pc_writer_t w;
  pc_writer_measure(&w);
  pc_put_blob16(&w, big, UINT16_MAX);
  cr_assert_eq(pc_writer_finish(&w), 0);
  pc_put_blob16(&w, big, UINT16_MAX + 1);
  cr_assert_eq(pc_writer_finish(&w), PC_ERR_OVERFLOW);
  pc_writer_measure(&w);
  /* The length check happens before any byte is read, so no 4 GiB buffer is needed. */
  pc_put_blob32(&w, big, (size_t)UINT32_MAX + 1);
  cr_assert_eq(pc_writer_finish(&w), PC_ERR_OVERFLOW);
}

Test(codec_writer, reserve_fills_later) {
  uint8_t buf[8];
  pc_writer_t w;
  pc_writer_init(&w, buf, sizeof buf);
  uint8_t *len = pc_writer_reserve(&w, 2);
  cr_assert_eq(len, buf);
  pc_put_u32(&w, 9);
  pc_store_le16(len, 4);
  cr_assert_eq(pc_load_le16(buf), 4);
  cr_assert_null(pc_writer_reserve(&w, 3));
  cr_assert_eq(pc_writer_finish(&w), PC_ERR_OVERFLOW);
}

/* ------------------------------------------------------------- reader */

Test(codec_reader, round_trip_random_fields) {
  uint64_t seed = pc_test_seed(99), st = seed;
  uint8_t buf[4096];
  for (unsigned it = 0; it < pc_test_iters(2000); it++) {
    uint64_t vals[64];
    int kinds[64];
    unsigned n = (unsigned)(1 + pc_test_rand(&st) % 64);
    pc_writer_t w;
    pc_writer_init(&w, buf, sizeof buf);
    for (unsigned i = 0; i < n; i++) {
      kinds[i] = (int)(pc_test_rand(&st) % 4);
      vals[i] = pc_test_rand(&st);
      switch (kinds[i]) {
        case 0: pc_put_u8(&w, (uint8_t)vals[i]); break;
        case 1: pc_put_u16(&w, (uint16_t)vals[i]); break;
        case 2: pc_put_u32(&w, (uint32_t)vals[i]); break;
        default: pc_put_u64(&w, vals[i]); break;
      }
    }
    cr_assert_eq(pc_writer_finish(&w), 0);
    pc_reader_t r;
    pc_reader_init(&r, buf, w.len);
    for (unsigned i = 0; i < n; i++) {
      uint64_t got, want = vals[i];
      switch (kinds[i]) {
        case 0: got = pc_get_u8(&r), want = (uint8_t)want; break;
        case 1: got = pc_get_u16(&r), want = (uint16_t)want; break;
        case 2: got = pc_get_u32(&r), want = (uint32_t)want; break;
        default: got = pc_get_u64(&r); break;
      }
      cr_assert_eq(got, want, "seed %llu field %u", (unsigned long long)seed, i);
    }
    cr_assert_eq(pc_reader_finish(&r), 0, "seed %llu", (unsigned long long)seed);
  }
}

Test(codec_reader, truncated_each_width) {
  uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  for (int width = 1; width <= 8; width *= 2) {
    pc_reader_t r;
    pc_reader_init(&r, buf, (size_t)width - 1);
    uint64_t v = width == 1   ? pc_get_u8(&r)
                 : width == 2 ? pc_get_u16(&r)
                 : width == 4 ? pc_get_u32(&r)
                              : pc_get_u64(&r);
    cr_assert_eq(v, 0, "a failed read returns 0 (width %d)", width);
    cr_assert_eq(pc_reader_ok(&r), PC_ERR_TRUNCATED);
    cr_assert_eq(pc_reader_finish(&r), PC_ERR_TRUNCATED);
    cr_assert_eq(r.pos, 0, "a failed read consumes nothing");
  }
}

Test(codec_reader, error_is_sticky) {
  uint8_t buf[3] = {1, 2, 3};
  pc_reader_t r;
  pc_reader_init(&r, buf, sizeof buf);
  cr_assert_eq(pc_get_u32(&r), 0);
  cr_assert_eq(pc_get_u8(&r), 0, "reads after an error fail even if they would fit");
  cr_assert_eq(pc_reader_left(&r), 0);
  pc_reader_fail(&r, PC_ERR_RANGE);
  cr_assert_eq(pc_reader_ok(&r), PC_ERR_TRUNCATED, "the first error is kept");
}

Test(codec_reader, reader_fail_sets_error) {
  uint8_t buf[3] = {1, 2, 3};
  pc_reader_t r;
  pc_reader_init(&r, buf, sizeof buf);
  pc_reader_fail(&r, PC_ERR_RANGE);
  cr_assert_eq(pc_get_u8(&r), 0);
  cr_assert_eq(pc_reader_finish(&r), PC_ERR_RANGE);
}

Test(codec_reader, get_bytes_zero_fills_on_error) {
  uint8_t buf[3] = {1, 2, 3}, out[4];
  memset(out, 0xee, sizeof out);
  pc_reader_t r;
  pc_reader_init(&r, buf, sizeof buf);
  pc_get_bytes(&r, out, 4);
  for (int i = 0; i < 4; i++) cr_assert_eq(out[i], 0);
  cr_assert_eq(pc_reader_ok(&r), PC_ERR_TRUNCATED);
}

Test(codec_reader, views_point_into_input) {
  uint8_t buf[5] = {1, 2, 3, 4, 5};
  pc_reader_t r;
  pc_reader_init(&r, buf, sizeof buf);
  cr_assert_eq(pc_get_view(&r, 2), buf);
  cr_assert_eq(pc_get_view(&r, 3), buf + 2);
  cr_assert_null(pc_get_view(&r, 1));
  cr_assert_eq(pc_reader_ok(&r), PC_ERR_TRUNCATED);
}

Test(codec_reader, trailing_bytes) {
  uint8_t buf[3] = {1, 2, 3};
  pc_reader_t r;
  pc_reader_init(&r, buf, sizeof buf);
  pc_get_u16(&r);
  cr_assert_eq(pc_reader_ok(&r), 0);
  cr_assert_eq(pc_reader_left(&r), 1);
  cr_assert_eq(pc_reader_finish(&r), PC_ERR_TRAILING);
}

Test(codec_reader, blobs) {
  uint8_t buf[64];
  pc_writer_t w;
  pc_writer_init(&w, buf, sizeof buf);
  pc_put_blob16(&w, "hello", 5);
  pc_put_blob32(&w, "", 0);
  pc_put_blob32(&w, "xyz", 3);
  pc_reader_t r;
  pc_reader_init(&r, buf, w.len);
  size_t n;
  const uint8_t *p = pc_get_blob16(&r, 5, &n);
  cr_assert(p && n == 5 && !memcmp(p, "hello", 5));
  p = pc_get_blob32(&r, 0, &n);
  cr_assert(p && n == 0, "an empty blob is a valid, non-NULL view");
  p = pc_get_blob32(&r, 3, &n);
  cr_assert(p && n == 3 && !memcmp(p, "xyz", 3));
  cr_assert_eq(pc_reader_finish(&r), 0);
}

Test(codec_reader, blob_above_limit) {
  uint8_t buf[16];
  pc_writer_t w;
  pc_writer_init(&w, buf, sizeof buf);
  pc_put_blob16(&w, "hello", 5);
  pc_reader_t r;
  pc_reader_init(&r, buf, w.len);
  size_t n = 99;
  cr_assert_null(pc_get_blob16(&r, 4, &n));
  cr_assert_eq(n, 0);
  cr_assert_eq(pc_reader_ok(&r), PC_ERR_TOO_LARGE);
}

Test(codec_reader, blob_longer_than_input) {
  uint8_t buf[8] = {0};
  pc_store_le32(buf, 5); /* says 5 bytes, only 4 follow */
  pc_reader_t r;
  pc_reader_init(&r, buf, sizeof buf);
  size_t n = 99;
  cr_assert_null(pc_get_blob32(&r, 100, &n));
  cr_assert_eq(n, 0);
  cr_assert_eq(pc_reader_ok(&r), PC_ERR_TRUNCATED);
  /* and a huge length does not wrap the bounds check */
  pc_store_le32(buf, UINT32_MAX);
  pc_reader_init(&r, buf, sizeof buf);
  cr_assert_null(pc_get_blob32(&r, SIZE_MAX, &n));
  cr_assert_eq(pc_reader_ok(&r), PC_ERR_TRUNCATED);
}

Test(codec_reader, blob_prefix_truncated) {
  uint8_t buf[1] = {5};
  pc_reader_t r;
  pc_reader_init(&r, buf, sizeof buf);
  size_t n;
  cr_assert_null(pc_get_blob16(&r, 100, &n));
  cr_assert_eq(pc_reader_ok(&r), PC_ERR_TRUNCATED);
}

Test(codec_reader, empty_and_null_input) {
  pc_reader_t r;
  pc_reader_init(&r, NULL, 10);
  cr_assert_eq(r.len, 0, "a NULL input has no bytes whatever len says");
  cr_assert_eq(pc_reader_finish(&r), 0);
  cr_assert_not_null(pc_get_view(&r, 0));
  cr_assert_eq(pc_get_u8(&r), 0);
  cr_assert_eq(pc_reader_finish(&r), PC_ERR_TRUNCATED);
}

Test(codec_reader, raw_load_store) {
  uint8_t b[8];
  pc_store_le64(b, 0x0102030405060708ull);
  cr_assert_eq(b[0], 8);
  cr_assert_eq(pc_load_le64(b), 0x0102030405060708ull);
  pc_store_le32(b, 0xdeadbeef);
  cr_assert_eq(pc_load_le32(b), 0xdeadbeef);
  pc_store_le16(b, 0xbeef);
  cr_assert_eq(pc_load_le16(b), 0xbeef);
}

/* -------------------------------------------------- errors and counters */

Test(errors, every_code_has_its_own_string) {
  for (int e = 0; e > -PC_ERR_COUNT; e--) {
    const char *s = pc_strerror(e);
    cr_assert_str_neq(s, "unknown error", "code %d", e);
    for (int o = 0; o > e; o--) cr_assert_str_neq(s, pc_strerror(o), "codes %d and %d share a string", e, o);
  }
  cr_assert_str_eq(pc_strerror(-PC_ERR_COUNT), "unknown error");
  cr_assert_str_eq(pc_strerror(1), "unknown error");
  cr_assert_str_eq(pc_strerror(PC_ERR_TRUNCATED), "input truncated");
}

Test(errors, reject_note_counts_and_returns) {
  uint64_t before = pc_reject_count(PC_DEC_BLOCK, PC_ERR_TRUNCATED), all = pc_reject_count(PC_DEC_BLOCK, 1);
  cr_assert_eq(pc_reject_note(PC_DEC_BLOCK, PC_ERR_TRUNCATED), PC_ERR_TRUNCATED);
  cr_assert_eq(pc_reject_count(PC_DEC_BLOCK, PC_ERR_TRUNCATED), before + 1);
  cr_assert_eq(pc_reject_count(PC_DEC_BLOCK, 1), all + 1);
}

Test(errors, odd_codes_land_in_invalid) {
  uint64_t before = pc_reject_count(PC_DEC_OTHER, PC_ERR_INVALID);
  cr_assert_eq(pc_reject_note(PC_DEC_OTHER, -999), -999);
  cr_assert_eq(pc_reject_note((pc_decoder_t)77, 5), 5);
  cr_assert_eq(pc_reject_count(PC_DEC_OTHER, PC_ERR_INVALID), before + 2);
  cr_assert_eq(pc_reject_count((pc_decoder_t)77, 1), 0);
  cr_assert_eq(pc_reject_count(PC_DEC_OTHER, -999), 0);
}

Test(errors, decoder_names) {
  cr_assert_str_eq(pc_decoder_name(PC_DEC_CODEC), "codec");
  cr_assert_str_eq(pc_decoder_name(PC_DEC_CONFIG), "config");
  cr_assert_str_eq(pc_decoder_name(PC_DEC_COREMAP), "coremap");
  cr_assert_str_eq(pc_decoder_name(PC_DEC_OTHER), "other");
  cr_assert_str_eq(pc_decoder_name(PC_DEC_COUNT), "other");
}

Test(logging, level_round_trip) {
  pc_log_set_level(PC_LOG_WARN);
  cr_assert_eq(pc_log_get_level(), PC_LOG_WARN);
  pc_log_set_level(PC_LOG_DEBUG);
  cr_assert_eq(pc_log_get_level(), PC_LOG_DEBUG);
  pc_log_set_tag("r9-with-a-very-long-tag");
  pc_log(PC_LOG_DEBUG, "a line longer than the buffer: %0*d", 2000, 0); /* truncates, no overflow */
  pc_log_set_level(PC_LOG_ERROR);
  cr_assert_eq(pc_log_get_level(), PC_LOG_ERROR);
}

Test(time, monotonic_clock_does_not_go_back) {
  uint64_t a = pc_now_ns();
  pc_sleep_ns(1000);
  uint64_t b = pc_now_ns();
  cr_assert_geq(b, a + 1000);
  cr_assert_gt(pc_wall_us(), 1600000000ull * 1000000ull, "wall clock is after 2020");
}
