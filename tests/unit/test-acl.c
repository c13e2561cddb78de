/*
 * Unit tests for the agent access list (include/cats/acl.h).
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cats/acl.h"
#include "cats/report.h"
#include "openvswitch/dynamic-string.h"
#include "packets.h"
#include "util.h"
#include "test-util.h"

#define TOKEN16 "0123456789abcdef"

struct fixture {
    struct cats_acl acl;
    char *dir;                  /* Scratch directory for files. */
};

static int
setup(void **state)
{
    struct fixture *fx = xzalloc(sizeof *fx);

    cats_acl_init(&fx->acl);
    fx->dir = test_mkdtemp("test-acl");
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;

    cats_acl_destroy(&fx->acl);
    test_rmtree(fx->dir);
    free(fx->dir);
    free(fx);
    return 0;
}

/* Parses 'text' (name "x") into 'acl' and fails unless it succeeds. */
static void
parse_ok(struct cats_acl *acl, const char *text)
{
    char *error = cats_acl_parse_string(acl, text, "x");

    if (error) {
        fail_msg("parsing \"%s\": unexpected error \"%s\"", text, error);
    }
}

/* Parses 'text' (name "x") into 'acl' and fails unless that gives exactly
 * 'expected'. */
static void
parse_error(struct cats_acl *acl, const char *text, const char *expected)
{
    char *error = cats_acl_parse_string(acl, text, "x");

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

/* Fails unless 'p' is ADDR/PLEN with the matching mask. */
static void
assert_prefix(const struct cats_prefix *p, const char *addr,
              unsigned int plen)
{
    ovs_be32 a;

    assert_true(ip_parse(addr, &a));
    assert_int_equal(ntohl(p->addr), ntohl(a));
    assert_int_equal(p->plen, plen);
    assert_int_equal(ntohl(p->mask), ntohl(be32_prefix_mask(plen)));
}

/* The node's own entry (not '*'), which must exist. */
static const struct cats_acl_node *
own(const struct cats_acl *acl, const char *id)
{
    const struct cats_acl_node *node = cats_acl_lookup(acl, id);

    assert_non_null(node);
    assert_string_equal(node->id, id);
    return node;
}

static size_t
n_entries(const struct cats_acl *acl)
{
    return hmap_count(&acl->nodes) + (acl->any != NULL);
}

/* Accepted forms. */

static void
test_node_with_token_and_prefixes(void **state)
{
    struct fixture *fx = *state;
    const struct cats_acl_node *n;

    parse_ok(&fx->acl, "node web-1 token=3f9c2a0e5b7d41c8a6f2 "
             "allow=10.0.0.0/24,10.0.1.5\n");
    assert_int_equal(n_entries(&fx->acl), 1);
    assert_null(fx->acl.any);

    n = own(&fx->acl, "web-1");
    assert_string_equal(n->token, "3f9c2a0e5b7d41c8a6f2");
    assert_int_equal(n->n_prefixes, 2);
    assert_prefix(&n->prefixes[0], "10.0.0.0", 24);
    assert_prefix(&n->prefixes[1], "10.0.1.5", 32);
    assert_int_equal(n->line, 1);
}

static void
test_fields_in_any_order(void **state)
{
    struct fixture *fx = *state;
    const struct cats_acl_node *n;

    parse_ok(&fx->acl, "node a allow=192.168.7.0/24 token="TOKEN16"\n");
    n = own(&fx->acl, "a");
    assert_string_equal(n->token, TOKEN16);
    assert_int_equal(n->n_prefixes, 1);
    assert_prefix(&n->prefixes[0], "192.168.7.0", 24);
}

static void
test_node_without_fields_needs_nothing(void **state)
{
    struct fixture *fx = *state;
    const struct cats_acl_node *n;

    parse_ok(&fx->acl, "node gw-a\n");
    n = own(&fx->acl, "gw-a");
    assert_null(n->token);
    assert_null(n->prefixes);
    assert_int_equal(n->n_prefixes, 0);
}

static void
test_allow_any_is_no_restriction(void **state)
{
    struct fixture *fx = *state;
    const struct cats_acl_node *n;

    parse_ok(&fx->acl, "node a allow=any token="TOKEN16"\n");
    n = own(&fx->acl, "a");
    assert_string_equal(n->token, TOKEN16);
    assert_int_equal(n->n_prefixes, 0);
}

static void
test_prefix_lengths_0_to_32(void **state)
{
    struct fixture *fx = *state;
    const struct cats_acl_node *n;

    parse_ok(&fx->acl, "node a allow=0.0.0.0/0,128.0.0.0/1,10.0.0.0/8,"
             "172.16.0.0/12,10.1.2.3/32,10.1.2.4\n");
    n = own(&fx->acl, "a");
    assert_int_equal(n->n_prefixes, 6);
    assert_prefix(&n->prefixes[0], "0.0.0.0", 0);
    assert_prefix(&n->prefixes[1], "128.0.0.0", 1);
    assert_prefix(&n->prefixes[2], "10.0.0.0", 8);
    assert_prefix(&n->prefixes[3], "172.16.0.0", 12);
    assert_prefix(&n->prefixes[4], "10.1.2.3", 32);
    assert_prefix(&n->prefixes[5], "10.1.2.4", 32);
}

static void
test_default_entry(void **state)
{
    struct fixture *fx = *state;
    const struct cats_acl_node *any;

    parse_ok(&fx->acl, "node web-1\nnode * allow=10.9.0.0/16\n");
    assert_int_equal(hmap_count(&fx->acl.nodes), 1);
    any = fx->acl.any;
    assert_non_null(any);
    assert_string_equal(any->id, "*");
    assert_null(any->token);
    assert_int_equal(any->n_prefixes, 1);
    assert_prefix(&any->prefixes[0], "10.9.0.0", 16);
    assert_int_equal(any->line, 2);
}

static void
test_id_characters_and_length(void **state)
{
    struct fixture *fx = *state;
    char id[CATS_ID_MAX + 1];
    char *text;

    memset(id, 'z', CATS_ID_MAX);
    id[CATS_ID_MAX] = '\0';
    text = xasprintf("node AZaz09._:-\nnode %s\nnode 7\n", id);
    parse_ok(&fx->acl, text);
    free(text);
    own(&fx->acl, "AZaz09._:-");
    own(&fx->acl, id);
    own(&fx->acl, "7");
    assert_int_equal(n_entries(&fx->acl), 3);
}

static void
test_token_bounds_and_characters(void **state)
{
    struct fixture *fx = *state;
    char longest[CATS_ACL_TOKEN_MAX + 1];
    /* Every printable ASCII character but blank and '#' (a comment). */
    const char *punct = "!\"$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    char *text;

    memset(longest, 'k', CATS_ACL_TOKEN_MAX);
    longest[CATS_ACL_TOKEN_MAX] = '\0';
    text = xasprintf("node a token="TOKEN16"\nnode b token=%s\n"
                     "node c token=%s\n", longest, punct);
    parse_ok(&fx->acl, text);
    free(text);
    assert_string_equal(own(&fx->acl, "a")->token, TOKEN16);
    assert_string_equal(own(&fx->acl, "b")->token, longest);
    assert_string_equal(own(&fx->acl, "c")->token, punct);
}

static void
test_token_stops_at_comment(void **state)
{
    struct fixture *fx = *state;

    parse_ok(&fx->acl, "node a token="TOKEN16"#rest-of-line\n");
    assert_string_equal(own(&fx->acl, "a")->token, TOKEN16);
}

static void
test_comments_blanks_tabs_and_crlf(void **state)
{
    struct fixture *fx = *state;
    const struct cats_acl_node *n;

    parse_ok(&fx->acl,
             "# agents\n"
             "\n"
             "   \t \r\n"
             "\tnode\ta \t allow=10.0.0.0/8   # the first\r\n"
             "# node b\n"
             "node  *  # everyone else, caf\xc3\xa9\n"
             "node c");                 /* No final newline. */
    assert_int_equal(n_entries(&fx->acl), 2 + 1);
    n = own(&fx->acl, "a");
    assert_int_equal(n->line, 4);
    assert_int_equal(n->n_prefixes, 1);
    assert_prefix(&n->prefixes[0], "10.0.0.0", 8);
    assert_int_equal(own(&fx->acl, "c")->line, 7);
    assert_ptr_equal(cats_acl_lookup(&fx->acl, "b"), fx->acl.any);
    assert_int_equal(fx->acl.any->line, 6);
    assert_int_equal(fx->acl.any->n_prefixes, 0);
}

/* Limits. */

static void
test_64_prefixes_accepted_65_refused(void **state)
{
    struct fixture *fx = *state;
    struct ds s = DS_EMPTY_INITIALIZER;

    ds_put_cstr(&s, "node a allow=10.0.0.0");
    for (int i = 1; i < CATS_ACL_MAX_PREFIXES; i++) {
        ds_put_format(&s, ",10.0.%d.0/24", i);
    }
    ds_put_char(&s, '\n');
    parse_ok(&fx->acl, ds_cstr(&s));
    assert_int_equal(own(&fx->acl, "a")->n_prefixes, CATS_ACL_MAX_PREFIXES);
    assert_prefix(&own(&fx->acl, "a")->prefixes[63], "10.0.63.0", 24);

    s.length--;
    ds_put_cstr(&s, ",10.0.64.0/24\n");
    parse_error(&fx->acl, ds_cstr(&s),
                "x:1: node a: field 'allow': more than 64 prefixes");
    ds_destroy(&s);
}

static void
test_line_of_1024_characters_accepted_1025_refused(void **state)
{
    struct fixture *fx = *state;
    char line[CATS_ACL_LINE_MAX + 2];
    char *text;

    /* "node a #xxx...", 1024 characters, then CRLF (not counted). */
    memset(line, 'x', sizeof line);
    memcpy(line, "node a #", 8);
    line[CATS_ACL_LINE_MAX] = '\0';
    text = xasprintf("%s\r\n", line);
    parse_ok(&fx->acl, text);
    free(text);
    own(&fx->acl, "a");

    line[CATS_ACL_LINE_MAX] = 'x';
    line[CATS_ACL_LINE_MAX + 1] = '\0';
    text = xasprintf("# first\n%s\n", line);
    parse_error(&fx->acl, text, "x:2: line longer than 1024 characters");
    free(text);
}

static void
test_65536_nodes_accepted_65537_refused(void **state)
{
    struct fixture *fx = *state;
    struct ds s = DS_EMPTY_INITIALIZER;

    ds_put_cstr(&s, "node *\n");
    for (int i = 1; i < CATS_ACL_MAX_NODES; i++) {
        ds_put_format(&s, "node n%d\n", i);
    }
    parse_ok(&fx->acl, ds_cstr(&s));
    assert_int_equal(n_entries(&fx->acl), CATS_ACL_MAX_NODES);
    own(&fx->acl, "n65535");

    ds_put_cstr(&s, "# comment lines do not count\nnode n65536\n");
    parse_error(&fx->acl, ds_cstr(&s),
                "x:65538: more than 65536 node lines");
    assert_int_equal(n_entries(&fx->acl), CATS_ACL_MAX_NODES);
    ds_destroy(&s);
}

/* Errors.  Each bad line comes third, after GOOD, and is followed by a
 * good line that must not be reached. */

#define GOOD "node web-1 token="TOKEN16" allow=10.0.0.0/24\nnode *\n"
#define USAGE "(usage: node ID [token=TOKEN] [allow=CIDR[,CIDR...]])"
#define ID_CHARS "is not a letter, digit, '.', '_', ':' or '-' ('*' alone " \
    "is the default entry)"
#define ID65 \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
    "a"
#define TOKEN257 \
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk" \
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk" \
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk" \
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
#define NOT_PREFIX "is not an IPv4 prefix (A.B.C.D/LEN) or address"

struct error_case {
    const char *bad;            /* The third line. */
    const char *error;          /* Expected, after "x:3: ". */
};

static const struct error_case error_cases[] = {
    /* Statements. */
    { "nodes a", "unknown statement 'nodes' (expected node)" },
    { "Node a", "unknown statement 'Node' (expected node)" },
    { "token="TOKEN16, "unknown statement 'token="TOKEN16"' (expected "
      "node)" },
    { "node", "node: missing ID "USAGE },
    { "node   # no id", "node: missing ID "USAGE },
    { "node a\x01", "character 7 (0x01) is not printable ASCII" },
    { "node caf\xc3\xa9", "character 9 (0xc3) is not printable ASCII" },
    { "node a\x7f", "character 7 (0x7f) is not printable ASCII" },
    { "node a\vb", "character 7 (0x0b) is not printable ASCII" },

    /* IDs. */
    { "node web/1", "node: ID 'web/1': character 4 "ID_CHARS },
    { "node **", "node: ID '**': character 1 "ID_CHARS },
    { "node a*", "node: ID 'a*': character 2 "ID_CHARS },
    { "node "ID65, "node: ID '"ID65"' is longer than 64 characters" },
    { "node web-1", "node web-1: listed twice (first on line 1)" },
    { "node * allow=10.0.0.0/8", "node *: listed twice (first on line 2)" },

    /* Fields. */
    { "node a token", "node a: 'token' is not key=value "USAGE },
    { "node a allow=any extra", "node a: 'extra' is not key=value "USAGE },
    { "node a b", "node a: 'b' is not key=value "USAGE },
    { "node a =x", "node a: '=x' is not key=value "USAGE },
    { "node a foo=bar", "node a: unknown field 'foo' (expected token or "
      "allow)" },
    { "node a Token="TOKEN16, "node a: unknown field 'Token' (expected "
      "token or allow)" },
    { "node a allow=any allow=any", "node a: field 'allow' given twice" },
    { "node a token="TOKEN16" allow=any token="TOKEN16,
      "node a: field 'token' given twice" },
    { "node a token=", "node a: field 'token' has no value" },
    { "node a allow=", "node a: field 'allow' has no value" },

    /* Tokens: the value is never quoted. */
    { "node a token=0123456789abcde", "node a: field 'token': token too "
      "short (at least 16 characters)" },
    { "node a token=secret#123456789012", "node a: field 'token': token "
      "too short (at least 16 characters)" },
    { "node a token="TOKEN257, "node a: field 'token': token too long (at "
      "most 256 characters)" },
    { "node * token="TOKEN16, "node *: listed twice (first on line 2)" },

    /* Prefixes. */
    { "node a allow=10.0.0.1/24", "node a: field 'allow': '10.0.0.1/24' "
      "has host bits set (the /24 prefix of that address is 10.0.0.0/24)" },
    { "node a allow=10.0.0.0/8,10.1.0.0/15", "node a: field 'allow': "
      "'10.1.0.0/15' has host bits set (the /15 prefix of that address is "
      "10.0.0.0/15)" },
    { "node a allow=0.0.0.1/0", "node a: field 'allow': '0.0.0.1/0' has "
      "host bits set (the /0 prefix of that address is 0.0.0.0/0)" },
    { "node a allow=10.0.0.0/33", "node a: field 'allow': '10.0.0.0/33': "
      "prefix length '33' is not an integer between 0 and 32" },
    { "node a allow=10.0.0.0/", "node a: field 'allow': '10.0.0.0/': "
      "prefix length '' is not an integer between 0 and 32" },
    { "node a allow=10.0.0.0/08", "node a: field 'allow': '10.0.0.0/08': "
      "prefix length '08' is not an integer between 0 and 32" },
    { "node a allow=10.0.0.0/+8", "node a: field 'allow': '10.0.0.0/+8': "
      "prefix length '+8' is not an integer between 0 and 32" },
    { "node a allow=10.0.0.0/255.0.0.0", "node a: field 'allow': "
      "'10.0.0.0/255.0.0.0': prefix length '255.0.0.0' is not an integer "
      "between 0 and 32" },
    { "node a allow=10.0.0.0/8/8", "node a: field 'allow': '10.0.0.0/8/8': "
      "prefix length '8/8' is not an integer between 0 and 32" },
    { "node a allow=10.0.0/8", "node a: field 'allow': '10.0.0/8' "
      NOT_PREFIX },
    { "node a allow=10.0.0.256", "node a: field 'allow': '10.0.0.256' "
      NOT_PREFIX },
    { "node a allow=010.0.0.0/8", "node a: field 'allow': '010.0.0.0/8' "
      NOT_PREFIX },
    { "node a allow=/8", "node a: field 'allow': '/8' "NOT_PREFIX },
    { "node a allow=ANY", "node a: field 'allow': 'ANY' "NOT_PREFIX },
    { "node a allow=10.0.0.0/8;10.1.0.0/16", "node a: field 'allow': "
      "'10.0.0.0/8;10.1.0.0/16': prefix length '8;10.1.0.0/16' is not an "
      "integer between 0 and 32" },
    { "node a allow=10.0.0.0;10.1.0.0", "node a: field 'allow': "
      "'10.0.0.0;10.1.0.0' "NOT_PREFIX },
    { "node a allow=10.0.0.0/8,,10.1.0.0/16", "node a: field 'allow': "
      "element 2 is empty" },
    { "node a allow=,10.0.0.0/8", "node a: field 'allow': element 1 is "
      "empty" },
    { "node a allow=10.0.0.0/8,", "node a: field 'allow': element 2 is "
      "empty" },
    { "node a allow=,", "node a: field 'allow': element 1 is empty" },
    { "node a allow=any,10.0.0.0/8", "node a: field 'allow': 'any' must "
      "be alone (allow=any)" },
    { "node a allow=10.0.0.0/8,any", "node a: field 'allow': 'any' must "
      "be alone (allow=any)" },
};

static void
test_each_error_names_line_and_field(void **state OVS_UNUSED)
{
    for (size_t i = 0; i < ARRAY_SIZE(error_cases); i++) {
        const struct error_case *c = &error_cases[i];
        char *text = xasprintf(GOOD"%s\nnode never-reached\n", c->bad);
        char *expected = xasprintf("x:3: %s", c->error);
        struct cats_acl acl;

        cats_acl_init(&acl);
        parse_error(&acl, text, expected);
        assert_true(cats_acl_is_empty(&acl));
        cats_acl_destroy(&acl);
        free(expected);
        free(text);
    }
}

/* The error for a default entry with a token (the duplicate case above
 * hides it). */
static void
test_default_entry_may_not_have_a_token(void **state)
{
    struct fixture *fx = *state;

    parse_error(&fx->acl, "node a\nnode * token="TOKEN16"\n",
                "x:2: node *: field 'token': the default entry '*' may not "
                "have a token (a token identifies one node)");
}

/* No message ever contains a token's value. */
static void
test_errors_do_not_quote_tokens(void **state)
{
    struct fixture *fx = *state;
    static const char *const texts[] = {
        "node a token=SECRETsecret123",
        "node a token=SECRETsecret12345 token=SECRETsecret12345",
        "node a token=SECRETsecret12345 allow=10.0.0.1/24",
        "node * token=SECRETsecret12345",
    };

    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        char *error = cats_acl_parse_string(&fx->acl, texts[i], "x");

        assert_non_null(error);
        if (strstr(error, "SECRET")) {
            fail_msg("\"%s\" quotes the token", error);
        }
        free(error);
    }
}

