/* log.c — the append-only block log with group commit and recovery.
 *
 * ============================================================ file format
 * A log is a directory of segment files "seg-NNNNNNNN.log" (8 decimal
 * digits, consecutive numbers from the first one). Every segment is
 * preallocated to its full size with zeros. All integers little-endian.
 * A log position is (segment << 32) | offset, compared as a u64.
 *
 * Segment header, 64 bytes at offset 0:
 *   off size field         rule
 *   0   8    magic         "PCLOGSEG"
 *   8   4    version       1
 *   12  4    header_size   64
 *   16  4    segment       its own number (= the file name's)
 *   20  4    reserved      0
 *   24  8    segment_size  the file size; the same in every segment
 *   32  28   reserved      0
 *   60  4    crc           CRC32C of bytes 0..59
 *
 * Then commit groups, each starting at a multiple of 64 bytes, from offset
 * 64. A group never spans two segments. Group header, 64 bytes:
 *   0   4    magic         "PCGH"
 *   4   2    version       1
 *   6   2    header_size   64
 *   8   8    first_seq     sequence number of its first record (the log's
 *                          records are numbered 1, 2, 3 ... without gaps)
 *   16  8    synced_before log position up to which the log was durable
 *                          (fdatasync returned) when the group was written;
 *                          ≤ the group's own position
 *   24  4    n_records     ≥ 1
 *   28  4    body_len      bytes of records that follow the header
 *   32  8    first_height  height of its first block record, 0 if none
 *   40  4    n_blocks      number of block records
 *   44  4    body_crc      CRC32C of the body
 *   48  4    prev_seg_end  in the first group of a segment: the offset where
 *                          the previous segment's data ends (0 when none);
 *                          0 in every other group
 *   52  8    reserved      0
 *   60  4    header_crc    CRC32C of bytes 0..59
 * followed by body_len bytes of records, then zero padding to 64 bytes.
 *
 * Record (both kinds), back to back inside a group body:
 *   0   4    magic         "PCRC"
 *   4   1    version       1
 *   5   1    type          1 = block, 2 = consensus, 3 = base
 *   6   2    reserved      0
 *   8   4    length        total bytes of this record, crc included
 *   12  8    seq           first_seq of the group + its index in the group
 *   block (type 1):
 *   20  8    height        ≥ 1; block heights are consecutive in the log
 *   28  32   prev_hash
 *   60  32   block_hash
 *   92  32   exec_root
 *   124 4+C  certificate   u32 length C ≤ PC_LOG_CERT_MAX, bytes
 *   .   4+B  block         u32 length B ≤ PC_LOG_BLOCK_MAX, bytes
 *   consensus (type 2):
 *   20  2    kind
 *   22  8    height
 *   30  4    round
 *   34  4+P  payload       u32 length P ≤ PC_LOG_CONSENSUS_MAX, bytes
 *   base (type 3): the block record's layout; height = b, the height of a
 *   snapshot installed by state transfer; block_hash = the chain hash at b
 *   (zeros if unknown), exec_root = the certified execution root of b,
 *   cert = the certificate that certifies it, block = driver bytes (e.g.
 *   the manifest hash); prev_hash zero. It says: "the ledger continues at
 *   b + 1 from the state of b; the blocks before this record are
 *   superseded". b ≥ the last block height before it (never backwards).
 *   last 4   crc           CRC32C of every earlier byte of the record
 * A record is valid iff all fields parse exactly to `length` and the CRC
 * matches; a group is valid iff its header CRC, body CRC, every record,
 * the sequence numbers and the block heights (each the previous + 1, or
 * b + 1 after a base record of height b) check. Group header fields
 * first_height and n_blocks count block records (type 1) only.
 *
 * ========================================================= recovery rule
 * Open scans every segment from the first group. At the first position G
 * (in segment i) where no valid group starts:
 *  - if some valid group header anywhere after G (later 64-byte slots of
 *    segment i, or any later segment) has synced_before > G, and G held
 *    data (always, unless the 64 bytes at G are zero and the first group of
 *    segment i+1 says segment i's data ended at or before G), the bytes at
 *    G had been made durable, so the damage is CORRUPTION: open fails and
 *    names segment, offset and height; `pc-ledger repair` can cut there.
 *  - else, if the 64 bytes at G are zero and segment i is not the last,
 *    G is the unused end of segment i: go on with segment i+1;
 *  - else everything from G on was written after the last sync: a TORN
 *    TAIL. It is cut (segment i zero-filled from G, later segments
 *    deleted) and reported with the bytes and block heights dropped. A
 *    zero-filled rest of the last segment is a clean end.
 * The writer keeps at most one unsynced batch of groups on disk and makes
 * a group's synced_before the end of the last synced group, which is what
 * makes this rule sound. Damage to the very last synced group, with no
 * group written after it, looks like a torn tail (nothing on disk can tell
 * them apart); the durable-height watermark the node reported is the
 * cross-check an operator has.
 *
 * Base records are recovered like any other: the last intact one found
 * sets the readable range to (b, last block] and the next append to the
 * height after it; one torn away with the tail leaves the log as it was
 * before it (the transfer is redone).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage.h"
#include "storage/storage_private.h"

#define SEG_HDR 64u
#define GRP_HDR 64u
#define GRP_ALIGN 64u
#define REC_HDR 20u
#define REC_BLOCK_MIN (REC_HDR + 8 + 96 + 4 + 4 + 4)
#define REC_CONS_MIN (REC_HDR + 2 + 8 + 4 + 4 + 4)
#define LOG_MAX_SEGMENTS (1u << 16)
#define IDX_CHUNK_BITS 16
#define IDX_CHUNK (1u << IDX_CHUNK_BITS)
#define IDX_CHUNKS (1u << 16)

static const uint8_t SEG_MAGIC[8] = {'P', 'C', 'L', 'O', 'G', 'S', 'E', 'G'};
#define GRP_MAGIC 0x48474350u /* "PCGH" */
#define REC_MAGIC 0x43524350u /* "PCRC" */

static inline uint64_t mkpos(uint32_t seg, uint32_t off) { return ((uint64_t)seg << 32) | off; }
static inline uint32_t pos_seg(uint64_t p) { return (uint32_t)(p >> 32); }
static inline uint32_t pos_off(uint64_t p) { return (uint32_t)p; }
static inline uint64_t align_up(uint64_t x) { return (x + GRP_ALIGN - 1) & ~(uint64_t)(GRP_ALIGN - 1); }

typedef struct {
  int fd;
  uint8_t *map; /* read-only MAP_SHARED view of the whole segment */
} seg_t;

typedef struct {
  uint8_t type;
  uint64_t height;
  uint64_t seq;
  size_t off; /* in the batch buffer */
  size_t len;
  uint32_t crc; /* CRC32C of all len bytes (its own crc field included) */
} rec_desc_t;

/* A batch buffer keeps GRP_HDR bytes of headroom before its first record
 * and GRP_ALIGN of tailroom after its last one: flush_batch writes each
 * group straight from it (header and padding laid over bytes already
 * written or saved and restored), so a record is copied once, by append. */

typedef struct {
  uint8_t *buf;
  size_t len, cap;
  rec_desc_t *recs;
  size_t n, cap_recs;
  uint64_t since_ns;
  bool urgent;
} batch_t;

struct pc_log {
  char *dir;
  const pc_io_t *io;
  pc_log_config_t cfg;
  uint64_t seg_size;
  seg_t *segs; /* indexed by segment number; entries < n_segs are set */
  uint32_t first_seg;
  _Atomic uint32_t n_segs; /* release-published after a segment is mapped */

  /* Writer position (flusher only). */
  uint32_t cur_seg;
  uint32_t cur_off;
  uint32_t prev_seg_end; /* for the first group of cur_seg */
  uint64_t synced_pos;

  /* Height index: idx[h - idx_origin] = position of the record (0 = none:
   * heights skipped by a base record). first_height is the lowest
   * readable height (b + 1 after a base record of height b). */
  uint64_t *_Atomic *idx;
  _Atomic uint64_t idx_origin;
  _Atomic uint64_t first_height;
  _Atomic uint64_t base_height;
  _Atomic uint64_t base_pos;
  _Atomic uint64_t durable_height;
  _Atomic uint64_t durable_seq;
  _Atomic int err;

  /* Producer side (under mu). */
  pthread_mutex_t mu;
  pthread_cond_t cv_work, cv_done;
  batch_t pending, spare;
  uint64_t next_seq;
  uint64_t next_height; /* 0 = the log holds no block: any height ≥ 1 */
  bool stop;
  bool flushing;
  pthread_t thread;
  bool has_thread;

  /* Positions of consensus records, in log order (under mu). */
  uint64_t *cons;
  size_t n_cons, cap_cons;
};

