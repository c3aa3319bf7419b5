/* fuzz_state_ops.c — write batches driven by arbitrary bytes, checked
 * against a plain model. Byte 0: after how many node allocations every
 * further one fails (0: never). Then 3 bytes per operation:
 *   op & 3 = 0, 1  put key k (len = 3rd byte, bytes derived from it)
 *   op & 3 = 2     delete key k
 *   op & 3 = 3     op & 4: read k through the batch and compare;
 *                  op & 8: commit (and start a new batch); op & 16: abort
 * with k = 2nd byte (256 distinct keys of 1 or 2 bytes). A write refused with
 * PC_ERR_NOMEM must change nothing, any other write must be accepted; at
 * the end the root must equal that of a trie built from the model alone.
 * The states are reused across inputs (emptied by deletes first).
 * Exercises the queued writes (applied 16 at a time), the branch reserve
 * and the free stacks. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "storage/storage.h"
#include "storage/storage_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
  uint8_t present, len, salt;
} mval_t;

/* key i: one byte 'A' + i for i < 16, else "k" and the byte i. */
static size_t key_bytes(uint8_t k[2], unsigned i) {
  if (i < 16) {
    k[0] = (uint8_t)('A' + i);
    return 1;
  }
  k[0] = 'k';
  k[1] = (uint8_t)i;
  return 2;
}

static void val_of(uint8_t *v, const mval_t *m) {
  for (unsigned j = 0; j < m->len; j++) v[j] = (uint8_t)(m->salt * 31u + j);
}

static void die(void) { abort(); }

/* The two states live across inputs (creating and freeing one waits for
 * the call_rcu thread, ~10 ms): each input starts by emptying them. Their
 * memory therefore outlives an input, which would make libFuzzer run a
 * leak scan after every input (~30 runs/s): leak detection is off for
 * this target (the Criterion suite under ASan checks leaks at exit). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

static pc_state_t *g_s, *g_t;
static mval_t g_in_s[256], g_in_t[256];

/* commit_publish commits b and publishes the version (an unpublished
 * state keeps version 0 current, and nothing retired after it is freed). */
static int64_t commit_publish(pc_state_t *st, pc_state_batch_t *b, pc_hash_t *root) {
  int64_t v = pc_state_commit(b, root);
  if (v > 0 && pc_state_publish(st, (uint64_t)v) != 0) die();
  return v;
}

/* reset deletes every key of st (listed in in[]) and checks the empty root. */
static void reset(pc_state_t *st, mval_t in[256]) {
  pc_state_fail_allocs_after(st, -1);
  pc_state_batch_t *b = pc_state_batch_new(st);
  if (!b) die();
  for (unsigned i = 0; i < 256; i++) {
    uint8_t k[2];
    size_t kl = key_bytes(k, i);
    if (in[i].present && pc_state_batch_delete(b, k, kl) != 0) die();
  }
  pc_hash_t root, zero = {{0}};
  if (commit_publish(st, b, &root) <= 0 || !pc_hash_equal(&root, &zero)) die();
  memset(in, 0, 256 * sizeof *in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g_s) {
    rcu_register_thread();
    pc_log_set_level(PC_LOG_ERROR);
    g_s = pc_state_new(2);
    g_t = pc_state_new(2);
    if (!g_s || !g_t) die();
  }
  if (size < 1) return 0;
  pc_state_t *s = g_s;
  reset(s, g_in_s);
  mval_t committed[256] = {{0}}, cur[256];
  if (data[0]) pc_state_fail_allocs_after(s, data[0]);
  pc_state_batch_t *b = pc_state_batch_new(s);
  if (!b) die();
  memcpy(cur, committed, sizeof cur);
  uint8_t v[256];
  for (size_t p = 1; p + 3 <= size; p += 3) {
    uint8_t op = data[p], ki = data[p + 1], len = data[p + 2];
    uint8_t k[2];
    size_t kl = key_bytes(k, ki);
    switch (op & 3) {
      case 0:
      case 1: {
        mval_t m = {1, len, (uint8_t)(op ^ len)};
        val_of(v, &m);
        int e = pc_state_batch_put(b, k, kl, v, len);
        if (e == 0) cur[ki] = m;
        else if (e != PC_ERR_NOMEM) die();
        break;
      }
      case 2: {
        int e = pc_state_batch_delete(b, k, kl);
        if (e == 0) cur[ki].present = 0;
        else if (e != PC_ERR_NOMEM) die();
        break;
      }
      default:
        if (op & 4) {
          const uint8_t *got;
          size_t gl;
          int e = pc_state_batch_get(b, k, kl, &got, &gl);
          if (!cur[ki].present) {
            if (e != PC_ERR_NOT_FOUND) die();
          } else {
            val_of(v, &cur[ki]);
            if (e != 0 || gl != cur[ki].len || memcmp(got, v, gl) != 0) die();
          }
        }
        if (op & 8) {
          if (commit_publish(s, b, NULL) <= 0) die();
          memcpy(committed, cur, sizeof cur);
          b = pc_state_batch_new(s);
          if (!b) die();
        } else if (op & 16) {
          pc_state_abort(b);
          memcpy(cur, committed, sizeof cur);
          b = pc_state_batch_new(s);
          if (!b) die();
        }
        break;
    }
  }
  pc_hash_t root, want;
  if (commit_publish(s, b, &root) <= 0) die();
  memcpy(committed, cur, sizeof cur);
  memcpy(g_in_s, committed, sizeof committed);
  pc_state_fail_allocs_after(s, -1);
  /* The model alone, one batch, no allocation failures. */
  pc_state_t *t = g_t;
  reset(t, g_in_t);
  pc_state_batch_t *tb = pc_state_batch_new(t);
  if (!tb) die();
  uint64_t n = 0;
  for (unsigned i = 0; i < 256; i++) {
    if (!committed[i].present) continue;
    uint8_t k[2];
    size_t kl = key_bytes(k, i);
    val_of(v, &committed[i]);
    if (pc_state_batch_put(tb, k, kl, v, committed[i].len) != 0) die();
    n++;
  }
  if (commit_publish(t, tb, &want) <= 0) die();
  memcpy(g_in_t, committed, sizeof committed);
  if (!pc_hash_equal(&root, &want)) die();
  rcu_read_lock();
  if (pc_state_version_count(pc_state_at(s, pc_state_head(s))) != n) die();
  rcu_read_unlock();
  return 0;
}
