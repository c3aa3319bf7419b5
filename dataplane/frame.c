/* frame.c — the dataplane frame codec (format in dataplane.h): ParaChain
 * header, coalesced message records, MAC, Ethernet/IPv4/UDP wrapper, and the
 * pairwise channel keys. Pure functions, no EAL, no channel state. */
#include <sodium.h>
#include <string.h>

#include "dataplane/dataplane.h"

static int reject(int err) { return pc_reject_note(PC_DEC_FRAME, err); }

size_t pc_dp_frame_seal(uint8_t *buf, const pc_dp_hdr_t *h, const uint8_t key[PC_DP_KEY_SIZE]) {
  pc_store_le32(buf + 0, PC_DP_MAGIC);
  buf[4] = PC_DP_VERSION;
  buf[5] = h->type;
  pc_store_le16(buf + 6, h->src);
  pc_store_le16(buf + 8, h->dst);
  pc_store_le16(buf + 10, h->frag_count);
  pc_store_le16(buf + 12, h->frag_index);
  pc_store_le16(buf + 14, 0);
  pc_store_le64(buf + 16, h->snd_epoch);
  pc_store_le64(buf + 24, h->rcv_epoch);
  pc_store_le64(buf + 32, h->seq);
  pc_store_le64(buf + 40, h->ack);
  pc_store_le64(buf + 48, h->sack);
  pc_store_le32(buf + 56, h->msg_len);
  pc_store_le32(buf + 60, h->payload_len);
  size_t body = PC_DP_HDR_SIZE + (size_t)h->payload_len;
  crypto_generichash(buf + body, PC_DP_MAC_SIZE, buf, body, key, PC_DP_KEY_SIZE);
  return body + PC_DP_MAC_SIZE;
}

/* Checks that payload holds exactly count records (u32 length + bytes). */
static bool records_ok(const uint8_t *p, uint32_t plen, uint32_t count) {
  size_t pos = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (plen - pos < PC_DP_MSG_REC_SIZE) return false;
    uint32_t l = pc_load_le32(p + pos);
    pos += PC_DP_MSG_REC_SIZE;
    if (l > plen - pos) return false;
    pos += l;
  }
  return pos == plen;
}

int pc_dp_frame_parse(const uint8_t *p, size_t len, pc_dp_hdr_t *h, const uint8_t **payload) {
  if (len < PC_DP_OVERHEAD) return reject(PC_ERR_TRUNCATED);
  if (pc_load_le32(p) != PC_DP_MAGIC) return reject(PC_ERR_MAGIC);
  if (p[4] != PC_DP_VERSION) return reject(PC_ERR_VERSION);
  if (len > PC_DP_MAX_FRAME) return reject(PC_ERR_TOO_LARGE);
  h->type = p[5];
  h->src = pc_load_le16(p + 6);
  h->dst = pc_load_le16(p + 8);
  h->frag_count = pc_load_le16(p + 10);
  h->frag_index = pc_load_le16(p + 12);
  h->snd_epoch = pc_load_le64(p + 16);
  h->rcv_epoch = pc_load_le64(p + 24);
  h->seq = pc_load_le64(p + 32);
  h->ack = pc_load_le64(p + 40);
  h->sack = pc_load_le64(p + 48);
  h->msg_len = pc_load_le32(p + 56);
  h->payload_len = pc_load_le32(p + 60);
  if (h->type > PC_DP_HELLO || pc_load_le16(p + 14) != 0) return reject(PC_ERR_INVALID);
  if ((size_t)h->payload_len != len - PC_DP_OVERHEAD) return reject(PC_ERR_INVALID);
  if (h->frag_count == 0 || h->frag_index >= h->frag_count) return reject(PC_ERR_RANGE);
  if (h->snd_epoch == 0 || h->ack == 0) return reject(PC_ERR_RANGE);
  const uint8_t *pl = p + PC_DP_HDR_SIZE;
  if (h->type == PC_DP_DATA) {
    if (h->seq == 0 || h->rcv_epoch == 0) return reject(PC_ERR_RANGE);
    if (h->frag_count == 1) {
      if (h->msg_len == 0 || !records_ok(pl, h->payload_len, h->msg_len)) return reject(PC_ERR_INVALID);
    } else {
      if (h->msg_len == 0 || h->payload_len == 0 || h->payload_len > h->msg_len)
        return reject(PC_ERR_INVALID);
    }
  } else if (h->type == PC_DP_ACK) {
    if (h->frag_count != 1 || h->seq != 0 || h->msg_len > PC_DP_SACK_WORDS_MAX ||
        h->payload_len != 8 * h->msg_len)
      return reject(PC_ERR_INVALID);
    /* SACK words in their shortest form: no trailing zero word. */
    if (h->msg_len && pc_load_le64(pl + 8 * (h->msg_len - 1)) == 0) return reject(PC_ERR_INVALID);
    if (h->rcv_epoch == 0) return reject(PC_ERR_RANGE);
  } else {
    if (h->frag_count != 1 || h->seq != 0 || h->msg_len != 0 || h->payload_len != 0)
      return reject(PC_ERR_INVALID);
  }
  *payload = pl;
  return 0;
}

