/* snapshot.c — canonical state snapshots, their manifest, chunk serving.
 *
 * ===================================================== data file format
 * dir/snap-<height>.dat (height in decimal, no padding) is one byte stream,
 * little-endian, identical on every replica with the same state:
 *   off size field        rule
 *   0   8    magic        "PCSNAP01"
 *   8   4    version      1
 *   12  4    chunk_size   PC_SNAPSHOT_CHUNK (65536)
 *   16  8    height
 *   24  32   root         state root of the version
 *   56  8    keys         number of entries that follow
 *   64  ...  entries      in trie order (strictly increasing key hash):
 *                         u16 klen (1..PC_STATE_KEY_MAX), key,
 *                         u32 vlen (≤ PC_STATE_VALUE_MAX), value
 * Nothing follows the last entry. The stream is cut into chunks of
 * chunk_size bytes (the last one shorter, never empty); entries may span
 * chunks. chunk hash = BLAKE2b-256("parachain/snapshot/chunk" ‖ 0 ‖ bytes).
 *
 * ================================================= manifest file format
 * dir/snap-<height>.manifest:
 *   0   8    magic        "PCMANI01"
 *   8   4    version      1
 *   12  4    chunk_size   as in the data file
 *   16  8    height
 *   24  32   root
 *   56  8    keys
 *   64  8    data_len     bytes of the data file, ≥ 64
 *   72  4    chunks       ⌈data_len / chunk_size⌉ ≤ PC_SNAPSHOT_MAX_CHUNKS
 *   76  32×chunks         chunk hashes in order
 *   .   4    crc          CRC32C of every earlier byte
 * manifest hash = BLAKE2b-256("parachain/snapshot/manifest" ‖ 0 ‖ all the
 * manifest bytes) — what a checkpoint certificate signs.
 *
 * Both files are written to "<name>.tmp", synced, renamed into place and
 * the directory synced: a crash leaves either no snapshot or a whole one.
 * A snapshot received by state transfer is written the same way: chunks
 * into "snap-<height>.dat.xfer" at offset index × chunk_size, then synced,
 * renamed to .dat, and the manifest written last; a crash before the
 * manifest's rename leaves no snapshot (the .xfer / .dat without a
 * manifest are ignored and overwritten by the next attempt).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/storage.h"
#include "storage/storage_private.h"

#define SNAP_HDR 64u
#define MAN_FIXED 76u
static const char DATA_MAGIC[8] = {'P', 'C', 'S', 'N', 'A', 'P', '0', '1'};
static const char MAN_MAGIC[8] = {'P', 'C', 'M', 'A', 'N', 'I', '0', '1'};

static void snap_path(char *out, size_t cap, const char *dir, uint64_t h, const char *ext) {
  snprintf(out, cap, "%s/snap-%" PRIu64 ".%s", dir, h, ext);
}

static void chunk_hash(pc_hash_t *out, const uint8_t *p, size_t n) {
  pc_hash_tagged(out, "parachain/snapshot/chunk", p, n);
}

/* ------------------------------------------------------------ writing */

typedef struct {
  const pc_io_t *io;
  int fd;
  uint8_t *buf; /* one chunk */
  size_t fill;
  uint64_t written;
  pc_hash_t *hashes;
  uint32_t n, cap;
  int err;
} sw_t;

static void sw_flush(sw_t *w) {
  if (w->err || w->fill == 0) return;
  if (w->n == w->cap) {
    uint32_t nc = w->cap ? w->cap * 2 : 64;
    pc_hash_t *nh = realloc(w->hashes, nc * sizeof *nh);
    if (!nh) {
      w->err = PC_ERR_NOMEM;
      return;
    }
    w->hashes = nh;
    w->cap = nc;
  }
  if (w->n >= PC_SNAPSHOT_MAX_CHUNKS) {
    w->err = PC_ERR_TOO_LARGE;
    return;
  }
  chunk_hash(&w->hashes[w->n++], w->buf, w->fill);
  if (io_write_all(w->io, w->fd, w->buf, w->fill, (off_t)w->written) != 0) {
    w->err = PC_ERR_IO;
    return;
  }
  w->written += w->fill;
  w->fill = 0;
}

