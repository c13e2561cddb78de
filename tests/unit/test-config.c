/*
 * Unit tests for the catalog configuration language
 * (include/cats/config.h).
 *
 * Error paths that need a failing libc call (fopen refused although we run
 * as root, fread failing in the middle of a file) are in
 * test-config-wrap.c.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cats/catalog.h"
#include "cats/config.h"
#include "flow.h"
#include "openvswitch/dynamic-string.h"
#include "packets.h"
#include "util.h"
#include "test-util.h"

/* config.c refuses files larger than this (CONFIG_FILE_MAX there). */
#define CONFIG_FILE_MAX (64 * 1024 * 1024)

struct fixture {
    struct cats_catalog cat;
    char *dir;                  /* Scratch directory for files. */
};

static int
setup(void **state)
{
    struct fixture *fx = xzalloc(sizeof *fx);

    cats_catalog_init(&fx->cat);
    fx->dir = test_mkdtemp("test-config");
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;

    cats_catalog_destroy(&fx->cat);
    test_rmtree(fx->dir);
    free(fx->dir);
    free(fx);
    return 0;
}

/* Parses 'text' (origin "x") into 'cat' and fails unless it succeeds. */
static void
parse_ok(struct cats_catalog *cat, const char *text)
{
    char *error = cats_config_parse_string(cat, text, "x");

    if (error) {
        fail_msg("parsing \"%s\": unexpected error \"%s\"", text, error);
    }
}

/* Parses 'text' (origin "x") into 'cat' and fails unless that gives exactly
 * 'expected'. */
static void
parse_error(struct cats_catalog *cat, const char *text, const char *expected)
{
    char *error = cats_config_parse_string(cat, text, "x");

    if (!error) {
        fail_msg("parsing \"%s\": expected error \"%s\", got success",
                 text, expected);
    }
    if (strcmp(error, expected)) {
        fail_msg("parsing \"%s\":\n  expected \"%s\"\n  got      \"%s\"",
                 text, expected, error);
    }
    free(error);
}

static const struct cats_instance *
find_instance(const struct cats_catalog *cat, const char *service,
              const char *addr, uint16_t port)
{
    const struct cats_service *s = cats_catalog_find(cat, service);

    assert_non_null(s);
    return cats_instance_find(s, ip(addr), port);
}

/* Statement forms. */

static void
test_service_statement_defaults_to_tcp(void **state)
{
    struct fixture *fx = *state;
    const struct cats_service *s;

    parse_ok(&fx->cat, "service web vip=10.0.0.1 port=80\n");
    s = cats_catalog_find(&fx->cat, "web");
    assert_non_null(s);
    assert_true(s->vip == ip("10.0.0.1"));
    assert_int_equal(s->port, 80);
    assert_int_equal(s->proto, IPPROTO_TCP);
    assert_int_equal(hmap_count(&s->instances), 0);
}

static void
test_service_statement_takes_proto_and_keys_in_any_order(void **state)
{
    struct fixture *fx = *state;
    const struct cats_service *s;

    parse_ok(&fx->cat,
             "service dns proto=udp port=53 vip=10.0.0.2\n"
             "service web port=65535 proto=tcp vip=10.0.0.2\n"
             "service one vip=10.0.0.3 port=1\n");
    s = cats_catalog_find(&fx->cat, "dns");
    assert_int_equal(s->proto, IPPROTO_UDP);
    assert_int_equal(s->port, 53);
    assert_true(s->vip == ip("10.0.0.2"));
    s = cats_catalog_find(&fx->cat, "web");
    assert_int_equal(s->proto, IPPROTO_TCP);
    assert_int_equal(s->port, 65535);
    assert_int_equal(cats_catalog_find(&fx->cat, "one")->port, 1);
}

static void
test_instance_statement_defaults_to_weight_100_without_mac(void **state)
{
    struct fixture *fx = *state;
    const struct cats_instance *inst;

    parse_ok(&fx->cat,
             "service web vip=10.0.0.1 port=80\n"
             "instance web 10.0.0.11:8080\n");
    inst = find_instance(&fx->cat, "web", "10.0.0.11", 8080);
    assert_non_null(inst);
    assert_int_equal(inst->weight, CATS_DEFAULT_WEIGHT);
    assert_int_equal(CATS_DEFAULT_WEIGHT, 100);
    assert_false(inst->has_mac);
}

static void
test_instance_statement_takes_weight_and_mac(void **state)
{
    struct fixture *fx = *state;
    const struct cats_instance *inst;

    parse_ok(&fx->cat,
             "service web vip=10.0.0.1 port=80\n"
             "instance web 10.0.0.11:80 weight=0\n"
             "instance web 10.0.0.12:80 weight=65535 mac=02:00:00:00:00:0c\n"
             "instance web 10.0.0.13:80 mac=0A:0b:0C:0d:0E:0f weight=7\n");
    inst = find_instance(&fx->cat, "web", "10.0.0.11", 80);
    assert_int_equal(inst->weight, 0);
    assert_false(inst->has_mac);

    inst = find_instance(&fx->cat, "web", "10.0.0.12", 80);
    assert_int_equal(inst->weight, 65535);
    assert_true(inst->has_mac);
    assert_true(eth_addr_equals(inst->mac,
                                (struct eth_addr) ETH_ADDR_C(02, 00, 00, 00,
                                                             00, 0c)));

    inst = find_instance(&fx->cat, "web", "10.0.0.13", 80);
    assert_int_equal(inst->weight, 7);
    assert_true(inst->has_mac);
    assert_true(eth_addr_equals(inst->mac,
                                (struct eth_addr) ETH_ADDR_C(0a, 0b, 0c, 0d,
                                                             0e, 0f)));
}

static void
test_comments_blank_lines_and_whitespace_are_ignored(void **state)
{
    struct fixture *fx = *state;

    parse_ok(&fx->cat,
             "# A comment.\n"
             "\n"
             "   \t \n"
             "\t# Indented comment.\n"
             "#service ghost vip=10.0.0.9 port=80\n"
             "  service\tweb   vip=10.0.0.1\t port=80   # trailing\r\n"
             "instance web 10.0.0.11:80 weight=5#no space before comment\n"
             "\n");
    assert_int_equal(cats_catalog_count(&fx->cat), 1);
    assert_null(cats_catalog_find(&fx->cat, "ghost"));
    assert_int_equal(find_instance(&fx->cat, "web", "10.0.0.11", 80)->weight,
                     5);
}

static void
test_empty_text_and_comment_only_text_change_nothing(void **state)
{
    struct fixture *fx = *state;
    uint64_t seqno = fx->cat.seqno;

    parse_ok(&fx->cat, "");
    parse_ok(&fx->cat, "\n\n# nothing\n   \n");
    assert_int_equal(cats_catalog_count(&fx->cat), 0);
    assert_int_equal(fx->cat.seqno, seqno);
}

