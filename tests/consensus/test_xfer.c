/* test_xfer.c — chunked state transfer end to end: a fetcher (pc_xfer_t)
 * talking through encoded messages to servers (pc_xfer_serve) over real
 * snapshot directories, the chunks installed with storage's installer and
 * the state loaded; honest and misbehaving peers. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "consensus/consensus.h"
#include "storage/storage.h"
#include "tests/testutil.h"

#define CHAIN 7
#define N 4
#define H 64
#define TIMEOUT 100000000ull /* 100 ms */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

enum { HONEST = 0, SILENT, CORRUPT_CHUNKS, WRONG_MANIFEST };

typedef struct msg {
  struct msg *next;
  uint16_t from, to;
  size_t len;
  uint8_t data[];
} msg_t;

typedef struct {
  char root[64], src[80], dst[80], other[80];
  pc_xfer_t *x;
  pc_xfer_server_t *srv[N];
  int behaviour[N];
  msg_t *head, *tail;
  pc_snapshot_install_t *in;
  bool done;
  uint64_t now;
  uint32_t chunks_from[N];
  uint8_t *other_man; /* a manifest of another state at the same height */
  size_t other_len;
} net_t;

static net_t net;

static void push(uint16_t from, uint16_t to, const uint8_t *d, size_t len) {
  msg_t *m = malloc(sizeof *m + len);
  cr_assert_not_null(m);
  m->next = NULL;
  m->from = from;
  m->to = to;
  m->len = len;
  memcpy(m->data, d, len);
  if (net.tail) net.tail->next = m;
  else net.head = m;
  net.tail = m;
}

static void on_action(void *ctx, const pc_xfer_action_t *a) {
  (void)ctx;
  switch (a->kind) {
  case PC_XFER_ACT_SEND: push(0, a->to, a->data, a->len); break;
  case PC_XFER_ACT_MANIFEST:
    cr_assert_null(net.in);
    net.in = pc_snapshot_install_begin(net.dst, NULL, a->data, a->len);
    cr_assert_not_null(net.in);
    break;
  case PC_XFER_ACT_CHUNK:
    cr_assert_eq(pc_snapshot_install_chunk(net.in, a->index, a->data, a->len), 0);
    net.chunks_from[a->to]++;
    break;
  case PC_XFER_ACT_DONE: net.done = true; break;
  default: cr_assert_fail("action %u", a->kind);
  }
}

/* serve lets replica `to` answer a request according to its behaviour. */
static void serve(uint16_t to, const uint8_t *req, size_t len) {
  static uint8_t out[PC_XFER_REPLY_MAX];
  size_t n;
  if (net.behaviour[to] == SILENT) return;
  int e = pc_xfer_serve(net.srv[to], 0, req, len, out, sizeof out, &n);
  if (e) return;
  if (net.behaviour[to] == CORRUPT_CHUNKS && out[1] == PC_MSG_CHUNK) out[n - 1] ^= 1;
  if (net.behaviour[to] == WRONG_MANIFEST && out[1] == PC_MSG_MANIFEST) {
    /* Same header and claimed hash, another state's manifest bytes. */
    pc_writer_t w;
    pc_writer_init(&w, out, sizeof out);
    pc_msg_hdr_t h = {.type = PC_MSG_MANIFEST, .sender = to, .chain_id = CHAIN, .height = H};
    pc_msg_xfer_t x = {.total = (uint32_t)net.other_len, .data = net.other_man, .len = net.other_len};
    memcpy(x.manifest.b, req + PC_MSG_HEADER_SIZE, PC_HASH_SIZE);
    pc_msg_xfer_encode(&w, &h, &x);
    n = w.len;
  }
  push(to, 0, out, n);
}

/* run delivers messages and advances time until done or max_ticks. */
static void run(unsigned max_ticks) {
  for (unsigned t = 0; t < max_ticks && !net.done; t++) {
    while (net.head) {
      msg_t *m = net.head;
      net.head = m->next;
      if (!net.head) net.tail = NULL;
      if (m->to == 0) pc_xfer_on_message(net.x, m->from, m->data, m->len, net.now);
      else serve(m->to, m->data, m->len);
      free(m);
      net.now += 1000;
    }
    if (net.done) break;
    uint64_t d = pc_xfer_next_deadline(net.x);
    if (d == UINT64_MAX) break;
    if (d > net.now) net.now = d;
    pc_xfer_on_tick(net.x, net.now);
  }
}

