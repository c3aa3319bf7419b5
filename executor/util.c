/* util.c — key hash, arenas, the single-threaded kvmap and the per-block
 * multi-version store. */
#include <sched.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/exec_private.h"

uint64_t exec_thread_cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------- hash */

static uint8_t g_hkey[crypto_shorthash_KEYBYTES];
static pthread_once_t g_hkey_once = PTHREAD_ONCE_INIT;

static void hkey_init(void) {
  if (pc_crypto_init() == 0) randombytes_buf(g_hkey, sizeof g_hkey);
}

uint64_t exec_keyhash(const void *k, size_t n) {
  pthread_once(&g_hkey_once, hkey_init);
  uint8_t out[crypto_shorthash_BYTES];
  crypto_shorthash(out, k, n, g_hkey);
  return pc_load_le64(out);
}

int exec_key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  int c = memcmp(a, b, PC_MIN(al, bl));
  if (c) return c;
  return al < bl ? -1 : al > bl ? 1 : 0;
}

/* --------------------------------------------------------------- arena */

#define ARENA_CHUNK (1u << 20)

void arena_init(pc_arena_t *a, hwloc_topology_t topo, hwloc_const_nodeset_t nodeset) {
  memset(a, 0, sizeof *a);
  a->topo = topo;
  if (topo && nodeset) a->nodeset = hwloc_bitmap_dup(nodeset);
}

void arena_fini(pc_arena_t *a) {
  arena_chunk_t *c = a->head;
  while (c) {
    arena_chunk_t *next = c->next;
    if (c->hw)
      hwloc_free(a->topo, c, c->size + sizeof *c);
    else
      free(c);
    c = next;
  }
  if (a->nodeset) hwloc_bitmap_free(a->nodeset);
  memset(a, 0, sizeof *a);
}

void arena_reset(pc_arena_t *a) {
  for (arena_chunk_t *c = a->head; c; c = c->next) c->used = 0;
  a->cur = a->head;
}

static arena_chunk_t *chunk_new(pc_arena_t *a, size_t size) {
  size_t bytes = size + sizeof(arena_chunk_t);
  arena_chunk_t *c = NULL;
  bool hw = false;
  if (a->topo && a->nodeset) {
    c = hwloc_alloc_membind(a->topo, bytes, a->nodeset, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET);
    hw = c != NULL;
  }
  if (!c) c = malloc(bytes);
  if (!c) {
    PC_ERROR("executor: out of memory allocating a %zu-byte arena chunk", bytes);
    return NULL;
  }
  c->next = NULL;
  c->size = size;
  c->used = 0;
  c->hw = hw;
  return c;
}

void *arena_alloc(pc_arena_t *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  for (;;) {
    arena_chunk_t *c = a->cur;
    if (c && c->size - c->used >= n) {
      void *p = c->data + c->used;
      c->used += n;
      return p;
    }
    /* next existing chunk big enough, else a new one appended at the end */
    if (c && c->next) {
      a->cur = c->next;
      continue;
    }
    arena_chunk_t *nc = chunk_new(a, n > ARENA_CHUNK ? n : ARENA_CHUNK);
    if (!nc) return NULL;
    if (c)
      c->next = nc;
    else
      a->head = nc;
    a->cur = nc;
  }
}

void *arena_dup(pc_arena_t *a, const void *p, size_t n) {
  void *d = arena_alloc(a, n);
  if (d && n) memcpy(d, p, n);
  return d;
}

/* --------------------------------------------------------------- kvmap */

int kvmap_init(pc_kvmap_t *m, uint32_t cap) {
  memset(m, 0, sizeof *m);
  uint32_t c = 16;
  while (c < cap) c <<= 1;
  m->slots = calloc(c, sizeof *m->slots);
  m->order = malloc(sizeof(uint32_t) * (c / 2 + 1));
  m->bcap = 4096;
  m->buf = malloc(m->bcap);
  if (!m->slots || !m->order || !m->buf) {
    kvmap_fini(m);
    return PC_ERR_NOMEM;
  }
  m->cap = c;
  return 0;
}

void kvmap_fini(pc_kvmap_t *m) {
  free(m->slots);
  free(m->order);
  free(m->buf);
  memset(m, 0, sizeof *m);
}

void kvmap_clear(pc_kvmap_t *m) {
  if (m->n) {
    if (m->n * 8 < m->cap) {
      for (uint32_t i = 0; i < m->n; i++) m->slots[m->order[i]].used = 0;
    } else {
      memset(m->slots, 0, sizeof *m->slots * m->cap);
    }
  }
  m->n = 0;
  m->blen = 0;
}

