/* test_tx.c — the transaction format (common/tx.c): round trip, every
 * malformed field rejected with its reason, flipped bits, encoder limits. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "common/tx.h"
#include "tests/testutil.h"
#include "txpool/client.h"

static pc_client_key_t key;

static void setup(void) {
  cr_assert_eq(pc_crypto_init(), 0);
  uint8_t seed[32] = {7};
  cr_assert_eq(pc_client_key_from_seed(&key, seed), 0);
}

TestSuite(tx, .init = setup);

/* A raw encoding with arbitrary (possibly invalid) field values; the
 * signature is 64 zero bytes unless the caller patches it. */
typedef struct {
  uint8_t version;
  uint64_t chain_id;
  uint64_t nonce, expiry;
  const char *contract; /* written as-is, length byte = len_override or strlen */
  int contract_len;     /* -1: strlen */
  const char *method;
  int method_len;
  uint32_t args_len_field; /* length field written */
  uint32_t args_len;       /* bytes actually written */
  uint8_t declared;
  uint16_t n_reads, n_writes;
  uint16_t key_len; /* every key's length field and size */
} raw_t;

static raw_t raw_default(void) {
  raw_t r = {.version = 1, .chain_id = 9, .nonce = 3, .expiry = 0, .contract = "token", .contract_len = -1,
             .method = "transfer", .method_len = -1, .args_len_field = 5, .args_len = 5, .declared = 1,
             .n_reads = 2, .n_writes = 1, .key_len = 4};
  return r;
}

static size_t raw_write(uint8_t *buf, size_t cap, const raw_t *r) {
  static uint8_t zeros[PC_TX_ARGS_MAX + 16];
  pc_writer_t w;
  pc_writer_init(&w, buf, cap);
  pc_put_u8(&w, r->version);
  pc_put_u64(&w, r->chain_id);
  pc_put_bytes(&w, key.pk, 32);
  pc_put_u64(&w, r->nonce);
  pc_put_u64(&w, r->expiry);
  size_t cl = r->contract_len < 0 ? strlen(r->contract) : (size_t)r->contract_len;
  pc_put_u8(&w, (uint8_t)cl);
  pc_put_bytes(&w, r->contract, cl);
  size_t ml = r->method_len < 0 ? strlen(r->method) : (size_t)r->method_len;
  pc_put_u8(&w, (uint8_t)ml);
  pc_put_bytes(&w, r->method, ml);
  pc_put_u32(&w, r->args_len_field);
  pc_put_bytes(&w, zeros, r->args_len);
  pc_put_u8(&w, r->declared);
  if (r->declared == 1) {
    for (int s = 0; s < 2; s++) {
      uint16_t n = s ? r->n_writes : r->n_reads;
      pc_put_u16(&w, n);
      for (uint16_t i = 0; i < n; i++) {
        pc_put_u16(&w, r->key_len);
        pc_put_bytes(&w, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
                         "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
                         "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
                     r->key_len);
      }
    }
  }
  pc_put_bytes(&w, zeros, PC_TX_SIG_SIZE);
  cr_assert_eq(pc_writer_finish(&w), 0);
  return w.len;
}

static int decode_raw(const raw_t *r) {
  static uint8_t buf[PC_TX_MAX + 1024];
  static pc_tx_t tx;
  size_t n = raw_write(buf, sizeof buf, r);
  return pc_tx_decode(buf, n, &tx);
}

/* A signed, valid transaction with declared sets. */
static int build_valid(uint8_t *out, size_t cap) {
  pc_tx_key_t reads[2] = {{(const uint8_t *)"bal/a", 5}, {(const uint8_t *)"bal/b", 5}};
  pc_tx_key_t writes[1] = {{(const uint8_t *)"bal/a", 5}};
  pc_client_tx_t t = {.chain_id = 9, .nonce = 3, .expiry_height = 100, .contract = "token", .method = "transfer",
                      .args = "hello", .args_len = 5, .declared = true, .reads = reads, .n_reads = 2,
                      .writes = writes, .n_writes = 1};
  return pc_client_tx_build(out, cap, &key, &t, NULL);
}

