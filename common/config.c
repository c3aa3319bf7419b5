/* config.c — core sets, value parsers and the config-file parser (syntax
 * in config.h). The parser never allocates beyond its fixed-capacity
 * pc_conf_t and the file buffer (≤ PC_CONF_FILE_MAX). */
#include "common/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ core sets */

void pc_coreset_clear(pc_coreset_t *s) { memset(s, 0, sizeof *s); }

void pc_coreset_add(pc_coreset_t *s, unsigned core) {
  if (core < PC_MAX_CORES) s->bits[core / 64] |= 1ull << (core % 64);
}

bool pc_coreset_has(const pc_coreset_t *s, unsigned core) {
  return core < PC_MAX_CORES && (s->bits[core / 64] >> (core % 64)) & 1;
}

unsigned pc_coreset_count(const pc_coreset_t *s) {
  unsigned k = 0;
  for (unsigned i = 0; i < PC_ARRAY_LEN(s->bits); i++) k += (unsigned)__builtin_popcountll(s->bits[i]);
  return k;
}

bool pc_coreset_empty(const pc_coreset_t *s) { return pc_coreset_count(s) == 0; }

int pc_coreset_next(const pc_coreset_t *s, unsigned from) {
  for (unsigned c = from; c < PC_MAX_CORES; c++) {
    uint64_t word = s->bits[c / 64] >> (c % 64);
    if (word) return (int)(c + (unsigned)__builtin_ctzll(word));
    c |= 63; /* skip to the end of this word */
  }
  return -1;
}

int pc_coreset_first_common(const pc_coreset_t *a, const pc_coreset_t *b) {
  for (unsigned i = 0; i < PC_ARRAY_LEN(a->bits); i++) {
    uint64_t w = a->bits[i] & b->bits[i];
    if (w) return (int)(i * 64 + (unsigned)__builtin_ctzll(w));
  }
  return -1;
}

int pc_coreset_format(const pc_coreset_t *s, char *out, size_t len) {
  size_t pos = 0;
  bool overflow = false;
  if (len) out[0] = '\0';
  int c = pc_coreset_next(s, 0);
  while (c >= 0) {
    int end = c;
    while (end + 1 < PC_MAX_CORES && pc_coreset_has(s, (unsigned)end + 1)) end++;
    char item[32];
    int n = end == c ? snprintf(item, sizeof item, "%s%d", pos ? "," : "", c)
                     : snprintf(item, sizeof item, "%s%d-%d", pos ? "," : "", c, end);
    if (!overflow && pos + (size_t)n < len) {
      memcpy(out + pos, item, (size_t)n + 1);
    } else {
      overflow = true;
    }
    pos += (size_t)n;
    c = end + 1 < PC_MAX_CORES ? pc_coreset_next(s, (unsigned)end + 1) : -1;
  }
  return overflow ? PC_ERR_OVERFLOW : (int)pos;
}

