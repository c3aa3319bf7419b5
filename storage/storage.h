/* storage.h — the store stage's building blocks: the block log (with the
 * consensus records that share its group commit), the authenticated state
 * (an RCU-published persistent Merkle trie), and canonical snapshots.
 *
 * Formats are specified at the top of the files that write them:
 *   storage/log.c       segment, group and record layout, recovery rule
 *   storage/state.c     trie hashing and the proof encoding
 *   storage/snapshot.c  snapshot data stream and manifest
 *
 * All file I/O goes through a pc_io_t (a small table of functions), so tests
 * can inject short writes, ENOSPC, EIO and simulated power loss.
 */
#ifndef PC_STORAGE_H
#define PC_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

/* ================================================================ I/O layer */

/* pc_io_t: the thin layer every storage file operation goes through. Each
 * function behaves like its POSIX namesake and returns what it returns
 * (-1 and errno on failure). `ctx` is passed back unchanged. mmap is only
 * ever used read-only (PROT_READ, MAP_SHARED). */
typedef struct pc_io {
  void *ctx;
  int (*open)(void *ctx, const char *path, int flags, mode_t mode);
  ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t n, off_t off);
  ssize_t (*pread)(void *ctx, int fd, void *buf, size_t n, off_t off);
  int (*fdatasync)(void *ctx, int fd);
  int (*ftruncate)(void *ctx, int fd, off_t len);
  int (*fallocate)(void *ctx, int fd, off_t off, off_t len);
  int (*close)(void *ctx, int fd);
  void *(*mmap)(void *ctx, int fd, size_t len);
  int (*munmap)(void *ctx, void *p, size_t len);
  int (*unlink)(void *ctx, const char *path);
  int (*rename)(void *ctx, const char *from, const char *to);
  int (*fsync_dir)(void *ctx, const char *dir);
} pc_io_t;

/* pc_io_posix returns the process-wide plain POSIX layer (static, never
 * freed). Any thread. */
const pc_io_t *pc_io_posix(void);

/* ---- fault injection (for tests, fuzzers and the benchmark) ----
 *
 * A pc_io_fault_t wraps pc_io_posix. It can fail the n-th write or sync
 * with a short write, ENOSPC or EIO, and it keeps, per file, the previous
 * contents of every 4 KiB page written since that file's last successful
 * fdatasync. pc_io_fault_crash() makes every later write/sync fail (the
 * process "died"); pc_io_fault_power_loss() then rewrites each such page,
 * at seeded random, as fully written, dropped (old contents) or torn (a
 * random prefix new, the rest old) — what a disk may hold after power loss.
 * File creation, ftruncate, fallocate, rename and unlink are treated as
 * durable metadata operations (the log syncs its directory after them).
 * Not thread-safe against itself beyond one mutex: adequate for tests. */
typedef struct pc_io_fault pc_io_fault_t;

typedef enum {
  PC_FAULT_NONE = 0,
  PC_FAULT_SHORT_WRITE, /* the write stores half its bytes and returns that count; the
                         * next write (the retry of the rest) fails with ENOSPC */
  PC_FAULT_ENOSPC,      /* the write fails with ENOSPC, storing nothing */
  PC_FAULT_EIO_WRITE,   /* the write fails with EIO, storing nothing */
  PC_FAULT_EIO_SYNC     /* the fdatasync fails with EIO */
} pc_fault_kind_t;

/* pc_io_fault_new makes a fault layer with a power-loss seed; NULL on OOM. */
pc_io_fault_t *pc_io_fault_new(uint64_t seed);
void pc_io_fault_free(pc_io_fault_t *f);
/* pc_io_fault_io returns the pc_io_t to hand to pc_log_open etc. */
const pc_io_t *pc_io_fault_io(pc_io_fault_t *f);
/* pc_io_fault_arm makes the `after`-th next write (or sync, for
 * PC_FAULT_EIO_SYNC) fail with `kind`, once (after = 0: the very next). */
void pc_io_fault_arm(pc_io_fault_t *f, pc_fault_kind_t kind, unsigned after);
/* pc_io_fault_crash: from now on writes and syncs fail with EIO. */
void pc_io_fault_crash(pc_io_fault_t *f);
/* pc_io_fault_power_loss applies the seeded page loss described above to
 * every file written since its last sync, forgets the saved pages and
 * clears the crashed state. Returns how many pages were dropped or torn. */
unsigned pc_io_fault_power_loss(pc_io_fault_t *f);
/* pc_io_fault_writes returns the number of pwrite calls seen so far. */
uint64_t pc_io_fault_writes(const pc_io_fault_t *f);