/* ---------------------------------------------------------------- records */

static size_t block_rec_len(const pc_log_block_t *b) { return REC_BLOCK_MIN + b->cert_len + b->block_len; }
static size_t cons_rec_len(const pc_log_consensus_t *c) { return REC_CONS_MIN + c->payload_len; }

static void rec_header(pc_writer_t *w, uint8_t type, size_t len, uint64_t seq) {
  pc_put_u32(w, REC_MAGIC);
  pc_put_u8(w, 1);
  pc_put_u8(w, type);
  pc_put_u16(w, 0);
  pc_put_u32(w, (uint32_t)len);
  pc_put_u64(w, seq);
}

static void rec_seal(uint8_t *rec, size_t len) { pc_store_le32(rec + len - 4, pc_crc32c(0, rec, len - 4)); }

/* CRC32C of a concatenation from the CRCs of its parts, so that a group's
 * body CRC does not read a large record's bytes a second time. CRC32C is
 * a remainder modulo P over GF(2), kept bit-reflected (bit 31 is x^0, bit
 * 0 is x^31; 0x82F63B78 is P without its x^32 term). The initial and final
 * inversions cancel in crc(A ‖ B) = crc(A) · x^(8·|B|) mod P ⊕ crc(B). */
#define CRC32C_POLY_REFLECTED 0x82F63B78u
#define CRC_COMBINE_MIN 8192u /* below this, re-reading the bytes is cheaper */

static uint32_t gf2_mulmod(uint32_t a, uint32_t b) {
  uint32_t r = 0;
  for (unsigned i = 0; i < 32; i++) { /* b holds (original b) · x^i */
    if (a & (0x80000000u >> i)) r ^= b;
    b = (b & 1u) ? (b >> 1) ^ CRC32C_POLY_REFLECTED : b >> 1;
  }
  return r;
}

static uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  uint32_t pw = 0x80000000u, sq = 0x40000000u; /* x^0, x^1 */
  for (uint64_t e = len_b * 8; e; e >>= 1) {
    if (e & 1u) pw = gf2_mulmod(pw, sq);
    sq = gf2_mulmod(sq, sq);
  }
  return gf2_mulmod(crc_a, pw) ^ crc_b;
}

uint32_t pc_log_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  return crc32c_combine(crc_a, crc_b, len_b);
}

static void encode_block(uint8_t *out, size_t len, uint8_t type, uint64_t seq, const pc_log_block_t *b) {
  pc_writer_t w;
  pc_writer_init(&w, out, len);
  rec_header(&w, type, len, seq);
  pc_put_u64(&w, b->height);
  pc_put_bytes(&w, b->prev_hash.b, PC_HASH_SIZE);
  pc_put_bytes(&w, b->block_hash.b, PC_HASH_SIZE);
  pc_put_bytes(&w, b->exec_root.b, PC_HASH_SIZE);
  pc_put_blob32(&w, b->cert, b->cert_len);
  pc_put_blob32(&w, b->block, b->block_len);
  pc_put_u32(&w, 0);
  rec_seal(out, len);
}

static void encode_cons(uint8_t *out, size_t len, uint64_t seq, const pc_log_consensus_t *c) {
  pc_writer_t w;
  pc_writer_init(&w, out, len);
  rec_header(&w, PC_LOG_REC_CONSENSUS, len, seq);
  pc_put_u16(&w, c->kind);
  pc_put_u64(&w, c->height);
  pc_put_u32(&w, c->round);
  pc_put_blob32(&w, c->payload, c->payload_len);
  pc_put_u32(&w, 0);
  rec_seal(out, len);
}

/* decode_record parses exactly len bytes; *seq gets the record's sequence. */
static int decode_record(const uint8_t *buf, size_t len, uint8_t *type, uint64_t *seq, pc_log_block_t *b,
                         pc_log_consensus_t *c) {
  if (len < REC_HDR + 4) return pc_reject_note(PC_DEC_LOG_RECORD, PC_ERR_TRUNCATED);
  pc_reader_t r;
  pc_reader_init(&r, buf, len - 4);
  if (pc_get_u32(&r) != REC_MAGIC) return pc_reject_note(PC_DEC_LOG_RECORD, PC_ERR_MAGIC);
  if (pc_get_u8(&r) != 1) return pc_reject_note(PC_DEC_LOG_RECORD, PC_ERR_VERSION);
  uint8_t t = pc_get_u8(&r);
  if (pc_get_u16(&r) != 0) return pc_reject_note(PC_DEC_LOG_RECORD, PC_ERR_INVALID);
  if (pc_get_u32(&r) != len) return pc_reject_note(PC_DEC_LOG_RECORD, PC_ERR_INVALID);
  uint64_t s = pc_get_u64(&r);
  if (pc_crc32c(0, buf, len - 4) != pc_load_le32(buf + len - 4))
    return pc_reject_note(PC_DEC_LOG_RECORD, PC_ERR_CHECKSUM);
  if (t == PC_LOG_REC_BLOCK || t == PC_LOG_REC_BASE) {
    pc_log_block_t x;
    x.height = pc_get_u64(&r);
    pc_get_bytes(&r, x.prev_hash.b, PC_HASH_SIZE);
    pc_get_bytes(&r, x.block_hash.b, PC_HASH_SIZE);
    pc_get_bytes(&r, x.exec_root.b, PC_HASH_SIZE);
    x.cert = pc_get_blob32(&r, PC_LOG_CERT_MAX, &x.cert_len);
    x.block = pc_get_blob32(&r, PC_LOG_BLOCK_MAX, &x.block_len);
    int e = pc_reader_finish(&r);
    if (e) return pc_reject_note(PC_DEC_LOG_RECORD, e);
    if (x.height == 0) return pc_reject_note(PC_DEC_LOG_RECORD, PC_ERR_RANGE);
    if (b) *b = x;
  } else if (t == PC_LOG_REC_CONSENSUS) {
    pc_log_consensus_t x;
    x.kind = pc_get_u16(&r);
    x.height = pc_get_u64(&r);
    x.round = pc_get_u32(&r);
    x.payload = pc_get_blob32(&r, PC_LOG_CONSENSUS_MAX, &x.payload_len);
    int e = pc_reader_finish(&r);
    if (e) return pc_reject_note(PC_DEC_LOG_RECORD, e);
    if (c) *c = x;
  } else {
    return pc_reject_note(PC_DEC_LOG_RECORD, PC_ERR_INVALID);
  }
  *type = t;
  if (seq) *seq = s;
  return 0;
}

int pc_log_record_decode(const uint8_t *buf, size_t len, uint8_t *type, pc_log_block_t *b,
                         pc_log_consensus_t *c) {
  uint8_t t = 0;
  int e = decode_record(buf, len, &t, NULL, b, c);
  if (e == 0 && type) *type = t;
  return e;
}

/* ------------------------------------------------------------ group header */

typedef struct {
  uint64_t first_seq, synced_before, first_height;
  uint32_t n_records, body_len, n_blocks, body_crc, prev_seg_end;
} grp_t;

static void grp_encode(uint8_t out[GRP_HDR], const grp_t *g) {
  memset(out, 0, GRP_HDR);
  pc_store_le32(out, GRP_MAGIC);
  pc_store_le16(out + 4, 1);
  pc_store_le16(out + 6, GRP_HDR);
  pc_store_le64(out + 8, g->first_seq);
  pc_store_le64(out + 16, g->synced_before);
  pc_store_le32(out + 24, g->n_records);
  pc_store_le32(out + 28, g->body_len);
  pc_store_le64(out + 32, g->first_height);
  pc_store_le32(out + 40, g->n_blocks);
  pc_store_le32(out + 44, g->body_crc);
  pc_store_le32(out + 48, g->prev_seg_end);
  pc_store_le32(out + 60, pc_crc32c(0, out, 60));
}

/* grp_decode checks a group header in isolation (not its body). */
static bool grp_decode(const uint8_t *p, grp_t *g) {
  if (pc_load_le32(p) != GRP_MAGIC) return false;
  if (pc_crc32c(0, p, 60) != pc_load_le32(p + 60)) return false;
  if (pc_load_le16(p + 4) != 1 || pc_load_le16(p + 6) != GRP_HDR) return false;
  for (int i = 52; i < 60; i++)
    if (p[i]) return false;
  g->first_seq = pc_load_le64(p + 8);
  g->synced_before = pc_load_le64(p + 16);
  g->n_records = pc_load_le32(p + 24);
  g->body_len = pc_load_le32(p + 28);
  g->first_height = pc_load_le64(p + 32);
  g->n_blocks = pc_load_le32(p + 40);
  g->body_crc = pc_load_le32(p + 44);
  g->prev_seg_end = pc_load_le32(p + 48);
  return g->n_records >= 1 && g->first_seq >= 1;
}

