/* test_block.c — block, chain hash, batch, proposal and certificate:
 * round trips and every rejection. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/block.h"
#include "tests/testutil.h"

#define N 7
static uint8_t pk[N][PC_PUBKEY_SIZE], sk[N][PC_SECKEY_SIZE];

static void init(void) {
  cr_assert_eq(pc_crypto_init(), 0);
  for (int i = 0; i < N; i++) {
    uint8_t seed[32] = {(uint8_t)(i + 1)};
    crypto_sign_seed_keypair(pk[i], sk[i], seed);
  }
}
TestSuite(block, .init = init);
TestSuite(proposal, .init = init);
TestSuite(cert, .init = init);

static pc_block_t sample_block(void) {
  pc_block_t b;
  memset(&b, 0, sizeof b);
  b.chain_id = 0x1122334455667788ull;
  b.height = 42;
  b.creator = 3;
  b.timestamp_us = 1700000000000000ull;
  memset(b.exec_root.b, 0xe0, 32);
  memset(b.batch_hash.b, 0xba, 32);
  return b;
}

static size_t encode_block(const pc_block_t *b, uint8_t *buf) {
  pc_writer_t w;
  pc_writer_init(&w, buf, PC_BLOCK_SIZE);
  pc_block_encode(&w, b);
  cr_assert_eq(pc_writer_finish(&w), 0);
  return w.len;
}

static int decode_block(const uint8_t *buf, size_t len, pc_block_t *b) {
  pc_reader_t r;
  pc_reader_init(&r, buf, len);
  int e = pc_block_decode(&r, b);
  return e ? e : pc_reader_finish(&r);
}

/* ---------------------------------------------------------------- block */

Test(block, round_trip_and_layout) {
  pc_block_t b = sample_block(), d;
  memset(&d, 0, sizeof d); /* padding, for the memcmp below */
  uint8_t buf[PC_BLOCK_SIZE];
  cr_assert_eq(encode_block(&b, buf), PC_BLOCK_SIZE);
  cr_assert_eq(buf[0], PC_BLOCK_VERSION);
  cr_assert_eq(pc_load_le64(buf + 1), b.chain_id);
  cr_assert_eq(pc_load_le64(buf + 9), 42);
  cr_assert_eq(pc_load_le16(buf + 17), 3);
  cr_assert_eq(pc_load_le64(buf + 19), b.timestamp_us);
  cr_assert_eq(buf[27], 0xe0);
  cr_assert_eq(buf[59], 0xba);
  cr_assert_eq(decode_block(buf, sizeof buf, &d), 0);
  cr_assert_eq(memcmp(&b, &d, sizeof b), 0);
}

Test(block, id_is_tagged_hash_of_encoding) {
  pc_block_t b = sample_block();
  uint8_t buf[PC_BLOCK_SIZE];
  encode_block(&b, buf);
  pc_hash_t id, want;
  pc_block_id(&b, &id);
  pc_hash_tagged(&want, "parachain/block", buf, sizeof buf);
  cr_assert(pc_hash_equal(&id, &want));
}

Test(block, every_field_changes_the_id) {
  pc_block_t b = sample_block(), c;
  pc_hash_t id, other;
  pc_block_id(&b, &id);
  for (int f = 0; f < 6; f++) {
    c = b;
    switch (f) {
      case 0: c.chain_id++; break;
      case 1: c.height++; break;
      case 2: c.creator++; break;
      case 3: c.timestamp_us++; break;
      case 4: c.exec_root.b[31] ^= 1; break;
      default: c.batch_hash.b[0] ^= 1; break;
    }
    pc_block_id(&c, &other);
    cr_assert_not(pc_hash_equal(&id, &other), "field %d", f);
  }
}

Test(block, truncated_at_every_byte) {
  pc_block_t b = sample_block(), d;
  uint8_t buf[PC_BLOCK_SIZE];
  encode_block(&b, buf);
  uint64_t before = pc_reject_count(PC_DEC_BLOCK, PC_ERR_TRUNCATED);
  for (size_t len = 0; len < PC_BLOCK_SIZE; len++)
    cr_assert_eq(decode_block(buf, len, &d), PC_ERR_TRUNCATED, "len %zu", len);
  cr_assert_eq(pc_reject_count(PC_DEC_BLOCK, PC_ERR_TRUNCATED), before + PC_BLOCK_SIZE);
}