/* All or nothing.
 *
 * acl.h: "on any error the caller's access list is left untouched." */

#define LOADED "node keep token=fedcba9876543210 allow=192.168.0.0/16\n" \
    "node * allow=10.9.0.0/16\n"

static void
assert_loaded(const struct cats_acl *acl,
              const struct cats_acl_node *keep,
              const struct cats_acl_node *any)
{
    assert_int_equal(hmap_count(&acl->nodes), 1);
    assert_ptr_equal(cats_acl_lookup(acl, "keep"), keep);
    assert_ptr_equal(acl->any, any);
    assert_string_equal(keep->token, "fedcba9876543210");
    assert_int_equal(keep->n_prefixes, 1);
    assert_prefix(&keep->prefixes[0], "192.168.0.0", 16);
    assert_int_equal(any->n_prefixes, 1);
    assert_prefix(&any->prefixes[0], "10.9.0.0", 16);
    /* Nothing of the refused text got in. */
    assert_ptr_equal(cats_acl_lookup(acl, "web-1"), any);
}

static void
test_each_bad_line_leaves_acl_unchanged(void **state)
{
    struct fixture *fx = *state;
    const struct cats_acl_node *keep, *any;

    parse_ok(&fx->acl, LOADED);
    keep = own(&fx->acl, "keep");
    any = fx->acl.any;
    for (size_t i = 0; i < ARRAY_SIZE(error_cases); i++) {
        char *text = xasprintf(GOOD"%s\n", error_cases[i].bad);
        char *error = cats_acl_parse_string(&fx->acl, text, "x");

        assert_non_null(error);
        assert_true(!strncmp(error, "x:3: ", 5));
        assert_loaded(&fx->acl, keep, any);
        free(error);
        free(text);
    }
}