static void seg_header(uint8_t out[SEG_HDR], uint32_t seg, uint64_t size) {
  memset(out, 0, SEG_HDR);
  memcpy(out, SEG_MAGIC, 8);
  pc_store_le32(out + 8, 1);
  pc_store_le32(out + 12, SEG_HDR);
  pc_store_le32(out + 16, seg);
  pc_store_le64(out + 24, size);
  pc_store_le32(out + 60, pc_crc32c(0, out, 60));
}

static bool seg_header_ok(const uint8_t *p, uint32_t seg, uint64_t *size) {
  if (memcmp(p, SEG_MAGIC, 8) != 0) return false;
  if (pc_crc32c(0, p, 60) != pc_load_le32(p + 60)) return false;
  if (pc_load_le32(p + 8) != 1 || pc_load_le32(p + 12) != SEG_HDR || pc_load_le32(p + 16) != seg) return false;
  *size = pc_load_le64(p + 24);
  return *size >= PC_LOG_SEGMENT_MIN && *size <= PC_LOG_SEGMENT_MAX;
}

static void seg_path(char *out, size_t cap, const char *dir, uint32_t seg) {
  snprintf(out, cap, "%s/seg-%08" PRIu32 ".log", dir, seg);
}

/* ------------------------------------------------------------ index */

static uint64_t *idx_slot(pc_log_t *log, uint64_t rel, bool create) {
  uint64_t ci = rel >> IDX_CHUNK_BITS;
  if (ci >= IDX_CHUNKS) return NULL;
  /* relaxed: chunks are created by the one writer; readers reach them only
   * through an acquire of durable_height, which orders the creation. */
  uint64_t *c = atomic_load_explicit(&log->idx[ci], memory_order_relaxed);
  if (!c && create) {
    c = calloc(IDX_CHUNK, sizeof *c);
    if (!c) return NULL;
    atomic_store_explicit(&log->idx[ci], c, memory_order_relaxed);
  }
  return c ? &c[rel & (IDX_CHUNK - 1)] : NULL;
}

static int index_block(pc_log_t *log, uint64_t height, uint64_t pos) {
  uint64_t origin = atomic_load_explicit(&log->idx_origin, memory_order_relaxed);
  if (origin == 0) {
    origin = height;
    atomic_store_explicit(&log->idx_origin, height, memory_order_relaxed);
  }
  if (atomic_load_explicit(&log->first_height, memory_order_relaxed) == 0)
    atomic_store_explicit(&log->first_height, height, memory_order_relaxed);
  uint64_t *slot = idx_slot(log, height - origin, true);
  if (!slot) return PC_ERR_NOMEM;
  *slot = pos;
  return 0;
}

/* note_base records a base of height b at pos: heights ≤ b are no longer
 * readable; the next block is b + 1. Writer side; readers see it through
 * the release of durable_height that follows. */
static void note_base(pc_log_t *log, uint64_t b, uint64_t pos) {
  if (atomic_load_explicit(&log->idx_origin, memory_order_relaxed) == 0)
    atomic_store_explicit(&log->idx_origin, b + 1, memory_order_relaxed);
  atomic_store_explicit(&log->first_height, b + 1, memory_order_relaxed);
  atomic_store_explicit(&log->base_height, b, memory_order_relaxed);
  atomic_store_explicit(&log->base_pos, pos, memory_order_relaxed);
}

static int note_consensus(pc_log_t *log, uint64_t pos) {
  if (log->n_cons == log->cap_cons) {
    size_t nc = log->cap_cons ? log->cap_cons * 2 : 64;
    uint64_t *n = realloc(log->cons, nc * sizeof *n);
    if (!n) return PC_ERR_NOMEM;
    log->cons = n;
    log->cap_cons = nc;
  }
  log->cons[log->n_cons++] = pos;
  return 0;
}

/* ------------------------------------------------------------ scanning */

typedef struct {
  const pc_io_t *io;
  const char *dir;
  bool modify;
  pc_log_t *log; /* when opening: receives segments and index */
  pc_log_report_t *rep;
  uint32_t first_seg, n_segs;
  uint64_t seg_size;
  int *fds;
  uint8_t **maps;
  uint64_t *sizes;
  /* results */
  uint64_t next_seq, next_height;
  uint64_t end_pos; /* end of the last valid group */
  uint32_t end_seg, end_off; /* where appends continue (last segment) */
} scan_t;

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* list_segments returns the sorted segment numbers found in dir. */
static int list_segments(const char *dir, uint32_t **out, uint32_t *n) {
  DIR *d = opendir(dir);
  if (!d) return PC_ERR_IO;
  uint32_t *v = NULL;
  uint32_t cnt = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    unsigned num;
    char tail[8];
    if (strlen(e->d_name) != 16 || sscanf(e->d_name, "seg-%8u.%3s", &num, tail) != 2 || strcmp(tail, "log") != 0)
      continue;
    if (cnt == cap) {
      cap = cap ? cap * 2 : 16;
      uint32_t *nv = realloc(v, cap * sizeof *nv);
      if (!nv) {
        free(v);
        closedir(d);
        return PC_ERR_NOMEM;
      }
      v = nv;
    }
    v[cnt++] = num;
  }
  closedir(d);
  if (cnt) qsort(v, cnt, sizeof *v, cmp_u32);
  *out = v;
  *n = cnt;
  return 0;
}

/* check_group validates the group at map+off of segment seg fully.
 * Returns true and fills *g if valid and consistent with the expected
 * sequence and height. */
static bool check_group(const uint8_t *map, uint64_t size, uint32_t seg, uint32_t off, uint64_t exp_seq,
                        uint64_t exp_height, grp_t *g) {
  if ((uint64_t)off + GRP_HDR > size) return false;
  if (!grp_decode(map + off, g)) return false;
  if ((uint64_t)off + GRP_HDR + g->body_len > size) return false;
  if (g->synced_before > mkpos(seg, off)) return false;
  if (g->first_seq != exp_seq) return false;
  const uint8_t *body = map + off + GRP_HDR;
  if (pc_crc32c(0, body, g->body_len) != g->body_crc) return false;
  size_t p = 0;
  uint64_t h = exp_height;
  uint32_t blocks = 0;
  uint64_t first_h = 0;
  for (uint32_t i = 0; i < g->n_records; i++) {
    if (g->body_len - p < REC_HDR + 4) return false;
    uint32_t len = pc_load_le32(body + p + 8);
    if (len > g->body_len - p) return false;
    uint8_t t;
    uint64_t s;
    pc_log_block_t b;
    if (decode_record(body + p, len, &t, &s, &b, NULL) != 0) return false;
    if (s != exp_seq + i) return false;
    if (t == PC_LOG_REC_BLOCK) {
      if (h != 0 && b.height != h) return false;
      if (!first_h) first_h = b.height;
      h = b.height + 1;
      blocks++;
    } else if (t == PC_LOG_REC_BASE) {
      if (h != 0 && b.height + 1 < h) return false; /* never backwards */
      h = b.height + 1;
    }
    p += len;
  }
  return p == g->body_len && blocks == g->n_blocks && first_h == g->first_height;
}

/* evidence_after: does a valid group header after (seg, off) claim, with
 * its synced_before, that the data at (seg, off) had been synced? `zero`:
 * the bytes at (seg, off) are zero, which is legitimate past the end of a
 * full segment's data. */
static bool evidence_after(scan_t *sc, uint32_t seg, uint32_t off, bool zero) {
  uint64_t pos = mkpos(seg, off);
  /* Where segment seg's data ended, from the next segment's first group. */
  uint64_t data_end = UINT64_MAX;
  uint32_t ni = seg + 1 - sc->first_seg;
  if (zero && ni < sc->n_segs) {
    grp_t g1;
    data_end = 0; /* unknown: the next segment's own scan will judge it */
    if (sc->maps[ni] && sc->sizes[ni] >= SEG_HDR + GRP_HDR && grp_decode(sc->maps[ni] + SEG_HDR, &g1))
      data_end = g1.prev_seg_end;
  }
  /* When later segments cannot count (the zero bytes lie past the data
   * the next segment says this one held), only this segment is scanned:
   * keeps an open O(log size) instead of O(segments²). */
  uint32_t end_seg = sc->first_seg + sc->n_segs;
  if (zero && data_end != UINT64_MAX && off >= data_end) end_seg = seg + 1;
  for (uint32_t s = seg; s < end_seg; s++) {
    uint32_t i = s - sc->first_seg;
    if (!sc->maps[i]) continue;
    uint64_t size = sc->sizes[i];
    uint64_t o = s == seg ? align_up((uint64_t)off + 1) : SEG_HDR;
    for (; o + GRP_HDR <= size; o += GRP_ALIGN) {
      const uint8_t *p = sc->maps[i] + o;
      if (pc_load_le32(p) != GRP_MAGIC) continue;
      grp_t g;
      if (!grp_decode(p, &g) || g.synced_before > mkpos(s, (uint32_t)o) || g.synced_before <= pos) continue;
      if (pos_seg(g.synced_before) == seg) return true;
      if (!zero || data_end == UINT64_MAX || off < data_end) return true;
    }
  }
  return false;
}

