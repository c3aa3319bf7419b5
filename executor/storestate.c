/* storestate.c — the executor's state interface bound to storage/'s
 * authenticated state: reads at a pinned base version, one write batch per
 * block applied as a state batch, committed and published. */
#include "executor/executor.h"

static int storage_get(void *self, const uint8_t *key, size_t klen, const uint8_t **val, size_t *vlen) {
  const pc_exec_storage_t *b = self;
  return pc_state_get(b->base, key, klen, val, vlen);
}

static int storage_apply(void *self, const pc_write_batch_t *wb, pc_hash_t *root) {
  pc_exec_storage_t *b = self;
  pc_state_batch_t *tx = pc_state_batch_new(b->state);
  if (!tx) return PC_ERR_NOMEM;
  for (size_t i = 0; i < wb->n; i++) {
    const pc_write_t *w = &wb->w[i];
    int rc = w->del ? pc_state_batch_delete(tx, w->key, w->klen)
                    : pc_state_batch_put(tx, w->key, w->klen, w->val, w->vlen);
    if (rc) {
      pc_state_abort(tx);
      return rc;
    }
  }
  int64_t v = pc_state_commit(tx, root);
  if (v < 0) return (int)v;
  return pc_state_publish(b->state, (uint64_t)v);
}

pc_exec_state_t pc_exec_state_storage(pc_exec_storage_t *b) {
  return (pc_exec_state_t){.self = b, .get = storage_get, .apply = storage_apply};
}