static void
test_last_line_without_newline_is_parsed(void **state)
{
    struct fixture *fx = *state;

    parse_ok(&fx->cat, "service web vip=10.0.0.1 port=80\n"
                       "instance web 10.0.0.11:80");
    assert_non_null(find_instance(&fx->cat, "web", "10.0.0.11", 80));
}

static void
test_parse_line_applies_one_statement(void **state)
{
    struct fixture *fx = *state;

    assert_null(cats_config_parse_line(&fx->cat,
                                       "service web vip=10.0.0.1 port=80"));
    assert_null(cats_config_parse_line(&fx->cat,
                                       "instance web 10.0.0.11:80 weight=3"));
    assert_null(cats_config_parse_line(&fx->cat, "# just a comment"));
    assert_null(cats_config_parse_line(&fx->cat, ""));
    assert_int_equal(find_instance(&fx->cat, "web", "10.0.0.11", 80)->weight,
                     3);
}

/* Errors.
 *
 * Each case is some valid lines, then one bad line.  Parsing the whole
 * text must give exactly 'error' (which names the line and, where there is
 * one, the field); parsing the bad line alone, after the valid ones, must
 * give the same message without "x:N: " and leave the catalog unchanged. */
struct error_case {
    const char *good;           /* Valid lines, each ending in '\n'. */
    const char *bad;            /* One line, without '\n'. */
    const char *error;          /* Expected error for the whole text. */
};

#define WEB "service web vip=10.0.0.1 port=80\n"
#define SITES "site A dpid=a\nsite B dpid=b\n"

