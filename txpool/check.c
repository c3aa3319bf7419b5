/* check.c — rejection reason names, the execution-time replay check and the
 * bucket functions (see txpool.h). All pure. */
#include "txpool/txpool.h"

#define TAG_BUCKET "parachain/bucket"

const char *pc_txpool_reason_name(pc_txpool_reason_t r) {
  switch (r) {
  case PC_TXR_BAD_FORMAT: return "bad_format";
  case PC_TXR_BAD_SIGNATURE: return "bad_signature";
  case PC_TXR_WRONG_CHAIN: return "wrong_chain";
  case PC_TXR_EXPIRED: return "expired";
  case PC_TXR_NONCE_USED: return "nonce_used";
  case PC_TXR_TOO_LARGE: return "too_large";
  case PC_TXR_DUPLICATE: return "duplicate";
  case PC_TXR_NONCE_GAP: return "nonce_gap";
  case PC_TXR_SENDER_QUOTA: return "sender_quota";
  case PC_TXR_POOL_FULL: return "pool_full";
  case PC_TXR_BUSY: return "busy";
  default: return "unknown";
  }
}

int pc_txpool_exec_check(const pc_tx_t *tx, uint64_t height, const pc_tx_state_view_t *view) {
  if (view->tx_executed && view->tx_executed(view->ctx, &tx->hash)) return PC_ERR_DUPLICATE;
  if (tx->expiry_height != 0 && tx->expiry_height < height) return PC_ERR_EXPIRED;
  uint64_t next = view->account_nonce ? view->account_nonce(view->ctx, tx->sender) : 0;
  if (tx->nonce != next) return PC_ERR_NONCE;
  return 0;
}

uint32_t pc_txpool_bucket_of(const uint8_t sender[PC_TX_PUBKEY_SIZE], uint32_t n_buckets) {
  pc_hash_t h;
  pc_hash_tagged(&h, TAG_BUCKET, sender, PC_TX_PUBKEY_SIZE);
  return n_buckets ? pc_load_le32(h.b) % n_buckets : 0;
}

uint16_t pc_txpool_bucket_owner(uint64_t epoch, uint32_t bucket, uint16_t n_replicas) {
  if (!n_replicas) return 0;
  return (uint16_t)((bucket % n_replicas + epoch % n_replicas) % n_replicas);
}

uint64_t pc_txpool_epoch_of(uint64_t height, uint32_t interval) {
  return interval && height ? (height - 1) / interval : 0;
}
