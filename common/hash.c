/* hash.c — BLAKE2b-256 / SHA-256 through libsodium, hex, CRC32C. */
#include <sodium.h>
#include <rte_hash_crc.h>
#include <string.h>

#include "common/common.h"

_Static_assert(sizeof(crypto_generichash_state) <= sizeof(((pc_hasher_t *)0)->opaque),
               "pc_hasher_t too small for libsodium's BLAKE2b state");

int pc_crypto_init(void) { return sodium_init() < 0 ? PC_ERR_UNSUPPORTED : 0; }

void pc_hash_blake2b(pc_hash_t *out, const void *data, size_t len) {
  crypto_generichash(out->b, PC_HASH_SIZE, data, len, NULL, 0);
}

void pc_hash_sha256(pc_hash_t *out, const void *data, size_t len) {
  crypto_hash_sha256(out->b, data, len);
}

void pc_hasher_init(pc_hasher_t *h) {
  crypto_generichash_init((crypto_generichash_state *)h->opaque, NULL, 0, PC_HASH_SIZE);
}

void pc_hasher_init_tagged(pc_hasher_t *h, const char *tag) {
  pc_hasher_init(h);
  pc_hasher_update(h, tag, strlen(tag) + 1); /* include the NUL as separator */
}

void pc_hasher_update(pc_hasher_t *h, const void *data, size_t len) {
  crypto_generichash_update((crypto_generichash_state *)h->opaque, data, len);
}

void pc_hasher_final(pc_hasher_t *h, pc_hash_t *out) {
  crypto_generichash_final((crypto_generichash_state *)h->opaque, out->b, PC_HASH_SIZE);
}

void pc_hash_tagged(pc_hash_t *out, const char *tag, const void *data, size_t len) {
  pc_hasher_t h;
  pc_hasher_init_tagged(&h, tag);
  pc_hasher_update(&h, data, len);
  pc_hasher_final(&h, out);
}

void pc_hash_pair(pc_hash_t *out, const char *tag, const pc_hash_t *a, const pc_hash_t *b) {
  pc_hasher_t h;
  pc_hasher_init_tagged(&h, tag);
  pc_hasher_update(&h, a->b, PC_HASH_SIZE);
  pc_hasher_update(&h, b->b, PC_HASH_SIZE);
  pc_hasher_final(&h, out);
}

bool pc_hash_equal(const pc_hash_t *a, const pc_hash_t *b) { return memcmp(a->b, b->b, PC_HASH_SIZE) == 0; }

bool pc_hash_is_zero(const pc_hash_t *h) {
  static const pc_hash_t zero;
  return pc_hash_equal(h, &zero);
}

void pc_hex_encode(char *out, const void *data, size_t n) {
  static const char digits[] = "0123456789abcdef";
  const uint8_t *p = data;
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int pc_hex_decode(void *out, size_t n, const char *hex, size_t hex_len) {
  if (hex_len != 2 * n) return PC_ERR_INVALID;
  uint8_t *o = out;
  for (size_t i = 0; i < n; i++) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return PC_ERR_INVALID;
    o[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

char *pc_hash_to_hex(const pc_hash_t *h, char out[PC_HASH_HEX_SIZE]) {
  pc_hex_encode(out, h->b, PC_HASH_SIZE);
  return out;
}

int pc_hash_from_hex(pc_hash_t *out, const char *hex) {
  return pc_hex_decode(out->b, PC_HASH_SIZE, hex, strlen(hex));
}

/* CRC32C through DPDK's rte_hash_crc_*byte (SSE4.2 crc32 instructions where
 * the CPU has them, a table otherwise). Those are the raw register form: no
 * pre/post inversion, so we add the standard ones here. We feed them values
 * loaded with pc_load_le*, not rte_hash_crc(): that one casts the byte
 * pointer to uint64_t *, a misaligned load UBSan reports at odd offsets. */
uint32_t pc_crc32c(uint32_t crc, const void *data, size_t len) {
  const uint8_t *p = data;
  crc = ~crc;
  for (; len >= 8; p += 8, len -= 8) crc = rte_hash_crc_8byte(pc_load_le64(p), crc);
  if (len >= 4) {
    crc = rte_hash_crc_4byte(pc_load_le32(p), crc);
    p += 4;
    len -= 4;
  }
  for (; len; p++, len--) crc = rte_hash_crc_1byte(*p, crc);
  return ~crc;
}
