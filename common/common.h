/* common.h — the base every ParaChain module may use.
 *
 * Errors, levelled logging, monotonic time, bounds-checked little-endian
 * encoding and decoding, 32-byte hashes (BLAKE2b-256 by default, SHA-256 on
 * request, both through libsodium), and per-decoder rejection counters.
 *
 * The shared formats live beside this header: block.h (block, proposal,
 * chain hash, certificate), tx.h (transaction) and config.h (config-file
 * parser, cluster file, core map).
 */
#ifndef PC_COMMON_H
#define PC_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- errors */

/* Every call that can fail returns 0 or one of these (negative) codes. */
typedef enum {
  PC_OK = 0,
  PC_ERR_INVALID = -1,     /* malformed input or argument */
  PC_ERR_TRUNCATED = -2,   /* input ends before the structure does */
  PC_ERR_TRAILING = -3,    /* bytes left over after the structure */
  PC_ERR_OVERFLOW = -4,    /* output buffer too small */
  PC_ERR_TOO_LARGE = -5,   /* a length or count above its documented limit */
  PC_ERR_VERSION = -6,     /* unknown format version */
  PC_ERR_MAGIC = -7,       /* wrong magic number */
  PC_ERR_RANGE = -8,       /* a value outside its allowed range */
  PC_ERR_NOMEM = -9,       /* allocation failed */
  PC_ERR_IO = -10,         /* a system call failed (see errno / the log) */
  PC_ERR_SIGNATURE = -11,  /* a signature or MAC does not verify */
  PC_ERR_CHECKSUM = -12,   /* a CRC or hash does not match */
  PC_ERR_NOT_FOUND = -13,  /* no such item */
  PC_ERR_EXISTS = -14,     /* already present (duplicate) */
  PC_ERR_FULL = -15,       /* a bounded queue, pool or buffer is full */
  PC_ERR_CONFIG = -16,     /* configuration invalid */
  PC_ERR_CORRUPT = -17,    /* stored data is damaged */
  PC_ERR_STATE = -18,      /* call not valid in the object's current state */
  PC_ERR_QUORUM = -19,     /* not enough distinct valid signers */
  PC_ERR_CHAIN = -20,      /* wrong chain id */
  PC_ERR_EXPIRED = -21,    /* past its expiry height */
  PC_ERR_NONCE = -22,      /* nonce already used or out of order */
  PC_ERR_AGAIN = -23,      /* nothing to do now; try again later */
  PC_ERR_DUPLICATE = -24,  /* the same item seen twice where once is allowed */
  PC_ERR_TIMEOUT = -25,    /* a wait ran out */
  PC_ERR_UNSUPPORTED = -26 /* feature not available in this build or mode */
} pc_err_t;

#define PC_ERR_COUNT 27 /* number of codes, PC_OK included */

/* pc_strerror returns a short, static English description of an error code
 * (0 or a PC_ERR_* value); unknown codes get "unknown error". Thread-safe. */
const char *pc_strerror(int err);

/* ---------------------------------------------------------- rejection counters
 *
 * Every decoder rejects malformed input with an error code and bumps a
 * counter here, so operators can see what is being thrown at a replica.
 * Counters are process-wide relaxed atomics: cheap, and exact enough for
 * observability (they never feed back into any decision). */
typedef enum {
  PC_DEC_CODEC = 0,   /* generic reader misuse */
  PC_DEC_BLOCK,       /* common/block.h block */
  PC_DEC_PROPOSAL,    /* common/block.h proposal */
  PC_DEC_CERT,        /* common/block.h certificate */
  PC_DEC_TX,          /* common/tx.h transaction */
  PC_DEC_CONFIG,      /* config.h lines of any config file */
  PC_DEC_CLUSTER,     /* cluster file semantics */
  PC_DEC_COREMAP,     /* core map semantics */
  PC_DEC_CONSENSUS,   /* consensus messages */
  PC_DEC_FRAME,       /* dataplane frames */
  PC_DEC_LOG_RECORD,  /* storage log records */
  PC_DEC_SNAPSHOT,    /* storage snapshot files */
  PC_DEC_GATEWAY,     /* client gateway requests */
  PC_DEC_CONTRACT,    /* contract arguments */
  PC_DEC_OTHER,
  PC_DEC_COUNT
} pc_decoder_t;

/* pc_reject_note counts one rejection by decoder `dec` with code `err` and
 * returns `err`, so a decoder can write `return pc_reject_note(D, e);`.
 * Any thread. */
int pc_reject_note(pc_decoder_t dec, int err);
/* pc_reject_count returns how many rejections of code `err` (or of any code
 * when err == 1) decoder `dec` has counted since start. Any thread. */
