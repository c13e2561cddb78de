/*
 * Unit tests for cats-gw's configuration statements (dataplane/gw-conf.h):
 * units, each statement's fields, errors that name the place and the
 * field and change nothing, files, pairing and whole-configuration checks
 * (ports that exist, class map conflicts, thresholds out of order).
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw-conf.h"
#include "openvswitch/compiler.h"
#include "util.h"

static struct gw_conf *
new_conf(void)
{
    struct gw_conf *conf = xmalloc(sizeof *conf);

    gw_conf_init(conf);
    return conf;
}

static void
parse_ok(struct gw_conf *conf, const char *line)
{
    char *error = NULL;

    if (gw_conf_parse(conf, line, "t", &error)) {
        fail_msg("\"%s\": unexpected error \"%s\"", line, error);
    }
    assert_null(error);
}

/* Parsing 'line' fails with exactly 'expected' and leaves 'conf' as it
 * was. */
static void
parse_fails(struct gw_conf *conf, const char *line, const char *expected)
{
    struct gw_conf *before = xmemdup(conf, sizeof *conf);
    char *error = NULL;

    assert_int_equal(gw_conf_parse(conf, line, "t", &error), EINVAL);
    assert_non_null(error);
    assert_string_equal(error, expected);
    assert_memory_equal(before, conf, sizeof *conf);
    free(error);
    free(before);
}

static void
finish_fails(struct gw_conf *conf, unsigned int n_ports,
             const char *expected)
{
    char *error = NULL;

    assert_int_equal(gw_conf_finish(conf, n_ports, &error), EINVAL);
    assert_non_null(error);
    assert_string_equal(error, expected);
    free(error);
}

static void
finish_ok(struct gw_conf *conf, unsigned int n_ports)
{
    char *error = NULL;

    if (gw_conf_finish(conf, n_ports, &error)) {
        fail_msg("unexpected error \"%s\"", error);
    }
}

/* Units. */

static void
test_rates_are_si_and_may_have_decimals(void **state OVS_UNUSED)
{
    uint64_t x;

    assert_true(gw_conf_parse_rate("10G", &x));
    assert_true(x == UINT64_C(10000000000));
    assert_true(gw_conf_parse_rate("2.5G", &x));
    assert_true(x == UINT64_C(2500000000));
    assert_true(gw_conf_parse_rate("100k", &x) && x == 100000);
    assert_true(gw_conf_parse_rate("1.6T", &x));
    assert_true(x == UINT64_C(1600000000000));
    assert_true(gw_conf_parse_rate("0", &x) && x == 0);

    assert_false(gw_conf_parse_rate("1.7T", &x));       /* Above max. */
    assert_false(gw_conf_parse_rate("1.5", &x));        /* Not whole. */
    assert_false(gw_conf_parse_rate("10Gb", &x));
    assert_false(gw_conf_parse_rate("G", &x));
    assert_false(gw_conf_parse_rate("1.", &x));
    assert_false(gw_conf_parse_rate("-1", &x));
    assert_false(gw_conf_parse_rate("", &x));
}

static void
test_sizes_are_binary_and_times_need_a_unit(void **state OVS_UNUSED)
{
    uint64_t x;

    assert_true(gw_conf_parse_bytes("300K", &x) && x == 300 * 1024);
    assert_true(gw_conf_parse_bytes("1M", &x) && x == 1048576);
    assert_true(gw_conf_parse_bytes("1522", &x) && x == 1522);
    assert_false(gw_conf_parse_bytes("4G", &x));        /* > 32 bits. */
    assert_false(gw_conf_parse_bytes("1.3", &x));

    assert_true(gw_conf_parse_time("200ms", &x) && x == 200000000);
    assert_true(gw_conf_parse_time("2.5us", &x) && x == 2500);
    assert_true(gw_conf_parse_time("1s", &x) && x == UINT64_C(1000000000));
    assert_false(gw_conf_parse_time("200", &x));
    assert_false(gw_conf_parse_time("1.5ns", &x));
}

/* Statements. */

