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
 *
 * ======================================================= 1M keys: misses
 * A 1M-key trie (~220 MB of nodes) does not fit any cache, and on this
 * machine a random memory access costs ~400 ns (a dependent-load chase
 * over 256 MB). An update touches ~3 such nodes on its path (the two
 * deepest branches and the leaf), writes ~3 new nodes and commit reads
 * the new branches back to hash them. Three things keep those misses
 * from being paid one after another:
 *  - writes are queued and applied PEND_MAX at a time, after a walk of all
 *    their paths level by level that prefetches the next node of each;
 *  - commit lists the stale branches breadth-first, prefetching each when
 *    found, then hashes them children-first with prefetch ahead;
 *  - retired and free nodes are arrays of addresses, not lists linked
 *    through the nodes, so retiring, recycling and allocating a node
 *    never reads it (the free slot about to be handed out is prefetched).
 * The writes' order, results and hashes are unchanged.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
  uint32_t pad2;    /* the child pointers that follow stay 8-byte aligned */
} branch_t;
_Static_assert(sizeof(branch_t) % 8 == 0, "branch children alignment");

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

/* A node reference kept outside the node: its address | its size class
 * << REF_SHIFT (REF_BIG: a malloc'd node). Retired and free nodes are
 * listed in arrays of these, never linked through the nodes themselves,
 * so retiring, recycling and allocating a node do not read its memory
 * (at 1M keys each such read was a cache miss, one after the other along
 * a linked list). Addresses are below 2^56 (checked when the memory is
 * obtained). */
typedef uint64_t noderef_t;
#define REF_SHIFT 56
#define REF_BIG 0xffu
#define REF_ADDR_MASK ((UINT64_C(1) << REF_SHIFT) - 1)

/* Nodes retired by commit `number`, waiting for every older version to die. */
typedef struct retired {
  uint64_t number;
  noderef_t *refs;
  size_t n;
  size_t bytes;
  struct retired *next; /* rq FIFO, then the recycle stack */
  pc_state_t *s;
  struct rcu_head rcu;
} retired_t;

/* Node memory: nodes up to SLAB_MAX bytes come from per-size-class free
 * stacks (classes of SLAB_GRAIN bytes; arrays of addresses, capacity ≥
 * the slots ever carved in the class, so a push never fails) refilled
 * from chunks, larger ones (big values) from malloc. The first chunks are
 * SLAB_CHUNK bytes from malloc; once the state holds HUGE_AFTER bytes,
 * chunks are HUGE_CHUNK bytes mapped at a HUGE_CHUNK boundary and
 * advised as transparent huge pages (a 1M-key trie spans ~250 MB: with
 * 4 KiB pages nearly every node visited on a path is also a TLB miss).
 * Only the writer thread allocates and frees; a retired list whose grace
 * period ended comes back from the call_rcu thread on the `recycle`
 * stack and the writer pushes its nodes on the free stacks at its next
 * batch. Chunks go back to the system with the state (pc_state_free):
 * the footprint is the high-water mark. */
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
#define HUGE_CHUNK (2u << 20)
#define HUGE_AFTER (4u << 20)

typedef struct slab_chunk {
  struct slab_chunk *next;
  uint32_t size;   /* bytes, header included */
  uint32_t mapped; /* 1: mmap'd (HUGE_CHUNK), 0: malloc'd */
} slab_chunk_t; /* 16 bytes: keeps nodes 16-byte aligned */

typedef struct {
  node_t **v;
  uint32_t n, cap;  /* cap ≥ carved */
  uint32_t carved;  /* slots of this class cut from chunks */
} freestack_t;

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
  freestack_t fs[SLAB_CLASSES];
  node_t **pool; /* spare full-size branch slots: applying queued writes never fails */
  uint32_t n_pool, cap_pool;
  slab_chunk_t *chunks;
  uint8_t *bump;
  size_t bump_left;
  size_t reserved; /* chunk bytes + big node bytes */
  size_t n_big;     /* malloc'd nodes alive */
  long fail_after;  /* tests: node allocations that still succeed; < 0 = all */
};

/* Writes are queued and applied PEND_MAX at a time: first every queued
 * key's path is walked level by level across the group, prefetching the
 * next node of each path (and the whole of a shared branch, which the
 * write will copy), so up to PEND_MAX cache misses are in flight instead
 * of one; then the writes are applied in call order. Everything that can
 * fail is done when a write is queued (key hash, leaf allocated and
 * hashed, room for its retirements and for its new branches in the
 * pool), so applying cannot fail and put/delete keep their results. */