static void
test_success_replaces_everything(void **state)
{
    struct fixture *fx = *state;
    const struct cats_acl_node *n;

    parse_ok(&fx->acl, LOADED);
    parse_ok(&fx->acl, "node other allow=172.16.0.0/12\n");
    assert_int_equal(n_entries(&fx->acl), 1);
    assert_null(fx->acl.any);
    assert_null(cats_acl_lookup(&fx->acl, "keep"));
    n = own(&fx->acl, "other");
    assert_prefix(&n->prefixes[0], "172.16.0.0", 12);

    /* An empty text is a valid, empty list: it replaces too. */
    parse_ok(&fx->acl, "# nothing\n");
    assert_true(cats_acl_is_empty(&fx->acl));
}

static void
test_is_empty(void **state)
{
    struct fixture *fx = *state;

    assert_true(cats_acl_is_empty(&fx->acl));
    parse_ok(&fx->acl, "");
    assert_true(cats_acl_is_empty(&fx->acl));
    parse_ok(&fx->acl, "# only\n\n  # comments\n");
    assert_true(cats_acl_is_empty(&fx->acl));
    parse_ok(&fx->acl, "node *\n");
    assert_false(cats_acl_is_empty(&fx->acl));
    parse_ok(&fx->acl, "node a\n");
    assert_false(cats_acl_is_empty(&fx->acl));
}

