/* stable_claims_private.h — catching up by state transfer, the part SBFT and
 * PBFT share: tallying STABLE answers (a certified checkpoint S with the
 * chain hash its sender claims at S) until f+1 senders agree on the chain
 * hash, so at least one honest replica vouches for it (PROTOCOL.md §10,
 * PROTOCOL-PBFT.md "Catch-up by state transfer"). Single-threaded: used on
 * the consensus thread only. The protocols keep their own rules about when
 * an answer is expired (below next, a transfer under way) and check the
 * certificate themselves between pc_claims_check and pc_claims_add. */
#ifndef PC_STABLE_CLAIMS_PRIVATE_H
#define PC_STABLE_CLAIMS_PRIVATE_H

#include <stdint.h>

#include "consensus/consensus.h"

typedef struct {
  uint64_t h;                          /* the checkpoint being tallied (0 = none) */
  pc_hash_t root, manifest;            /* its execution root and snapshot manifest */
  pc_cert_t *cert;                     /* its checkpoint certificate (a copy) */
  uint8_t has[PC_MAX_REPLICAS / 8];    /* senders of a STABLE for h */
  pc_hash_t *chain;                    /* per sender: the chain hash it claims at h */
  uint16_t n;
} pc_claims_t;

/* pc_claims_init allocates the per-sender table for n replicas: 0 or PC_ERR_NOMEM. */
int pc_claims_init(pc_claims_t *t, uint16_t n);
void pc_claims_free(pc_claims_t *t);

/* pc_claims_check: PC_ERR_EXPIRED for an answer about a checkpoint older
 * than the one tallied, PC_ERR_DUPLICATE for a second answer of `sender`
 * about it, else 0. Cheap: call it before verifying the certificate. */
int pc_claims_check(const pc_claims_t *t, uint64_t S, uint16_t sender);

/* pc_claims_add records a STABLE whose certificate the caller verified. A
 * newer checkpoint restarts the tally. Returns 1 when f+1 senders now agree
 * on `chain` at S (t->root, t->manifest and t->cert describe S), 0 while
 * fewer do, PC_ERR_INVALID if S is the tallied checkpoint with another root
 * or manifest (two certified checkpoints at one height: the fault bound is
 * broken), PC_ERR_NOMEM. */
int pc_claims_add(pc_claims_t *t, uint64_t S, const pc_hash_t *root, const pc_hash_t *manifest,
                  const pc_cert_t *cert, uint16_t sender, const pc_hash_t *chain, unsigned f);

#endif
