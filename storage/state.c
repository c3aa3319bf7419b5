/* state.c — the authenticated state: a persistent 16-ary Merkle radix trie
 * over the key hash, versions published with RCU.
 *
 * ============================================================ structure
 * kh = BLAKE2b-256("parachain/state/key" ‖ 0 ‖ key). nibble(kh, d) is the
 * d-th 4-bit digit of kh, most significant first (d = 0..63).
 * The trie is canonical — one shape per key set, whatever the insertion
 * order: a leaf holds one (key, value); a branch exists exactly where at
 * least two keys of its subtree differ first, at nibble `depth`, and has
 * ≥ 2 children indexed by that nibble. Nibbles between a branch and its
 * parent are shared by the whole subtree (no explicit extension nodes).
 *
 * Hashes (all BLAKE2b-256 with a domain tag, pc_hash_tagged / pc_hasher):
 *   value hash  vh   = H("parachain/state/value" ‖ 0 ‖ value)
 *   leaf hash        = H("parachain/state/leaf" ‖ 0 ‖ kh ‖ vh)
 *   branch hash      = H("parachain/state/branch" ‖ 0 ‖ depth u8 ‖
 *                        bitmap u16 LE ‖ child hashes in nibble order)
 *   root             = hash of the root node; 32 zero bytes when empty.
 *
 * ================================================================ proof
 * Bytes, produced by pc_state_prove, checked by pc_state_proof_verify:
 *   1   version   1
 *   1   kind      1 present | 2 absent: empty slot | 3 absent: another leaf
 *                 sits where the key would | 4 absent: empty trie
 *   1   steps     S ≤ 64, branches from the root down
 *   S × step      depth u8 (strictly increasing), bitmap u16 (≥ 2 bits),
 *                 index u8 = nibble(kh, depth), then 32-byte hashes of every
 *                 child in the bitmap except `index`, in nibble order. In
 *                 the last step of kind 2, index is not in the bitmap.
 *   kind 3 only:  other kh 32, other vh 32 (other kh ≠ kh, and it has the
 *                 same nibble as kh at every step's depth)
 * Nothing may follow. Kind 4 has S = 0 and needs the zero root.
 *
 * ============================================================ memory
 * Nodes are shared between versions (path copying) and never change once
 * committed. Versions form a line, so instead of reference counts each
 * commit v keeps the list of older nodes it stopped using ("retired by
 * v"): they can only be reached from versions < v. When no version < v is
 * live any more (retained in the ring or published as current), that list
 * goes to call_rcu and is freed after a grace period — never while a reader
 * may hold an old version. A node created and replaced inside the same open
 * batch was never visible and is freed at once. Copying a branch therefore
 * touches only the branch itself, not its 16 children.
 *
 * A branch stores only the children present (bitmap + compact arrays of
 * pointers and of their hashes, in nibble order); a node's hash lives in
 * its parent (the root's in the version), so computing a branch hash or a
 * proof step reads one branch and never its children. A leaf's hash is
 * computed when it is put; a branch that changed in the open batch is
 * marked stale in its parent (`dirty`), and commit rehashes only those,
 * bottom-up, once per batch. The hashed bytes are those described above.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "storage/storage.h"
#include "storage/storage_private.h"

enum { N_LEAF = 1, N_BRANCH = 2 };

/* In memory a node does not hold its own hash: its parent does, next to
 * the child pointer (the root's is in the version), so hashing a branch
 * reads one contiguous array instead of touching its 16 children (one
 * cache miss each), and a proof step reads only the branch. */
typedef struct node {
  uint32_t gen; /* the batch that created it; writer only */
  uint8_t kind;
  uint8_t depth;   /* branch: the nibble it splits on */
  uint16_t bitmap; /* branch: children present, by nibble */
  struct node *next_free; /* writer only: retired / free list link */
} node_t;

/* A branch keeps only the children present, in nibble order (index =
 * rank of the nibble in bitmap): node_t *child[cap] then pc_hash_t
 * hash[cap] follow the struct. */
typedef struct {
  node_t h;
  uint16_t dirty; /* batch only: nibbles whose hash[] entry is stale (a fresh branch below) */
  uint8_t cap;    /* slots allocated, ≥ popcount(bitmap) */
  uint8_t pad;
  pc_hash_t prefix; /* kh of some key below: its first `depth` nibbles are the subtree's */
  uint32_t pad2;
} branch_t;

typedef struct {
  node_t h;
  pc_hash_t kh;
  uint32_t vlen;
  uint16_t klen;
  uint8_t data[]; /* key then value */
} leaf_t;

struct pc_state_version {
  uint64_t number;
  node_t *root;
  pc_hash_t root_hash;
  uint64_t count;
  uint32_t holders; /* ring slot + current pointer; writer only */
  struct rcu_head rcu;
};

/* Nodes retired by commit `number`, waiting for every older version to die. */
typedef struct retired {
  uint64_t number;
  node_t *list;
  size_t bytes;
  struct retired *next; /* rq FIFO, then the recycle stack */
  pc_state_t *s;
  struct rcu_head rcu;
} retired_t;

