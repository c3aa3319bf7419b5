/* test_config.c — value parsers, core lists and the config-file parser. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "tests/testutil.h"

static pc_conf_t *conf;

static void setup(void) { conf = pc_conf_new(); }
static void teardown(void) { pc_conf_free(conf); }

static int parse(const char *text) { return pc_conf_parse_buf(conf, "t.conf", text, strlen(text)); }

#define ASSERT_ERR(text, needle)                                                      \
  do {                                                                                \
    cr_assert_eq(parse(text), PC_ERR_CONFIG);                                         \
    cr_assert(strstr(conf->err, needle), "error '%s' lacks '%s'", conf->err, needle); \
  } while (0)

/* ------------------------------------------------------------ values */

Test(config_values, sizes) {
  uint64_t v;
  struct {
    const char *s;
    uint64_t want;
  } ok[] = {{"0", 0},
            {"100", 100},
            {"64K", 65536},
            {"64k", 65536},
            {"64KiB", 65536},
            {"64KB", 65536},
            {"16M", 16u << 20},
            {"1G", 1ull << 30},
            {"2T", 2ull << 40},
            {"0x10K", 16 * 1024},
            {"16777215T", 16777215ull << 40}};
  for (unsigned i = 0; i < PC_ARRAY_LEN(ok); i++) {
    cr_assert_eq(pc_parse_size(ok[i].s, &v), 0, "%s", ok[i].s);
    cr_assert_eq(v, ok[i].want, "%s", ok[i].s);
  }
}

Test(config_values, bad_sizes) {
  uint64_t v = 7;
  const char *bad[] = {"", "K", "12X", "1KK", "-1", "1 K", "1Kb", "0x", "1.5M", " 1"};
  for (unsigned i = 0; i < PC_ARRAY_LEN(bad); i++)
    cr_assert_eq(pc_parse_size(bad[i], &v), PC_ERR_INVALID, "%s", bad[i]);
  cr_assert_eq(pc_parse_size("16777216T", &v), PC_ERR_RANGE);
  cr_assert_eq(pc_parse_size("18446744073709551616", &v), PC_ERR_RANGE);
  cr_assert_eq(v, 7, "failed parses leave the output alone");
}

Test(config_values, durations_are_nanoseconds) {
  uint64_t v;
  cr_assert_eq(pc_parse_duration("200us", &v), 0);
  cr_assert_eq(v, 200000);
  cr_assert_eq(pc_parse_duration("5ms", &v), 0);
  cr_assert_eq(v, 5000000);
  cr_assert_eq(pc_parse_duration("2s", &v), 0);
  cr_assert_eq(v, 2000000000);
  cr_assert_eq(pc_parse_duration("7ns", &v), 0);
  cr_assert_eq(v, 7);
  cr_assert_eq(pc_parse_duration("0", &v), 0);
  cr_assert_eq(v, 0);
}

Test(config_values, bad_durations) {
  uint64_t v;
  const char *bad[] = {"5", "5 ms", "5min", "ms", "5MS", "", "1.5s", "5sec"};
  for (unsigned i = 0; i < PC_ARRAY_LEN(bad); i++)
    cr_assert_eq(pc_parse_duration(bad[i], &v), PC_ERR_INVALID, "%s", bad[i]);
  cr_assert_eq(pc_parse_duration("18446744074s", &v), PC_ERR_RANGE);
}

