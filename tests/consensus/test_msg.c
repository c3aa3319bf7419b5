/* test_msg.c — the consensus envelope, shared message bodies, signer
 * helpers and config checks: round trips and every rejection path. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "consensus/consensus.h"
#include "consensus/sbft_private.h"

#define CHAIN 7

static pc_msg_hdr_t H(uint8_t type, uint16_t sender, uint64_t h, uint32_t r) {
  return (pc_msg_hdr_t){.type = type, .sender = sender, .chain_id = CHAIN, .height = h, .round = r};
}

static size_t enc_hdr(uint8_t *buf, size_t cap, pc_msg_hdr_t h) {
  pc_writer_t w;
  pc_writer_init(&w, buf, cap);
  pc_msg_put_header(&w, &h);
  return w.len;
}

static int dec_hdr(const uint8_t *buf, size_t len, uint16_t from, pc_msg_hdr_t *out) {
  pc_reader_t r;
  return pc_msg_get_header(&r, buf, len, CHAIN, 4, from, out);
}

Test(msg, header_round_trip) {
  uint8_t b[64];
  size_t n = enc_hdr(b, sizeof b, H(PC_MSG_SBFT_PREPARE, 2, 9, 3));
  cr_assert_eq(n, PC_MSG_HEADER_SIZE);
  pc_msg_hdr_t h;
  cr_assert_eq(dec_hdr(b, n, 2, &h), 0);
  cr_assert_eq(h.type, PC_MSG_SBFT_PREPARE);
  cr_assert_eq(h.sender, 2);
  cr_assert_eq(h.height, 9);
  cr_assert_eq(h.round, 3);
}

Test(msg, header_rejects_truncated) {
  uint8_t b[64];
  size_t n = enc_hdr(b, sizeof b, H(PC_MSG_SBFT_PREPARE, 2, 9, 3));
  pc_msg_hdr_t h;
  uint64_t before = pc_reject_count(PC_DEC_CONSENSUS, 1);
  for (size_t k = 0; k < n; k++) cr_assert_eq(dec_hdr(b, k, 2, &h), PC_ERR_TRUNCATED, "len %zu", k);
  cr_assert_eq(pc_reject_count(PC_DEC_CONSENSUS, 1), before + n);
}

Test(msg, header_rejects_oversized) {
  uint8_t b[64];
  enc_hdr(b, sizeof b, H(PC_MSG_SBFT_PREPARE, 2, 9, 3));
  pc_msg_hdr_t h;
  cr_assert_eq(dec_hdr(b, (size_t)PC_MSG_MAX + 1, 2, &h), PC_ERR_TOO_LARGE);
}

Test(msg, header_rejects_wrong_version) {
  uint8_t b[64];
  size_t n = enc_hdr(b, sizeof b, H(PC_MSG_SBFT_PREPARE, 2, 9, 3));
  b[0] = 2;
  pc_msg_hdr_t h;
  cr_assert_eq(dec_hdr(b, n, 2, &h), PC_ERR_VERSION);
}

Test(msg, header_rejects_unknown_type) {
  uint8_t b[64];
  pc_msg_hdr_t h;
  const uint8_t bad[] = {0x00, 0x09, 0x1f, 0x60, 0xff};
  for (size_t i = 0; i < sizeof bad; i++) {
    size_t n = enc_hdr(b, sizeof b, H(bad[i], 2, 9, 3));
    cr_assert_eq(dec_hdr(b, n, 2, &h), PC_ERR_INVALID, "type %#x", bad[i]);
  }
}

Test(msg, header_rejects_wrong_chain) {
  uint8_t b[64];
  pc_msg_hdr_t hh = H(PC_MSG_SBFT_PREPARE, 2, 9, 3);
  hh.chain_id = CHAIN + 1;
  size_t n = enc_hdr(b, sizeof b, hh);
  pc_msg_hdr_t h;
  cr_assert_eq(dec_hdr(b, n, 2, &h), PC_ERR_CHAIN);
}

Test(msg, header_rejects_sender_not_peer_or_out_of_range) {
  uint8_t b[64];
  pc_msg_hdr_t h;
  size_t n = enc_hdr(b, sizeof b, H(PC_MSG_SBFT_PREPARE, 2, 9, 3));
  cr_assert_eq(dec_hdr(b, n, 1, &h), PC_ERR_RANGE);
  n = enc_hdr(b, sizeof b, H(PC_MSG_SBFT_PREPARE, 4, 9, 3));
  cr_assert_eq(dec_hdr(b, n, 4, &h), PC_ERR_RANGE);
  cr_assert_eq(dec_hdr(b, n, PC_MSG_ANY_SENDER, &h), PC_ERR_RANGE);
}

Test(msg, header_rejects_height_zero) {
  uint8_t b[64];
  size_t n = enc_hdr(b, sizeof b, H(PC_MSG_SBFT_PREPARE, 2, 0, 3));
  pc_msg_hdr_t h;
  cr_assert_eq(dec_hdr(b, n, 2, &h), PC_ERR_RANGE);
}

/* --- signer helpers --- */

