/* gateway.h — the client gateway: wire codec, receipt Merkle branches, and
 * the epoll server stage with its backend interface.
 *
 * The wire protocol is specified field by field at the top of gw_codec.c
 * (and in docs/gateway.md). This header is shared by the server (this
 * library) and the client library (tools/cli/gwclient.h), which decodes
 * the same answers and verifies their proofs.
 *
 * Threads: the codec functions are pure (any thread). A server object is
 * used by one thread only (the daemon's gateway stage); the backend
 * callbacks are called on that thread.
 */
#ifndef PC_GATEWAY_H
#define PC_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/block.h"
#include "common/common.h"
#include "common/tx.h"

/* ------------------------------------------------------------ constants */

#define PC_GW_HDR_SIZE 9                   /* u32 length, u8 type, u32 request id */
#define PC_GW_FRAME_DEFAULT_MAX (1u << 20) /* default max frame (length field) */
#define PC_GW_FRAME_MIN_MAX 4096           /* smallest allowed configured max */
#define PC_GW_SUBMIT_MAX 1024              /* transactions per SUBMIT */
#define PC_GW_KEY_MAX 1024                 /* state key bytes in a QUERY */
#define PC_GW_VALUE_MAX (1u << 20)         /* value bytes in a QUERY answer */
#define PC_GW_PROOF_MAX (64u << 10)        /* state proof bytes */
#define PC_GW_RECEIPT_MAX (1u << 20)       /* receipt encoding bytes */
#define PC_GW_BRANCH_MAX 32                /* receipt Merkle branch depth */
#define PC_GW_WAIT_MAX_MS 600000u          /* longest WAIT a client may ask */
#define PC_GW_MSG_MAX 256                  /* ERROR message bytes */
/* Largest answer frame (length field): receipt or value, proof, certificate. */
#define PC_GW_ANSWER_MAX ((2u << 20) + (192u << 10))

typedef enum {
  PC_GW_REQ_SUBMIT = 1,
  PC_GW_REQ_WAIT = 2,
  PC_GW_REQ_QUERY = 3,
  PC_GW_REQ_STATUS = 4,
  PC_GW_REQ_FOLLOW = 5,
  PC_GW_RSP_SUBMIT = 0x81,
  PC_GW_RSP_RECEIPT = 0x82,
  PC_GW_RSP_QUERY = 0x83,
  PC_GW_RSP_STATUS = 0x84,
  PC_GW_RSP_BLOCK = 0x85,
  PC_GW_RSP_TXSTATUS = 0x86, /* a WAIT answered without a receipt: see pc_gw_txstatus_t */
  PC_GW_RSP_ERROR = 0x8f
} pc_gw_type_t;

/* What a TXSTATUS answer (to a WAIT) says instead of a receipt. */
typedef enum {
  PC_GW_TX_REJECTED = 1, /* the pool refused the transaction after the SUBMIT was accepted; code = reason */
  PC_GW_TX_NOT_HELD = 2  /* this replica does not hold the receipts of the heights below `height`
                          * (evicted, or below a restart's snapshot / a state-transfer jump) and the
                          * hash is not among those it holds: ask another replica */
} pc_gw_txstatus_t;

/* ------------------------------------------------------------- messages */

/* A decoded request. Views point into the decoded frame. */
typedef struct {
  uint8_t type;
  uint32_t id;
  /* SUBMIT */
  uint16_t n_txs;
  const uint8_t *txs[PC_GW_SUBMIT_MAX];
  uint32_t tx_lens[PC_GW_SUBMIT_MAX];
  /* WAIT */
  pc_hash_t tx_hash;
  uint32_t timeout_ms;
  /* QUERY (height 0 = latest provable) */
  uint64_t height;
  const uint8_t *key;
  uint16_t key_len;
  /* FOLLOW (from 0 = from the next decided height) */
  uint64_t from_height;
} pc_gw_request_t;

/* The certified block that fixes an execution root: header of height
 * h + D (its exec_root is that of height h) and a certificate on it. */
typedef struct {
  pc_block_t header;
  pc_cert_t cert;
} pc_gw_certified_t;

/* A receipt with its proof. Byte views belong to whoever filled it (the
 * backend until its next call; the decoded frame on the client side). */