Test(config_values, format_round_trips) {
  uint64_t seed = pc_test_seed(0xc0ffee), st = seed, v;
  char buf[32];
  for (unsigned i = 0; i < pc_test_iters(20000); i++) {
    uint64_t x = pc_test_rand(&st) >> (pc_test_rand(&st) % 64);
    if (i % 3 == 0) x <<= 10 * (pc_test_rand(&st) % 4); /* exercise the units */
    cr_assert_gt(pc_format_size(x, buf, sizeof buf), 0);
    cr_assert_eq(pc_parse_size(buf, &v), 0, "seed %llu: %s", (unsigned long long)seed, buf);
    cr_assert_eq(v, x, "seed %llu: %s", (unsigned long long)seed, buf);
    cr_assert_gt(pc_format_duration(x, buf, sizeof buf), 0);
    cr_assert_eq(pc_parse_duration(buf, &v), 0, "seed %llu: %s", (unsigned long long)seed, buf);
    cr_assert_eq(v, x, "seed %llu: %s", (unsigned long long)seed, buf);
  }
  cr_assert_eq(pc_format_size(64 << 10, buf, sizeof buf), 3);
  cr_assert_str_eq(buf, "64K");
  cr_assert_eq(pc_format_duration(5000000, buf, 4), 3);
  cr_assert_str_eq(buf, "5ms");
  cr_assert_eq(pc_format_duration(5000000, buf, 3), PC_ERR_OVERFLOW);
}

Test(config_values, integers) {
  uint64_t v;
  cr_assert_eq(pc_parse_u64("18446744073709551615", &v), 0);
  cr_assert_eq(v, UINT64_MAX);
  cr_assert_eq(pc_parse_u64("0xFFFFFFFFFFFFFFFF", &v), 0);
  cr_assert_eq(v, UINT64_MAX);
  cr_assert_eq(pc_parse_u64("18446744073709551616", &v), PC_ERR_RANGE);
  cr_assert_eq(pc_parse_u64("0x10000000000000000", &v), PC_ERR_RANGE);
  const char *bad[] = {"", "0x", "1e3", "-1", "+1", "12a", "0xg"};
  for (unsigned i = 0; i < PC_ARRAY_LEN(bad); i++)
    cr_assert_eq(pc_parse_u64(bad[i], &v), PC_ERR_INVALID, "%s", bad[i]);
}

Test(config_values, booleans) {
  bool b;
  const char *yes[] = {"yes", "true", "on"}, *no[] = {"no", "false", "off"};
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(pc_parse_bool(yes[i], &b), 0);
    cr_assert(b);
    cr_assert_eq(pc_parse_bool(no[i], &b), 0);
    cr_assert_not(b);
  }
  cr_assert_eq(pc_parse_bool("1", &b), PC_ERR_INVALID);
  cr_assert_eq(pc_parse_bool("YES", &b), PC_ERR_INVALID);
  cr_assert_eq(pc_parse_bool("", &b), PC_ERR_INVALID);
}

Test(config_values, mac_addresses) {
  uint8_t m[6], want[6] = {0x02, 0, 0, 0xab, 0xCD, 0x0f};
  cr_assert_eq(pc_parse_mac("02:00:00:ab:CD:0f", m), 0);
  cr_assert_arr_eq(m, want, 6);
  const char *bad[] = {"02:00:00:ab:cd",    "02:00:00:ab:cd:0f:11", "02-00-00-ab-cd-0f",
                       "2:0:0:ab:cd:f",     "02:00:00:ab:cd:0g",    "",
                       "02:00:00:ab:cd:0f "};
  for (unsigned i = 0; i < PC_ARRAY_LEN(bad); i++)
    cr_assert_eq(pc_parse_mac(bad[i], m), PC_ERR_INVALID, "%s", bad[i]);
}

Test(config_values, ipv4_addresses) {
  uint8_t ip[4], want[4] = {10, 0, 255, 1};
  cr_assert_eq(pc_parse_ipv4("10.0.255.1", ip), 0);
  cr_assert_arr_eq(ip, want, 4);
  const char *bad[] = {"10.0.0",    "10.0.0.1.2", "10.0.0.01", "10..0.1",
                       "10.0.0.1.", "a.b.c.d",    "",          " 10.0.0.1"};
  for (unsigned i = 0; i < PC_ARRAY_LEN(bad); i++)
    cr_assert_eq(pc_parse_ipv4(bad[i], ip), PC_ERR_INVALID, "%s", bad[i]);
  cr_assert_eq(pc_parse_ipv4("10.0.0.256", ip), PC_ERR_RANGE);
}

/* ------------------------------------------------------------ core lists */