/* Lookup. */

static void
test_own_entry_beats_default(void **state)
{
    struct fixture *fx = *state;
    const struct cats_acl_node *a, *any;

    parse_ok(&fx->acl, "node * allow=10.9.0.0/16\nnode a allow=any\n");
    any = fx->acl.any;
    a = cats_acl_lookup(&fx->acl, "a");
    assert_non_null(a);
    assert_ptr_not_equal(a, any);
    assert_string_equal(a->id, "a");
    assert_ptr_equal(cats_acl_lookup(&fx->acl, "b"), any);
    assert_ptr_equal(cats_acl_lookup(&fx->acl, "A"), any);
    assert_ptr_equal(cats_acl_lookup(&fx->acl, "a "), any);
}

static void
test_unknown_node_without_default_is_refused(void **state)
{
    struct fixture *fx = *state;

    assert_null(cats_acl_lookup(&fx->acl, "a"));
    parse_ok(&fx->acl, "node a\nnode b\n");
    own(&fx->acl, "a");
    own(&fx->acl, "b");
    assert_null(cats_acl_lookup(&fx->acl, "c"));
    assert_null(cats_acl_lookup(&fx->acl, "*"));
    assert_null(cats_acl_lookup(&fx->acl, ""));
}

/* Tokens. */

static void
test_token_ok(void **state)
{
    struct fixture *fx = *state;
    const struct cats_acl_node *a, *b, *any;

    parse_ok(&fx->acl, "node a token="TOKEN16"\nnode b\nnode *\n");
    a = own(&fx->acl, "a");
    b = own(&fx->acl, "b");
    any = fx->acl.any;

    assert_true(cats_acl_token_ok(a, TOKEN16));
    assert_false(cats_acl_token_ok(a, "0123456789abcdeF"));   /* Last. */
    assert_false(cats_acl_token_ok(a, "X123456789abcdef"));   /* First. */
    assert_false(cats_acl_token_ok(a, "0123456789abcde"));    /* Shorter. */
    assert_false(cats_acl_token_ok(a, TOKEN16"0"));           /* Longer. */
    assert_false(cats_acl_token_ok(a, TOKEN16 TOKEN16));      /* Twice. */
    assert_false(cats_acl_token_ok(a, ""));
    assert_false(cats_acl_token_ok(a, NULL));

    /* No token needed: anything, or nothing, will do. */
    assert_true(cats_acl_token_ok(b, NULL));
    assert_true(cats_acl_token_ok(b, ""));
    assert_true(cats_acl_token_ok(b, TOKEN16));
    assert_true(cats_acl_token_ok(any, NULL));
}