static const struct error_case error_cases[] = {
    /* Statements. */
    { "", "server web vip=10.0.0.1 port=80",
      "x:1: unknown statement 'server' (expected service, instance, site "
      "or path)" },
    { "# c\n\n", "Service web vip=10.0.0.1 port=80",
      "x:3: unknown statement 'Service' (expected service, instance, site "
      "or path)" },
    { "", "service",
      "x:1: service: missing name (usage: service NAME vip=IP port=PORT "
      "[proto=tcp|udp] [policy=min-latency|least-loaded|static] "
      "[decide=weights|connection])" },
    { WEB, "instance web",
      "x:2: instance: usage: instance SERVICE IP:PORT [weight=N] "
      "[mac=MAC] [path=LINK] [site=SITE]" },
    { "", "service web vip=10.0.0.1 port=80 policy=fastest",
      "x:1: service web: field 'policy': 'fastest' is not min-latency, "
      "least-loaded or static" },
    { "", "service web vip=10.0.0.1 port=80 policy=static policy=static",
      "x:1: service web: field 'policy' given twice" },
    { "", "service web vip=10.0.0.1 port=80 decide=switch",
      "x:1: service web: field 'decide': 'switch' is not weights or "
      "connection" },
    { "", "service dns vip=10.0.0.1 port=53 proto=udp decide=connection",
      "x:1: service dns: decide=connection needs proto=tcp" },
    { WEB, "instance web 10.0.0.11:80 path=",
      "x:2: instance web 10.0.0.11:80: field 'path' has no value" },
    { WEB, "instance web 10.0.0.11:80 path=a/b",
      "x:2: instance web 10.0.0.11:80: field 'path': a path is a "
      "telemetry link id: 1 to 64 characters from [A-Za-z0-9._:-]" },
    { "", "a b c d e f g h i j k l m n o p q",
      "x:1: too many words (at most 16)" },

    /* Service keys. */
    { "", "service web vip=10.0.0.1 port=80 ip=10.0.0.2",
      "x:1: service web: unknown field 'ip' (expected vip, port, proto, "
      "policy, decide)" },
    { "", "service web vip=10.0.0.1 port=80 port=81",
      "x:1: service web: field 'port' given twice" },
    { "", "service web vip=10.0.0.1 vip=10.0.0.1 port=80",
      "x:1: service web: field 'vip' given twice" },
    { "", "service web vip= port=80",
      "x:1: service web: field 'vip' has no value" },
    { "", "service web vip=10.0.0.1 80",
      "x:1: service web: '80' is not key=value" },
    { "", "service web vip=10.0.0.1 =80",
      "x:1: service web: '=80' is not key=value" },
    { "", "service web port=80",
      "x:1: service web: missing field 'vip'" },
    { "", "service web vip=10.0.0.1",
      "x:1: service web: missing field 'port'" },
    { "", "service web vip=10.0.0.1 port=80 proto=sctp",
      "x:1: service web: field 'proto': 'sctp' is not tcp or udp" },
    { "", "service web vip=10.0.0.1 port=80 proto=TCP",
      "x:1: service web: field 'proto': 'TCP' is not tcp or udp" },

    /* Service values. */
    { "", "service web vip=10.0.0.256 port=80",
      "x:1: service web: field 'vip': '10.0.0.256' is not an IPv4 address" },
    { "", "service web vip=web.example port=80",
      "x:1: service web: field 'vip': 'web.example' is not an IPv4 address" },
    { "", "service web vip=::1 port=80",
      "x:1: service web: field 'vip': '::1' is not an IPv4 address" },
    { "", "service web vip=0.0.0.0 port=80",
      "x:1: service web: field 'vip': 0.0.0.0 is not a unicast address" },
    { "", "service web vip=224.0.0.1 port=80",
      "x:1: service web: field 'vip': 224.0.0.1 is not a unicast address" },
    { "", "service web vip=239.255.255.255 port=80",
      "x:1: service web: field 'vip': 239.255.255.255 is not a unicast "
      "address" },
    { "", "service web vip=255.255.255.255 port=80",
      "x:1: service web: field 'vip': 255.255.255.255 is not a unicast "
      "address" },
    { "", "service web vip=10.0.0.1 port=0",
      "x:1: service web: field 'port': '0' is not an integer between 1 and "
      "65535" },
    { "", "service web vip=10.0.0.1 port=65536",
      "x:1: service web: field 'port': '65536' is not an integer between 1 "
      "and 65535" },
    { "", "service web vip=10.0.0.1 port=-1",
      "x:1: service web: field 'port': '-1' is not an integer between 1 and "
      "65535" },
    { "", "service web vip=10.0.0.1 port=http",
      "x:1: service web: field 'port': 'http' is not an integer between 1 "
      "and 65535" },
    { "", "service web vip=10.0.0.1 port=80x",
      "x:1: service web: field 'port': '80x' is not an integer between 1 "
      "and 65535" },
    { "", "service web vip=10.0.0.1 port=99999999999999999999",
      "x:1: service web: field 'port': '99999999999999999999' is not an "
      "integer between 1 and 65535" },

    /* Services the catalog refuses. */
    { WEB, "service web vip=10.0.0.2 port=81",
      "x:2: service web: field 'name': a service named web already "
      "exists" },
    { WEB, "service api vip=10.0.0.1 port=80",
      "x:2: service api: field 'vip': 10.0.0.1:80/tcp is already used by "
      "service web" },
    { "", "service 12345678901234567890123456789012345678901234567890"
      "123456789012345 vip=10.0.0.1 port=80",
      "x:1: field 'name': a service name is 1 to 64 characters" },

    /* Instances. */
    { "", "instance web 10.0.0.11:80",
      "x:1: instance 10.0.0.11:80: unknown service 'web' (declare it "
      "first)" },
    { WEB "instance web 10.0.0.11:80\n", "instance api 10.0.0.11:80",
      "x:3: instance 10.0.0.11:80: unknown service 'api' (declare it "
      "first)" },
    { WEB, "instance web 10.0.0.11:80 weight=70000",
      "x:2: instance web 10.0.0.11:80: field 'weight': '70000' is not an "
      "integer between 0 and 65535" },
    { WEB, "instance web 10.0.0.11:80 weight=-1",
      "x:2: instance web 10.0.0.11:80: field 'weight': '-1' is not an "
      "integer between 0 and 65535" },
    { WEB, "instance web 10.0.0.11:80 weight=1.5",
      "x:2: instance web 10.0.0.11:80: field 'weight': '1.5' is not an "
      "integer between 0 and 65535" },
    { WEB, "instance web 10.0.0.11:80 weight=1 weight=2",
      "x:2: instance web 10.0.0.11:80: field 'weight' given twice" },
    { WEB, "instance web 10.0.0.11:80 port=80",
      "x:2: instance web 10.0.0.11:80: unknown field 'port' (expected "
      "weight, mac, path, site)" },
    { WEB, "instance web 10.0.0.11:80 weight",
      "x:2: instance web 10.0.0.11:80: 'weight' is not key=value" },
    { WEB, "instance web 10.0.0.11:80 mac=",
      "x:2: instance web 10.0.0.11:80: field 'mac' has no value" },
    { WEB, "instance web 10.0.0.11:80 mac=zz",
      "x:2: instance web 10.0.0.11:80: field 'mac': 'zz' is not a unicast "
      "Ethernet address" },
    { WEB, "instance web 10.0.0.11:80 mac=02:00:00:00:00",
      "x:2: instance web 10.0.0.11:80: field 'mac': '02:00:00:00:00' is not "
      "a unicast Ethernet address" },
    { WEB, "instance web 10.0.0.11:80 mac=02:00:00:00:00:01:02",
      "x:2: instance web 10.0.0.11:80: field 'mac': '02:00:00:00:00:01:02' "
      "is not a unicast Ethernet address" },
    { WEB, "instance web 10.0.0.11:80 mac=01:00:5e:00:00:01",
      "x:2: instance web 10.0.0.11:80: field 'mac': '01:00:5e:00:00:01' is "
      "not a unicast Ethernet address" },
    { WEB, "instance web 10.0.0.11:80 mac=ff:ff:ff:ff:ff:ff",
      "x:2: instance web 10.0.0.11:80: field 'mac': 'ff:ff:ff:ff:ff:ff' is "
      "not a unicast Ethernet address" },
    { WEB, "instance web 10.0.0.11:80 mac=00:00:00:00:00:00",
      "x:2: instance web 10.0.0.11:80: field 'mac': '00:00:00:00:00:00' is "
      "not a unicast Ethernet address" },

    /* Instance addresses. */
    { WEB, "instance web 10.0.0.11",
      "x:2: instance web 10.0.0.11: field 'address': '10.0.0.11' is not "
      "IPv4:PORT" },
    { WEB, "instance web 10.0.0:80",
      "x:2: instance web 10.0.0:80: field 'address': '10.0.0:80' is not "
      "IPv4:PORT" },
    { WEB, "instance web :80",
      "x:2: instance web :80: field 'address': ':80' is not IPv4:PORT" },
    { WEB, "instance web 10.0.0.11:0",
      "x:2: instance web 10.0.0.11:0: field 'address': '10.0.0.11:0' needs "
      "a port between 1 and 65535" },
    { WEB, "instance web 10.0.0.11:65536",
      "x:2: instance web 10.0.0.11:65536: field 'address': "
      "'10.0.0.11:65536' needs a port between 1 and 65535" },
    { WEB, "instance web 10.0.0.11:",
      "x:2: instance web 10.0.0.11:: field 'address': '10.0.0.11:' needs a "
      "port between 1 and 65535" },
    { WEB, "instance web 0.0.0.0:80",
      "x:2: instance web 0.0.0.0:80: field 'address': 0.0.0.0:80 is not a "
      "unicast address" },
    { WEB, "instance web 224.0.0.5:80",
      "x:2: instance web 224.0.0.5:80: field 'address': 224.0.0.5:80 is not "
      "a unicast address" },
    { WEB, "instance web 255.255.255.255:80",
      "x:2: instance web 255.255.255.255:80: field 'address': "
      "255.255.255.255:80 is not a unicast address" },

    /* Instances the catalog refuses. */
    { WEB "instance web 10.0.0.11:80\n", "instance web 10.0.0.11:80 weight=1",
      "x:3: service web: field 'address': instance 10.0.0.11:80 already "
      "exists" },
    { WEB, "instance web 10.0.0.1:80",
      "x:2: service web: field 'address': 10.0.0.1 is not usable (it is "
      "0.0.0.0 or the service's VIP)" },

    /* Sites. */
    { "", "site", "x:1: site: missing name (usage: site NAME dpid=HEX)" },
    { "", "site A", "x:1: site A: missing field 'dpid'" },
    { "", "site A dpid=", "x:1: site A: field 'dpid' has no value" },
    { "", "site A dpid=xyz",
      "x:1: site A: field 'dpid': 'xyz' is not a datapath id (1 to 16 hex "
      "digits)" },
    { "", "site A dpid=0x",
      "x:1: site A: field 'dpid': '' is not a datapath id (1 to 16 hex "
      "digits)" },
    { "", "site A dpid=10000000000000000",
      "x:1: site A: field 'dpid': '10000000000000000' is not a datapath id "
      "(1 to 16 hex digits)" },
    { "", "site A dpid=1 dpid=2", "x:1: site A: field 'dpid' given twice" },
    { "", "site A dpid=1 port=2",
      "x:1: site A: unknown field 'port' (expected dpid)" },
    { "", "site a:b dpid=1",
      "x:1: field 'name': a site name is 1 to 64 characters from "
      "[A-Za-z0-9._-]" },
    { SITES, "site A dpid=c",
      "x:3: site A: field 'name': a site named A already exists" },
    { SITES, "site C dpid=0xA",
      "x:3: site C: field 'dpid': 000000000000000a is already site A's" },

    /* Paths. */
    { SITES, "path p1 A:1",
      "x:3: path: usage: path NAME SITE1:PORT SITE2:PORT link=ID[,ID...] "
      "[delay_ms=N]" },
    { SITES, "path p1 A:1 B link=l",
      "x:3: path p1: field 'end2': 'B' is not SITE:PORT" },
    { SITES, "path p1 C:1 B:1 link=l",
      "x:3: path p1: field 'end1': 'C:1' names no declared site (declare "
      "it first)" },
    { SITES, "path p1 A:0 B:1 link=l",
      "x:3: path p1: field 'end1': 'A:0' needs a port between 1 and "
      "65279" },
    { SITES, "path p1 A:1 B:65280 link=l",
      "x:3: path p1: field 'end2': 'B:65280' needs a port between 1 and "
      "65279" },
    { SITES, "path p1 A:1 B:x link=l",
      "x:3: path p1: field 'end2': 'B:x' needs a port between 1 and "
      "65279" },
    { SITES, "path p1 A:1 A:2 link=l",
      "x:3: path p1: field 'end2': both ends at site A (a path joins two "
      "sites)" },
    { SITES "path p1 A:1 B:1 link=l\n", "path p2 A:2 B:1 link=m",
      "x:4: path p2: field 'end2': port 1 of site B is already an end of "
      "path p1" },
    { SITES "path p1 A:1 B:1 link=l\n", "path p1 A:2 B:2 link=m",
      "x:4: path p1: field 'name': a path named p1 already exists" },
    { SITES, "path p@1 A:1 B:1 link=l",
      "x:3: field 'name': a path name is 1 to 64 characters from "
      "[A-Za-z0-9._-]" },
    { SITES, "path p1 A:1 B:1", "x:3: path p1: missing field 'link'" },
    { SITES, "path p1 A:1 B:1 link=,",
      "x:3: path p1: field 'link': 1 to 4 link ids" },
    { SITES, "path p1 A:1 B:1 link=a/b",
      "x:3: path p1: field 'link': 'a/b' is not a telemetry link id (1 to "
      "64 characters from [A-Za-z0-9._:-])" },
    { SITES, "path p1 A:1 B:1 link=a,b,a",
      "x:3: path p1: field 'link': 'a' given twice" },
    { SITES, "path p1 A:1 B:1 link=a,b,c,d,e",
      "x:3: path p1: field 'link': at most 4 link ids" },
    { SITES, "path p1 A:1 B:1 link=a link=b",
      "x:3: path p1: field 'link' given twice" },
    { SITES, "path p1 A:1 B:1 link=a delay_ms=x",
      "x:3: path p1: field 'delay_ms': 'x' is not an integer between 0 and "
      "60000" },
    { SITES, "path p1 A:1 B:1 link=a rate=5",
      "x:3: path p1: unknown field 'rate' (expected link, delay_ms)" },

    /* Instances at sites. */
    { SITES WEB, "instance web 10.0.0.11:80 site=C",
      "x:4: instance web 10.0.0.11:80: field 'site': unknown site 'C' "
      "(declare it first)" },
    { SITES WEB, "instance web 10.0.0.11:80 site=",
      "x:4: instance web 10.0.0.11:80: field 'site' has no value" },
    { SITES WEB, "instance web 10.0.0.11:80 site=B",
      "x:4: instance web 10.0.0.11:80: field 'mac': an instance at site B "
      "(not the first site) needs mac=" },
    { SITES "path p1 A:1 B:1 link=l\n" WEB,
      "instance web 10.0.0.11:80 site=A path=l",
      "x:5: instance web 10.0.0.11:80: field 'path': path= (one telemetry "
      "link) and site= do not go together in a catalog with paths" },
};

