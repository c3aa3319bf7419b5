/* test_frame.c — the frame codec: round trips of every frame type, the
 * Ethernet/IPv4/UDP wrapper, key agreement, and every malformed frame
 * rejected and counted. Pure functions, no EAL. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "dataplane/dataplane.h"
#include "tests/testutil.h"

static uint8_t key[PC_DP_KEY_SIZE];

static void setup(void) {
  cr_assert_eq(pc_crypto_init(), 0);
  for (int i = 0; i < PC_DP_KEY_SIZE; i++) key[i] = (uint8_t)(i * 7 + 1);
}

TestSuite(frame, .init = setup);

static pc_dp_hdr_t data_hdr(void) {
  pc_dp_hdr_t h = {0};
  h.type = PC_DP_DATA;
  h.src = 1;
  h.dst = 2;
  h.frag_count = 1;
  h.snd_epoch = 0x1111;
  h.rcv_epoch = 0x2222;
  h.seq = 42;
  h.ack = 7;
  h.sack = 0x5;
  return h;
}

/* Builds a coalesced DATA frame of the given messages into buf. */
static size_t build_coalesced(uint8_t *buf, pc_dp_hdr_t *h, const char **msgs, int n) {
  uint32_t pos = 0;
  for (int i = 0; i < n; i++) {
    uint32_t l = (uint32_t)strlen(msgs[i]);
    pc_store_le32(buf + PC_DP_HDR_SIZE + pos, l);
    memcpy(buf + PC_DP_HDR_SIZE + pos + 4, msgs[i], l);
    pos += 4 + l;
  }
  h->msg_len = (uint32_t)n;
  h->payload_len = pos;
  return pc_dp_frame_seal(buf, h, key);
}

static size_t valid_frame(uint8_t *buf) {
  pc_dp_hdr_t h = data_hdr();
  const char *m[] = {"hello", "", "world!"};
  return build_coalesced(buf, &h, m, 3);
}

Test(frame, coalesced_round_trip) {
  uint8_t buf[512];
  pc_dp_hdr_t h = data_hdr(), d;
  const char *m[] = {"a", "", "three", "xyzzy-longer-message"};
  size_t len = build_coalesced(buf, &h, m, 4);
  const uint8_t *pl;
  cr_assert_eq(pc_dp_frame_parse(buf, len, &d, &pl), 0);
  cr_assert_eq(pc_dp_frame_verify(buf, len, key), 0);
  cr_assert_eq(d.type, PC_DP_DATA);
  cr_assert_eq(d.src, 1);
  cr_assert_eq(d.dst, 2);
  cr_assert_eq(d.seq, 42);
  cr_assert_eq(d.ack, 7);
  cr_assert_eq(d.sack, 5);
  cr_assert_eq(d.snd_epoch, 0x1111);
  cr_assert_eq(d.rcv_epoch, 0x2222);
  cr_assert_eq(d.msg_len, 4);
  size_t pos = 0;
  uint32_t l;
  const uint8_t *p;
  for (int i = 0; i < 4; i++) {
    p = pc_dp_msgs_next(pl, d.payload_len, &pos, &l);
    cr_assert_not_null(p);
    cr_assert_eq(l, strlen(m[i]));
    cr_assert_eq(memcmp(p, m[i], l), 0);
  }
  cr_assert_null(pc_dp_msgs_next(pl, d.payload_len, &pos, &l));
}

Test(frame, fragment_round_trip) {
  uint8_t buf[256];
  pc_dp_hdr_t h = data_hdr(), d;
  h.frag_count = 9;
  h.frag_index = 8;
  h.msg_len = 100000;
  h.payload_len = 100;
  memset(buf + PC_DP_HDR_SIZE, 0xab, 100);
  size_t len = pc_dp_frame_seal(buf, &h, key);
  cr_assert_eq(len, PC_DP_OVERHEAD + 100);
  const uint8_t *pl;
  cr_assert_eq(pc_dp_frame_parse(buf, len, &d, &pl), 0);
  cr_assert_eq(d.frag_count, 9);
  cr_assert_eq(d.frag_index, 8);
  cr_assert_eq(d.msg_len, 100000);
  cr_assert_eq(pl, buf + PC_DP_HDR_SIZE);
}

