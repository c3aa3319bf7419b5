/* stage.c — the stage runner: threads that poll stages, pinned with hwloc,
 * with an adaptive idle back-off. */
#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "node/node.h"

#define HOUSEKEEPING_NS 1000000ull /* 1 ms */

typedef struct {
  pc_runner_t *r;
  int index;
  pc_coreset_t cores;
  bool pinned;
  pc_stage_def_t stages[PC_RUNNER_MAX_STAGES];
  unsigned n_stages;
  pthread_t tid;
  bool started;
  int init_rc;
  atomic_int init_state; /* 0 running inits, 1 done; release by the thread, acquire by the starter */
} runner_thread_t;

struct pc_runner {
  runner_thread_t th[PC_RUNNER_MAX_THREADS];
  unsigned n_threads;
  atomic_bool stop;
};

pc_runner_t *pc_runner_new(void) {
  pc_runner_t *r = calloc(1, sizeof *r);
  if (!r) PC_ERROR("runner: out of memory");
  return r;
}

int pc_runner_add_thread(pc_runner_t *r, const pc_coreset_t *cores) {
  if (r->n_threads >= PC_RUNNER_MAX_THREADS) return PC_ERR_FULL;
  runner_thread_t *t = &r->th[r->n_threads];
  t->r = r;
  t->index = (int)r->n_threads;
  if (cores && !pc_coreset_empty(cores)) {
    t->cores = *cores;
    t->pinned = true;
  }
  return (int)r->n_threads++;
}

int pc_runner_add_stage(pc_runner_t *r, int t, const pc_stage_def_t *def) {
  if (t < 0 || (unsigned)t >= r->n_threads) return PC_ERR_RANGE;
  runner_thread_t *th = &r->th[t];
  if (th->n_stages >= PC_RUNNER_MAX_STAGES) return PC_ERR_FULL;
  th->stages[th->n_stages++] = *def;
  return 0;
}

/* The phases of the idle back-off: spins or yields here and returns 0; in
 * the sleep phase returns how long to sleep (or wait), 20 µs doubling to
 * 1 ms. */
static uint64_t backoff(unsigned idle) {
  if (idle < 64) {
    for (volatile int i = 0; i < 32; i++) {
    }
    return 0;
  }
  if (idle < 128) {
    sched_yield();
    return 0;
  }
  unsigned k = idle - 128;
  uint64_t ns = 20000ull << (k / 32 < 6 ? k / 32 : 6); /* 20 µs doubling to ~1.3 ms, capped below */
  return ns > 1000000ull ? 1000000ull : ns;
}

void pc_runner_idle(unsigned idle) {
  uint64_t ns = backoff(idle);
  if (ns) pc_sleep_ns(ns);
}

static void pin_thread(runner_thread_t *t) {
  if (!t->pinned) return;
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) || hwloc_topology_load(topo)) {
    PC_WARN("runner: thread %d: hwloc topology unavailable, not pinned", t->index);
    return;
  }
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  for (int c = pc_coreset_next(&t->cores, 0); c >= 0; c = pc_coreset_next(&t->cores, (unsigned)c + 1))
    hwloc_bitmap_set(set, (unsigned)c);
  if (hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_THREAD) != 0) {
    char buf[128];
    pc_coreset_format(&t->cores, buf, sizeof buf);
    PC_WARN("runner: thread %d: cannot pin to cores %s (continuing unpinned)", t->index, buf);
  }
  hwloc_bitmap_free(set);
  hwloc_topology_destroy(topo);
}

static int run_inits(runner_thread_t *t, unsigned *done) {
  for (*done = 0; *done < t->n_stages; (*done)++) {
    pc_stage_def_t *s = &t->stages[*done];
    int rc = s->init ? s->init(s->ctx) : 0;
    if (rc) {
      PC_ERROR("runner: stage %s failed to start: %s", s->name, pc_strerror(rc));
      return rc;
    }
  }
  return 0;
}

