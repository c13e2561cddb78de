/*
 * libFuzzer target for the agent access list parser (include/cats/acl.h).
 *
 * Feeds arbitrary bytes, as one access list text, to
 * cats_acl_parse_string(), twice: into a fresh list and into one that
 * already holds a known list.  Besides crashes and sanitizer reports it
 * checks the parser's contract:
 *
 *   - an error is one line that starts with the name and a line number,
 *     and leaves the list exactly as it was (empty, or the known list);
 *   - on success every entry has a valid id (or is the one '*' entry,
 *     which is not in the hash map and has no token), a token of
 *     CATS_ACL_TOKEN_MIN to CATS_ACL_TOKEN_MAX printable characters or
 *     none, at most CATS_ACL_MAX_PREFIXES prefixes with their host bits
 *     zero, and is found by cats_acl_lookup(); its token passes
 *     cats_acl_token_ok() and a one-character-longer one does not;
 *     cats_acl_node_apply() copies its prefixes;
 *   - both parses agree.
 *
 * Build and run: tests/fuzz/README (make build/fuzz/fuzz-acl).
 */

#include <config.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cats/acl.h"
#include "cats/report.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KNOWN "node known token=0123456789abcdef allow=10.0.0.0/8\n" \
    "node * allow=192.168.0.0/16\n"

static void
check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static void
check_error(const char *error)
{
    const char *p = error + 5;

    /* "fuzz:LINE: ..." */
    check(!strncmp(error, "fuzz:", 5));
    check(*p >= '1' && *p <= '9');
    while (*p >= '0' && *p <= '9') {
        p++;
    }
    check(p[0] == ':' && p[1] == ' ' && p[2]);
    check(!strchr(error, '\n'));
}

static void
check_node(const struct cats_acl *acl, const struct cats_acl_node *node)
{
    struct cats_report_policy policy;

    if (node == acl->any) {
        check(!strcmp(node->id, "*") && !node->token);
    } else {
        check(cats_id_valid(node->id));
        check(cats_acl_lookup(acl, node->id) == node);
    }
    check(node->line >= 1);

    if (node->token) {
        size_t len = strlen(node->token);
        char *longer;

        check(len >= CATS_ACL_TOKEN_MIN && len <= CATS_ACL_TOKEN_MAX);
        for (size_t i = 0; i < len; i++) {
            check(node->token[i] > ' ' && node->token[i] < 0x7f
                  && node->token[i] != '#');
        }
        check(cats_acl_token_ok(node, node->token));
        check(!cats_acl_token_ok(node, NULL));
        longer = xasprintf("%sx", node->token);
        check(!cats_acl_token_ok(node, longer));
        free(longer);
    } else {
        check(cats_acl_token_ok(node, NULL));
    }

    check(node->n_prefixes <= CATS_ACL_MAX_PREFIXES);
    check(!node->n_prefixes == !node->prefixes);
    for (size_t i = 0; i < node->n_prefixes; i++) {
        const struct cats_prefix *p = &node->prefixes[i];

        check(p->plen <= 32);
        check(p->mask == be32_prefix_mask(p->plen));
        check(!(p->addr & ~p->mask));
    }

    /* Not cats_report_policy_init(): this target compiles in acl.c alone,
     * and apply only touches the prefixes. */
    memset(&policy, 0, sizeof policy);
    policy.prefixes = xmalloc(sizeof *policy.prefixes);
    policy.n_prefixes = 1;
    cats_acl_node_apply(node, &policy);
    check(policy.n_prefixes == node->n_prefixes);
    check(!node->n_prefixes
          || !memcmp(policy.prefixes, node->prefixes,
                     node->n_prefixes * sizeof *node->prefixes));
    free(policy.prefixes);
}

/* Checks that 'acl' still holds KNOWN, as parsed. */
static void
check_known(const struct cats_acl *acl)
{
    const struct cats_acl_node *known = cats_acl_lookup(acl, "known");

    check(hmap_count(&acl->nodes) == 1 && acl->any);
    check(known && known != acl->any && !strcmp(known->id, "known"));
    check(known->token && !strcmp(known->token, "0123456789abcdef"));
    check(known->n_prefixes == 1 && known->prefixes[0].plen == 8);
    check(acl->any->n_prefixes == 1 && acl->any->prefixes[0].plen == 16);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cats_acl fresh, loaded;
    char *text, *error, *error2;

    /* The parser takes a C string: it sees the input up to its first NUL,
     * as a file's contents would be after cats_acl_parse_file()'s own NUL
     * check. */
    text = xmemdup0((const char *) data, size);

    cats_acl_init(&fresh);
    error = cats_acl_parse_string(&fresh, text, "fuzz");

    cats_acl_init(&loaded);
    error2 = cats_acl_parse_string(&loaded, KNOWN, "known");
    check(!error2);
    error2 = cats_acl_parse_string(&loaded, text, "fuzz");

    if (error) {
        check_error(error);
        check(cats_acl_is_empty(&fresh));
        check(error2 && !strcmp(error, error2));
        check_known(&loaded);
    } else {
        const struct cats_acl_node *node;

        check(!error2);
        check(hmap_count(&fresh.nodes) == hmap_count(&loaded.nodes));
        check(!fresh.any == !loaded.any);
        HMAP_FOR_EACH (node, hmap_node, &fresh.nodes) {
            check_node(&fresh, node);
            const struct cats_acl_node *same
                = cats_acl_lookup(&loaded, node->id);
            check(same && same != loaded.any && !strcmp(same->id, node->id));
        }
        if (fresh.any) {
            check_node(&fresh, fresh.any);
        }
    }
    free(error);
    free(error2);
    cats_acl_destroy(&fresh);
    cats_acl_destroy(&loaded);
    free(text);
    return 0;
}