/* Applying to a report policy. */

static void
test_apply_copies_prefixes(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_policy policy;
    const struct cats_acl_node *a;
    char *error;

    parse_ok(&fx->acl, "node a allow=10.0.0.0/24,10.0.1.5\nnode b\n");
    a = own(&fx->acl, "a");

    cats_report_policy_init(&policy);
    error = cats_report_policy_add_prefix(&policy, "192.168.0.0/16");
    assert_null(error);

    /* Replaces what the policy had. */
    cats_acl_node_apply(a, &policy);
    assert_int_equal(policy.n_prefixes, 2);
    assert_ptr_not_equal(policy.prefixes, a->prefixes);
    assert_prefix(&policy.prefixes[0], "10.0.0.0", 24);
    assert_prefix(&policy.prefixes[1], "10.0.1.5", 32);
    assert_int_equal(policy.max_instances, CATS_REPORT_MAX_INSTANCES);

    /* A copy: the acl going away does not take the policy's with it. */
    parse_ok(&fx->acl, "node z\n");
    assert_prefix(&policy.prefixes[1], "10.0.1.5", 32);

    /* A node with no restriction leaves none. */
    parse_ok(&fx->acl, "node b\n");
    cats_acl_node_apply(own(&fx->acl, "b"), &policy);
    assert_int_equal(policy.n_prefixes, 0);
    assert_null(policy.prefixes);
    cats_report_policy_destroy(&policy);
}