kv_slot_t *kvmap_find(const pc_kvmap_t *m, const void *k, size_t kl, uint64_t h) {
  uint32_t mask = m->cap - 1;
  for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
    kv_slot_t *s = &m->slots[i];
    if (!s->used) return NULL;
    if (s->h == h && s->klen == kl && memcmp(m->buf + s->koff, k, kl) == 0) return s;
  }
}

static int buf_reserve(pc_kvmap_t *m, size_t more) {
  if (m->blen + more <= m->bcap) return 0;
  size_t nc = m->bcap * 2;
  while (nc < m->blen + more) nc *= 2;
  uint8_t *nb = realloc(m->buf, nc);
  if (!nb) return PC_ERR_NOMEM;
  m->buf = nb;
  m->bcap = nc;
  return 0;
}

static int kvmap_grow(pc_kvmap_t *m) {
  uint32_t nc = m->cap * 2;
  kv_slot_t *ns = calloc(nc, sizeof *ns);
  uint32_t *no = malloc(sizeof(uint32_t) * (nc / 2 + 1));
  if (!ns || !no) {
    free(ns);
    free(no);
    return PC_ERR_NOMEM;
  }
  for (uint32_t j = 0; j < m->n; j++) {
    kv_slot_t *s = &m->slots[m->order[j]];
    uint32_t i = (uint32_t)s->h & (nc - 1);
    while (ns[i].used) i = (i + 1) & (nc - 1);
    ns[i] = *s;
    no[j] = i;
  }
  free(m->slots);
  free(m->order);
  m->slots = ns;
  m->order = no;
  m->cap = nc;
  return 0;
}

kv_slot_t *kvmap_put(pc_kvmap_t *m, const void *k, size_t kl, uint64_t h, const void *v, size_t vl,
                     bool del) {
  kv_slot_t *s = kvmap_find(m, k, kl, h);
  if (!s) {
    if ((m->n + 1) * 2 > m->cap && kvmap_grow(m)) return NULL;
    if (buf_reserve(m, kl + vl)) return NULL;
    uint32_t mask = m->cap - 1, i = (uint32_t)h & mask;
    while (m->slots[i].used) i = (i + 1) & mask;
    s = &m->slots[i];
    memset(s, 0, sizeof *s);
    s->used = 1;
    s->h = h;
    s->koff = (uint32_t)m->blen;
    s->klen = (uint32_t)kl;
    memcpy(m->buf + m->blen, k, kl);
    m->blen += kl;
    s->voff = (uint32_t)m->blen;
    s->vcap = (uint32_t)vl;
    m->blen += vl;
    m->order[m->n++] = i;
  } else if (vl > s->vcap) {
    /* s stays valid across buf_reserve: slots are not in buf */
    if (buf_reserve(m, vl)) return NULL;
    s->voff = (uint32_t)m->blen;
    s->vcap = (uint32_t)vl;
    m->blen += vl;
  }
  if (vl) memcpy(m->buf + s->voff, v, vl);
  s->vlen = (uint32_t)vl;
  s->del = del;
  return s;
}

/* qsort has no context argument in C11 */
static _Thread_local const pc_kvmap_t *t_sort_map;

static int slot_cmp(const void *a, const void *b) {
  const kv_slot_t *x = *(kv_slot_t *const *)a, *y = *(kv_slot_t *const *)b;
  return exec_key_cmp(kv_key(t_sort_map, x), x->klen, kv_key(t_sort_map, y), y->klen);
}

int kvmap_sorted(const pc_kvmap_t *m, kv_slot_t ***out, size_t *n) {
  kv_slot_t **v = malloc(sizeof *v * (m->n ? m->n : 1));
  if (!v) return PC_ERR_NOMEM;
  for (uint32_t i = 0; i < m->n; i++) v[i] = &m->slots[m->order[i]];
  t_sort_map = m;
  qsort(v, m->n, sizeof *v, slot_cmp);
  *out = v;
  *n = m->n;
  return 0;
}

/* ------------------------------------------------------------ MV store */

int mv_table_init(mv_table_t *t, uint32_t cap) {
  memset(t, 0, sizeof *t);
  return mv_table_prepare(t, cap);
}

void mv_table_fini(mv_table_t *t) {
  free((void *)t->slots);
  memset(t, 0, sizeof *t);
}