Test(block, trailing_byte) {
  pc_block_t b = sample_block(), d;
  uint8_t buf[PC_BLOCK_SIZE + 1] = {0};
  encode_block(&b, buf);
  cr_assert_eq(decode_block(buf, sizeof buf, &d), PC_ERR_TRAILING);
}

Test(block, wrong_version) {
  pc_block_t b = sample_block(), d;
  uint8_t buf[PC_BLOCK_SIZE];
  encode_block(&b, buf);
  uint64_t before = pc_reject_count(PC_DEC_BLOCK, PC_ERR_VERSION);
  buf[0] = 2;
  cr_assert_eq(decode_block(buf, sizeof buf, &d), PC_ERR_VERSION);
  buf[0] = 0;
  cr_assert_eq(decode_block(buf, sizeof buf, &d), PC_ERR_VERSION);
  cr_assert_eq(pc_reject_count(PC_DEC_BLOCK, PC_ERR_VERSION), before + 2);
}

Test(block, height_zero_and_creator_out_of_range) {
  pc_block_t b = sample_block(), d;
  uint8_t buf[PC_BLOCK_SIZE];
  b.height = 0;
  encode_block(&b, buf);
  cr_assert_eq(decode_block(buf, sizeof buf, &d), PC_ERR_RANGE);
  b = sample_block();
  b.creator = PC_MAX_REPLICAS;
  encode_block(&b, buf);
  cr_assert_eq(decode_block(buf, sizeof buf, &d), PC_ERR_RANGE);
  b.creator = PC_MAX_REPLICAS - 1;
  encode_block(&b, buf);
  cr_assert_eq(decode_block(buf, sizeof buf, &d), 0);
}

Test(block, chain_hash_chains) {
  pc_hash_t prev, ch[4], id;
  memset(&prev, 0, sizeof prev);
  for (int h = 1; h <= 3; h++) {
    pc_block_t b = sample_block();
    b.height = (uint64_t)h;
    pc_block_id(&b, &id);
    pc_chain_hash(&ch[h], &id, &prev);
    pc_hash_t want;
    pc_hash_pair(&want, "parachain/chain", &id, &prev);
    cr_assert(pc_hash_equal(&ch[h], &want));
    prev = ch[h];
  }
  cr_assert_not(pc_hash_equal(&ch[1], &ch[2]));
  /* a different block at height 1 changes every later chain hash */
  pc_block_t b1 = sample_block();
  b1.height = 1;
  b1.timestamp_us++;
  pc_hash_t zero, c1, c2;
  memset(&zero, 0, sizeof zero);
  pc_block_id(&b1, &id);
  pc_chain_hash(&c1, &id, &zero);
  pc_block_t b2 = sample_block();
  b2.height = 2;
  pc_block_id(&b2, &id);
  pc_chain_hash(&c2, &id, &c1);
  cr_assert_not(pc_hash_equal(&c2, &ch[2]));
}

/* ---------------------------------------------------------------- batch */

static size_t make_batch(uint8_t *buf, size_t cap, int ntx) {
  pc_writer_t w;
  pc_writer_init(&w, buf, cap);
  for (int i = 0; i < ntx; i++) {
    uint8_t tx[40];
    memset(tx, i + 1, sizeof tx);
    pc_batch_append(&w, tx, (size_t)(10 + i));
  }
  cr_assert_eq(pc_writer_finish(&w), 0);
  return w.len;
}

Test(block, batch_count_and_iterate) {
  uint8_t buf[512];
  size_t len = make_batch(buf, sizeof buf, 5);
  cr_assert_eq(pc_batch_count(buf, len), 5);
  cr_assert_eq(pc_batch_count(buf, 0), 0, "an empty batch is valid");
  size_t pos = 0, n;
  int i = 0;
  const uint8_t *tx;
  while ((tx = pc_batch_next(buf, len, &pos, &n)) != NULL) {
    cr_assert_eq(n, (size_t)(10 + i));
    cr_assert_eq(tx[0], i + 1);
    i++;
  }
  cr_assert_eq(i, 5);
  cr_assert_eq(pos, len);
}