/* Files. */

static void
test_file_is_parsed_with_its_name(void **state)
{
    struct fixture *fx = *state;
    static const char good[] = "# acl\nnode a allow=10.0.0.0/8\nnode *\n";
    static const char bad[] = "node b\nnode b\n";
    char *path, *error, *expected;

    path = test_write_file(fx->dir, "good.acl", good, sizeof good - 1);
    error = cats_acl_parse_file(&fx->acl, path);
    assert_null(error);
    assert_int_equal(own(&fx->acl, "a")->line, 2);
    assert_non_null(fx->acl.any);
    free(path);

    path = test_write_file(fx->dir, "bad.acl", bad, sizeof bad - 1);
    error = cats_acl_parse_file(&fx->acl, path);
    expected = xasprintf("%s:2: node b: listed twice (first on line 1)",
                         path);
    assert_string_equal(error, expected);
    own(&fx->acl, "a");
    assert_ptr_equal(cats_acl_lookup(&fx->acl, "b"), fx->acl.any);
    free(expected);
    free(error);
    free(path);
}

static void
test_missing_file(void **state)
{
    struct fixture *fx = *state;
    char *path = xasprintf("%s/missing.acl", fx->dir);
    char *error, *expected;

    parse_ok(&fx->acl, LOADED);
    error = cats_acl_parse_file(&fx->acl, path);
    expected = xasprintf("%s: open failed (No such file or directory)",
                         path);
    assert_string_equal(error, expected);
    own(&fx->acl, "keep");
    free(expected);
    free(error);
    free(path);
}

