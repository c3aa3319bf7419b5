/* sched.c — the four schedulers. All of them run transactions through
 * exec_tx and produce, per transaction, the receipt and write list serial
 * execution in block order would produce.
 *
 * serial      the reference: block order on the calling thread, reads from
 *             an overlay of the block's earlier writes over the base state.
 * task sets   union-find over declared keys (nonce keys included): each
 *             connected component is one task, run in block order by one
 *             worker; components share no key, so they commute.
 * DAG         tx i depends on the last earlier transaction that declares a
 *             write of any key i declares (read or write). Reads go to the
 *             multi-version store at index i, so later writers never wait
 *             for earlier readers (no write-after-read edges) and readers of
 *             a key run in parallel. A finished transaction publishes its
 *             writes, then makes ready the dependents whose count drops to 0.
 * optimistic  Block-STM style for undeclared transactions: workers take
 *             transactions in index order and execute them speculatively
 *             against the multi-version store, recording the version of each
 *             read; one worker at a time (whoever holds the commit token)
 *             walks the block in order, validates each executed transaction
 *             (every read still sees the same version now that all earlier
 *             ones are final) and re-executes it on the spot when not — that
 *             execution is exact, so it commits without validation.
 *
 * Fallback ("cannot pay"): one worker, tiny blocks, a DAG whose critical
 * path is most of the block, a component holding most of the block (the
 * next 4 blocks then run serially unanalysed), or an optimistic block that
 * re-executes more than a third of its transactions (the rest of that block
 * then runs in order on the committer, and the next 4 blocks run serially
 * before optimism is tried again). "The next 4 blocks" are the next 4 the
 * executor runs, whatever runs them. The cost rule (cheap transactions)
 * lives in executor.c, with the probe that lets serial_run give up. */
#include <stdlib.h>
#include <string.h>

#include "executor/exec_private.h"

#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))

static inline bool runnable(const txrec_t *r) { return r->pre_status == 0xff; }

/* ----------------------------------------------------------------- serial */

static int serial_run(blockctx_t *b) {
  struct pc_executor *e = b->e;
  kvmap_clear(b->overlay);
  uint32_t ran = 0;
  uint64_t c0 = b->probe_after ? exec_thread_cpu_ns() : 0;
  for (uint32_t i = 0; i < b->n; i++) {
    txrec_t *r = &b->tx[i];
    if (!runnable(r)) continue;
    /* the cost rule chose serial from earlier blocks; if this block's
     * first transactions cost far more, stop: the caller reruns it in parallel */
    if (b->probe_after && ran++ == b->probe_after &&
        exec_thread_cpu_ns() - c0 > (uint64_t)b->probe_after * b->probe_ns)
      return SCHED_PROBE_COSTLY;
    exec_tx(b, e->scratch, i, MODE_SERIAL);
    int err = atomic_load_explicit(&b->abort, memory_order_relaxed);
    if (err) return err;
    for (uint32_t k = 0; k < r->n_w; k++) {
      const wrec_t *w = &r->w[k];
      if (!kvmap_put(b->overlay, w->key, w->klen, exec_keyhash(w->key, w->klen), w->val, w->vlen, w->del))
        return PC_ERR_NOMEM;
    }
  }
  return 0;
}

int sched_serial(blockctx_t *b) {
  uint64_t t0 = pc_now_ns();
  int rc = serial_run(b);
  b->serial_ns += pc_now_ns() - t0;
  return rc;
}

/* pool_run, timed for the profile */
static void run_pool(blockctx_t *b, pool_job_fn job) {
  uint64_t t0 = pc_now_ns();
  pool_run(b->e, job, b);
  b->pool_ns += pc_now_ns() - t0;
}

static bool can_fall_back(const blockctx_t *b) { return !b->e->cfg.no_fallback; }

/* After a block whose DAG or task sets could not pay, the next few blocks
 * of the same stream most likely cannot either: run them serially without
 * paying for the analysis (the fallback must cost next to nothing at 100%
 * conflict), then analyse again. The cooldown counts every block the
 * executor runs (pc_exec_run sets b->decl_cool / b->opt_cool), whatever
 * ran it: a count left over from another stream must not outlive it. */