Test(tx, round_trip_with_declared_sets) {
  uint8_t buf[1024];
  int n = build_valid(buf, sizeof buf);
  cr_assert_gt(n, 0);
  pc_tx_t tx;
  cr_assert_eq(pc_tx_decode(buf, (size_t)n, &tx), 0);
  cr_assert_eq(tx.chain_id, 9);
  cr_assert_eq(tx.nonce, 3);
  cr_assert_eq(tx.expiry_height, 100);
  cr_assert_str_eq(tx.contract, "token");
  cr_assert_str_eq(tx.method, "transfer");
  cr_assert_eq(tx.args_len, 5);
  cr_assert_eq(memcmp(tx.args, "hello", 5), 0);
  cr_assert(tx.declared);
  cr_assert_eq(tx.n_reads, 2);
  cr_assert_eq(tx.n_writes, 1);
  cr_assert_eq(tx.reads[1].len, 5);
  cr_assert_eq(memcmp(tx.reads[1].p, "bal/b", 5), 0);
  cr_assert_eq(memcmp(tx.writes[0].p, "bal/a", 5), 0);
  cr_assert_eq(memcmp(tx.sender, key.pk, 32), 0);
  cr_assert_eq(tx.raw, buf);
  cr_assert_eq(tx.raw_len, (size_t)n);
  cr_assert_eq(pc_tx_verify(&tx), 0);
  pc_hash_t h;
  pc_tx_hash_bytes(&h, buf, (size_t)n);
  cr_assert(pc_hash_equal(&h, &tx.hash));
  cr_assert_eq(pc_tx_encoded_size(&tx), (size_t)n);
  /* re-encoding the decoded struct gives the same bytes (Ed25519 is deterministic) */
  uint8_t again[1024];
  cr_assert_eq(pc_tx_encode_signed(again, sizeof again, &tx, key.sk), n);
  cr_assert_eq(memcmp(again, buf, (size_t)n), 0);
}

Test(tx, round_trip_minimal) {
  uint8_t buf[256];
  pc_client_tx_t t = {.chain_id = 1, .contract = "c", .method = "m"};
  int n = pc_client_tx_build(buf, sizeof buf, &key, &t, NULL);
  cr_assert_eq(n, (int)PC_TX_MIN_SIZE);
  pc_tx_t tx;
  cr_assert_eq(pc_tx_decode(buf, (size_t)n, &tx), 0);
  cr_assert(!tx.declared);
  cr_assert_eq(tx.args_len, 0);
  cr_assert_eq(pc_tx_verify(&tx), 0);
}

Test(tx, round_trip_at_limits) {
  static uint8_t buf[PC_TX_MAX];
  static uint8_t args[PC_TX_ARGS_MAX];
  static uint8_t keybytes[PC_TX_KEY_MAX];
  memset(keybytes, 'k', sizeof keybytes);
  static pc_tx_key_t keys[PC_TX_KEYS_MAX];
  for (int i = 0; i < PC_TX_KEYS_MAX; i++) keys[i] = (pc_tx_key_t){keybytes, PC_TX_KEY_MAX};
  char name[PC_TX_NAME_MAX + 1];
  memset(name, 'z', PC_TX_NAME_MAX);
  name[PC_TX_NAME_MAX] = 0;
  pc_client_tx_t t = {.chain_id = 1, .contract = name, .method = name, .args = args, .args_len = PC_TX_ARGS_MAX,
                      .declared = true, .reads = keys, .n_reads = PC_TX_KEYS_MAX, .writes = keys,
                      .n_writes = PC_TX_KEYS_MAX};
  int n = pc_client_tx_build(buf, sizeof buf, &key, &t, NULL);
  cr_assert_gt(n, 0, "%s", pc_strerror(n));
  static pc_tx_t tx;
  cr_assert_eq(pc_tx_decode(buf, (size_t)n, &tx), 0);
  cr_assert_eq(pc_tx_verify(&tx), 0); /* > 4 KiB: the heap path */
}

