/*
 * Fixtures shared by the unit tests (tests/unit/test-*.c): an IPv4 address
 * from text, a scratch directory and files in it.  Header-only (static
 * inline), so that every test binary keeps linking with the generic rule.
 * Include it after <cmocka.h>: the helpers fail the running test through
 * cmocka's assertions.
 */

#ifndef CATS_TEST_UTIL_H
#define CATS_TEST_UTIL_H 1

#include <stdio.h>
#include <stdlib.h>

#include "openvswitch/types.h"
#include "packets.h"
#include "util.h"

/* The IPv4 address 's' ("10.0.0.1"), in network byte order. */
static inline ovs_be32
ip(const char *s)
{
    ovs_be32 addr;

    assert_true(ip_parse(s, &addr));
    return addr;
}

/* Creates a new, empty directory /tmp/NAME-XXXXXX and returns its path,
 * which the caller must free (after test_rmtree()). */
static inline char *
test_mkdtemp(const char *name)
{
    char *dir = xasprintf("/tmp/%s-XXXXXX", name);

    assert_non_null(mkdtemp(dir));
    return dir;
}

/* Removes directory 'dir' and everything in it.  A null 'dir' is a
 * no-op. */
static inline void
test_rmtree(const char *dir)
{
    if (dir) {
        char *cmd = xasprintf("rm -rf '%s'", dir);

        if (system(cmd)) {
            fprintf(stderr, "could not remove %s\n", dir);
        }
        free(cmd);
    }
}

/* Writes 'len' bytes of 'data' to file 'name' in directory 'dir' and
 * returns its path, which the caller must free. */
static inline char *
test_write_file(const char *dir, const char *name, const void *data,
                size_t len)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

#endif /* test-util.h */
