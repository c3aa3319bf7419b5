/* consensus.c — protocol dispatch, configuration checks and the Ed25519
 * signer shared by every protocol (interface in consensus.h). */
#include <sodium.h>
#include <string.h>

#include "consensus/consensus.h"

void pc_consensus_config_defaults(pc_consensus_config_t *cfg, uint16_t n, uint16_t f, uint16_t my_id) {
  memset(cfg, 0, sizeof *cfg);
  cfg->protocol = PC_PROTO_SBFT;
  cfg->n = n;
  cfg->f = f;
  cfg->my_id = my_id;
  cfg->chain_id = 1;
  cfg->vote_mode = PC_VOTES_BROADCAST;
  cfg->fast_path = true;
  cfg->delta_fast_ns = 2000000;
  cfg->delta_collect_ns = 5000000;
  cfg->base_timeout_ns = 50000000;
  cfg->window = 4;
  cfg->checkpoint_interval = 64;
  cfg->keep_decided = 448;
  cfg->batch_max_txs = 1000;
  cfg->batch_max_bytes = 1u << 20;
}

int pc_consensus_config_check(const pc_consensus_config_t *cfg) {
  const char *why = NULL;
  if (cfg->protocol != PC_PROTO_SBFT && cfg->protocol != PC_PROTO_PBFT) why = "protocol must be sbft or pbft";
  else if (cfg->n < 1 || cfg->n > PC_MAX_REPLICAS) why = "n must be 1..256";
  else if (cfg->n < 3u * cfg->f + 1) why = "n < 3f+1: refusing an unsafe cluster";
  else if (cfg->my_id >= cfg->n) why = "my_id must be < n";
  else if (cfg->vote_mode != PC_VOTES_BROADCAST && cfg->vote_mode != PC_VOTES_COLLECTOR) why = "bad vote mode";
  else if (cfg->window < 1 || cfg->window > PC_CONS_MAX_WINDOW) why = "window W must be 1..64";
  else if (cfg->base_timeout_ns == 0) why = "base timeout must be > 0";
  else if (cfg->batch_max_bytes > PC_BATCH_MAX || cfg->batch_max_txs == 0) why = "bad batch limits";
  else if (!cfg->signer.sign || !cfg->signer.verify) why = "no signer";
  if (why) {
    PC_ERROR("consensus config: %s", why);
    return PC_ERR_CONFIG;
  }
  return 0;
}

pc_consensus_t *pc_consensus_create(const pc_consensus_config_t *cfg, const pc_consensus_io_t *io) {
  if (!cfg || !io || !io->action || pc_consensus_config_check(cfg)) return NULL;
  const pc_consensus_ops_t *ops = NULL;
  if (cfg->protocol == PC_PROTO_SBFT) ops = &pc_sbft_ops;
#ifdef PC_HAVE_PBFT
  else ops = &pc_pbft_ops;
#else
  else if (&pc_pbft_ops != NULL && pc_pbft_ops.create) ops = &pc_pbft_ops;
#endif
  if (!ops) {
    PC_ERROR("consensus: protocol %u is not built in", cfg->protocol);
    return NULL;
  }
  return ops->create(cfg, io);
}