/* Node memory: nodes up to SLAB_MAX bytes come from per-size-class free
 * lists (classes of SLAB_GRAIN bytes) refilled from SLAB_CHUNK-byte
 * chunks, larger ones (big values) from malloc. Only the writer thread
 * allocates and frees; a retired list whose grace period ended comes back
 * from the call_rcu thread on the `recycle` stack and the writer puts its
 * nodes on the free lists at its next batch. Chunks go back to the system
 * with the state (pc_state_free): the footprint is the high-water mark. */
#if defined(__SANITIZE_ADDRESS__)
#define PC_STATE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PC_STATE_ASAN 1
#endif
#endif
#ifdef PC_STATE_ASAN
/* Free slots are poisoned so that ASan still reports a use after free
 * (a read of a recycled node) although the memory is never free()d. */
#include <sanitizer/asan_interface.h>
#define SLAB_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define SLAB_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define SLAB_POISON(p, n) ((void)(p), (void)(n))
#define SLAB_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define SLAB_GRAIN 16u
#define SLAB_MAX 1024u
#define SLAB_CLASSES (SLAB_MAX / SLAB_GRAIN)
#define SLAB_CHUNK (256u << 10)

typedef struct slab_chunk {
  struct slab_chunk *next;
  uint64_t pad; /* keeps nodes 16-byte aligned */
} slab_chunk_t;

struct pc_state {
  pc_state_version_t *current; /* RCU-published */
  pc_state_version_t **ring;   /* RCU-published slots, ring[v % retain] */
  unsigned retain;
  uint64_t head;
  uint32_t gen;
  size_t mem;
  pc_state_batch_t *open_batch;
  retired_t *rq_head, *rq_tail; /* FIFO by number */
  _Atomic(retired_t *) recycle;  /* pushed by retired_cb, drained by the writer */
  node_t *freel[SLAB_CLASSES];
  slab_chunk_t *chunks;
  uint8_t *bump;
  size_t bump_left;
  size_t reserved; /* chunk bytes + big node bytes */
};

struct pc_state_batch {
  pc_state_t *s;
  node_t *root;
  pc_hash_t root_hash;
  uint16_t root_dirty; /* bit 0: root_hash is stale */
  uint64_t count;
  uint32_t gen;
  node_t *retired; /* committed nodes this batch stopped using */
  size_t retired_bytes;
};

/* ---------------------------------------------------------------- helpers */

static inline unsigned nib(const pc_hash_t *h, unsigned d) {
  uint8_t b = h->b[d >> 1];
  return (d & 1) ? (b & 15u) : (b >> 4);
}

static unsigned first_diff(const pc_hash_t *a, const pc_hash_t *b, unsigned from, unsigned limit) {
  for (unsigned d = from; d < limit; d++)
    if (nib(a, d) != nib(b, d)) return d;
  return limit;
}

static void key_hash(pc_hash_t *kh, const void *key, size_t klen) {
  pc_hash_tagged(kh, "parachain/state/key", key, klen);
}

void pc_state_key_hash(pc_hash_t *kh, const void *key, size_t klen) { key_hash(kh, key, klen); }

static void leaf_hash(pc_hash_t *out, const pc_hash_t *kh, const pc_hash_t *vh) {
  pc_hash_pair(out, "parachain/state/leaf", kh, vh);
}

static void branch_hash_from(pc_hash_t *out, unsigned depth, uint16_t bitmap, const pc_hash_t *const *hs,
                             unsigned n) {
  pc_hasher_t h;
  pc_hasher_init_tagged(&h, "parachain/state/branch");
  uint8_t hdr[3] = {(uint8_t)depth, (uint8_t)bitmap, (uint8_t)(bitmap >> 8)};
  pc_hasher_update(&h, hdr, 3);
  for (unsigned i = 0; i < n; i++) pc_hasher_update(&h, hs[i]->b, PC_HASH_SIZE);
  pc_hasher_final(&h, out);
}

/* The same hash over a contiguous array of child hashes (the in-memory
 * branch): one update call. */
static void branch_hash_array(pc_hash_t *out, unsigned depth, uint16_t bitmap, const pc_hash_t *hs, unsigned n) {
  pc_hasher_t h;
  pc_hasher_init_tagged(&h, "parachain/state/branch");
  uint8_t hdr[3] = {(uint8_t)depth, (uint8_t)bitmap, (uint8_t)(bitmap >> 8)};
  pc_hasher_update(&h, hdr, 3);
  pc_hasher_update(&h, hs, (size_t)n * PC_HASH_SIZE);
  pc_hasher_final(&h, out);
}

static const uint8_t *leaf_key(const leaf_t *l) { return l->data; }
static const uint8_t *leaf_val(const leaf_t *l) { return l->data + l->klen; }

