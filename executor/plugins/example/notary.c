/* notary.c — example enterprise contract, built as a plugin.
 *
 * "notary" records who stamped a document id first, and when.
 *   keys: "n" ‖ id → stamper(32) ‖ height(u64) ‖ note
 *   stamp(u8 n, id[n], note…)   FAIL if the id is already stamped; emits "stamped" ‖ id
 *   check(id…)                  output: the record; FAIL when absent
 *
 * It includes executor/executor.h and nothing of the node: everything goes
 * through the context's host table. Build it with any C compiler as a shared
 * object exporting the two symbols at the bottom.
 */
#include <string.h>

#include "executor/executor.h"

#define EXPORT __attribute__((visibility("default")))

static int stamp(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  if (n < 1 || a[0] == 0 || (size_t)a[0] + 1 > n || a[0] > 128) return PC_CONTRACT_BAD_ARGS;
  size_t idl = a[0], notel = n - 1 - idl;
  if (notel > 1024) return PC_CONTRACT_BAD_ARGS;
  uint8_t key[1 + 128];
  key[0] = 'n';
  memcpy(key + 1, a + 1, idl);
  const uint8_t *v;
  size_t vl;
  int rc = c->host->get(c, key, 1 + idl, &v, &vl);
  if (rc == 0) {
    c->host->output(c, "already stamped", 15);
    return PC_CONTRACT_FAIL;
  }
  if (rc != PC_ERR_NOT_FOUND) return PC_CONTRACT_FAIL;
  uint8_t rec[32 + 8 + 1024];
  memcpy(rec, c->caller, 32);
  pc_store_le64(rec + 32, c->height);
  memcpy(rec + 40, a + 1 + idl, notel);
  if (c->host->put(c, key, 1 + idl, rec, 40 + notel)) return PC_CONTRACT_FAIL;
  uint8_t ev[7 + 128];
  memcpy(ev, "stamped", 7);
  memcpy(ev + 7, a + 1, idl);
  return c->host->emit(c, ev, 7 + idl) ? PC_CONTRACT_FAIL : PC_CONTRACT_OK;
}

static int check(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  if (n == 0 || n > 128) return PC_CONTRACT_BAD_ARGS;
  uint8_t key[1 + 128];
  key[0] = 'n';
  memcpy(key + 1, a, n);
  const uint8_t *v;
  size_t vl;
  if (c->host->get(c, key, 1 + n, &v, &vl)) return PC_CONTRACT_FAIL;
  return c->host->output(c, v, vl) ? PC_CONTRACT_FAIL : PC_CONTRACT_OK;
}

static const pc_contract_method_t methods[] = {{"stamp", stamp}, {"check", check}};
static const pc_contract_def_t def = {PC_CONTRACT_ABI_VERSION, "notary", 2, methods};

EXPORT const uint32_t pc_contract_abi_version = PC_CONTRACT_ABI_VERSION;
EXPORT const pc_contract_def_t *pc_contract_get(void) { return &def; }
