/* codec.c — bounds-checked little-endian writer and reader. */
#include <string.h>

#include "common/common.h"

void pc_writer_init(pc_writer_t *w, void *buf, size_t cap) {
  w->buf = buf;
  w->cap = buf ? cap : 0;
  w->len = 0;
  w->overflow = false;
}

void pc_writer_measure(pc_writer_t *w) {
  w->buf = NULL;
  w->cap = SIZE_MAX;
  w->len = 0;
  w->overflow = false;
}

/* Returns where n bytes go, or NULL (overflow, or measuring). Advances len. */
static uint8_t *writer_take(pc_writer_t *w, size_t n) {
  if (w->overflow) return NULL;
  if (n > w->cap - w->len) {
    w->overflow = true;
    return NULL;
  }
  uint8_t *p = w->buf ? w->buf + w->len : NULL;
  w->len += n;
  return p;
}

void pc_put_u8(pc_writer_t *w, uint8_t v) {
  uint8_t *p = writer_take(w, 1);
  if (p) p[0] = v;
}
void pc_put_u16(pc_writer_t *w, uint16_t v) {
  uint8_t *p = writer_take(w, 2);
  if (p) pc_store_le16(p, v);
}
void pc_put_u32(pc_writer_t *w, uint32_t v) {
  uint8_t *p = writer_take(w, 4);
  if (p) pc_store_le32(p, v);
}
void pc_put_u64(pc_writer_t *w, uint64_t v) {
  uint8_t *p = writer_take(w, 8);
  if (p) pc_store_le64(p, v);
}
void pc_put_bytes(pc_writer_t *w, const void *src, size_t n) {
  uint8_t *p = writer_take(w, n);
  if (p && n) memcpy(p, src, n);
}
void pc_put_blob16(pc_writer_t *w, const void *src, size_t n) {
  if (n > UINT16_MAX) {
    w->overflow = true;
    return;
  }
  pc_put_u16(w, (uint16_t)n);
  pc_put_bytes(w, src, n);
}
void pc_put_blob32(pc_writer_t *w, const void *src, size_t n) {
  if (n > UINT32_MAX) {
    w->overflow = true;
    return;
  }
  pc_put_u32(w, (uint32_t)n);
  pc_put_bytes(w, src, n);
}
uint8_t *pc_writer_reserve(pc_writer_t *w, size_t n) { return writer_take(w, n); }
int pc_writer_finish(const pc_writer_t *w) { return w->overflow ? PC_ERR_OVERFLOW : 0; }

void pc_reader_init(pc_reader_t *r, const void *p, size_t len) {
  r->p = p;
  r->len = p ? len : 0;
  r->pos = 0;
  r->err = 0;
}

void pc_reader_fail(pc_reader_t *r, int err) {
  if (!r->err) r->err = err;
}

/* Returns a view of the next n bytes or NULL (sticky truncation error). */
static const uint8_t *reader_take(pc_reader_t *r, size_t n) {
  if (r->err) return NULL;
  if (n > r->len - r->pos) {
    r->err = PC_ERR_TRUNCATED;
    return NULL;
  }
  if (!r->p) return (const uint8_t *)""; /* n == 0 on an empty reader: a valid empty view, no NULL + 0 */
  const uint8_t *p = r->p + r->pos;
  r->pos += n;
  return p;
}

uint8_t pc_get_u8(pc_reader_t *r) {
  const uint8_t *p = reader_take(r, 1);
  return p ? p[0] : 0;
}
uint16_t pc_get_u16(pc_reader_t *r) {
  const uint8_t *p = reader_take(r, 2);
  return p ? pc_load_le16(p) : 0;
}
uint32_t pc_get_u32(pc_reader_t *r) {
  const uint8_t *p = reader_take(r, 4);
  return p ? pc_load_le32(p) : 0;
}
uint64_t pc_get_u64(pc_reader_t *r) {
  const uint8_t *p = reader_take(r, 8);
  return p ? pc_load_le64(p) : 0;
}
void pc_get_bytes(pc_reader_t *r, void *out, size_t n) {
  const uint8_t *p = reader_take(r, n);
  if (!n) return;
  if (p)
    memcpy(out, p, n);
  else
    memset(out, 0, n);
}
const uint8_t *pc_get_view(pc_reader_t *r, size_t n) { return reader_take(r, n); }

static const uint8_t *get_blob(pc_reader_t *r, size_t len, size_t max, size_t *n) {
  *n = 0;
  if (r->err) return NULL;
  if (len > max) {
    pc_reader_fail(r, PC_ERR_TOO_LARGE);
    return NULL;
  }
  const uint8_t *p = reader_take(r, len);
  if (p) *n = len;
  return p;
}
const uint8_t *pc_get_blob16(pc_reader_t *r, size_t max, size_t *n) {
  size_t len = pc_get_u16(r);
  return get_blob(r, len, max, n);
}
const uint8_t *pc_get_blob32(pc_reader_t *r, size_t max, size_t *n) {
  size_t len = pc_get_u32(r);
  return get_blob(r, len, max, n);
}

int pc_reader_finish(const pc_reader_t *r) {
  if (r->err) return r->err;
  return r->pos == r->len ? 0 : PC_ERR_TRAILING;
}
