/* fuzz_config.c — the config-file parser and every typed getter on every
 * key it finds. Errors must always be "name:..." strings; nothing may
 * crash or read out of bounds. */
#include <stdint.h>
#include <string.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_conf_t *c;
  if (!c && !(c = pc_conf_new())) return 0;
  static const char *const names[] = {"sbft", "pbft", "broadcast"};
  int rc = pc_conf_parse_buf(c, "f.conf", (const char *)data, size);
  if (rc) {
    if (strncmp(c->err, "f.conf:", 7) != 0) __builtin_trap();
    return 0;
  }
  if (c->n_sections < 1 || c->n_sections > PC_CONF_SECTIONS_MAX || c->n_entries > PC_CONF_ENTRIES_MAX)
    __builtin_trap();
  for (unsigned i = 0; i < c->n_entries; i++) {
    int sec = c->entries[i].section;
    char key[PC_CONF_NAME_MAX];
    memcpy(key, c->entries[i].key, sizeof key);
    uint64_t v;
    bool b;
    unsigned ch;
    uint8_t hex[32];
    pc_coreset_t cores;
    c->err[0] = '\0';
    (void)pc_conf_u64(c, sec, key, 1, 1000, &v);
    (void)pc_conf_size(c, sec, key, 0, UINT64_MAX, &v);
    (void)pc_conf_duration(c, sec, key, 1000, 1000000000, &v);
    (void)pc_conf_bool(c, sec, key, &b);
    (void)pc_conf_choice(c, sec, key, names, 3, &ch);
    (void)pc_conf_hex(c, sec, key, hex, sizeof hex);
    (void)pc_conf_cores(c, sec, key, &cores);
    uint8_t mac[6], ip[4];
    (void)pc_parse_mac(c->entries[i].value, mac);
    (void)pc_parse_ipv4(c->entries[i].value, ip);
    (void)pc_conf_suggest(key, names, 3);
  }
  static const char *const known[] = {"id", "n", "f", "window"};
  for (unsigned s = 0; s < c->n_sections; s++) (void)pc_conf_check_unknown(c, (int)s, known, 4);
  return 0;
}