#ifndef PEND_MAX
#define PEND_MAX 16u
#endif

typedef struct {
  pc_hash_t kh;
  pc_hash_t lh; /* put: the leaf's hash */
  leaf_t *leaf; /* put: the new (fresh) leaf; NULL: delete */
} pend_t;

struct pc_state_batch {
  pc_state_t *s;
  unsigned n_pend;
  pend_t pend[PEND_MAX];
  node_t *root;
  pc_hash_t root_hash;
  uint16_t root_dirty; /* bit 0: root_hash is stale */
  uint64_t count;
  uint32_t gen;
  int err; /* sticky: a queued write could not be applied (never expected) */
  noderef_t *retired; /* committed nodes this batch stopped using */
  size_t n_retired, cap_retired;
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

static inline void prefetch_lines(const void *p, size_t bytes) {
  for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch((const uint8_t *)p + o, 0, 3);
}

/* The first bytes of a node fetched ahead: a branch's header and child
 * pointers (≤ 48 + 16 × 8 bytes from a 16-byte aligned start), a leaf's
 * key hash and lengths. */
#define NODE_HEAD 256u


static inline unsigned size_class(size_t sz) { return (unsigned)((sz + SLAB_GRAIN - 1) / SLAB_GRAIN) - 1; }
static inline size_t class_size(unsigned c) { return (size_t)(c + 1) * SLAB_GRAIN; }
static inline bool addr_ok(const void *p) { return ((uint64_t)(uintptr_t)p & ~REF_ADDR_MASK) == 0; }

/* chunk_new gives the bump allocator a fresh chunk; false on OOM. */
static bool chunk_new(pc_state_t *s) {
  slab_chunk_t *ch;
  size_t size;
  bool mapped = s->reserved >= HUGE_AFTER;
  if (mapped) {
    size = HUGE_CHUNK;
    uint8_t *m = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return false;
    uintptr_t a = ((uintptr_t)m + size - 1) & ~(uintptr_t)(size - 1);
    size_t head = a - (uintptr_t)m;
    if (head) munmap(m, head);
    munmap((uint8_t *)a + size, size - head);
    (void)madvise((void *)a, size, MADV_HUGEPAGE); /* advice: without THP it is just slower */
    ch = (slab_chunk_t *)a;
  } else {
    size = SLAB_CHUNK;
    ch = malloc(size);
    if (!ch) return false;
  }
  if (!addr_ok((uint8_t *)ch + size)) {
    if (mapped) munmap(ch, size);
    else free(ch);
    PC_ERROR("state: node memory above 2^56");
    return false;
  }
  ch->next = s->chunks;
  ch->size = (uint32_t)size;
  ch->mapped = mapped;
  s->chunks = ch;
  s->bump = (uint8_t *)(ch + 1);
  s->bump_left = size - sizeof *ch;
  s->reserved += size;
  SLAB_POISON(s->bump, s->bump_left);
  return true;
}

static void *node_alloc(pc_state_t *s, size_t sz) {
  if (s->fail_after >= 0) {
    if (s->fail_after == 0) return NULL;
    s->fail_after--;
  }
  if (sz > SLAB_MAX) {
    void *p = malloc(sz);
    if (p && !addr_ok(p)) {
      free(p);
      p = NULL;
    }
    if (p) {
      s->reserved += sz;
      s->n_big++;
    }
    return p;
  }
  unsigned c = size_class(sz);
  size_t csz = class_size(c);
  freestack_t *f = &s->fs[c];
  if (f->n) {
    node_t *n = f->v[--f->n];
    /* The next slot of this class is likely cold: start fetching it now
     * (for writing), it is what the next allocation will fill. */
#ifndef PC_STATE_NO_ALLOC_PREFETCH
    if (f->n) __builtin_prefetch(f->v[f->n - 1], 1, 3);
#endif
    SLAB_UNPOISON(n, csz);
    return n;
  }
  if (f->carved == f->cap) {
    uint32_t cap = f->cap ? 2 * f->cap : 64;
    node_t **v = realloc(f->v, cap * sizeof *v);
    if (!v) return NULL;
    f->v = v;
    f->cap = cap;
  }
  /* The rest of the old chunk (< csz bytes) stays unused. */
  if (s->bump_left < csz && !chunk_new(s)) return NULL;
  void *p = s->bump;
  SLAB_UNPOISON(p, csz);
  s->bump += csz;
  s->bump_left -= csz;
  f->carved++;
  return p;
}

static size_t node_size(const node_t *n);

/* slot_free puts slab slot n of class c back (cannot fail: cap ≥ carved). */
static inline void slot_free(pc_state_t *s, unsigned c, node_t *n) {
  freestack_t *f = &s->fs[c];
  assert(f->n < f->cap);
  f->v[f->n++] = n;
  SLAB_POISON(n, class_size(c));
}

/* node_free: n is unreachable by readers (fresh, or its grace period
 * ended). Writer thread only. Reads n (its size). */
static void node_free(pc_state_t *s, node_t *n) {
  size_t sz = node_size(n);
  if (sz > SLAB_MAX) {
    s->reserved -= sz;
    s->n_big--;
    free(n);
    return;
  }
  slot_free(s, size_class(sz), n);
}

/* refs_free frees the nodes of a retired array; only big nodes are read. */
static void refs_free(pc_state_t *s, const noderef_t *refs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned c = (unsigned)(refs[i] >> REF_SHIFT);
    node_t *nd = (node_t *)(uintptr_t)(refs[i] & REF_ADDR_MASK);
    if (c == REF_BIG) node_free(s, nd);
    else slot_free(s, c, nd);
  }
}

