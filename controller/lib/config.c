/*
 * ovs-cats: the catalog configuration language.  See include/cats/config.h.
 */

#include <config.h>

#include "cats/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cats/catalog.h"
#include "flow.h"
#include "openvswitch/dynamic-string.h"
#include "packets.h"
#include "util.h"

/* A configuration file larger than this is refused rather than read. */
#define CONFIG_FILE_MAX (64 * 1024 * 1024)

#define MAX_TOKENS 16

struct tokens {
    char *buf;                  /* Owned copy of the line. */
    char *argv[MAX_TOKENS];
    int argc;
};

/* Splits 'line' on blanks, dropping a '#' comment.  Returns an error if the
 * line has too many words. */
static char *
tokenize(const char *line, struct tokens *t)
{
    char *save_ptr = NULL;
    char *comment, *word;

    t->buf = xstrdup(line);
    t->argc = 0;
    comment = strchr(t->buf, '#');
    if (comment) {
        *comment = '\0';
    }
    for (word = strtok_r(t->buf, " \t\r\n", &save_ptr); word;
         word = strtok_r(NULL, " \t\r\n", &save_ptr)) {
        if (t->argc >= MAX_TOKENS) {
            return xasprintf("too many words (at most %d)", MAX_TOKENS);
        }
        t->argv[t->argc++] = word;
    }
    return NULL;
}

static char *
parse_uint(const char *field, const char *value, unsigned int min,
           unsigned int max, unsigned int *out)
{
    unsigned int x;

    if (!str_to_uint(value, 10, &x) || x < min || x > max) {
        return xasprintf("field '%s': '%s' is not an integer between %u "
                         "and %u", field, value, min, max);
    }
    *out = x;
    return NULL;
}

static char *
parse_ip(const char *field, const char *value, ovs_be32 *ip)
{
    if (!ip_parse(value, ip)) {
        return xasprintf("field '%s': '%s' is not an IPv4 address",
                         field, value);
    }
    if (!*ip || ip_is_multicast(*ip) || *ip == htonl(0xffffffff)) {
        return xasprintf("field '%s': %s is not a unicast address",
                         field, value);
    }
    return NULL;
}

/* Splits "key=value" in place.  Returns an error if 'word' has no '=' or
 * if the key was seen before (tracked in 'seen' by index in 'keys'). */
static char *
split_kv(char *word, const char *const keys[], size_t n_keys, bool seen[],
         size_t *idx, char **value)
{
    char *eq = strchr(word, '=');
    size_t i;

    if (!eq || eq == word) {
        return xasprintf("'%s' is not key=value", word);
    }
    *eq = '\0';
    *value = eq + 1;
    for (i = 0; i < n_keys; i++) {
        if (!strcmp(word, keys[i])) {
            if (seen[i]) {
                return xasprintf("field '%s' given twice", word);
            }
            seen[i] = true;
            *idx = i;
            if (!**value) {
                return xasprintf("field '%s' has no value", word);
            }
            return NULL;
        }
    }
    {
        struct ds s = DS_EMPTY_INITIALIZER;
        ds_put_format(&s, "unknown field '%s' (expected ", word);
        for (i = 0; i < n_keys; i++) {
            ds_put_format(&s, "%s%s", i ? ", " : "", keys[i]);
        }
        ds_put_char(&s, ')');
        return ds_steal_cstr(&s);
    }
}

char *
cats_parse_ip_port(const char *s, ovs_be32 *ip, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    unsigned int x;
    char *addr;
    bool ok;

    if (!colon) {
        return xasprintf("'%s' is not IPv4:PORT", s);
    }
    addr = xmemdup0(s, colon - s);
    ok = ip_parse(addr, ip);
    free(addr);
    if (!ok) {
        return xasprintf("'%s' is not IPv4:PORT", s);
    }
    if (!str_to_uint(colon + 1, 10, &x) || !x || x > 65535) {
        return xasprintf("'%s' needs a port between 1 and 65535", s);
    }
    if (!*ip || ip_is_multicast(*ip) || *ip == htonl(0xffffffff)) {
        return xasprintf("%s is not a unicast address", s);
    }
    *port = x;
    return NULL;
}