static void
test_port_statement_sets_its_fields(void **state OVS_UNUSED)
{
    struct gw_conf *conf = new_conf();
    const struct gw_port_config *cfg = &conf->ports[1].cfg;

    parse_ok(conf, "port 1 name=site-b speed=10G distance=2km "
             "max_frame=9216 quanta=1000 watchdog=50ms restore=1s "
             "trust=dscp   # a comment");
    assert_true(conf->ports[1].mentioned);
    assert_false(conf->ports[0].mentioned);
    assert_string_equal(conf->ports[1].name, "site-b");
    assert_true(cfg->speed_bps == UINT64_C(10000000000));
    assert_int_equal(cfg->distance_m, 2000);
    assert_int_equal(cfg->max_frame, 9216);
    assert_int_equal(cfg->pause_quanta, 1000);
    assert_true(cfg->pfc_watchdog_ns == 50000000);
    assert_true(cfg->pfc_restore_ns == UINT64_C(1000000000));
    assert_int_equal(cfg->trust, GW_TRUST_DSCP);
    free(conf);
}

static void
test_commas_separate_fields_like_blanks(void **state OVS_UNUSED)
{
    struct gw_conf *a = new_conf(), *b = new_conf();

    parse_ok(a, "class 0:3 queue=300K ecn=20K:100K:1% lossless=150K:100K");
    parse_ok(b, "class,0:3,queue=300K,ecn=20K:100K:1%,lossless=150K:100K");
    assert_memory_equal(a, b, sizeof *a);
    free(a);
    free(b);
}

static void
test_class_statement_sets_queue_ecn_pfc_and_map(void **state OVS_UNUSED)
{
    struct gw_conf *conf = new_conf();
    const struct gw_class_config *cc = &conf->ports[0].cfg.classes[3];

    parse_ok(conf, "class 0:3 queue=300K packets=100 ecn=20K:100K:0.5% "
             "lossless=150K:100K pcp=3 dscp=24-31+46");
    assert_int_equal(cc->queue_limit, 300 * 1024);
    assert_int_equal(conf->ports[0].queue_packets[3], 100);
    assert_int_equal(conf->ports[0].queue_packets[2],
                     GW_QUEUE_PACKETS_DEFAULT);
    assert_true(cc->ecn);
    assert_int_equal(cc->kmin, 20 * 1024);
    assert_int_equal(cc->kmax, 100 * 1024);
    assert_int_equal(cc->pmax_ppm, 5000);
    assert_true(cc->lossless);
    assert_int_equal(cc->xoff, 150 * 1024);
    assert_int_equal(cc->xon, 100 * 1024);
    assert_int_equal(cc->pcps, 1u << 3);
    assert_true(cc->dscps == ((UINT64_C(0xff) << 24) | UINT64_C(1) << 46));

    parse_ok(conf, "class 0:3 ecn=off lossless=off pcp=none");
    assert_false(cc->ecn);
    assert_int_equal(cc->kmin + cc->kmax + cc->pmax_ppm, 0);
    assert_false(cc->lossless);
    assert_int_equal(cc->xoff + cc->xon, 0);
    assert_int_equal(cc->pcps, 0);
    assert_int_equal(cc->queue_limit, 300 * 1024);     /* Kept. */
    free(conf);
}

static void
test_pair_statement_delay_as_time_or_fibre(void **state OVS_UNUSED)
{
    struct gw_conf *conf = new_conf();

    parse_ok(conf, "pair 0:1 delay=1000km rate=1G burst=64K overhead=0 "
             "line=1000");
    assert_int_equal(conf->n_pairs, 1);
    assert_true(conf->pairs[0].delay_ns == 5000000);     /* 5 us/km. */
    assert_true(conf->pairs[0].rate_bps == 1000000000);
    assert_int_equal(conf->pairs[0].burst_bytes, 65536);
    assert_int_equal(conf->pairs[0].overhead, 0);
    assert_int_equal(conf->pairs[0].line_packets, 1000);

    /* The same pair, either way round, updates it. */
    parse_ok(conf, "pair 1:0 delay=5ms");
    assert_int_equal(conf->n_pairs, 1);
    assert_true(conf->pairs[0].delay_ns == 5000000);
    assert_int_equal(conf->pairs[0].line_packets, 1000);

    parse_ok(conf, "pair 2:3");
    assert_int_equal(conf->n_pairs, 2);
    assert_true(conf->pairs[1].delay_ns == 0);
    assert_true(conf->pairs[1].rate_bps == 0);
    assert_int_equal(conf->pairs[1].overhead, 24);
    assert_int_equal(conf->pairs[1].line_packets, GW_LINE_PACKETS_DEFAULT);
    free(conf);
}