int pc_dp_frame_verify(const uint8_t *p, size_t len, const uint8_t key[PC_DP_KEY_SIZE]) {
  if (len < PC_DP_OVERHEAD) return reject(PC_ERR_TRUNCATED);
  uint8_t tag[PC_DP_MAC_SIZE];
  size_t body = len - PC_DP_MAC_SIZE;
  crypto_generichash(tag, sizeof tag, p, body, key, PC_DP_KEY_SIZE);
  if (sodium_memcmp(tag, p + body, PC_DP_MAC_SIZE) != 0) return reject(PC_ERR_SIGNATURE);
  return 0;
}

const uint8_t *pc_dp_msgs_next(const uint8_t *payload, uint32_t payload_len, size_t *pos, uint32_t *len) {
  if (*pos + PC_DP_MSG_REC_SIZE > payload_len) return NULL;
  uint32_t l = pc_load_le32(payload + *pos);
  const uint8_t *m = payload + *pos + PC_DP_MSG_REC_SIZE;
  *pos += PC_DP_MSG_REC_SIZE + (size_t)l;
  *len = l;
  return m;
}

/* ------------------------------------------------ Ethernet + IPv4 + UDP */

static void put_be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void put_be32(uint8_t *p, uint32_t v) {
  put_be16(p, (uint16_t)(v >> 16));
  put_be16(p + 2, (uint16_t)v);
}
static uint16_t get_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t get_be32(const uint8_t *p) { return ((uint32_t)get_be16(p) << 16) | get_be16(p + 2); }

/* RFC 1071 ones' complement sum over the 20-byte IPv4 header. */
static uint16_t ip_csum(const uint8_t *ip) {
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += get_be16(ip + i);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

void pc_dp_l2_write(uint8_t out[PC_DP_L2_SIZE], const pc_dp_addr_t *src, const pc_dp_addr_t *dst,
                    size_t pc_len) {
  memcpy(out, dst->mac, 6);
  memcpy(out + 6, src->mac, 6);
  put_be16(out + 12, 0x0800);
  uint8_t *ip = out + 14;
  ip[0] = 0x45;
  ip[1] = 0;
  put_be16(ip + 2, (uint16_t)(20 + 8 + pc_len));
  put_be16(ip + 4, 0);
  put_be16(ip + 6, 0x4000);
  ip[8] = 64;
  ip[9] = 17;
  put_be16(ip + 10, 0);
  put_be32(ip + 12, src->ip);
  put_be32(ip + 16, dst->ip);
  put_be16(ip + 10, ip_csum(ip));
  uint8_t *udp = ip + 20;
  put_be16(udp, src->port);
  put_be16(udp + 2, dst->port);
  put_be16(udp + 4, (uint16_t)(8 + pc_len));
  put_be16(udp + 6, 0);
}

int pc_dp_l2_parse(const uint8_t *p, size_t len, size_t *pc_len, pc_dp_addr_t *src) {
  if (len < PC_DP_L2_SIZE) return reject(PC_ERR_TRUNCATED);
  if (get_be16(p + 12) != 0x0800) return reject(PC_ERR_INVALID);
  const uint8_t *ip = p + 14;
  if (ip[0] != 0x45 || ip[9] != 17) return reject(PC_ERR_INVALID);
  if ((get_be16(ip + 6) & 0x3fff) != 0) return reject(PC_ERR_INVALID); /* MF or offset: a fragment */
  if (ip_csum(ip) != 0) return reject(PC_ERR_CHECKSUM);
  size_t tot = get_be16(ip + 2);
  if (tot < 28 || tot > len - 14) return reject(PC_ERR_INVALID);
  const uint8_t *udp = ip + 20;
  size_t ulen = get_be16(udp + 4);
  if (ulen != tot - 20) return reject(PC_ERR_INVALID);
  *pc_len = ulen - 8;
  if (src) {
    memcpy(src->mac, p + 6, 6);
    src->ip = get_be32(ip + 12);
    src->port = get_be16(udp);
  }
  return PC_DP_L2_SIZE;
}

/* -------------------------------------------------------------- keys */

int pc_dp_derive_keys(uint16_t self, const uint8_t self_sk[64], uint16_t peer, const uint8_t peer_pk[32],
                      uint8_t tx[PC_DP_KEY_SIZE], uint8_t rx[PC_DP_KEY_SIZE]) {
  uint8_t my_x_pk[crypto_kx_PUBLICKEYBYTES], my_x_sk[crypto_kx_SECRETKEYBYTES];
  uint8_t peer_x_pk[crypto_kx_PUBLICKEYBYTES];
  int rc = PC_ERR_SIGNATURE;
  /* libsodium's Ed25519 secret key holds the public key in its second half. */
  if (crypto_sign_ed25519_pk_to_curve25519(my_x_pk, self_sk + 32) != 0) goto out;
  if (crypto_sign_ed25519_sk_to_curve25519(my_x_sk, self_sk) != 0) goto out;
  if (crypto_sign_ed25519_pk_to_curve25519(peer_x_pk, peer_pk) != 0) goto out;
  if (self < peer) {
    if (crypto_kx_client_session_keys(rx, tx, my_x_pk, my_x_sk, peer_x_pk) != 0) goto out;
  } else {
    if (crypto_kx_server_session_keys(rx, tx, my_x_pk, my_x_sk, peer_x_pk) != 0) goto out;
  }
  rc = 0;
out:
  sodium_memzero(my_x_sk, sizeof my_x_sk);
  return rc;
}