/* last_nonzero returns one past the last non-zero byte in [from, size). */
static uint64_t last_nonzero(const uint8_t *map, uint64_t from, uint64_t size) {
  uint64_t e = size;
  while (e > from && (e & 7)) {
    if (map[e - 1]) return e;
    e--;
  }
  while (e >= from + 8) {
    uint64_t w;
    memcpy(&w, map + e - 8, 8);
    if (w) break;
    e -= 8;
  }
  while (e > from && map[e - 1] == 0) e--;
  return e;
}

/* torn_heights widens the dropped height range from group headers found
 * in the torn area (best effort: only headers that still check). */
static void torn_heights(scan_t *sc, uint32_t seg, uint32_t off) {
  for (uint32_t s = seg; s < sc->first_seg + sc->n_segs; s++) {
    uint32_t i = s - sc->first_seg;
    if (!sc->maps[i]) continue;
    for (uint64_t o = s == seg ? off : SEG_HDR; o + GRP_HDR <= sc->sizes[i]; o += GRP_ALIGN) {
      const uint8_t *p = sc->maps[i] + o;
      if (pc_load_le32(p) != GRP_MAGIC) continue;
      grp_t g;
      if (!grp_decode(p, &g) || g.n_blocks == 0 || g.first_height == 0) continue;
      uint64_t last = g.first_height + g.n_blocks - 1;
      if (!sc->rep->dropped_first || g.first_height < sc->rep->dropped_first) sc->rep->dropped_first = g.first_height;
      if (last > sc->rep->dropped_last) sc->rep->dropped_last = last;
    }
  }
}

static int scan_open_segments(scan_t *sc, const uint32_t *nums, uint32_t n) {
  sc->fds = calloc(n ? n : 1, sizeof *sc->fds);
  sc->maps = calloc(n ? n : 1, sizeof *sc->maps);
  sc->sizes = calloc(n ? n : 1, sizeof *sc->sizes);
  if (!sc->fds || !sc->maps || !sc->sizes) return PC_ERR_NOMEM;
  for (uint32_t i = 0; i < n; i++) sc->fds[i] = -1;
  char path[4096];
  for (uint32_t i = 0; i < n; i++) {
    seg_path(path, sizeof path, sc->dir, nums[i]);
    int fd = sc->io->open(sc->io->ctx, path, sc->modify ? O_RDWR : O_RDONLY, 0);
    if (fd < 0) {
      PC_ERROR("log: cannot open %s: %s", path, strerror(errno));
      return PC_ERR_IO;
    }
    sc->fds[i] = fd;
    struct stat st;
    if (fstat(fd, &st) != 0) return PC_ERR_IO;
    sc->sizes[i] = (uint64_t)st.st_size;
    if (st.st_size > 0) {
      sc->maps[i] = sc->io->mmap(sc->io->ctx, fd, (size_t)st.st_size);
      if (!sc->maps[i]) {
        PC_ERROR("log: cannot map %s: %s", path, strerror(errno));
        return PC_ERR_IO;
      }
    }
  }
  return 0;
}

static void report_corrupt(scan_t *sc, uint32_t seg, uint32_t off, uint64_t height) {
  pc_log_report_t *r = sc->rep;
  r->status = PC_LOG_CORRUPT;
  r->segment = seg;
  r->offset = off;
  r->height = height;
  snprintf(r->message, sizeof r->message,
           "log %s corrupt at segment %" PRIu32 " offset %" PRIu32 " (height %" PRIu64
           "), before the last synced offset; to drop it and all later records run: "
           "pc-ledger repair --data %s --truncate-at %" PRIu32 ":%" PRIu32,
           sc->dir, seg, off, height, sc->dir, seg, off);
}

/* scan walks the log; fills sc->rep; on PC_LOG_TORN with sc->modify cuts
 * the tail. When sc->log is set, records are indexed into it. */
static int scan(scan_t *sc) {
  pc_log_report_t *rep = sc->rep;
  memset(rep, 0, sizeof *rep);
  uint32_t *nums = NULL, n = 0;
  int e = list_segments(sc->dir, &nums, &n);
  if (e) return e;
  for (uint32_t i = 1; i < n; i++) {
    if (nums[i] != nums[i - 1] + 1) {
      sc->first_seg = nums[0];
      sc->n_segs = 0;
      report_corrupt(sc, nums[i - 1] + 1, 0, 0);
      snprintf(rep->message, sizeof rep->message, "log %s: segment %" PRIu32 " is missing (found %" PRIu32 ")",
               sc->dir, nums[i - 1] + 1, nums[i]);
      free(nums);
      return 0;
    }
  }
  sc->first_seg = n ? nums[0] : 0;
  sc->n_segs = n;
  rep->segments = n;
  e = scan_open_segments(sc, nums, n);
  free(nums);
  if (e) return e;
  sc->next_seq = 1;
  sc->next_height = 0;
  sc->end_pos = mkpos(sc->first_seg, SEG_HDR);
  sc->end_seg = sc->first_seg;
  sc->end_off = SEG_HDR;
  sc->seg_size = 0;
  if (n == 0) return 0;

  uint32_t cut_seg = 0, cut_off = 0;
  bool torn = false;
  for (uint32_t i = 0; i < n && !torn; i++) {
    uint32_t s = sc->first_seg + i;
    uint64_t size = sc->sizes[i], hsize = 0;
    if (size < SEG_HDR || !seg_header_ok(sc->maps[i], s, &hsize) || hsize != size ||
        (sc->seg_size && hsize != sc->seg_size)) {
      /* A segment whose header never became durable: only the last may be. */
      if (evidence_after(sc, s, 0, false) || i + 1 < n) {
        report_corrupt(sc, s, 0, sc->next_height);
        return 0;
      }
      torn = true;
      cut_seg = s;
      cut_off = 0;
      break;
    }
    sc->seg_size = hsize;
    uint32_t off = SEG_HDR;
    for (;;) {
      grp_t g;
      if (check_group(sc->maps[i], size, s, off, sc->next_seq, sc->next_height, &g)) {
        const uint8_t *body = sc->maps[i] + off + GRP_HDR;
        size_t p = 0;
        for (uint32_t k = 0; k < g.n_records; k++) {
          uint32_t len = pc_load_le32(body + p + 8);
          uint8_t t = body[p + 5];
          uint64_t rpos = mkpos(s, off + GRP_HDR + (uint32_t)p);
          if (t == PC_LOG_REC_BLOCK) {
            uint64_t h = pc_load_le64(body + p + REC_HDR);
            if (!rep->first_height) rep->first_height = h;
            rep->last_height = h;
            sc->next_height = h + 1;
            if (sc->log && index_block(sc->log, h, rpos) != 0) return PC_ERR_NOMEM;
          } else if (t == PC_LOG_REC_BASE) {
            uint64_t h = pc_load_le64(body + p + REC_HDR);
            rep->base_height = h;
            rep->first_height = 0; /* earlier blocks are superseded */
            rep->last_height = h;
            sc->next_height = h + 1;
            if (sc->log) {
              uint64_t origin = atomic_load_explicit(&sc->log->idx_origin, memory_order_relaxed);
              if (origin && h + 1 - origin >= (uint64_t)IDX_CHUNKS * IDX_CHUNK) return PC_ERR_RANGE;
              note_base(sc->log, h, rpos);
            }
          } else if (sc->log && note_consensus(sc->log, rpos) != 0) {
            return PC_ERR_NOMEM;
          }
          p += len;
        }
        rep->records += g.n_records;
        sc->next_seq = g.first_seq + g.n_records;
        off = (uint32_t)align_up((uint64_t)off + GRP_HDR + g.body_len);
        sc->end_pos = mkpos(s, off);
        sc->end_seg = s;
        sc->end_off = off;
        continue;
      }
      /* No valid group at (s, off). */
      bool room = (uint64_t)off + GRP_HDR <= size;
      bool zero = !room || last_nonzero(sc->maps[i], off, off + GRP_HDR) == off;
      if (evidence_after(sc, s, off, zero)) {
        grp_t gh;
        uint64_t h = sc->next_height;
        if ((uint64_t)off + GRP_HDR <= size && grp_decode(sc->maps[i] + off, &gh) && gh.first_height)
          h = gh.first_height;
        report_corrupt(sc, s, off, h);
        return 0;
      }
      if (zero && i + 1 < n) break; /* unused end of a full segment */
      if (zero && last_nonzero(sc->maps[i], off, size) == off) {
        sc->end_seg = s;
        sc->end_off = off;
        break; /* clean end */
      }
      torn = true;
      cut_seg = s;
      cut_off = off;
      break;
    }
  }
  if (!torn) {
    rep->status = PC_LOG_CLEAN;
    snprintf(rep->message, sizeof rep->message,
             "log %s clean: %" PRIu64 " records, heights %" PRIu64 "..%" PRIu64, sc->dir, rep->records,
             rep->first_height, rep->last_height);
    return 0;
  }
  /* Torn tail from (cut_seg, cut_off). */
  rep->status = PC_LOG_TORN;
  rep->segment = cut_seg;
  rep->offset = cut_off;
  rep->height = sc->next_height;
  torn_heights(sc, cut_seg, cut_off);
  uint64_t dropped = 0;
  for (uint32_t s = cut_seg; s < sc->first_seg + n; s++) {
    uint32_t i = s - sc->first_seg;
    if (!sc->maps[i]) continue;
    uint64_t from = s == cut_seg ? cut_off : 0;
    if (s == cut_seg && cut_off == 0) from = 0;
    uint64_t e2 = last_nonzero(sc->maps[i], from, sc->sizes[i]);
    if (e2 > from) dropped += e2 - from;
  }
  rep->dropped_bytes = dropped;
  if (rep->dropped_first && rep->dropped_first < sc->next_height) rep->dropped_first = sc->next_height;
  if (rep->dropped_last && rep->dropped_last < rep->dropped_first) rep->dropped_first = rep->dropped_last = 0;
  snprintf(rep->message, sizeof rep->message,
           "log %s: torn tail after the last sync at segment %" PRIu32 " offset %" PRIu32 ": %s%" PRIu64
           " bytes, block heights %" PRIu64 "..%" PRIu64 " (0..0 = none known)",
           sc->dir, cut_seg, cut_off, sc->modify ? "cut " : "would cut ", dropped, rep->dropped_first,
           rep->dropped_last);
  if (!sc->modify) return 0;

  const pc_io_t *io = sc->io;
  char path[4096];
  /* Delete the later segments (highest first; the cut segment too when the
   * cut is at its header), then zero-fill the cut segment from cut_off. */
  uint32_t keep_below = cut_off ? cut_seg + 1 : cut_seg;
  bool deleted = false;
  for (uint32_t s = sc->first_seg + n; s-- > keep_below;) {
    uint32_t i = s - sc->first_seg;
    if (sc->maps[i]) io->munmap(io->ctx, sc->maps[i], (size_t)sc->sizes[i]);
    sc->maps[i] = NULL;
    io->close(io->ctx, sc->fds[i]);
    sc->fds[i] = -1;
    seg_path(path, sizeof path, sc->dir, s);
    if (io->unlink(io->ctx, path) != 0) return PC_ERR_IO;
    sc->n_segs--;
    deleted = true;
  }
  if (cut_off) {
    /* Overwrite the torn bytes with zeros (cheaper than truncating and
     * reallocating the segment, and the file keeps its preallocation). */
    uint32_t i = cut_seg - sc->first_seg;
    uint64_t end = last_nonzero(sc->maps[i], cut_off, sc->sizes[i]);
    static const uint8_t zeros[65536];
    for (uint64_t o = cut_off; o < end; o += sizeof zeros) {
      size_t k = (size_t)PC_MIN((uint64_t)sizeof zeros, end - o);
      if (io_write_all(io, sc->fds[i], zeros, k, (off_t)o) != 0) return PC_ERR_IO;
    }
    if (io->fdatasync(io->ctx, sc->fds[i]) != 0) return PC_ERR_IO;
  }
  if (deleted && io->fsync_dir(io->ctx, sc->dir) != 0) return PC_ERR_IO;
  return 0;
}