typedef struct {
  uint8_t pk[4][PC_PUBKEY_SIZE];
  uint8_t sk[4][PC_SECKEY_SIZE];
  pc_ed25519_signer_t st[4];
  pc_signer_t s[4];
} keys_t;

static void make_keys(keys_t *k) {
  cr_assert_eq(pc_crypto_init(), 0);
  for (int i = 0; i < 4; i++) {
    uint8_t seed[32] = {(uint8_t)i, 1, 2, 3};
    crypto_sign_seed_keypair(k->pk[i], k->sk[i], seed);
  }
  for (int i = 0; i < 4; i++) k->s[i] = pc_signer_ed25519(&k->st[i], k->sk[i], (const uint8_t(*)[PC_PUBKEY_SIZE])k->pk, 4);
}

Test(msg, trailing_signature_verifies_and_detects_tampering) {
  keys_t k;
  make_keys(&k);
  uint8_t b[256];
  pc_writer_t w;
  pc_writer_init(&w, b, sizeof b);
  pc_msg_hdr_t h = H(PC_MSG_SBFT_ROUND_CHANGE, 1, 3, 1);
  pc_msg_put_header(&w, &h);
  pc_put_u8(&w, 0);
  pc_msg_sign_finish(&w, &k.s[1]);
  cr_assert_eq(pc_writer_finish(&w), 0);
  cr_assert_eq(pc_msg_verify_trailing(&k.s[0], 1, b, w.len), 0);
  cr_assert_eq(pc_msg_verify_trailing(&k.s[0], 2, b, w.len), PC_ERR_SIGNATURE, "another signer's key");
  b[10] ^= 1;
  cr_assert_eq(pc_msg_verify_trailing(&k.s[0], 1, b, w.len), PC_ERR_SIGNATURE, "tampered body");
  cr_assert_eq(pc_msg_verify_trailing(&k.s[0], 1, b, 40), PC_ERR_TRUNCATED);
}

Test(msg, signer_vote_matches_pc_vote_sign) {
  keys_t k;
  make_keys(&k);
  pc_hash_t d;
  pc_hash_blake2b(&d, "x", 1);
  uint8_t a[64], b[64];
  pc_signer_vote_sign(&k.s[2], a, CHAIN, PC_PROTO_SBFT, PC_PHASE_PREPARE, 5, 1, &d);
  pc_vote_sign(b, k.sk[2], CHAIN, PC_PROTO_SBFT, PC_PHASE_PREPARE, 5, 1, &d);
  cr_assert_arr_eq(a, b, 64);
  cr_assert_eq(pc_vote_verify(a, k.pk[2], CHAIN, PC_PROTO_SBFT, PC_PHASE_PREPARE, 5, 1, &d), 0);
  cr_assert_eq(pc_signer_vote_verify(&k.s[0], 2, a, CHAIN, PC_PROTO_SBFT, PC_PHASE_COMMIT, 5, 1, &d), PC_ERR_SIGNATURE,
               "the phase is signed");
}

