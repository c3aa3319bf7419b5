/* A plugin whose contract name clashes with a built-in ("token"). */
#include "executor/executor.h"

static int noop(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  (void)c, (void)a, (void)n;
  return PC_CONTRACT_OK;
}
static const pc_contract_method_t methods[] = {{"noop", noop}};
static const pc_contract_def_t def = {PC_CONTRACT_ABI_VERSION, "token", 1, methods};
const uint32_t pc_contract_abi_version = PC_CONTRACT_ABI_VERSION;
const pc_contract_def_t *pc_contract_get(void) { return &def; }