static bool is_space(char c) { return c == ' ' || c == '\t'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Reads a decimal number of at most 9 digits (cores, octets, ports). */
static bool read_small(const char **p, unsigned *out) {
  const char *s = *p;
  unsigned v = 0, digits = 0;
  while (is_digit(*s) && digits < 10) v = v * 10 + (unsigned)(*s++ - '0'), digits++;
  if (digits == 0 || digits == 10) return false;
  *p = s;
  *out = v;
  return true;
}

int pc_coreset_parse(const char *s, pc_coreset_t *out, const char **why) {
  static const char *dummy;
  if (!why) why = &dummy;
  pc_coreset_clear(out);
  const char *p = s;
  while (is_space(*p)) p++;
  if (!*p) return *why = "empty core list", PC_ERR_INVALID;
  for (;;) {
    unsigned lo, hi;
    while (is_space(*p)) p++;
    if (!read_small(&p, &lo)) return *why = "expected a core number", PC_ERR_INVALID;
    hi = lo;
    while (is_space(*p)) p++;
    if (*p == '-') {
      p++;
      while (is_space(*p)) p++;
      if (!read_small(&p, &hi)) return *why = "expected a core number after '-'", PC_ERR_INVALID;
      if (hi < lo) return *why = "range runs backwards (write low-high)", PC_ERR_INVALID;
    }
    if (hi >= PC_MAX_CORES) return *why = "core number above 1023", PC_ERR_RANGE;
    for (unsigned c = lo; c <= hi; c++) {
      if (pc_coreset_has(out, c)) return *why = "a core is listed twice", PC_ERR_INVALID;
      pc_coreset_add(out, c);
    }
    while (is_space(*p)) p++;
    if (*p == '\0') return 0;
    if (*p != ',') return *why = "expected ',' between cores", PC_ERR_INVALID;
    p++;
  }
}

/* ------------------------------------------------------ value parsers */

/* Parses the numeric prefix (decimal, or 0x hex) and leaves *end after it. */
static int parse_number(const char *s, uint64_t *out, const char **end) {
  uint64_t v = 0;
  const char *p = s;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    p += 2;
    const char *start = p;
    for (;; p++) {
      int d;
      if (is_digit(*p))
        d = *p - '0';
      else if (*p >= 'a' && *p <= 'f')
        d = *p - 'a' + 10;
      else if (*p >= 'A' && *p <= 'F')
        d = *p - 'A' + 10;
      else
        break;
      if (v >> 60) return PC_ERR_RANGE;
      v = v << 4 | (uint64_t)d;
    }
    if (p == start) return PC_ERR_INVALID;
  } else {
    if (!is_digit(*p)) return PC_ERR_INVALID;
    for (; is_digit(*p); p++) {
      uint64_t d = (uint64_t)(*p - '0');
      if (v > (UINT64_MAX - d) / 10) return PC_ERR_RANGE;
      v = v * 10 + d;
    }
  }
  *out = v;
  *end = p;
  return 0;
}

int pc_parse_u64(const char *s, uint64_t *out) {
  const char *end;
  uint64_t v;
  int e = parse_number(s, &v, &end);
  if (e) return e;
  if (*end) return PC_ERR_INVALID;
  *out = v;
  return 0;
}

int pc_parse_size(const char *s, uint64_t *bytes) {
  const char *end;
  uint64_t v;
  int e = parse_number(s, &v, &end);
  if (e) return e;
  unsigned shift = 0;
  switch (*end) {
    case 'K':
    case 'k': shift = 10; break;
    case 'M':
    case 'm': shift = 20; break;
    case 'G':
    case 'g': shift = 30; break;
    case 'T':
    case 't': shift = 40; break;
    case '\0': break;
    default: return PC_ERR_INVALID;
  }
  if (shift) {
    end++;
    if (!strcmp(end, "B") || !strcmp(end, "iB")) end += strlen(end);
  }
  if (*end) return PC_ERR_INVALID;
  if (shift && v > (UINT64_MAX >> shift)) return PC_ERR_RANGE;
  *bytes = v << shift;
  return 0;
}

int pc_parse_duration(const char *s, uint64_t *ns) {
  const char *end;
  uint64_t v;
  int e = parse_number(s, &v, &end);
  if (e) return e;
  uint64_t mult;
  if (!strcmp(end, "ns"))
    mult = 1;
  else if (!strcmp(end, "us"))
    mult = 1000;
  else if (!strcmp(end, "ms"))
    mult = 1000000;
  else if (!strcmp(end, "s"))
    mult = 1000000000;
  else if (*end == '\0' && v == 0)
    mult = 1;
  else
    return PC_ERR_INVALID;
  if (v > UINT64_MAX / mult) return PC_ERR_RANGE;
  *ns = v * mult;
  return 0;
}

int pc_parse_bool(const char *s, bool *out) {
  static const char *const yes[] = {"yes", "true", "on"}, *const no[] = {"no", "false", "off"};
  for (unsigned i = 0; i < 3; i++) {
    if (!strcmp(s, yes[i])) return *out = true, 0;
    if (!strcmp(s, no[i])) return *out = false, 0;
  }
  return PC_ERR_INVALID;
}