static void make_cert(keys_t *k, pc_cert_t *c, uint8_t kind, unsigned signers, const pc_hash_t *d) {
  pc_cert_init(c, PC_PROTO_SBFT, kind, CHAIN, 5, 0, d, 4);
  for (unsigned i = 0; i < signers; i++) {
    uint8_t sig[64];
    pc_signer_vote_sign(&k->s[i], sig, CHAIN, PC_PROTO_SBFT, pc_cert_phase(kind), 5, 0, d);
    pc_cert_add(c, (uint16_t)i, sig);
  }
}

Test(msg, cert_verify_counts_and_rejects) {
  keys_t k;
  make_keys(&k);
  pc_hash_t d;
  pc_hash_blake2b(&d, "blk", 3);
  static pc_cert_t c;
  make_cert(&k, &c, PC_CERT_PREPARE, 3, &d);
  uint64_t v = 0;
  cr_assert_eq(pc_signer_cert_verify(&k.s[0], &c, CHAIN, 4, 3, &v), 0);
  cr_assert_eq(v, 3);
  cr_assert_eq(pc_signer_cert_verify(&k.s[0], &c, CHAIN, 4, 4, NULL), PC_ERR_QUORUM);
  cr_assert_eq(pc_signer_cert_verify(&k.s[0], &c, CHAIN + 1, 4, 3, NULL), PC_ERR_CHAIN);
  cr_assert_eq(pc_signer_cert_verify(&k.s[0], &c, CHAIN, 5, 3, NULL), PC_ERR_RANGE);
  c.sigs[1][0] ^= 1;
  cr_assert_eq(pc_signer_cert_verify(&k.s[0], &c, CHAIN, 4, 3, NULL), PC_ERR_SIGNATURE);
}

/* --- DECISION --- */

static size_t make_decision(keys_t *k, uint8_t *buf, size_t cap, pc_cert_t *c, uint8_t kind) {
  uint8_t batch[64];
  pc_writer_t bw;
  pc_writer_init(&bw, batch, sizeof batch);
  pc_batch_append(&bw, "tx-one", 6);
  pc_block_t b = {.chain_id = CHAIN, .height = 5, .creator = 1, .timestamp_us = 99};
  pc_batch_hash(&b.batch_hash, batch, bw.len);
  pc_hash_t id;
  pc_block_id(&b, &id);
  make_cert(k, c, kind, kind == PC_CERT_FAST ? 4 : 3, &id);
  pc_msg_decision_t d = {.block = b, .batch = batch, .batch_len = bw.len, .cert = c};
  pc_writer_t w;
  pc_writer_init(&w, buf, cap);
  pc_msg_hdr_t h = H(0, 0, 5, 0);
  pc_msg_decision_encode(&w, &h, &d);
  cr_assert_eq(pc_writer_finish(&w), 0);
  return w.len;
}

static int decode_decision(const uint8_t *buf, size_t len, pc_cert_t *out) {
  pc_reader_t r;
  pc_msg_hdr_t h;
  int err = pc_msg_get_header(&r, buf, len, CHAIN, 4, 0, &h);
  if (err) return err;
  pc_msg_decision_t d = {.cert = out};
  return pc_msg_decision_decode(&r, &h, &d);
}

Test(msg, decision_round_trip) {
  keys_t k;
  make_keys(&k);
  static pc_cert_t c, c2;
  uint8_t buf[2048];
  size_t n = make_decision(&k, buf, sizeof buf, &c, PC_CERT_COMMIT);
  cr_assert_eq(buf[1], PC_MSG_DECISION);
  cr_assert_eq(decode_decision(buf, n, &c2), 0);
  cr_assert_eq(pc_cert_signers(&c2), 3);
  cr_assert(pc_hash_equal(&c.digest, &c2.digest));
}

