/* The f+1 tally of STABLE answers shared by SBFT and PBFT (stable_claims.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "consensus/stable_claims_private.h"

static pc_hash_t hash_of(uint8_t b) {
  pc_hash_t h;
  memset(h.b, b, sizeof h.b);
  return h;
}

static pc_cert_t cert; /* contents are the caller's business; the tally copies it */

static int add(pc_claims_t *t, uint64_t S, uint8_t root, uint16_t sender, uint8_t chain) {
  pc_hash_t r = hash_of(root), m = hash_of(0x77), c = hash_of(chain);
  return pc_claims_add(t, S, &r, &m, &cert, sender, &c, 1);
}

Test(claims, f_plus_one_matching_chain_hashes_adopt) {
  pc_claims_t t;
  cr_assert_eq(pc_claims_init(&t, 4), 0);
  cr_assert_eq(add(&t, 8, 1, 0, 0xa), 0);
  cr_assert_eq(add(&t, 8, 1, 1, 0xb), 0, "two senders disagreeing on the chain hash are not f+1");
  cr_assert_eq(add(&t, 8, 1, 2, 0xa), 1);
  cr_assert_eq(t.h, 8);
  pc_hash_t want = hash_of(1);
  cr_assert(pc_hash_equal(&t.root, &want), "the adopted checkpoint's root is the one tallied");
  pc_claims_free(&t);
}

Test(claims, duplicate_and_older_answers_refused) {
  pc_claims_t t;
  cr_assert_eq(pc_claims_init(&t, 4), 0);
  cr_assert_eq(add(&t, 8, 1, 3, 0xa), 0);
  cr_assert_eq(pc_claims_check(&t, 8, 3), PC_ERR_DUPLICATE);
  cr_assert_eq(add(&t, 8, 1, 3, 0xa), PC_ERR_DUPLICATE, "one sender counts once");
  cr_assert_eq(pc_claims_check(&t, 7, 0), PC_ERR_EXPIRED);
  cr_assert_eq(pc_claims_check(&t, 8, 0), 0);
  pc_claims_free(&t);
}

Test(claims, newer_checkpoint_restarts_the_tally) {
  pc_claims_t t;
  cr_assert_eq(pc_claims_init(&t, 4), 0);
  cr_assert_eq(add(&t, 8, 1, 0, 0xa), 0);
  cr_assert_eq(add(&t, 16, 2, 1, 0xa), 0, "sender 0's claim was about 8, not 16");
  cr_assert_eq(t.h, 16);
  cr_assert_eq(add(&t, 16, 2, 0, 0xa), 1);
  pc_claims_free(&t);
}

Test(claims, two_certified_checkpoints_at_one_height_refused) {
  pc_claims_t t;
  cr_assert_eq(pc_claims_init(&t, 4), 0);
  cr_assert_eq(add(&t, 8, 1, 0, 0xa), 0);
  cr_assert_eq(add(&t, 8, 2, 1, 0xa), PC_ERR_INVALID);
  cr_assert_eq(add(&t, 8, 1, 1, 0xa), 1, "the refused answer was not recorded");
  pc_claims_free(&t);
}