static int hex_val(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int pc_parse_mac(const char *s, uint8_t mac[6]) {
  uint8_t m[6];
  for (int i = 0; i < 6; i++) {
    int hi = hex_val(s[0]), lo = hi < 0 ? -1 : hex_val(s[1]);
    if (hi < 0 || lo < 0) return PC_ERR_INVALID;
    m[i] = (uint8_t)(hi << 4 | lo);
    s += 2;
    if (i < 5) {
      if (*s != ':') return PC_ERR_INVALID;
      s++;
    }
  }
  if (*s) return PC_ERR_INVALID;
  memcpy(mac, m, 6);
  return 0;
}

int pc_parse_ipv4(const char *s, uint8_t ip[4]) {
  uint8_t a[4];
  const char *p = s;
  for (int i = 0; i < 4; i++) {
    unsigned v;
    const char *start = p;
    if (!read_small(&p, &v)) return PC_ERR_INVALID;
    if (p - start > 1 && *start == '0') return PC_ERR_INVALID; /* no octal-looking leading zeros */
    if (v > 255) return PC_ERR_RANGE;
    a[i] = (uint8_t)v;
    if (i < 3) {
      if (*p != '.') return PC_ERR_INVALID;
      p++;
    }
  }
  if (*p) return PC_ERR_INVALID;
  memcpy(ip, a, 4);
  return 0;
}

/* snprintf's result as our return value (out is already written). */
static int format_checked(char *out, size_t len, int n) {
  (void)out;
  if (n < 0 || (size_t)n >= len) return PC_ERR_OVERFLOW;
  return n;
}

int pc_format_size(uint64_t bytes, char *out, size_t len) {
  static const char units[] = "TGMK";
  for (int i = 0; i < 4; i++) {
    unsigned shift = (unsigned)(40 - 10 * i);
    if (bytes && bytes % (1ull << shift) == 0)
      return format_checked(out, len,
                            snprintf(out, len, "%llu%c", (unsigned long long)(bytes >> shift), units[i]));
  }
  return format_checked(out, len, snprintf(out, len, "%llu", (unsigned long long)bytes));
}

int pc_format_duration(uint64_t ns, char *out, size_t len) {
  static const struct {
    uint64_t mult;
    const char *unit;
  } units[] = {{1000000000ull, "s"}, {1000000ull, "ms"}, {1000ull, "us"}};
  if (ns == 0) return format_checked(out, len, snprintf(out, len, "0"));
  for (unsigned i = 0; i < PC_ARRAY_LEN(units); i++)
    if (ns % units[i].mult == 0)
      return format_checked(
          out, len, snprintf(out, len, "%llu%s", (unsigned long long)(ns / units[i].mult), units[i].unit));
  return format_checked(out, len, snprintf(out, len, "%lluns", (unsigned long long)ns));
}

/* ------------------------------------------------------------- parser */

/* One spare parser per thread: a pc_conf_t is ~400 KiB, which malloc (and
 * ASan's allocator even more) maps and unmaps on every call; tools and the
 * fuzz targets load many files in a row. The spare is never shared between
 * threads, so no locking. */
static _Thread_local pc_conf_t *conf_spare;

static void conf_reset(pc_conf_t *c, const char *name);

pc_conf_t *pc_conf_new(void) {
  pc_conf_t *c = conf_spare;
  conf_spare = NULL;
  if (!c) c = malloc(sizeof *c);
  if (!c) {
    PC_ERROR("config: out of memory for the parser (%zu bytes)", sizeof *c);
    return NULL;
  }
  conf_reset(c, NULL);
  return c;
}

void pc_conf_free(pc_conf_t *c) {
  if (!c) return;
  if (!conf_spare) {
    conf_spare = c;
    return;
  }
  free(c);
}

int pc_conf_fail(pc_conf_t *c, pc_decoder_t dec, uint32_t line, const char *fmt, ...) {
  pc_reject_note(dec, PC_ERR_CONFIG);
  if (c->err[0]) return PC_ERR_CONFIG; /* keep the first error */
  int n = line ? snprintf(c->err, sizeof c->err, "%s:%u: ", c->file, line)
               : snprintf(c->err, sizeof c->err, "%s: ", c->file);
  if (n < 0 || (size_t)n >= sizeof c->err) return PC_ERR_CONFIG;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
  va_end(ap);
  return PC_ERR_CONFIG;
}

static bool is_key_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '_' || ch == '-' || ch == '.';
}
static bool is_arg_char(char ch) { return is_key_char(ch) || (ch >= 'A' && ch <= 'Z'); }
static bool is_name_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '_' || ch == '-';
}