static void
test_each_error_names_line_and_field(void **state OVS_UNUSED)
{
    for (size_t i = 0; i < ARRAY_SIZE(error_cases); i++) {
        const struct error_case *c = &error_cases[i];
        struct cats_catalog cat;
        char *text = xasprintf("%s%s\n", c->good, c->bad);

        cats_catalog_init(&cat);
        parse_error(&cat, text, c->error);
        cats_catalog_destroy(&cat);
        free(text);
    }
}

static void
test_each_bad_line_leaves_catalog_unchanged(void **state OVS_UNUSED)
{
    for (size_t i = 0; i < ARRAY_SIZE(error_cases); i++) {
        const struct error_case *c = &error_cases[i];
        struct cats_catalog cat;
        const char *without_origin;
        uint64_t seqno;
        size_t count;
        char *error;

        cats_catalog_init(&cat);
        parse_ok(&cat, c->good);
        seqno = cat.seqno;
        count = cats_catalog_count(&cat);

        error = cats_config_parse_line(&cat, c->bad);
        assert_non_null(error);
        /* The same message as for the whole text, without "x:N: ". */
        without_origin = strchr(strchr(c->error, ':') + 1, ':') + 2;
        assert_string_equal(error, without_origin);
        free(error);
        if (cat.seqno != seqno || cats_catalog_count(&cat) != count) {
            fail_msg("\"%s\" changed the catalog", c->bad);
        }
        cats_catalog_destroy(&cat);
    }
}

static void
test_error_line_numbers_count_comments_and_blank_lines(void **state)
{
    struct fixture *fx = *state;

    parse_error(&fx->cat,
                "# 1\n"
                "\n"
                "service web vip=10.0.0.1 port=80\n"
                "   \n"
                "instance web 10.0.0.11:80 # 5\n"
                "\r\n"
                "instance web 10.0.0.12:80 weight=70000\n"
                "instance web 10.0.0.13:80 weight=70000\n",
                "x:7: instance web 10.0.0.12:80: field 'weight': '70000' is "
                "not an integer between 0 and 65535");
}

static void
test_line_of_4096_bytes_is_accepted_4097_refused(void **state)
{
    struct fixture *fx = *state;
    char line[CATS_CONFIG_LINE_MAX + 2];
    char *text;

    /* "service web vip=10.0.0.1 port=80 #xxxx...", 4096 bytes. */
    memset(line, 'x', sizeof line);
    memcpy(line, "service web vip=10.0.0.1 port=80 #", 34);
    line[CATS_CONFIG_LINE_MAX] = '\0';
    text = xasprintf("%s\n", line);
    parse_ok(&fx->cat, text);
    free(text);
    assert_non_null(cats_catalog_find(&fx->cat, "web"));

    memcpy(line, "service api vip=10.0.0.2 port=80 #", 34);
    line[CATS_CONFIG_LINE_MAX] = 'x';
    line[CATS_CONFIG_LINE_MAX + 1] = '\0';
    text = xasprintf("# first\n%s\n", line);
    parse_error(&fx->cat, text, "x:2: line longer than 4096 bytes");
    free(text);
    assert_null(cats_catalog_find(&fx->cat, "api"));

    /* The limit holds for the line parser itself. */
    char *error = cats_config_parse_line(&fx->cat, line);
    assert_string_equal(error, "line longer than 4096 bytes");
    free(error);
}