static inline node_t **b_child(const branch_t *b) { return (node_t **)(void *)((uint8_t *)b + sizeof *b); }
static inline pc_hash_t *b_hash(const branch_t *b) { return (pc_hash_t *)(void *)(b_child(b) + b->cap); }
static inline unsigned b_count(const branch_t *b) { return (unsigned)__builtin_popcount(b->h.bitmap); }
static inline unsigned b_rank(uint16_t bitmap, unsigned i) {
  return (unsigned)__builtin_popcount(bitmap & ((1u << i) - 1u));
}
static size_t branch_size(unsigned cap) { return sizeof(branch_t) + cap * (sizeof(node_t *) + sizeof(pc_hash_t)); }

static size_t node_size(const node_t *n) {
  if (n->kind == N_BRANCH) return branch_size(((const branch_t *)n)->cap);
  const leaf_t *l = (const leaf_t *)n;
  return sizeof(leaf_t) + l->klen + l->vlen;
}

/* ---------------------------------------------------------------- reclamation */

static void *node_alloc(pc_state_t *s, size_t sz) {
  if (sz > SLAB_MAX) {
    void *p = malloc(sz);
    if (p) s->reserved += sz;
    return p;
  }
  unsigned c = (unsigned)((sz + SLAB_GRAIN - 1) / SLAB_GRAIN) - 1;
  size_t csz = (size_t)(c + 1) * SLAB_GRAIN;
  node_t *n = s->freel[c];
  if (n) {
    SLAB_UNPOISON(n, csz);
    s->freel[c] = n->next_free;
    return n;
  }
  if (s->bump_left < csz) {
    /* The rest of the old chunk (< csz bytes) stays unused. */
    slab_chunk_t *ch = malloc(SLAB_CHUNK);
    if (!ch) return NULL;
    ch->next = s->chunks;
    s->chunks = ch;
    s->bump = (uint8_t *)(ch + 1);
    s->bump_left = SLAB_CHUNK - sizeof *ch;
    s->reserved += SLAB_CHUNK;
    SLAB_POISON(s->bump, s->bump_left);
  }
  void *p = s->bump;
  SLAB_UNPOISON(p, csz);
  s->bump += csz;
  s->bump_left -= csz;
  return p;
}

static size_t node_size(const node_t *n);

/* node_free: n is unreachable by readers (fresh, or its grace period
 * ended). Writer thread only. */
static void node_free(pc_state_t *s, node_t *n) {
  size_t sz = node_size(n);
  if (sz > SLAB_MAX) {
    s->reserved -= sz;
    free(n);
    return;
  }
  unsigned c = (unsigned)((sz + SLAB_GRAIN - 1) / SLAB_GRAIN) - 1;
  n->next_free = s->freel[c];
  s->freel[c] = n;
  SLAB_POISON(n, (size_t)(c + 1) * SLAB_GRAIN);
}

static void free_list_now(pc_state_t *s, node_t *n) {
  while (n) {
    node_t *nx = n->next_free;
    node_free(s, n);
    n = nx;
  }
}

/* recycle takes back the retired lists whose grace period ended. */
static void recycle(pc_state_t *s) {
  /* acquire: pairs with the release CAS in retired_cb */
  retired_t *r = atomic_exchange_explicit(&s->recycle, NULL, memory_order_acquire);
  while (r) {
    retired_t *nx = r->next;
    free_list_now(s, r->list);
    free(r);
    r = nx;
  }
}

/* retire: the batch no longer points to n. Fresh nodes (never visible)
 * are freed now; committed ones wait on the batch's retired list. */
static void retire(pc_state_batch_t *bt, node_t *n) {
  if (!n) return;
  size_t sz = node_size(n);
  if (n->gen == bt->gen) {
    bt->s->mem -= sz;
    node_free(bt->s, n);
    return;
  }
  n->next_free = bt->retired; /* writer-only field, never read by readers */
  bt->retired = n;
  bt->retired_bytes += sz;
}

/* retired_cb runs in the call_rcu thread after the grace period: it only
 * hands the list back to the writer (lock-free push; the writer takes the
 * whole stack at once, so there is no ABA). */
static void retired_cb(struct rcu_head *h) {
  retired_t *r = caa_container_of(h, retired_t, rcu);
  pc_state_t *s = r->s;
  retired_t *top = atomic_load_explicit(&s->recycle, memory_order_relaxed);
  do {
    r->next = top;
    /* release: the writer's acquire exchange in recycle() sees r's fields */
  } while (!atomic_compare_exchange_weak_explicit(&s->recycle, &top, r, memory_order_release,
                                                  memory_order_relaxed));
}

static void version_free_cb(struct rcu_head *h) { free(caa_container_of(h, pc_state_version_t, rcu)); }

/* min_live: the oldest version a reader can still reach by number or as current. */
static uint64_t min_live(const pc_state_t *s) {
  uint64_t oldest_ring = s->head + 1 >= s->retain ? s->head + 1 - s->retain : 0;
  uint64_t cur = s->current ? s->current->number : s->head;
  return PC_MIN(oldest_ring, cur);
}

/* reclaim hands every retired list whose versions all died to call_rcu. */
static void reclaim(pc_state_t *s) {
  uint64_t live = min_live(s);
  while (s->rq_head && s->rq_head->number <= live) {
    retired_t *r = s->rq_head;
    s->rq_head = r->next;
    if (!s->rq_head) s->rq_tail = NULL;
    s->mem -= r->bytes;
    call_rcu(&r->rcu, retired_cb);
  }
}