Test(block, batch_framing_errors) {
  uint8_t buf[512];
  size_t len = make_batch(buf, sizeof buf, 3);
  for (size_t cut = 1; cut < len; cut++) {
    int rc = pc_batch_count(buf, cut);
    if (cut != 14 && cut != 14 + 15)
      cr_assert_eq(rc, PC_ERR_TRUNCATED, "cut %zu", cut); /* not at a tx boundary */
  }
  uint8_t empty_tx[8] = {0};
  cr_assert_eq(pc_batch_count(empty_tx, 4), PC_ERR_INVALID, "a zero-length transaction");
  pc_store_le32(buf, UINT32_MAX);
  cr_assert_eq(pc_batch_count(buf, len), PC_ERR_TRUNCATED, "a length past the end");
}

/* ------------------------------------------------------------- proposal */

static uint8_t batch_buf[512];

static size_t make_proposal(uint8_t *out, size_t cap, pc_proposal_t *p) {
  memset(p, 0, sizeof *p);
  p->round = 5;
  p->proposer = 2;
  p->justification = (const uint8_t *)"justify";
  p->justification_len = 7;
  p->block = sample_block();
  p->batch = batch_buf;
  p->batch_len = make_batch(batch_buf, sizeof batch_buf, 3);
  pc_batch_hash(&p->block.batch_hash, p->batch, p->batch_len);
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  pc_proposal_encode(&w, p);
  cr_assert_eq(pc_writer_finish(&w), 0);
  return w.len;
}

Test(proposal, round_trip_views_point_into_buffer) {
  uint8_t buf[1024];
  pc_proposal_t p, d;
  size_t len = make_proposal(buf, sizeof buf, &p);
  memset(&d, 0, sizeof d);
  cr_assert_eq(pc_proposal_decode(buf, len, &d), 0);
  cr_assert_eq(d.round, 5);
  cr_assert_eq(d.proposer, 2);
  cr_assert_eq(d.justification_len, 7);
  cr_assert(d.justification > buf && d.justification < buf + len);
  cr_assert_eq(memcmp(d.justification, "justify", 7), 0);
  cr_assert_eq(memcmp(&d.block, &p.block, sizeof d.block), 0);
  cr_assert_eq(d.batch_len, p.batch_len);
  cr_assert(d.batch > buf && d.batch + d.batch_len == buf + len);
  cr_assert_eq(memcmp(d.batch, p.batch, p.batch_len), 0);
}

Test(proposal, empty_justification_and_batch) {
  uint8_t buf[256];
  pc_proposal_t p, d;
  memset(&p, 0, sizeof p);
  p.block = sample_block();
  pc_batch_hash(&p.block.batch_hash, NULL, 0);
  pc_writer_t w;
  pc_writer_init(&w, buf, sizeof buf);
  pc_proposal_encode(&w, &p);
  cr_assert_eq(pc_proposal_decode(buf, w.len, &d), 0);
  cr_assert_eq(d.justification_len, 0);
  cr_assert_eq(d.batch_len, 0);
}

Test(proposal, truncated_at_every_byte) {
  uint8_t buf[1024];
  pc_proposal_t p, d;
  size_t len = make_proposal(buf, sizeof buf, &p);
  uint64_t before = pc_reject_count(PC_DEC_PROPOSAL, 1);
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *copy = malloc(cut ? cut : 1); /* exact size, so ASan sees any over-read */
    memcpy(copy, buf, cut);
    cr_assert_eq(pc_proposal_decode(copy, cut, &d), PC_ERR_TRUNCATED, "cut %zu", cut);
    free(copy);
  }
  cr_assert_eq(pc_reject_count(PC_DEC_PROPOSAL, 1), before + len);
}

Test(proposal, trailing_byte) {
  uint8_t buf[1024];
  pc_proposal_t p, d;
  size_t len = make_proposal(buf, sizeof buf, &p);
  cr_assert_eq(pc_proposal_decode(buf, len + 1, &d), PC_ERR_TRAILING);
}

Test(proposal, wrong_versions) {
  uint8_t buf[1024];
  pc_proposal_t p, d;
  size_t len = make_proposal(buf, sizeof buf, &p);
  buf[0] = 9;
  cr_assert_eq(pc_proposal_decode(buf, len, &d), PC_ERR_VERSION);
  buf[0] = PC_PROPOSAL_VERSION;
  size_t block_at = 1 + 4 + 2 + 4 + 7;
  buf[block_at] = 9; /* the embedded block's version */
  cr_assert_eq(pc_proposal_decode(buf, len, &d), PC_ERR_VERSION);
}

