/* stable_claims.c — the f+1 tally of STABLE answers shared by SBFT and PBFT
 * (see stable_claims_private.h). */
#include <stdlib.h>
#include <string.h>

#include "consensus/stable_claims_private.h"

int pc_claims_init(pc_claims_t *t, uint16_t n) {
  memset(t, 0, sizeof *t);
  t->n = n;
  t->chain = calloc(n, sizeof *t->chain);
  return t->chain ? 0 : PC_ERR_NOMEM;
}

void pc_claims_free(pc_claims_t *t) {
  free(t->chain);
  free(t->cert);
  memset(t, 0, sizeof *t);
}

static bool has(const pc_claims_t *t, uint16_t i) { return t->has[i / 8] >> (i % 8) & 1; }

int pc_claims_check(const pc_claims_t *t, uint64_t S, uint16_t sender) {
  if (S < t->h) return PC_ERR_EXPIRED;
  if (S == t->h && has(t, sender)) return PC_ERR_DUPLICATE;
  return 0;
}

int pc_claims_add(pc_claims_t *t, uint64_t S, const pc_hash_t *root, const pc_hash_t *manifest,
                  const pc_cert_t *cert, uint16_t sender, const pc_hash_t *chain, unsigned f) {
  int err = pc_claims_check(t, S, sender);
  if (err) return err;
  if (S > t->h) {
    if (!t->cert && !(t->cert = malloc(sizeof *t->cert))) return PC_ERR_NOMEM;
    memcpy(t->cert, cert, sizeof *cert);
    t->h = S;
    t->root = *root;
    t->manifest = *manifest;
    memset(t->has, 0, sizeof t->has);
  } else if (!pc_hash_equal(&t->root, root) || !pc_hash_equal(&t->manifest, manifest)) {
    return PC_ERR_INVALID;
  }
  t->has[sender / 8] |= (uint8_t)(1u << (sender % 8));
  t->chain[sender] = *chain;
  unsigned same = 0;
  for (uint16_t i = 0; i < t->n; i++)
    if (has(t, i) && pc_hash_equal(&t->chain[i], chain)) same++;
  return same >= f + 1 ? 1 : 0;
}