uint64_t pc_reject_count(pc_decoder_t dec, int err);
/* pc_decoder_name returns a stable lower-case name ("block", "tx", ...). */
const char *pc_decoder_name(pc_decoder_t dec);

/* --------------------------------------------------------------- logging */

typedef enum { PC_LOG_ERROR = 0, PC_LOG_WARN, PC_LOG_INFO, PC_LOG_DEBUG } pc_log_level_t;

/* pc_log_set_level sets the process-wide threshold (default INFO, or the
 * PC_LOG environment variable: error|warn|info|debug). Any thread. */
void pc_log_set_level(pc_log_level_t level);
pc_log_level_t pc_log_get_level(void);
/* pc_log_set_tag sets a short prefix (e.g. "r2") for this process's lines. */
void pc_log_set_tag(const char *tag);
/* pc_log writes one line to stderr: time, level, tag, message. Any thread;
 * lines from different threads never interleave within a line. */
void pc_log(pc_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pc_logv(pc_log_level_t level, const char *fmt, va_list ap);

#define PC_ERROR(...) pc_log(PC_LOG_ERROR, __VA_ARGS__)
#define PC_WARN(...) pc_log(PC_LOG_WARN, __VA_ARGS__)
#define PC_INFO(...) pc_log(PC_LOG_INFO, __VA_ARGS__)
#define PC_DEBUG(...)                                                                        \
  do {                                                                                       \
    if (pc_log_get_level() >= PC_LOG_DEBUG) pc_log(PC_LOG_DEBUG, __VA_ARGS__);               \
  } while (0)

/* ------------------------------------------------------------------ time */

/* pc_now_ns returns CLOCK_MONOTONIC in nanoseconds. Any thread. Never use
 * it in anything that feeds a deterministic result (consensus, execution). */
uint64_t pc_now_ns(void);
/* pc_wall_us returns CLOCK_REALTIME in microseconds since the Unix epoch. */
uint64_t pc_wall_us(void);
/* pc_sleep_ns sleeps at least ns nanoseconds (restarts on EINTR). */
void pc_sleep_ns(uint64_t ns);

/* ------------------------------------------------------- raw little-endian */

static inline void pc_store_le16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void pc_store_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void pc_store_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t pc_load_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t pc_load_le32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t pc_load_le64(const uint8_t *p) {
  return (uint64_t)pc_load_le32(p) | ((uint64_t)pc_load_le32(p + 4) << 32);
}

/* ----------------------------------------------------------------- codec
 *
 * pc_writer_t appends little-endian fields to a caller-owned buffer. An
 * append that does not fit sets a sticky overflow flag and writes nothing;
 * pc_writer_finish then reports PC_ERR_OVERFLOW. A writer with buf == NULL
 * and cap == SIZE_MAX only measures (len counts what would be written).
 *
 * pc_reader_t consumes little-endian fields from a caller-owned buffer. A
 * read past the end sets a sticky error, returns zeros and never touches
 * memory outside [p, p+len). Check once at the end with pc_reader_finish
 * (whole input consumed) or pc_reader_ok (more may follow). */
typedef struct {
  uint8_t *buf;
  size_t cap;
  size_t len;
  bool overflow;
} pc_writer_t;

typedef struct {
  const uint8_t *p;
  size_t len;
  size_t pos;
  int err; /* 0, or the first error seen */
} pc_reader_t;

void pc_writer_init(pc_writer_t *w, void *buf, size_t cap);
/* pc_writer_measure makes a writer that only counts bytes. */
void pc_writer_measure(pc_writer_t *w);
void pc_put_u8(pc_writer_t *w, uint8_t v);
void pc_put_u16(pc_writer_t *w, uint16_t v);
void pc_put_u32(pc_writer_t *w, uint32_t v);
void pc_put_u64(pc_writer_t *w, uint64_t v);
void pc_put_bytes(pc_writer_t *w, const void *p, size_t n);
/* pc_put_blob16/32 write a u16/u32 length then the bytes; a length that
 * does not fit the prefix sets the overflow flag. */
void pc_put_blob16(pc_writer_t *w, const void *p, size_t n);
void pc_put_blob32(pc_writer_t *w, const void *p, size_t n);
/* pc_writer_reserve returns a pointer to n bytes at the end, to fill later
 * (e.g. a length or CRC), or NULL after overflow or when measuring. */
uint8_t *pc_writer_reserve(pc_writer_t *w, size_t n);
/* pc_writer_finish returns 0 or PC_ERR_OVERFLOW. */
int pc_writer_finish(const pc_writer_t *w);

void pc_reader_init(pc_reader_t *r, const void *p, size_t len);
uint8_t pc_get_u8(pc_reader_t *r);
uint16_t pc_get_u16(pc_reader_t *r);
uint32_t pc_get_u32(pc_reader_t *r);
uint64_t pc_get_u64(pc_reader_t *r);
/* pc_get_bytes copies n bytes into out (zero-fills out on error). */
void pc_get_bytes(pc_reader_t *r, void *out, size_t n);
/* pc_get_view returns a pointer to the next n bytes inside the input (no
 * copy) or NULL on error. The pointer lives as long as the input. */
const uint8_t *pc_get_view(pc_reader_t *r, size_t n);
/* pc_get_blob16/32 read a length prefix, reject lengths above max with
 * PC_ERR_TOO_LARGE, and return a view of the bytes (NULL on error; *n = 0). */
const uint8_t *pc_get_blob16(pc_reader_t *r, size_t max, size_t *n);
const uint8_t *pc_get_blob32(pc_reader_t *r, size_t max, size_t *n);
/* pc_reader_fail records err as the reader's error if none is set yet. */
void pc_reader_fail(pc_reader_t *r, int err);
static inline size_t pc_reader_left(const pc_reader_t *r) { return r->err ? 0 : r->len - r->pos; }
/* pc_reader_ok returns the first error seen, or 0. */
static inline int pc_reader_ok(const pc_reader_t *r) { return r->err; }
/* pc_reader_finish returns the first error, else PC_ERR_TRAILING when bytes
 * are left over, else 0. */
int pc_reader_finish(const pc_reader_t *r);

/* ------------------------------------------------------------------ hash */

#define PC_HASH_SIZE 32
#define PC_HASH_HEX_SIZE 65 /* 64 hex digits and a NUL */

typedef struct {
  uint8_t b[PC_HASH_SIZE];
} pc_hash_t;

/* BLAKE2b-256 (the default everywhere) and SHA-256, through libsodium. */
void pc_hash_blake2b(pc_hash_t *out, const void *data, size_t len);
void pc_hash_sha256(pc_hash_t *out, const void *data, size_t len);
/* pc_hash_tagged hashes a NUL-free domain tag (its bytes and a 0 separator)
 * then the data, so hashes of different kinds of object never collide. */
void pc_hash_tagged(pc_hash_t *out, const char *tag, const void *data, size_t len);
/* pc_hash_pair hashes tag ‖ 0 ‖ a ‖ b, for Merkle nodes and chain hashes. */
void pc_hash_pair(pc_hash_t *out, const char *tag, const pc_hash_t *a, const pc_hash_t *b);

/* Incremental BLAKE2b-256. The state is an opaque aligned blob the caller owns. */
typedef struct {
  _Alignas(64) uint8_t opaque[384];
} pc_hasher_t;
void pc_hasher_init(pc_hasher_t *h);
void pc_hasher_init_tagged(pc_hasher_t *h, const char *tag);
void pc_hasher_update(pc_hasher_t *h, const void *data, size_t len);
void pc_hasher_final(pc_hasher_t *h, pc_hash_t *out);

bool pc_hash_equal(const pc_hash_t *a, const pc_hash_t *b);
bool pc_hash_is_zero(const pc_hash_t *h);
/* pc_hash_to_hex writes 64 lower-case hex digits and a NUL; returns out. */
char *pc_hash_to_hex(const pc_hash_t *h, char out[PC_HASH_HEX_SIZE]);
/* pc_hash_from_hex parses exactly 64 hex digits; 0 or PC_ERR_INVALID. */
int pc_hash_from_hex(pc_hash_t *out, const char *hex);
/* pc_hex_encode writes 2n hex digits and a NUL into out (size ≥ 2n+1). */
void pc_hex_encode(char *out, const void *data, size_t n);
/* pc_hex_decode parses exactly 2n hex digits into n bytes; 0 or PC_ERR_INVALID. */
int pc_hex_decode(void *out, size_t n, const char *hex, size_t hex_len);

/* CRC32C (Castagnoli), for storage records. crc is the running value, start at 0. */
uint32_t pc_crc32c(uint32_t crc, const void *data, size_t len);

/* pc_crypto_init initialises libsodium once; returns 0 or PC_ERR_UNSUPPORTED.
 * Call before any key or signature function. Any thread, idempotent. */
int pc_crypto_init(void);

/* ---------------------------------------------------------------- misc */

#define PC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PC_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Largest cluster the formats allow (signer bitmaps are sized for it). */
#define PC_MAX_REPLICAS 256

#endif /* PC_COMMON_H */