Test(msg, decision_rejects_truncation_and_trailing) {
  keys_t k;
  make_keys(&k);
  static pc_cert_t c, c2;
  uint8_t buf[2048];
  size_t n = make_decision(&k, buf, sizeof buf, &c, PC_CERT_FAST);
  for (size_t cut = PC_MSG_HEADER_SIZE; cut < n; cut += 7) cr_assert_neq(decode_decision(buf, cut, &c2), 0, "cut %zu", cut);
  buf[n] = 0;
  cr_assert_eq(decode_decision(buf, n + 1, &c2), PC_ERR_TRAILING);
}

Test(msg, decision_rejects_batch_mismatch) {
  keys_t k;
  make_keys(&k);
  static pc_cert_t c, c2;
  uint8_t buf[2048];
  size_t n = make_decision(&k, buf, sizeof buf, &c, PC_CERT_COMMIT);
  buf[PC_MSG_HEADER_SIZE + PC_BLOCK_SIZE + 4 + 5] ^= 1; /* a byte of the transaction */
  cr_assert_eq(decode_decision(buf, n, &c2), PC_ERR_CHECKSUM);
}

Test(msg, decision_rejects_cert_for_other_block_or_prepare_kind) {
  keys_t k;
  make_keys(&k);
  static pc_cert_t c, c2;
  uint8_t buf[2048];
  size_t n = make_decision(&k, buf, sizeof buf, &c, PC_CERT_PREPARE);
  cr_assert_eq(decode_decision(buf, n, &c2), PC_ERR_INVALID, "a prepare certificate decides nothing");
  n = make_decision(&k, buf, sizeof buf, &c, PC_CERT_COMMIT);
  /* the certificate digest sits after version..round (1+1+1+8+8+4) */
  size_t cert_off = PC_MSG_HEADER_SIZE + PC_BLOCK_SIZE + 4 + 10;
  buf[cert_off + 23] ^= 1;
  cr_assert_eq(decode_decision(buf, n, &c2), PC_ERR_INVALID);
}

Test(msg, decision_rejects_block_of_other_height) {
  keys_t k;
  make_keys(&k);
  static pc_cert_t c, c2;
  uint8_t buf[2048];
  size_t n = make_decision(&k, buf, sizeof buf, &c, PC_CERT_COMMIT);
  pc_store_le64(buf + 12, 6); /* header height 6, block height 5 */
  cr_assert_eq(decode_decision(buf, n, &c2), PC_ERR_RANGE);
}

/* --- BLOCK_REQ / BLOCK --- */

Test(msg, block_req_and_block_round_trip_and_rejects) {
  uint8_t buf[512];
  pc_writer_t w;
  pc_hash_t id, id2;
  pc_hash_blake2b(&id, "id", 2);
  pc_writer_init(&w, buf, sizeof buf);
  pc_msg_hdr_t h = H(0, 1, 5, 0);
  pc_msg_block_req_encode(&w, &h, &id);
  pc_reader_t r;
  pc_msg_hdr_t hd;
  cr_assert_eq(pc_msg_get_header(&r, buf, w.len, CHAIN, 4, 1, &hd), 0);
  cr_assert_eq(hd.type, PC_MSG_BLOCK_REQ);
  cr_assert_eq(pc_msg_block_req_decode(&r, &id2), 0);
  cr_assert(pc_hash_equal(&id, &id2));
  pc_msg_get_header(&r, buf, w.len - 1, CHAIN, 4, 1, &hd);
  cr_assert_eq(pc_msg_block_req_decode(&r, &id2), PC_ERR_TRUNCATED);

  uint8_t batch[32];
  pc_writer_t bw;
  pc_writer_init(&bw, batch, sizeof batch);
  pc_batch_append(&bw, "abc", 3);
  pc_block_t b = {.chain_id = CHAIN, .height = 5, .creator = 1};
  pc_batch_hash(&b.batch_hash, batch, bw.len);
  pc_writer_init(&w, buf, sizeof buf);
  pc_msg_block_encode(&w, &h, &b, batch, bw.len);
  pc_block_t b2;
  const uint8_t *bb;
  size_t bl;
  cr_assert_eq(pc_msg_get_header(&r, buf, w.len, CHAIN, 4, 1, &hd), 0);
  cr_assert_eq(pc_msg_block_decode(&r, &hd, &b2, &bb, &bl), 0);
  cr_assert_eq(bl, bw.len);
  buf[w.len - 1] ^= 1;
  pc_msg_get_header(&r, buf, w.len, CHAIN, 4, 1, &hd);
  cr_assert_eq(pc_msg_block_decode(&r, &hd, &b2, &bb, &bl), PC_ERR_CHECKSUM);
}

