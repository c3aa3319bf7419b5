/* test_hash.c — BLAKE2b-256 and SHA-256 against published vectors, tagged
 * and incremental hashing, hex, CRC32C. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/common.h"
#include "tests/testutil.h"

static void init(void) { cr_assert_eq(pc_crypto_init(), 0); }
TestSuite(hash, .init = init);

static void assert_hex(const pc_hash_t *h, const char *want) {
  char hex[PC_HASH_HEX_SIZE];
  cr_assert_str_eq(pc_hash_to_hex(h, hex), want);
}

/* SHA-256: FIPS 180-2 examples (one block, two blocks) and the empty string. */
Test(hash, sha256_vectors) {
  pc_hash_t h;
  pc_hash_sha256(&h, "abc", 3);
  assert_hex(&h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  pc_hash_sha256(&h, "", 0);
  assert_hex(&h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  pc_hash_sha256(&h, two, strlen(two));
  assert_hex(&h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* BLAKE2b with a 32-byte digest (the digest length is a parameter of
 * BLAKE2b, so these differ from truncated BLAKE2b-512 of RFC 7693). */
Test(hash, blake2b_256_vectors) {
  pc_hash_t h;
  pc_hash_blake2b(&h, "", 0);
  assert_hex(&h, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  pc_hash_blake2b(&h, "abc", 3);
  assert_hex(&h, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  const char *fox = "The quick brown fox jumps over the lazy dog";
  pc_hash_blake2b(&h, fox, strlen(fox));
  assert_hex(&h, "01718cec35cd3d796dd00020e0bfecb473ad23457d063b75eff29c0ffa2e58a9");
}

Test(hash, tagged_is_tag_nul_data) {
  pc_hash_t a, b;
  pc_hash_tagged(&a, "parachain/block", "x", 1);
  pc_hash_blake2b(&b, "parachain/block\0x", 17);
  cr_assert(pc_hash_equal(&a, &b));
  /* different tags never collide on the same data */
  pc_hash_tagged(&b, "parachain/batch", "x", 1);
  cr_assert_not(pc_hash_equal(&a, &b));
  /* the NUL separator keeps ("ab", "c") apart from ("a", "bc") */
  pc_hash_tagged(&a, "ab", "c", 1);
  pc_hash_tagged(&b, "a", "bc", 2);
  cr_assert_not(pc_hash_equal(&a, &b));
}

Test(hash, pair_is_tag_nul_a_b) {
  pc_hash_t a, b, out, want;
  memset(a.b, 1, 32);
  memset(b.b, 2, 32);
  uint8_t buf[5 + 64];
  memcpy(buf, "tag\0", 4);
  memcpy(buf + 4, a.b, 32);
  memcpy(buf + 36, b.b, 32);
  pc_hash_pair(&out, "tag", &a, &b);
  pc_hash_blake2b(&want, buf, 68);
  cr_assert(pc_hash_equal(&out, &want));
  pc_hash_pair(&want, "tag", &b, &a);
  cr_assert_not(pc_hash_equal(&out, &want), "order matters");
}

Test(hash, incremental_equals_one_shot) {
  uint64_t seed = pc_test_seed(5), st = seed;
  uint8_t data[4096];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)pc_test_rand(&st);
  for (unsigned it = 0; it < pc_test_iters(300); it++) {
    size_t len = pc_test_rand(&st) % sizeof data, pos = 0;
    pc_hasher_t h;
    pc_hasher_init(&h);
    while (pos < len) {
      size_t want = 1 + pc_test_rand(&st) % 300; /* outside PC_MIN: it evaluates twice */
      size_t k = PC_MIN(len - pos, want);
      pc_hasher_update(&h, data + pos, k);
      pos += k;
    }
    pc_hash_t a, b;
    pc_hasher_final(&h, &a);
    pc_hash_blake2b(&b, data, len);
    cr_assert(pc_hash_equal(&a, &b), "seed %llu len %zu", (unsigned long long)seed, len);
  }
}

Test(hash, incremental_tagged) {
  pc_hasher_t h;
  pc_hash_t a, b;
  pc_hasher_init_tagged(&h, "t");
  pc_hasher_update(&h, "data", 4);
  pc_hasher_final(&h, &a);
  pc_hash_tagged(&b, "t", "data", 4);
  cr_assert(pc_hash_equal(&a, &b));
}

Test(hash, zero_and_equal) {
  pc_hash_t z, x;
  memset(&z, 0, sizeof z);
  cr_assert(pc_hash_is_zero(&z));
  x = z;
  x.b[31] = 1;
  cr_assert_not(pc_hash_is_zero(&x));
  cr_assert_not(pc_hash_equal(&x, &z));
}

/* ------------------------------------------------------------------ hex */

Test(hash, hex_round_trip) {
  uint64_t seed = pc_test_seed(11), st = seed;
  for (unsigned it = 0; it < pc_test_iters(500); it++) {
    pc_hash_t h, back;
    for (int i = 0; i < 32; i++) h.b[i] = (uint8_t)pc_test_rand(&st);
    char hex[PC_HASH_HEX_SIZE];
    pc_hash_to_hex(&h, hex);
    cr_assert_eq(strlen(hex), 64);
    cr_assert_eq(pc_hash_from_hex(&back, hex), 0);
    cr_assert(pc_hash_equal(&h, &back), "seed %llu", (unsigned long long)seed);
  }
}

Test(hash, hex_accepts_upper_case) {
  uint8_t out[2];
  cr_assert_eq(pc_hex_decode(out, 2, "aBcD", 4), 0);
  cr_assert(out[0] == 0xab && out[1] == 0xcd);
  char enc[5];
  pc_hex_encode(enc, out, 2);
  cr_assert_str_eq(enc, "abcd", "encoding is lower case");
}

Test(hash, bad_hex) {
  uint8_t out[2];
  cr_assert_eq(pc_hex_decode(out, 2, "abc", 3), PC_ERR_INVALID, "odd length");
  cr_assert_eq(pc_hex_decode(out, 2, "abcdef", 6), PC_ERR_INVALID, "too long");
  cr_assert_eq(pc_hex_decode(out, 2, "abcg", 4), PC_ERR_INVALID, "not hex");
  cr_assert_eq(pc_hex_decode(out, 2, "ab c", 4), PC_ERR_INVALID, "space");
  cr_assert_eq(pc_hex_decode(out, 2, "0x12", 4), PC_ERR_INVALID, "prefix");
  pc_hash_t h;
  char s[66];
  memset(s, 'a', 65);
  s[65] = '\0';
  cr_assert_eq(pc_hash_from_hex(&h, s), PC_ERR_INVALID, "65 digits");
  s[63] = '\0';
  cr_assert_eq(pc_hash_from_hex(&h, s), PC_ERR_INVALID, "63 digits");
  cr_assert_eq(pc_hash_from_hex(&h, ""), PC_ERR_INVALID);
}

/* ---------------------------------------------------------------- CRC32C */

Test(hash, crc32c_check_value) {
  cr_assert_eq(pc_crc32c(0, "123456789", 9), 0xE3069283u);
  cr_assert_eq(pc_crc32c(0, "", 0), 0);
}

Test(hash, crc32c_is_incremental) {
  uint32_t c = pc_crc32c(0, "1234", 4);
  cr_assert_eq(pc_crc32c(c, "56789", 5), 0xE3069283u);
  uint64_t seed = pc_test_seed(3), st = seed;
  uint8_t data[1000];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)pc_test_rand(&st);
  uint32_t whole = pc_crc32c(0, data, sizeof data);
  for (unsigned it = 0; it < pc_test_iters(200); it++) {
    size_t cut = pc_test_rand(&st) % (sizeof data + 1);
    uint32_t part = pc_crc32c(pc_crc32c(0, data, cut), data + cut, sizeof data - cut);
    cr_assert_eq(part, whole, "seed %llu cut %zu", (unsigned long long)seed, cut);
  }
}

Test(hash, crc32c_any_alignment) {
  uint8_t buf[9 + 16];
  for (int off = 0; off < 16; off++) {
    memcpy(buf + off, "123456789", 9);
    cr_assert_eq(pc_crc32c(0, buf + off, 9), 0xE3069283u, "offset %d", off);
  }
}

Test(hash, crc32c_detects_a_flipped_bit) {
  uint8_t data[64] = {0};
  uint32_t a = pc_crc32c(0, data, sizeof data);
  for (int bit = 0; bit < 64 * 8; bit++) {
    data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    cr_assert_neq(pc_crc32c(0, data, sizeof data), a, "bit %d", bit);
    data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
}