/* ================================================================ block log */

typedef struct pc_log pc_log_t;

/* Record kinds stored in the log (the u8 `type` of a record). */
#define PC_LOG_REC_BLOCK 1
#define PC_LOG_REC_CONSENSUS 2
#define PC_LOG_REC_BASE 3 /* state-transfer base: the ledger continues at height + 1 */

#define PC_LOG_CERT_MAX (1u << 20)        /* certificate bytes per block record */
#define PC_LOG_BLOCK_MAX (20u << 20)      /* block bytes (block + batch) per record */
#define PC_LOG_CONSENSUS_MAX 4096         /* payload bytes of a consensus record */
#define PC_LOG_SEGMENT_MIN (1u << 20)     /* 1 MiB */
#define PC_LOG_SEGMENT_MAX (1u << 31)     /* 2 GiB: offsets are u32 in a position */
#define PC_LOG_SEGMENT_DEFAULT (64u << 20)

/* A block record as appended and as read back. On read, cert and block
 * point into the read-only mmap of the segment: valid until pc_log_close. */
typedef struct {
  uint64_t height;
  pc_hash_t prev_hash;  /* previous block's hash (chain link) */
  pc_hash_t block_hash; /* this block's hash (id or chain hash, the caller's choice) */
  pc_hash_t exec_root;  /* execution root the block carries or produced */
  const uint8_t *cert;
  size_t cert_len;
  const uint8_t *block;
  size_t block_len;
} pc_log_block_t;

/* A consensus record (vote, lock, round change, ...). Opaque to storage
 * beyond its kind, height and round. On read, payload points into the mmap. */
typedef struct {
  uint16_t kind;
  uint64_t height;
  uint32_t round;
  const uint8_t *payload;
  size_t payload_len;
} pc_log_consensus_t;

/* pc_log_durable_cb is called by the thread that completed an fdatasync
 * (the flush thread, or the caller of pc_log_sync) after every group that
 * became durable: `seq` is the highest durable record sequence number and
 * `height` the highest durable block height. Keep it short (push a
 * "persist done" message to a ring). */
typedef void (*pc_log_durable_cb)(void *arg, uint64_t seq, uint64_t height);

typedef struct {
  const char *dir;          /* directory of segment files (created if missing) */
  const pc_io_t *io;        /* NULL = pc_io_posix() */
  uint64_t segment_size;    /* bytes, PC_LOG_SEGMENT_MIN..MAX; 0 = default */
  /* Group commit: a group is written and synced as soon as max_group
   * records are queued or the oldest queued record is max_delay_us old,
   * whichever comes first; consensus records flush at once (urgent). */
  unsigned max_group;       /* 0 = 256 */
  uint32_t max_delay_us;    /* 0 = flush as soon as the previous sync is done */
  size_t max_group_bytes;   /* 0 = 8 MiB; a bigger single record forms its own group */
  bool flush_thread;        /* true: a dedicated thread syncs; false: pc_log_sync does */
  pc_log_durable_cb on_durable;
  void *on_durable_arg;
} pc_log_config_t;

/* What recovery found at open (also what pc_log_check reports). */
typedef enum {
  PC_LOG_CLEAN = 0, /* every byte accounted for */
  PC_LOG_TORN,      /* a torn tail after the last synced offset was (or would be) cut */
  PC_LOG_CORRUPT    /* damage before the last synced offset: refused */
} pc_log_status_t;

typedef struct {
  pc_log_status_t status;
  uint32_t segment;         /* where the damage starts (TORN / CORRUPT) */
  uint32_t offset;
  uint64_t height;          /* first block height not intact (TORN / CORRUPT), 0 if unknown */
  uint64_t dropped_bytes;   /* TORN: bytes cut (up to the end of the written data) */
  uint64_t dropped_first;   /* TORN: first and last block heights cut, 0 if none known */
  uint64_t dropped_last;
  uint64_t first_height;    /* heights intact in the log, 0 when none (blocks after the last base only) */
  uint64_t last_height;     /* highest block height, or the base height if no block follows the base */
  uint64_t records;         /* records intact (block and consensus) */
  uint32_t segments;
  uint64_t base_height;     /* height of the last base record, 0 when none */
  char message[200];        /* one line for operators */
} pc_log_report_t;