Test(config_cores, parse_and_format) {
  pc_coreset_t s;
  cr_assert_eq(pc_coreset_parse("2,4-7", &s, NULL), 0);
  cr_assert_eq(pc_coreset_count(&s), 5);
  cr_assert(pc_coreset_has(&s, 2) && pc_coreset_has(&s, 7) && !pc_coreset_has(&s, 3));
  char buf[64];
  cr_assert_eq(pc_coreset_format(&s, buf, sizeof buf), 5);
  cr_assert_str_eq(buf, "2,4-7");
  cr_assert_eq(pc_coreset_parse(" 1 , 3 - 4 ,1023", &s, NULL), 0);
  pc_coreset_format(&s, buf, sizeof buf);
  cr_assert_str_eq(buf, "1,3-4,1023");
  cr_assert_eq(pc_coreset_next(&s, 5), 1023);
  cr_assert_eq(pc_coreset_next(&s, 1024), -1);
}

Test(config_cores, rejects_bad_lists) {
  pc_coreset_t s;
  const char *why = NULL;
  struct {
    const char *s;
    int err;
    const char *why;
  } bad[] = {{"", PC_ERR_INVALID, "empty"},
             {"7-4", PC_ERR_INVALID, "backwards"},
             {"1,,2", PC_ERR_INVALID, "expected a core"},
             {"1,", PC_ERR_INVALID, "expected a core"},
             {"a", PC_ERR_INVALID, "expected a core"},
             {"1-", PC_ERR_INVALID, "after '-'"},
             {"1 2", PC_ERR_INVALID, "','"},
             {"1024", PC_ERR_RANGE, "above 1023"},
             {"0-5000", PC_ERR_RANGE, "above 1023"},
             {"99999999999", PC_ERR_INVALID, "expected a core"},
             {"3,3", PC_ERR_INVALID, "twice"},
             {"2-4,4", PC_ERR_INVALID, "twice"}};
  for (unsigned i = 0; i < PC_ARRAY_LEN(bad); i++) {
    cr_assert_eq(pc_coreset_parse(bad[i].s, &s, &why), bad[i].err, "'%s'", bad[i].s);
    cr_assert(strstr(why, bad[i].why), "'%s': reason '%s'", bad[i].s, why);
  }
}

Test(config_cores, format_overflow_is_reported) {
  pc_coreset_t s;
  pc_coreset_parse("0,2,4,6,8,10", &s, NULL);
  char buf[6];
  cr_assert_eq(pc_coreset_format(&s, buf, sizeof buf), PC_ERR_OVERFLOW);
  cr_assert_lt(strlen(buf), sizeof buf);
}

Test(config_cores, random_round_trip) {
  uint64_t seed = pc_test_seed(42), st = seed;
  char buf[8192];
  for (unsigned it = 0; it < pc_test_iters(2000); it++) {
    pc_coreset_t a, b;
    pc_coreset_clear(&a);
    unsigned k = (unsigned)(pc_test_rand(&st) % 200);
    for (unsigned i = 0; i < k; i++) pc_coreset_add(&a, (unsigned)(pc_test_rand(&st) % PC_MAX_CORES));
    int n = pc_coreset_format(&a, buf, sizeof buf);
    if (k == 0) continue; /* "" is not a valid list */
    cr_assert_gt(n, 0);
    cr_assert_eq(pc_coreset_parse(buf, &b, NULL), 0, "seed %llu: '%s'", (unsigned long long)seed, buf);
    cr_assert_arr_eq(a.bits, b.bits, sizeof a.bits, "seed %llu", (unsigned long long)seed);
  }
}

/* ---------------------------------------------------------------- parser */

TestSuite(config_parser, .init = setup, .fini = teardown);