/* --- config --- */

static int noop_verify(void *c, uint16_t s, const uint8_t *m, size_t l, const uint8_t *sig) {
  (void)c, (void)s, (void)m, (void)l, (void)sig;
  return 0;
}
static void noop_sign(void *c, const uint8_t *m, size_t l, uint8_t *sig) {
  (void)c, (void)m, (void)l;
  memset(sig, 0, 64);
}

Test(msg, config_check_rejects_unsafe_or_bad) {
  pc_consensus_config_t c;
  pc_consensus_config_defaults(&c, 4, 1, 0);
  cr_assert_eq(pc_consensus_config_check(&c), PC_ERR_CONFIG, "no signer");
  c.signer = (pc_signer_t){.sign = noop_sign, .verify = noop_verify};
  cr_assert_eq(pc_consensus_config_check(&c), 0);
  pc_consensus_config_t b = c;
  b.n = 3;
  cr_assert_eq(pc_consensus_config_check(&b), PC_ERR_CONFIG, "n < 3f+1");
  b = c;
  b.my_id = 4;
  cr_assert_eq(pc_consensus_config_check(&b), PC_ERR_CONFIG);
  b = c;
  b.window = 0;
  cr_assert_eq(pc_consensus_config_check(&b), PC_ERR_CONFIG);
  b = c;
  b.protocol = 9;
  cr_assert_eq(pc_consensus_config_check(&b), PC_ERR_CONFIG);
  b = c;
  b.batch_max_bytes = PC_BATCH_MAX + 1;
  cr_assert_eq(pc_consensus_config_check(&b), PC_ERR_CONFIG);
}

Test(msg, quorum_values) {
  cr_assert_eq(pc_quorum(4, 1), 3);
  cr_assert_eq(pc_quorum(7, 2), 5);
  cr_assert_eq(pc_quorum(10, 3), 7);
  cr_assert_eq(pc_quorum(5, 1), 4); /* ⌈(5+1+1)/2⌉ */
  for (unsigned f = 0; f < 40; f++)
    for (unsigned n = 3 * f + 1; n < 3 * f + 8; n++) {
      unsigned q = pc_quorum(n, f);
      cr_assert(2 * q >= n + f + 1, "quorums intersect in an honest replica (n=%u f=%u)", n, f);
      cr_assert(q <= n - f, "q ≤ n−f: the honest replicas alone form a quorum (n=%u f=%u)", n, f);
    }
}

Test(msg, proposer_is_deterministic_and_spread) {
  unsigned hits[7] = {0};
  for (uint64_t h = 1; h <= 700; h++) {
    uint16_t p = pc_sbft_proposer(h, 0, 7);
    cr_assert_lt(p, 7);
    cr_assert_eq(p, pc_sbft_proposer(h, 0, 7));
    hits[p]++;
  }
  for (int i = 0; i < 7; i++) cr_assert_gt(hits[i], 50, "replica %d proposes rarely", i);
}

/* ------------------------------------------------------------ state transfer */

static size_t enc_xfer(uint8_t *buf, size_t cap, uint8_t type, uint64_t h, const pc_msg_xfer_t *x) {
  pc_writer_t w;
  pc_writer_init(&w, buf, cap);
  pc_msg_hdr_t hd = H(type, 1, h, 0);
  pc_msg_xfer_encode(&w, &hd, x);
  cr_assert(!w.overflow);
  return w.len;
}

