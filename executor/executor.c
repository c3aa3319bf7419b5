/* executor.c — lifecycle, contract registry, plugins, and the per-block
 * driver: static admission pre-pass, scheduler choice, write batch,
 * receipts and roots. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/block.h"
#include "executor/exec_private.h"
#include "txpool/txpool.h"

const char *pc_sched_name(pc_sched_t s) {
  static const char *n[PC_SCHED_COUNT] = {"serial", "taskset", "dag", "optimistic", "auto"};
  return (unsigned)s < PC_SCHED_COUNT ? n[s] : "unknown";
}

/* ------------------------------------------------------------- registry */

static bool name_ok(const char *s) {
  if (!s) return false;
  size_t n = strnlen(s, PC_TX_NAME_MAX + 1);
  if (n == 0 || n > PC_TX_NAME_MAX) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

static int def_check(const pc_contract_def_t *d) {
  if (!d) return PC_ERR_INVALID;
  if (d->abi_version != PC_CONTRACT_ABI_VERSION) return PC_ERR_VERSION;
  if (!name_ok(d->name) || d->n_methods == 0 || d->n_methods > PC_EXEC_METHODS_MAX || !d->methods)
    return PC_ERR_INVALID;
  for (uint32_t i = 0; i < d->n_methods; i++) {
    if (!name_ok(d->methods[i].name) || !d->methods[i].fn) return PC_ERR_INVALID;
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(d->methods[i].name, d->methods[j].name) == 0) return PC_ERR_INVALID;
  }
  return 0;
}

static const pc_contract_def_t *find_contract(const pc_executor_t *e, const char *name) {
  for (unsigned i = 0; i < e->n_contracts; i++)
    if (strcmp(e->contracts[i]->name, name) == 0) return e->contracts[i];
  return NULL;
}

static int register_def(pc_executor_t *e, const pc_contract_def_t *def, void *dl) {
  int rc = def_check(def);
  if (rc) return rc;
  if (find_contract(e, def->name)) return PC_ERR_EXISTS;
  if (e->n_contracts == PC_EXEC_CONTRACTS_MAX) return PC_ERR_FULL;
  e->dl[e->n_contracts] = dl;
  e->contracts[e->n_contracts++] = def;
  return 0;
}

int pc_exec_register(pc_executor_t *e, const pc_contract_def_t *def) {
  int rc = register_def(e, def, NULL);
  if (rc)
    PC_ERROR("executor: cannot register contract %s: %s", def && def->name ? def->name : "(null)",
             pc_strerror(rc));
  return rc;
}

/* -------------------------------------------------------------- plugins */

static int hash_fd(int fd, pc_hash_t *out) {
  pc_hasher_t h;
  pc_hasher_init(&h);
  uint8_t buf[1 << 14];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PC_ERR_IO;
    if (n == 0) break;
    pc_hasher_update(&h, buf, (size_t)n);
  }
  pc_hasher_final(&h, out);
  return 0;
}

int pc_exec_plugin_hash(const char *path, pc_hash_t *out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PC_ERR_IO;
  int rc = hash_fd(fd, out);
  close(fd);
  return rc;
}

