/* fuzz_msg.c — libFuzzer target for the consensus message decoders: the
 * shared envelope and bodies, and a live SBFT instance (n = 4) fed the
 * input as a message from replica 1, and a state-transfer fetcher in its
 * manifest phase fed the input as a reply. The signer accepts every signature so
 * the fuzzer reaches the code behind the checks; nothing may crash, leak or
 * trip a sanitizer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/consensus.h"

static void sign_any(void *c, const uint8_t *m, size_t l, uint8_t sig[PC_SIG_SIZE]) {
  (void)c, (void)m, (void)l;
  memset(sig, 0, PC_SIG_SIZE);
}
static int verify_any(void *c, uint16_t s, const uint8_t *m, size_t l, const uint8_t *sig) {
  (void)c, (void)s, (void)m, (void)l, (void)sig;
  return 0;
}
static void drop(void *c, const pc_cons_action_t *a) { (void)c, (void)a; }
static void xdrop(void *c, const pc_xfer_action_t *a) { (void)c, (void)a; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_cert_t cert;
  pc_reader_t r;
  pc_msg_hdr_t h;
  if (pc_msg_get_header(&r, data, size, 7, 4, PC_MSG_ANY_SENDER, &h) == 0) {
    pc_reader_t r2 = r;
    pc_msg_decision_t d = {.cert = &cert};
    (void)pc_msg_decision_decode(&r2, &h, &d);
    r2 = r;
    pc_block_t b;
    const uint8_t *batch;
    size_t bl;
    (void)pc_msg_block_decode(&r2, &h, &b, &batch, &bl);
    r2 = r;
    pc_hash_t id;
    (void)pc_msg_block_req_decode(&r2, &id);
    r2 = r;
    pc_msg_xfer_t x;
    (void)pc_msg_xfer_decode(&r2, &h, &x);
  }
  {
    pc_xfer_config_t xc = {.chain_id = 7, .n = 4, .my_id = 0, .window = 4, .action = xdrop};
    pc_xfer_t *x = pc_xfer_new(&xc);
    if (x) {
      pc_hash_t want;
      memset(want.b, 0x5a, sizeof want.b);
      pc_xfer_start(x, 64, &want, 1);
      for (uint16_t from = 1; from < 4; from++) pc_xfer_on_message(x, from, data, size, 2);
      pc_xfer_on_tick(x, 5000000000ull);
      pc_xfer_free(x);
    }
  }
  pc_consensus_config_t cfg;
  pc_consensus_config_defaults(&cfg, 4, 1, 0);
  cfg.chain_id = 7;
  cfg.window = 2;
  cfg.signer = (pc_signer_t){.sign = sign_any, .verify = verify_any};
  pc_consensus_io_t io = {.action = drop};
  pc_consensus_t *c = pc_consensus_create(&cfg, &io);
  if (!c) return 0;
  pc_consensus_start(c, 1);
  uint16_t from = size >= 4 ? (uint16_t)(pc_load_le16(data + 2) % 4) : 1;
  pc_consensus_on_message(c, from, data, size);
  pc_consensus_on_message(c, from, data, size); /* duplicates too */
  pc_consensus_on_tick(c, 1000000000);
  pc_consensus_destroy(c);
  return 0;
}