static void
test_directory(void **state)
{
    struct fixture *fx = *state;
    char *error, *expected;

    parse_ok(&fx->acl, LOADED);
    error = cats_acl_parse_file(&fx->acl, fx->dir);
    expected = xasprintf("%s: read failed (Is a directory)", fx->dir);
    assert_string_equal(error, expected);
    own(&fx->acl, "keep");
    free(expected);
    free(error);
}

static void
test_unreadable_file(void **state)
{
    struct fixture *fx = *state;
    static const char text[] = "node a\n";
    char *path, *error, *expected;

    if (!geteuid()) {
        skip();                 /* Root reads files whatever their mode. */
    }
    path = test_write_file(fx->dir, "secret.acl", text, sizeof text - 1);
    assert_int_equal(chmod(path, 0), 0);
    error = cats_acl_parse_file(&fx->acl, path);
    expected = xasprintf("%s: open failed (Permission denied)", path);
    assert_string_equal(error, expected);
    assert_true(cats_acl_is_empty(&fx->acl));
    free(expected);
    free(error);
    free(path);
}

static void
test_nul_byte_in_file(void **state)
{
    struct fixture *fx = *state;
    static const char text[] = "node a\nnode b\0node c\nnode d\n";
    char *path, *error, *expected;

    path = test_write_file(fx->dir, "nul.acl", text, sizeof text - 1);
    error = cats_acl_parse_file(&fx->acl, path);
    expected = xasprintf("%s:2: NUL byte in line", path);
    assert_string_equal(error, expected);
    assert_true(cats_acl_is_empty(&fx->acl));
    free(expected);
    free(error);
    free(path);
}