static void sw_put(sw_t *w, const void *p, size_t n) {
  const uint8_t *s = p;
  while (n > 0 && !w->err) {
    size_t k = PC_MIN(n, PC_SNAPSHOT_CHUNK - w->fill);
    memcpy(w->buf + w->fill, s, k);
    w->fill += k;
    s += k;
    n -= k;
    if (w->fill == PC_SNAPSHOT_CHUNK) sw_flush(w);
  }
}

static int sw_entry(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
  sw_t *w = arg;
  uint8_t l[4];
  pc_store_le16(l, (uint16_t)klen);
  sw_put(w, l, 2);
  sw_put(w, key, klen);
  pc_store_le32(l, (uint32_t)vlen);
  sw_put(w, l, 4);
  sw_put(w, val, vlen);
  return w->err;
}

static void encode_header(uint8_t out[SNAP_HDR], const char magic[8], uint64_t height, const pc_hash_t *root,
                          uint64_t keys) {
  memcpy(out, magic, 8);
  pc_store_le32(out + 8, 1);
  pc_store_le32(out + 12, PC_SNAPSHOT_CHUNK);
  pc_store_le64(out + 16, height);
  memcpy(out + 24, root->b, PC_HASH_SIZE);
  pc_store_le64(out + 56, keys);
}

/* write_whole writes buf to path via a synced temporary and a rename. */
static int write_file_atomic(const pc_io_t *io, const char *dir, const char *path, const uint8_t *buf, size_t n) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return PC_ERR_IO;
  int e = io_write_all(io, fd, buf, n, 0) ? PC_ERR_IO : 0;
  if (!e && io->fdatasync(io->ctx, fd) != 0) e = PC_ERR_IO;
  io->close(io->ctx, fd);
  if (!e && io->rename(io->ctx, tmp, path) != 0) e = PC_ERR_IO;
  if (!e && io->fsync_dir(io->ctx, dir) != 0) e = PC_ERR_IO;
  if (e) io->unlink(io->ctx, tmp);
  return e;
}

static uint8_t *manifest_encode(const pc_snapshot_manifest_t *m, size_t *len) {
  size_t n = MAN_FIXED + (size_t)m->chunks * PC_HASH_SIZE + 4;
  uint8_t *b = malloc(n);
  if (!b) return NULL;
  encode_header(b, MAN_MAGIC, m->height, &m->root, m->keys);
  pc_store_le64(b + 64, m->data_len);
  pc_store_le32(b + 72, m->chunks);
  for (uint32_t i = 0; i < m->chunks; i++) memcpy(b + MAN_FIXED + (size_t)i * PC_HASH_SIZE, m->chunk_hashes[i].b, 32);
  pc_store_le32(b + n - 4, pc_crc32c(0, b, n - 4));
  *len = n;
  return b;
}

int pc_snapshot_write(const pc_state_version_t *v, uint64_t height, const char *dir, const pc_io_t *io,
                      pc_snapshot_manifest_t *out) {
  if (!io) io = pc_io_posix();
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return PC_ERR_IO;
  char path[4096], tmp[4200];
  snap_path(path, sizeof path, dir, height, "dat");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  sw_t w = {.io = io};
  w.buf = malloc(PC_SNAPSHOT_CHUNK);
  if (!w.buf) return PC_ERR_NOMEM;
  w.fd = io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (w.fd < 0) {
    free(w.buf);
    return PC_ERR_IO;
  }
  pc_snapshot_manifest_t m = {.height = height, .keys = pc_state_version_count(v), .chunk_size = PC_SNAPSHOT_CHUNK};
  pc_state_version_root(v, &m.root);
  uint8_t hdr[SNAP_HDR];
  encode_header(hdr, DATA_MAGIC, height, &m.root, m.keys);
  sw_put(&w, hdr, SNAP_HDR);
  int e = pc_state_iter(v, sw_entry, &w);
  sw_flush(&w);
  if (!e) e = w.err;
  if (!e && io->fdatasync(io->ctx, w.fd) != 0) e = PC_ERR_IO;
  io->close(io->ctx, w.fd);
  free(w.buf);
  if (!e && io->rename(io->ctx, tmp, path) != 0) e = PC_ERR_IO;
  if (e) {
    io->unlink(io->ctx, tmp);
    free(w.hashes);
    PC_ERROR("snapshot %s: write failed: %s", path, pc_strerror(e));
    return e;
  }
  m.data_len = w.written;
  m.chunks = w.n;
  m.chunk_hashes = w.hashes;
  size_t mlen;
  uint8_t *mb = manifest_encode(&m, &mlen);
  if (!mb) {
    free(w.hashes);
    return PC_ERR_NOMEM;
  }
  pc_hash_tagged(&m.manifest_hash, "parachain/snapshot/manifest", mb, mlen);
  snap_path(path, sizeof path, dir, height, "manifest");
  e = write_file_atomic(io, dir, path, mb, mlen);
  free(mb);
  if (e) {
    free(w.hashes);
    return e;
  }
  if (out) *out = m;
  else free(w.hashes);
  return 0;
}