/* version_drop removes one holder; the struct itself is freed after a
 * grace period (its nodes are reclaimed through the retired lists). */
static void version_drop(pc_state_version_t *v) {
  if (!v || --v->holders) return;
  call_rcu(&v->rcu, version_free_cb);
}

/* free_fresh frees the batch's own nodes below n (abort path). */
static void free_fresh(pc_state_t *s, node_t *n, uint32_t gen) {
  if (!n || n->gen != gen) return;
  if (n->kind == N_BRANCH) {
    branch_t *b = (branch_t *)n;
    for (unsigned i = 0; i < b_count(b); i++) free_fresh(s, b_child(b)[i], gen);
  }
  s->mem -= node_size(n);
  node_free(s, n);
}

/* free_big_tree frees the malloc'd (big) nodes below n; the chunks go
 * afterwards (teardown only). */
static void free_big_tree(node_t *n) {
  if (!n) return;
  if (n->kind == N_BRANCH) {
    branch_t *b = (branch_t *)n;
    for (unsigned i = 0; i < b_count(b); i++) free_big_tree(b_child(b)[i]);
  }
  if (node_size(n) > SLAB_MAX) free(n);
}

/* ---------------------------------------------------------------- nodes */

/* new_leaf makes a leaf and its hash (*lh). */
static leaf_t *new_leaf(pc_state_t *s, uint32_t gen, const pc_hash_t *kh, const void *key, size_t klen,
                        const void *val, size_t vlen, pc_hash_t *lh) {
  leaf_t *l = node_alloc(s, sizeof *l + klen + vlen);
  if (!l) return NULL;
  memset(&l->h, 0, sizeof l->h);
  l->h.gen = gen;
  l->h.kind = N_LEAF;
  l->kh = *kh;
  l->klen = (uint16_t)klen;
  l->vlen = (uint32_t)vlen;
  memcpy(l->data, key, klen);
  if (vlen) memcpy(l->data + klen, val, vlen);
  pc_hash_t vh;
  pc_hash_tagged(&vh, "parachain/state/value", val, vlen);
  leaf_hash(lh, kh, &vh);
  s->mem += sizeof *l + klen + vlen;
  return l;
}

static branch_t *new_branch(pc_state_t *s, uint32_t gen, unsigned depth, const pc_hash_t *prefix, unsigned cap) {
  branch_t *b = node_alloc(s, branch_size(cap));
  if (!b) return NULL;
  memset(b, 0, sizeof *b);
  b->h.gen = gen;
  b->h.kind = N_BRANCH;
  b->h.depth = (uint8_t)depth;
  b->cap = (uint8_t)cap;
  b->prefix = *prefix;
  s->mem += branch_size(cap);
  return b;
}

/* own makes *slot a branch of the batch with room for `need` children
 * (copying it if it is shared or too small), so it can be changed in
 * place. Returns it, or NULL on OOM. */
static branch_t *own(pc_state_batch_t *bt, node_t **slot, unsigned need) {
  branch_t *src = (branch_t *)*slot;
  if (src->h.gen == bt->gen && src->cap >= need) return src;
  unsigned n = b_count(src);
  branch_t *c = new_branch(bt->s, bt->gen, src->h.depth, &src->prefix, need > n ? need : n);
  if (!c) return NULL;
  c->h.bitmap = src->h.bitmap;
  c->dirty = src->h.gen == bt->gen ? src->dirty : 0;
  memcpy(b_child(c), b_child(src), n * sizeof(node_t *));
  memcpy(b_hash(c), b_hash(src), n * sizeof(pc_hash_t));
  retire(bt, &src->h);
  *slot = &c->h;
  return c;
}

static const leaf_t *lookup(const node_t *n, const pc_hash_t *kh) {
  while (n && n->kind == N_BRANCH) {
    const branch_t *b = (const branch_t *)n;
    unsigned i = nib(kh, n->depth);
    if (!((n->bitmap >> i) & 1u)) return NULL;
    n = b_child(b)[b_rank(n->bitmap, i)];
  }
  if (!n) return NULL;
  const leaf_t *l = (const leaf_t *)n;
  return pc_hash_equal(&l->kh, kh) ? l : NULL;
}

static const pc_hash_t *node_kh(const node_t *n) {
  return n->kind == N_LEAF ? &((const leaf_t *)n)->kh : &((const branch_t *)n)->prefix;
}

/* A place that points to a node: its pointer, the hash kept for it and
 * the bit that says that hash is stale. */
typedef struct {
  node_t **node;
  pc_hash_t *hash;
  uint16_t *dirty;
  uint16_t bit;
} slot_t;

