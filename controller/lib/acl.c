/*
 * ovs-cats: the agent access list.  See include/cats/acl.h.
 */

#include <config.h>

#include "cats/acl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cats/report.h"
#include "hash.h"
#include "openvswitch/dynamic-string.h"
#include "packets.h"
#include "util.h"

/* A file larger than this is refused rather than read. */
#define ACL_FILE_MAX (64 * 1024 * 1024)

#define ACL_USAGE "node ID [token=TOKEN] [allow=CIDR[,CIDR...]]"

/* Blanks between fields.  '\r' is one, so that CRLF files read as LF. */
#define BLANKS " \t\r"

void
cats_acl_init(struct cats_acl *acl)
{
    hmap_init(&acl->nodes);
    acl->any = NULL;
}

static void
acl_node_free(struct cats_acl_node *node)
{
    if (node) {
        free(node->id);
        free(node->token);
        free(node->prefixes);
        free(node);
    }
}

void
cats_acl_destroy(struct cats_acl *acl)
{
    if (acl) {
        struct cats_acl_node *node;

        HMAP_FOR_EACH_POP (node, hmap_node, &acl->nodes) {
            acl_node_free(node);
        }
        hmap_destroy(&acl->nodes);
        acl_node_free(acl->any);
        acl->any = NULL;
    }
}

bool
cats_acl_is_empty(const struct cats_acl *acl)
{
    return hmap_is_empty(&acl->nodes) && !acl->any;
}

static struct cats_acl_node *
acl_find(const struct cats_acl *acl, const char *id)
{
    struct cats_acl_node *node;

    HMAP_FOR_EACH_WITH_HASH (node, hmap_node, hash_string(id, 0),
                             &acl->nodes) {
        if (!strcmp(node->id, id)) {
            return node;
        }
    }
    return NULL;
}

const struct cats_acl_node *
cats_acl_lookup(const struct cats_acl *acl, const char *id)
{
    const struct cats_acl_node *node = acl_find(acl, id);

    return node ? node : acl->any;
}

bool
cats_acl_token_ok(const struct cats_acl_node *node, const char *presented)
{
    if (!node->token) {
        return true;
    }
    if (!presented) {
        return false;
    }

    /* Every byte of 'presented' is compared (against the token, repeated
     * as needed), without stopping at the first difference: how long this
     * takes tells nothing about how much of the token was right. */
    size_t token_len = strlen(node->token);
    size_t len = strlen(presented);
    unsigned int diff = len != token_len;

    for (size_t i = 0; i < len; i++) {
        diff |= ((unsigned char) presented[i]
                 ^ (unsigned char) node->token[i % token_len]);
    }
    return !diff;
}

void
cats_acl_node_apply(const struct cats_acl_node *node,
                    struct cats_report_policy *policy)
{
    free(policy->prefixes);
    policy->prefixes = (node->n_prefixes
                        ? xmemdup(node->prefixes,
                                  node->n_prefixes * sizeof *node->prefixes)
                        : NULL);
    policy->n_prefixes = node->n_prefixes;
}

/* Parsing. */

static char *
check_id(const char *id)
{
    size_t len = strlen(id);

    if (!strcmp(id, "*")) {
        return NULL;
    }
    if (len > CATS_ID_MAX) {
        return xasprintf("node: ID '%s' is longer than %d characters", id,
                         CATS_ID_MAX);
    }
    for (size_t i = 0; i < len; i++) {
        if (!cats_id_char(id[i])) {
            return xasprintf("node: ID '%s': character %"PRIuSIZE" is not "
                             "a letter, digit, '.', '_', ':' or '-' ('*' "
                             "alone is the default entry)", id, i + 1);
        }
    }
    return NULL;
}

/* The line parser has already refused any byte that is not printable ASCII
 * or a blank, so only the length is left to check. */
static char *
parse_token(const char *value, char **token)
{
    size_t len = strlen(value);

    /* The value is a secret: no message quotes it. */
    if (len < CATS_ACL_TOKEN_MIN) {
        return xasprintf("token too short (at least %d characters)",
                         CATS_ACL_TOKEN_MIN);
    }
    if (len > CATS_ACL_TOKEN_MAX) {
        return xasprintf("token too long (at most %d characters)",
                         CATS_ACL_TOKEN_MAX);
    }
    *token = xstrdup(value);
    return NULL;
}

/* Parses "A.B.C.D/LEN" or "A.B.C.D" (a /32) into 'p'.  Unlike
 * ip_parse_cidr(), refuses a dotted mask ("/255.255.0.0") and a prefix with
 * host bits set: "10.0.0.1/24" is more likely a typo for a host than a
 * deliberate /24. */