int pc_exec_load_plugin(pc_executor_t *e, const char *path, const pc_hash_t *pin) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    PC_ERROR("plugin %s: cannot open: %s", path, strerror(errno));
    return PC_ERR_IO;
  }
  pc_hash_t h;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || hash_fd(fd, &h) != 0) {
    PC_ERROR("plugin %s: not a readable regular file", path);
    close(fd);
    return PC_ERR_IO;
  }
  char hx[PC_HASH_HEX_SIZE], px[PC_HASH_HEX_SIZE];
  if (!pin || !pc_hash_equal(&h, pin)) {
    PC_ERROR(
        "plugin %s: BLAKE2b-256 %s does not match the cluster file's pin %s; refusing to load it "
        "(install the pinned build or update the pin on every replica)",
        path, pc_hash_to_hex(&h, hx), pin ? pc_hash_to_hex(pin, px) : "(none)");
    close(fd);
    return PC_ERR_CHECKSUM;
  }
  /* map the very file we hashed, through its descriptor */
  char fdpath[64];
  snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
  void *dl = dlopen(fdpath, RTLD_NOW | RTLD_LOCAL);
  close(fd);
  if (!dl) {
    PC_ERROR("plugin %s: not a loadable shared object: %s", path, dlerror());
    return PC_ERR_INVALID;
  }
  const uint32_t *abi = dlsym(dl, PC_CONTRACT_SYM_ABI);
  void *getp = dlsym(dl, PC_CONTRACT_SYM_GET);
  if (!abi || !getp) {
    PC_ERROR("plugin %s: missing symbol %s (a plugin exports %s and %s; see executor/README.md)", path,
             !abi ? PC_CONTRACT_SYM_ABI : PC_CONTRACT_SYM_GET, PC_CONTRACT_SYM_ABI, PC_CONTRACT_SYM_GET);
    dlclose(dl);
    return PC_ERR_NOT_FOUND;
  }
  if (*abi != PC_CONTRACT_ABI_VERSION) {
    PC_ERROR("plugin %s: built for contract ABI %u, this node speaks %u; rebuild it against this executor.h",
             path, *abi, PC_CONTRACT_ABI_VERSION);
    dlclose(dl);
    return PC_ERR_VERSION;
  }
  pc_contract_get_fn get;
  memcpy(&get, &getp, sizeof get); /* object to function pointer, as dlsym requires */
  const pc_contract_def_t *def = get();
  int rc = register_def(e, def, dl);
  if (rc) {
    if (rc == PC_ERR_EXISTS)
      PC_ERROR("plugin %s: contract name '%s' is already registered; contract names must be unique", path,
               def->name);
    else
      PC_ERROR("plugin %s: bad contract definition: %s", path, pc_strerror(rc));
    dlclose(dl);
    return rc;
  }
  PC_INFO("plugin %s: contract '%s' loaded (%u methods)", path, def->name, def->n_methods);
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int pc_exec_load_plugin_dir(pc_executor_t *e, const char *dir, const pc_exec_plugin_pin_t *pins,
                            size_t n_pins) {
  DIR *d = opendir(dir);
  if (!d) {
    PC_ERROR("plugin directory %s: %s", dir, strerror(errno));
    return PC_ERR_IO;
  }
  char *names[PC_EXEC_CONTRACTS_MAX];
  size_t n = 0;
  int rc = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l < 4 || strcmp(de->d_name + l - 3, ".so") != 0) continue;
    if (n == PC_EXEC_CONTRACTS_MAX) {
      PC_ERROR("plugin directory %s: more than %u plugins", dir, PC_EXEC_CONTRACTS_MAX);
      rc = PC_ERR_FULL;
      break;
    }
    names[n] = strdup(de->d_name);
    if (!names[n]) {
      rc = PC_ERR_NOMEM;
      break;
    }
    n++;
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str);
  bool *used = calloc(n_pins ? n_pins : 1, sizeof *used);
  if (!used && !rc) rc = PC_ERR_NOMEM;
  for (size_t i = 0; i < n && !rc; i++) {
    const pc_exec_plugin_pin_t *p = NULL;
    for (size_t k = 0; k < n_pins; k++)
      if (strcmp(pins[k].file, names[i]) == 0) {
        p = &pins[k];
        used[k] = true;
      }
    if (!p) {
      PC_ERROR(
          "plugin %s/%s has no hash pinned in the cluster file; pin it (tools print it) or remove the file",
          dir, names[i]);
      rc = PC_ERR_CONFIG;
      break;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    rc = pc_exec_load_plugin(e, path, &p->hash);
  }
  for (size_t k = 0; k < n_pins && !rc; k++)
    if (!used[k]) {
      PC_ERROR("the cluster file pins plugin %s but %s has no such file", pins[k].file, dir);
      rc = PC_ERR_CONFIG;
    }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(used);
  return rc;
}