Test(proposal, bad_batch_hash) {
  uint8_t buf[1024];
  pc_proposal_t p, d;
  size_t len = make_proposal(buf, sizeof buf, &p);
  buf[len - 1] ^= 1; /* last batch byte */
  uint64_t before = pc_reject_count(PC_DEC_PROPOSAL, PC_ERR_CHECKSUM);
  cr_assert_eq(pc_proposal_decode(buf, len, &d), PC_ERR_CHECKSUM);
  cr_assert_eq(pc_reject_count(PC_DEC_PROPOSAL, PC_ERR_CHECKSUM), before + 1);
}

Test(proposal, bad_batch_framing_with_matching_hash) {
  uint8_t buf[256], bad[6] = {9, 0, 0, 0, 1, 2}; /* says 9 bytes, has 2 */
  pc_proposal_t p, d;
  memset(&p, 0, sizeof p);
  p.block = sample_block();
  p.batch = bad;
  p.batch_len = sizeof bad;
  pc_batch_hash(&p.block.batch_hash, bad, sizeof bad);
  pc_writer_t w;
  pc_writer_init(&w, buf, sizeof buf);
  pc_proposal_encode(&w, &p);
  cr_assert_eq(pc_proposal_decode(buf, w.len, &d), PC_ERR_INVALID);
}

Test(proposal, proposer_out_of_range) {
  uint8_t buf[1024];
  pc_proposal_t p, d;
  size_t len = make_proposal(buf, sizeof buf, &p);
  pc_store_le16(buf + 5, PC_MAX_REPLICAS);
  cr_assert_eq(pc_proposal_decode(buf, len, &d), PC_ERR_RANGE);
}

Test(proposal, lengths_above_limits) {
  uint8_t buf[1024];
  pc_proposal_t p, d;
  size_t len = make_proposal(buf, sizeof buf, &p);
  uint8_t saved[4];
  memcpy(saved, buf + 7, 4);
  pc_store_le32(buf + 7, PC_JUSTIFICATION_MAX + 1);
  cr_assert_eq(pc_proposal_decode(buf, len, &d), PC_ERR_TOO_LARGE);
  memcpy(buf + 7, saved, 4);
  size_t batch_len_at = 1 + 4 + 2 + 4 + 7 + PC_BLOCK_SIZE;
  pc_store_le32(buf + batch_len_at, PC_BATCH_MAX + 1);
  cr_assert_eq(pc_proposal_decode(buf, len, &d), PC_ERR_TOO_LARGE);
  pc_store_le32(buf + batch_len_at, UINT32_MAX);
  cr_assert_eq(pc_proposal_decode(buf, len, &d), PC_ERR_TOO_LARGE);
}

/* ---------------------------------------------------------- certificate */

static pc_hash_t digest(void) {
  pc_hash_t h;
  memset(h.b, 0xd1, 32);
  return h;
}

static void sign_cert(pc_cert_t *c, const int *who, int k) {
  for (int j = 0; j < k; j++) {
    uint8_t sig[PC_SIG_SIZE];
    pc_vote_sign(sig, sk[who[j]], c->chain_id, c->protocol, pc_cert_phase(c->kind), c->height, c->round,
                 &c->digest);
    cr_assert_eq(pc_cert_add(c, (uint16_t)who[j], sig), 0);
  }
}

static pc_cert_t *make_cert(uint8_t kind, const int *who, int k) {
  pc_cert_t *c = calloc(1, sizeof *c);
  pc_hash_t d = digest();
  pc_cert_init(c, PC_PROTO_SBFT, kind, 77, 10, 2, &d, N);
  sign_cert(c, who, k);
  return c;
}

static size_t encode_cert(const pc_cert_t *c, uint8_t *buf, size_t cap) {
  pc_writer_t w;
  pc_writer_init(&w, buf, cap);
  pc_cert_encode(&w, c);
  cr_assert_eq(pc_writer_finish(&w), 0);
  cr_assert_eq(w.len, pc_cert_encoded_size(c));
  return w.len;
}

static int decode_cert(const uint8_t *buf, size_t len, pc_cert_t *c) {
  pc_reader_t r;
  pc_reader_init(&r, buf, len);
  int e = pc_cert_decode(&r, c);
  return e ? e : pc_reader_finish(&r);
}

static const int q5[] = {4, 0, 2, 6, 1}; /* out of order on purpose */