static int dec_xfer(const uint8_t *buf, size_t len, pc_msg_xfer_t *x) {
  pc_reader_t r;
  pc_msg_hdr_t h;
  int e = pc_msg_get_header(&r, buf, len, CHAIN, 4, 1, &h);
  if (e) return e;
  return pc_msg_xfer_decode(&r, &h, x);
}

static pc_msg_xfer_t xfer_fields(uint32_t index, uint32_t total, const uint8_t *data, size_t len) {
  pc_msg_xfer_t x = {.index = index, .total = total, .data = data, .len = len};
  memset(x.manifest.b, 0x5a, PC_HASH_SIZE);
  return x;
}

Test(msg, xfer_round_trips) {
  static uint8_t b[PC_XFER_CHUNK_MAX + 256], data[PC_XFER_CHUNK_MAX];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7);
  const struct {
    uint8_t type;
    uint32_t index, total;
    size_t len;
  } cases[] = {{PC_MSG_MANIFEST_REQ, 0, 0, 0},
               {PC_MSG_MANIFEST_REQ, PC_XFER_MANIFEST_MAX - 1, 0, 0},
               {PC_MSG_MANIFEST, 0, 500, 500},
               {PC_MSG_MANIFEST, 100, 500, 400},
               {PC_MSG_CHUNK_REQ, PC_XFER_CHUNKS_MAX - 1, 0, 0},
               {PC_MSG_CHUNK, 3, 0, PC_XFER_CHUNK_MAX},
               {PC_MSG_CHUNK, 0, 0, 1}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    pc_msg_xfer_t x = xfer_fields(cases[k].index, cases[k].total, data, cases[k].len), y;
    size_t n = enc_xfer(b, sizeof b, cases[k].type, 64, &x);
    cr_assert_eq(dec_xfer(b, n, &y), 0, "case %zu", k);
    cr_assert(pc_hash_equal(&x.manifest, &y.manifest));
    cr_assert_eq(y.index, x.index);
    cr_assert_eq(y.total, cases[k].type == PC_MSG_MANIFEST ? x.total : 0);
    cr_assert_eq(y.len, x.len);
    if (y.len) cr_assert_eq(memcmp(y.data, data, y.len), 0);
    cr_assert(pc_msg_is_xfer(cases[k].type));
  }
  cr_assert(!pc_msg_is_xfer(PC_MSG_DECISION));
  cr_assert(!pc_msg_is_xfer(PC_MSG_BLOCK_REQ));
}

Test(msg, xfer_rejects_truncated_and_trailing) {
  uint8_t b[512], data[100] = {1};
  const uint8_t types[] = {PC_MSG_MANIFEST_REQ, PC_MSG_MANIFEST, PC_MSG_CHUNK_REQ, PC_MSG_CHUNK};
  for (size_t t = 0; t < sizeof types; t++) {
    pc_msg_xfer_t x = xfer_fields(0, 200, data, sizeof data), y;
    size_t n = enc_xfer(b, sizeof b - 1, types[t], 64, &x);
    uint64_t before = pc_reject_count(PC_DEC_CONSENSUS, PC_ERR_TRUNCATED);
    for (size_t k = PC_MSG_HEADER_SIZE; k < n; k++)
      cr_assert_eq(dec_xfer(b, k, &y), PC_ERR_TRUNCATED, "type %#x len %zu", types[t], k);
    cr_assert_eq(pc_reject_count(PC_DEC_CONSENSUS, PC_ERR_TRUNCATED), before + (n - PC_MSG_HEADER_SIZE));
    b[n] = 0;
    cr_assert_eq(dec_xfer(b, n + 1, &y), PC_ERR_TRAILING, "type %#x", types[t]);
  }
}