/* ------------------------------------------------------------ lifecycle */

pc_executor_t *pc_exec_create(const pc_exec_config_t *cfg) {
  if (!cfg || cfg->n_workers == 0 || cfg->n_workers > PC_EXEC_WORKERS_MAX ||
      (unsigned)cfg->sched >= PC_SCHED_COUNT) {
    PC_ERROR(
        "executor: bad config (workers must be 1..%d, scheduler one of serial|taskset|dag|optimistic|auto)",
        PC_EXEC_WORKERS_MAX);
    return NULL;
  }
  if (pc_crypto_init() != 0) {
    PC_ERROR("executor: libsodium failed to initialise");
    return NULL;
  }
  pc_executor_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->cfg = *cfg;
  e->cfg.cores = NULL;
  if (!e->cfg.tx_budget) e->cfg.tx_budget = PC_EXEC_DEFAULT_BUDGET;
  if (!e->cfg.min_parallel_tx_ns) e->cfg.min_parallel_tx_ns = PC_EXEC_DEFAULT_MIN_PARALLEL_NS;
  e->n_workers = cfg->n_workers;
  e->mv_keys_per_tx = 8;
  if (hwloc_topology_init(&e->topo) != 0 || hwloc_topology_load(e->topo) != 0) {
    PC_ERROR("executor: hwloc cannot read the machine topology");
    if (e->topo) hwloc_topology_destroy(e->topo);
    free(e);
    return NULL;
  }
  int npu = hwloc_get_nbobjs_by_type(e->topo, HWLOC_OBJ_PU);
  for (unsigned i = 0; i < cfg->n_workers; i++) {
    if (cfg->cores) {
      if (cfg->cores[i] < 0 || !hwloc_get_pu_obj_by_os_index(e->topo, (unsigned)cfg->cores[i])) {
        PC_ERROR("executor: exec core %d (worker %u) does not exist on this machine; fix the core map",
                 cfg->cores[i], i);
        hwloc_topology_destroy(e->topo);
        free(e);
        return NULL;
      }
      e->cores[i] = cfg->cores[i];
    } else {
      hwloc_obj_t pu = hwloc_get_obj_by_type(e->topo, HWLOC_OBJ_PU, i % (unsigned)(npu > 0 ? npu : 1));
      e->cores[i] = pu ? (int)pu->os_index : 0;
    }
  }
  arena_init(&e->arena, NULL, NULL);
  e->scratch = malloc(sizeof *e->scratch);
  bool ok = e->scratch && scratch_init(e->scratch, &e->arena) == 0 && kvmap_init(&e->overlay, 1024) == 0 &&
            kvmap_init(&e->dups, 1024) == 0 && mv_table_init(&e->mv, 1024) == 0;
  const pc_contract_def_t *builtins[] = {&pc_builtin_token, &pc_builtin_kv, &pc_builtin_counter,
                                         &pc_builtin_compute};
  for (size_t i = 0; ok && i < PC_ARRAY_LEN(builtins); i++) ok = register_def(e, builtins[i], NULL) == 0;
  if (!ok || pool_start(e) != 0) {
    PC_ERROR("executor: cannot start (out of memory or threads)");
    pc_exec_destroy(e);
    return NULL;
  }
  return e;
}

void pc_exec_destroy(pc_executor_t *e) {
  if (!e) return;
  pool_stop(e);
  if (e->scratch) scratch_fini(e->scratch);
  free(e->scratch);
  kvmap_fini(&e->overlay);
  kvmap_fini(&e->dups);
  mv_table_fini(&e->mv);
  arena_fini(&e->arena);
  free(e->batch);
  free(e->receipts);
  free(e->batch_txs);
  for (unsigned i = 0; i < e->n_contracts; i++)
    if (e->dl[i]) dlclose(e->dl[i]);
  if (e->topo) hwloc_topology_destroy(e->topo);
  free(e);
}