static void scan_release(scan_t *sc, bool keep) {
  if (!sc->fds) return;
  for (uint32_t i = 0; i < sc->n_segs; i++) {
    if (keep) continue;
    if (sc->maps[i]) sc->io->munmap(sc->io->ctx, sc->maps[i], (size_t)sc->sizes[i]);
    if (sc->fds[i] >= 0) sc->io->close(sc->io->ctx, sc->fds[i]);
  }
  free(sc->fds);
  free(sc->maps);
  free(sc->sizes);
  sc->fds = NULL;
}

int pc_log_check(const char *dir, const pc_io_t *io, pc_log_report_t *report) {
  pc_log_report_t tmp;
  scan_t sc = {.io = io ? io : pc_io_posix(), .dir = dir, .modify = false, .rep = report ? report : &tmp};
  int e = scan(&sc);
  /* scan may stop early; release everything it opened */
  sc.n_segs = sc.rep->segments;
  scan_release(&sc, false);
  return e;
}

int pc_log_repair_truncate(const char *dir, const pc_io_t *io, uint32_t segment, uint32_t offset) {
  if (!io) io = pc_io_posix();
  uint32_t *nums = NULL, n = 0;
  int e = list_segments(dir, &nums, &n);
  if (e) return e;
  bool found = false;
  for (uint32_t i = 0; i < n; i++) found |= nums[i] == segment;
  if (!found) {
    free(nums);
    return PC_ERR_NOT_FOUND;
  }
  char path[4096];
  for (uint32_t i = n; i-- > 0;) {
    if (nums[i] <= segment) continue;
    seg_path(path, sizeof path, dir, nums[i]);
    if (io->unlink(io->ctx, path) != 0) {
      free(nums);
      return PC_ERR_IO;
    }
  }
  free(nums);
  seg_path(path, sizeof path, dir, segment);
  int fd = io->open(io->ctx, path, O_RDWR, 0);
  if (fd < 0) return PC_ERR_IO;
  struct stat st;
  e = 0;
  if (fstat(fd, &st) != 0) e = PC_ERR_IO;
  if (!e && (uint64_t)offset > (uint64_t)st.st_size) e = PC_ERR_RANGE;
  if (!e && offset < SEG_HDR && offset != 0) e = PC_ERR_RANGE;
  if (!e && (io->ftruncate(io->ctx, fd, offset) != 0 || io->fallocate(io->ctx, fd, 0, st.st_size) != 0 ||
             io->fdatasync(io->ctx, fd) != 0))
    e = PC_ERR_IO;
  io->close(io->ctx, fd);
  if (!e && offset == 0) {
    /* Cutting at 0 removes the segment altogether. */
    if (io->unlink(io->ctx, path) != 0) e = PC_ERR_IO;
  }
  if (!e && io->fsync_dir(io->ctx, dir) != 0) e = PC_ERR_IO;
  return e;
}

/* ------------------------------------------------------------ writing */

static int make_segment(pc_log_t *log, uint32_t s) {
  if (s >= LOG_MAX_SEGMENTS) return PC_ERR_FULL;
  const pc_io_t *io = log->io;
  char path[4096];
  seg_path(path, sizeof path, log->dir, s);
  int fd = io->open(io->ctx, path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    PC_ERROR("log: cannot create %s: %s", path, strerror(errno));
    return PC_ERR_IO;
  }
  uint8_t hdr[SEG_HDR];
  seg_header(hdr, s, log->seg_size);
  int e = 0;
  if (io->fallocate(io->ctx, fd, 0, (off_t)log->seg_size) != 0) e = PC_ERR_IO;
  /* Write the zeros for real: fallocate leaves "unwritten" extents, and
   * every fdatasync that first touches them also commits an extent
   * conversion (measured ~2x slower group commits on ext4). Overwriting
   * written blocks is a pure data sync. Costs one segment-sized write per
   * segment, at creation. */
  static const uint8_t zeros[1u << 20];
  for (uint64_t o = SEG_HDR; !e && o < log->seg_size; o += sizeof zeros)
    if (io_write_all(io, fd, zeros, (size_t)PC_MIN((uint64_t)sizeof zeros, log->seg_size - o), (off_t)o) != 0)
      e = PC_ERR_IO;
  if (!e && io_write_all(io, fd, hdr, SEG_HDR, 0) != 0) e = PC_ERR_IO;
  if (!e && io->fdatasync(io->ctx, fd) != 0) e = PC_ERR_IO;
  if (!e && io->fsync_dir(io->ctx, log->dir) != 0) e = PC_ERR_IO;
  uint8_t *map = NULL;
  if (!e && !(map = io->mmap(io->ctx, fd, (size_t)log->seg_size))) e = PC_ERR_IO;
  if (e) {
    PC_ERROR("log: cannot prepare segment %s: %s", path, strerror(errno));
    io->close(io->ctx, fd);
    return e;
  }
  log->segs[s].fd = fd;
  log->segs[s].map = map;
  log->prev_seg_end = s > log->first_seg ? log->cur_off : 0;
  /* release: pairs with readers' acquire of n_segs before using segs[s] */
  atomic_store_explicit(&log->n_segs, s + 1 - log->first_seg, memory_order_release);
  log->cur_seg = s;
  log->cur_off = SEG_HDR;
  return 0;
}