/* pc_log_open opens or creates the log in cfg->dir, rebuilds the height
 * index by scanning every record (nothing on disk is trusted without its
 * CRC), cuts a torn tail and fills *report (may be NULL). Fails (NULL, and
 * report->status == PC_LOG_CORRUPT with segment/offset/height and the
 * repair command in report->message) on damage before the last synced
 * offset. Starts the flush thread if cfg->flush_thread. The caller owns the
 * log; close it with pc_log_close. */
pc_log_t *pc_log_open(const pc_log_config_t *cfg, pc_log_report_t *report);

/* pc_log_check scans the log in dir like pc_log_open but changes nothing;
 * returns 0 (report filled, status may be TORN or CORRUPT) or PC_ERR_IO. */
int pc_log_check(const char *dir, const pc_io_t *io, pc_log_report_t *report);

/* pc_log_repair_truncate cuts segment `segment` at `offset` (rounded down
 * to nothing: the exact byte), zero-fills its rest and deletes every later
 * segment. For the operator, on request (tools/ledger). 0 or PC_ERR_*. */
int pc_log_repair_truncate(const char *dir, const pc_io_t *io, uint32_t segment, uint32_t offset);

/* pc_log_close flushes what is queued (best effort), stops the flush
 * thread, unmaps and closes everything and frees the log. Pointers from
 * pc_log_get die here. Not concurrently with any other call on the log. */
void pc_log_close(pc_log_t *log);

/* pc_log_append_block queues a block record; returns its record sequence
 * number (> 0) when queued — not yet durable — or a negative PC_ERR_*:
 * PC_ERR_RANGE if height is not last appended height + 1 (any height ≥ 1
 * when the log holds no block), PC_ERR_TOO_LARGE over the limits,
 * PC_ERR_IO/PC_ERR_STATE once a write or sync has failed (the log is then
 * read-only: close and reopen to recover). Bytes are copied. One producer
 * thread at a time (the store stage); safe against the flush thread. With
 * a flush thread it blocks (back-pressure) while more than 4 ×
 * max_group_bytes are queued, until the flusher catches up. */
int64_t pc_log_append_block(pc_log_t *log, const pc_log_block_t *b);

/* pc_log_append_consensus queues a consensus record (copied) and asks for
 * an immediate flush; returns its sequence number or PC_ERR_*. Same thread
 * rules as pc_log_append_block. */
int64_t pc_log_append_consensus(pc_log_t *log, const pc_log_consensus_t *c);

/* pc_log_append_base queues a base record (format: log.c) after a state
 * transfer installed the snapshot of height b = base->height: the next
 * block appended must be b + 1, and blocks at or below b stop being
 * readable once the record is durable (pc_log_first_height becomes b + 1,
 * pc_log_durable_height at least b). base->block_hash should be the chain
 * hash at b, exec_root the certified root, cert the certificate bytes
 * (kept for pc_log_base). Returns its sequence number (flushed at once,
 * like a consensus record) or PC_ERR_RANGE when b is below the last block
 * appended (a base never goes backwards) or too far above the first one
 * indexed (2^32 heights), PC_ERR_TOO_LARGE, PC_ERR_IO/PC_ERR_STATE as
 * pc_log_append_block. Write it only once the snapshot files of b are
 * durable (pc_snapshot_install_finish returned). Same thread rules as
 * pc_log_append_block. */
int64_t pc_log_append_base(pc_log_t *log, const pc_log_block_t *base);
/* pc_log_base reads the last durable base record (views into the mmap,
 * valid until pc_log_close): 0, PC_ERR_NOT_FOUND or PC_ERR_CORRUPT. Any
 * thread. */
int pc_log_base(const pc_log_t *log, pc_log_block_t *out);
/* pc_log_base_height: height of the last durable base record (0 = none).
 * Restart: if it is non-zero, load the snapshot of that height (it is the
 * newest state the log does not replay) and replay blocks above it. */
uint64_t pc_log_base_height(const pc_log_t *log);

/* pc_log_sync writes and fdatasyncs everything queued, in the caller's
 * thread (the mode without a flush thread; with one, it waits for the
 * flush thread instead). Returns 0 or the first I/O error. */
int pc_log_sync(pc_log_t *log);

/* pc_log_wait_durable blocks until record `seq` is durable, the log
 * failed, or timeout_us passed: 0, PC_ERR_IO or PC_ERR_TIMEOUT. */
int pc_log_wait_durable(pc_log_t *log, uint64_t seq, uint64_t timeout_us);

/* pc_log_durable_seq / pc_log_durable_height: the watermarks. They move
 * only after the fdatasync covering the data returned. Any thread
 * (acquire loads paired with the flusher's release stores). */