static char *
parse_service(struct cats_catalog *cat, int argc, char *argv[])
{
    static const char *const keys[] = { "vip", "port", "proto", "policy",
                                        "decide" };
    bool seen[ARRAY_SIZE(keys)] = { false };
    enum cats_policy policy = CATS_POLICY_MIN_LATENCY;
    enum cats_decide decide = CATS_DECIDE_WEIGHTS;
    unsigned int port = 0;
    uint8_t proto = IPPROTO_TCP;
    ovs_be32 vip = 0;
    char *error;
    int i;

    if (argc < 2) {
        return xstrdup("service: missing name (usage: service NAME "
                       "vip=IP port=PORT [proto=tcp|udp] "
                       "[policy=min-latency|least-loaded|static] "
                       "[decide=weights|connection])");
    }
    for (i = 2; i < argc; i++) {
        size_t idx;
        char *value;

        error = split_kv(argv[i], keys, ARRAY_SIZE(keys), seen, &idx, &value);
        if (error) {
            goto err;
        }
        if (idx == 0) {
            error = parse_ip("vip", value, &vip);
        } else if (idx == 1) {
            error = parse_uint("port", value, 1, 65535, &port);
        } else if (idx == 3) {
            if (!cats_policy_from_string(value, &policy)) {
                error = xasprintf("field 'policy': '%s' is not min-latency, "
                                  "least-loaded or static", value);
            }
        } else if (idx == 4) {
            if (!cats_decide_from_string(value, &decide)) {
                error = xasprintf("field 'decide': '%s' is not weights or "
                                  "connection", value);
            }
        } else {
            if (!strcmp(value, "tcp")) {
                proto = IPPROTO_TCP;
            } else if (!strcmp(value, "udp")) {
                proto = IPPROTO_UDP;
            } else {
                error = xasprintf("field 'proto': '%s' is not tcp or udp",
                                  value);
            }
        }
        if (error) {
            goto err;
        }
    }
    if (!seen[0]) {
        error = xstrdup("missing field 'vip'");
        goto err;
    }
    if (!seen[1]) {
        error = xstrdup("missing field 'port'");
        goto err;
    }
    if (decide == CATS_DECIDE_CONNECTION && proto != IPPROTO_TCP) {
        /* The controller learns that a connection ended from its FIN. */
        error = xstrdup("decide=connection needs proto=tcp");
        goto err;
    }

    char *add_error;
    struct cats_service *svc;
    if (cats_service_add(cat, argv[1], vip, proto, port, &svc, &add_error)) {
        return add_error;
    }
    cats_service_set_policy(cat, svc, policy);
    cats_service_set_decide(cat, svc, decide);
    return NULL;

err:
    {
        char *msg = xasprintf("service %s: %s", argv[1], error);
        free(error);
        return msg;
    }
}

/* Prefixes 'error' (freed) with the statement's name. */
static char *
statement_error(const char *kind, const char *name, char *error)
{
    char *msg = xasprintf("%s %s: %s", kind, name, error);

    free(error);
    return msg;
}

static char *
parse_site(struct cats_catalog *cat, int argc, char *argv[])
{
    static const char *const keys[] = { "dpid" };
    bool seen[ARRAY_SIZE(keys)] = { false };
    unsigned long long int dpid = 0;
    char *add_error;
    int i;

    if (argc < 2) {
        return xstrdup("site: missing name (usage: site NAME dpid=HEX)");
    }
    for (i = 2; i < argc; i++) {
        size_t idx, len;
        char *value;
        char *error = split_kv(argv[i], keys, ARRAY_SIZE(keys), seen, &idx,
                               &value);

        if (error) {
            return statement_error("site", argv[1], error);
        }
        if (!strncasecmp(value, "0x", 2)) {
            value += 2;
        }
        len = strlen(value);
        if (!len || len > 16
            || strspn(value, "0123456789abcdefABCDEF") != len) {
            return statement_error("site", argv[1], xasprintf(
                "field 'dpid': '%s' is not a datapath id (1 to 16 hex "
                "digits)", value));
        }
        dpid = strtoull(value, NULL, 16);
    }
    if (!seen[0]) {
        return statement_error("site", argv[1],
                               xstrdup("missing field 'dpid'"));
    }
    if (cats_site_add(cat, argv[1], dpid, NULL, &add_error)) {
        return add_error;
    }
    return NULL;
}

/* Parses a path end "SITE:PORT" for field 'field'. */
static char *
parse_path_end(const struct cats_catalog *cat, const char *field,
               const char *value, const struct cats_site **site,
               ofp_port_t *port)
{
    const char *colon = strrchr(value, ':');
    unsigned int x;
    char *name;

    if (!colon) {
        return xasprintf("field '%s': '%s' is not SITE:PORT", field, value);
    }
    name = xmemdup0(value, colon - value);
    *site = cats_site_find(cat, name);
    free(name);
    if (!*site) {
        return xasprintf("field '%s': '%s' names no declared site (declare "
                         "it first)", field, value);
    }
    if (!str_to_uint(colon + 1, 10, &x) || !x || x >= 0xff00) {
        return xasprintf("field '%s': '%s' needs a port between 1 and "
                         "65279", field, value);
    }
    *port = u16_to_ofp(x);
    return NULL;
}