Test(tx, raw_default_is_valid_structure) {
  raw_t r = raw_default();
  cr_assert_eq(decode_raw(&r), 0);
}

Test(tx, every_truncation_rejected) {
  uint8_t buf[1024];
  int n = build_valid(buf, sizeof buf);
  pc_tx_t tx;
  for (int len = 0; len < n; len++) cr_assert_eq(pc_tx_decode(buf, (size_t)len, &tx), PC_ERR_TRUNCATED, "len %d", len);
}

Test(tx, trailing_byte_rejected) {
  uint8_t buf[1024];
  int n = build_valid(buf, sizeof buf);
  pc_tx_t tx;
  uint64_t before = pc_reject_count(PC_DEC_TX, PC_ERR_TRAILING);
  cr_assert_eq(pc_tx_decode(buf, (size_t)n + 1, &tx), PC_ERR_TRAILING);
  cr_assert_eq(pc_reject_count(PC_DEC_TX, PC_ERR_TRAILING), before + 1);
}

Test(tx, wrong_version_rejected) {
  raw_t r = raw_default();
  r.version = 2;
  cr_assert_eq(decode_raw(&r), PC_ERR_VERSION);
  r.version = 0;
  cr_assert_eq(decode_raw(&r), PC_ERR_VERSION);
}

Test(tx, whole_encoding_too_large_rejected) {
  static uint8_t buf[PC_TX_MAX + 1];
  pc_tx_t tx;
  cr_assert_eq(pc_tx_decode(buf, sizeof buf, &tx), PC_ERR_TOO_LARGE);
}

Test(tx, empty_contract_rejected) {
  raw_t r = raw_default();
  r.contract = "";
  cr_assert_eq(decode_raw(&r), PC_ERR_INVALID);
}

Test(tx, long_contract_rejected) {
  raw_t r = raw_default();
  r.contract = "abcdefghijabcdefghijabcdefghijabc"; /* 33 */
  cr_assert_eq(decode_raw(&r), PC_ERR_TOO_LARGE);
}

Test(tx, bad_contract_chars_rejected) {
  const char *bad[] = {"Token", "to ken", "tok/en", "tok\xff", "tok\0n"};
  for (size_t i = 0; i < PC_ARRAY_LEN(bad); i++) {
    raw_t r = raw_default();
    r.contract = bad[i];
    r.contract_len = 5;
    if (i == 3) r.contract_len = 4;
    cr_assert_eq(decode_raw(&r), PC_ERR_INVALID, "case %zu", i);
  }
}

Test(tx, bad_method_rejected) {
  raw_t r = raw_default();
  r.method = "";
  cr_assert_eq(decode_raw(&r), PC_ERR_INVALID);
  r.method = "Transfer";
  cr_assert_eq(decode_raw(&r), PC_ERR_INVALID);
  r.method = "abcdefghijabcdefghijabcdefghijabc";
  cr_assert_eq(decode_raw(&r), PC_ERR_TOO_LARGE);
}

Test(tx, args_too_large_rejected) {
  raw_t r = raw_default();
  r.args_len_field = r.args_len = PC_TX_ARGS_MAX + 1;
  cr_assert_eq(decode_raw(&r), PC_ERR_TOO_LARGE);
}

Test(tx, args_length_past_end_rejected) {
  raw_t r = raw_default();
  r.args_len_field = 1000; /* claims more than follows */
  cr_assert_eq(decode_raw(&r), PC_ERR_TRUNCATED);
}

Test(tx, declared_flag_out_of_range_rejected) {
  raw_t r = raw_default();
  r.declared = 2;
  cr_assert_eq(decode_raw(&r), PC_ERR_RANGE);
  r.declared = 255;
  cr_assert_eq(decode_raw(&r), PC_ERR_RANGE);
}

Test(tx, too_many_reads_rejected) {
  raw_t r = raw_default();
  r.n_reads = PC_TX_KEYS_MAX + 1;
  cr_assert_eq(decode_raw(&r), PC_ERR_TOO_LARGE);
}