unsigned pc_exec_n_workers(const pc_executor_t *e) { return e->n_workers; }

void pc_exec_stats(const pc_executor_t *e, pc_exec_stats_t *o) {
  o->blocks = atomic_load_explicit(&e->st_blocks, memory_order_relaxed);
  o->txs = atomic_load_explicit(&e->st_txs, memory_order_relaxed);
  o->fallbacks = atomic_load_explicit(&e->st_fallbacks, memory_order_relaxed);
  o->reexecutions = atomic_load_explicit(&e->st_reexec, memory_order_relaxed);
  o->steals = atomic_load_explicit(&e->st_steals, memory_order_relaxed);
}

/* ---------------------------------------------------------------- block */

/* The pre-pass's view for txpool's execution check: a hash seen earlier in
 * this block is a duplicate (across heights the nonce rules a replay out),
 * and the sender's next nonce is reported as the transaction's own, because
 * the nonce needs state and is checked in exec_tx, through the same call. */
typedef struct {
  pc_executor_t *e;
  const pc_tx_t *tx;
  uint64_t hash_key;
} static_view_t;

static bool static_seen(void *ctx, const pc_hash_t *hash) {
  static_view_t *v = ctx;
  return kvmap_find(&v->e->dups, hash->b, PC_HASH_SIZE, v->hash_key) != NULL;
}

static uint64_t static_nonce(void *ctx, const uint8_t sender[PC_TX_PUBKEY_SIZE]) {
  (void)sender;
  return ((static_view_t *)ctx)->tx->nonce;
}

/* Static admission, in block order, before any state is read: txpool's
 * check for a repeated hash and expiry, then the contract and method.
 * Returns 0xff when the tx is to run. */
static uint8_t admit_static(pc_executor_t *e, const pc_exec_block_t *blk, txrec_t *r) {
  const pc_tx_t *tx = r->tx;
  static_view_t sv = {.e = e, .tx = tx, .hash_key = exec_keyhash(tx->hash.b, PC_HASH_SIZE)};
  const pc_tx_state_view_t view = {.ctx = &sv, .account_nonce = static_nonce, .tx_executed = static_seen};
  int rc = pc_txpool_exec_check(tx, blk->height, &view);
  if (rc == PC_ERR_DUPLICATE) return PC_TX_DUPLICATE;
  if (!kvmap_put(&e->dups, tx->hash.b, PC_HASH_SIZE, sv.hash_key, NULL, 0, false)) return PC_TX_FAILED;
  if (rc == PC_ERR_EXPIRED) return PC_TX_EXPIRED;
  r->contract = find_contract(e, tx->contract);
  if (!r->contract) return PC_TX_UNKNOWN_CONTRACT;
  for (uint32_t k = 0; k < r->contract->n_methods; k++)
    if (strcmp(r->contract->methods[k].name, tx->method) == 0) r->fn = r->contract->methods[k].fn;
  if (!r->fn) return PC_TX_UNKNOWN_METHOD;
  return 0xff;
}

