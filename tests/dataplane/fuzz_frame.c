/* fuzz_frame.c — libFuzzer target for the frame decoder, the session and
 * sequence rules and reassembly.
 *
 * Input: a sequence of records, each
 *   u8 mode, u16 len (LE), len bytes
 * mode 0: the bytes are a raw frame (ParaChain part) handed to the parser
 *         and to a receiving pc_dp_t as they are (almost always rejected);
 * mode 1: the bytes give header fields (type, frag count/index, seq, ack,
 *         sack, msg_len, epoch choice) followed by a payload, and the
 *         harness seals the frame with the real channel key, so the fuzzer
 *         reaches the channel logic behind the MAC (a faulty key holder);
 * mode 2: raw Ethernet+IPv4+UDP frame to the L2 parser.
 * Invariants checked: no crash, no sanitizer report, every delivered
 * message is at most max_msg bytes. */
#include <stdlib.h>
#include <string.h>

#include "dataplane/dataplane.h"
#include "tests/dataplane/dp_testlib.h"

static size_t delivered;
static void on_msg(void *user, uint16_t peer, const uint8_t *m, size_t len) {
  (void)user, (void)peer;
  if (len > (64u << 10)) abort();
  if (len) delivered += m[0] + m[len - 1]; /* touch both ends */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool init;
  static uint8_t tx01[32], rx01[32];
  static pc_dp_cfg_t cfg;
  if (!init) {
    pc_crypto_init();
    pc_log_set_level(PC_LOG_ERROR);
    tl_cfg(&cfg, PC_DP_KIND_LOOP, 1, 2, 0);
    cfg.window = 8;
    cfg.max_msg = 64u << 10;
    cfg.frame_size = 1472;
    cfg.reasm_timeout_ns = 1;
    uint8_t pk[32], sk0[64];
    tl_key(0, pk, sk0);
    pc_dp_derive_keys(0, sk0, 1, cfg.peers[1].ed25519_pk, tx01, rx01);
    init = true;
  }
  pc_dp_loop_t *loop = pc_dp_loop_create(2, 64);
  cfg.loop = loop;
  pc_dp_t *dp = pc_dp_create(&cfg, on_msg, NULL);
  if (!dp) abort();
  uint64_t my = pc_dp_epoch(dp), peer_epoch = 1000;
  uint8_t frame[PC_DP_MAX_FRAME];
  size_t pos = 0;
  while (pos + 3 <= size) {
    uint8_t mode = data[pos];
    size_t len = pc_load_le16(data + pos + 1);
    pos += 3;
    if (len > size - pos) len = size - pos;
    const uint8_t *b = data + pos;
    pos += len;
    if (mode % 3 == 0) {
      pc_dp_hdr_t h;
      const uint8_t *pl;
      (void)pc_dp_frame_parse(b, len, &h, &pl);
      pc_dp_loop_inject(loop, 0, 1, b, len);
    } else if (mode % 3 == 1) {
      if (len < 24) continue;
      pc_dp_hdr_t h = {0};
      h.type = b[0] % 4; /* 3 is invalid on purpose */
      h.src = b[1] % 3;
      h.dst = 1;
      h.frag_count = (uint16_t)(b[2] % 6);
      h.frag_index = (uint16_t)(b[3] % 6);
      uint8_t ep = b[4];
      if (ep & 1) peer_epoch += ep >> 1; /* a "restart" of the sender */
      h.snd_epoch = (ep & 2) ? peer_epoch - 1 : peer_epoch;
      h.rcv_epoch = (ep & 4) ? 0 : (ep & 8) ? my - 1 : my;
      h.seq = b[5] % 24;
      h.ack = 1 + b[6] % 4;
      h.sack = b[7] | (uint64_t)b[8] << 8;
      h.msg_len = pc_load_le32(b + 9) % (80u << 10);
      size_t plen = PC_MIN(len - 24, sizeof frame - PC_DP_OVERHEAD);
      plen = PC_MIN(plen, (size_t)cfg.frame_size - PC_DP_OVERHEAD);
      h.payload_len = (uint32_t)plen;
      memcpy(frame + PC_DP_HDR_SIZE, b + 24, plen);
      size_t flen = pc_dp_frame_seal(frame, &h, tx01);
      pc_dp_loop_inject(loop, 0, 1, frame, flen);
    } else {
      size_t pc_len;
      (void)pc_dp_l2_parse(b, len, &pc_len, NULL);
    }
    pc_dp_poll(dp, 64);
  }
  pc_dp_housekeeping(dp);
  pc_dp_destroy(dp);
  pc_dp_loop_destroy(loop);
  return 0;
}