#define DECL_COOLDOWN 4

static bool tiny(const blockctx_t *b) { return b->e->n_workers == 1 || b->n_exec < 4 * b->e->n_workers; }

/* the quick fallbacks, before any analysis; sets b->why */
static bool quick_serial(blockctx_t *b, bool cool) {
  if (!can_fall_back(b)) return false;
  if (tiny(b)) b->why = PC_EXEC_WHY_TINY;
  else if (cool) b->why = PC_EXEC_WHY_COOLDOWN;
  return b->why != PC_EXEC_WHY_NONE;
}

/* Resolves the MV entries of every declared key and nonce key (caller
 * thread, before any worker runs). */
static int resolve_declared(blockctx_t *b) {
  struct pc_executor *e = b->e;
  uint32_t keys = 0;
  for (uint32_t i = 0; i < b->n; i++)
    if (runnable(&b->tx[i])) keys += b->tx[i].n_dk + 1;
  int rc = mv_table_prepare(b->mv, keys + 16);
  if (rc) return rc;
  for (uint32_t i = 0; i < b->n; i++) {
    txrec_t *r = &b->tx[i];
    if (!runnable(r)) continue;
    for (uint32_t k = 0; k < r->n_dk; k++) {
      dkey_t *d = &r->dk[k];
      d->e = mv_get(b->mv, &e->arena, d->sk, d->sklen, exec_keyhash(d->sk, d->sklen));
      if (!d->e) return PC_ERR_NOMEM; /* sized above: only the arena can fail */
    }
    r->nonce_e = mv_get(b->mv, &e->arena, r->nonce_key, PC_EXEC_NONCE_KEY_LEN,
                        exec_keyhash(r->nonce_key, PC_EXEC_NONCE_KEY_LEN));
    if (!r->nonce_e) return PC_ERR_NOMEM;
  }
  return 0;
}

/* runs one declared transaction on a worker and publishes it */
static void run_declared(blockctx_t *b, exec_scratch_t *s, uint32_t i) {
  exec_tx(b, s, i, MODE_DECLARED);
  if (b->tx[i].status == PC_TX_OK) exec_publish(b, s, i);
}

/* next_task takes the next task of worker wid: its own queue first, else one
 * stolen from another worker (counted in b->steals). With nothing to run it
 * backs off (*spins grows) and returns NULL; a task resets *spins. Called
 * only by worker wid, which owns w->q's pop side. */
static struct cds_lfs_node *next_task(blockctx_t *b, worker_t *w, unsigned wid, unsigned *spins) {
  struct cds_lfs_node *node = __cds_lfs_pop(&w->q);
  if (!node) {
    node = pool_steal(b->e, wid);
    if (node) atomic_fetch_add_explicit(&b->steals, 1, memory_order_relaxed);
  }
  if (!node) {
    pool_backoff(spins);
    return NULL;
  }
  *spins = 0;
  return node;
}

/* -------------------------------------------------------------- task sets */

static uint32_t uf_find(uint32_t *p, uint32_t x) {
  while (p[x] != x) {
    p[x] = p[p[x]];
    x = p[x];
  }
  return x;
}

static void taskset_job(void *arg, unsigned wid) {
  blockctx_t *b = arg;
  worker_t *w = &b->e->w[wid];
  unsigned spins = 0;
  /* acquire: pairs with the release increments below, so the caller sees
   * every component's results once done reaches n_comps */
  while (atomic_load_explicit(&b->done, memory_order_acquire) < b->n_comps &&
         !atomic_load_explicit(&b->abort, memory_order_relaxed)) {
    struct cds_lfs_node *node = next_task(b, w, wid, &spins);
    if (!node) continue;
    comp_t *c = container_of(node, comp_t, qnode);
    for (uint32_t k = 0; k < c->n; k++) run_declared(b, w->scratch, b->comp_tx[c->off + k]);
    w->n_tx += c->n;
    atomic_fetch_add_explicit(&b->done, 1, memory_order_release);
  }
}