static int prepare(pc_executor_t *e, blockctx_t *b) {
  const pc_exec_block_t *blk = b->blk;
  b->tx = arena_alloc(&e->arena, sizeof *b->tx * (blk->n_txs + 1));
  if (!b->tx) return PC_ERR_NOMEM;
  memset(b->tx, 0, sizeof *b->tx * blk->n_txs);
  kvmap_clear(&e->dups);
  for (uint32_t i = 0; i < b->n; i++) {
    txrec_t *r = &b->tx[i];
    r->tx = &blk->txs[i];
    r->pre_status = admit_static(e, blk, r);
    if (r->pre_status == 0xff && r->tx->declared) {
      const pc_tx_t *tx = r->tx;
      r->n_dk = (uint32_t)tx->n_reads + tx->n_writes;
      r->dk = arena_alloc(&e->arena, sizeof *r->dk * (r->n_dk + 1));
      if (!r->dk) return PC_ERR_NOMEM;
      for (uint32_t k = 0; k < r->n_dk; k++) {
        const pc_tx_key_t *tk = k < tx->n_reads ? &tx->reads[k] : &tx->writes[k - tx->n_reads];
        uint8_t sk[PC_STATE_KEY_MAX];
        int n = tk->len ? pc_exec_state_key(sk, sizeof sk, tx->contract, tk->p, tk->len) : PC_ERR_INVALID;
        if (n < 0) {
          r->pre_status = PC_TX_LIMIT; /* cannot come from pc_tx_decode */
          break;
        }
        r->dk[k] = (dkey_t){
            .sk = arena_dup(&e->arena, sk, (size_t)n), .sklen = (uint16_t)n, .write = k >= tx->n_reads};
        if (!r->dk[k].sk) return PC_ERR_NOMEM;
      }
    }
    if (r->pre_status != 0xff) {
      r->status = r->pre_status;
      pc_receipt_t rc = {.status = r->status};
      exec_receipt_leaf(&rc, &r->leaf);
      continue;
    }
    pc_exec_nonce_key(r->nonce_key, r->tx->sender);
    b->n_exec++;
  }
  return 0;
}

static int build_output(pc_executor_t *e, blockctx_t *b, bool serial, pc_exec_result_t *out) {
  if (!serial) {
    kvmap_clear(&e->overlay);
    for (uint32_t i = 0; i < b->n; i++) {
      const txrec_t *r = &b->tx[i];
      if (r->status != PC_TX_OK) continue;
      for (uint32_t k = 0; k < r->n_w; k++) {
        const wrec_t *w = &r->w[k];
        if (!kvmap_put(&e->overlay, w->key, w->klen, exec_keyhash(w->key, w->klen), w->val, w->vlen, w->del))
          return PC_ERR_NOMEM;
      }
    }
  }
  /* the block clock moves with the first block that applies something */
  bool applied = false;
  for (uint32_t i = 0; i < b->n && !applied; i++) applied = b->tx[i].status == PC_TX_OK;
  if (applied) {
    uint8_t tv[8];
    pc_store_le64(tv, b->time_us);
    if (!kvmap_put(&e->overlay, PC_EXEC_TIME_KEY, PC_EXEC_TIME_KEY_LEN,
                   exec_keyhash((const uint8_t *)PC_EXEC_TIME_KEY, PC_EXEC_TIME_KEY_LEN), tv, 8, false))
      return PC_ERR_NOMEM;
  }
  kv_slot_t **sorted;
  size_t nw;
  int rc = kvmap_sorted(&e->overlay, &sorted, &nw);
  if (rc) return rc;
  if (nw > e->batch_cap) {
    pc_write_t *nb = realloc(e->batch, sizeof *nb * nw);
    if (!nb) {
      free(sorted);
      return PC_ERR_NOMEM;
    }
    e->batch = nb;
    e->batch_cap = nw;
  }
  for (size_t k = 0; k < nw; k++) {
    const kv_slot_t *s = sorted[k];
    e->batch[k] = (pc_write_t){.key = kv_key(&e->overlay, s),
                               .klen = s->klen,
                               .val = s->del ? NULL : kv_val(&e->overlay, s),
                               .vlen = s->del ? 0 : s->vlen,
                               .del = s->del};
  }
  free(sorted);
  if (b->n > e->receipts_cap) {
    pc_receipt_t *nr = realloc(e->receipts, sizeof *nr * b->n);
    if (!nr) return PC_ERR_NOMEM;
    e->receipts = nr;
    e->receipts_cap = b->n;
  }
  for (uint32_t i = 0; i < b->n; i++) {
    const txrec_t *r = &b->tx[i];
    e->receipts[i] = (pc_receipt_t){
        .status = r->status, .budget_used = r->used, .output = r->out, .n_events = r->n_ev, .events = r->ev};
  }
  memset(out, 0, sizeof *out);
  out->receipts = e->receipts;
  out->n_receipts = b->n;
  out->batch = (pc_write_batch_t){e->batch, nw};
  pc_hash_t *lv = arena_alloc(&e->arena, sizeof *lv * (b->n + 1));
  if (!lv) return PC_ERR_NOMEM;
  for (uint32_t i = 0; i < b->n; i++) lv[i] = b->tx[i].leaf;
  return exec_merkle_root(lv, b->n, &out->receipts_root);
}