Test(frame, ack_and_hello_round_trip) {
  uint8_t buf[PC_DP_OVERHEAD];
  for (int type = PC_DP_ACK; type <= PC_DP_HELLO; type++) {
    pc_dp_hdr_t h = data_hdr(), d;
    h.type = (uint8_t)type;
    h.seq = 0;
    h.rcv_epoch = type == PC_DP_HELLO ? 0 : 9;
    size_t len = pc_dp_frame_seal(buf, &h, key);
    cr_assert_eq(len, PC_DP_OVERHEAD);
    const uint8_t *pl;
    cr_assert_eq(pc_dp_frame_parse(buf, len, &d, &pl), 0);
    cr_assert_eq(d.type, type);
    cr_assert_eq(pc_dp_frame_verify(buf, len, key), 0);
  }
}

/* An ACK with w SACK words (word k = pattern k + 1, the last non-zero). */
static size_t ack_words(uint8_t *buf, uint32_t w) {
  pc_dp_hdr_t h = data_hdr();
  h.type = PC_DP_ACK;
  h.seq = 0;
  h.msg_len = w;
  h.payload_len = 8 * w;
  for (uint32_t k = 0; k < w; k++) pc_store_le64(buf + PC_DP_HDR_SIZE + 8 * k, 0x0101010101010101ull * (k + 1));
  return pc_dp_frame_seal(buf, &h, key);
}

Test(frame, ack_with_sack_words_round_trip) {
  static uint8_t buf[PC_DP_OVERHEAD + 8 * PC_DP_SACK_WORDS_MAX];
  for (uint32_t w = 1; w <= PC_DP_SACK_WORDS_MAX; w += 63) {
    size_t len = ack_words(buf, w);
    cr_assert_eq(len, PC_DP_OVERHEAD + 8 * w);
    pc_dp_hdr_t d;
    const uint8_t *pl;
    cr_assert_eq(pc_dp_frame_parse(buf, len, &d, &pl), 0, "w = %u", w);
    cr_assert_eq(pc_dp_frame_verify(buf, len, key), 0);
    cr_assert_eq(d.type, PC_DP_ACK);
    cr_assert_eq(d.msg_len, w);
    cr_assert_eq(d.payload_len, 8 * w);
    cr_assert_eq(pc_load_le64(pl + 8 * (w - 1)), 0x0101010101010101ull * w);
  }
}

/* Expects parse to fail with err and the frame rejection counter to move. */
static void expect_reject(const uint8_t *buf, size_t len, int err) {
  uint64_t before = pc_reject_count(PC_DEC_FRAME, err);
  pc_dp_hdr_t d;
  const uint8_t *pl;
  cr_assert_eq(pc_dp_frame_parse(buf, len, &d, &pl), err, "want %s", pc_strerror(err));
  cr_assert_eq(pc_reject_count(PC_DEC_FRAME, err), before + 1);
}

Test(frame, rejects_short) {
  uint8_t buf[512];
  size_t len = valid_frame(buf);
  for (size_t l = 0; l < PC_DP_OVERHEAD; l += 7) expect_reject(buf, l, PC_ERR_TRUNCATED);
  expect_reject(buf, len - 1, PC_ERR_INVALID); /* payload_len no longer matches */
}

Test(frame, rejects_wrong_magic) {
  uint8_t buf[512];
  size_t len = valid_frame(buf);
  buf[0] ^= 1;
  expect_reject(buf, len, PC_ERR_MAGIC);
}

Test(frame, rejects_wrong_version) {
  uint8_t buf[512];
  size_t len = valid_frame(buf);
  buf[4] = PC_DP_VERSION + 1;
  expect_reject(buf, len, PC_ERR_VERSION);
  buf[4] = 1; /* version 1: ACKs without SACK words, no longer spoken */
  expect_reject(buf, len, PC_ERR_VERSION);
  buf[4] = 0;
  expect_reject(buf, len, PC_ERR_VERSION);
}