/* ------------------------------------------------------------ manifest */

static int snap_bad(int e) { return pc_reject_note(PC_DEC_SNAPSHOT, e); }

int pc_snapshot_manifest_decode(const uint8_t *buf, size_t len, pc_snapshot_manifest_t *m) {
  memset(m, 0, sizeof *m);
  if (len < MAN_FIXED + 4) return snap_bad(PC_ERR_TRUNCATED);
  if (memcmp(buf, MAN_MAGIC, 8) != 0) return snap_bad(PC_ERR_MAGIC);
  if (pc_load_le32(buf + 8) != 1) return snap_bad(PC_ERR_VERSION);
  m->chunk_size = pc_load_le32(buf + 12);
  m->height = pc_load_le64(buf + 16);
  memcpy(m->root.b, buf + 24, PC_HASH_SIZE);
  m->keys = pc_load_le64(buf + 56);
  m->data_len = pc_load_le64(buf + 64);
  m->chunks = pc_load_le32(buf + 72);
  if (m->chunk_size != PC_SNAPSHOT_CHUNK || m->chunks == 0 || m->chunks > PC_SNAPSHOT_MAX_CHUNKS ||
      m->data_len < SNAP_HDR || (m->data_len + m->chunk_size - 1) / m->chunk_size != m->chunks)
    return snap_bad(PC_ERR_INVALID);
  size_t want = MAN_FIXED + (size_t)m->chunks * PC_HASH_SIZE + 4;
  if (len < want) return snap_bad(PC_ERR_TRUNCATED);
  if (len > want) return snap_bad(PC_ERR_TRAILING);
  if (pc_crc32c(0, buf, len - 4) != pc_load_le32(buf + len - 4)) return snap_bad(PC_ERR_CHECKSUM);
  m->chunk_hashes = malloc((size_t)m->chunks * sizeof *m->chunk_hashes);
  if (!m->chunk_hashes) return PC_ERR_NOMEM;
  memcpy(m->chunk_hashes, buf + MAN_FIXED, (size_t)m->chunks * PC_HASH_SIZE);
  pc_hash_tagged(&m->manifest_hash, "parachain/snapshot/manifest", buf, len);
  return 0;
}

void pc_snapshot_manifest_free(pc_snapshot_manifest_t *m) {
  if (!m) return;
  free(m->chunk_hashes);
  m->chunk_hashes = NULL;
}

static int read_whole(const pc_io_t *io, const char *path, uint8_t **out, size_t *len, size_t max) {
  int fd = io->open(io->ctx, path, O_RDONLY, 0);
  if (fd < 0) return errno == ENOENT ? PC_ERR_NOT_FOUND : PC_ERR_IO;
  struct stat st;
  int e = 0;
  if (fstat(fd, &st) != 0) e = PC_ERR_IO;
  if (!e && (uint64_t)st.st_size > max) e = snap_bad(PC_ERR_TOO_LARGE);
  uint8_t *b = NULL;
  if (!e && !(b = malloc((size_t)st.st_size + 1))) e = PC_ERR_NOMEM;
  if (!e && st.st_size && io_read_all(io, fd, b, (size_t)st.st_size, 0) != 0) e = PC_ERR_IO;
  io->close(io->ctx, fd);
  if (e) {
    free(b);
    return e;
  }
  *out = b;
  *len = (size_t)st.st_size;
  return 0;
}