static void
test_sixteen_words_are_accepted(void **state)
{
    struct fixture *fx = *state;
    char *error;

    /* 16 words reach the statement parser (which then complains about the
     * 4th one); 17 are refused by the tokenizer. */
    error = cats_config_parse_line(&fx->cat,
                                   "a b c d e f g h i j k l m n o p");
    assert_string_equal(error,
                        "unknown statement 'a' (expected service, "
                        "instance, site or path)");
    free(error);
}

/* All or nothing.
 *
 * config.h: "Parsing a file is all or nothing: on any error the caller's
 * catalog is left untouched." */

/* Fails, saying how, unless 'cat' is still empty at 'seqno'. */
static void
assert_catalog_untouched(const struct cats_catalog *cat, uint64_t seqno)
{
    if (cats_catalog_count(cat) || cat->seqno != seqno) {
        fail_msg("catalog changed by a text with an error: %"PRIuSIZE
                 " service(s), seqno %"PRIu64" -> %"PRIu64,
                 cats_catalog_count(cat), seqno, cat->seqno);
    }
}

static void
test_parse_string_with_error_leaves_catalog_untouched(void **state)
{
    struct fixture *fx = *state;
    uint64_t seqno = fx->cat.seqno;

    parse_error(&fx->cat,
                "service web vip=10.0.0.1 port=80\n"
                "instance web 10.0.0.11:80\n"
                "instance web 10.0.0.12:80 weight=70000\n",
                "x:3: instance web 10.0.0.12:80: field 'weight': '70000' is "
                "not an integer between 0 and 65535");
    assert_catalog_untouched(&fx->cat, seqno);
}

static void
test_parse_file_with_error_leaves_catalog_untouched(void **state)
{
    static const char text[] =
        "service web vip=10.0.0.1 port=80\n"
        "instance web 10.0.0.11:80\n"
        "instance api 10.0.0.12:80\n";
    struct fixture *fx = *state;
    uint64_t seqno = fx->cat.seqno;
    char *path, *error, *expected;

    path = test_write_file(fx->dir, "bad.conf", text, strlen(text));
    error = cats_config_parse_file(&fx->cat, path);
    expected = xasprintf("%s:3: instance 10.0.0.12:80: unknown service "
                         "'api' (declare it first)", path);
    assert_non_null(error);
    assert_string_equal(error, expected);
    assert_catalog_untouched(&fx->cat, seqno);
    free(expected);
    free(error);
    free(path);
}

/* Files. */

static void
test_parse_file_reads_whole_file(void **state)
{
    static const char text[] =
        "# Example.\n"
        "service web vip=10.0.0.1 port=80\n"
        "instance web 10.0.0.11:80 weight=70\n"
        "instance web 10.0.0.12:80 weight=30 mac=02:00:00:00:00:0c\n"
        "service dns vip=10.0.0.53 port=53 proto=udp\n"
        "instance dns 10.0.0.54:53";
    struct fixture *fx = *state;
    char *path = test_write_file(fx->dir, "ok.conf", text, strlen(text));

    assert_null(cats_config_parse_file(&fx->cat, path));
    assert_int_equal(cats_catalog_count(&fx->cat), 2);
    assert_int_equal(find_instance(&fx->cat, "web", "10.0.0.11", 80)->weight,
                     70);
    assert_true(find_instance(&fx->cat, "web", "10.0.0.12", 80)->has_mac);
    assert_int_equal(cats_catalog_find(&fx->cat, "dns")->proto, IPPROTO_UDP);
    assert_non_null(find_instance(&fx->cat, "dns", "10.0.0.54", 53));
    free(path);
}

static void
test_parse_file_larger_than_a_read_buffer(void **state)
{
    struct fixture *fx = *state;
    struct ds text = DS_EMPTY_INITIALIZER;
    char *path;

    /* Several 64 kB reads, with lines split across read boundaries. */
    ds_put_cstr(&text, "service web vip=10.0.0.1 port=80\n");
    for (int i = 0; i < CATS_MAX_INSTANCES; i++) {
        ds_put_char(&text, '#');
        ds_put_char_multiple(&text, 'p', 200);
        ds_put_char(&text, '\n');
        ds_put_format(&text, "instance web 10.1.%d.%d:80 weight=%d\n",
                      i / 256, i % 256, i);
    }
    assert_true(text.length > 3 * 65536);
    path = test_write_file(fx->dir, "big.conf", text.string, text.length);

    assert_null(cats_config_parse_file(&fx->cat, path));
    const struct cats_service *s = cats_catalog_find(&fx->cat, "web");
    assert_int_equal(hmap_count(&s->instances), CATS_MAX_INSTANCES);
    assert_int_equal(find_instance(&fx->cat, "web", "10.1.3.255", 80)->weight,
                     1023);
    ds_destroy(&text);
    free(path);
}

static void
test_parse_file_missing_file_names_it(void **state)
{
    struct fixture *fx = *state;
    char *path = xasprintf("%s/does-not-exist.conf", fx->dir);
    char *expected = xasprintf("%s: open failed (No such file or directory)",
                               path);
    uint64_t seqno = fx->cat.seqno;
    char *error;

    error = cats_config_parse_file(&fx->cat, path);
    assert_non_null(error);
    assert_string_equal(error, expected);
    assert_int_equal(fx->cat.seqno, seqno);
    free(error);
    free(expected);
    free(path);
}

static void
test_parse_file_unreadable_directory_is_read_error(void **state)
{
    struct fixture *fx = *state;
    char *expected = xasprintf("%s: read failed (Is a directory)", fx->dir);
    uint64_t seqno = fx->cat.seqno;
    char *error;

    /* fopen() of a directory succeeds on Linux; reading it fails. */
    error = cats_config_parse_file(&fx->cat, fx->dir);
    assert_non_null(error);
    assert_string_equal(error, expected);
    assert_int_equal(fx->cat.seqno, seqno);
    free(error);
    free(expected);
}

static void
test_parse_file_without_read_permission_is_open_error(void **state)
{
    static const char text[] = "service web vip=10.0.0.1 port=80\n";
    struct fixture *fx = *state;
    char *path, *expected, *error;

    if (!geteuid()) {
        /* root reads it anyway; test-config-wrap.c covers this path by
         * making fopen() fail with EACCES. */
        skip();
    }
    path = test_write_file(fx->dir, "secret.conf", text, strlen(text));
    assert_int_equal(chmod(path, 0), 0);
    expected = xasprintf("%s: open failed (Permission denied)", path);
    error = cats_config_parse_file(&fx->cat, path);
    assert_non_null(error);
    assert_string_equal(error, expected);
    assert_int_equal(cats_catalog_count(&fx->cat), 0);
    free(error);
    free(expected);
    free(path);
}