Test(tx, too_many_writes_rejected) {
  raw_t r = raw_default();
  r.n_writes = PC_TX_KEYS_MAX + 1;
  cr_assert_eq(decode_raw(&r), PC_ERR_TOO_LARGE);
}

Test(tx, empty_key_rejected) {
  raw_t r = raw_default();
  r.key_len = 0;
  cr_assert_eq(decode_raw(&r), PC_ERR_INVALID);
}

Test(tx, long_key_rejected) {
  raw_t r = raw_default();
  r.key_len = PC_TX_KEY_MAX + 1;
  cr_assert_eq(decode_raw(&r), PC_ERR_TOO_LARGE);
}

Test(tx, rejections_counted) {
  uint64_t before = pc_reject_count(PC_DEC_TX, 1);
  raw_t r = raw_default();
  r.version = 3;
  decode_raw(&r);
  r = raw_default();
  r.declared = 7;
  decode_raw(&r);
  cr_assert_eq(pc_reject_count(PC_DEC_TX, 1), before + 2);
}

Test(tx, any_flipped_bit_breaks_it) {
  uint8_t buf[1024], copy[1024];
  int n = build_valid(buf, sizeof buf);
  pc_tx_t tx;
  for (int bit = 0; bit < n * 8; bit++) {
    memcpy(copy, buf, (size_t)n);
    copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    int rc = pc_tx_decode(copy, (size_t)n, &tx);
    if (rc == 0) rc = pc_tx_verify(&tx);
    cr_assert_neq(rc, 0, "bit %d accepted", bit);
  }
}

Test(tx, wrong_sender_key_fails_verify) {
  uint8_t buf[1024];
  int n = build_valid(buf, sizeof buf);
  pc_tx_t tx;
  cr_assert_eq(pc_tx_decode(buf, (size_t)n, &tx), 0);
  tx.sender[0] ^= 1;
  cr_assert_eq(pc_tx_verify(&tx), PC_ERR_SIGNATURE);
}

Test(tx, hash_differs_per_transaction) {
  uint8_t a[256], b[256];
  pc_client_tx_t t = {.chain_id = 1, .contract = "c", .method = "m"};
  pc_hash_t ha, hb;
  int na = pc_client_tx_build(a, sizeof a, &key, &t, &ha);
  t.nonce = 1;
  int nb = pc_client_tx_build(b, sizeof b, &key, &t, &hb);
  cr_assert_gt(na, 0);
  cr_assert_gt(nb, 0);
  cr_assert(!pc_hash_equal(&ha, &hb));
}

Test(tx, encoder_rejects_mismatched_key) {
  uint8_t buf[256];
  pc_tx_t tx;
  memset(&tx, 0, sizeof tx);
  strcpy(tx.contract, "c");
  strcpy(tx.method, "m");
  memcpy(tx.sender, key.pk, 32);
  tx.sender[5] ^= 1;
  cr_assert_eq(pc_tx_encode_signed(buf, sizeof buf, &tx, key.sk), PC_ERR_INVALID);
}

Test(tx, encoder_reports_overflow) {
  uint8_t buf[256];
  pc_client_tx_t t = {.chain_id = 1, .contract = "c", .method = "m"};
  cr_assert_eq(pc_client_tx_build(buf, PC_TX_MIN_SIZE - 1, &key, &t, NULL), PC_ERR_OVERFLOW);
  cr_assert_eq(pc_client_tx_build(buf, PC_TX_MIN_SIZE, &key, &t, NULL), (int)PC_TX_MIN_SIZE);
}