typedef struct {
  uint64_t height;          /* block that holds the transaction */
  uint32_t index;           /* position of the transaction in the block */
  uint32_t count;           /* receipts in the block */
  const uint8_t *receipt;   /* the receipt encoding (executor.h) */
  uint32_t receipt_len;
  uint8_t n_branch;         /* siblings, leaf level first */
  pc_hash_t branch[PC_GW_BRANCH_MAX];
  pc_hash_t state_root;     /* state root after height */
  pc_gw_certified_t cb;     /* block height + D */
  /* Backend side only (not on the wire as a RECEIPT): a backend that
   * returns a final code other than PC_ERR_AGAIN may set tx_status (a
   * pc_gw_txstatus_t) to have the WAIT answered with TXSTATUS instead,
   * with held_from (NOT_HELD: lowest height whose receipts it holds) and
   * why (a short static text, e.g. the pool's reason name; may be NULL).
   * The server clears tx_status before every call. */
  uint8_t tx_status;
  uint64_t held_from;
  const char *why;
} pc_gw_receipt_ans_t;

/* A key's value (or absence) at a height, with its proof. */
typedef struct {
  uint64_t height;
  bool present;
  const uint8_t *value;
  uint32_t value_len;
  const uint8_t *proof; /* storage state proof against state_root */
  uint32_t proof_len;
  pc_hash_t state_root;
  pc_hash_t receipts_root;
  pc_gw_certified_t cb; /* block height + D */
} pc_gw_query_ans_t;

typedef struct {
  uint64_t chain_id;
  uint16_t replica;
  uint16_t n;
  uint32_t depth;           /* D */
  uint64_t decided_height;  /* highest decided height */
  uint64_t executed_height; /* highest executed and durable height */
  uint64_t provable_height; /* highest h whose h + D is certified */
  uint64_t pool_txs;        /* transactions waiting in the pool */
  bool healthy;
} pc_gw_status_t;

/* A decoded answer (client side). Views point into the decoded frame. */
typedef struct {
  uint8_t type;
  uint32_t id;
  int code; /* 0 or a PC_ERR_* (RECEIPT/QUERY/ERROR answers) */
  uint16_t n_codes;
  int8_t codes[PC_GW_SUBMIT_MAX]; /* SUBMIT: per transaction, 0 or PC_ERR_* */
  pc_gw_receipt_ans_t receipt;
  pc_gw_query_ans_t query;
  pc_gw_status_t status;
  uint64_t block_height; /* BLOCK */
  pc_block_t block;
  uint8_t tx_status;     /* TXSTATUS: pc_gw_txstatus_t (code = the reason) */
  uint64_t held_from;    /* TXSTATUS NOT_HELD: lowest height whose receipts the replica holds */
  char msg[PC_GW_MSG_MAX + 1]; /* ERROR, TXSTATUS */
} pc_gw_response_t;

/* ---------------------------------------------------------------- codec */

/* pc_gw_frame_length reads the length prefix of a frame from the first
 * 4 bytes of buf (len ≥ 4); returns the whole frame size (4 + length), or
 * PC_ERR_TRUNCATED (len < 4), PC_ERR_TOO_LARGE (length > max_frame, counted)
 * or PC_ERR_INVALID (length < 5, counted). Pure. */
long pc_gw_frame_length(const uint8_t *buf, size_t len, uint32_t max_frame);

/* pc_gw_request_decode decodes exactly one whole frame (prefix included)
 * as a request; every rejection returns a PC_ERR_* counted under
 * PC_DEC_GATEWAY. Views in *q point into buf. Pure. */
int pc_gw_request_decode(const uint8_t *buf, size_t len, uint32_t max_frame, pc_gw_request_t *q);

/* pc_gw_req_begin / pc_gw_frame_end bracket a frame written with w: begin
 * reserves the prefix and writes type and id; end fills the length. end
 * returns the frame size or PC_ERR_OVERFLOW. */
uint8_t *pc_gw_frame_begin(pc_writer_t *w, uint8_t type, uint32_t id);
long pc_gw_frame_end(pc_writer_t *w, uint8_t *prefix);

/* Request encoders: each writes one whole frame, returns its size or
 * PC_ERR_OVERFLOW / PC_ERR_TOO_LARGE / PC_ERR_INVALID. */
