/* contracts.c — the built-in contracts: token, kv, counter, compute.
 * Argument formats are in executor.h. They use only the ABI, exactly as a
 * plugin would. */
#include <string.h>

#include "executor/executor.h"

void pc_token_balance_key(uint8_t out[PC_TOKEN_BALANCE_KEY_LEN], const uint8_t account[32]) {
  out[0] = 'b';
  memcpy(out + 1, account, 32);
}

/* ----------------------------------------------------------------- token */

static int token_get_balance(pc_contract_ctx_t *c, const uint8_t who[32], uint64_t *bal) {
  uint8_t k[PC_TOKEN_BALANCE_KEY_LEN];
  pc_token_balance_key(k, who);
  const uint8_t *v;
  size_t n;
  int rc = c->host->get(c, k, sizeof k, &v, &n);
  if (rc == PC_ERR_NOT_FOUND) {
    *bal = 0;
    return 0;
  }
  if (rc) return rc;
  *bal = n == 8 ? pc_load_le64(v) : 0;
  return 0;
}

static int token_set_balance(pc_contract_ctx_t *c, const uint8_t who[32], uint64_t bal) {
  uint8_t k[PC_TOKEN_BALANCE_KEY_LEN], v[8];
  pc_token_balance_key(k, who);
  pc_store_le64(v, bal);
  return c->host->put(c, k, sizeof k, v, 8);
}

static int parse_acct_amount(const uint8_t *a, size_t n, const uint8_t **who, uint64_t *amount) {
  if (n != 40) return PC_CONTRACT_BAD_ARGS;
  *who = a;
  *amount = pc_load_le64(a + 32);
  return 0;
}

static int token_init(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  (void)a;
  if (n) return PC_CONTRACT_BAD_ARGS;
  const uint8_t *v;
  size_t vl;
  int rc = c->host->get(c, "admin", 5, &v, &vl);
  if (rc == 0) return PC_CONTRACT_FAIL;
  if (rc != PC_ERR_NOT_FOUND) return PC_CONTRACT_FAIL;
  return c->host->put(c, "admin", 5, c->caller, 32) ? PC_CONTRACT_FAIL : PC_CONTRACT_OK;
}

static int token_mint(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  const uint8_t *to;
  uint64_t amount, bal;
  if (parse_acct_amount(a, n, &to, &amount)) return PC_CONTRACT_BAD_ARGS;
  const uint8_t *adm;
  size_t al;
  if (c->host->get(c, "admin", 5, &adm, &al) || al != 32 || memcmp(adm, c->caller, 32) != 0) {
    c->host->output(c, "not admin", 9);
    return PC_CONTRACT_FAIL;
  }
  if (token_get_balance(c, to, &bal)) return PC_CONTRACT_FAIL;
  if (bal + amount < bal) return PC_CONTRACT_FAIL;
  return token_set_balance(c, to, bal + amount) ? PC_CONTRACT_FAIL : PC_CONTRACT_OK;
}

static int token_transfer(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  const uint8_t *to;
  uint64_t amount, from_bal, to_bal;
  if (parse_acct_amount(a, n, &to, &amount)) return PC_CONTRACT_BAD_ARGS;
  if (token_get_balance(c, c->caller, &from_bal)) return PC_CONTRACT_FAIL;
  if (from_bal < amount) {
    c->host->output(c, "insufficient balance", 20);
    return PC_CONTRACT_FAIL;
  }
  if (memcmp(to, c->caller, 32) != 0) {
    if (token_get_balance(c, to, &to_bal)) return PC_CONTRACT_FAIL;
    if (to_bal + amount < to_bal) return PC_CONTRACT_FAIL;
    if (token_set_balance(c, c->caller, from_bal - amount) || token_set_balance(c, to, to_bal + amount))
      return PC_CONTRACT_FAIL;
  }
  uint8_t ev[8 + 32 + 32 + 8];
  memcpy(ev, "transfer", 8);
  memcpy(ev + 8, c->caller, 32);
  memcpy(ev + 40, to, 32);
  pc_store_le64(ev + 72, amount);
  return c->host->emit(c, ev, sizeof ev) ? PC_CONTRACT_FAIL : PC_CONTRACT_OK;
}

static int token_balance(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  uint64_t bal;
  if (n != 32) return PC_CONTRACT_BAD_ARGS;
  if (token_get_balance(c, a, &bal)) return PC_CONTRACT_FAIL;
  uint8_t v[8];
  pc_store_le64(v, bal);
  return c->host->output(c, v, 8) ? PC_CONTRACT_FAIL : PC_CONTRACT_OK;
}

static const pc_contract_method_t token_methods[] = {
    {"init", token_init}, {"mint", token_mint}, {"transfer", token_transfer}, {"balance", token_balance}};
const pc_contract_def_t pc_builtin_token = {PC_CONTRACT_ABI_VERSION, "token", 4, token_methods};

/* -------------------------------------------------------------------- kv */

#define KV_KEY_MAX (PC_EXEC_KEY_MAX - 1)

static int kv_key(uint8_t *k, const uint8_t *name, size_t n) {
  if (n == 0 || n > KV_KEY_MAX) return -1;
  k[0] = 'e';
  memcpy(k + 1, name, n);
  return (int)(n + 1);
}