Test(config_parser, sections_keys_comments) {
  const char *text =
      "# leading comment\r\n"
      "top = 1\n"
      "\n"
      "[chain]   # trailing comment\n"
      "  id = 0x10   # the id\n"
      "\tn=4\n"
      "[replica 3]\n"
      "key = abc def\n";
  cr_assert_eq(parse(text), 0, "%s", conf->err);
  cr_assert_eq(conf->n_sections, 3);
  cr_assert_eq(pc_conf_find(conf, "", NULL), 0);
  int chain = pc_conf_find(conf, "chain", NULL), rep = pc_conf_find(conf, "replica", "3");
  cr_assert_eq(chain, 1);
  cr_assert_eq(rep, 2);
  cr_assert_eq(pc_conf_find(conf, "replica", NULL), -1);
  cr_assert_eq(pc_conf_find(conf, "chain", "3"), -1);
  cr_assert_eq(conf->sections[chain].line, 4);
  pc_conf_entry_t *e = pc_conf_entry(conf, chain, "id");
  cr_assert_not_null(e);
  cr_assert_str_eq(e->value, "0x10");
  cr_assert_eq(e->line, 5);
  cr_assert_str_eq(pc_conf_entry(conf, chain, "n")->value, "4");
  cr_assert_str_eq(pc_conf_entry(conf, rep, "key")->value, "abc def");
  cr_assert_str_eq(pc_conf_entry(conf, 0, "top")->value, "1");
  cr_assert_null(pc_conf_entry(conf, chain, "top"));
  cr_assert_null(pc_conf_entry(conf, 7, "top"));
}

Test(config_parser, empty_input_is_valid) {
  cr_assert_eq(pc_conf_parse_buf(conf, "e.conf", "", 0), 0);
  cr_assert_eq(conf->n_sections, 1);
  cr_assert_eq(conf->n_entries, 0);
  cr_assert_eq(parse("\n\n# only a comment\n   \n"), 0);
}

Test(config_parser, last_line_without_newline) {
  cr_assert_eq(parse("[a]\nk = v"), 0);
  cr_assert_str_eq(pc_conf_entry(conf, 1, "k")->value, "v");
}

Test(config_parser, error_names_file_and_line) {
  ASSERT_ERR("[a]\nk = v\n\n[b\n", "t.conf:4: ");
  cr_assert(strstr(conf->err, "without ']'"), "%s", conf->err);
}

Test(config_parser, header_errors) {
  ASSERT_ERR("[a] x\n", "t.conf:1: text after ']'");
  ASSERT_ERR("[]\n", "t.conf:1: bad section header");
  ASSERT_ERR("[A]\n", "bad section header");
  ASSERT_ERR("[a b c]\n", "bad section header");
  ASSERT_ERR("[a b!]\n", "bad section header");
  ASSERT_ERR("[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n", "longer than 31");
}

Test(config_parser, key_errors) {
  ASSERT_ERR("just words\n", "t.conf:1: expected 'key = value'");
  ASSERT_ERR("Key = 1\n", "expected 'key = value'");
  ASSERT_ERR("= 1\n", "expected 'key = value'");
  ASSERT_ERR("window\n", "t.conf:1: 'window' has no value: write 'window = value'");
  ASSERT_ERR("window =   # nothing\n", "'window' has no value");
  ASSERT_ERR("kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk = 1\n", "key longer than 31");
}

Test(config_parser, value_too_long) {
  char text[400];
  snprintf(text, sizeof text, "k = %0200d\n", 0);
  ASSERT_ERR(text, "value of 'k' longer than 159");
}

Test(config_parser, line_too_long) {
  char text[700];
  memset(text, 'x', sizeof text);
  memcpy(text, "[a]\nk = ", 8);
  text[sizeof text - 1] = '\0';
  ASSERT_ERR(text, "t.conf:2: line longer than 512");
}

Test(config_parser, control_characters) {
  ASSERT_ERR(
      "k = a\x01"
      "b\n",
      "t.conf:1: control character 0x01 at column 6");
  const char nul[] = "k = a\0b\n";
  cr_assert_eq(pc_conf_parse_buf(conf, "t.conf", nul, sizeof nul - 1), PC_ERR_CONFIG);
  cr_assert(strstr(conf->err, "control character 0x00"), "%s", conf->err);
}

Test(config_parser, duplicate_key) {
  ASSERT_ERR("[c]\nwindow = 1\nn = 2\nwindow = 3\n",
             "t.conf:4: 'window' is set twice in [c] (first at line 2)");
  ASSERT_ERR("a = 1\na = 2\n", "in the global section");
}