static int cmp_comp_size(const void *a, const void *b, void *unused);

int sched_taskset(blockctx_t *b, bool *fell_back) {
  struct pc_executor *e = b->e;
  *fell_back = false;
  if (quick_serial(b, b->decl_cool)) goto serial;
  int rc = resolve_declared(b);
  if (rc) return rc;
  uint32_t nk = atomic_load_explicit(&b->mv->count, memory_order_relaxed);
  uint32_t *parent = arena_alloc(&e->arena, sizeof(uint32_t) * (nk + 1));
  uint32_t *croot = arena_alloc(&e->arena, sizeof(uint32_t) * (nk + 1));
  uint32_t *txc = arena_alloc(&e->arena, sizeof(uint32_t) * (b->n + 1));
  if (!parent || !croot || !txc) return PC_ERR_NOMEM;
  /* dense ids for the entries, in first-seen order */
  uint32_t next_id = 0;
  for (uint32_t i = 0; i < b->n; i++) {
    txrec_t *r = &b->tx[i];
    if (!runnable(r)) continue;
    for (uint32_t k = 0; k <= r->n_dk; k++) {
      mv_entry_t *me = k < r->n_dk ? r->dk[k].e : r->nonce_e;
      if (me->last_w == -1) {
        me->last_w = 0; /* reused here as "has an id" */
        me->id = next_id;
        parent[next_id] = next_id;
        next_id++;
      }
    }
    uint32_t a = uf_find(parent, r->nonce_e->id);
    for (uint32_t k = 0; k < r->n_dk; k++) {
      uint32_t x = uf_find(parent, r->dk[k].e->id);
      if (x != a) parent[x] = a;
    }
  }
  /* components in order of their first transaction */
  for (uint32_t k = 0; k < next_id; k++) croot[k] = UINT32_MAX;
  uint32_t nc = 0;
  for (uint32_t i = 0; i < b->n; i++) {
    if (!runnable(&b->tx[i])) continue;
    uint32_t root = uf_find(parent, b->tx[i].nonce_e->id);
    if (croot[root] == UINT32_MAX) croot[root] = nc++;
    txc[i] = croot[root];
  }
  b->comps = arena_alloc(&e->arena, sizeof *b->comps * (nc + 1));
  b->comp_tx = arena_alloc(&e->arena, sizeof(uint32_t) * (b->n_exec + 1));
  if (!b->comps || !b->comp_tx) return PC_ERR_NOMEM;
  memset(b->comps, 0, sizeof *b->comps * nc);
  for (uint32_t i = 0; i < b->n; i++)
    if (runnable(&b->tx[i])) b->comps[txc[i]].n++;
  uint32_t off = 0, biggest = 0;
  for (uint32_t c = 0; c < nc; c++) {
    b->comps[c].off = off;
    off += b->comps[c].n;
    biggest = PC_MAX(biggest, b->comps[c].n);
    b->comps[c].n = 0;
  }
  for (uint32_t i = 0; i < b->n; i++)
    if (runnable(&b->tx[i])) {
      comp_t *c = &b->comps[txc[i]];
      b->comp_tx[c->off + c->n++] = i;
    }
  b->n_comps = nc;
  /* the biggest component bounds the block: parallelism n/biggest < 1.5 cannot pay */
  if (can_fall_back(b) && 2 * b->n_exec < 3 * biggest) {
    e->decl_cooldown = DECL_COOLDOWN;
    b->why = PC_EXEC_WHY_CONFLICT;
    goto serial;
  }

  /* largest first, dealt round robin; pushed in reverse so each stack pops its largest first */
  uint32_t *ord = arena_alloc(&e->arena, sizeof(uint32_t) * (nc + 1));
  if (!ord) return PC_ERR_NOMEM;
  for (uint32_t c = 0; c < nc; c++) ord[c] = c;
  qsort_r(ord, nc, sizeof *ord, cmp_comp_size, b->comps);
  for (uint32_t k = nc; k-- > 0;) cds_lfs_push(&e->w[k % e->n_workers].q, &b->comps[ord[k]].qnode);
  run_pool(b, taskset_job);
  return atomic_load_explicit(&b->abort, memory_order_relaxed);
serial:
  *fell_back = true;
  return sched_serial(b);
}