int mv_table_prepare(mv_table_t *t, uint32_t keys) {
  uint32_t cap = 64;
  while (cap < keys * 2u && cap < (1u << 30)) cap <<= 1;
  if (!t->slots || t->mask + 1 < cap) {
    free((void *)t->slots);
    t->slots = calloc(cap, sizeof *t->slots);
    if (!t->slots) {
      t->mask = 0;
      return PC_ERR_NOMEM;
    }
    t->mask = cap - 1;
  } else {
    /* no worker runs between blocks: a plain wipe is enough */
    memset((void *)t->slots, 0, sizeof *t->slots * (t->mask + 1));
  }
  t->limit = (t->mask + 1) / 4 * 3;
  atomic_store_explicit(&t->count, 0, memory_order_relaxed);
  return 0;
}

mv_entry_t *mv_get(mv_table_t *t, pc_arena_t *a, const uint8_t *k, size_t kl, uint64_t h) {
  mv_entry_t *fresh = NULL;
  for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
    /* acquire: pairs with the release CAS below, so a found entry's key and
     * fields are visible */
    mv_entry_t *e = atomic_load_explicit(&t->slots[i], memory_order_acquire);
    if (!e) {
      if (!fresh) {
        if (atomic_load_explicit(&t->count, memory_order_relaxed) >= t->limit) return NULL;
        fresh = arena_alloc(a, sizeof *fresh + kl);
        if (!fresh) return NULL;
        atomic_init(&fresh->lock, 0);
        fresh->nver = fresh->cap = 0;
        fresh->v = NULL;
        fresh->last_w = -1;
        fresh->id = 0;
        fresh->h = h;
        fresh->klen = (uint16_t)kl;
        memcpy(fresh->key, k, kl);
      }
      mv_entry_t *expect = NULL;
      /* release: publishes the entry's contents to the acquire load above */
      if (atomic_compare_exchange_strong_explicit(&t->slots[i], &expect, fresh, memory_order_release,
                                                  memory_order_acquire)) {
        atomic_fetch_add_explicit(&t->count, 1, memory_order_relaxed);
        return fresh;
      }
      e = expect; /* someone filled the slot first: compare with theirs */
    }
    if (e->h == h && e->klen == kl && memcmp(e->key, k, kl) == 0) return e; /* fresh wasted in arena */
  }
}

static inline void mv_lock(mv_entry_t *e) {
  unsigned spins = 0;
  /* acquire: pairs with the release store in mv_unlock */
  while (atomic_exchange_explicit(&e->lock, 1, memory_order_acquire)) {
    if (++spins > 64) sched_yield(); /* the holder may be preempted (more workers than cores) */
  }
}
static inline void mv_unlock(mv_entry_t *e) { atomic_store_explicit(&e->lock, 0, memory_order_release); }

/* position of the first version with idx >= x */
static uint32_t mv_lower(const mv_entry_t *e, uint32_t x) {
  uint32_t lo = 0, hi = e->nver;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (e->v[mid].idx < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

bool mv_read(mv_entry_t *e, uint32_t idx, mv_ver_t *out) {
  mv_lock(e);
  uint32_t p = mv_lower(e, idx);
  bool found = p > 0;
  if (found) *out = e->v[p - 1];
  mv_unlock(e);
  return found;
}

bool mv_write(mv_entry_t *e, pc_arena_t *a, const mv_ver_t *ver) {
  mv_lock(e);
  uint32_t p = mv_lower(e, ver->idx);
  if (p < e->nver && e->v[p].idx == ver->idx) {
    e->v[p] = *ver;
    mv_unlock(e);
    return true;
  }
  if (e->nver == e->cap) {
    uint32_t nc = e->cap ? e->cap * 2 : 4;
    mv_ver_t *nv =
        arena_alloc(a, sizeof *nv * nc); /* the old array stays in its arena until the block ends */
    if (!nv) {
      mv_unlock(e);
      return false;
    }
    if (e->nver) memcpy(nv, e->v, sizeof *nv * e->nver);
    e->v = nv;
    e->cap = nc;
  }
  memmove(&e->v[p + 1], &e->v[p], sizeof *e->v * (e->nver - p));
  e->v[p] = *ver;
  e->nver++;
  mv_unlock(e);
  return true;
}

void mv_remove(mv_entry_t *e, uint32_t idx) {
  mv_lock(e);
  uint32_t p = mv_lower(e, idx);
  if (p < e->nver && e->v[p].idx == idx) {
    memmove(&e->v[p], &e->v[p + 1], sizeof *e->v * (e->nver - p - 1));
    e->nver--;
  }
  mv_unlock(e);
}