static void set_name(const char *file, char *dst) {
  size_t n = strlen(file);
  if (n >= PC_CONF_FILE_NAME_MAX) { /* keep the tail: it names the file */
    file += n - (PC_CONF_FILE_NAME_MAX - 4);
    snprintf(dst, PC_CONF_FILE_NAME_MAX, "...%s", file);
  } else {
    memcpy(dst, file, n + 1);
  }
}

static void conf_reset(pc_conf_t *c, const char *name) {
  memset(c->sections, 0, sizeof c->sections[0]); /* the global section */
  c->n_sections = 1;
  c->n_entries = 0;
  c->err[0] = '\0';
  set_name(name ? name : "(config)", c->file);
}

/* "[name arg]" or "the global section", for messages. */
static const char *where(const pc_conf_t *c, int sec, char *buf, size_t len) {
  const pc_conf_section_t *s = &c->sections[sec];
  if (sec == 0) return "the global section";
  snprintf(buf, len, "[%s%s%s]", s->name, s->has_arg ? " " : "", s->arg);
  return buf;
}

/* Parses a section header; s points after '[' and line is the trimmed text. */
static int parse_header(pc_conf_t *c, uint32_t ln, char *s) {
  char *close = strchr(s, ']');
  if (!close)
    return pc_conf_fail(c, PC_DEC_CONFIG, ln, "section header without ']': write [name] or [name arg]");
  if (close[1] != '\0')
    return pc_conf_fail(c, PC_DEC_CONFIG, ln, "text after ']' in a section header: put it on its own line");
  *close = '\0';
  while (is_space(*s)) s++;
  char *name = s;
  while (is_name_char(*s)) s++;
  size_t name_len = (size_t)(s - name);
  while (is_space(*s)) *s++ = '\0';
  char *arg = s;
  while (is_arg_char(*s)) s++;
  size_t arg_len = (size_t)(s - arg);
  while (is_space(*s)) s++;
  if (name_len == 0 || *s != '\0')
    return pc_conf_fail(
        c, PC_DEC_CONFIG, ln,
        "bad section header: write [name] or [name arg], name of a-z 0-9 _ -, arg of letters, "
        "digits, _ . -");
  if (name_len >= PC_CONF_NAME_MAX || arg_len >= PC_CONF_NAME_MAX)
    return pc_conf_fail(c, PC_DEC_CONFIG, ln, "section name or argument longer than %d characters",
                        PC_CONF_NAME_MAX - 1);
  name[name_len] = '\0';
  arg[arg_len] = '\0';
  int dup = pc_conf_find(c, name, arg_len ? arg : NULL);
  if (dup > 0)
    return pc_conf_fail(c, PC_DEC_CONFIG, ln, "section [%s%s%s] appears twice (first at line %u): merge them",
                        name, arg_len ? " " : "", arg, c->sections[dup].line);
  if (c->n_sections >= PC_CONF_SECTIONS_MAX)
    return pc_conf_fail(c, PC_DEC_CONFIG, ln, "too many sections (at most %d)", PC_CONF_SECTIONS_MAX);
  pc_conf_section_t *sec = &c->sections[c->n_sections++];
  memset(sec, 0, sizeof *sec);
  memcpy(sec->name, name, name_len + 1);
  memcpy(sec->arg, arg, arg_len + 1);
  sec->has_arg = arg_len > 0;
  sec->line = ln;
  sec->first = c->n_entries;
  return 0;
}

static void rtrim(char *s) {
  size_t n = strlen(s);
  while (n && is_space(s[n - 1])) s[--n] = '\0';
}