Test(config_parser, same_key_in_two_sections_is_fine) {
  cr_assert_eq(parse("[replica 0]\nport = 1\n[replica 1]\nport = 1\n"), 0);
}

Test(config_parser, duplicate_section) {
  ASSERT_ERR("[a]\n[b]\n[a]\n", "t.conf:3: section [a] appears twice (first at line 1)");
  ASSERT_ERR("[replica 1]\n[replica 1]\n", "section [replica 1] appears twice");
}

Test(config_parser, too_many_sections) {
  size_t cap = 16 * (PC_CONF_SECTIONS_MAX + 1);
  char *text = malloc(cap), *p = text;
  for (int i = 0; i < PC_CONF_SECTIONS_MAX; i++) p += sprintf(p, "[s %d]\n", i);
  cr_assert_eq(pc_conf_parse_buf(conf, "t.conf", text, (size_t)(p - text)), PC_ERR_CONFIG);
  cr_assert(strstr(conf->err, "too many sections"), "%s", conf->err);
  /* One fewer (the global section counts) is fine. */
  p = text;
  for (int i = 0; i < PC_CONF_SECTIONS_MAX - 1; i++) p += sprintf(p, "[s %d]\n", i);
  cr_assert_eq(pc_conf_parse_buf(conf, "t.conf", text, (size_t)(p - text)), 0, "%s", conf->err);
  free(text);
}

Test(config_parser, too_many_keys) {
  size_t cap = 16 * (PC_CONF_ENTRIES_MAX + 1);
  char *text = malloc(cap), *p = text;
  for (int i = 0; i <= PC_CONF_ENTRIES_MAX; i++) p += sprintf(p, "k%d = 1\n", i);
  cr_assert_eq(pc_conf_parse_buf(conf, "t.conf", text, (size_t)(p - text)), PC_ERR_CONFIG);
  cr_assert(strstr(conf->err, "too many keys"), "%s", conf->err);
  cr_assert(strstr(conf->err, ":2049:"), "%s", conf->err);
  free(text);
}

Test(config_parser, file_too_large) {
  size_t n = PC_CONF_FILE_MAX + 1;
  char *text = malloc(n);
  memset(text, '\n', n);
  cr_assert_eq(pc_conf_parse_buf(conf, "big.conf", text, n), PC_ERR_CONFIG);
  cr_assert(strstr(conf->err, "big.conf: file larger than"), "%s", conf->err);
  free(text);
}

Test(config_parser, errors_are_counted) {
  uint64_t before = pc_reject_count(PC_DEC_CONFIG, PC_ERR_CONFIG);
  cr_assert_eq(parse("[x\n"), PC_ERR_CONFIG);
  cr_assert_eq(pc_reject_count(PC_DEC_CONFIG, PC_ERR_CONFIG), before + 1);
}

Test(config_parser, reparse_resets_state) {
  cr_assert_eq(parse("[x\n"), PC_ERR_CONFIG);
  cr_assert_eq(parse("[a]\nk = 1\n"), 0);
  cr_assert_str_eq(conf->err, "");
  cr_assert_eq(conf->n_sections, 2);
}

Test(config_parser, file_round_trip) {
  char path[] = "/tmp/pc_test_conf_XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  const char text[] = "[a]\nk = 5\n[b]\nk = x y\n";
  cr_assert_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
  close(fd);
  cr_assert_eq(pc_conf_parse_file(conf, path), 0, "%s", conf->err);
  cr_assert_str_eq(pc_conf_entry(conf, 2, "k")->value, "x y");
  cr_assert_str_eq(conf->file, path);
  unlink(path);
}

Test(config_parser, missing_file) {
  cr_assert_eq(pc_conf_parse_file(conf, "/nonexistent/x.conf"), PC_ERR_IO);
  cr_assert(strstr(conf->err, "/nonexistent/x.conf: cannot open"), "%s", conf->err);
}

Test(config_parser, directory_is_a_read_error) {
  cr_assert_eq(pc_conf_parse_file(conf, "/tmp"), PC_ERR_IO);
  cr_assert(strstr(conf->err, "/tmp: cannot read: Is a directory"), "%s", conf->err);
}