/* recycle takes back the retired lists whose grace period ended. */
static void recycle(pc_state_t *s) {
  /* acquire: pairs with the release CAS in retired_cb */
  retired_t *r = atomic_exchange_explicit(&s->recycle, NULL, memory_order_acquire);
  while (r) {
    retired_t *nx = r->next;
    refs_free(s, r->refs, r->n);
    free(r->refs);
    free(r);
    r = nx;
  }
}

/* retired_reserve makes room for `more` retirements in the batch, so that
 * an insert or delete, once it starts changing the trie, cannot fail. */
static int retired_reserve(pc_state_batch_t *bt, size_t more) {
  if (bt->n_retired + more <= bt->cap_retired) return 0;
  size_t cap = bt->cap_retired ? 2 * bt->cap_retired : 1024;
  while (cap < bt->n_retired + more) cap *= 2;
  noderef_t *v = realloc(bt->retired, cap * sizeof *v);
  if (!v) return PC_ERR_NOMEM;
  bt->retired = v;
  bt->cap_retired = cap;
  return 0;
}

/* The most nodes one insert or delete retires: every branch on the path
 * (≤ 64 depths), the replaced leaf, one spare. */
#define RETIRE_PER_OP 66u

/* retire: the batch no longer points to n. Fresh nodes (never visible)
 * are freed now; committed ones wait on the batch's retired array (room
 * reserved by retired_reserve). */