static void
test_parse_file_nul_byte_names_its_line(void **state)
{
    static const char text[] =
        "service web vip=10.0.0.1 port=80\n"
        "# a comment\n"
        "instance web 10.0.0.11:80\0 weight=1\n"
        "instance web 10.0.0.12:80\n";
    struct fixture *fx = *state;
    uint64_t seqno = fx->cat.seqno;
    char *path, *expected, *error;

    path = test_write_file(fx->dir, "nul.conf", text, sizeof text - 1);
    expected = xasprintf("%s:3: NUL byte in line", path);
    error = cats_config_parse_file(&fx->cat, path);
    assert_non_null(error);
    assert_string_equal(error, expected);
    assert_int_equal(cats_catalog_count(&fx->cat), 0);
    assert_int_equal(fx->cat.seqno, seqno);
    free(error);
    free(expected);
    free(path);

    /* On the first line, and as the very first byte. */
    path = test_write_file(fx->dir, "nul0.conf", "\0service", 8);
    expected = xasprintf("%s:1: NUL byte in line", path);
    error = cats_config_parse_file(&fx->cat, path);
    assert_string_equal(error, expected);
    free(error);
    free(expected);
    free(path);
}

static void
test_parse_file_over_long_line_names_its_line(void **state)
{
    struct fixture *fx = *state;
    struct ds text = DS_EMPTY_INITIALIZER;
    char *path, *expected, *error;

    ds_put_cstr(&text, "service web vip=10.0.0.1 port=80\n# ");
    ds_put_char_multiple(&text, 'x', CATS_CONFIG_LINE_MAX);
    ds_put_cstr(&text, "\ninstance web 10.0.0.11:80\n");
    path = test_write_file(fx->dir, "long.conf", text.string, text.length);
    expected = xasprintf("%s:2: line longer than 4096 bytes", path);
    error = cats_config_parse_file(&fx->cat, path);
    assert_non_null(error);
    assert_string_equal(error, expected);
    free(error);
    free(expected);
    free(path);
    ds_destroy(&text);
}

/* Makes a sparse file of 'size' zero bytes and returns its path. */
static char *
make_sparse_file(const struct fixture *fx, const char *name, off_t size)
{
    char *path = xasprintf("%s/%s", fx->dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, size), 0);
    assert_int_equal(close(fd), 0);
    return path;
}

static void
test_parse_file_over_size_limit_is_refused(void **state)
{
    struct fixture *fx = *state;
    char *path, *expected, *error;

    /* One byte too many: refused for its size, before anything else. */
    path = make_sparse_file(fx, "huge.conf", CONFIG_FILE_MAX + 1);
    expected = xasprintf("%s: larger than %d bytes", path, CONFIG_FILE_MAX);
    error = cats_config_parse_file(&fx->cat, path);
    assert_non_null(error);
    assert_string_equal(error, expected);
    free(error);
    free(expected);
    free(path);

    /* Exactly the limit: read, and then refused for its content. */
    path = make_sparse_file(fx, "limit.conf", CONFIG_FILE_MAX);
    expected = xasprintf("%s:1: NUL byte in line", path);
    error = cats_config_parse_file(&fx->cat, path);
    assert_non_null(error);
    assert_string_equal(error, expected);
    free(error);
    free(expected);
    free(path);
    assert_int_equal(cats_catalog_count(&fx->cat), 0);
}

/* cats_parse_ip_port(). */

static void
test_parse_ip_port(void **state OVS_UNUSED)
{
    uint16_t port = 0;
    ovs_be32 addr = 0;
    char *error;

    assert_null(cats_parse_ip_port("192.168.1.2:65535", &addr, &port));
    assert_true(addr == ip("192.168.1.2"));
    assert_int_equal(port, 65535);
    assert_null(cats_parse_ip_port("10.0.0.1:1", &addr, &port));
    assert_int_equal(port, 1);

    error = cats_parse_ip_port("10.0.0.1", &addr, &port);
    assert_string_equal(error, "'10.0.0.1' is not IPv4:PORT");
    free(error);
    error = cats_parse_ip_port("10.0.0.1:0", &addr, &port);
    assert_string_equal(error, "'10.0.0.1:0' needs a port between 1 and "
                        "65535");
    free(error);
    error = cats_parse_ip_port("10.0.0.1:65536", &addr, &port);
    assert_string_equal(error, "'10.0.0.1:65536' needs a port between 1 and "
                        "65535");
    free(error);
    error = cats_parse_ip_port("10.0.0.1:80:80", &addr, &port);
    assert_string_equal(error, "'10.0.0.1:80:80' is not IPv4:PORT");
    free(error);
    error = cats_parse_ip_port("224.1.2.3:80", &addr, &port);
    assert_string_equal(error, "224.1.2.3:80 is not a unicast address");
    free(error);
    error = cats_parse_ip_port("0.0.0.0:80", &addr, &port);
    assert_string_equal(error, "0.0.0.0:80 is not a unicast address");
    free(error);
}

#define T(NAME) cmocka_unit_test_setup_teardown(NAME, setup, teardown)

/* policy= and path=: parsed into the catalog, default min-latency and
 * local, and a reload that changes them changes the catalog. */
static void
test_policy_and_path(void **state OVS_UNUSED)
{
    struct cats_catalog cat, next;
    struct cats_service *s;
    struct cats_instance *a, *b;
    ovs_be32 ip;
    uint64_t seqno;

    cats_catalog_init(&cat);
    parse_ok(&cat, "service web vip=10.0.0.1 port=80 policy=least-loaded\n"
             "service llm vip=10.0.0.2 port=80\n"
             "instance web 10.0.0.11:80 path=site-b:path-1\n"
             "instance web 10.0.0.12:80\n");
    s = cats_catalog_find(&cat, "web");
    assert_int_equal(s->policy, CATS_POLICY_LEAST_LOADED);
    assert_int_equal(cats_catalog_find(&cat, "llm")->policy,
                     CATS_POLICY_MIN_LATENCY);
    assert_true(ip_parse("10.0.0.11", &ip));
    a = cats_instance_find(s, ip, 80);
    assert_string_equal(a->path, "site-b:path-1");
    assert_true(ip_parse("10.0.0.12", &ip));
    b = cats_instance_find(s, ip, 80);
    assert_null(b->path);

    cats_catalog_init(&next);
    parse_ok(&next, "service web vip=10.0.0.1 port=80 policy=static\n"
             "service llm vip=10.0.0.2 port=80\n"
             "instance web 10.0.0.11:80\n"
             "instance web 10.0.0.12:80 path=p2\n");
    seqno = cat.seqno;
    cats_catalog_sync(&cat, &next);
    assert_true(cat.seqno > seqno);
    assert_int_equal(s->policy, CATS_POLICY_STATIC);
    assert_null(a->path);
    assert_string_equal(b->path, "p2");

    seqno = cat.seqno;
    cats_catalog_sync(&cat, &next);
    assert_int_equal(cat.seqno, seqno);
    cats_catalog_destroy(&next);
    cats_catalog_destroy(&cat);

    enum cats_policy p;
    assert_true(cats_policy_from_string("min-latency", &p));
    assert_int_equal(p, CATS_POLICY_MIN_LATENCY);
    assert_false(cats_policy_from_string("Static", &p));
    assert_string_equal(cats_policy_name(CATS_POLICY_STATIC), "static");
}