long pc_gw_enc_submit(uint8_t *out, size_t cap, uint32_t id, const uint8_t *const *txs, const uint32_t *lens,
                      unsigned n);
long pc_gw_enc_wait(uint8_t *out, size_t cap, uint32_t id, const pc_hash_t *tx_hash, uint32_t timeout_ms);
long pc_gw_enc_query(uint8_t *out, size_t cap, uint32_t id, uint64_t height, const void *key, size_t klen);
long pc_gw_enc_status(uint8_t *out, size_t cap, uint32_t id);
long pc_gw_enc_follow(uint8_t *out, size_t cap, uint32_t id, uint64_t from_height);

/* Answer encoders (server side); same return convention. */
long pc_gw_enc_submit_rsp(uint8_t *out, size_t cap, uint32_t id, const int *codes, unsigned n);
long pc_gw_enc_receipt_rsp(uint8_t *out, size_t cap, uint32_t id, int code, const pc_gw_receipt_ans_t *a);
long pc_gw_enc_query_rsp(uint8_t *out, size_t cap, uint32_t id, int code, const pc_gw_query_ans_t *a);
long pc_gw_enc_status_rsp(uint8_t *out, size_t cap, uint32_t id, const pc_gw_status_t *s);
long pc_gw_enc_block_rsp(uint8_t *out, size_t cap, uint32_t id, uint64_t height, const pc_block_t *b);
long pc_gw_enc_error_rsp(uint8_t *out, size_t cap, uint32_t id, int code, const char *msg);
/* pc_gw_enc_txstatus_rsp: a WAIT's answer without a receipt; status is a
 * pc_gw_txstatus_t, code ≠ 0 the reason, held_from as in pc_gw_response_t,
 * msg a short text (cut at PC_GW_MSG_MAX). PC_ERR_RANGE for a bad status
 * or code 0. */
long pc_gw_enc_txstatus_rsp(uint8_t *out, size_t cap, uint32_t id, int code, uint8_t status, uint64_t held_from,
                            const char *msg);

/* pc_gw_response_decode decodes one whole answer frame. Counts rejections
 * under PC_DEC_GATEWAY. r is large (~30 KiB): keep it off small stacks. */
int pc_gw_response_decode(const uint8_t *buf, size_t len, uint32_t max_frame, pc_gw_response_t *r);

/* ---------------------------------------------------- receipt Merkle tree
 * The receipts root is executor.h's binary tree (an odd last node carried
 * up unchanged). A branch lists, leaf level first, the sibling of the path
 * node at every level where it has one; index and count say which levels. */

/* pc_gw_receipt_branch builds the branch of leaf `index` among `count`
 * leaves (the leaf hashes); returns the number of siblings written into
 * branch (room for PC_GW_BRANCH_MAX), or PC_ERR_RANGE / PC_ERR_NOMEM. */
int pc_gw_receipt_branch(const pc_hash_t *leaves, uint32_t count, uint32_t index, pc_hash_t *branch);

/* pc_gw_receipt_root_from_branch recomputes the root from a receipt
 * encoding and its branch; 0 or PC_ERR_INVALID (branch length does not fit
 * index/count). Pure. */
int pc_gw_receipt_root_from_branch(const uint8_t *receipt, size_t len, uint32_t index, uint32_t count,
                                   const pc_hash_t *branch, unsigned n_branch, pc_hash_t *root);

/* ------------------------------------------------------------- server */

/* One Prometheus sample the daemon exports. name must be a valid metric
 * name; type is "counter" or "gauge". */
typedef struct {
  const char *name;
  const char *help;
  const char *type;
  double value;
} pc_gw_metric_t;

/* The daemon's side. Every callback runs on the server's thread; answers
 * filled with views must keep them valid until the next callback. */