static char *
parse_path(struct cats_catalog *cat, int argc, char *argv[])
{
    static const char *const keys[] = { "link", "delay_ms" };
    bool seen[ARRAY_SIZE(keys)] = { false };
    const char *links[CATS_PATH_MAX_LINKS + 1];
    const struct cats_site *site[2];
    unsigned int delay_ms = 0;
    size_t n_links = 0;
    ofp_port_t port[2];
    char *add_error;
    char *error;
    int i;

    if (argc < 4) {
        return xstrdup("path: usage: path NAME SITE1:PORT SITE2:PORT "
                       "link=ID[,ID...] [delay_ms=N]");
    }
    for (i = 0; i < 2; i++) {
        error = parse_path_end(cat, i ? "end2" : "end1", argv[2 + i],
                               &site[i], &port[i]);
        if (error) {
            return statement_error("path", argv[1], error);
        }
    }
    for (i = 4; i < argc; i++) {
        char *save_ptr = NULL;
        size_t idx;
        char *value;

        error = split_kv(argv[i], keys, ARRAY_SIZE(keys), seen, &idx,
                         &value);
        if (!error && idx == 0) {
            for (char *link = strtok_r(value, ",", &save_ptr); link;
                 link = strtok_r(NULL, ",", &save_ptr)) {
                if (n_links >= CATS_PATH_MAX_LINKS) {
                    error = xasprintf("field 'link': at most %d link ids",
                                      CATS_PATH_MAX_LINKS);
                    break;
                }
                links[n_links++] = link;
            }
        } else if (!error) {
            error = parse_uint("delay_ms", value, 0, 60000, &delay_ms);
        }
        if (error) {
            return statement_error("path", argv[1], error);
        }
    }
    if (!seen[0]) {
        return statement_error("path", argv[1],
                               xstrdup("missing field 'link'"));
    }
    if (cats_path_add(cat, argv[1], site[0], port[0], site[1], port[1],
                      links, n_links, delay_ms, NULL, &add_error)) {
        return add_error;
    }
    return NULL;
}