static int cmp_comp_size(const void *a, const void *b, void *arg) {
  const comp_t *c = arg;
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  if (c[x].n != c[y].n) return c[x].n > c[y].n ? -1 : 1;
  return x < y ? -1 : x > y;
}

/* -------------------------------------------------------------------- DAG */

static void dag_job(void *arg, unsigned wid) {
  blockctx_t *b = arg;
  worker_t *w = &b->e->w[wid];
  unsigned spins = 0;
  while (atomic_load_explicit(&b->done, memory_order_acquire) < b->n_exec &&
         !atomic_load_explicit(&b->abort, memory_order_relaxed)) {
    struct cds_lfs_node *node = next_task(b, w, wid, &spins);
    if (!node) continue;
    txrec_t *r = container_of(node, txrec_t, qnode);
    uint32_t i = (uint32_t)(r - b->tx);
    run_declared(b, w->scratch, i);
    w->n_tx++;
    for (uint32_t k = 0; k < r->n_dep; k++) {
      txrec_t *d = &b->tx[b->deps[r->dep_off + k]];
      /* acq_rel: the last predecessor to finish sees every other
       * predecessor's publication before it makes d ready */
      if (atomic_fetch_sub_explicit(&d->pending, 1, memory_order_acq_rel) == 1)
        cds_lfs_push(&w->q, &d->qnode);
    }
    atomic_fetch_add_explicit(&b->done, 1, memory_order_release);
  }
}

int sched_dag(blockctx_t *b, bool *fell_back) {
  struct pc_executor *e = b->e;
  *fell_back = false;
  if (quick_serial(b, b->decl_cool)) goto serial;
  int rc = resolve_declared(b);
  if (rc) return rc;
  uint32_t n_edges_max = 0;
  for (uint32_t i = 0; i < b->n; i++)
    if (runnable(&b->tx[i])) n_edges_max += b->tx[i].n_dk + 1;
  uint32_t *efrom = arena_alloc(&e->arena, sizeof(uint32_t) * (n_edges_max + 1));
  uint32_t *eto = arena_alloc(&e->arena, sizeof(uint32_t) * (n_edges_max + 1));
  uint32_t *mark = arena_alloc(&e->arena, sizeof(uint32_t) * (b->n + 1));
  uint32_t *depth = arena_alloc(&e->arena, sizeof(uint32_t) * (b->n + 1));
  b->deps = arena_alloc(&e->arena, sizeof(uint32_t) * (n_edges_max + 1));
  if (!efrom || !eto || !mark || !depth || !b->deps) return PC_ERR_NOMEM;
  memset(mark, 0, sizeof(uint32_t) * b->n);
  uint32_t ne = 0, maxdepth = 0;
  for (uint32_t i = 0; i < b->n; i++) {
    txrec_t *r = &b->tx[i];
    r->n_dep = 0;
    if (!runnable(r)) continue;
    uint32_t pend = 0, dp = 1;
    for (uint32_t k = 0; k <= r->n_dk; k++) {
      mv_entry_t *me = k < r->n_dk ? r->dk[k].e : r->nonce_e;
      int32_t j = me->last_w;
      if (j >= 0 && mark[j] != i + 1) {
        mark[j] = i + 1;
        efrom[ne] = (uint32_t)j;
        eto[ne++] = i;
        b->tx[j].n_dep++;
        pend++;
        dp = PC_MAX(dp, depth[j] + 1);
      }
    }
    for (uint32_t k = 0; k <= r->n_dk; k++) {
      if (k < r->n_dk && !r->dk[k].write) continue;
      mv_entry_t *me = k < r->n_dk ? r->dk[k].e : r->nonce_e;
      me->last_w = (int32_t)i;
    }
    depth[i] = dp;
    maxdepth = PC_MAX(maxdepth, dp);
    atomic_init(&r->pending, pend);
  }
  /* a critical path over 2/3 of the block leaves < 1.5 transactions in parallel */
  if (can_fall_back(b) && 2 * b->n_exec < 3 * maxdepth) {
    e->decl_cooldown = DECL_COOLDOWN;
    b->why = PC_EXEC_WHY_CONFLICT;
    goto serial;
  }
  uint32_t off = 0;
  for (uint32_t i = 0; i < b->n; i++) {
    b->tx[i].dep_off = off;
    off += b->tx[i].n_dep;
    b->tx[i].n_dep = 0;
  }
  for (uint32_t k = 0; k < ne; k++) {
    txrec_t *f = &b->tx[efrom[k]];
    b->deps[f->dep_off + f->n_dep++] = eto[k]; /* ascending block order, per predecessor */
  }
  /* initially ready transactions, dealt round robin, lowest index on top */
  uint32_t nready = 0;
  for (uint32_t i = 0; i < b->n; i++)
    if (runnable(&b->tx[i]) && atomic_load_explicit(&b->tx[i].pending, memory_order_relaxed) == 0)
      mark[nready++] = i;
  for (uint32_t k = nready; k-- > 0;) cds_lfs_push(&e->w[k % e->n_workers].q, &b->tx[mark[k]].qnode);
  run_pool(b, dag_job);
  return atomic_load_explicit(&b->abort, memory_order_relaxed);
serial:
  *fell_back = true;
  return sched_serial(b);
}