static int parse_line(pc_conf_t *c, uint32_t ln, char *s) {
  /* Strip the comment, then surrounding blanks. */
  char *hash = strchr(s, '#');
  if (hash) *hash = '\0';
  while (is_space(*s)) s++;
  rtrim(s);
  if (*s == '\0') return 0;
  if (*s == '[') return parse_header(c, ln, s + 1);
  char *key = s;
  while (is_key_char(*s)) s++;
  size_t key_len = (size_t)(s - key);
  while (is_space(*s)) s++;
  if (key_len == 0 || *s != '=') {
    if (key_len > 0 && *s == '\0')
      return pc_conf_fail(c, PC_DEC_CONFIG, ln, "'%.*s' has no value: write '%.*s = value'",
                          (int)PC_MIN(key_len, 64), key, (int)PC_MIN(key_len, 64), key);
    return pc_conf_fail(c, PC_DEC_CONFIG, ln,
                        "expected 'key = value' or '[section]' (keys use a-z 0-9 _ . -, lower case)");
  }
  key[key_len] = '\0';
  s++;
  while (is_space(*s)) s++;
  char *value = s;
  size_t value_len = strlen(value);
  if (value_len == 0)
    return pc_conf_fail(c, PC_DEC_CONFIG, ln, "'%s' has no value: write '%s = value'", key, key);
  if (key_len >= PC_CONF_NAME_MAX)
    return pc_conf_fail(c, PC_DEC_CONFIG, ln, "key longer than %d characters", PC_CONF_NAME_MAX - 1);
  if (value_len >= PC_CONF_VALUE_MAX)
    return pc_conf_fail(c, PC_DEC_CONFIG, ln, "value of '%s' longer than %d characters", key,
                        PC_CONF_VALUE_MAX - 1);
  unsigned cur = c->n_sections - 1;
  pc_conf_section_t *sec = &c->sections[cur];
  for (uint32_t i = sec->first; i < sec->first + sec->count; i++)
    if (!strcmp(c->entries[i].key, key)) {
      char w[80];
      return pc_conf_fail(c, PC_DEC_CONFIG, ln, "'%s' is set twice in %s (first at line %u): keep one", key,
                          where(c, (int)cur, w, sizeof w), c->entries[i].line);
    }
  if (c->n_entries >= PC_CONF_ENTRIES_MAX)
    return pc_conf_fail(c, PC_DEC_CONFIG, ln, "too many keys (at most %d in one file)", PC_CONF_ENTRIES_MAX);
  pc_conf_entry_t *e = &c->entries[c->n_entries++];
  memcpy(e->key, key, key_len + 1);
  memcpy(e->value, value, value_len + 1);
  e->line = ln;
  e->section = (uint16_t)cur;
  e->used = false;
  sec->count++;
  return 0;
}

int pc_conf_parse_buf(pc_conf_t *c, const char *name, const char *buf, size_t len) {
  conf_reset(c, name);
  if (len > PC_CONF_FILE_MAX)
    return pc_conf_fail(c, PC_DEC_CONFIG, 0, "file larger than %u bytes", PC_CONF_FILE_MAX);
  char line[PC_CONF_LINE_MAX + 2];
  size_t pos = 0;
  uint32_t ln = 0;
  while (pos < len) {
    ln++;
    const char *start = buf + pos;
    const char *nl = memchr(start, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - start) : len - pos;
    pos += n + (nl ? 1 : 0);
    if (n && start[n - 1] == '\r') n--;
    if (n > PC_CONF_LINE_MAX)
      return pc_conf_fail(c, PC_DEC_CONFIG, ln, "line longer than %d characters", PC_CONF_LINE_MAX);
    for (size_t i = 0; i < n; i++) {
      unsigned char ch = (unsigned char)start[i];
      if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
        return pc_conf_fail(c, PC_DEC_CONFIG, ln, "control character 0x%02x at column %zu: remove it", ch,
                            i + 1);
    }
    memcpy(line, start, n);
    line[n] = '\0';
    int e = parse_line(c, ln, line);
    if (e) return e;
  }
  return 0;
}

int pc_conf_parse_file(pc_conf_t *c, const char *path) {
  conf_reset(c, path);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(c->err, sizeof c->err, "%s: cannot open: %s", c->file, strerror(errno));
    pc_reject_note(PC_DEC_CONFIG, PC_ERR_IO);
    return PC_ERR_IO;
  }
  char *buf = malloc(PC_CONF_FILE_MAX + 1);
  if (!buf) {
    fclose(f);
    snprintf(c->err, sizeof c->err, "%s: out of memory", c->file);
    return PC_ERR_NOMEM;
  }
  errno = 0;
  size_t n = fread(buf, 1, PC_CONF_FILE_MAX + 1, f);
  int rd_err = ferror(f) ? (errno ? errno : EIO) : 0;
  fclose(f);
  int rc;
  if (rd_err) {
    snprintf(c->err, sizeof c->err, "%s: cannot read: %s", c->file, strerror(rd_err));
    pc_reject_note(PC_DEC_CONFIG, PC_ERR_IO);
    rc = PC_ERR_IO;
  } else {
    rc = pc_conf_parse_buf(c, path, buf, n); /* n > max is refused there */
  }
  free(buf);
  return rc;
}