/* decide=: default weights; a reload that changes it changes the catalog
 * and the membership seqno (the controller rebuilds its selector). */
static void
test_decide(void **state OVS_UNUSED)
{
    struct cats_catalog cat, next;
    struct cats_service *s;
    uint64_t seqno, membership;

    cats_catalog_init(&cat);
    parse_ok(&cat, "service web vip=10.0.0.1 port=80 decide=connection\n"
             "service llm vip=10.0.0.2 port=80\n");
    s = cats_catalog_find(&cat, "web");
    assert_int_equal(s->decide, CATS_DECIDE_CONNECTION);
    assert_int_equal(cats_catalog_find(&cat, "llm")->decide,
                     CATS_DECIDE_WEIGHTS);

    cats_catalog_init(&next);
    parse_ok(&next, "service web vip=10.0.0.1 port=80 decide=weights\n"
             "service llm vip=10.0.0.2 port=80\n");
    seqno = cat.seqno;
    membership = cat.membership_seqno;
    cats_catalog_sync(&cat, &next);
    assert_true(cat.seqno > seqno);
    assert_true(cat.membership_seqno > membership);
    assert_int_equal(s->decide, CATS_DECIDE_WEIGHTS);
    seqno = cat.seqno;
    cats_catalog_sync(&cat, &next);
    assert_int_equal(cat.seqno, seqno);
    cats_catalog_destroy(&next);
    cats_catalog_destroy(&cat);

    enum cats_decide d;
    assert_true(cats_decide_from_string("connection", &d));
    assert_int_equal(d, CATS_DECIDE_CONNECTION);
    assert_false(cats_decide_from_string("Connection", &d));
    assert_string_equal(cats_decide_name(CATS_DECIDE_WEIGHTS), "weights");
}

/* Sites and paths: what the statements declare; an instance runs at the
 * first site unless told; path= alone stays as it was. */
static void
test_sites_and_paths(void **state OVS_UNUSED)
{
    const struct cats_instance *inst;
    const struct cats_site *a, *b;
    const struct cats_path *p;
    struct cats_catalog cat;

    cats_catalog_init(&cat);
    parse_ok(&cat, "site A dpid=0x10\n"
             "site B dpid=FFFFFFFFFFFFFFFF\n"
             "path p1 A:5 B:6 link=path1-a:path1-b delay_ms=2\n"
             "path p2 B:8 A:7 link=x,y,z,w\n"
             "service web vip=10.0.0.1 port=80\n"
             "instance web 10.0.0.11:80\n"
             "instance web 10.0.0.12:80 site=B mac=02:00:00:00:00:12\n"
             "instance web 10.0.0.13:80 path=l1\n");
    a = cats_site_find(&cat, "A");
    b = cats_site_find(&cat, "B");
    assert_int_equal(a->id, 1);
    assert_int_equal(a->dpid, 0x10);
    assert_int_equal(b->id, 2);
    assert_true(b->dpid == UINT64_MAX);
    assert_ptr_equal(cats_site_find_dpid(&cat, 0x10), a);
    assert_ptr_equal(cats_catalog_first_site(&cat), a);

    p = cats_path_find(&cat, "p1");
    assert_int_equal(p->id, 1);
    assert_ptr_equal(p->site[0], a);
    assert_ptr_equal(p->site[1], b);
    assert_int_equal(ofp_to_u16(p->port[0]), 5);
    assert_int_equal(ofp_to_u16(p->port[1]), 6);
    assert_int_equal(p->n_links, 1);
    assert_string_equal(p->links[0], "path1-a:path1-b");
    assert_int_equal(p->delay_ms, 2);
    assert_int_equal(p->carrier, 0);
    p = cats_path_find(&cat, "p2");
    assert_int_equal(p->id, 2);
    assert_ptr_equal(p->site[0], b);
    assert_int_equal(cats_path_end(p, a), 1);
    assert_int_equal(p->n_links, 4);
    assert_string_equal(p->links[3], "w");
    assert_int_equal(p->delay_ms, 0);

    inst = find_instance(&cat, "web", "10.0.0.11", 80);
    assert_ptr_equal(inst->site, a);
    inst = find_instance(&cat, "web", "10.0.0.12", 80);
    assert_ptr_equal(inst->site, b);
    assert_true(inst->has_mac);
    inst = find_instance(&cat, "web", "10.0.0.13", 80);
    assert_string_equal(inst->path, "l1");
    assert_ptr_equal(inst->site, a);
    cats_catalog_destroy(&cat);

    /* Without sites: nothing new. */
    cats_catalog_init(&cat);
    parse_ok(&cat, "service web vip=10.0.0.1 port=80\n"
             "instance web 10.0.0.11:80\n");
    assert_null(find_instance(&cat, "web", "10.0.0.11", 80)->site);
    assert_int_equal(cat.paths_seqno, 0);
    cats_catalog_destroy(&cat);
}

/* At most 16 sites, 255 paths. */
static void
test_site_and_path_limits(void **state OVS_UNUSED)
{
    struct ds text = DS_EMPTY_INITIALIZER;
    struct cats_catalog cat;
    char *error;

    for (int i = 1; i <= CATS_MAX_SITES; i++) {
        ds_put_format(&text, "site s%d dpid=%x\n", i, i);
    }
    cats_catalog_init(&cat);
    parse_ok(&cat, ds_cstr(&text));
    ds_put_cstr(&text, "site s17 dpid=11\n");
    parse_error(&cat, ds_cstr(&text),
                "x:17: site s17: too many sites (at most 16)");
    assert_null(cats_site_find(&cat, "s17"));

    ds_clear(&text);
    ds_put_cstr(&text, "site A dpid=1\nsite B dpid=2\n");
    for (int i = 1; i <= CATS_MAX_PATHS; i++) {
        ds_put_format(&text, "path p%d A:%d B:%d link=l%d\n", i, i, i, i);
    }
    parse_ok(&cat, ds_cstr(&text));
    assert_int_equal(hmap_count(&cat.paths), CATS_MAX_PATHS);
    assert_int_equal(cats_path_find(&cat, "p255")->id, 255);
    ds_put_cstr(&text, "path p256 A:256 B:256 link=l\n");
    error = cats_config_parse_string(&cat, ds_cstr(&text), "x");
    assert_string_equal(error, "x:258: path p256: too many paths (at most "
                        "255)");
    free(error);
    cats_catalog_destroy(&cat);
    ds_destroy(&text);
}