int pc_snapshot_manifest_read(const char *dir, uint64_t height, const pc_io_t *io, pc_snapshot_manifest_t *m) {
  if (!io) io = pc_io_posix();
  char path[4096];
  snap_path(path, sizeof path, dir, height, "manifest");
  uint8_t *b;
  size_t n;
  int e = read_whole(io, path, &b, &n, MAN_FIXED + 4 + (size_t)PC_SNAPSHOT_MAX_CHUNKS * PC_HASH_SIZE);
  if (e) return e;
  e = pc_snapshot_manifest_decode(b, n, m);
  free(b);
  if (!e && m->height != height) {
    pc_snapshot_manifest_free(m);
    e = snap_bad(PC_ERR_INVALID);
  }
  return e;
}

/* ------------------------------------------------------------ chunks */

int pc_snapshot_chunk_verify(const pc_snapshot_manifest_t *m, uint32_t i, const uint8_t *data, size_t len) {
  if (i >= m->chunks) return PC_ERR_RANGE;
  uint64_t want = i + 1 < m->chunks ? m->chunk_size : m->data_len - (uint64_t)i * m->chunk_size;
  if (len != want) return PC_ERR_CHECKSUM;
  pc_hash_t h;
  chunk_hash(&h, data, len);
  return pc_hash_equal(&h, &m->chunk_hashes[i]) ? 0 : PC_ERR_CHECKSUM;
}

int pc_snapshot_chunk(const char *dir, uint64_t height, const pc_io_t *io, uint32_t i, uint8_t *out, size_t cap,
                      size_t *len) {
  if (!io) io = pc_io_posix();
  char path[4096];
  snap_path(path, sizeof path, dir, height, "dat");
  int fd = io->open(io->ctx, path, O_RDONLY, 0);
  if (fd < 0) return errno == ENOENT ? PC_ERR_NOT_FOUND : PC_ERR_IO;
  struct stat st;
  int e = fstat(fd, &st) != 0 ? PC_ERR_IO : 0;
  uint64_t off = (uint64_t)i * PC_SNAPSHOT_CHUNK;
  if (!e && off >= (uint64_t)st.st_size) e = PC_ERR_RANGE;
  size_t n = 0;
  if (!e) {
    n = (size_t)PC_MIN((uint64_t)PC_SNAPSHOT_CHUNK, (uint64_t)st.st_size - off);
    if (n > cap) e = PC_ERR_OVERFLOW;
  }
  if (!e && io_read_all(io, fd, out, n, (off_t)off) != 0) e = PC_ERR_IO;
  io->close(io->ctx, fd);
  if (!e) *len = n;
  return e;
}

int pc_snapshot_manifest_raw(const char *dir, uint64_t height, const pc_io_t *io, uint8_t **buf, size_t *len,
                             pc_snapshot_manifest_t *m) {
  if (!io) io = pc_io_posix();
  char path[4096];
  snap_path(path, sizeof path, dir, height, "manifest");
  uint8_t *b;
  size_t n;
  int e = read_whole(io, path, &b, &n, MAN_FIXED + 4 + (size_t)PC_SNAPSHOT_MAX_CHUNKS * PC_HASH_SIZE);
  if (e) return e;
  pc_snapshot_manifest_t d;
  e = pc_snapshot_manifest_decode(b, n, &d);
  if (!e && d.height != height) {
    pc_snapshot_manifest_free(&d);
    e = snap_bad(PC_ERR_INVALID);
  }
  if (e) {
    free(b);
    return e;
  }
  if (m) *m = d;
  else pc_snapshot_manifest_free(&d);
  *buf = b;
  *len = n;
  return 0;
}

/* ------------------------------------------------------------ installing */