int pc_conf_find(const pc_conf_t *c, const char *name, const char *arg) {
  for (unsigned i = 0; i < c->n_sections; i++) {
    const pc_conf_section_t *s = &c->sections[i];
    if (strcmp(s->name, name)) continue;
    if (arg ? (s->has_arg && !strcmp(s->arg, arg)) : !s->has_arg) return (int)i;
  }
  return -1;
}

pc_conf_entry_t *pc_conf_entry(pc_conf_t *c, int sec, const char *key) {
  if (sec < 0 || (unsigned)sec >= c->n_sections) return NULL;
  const pc_conf_section_t *s = &c->sections[sec];
  for (uint32_t i = s->first; i < s->first + s->count; i++) {
    if (!strcmp(c->entries[i].key, key)) {
      c->entries[i].used = true;
      return &c->entries[i];
    }
  }
  return NULL;
}

/* Reports a value outside [min, max], formatted by fmt_fn. */
static int range_fail(pc_conf_t *c, const pc_conf_entry_t *e, uint64_t min, uint64_t max,
                      int (*fmt_fn)(uint64_t, char *, size_t)) {
  char lo[32], hi[32];
  fmt_fn(min, lo, sizeof lo);
  fmt_fn(max, hi, sizeof hi);
  return pc_conf_fail(c, PC_DEC_CONFIG, e->line, "%s = %s is out of range: use %s..%s", e->key, e->value, lo,
                      hi);
}

static int fmt_plain(uint64_t v, char *out, size_t len) {
  return format_checked(out, len, snprintf(out, len, "%llu", (unsigned long long)v));
}

int pc_conf_u64(pc_conf_t *c, int sec, const char *key, uint64_t min, uint64_t max, uint64_t *out) {
  pc_conf_entry_t *e = pc_conf_entry(c, sec, key);
  if (!e) return 0;
  uint64_t v;
  int err = pc_parse_u64(e->value, &v);
  if (err == PC_ERR_RANGE || (!err && (v < min || v > max))) return range_fail(c, e, min, max, fmt_plain);
  if (err)
    return pc_conf_fail(c, PC_DEC_CONFIG, e->line,
                        "%s = %s is not an integer: write decimal digits or 0x hex", key, e->value);
  *out = v;
  return 1;
}

int pc_conf_size(pc_conf_t *c, int sec, const char *key, uint64_t min, uint64_t max, uint64_t *out) {
  pc_conf_entry_t *e = pc_conf_entry(c, sec, key);
  if (!e) return 0;
  uint64_t v;
  int err = pc_parse_size(e->value, &v);
  if (err == PC_ERR_RANGE || (!err && (v < min || v > max)))
    return range_fail(c, e, min, max, pc_format_size);
  if (err)
    return pc_conf_fail(
        c, PC_DEC_CONFIG, e->line,
        "%s = %s is not a size: write a number with an optional unit K, M, G or T (e.g. 64K, 16M)", key,
        e->value);
  *out = v;
  return 1;
}

int pc_conf_duration(pc_conf_t *c, int sec, const char *key, uint64_t min_ns, uint64_t max_ns, uint64_t *ns) {
  pc_conf_entry_t *e = pc_conf_entry(c, sec, key);
  if (!e) return 0;
  uint64_t v;
  int err = pc_parse_duration(e->value, &v);
  if (err == PC_ERR_RANGE || (!err && (v < min_ns || v > max_ns)))
    return range_fail(c, e, min_ns, max_ns, pc_format_duration);
  if (err)
    return pc_conf_fail(
        c, PC_DEC_CONFIG, e->line,
        "%s = %s is not a duration: write a number with a unit ns, us, ms or s (e.g. 200us, 5ms)", key,
        e->value);
  *ns = v;
  return 1;
}

int pc_conf_bool(pc_conf_t *c, int sec, const char *key, bool *out) {
  pc_conf_entry_t *e = pc_conf_entry(c, sec, key);
  if (!e) return 0;
  if (pc_parse_bool(e->value, out))
    return pc_conf_fail(c, PC_DEC_CONFIG, e->line, "%s = %s is not a boolean: write yes or no", key,
                        e->value);
  return 1;
}