const char *pc_exec_why_name(pc_exec_why_t w) {
  static const char *n[PC_EXEC_WHY_COUNT] = {"none", "tiny", "cheap", "cooldown", "conflict", "mv_full"};
  return (unsigned)w < PC_EXEC_WHY_COUNT ? n[w] : "unknown";
}

void pc_exec_last_profile(const pc_executor_t *e, pc_exec_profile_t *out) { *out = e->prof; }

/* Smooths the CPU time per executed transaction. A serial run measures
 * the cost itself (the caller's CPU); a parallel one bounds it from above
 * by the CPU its workers spent (cost + overhead + spinning), so a stream
 * only moves to serial when even that bound is small, and serial runs move
 * it back when the cost rises (the probe in sched_serial moves it at once
 * when a block is far costlier). CPU rather than wall time: on a shared
 * machine a preempted thread's wall time says nothing about the cost. */
static void note_tx_cost(pc_executor_t *e, uint64_t cpu_ns, uint32_t n_exec) {
  if (n_exec == 0) return;
  uint64_t sample = cpu_ns / n_exec;
  if (sample == 0) sample = 1; /* 0 means "not measured" */
  e->tx_cost_ns = e->tx_cost_ns ? (3 * e->tx_cost_ns + sample) / 4 : sample;
  if (e->tx_cost_ns == 0) e->tx_cost_ns = 1;
}

/* The block clock (executor.h): max(timestamp, the stored time + 1). */
static int block_clock(const pc_exec_state_t *state, uint64_t timestamp, uint64_t *out) {
  const uint8_t *v;
  size_t vl;
  int rc = state->get(state->self, (const uint8_t *)PC_EXEC_TIME_KEY, PC_EXEC_TIME_KEY_LEN, &v, &vl);
  if (rc == PC_ERR_NOT_FOUND || (rc == 0 && vl != 8)) {
    *out = timestamp;
    return 0;
  }
  if (rc) return rc;
  uint64_t prev = pc_load_le64(v);
  *out = timestamp > prev ? timestamp : prev + 1;
  return 0;
}

static void block_init(pc_executor_t *e, blockctx_t *b, const pc_exec_state_t *state,
                       const pc_exec_block_t *blk) {
  memset(b, 0, sizeof *b);
  b->e = e;
  b->state = state;
  b->blk = blk;
  b->time_us = e->block_time_us;
  b->n = (uint32_t)blk->n_txs;
  b->overlay = &e->overlay;
  b->mv = &e->mv;
}

/* How many transactions a serial run chosen by the cost rule executes
 * before it checks their cost (0: too small a block to bother). */
static uint32_t probe_len(uint32_t n_exec) {
  uint32_t k = PC_MAX(8u, n_exec / 32); /* ≤ ~3% of the block is redone */
  return n_exec >= 4 * k ? k : 0;
}

static int run_sched(blockctx_t *b, pc_sched_t s, bool *fell_back) {
  switch (s) {
    case PC_SCHED_TASKSET: return sched_taskset(b, fell_back);
    case PC_SCHED_DAG: return sched_dag(b, fell_back);
    case PC_SCHED_OPTIMISTIC: return sched_optimistic(b, fell_back);
    default: return sched_serial(b);
  }
}