static void retire(pc_state_batch_t *bt, node_t *n) {
  if (!n) return;
  size_t sz = node_size(n);
  if (n->gen == bt->gen) {
    bt->s->mem -= sz;
    node_free(bt->s, n);
    return;
  }
  assert(bt->n_retired < bt->cap_retired);
  uint64_t c = sz > SLAB_MAX ? REF_BIG : size_class(sz);
  bt->retired[bt->n_retired++] = (uint64_t)(uintptr_t)n | c << REF_SHIFT;
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

/* The most new branches one queued write can need: a copy of every
 * branch on its path (≤ 64 depths) and one new split. */
#define BRANCHES_PER_OP 65u
#define POOL_CAP 16u /* pool slots are branches of this capacity (the most children) */

/* pool_reserve keeps `want` spare full-size branch slots (poisoned). */
static int pool_reserve(pc_state_t *s, uint32_t want) {
  if (s->n_pool >= want) return 0;
  if (want > s->cap_pool) {
    node_t **v = realloc(s->pool, want * sizeof *v);
    if (!v) return PC_ERR_NOMEM;
    s->pool = v;
    s->cap_pool = want;
  }
  while (s->n_pool < want) {
    node_t *n = node_alloc(s, branch_size(POOL_CAP));
    if (!n) return PC_ERR_NOMEM;
    SLAB_POISON(n, class_size(size_class(branch_size(POOL_CAP))));
    s->pool[s->n_pool++] = n;
  }
  return 0;
}

static branch_t *new_branch(pc_state_t *s, uint32_t gen, unsigned depth, const pc_hash_t *prefix, unsigned cap) {
  branch_t *b = node_alloc(s, branch_size(cap));
  if (!b && s->n_pool) {
    /* Out of memory while applying queued writes: a reserved slot. */
    b = (branch_t *)s->pool[--s->n_pool];
    SLAB_UNPOISON(b, class_size(size_class(branch_size(POOL_CAP))));
    cap = POOL_CAP;
  }
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

/* insert puts the batch's fresh leaf l (hash lh) in place of kh's. It
 * does not fail when the pool holds BRANCHES_PER_OP slots and the retired
 * array room for RETIRE_PER_OP (on failure l is freed). */
static int insert(pc_state_batch_t *bt, const pc_hash_t *kh, leaf_t *l, pc_hash_t lh) {
  pc_state_t *s = bt->s;
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

/* rehash_all does what rehash does with the cache misses overlapped:
 * the stale branches are listed breadth-first (each prefetched when it is
 * found, read only after every branch listed before it), then hashed in
 * reverse order — children before their parent — with the branch a few
 * places ahead prefetched whole. Falls back to rehash without memory. */
typedef struct {
  branch_t *b;
  pc_hash_t *out;
} rehash_item_t;

#define REHASH_AHEAD 6u

static void rehash_all(branch_t *root, pc_hash_t *out) {
  size_t cap = 256, n = 0;
  rehash_item_t *q = malloc(cap * sizeof *q);
  if (!q) {
    rehash(root, out);
    return;
  }
  q[n++] = (rehash_item_t){root, out};
  for (size_t i = 0; i < n; i++) {
    branch_t *b = q[i].b;
    for (uint16_t d = b->dirty; d; d &= (uint16_t)(d - 1)) {
      unsigned k = (unsigned)__builtin_ctz(d), r = b_rank(b->h.bitmap, k);
      node_t *c = b_child(b)[r];
      prefetch_lines(c, NODE_HEAD);
      if (n == cap) {
        rehash_item_t *g = realloc(q, 2 * cap * sizeof *q);
        if (!g) { /* nothing changed yet: the plain way */
          free(q);
          rehash(root, out);
          return;
        }
        q = g;
        cap *= 2;
      }
      q[n++] = (rehash_item_t){(branch_t *)c, &b_hash(b)[r]};
    }
  }
  for (size_t i = n; i-- > 0;) {
    if (i >= REHASH_AHEAD) prefetch_lines(q[i - REHASH_AHEAD].b, branch_size(16));
    branch_t *b = q[i].b;
    assert(b->h.kind == N_BRANCH); /* a stale hash is always a fresh branch's */
    b->dirty = 0;
    branch_hash_array(q[i].out, b->h.depth, b->h.bitmap, b_hash(b), b_count(b));
  }
  free(q);
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
  s->fail_after = -1;
  return s;
}

void pc_state_fail_allocs_after(pc_state_t *s, long n) { s->fail_after = n < 0 ? -1 : n; }

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
    refs_free(s, r->refs, r->n);
    free(r->refs);
    free(r);
    r = nx;
  }
  if (s->n_big) free_big_tree(head_root); /* a walk of the whole trie: only if needed */
  for (slab_chunk_t *c = s->chunks; c;) {
    slab_chunk_t *nx = c->next;
    size_t size = c->size;
    SLAB_UNPOISON(c, size);
    if (c->mapped) munmap(c, size);
    else free(c);
    c = nx;
  }
  for (unsigned i = 0; i < SLAB_CLASSES; i++) free(s->fs[i].v);
  pc_state_version_t *cur = s->current;
  bool cur_in_ring = false;
  for (unsigned i = 0; i < s->retain; i++) {
    if (s->ring[i] == cur) cur_in_ring = true;
    free(s->ring[i]);
  }
  if (!cur_in_ring) free(cur);
  free(s->ring);
  free(s->pool);
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

/* remove takes kh out of the batch's trie if it is there. Same no-fail
 * condition as insert. */
static int remove_kh(pc_state_batch_t *b, const pc_hash_t *kh) {
  if (!lookup(b->root, kh)) return 0;
  if (b->root->kind == N_LEAF) {
    retire(b, b->root);
    b->root = NULL;
    memset(&b->root_hash, 0, sizeof b->root_hash);
    b->root_dirty = 0;
    b->count--;
    return 0;
  }
  return delete_at(b, (slot_t){&b->root, &b->root_hash, &b->root_dirty, 1}, kh);
}

/* flush applies the queued writes, in call order (see PEND_MAX). */
static void flush(pc_state_batch_t *b) {
  unsigned n = b->n_pend;
  if (!n) return;
  b->n_pend = 0;
  const node_t *cur[PEND_MAX];
  for (unsigned i = 0; i < n; i++) cur[i] = b->root;
  /* Walk all paths one level per round: the node read in this round was
   * prefetched in the previous one, while the other paths were walked. */
  for (bool more = true; more;) {
    more = false;
    for (unsigned i = 0; i < n; i++) {
      const node_t *x = cur[i];
      if (!x || x->kind != N_BRANCH) {
        cur[i] = NULL;
        continue;
      }
      const branch_t *br = (const branch_t *)x;
      /* A committed branch will be copied whole: fetch the rest of it. */
      if (x->gen != b->gen && branch_size(br->cap) > NODE_HEAD)
        prefetch_lines((const uint8_t *)x + NODE_HEAD, branch_size(br->cap) - NODE_HEAD);
      unsigned k = nib(&b->pend[i].kh, x->depth);
      if (!((x->bitmap >> k) & 1u)) {
        cur[i] = NULL;
        continue;
      }
      const node_t *c = b_child(br)[b_rank(x->bitmap, k)];
      prefetch_lines(c, NODE_HEAD);
      cur[i] = c;
      more = true;
    }
  }
  for (unsigned i = 0; i < n; i++) {
    pend_t *p = &b->pend[i];
    int e = p->leaf ? insert(b, &p->kh, p->leaf, p->lh) : remove_kh(b, &p->kh);
    /* Cannot happen (everything was reserved when the write was queued);
     * if it did, the batch refuses to commit rather than lose a write. */
    if (e && !b->err) b->err = e;
  }
}

/* queue_reserve makes sure a write queued now can be applied without
 * failing: room for its retirements and pool slots for its branches. */
static int queue_reserve(pc_state_batch_t *b) {
  if (b->err) return b->err;
  size_t ops = b->n_pend + 1u;
  if (retired_reserve(b, RETIRE_PER_OP * ops)) return PC_ERR_NOMEM;
  return pool_reserve(b->s, (uint32_t)(BRANCHES_PER_OP * ops));
}

static void queue(pc_state_batch_t *b, const pc_hash_t *kh, leaf_t *l, const pc_hash_t *lh) {
  pend_t *p = &b->pend[b->n_pend++];
  p->kh = *kh;
  p->leaf = l;
  if (lh) p->lh = *lh;
  if (b->n_pend == PEND_MAX) flush(b);
}

int pc_state_batch_put(pc_state_batch_t *b, const void *key, size_t klen, const void *val, size_t vlen) {
  if (check_key(klen) || (vlen && !val)) return PC_ERR_INVALID;
  if (vlen > PC_STATE_VALUE_MAX) return PC_ERR_TOO_LARGE;
  int e = queue_reserve(b);
  if (e) return e;
  pc_hash_t kh, lh;
  key_hash(&kh, key, klen);
  leaf_t *l = new_leaf(b->s, b->gen, &kh, key, klen, val, vlen, &lh);
  if (!l) return PC_ERR_NOMEM;
  queue(b, &kh, l, &lh);
  return 0;
}

int pc_state_batch_delete(pc_state_batch_t *b, const void *key, size_t klen) {
  if (check_key(klen)) return PC_ERR_INVALID;
  int e = queue_reserve(b);
  if (e) return e;
  pc_hash_t kh;
  key_hash(&kh, key, klen);
  queue(b, &kh, NULL, NULL);
  return 0;
}

int pc_state_batch_get(pc_state_batch_t *b, const void *key, size_t klen, const uint8_t **val, size_t *vlen) {
  flush(b);
  pc_state_version_t tmp = {.root = b->root};
  return pc_state_get(&tmp, key, klen, val, vlen);
}

void pc_state_abort(pc_state_batch_t *b) {
  if (!b) return;
  /* Only the batch's own nodes go; the retired list names nodes that the
   * head version still uses. */
  for (unsigned i = 0; i < b->n_pend; i++)
    if (b->pend[i].leaf) {
      b->s->mem -= node_size(&b->pend[i].leaf->h);
      node_free(b->s, &b->pend[i].leaf->h);
    }
  free_fresh(b->s, b->root, b->gen);
  b->s->open_batch = NULL;
  free(b->retired);
  free(b);
}

int64_t pc_state_commit(pc_state_batch_t *b, pc_hash_t *root) {
  pc_state_t *s = b->s;
  flush(b);
  if (b->err) return b->err;
  pc_state_version_t *v = calloc(1, sizeof *v);
  retired_t *r = calloc(1, sizeof *r);
  if (!v || !r) {
    free(v);
    free(r);
    return PC_ERR_NOMEM;
  }
  if (b->root_dirty) rehash_all((branch_t *)b->root, &b->root_hash);
  v->number = s->head + 1;
  v->root = b->root;
  if (v->root) v->root_hash = b->root_hash;
  v->count = b->count;
  v->holders = 1;
  if (root) *root = v->root_hash;
  r->number = v->number;
  r->s = s;
  r->refs = b->retired;
  r->n = b->n_retired;
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
