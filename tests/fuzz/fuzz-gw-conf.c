/*
 * libFuzzer target for cats-gw's configuration parser (dataplane/gw-conf.h):
 * statements from the command line and from --config files are outside
 * input.
 *
 * Each input is a configuration text, used three ways:
 *
 * 1. Line by line through gw_conf_parse(), as the command line's --port,
 *    --class and --pair options feed it.  Every statement either succeeds
 *    (no message) or fails with EINVAL, one line of message that starts
 *    with its origin, and the configuration exactly as it was.  After each
 *    statement the configuration is consistent: pairs of two distinct
 *    existing ports, no port in two pairs, names valid.
 *
 * 2. As a file through gw_conf_read_file() (a memfd, named by its
 *    /proc/self/fd path): all or nothing.  For text without NUL bytes the
 *    file gives exactly what the statements gave when they all succeeded,
 *    and otherwise leaves the configuration untouched with the message of
 *    the first failing line, word for word.
 *
 * 3. gw_conf_finish() for as many ports as the text mentions, and for one
 *    more: on success every port is in exactly one pair, names are set and
 *    unique, and each port's configuration validates and builds (ECN laws,
 *    PFC port, class map) as cats-gw will build it; on failure, one line.
 *
 * The unit parsers (rates, sizes, times) also get every blank-separated
 * token and every KEY=VALUE value, and must stay within their bounds.
 *
 * Build: `make build/fuzz/fuzz-gw-conf` (rule in dataplane/rules.mk: the
 * library's sources are compiled in, with coverage and sanitizers).  Run:
 * `tests/fuzz/run.sh build SECONDS` (seeds in tests/fuzz/corpus/gw-conf/,
 * dictionary tests/fuzz/gw-conf.dict), or replay the seeds only by passing
 * the seed files to build/fuzz/fuzz-gw-conf.
 */

#define _GNU_SOURCE 1

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gw-conf.h"
#include "gw-config.h"
#include "gw-ecn.h"
#include "gw-pfc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(COND) do { if (!(COND)) { abort(); } } while (0)

/* gw-conf.c's limit on one statement: gw_conf_read_file() refuses a line
 * whose text, without its newline, is longer, whether or not a newline
 * ends it (the last line of a file may have none). */
#define STATEMENT_MAX 1024

static const uint8_t src_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

/* A message is one non-empty line, starting with 'prefix' (when not NULL)
 * followed by ": " ('exact') or by ':' (a file's name, then its line
 * number). */
static void
check_message(const char *msg, const char *prefix, bool exact)
{
    CHECK(msg && msg[0]);
    CHECK(!strchr(msg, '\n'));
    if (prefix) {
        size_t n = strlen(prefix);

        CHECK(!strncmp(msg, prefix, n) && msg[n] == ':');
        CHECK(!exact || msg[n + 1] == ' ');
    }
}

static bool
valid_name(const char *s)
{
    if (!memchr(s, '\0', GW_PORT_NAME_MAX + 1)) {
        return false;
    }
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9') || strchr("._-", *s))) {
            return false;
        }
    }
    return true;
}

/* What holds after any sequence of successful statements. */
static void
check_parsed(const struct gw_conf *conf)
{
    int pair_of[GW_MAX_PORTS];

    CHECK(conf->n_ports == 0);
    CHECK(conf->n_pairs <= GW_MAX_PAIRS);
    for (int p = 0; p < GW_MAX_PORTS; p++) {
        pair_of[p] = -1;
        CHECK(valid_name(conf->ports[p].name));
    }
    for (int i = 0; i < conf->n_pairs; i++) {
        const struct gw_conf_pair *pair = &conf->pairs[i];

        CHECK(pair->a < GW_MAX_PORTS && pair->b < GW_MAX_PORTS);
        CHECK(pair->a != pair->b);
        CHECK(pair_of[pair->a] < 0 && pair_of[pair->b] < 0);
        pair_of[pair->a] = pair_of[pair->b] = i;
        CHECK(conf->ports[pair->a].mentioned
              && conf->ports[pair->b].mentioned);
        CHECK(pair->delay_ns <= GW_DELAY_NS_MAX);
        CHECK(pair->rate_bps <= GW_SPEED_BPS_MAX);
        CHECK(pair->overhead <= 256);
        CHECK(pair->line_packets >= 1);
    }
}

