/* gwclient.h — the client side of the gateway protocol (node/gateway/
 * gw_codec.c specifies the frames): a blocking connection, requests, and
 * the VERIFICATION of every receipt and query answer against the cluster
 * file alone, so a client need not trust the node it talks to.
 *
 * Used by pc-cli (tools/cli/pc_cli.c), parachain-bench (tools/loadgen) and
 * the gateway tests. A connection is used by one thread at a time.
 */
#ifndef PC_GWCLIENT_H
#define PC_GWCLIENT_H

#include "common/config.h"
#include "node/gateway/gateway.h"

/* What a client trusts: the cluster's chain id, keys, quorum and depth D. */
typedef struct {
  uint64_t chain_id;
  unsigned n;     /* replicas (keys) */
  unsigned q;     /* quorum for COMMIT certificates */
  unsigned depth; /* D: the root of height h is certified in block h + D */
  uint8_t keys[PC_MAX_REPLICAS][PC_PUBKEY_SIZE];
} pc_gw_trust_t;

/* pc_gw_trust_from_cluster copies what verification needs from a parsed
 * cluster file (common/config.h). */
void pc_gw_trust_from_cluster(pc_gw_trust_t *t, const pc_cluster_t *c);

/* pc_gw_verify_certified checks that cb->header is block `height` of the
 * trusted chain with exec_root == *exec_root, and that cb->cert is a
 * decision on it: a COMMIT certificate with ≥ q signers or a FAST one with
 * n, every signature valid (pc_cert_verify). Returns 0, PC_ERR_CHAIN,
 * PC_ERR_RANGE (wrong height), PC_ERR_CHECKSUM (root or digest mismatch),
 * PC_ERR_INVALID (certificate kind), PC_ERR_QUORUM or PC_ERR_SIGNATURE. Pure. */
int pc_gw_verify_certified(const pc_gw_trust_t *t, const pc_gw_certified_t *cb, uint64_t height,
                           const pc_hash_t *exec_root);

/* pc_gw_verify_receipt checks a receipt answer: the receipt decodes
 * (executor.h), its branch leads to a receipts root, H(state root,
 * receipts root) is the exec root certified at height + D. 0 or PC_ERR_*. */
int pc_gw_verify_receipt(const pc_gw_trust_t *t, const pc_gw_receipt_ans_t *a);

/* pc_gw_verify_query checks a query answer for key: the state proof shows
 * key ↦ value (or absence) under the state root, and the exec root built
 * from it is certified at height + D. 0 or PC_ERR_*. */
int pc_gw_verify_query(const pc_gw_trust_t *t, const void *key, size_t klen, const pc_gw_query_ans_t *a);

/* pc_gw_state_key builds the state key of contract key k of contract c
 * (u8 len(c) ‖ c ‖ k, executor.h) into out; returns its length or
 * PC_ERR_INVALID / PC_ERR_OVERFLOW. */
int pc_gw_state_key(uint8_t *out, size_t cap, const char *contract, const void *k, size_t klen);

/* ------------------------------------------------------------ connection */

typedef struct pc_gwc pc_gwc_t;

/* pc_gwc_connect opens a TCP connection to host:port (dotted IPv4 or a
 * name) within timeout_ms. NULL (and a log line) on failure. */
pc_gwc_t *pc_gwc_connect(const char *host, uint16_t port, int timeout_ms);
void pc_gwc_close(pc_gwc_t *c);
/* pc_gwc_fd returns the socket (for poll). */
int pc_gwc_fd(const pc_gwc_t *c);
/* pc_gwc_next_id returns a fresh request id. */
uint32_t pc_gwc_next_id(pc_gwc_t *c);

/* pc_gwc_send writes a whole frame (blocking up to timeout_ms). 0,
 * PC_ERR_TIMEOUT or PC_ERR_IO. */
int pc_gwc_send(pc_gwc_t *c, const uint8_t *frame, size_t len, int timeout_ms);
/* pc_gwc_recv reads one answer frame within timeout_ms and decodes it into
 * *r, whose views stay valid until the next pc_gwc_recv. 0, PC_ERR_TIMEOUT,
 * PC_ERR_IO (closed) or a decoding PC_ERR_*. timeout_ms < 0 waits forever. */
int pc_gwc_recv(pc_gwc_t *c, int timeout_ms, pc_gw_response_t *r);
/* pc_gwc_pending says whether a whole frame is already buffered. */
bool pc_gwc_pending(const pc_gwc_t *c);

/* Request/answer helpers. Each sends one request and reads answers until
 * the one with its id (others are dropped). r is caller-owned (large: put
 * it on the heap). Returns 0 or PC_ERR_*; an ERROR answer returns its code. */
int pc_gwc_submit(pc_gwc_t *c, const uint8_t *const *txs, const uint32_t *lens, unsigned n, int *codes,
                  int timeout_ms, pc_gw_response_t *r);
/* pc_gwc_wait asks for a receipt within wait_ms; with t != NULL the answer is
 * verified (pc_gw_verify_receipt) and a failure returned as its code. A
 * TXSTATUS answer (r->type PC_GW_RSP_TXSTATUS) returns its code, the
 * reason: r->tx_status says REJECTED (the pool refused the transaction;
 * r->msg names the reason) or NOT_HELD (ask another replica; r->held_from).
 * pc_gwc_wait_text gives one line for the client to print. */
int pc_gwc_wait(pc_gwc_t *c, const pc_hash_t *tx_hash, uint32_t wait_ms, const pc_gw_trust_t *t,
                pc_gw_response_t *r);
/* pc_gwc_wait_text writes "rejected: <reason> (<strerror>)", "not held
 * here (receipts from height H): ask another replica" or pc_strerror(rc)
 * into out for the answer r that pc_gwc_wait returned rc with. Pure. */
const char *pc_gwc_wait_text(int rc, const pc_gw_response_t *r, char *out, size_t cap);
/* pc_gwc_query asks for key at height (0 = latest); verified when t != NULL. */
int pc_gwc_query(pc_gwc_t *c, uint64_t height, const void *key, size_t klen, int timeout_ms,
                 const pc_gw_trust_t *t, pc_gw_response_t *r);
int pc_gwc_status(pc_gwc_t *c, int timeout_ms, pc_gw_status_t *out, pc_gw_response_t *r);
/* pc_gwc_follow starts the block stream; BLOCK answers then arrive through
 * pc_gwc_recv with id *id. */
int pc_gwc_follow(pc_gwc_t *c, uint64_t from_height, uint32_t *id);

#endif /* PC_GWCLIENT_H */