static void
test_empty_file_is_empty_acl(void **state)
{
    struct fixture *fx = *state;
    char *path, *error;

    parse_ok(&fx->acl, LOADED);
    path = test_write_file(fx->dir, "empty.acl", "", 0);
    error = cats_acl_parse_file(&fx->acl, path);
    assert_null(error);
    assert_true(cats_acl_is_empty(&fx->acl));
    free(path);
}

static void
test_destroy_null_is_noop(void **state OVS_UNUSED)
{
    cats_acl_destroy(NULL);
}

#define T(NAME) cmocka_unit_test_setup_teardown(NAME, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_node_with_token_and_prefixes),
        T(test_fields_in_any_order),
        T(test_node_without_fields_needs_nothing),
        T(test_allow_any_is_no_restriction),
        T(test_prefix_lengths_0_to_32),
        T(test_default_entry),
        T(test_id_characters_and_length),
        T(test_token_bounds_and_characters),
        T(test_token_stops_at_comment),
        T(test_comments_blanks_tabs_and_crlf),
        T(test_64_prefixes_accepted_65_refused),
        T(test_line_of_1024_characters_accepted_1025_refused),
        T(test_65536_nodes_accepted_65537_refused),
        cmocka_unit_test(test_each_error_names_line_and_field),
        T(test_default_entry_may_not_have_a_token),
        T(test_errors_do_not_quote_tokens),
        T(test_each_bad_line_leaves_acl_unchanged),
        T(test_success_replaces_everything),
        T(test_is_empty),
        T(test_own_entry_beats_default),
        T(test_unknown_node_without_default_is_refused),
        T(test_token_ok),
        T(test_apply_copies_prefixes),
        T(test_file_is_parsed_with_its_name),
        T(test_missing_file),
        T(test_directory),
        T(test_unreadable_file),
        T(test_nul_byte_in_file),
        T(test_empty_file_is_empty_acl),
        cmocka_unit_test(test_destroy_null_is_noop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