static char *
parse_prefix(const char *s, struct cats_prefix *p)
{
    const char *slash = strchr(s, '/');
    unsigned int plen = 32;
    ovs_be32 addr, mask;
    char *addr_s;
    bool ok;

    addr_s = slash ? xmemdup0(s, slash - s) : xstrdup(s);
    ok = ip_parse(addr_s, &addr);
    free(addr_s);
    if (!ok) {
        return xasprintf("'%s' is not an IPv4 prefix (A.B.C.D/LEN) or "
                         "address", s);
    }
    if (slash) {
        const char *len_s = slash + 1;
        size_t n = strspn(len_s, "0123456789");

        if (!n || len_s[n] || n > 2 || (n == 2 && len_s[0] == '0')
            || (plen = atoi(len_s)) > 32) {
            return xasprintf("'%s': prefix length '%s' is not an integer "
                             "between 0 and 32", s, len_s);
        }
    }
    mask = be32_prefix_mask(plen);
    if (addr & ~mask) {
        return xasprintf("'%s' has host bits set (the /%u prefix of that "
                         "address is "IP_FMT"/%u)", s, plen,
                         IP_ARGS(addr & mask), plen);
    }
    p->addr = addr;
    p->mask = mask;
    p->plen = plen;
    return NULL;
}

/* Parses the value of 'allow=' into 'node'. */
static char *
parse_allow(const char *value, struct cats_acl_node *node)
{
    size_t n_elems = 1;

    if (!strcmp(value, "any")) {
        return NULL;
    }
    for (const char *c = value; *c; c++) {
        n_elems += *c == ',';
    }
    if (n_elems > CATS_ACL_MAX_PREFIXES) {
        return xasprintf("more than %d prefixes", CATS_ACL_MAX_PREFIXES);
    }

    node->prefixes = xmalloc(n_elems * sizeof *node->prefixes);
    for (const char *p = value; ; ) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? comma - p : strlen(p);
        char *elem = xmemdup0(p, len);
        char *error = NULL;

        if (!len) {
            error = xasprintf("element %"PRIuSIZE" is empty",
                              node->n_prefixes + 1);
        } else if (!strcmp(elem, "any")) {
            error = xstrdup("'any' must be alone (allow=any)");
        } else {
            error = parse_prefix(elem, &node->prefixes[node->n_prefixes]);
        }
        free(elem);
        if (error) {
            return error;
        }
        node->n_prefixes++;
        if (!comma) {
            break;
        }
        p = comma + 1;
    }
    return NULL;
}

/* Parses the fields after "node ID" into 'node'.  'save_ptr' is
 * strtok_r()'s, positioned after the ID. */
static char *
parse_fields(char **save_ptr, struct cats_acl_node *node)
{
    static const char *const keys[] = { "token", "allow" };
    bool seen[ARRAY_SIZE(keys)] = { false };
    char *word;

    while ((word = strtok_r(NULL, BLANKS, save_ptr)) != NULL) {
        char *eq = strchr(word, '=');
        char *value, *error;
        size_t i;

        if (!eq || eq == word) {
            return xasprintf("'%s' is not key=value (usage: "ACL_USAGE")",
                             word);
        }
        *eq = '\0';
        value = eq + 1;
        for (i = 0; i < ARRAY_SIZE(keys); i++) {
            if (!strcmp(word, keys[i])) {
                break;
            }
        }
        if (i >= ARRAY_SIZE(keys)) {
            return xasprintf("unknown field '%s' (expected token or allow)",
                             word);
        }
        if (seen[i]) {
            return xasprintf("field '%s' given twice", word);
        }
        seen[i] = true;
        if (!*value) {
            return xasprintf("field '%s' has no value", word);
        }

        if (i == 0) {
            error = (!strcmp(node->id, "*")
                     ? xstrdup("the default entry '*' may not have a token "
                               "(a token identifies one node)")
                     : parse_token(value, &node->token));
        } else {
            error = parse_allow(value, node);
        }
        if (error) {
            char *msg = xasprintf("field '%s': %s", word, error);
            free(error);
            return msg;
        }
    }
    return NULL;
}

/* Parses a "node" statement whose words after "node" are in 'save_ptr'
 * and adds it to 'acl'. */