Test(cert, add_keeps_replica_order) {
  pc_cert_t *c = make_cert(PC_CERT_COMMIT, q5, 5);
  cr_assert_eq(pc_cert_signers(c), 5);
  cr_assert(pc_cert_has(c, 6) && !pc_cert_has(c, 3) && !pc_cert_has(c, 7));
  cr_assert_eq(pc_cert_verify(c, 77, (const uint8_t(*)[PC_PUBKEY_SIZE])pk, N, 5), 0,
               "signatures sit in replica order whatever the insertion order");
  free(c);
}

Test(cert, add_rejects_out_of_range_and_duplicates) {
  pc_cert_t *c = make_cert(PC_CERT_PREPARE, q5, 1);
  uint8_t sig[PC_SIG_SIZE] = {0};
  cr_assert_eq(pc_cert_add(c, N, sig), PC_ERR_RANGE);
  cr_assert_eq(pc_cert_add(c, 4, sig), PC_ERR_DUPLICATE);
  cr_assert_eq(pc_cert_signers(c), 1);
  free(c);
}

Test(cert, n_above_limit_never_overruns) {
  pc_cert_t *c = calloc(1, sizeof *c);
  pc_hash_t d = digest();
  uint8_t sig[PC_SIG_SIZE] = {0};
  pc_cert_init(c, PC_PROTO_SBFT, PC_CERT_COMMIT, 1, 1, 0, &d, 300); /* caller error */
  cr_assert_eq(pc_cert_add(c, 299, sig), PC_ERR_RANGE);
  cr_assert_eq(pc_cert_add(c, 255, sig), 0);
  cr_assert(pc_cert_has(c, 255));
  cr_assert_not(pc_cert_has(c, 290));
  cr_assert_eq(pc_cert_signers(c), 1);
  free(c);
}

Test(cert, round_trip) {
  pc_cert_t *c = make_cert(PC_CERT_FAST, (const int[]){0, 1, 2, 3, 4, 5, 6}, N), *d = calloc(1, sizeof *d);
  uint8_t buf[1024];
  size_t len = encode_cert(c, buf, sizeof buf);
  cr_assert_eq(len, 1 + 1 + 1 + 8 + 8 + 4 + 32 + 2 + 1 + 7 * 64);
  cr_assert_eq(decode_cert(buf, len, d), 0);
  cr_assert_eq(d->kind, PC_CERT_FAST);
  cr_assert_eq(d->n, N);
  cr_assert_eq(pc_cert_signers(d), N);
  cr_assert_eq(memcmp(d->sigs, c->sigs, N * PC_SIG_SIZE), 0);
  cr_assert_eq(pc_cert_verify(d, 77, (const uint8_t(*)[PC_PUBKEY_SIZE])pk, N, N), 0);
  pc_hash_t a, b;
  pc_cert_id(c, &a);
  pc_cert_id(d, &b);
  cr_assert(pc_hash_equal(&a, &b));
  free(c);
  free(d);
}

Test(cert, truncated_at_every_byte) {
  pc_cert_t *c = make_cert(PC_CERT_COMMIT, q5, 5), *d = calloc(1, sizeof *d);
  uint8_t buf[1024];
  size_t len = encode_cert(c, buf, sizeof buf);
  uint64_t before = pc_reject_count(PC_DEC_CERT, PC_ERR_TRUNCATED);
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *copy = malloc(cut ? cut : 1);
    memcpy(copy, buf, cut);
    cr_assert_eq(decode_cert(copy, cut, d), PC_ERR_TRUNCATED, "cut %zu", cut);
    free(copy);
  }
  cr_assert_eq(pc_reject_count(PC_DEC_CERT, PC_ERR_TRUNCATED), before + len);
  free(c);
  free(d);
}

Test(cert, trailing_byte) {
  pc_cert_t *c = make_cert(PC_CERT_COMMIT, q5, 5), *d = calloc(1, sizeof *d);
  uint8_t buf[1024] = {0};
  size_t len = encode_cert(c, buf, sizeof buf);
  cr_assert_eq(decode_cert(buf, len + 1, d), PC_ERR_TRAILING);
  free(c);
  free(d);
}

/* Offsets in the encoding (see block.h). */
enum { OFF_VERSION = 0, OFF_PROTOCOL = 1, OFF_KIND = 2, OFF_HEIGHT = 11, OFF_N = 55, OFF_BITMAP = 57 };

static int decode_patched(const pc_cert_t *c, size_t off, const void *bytes, size_t n) {
  uint8_t buf[1024];
  size_t len = encode_cert(c, buf, sizeof buf);
  memcpy(buf + off, bytes, n);
  pc_cert_t *d = calloc(1, sizeof *d);
  int rc = decode_cert(buf, len, d);
  free(d);
  return rc;
}