uint64_t pc_log_durable_seq(const pc_log_t *log);
uint64_t pc_log_durable_height(const pc_log_t *log);
/* pc_log_first_height: the lowest readable block height (0 when none);
 * b + 1 after a base record of height b, even before block b + 1 exists. */
uint64_t pc_log_first_height(const pc_log_t *log);
/* pc_log_error returns 0 or the first write/sync error (sticky). */
int pc_log_error(const pc_log_t *log);

/* pc_log_get reads the durable block at `height` in O(1) (index lookup,
 * then the mmap'd bytes; the record CRC is checked again). Any thread.
 * 0, PC_ERR_NOT_FOUND or PC_ERR_CORRUPT. */
int pc_log_get(const pc_log_t *log, uint64_t height, pc_log_block_t *out);

/* pc_log_iter_blocks calls fn for each durable block in [from, to] in
 * height order until fn returns non-zero (which is returned). */
int pc_log_iter_blocks(const pc_log_t *log, uint64_t from, uint64_t to,
                       int (*fn)(void *arg, const pc_log_block_t *b), void *arg);

/* pc_log_iter_consensus calls fn for every consensus record found at open
 * and every one made durable since, in log order, until fn returns
 * non-zero. Call it from the producer thread (e.g. at restart). */
int pc_log_iter_consensus(pc_log_t *log, int (*fn)(void *arg, const pc_log_consensus_t *c), void *arg);

/* pc_log_record_decode parses one record (the exact bytes) as written in
 * the log; fills *type and one of *b (block or base record) / *c. Views point into buf. Counts
 * rejections under PC_DEC_LOG_RECORD. Pure; for tools and fuzzing. */
int pc_log_record_decode(const uint8_t *buf, size_t len, uint8_t *type, pc_log_block_t *b,
                         pc_log_consensus_t *c);

/* ==================================================================== state */

typedef struct pc_state pc_state_t;
typedef struct pc_state_version pc_state_version_t;
typedef struct pc_state_batch pc_state_batch_t;

#define PC_STATE_KEY_MAX 256          /* bytes; keys are ≥ 1 byte */
#define PC_STATE_VALUE_MAX (64u << 10) /* bytes; values may be empty */
#define PC_STATE_PROOF_MAX (4 + 64 * (3 + 16 * 32) + 64)

/* pc_state_new makes an empty state whose version 0 (root = 32 zero bytes)
 * is published. `retain` (≥ 1; 0 = 16) is how many newest versions stay
 * readable by number. NULL on OOM. The thread that calls it and every
 * later call except the read-side ones below must be one writer thread,
 * registered with liburcu (rcu_register_thread). */
pc_state_t *pc_state_new(unsigned retain);

/* pc_state_free frees everything after waiting for readers
 * (synchronize_rcu + rcu_barrier). Writer thread; no reader may start
 * after it is called. */
void pc_state_free(pc_state_t *s);

/* --- read side: any registered thread, inside rcu_read_lock() ---
 * Pointers returned (versions, values) stay valid until rcu_read_unlock. */

/* pc_state_current returns the published version (never NULL). */
const pc_state_version_t *pc_state_current(pc_state_t *s);
/* pc_state_at returns retained version v, or NULL if not (or no longer) kept. */
const pc_state_version_t *pc_state_at(pc_state_t *s, uint64_t v);
uint64_t pc_state_version_number(const pc_state_version_t *v);
void pc_state_version_root(const pc_state_version_t *v, pc_hash_t *root);
/* pc_state_version_count returns the number of keys in the version. */
uint64_t pc_state_version_count(const pc_state_version_t *v);
/* pc_state_get finds key in version v: 0 with *val and *vlen a view, or
 * PC_ERR_NOT_FOUND, PC_ERR_INVALID (bad key length). */
int pc_state_get(const pc_state_version_t *v, const void *key, size_t klen, const uint8_t **val, size_t *vlen);
/* pc_state_iter calls fn on every (key, value) in trie order — increasing
 * BLAKE2b(key) — until fn returns non-zero (which is returned). */
int pc_state_iter(const pc_state_version_t *v,
                  int (*fn)(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen),
                  void *arg);
/* pc_state_prove writes an inclusion (key present) or exclusion proof of
 * key in v into out (PC_STATE_PROOF_MAX bytes always suffice); *len gets
 * its length. 0, PC_ERR_INVALID or PC_ERR_OVERFLOW. */