static void
test_bad_statements_name_the_field_and_change_nothing(void **state
                                                      OVS_UNUSED)
{
    struct gw_conf *conf = new_conf();

    parse_ok(conf, "pair 0:1");
    parse_fails(conf, "bridge 0", "t: unknown statement 'bridge' (port, "
                "class, pair)");
    parse_fails(conf, "port", "t: 'port' needs an id (port N, class N:C, "
                "pair A:B)");
    parse_fails(conf, "port 32", "t: port 32: not a port id between 0 and "
                "31");
    parse_fails(conf, "port 0 speed=fast", "t: port 0: field 'speed': "
                "'fast' is not a rate (bits/s with an optional k, M, G or "
                "T; 1 to 1.6T)");
    parse_fails(conf, "port 0 name=a/b", "t: port 0: field 'name': 'a/b' "
                "is not a name of 1 to 31 characters from A-Z a-z 0-9 . _ "
                "-");
    parse_fails(conf, "port 0 trust=vlan", "t: port 0: field 'trust': "
                "'vlan' is not pcp or dscp");
    parse_fails(conf, "port 0 colour=red", "t: port 0: unknown field "
                "'colour' (name, speed, distance, max_frame, quanta, "
                "watchdog, restore, trust)");
    parse_fails(conf, "port 0 speed=1G speed=2G", "t: port 0: "
                "field 'speed' is given twice");
    parse_fails(conf, "port 0 speed", "t: port 0: 'speed' is not "
                "KEY=VALUE");
    parse_fails(conf, "class 0:8", "t: class 0:8: not PORT:CLASS (a port "
                "between 0 and 31, a class between 0 and 7)");
    parse_fails(conf, "class 0:3 speed=1G queue=1M ecn=1:2", "t: class "
                "0:3: unknown field 'speed' (queue, packets, ecn, "
                "lossless, pcp, dscp)");
    parse_fails(conf, "class 0:3 ecn=1K:2K", "t: class 0:3: field 'ecn': "
                "'1K:2K' is not KMIN:KMAX:PMAX or off (sizes in bytes, PMAX "
                "as 1% or 10000ppm)");
    parse_fails(conf, "class 0:3 ecn=1K:2K:101%", "t: class 0:3: field "
                "'ecn': '1K:2K:101%' is not KMIN:KMAX:PMAX or off (sizes "
                "in bytes, PMAX as 1% or 10000ppm)");
    parse_fails(conf, "class 0:3 pcp=8", "t: class 0:3: field 'pcp': '8' "
                "is not a list of PCPs 0 to 7 (3, 0+1, 4-7) or none");
    parse_fails(conf, "class 0:3 dscp=31-24", "t: class 0:3: field "
                "'dscp': '31-24' is not a list of DSCPs 0 to 63 (46, "
                "24-31+40) or none");
    parse_fails(conf, "pair 0:0", "t: pair 0:0: a port cannot be paired "
                "with itself");
    parse_fails(conf, "pair 1:2", "t: pair 1:2: port 1 is already in pair "
                "0:1");
    parse_fails(conf, "pair 2:3 delay=11s", "t: pair 2:3: field 'delay': "
                "'11s' is not a time (ns, us, ms or s, at most 10s) or a "
                "fibre length (m or km at 5 us/km, at most 20000km)");
    free(conf);
}

/* Files. */

static char *
write_file(const char *text)
{
    char *path = xstrdup("/tmp/test-gw-conf.XXXXXX");
    int fd = mkstemp(path);
    FILE *f;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static char *
write_bytes(const char *data, size_t len)
{
    char *path = xstrdup("/tmp/test-gw-conf.XXXXXX");
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), len);
    close(fd);
    return path;
}

/* A NUL byte is named as such (it used to read as an overlong line), an
 * overlong line as that, each with its line number, changing nothing. */
static void
test_file_nul_byte_and_long_line(void **state OVS_UNUSED)
{
    static const char nul[] = "port 0 name=a\nport 1\0 name=b\n";
    struct gw_conf *conf = new_conf(), *before = xmemdup(conf, sizeof *conf);
    char *path = write_bytes(nul, sizeof nul - 1);
    char *error = NULL;

    assert_int_equal(gw_conf_read_file(conf, path, &error), EINVAL);
    assert_non_null(strstr(error, ":2: NUL byte in the line"));
    assert_memory_equal(before, conf, sizeof *conf);
    free(error);
    unlink(path);
    free(path);

    char *long_line = xmalloc(2100);
    memcpy(long_line, "port 0 name=a\n# ", 17);
    memset(long_line + 17, 'x', 2100 - 18);
    long_line[2099] = '\n';
    path = write_bytes(long_line, 2100);
    assert_int_equal(gw_conf_read_file(conf, path, &error), EINVAL);
    assert_non_null(strstr(error, ":2: line longer than 1024 bytes"));
    assert_memory_equal(before, conf, sizeof *conf);
    free(error);
    unlink(path);
    free(path);
    free(long_line);
    free(before);
    free(conf);
}