/* A reload keeps the ids of sites and paths by name, takes new values in
 * place, numbers new ones in free ids, and keeps a carrier that still
 * joins the same sites; the same text again changes nothing. */
static void
test_reload_keeps_site_and_path_ids(void **state OVS_UNUSED)
{
    struct cats_catalog cat;
    struct cats_path *p1, *p2;
    uint64_t seqno, paths_seqno, membership;

    cats_catalog_init(&cat);
    parse_ok(&cat, "site A dpid=1\nsite B dpid=2\n"
             "path p1 A:5 B:6 link=l1\n"
             "path p2 A:7 B:8 link=l2\n"
             "path p3 A:9 B:10 link=l3\n"
             "service web vip=10.0.0.1 port=80\n"
             "instance web 10.0.0.12:80 site=B mac=02:00:00:00:00:12\n");
    p1 = cats_path_find(&cat, "p1");
    p2 = cats_path_find(&cat, "p2");
    assert_int_equal(cats_path_set_carrier(&cat, p1, p2->id), 0);
    assert_int_equal(cats_path_set_carrier(&cat, p2,
                                           cats_path_find(&cat, "p3")->id),
                     0);
    struct cats_instance *inst = CONST_CAST(struct cats_instance *,
        find_instance(&cat, "web", "10.0.0.12", 80));
    cats_instance_set_pair_weight(&cat, inst, p1->id, 7);

    seqno = cat.seqno;
    paths_seqno = cat.paths_seqno;
    membership = cat.membership_seqno;
    parse_ok(&cat, "site B dpid=2\nsite A dpid=1\nsite C dpid=3\n"
             "path p4 A:9 C:1 link=l4\n"
             "path p2 B:8 A:7 link=l2,l2b delay_ms=4\n"
             "path p1 A:5 B:6 link=l1\n"
             "service web vip=10.0.0.1 port=80\n"
             "instance web 10.0.0.12:80 site=B mac=02:00:00:00:00:12\n");
    assert_true(cat.seqno > seqno);
    assert_true(cat.paths_seqno > paths_seqno);
    assert_true(cat.membership_seqno > membership);
    assert_int_equal(cats_site_find(&cat, "A")->id, 1);
    assert_int_equal(cats_site_find(&cat, "B")->id, 2);
    assert_int_equal(cats_site_find(&cat, "C")->id, 3);
    assert_ptr_equal(cats_path_find(&cat, "p1"), p1);
    assert_ptr_equal(cats_path_find(&cat, "p2"), p2);
    assert_int_equal(p1->id, 1);
    assert_int_equal(p2->id, 2);
    assert_int_equal(cats_path_find(&cat, "p4")->id, 3);    /* p3's. */
    assert_null(cats_path_find(&cat, "p3"));
    assert_int_equal(p2->n_links, 2);
    assert_int_equal(p2->delay_ms, 4);
    assert_ptr_equal(p2->site[0], cats_site_find(&cat, "B"));
    assert_int_equal(p1->carrier, 2);       /* Still between A and B. */
    assert_int_equal(p2->carrier, 0);       /* p3 is gone. */
    assert_ptr_equal(inst->site, cats_site_find(&cat, "B"));
    assert_int_equal(cats_instance_pair_weight(inst, p1->id), 7);

    seqno = cat.seqno;
    parse_ok(&cat, "site B dpid=2\nsite A dpid=1\nsite C dpid=3\n"
             "path p4 A:9 C:1 link=l4\n"
             "path p2 B:8 A:7 link=l2,l2b delay_ms=4\n"
             "path p1 A:5 B:6 link=l1\n"
             "service web vip=10.0.0.1 port=80\n"
             "instance web 10.0.0.12:80 site=B mac=02:00:00:00:00:12\n");
    assert_int_equal(cat.seqno, seqno);

    /* Dropping a site moves its instances' paths and site away with it;
     * dpids may swap between sites. */
    parse_ok(&cat, "site A dpid=2\nsite B dpid=1\n"
             "service web vip=10.0.0.1 port=80\n"
             "instance web 10.0.0.12:80\n");
    assert_null(cats_site_find(&cat, "C"));
    assert_int_equal(hmap_count(&cat.paths), 0);
    assert_int_equal(cats_site_find(&cat, "A")->dpid, 2);
    assert_ptr_equal(find_instance(&cat, "web", "10.0.0.12", 80)->site,
                     cats_site_find(&cat, "A"));
    cats_catalog_destroy(&cat);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_service_statement_defaults_to_tcp),
        T(test_service_statement_takes_proto_and_keys_in_any_order),
        T(test_instance_statement_defaults_to_weight_100_without_mac),
        T(test_instance_statement_takes_weight_and_mac),
        T(test_comments_blank_lines_and_whitespace_are_ignored),
        T(test_empty_text_and_comment_only_text_change_nothing),
        T(test_last_line_without_newline_is_parsed),
        T(test_parse_line_applies_one_statement),
        cmocka_unit_test(test_each_error_names_line_and_field),
        cmocka_unit_test(test_each_bad_line_leaves_catalog_unchanged),
        T(test_error_line_numbers_count_comments_and_blank_lines),
        T(test_line_of_4096_bytes_is_accepted_4097_refused),
        T(test_sixteen_words_are_accepted),
        T(test_parse_string_with_error_leaves_catalog_untouched),
        T(test_parse_file_with_error_leaves_catalog_untouched),
        T(test_parse_file_reads_whole_file),
        T(test_parse_file_larger_than_a_read_buffer),
        T(test_parse_file_missing_file_names_it),
        T(test_parse_file_unreadable_directory_is_read_error),
        T(test_parse_file_without_read_permission_is_open_error),
        T(test_parse_file_nul_byte_names_its_line),
        T(test_parse_file_over_long_line_names_its_line),
        T(test_parse_file_over_size_limit_is_refused),
        cmocka_unit_test(test_parse_ip_port),
        cmocka_unit_test(test_policy_and_path),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_sites_and_paths),
        cmocka_unit_test(test_site_and_path_limits),
        cmocka_unit_test(test_reload_keeps_site_and_path_ids),
    };

    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