/* flush_batch writes batch b as one or more groups, then one fdatasync per
 * touched segment, then advances the watermarks. Flusher context only. */
static int flush_batch(pc_log_t *log, batch_t *b) {
  if (b->n == 0) return 0;
  int e = atomic_load_explicit(&log->err, memory_order_relaxed);
  if (e) return e;
  const pc_io_t *io = log->io;
  size_t max_bytes = log->cfg.max_group_bytes;
  uint32_t first_touched = log->cur_seg;
  size_t i = 0;
  while (i < b->n && !e) {
    /* Gather records [i, j) into one group. */
    size_t j = i, body = 0;
    uint64_t space = log->seg_size - log->cur_off;
    while (j < b->n) {
      size_t nb = body + b->recs[j].len;
      if (j > i && (nb > max_bytes || align_up(GRP_HDR + nb) > space)) break;
      body = nb;
      j++;
    }
    if (align_up(GRP_HDR + body) > space) {
      /* Not even the first record fits here: start a new segment. */
      e = make_segment(log, log->cur_seg + 1);
      if (e) break;
      continue;
    }
    grp_t g = {.first_seq = b->recs[i].seq, .synced_before = log->synced_pos, .n_records = (uint32_t)(j - i),
               .body_len = (uint32_t)body,
               .prev_seg_end = log->cur_off == SEG_HDR ? log->prev_seg_end : 0};
    for (size_t k = i; k < j; k++) {
      if (b->recs[k].type == PC_LOG_REC_BLOCK) {
        if (!g.first_height) g.first_height = b->recs[k].height;
        g.n_blocks++;
      }
    }
    size_t base = b->recs[i].off;
    uint8_t *src = b->buf + base;
    uint32_t crc = 0;
    for (size_t k = i; k < j; k++) {
      size_t rl = b->recs[k].len;
      crc = rl >= CRC_COMBINE_MIN ? crc32c_combine(crc, b->recs[k].crc, rl)
                                  : pc_crc32c(crc, b->buf + b->recs[k].off, rl);
    }
    g.body_crc = crc;
    size_t total = (size_t)align_up(GRP_HDR + body);
    /* Write the group in place: its header goes over the GRP_HDR bytes
     * before record i (the batch's headroom, or the end of a record that
     * an earlier group already wrote), its padding over the start of
     * record j (saved and put back) or the tailroom. */
    uint8_t *hdr = src - GRP_HDR, *pad = src + body, saved[GRP_ALIGN];
    size_t pad_len = total - GRP_HDR - body;
    if (j < b->n) memcpy(saved, pad, pad_len);
    memset(pad, 0, pad_len);
    grp_encode(hdr, &g);
    int w = io_write_all(io, log->segs[log->cur_seg].fd, hdr, total, log->cur_off);
    if (j < b->n) memcpy(pad, saved, pad_len);
    if (w) {
      PC_ERROR("log: write of %zu bytes at segment %" PRIu32 " offset %" PRIu32 " failed: %s", total,
               log->cur_seg, log->cur_off, strerror(-w));
      e = PC_ERR_IO;
      break;
    }
    /* Remember where each record went (indexed once the sync returns). */
    for (size_t k = i; k < j; k++)
      b->recs[k].off = (size_t)mkpos(log->cur_seg, log->cur_off + GRP_HDR +
                                                       (uint32_t)(b->recs[k].off - base));
    log->cur_off += (uint32_t)total;
    i = j;
  }
  for (uint32_t s = first_touched; !e && s <= log->cur_seg; s++) {
    if (io->fdatasync(io->ctx, log->segs[s].fd) != 0) {
      PC_ERROR("log: fdatasync of segment %" PRIu32 " failed: %s", s, strerror(errno));
      e = PC_ERR_IO;
    }
  }
  if (e) {
    /* Sticky: after a failed write or sync nothing written since the last
     * good sync can be trusted (Linux may drop dirty pages on EIO). */
    int zero = 0;
    atomic_compare_exchange_strong_explicit(&log->err, &zero, e, memory_order_release, memory_order_relaxed);
    return e;
  }
  log->synced_pos = mkpos(log->cur_seg, log->cur_off);
  uint64_t top_h = atomic_load_explicit(&log->durable_height, memory_order_relaxed);
  pthread_mutex_lock(&log->mu);
  for (size_t k = 0; k < b->n; k++) {
    if (b->recs[k].type == PC_LOG_REC_BLOCK) {
      if (index_block(log, b->recs[k].height, b->recs[k].off) != 0) e = PC_ERR_NOMEM;
      top_h = b->recs[k].height;
    } else if (b->recs[k].type == PC_LOG_REC_BASE) {
      note_base(log, b->recs[k].height, b->recs[k].off);
      top_h = b->recs[k].height;
    } else if (note_consensus(log, b->recs[k].off) != 0) {
      e = PC_ERR_NOMEM;
    }
  }
  uint64_t top_seq = b->recs[b->n - 1].seq;
  /* release: pairs with the acquire loads in pc_log_get / durable getters;
   * the index entries above are visible once the new height is. */
  atomic_store_explicit(&log->durable_height, top_h, memory_order_release);
  atomic_store_explicit(&log->durable_seq, top_seq, memory_order_release);
  pthread_cond_broadcast(&log->cv_done);
  pthread_mutex_unlock(&log->mu);
  if (log->cfg.on_durable) log->cfg.on_durable(log->cfg.on_durable_arg, top_seq, top_h);
  return e;
}

static void batch_reset(batch_t *b) {
  b->len = 0;
  b->n = 0;
  b->urgent = false;
  b->since_ns = 0;
}

/* take_pending swaps the pending batch out (mu held). */
static void take_pending(pc_log_t *log) {
  batch_t t = log->spare;
  log->spare = log->pending;
  log->pending = t;
  batch_reset(&log->pending);
  log->flushing = true;
}

static void *flusher_main(void *arg) {
  pc_log_t *log = arg;
  pthread_mutex_lock(&log->mu);
  for (;;) {
    while (!log->stop && log->pending.n == 0) pthread_cond_wait(&log->cv_work, &log->mu);
    if (log->pending.n == 0 && log->stop) break;
    /* Group commit policy: count, urgency, age, or shutdown. */
    uint64_t delay_ns = (uint64_t)log->cfg.max_delay_us * 1000;
    while (!log->stop && !log->pending.urgent && log->pending.n < log->cfg.max_group && delay_ns > 0) {
      uint64_t now = pc_now_ns();
      uint64_t due = log->pending.since_ns + delay_ns;
      if (now >= due) break;
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      uint64_t t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + (due - now);
      ts.tv_sec = (time_t)(t / 1000000000ull);
      ts.tv_nsec = (long)(t % 1000000000ull);
      pthread_cond_timedwait(&log->cv_work, &log->mu, &ts);
    }
    take_pending(log);
    pthread_mutex_unlock(&log->mu);
    flush_batch(log, &log->spare);
    pthread_mutex_lock(&log->mu);
    log->flushing = false;
    pthread_cond_broadcast(&log->cv_done);
  }
  pthread_mutex_unlock(&log->mu);
  return NULL;
}

static int read_at(const pc_log_t *log, uint64_t pos, uint8_t *type, pc_log_block_t *b, pc_log_consensus_t *c);

/* ------------------------------------------------------------ open/close */

