/* Fuzz target: the gateway request decoder (what a hostile client sends)
 * and, on the same bytes, the answer decoder (what a hostile node sends).
 * A request that decodes must re-encode to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "node/gateway/gateway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_gw_request_t q;
  static pc_gw_response_t r;
  static uint8_t out[1 << 20];
  if (pc_gw_request_decode(data, size, 1u << 20, &q) == 0) {
    long n = -1;
    switch (q.type) {
    case PC_GW_REQ_SUBMIT: n = pc_gw_enc_submit(out, sizeof out, q.id, q.txs, q.tx_lens, q.n_txs); break;
    case PC_GW_REQ_WAIT: n = pc_gw_enc_wait(out, sizeof out, q.id, &q.tx_hash, q.timeout_ms); break;
    case PC_GW_REQ_QUERY: n = pc_gw_enc_query(out, sizeof out, q.id, q.height, q.key, q.key_len); break;
    case PC_GW_REQ_STATUS: n = pc_gw_enc_status(out, sizeof out, q.id); break;
    case PC_GW_REQ_FOLLOW: n = pc_gw_enc_follow(out, sizeof out, q.id, q.from_height); break;
    default: abort();
    }
    if (n != (long)size || memcmp(out, data, size) != 0) abort();
  }
  (void)pc_gw_response_decode(data, size, PC_GW_ANSWER_MAX, &r);
  return 0;
}