int pc_conf_choice(pc_conf_t *c, int sec, const char *key, const char *const *names, unsigned n,
                   unsigned *out) {
  pc_conf_entry_t *e = pc_conf_entry(c, sec, key);
  if (!e) return 0;
  for (unsigned i = 0; i < n; i++)
    if (!strcmp(e->value, names[i])) return *out = i, 1;
  char list[160];
  size_t pos = 0;
  list[0] = '\0';
  for (unsigned i = 0; i < n && pos < sizeof list; i++) {
    int w = snprintf(list + pos, sizeof list - pos, "%s%s", i ? (i + 1 == n ? " or " : ", ") : "", names[i]);
    if (w < 0) break;
    pos += (size_t)w;
  }
  return pc_conf_fail(c, PC_DEC_CONFIG, e->line, "%s = %s is not allowed: write %s", key, e->value, list);
}

int pc_conf_hex(pc_conf_t *c, int sec, const char *key, void *out, size_t n) {
  pc_conf_entry_t *e = pc_conf_entry(c, sec, key);
  if (!e) return 0;
  if (pc_hex_decode(out, n, e->value, strlen(e->value)))
    return pc_conf_fail(c, PC_DEC_CONFIG, e->line,
                        "%s must be exactly %zu hex digits (%zu bytes), got '%.20s%s'", key, 2 * n, n,
                        e->value, strlen(e->value) > 20 ? "..." : "");
  return 1;
}

int pc_conf_cores(pc_conf_t *c, int sec, const char *key, pc_coreset_t *out) {
  pc_conf_entry_t *e = pc_conf_entry(c, sec, key);
  if (!e) return 0;
  const char *why;
  if (pc_coreset_parse(e->value, out, &why))
    return pc_conf_fail(c, PC_DEC_CONFIG, e->line, "%s = %s: %s: write a core list such as 2,4-7", key,
                        e->value, why);
  return 1;
}

/* Levenshtein distance, capped: words are ≤ PC_CONF_NAME_MAX. */
static unsigned edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la >= PC_CONF_NAME_MAX || lb >= PC_CONF_NAME_MAX) return 99;
  unsigned row[PC_CONF_NAME_MAX + 1];
  for (size_t j = 0; j <= lb; j++) row[j] = (unsigned)j;
  for (size_t i = 1; i <= la; i++) {
    unsigned diag = row[0];
    row[0] = (unsigned)i;
    for (size_t j = 1; j <= lb; j++) {
      unsigned up = row[j];
      unsigned best = diag + (a[i - 1] != b[j - 1]);
      best = PC_MIN(best, up + 1);
      best = PC_MIN(best, row[j - 1] + 1);
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

const char *pc_conf_suggest(const char *word, const char *const *known, unsigned n) {
  const char *best = NULL;
  unsigned best_d = 99;
  for (unsigned i = 0; i < n; i++) {
    unsigned d = edit_distance(word, known[i]);
    if (d < best_d) best_d = d, best = known[i];
  }
  size_t len = strlen(word);
  unsigned limit = (unsigned)PC_MAX(2, len / 3);
  return best && best_d <= limit && best_d < len ? best : NULL;
}

int pc_conf_check_unknown(pc_conf_t *c, int sec, const char *const *known, unsigned n) {
  if (sec < 0 || (unsigned)sec >= c->n_sections) return 0;
  const pc_conf_section_t *s = &c->sections[sec];
  for (uint32_t i = s->first; i < s->first + s->count; i++) {
    const pc_conf_entry_t *e = &c->entries[i];
    bool ok = false;
    for (unsigned k = 0; k < n && !ok; k++) ok = !strcmp(e->key, known[k]);
    if (ok) continue;
    char w[80];
    const char *hint = pc_conf_suggest(e->key, known, n);
    if (hint)
      return pc_conf_fail(c, PC_DEC_CONFIG, e->line, "unknown key '%s' in %s (did you mean '%s'?)", e->key,
                          where(c, sec, w, sizeof w), hint);
    return pc_conf_fail(c, PC_DEC_CONFIG, e->line, "unknown key '%s' in %s (remove it; see docs/config.md)",
                        e->key, where(c, sec, w, sizeof w));
  }
  return 0;
}