pc_log_t *pc_log_open(const pc_log_config_t *cfg, pc_log_report_t *report) {
  pc_log_report_t tmp;
  if (!report) report = &tmp;
  memset(report, 0, sizeof *report);
  if (!cfg || !cfg->dir) {
    PC_ERROR("log: no directory");
    return NULL;
  }
  pc_log_t *log = calloc(1, sizeof *log);
  if (!log) {
    PC_ERROR("log: out of memory");
    return NULL;
  }
  log->cfg = *cfg;
  log->io = cfg->io ? cfg->io : pc_io_posix();
  log->dir = strdup(cfg->dir);
  log->seg_size = cfg->segment_size ? cfg->segment_size : PC_LOG_SEGMENT_DEFAULT;
  if (!log->cfg.max_group) log->cfg.max_group = 256;
  if (!log->cfg.max_group_bytes) log->cfg.max_group_bytes = 8u << 20;
  log->segs = calloc(LOG_MAX_SEGMENTS, sizeof *log->segs);
  log->idx = calloc(IDX_CHUNKS, sizeof *log->idx);
  pthread_mutex_init(&log->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&log->cv_work, &ca);
  pthread_cond_init(&log->cv_done, &ca);
  pthread_condattr_destroy(&ca);
  if (!log->dir || !log->segs || !log->idx) {
    PC_ERROR("log: out of memory");
    pc_log_close(log);
    return NULL;
  }
  if (log->seg_size < PC_LOG_SEGMENT_MIN || log->seg_size > PC_LOG_SEGMENT_MAX || log->seg_size % GRP_ALIGN) {
    PC_ERROR("log: segment size %" PRIu64 " outside %u..%u or not a multiple of 64", log->seg_size,
             PC_LOG_SEGMENT_MIN, PC_LOG_SEGMENT_MAX);
    pc_log_close(log);
    return NULL;
  }
  if (mkdir(cfg->dir, 0755) != 0 && errno != EEXIST) {
    PC_ERROR("log: cannot create %s: %s", cfg->dir, strerror(errno));
    pc_log_close(log);
    return NULL;
  }
  scan_t sc = {.io = log->io, .dir = log->dir, .modify = true, .log = log, .rep = report};
  int e = scan(&sc);
  if (e || report->status == PC_LOG_CORRUPT) {
    if (e) PC_ERROR("log %s: open failed: %s", log->dir, pc_strerror(e));
    else PC_ERROR("%s", report->message);
    sc.n_segs = report->segments;
    scan_release(&sc, false);
    atomic_store_explicit(&log->n_segs, 0, memory_order_relaxed);
    pc_log_close(log);
    return NULL;
  }
  if (report->status == PC_LOG_TORN) PC_WARN("%s", report->message);
  if (sc.seg_size && sc.seg_size != log->seg_size) {
    PC_INFO("log %s: keeping its segment size %" PRIu64 " (configured %" PRIu64 ")", log->dir, sc.seg_size,
            log->seg_size);
    log->seg_size = sc.seg_size;
  }
  /* Adopt the segments that survived the scan. */
  log->first_seg = sc.first_seg;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < sc.n_segs; i++) {
    if (sc.fds[i] < 0) break;
    uint32_t s = sc.first_seg + i;
    log->segs[s].fd = sc.fds[i];
    log->segs[s].map = sc.maps[i];
    kept++;
  }
  scan_release(&sc, true);
  atomic_store_explicit(&log->n_segs, kept, memory_order_release);
  log->next_seq = sc.next_seq;
  log->next_height = sc.next_height;
  uint64_t last = report->last_height;
  atomic_store_explicit(&log->durable_height, last, memory_order_release);
  atomic_store_explicit(&log->durable_seq, sc.next_seq - 1, memory_order_release);
  log->synced_pos = sc.end_pos;
  if (kept == 0) {
    log->first_seg = sc.first_seg;
    e = make_segment(log, sc.first_seg);
    if (e) {
      pc_log_close(log);
      return NULL;
    }
    log->synced_pos = mkpos(sc.first_seg, SEG_HDR);
  } else {
    /* Append after the last valid group if it is in the last segment,
     * else at the start of the (empty) last segment. */
    log->cur_seg = log->first_seg + kept - 1;
    log->cur_off = sc.end_seg == log->cur_seg ? sc.end_off : SEG_HDR;
    if (log->cur_off == SEG_HDR && log->cur_seg > log->first_seg)
      log->prev_seg_end = sc.end_seg == log->cur_seg - 1 ? sc.end_off : SEG_HDR;
  }
  if (log->cfg.flush_thread) {
    if (pthread_create(&log->thread, NULL, flusher_main, log) != 0) {
      PC_ERROR("log: cannot start the flush thread");
      pc_log_close(log);
      return NULL;
    }
    log->has_thread = true;
  }
  return log;
}

void pc_log_close(pc_log_t *log) {
  if (!log) return;
  if (log->has_thread) {
    pthread_mutex_lock(&log->mu);
    log->stop = true;
    pthread_cond_broadcast(&log->cv_work);
    pthread_mutex_unlock(&log->mu);
    pthread_join(log->thread, NULL);
  } else if (log->segs && atomic_load_explicit(&log->n_segs, memory_order_relaxed) > 0) {
    pc_log_sync(log);
  }
  uint32_t n = atomic_load_explicit(&log->n_segs, memory_order_relaxed);
  for (uint32_t i = 0; log->segs && i < n; i++) {
    seg_t *sg = &log->segs[log->first_seg + i];
    if (sg->map) log->io->munmap(log->io->ctx, sg->map, (size_t)log->seg_size);
    if (sg->fd > 0) log->io->close(log->io->ctx, sg->fd);
  }
  if (log->idx)
    for (uint32_t i = 0; i < IDX_CHUNKS; i++) free(atomic_load_explicit(&log->idx[i], memory_order_relaxed));
  free(log->idx);
  free(log->segs);
  free(log->pending.buf);
  free(log->pending.recs);
  free(log->spare.buf);
  free(log->spare.recs);
  free(log->cons);
  free(log->dir);
  pthread_mutex_destroy(&log->mu);
  pthread_cond_destroy(&log->cv_work);
  pthread_cond_destroy(&log->cv_done);
  free(log);
}

/* ------------------------------------------------------------ appending */

static int batch_reserve(batch_t *b, size_t len) {
  if (b->n == 0) b->len = GRP_HDR; /* headroom for the first group header */
  if (b->len + len + GRP_ALIGN > b->cap) {
    size_t nc = b->cap ? b->cap : 65536;
    while (nc < b->len + len + GRP_ALIGN) nc *= 2;
    uint8_t *nb = realloc(b->buf, nc);
    if (!nb) return PC_ERR_NOMEM;
    b->buf = nb;
    b->cap = nc;
  }
  if (b->n == b->cap_recs) {
    size_t nc = b->cap_recs ? b->cap_recs * 2 : 64;
    rec_desc_t *nr = realloc(b->recs, nc * sizeof *nr);
    if (!nr) return PC_ERR_NOMEM;
    b->recs = nr;
    b->cap_recs = nc;
  }
  return 0;
}

static int64_t append_common(pc_log_t *log, uint8_t type, size_t len, const pc_log_block_t *blk,
                             const pc_log_consensus_t *cons) {
  int e = atomic_load_explicit(&log->err, memory_order_acquire);
  if (e) return e;
  if (align_up(GRP_HDR + len) > log->seg_size - SEG_HDR) return PC_ERR_TOO_LARGE;
  pthread_mutex_lock(&log->mu);
  if (type == PC_LOG_REC_BLOCK && log->next_height && blk->height != log->next_height) {
    pthread_mutex_unlock(&log->mu);
    return PC_ERR_RANGE;
  }
  if (type == PC_LOG_REC_BASE) {
    uint64_t origin = atomic_load_explicit(&log->idx_origin, memory_order_relaxed);
    if ((log->next_height && blk->height + 1 < log->next_height) ||
        (origin && blk->height + 1 - origin >= (uint64_t)IDX_CHUNKS * IDX_CHUNK)) {
      pthread_mutex_unlock(&log->mu);
      return PC_ERR_RANGE;
    }
  }
  /* Back-pressure: with a flush thread, a producer far ahead of the disk
   * waits for the flusher (bounded memory; also lets the flusher take mu). */
  while (log->has_thread && log->pending.n > 0 && log->pending.len + len > 4 * log->cfg.max_group_bytes &&
         !atomic_load_explicit(&log->err, memory_order_acquire)) {
    log->pending.urgent = true;
    pthread_cond_signal(&log->cv_work);
    pthread_cond_wait(&log->cv_done, &log->mu);
  }
  batch_t *b = &log->pending;
  if ((e = batch_reserve(b, len))) {
    pthread_mutex_unlock(&log->mu);
    return e;
  }
  uint64_t seq = log->next_seq++;
  uint8_t *dst = b->buf + b->len;
  if (type == PC_LOG_REC_BLOCK || type == PC_LOG_REC_BASE) {
    encode_block(dst, len, type, seq, blk); /* same layout for both */
    log->next_height = blk->height + 1;
    if (type == PC_LOG_REC_BASE) b->urgent = true;
  } else {
    encode_cons(dst, len, seq, cons);
    b->urgent = true;
  }
  /* The sealed record's own CRC, extended over its crc field: the group
   * body CRC is combined from these (flush_batch). */
  uint32_t crc = pc_crc32c(pc_load_le32(dst + len - 4), dst + len - 4, 4);
  b->recs[b->n++] =
      (rec_desc_t){.type = type, .height = blk ? blk->height : 0, .seq = seq, .off = b->len, .len = len, .crc = crc};
  b->len += len;
  if (b->n == 1) b->since_ns = pc_now_ns();
  if (log->has_thread && (b->urgent || b->n >= log->cfg.max_group || b->n == 1))
    pthread_cond_signal(&log->cv_work);
  pthread_mutex_unlock(&log->mu);
  return (int64_t)seq;
}