int pc_state_prove(const pc_state_version_t *v, const void *key, size_t klen, uint8_t *out, size_t cap,
                   size_t *len);

/* pc_state_proof_verify checks a proof against a root alone. With val !=
 * NULL it succeeds only if the proof shows key ↦ val (vlen bytes); with
 * val == NULL only if it shows key absent. Pure, any thread, no state.
 * 0, or PC_ERR_SIGNATURE (does not prove it), or a decoding PC_ERR_*
 * (counted under PC_DEC_OTHER). */
int pc_state_proof_verify(const pc_hash_t *root, const void *key, size_t klen, const void *val, size_t vlen,
                          const uint8_t *proof, size_t proof_len);

/* --- write side: the writer thread only --- */

/* pc_state_batch_new starts a write batch on top of the newest committed
 * version (head). NULL on OOM. Writes in a batch apply in call order. */
pc_state_batch_t *pc_state_batch_new(pc_state_t *s);
/* pc_state_batch_put / _delete: 0, PC_ERR_INVALID (key length 0 or above
 * PC_STATE_KEY_MAX), PC_ERR_TOO_LARGE (value), PC_ERR_NOMEM. Bytes copied.
 * Deleting an absent key is not an error. */
int pc_state_batch_put(pc_state_batch_t *b, const void *key, size_t klen, const void *val, size_t vlen);
int pc_state_batch_delete(pc_state_batch_t *b, const void *key, size_t klen);
/* pc_state_batch_get reads through the batch (its own writes first, then
 * the head version). Same results as pc_state_get; the view lives until
 * the next write on the batch. */
int pc_state_batch_get(pc_state_batch_t *b, const void *key, size_t klen, const uint8_t **val, size_t *vlen);
/* pc_state_commit turns the batch into version head + 1 (retained, readable
 * with pc_state_at, not yet current), writes its root to *root (may be
 * NULL), frees the batch and returns the new version number (> 0) or
 * PC_ERR_*. Old versions beyond `retain` are released; their nodes are
 * freed after a grace period (call_rcu), never under a reader. */
int64_t pc_state_commit(pc_state_batch_t *b, pc_hash_t *root);
/* pc_state_abort drops a batch without committing. */
void pc_state_abort(pc_state_batch_t *b);
/* pc_state_publish makes retained version v the current one for readers
 * (rcu_assign_pointer). 0 or PC_ERR_NOT_FOUND. */
int pc_state_publish(pc_state_t *s, uint64_t v);
/* pc_state_head returns the newest committed version number. */
uint64_t pc_state_head(const pc_state_t *s);
/* pc_state_memory returns bytes held by trie nodes of all retained versions. */
size_t pc_state_memory(const pc_state_t *s);
/* pc_state_memory_reserved returns bytes the trie holds from the system:
 * node chunks (free slots included: the high-water mark) and big nodes.
 * Writer thread. */
size_t pc_state_memory_reserved(const pc_state_t *s);

/* ================================================================ snapshots */

#define PC_SNAPSHOT_CHUNK 65536u
#define PC_SNAPSHOT_MAX_CHUNKS (1u << 20) /* 64 GiB */

/* A decoded manifest. chunk_hashes is owned by the struct (pc_snapshot_manifest_free). */
typedef struct {
  uint64_t height;
  pc_hash_t root;
  uint64_t keys;
  uint64_t data_len;
  uint32_t chunk_size;
  uint32_t chunks;
  pc_hash_t *chunk_hashes;
  pc_hash_t manifest_hash; /* what the checkpoint certificate signs */
} pc_snapshot_manifest_t;

/* pc_snapshot_write streams version v (the caller holds rcu_read_lock and
 * v is from pc_state_current/pc_state_at) to dir/snap-<height>.dat and
 * .manifest, both canonical, synced and renamed into place. Fills *m when
 * m != NULL. 0 or PC_ERR_IO / PC_ERR_NOMEM. Any registered thread. */
int pc_snapshot_write(const pc_state_version_t *v, uint64_t height, const char *dir, const pc_io_t *io,
                      pc_snapshot_manifest_t *m);
/* pc_snapshot_manifest_read reads and decodes dir/snap-<height>.manifest
 * (PC_DEC_SNAPSHOT counts rejections). */
int pc_snapshot_manifest_read(const char *dir, uint64_t height, const pc_io_t *io, pc_snapshot_manifest_t *m);
int pc_snapshot_manifest_decode(const uint8_t *buf, size_t len, pc_snapshot_manifest_t *m);
void pc_snapshot_manifest_free(pc_snapshot_manifest_t *m);
/* pc_snapshot_chunk reads chunk i of snapshot `height` into out (cap ≥
 * chunk size) for state transfer; *len gets its size. 0, PC_ERR_NOT_FOUND,
 * PC_ERR_RANGE or PC_ERR_IO. Any thread. */