static char *
parse_instance(struct cats_catalog *cat, int argc, char *argv[])
{
    static const char *const keys[] = { "weight", "mac", "path", "site" };
    const struct cats_site *site = cats_catalog_first_site(cat);
    bool seen[ARRAY_SIZE(keys)] = { false };
    unsigned int weight = CATS_DEFAULT_WEIGHT;
    struct cats_service *s;
    struct eth_addr mac;
    const char *path = NULL;
    uint16_t port = 0;
    ovs_be32 ip = 0;
    char *error;
    int i;

    if (argc < 3) {
        return xstrdup("instance: usage: instance SERVICE IP:PORT "
                       "[weight=N] [mac=MAC] [path=LINK] [site=SITE]");
    }
    s = cats_catalog_find(cat, argv[1]);
    if (!s) {
        return xasprintf("instance %s: unknown service '%s' (declare it "
                         "first)", argv[2], argv[1]);
    }

    error = cats_parse_ip_port(argv[2], &ip, &port);
    if (error) {
        char *msg = xasprintf("field 'address': %s", error);
        free(error);
        error = msg;
        goto err;
    }
    for (i = 3; i < argc; i++) {
        size_t idx;
        char *value;

        error = split_kv(argv[i], keys, ARRAY_SIZE(keys), seen, &idx, &value);
        if (error) {
            goto err;
        }
        if (idx == 0) {
            error = parse_uint("weight", value, 0, CATS_WEIGHT_MAX, &weight);
        } else if (idx == 2) {
            size_t len = strlen(value);

            path = value;
            if (!len || len > 64
                || strspn(value, "abcdefghijklmnopqrstuvwxyz"
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")
                   != len) {
                error = xasprintf("field 'path': a path is a telemetry "
                                  "link id: 1 to 64 characters from "
                                  "[A-Za-z0-9._:-]");
            }
        } else if (idx == 3) {
            site = cats_site_find(cat, value);
            if (!site) {
                error = xasprintf("field 'site': unknown site '%s' (declare "
                                  "it first)", value);
            }
        } else if (!eth_addr_from_string(value, &mac)
                   || eth_addr_is_multicast(mac) || eth_addr_is_zero(mac)) {
            error = xasprintf("field 'mac': '%s' is not a unicast Ethernet "
                              "address", value);
        }
        if (error) {
            goto err;
        }
    }

    if (seen[3] && path && hmap_count(&cat->paths)) {
        error = xstrdup("field 'path': path= (one telemetry link) and site= "
                        "do not go together in a catalog with paths");
        goto err;
    }
    if (site && site != cats_catalog_first_site(cat) && !seen[1]) {
        /* The client's site cannot ARP across a path. */
        error = xasprintf("field 'mac': an instance at site %s (not the "
                          "first site) needs mac=", site->name);
        goto err;
    }

    char *add_error;
    struct cats_instance *inst;
    if (cats_instance_add(cat, s, ip, port, weight,
                          seen[1] ? &mac : NULL, &add_error)) {
        return add_error;
    }
    inst = cats_instance_find(s, ip, port);
    cats_instance_set_path(cat, inst, path);
    cats_instance_set_site(cat, inst, site);
    return NULL;

err:
    {
        char *msg = xasprintf("instance %s %s: %s", argv[1], argv[2], error);
        free(error);
        return msg;
    }
}

char *
cats_config_parse_line(struct cats_catalog *cat, const char *line)
{
    struct tokens t;
    char *error;

    if (strlen(line) > CATS_CONFIG_LINE_MAX) {
        return xasprintf("line longer than %d bytes", CATS_CONFIG_LINE_MAX);
    }
    error = tokenize(line, &t);
    if (!error && t.argc) {
        if (!strcmp(t.argv[0], "service")) {
            error = parse_service(cat, t.argc, t.argv);
        } else if (!strcmp(t.argv[0], "instance")) {
            error = parse_instance(cat, t.argc, t.argv);
        } else if (!strcmp(t.argv[0], "site")) {
            error = parse_site(cat, t.argc, t.argv);
        } else if (!strcmp(t.argv[0], "path")) {
            error = parse_path(cat, t.argc, t.argv);
        } else {
            error = xasprintf("unknown statement '%s' (expected service, "
                              "instance, site or path)", t.argv[0]);
        }
    }
    free(t.buf);
    return error;
}

/* Parses 'text' into 'cat', statement by statement. */
static char *
parse_string__(struct cats_catalog *cat, const char *text, const char *origin)
{
    const char *p = text;
    int line_number = 0;

    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? end - p : strlen(p);
        char *line, *error;

        line_number++;
        line = xmemdup0(p, len);
        error = cats_config_parse_line(cat, line);
        free(line);
        if (error) {
            char *msg = xasprintf("%s:%d: %s", origin, line_number, error);
            free(error);
            return msg;
        }
        p = end ? end + 1 : p + len;
    }
    return NULL;
}

char *
cats_config_parse_string(struct cats_catalog *cat, const char *text,
                         const char *origin)
{
    struct cats_catalog scratch;
    char *error;

    /* All or nothing: parse into a scratch catalog, then make 'cat' say
     * the same, keeping the ids of services that stay. */
    cats_catalog_init(&scratch);
    error = parse_string__(&scratch, text, origin);
    if (!error) {
        cats_catalog_sync(cat, &scratch);
    }
    cats_catalog_destroy(&scratch);
    return error;
}

char *
cats_config_parse_file(struct cats_catalog *cat, const char *file_name)
{
    struct ds text = DS_EMPTY_INITIALIZER;
    char buf[65536];
    char *error;
    size_t n;
    FILE *f;

    f = fopen(file_name, "r");
    if (!f) {
        return xasprintf("%s: open failed (%s)", file_name,
                         ovs_strerror(errno));
    }
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (text.length + n > CONFIG_FILE_MAX) {
            fclose(f);
            ds_destroy(&text);
            return xasprintf("%s: larger than %d bytes", file_name,
                             CONFIG_FILE_MAX);
        }
        ds_put_buffer(&text, buf, n);
    }
    if (ferror(f)) {
        error = xasprintf("%s: read failed (%s)", file_name,
                          ovs_strerror(errno));
        fclose(f);
        ds_destroy(&text);
        return error;
    }
    fclose(f);

    /* A NUL inside the text is reported by the line parser: give it the
     * real length by checking here. */
    if (memchr(ds_cstr(&text), '\0', text.length)) {
        const char *nul = memchr(text.string, '\0', text.length);
        int line_number = 1;
        for (const char *q = text.string; q < nul; q++) {
            line_number += *q == '\n';
        }
        ds_destroy(&text);
        return xasprintf("%s:%d: NUL byte in line", file_name, line_number);
    }
    error = cats_config_parse_string(cat, ds_cstr(&text), file_name);
    ds_destroy(&text);
    return error;
}