static int insert(pc_state_batch_t *bt, const pc_hash_t *kh, const void *key, size_t klen, const void *val,
                  size_t vlen) {
  pc_state_t *s = bt->s;
  pc_hash_t lh;
  leaf_t *l = new_leaf(s, bt->gen, kh, key, klen, val, vlen, &lh);
  if (!l) return PC_ERR_NOMEM;
  if (!bt->root) {
    bt->root = &l->h;
    bt->root_hash = lh;
    bt->root_dirty = 0;
    bt->count++;
    return 0;
  }
  slot_t sl = {&bt->root, &bt->root_hash, &bt->root_dirty, 1};
  unsigned depth = 0;
  for (;;) {
    node_t *n = *sl.node;
    unsigned limit = n->kind == N_BRANCH ? n->depth : 64;
    unsigned d = first_diff(kh, node_kh(n), depth, limit);
    if (n->kind == N_LEAF && d == 64) {
      /* Same key hash: replace the value. */
      retire(bt, n);
      *sl.node = &l->h;
      *sl.hash = lh;
      *sl.dirty &= (uint16_t)~sl.bit;
      return 0;
    }
    if (d < limit) {
      /* Diverges above n: a new branch at d holds n (moved down,
       * unchanged, its hash and staleness with it) and the new leaf. */
      branch_t *b = new_branch(s, bt->gen, d, kh, 2);
      if (!b) {
        s->mem -= node_size(&l->h);
        node_free(s, &l->h);
        return PC_ERR_NOMEM;
      }
      unsigned il = nib(kh, d), in = nib(node_kh(n), d);
      unsigned rl = il > in, rn = in > il;
      b_child(b)[rl] = &l->h;
      b_hash(b)[rl] = lh;
      b_child(b)[rn] = n;
      b_hash(b)[rn] = *sl.hash;
      if (*sl.dirty & sl.bit) b->dirty = (uint16_t)(1u << in);
      b->h.bitmap = (uint16_t)((1u << il) | (1u << in));
      *sl.node = &b->h;
      *sl.dirty |= sl.bit;
      bt->count++;
      return 0;
    }
    branch_t *b = (branch_t *)n;
    unsigned i = nib(kh, b->h.depth);
    bool present = (b->h.bitmap >> i) & 1u;
    b = own(bt, sl.node, b_count(b) + (present ? 0u : 1u));
    if (!b) {
      s->mem -= node_size(&l->h);
      node_free(s, &l->h);
      return PC_ERR_NOMEM;
    }
    *sl.dirty |= sl.bit;
    unsigned r = b_rank(b->h.bitmap, i);
    if (!present) {
      unsigned cnt = b_count(b);
      memmove(b_child(b) + r + 1, b_child(b) + r, (cnt - r) * sizeof(node_t *));
      memmove(b_hash(b) + r + 1, b_hash(b) + r, (cnt - r) * sizeof(pc_hash_t));
      b_child(b)[r] = &l->h;
      b_hash(b)[r] = lh;
      b->h.bitmap |= (uint16_t)(1u << i);
      bt->count++;
      return 0;
    }
    sl = (slot_t){&b_child(b)[r], &b_hash(b)[r], &b->dirty, (uint16_t)(1u << i)};
    depth = b->h.depth + 1u;
  }
}

/* delete_at removes kh (known present) from the branch at sl (the root
 * when it is a leaf is handled by the caller). */
static int delete_at(pc_state_batch_t *bt, slot_t sl, const pc_hash_t *kh) {
  branch_t *b = own(bt, sl.node, 0);
  if (!b) return PC_ERR_NOMEM;
  *sl.dirty |= sl.bit;
  unsigned i = nib(kh, b->h.depth), r = b_rank(b->h.bitmap, i);
  node_t *c = b_child(b)[r];
  if (c->kind == N_LEAF) {
    retire(bt, c);
    bt->count--;
    unsigned cnt = b_count(b);
    memmove(b_child(b) + r, b_child(b) + r + 1, (cnt - r - 1) * sizeof(node_t *));
    memmove(b_hash(b) + r, b_hash(b) + r + 1, (cnt - r - 1) * sizeof(pc_hash_t));
    b->h.bitmap &= (uint16_t)~(1u << i);
    b->dirty &= (uint16_t)~(1u << i);
  } else {
    int e = delete_at(bt, (slot_t){&b_child(b)[r], &b_hash(b)[r], &b->dirty, (uint16_t)(1u << i)}, kh);
    if (e) return e;
  }
  if (b_count(b) == 1) {
    /* One child left: it moves up (the trie stays canonical), with its
     * hash, or stale if it was. */
    unsigned j = (unsigned)__builtin_ctz(b->h.bitmap);
    *sl.node = b_child(b)[0];
    if (b->dirty & (1u << j)) {
      *sl.dirty |= sl.bit;
    } else {
      *sl.hash = b_hash(b)[0];
      *sl.dirty &= (uint16_t)~sl.bit;
    }
    b->h.bitmap = 0;
    retire(bt, &b->h);
  }
  return 0;
}

/* rehash computes the stale hashes of the batch's branches, bottom-up:
 * only children marked dirty are visited. Recursion depth ≤ 65. */