Test(msg, xfer_rejects_nonzero_round_and_wrong_type) {
  uint8_t b[256];
  pc_msg_xfer_t x = xfer_fields(0, 0, NULL, 0), y;
  size_t n = enc_xfer(b, sizeof b, PC_MSG_CHUNK_REQ, 64, &x);
  pc_store_le32(b + 20, 1); /* round */
  cr_assert_eq(dec_xfer(b, n, &y), PC_ERR_RANGE);
  pc_reader_t r;
  pc_msg_hdr_t h = H(PC_MSG_BLOCK_REQ, 1, 64, 0);
  pc_reader_init(&r, b + PC_MSG_HEADER_SIZE, n - PC_MSG_HEADER_SIZE);
  cr_assert_eq(pc_msg_xfer_decode(&r, &h, &y), PC_ERR_INVALID);
}

Test(msg, xfer_rejects_out_of_range_indexes) {
  uint8_t b[256], data[8] = {0};
  pc_msg_xfer_t y;
  pc_msg_xfer_t x = xfer_fields(PC_XFER_MANIFEST_MAX, 0, NULL, 0);
  size_t n = enc_xfer(b, sizeof b, PC_MSG_MANIFEST_REQ, 64, &x);
  cr_assert_eq(dec_xfer(b, n, &y), PC_ERR_RANGE);
  x = xfer_fields(PC_XFER_CHUNKS_MAX, 0, NULL, 0);
  n = enc_xfer(b, sizeof b, PC_MSG_CHUNK_REQ, 64, &x);
  cr_assert_eq(dec_xfer(b, n, &y), PC_ERR_RANGE);
  x = xfer_fields(PC_XFER_CHUNKS_MAX, 0, data, sizeof data);
  n = enc_xfer(b, sizeof b, PC_MSG_CHUNK, 64, &x);
  cr_assert_eq(dec_xfer(b, n, &y), PC_ERR_RANGE);
}

Test(msg, xfer_rejects_bad_manifest_part_bounds) {
  uint8_t b[512], data[200] = {0};
  pc_msg_xfer_t y;
  const struct {
    uint32_t offset, total;
    size_t len;
  } bad[] = {{0, PC_XFER_MANIFEST_MIN - 1, 8},      /* total below the smallest manifest */
             {0, PC_XFER_MANIFEST_MAX + 1, 8},      /* total above the largest */
             {150, 150, 8},                         /* offset at the end */
             {100, 150, 51},                        /* part runs past the end */
             {0xffffffffu, PC_XFER_MANIFEST_MAX, 8}}; /* offset + length would wrap */
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    pc_msg_xfer_t x = xfer_fields(bad[k].offset, bad[k].total, data, bad[k].len);
    size_t n = enc_xfer(b, sizeof b, PC_MSG_MANIFEST, 64, &x);
    cr_assert_eq(dec_xfer(b, n, &y), PC_ERR_RANGE, "case %zu", k);
  }
}

Test(msg, xfer_rejects_empty_and_oversized_payloads) {
  static uint8_t b[PC_XFER_PART_MAX + 256], data[PC_XFER_PART_MAX + 1];
  pc_msg_xfer_t y;
  pc_msg_xfer_t x = xfer_fields(0, 500, data, 0);
  size_t n = enc_xfer(b, sizeof b, PC_MSG_MANIFEST, 64, &x);
  cr_assert_eq(dec_xfer(b, n, &y), PC_ERR_INVALID);
  x = xfer_fields(1, 0, data, 0);
  n = enc_xfer(b, sizeof b, PC_MSG_CHUNK, 64, &x);
  cr_assert_eq(dec_xfer(b, n, &y), PC_ERR_INVALID);
  x = xfer_fields(1, 0, data, PC_XFER_CHUNK_MAX + 1);
  n = enc_xfer(b, sizeof b, PC_MSG_CHUNK, 64, &x);
  cr_assert_eq(dec_xfer(b, n, &y), PC_ERR_TOO_LARGE);
  x = xfer_fields(0, PC_XFER_MANIFEST_MAX, data, PC_XFER_PART_MAX + 1);
  n = enc_xfer(b, sizeof b, PC_MSG_MANIFEST, 64, &x);
  cr_assert_eq(dec_xfer(b, n, &y), PC_ERR_TOO_LARGE);
}