Test(frame, rejects_bad_ack_sack_words) {
  static uint8_t buf[PC_DP_OVERHEAD + 8 * (PC_DP_SACK_WORDS_MAX + 1)];
  /* More words than the largest window needs. */
  size_t len = ack_words(buf, PC_DP_SACK_WORDS_MAX + 1);
  expect_reject(buf, len, PC_ERR_INVALID);
  /* msg_len and payload disagree (payload of 2 words, msg_len 1 or 3). */
  len = ack_words(buf, 2);
  pc_store_le32(buf + 56, 1);
  expect_reject(buf, len, PC_ERR_INVALID);
  pc_store_le32(buf + 56, 3);
  expect_reject(buf, len, PC_ERR_INVALID);
  /* A payload that is not whole words. */
  pc_dp_hdr_t h = data_hdr();
  h.type = PC_DP_ACK;
  h.seq = 0;
  h.msg_len = 1;
  h.payload_len = 7;
  len = pc_dp_frame_seal(buf, &h, key);
  expect_reject(buf, len, PC_ERR_INVALID);
  /* A trailing zero word: not the shortest form. */
  len = ack_words(buf, 3);
  pc_store_le64(buf + PC_DP_HDR_SIZE + 16, 0);
  expect_reject(buf, len, PC_ERR_INVALID);
  /* Zero words in the middle are fine. */
  len = ack_words(buf, 3);
  pc_store_le64(buf + PC_DP_HDR_SIZE + 8, 0);
  pc_dp_hdr_t d;
  const uint8_t *pl;
  cr_assert_eq(pc_dp_frame_parse(buf, len, &d, &pl), 0);
  /* HELLO never carries words. */
  len = ack_words(buf, 1);
  buf[5] = PC_DP_HELLO;
  expect_reject(buf, len, PC_ERR_INVALID);
}

Test(frame, rejects_bad_type_and_reserved) {
  uint8_t buf[512];
  size_t len = valid_frame(buf);
  buf[5] = 3;
  expect_reject(buf, len, PC_ERR_INVALID);
  len = valid_frame(buf);
  buf[15] = 1;
  expect_reject(buf, len, PC_ERR_INVALID);
}

Test(frame, rejects_bad_length) {
  uint8_t buf[512];
  size_t len = valid_frame(buf);
  pc_store_le32(buf + 60, pc_load_le32(buf + 60) + 1);
  expect_reject(buf, len, PC_ERR_INVALID);
  len = valid_frame(buf);
  pc_store_le32(buf + 60, 0xffffffffu);
  expect_reject(buf, len, PC_ERR_INVALID);
}

Test(frame, rejects_bad_records) {
  uint8_t buf[512];
  size_t len = valid_frame(buf);
  pc_store_le32(buf + 56, 4); /* one message more than the payload holds */
  expect_reject(buf, len, PC_ERR_INVALID);
  len = valid_frame(buf);
  pc_store_le32(buf + 56, 2); /* fewer: trailing bytes */
  expect_reject(buf, len, PC_ERR_INVALID);
  len = valid_frame(buf);
  pc_store_le32(buf + PC_DP_HDR_SIZE, 0x7fffffff); /* record longer than payload */
  expect_reject(buf, len, PC_ERR_INVALID);
  len = valid_frame(buf);
  pc_store_le32(buf + 56, 0);
  expect_reject(buf, len, PC_ERR_INVALID);
}

Test(frame, rejects_fragment_out_of_range) {
  uint8_t buf[256];
  pc_dp_hdr_t h = data_hdr();
  h.frag_count = 3;
  h.frag_index = 3;
  h.msg_len = 300;
  h.payload_len = 100;
  size_t len = pc_dp_frame_seal(buf, &h, key);
  expect_reject(buf, len, PC_ERR_RANGE);
  h.frag_count = 0;
  h.frag_index = 0;
  len = pc_dp_frame_seal(buf, &h, key);
  expect_reject(buf, len, PC_ERR_RANGE);
  /* A fragment larger than the whole message. */
  h.frag_count = 2;
  h.msg_len = 50;
  len = pc_dp_frame_seal(buf, &h, key);
  expect_reject(buf, len, PC_ERR_INVALID);
}