/* an entry is owner(32) ‖ value */
static int kv_owner_check(pc_contract_ctx_t *c, const uint8_t *k, size_t kl, bool *exists) {
  const uint8_t *v;
  size_t vl;
  int rc = c->host->get(c, k, kl, &v, &vl);
  *exists = rc == 0;
  if (rc == PC_ERR_NOT_FOUND) return 0;
  if (rc) return PC_CONTRACT_FAIL;
  if (vl < 32 || memcmp(v, c->caller, 32) != 0) {
    c->host->output(c, "not owner", 9);
    return PC_CONTRACT_FAIL;
  }
  return 0;
}

static int kv_put(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  if (n < 2) return PC_CONTRACT_BAD_ARGS;
  size_t nl = pc_load_le16(a);
  if (nl == 0 || nl > KV_KEY_MAX || 2 + nl > n) return PC_CONTRACT_BAD_ARGS;
  size_t vl = n - 2 - nl;
  if (vl + 32 > PC_EXEC_VALUE_MAX) return PC_CONTRACT_BAD_ARGS;
  uint8_t k[PC_EXEC_KEY_MAX];
  int kl = kv_key(k, a + 2, nl);
  bool exists;
  int rc = kv_owner_check(c, k, (size_t)kl, &exists);
  if (rc) return rc;
  static _Thread_local uint8_t v[PC_EXEC_VALUE_MAX];
  memcpy(v, c->caller, 32);
  memcpy(v + 32, a + 2 + nl, vl);
  return c->host->put(c, k, (size_t)kl, v, 32 + vl) ? PC_CONTRACT_FAIL : PC_CONTRACT_OK;
}

static int kv_get(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  uint8_t k[PC_EXEC_KEY_MAX];
  int kl = kv_key(k, a, n);
  if (kl < 0) return PC_CONTRACT_BAD_ARGS;
  const uint8_t *v;
  size_t vl;
  if (c->host->get(c, k, (size_t)kl, &v, &vl) || vl < 32) return PC_CONTRACT_FAIL;
  return c->host->output(c, v + 32, vl - 32) ? PC_CONTRACT_FAIL : PC_CONTRACT_OK;
}

static int kv_del(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  uint8_t k[PC_EXEC_KEY_MAX];
  int kl = kv_key(k, a, n);
  if (kl < 0) return PC_CONTRACT_BAD_ARGS;
  bool exists;
  int rc = kv_owner_check(c, k, (size_t)kl, &exists);
  if (rc) return rc;
  if (!exists) return PC_CONTRACT_FAIL;
  return c->host->del(c, k, (size_t)kl) ? PC_CONTRACT_FAIL : PC_CONTRACT_OK;
}

static const pc_contract_method_t kv_methods[] = {{"put", kv_put}, {"get", kv_get}, {"del", kv_del}};
const pc_contract_def_t pc_builtin_kv = {PC_CONTRACT_ABI_VERSION, "kv", 3, kv_methods};

/* --------------------------------------------------------------- counter */

static int counter_read(pc_contract_ctx_t *c, uint64_t *out) {
  const uint8_t *v;
  size_t vl;
  int rc = c->host->get(c, "n", 1, &v, &vl);
  if (rc == PC_ERR_NOT_FOUND) {
    *out = 0;
    return 0;
  }
  if (rc) return rc;
  *out = vl == 8 ? pc_load_le64(v) : 0;
  return 0;
}

static int counter_add(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  if (n != 8) return PC_CONTRACT_BAD_ARGS;
  uint64_t x;
  if (counter_read(c, &x)) return PC_CONTRACT_FAIL;
  x += pc_load_le64(a);
  uint8_t v[8];
  pc_store_le64(v, x);
  if (c->host->put(c, "n", 1, v, 8)) return PC_CONTRACT_FAIL;
  return c->host->output(c, v, 8) ? PC_CONTRACT_FAIL : PC_CONTRACT_OK;
}

static int counter_get(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  (void)a;
  if (n) return PC_CONTRACT_BAD_ARGS;
  uint64_t x;
  if (counter_read(c, &x)) return PC_CONTRACT_FAIL;
  uint8_t v[8];
  pc_store_le64(v, x);
  return c->host->output(c, v, 8) ? PC_CONTRACT_FAIL : PC_CONTRACT_OK;
}

static const pc_contract_method_t counter_methods[] = {{"add", counter_add}, {"get", counter_get}};
const pc_contract_def_t pc_builtin_counter = {PC_CONTRACT_ABI_VERSION, "counter", 2, counter_methods};

/* --------------------------------------------------------------- compute */

/* Real, deterministic CPU work: iters rounds of BLAKE2b-256, each over the
 * previous digest — a round costs ~150 ns here (LIMITS.md: 6.9M hashes/s
 * at 64 B), so 1/10/100 µs calls are ~7/70/700 rounds. */
static int compute_run(pc_contract_ctx_t *c, const uint8_t *a, size_t n) {
  if (n != 36) return PC_CONTRACT_BAD_ARGS;
  uint32_t iters = pc_load_le32(a);
  if (c->host->charge(c, iters)) return PC_CONTRACT_FAIL;
  pc_hash_t h;
  memcpy(h.b, a + 4, 32);
  for (uint32_t i = 0; i < iters; i++) pc_hash_blake2b(&h, h.b, sizeof h.b);
  return c->host->output(c, h.b, 32) ? PC_CONTRACT_FAIL : PC_CONTRACT_OK;
}

static const pc_contract_method_t compute_methods[] = {{"run", compute_run}};
const pc_contract_def_t pc_builtin_compute = {PC_CONTRACT_ABI_VERSION, "compute", 1, compute_methods};