int pc_exec_run(pc_executor_t *e, const pc_exec_state_t *state, const pc_exec_block_t *blk,
                pc_exec_result_t *out) {
  if (!e || !state || !blk || !out || (blk->n_txs && !blk->txs) || blk->n_txs > UINT32_MAX / 2)
    return PC_ERR_INVALID;
  uint64_t c_start = exec_thread_cpu_ns(), t_start = pc_now_ns();
  pc_exec_profile_t *pf = &e->prof;
  memset(pf, 0, sizeof *pf);
  /* every worker is idle between blocks (pool_run returned): their arenas can be rewound here */
  arena_reset(&e->arena);
  for (unsigned i = 0; i < e->n_workers; i++) arena_reset(&e->w[i].arena);
  int rc = block_clock(state, blk->time_us, &e->block_time_us);
  if (rc) return rc;
  blockctx_t b;
  block_init(e, &b, state, blk);
  rc = prepare(e, &b);
  if (rc) return rc;

  pc_sched_t s = e->cfg.sched;
  bool all_declared = true;
  for (uint32_t i = 0; i < b.n && all_declared; i++)
    if (b.tx[i].pre_status == 0xff && !b.tx[i].tx->declared) all_declared = false;
  if (s == PC_SCHED_AUTO) s = all_declared ? PC_SCHED_DAG : PC_SCHED_OPTIMISTIC;
  if ((s == PC_SCHED_TASKSET || s == PC_SCHED_DAG) && !all_declared) s = PC_SCHED_OPTIMISTIC;
  /* a cooldown counts blocks, every block, whatever runs it */
  bool decl_cool = e->decl_cooldown > 0, opt_cool = e->opt_cooldown > 0;
  if (decl_cool) e->decl_cooldown--;
  if (opt_cool) e->opt_cooldown--;
  b.decl_cool = decl_cool;
  b.opt_cool = opt_cool;

  bool fell_back = false;
  /* cheap transactions: the parallel schedulers' per-transaction overhead
   * would cost more than a second worker saves. The block runs serially,
   * but checks its own cost after its first few transactions. */
  if (s != PC_SCHED_SERIAL && !e->cfg.no_fallback && e->n_workers > 1 && e->tx_cost_ns &&
      e->tx_cost_ns < e->cfg.min_parallel_tx_ns) {
    b.why = PC_EXEC_WHY_CHEAP;
    b.probe_after = probe_len(b.n_exec);
    b.probe_ns = 2ull * e->cfg.min_parallel_tx_ns;
    fell_back = true;
  }
  uint64_t t0 = pc_now_ns(), c0 = exec_thread_cpu_ns();
  pf->prepare_ns = t0 - t_start;
  rc = run_sched(&b, fell_back ? PC_SCHED_SERIAL : s, &fell_back);
  if (rc == SCHED_PROBE_COSTLY) {
    /* far costlier than the stream so far: drop the serial start (nothing
     * of it is kept: every transaction runs again) and take this block's
     * probe as the new estimate */
    uint64_t probe_cpu = exec_thread_cpu_ns() - c0;
    e->tx_cost_ns = PC_MAX(1, probe_cpu / b.probe_after);
    pf->probed = true;
    uint64_t serial_ns = b.serial_ns;
    uint32_t n_exec = b.n_exec;
    txrec_t *tx = b.tx;
    block_init(e, &b, state, blk);
    b.tx = tx;
    b.n_exec = n_exec;
    b.decl_cool = decl_cool;
    b.opt_cool = opt_cool;
    b.serial_ns = serial_ns;
    fell_back = false;
    c0 = exec_thread_cpu_ns();
    rc = run_sched(&b, s, &fell_back);
  }
  if (rc == PC_ERR_FULL) {
    /* the multi-version table was too small for this block: redo it serially
     * (same result by construction) and size the next one larger */
    if (e->mv_keys_per_tx < (1u << 16)) e->mv_keys_per_tx *= 4;
    PC_DEBUG("executor: multi-version table full at height %llu; running the block serially",
             (unsigned long long)blk->height);
    blockctx_t b2;
    block_init(e, &b2, state, blk);
    b2.tx = b.tx;
    b2.n_exec = b.n_exec;
    rc = sched_serial(&b2);
    fell_back = true;
    b.reexec = 0;
    b.why = PC_EXEC_WHY_MV_FULL;
    b.serial_ns += b2.serial_ns;
  }
  if (rc) return rc;
  if (fell_back) s = PC_SCHED_SERIAL;
  uint64_t t1 = pc_now_ns();
  uint64_t cost_cpu = exec_thread_cpu_ns() - c0; /* the caller's share, analysis included */
  pf->n_workers = e->n_workers;
  if (s != PC_SCHED_SERIAL)
    for (unsigned i = 0; i < e->n_workers; i++) {
      pf->worker_txs[i] = e->w[i].n_tx;
      pf->worker_cpu_ns[i] = e->w[i].cpu_ns;
      cost_cpu += e->w[i].cpu_ns;
    }
  note_tx_cost(e, cost_cpu, b.n_exec);
  rc = build_output(e, &b, s == PC_SCHED_SERIAL, out);
  if (rc) return rc;
  out->ran = s;
  pf->ran = s;
  pf->why_serial = fell_back ? b.why : PC_EXEC_WHY_NONE;
  pf->n_exec = b.n_exec;
  pf->serial_ns = b.serial_ns;
  pf->parallel_ns = b.pool_ns;
  uint64_t sched_ns = t1 - t0;
  pf->analysis_ns = sched_ns > b.serial_ns + b.pool_ns ? sched_ns - b.serial_ns - b.pool_ns : 0;
  pf->output_ns = pc_now_ns() - t1;
  pf->caller_cpu_ns = exec_thread_cpu_ns() - c_start;
  atomic_fetch_add_explicit(&e->st_blocks, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&e->st_txs, b.n, memory_order_relaxed);
  if (fell_back) atomic_fetch_add_explicit(&e->st_fallbacks, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&e->st_reexec, atomic_load_explicit(&b.reexec, memory_order_relaxed),
                            memory_order_relaxed);
  atomic_fetch_add_explicit(&e->st_steals, atomic_load_explicit(&b.steals, memory_order_relaxed),
                            memory_order_relaxed);
  return 0;
}