Test(frame, rejects_zero_epoch_seq_ack) {
  uint8_t buf[512];
  size_t len = valid_frame(buf);
  pc_store_le64(buf + 16, 0);
  expect_reject(buf, len, PC_ERR_RANGE);
  len = valid_frame(buf);
  pc_store_le64(buf + 24, 0);
  expect_reject(buf, len, PC_ERR_RANGE);
  len = valid_frame(buf);
  pc_store_le64(buf + 32, 0);
  expect_reject(buf, len, PC_ERR_RANGE);
  len = valid_frame(buf);
  pc_store_le64(buf + 40, 0);
  expect_reject(buf, len, PC_ERR_RANGE);
}

Test(frame, rejects_control_frame_with_payload_or_seq) {
  uint8_t buf[256];
  pc_dp_hdr_t h = data_hdr();
  h.type = PC_DP_ACK;
  h.seq = 0;
  h.payload_len = 4;
  memset(buf + PC_DP_HDR_SIZE, 0, 4);
  size_t len = pc_dp_frame_seal(buf, &h, key);
  expect_reject(buf, len, PC_ERR_INVALID);
  h.payload_len = 0;
  h.seq = 5;
  len = pc_dp_frame_seal(buf, &h, key);
  expect_reject(buf, len, PC_ERR_INVALID);
}

Test(frame, rejects_bad_mac) {
  uint8_t buf[512];
  size_t len = valid_frame(buf);
  uint64_t before = pc_reject_count(PC_DEC_FRAME, PC_ERR_SIGNATURE);
  buf[len - 1] ^= 0x80;
  cr_assert_eq(pc_dp_frame_verify(buf, len, key), PC_ERR_SIGNATURE);
  buf[len - 1] ^= 0x80;
  uint8_t other[PC_DP_KEY_SIZE] = {1};
  cr_assert_eq(pc_dp_frame_verify(buf, len, other), PC_ERR_SIGNATURE);
  cr_assert_eq(pc_reject_count(PC_DEC_FRAME, PC_ERR_SIGNATURE), before + 2);
}

/* Any single flipped bit is caught by the parser or the MAC. */
Test(frame, random_bit_flips_never_pass) {
  uint64_t seed = pc_test_seed(0xf1a9);
  uint64_t st = seed;
  unsigned iters = pc_test_iters(20000);
  uint8_t buf[512];
  for (unsigned i = 0; i < iters; i++) {
    size_t len = valid_frame(buf);
    uint64_t r = pc_test_rand(&st);
    size_t at = (size_t)(r % len);
    buf[at] ^= (uint8_t)(1u << ((r >> 32) % 8));
    pc_dp_hdr_t d;
    const uint8_t *pl;
    bool ok = pc_dp_frame_parse(buf, len, &d, &pl) == 0 && pc_dp_frame_verify(buf, len, key) == 0;
    cr_assert(!ok, "flip at %zu accepted (seed %llu, iter %u)", at, (unsigned long long)seed, i);
  }
}

Test(frame, l2_round_trip) {
  uint8_t buf[PC_DP_L2_SIZE + 100];
  pc_dp_addr_t a = {{2, 0, 0, 0, 0, 1}, 0x7f000001, 9001}, b = {{2, 0, 0, 0, 0, 2}, 0x7f000002, 9002}, s;
  pc_dp_l2_write(buf, &a, &b, 100);
  size_t pl = 0;
  cr_assert_eq(pc_dp_l2_parse(buf, sizeof buf, &pl, &s), PC_DP_L2_SIZE);
  cr_assert_eq(pl, 100);
  cr_assert_eq(s.ip, a.ip);
  cr_assert_eq(s.port, a.port);
  cr_assert_eq(memcmp(s.mac, a.mac, 6), 0);
  /* Ethernet padding after the datagram is fine. */
  uint8_t pad[PC_DP_L2_SIZE + 20] = {0};
  pc_dp_l2_write(pad, &a, &b, 4);
  cr_assert_eq(pc_dp_l2_parse(pad, sizeof pad, &pl, NULL), PC_DP_L2_SIZE);
  cr_assert_eq(pl, 4);
}