struct pc_snapshot_install {
  const pc_io_t *io;
  char *dir;
  int fd;
  uint8_t *man;
  size_t man_len;
  pc_snapshot_manifest_t m;
  uint8_t *have;
  uint32_t missing;
};

pc_snapshot_install_t *pc_snapshot_install_begin(const char *dir, const pc_io_t *io, const uint8_t *manifest,
                                                 size_t len) {
  if (!io) io = pc_io_posix();
  pc_snapshot_install_t *in = calloc(1, sizeof *in);
  if (!in) return NULL;
  in->io = io;
  in->fd = -1;
  if (pc_snapshot_manifest_decode(manifest, len, &in->m) != 0) {
    PC_ERROR("snapshot install: bad manifest");
    free(in);
    return NULL;
  }
  in->dir = strdup(dir);
  in->man = malloc(len);
  in->have = calloc(in->m.chunks, 1);
  if (!in->dir || !in->man || !in->have) {
    pc_snapshot_install_abort(in);
    return NULL;
  }
  memcpy(in->man, manifest, len);
  in->man_len = len;
  in->missing = in->m.chunks;
  char path[4096];
  snap_path(path, sizeof path, dir, in->m.height, "dat.xfer");
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) in->fd = -1;
  else in->fd = io->open(io->ctx, path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (in->fd < 0) {
    PC_ERROR("snapshot install: cannot create %s: %s", path, strerror(errno));
    pc_snapshot_install_abort(in);
    return NULL;
  }
  return in;
}

int pc_snapshot_install_chunk(pc_snapshot_install_t *in, uint32_t i, const uint8_t *data, size_t len) {
  int e = pc_snapshot_chunk_verify(&in->m, i, data, len);
  if (e) return e;
  if (io_write_all(in->io, in->fd, data, len, (off_t)((uint64_t)i * in->m.chunk_size)) != 0) return PC_ERR_IO;
  if (!in->have[i]) {
    in->have[i] = 1;
    in->missing--;
  }
  return 0;
}

uint32_t pc_snapshot_install_missing(const pc_snapshot_install_t *in) { return in->missing; }

int pc_snapshot_install_finish(pc_snapshot_install_t *in, uint64_t *height) {
  if (in->missing) return PC_ERR_STATE;
  const pc_io_t *io = in->io;
  char tmp[4200], path[4096];
  snap_path(tmp, sizeof tmp, in->dir, in->m.height, "dat.xfer");
  snap_path(path, sizeof path, in->dir, in->m.height, "dat");
  int e = io->fdatasync(io->ctx, in->fd) != 0 ? PC_ERR_IO : 0;
  io->close(io->ctx, in->fd);
  in->fd = -1;
  if (!e && io->rename(io->ctx, tmp, path) != 0) e = PC_ERR_IO;
  if (!e) {
    snap_path(path, sizeof path, in->dir, in->m.height, "manifest");
    e = write_file_atomic(io, in->dir, path, in->man, in->man_len);
  }
  if (e) PC_ERROR("snapshot install of %s failed: %s", path, pc_strerror(e));
  else if (height) *height = in->m.height;
  pc_snapshot_install_abort(in);
  return e;
}

void pc_snapshot_install_abort(pc_snapshot_install_t *in) {
  if (!in) return;
  if (in->fd >= 0) {
    char tmp[4200];
    snap_path(tmp, sizeof tmp, in->dir, in->m.height, "dat.xfer");
    in->io->close(in->io->ctx, in->fd);
    in->io->unlink(in->io->ctx, tmp);
  }
  pc_snapshot_manifest_free(&in->m);
  free(in->man);
  free(in->have);
  free(in->dir);
  free(in);
}

/* ------------------------------------------------------------ loading */