static pc_state_t *make_state(unsigned keys, uint64_t seed) {
  pc_state_t *s = pc_state_new(4);
  cr_assert_not_null(s);
  pc_state_batch_t *b = pc_state_batch_new(s);
  uint64_t rs = seed;
  for (unsigned i = 0; i < keys; i++) {
    char k[32];
    uint8_t v[300];
    int kl = snprintf(k, sizeof k, "acct-%u", i);
    size_t vl = (size_t)(pc_test_rand(&rs) % sizeof v);
    for (size_t j = 0; j < vl; j++) v[j] = (uint8_t)pc_test_rand(&rs);
    cr_assert_eq(pc_state_batch_put(b, k, (size_t)kl, v, vl), 0);
  }
  cr_assert_eq(pc_state_commit(b, NULL), 1);
  cr_assert_eq(pc_state_publish(s, 1), 0);
  return s;
}

static pc_snapshot_manifest_t man;

static void setup(void) {
  pc_log_set_level(PC_LOG_ERROR);
  rcu_register_thread();
  memset(&net, 0, sizeof net);
  snprintf(net.root, sizeof net.root, "/tmp/pc-xfer-XXXXXX");
  cr_assert_not_null(mkdtemp(net.root));
  snprintf(net.src, sizeof net.src, "%s/src", net.root);
  snprintf(net.dst, sizeof net.dst, "%s/dst", net.root);
  snprintf(net.other, sizeof net.other, "%s/other", net.root);
  pc_state_t *s = make_state(3000, 42), *o = make_state(2000, 43);
  rcu_read_lock();
  cr_assert_eq(pc_snapshot_write(pc_state_current(s), H, net.src, NULL, &man), 0);
  cr_assert_eq(pc_snapshot_write(pc_state_current(o), H, net.other, NULL, NULL), 0);
  rcu_read_unlock();
  pc_state_free(s);
  pc_state_free(o);
  cr_assert_geq(man.chunks, 4, "want several chunks, got %u", man.chunks);
  cr_assert_eq(pc_snapshot_manifest_raw(net.other, H, NULL, &net.other_man, &net.other_len, NULL), 0);
  for (uint16_t i = 1; i < N; i++) {
    net.srv[i] = pc_xfer_server_new(CHAIN, N, i, net.src, NULL);
    cr_assert_not_null(net.srv[i]);
  }
  pc_xfer_config_t c = {.chain_id = CHAIN, .n = N, .my_id = 0, .window = 3, .timeout_ns = TIMEOUT,
                        .action = on_action};
  net.x = pc_xfer_new(&c);
  cr_assert_not_null(net.x);
  net.now = 1000000;
}