void pc_consensus_destroy(pc_consensus_t *c) {
  if (c) c->ops->destroy(c);
}
int pc_consensus_restore(pc_consensus_t *c, const uint8_t *rec, size_t len) { return c->ops->restore(c, rec, len); }
int pc_consensus_start(pc_consensus_t *c, uint64_t now_ns) { return c->ops->start(c, now_ns); }
int pc_consensus_on_message(pc_consensus_t *c, uint16_t from, const uint8_t *msg, size_t len) {
  return c->ops->on_message(c, from, msg, len);
}
void pc_consensus_on_tick(pc_consensus_t *c, uint64_t now_ns) { c->ops->on_tick(c, now_ns); }
int pc_consensus_on_batch(pc_consensus_t *c, uint64_t height, const uint8_t *batch, size_t len,
                          uint64_t timestamp_us) {
  return c->ops->on_batch(c, height, batch, len, timestamp_us);
}
int pc_consensus_on_executed(pc_consensus_t *c, uint64_t height, const pc_hash_t *exec_root,
                             const pc_hash_t *manifest) {
  return c->ops->on_executed(c, height, exec_root, manifest);
}
void pc_consensus_on_persist_done(pc_consensus_t *c, uint64_t seq) { c->ops->on_persist_done(c, seq); }
int pc_consensus_on_transfer_done(pc_consensus_t *c, uint64_t height, const pc_hash_t *exec_root) {
  return c->ops->on_transfer_done(c, height, exec_root);
}
uint64_t pc_consensus_next_deadline(const pc_consensus_t *c) { return c->ops->next_deadline(c); }
void pc_consensus_get_stats(const pc_consensus_t *c, pc_consensus_stats_t *out) { c->ops->get_stats(c, out); }

/* ------------------------------------------------------------ Ed25519 */

static void ed_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[PC_SIG_SIZE]) {
  pc_ed25519_signer_t *st = ctx;
  crypto_sign_detached(sig, NULL, msg, len, st->seckey);
}

static int ed_verify(void *ctx, uint16_t signer, const uint8_t *msg, size_t len, const uint8_t sig[PC_SIG_SIZE]) {
  pc_ed25519_signer_t *st = ctx;
  if (signer >= st->n) return PC_ERR_SIGNATURE;
  return crypto_sign_verify_detached(sig, msg, len, st->pubkeys[signer]) == 0 ? 0 : PC_ERR_SIGNATURE;
}

pc_signer_t pc_signer_ed25519(pc_ed25519_signer_t *st, const uint8_t seckey[PC_SECKEY_SIZE],
                              const uint8_t (*pubkeys)[PC_PUBKEY_SIZE], unsigned n) {
  memcpy(st->seckey, seckey, PC_SECKEY_SIZE);
  st->pubkeys = pubkeys;
  st->n = n;
  return (pc_signer_t){.ctx = st, .sign = ed_sign, .verify = ed_verify};
}

void pc_signer_vote_sign(const pc_signer_t *s, uint8_t sig[PC_SIG_SIZE], uint64_t chain_id, uint8_t protocol,
                         uint8_t phase, uint64_t height, uint32_t round, const pc_hash_t *digest) {
  uint8_t vb[PC_VOTE_BYTES_SIZE];
  pc_vote_bytes(vb, chain_id, protocol, phase, height, round, digest);
  s->sign(s->ctx, vb, sizeof vb, sig);
}

int pc_signer_vote_verify(const pc_signer_t *s, uint16_t signer, const uint8_t sig[PC_SIG_SIZE],
                          uint64_t chain_id, uint8_t protocol, uint8_t phase, uint64_t height, uint32_t round,
                          const pc_hash_t *digest) {
  uint8_t vb[PC_VOTE_BYTES_SIZE];
  pc_vote_bytes(vb, chain_id, protocol, phase, height, round, digest);
  return s->verify(s->ctx, signer, vb, sizeof vb, sig);
}

int pc_signer_cert_verify(const pc_signer_t *s, const pc_cert_t *c, uint64_t chain_id, uint16_t n,
                          unsigned min_signers, uint64_t *verifies) {
  if (c->chain_id != chain_id) return PC_ERR_CHAIN;
  if (c->n != n) return PC_ERR_RANGE;
  if (pc_cert_signers(c) < min_signers) return PC_ERR_QUORUM;
  uint8_t vb[PC_VOTE_BYTES_SIZE];
  pc_vote_bytes(vb, c->chain_id, c->protocol, pc_cert_phase(c->kind), c->height, c->round, &c->digest);
  unsigned k = 0;
  for (uint16_t i = 0; i < c->n; i++) {
    if (!pc_cert_has(c, i)) continue;
    if (verifies) (*verifies)++;
    if (s->verify(s->ctx, i, vb, sizeof vb, c->sigs[k]) != 0) return PC_ERR_SIGNATURE;
    k++;
  }
  return 0;
}
