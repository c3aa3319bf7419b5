/* xfer_serve.c — the serving side of state transfer: answers MANIFEST_REQ
 * and CHUNK_REQ (msg.c) from the snapshot files storage wrote
 * (storage/snapshot.c), reading them through a pc_io_t. It keeps the
 * manifest of the last snapshot asked for, so a transfer of many chunks
 * reads the manifest once and then one chunk per request.
 *
 * A replica answers only for a snapshot it holds whose manifest hashes to
 * the hash in the request (the certified one): it never serves a different
 * state under a checkpoint's name, and a replica without that snapshot
 * stays silent (the fetcher's timeout moves on to another peer).
 */
#include <stdlib.h>
#include <string.h>

#include "consensus/consensus.h"
#include "storage/storage.h"

struct pc_xfer_server {
  uint64_t chain_id;
  uint16_t n, my_id;
  char *dir;
  const pc_io_t *io;
  /* cache: the manifest of (height, hash) */
  uint64_t height;
  pc_hash_t hash;
  uint8_t *man;
  size_t man_len;
  uint32_t chunks;
  uint8_t *chunk; /* one chunk buffer */
};

pc_xfer_server_t *pc_xfer_server_new(uint64_t chain_id, uint16_t n, uint16_t my_id, const char *snap_dir,
                                     const struct pc_io *io) {
  pc_xfer_server_t *s = calloc(1, sizeof *s);
  if (!s || !(s->dir = strdup(snap_dir)) || !(s->chunk = malloc(PC_SNAPSHOT_CHUNK))) {
    PC_ERROR("xfer server: out of memory");
    pc_xfer_server_free(s);
    return NULL;
  }
  s->chain_id = chain_id;
  s->n = n;
  s->my_id = my_id;
  s->io = io ? io : pc_io_posix();
  return s;
}

void pc_xfer_server_free(pc_xfer_server_t *s) {
  if (!s) return;
  free(s->dir);
  free(s->man);
  free(s->chunk);
  free(s);
}

/* load_manifest makes the cache hold (height, hash) or fails NOT_FOUND. */
static int load_manifest(pc_xfer_server_t *s, uint64_t height, const pc_hash_t *hash) {
  if (s->man && s->height == height && pc_hash_equal(&s->hash, hash)) return 0;
  uint8_t *b;
  size_t n;
  pc_snapshot_manifest_t m;
  int e = pc_snapshot_manifest_raw(s->dir, height, s->io, &b, &n, &m);
  if (e) return e == PC_ERR_IO ? e : PC_ERR_NOT_FOUND;
  bool match = pc_hash_equal(&m.manifest_hash, hash);
  uint32_t chunks = m.chunks;
  pc_snapshot_manifest_free(&m);
  if (!match) {
    free(b);
    return PC_ERR_NOT_FOUND;
  }
  free(s->man);
  s->man = b;
  s->man_len = n;
  s->height = height;
  s->hash = *hash;
  s->chunks = chunks;
  return 0;
}

int pc_xfer_serve(pc_xfer_server_t *s, uint16_t from, const uint8_t *req, size_t len, uint8_t *out, size_t cap,
                  size_t *out_len) {
  pc_reader_t r;
  pc_msg_hdr_t h;
  int e = pc_msg_get_header(&r, req, len, s->chain_id, s->n, from, &h);
  if (e) return e;
  if (h.type != PC_MSG_MANIFEST_REQ && h.type != PC_MSG_CHUNK_REQ) return pc_cons_reject(PC_ERR_INVALID);
  pc_msg_xfer_t q;
  if ((e = pc_msg_xfer_decode(&r, &h, &q))) return e;
  if ((e = load_manifest(s, h.height, &q.manifest))) return e;
  pc_msg_hdr_t rh = {.sender = s->my_id, .chain_id = s->chain_id, .height = h.height};
  pc_msg_xfer_t a = {.manifest = q.manifest, .index = q.index};
  if (h.type == PC_MSG_MANIFEST_REQ) {
    if (q.index >= s->man_len) return PC_ERR_RANGE;
    rh.type = PC_MSG_MANIFEST;
    a.total = (uint32_t)s->man_len;
    a.data = s->man + q.index;
    a.len = PC_MIN(s->man_len - q.index, (size_t)PC_XFER_PART_MAX);
  } else {
    if (q.index >= s->chunks) return PC_ERR_RANGE;
    size_t n = 0;
    e = pc_snapshot_chunk(s->dir, h.height, s->io, q.index, s->chunk, PC_SNAPSHOT_CHUNK, &n);
    if (e) return e == PC_ERR_IO ? e : PC_ERR_NOT_FOUND;
    rh.type = PC_MSG_CHUNK;
    a.data = s->chunk;
    a.len = n;
  }
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  pc_msg_xfer_encode(&w, &rh, &a);
  if (w.overflow) return PC_ERR_OVERFLOW;
  *out_len = w.len;
  return 0;
}