Test(tx, encoder_rejects_bad_fields) {
  uint8_t buf[512];
  pc_client_tx_t t = {.chain_id = 1, .contract = "Bad", .method = "m"};
  cr_assert_eq(pc_client_tx_build(buf, sizeof buf, &key, &t, NULL), PC_ERR_INVALID);
  t.contract = "";
  cr_assert_eq(pc_client_tx_build(buf, sizeof buf, &key, &t, NULL), PC_ERR_INVALID);
  t.contract = "abcdefghijabcdefghijabcdefghijabc";
  cr_assert_eq(pc_client_tx_build(buf, sizeof buf, &key, &t, NULL), PC_ERR_TOO_LARGE);
  t.contract = "c";
  t.args_len = PC_TX_ARGS_MAX + 1;
  t.args = buf;
  cr_assert_eq(pc_client_tx_build(buf, sizeof buf, &key, &t, NULL), PC_ERR_TOO_LARGE);
  t.args_len = 0;
  pc_tx_key_t k0 = {(const uint8_t *)"x", 0};
  t.declared = true;
  t.reads = &k0;
  t.n_reads = 1;
  cr_assert_eq(pc_client_tx_build(buf, sizeof buf, &key, &t, NULL), PC_ERR_INVALID);
  t.n_reads = PC_TX_KEYS_MAX + 1;
  cr_assert_eq(pc_client_tx_build(buf, sizeof buf, &key, &t, NULL), PC_ERR_TOO_LARGE);
}

Test(tx, random_bytes_never_crash) {
  uint64_t seed = pc_test_seed(0x7a11), s = seed;
  uint8_t buf[512], valid[512];
  int n = build_valid(valid, sizeof valid);
  pc_tx_t tx;
  unsigned iters = pc_test_iters(20000);
  unsigned accepted = 0;
  for (unsigned i = 0; i < iters; i++) {
    /* half pure noise, half a valid encoding with a few random bytes changed */
    size_t len = (size_t)n;
    if (i & 1) {
      len = pc_test_rand(&s) % sizeof buf;
      for (size_t j = 0; j < len; j++) buf[j] = (uint8_t)pc_test_rand(&s);
    } else {
      memcpy(buf, valid, len);
      for (int k = 0; k < 3; k++) buf[pc_test_rand(&s) % len] = (uint8_t)pc_test_rand(&s);
    }
    int rc = pc_tx_decode(buf, len, &tx);
    if (rc == 0 && pc_tx_verify(&tx) == 0) accepted++;
  }
  /* a changed byte can restore nothing: only unchanged copies may verify */
  cr_assert_leq(accepted, iters / 2, "seed %#llx", (unsigned long long)seed);
}

Test(tx, key_file_round_trip) {
  char path[] = "/tmp/pc_txkeyXXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  unlink(path);
  cr_assert_eq(pc_client_key_save(&key, path), 0);
  cr_assert_eq(pc_client_key_save(&key, path), PC_ERR_EXISTS);
  pc_client_key_t k2;
  cr_assert_eq(pc_client_key_load(&k2, path), 0);
  cr_assert_eq(memcmp(&k2, &key, sizeof key), 0);
  unlink(path);
  cr_assert_eq(pc_client_key_load(&k2, path), PC_ERR_IO);
}

Test(tx, bad_key_file_rejected) {
  char path[] = "/tmp/pc_txkeyXXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  const char *junk = "pc-ed25519-seed:zz\n";
  cr_assert_eq(write(fd, junk, strlen(junk)), (ssize_t)strlen(junk));
  close(fd);
  pc_client_key_t k2;
  cr_assert_eq(pc_client_key_load(&k2, path), PC_ERR_INVALID);
  unlink(path);
}

Test(tx, generated_keys_differ_and_sign) {
  pc_client_key_t a, b;
  cr_assert_eq(pc_client_key_generate(&a), 0);
  cr_assert_eq(pc_client_key_generate(&b), 0);
  cr_assert_neq(memcmp(a.pk, b.pk, 32), 0);
  uint8_t buf[256];
  pc_client_tx_t t = {.chain_id = 1, .contract = "c", .method = "m"};
  int n = pc_client_tx_build(buf, sizeof buf, &a, &t, NULL);
  pc_tx_t tx;
  cr_assert_eq(pc_tx_decode(buf, (size_t)n, &tx), 0);
  cr_assert_eq(pc_tx_verify(&tx), 0);
}
