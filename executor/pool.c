/* pool.c — the worker pool: one thread per exec core (several may share a
 * core), pinned with hwloc, each with NUMA-bound scratch memory and its own
 * lock-free task stack; idle back-off; clean start and stop.
 *
 * Hand-off. The caller publishes a job under the pool mutex, bumps the
 * epoch and broadcasts; each worker runs the job once and the last to
 * finish signals the caller. Between blocks workers sleep on the condition
 * variable, so an idle executor costs nothing. Inside a job, workers that
 * find no task back off: spin (pause), then sched_yield, then sleep a few
 * tens of microseconds — yielding matters when there are more workers than
 * cores.
 *
 * Task stacks. Each worker owns a liburcu lock-free stack (cds_lfs): the
 * owner pushes the tasks it makes ready and pops from its own stack;
 * an idle worker steals by popping another's. __cds_lfs_pop needs one of the
 * synchronisations listed in urcu/lfstack.h; we use the first (a grace
 * period before a popped node is pushed again): a task node is pushed at most
 * once per block, and between blocks every worker has returned from the job
 * — a grace period for these pops — so no ABA is possible and no RCU reader
 * registration is needed. Nodes live in the per-block task arrays and are
 * never freed while a block runs. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h> /* default (memb) flavour, as storage/ uses */
#include <urcu/arch.h>

#include "executor/exec_private.h"

void pool_backoff(unsigned *spins) {
  unsigned s = (*spins)++;
  if (s < 64) {
    caa_cpu_relax();
  } else if (s < 128) {
    sched_yield();
  } else {
    unsigned shift = PC_MIN(s - 128, 5u);
    pc_sleep_ns(2000ull << shift); /* 2 µs .. 64 µs */
  }
}

struct cds_lfs_node *pool_steal(struct pc_executor *e, unsigned wid) {
  for (unsigned k = 1; k < e->n_workers; k++) {
    worker_t *v = &e->w[(wid + k) % e->n_workers];
    struct cds_lfs_node *n = __cds_lfs_pop(&v->q);
    if (n) return n;
  }
  return NULL;
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  struct pc_executor *e = w->e;
  hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(e->topo, (unsigned)w->core);
  if (pu && !e->cfg.no_pin && hwloc_set_cpubind(e->topo, pu->cpuset, HWLOC_CPUBIND_THREAD) != 0)
    PC_WARN("executor: worker %u: cannot pin to core %d: %s", w->id, w->core, strerror(errno));
  /* memory bound to the core's NUMA node, first touched here */
  arena_init(&w->arena, e->topo, pu ? pu->nodeset : NULL);
  arena_init(&w->perm, e->topo, pu ? pu->nodeset : NULL);
  w->scratch = arena_alloc(&w->perm, sizeof *w->scratch);
  int err = w->scratch ? scratch_init(w->scratch, &w->arena) : PC_ERR_NOMEM;
  /* every worker is a liburcu reader, inside a read section for a whole
   * block: a state bound to storage/ may hand out views of an RCU-published
   * version, and they stay valid until the block's job returns */
  rcu_register_thread();

  pthread_mutex_lock(&e->mu);
  w->init_err = err;
  uint64_t seen = 0;
  e->running--;
  if (e->running == 0) pthread_cond_signal(&e->cv_done);
  for (;;) {
    while (!e->stop && e->epoch == seen) pthread_cond_wait(&e->cv_start, &e->mu);
    if (e->stop) break;
    seen = e->epoch;
    pool_job_fn job = e->job;
    void *ja = e->job_arg;
    pthread_mutex_unlock(&e->mu);
    w->n_tx = 0;
    uint64_t c0 = exec_thread_cpu_ns();
    rcu_read_lock();
    job(ja, w->id);
    rcu_read_unlock();
    w->cpu_ns = exec_thread_cpu_ns() - c0;
    pthread_mutex_lock(&e->mu);
    if (--e->running == 0) pthread_cond_signal(&e->cv_done);
  }
  pthread_mutex_unlock(&e->mu);
  rcu_unregister_thread();
  if (w->scratch && !err) scratch_fini(w->scratch);
  arena_fini(&w->arena);
  arena_fini(&w->perm);
  return NULL;
}

int pool_start(struct pc_executor *e) {
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->cv_start, NULL);
  pthread_cond_init(&e->cv_done, NULL);
  e->w = aligned_alloc(PC_CACHE_LINE, sizeof *e->w * e->n_workers);
  if (!e->w) return PC_ERR_NOMEM;
  memset(e->w, 0, sizeof *e->w * e->n_workers);
  e->running = 0;
  unsigned started = 0;
  int rc = 0;
  for (unsigned i = 0; i < e->n_workers; i++) {
    worker_t *w = &e->w[i];
    w->e = e;
    w->id = i;
    w->core = e->cores[i];
    __cds_lfs_init(&w->q);
    pthread_mutex_lock(&e->mu);
    e->running++;
    pthread_mutex_unlock(&e->mu);
    if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
      PC_ERROR("executor: cannot start worker %u: %s", i, strerror(errno));
      pthread_mutex_lock(&e->mu);
      e->running--;
      pthread_mutex_unlock(&e->mu);
      rc = PC_ERR_NOMEM;
      break;
    }
    started++;
  }
  /* wait until every started worker has set itself up */
  pthread_mutex_lock(&e->mu);
  while (e->running) pthread_cond_wait(&e->cv_done, &e->mu);
  pthread_mutex_unlock(&e->mu);
  for (unsigned i = 0; i < started; i++)
    if (e->w[i].init_err) rc = e->w[i].init_err;
  e->n_workers = started; /* pool_stop joins exactly these */
  return rc;
}

void pool_stop(struct pc_executor *e) {
  if (!e->w) return;
  pthread_mutex_lock(&e->mu);
  e->stop = true;
  pthread_cond_broadcast(&e->cv_start);
  pthread_mutex_unlock(&e->mu);
  for (unsigned i = 0; i < e->n_workers; i++) pthread_join(e->w[i].th, NULL);
  free(e->w);
  e->w = NULL;
  pthread_cond_destroy(&e->cv_start);
  pthread_cond_destroy(&e->cv_done);
  pthread_mutex_destroy(&e->mu);
}

void pool_run(struct pc_executor *e, pool_job_fn job, void *arg) {
  pthread_mutex_lock(&e->mu);
  e->job = job;
  e->job_arg = arg;
  e->running = e->n_workers;
  e->epoch++;
  pthread_cond_broadcast(&e->cv_start);
  while (e->running) pthread_cond_wait(&e->cv_done, &e->mu);
  pthread_mutex_unlock(&e->mu);
}
