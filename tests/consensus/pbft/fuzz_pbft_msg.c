/* fuzz_pbft_msg.c — libFuzzer target for PBFT's message decoders
 * (pbft_msg.c) and a live PBFT backup (n = 4, replica 2) fed the input as a
 * message from the sender its header names. The signer accepts every
 * signature so the fuzzer reaches the protocol behind the checks; nothing
 * may crash, leak or trip a sanitizer. The first byte picks whether the
 * instance has seen a view change first (bit 0: deeper view-change paths)
 * and whether the message is also fed from a second sender followed by a
 * finished state transfer (bit 1: a STABLE's f+1 and the jump). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/pbft_private.h"

static void sign_any(void *c, const uint8_t *m, size_t l, uint8_t sig[PC_SIG_SIZE]) {
  (void)c, (void)m, (void)l;
  memset(sig, 0, PC_SIG_SIZE);
}
static int verify_any(void *c, uint16_t s, const uint8_t *m, size_t l, const uint8_t *sig) {
  (void)c, (void)s, (void)m, (void)l, (void)sig;
  return 0;
}
static void drop(void *c, const pc_cons_action_t *a) { (void)c, (void)a; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_cert_t c1, c2;
  if (size < 1) return 0;
  uint8_t mode = data[0];
  data++, size--;
  /* the decoders on their own */
  pc_pbft_vc_t vc = {.stable_cert = &c1};
  (void)pc_pbft_vc_decode(data, size, 1, 4, PC_MSG_ANY_SENDER, 3, 14, &vc, &c2);
  pc_pbft_nv_t nv;
  (void)pc_pbft_nv_decode(data, size, 1, 4, PC_MSG_ANY_SENDER, &nv);
  pc_reader_t r;
  pc_msg_hdr_t h;
  if (pc_msg_get_header(&r, data, size, 1, 4, PC_MSG_ANY_SENDER, &h) == 0) {
    pc_reader_t r2 = r;
    pc_pbft_pp_t pp;
    (void)pc_pbft_pp_decode(&r2, &h, 1 << 20, &pp);
    r2 = r;
    pc_hash_t id;
    uint8_t sig[PC_SIG_SIZE];
    (void)pc_pbft_vote_decode(&r2, &id, sig);
    r2 = r;
    pc_pbft_stable_t st = {.cert = &c1};
    (void)pc_pbft_stable_decode(&r2, &h, 4, 3, 4, &st);
  }
  /* a live backup */
  pc_consensus_config_t cfg;
  pc_consensus_config_defaults(&cfg, 4, 1, 2);
  cfg.protocol = PC_PROTO_PBFT;
  cfg.window = 2;
  cfg.checkpoint_interval = 4;
  cfg.signer = (pc_signer_t){.sign = sign_any, .verify = verify_any};
  pc_consensus_io_t io = {.action = drop};
  pc_consensus_t *c = pc_consensus_create(&cfg, &io);
  if (!c) return 0;
  pc_consensus_start(c, 1);
  if (mode & 1) pc_consensus_on_tick(c, 1ull << 40); /* time out: view change to 1 */
  uint16_t from = size > 3 ? (uint16_t)(data[2] % 4) : 0;
  (void)pc_consensus_on_message(c, from, data, size);
  (void)pc_consensus_on_message(c, from, data, size); /* duplicate paths */
  if (mode & 2) {
    /* the same bytes from another sender: a STABLE then makes f+1 (a
     * transfer starts), then the transfer finishes (the jump) */
    uint8_t *m2 = malloc(size);
    if (m2) {
      memcpy(m2, data, size);
      if (size > 3) m2[2] = (uint8_t)((from + 1) % 4), m2[3] = 0;
      (void)pc_consensus_on_message(c, (uint16_t)((from + 1) % 4), m2, size);
      free(m2);
    }
    if (size >= PC_MSG_HEADER_SIZE + 32) {
      pc_hash_t root;
      memcpy(root.b, data + PC_MSG_HEADER_SIZE, 32);
      (void)pc_consensus_on_transfer_done(c, pc_load_le64(data + 12), &root);
      (void)pc_consensus_on_message(c, from, data, size);
    }
  }
  pc_consensus_destroy(c);
  return 0;
}
