/* memstate.c — in-memory pc_exec_state_t for tests and benchmarks. The
 * root format is in executor.h. Deleted keys stay as tombstones in the map
 * (skipped by the root and by get). */
#include <stdlib.h>
#include <string.h>

#include "executor/exec_private.h"

struct pc_memstate {
  pc_kvmap_t map;
  size_t live;
};

pc_memstate_t *pc_memstate_create(void) {
  pc_memstate_t *m = calloc(1, sizeof *m);
  if (!m || kvmap_init(&m->map, 1024) != 0) {
    PC_ERROR("memstate: out of memory");
    free(m);
    return NULL;
  }
  return m;
}

void pc_memstate_destroy(pc_memstate_t *m) {
  if (!m) return;
  kvmap_fini(&m->map);
  free(m);
}

static int ms_set(pc_memstate_t *m, const void *k, size_t kl, const void *v, size_t vl, bool del) {
  uint64_t h = exec_keyhash(k, kl);
  kv_slot_t *old = kvmap_find(&m->map, k, kl, h);
  bool was_live = old && !old->del;
  if (!old && del) return 0;
  if (!kvmap_put(&m->map, k, kl, h, v, vl, del)) return PC_ERR_NOMEM;
  if (was_live && del) m->live--;
  if (!was_live && !del) m->live++;
  return 0;
}

int pc_memstate_put(pc_memstate_t *m, const void *key, size_t klen, const void *val, size_t vlen) {
  return ms_set(m, key, klen, val, vlen, false);
}

int pc_memstate_get(pc_memstate_t *m, const void *key, size_t klen, const uint8_t **val, size_t *vlen) {
  kv_slot_t *s = kvmap_find(&m->map, key, klen, exec_keyhash(key, klen));
  if (!s || s->del) return PC_ERR_NOT_FOUND;
  *val = kv_val(&m->map, s);
  *vlen = s->vlen;
  return 0;
}

void pc_memstate_root(pc_memstate_t *m, pc_hash_t *out) {
  kv_slot_t **v;
  size_t n;
  pc_hasher_t h;
  pc_hasher_init_tagged(&h, "parachain/memstate");
  if (kvmap_sorted(&m->map, &v, &n) != 0) {
    /* no memory for the sort: a root that never matches a real one */
    memset(out, 0xff, sizeof *out);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (v[i]->del) continue;
    uint8_t l[4];
    pc_store_le32(l, v[i]->klen);
    pc_hasher_update(&h, l, 4);
    pc_hasher_update(&h, kv_key(&m->map, v[i]), v[i]->klen);
    pc_store_le32(l, v[i]->vlen);
    pc_hasher_update(&h, l, 4);
    pc_hasher_update(&h, kv_val(&m->map, v[i]), v[i]->vlen);
  }
  free(v);
  pc_hasher_final(&h, out);
}

size_t pc_memstate_count(pc_memstate_t *m) { return m->live; }

static int ms_get(void *self, const uint8_t *key, size_t klen, const uint8_t **val, size_t *vlen) {
  return pc_memstate_get(self, key, klen, val, vlen);
}

static int ms_apply(void *self, const pc_write_batch_t *b, pc_hash_t *root) {
  pc_memstate_t *m = self;
  for (size_t i = 0; i < b->n; i++) {
    int rc = ms_set(m, b->w[i].key, b->w[i].klen, b->w[i].val, b->w[i].vlen, b->w[i].del);
    if (rc) return rc;
  }
  pc_memstate_root(m, root);
  return 0;
}

pc_exec_state_t pc_memstate_iface(pc_memstate_t *m) {
  return (pc_exec_state_t){.self = m, .get = ms_get, .apply = ms_apply};
}