static void teardown(void) {
  while (net.head) {
    msg_t *m = net.head;
    net.head = m->next;
    free(m);
  }
  pc_xfer_free(net.x);
  for (int i = 1; i < N; i++) pc_xfer_server_free(net.srv[i]);
  if (net.in) pc_snapshot_install_abort(net.in);
  free(net.other_man);
  pc_snapshot_manifest_free(&man);
  nftw(net.root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  rcu_unregister_thread();
}

TestSuite(xfer, .init = setup, .fini = teardown, .timeout = 120);

/* finish_and_check installs what arrived and compares the loaded root. */
static void finish_and_check(void) {
  cr_assert(net.done, "transfer did not finish");
  cr_assert(!pc_xfer_active(net.x));
  uint64_t h = 0;
  cr_assert_eq(pc_snapshot_install_finish(net.in, &h), 0);
  net.in = NULL;
  cr_assert_eq(h, H);
  pc_state_t *t = pc_state_new(4);
  cr_assert_eq(pc_snapshot_load(t, net.dst, H, NULL, &man.root), 1);
  pc_hash_t r;
  rcu_read_lock();
  pc_state_version_root(pc_state_at(t, 1), &r);
  rcu_read_unlock();
  cr_assert(pc_hash_equal(&r, &man.root));
  pc_state_free(t);
}

Test(xfer, full_transfer_installs_the_certified_state) {
  cr_assert_eq(pc_xfer_start(net.x, H, &man.manifest_hash, net.now), 0);
  cr_assert(pc_xfer_active(net.x));
  run(1000);
  finish_and_check();
  pc_xfer_stats_t st;
  pc_xfer_get_stats(net.x, &st);
  cr_assert_eq(st.chunks, man.chunks);
  cr_assert_eq(st.received, man.chunks);
  cr_assert_eq(st.timeouts, 0);
  cr_assert_eq(st.bad_replies, 0);
  cr_assert_eq(st.requests, man.chunks + 1);
  /* Spread over the peers. */
  for (int i = 1; i < N; i++) cr_assert_gt(net.chunks_from[i], 0, "peer %d", i);
}

Test(xfer, peer_sending_corrupt_chunks_is_excluded) {
  net.behaviour[1] = CORRUPT_CHUNKS;
  uint64_t before = pc_reject_count(PC_DEC_CONSENSUS, PC_ERR_CHECKSUM);
  pc_xfer_start(net.x, H, &man.manifest_hash, net.now);
  run(1000);
  finish_and_check();
  pc_xfer_stats_t st;
  pc_xfer_get_stats(net.x, &st);
  cr_assert_eq(net.chunks_from[1], 0);
  cr_assert_eq(st.excluded, 1);
  cr_assert_eq(st.bad_replies, 1);
  cr_assert_eq(pc_reject_count(PC_DEC_CONSENSUS, PC_ERR_CHECKSUM), before + 1);
}

Test(xfer, manifest_not_matching_the_certified_hash_is_refused) {
  net.behaviour[1] = WRONG_MANIFEST; /* asked first: round-robin after my id */
  pc_xfer_start(net.x, H, &man.manifest_hash, net.now);
  run(1000);
  finish_and_check();
  pc_xfer_stats_t st;
  pc_xfer_get_stats(net.x, &st);
  cr_assert_eq(st.bad_replies, 1);
  cr_assert_eq(st.excluded, 1);
  cr_assert_eq(net.chunks_from[1], 0);
}

Test(xfer, silent_peer_is_skipped_after_its_timeout) {
  net.behaviour[1] = SILENT;
  uint64_t t0 = net.now;
  pc_xfer_start(net.x, H, &man.manifest_hash, net.now);
  cr_assert_eq(pc_xfer_next_deadline(net.x), t0 + TIMEOUT);
  run(1000);
  finish_and_check();
  pc_xfer_stats_t st;
  pc_xfer_get_stats(net.x, &st);
  cr_assert_geq(st.timeouts, 1);
  cr_assert_eq(st.excluded, 0); /* slow is not lying */
  cr_assert_eq(net.chunks_from[1], 0);
}

Test(xfer, no_honest_peer_means_no_progress_but_retries) {
  for (int i = 1; i < N; i++) net.behaviour[i] = SILENT;
  pc_xfer_start(net.x, H, &man.manifest_hash, net.now);
  run(50);
  cr_assert(!net.done);
  cr_assert(pc_xfer_active(net.x));
  pc_xfer_stats_t st;
  pc_xfer_get_stats(net.x, &st);
  cr_assert_geq(st.timeouts, 10);
  cr_assert_neq(pc_xfer_next_deadline(net.x), UINT64_MAX);
}

Test(xfer, unsolicited_and_stale_replies_change_nothing) {
  static uint8_t out[PC_XFER_REPLY_MAX], req[128];
  size_t n, rl;
  pc_writer_t w;
  /* A chunk nobody asked for (no transfer running). */
  pc_writer_init(&w, req, sizeof req);
  pc_msg_hdr_t h = {.type = PC_MSG_CHUNK_REQ, .sender = 0, .chain_id = CHAIN, .height = H};
  pc_msg_xfer_t q = {.manifest = man.manifest_hash, .index = 0};
  pc_msg_xfer_encode(&w, &h, &q);
  rl = w.len;
  cr_assert_eq(pc_xfer_serve(net.srv[2], 0, req, rl, out, sizeof out, &n), 0);
  cr_assert_eq(pc_xfer_on_message(net.x, 2, out, n, net.now), PC_ERR_STATE);
  /* During the manifest phase: a chunk is not what was asked. */
  pc_xfer_start(net.x, H, &man.manifest_hash, net.now);
  cr_assert_eq(pc_xfer_on_message(net.x, 2, out, n, net.now), PC_ERR_STATE);
  /* A reply from the wrong sender id is refused by the envelope. */
  cr_assert_eq(pc_xfer_on_message(net.x, 3, out, n, net.now), PC_ERR_RANGE);
  /* A request type is not a reply. */
  cr_assert_eq(pc_xfer_on_message(net.x, 0, req, rl, net.now), PC_ERR_INVALID);
  pc_xfer_stats_t st;
  pc_xfer_get_stats(net.x, &st);
  cr_assert_eq(st.stale, 1);
  cr_assert_eq(st.rejected, 2);
  run(1000);
  finish_and_check();
}

Test(xfer, server_answers_only_for_the_certified_manifest) {
  static uint8_t out[PC_XFER_REPLY_MAX], req[128];
  size_t n;
  pc_writer_t w;
  pc_msg_hdr_t h = {.type = PC_MSG_MANIFEST_REQ, .sender = 0, .chain_id = CHAIN, .height = H};
  pc_msg_xfer_t q = {.manifest = man.manifest_hash};
  q.manifest.b[0] ^= 1;
  pc_writer_init(&w, req, sizeof req);
  pc_msg_xfer_encode(&w, &h, &q);
  cr_assert_eq(pc_xfer_serve(net.srv[1], 0, req, w.len, out, sizeof out, &n), PC_ERR_NOT_FOUND);
  q.manifest = man.manifest_hash;
  h.height = H + 1; /* no snapshot there */
  pc_writer_init(&w, req, sizeof req);
  pc_msg_xfer_encode(&w, &h, &q);
  cr_assert_eq(pc_xfer_serve(net.srv[1], 0, req, w.len, out, sizeof out, &n), PC_ERR_NOT_FOUND);
  h.height = H;
  h.type = PC_MSG_CHUNK_REQ;
  q.index = man.chunks;
  pc_writer_init(&w, req, sizeof req);
  pc_msg_xfer_encode(&w, &h, &q);
  cr_assert_eq(pc_xfer_serve(net.srv[1], 0, req, w.len, out, sizeof out, &n), PC_ERR_RANGE);
  q.index = 0;
  pc_writer_init(&w, req, sizeof req);
  pc_msg_xfer_encode(&w, &h, &q);
  cr_assert_eq(pc_xfer_serve(net.srv[1], 0, req, w.len, out, sizeof out, &n), 0);
  cr_assert_eq(out[1], PC_MSG_CHUNK);
  cr_assert_eq(pc_load_le16(out + 2), 1); /* sender = the server's id */
  /* A reply is not a request. */
  cr_assert_eq(pc_xfer_serve(net.srv[1], 2, out, n, out, sizeof out, &n), PC_ERR_RANGE);
}

/* A manifest above one part (1 MiB): built by hand (40000 chunk hashes), its
 * parts served by a scripted peer; the fetcher assembles both parts from
 * that one peer and checks the whole against the certified hash. */
static uint8_t *big_manifest(size_t *len, pc_hash_t *hash) {
  uint32_t chunks = 40000;
  size_t n = 76 + (size_t)chunks * 32 + 4;
  uint8_t *b = calloc(1, n);
  cr_assert_not_null(b);
  memcpy(b, "PCMANI01", 8);
  pc_store_le32(b + 8, 1);
  pc_store_le32(b + 12, 65536);
  pc_store_le64(b + 16, H);
  pc_store_le64(b + 56, 123);
  pc_store_le64(b + 64, (uint64_t)chunks * 65536);
  pc_store_le32(b + 72, chunks);
  for (size_t i = 76; i < n - 4; i++) b[i] = (uint8_t)(i * 131);
  pc_store_le32(b + n - 4, pc_crc32c(0, b, n - 4));
  pc_hash_tagged(hash, "parachain/snapshot/manifest", b, n);
  *len = n;
  return b;
}

static size_t manifest_part(uint8_t *out, size_t cap, uint16_t from, const pc_hash_t *want, const uint8_t *man,
                            size_t total, uint32_t off, uint32_t claimed_total) {
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  pc_msg_hdr_t h = {.type = PC_MSG_MANIFEST, .sender = from, .chain_id = CHAIN, .height = H};
  size_t len = total - off < PC_XFER_PART_MAX ? total - off : PC_XFER_PART_MAX;
  pc_msg_xfer_t x = {.manifest = *want, .total = claimed_total, .index = off, .data = man + off, .len = len};
  pc_msg_xfer_encode(&w, &h, &x);
  return w.len;
}

Test(xfer, manifest_in_parts_from_one_peer) {
  size_t total;
  pc_hash_t want;
  uint8_t *man = big_manifest(&total, &want);
  cr_assert_gt(total, PC_XFER_PART_MAX);
  static uint8_t out[PC_XFER_REPLY_MAX];
  pc_xfer_start(net.x, H, &want, net.now);
  /* the first request went to peer 1, offset 0 */
  cr_assert_not_null(net.head);
  cr_assert_eq(net.head->to, 1);
  size_t n = manifest_part(out, sizeof out, 1, &want, man, total, 0, (uint32_t)total);
  while (net.head) {
    msg_t *m = net.head;
    net.head = m->next;
    free(m);
  }
  net.tail = NULL;
  cr_assert_eq(pc_xfer_on_message(net.x, 1, out, n, net.now), 0);
  /* the second part is asked of the same peer at the next offset */
  cr_assert_not_null(net.head);
  cr_assert_eq(net.head->to, 1);
  cr_assert_eq(pc_load_le32(net.head->data + PC_MSG_HEADER_SIZE + PC_HASH_SIZE), PC_XFER_PART_MAX);
  /* the same part again, or one from another peer, is not what was asked */
  cr_assert_eq(pc_xfer_on_message(net.x, 1, out, n, net.now), PC_ERR_STATE);
  n = manifest_part(out, sizeof out, 2, &want, man, total, PC_XFER_PART_MAX, (uint32_t)total);
  cr_assert_eq(pc_xfer_on_message(net.x, 2, out, n, net.now), PC_ERR_STATE);
  n = manifest_part(out, sizeof out, 1, &want, man, total, PC_XFER_PART_MAX, (uint32_t)total);
  cr_assert_null(net.in);
  /* MANIFEST action: begin an install of a 40000-chunk snapshot (not filled here) */
  cr_assert_eq(pc_xfer_on_message(net.x, 1, out, n, net.now), 0);
  cr_assert_not_null(net.in);
  pc_xfer_stats_t st;
  pc_xfer_get_stats(net.x, &st);
  cr_assert_eq(st.chunks, 40000);
  cr_assert_eq(st.requests, 2 + 3); /* two manifest parts, then a window of 3 chunks */
  free(man);
}

Test(xfer, manifest_part_with_a_changed_total_excludes_the_peer) {
  size_t total;
  pc_hash_t want;
  uint8_t *man = big_manifest(&total, &want);
  static uint8_t out[PC_XFER_REPLY_MAX];
  pc_xfer_start(net.x, H, &want, net.now);
  size_t n = manifest_part(out, sizeof out, 1, &want, man, total, 0, (uint32_t)total);
  cr_assert_eq(pc_xfer_on_message(net.x, 1, out, n, net.now), 0);
  n = manifest_part(out, sizeof out, 1, &want, man, total, PC_XFER_PART_MAX, (uint32_t)total + 32);
  cr_assert_eq(pc_xfer_on_message(net.x, 1, out, n, net.now), PC_ERR_INVALID);
  pc_xfer_stats_t st;
  pc_xfer_get_stats(net.x, &st);
  cr_assert_eq(st.excluded, 1);
  /* the manifest is asked again, from offset 0, of the next peer */
  cr_assert_not_null(net.tail);
  cr_assert_eq(net.tail->to, 2);
  cr_assert_eq(pc_load_le32(net.tail->data + PC_MSG_HEADER_SIZE + PC_HASH_SIZE), 0);
  free(man);
}

Test(xfer, first_part_whose_total_contradicts_its_chunk_count_excludes_the_peer) {
  size_t total;
  pc_hash_t want;
  uint8_t *man = big_manifest(&total, &want);
  static uint8_t out[PC_XFER_REPLY_MAX];
  pc_xfer_start(net.x, H, &want, net.now);
  size_t n = manifest_part(out, sizeof out, 1, &want, man, total, 0, (uint32_t)total + 32);
  cr_assert_eq(pc_xfer_on_message(net.x, 1, out, n, net.now), PC_ERR_INVALID);
  pc_xfer_stats_t st;
  pc_xfer_get_stats(net.x, &st);
  cr_assert_eq(st.excluded, 1);
  cr_assert_eq(net.tail->to, 2);
  free(man);
}