/* gw_conf_finish() on a copy of 'conf' for 'n_ports' ports. */
static void
check_finish(const struct gw_conf *conf, unsigned int n_ports)
{
    struct gw_conf *c = malloc(sizeof *c);
    char *error = NULL;
    int n_in_pairs[GW_MAX_PORTS] = { 0 };

    CHECK(c);
    memcpy(c, conf, sizeof *c);
    if (gw_conf_finish(c, n_ports, &error)) {
        check_message(error, NULL, true);
        free(error);
        free(c);
        return;
    }
    CHECK(!error);
    CHECK(n_ports >= 2 && n_ports <= GW_MAX_PORTS);
    CHECK(c->n_ports == n_ports);
    for (int i = 0; i < c->n_pairs; i++) {
        CHECK(c->pairs[i].a < n_ports && c->pairs[i].b < n_ports);
        n_in_pairs[c->pairs[i].a]++;
        n_in_pairs[c->pairs[i].b]++;
    }
    for (unsigned int p = 0; p < n_ports; p++) {
        const struct gw_port_config *cfg = &c->ports[p].cfg;
        const struct gw_conf_pair *pair;
        struct gw_class_map map;
        struct gw_pfc_port *pfc;
        int end = -1;

        CHECK(n_in_pairs[p] == 1);
        pair = gw_conf_pair_of(c, p, &end);
        CHECK(pair && (end == 0 ? pair->a : pair->b) == p);
        CHECK(c->ports[p].name[0] && valid_name(c->ports[p].name));
        for (unsigned int q = 0; q < p; q++) {
            CHECK(strcmp(c->ports[p].name, c->ports[q].name));
        }

        /* Validated means buildable, as cats-gw builds it. */
        CHECK(!gw_config_validate(cfg, NULL, &error));
        for (int cls = 0; cls < GW_N_CLASSES; cls++) {
            struct gw_ecn_params ecn;

            if (cfg->classes[cls].ecn) {
                CHECK(!gw_config_build_ecn(cfg, cls, &ecn));
            }
        }
        pfc = malloc(sizeof *pfc);
        CHECK(pfc);
        CHECK(!gw_config_build_pfc(cfg, src_mac, pfc));
        free(pfc);
        gw_config_build_class_map(cfg, &map);
        for (int v = 0; v < GW_N_PCPS; v++) {
            CHECK(map.pcp[v] < GW_N_CLASSES);
        }
        for (int v = 0; v < GW_N_DSCPS; v++) {
            CHECK(map.dscp[v] < GW_N_CLASSES);
        }
    }
    free(c);
}

/* The unit parsers on one token. */
static void
check_units(const char *tok)
{
    uint64_t x;

    if (gw_conf_parse_rate(tok, &x)) {
        CHECK(x <= GW_SPEED_BPS_MAX);
    }
    if (gw_conf_parse_bytes(tok, &x)) {
        CHECK(x <= UINT32_MAX);
    }
    if (gw_conf_parse_time(tok, &x)) {
        CHECK(x <= UINT64_MAX / 2);
    }
}

static void
fuzz_units(const char *text)
{
    char *copy = strdup(text), *save = NULL;

    CHECK(copy);
    for (char *tok = strtok_r(copy, " \t\r\n,", &save); tok;
         tok = strtok_r(NULL, " \t\r\n,", &save)) {
        char *eq = strchr(tok, '=');

        check_units(tok);
        if (eq) {
            check_units(eq + 1);
        }
    }
    free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_conf *conf, *before, *from_file;
    char origin[64], path[64];
    char *line_error = NULL;
    bool has_nul = memchr(data, '\0', size) != NULL;
    bool line_failed = false;
    unsigned int max_port = 0;
    size_t pos = 0;
    int lineno = 0;
    int fd;

    conf = malloc(sizeof *conf);
    before = malloc(sizeof *before);
    from_file = malloc(sizeof *from_file);
    CHECK(conf && before && from_file);
    gw_conf_init(conf);

    fd = memfd_create("gw-conf", 0);
    CHECK(fd >= 0);
    CHECK(size == 0 || write(fd, data, size) == (ssize_t) size);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    /* 1. Line by line, as gw_conf_read_file() splits the file, with the
     *    same origins, until the first error. */
    while (pos < size && !line_failed) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t len = (nl ? (size_t) (nl - data) + 1 : size) - pos;
        size_t text_len = nl ? len - 1 : len;
        char *line;
        int error;

        lineno++;
        snprintf(origin, sizeof origin, "%s:%d", path, lineno);
        if (text_len > STATEMENT_MAX) {
            line_failed = true;
            break;
        }
        line = strndup((const char *) data + pos, len);
        CHECK(line);
        memcpy(before, conf, sizeof *before);
        error = gw_conf_parse(conf, line, origin, &line_error);
        if (error) {
            CHECK(error == EINVAL);
            check_message(line_error, origin, true);
            CHECK(!memcmp(before, conf, sizeof *conf));
            line_failed = true;
        } else {
            CHECK(!line_error);
            check_parsed(conf);
        }
        free(line);
        pos += len;
    }

    /* 2. The same text as a file. */
    {
        char *file_error = NULL;
        int error;

        gw_conf_init(from_file);
        error = gw_conf_read_file(from_file, path, &file_error);
        if (error) {
            check_message(file_error, path, false);
            gw_conf_init(before);
            CHECK(!memcmp(before, from_file, sizeof *from_file));
            if (!has_nul) {
                CHECK(line_failed);
                if (line_error) {
                    CHECK(!strcmp(file_error, line_error));
                } else {
                    CHECK(strstr(file_error, "line longer than"));
                }
            }
            free(file_error);
        } else {
            CHECK(!file_error);
            check_parsed(from_file);
            if (!has_nul) {
                CHECK(!line_failed);
                CHECK(!memcmp(conf, from_file, sizeof *conf));
            }
        }
    }
    CHECK(!close(fd));
    free(line_error);

    /* 3. Finish what the statements built, for the ports they mention and
     *    for one more. */
    for (unsigned int p = 0; p < GW_MAX_PORTS; p++) {
        if (conf->ports[p].mentioned) {
            max_port = p + 1;
        }
    }
    check_finish(conf, max_port);
    check_finish(conf, max_port + 1);
    if (max_port < 2) {
        check_finish(conf, 2);
    }

    /* The unit parsers. */
    {
        char *text = strndup((const char *) data, size);

        CHECK(text);
        fuzz_units(text);
        free(text);
    }

    free(conf);
    free(before);
    free(from_file);
    return 0;
}