/* ------------------------------------------------------------- optimistic */

static bool opt_validate(blockctx_t *b, uint32_t i) {
  const txrec_t *r = &b->tx[i];
  for (uint32_t k = 0; k < r->n_r; k++) {
    const rrec_t *rr = &r->r[k];
    mv_ver_t v;
    bool found = mv_read(rr->e, i, &v);
    uint32_t idx = found ? v.idx : MV_NONE, inc = found ? v.inc : 0;
    if (idx != rr->idx || inc != rr->inc) return false;
  }
  return true;
}

/* Executes i again with every earlier transaction final, then replaces its
 * published versions (dropping keys the new incarnation no longer writes). */
static void opt_reexecute(blockctx_t *b, worker_t *w, uint32_t i) {
  exec_scratch_t *s = w->scratch;
  txrec_t *r = &b->tx[i];
  w->n_tx++;
  wrec_t *old = r->w;
  uint32_t n_old = r->n_w;
  r->inc++;
  exec_tx(b, s, i, MODE_SPECULATIVE);
  if (r->status == PC_TX_OK && !exec_publish(b, s, i)) return;
  for (uint32_t k = 0; k < n_old; k++) {
    mv_entry_t *me = old[k].e;
    if (!me) continue;
    bool kept = false;
    for (uint32_t j = 0; j < r->n_w && !kept; j++) kept = r->w[j].e == me;
    if (!kept) mv_remove(me, i);
  }
  atomic_fetch_add_explicit(&b->reexec, 1, memory_order_relaxed);
}