/* Writes "port 0 name=a\n" then "port 1 name=b #xxx..." padded with 'x' to
 * 'text_len' bytes, with a newline after it if 'newline', reads it back,
 * and returns gw_conf_read_file()'s result, its message in '*errorp'. */
static int
read_padded_last_line(struct gw_conf *conf, size_t text_len, bool newline,
                      char **errorp)
{
    static const char head[] = "port 0 name=a\nport 1 name=b #";
    size_t first = strlen("port 0 name=a\n");
    size_t len = first + text_len + newline;
    char *data = xmalloc(len);
    char *path;
    int error;

    memcpy(data, head, sizeof head - 1);
    memset(data + sizeof head - 1, 'x', len - (sizeof head - 1));
    if (newline) {
        data[len - 1] = '\n';
    }
    path = write_bytes(data, len);
    error = gw_conf_read_file(conf, path, errorp);
    unlink(path);
    free(path);
    free(data);
    return error;
}

/* The limit is on a statement's text: 1024 bytes read, 1025 are refused as
 * an overlong line, whether or not a newline ends the file's last line. */
static void
test_file_line_limit_with_and_without_newline(void **state OVS_UNUSED)
{
    for (int newline = 0; newline <= 1; newline++) {
        struct gw_conf *conf = new_conf();
        struct gw_conf *before = xmemdup(conf, sizeof *conf);
        char *error = NULL;

        assert_int_equal(read_padded_last_line(conf, 1025, newline, &error),
                         EINVAL);
        assert_non_null(error);
        assert_non_null(strstr(error, ":2: line longer than 1024 bytes"));
        assert_memory_equal(before, conf, sizeof *conf);
        free(error);

        assert_int_equal(read_padded_last_line(conf, 1024, newline, &error),
                         0);
        assert_null(error);
        assert_string_equal(conf->ports[1].name, "b");
        assert_true(conf->ports[1].mentioned);

        /* The same 1024 bytes as one statement, with and without the
         * newline, and 1025 refused as a statement. */
        char *line = xmalloc(1026);
        memcpy(line, "port 1 name=c #", 15);
        memset(line + 15, 'y', 1024 - 15);
        line[1024] = newline ? '\n' : '\0';
        line[1025] = '\0';
        assert_int_equal(gw_conf_parse(conf, line, "t", &error), 0);
        assert_string_equal(conf->ports[1].name, "c");
        line[1024] = 'y';
        memcpy(before, conf, sizeof *conf);
        assert_int_equal(gw_conf_parse(conf, line, "t", &error), EINVAL);
        assert_string_equal(error, "t: statement longer than 1024 bytes");
        assert_memory_equal(before, conf, sizeof *conf);
        free(error);
        free(line);
        free(before);
        free(conf);
    }
}

static void
test_file_is_all_or_nothing_with_line_numbers(void **state OVS_UNUSED)
{
    struct gw_conf *conf = new_conf(), *before;
    char *good = write_file("# gateway\n\nport 0 name=a\nport 1 name=b\n"
                            "pair 0:1 delay=5ms rate=20M\n");
    char *bad = write_file("port 0 name=x\nclass 0:1 queue=big\n");
    char *error = NULL;

    assert_int_equal(gw_conf_read_file(conf, good, &error), 0);
    assert_string_equal(conf->ports[0].name, "a");
    assert_true(conf->pairs[0].rate_bps == 20000000);

    before = xmemdup(conf, sizeof *conf);
    assert_int_equal(gw_conf_read_file(conf, bad, &error), EINVAL);
    assert_non_null(error);
    assert_true(strstr(error, ":2: class 0:1: field 'queue': 'big' is "
                       "not a size"));
    assert_memory_equal(before, conf, sizeof *conf);
    free(error);

    assert_int_equal(gw_conf_read_file(conf, "/nonexistent/gw.conf",
                                       &error), ENOENT);
    assert_string_equal(error, "/nonexistent/gw.conf: No such file or "
                        "directory");
    free(error);

    unlink(good);
    unlink(bad);
    free(good);
    free(bad);
    free(before);
    free(conf);
}