int64_t pc_log_append_block(pc_log_t *log, const pc_log_block_t *b) {
  if (!b || b->height == 0) return PC_ERR_RANGE;
  if (b->cert_len > PC_LOG_CERT_MAX || b->block_len > PC_LOG_BLOCK_MAX) return PC_ERR_TOO_LARGE;
  if ((b->cert_len && !b->cert) || (b->block_len && !b->block)) return PC_ERR_INVALID;
  return append_common(log, PC_LOG_REC_BLOCK, block_rec_len(b), b, NULL);
}

int64_t pc_log_append_base(pc_log_t *log, const pc_log_block_t *b) {
  if (!b || b->height == 0) return PC_ERR_RANGE;
  if (b->cert_len > PC_LOG_CERT_MAX || b->block_len > PC_LOG_BLOCK_MAX) return PC_ERR_TOO_LARGE;
  if ((b->cert_len && !b->cert) || (b->block_len && !b->block)) return PC_ERR_INVALID;
  return append_common(log, PC_LOG_REC_BASE, block_rec_len(b), b, NULL);
}

int pc_log_base(const pc_log_t *log, pc_log_block_t *out) {
  if (!pc_log_durable_height(log)) return PC_ERR_NOT_FOUND; /* acquire: orders base_pos */
  uint64_t pos = atomic_load_explicit(&((pc_log_t *)log)->base_pos, memory_order_relaxed);
  if (!pos) return PC_ERR_NOT_FOUND;
  uint8_t t;
  int e = read_at(log, pos, &t, out, NULL);
  if (e) return e;
  return t == PC_LOG_REC_BASE ? 0 : PC_ERR_CORRUPT;
}

uint64_t pc_log_base_height(const pc_log_t *log) {
  if (!pc_log_durable_height(log)) return 0;
  return atomic_load_explicit(&((pc_log_t *)log)->base_height, memory_order_relaxed);
}

int64_t pc_log_append_consensus(pc_log_t *log, const pc_log_consensus_t *c) {
  if (!c) return PC_ERR_INVALID;
  if (c->payload_len > PC_LOG_CONSENSUS_MAX) return PC_ERR_TOO_LARGE;
  if (c->payload_len && !c->payload) return PC_ERR_INVALID;
  return append_common(log, PC_LOG_REC_CONSENSUS, cons_rec_len(c), NULL, c);
}

int pc_log_sync(pc_log_t *log) {
  if (log->has_thread) {
    pthread_mutex_lock(&log->mu);
    uint64_t want = log->next_seq - 1;
    log->pending.urgent = true;
    pthread_cond_signal(&log->cv_work);
    while (atomic_load_explicit(&log->durable_seq, memory_order_acquire) < want &&
           !atomic_load_explicit(&log->err, memory_order_acquire))
      pthread_cond_wait(&log->cv_done, &log->mu);
    pthread_mutex_unlock(&log->mu);
    return atomic_load_explicit(&log->err, memory_order_acquire);
  }
  pthread_mutex_lock(&log->mu);
  take_pending(log);
  pthread_mutex_unlock(&log->mu);
  int e = flush_batch(log, &log->spare);
  pthread_mutex_lock(&log->mu);
  log->flushing = false;
  pthread_mutex_unlock(&log->mu);
  return e ? e : atomic_load_explicit(&log->err, memory_order_acquire);
}

int pc_log_wait_durable(pc_log_t *log, uint64_t seq, uint64_t timeout_us) {
  if (atomic_load_explicit(&log->durable_seq, memory_order_acquire) >= seq) return 0;
  if (!log->has_thread) {
    int e = pc_log_sync(log);
    if (e) return e;
    return atomic_load_explicit(&log->durable_seq, memory_order_acquire) >= seq ? 0 : PC_ERR_NOT_FOUND;
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + timeout_us * 1000ull;
  ts.tv_sec = (time_t)(t / 1000000000ull);
  ts.tv_nsec = (long)(t % 1000000000ull);
  int e = 0;
  pthread_mutex_lock(&log->mu);
  while (atomic_load_explicit(&log->durable_seq, memory_order_acquire) < seq) {
    if ((e = atomic_load_explicit(&log->err, memory_order_acquire))) break;
    if (pthread_cond_timedwait(&log->cv_done, &log->mu, &ts) == ETIMEDOUT) {
      if (atomic_load_explicit(&log->durable_seq, memory_order_acquire) < seq) e = PC_ERR_TIMEOUT;
      break;
    }
  }
  pthread_mutex_unlock(&log->mu);
  return e;
}

/* ------------------------------------------------------------ reading */

uint64_t pc_log_durable_seq(const pc_log_t *log) {
  return atomic_load_explicit(&((pc_log_t *)log)->durable_seq, memory_order_acquire);
}
uint64_t pc_log_durable_height(const pc_log_t *log) {
  return atomic_load_explicit(&((pc_log_t *)log)->durable_height, memory_order_acquire);
}
uint64_t pc_log_first_height(const pc_log_t *log) {
  /* acquire the durable height first: first_height is set before it. */
  if (!pc_log_durable_height(log)) return 0;
  return atomic_load_explicit(&((pc_log_t *)log)->first_height, memory_order_relaxed);
}
int pc_log_error(const pc_log_t *log) { return atomic_load_explicit(&((pc_log_t *)log)->err, memory_order_acquire); }

/* read_at decodes the record at position pos through the mmap. */
static int read_at(const pc_log_t *log, uint64_t pos, uint8_t *type, pc_log_block_t *b, pc_log_consensus_t *c) {
  uint32_t s = pos_seg(pos), off = pos_off(pos);
  uint32_t n = atomic_load_explicit(&((pc_log_t *)log)->n_segs, memory_order_acquire);
  if (s < log->first_seg || s >= log->first_seg + n) return PC_ERR_CORRUPT;
  const uint8_t *map = log->segs[s].map;
  if ((uint64_t)off + REC_HDR + 4 > log->seg_size) return PC_ERR_CORRUPT;
  uint32_t len = pc_load_le32(map + off + 8);
  if ((uint64_t)off + len > log->seg_size) return PC_ERR_CORRUPT;
  return decode_record(map + off, len, type, NULL, b, c) ? PC_ERR_CORRUPT : 0;
}

int pc_log_get(const pc_log_t *log, uint64_t height, pc_log_block_t *out) {
  uint64_t top = pc_log_durable_height(log);
  uint64_t first = atomic_load_explicit(&((pc_log_t *)log)->first_height, memory_order_relaxed);
  uint64_t origin = atomic_load_explicit(&((pc_log_t *)log)->idx_origin, memory_order_relaxed);
  if (height == 0 || top == 0 || height < first || height > top || height < origin) return PC_ERR_NOT_FOUND;
  uint64_t *slot = idx_slot((pc_log_t *)log, height - origin, false);
  if (!slot || !*slot) return PC_ERR_NOT_FOUND;
  uint8_t t;
  int e = read_at(log, *slot, &t, out, NULL);
  if (e) return e;
  if (t != PC_LOG_REC_BLOCK || out->height != height) return PC_ERR_CORRUPT;
  return 0;
}

int pc_log_iter_blocks(const pc_log_t *log, uint64_t from, uint64_t to,
                       int (*fn)(void *arg, const pc_log_block_t *b), void *arg) {
  uint64_t first = pc_log_first_height(log), top = pc_log_durable_height(log);
  if (!top) return 0;
  if (from < first) from = first;
  if (to > top) to = top;
  for (uint64_t h = from; h <= to; h++) {
    pc_log_block_t b;
    int e = pc_log_get(log, h, &b);
    if (e) return e;
    if ((e = fn(arg, &b))) return e;
  }
  return 0;
}

int pc_log_iter_consensus(pc_log_t *log, int (*fn)(void *arg, const pc_log_consensus_t *c), void *arg) {
  pthread_mutex_lock(&log->mu);
  size_t n = log->n_cons;
  uint64_t *copy = n ? malloc(n * sizeof *copy) : NULL;
  if (n && !copy) {
    pthread_mutex_unlock(&log->mu);
    return PC_ERR_NOMEM;
  }
  if (n) memcpy(copy, log->cons, n * sizeof *copy);
  pthread_mutex_unlock(&log->mu);
  int e = 0;
  for (size_t i = 0; i < n && !e; i++) {
    pc_log_consensus_t c;
    uint8_t t;
    e = read_at(log, copy[i], &t, NULL, &c);
    if (!e && t != PC_LOG_REC_CONSENSUS) e = PC_ERR_CORRUPT;
    if (!e) e = fn(arg, &c);
  }
  free(copy);
  return e;
}