static bool opt_try_commit(blockctx_t *b, worker_t *w) {
  exec_scratch_t *s = w->scratch;
  unsigned z = 0;
  /* acquire/release: the commit token orders one committer after the other */
  if (!atomic_compare_exchange_strong_explicit(&b->commit_lock, &z, 1, memory_order_acquire,
                                               memory_order_relaxed))
    return false;
  bool did = false;
  uint32_t c = atomic_load_explicit(&b->commit_idx, memory_order_relaxed);
  while (c < b->n && !atomic_load_explicit(&b->abort, memory_order_relaxed)) {
    txrec_t *r = &b->tx[c];
    /* acquire: pairs with the release store after a speculative execution */
    unsigned st = atomic_load_explicit(&r->state, memory_order_acquire);
    if (st == TX_EXECUTED) {
      if (!opt_validate(b, c)) opt_reexecute(b, w, c);
    } else if (st == TX_PENDING) {
      unsigned p = TX_PENDING;
      if (!atomic_compare_exchange_strong_explicit(&r->state, &p, TX_EXECUTING, memory_order_acq_rel,
                                                   memory_order_acquire))
        break;
      exec_tx(b, s, c, MODE_SPECULATIVE); /* exact: everything before c is final */
      w->n_tx++;
      if (r->status == PC_TX_OK) exec_publish(b, s, c);
      atomic_store_explicit(&r->state, TX_EXECUTED, memory_order_release);
    } else {
      break; /* another worker is executing c; it will commit when done */
    }
    c++;
    /* release: workers polling commit_idx see the committed results */
    atomic_store_explicit(&b->commit_idx, c, memory_order_release);
    did = true;
    unsigned long rx = atomic_load_explicit(&b->reexec, memory_order_relaxed);
    /* over a third re-executed: each re-execution sits on the commit walk,
     * so speculation no longer pays — finish the block in order */
    if (!b->e->cfg.no_fallback && c >= 16 && rx * 3 > c)
      atomic_store_explicit(&b->serial_mode, true, memory_order_relaxed);
  }
  atomic_store_explicit(&b->commit_lock, 0, memory_order_release);
  return did;
}

static void opt_job(void *arg, unsigned wid) {
  blockctx_t *b = arg;
  worker_t *w = &b->e->w[wid];
  unsigned spins = 0;
  while (atomic_load_explicit(&b->commit_idx, memory_order_acquire) < b->n &&
         !atomic_load_explicit(&b->abort, memory_order_relaxed)) {
    if (opt_try_commit(b, w)) {
      spins = 0;
      continue;
    }
    if (!atomic_load_explicit(&b->serial_mode, memory_order_relaxed)) {
      uint32_t i = atomic_fetch_add_explicit(&b->next_spec, 1, memory_order_relaxed);
      if (i < b->n) {
        txrec_t *r = &b->tx[i];
        unsigned p = TX_PENDING;
        if (atomic_compare_exchange_strong_explicit(&r->state, &p, TX_EXECUTING, memory_order_acq_rel,
                                                    memory_order_acquire)) {
          exec_tx(b, w->scratch, i, MODE_SPECULATIVE);
          w->n_tx++;
          if (r->status == PC_TX_OK) exec_publish(b, w->scratch, i);
          /* release: pairs with the committer's acquire load of state */
          atomic_store_explicit(&r->state, TX_EXECUTED, memory_order_release);
        }
        spins = 0;
        continue;
      }
    }
    pool_backoff(&spins);
  }
}

int sched_optimistic(blockctx_t *b, bool *fell_back) {
  struct pc_executor *e = b->e;
  *fell_back = false;
  if (quick_serial(b, b->opt_cool)) goto serial;
  uint32_t keys = 16;
  for (uint32_t i = 0; i < b->n; i++) {
    txrec_t *r = &b->tx[i];
    if (!runnable(r)) {
      atomic_init(&r->state, TX_EXECUTED); /* receipt already set; nothing read or written */
      continue;
    }
    atomic_init(&r->state, TX_PENDING);
    keys += r->n_dk + 1 + e->mv_keys_per_tx;
  }
  int rc = mv_table_prepare(b->mv, keys);
  if (rc) return rc;
  run_pool(b, opt_job);
  rc = atomic_load_explicit(&b->abort, memory_order_relaxed);
  if (rc) return rc;
  unsigned long rx = atomic_load_explicit(&b->reexec, memory_order_relaxed);
  /* a block that had to finish in order (or re-executed most of itself)
   * says the stream conflicts: skip speculation for the next few blocks */
  if (!e->cfg.no_fallback &&
      (atomic_load_explicit(&b->serial_mode, memory_order_relaxed) || rx * 3 > b->n_exec))
    e->opt_cooldown = 4;
  return 0;
serial:
  *fell_back = true;
  return sched_serial(b);
}