static char *
parse_node(struct cats_acl *acl, char **save_ptr, int line_number)
{
    const struct cats_acl_node *old;
    struct cats_acl_node *node;
    char *id, *error;

    id = strtok_r(NULL, BLANKS, save_ptr);
    if (!id) {
        return xstrdup("node: missing ID (usage: "ACL_USAGE")");
    }
    error = check_id(id);
    if (error) {
        return error;
    }
    old = !strcmp(id, "*") ? acl->any : acl_find(acl, id);
    if (old) {
        return xasprintf("node %s: listed twice (first on line %d)",
                         id, old->line);
    }
    if (hmap_count(&acl->nodes) + (acl->any != NULL) >= CATS_ACL_MAX_NODES) {
        return xasprintf("more than %d node lines", CATS_ACL_MAX_NODES);
    }

    node = xzalloc(sizeof *node);
    node->id = xstrdup(id);
    node->line = line_number;
    error = parse_fields(save_ptr, node);
    if (error) {
        char *msg = xasprintf("node %s: %s", id, error);
        free(error);
        acl_node_free(node);
        return msg;
    }

    if (!strcmp(id, "*")) {
        acl->any = node;
    } else {
        hmap_insert(&acl->nodes, &node->hmap_node, hash_string(id, 0));
    }
    return NULL;
}

/* Parses one line (without its newline) into 'acl'.  Returns an error
 * without the "NAME:LINE: " that the caller puts in front. */
static char *
parse_line(struct cats_acl *acl, const char *line, size_t len,
           int line_number)
{
    char *save_ptr = NULL;
    char *buf, *word, *error;
    size_t i;

    if (len && line[len - 1] == '\r') {
        len--;
    }
    if (len > CATS_ACL_LINE_MAX) {
        return xasprintf("line longer than %d characters",
                         CATS_ACL_LINE_MAX);
    }

    /* Outside comments, only printable ASCII and blanks: every word that a
     * message quotes is then printable, and so is every token. */
    for (i = 0; i < len && line[i] != '#'; i++) {
        unsigned char c = line[i];

        if ((c < 0x20 || c > 0x7e) && c != '\t' && c != '\r') {
            return xasprintf("character %"PRIuSIZE" (0x%02x) is not "
                             "printable ASCII", i + 1, c);
        }
    }

    buf = xmemdup0(line, i);
    word = strtok_r(buf, BLANKS, &save_ptr);
    if (!word) {
        error = NULL;
    } else if (!strcmp(word, "node")) {
        error = parse_node(acl, &save_ptr, line_number);
    } else {
        error = xasprintf("unknown statement '%s' (expected node)", word);
    }
    free(buf);
    return error;
}

static char *
parse_string__(struct cats_acl *acl, const char *text, const char *name)
{
    const char *p = text;
    int line_number = 0;

    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? end - p : strlen(p);
        char *error;

        line_number++;
        error = parse_line(acl, p, len, line_number);
        if (error) {
            char *msg = xasprintf("%s:%d: %s", name, line_number, error);
            free(error);
            return msg;
        }
        p += len + (end != NULL);
    }
    return NULL;
}

char *
cats_acl_parse_string(struct cats_acl *acl, const char *text,
                      const char *name)
{
    struct cats_acl scratch;
    char *error;

    /* All or nothing: parse into a scratch list, and swap it in only if
     * every line was good. */
    cats_acl_init(&scratch);
    error = parse_string__(&scratch, text, name);
    if (!error) {
        struct cats_acl_node *any = acl->any;

        hmap_swap(&acl->nodes, &scratch.nodes);
        acl->any = scratch.any;
        scratch.any = any;
    }
    cats_acl_destroy(&scratch);
    return error;
}

char *
cats_acl_parse_file(struct cats_acl *acl, const char *file_name)
{
    struct ds text = DS_EMPTY_INITIALIZER;
    char buf[65536];
    const char *nul;
    char *error;
    size_t n;
    FILE *f;

    f = fopen(file_name, "r");
    if (!f) {
        return xasprintf("%s: open failed (%s)", file_name,
                         ovs_strerror(errno));
    }
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (text.length + n > ACL_FILE_MAX) {
            fclose(f);
            ds_destroy(&text);
            return xasprintf("%s: larger than %d bytes", file_name,
                             ACL_FILE_MAX);
        }
        ds_put_buffer(&text, buf, n);
    }
    if (ferror(f)) {
        /* A directory opens, then fails here with EISDIR. */
        error = xasprintf("%s: read failed (%s)", file_name,
                          ovs_strerror(errno));
        fclose(f);
        ds_destroy(&text);
        return error;
    }
    fclose(f);

    /* The string parser would stop at a NUL: the rest of the file would be
     * silently ignored. */
    nul = memchr(ds_cstr(&text), '\0', text.length);
    if (nul) {
        int line_number = 1;

        for (const char *q = text.string; q < nul; q++) {
            line_number += *q == '\n';
        }
        ds_destroy(&text);
        return xasprintf("%s:%d: NUL byte in line", file_name, line_number);
    }
    error = cats_acl_parse_string(acl, ds_cstr(&text), file_name);
    ds_destroy(&text);
    return error;
}