Test(cert, structural_rejections) {
  pc_cert_t *c = make_cert(PC_CERT_COMMIT, q5, 5);
  uint8_t b;
  b = 2;
  cr_assert_eq(decode_patched(c, OFF_VERSION, &b, 1), PC_ERR_VERSION);
  b = 0;
  cr_assert_eq(decode_patched(c, OFF_PROTOCOL, &b, 1), PC_ERR_RANGE, "protocol 0");
  b = 3;
  cr_assert_eq(decode_patched(c, OFF_PROTOCOL, &b, 1), PC_ERR_RANGE, "protocol 3");
  b = 0;
  cr_assert_eq(decode_patched(c, OFF_KIND, &b, 1), PC_ERR_RANGE, "kind 0");
  b = 5;
  cr_assert_eq(decode_patched(c, OFF_KIND, &b, 1), PC_ERR_RANGE, "kind 5");
  uint8_t zero8[8] = {0};
  cr_assert_eq(decode_patched(c, OFF_HEIGHT, zero8, 8), PC_ERR_RANGE, "height 0");
  uint8_t n0[2] = {0, 0}, n257[2] = {1, 1};
  cr_assert_eq(decode_patched(c, OFF_N, n0, 2), PC_ERR_RANGE, "n = 0");
  cr_assert_eq(decode_patched(c, OFF_N, n257, 2), PC_ERR_RANGE, "n = 257");
  free(c);
}

Test(cert, bitmap_bits_beyond_n) {
  pc_cert_t *c = make_cert(PC_CERT_COMMIT, q5, 5);
  uint8_t bm = (uint8_t)(c->bitmap[0] | 0x80); /* bit 7, n = 7 */
  uint64_t before = pc_reject_count(PC_DEC_CERT, PC_ERR_INVALID);
  cr_assert_eq(decode_patched(c, OFF_BITMAP, &bm, 1), PC_ERR_INVALID);
  cr_assert_eq(pc_reject_count(PC_DEC_CERT, PC_ERR_INVALID), before + 1);
  free(c);
}

Test(cert, zero_signers) {
  pc_cert_t *c = make_cert(PC_CERT_COMMIT, q5, 5);
  uint8_t bm = 0;
  cr_assert_eq(decode_patched(c, OFF_BITMAP, &bm, 1), PC_ERR_QUORUM);
  free(c);
}

Test(cert, verify_rejects_a_bad_signature) {
  pc_cert_t *c = make_cert(PC_CERT_COMMIT, q5, 5);
  c->sigs[3][10] ^= 1;
  cr_assert_eq(pc_cert_verify(c, 77, (const uint8_t(*)[PC_PUBKEY_SIZE])pk, N, 5), PC_ERR_SIGNATURE);
  free(c);
}

Test(cert, verify_rejects_wrong_chain_and_too_few) {
  pc_cert_t *c = make_cert(PC_CERT_COMMIT, q5, 5);
  const uint8_t(*keys)[PC_PUBKEY_SIZE] = (const uint8_t(*)[PC_PUBKEY_SIZE])pk;
  cr_assert_eq(pc_cert_verify(c, 78, keys, N, 5), PC_ERR_CHAIN);
  cr_assert_eq(pc_cert_verify(c, 77, keys, N, 6), PC_ERR_QUORUM);
  cr_assert_eq(pc_cert_verify(c, 77, keys, N - 1, 5), PC_ERR_RANGE, "bitmap size differs from the key count");
  free(c);
}

Test(cert, signature_for_another_phase_does_not_verify) {
  pc_cert_t *c = make_cert(PC_CERT_PREPARE, q5, 5); /* prepare votes */
  c->kind = PC_CERT_COMMIT;                         /* relabelled as commit */
  cr_assert_eq(pc_cert_verify(c, 77, (const uint8_t(*)[PC_PUBKEY_SIZE])pk, N, 5), PC_ERR_SIGNATURE);
  c->kind = PC_CERT_FAST; /* fast and prepare certificates hold the same prepare votes */
  cr_assert_eq(pc_cert_verify(c, 77, (const uint8_t(*)[PC_PUBKEY_SIZE])pk, N, 5), 0);
  free(c);
}