static void run_finis(runner_thread_t *t, unsigned n) {
  for (unsigned i = n; i-- > 0;)
    if (t->stages[i].fini) t->stages[i].fini(t->stages[i].ctx);
}

static void run_loop(runner_thread_t *t, const atomic_bool *stop) {
  unsigned idle = 0;
  uint64_t next_hk = pc_now_ns() + HOUSEKEEPING_NS;
  /* The stage whose wait replaces the sleep (the net stage's RX interrupt):
   * the first that has one; the wait is as long as the sleep would be, so
   * the other stages are not polled later than before. */
  const pc_stage_def_t *waiter = NULL;
  for (unsigned i = 0; i < t->n_stages && !waiter; i++)
    if (t->stages[i].wait) waiter = &t->stages[i];
  /* acquire: pairs with the release store of whoever asks us to stop */
  while (!atomic_load_explicit(stop, memory_order_acquire)) {
    uint64_t now = pc_now_ns();
    unsigned work = 0;
    for (unsigned i = 0; i < t->n_stages; i++) work += t->stages[i].poll(t->stages[i].ctx, now);
    if (now >= next_hk) {
      for (unsigned i = 0; i < t->n_stages; i++)
        if (t->stages[i].housekeeping) t->stages[i].housekeeping(t->stages[i].ctx, now);
      next_hk = now + HOUSEKEEPING_NS;
    }
    if (work) {
      idle = 0;
    } else {
      uint64_t ns = backoff(idle);
      if (ns && (!waiter || waiter->wait(waiter->ctx, ns) < 0)) pc_sleep_ns(ns);
      if (idle < 100000) idle++;
    }
  }
}

static void *thread_main(void *arg) {
  runner_thread_t *t = arg;
  rcu_register_thread();
  pin_thread(t);
  unsigned done;
  t->init_rc = run_inits(t, &done);
  /* release: publishes init_rc to the starter's acquire load */
  atomic_store_explicit(&t->init_state, 1, memory_order_release);
  if (t->init_rc == 0) run_loop(t, &t->r->stop);
  run_finis(t, done);
  rcu_unregister_thread();
  return NULL;
}

int pc_runner_start(pc_runner_t *r) {
  atomic_store_explicit(&r->stop, false, memory_order_relaxed);
  for (unsigned i = 0; i < r->n_threads; i++) {
    runner_thread_t *t = &r->th[i];
    atomic_store_explicit(&t->init_state, 0, memory_order_relaxed);
    if (pthread_create(&t->tid, NULL, thread_main, t) != 0) {
      PC_ERROR("runner: cannot start thread %u", i);
      pc_runner_stop(r);
      return PC_ERR_NOMEM;
    }
    t->started = true;
    /* acquire: pairs with the thread's release store after its inits */
    while (atomic_load_explicit(&t->init_state, memory_order_acquire) == 0) pc_sleep_ns(100000);
    if (t->init_rc) {
      int rc = t->init_rc;
      pc_runner_stop(r);
      return rc;
    }
  }
  return 0;
}

void pc_runner_stop(pc_runner_t *r) {
  /* release: pairs with the acquire load in run_loop */
  atomic_store_explicit(&r->stop, true, memory_order_release);
  for (unsigned i = 0; i < r->n_threads; i++) {
    if (!r->th[i].started) continue;
    pthread_join(r->th[i].tid, NULL);
    r->th[i].started = false;
  }
}

void pc_runner_free(pc_runner_t *r) {
  if (!r) return;
  pc_runner_stop(r);
  free(r);
}

int pc_runner_run_here(pc_runner_t *r, int ti, const atomic_bool *stop) {
  if (ti < 0 || (unsigned)ti >= r->n_threads) return PC_ERR_RANGE;
  runner_thread_t *t = &r->th[ti];
  unsigned done;
  int rc = run_inits(t, &done);
  if (rc == 0) run_loop(t, stop);
  run_finis(t, done);
  return rc;
}