/* The whole configuration. */

static void
test_ports_pair_in_order_by_default(void **state OVS_UNUSED)
{
    struct gw_conf *conf = new_conf();
    const struct gw_conf_pair *pair;
    int end;

    finish_ok(conf, 4);
    assert_int_equal(conf->n_ports, 4);
    assert_int_equal(conf->n_pairs, 2);
    pair = gw_conf_pair_of(conf, 3, &end);
    assert_non_null(pair);
    assert_int_equal(pair->a, 2);
    assert_int_equal(end, 1);
    assert_string_equal(conf->ports[2].name, "p2");
    free(conf);

    conf = new_conf();
    finish_fails(conf, 3, "3 ports cannot be paired in order: name the "
                 "pairs ('pair A:B')");
    free(conf);
    conf = new_conf();
    finish_fails(conf, 1, "1 port: cats-gw forwards between pairs of ports "
                 "and needs at least 2");
    free(conf);
}

static void
test_ports_must_exist_and_all_be_paired(void **state OVS_UNUSED)
{
    struct gw_conf *conf = new_conf();

    parse_ok(conf, "class 2:3 queue=2M");
    finish_fails(conf, 2, "port 2: no such port (there are 2: give each "
                 "one a --vdev or a device)");
    free(conf);

    conf = new_conf();
    parse_ok(conf, "pair 0:2");
    finish_fails(conf, 4, "port 1 is in no pair: every port needs a peer "
                 "('pair 1:N')");
    free(conf);

    conf = new_conf();
    parse_ok(conf, "port 0 name=x");
    parse_ok(conf, "port 1 name=x");
    finish_fails(conf, 2, "ports 0 and 1 are both named 'x'");
    free(conf);
}

static void
test_finish_rejects_out_of_order_thresholds_and_map_conflicts(
    void **state OVS_UNUSED)
{
    struct gw_conf *conf = new_conf();

    parse_ok(conf, "class 1:3 ecn=100K:20K:1%");
    finish_fails(conf, 2, "port 1 (p1): class 3: kmin (102400) is above "
                 "kmax (20480)");
    free(conf);

    conf = new_conf();
    parse_ok(conf, "class 0:3 lossless=100K:150K");
    finish_fails(conf, 2, "port 0 (p0): class 3: xon (153600) must be "
                 "below xoff (102400)");
    free(conf);

    conf = new_conf();
    parse_ok(conf, "port 0 name=west");
    parse_ok(conf, "class 0:5 pcp=3+5");
    finish_fails(conf, 2, "port 0 (west): pcp 3 is mapped to both class 3 "
                 "and class 5");
    free(conf);

    /* Moving the value out of the other class resolves it. */
    conf = new_conf();
    parse_ok(conf, "class 0:5 pcp=3+5");
    parse_ok(conf, "class 0:3 pcp=none");
    finish_ok(conf, 2);
    free(conf);

    conf = new_conf();
    parse_ok(conf, "port 0 trust=dscp");
    parse_ok(conf, "class 0:0 dscp=1-7");
    finish_fails(conf, 2, "port 0 (p0): dscp 0 is not mapped to any "
                 "class");
    free(conf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rates_are_si_and_may_have_decimals),
        cmocka_unit_test(test_sizes_are_binary_and_times_need_a_unit),
        cmocka_unit_test(test_port_statement_sets_its_fields),
        cmocka_unit_test(test_commas_separate_fields_like_blanks),
        cmocka_unit_test(test_class_statement_sets_queue_ecn_pfc_and_map),
        cmocka_unit_test(test_pair_statement_delay_as_time_or_fibre),
        cmocka_unit_test(
            test_bad_statements_name_the_field_and_change_nothing),
        cmocka_unit_test(test_file_is_all_or_nothing_with_line_numbers),
        cmocka_unit_test(test_file_nul_byte_and_long_line),
        cmocka_unit_test(test_file_line_limit_with_and_without_newline),
        cmocka_unit_test(test_ports_pair_in_order_by_default),
        cmocka_unit_test(test_ports_must_exist_and_all_be_paired),
        cmocka_unit_test(
            test_finish_rejects_out_of_order_thresholds_and_map_conflicts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