Test(cert, signature_from_another_signer_does_not_verify) {
  pc_cert_t *c = make_cert(PC_CERT_COMMIT, q5, 2);
  memcpy(c->sigs[1], c->sigs[0], PC_SIG_SIZE); /* replica 4's slot holds replica 0's signature */
  cr_assert_eq(pc_cert_verify(c, 77, (const uint8_t(*)[PC_PUBKEY_SIZE])pk, N, 2), PC_ERR_SIGNATURE);
  free(c);
}

Test(cert, vote_bytes_layout) {
  uint8_t v[PC_VOTE_BYTES_SIZE];
  pc_hash_t d = digest();
  pc_vote_bytes(v, 0x0102030405060708ull, PC_PROTO_PBFT, PC_PHASE_COMMIT, 9, 4, &d);
  cr_assert_eq(memcmp(v, "parachain/vote/v1\0", 18), 0);
  cr_assert_eq(pc_load_le64(v + 18), 0x0102030405060708ull);
  cr_assert_eq(v[26], PC_PROTO_PBFT);
  cr_assert_eq(v[27], PC_PHASE_COMMIT);
  cr_assert_eq(pc_load_le64(v + 28), 9);
  cr_assert_eq(pc_load_le32(v + 36), 4);
  cr_assert_eq(memcmp(v + 40, d.b, 32), 0);
  uint8_t sig[PC_SIG_SIZE];
  pc_vote_sign(sig, sk[0], 1, PC_PROTO_SBFT, PC_PHASE_PREPARE, 9, 4, &d);
  cr_assert_eq(pc_vote_verify(sig, pk[0], 1, PC_PROTO_SBFT, PC_PHASE_PREPARE, 9, 4, &d), 0);
  cr_assert_eq(pc_vote_verify(sig, pk[0], 1, PC_PROTO_PBFT, PC_PHASE_PREPARE, 9, 4, &d), PC_ERR_SIGNATURE);
  cr_assert_eq(pc_vote_verify(sig, pk[0], 1, PC_PROTO_SBFT, PC_PHASE_PREPARE, 9, 5, &d), PC_ERR_SIGNATURE);
  cr_assert_eq(pc_vote_verify(sig, pk[1], 1, PC_PROTO_SBFT, PC_PHASE_PREPARE, 9, 4, &d), PC_ERR_SIGNATURE);
}

Test(cert, phases_of_kinds) {
  cr_assert_eq(pc_cert_phase(PC_CERT_PREPARE), PC_PHASE_PREPARE);
  cr_assert_eq(pc_cert_phase(PC_CERT_FAST), PC_PHASE_PREPARE);
  cr_assert_eq(pc_cert_phase(PC_CERT_COMMIT), PC_PHASE_COMMIT);
  cr_assert_eq(pc_cert_phase(PC_CERT_CHECKPOINT), PC_PHASE_CHECKPOINT);
  cr_assert_eq(pc_cert_phase(0), 0);
  cr_assert_eq(pc_cert_phase(5), 0);
}

Test(cert, id_changes_with_signers) {
  pc_cert_t *a = make_cert(PC_CERT_COMMIT, q5, 4), *b = make_cert(PC_CERT_COMMIT, q5, 5);
  pc_hash_t ia, ib;
  pc_cert_id(a, &ia);
  pc_cert_id(b, &ib);
  cr_assert_not(pc_hash_equal(&ia, &ib));
  free(a);
  free(b);
}

Test(cert, largest_certificate) {
  pc_cert_t *c = calloc(1, sizeof *c), *d = calloc(1, sizeof *d);
  pc_hash_t dg = digest();
  pc_cert_init(c, PC_PROTO_PBFT, PC_CERT_CHECKPOINT, 1, 1, 0, &dg, PC_MAX_REPLICAS);
  uint8_t sig[PC_SIG_SIZE];
  for (int i = PC_MAX_REPLICAS - 1; i >= 0; i--) {
    memset(sig, i, sizeof sig);
    cr_assert_eq(pc_cert_add(c, (uint16_t)i, sig), 0);
  }
  size_t cap = pc_cert_encoded_size(c);
  uint8_t *buf = malloc(cap);
  cr_assert_eq(encode_cert(c, buf, cap), cap);
  cr_assert_eq(decode_cert(buf, cap, d), 0);
  cr_assert_eq(pc_cert_signers(d), PC_MAX_REPLICAS);
  cr_assert_eq(d->sigs[200][0], 200);
  free(buf);
  free(c);
  free(d);
}