int pc_exec_run_batch(pc_executor_t *e, const pc_exec_state_t *state, uint64_t height, uint64_t time_us,
                      const uint8_t *batch, size_t len, pc_exec_tx_filter_t filter, void *filter_ctx,
                      pc_exec_result_t *out) {
  if (!e) return PC_ERR_INVALID;
  int count = pc_batch_count(batch, len);
  if (count < 0) count = 0;
  if ((size_t)count > e->batch_txs_cap) {
    pc_tx_t *t = realloc(e->batch_txs, (size_t)count * sizeof *t);
    if (!t) return PC_ERR_NOMEM;
    e->batch_txs = t;
    e->batch_txs_cap = (size_t)count;
  }
  size_t n = 0, pos = 0, tlen;
  const uint8_t *p;
  while (n < (size_t)count && (p = pc_batch_next(batch, len, &pos, &tlen)) != NULL)
    if (pc_tx_decode(p, tlen, &e->batch_txs[n]) == 0 && (!filter || filter(filter_ctx, &e->batch_txs[n]))) n++;
  pc_exec_block_t blk = {.height = height, .time_us = time_us, .txs = e->batch_txs, .n_txs = n};
  return pc_exec_run(e, state, &blk, out);
}

const pc_tx_t *pc_exec_batch_txs(const pc_executor_t *e) { return e ? e->batch_txs : NULL; }

int pc_exec_commit(pc_executor_t *e, const pc_exec_state_t *state, pc_exec_result_t *out) {
  (void)e;
  int rc = state->apply(state->self, &out->batch, &out->state_root);
  if (rc) return rc;
  pc_hash_pair(&out->exec_root, "parachain/exec-root", &out->state_root, &out->receipts_root);
  return 0;
}