int pc_snapshot_chunk(const char *dir, uint64_t height, const pc_io_t *io, uint32_t i, uint8_t *out, size_t cap,
                      size_t *len);
/* pc_snapshot_chunk_verify checks a received chunk against the manifest:
 * 0, PC_ERR_RANGE or PC_ERR_CHECKSUM. Pure. */
int pc_snapshot_chunk_verify(const pc_snapshot_manifest_t *m, uint32_t i, const uint8_t *data, size_t len);
/* pc_snapshot_load reads snapshot `height` from dir, checks every chunk
 * hash, decodes entries (strictly increasing trie order), commits them as
 * one batch into the empty state s (head must be 0) and checks the
 * resulting root against the manifest and, when expect_root != NULL,
 * against it (e.g. from a checkpoint certificate). Returns the committed
 * version number (> 0) or PC_ERR_CHECKSUM / PC_ERR_CORRUPT / PC_ERR_IO /
 * PC_ERR_STATE. Writer thread of s. Reads the whole data file into memory.
 * After PC_ERR_CORRUPT from the final root check a version was committed:
 * discard s (pc_state_free) and fetch the snapshot again. */
int64_t pc_snapshot_load(pc_state_t *s, const char *dir, uint64_t height, const pc_io_t *io,
                         const pc_hash_t *expect_root);
/* pc_snapshot_manifest_raw reads dir/snap-<height>.manifest as bytes
 * (checked with pc_snapshot_manifest_decode, which fills *m when m !=
 * NULL) for serving it to a replica in state transfer. *buf is malloc'd,
 * the caller frees it. 0, PC_ERR_NOT_FOUND, PC_ERR_IO or a decode error. */
int pc_snapshot_manifest_raw(const char *dir, uint64_t height, const pc_io_t *io, uint8_t **buf, size_t *len,
                             pc_snapshot_manifest_t *m);

/* Installing a snapshot received chunk by chunk (state transfer). The data
 * stream is written to dir/snap-<h>.dat.xfer at each chunk's offset; finish
 * syncs it, renames it to snap-<h>.dat and writes snap-<h>.manifest last
 * (synced temporary + rename + directory sync, as pc_snapshot_write), so a
 * crash leaves either no snapshot of h or a whole one, and pc_snapshot_load
 * / pc_snapshot_latest then see it like any local snapshot. Caller thread:
 * any one thread (it does file I/O: the store stage). */
typedef struct pc_snapshot_install pc_snapshot_install_t;
/* pc_snapshot_install_begin decodes the manifest (the bytes whose hash the
 * checkpoint certifies; the caller checked it) and creates the temporary
 * data file. NULL (logged) on a bad manifest, I/O error or OOM. */
pc_snapshot_install_t *pc_snapshot_install_begin(const char *dir, const pc_io_t *io, const uint8_t *manifest,
                                                 size_t len);
/* pc_snapshot_install_chunk verifies chunk i against the manifest and
 * writes it: 0, PC_ERR_RANGE, PC_ERR_CHECKSUM (nothing written) or
 * PC_ERR_IO. A chunk written twice is harmless. */
int pc_snapshot_install_chunk(pc_snapshot_install_t *in, uint32_t i, const uint8_t *data, size_t len);
/* pc_snapshot_install_finish: every chunk present (else PC_ERR_STATE and
 * nothing changes; the installer stays usable), then the files as above.
 * *height gets the snapshot height. Frees `in` unless PC_ERR_STATE. 0,
 * PC_ERR_STATE or PC_ERR_IO. */
int pc_snapshot_install_finish(pc_snapshot_install_t *in, uint64_t *height);
/* pc_snapshot_install_abort removes the temporary file and frees `in`. */
void pc_snapshot_install_abort(pc_snapshot_install_t *in);
/* pc_snapshot_install_missing: chunks not yet written. */
uint32_t pc_snapshot_install_missing(const pc_snapshot_install_t *in);

/* pc_snapshot_latest finds the highest height with a manifest in dir:
 * 0 (*height set) or PC_ERR_NOT_FOUND. Restart = load it, then replay the
 * log's blocks above it through the executor. */
int pc_snapshot_latest(const char *dir, uint64_t *height);

#endif /* PC_STORAGE_H */