Test(config_parser, long_file_name_keeps_its_tail) {
  char name[300];
  memset(name, 'd', sizeof name);
  strcpy(name + 280, "/cluster.conf");
  cr_assert_eq(pc_conf_parse_buf(conf, name, "[x", 2), PC_ERR_CONFIG);
  cr_assert(strstr(conf->err, "...") == conf->err, "%s", conf->err);
  cr_assert(strstr(conf->err, "/cluster.conf:1: "), "%s", conf->err);
}

/* ---------------------------------------------------------------- getters */

TestSuite(config_getters, .init = setup, .fini = teardown);

Test(config_getters, typed_values) {
  cr_assert_eq(parse("[s]\nn = 12\nsz = 64K\nd = 5ms\nb = yes\nmode = pbft\nh = 00ff\ncores = 2,4-7\n"), 0);
  uint64_t v = 0;
  cr_assert_eq(pc_conf_u64(conf, 1, "n", 0, 100, &v), 1);
  cr_assert_eq(v, 12);
  cr_assert_eq(pc_conf_size(conf, 1, "sz", 0, UINT64_MAX, &v), 1);
  cr_assert_eq(v, 65536);
  cr_assert_eq(pc_conf_duration(conf, 1, "d", 0, UINT64_MAX, &v), 1);
  cr_assert_eq(v, 5000000);
  bool b = false;
  cr_assert_eq(pc_conf_bool(conf, 1, "b", &b), 1);
  cr_assert(b);
  static const char *const modes[] = {"sbft", "pbft"};
  unsigned m = 9;
  cr_assert_eq(pc_conf_choice(conf, 1, "mode", modes, 2, &m), 1);
  cr_assert_eq(m, 1);
  uint8_t h[2];
  cr_assert_eq(pc_conf_hex(conf, 1, "h", h, 2), 1);
  cr_assert(h[0] == 0 && h[1] == 0xff);
  pc_coreset_t cs;
  cr_assert_eq(pc_conf_cores(conf, 1, "cores", &cs), 1);
  cr_assert_eq(pc_coreset_count(&cs), 5);
  static const char *const known[] = {"n", "sz", "d", "b", "mode", "h", "cores"};
  cr_assert_eq(pc_conf_check_unknown(conf, 1, known, PC_ARRAY_LEN(known)), 0);
}

Test(config_getters, absent_key_leaves_default) {
  cr_assert_eq(parse("[s]\n"), 0);
  uint64_t v = 77;
  cr_assert_eq(pc_conf_u64(conf, 1, "n", 0, 100, &v), 0);
  cr_assert_eq(v, 77);
  cr_assert_eq(pc_conf_u64(conf, -1, "n", 0, 100, &v), 0);
}

Test(config_getters, out_of_range_names_the_range) {
  cr_assert_eq(parse("[s]\nn = 300\n"), 0);
  uint64_t v;
  cr_assert_eq(pc_conf_u64(conf, 1, "n", 1, 256, &v), PC_ERR_CONFIG);
  cr_assert_str_eq(conf->err, "t.conf:2: n = 300 is out of range: use 1..256");
}

Test(config_getters, size_and_duration_ranges_use_units) {
  cr_assert_eq(parse("[s]\nb = 32M\nt = 2h\nu = 0\n"), 0);
  uint64_t v;
  cr_assert_eq(pc_conf_size(conf, 1, "b", 1024, 16u << 20, &v), PC_ERR_CONFIG);
  cr_assert_str_eq(conf->err, "t.conf:2: b = 32M is out of range: use 1K..16M");
  conf->err[0] = '\0';
  cr_assert_eq(pc_conf_duration(conf, 1, "t", 0, 1000000000, &v), PC_ERR_CONFIG);
  cr_assert(
      strstr(conf->err, "t.conf:3: t = 2h is not a duration: write a number with a unit ns, us, ms or s"),
      "%s", conf->err);
  conf->err[0] = '\0';
  cr_assert_eq(pc_conf_duration(conf, 1, "u", 1000, 1000000000, &v), PC_ERR_CONFIG);
  cr_assert_str_eq(conf->err, "t.conf:4: u = 0 is out of range: use 1us..1s");
}