static void rehash(branch_t *b, pc_hash_t *out) {
  unsigned n = b_count(b);
  for (uint16_t d = b->dirty; d; d &= (uint16_t)(d - 1)) {
    unsigned i = (unsigned)__builtin_ctz(d), r = b_rank(b->h.bitmap, i);
    node_t *c = b_child(b)[r];
    assert(c->kind == N_BRANCH); /* a stale hash is always a fresh branch's */
    rehash((branch_t *)c, &b_hash(b)[r]);
  }
  b->dirty = 0;
  branch_hash_array(out, b->h.depth, b->h.bitmap, b_hash(b), n);
}

/* ---------------------------------------------------------------- state */

pc_state_t *pc_state_new(unsigned retain) {
  pc_state_t *s = calloc(1, sizeof *s);
  if (!s) {
    PC_ERROR("state: out of memory");
    return NULL;
  }
  s->retain = retain ? retain : 16;
  s->ring = calloc(s->retain, sizeof *s->ring);
  pc_state_version_t *v0 = calloc(1, sizeof *v0);
  if (!s->ring || !v0) {
    PC_ERROR("state: out of memory");
    free(s->ring);
    free(v0);
    free(s);
    return NULL;
  }
  v0->holders = 2;
  s->ring[0] = v0;
  s->current = v0;
  s->gen = 1;
  return s;
}

void pc_state_free(pc_state_t *s) {
  if (!s) return;
  if (s->open_batch) pc_state_abort(s->open_batch);
  /* Let every reader and every earlier call_rcu finish, then free directly. */
  synchronize_rcu();
  rcu_barrier();
  node_t *head_root = s->ring[s->head % s->retain]->root;
  recycle(s);
  for (retired_t *r = s->rq_head; r;) {
    retired_t *nx = r->next;
    free_list_now(s, r->list);
    free(r);
    r = nx;
  }
  free_big_tree(head_root);
  for (slab_chunk_t *c = s->chunks; c;) {
    slab_chunk_t *nx = c->next;
    SLAB_UNPOISON(c, SLAB_CHUNK);
    free(c);
    c = nx;
  }
  pc_state_version_t *cur = s->current;
  bool cur_in_ring = false;
  for (unsigned i = 0; i < s->retain; i++) {
    if (s->ring[i] == cur) cur_in_ring = true;
    free(s->ring[i]);
  }
  if (!cur_in_ring) free(cur);
  free(s->ring);
  free(s);
}

const pc_state_version_t *pc_state_current(pc_state_t *s) { return rcu_dereference(s->current); }

const pc_state_version_t *pc_state_at(pc_state_t *s, uint64_t v) {
  pc_state_version_t *x = rcu_dereference(s->ring[v % s->retain]);
  return x && x->number == v ? x : NULL;
}

uint64_t pc_state_version_number(const pc_state_version_t *v) { return v->number; }
void pc_state_version_root(const pc_state_version_t *v, pc_hash_t *root) { *root = v->root_hash; }
uint64_t pc_state_version_count(const pc_state_version_t *v) { return v->count; }
uint64_t pc_state_head(const pc_state_t *s) { return s->head; }
size_t pc_state_memory(const pc_state_t *s) { return s->mem; }
size_t pc_state_memory_reserved(const pc_state_t *s) { return s->reserved; }

static int check_key(size_t klen) { return klen == 0 || klen > PC_STATE_KEY_MAX ? PC_ERR_INVALID : 0; }

int pc_state_get(const pc_state_version_t *v, const void *key, size_t klen, const uint8_t **val, size_t *vlen) {
  if (check_key(klen)) return PC_ERR_INVALID;
  pc_hash_t kh;
  key_hash(&kh, key, klen);
  const leaf_t *l = lookup(v->root, &kh);
  if (!l || l->klen != klen || memcmp(leaf_key(l), key, klen) != 0) return PC_ERR_NOT_FOUND;
  *val = leaf_val(l);
  *vlen = l->vlen;
  return 0;
}

static int iter_node(const node_t *n,
                     int (*fn)(void *, const uint8_t *, size_t, const uint8_t *, size_t), void *arg) {
  if (!n) return 0;
  if (n->kind == N_LEAF) {
    const leaf_t *l = (const leaf_t *)n;
    return fn(arg, leaf_key(l), l->klen, leaf_val(l), l->vlen);
  }
  const branch_t *b = (const branch_t *)n;
  for (unsigned i = 0; i < b_count(b); i++) {
    int e = iter_node(b_child(b)[i], fn, arg);
    if (e) return e;
  }
  return 0;
}

int pc_state_iter(const pc_state_version_t *v,
                  int (*fn)(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen),
                  void *arg) {
  return iter_node(v->root, fn, arg);
}

/* ---------------------------------------------------------------- batches */

pc_state_batch_t *pc_state_batch_new(pc_state_t *s) {
  if (s->open_batch) {
    PC_ERROR("state: a write batch is already open");
    return NULL;
  }
  pc_state_batch_t *b = calloc(1, sizeof *b);
  if (!b) {
    PC_ERROR("state: out of memory");
    return NULL;
  }
  recycle(s);
  pc_state_version_t *head = s->ring[s->head % s->retain];
  b->s = s;
  b->root = head->root;
  b->root_hash = head->root_hash;
  b->count = head->count;
  b->gen = ++s->gen;
  s->open_batch = b;
  return b;
}