typedef struct {
  void *ctx;
  /* submit: admit one transaction (raw bytes); 0 or the PC_ERR_* reason. */
  int (*submit)(void *ctx, const uint8_t *tx, size_t len);
  /* receipt: 0 with *a filled when the transaction's block is durable,
   * executed and its h + D is certified; PC_ERR_AGAIN while not yet (the
   * server asks again when status.provable_height moves, and at least
   * every 200 ms, until the client's timeout); other PC_ERR_* final. */
  int (*receipt)(void *ctx, const pc_hash_t *tx_hash, pc_gw_receipt_ans_t *a);
  /* query: value or absence of key at height (0 = latest provable). 0 or
   * PC_ERR_NOT_FOUND (height unknown), PC_ERR_AGAIN (not yet provable). */
  int (*query)(void *ctx, uint64_t height, const uint8_t *key, size_t klen, pc_gw_query_ans_t *a);
  /* wait_expired (may be NULL): a WAIT for tx_hash ran out while receipt
   * said PC_ERR_AGAIN; return PC_ERR_TIMEOUT, or a final code with
   * a->tx_status set (e.g. PC_GW_TX_NOT_HELD) for a TXSTATUS answer. */
  int (*wait_expired)(void *ctx, const pc_hash_t *tx_hash, pc_gw_receipt_ans_t *a);
  /* block: the decided header at height; 0 or PC_ERR_NOT_FOUND. */
  int (*block)(void *ctx, uint64_t height, pc_block_t *b);
  /* status: a snapshot. */
  void (*status)(void *ctx, pc_gw_status_t *s);
  /* metrics: up to cap rows; returns how many. May be NULL. */
  size_t (*metrics)(void *ctx, pc_gw_metric_t *rows, size_t cap);
} pc_gw_backend_t;

typedef struct {
  uint8_t bind_ip[4];           /* network order; default 127.0.0.1 */
  uint16_t port;                /* 0 = ephemeral (see pc_gw_server_port) */
  uint16_t http_port;           /* 0 = ephemeral */
  bool no_http;                 /* true: no HTTP endpoint */
  uint32_t max_frame;           /* ≥ PC_GW_FRAME_MIN_MAX; default 1 MiB */
  unsigned max_conns;           /* default 1024 (HTTP counted apart: 64) */
  unsigned max_waits;           /* pending WAITs per connection; default 4096 */
  unsigned max_follows;         /* FOLLOW subscriptions per connection; default 1 */
  size_t max_out;               /* queued answer bytes per connection; default 16 MiB */
  uint64_t request_timeout_ns;  /* a frame must arrive whole within; default 5 s */
  uint64_t idle_timeout_ns;     /* no traffic and nothing pending; default 300 s */
} pc_gw_config_t;

typedef struct {
  uint64_t accepted, refused_conns, closed, timeouts, oversized, bad_requests;
  uint64_t requests, submitted_txs, rejected_txs, receipts, queries, http_requests;
  uint64_t open_conns, pending_waits;
  uint64_t tx_statuses; /* WAITs answered TXSTATUS (rejected / not held here) */
} pc_gw_stats_t;

typedef struct pc_gw_server pc_gw_server_t;

/* pc_gw_config_defaults fills c with the defaults above. */
void pc_gw_config_defaults(pc_gw_config_t *c);

/* pc_gw_server_new binds both listening sockets (SO_REUSEADDR) and makes
 * the epoll set. The backend table is copied. NULL (and a log line) on a
 * bad config or a socket error. */
pc_gw_server_t *pc_gw_server_new(const pc_gw_config_t *cfg, const pc_gw_backend_t *be);

/* pc_gw_server_poll waits up to timeout_ms (0 = do not block) for socket
 * events and serves them. Returns how many events it handled, or PC_ERR_IO.
 * The server's thread only. */
int pc_gw_server_poll(pc_gw_server_t *s, int timeout_ms);

/* pc_gw_server_housekeeping retries pending WAITs, pushes newly decided
 * heights to followers and closes timed-out connections. Call it every
 * few milliseconds (pc_gw_server_run does). */
void pc_gw_server_housekeeping(pc_gw_server_t *s);

/* pc_gw_server_port / _http_port return the bound ports. */
uint16_t pc_gw_server_port(const pc_gw_server_t *s);
uint16_t pc_gw_server_http_port(const pc_gw_server_t *s);

/* pc_gw_server_stats copies the counters. Server thread. */
void pc_gw_server_stats(const pc_gw_server_t *s, pc_gw_stats_t *out);

/* pc_gw_server_free closes every socket and frees s (NULL is fine). */
void pc_gw_server_free(pc_gw_server_t *s);

#endif /* PC_GATEWAY_H */