Test(config_getters, type_errors_say_the_form) {
  cr_assert_eq(parse("[s]\nn = ten\nz = 4Q\nb = maybe\nm = raft\nh = 0g\nc = 3-1\n"), 0);
  uint64_t v;
  bool b;
  unsigned m;
  uint8_t h[1];
  pc_coreset_t cs;
  static const char *const modes[] = {"sbft", "pbft"};
  cr_assert_eq(pc_conf_u64(conf, 1, "n", 0, 9, &v), PC_ERR_CONFIG);
  cr_assert_str_eq(conf->err, "t.conf:2: n = ten is not an integer: write decimal digits or 0x hex");
  conf->err[0] = '\0';
  cr_assert_eq(pc_conf_size(conf, 1, "z", 0, UINT64_MAX, &v), PC_ERR_CONFIG);
  cr_assert(strstr(conf->err, "t.conf:3: z = 4Q is not a size"), "%s", conf->err);
  conf->err[0] = '\0';
  cr_assert_eq(pc_conf_bool(conf, 1, "b", &b), PC_ERR_CONFIG);
  cr_assert_str_eq(conf->err, "t.conf:4: b = maybe is not a boolean: write yes or no");
  conf->err[0] = '\0';
  cr_assert_eq(pc_conf_choice(conf, 1, "m", modes, 2, &m), PC_ERR_CONFIG);
  cr_assert_str_eq(conf->err, "t.conf:5: m = raft is not allowed: write sbft or pbft");
  conf->err[0] = '\0';
  cr_assert_eq(pc_conf_hex(conf, 1, "h", h, 1), PC_ERR_CONFIG);
  cr_assert(strstr(conf->err, "t.conf:6: h must be exactly 2 hex digits"), "%s", conf->err);
  conf->err[0] = '\0';
  cr_assert_eq(pc_conf_cores(conf, 1, "c", &cs), PC_ERR_CONFIG);
  cr_assert(strstr(conf->err, "t.conf:7: c = 3-1: range runs backwards"), "%s", conf->err);
}

Test(config_getters, first_error_is_kept) {
  cr_assert_eq(parse("[s]\na = x\nb = y\n"), 0);
  uint64_t v;
  pc_conf_u64(conf, 1, "a", 0, 9, &v);
  pc_conf_u64(conf, 1, "b", 0, 9, &v);
  cr_assert(strstr(conf->err, ":2:"), "%s", conf->err);
}

Test(config_getters, unknown_key_suggests) {
  cr_assert_eq(parse("[consensus]\nwindow = 4\nwindw = 8\n"), 0);
  static const char *const known[] = {"protocol", "window", "checkpoint_interval"};
  cr_assert_eq(pc_conf_check_unknown(conf, 1, known, 3), PC_ERR_CONFIG);
  cr_assert_str_eq(conf->err, "t.conf:3: unknown key 'windw' in [consensus] (did you mean 'window'?)");
}

Test(config_getters, unknown_key_without_suggestion) {
  cr_assert_eq(parse("zzzzzz = 1\n"), 0);
  static const char *const known[] = {"protocol", "window"};
  cr_assert_eq(pc_conf_check_unknown(conf, 0, known, 2), PC_ERR_CONFIG);
  cr_assert_str_eq(conf->err,
                   "t.conf:1: unknown key 'zzzzzz' in the global section (remove it; see docs/config.md)");
}

Test(config_getters, suggestions) {
  static const char *const known[] = {"window", "protocol", "fast_path", "rx", "tx"};
  cr_assert_str_eq(pc_conf_suggest("protocl", known, 5), "protocol");
  cr_assert_str_eq(pc_conf_suggest("fastpath", known, 5), "fast_path");
  cr_assert_str_eq(pc_conf_suggest("rxx", known, 5), "rx");
  cr_assert_null(pc_conf_suggest("x", known, 5)); /* a one-letter word is not a typo of anything */
  cr_assert_null(pc_conf_suggest("batch", known, 5));
}