int64_t pc_snapshot_load(pc_state_t *s, const char *dir, uint64_t height, const pc_io_t *io,
                         const pc_hash_t *expect_root) {
  if (!io) io = pc_io_posix();
  if (pc_state_head(s) != 0) return PC_ERR_STATE;
  pc_snapshot_manifest_t m;
  int e = pc_snapshot_manifest_read(dir, height, io, &m);
  if (e) return e;
  if (expect_root && !pc_hash_equal(expect_root, &m.root)) {
    pc_snapshot_manifest_free(&m);
    return snap_bad(PC_ERR_CHECKSUM);
  }
  char path[4096];
  snap_path(path, sizeof path, dir, height, "dat");
  uint8_t *d;
  size_t n;
  e = read_whole(io, path, &d, &n, (size_t)m.data_len);
  if (e) {
    pc_snapshot_manifest_free(&m);
    return e;
  }
  if (n != m.data_len) e = snap_bad(PC_ERR_CORRUPT);
  for (uint32_t i = 0; !e && i < m.chunks; i++) {
    size_t off = (size_t)i * m.chunk_size;
    if (pc_snapshot_chunk_verify(&m, i, d + off, PC_MIN((size_t)m.chunk_size, n - off)) != 0)
      e = snap_bad(PC_ERR_CHECKSUM);
  }
  pc_reader_t r;
  pc_reader_init(&r, d, n);
  if (!e) {
    uint8_t magic[8];
    pc_get_bytes(&r, magic, 8);
    uint32_t ver = pc_get_u32(&r), cs = pc_get_u32(&r);
    uint64_t h = pc_get_u64(&r);
    pc_hash_t root;
    pc_get_bytes(&r, root.b, PC_HASH_SIZE);
    uint64_t keys = pc_get_u64(&r);
    if (memcmp(magic, DATA_MAGIC, 8) != 0 || ver != 1 || cs != m.chunk_size || h != m.height ||
        !pc_hash_equal(&root, &m.root) || keys != m.keys)
      e = snap_bad(PC_ERR_CORRUPT);
  }
  pc_state_batch_t *b = e ? NULL : pc_state_batch_new(s);
  if (!e && !b) e = PC_ERR_NOMEM;
  pc_hash_t prev = {{0}};
  for (uint64_t k = 0; !e && k < m.keys; k++) {
    size_t kl, vl;
    const uint8_t *key = pc_get_blob16(&r, PC_STATE_KEY_MAX, &kl);
    const uint8_t *val = pc_get_blob32(&r, PC_STATE_VALUE_MAX, &vl);
    if (pc_reader_ok(&r) || kl == 0) {
      e = snap_bad(PC_ERR_CORRUPT);
      break;
    }
    pc_hash_t kh;
    pc_state_key_hash(&kh, key, kl);
    if (k > 0 && memcmp(kh.b, prev.b, PC_HASH_SIZE) <= 0) {
      e = snap_bad(PC_ERR_CORRUPT); /* not canonical trie order */
      break;
    }
    prev = kh;
    e = pc_state_batch_put(b, key, kl, val ? val : (const uint8_t *)"", vl);
  }
  if (!e && pc_reader_finish(&r)) e = snap_bad(PC_ERR_CORRUPT);
  free(d);
  if (e) {
    if (b) pc_state_abort(b);
    pc_snapshot_manifest_free(&m);
    return e;
  }
  pc_hash_t got;
  int64_t v = pc_state_commit(b, &got);
  if (v > 0 && !pc_hash_equal(&got, &m.root)) {
    PC_ERROR("snapshot %s: root of the loaded state does not match the manifest", path);
    v = snap_bad(PC_ERR_CORRUPT);
  }
  pc_snapshot_manifest_free(&m);
  return v;
}

int pc_snapshot_latest(const char *dir, uint64_t *height) {
  DIR *d = opendir(dir);
  if (!d) return PC_ERR_NOT_FOUND;
  struct dirent *de;
  bool found = false;
  uint64_t best = 0;
  while ((de = readdir(d))) {
    uint64_t h;
    int used = 0;
    if (sscanf(de->d_name, "snap-%" SCNu64 ".manifest%n", &h, &used) == 1 && used == (int)strlen(de->d_name)) {
      if (!found || h > best) best = h;
      found = true;
    }
  }
  closedir(d);
  if (!found) return PC_ERR_NOT_FOUND;
  *height = best;
  return 0;
}
