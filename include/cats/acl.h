/*
 * ovs-cats: the agent access list (cats-controller --agent-acl=FILE).
 *
 * Which agents (nodes) may use the controller's gRPC agent API, how each
 * proves who it is, and which instance addresses each may announce.  One
 * statement per line; '#' starts a comment (so a token cannot contain
 * '#'); blank lines are ignored; fields are separated by blanks:
 *
 *     node ID [token=TOKEN] [allow=CIDR[,CIDR...]|allow=any]
 *
 *     node web-1 token=3f9c2a0e5b7d41c8a6f2   allow=10.0.0.0/24,10.0.1.5
 *     node gw-a  allow=192.168.7.0/24
 *     node *     allow=10.9.0.0/16        # any node not listed above
 *
 * ID is 1 to CATS_ID_MAX characters from [A-Za-z0-9._:-] (the node ids
 * that the agent API accepts, include/cats/report.h), or '*': the default
 * entry, for every node id not listed.  Each id, '*' included, may appear
 * once.
 *
 * 'token' is the shared secret the node must present: CATS_ACL_TOKEN_MIN
 * to CATS_ACL_TOKEN_MAX printable ASCII characters, no blanks.  Without
 * it the node is not asked for one.  '*' may not have a token: a token
 * identifies one node.
 *
 * 'allow' lists the IPv4 prefixes, A.B.C.D/LEN with the host bits zero
 * (10.0.0.1/24 is refused) or bare addresses (/32), that the node's
 * instance addresses must fall in: at most CATS_ACL_MAX_PREFIXES, no
 * empty elements.  'allow=any', or no 'allow', means any address.
 *
 * Each key at most once per line; unknown statements, unknown keys and
 * words that are not key=value are errors.  Lines are at most
 * CATS_ACL_LINE_MAX characters (not counting the newline), a file has at
 * most CATS_ACL_MAX_NODES node lines.
 *
 * A file with no node line at all is an empty access list, which allows
 * everything (see cats_acl_is_empty()).  Otherwise a node id that is
 * neither listed nor covered by '*' is refused.
 *
 * Every error names the line and the field, never the token's value.
 * Parsing is all or nothing: on any error the caller's access list is left
 * untouched.  No global state, no I/O except cats_acl_parse_file().
 */

#ifndef CATS_ACL_H
#define CATS_ACL_H 1

#include <stdbool.h>
#include <stddef.h>

#include "openvswitch/compiler.h"
#include "openvswitch/hmap.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cats_prefix;
struct cats_report_policy;

#define CATS_ACL_TOKEN_MIN 16
#define CATS_ACL_TOKEN_MAX 256
#define CATS_ACL_MAX_PREFIXES 64
#define CATS_ACL_LINE_MAX 1024
#define CATS_ACL_MAX_NODES 65536

/* One node line. */
struct cats_acl_node {
    struct hmap_node hmap_node; /* In cats_acl's 'nodes' (not for '*'). */
    char *id;                   /* "*" for the default entry. */
    char *token;                /* NULL: no token required. */
    struct cats_prefix *prefixes; /* Host bits zero; struct cats_prefix is
                                   * in cats/report.h. */
    size_t n_prefixes;          /* 0: any address. */
    int line;                   /* Line of the file that defined it. */
};

struct cats_acl {
    struct hmap nodes;          /* By id, hash_string(id, 0). */
    struct cats_acl_node *any;  /* The '*' entry, or NULL. */
};

/* Initializes 'acl' as an empty access list. */
void cats_acl_init(struct cats_acl *acl);

/* Frees everything 'acl' holds.  NULL is a no-op. */
void cats_acl_destroy(struct cats_acl *acl);

/* Returns true if 'acl' has no entry at all, not even '*': the controller
 * then lets every node in, asking for no token and accepting any
 * address. */
bool cats_acl_is_empty(const struct cats_acl *acl);

/* Parses all of 'text' (named 'name' in messages) as a whole access list
 * and, on success, replaces the contents of 'acl' with it.  Returns NULL,
 * or a malloc'd one-line "NAME:LINE: ..." error that the caller frees, in
 * which case 'acl' is unchanged. */
char *cats_acl_parse_string(struct cats_acl *acl, const char *text,
                            const char *name) OVS_WARN_UNUSED_RESULT;

/* Reads 'file_name' and parses it as above.  A file that cannot be opened
 * or read gives "FILE: open failed (REASON)" or "FILE: read failed
 * (REASON)", with REASON from strerror(); a NUL byte in the file is an
 * error of its line.  On any error 'acl' is unchanged. */
char *cats_acl_parse_file(struct cats_acl *acl, const char *file_name)
    OVS_WARN_UNUSED_RESULT;

/* Returns the entry that governs node 'id': its own if listed, else the
 * '*' entry, else NULL (the node is refused).  For an empty 'acl' this is
 * always NULL: check cats_acl_is_empty() first. */
const struct cats_acl_node *cats_acl_lookup(const struct cats_acl *acl,
                                            const char *id);

/* Returns true if 'presented' matches 'node''s token, or if 'node' needs
 * no token (whatever was presented).  A NULL 'presented' never matches a
 * required token.  The comparison does not stop at the first difference:
 * its time depends on the lengths of 'presented' and of the token, never
 * on how much of the token 'presented' got right. */
bool cats_acl_token_ok(const struct cats_acl_node *node,
                       const char *presented);

/* Makes 'policy''s allowed prefixes exactly 'node''s (none, if 'node'
 * allows any address), replacing those it had.  The other fields of
 * 'policy' are left as they are. */
void cats_acl_node_apply(const struct cats_acl_node *node,
                         struct cats_report_policy *policy);

#ifdef __cplusplus
}
#endif

#endif /* cats/acl.h */