int pc_state_batch_put(pc_state_batch_t *b, const void *key, size_t klen, const void *val, size_t vlen) {
  if (check_key(klen) || (vlen && !val)) return PC_ERR_INVALID;
  if (vlen > PC_STATE_VALUE_MAX) return PC_ERR_TOO_LARGE;
  pc_hash_t kh;
  key_hash(&kh, key, klen);
  return insert(b, &kh, key, klen, val, vlen);
}

int pc_state_batch_delete(pc_state_batch_t *b, const void *key, size_t klen) {
  if (check_key(klen)) return PC_ERR_INVALID;
  pc_hash_t kh;
  key_hash(&kh, key, klen);
  if (!lookup(b->root, &kh)) return 0;
  if (b->root->kind == N_LEAF) {
    retire(b, b->root);
    b->root = NULL;
    memset(&b->root_hash, 0, sizeof b->root_hash);
    b->root_dirty = 0;
    b->count--;
    return 0;
  }
  return delete_at(b, (slot_t){&b->root, &b->root_hash, &b->root_dirty, 1}, &kh);
}

int pc_state_batch_get(pc_state_batch_t *b, const void *key, size_t klen, const uint8_t **val, size_t *vlen) {
  pc_state_version_t tmp = {.root = b->root};
  return pc_state_get(&tmp, key, klen, val, vlen);
}

void pc_state_abort(pc_state_batch_t *b) {
  if (!b) return;
  /* Only the batch's own nodes go; the retired list names nodes that the
   * head version still uses. */
  free_fresh(b->s, b->root, b->gen);
  b->s->open_batch = NULL;
  free(b);
}

int64_t pc_state_commit(pc_state_batch_t *b, pc_hash_t *root) {
  pc_state_t *s = b->s;
  pc_state_version_t *v = calloc(1, sizeof *v);
  retired_t *r = calloc(1, sizeof *r);
  if (!v || !r) {
    free(v);
    free(r);
    return PC_ERR_NOMEM;
  }
  if (b->root_dirty) rehash((branch_t *)b->root, &b->root_hash);
  v->number = s->head + 1;
  v->root = b->root;
  if (v->root) v->root_hash = b->root_hash;
  v->count = b->count;
  v->holders = 1;
  if (root) *root = v->root_hash;
  r->number = v->number;
  r->s = s;
  r->list = b->retired;
  r->bytes = b->retired_bytes;
  if (s->rq_tail) s->rq_tail->next = r;
  else s->rq_head = r;
  s->rq_tail = r;
  s->open_batch = NULL;
  free(b);
  unsigned slot = (unsigned)(v->number % s->retain);
  pc_state_version_t *old = s->ring[slot];
  /* rcu_assign_pointer: readers that find v see its nodes fully built. */
  rcu_assign_pointer(s->ring[slot], v);
  s->head = v->number;
  version_drop(old);
  reclaim(s);
  return (int64_t)v->number;
}

int pc_state_publish(pc_state_t *s, uint64_t number) {
  pc_state_version_t *v = s->ring[number % s->retain];
  if (!v || v->number != number) return PC_ERR_NOT_FOUND;
  pc_state_version_t *old = s->current;
  if (old == v) return 0;
  v->holders++;
  rcu_assign_pointer(s->current, v);
  version_drop(old);
  reclaim(s);
  return 0;
}

/* ---------------------------------------------------------------- proofs */

int pc_state_prove(const pc_state_version_t *v, const void *key, size_t klen, uint8_t *out, size_t cap,
                   size_t *len) {
  if (check_key(klen)) return PC_ERR_INVALID;
  pc_hash_t kh;
  key_hash(&kh, key, klen);
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  pc_put_u8(&w, 1);
  uint8_t *kind = pc_writer_reserve(&w, 1);
  uint8_t *steps = pc_writer_reserve(&w, 1);
  if (!kind || !steps) return PC_ERR_OVERFLOW;
  unsigned n_steps = 0;
  uint8_t k;
  const node_t *n = v->root;
  if (!n) {
    k = 4;
  } else {
    for (;;) {
      if (n->kind == N_LEAF) {
        const leaf_t *l = (const leaf_t *)n;
        if (pc_hash_equal(&l->kh, &kh)) {
          k = 1;
        } else {
          k = 3;
          pc_hash_t vh; /* not kept in memory: recomputed */
          pc_hash_tagged(&vh, "parachain/state/value", leaf_val(l), l->vlen);
          pc_put_bytes(&w, l->kh.b, PC_HASH_SIZE);
          pc_put_bytes(&w, vh.b, PC_HASH_SIZE);
        }
        break;
      }
      const branch_t *b = (const branch_t *)n;
      unsigned i = nib(&kh, n->depth);
      pc_put_u8(&w, n->depth);
      pc_put_u16(&w, n->bitmap);
      pc_put_u8(&w, (uint8_t)i);
      bool in = (n->bitmap >> i) & 1u;
      unsigned r = b_rank(n->bitmap, i);
      for (unsigned j = 0; j < b_count(b); j++)
        if (!in || j != r) pc_put_bytes(&w, b_hash(b)[j].b, PC_HASH_SIZE);
      n_steps++;
      if (!in) {
        k = 2;
        break;
      }
      n = b_child(b)[r];
    }
  }
  if (pc_writer_finish(&w)) return PC_ERR_OVERFLOW;
  *kind = k;
  *steps = (uint8_t)n_steps;
  *len = w.len;
  return 0;
}