Test(frame, l2_rejects_malformed) {
  uint8_t buf[PC_DP_L2_SIZE + 100];
  pc_dp_addr_t a = {{2, 0, 0, 0, 0, 1}, 0x7f000001, 9001}, b = {{2, 0, 0, 0, 0, 2}, 0x7f000002, 9002};
  size_t pl;
  uint64_t before = pc_reject_count(PC_DEC_FRAME, 1);
  cr_assert_lt(pc_dp_l2_parse(buf, 20, &pl, NULL), 0);
  pc_dp_l2_write(buf, &a, &b, 100);
  buf[12] = 0x86; /* IPv6 ethertype */
  cr_assert_eq(pc_dp_l2_parse(buf, sizeof buf, &pl, NULL), PC_ERR_INVALID);
  pc_dp_l2_write(buf, &a, &b, 100);
  buf[14 + 8] = 63; /* TTL changed, checksum not */
  cr_assert_eq(pc_dp_l2_parse(buf, sizeof buf, &pl, NULL), PC_ERR_CHECKSUM);
  pc_dp_l2_write(buf, &a, &b, 100);
  cr_assert_eq(pc_dp_l2_parse(buf, sizeof buf - 1, &pl, NULL), PC_ERR_INVALID); /* IP length > frame */
  pc_dp_l2_write(buf, &a, &b, 100);
  buf[14 + 9] = 6; /* TCP */
  cr_assert_eq(pc_dp_l2_parse(buf, sizeof buf, &pl, NULL), PC_ERR_INVALID);
  pc_dp_l2_write(buf, &a, &b, 100);
  buf[14 + 20 + 5] ^= 1; /* UDP length */
  cr_assert_eq(pc_dp_l2_parse(buf, sizeof buf, &pl, NULL), PC_ERR_INVALID);
  cr_assert_eq(pc_reject_count(PC_DEC_FRAME, 1), before + 6);
}

Test(frame, l2_rejects_ip_fragment) {
  uint8_t buf[PC_DP_L2_SIZE + 100];
  pc_dp_addr_t a = {{0}, 1, 1}, b = {{0}, 2, 2};
  pc_dp_l2_write(buf, &a, &b, 100);
  /* Set MF and fix the checksum so only the fragment rule can reject it. */
  buf[14 + 6] = 0x20;
  buf[14 + 10] = buf[14 + 11] = 0;
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += (uint32_t)(buf[14 + i] << 8 | buf[14 + i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  buf[14 + 10] = (uint8_t)(~s >> 8);
  buf[14 + 11] = (uint8_t)~s;
  size_t pl;
  cr_assert_eq(pc_dp_l2_parse(buf, sizeof buf, &pl, NULL), PC_ERR_INVALID);
}

Test(frame, pairwise_keys_agree) {
  uint8_t pk[3][32], sk[3][64];
  for (int i = 0; i < 3; i++) crypto_sign_keypair(pk[i], sk[i]);
  uint8_t tx01[32], rx01[32], tx10[32], rx10[32], tx02[32], rx02[32];
  cr_assert_eq(pc_dp_derive_keys(0, sk[0], 1, pk[1], tx01, rx01), 0);
  cr_assert_eq(pc_dp_derive_keys(1, sk[1], 0, pk[0], tx10, rx10), 0);
  cr_assert_eq(memcmp(tx01, rx10, 32), 0);
  cr_assert_eq(memcmp(rx01, tx10, 32), 0);
  cr_assert_neq(memcmp(tx01, rx01, 32), 0);
  cr_assert_eq(pc_dp_derive_keys(0, sk[0], 2, pk[2], tx02, rx02), 0);
  cr_assert_neq(memcmp(tx01, tx02, 32), 0);
}

Test(frame, pairwise_keys_reject_bad_public_key) {
  uint8_t pk[32], sk[64], bad[32] = {0}, tx[32], rx[32];
  crypto_sign_keypair(pk, sk);
  /* All-zero is a small-order point: the conversion or the kx must refuse it. */
  cr_assert_eq(pc_dp_derive_keys(0, sk, 1, bad, tx, rx), PC_ERR_SIGNATURE);
}