static int proof_bad(int e) { return pc_reject_note(PC_DEC_OTHER, e); }

int pc_state_proof_verify(const pc_hash_t *root, const void *key, size_t klen, const void *val, size_t vlen,
                          const uint8_t *proof, size_t proof_len) {
  if (check_key(klen) || vlen > PC_STATE_VALUE_MAX || (vlen && !val)) return PC_ERR_INVALID;
  pc_reader_t r;
  pc_reader_init(&r, proof, proof_len);
  if (pc_get_u8(&r) != 1) return proof_bad(PC_ERR_VERSION);
  uint8_t kind = pc_get_u8(&r);
  unsigned n_steps = pc_get_u8(&r);
  if (pc_reader_ok(&r)) return proof_bad(pc_reader_ok(&r));
  if (kind < 1 || kind > 4 || n_steps > 64) return proof_bad(PC_ERR_INVALID);
  pc_hash_t kh;
  key_hash(&kh, key, klen);
  struct {
    uint8_t depth, index;
    uint16_t bitmap;
    const uint8_t *hashes;
  } st[64];
  int last_depth = -1;
  for (unsigned s = 0; s < n_steps; s++) {
    st[s].depth = pc_get_u8(&r);
    st[s].bitmap = pc_get_u16(&r);
    st[s].index = pc_get_u8(&r);
    if (pc_reader_ok(&r)) return proof_bad(pc_reader_ok(&r));
    if ((int)st[s].depth <= last_depth || st[s].depth >= 64 || st[s].index > 15 ||
        __builtin_popcount(st[s].bitmap) < 2 || st[s].index != nib(&kh, st[s].depth))
      return proof_bad(PC_ERR_INVALID);
    last_depth = st[s].depth;
    bool in = (st[s].bitmap >> st[s].index) & 1u;
    bool last_absent = kind == 2 && s + 1 == n_steps;
    if (in == last_absent) return proof_bad(PC_ERR_INVALID);
    unsigned nh = (unsigned)__builtin_popcount(st[s].bitmap) - (in ? 1u : 0u);
    st[s].hashes = pc_get_view(&r, (size_t)nh * PC_HASH_SIZE);
    if (!st[s].hashes) return proof_bad(pc_reader_ok(&r));
  }
  pc_hash_t cur;
  if (kind == 1) {
    pc_hash_t vh;
    pc_hash_tagged(&vh, "parachain/state/value", val, vlen);
    leaf_hash(&cur, &kh, &vh);
  } else if (kind == 3) {
    pc_hash_t okh, ovh;
    pc_get_bytes(&r, okh.b, PC_HASH_SIZE);
    pc_get_bytes(&r, ovh.b, PC_HASH_SIZE);
    if (pc_reader_ok(&r)) return proof_bad(pc_reader_ok(&r));
    if (pc_hash_equal(&okh, &kh)) return proof_bad(PC_ERR_INVALID);
    for (unsigned s = 0; s < n_steps; s++)
      if (nib(&okh, st[s].depth) != st[s].index) return proof_bad(PC_ERR_INVALID);
    leaf_hash(&cur, &okh, &ovh);
  } else if (kind == 4) {
    if (n_steps) return proof_bad(PC_ERR_INVALID);
  } else if (n_steps == 0) {
    return proof_bad(PC_ERR_INVALID);
  }
  int e = pc_reader_finish(&r);
  if (e) return proof_bad(e);
  /* Fold up to the root. */
  for (unsigned s = n_steps; s-- > 0;) {
    const pc_hash_t *hs[16];
    unsigned k = 0, g = 0;
    bool absent_here = kind == 2 && s + 1 == n_steps;
    for (unsigned j = 0; j < 16; j++) {
      if (!((st[s].bitmap >> j) & 1u)) continue;
      if (j == st[s].index && !absent_here) hs[k++] = &cur;
      else hs[k++] = (const pc_hash_t *)(st[s].hashes + (size_t)(g++) * PC_HASH_SIZE);
    }
    pc_hash_t up;
    branch_hash_from(&up, st[s].depth, st[s].bitmap, hs, k);
    cur = up;
  }
  if (kind == 4) memset(cur.b, 0, PC_HASH_SIZE);
  bool proves_present = kind == 1;
  if (proves_present != (val != NULL)) return PC_ERR_SIGNATURE;
  return pc_hash_equal(&cur, root) ? 0 : PC_ERR_SIGNATURE;
}
