/*
 * Unit tests for cats_config_parse_file()'s I/O error paths, driven by
 * wrapping libc calls.
 *
 * Link with:  -Wl,--wrap=fopen -Wl,--wrap=fread -Wl,--wrap=ferror
 *
 * Without those flags the binary still links (the __real_ symbols are weak
 * and resolve to NULL) and every test skips itself, so that the plain
 * Makefile rule can build it.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cats/catalog.h"
#include "cats/config.h"
#include "util.h"

/* The wrappers.  Until a test arms them they pass every call through, so
 * that nothing else (cmocka, libopenvswitch) notices them. */

FILE *__real_fopen(const char *, const char *) __attribute__((weak));
size_t __real_fread(void *, size_t, size_t, FILE *) __attribute__((weak));
int __real_ferror(FILE *) __attribute__((weak));

FILE *__wrap_fopen(const char *, const char *);
size_t __wrap_fread(void *, size_t, size_t, FILE *);
int __wrap_ferror(FILE *);

static bool armed;              /* Wrappers take their results from mock(). */
static bool read_failed;        /* __wrap_fread() faked an error. */

/* Armed: mock() gives 0 to open the file for real, or an errno value to
 * fail with. */
FILE *
__wrap_fopen(const char *name, const char *mode)
{
    if (armed) {
        int error = mock_type(int);

        if (error) {
            errno = error;
            return NULL;
        }
    }
    return __real_fopen(name, mode);
}

/* Armed: mock() gives a string to return as the data read, or NULL to fail,
 * in which case a second mock() gives the errno value. */
size_t
__wrap_fread(void *buf, size_t size, size_t n, FILE *stream)
{
    if (armed) {
        const char *data = mock_ptr_type(const char *);
        size_t len;

        if (!data) {
            errno = mock_type(int);
            read_failed = true;
            return 0;
        }
        len = strlen(data);
        assert_int_equal(size, 1);
        assert_true(len <= n);
        memcpy(buf, data, len);
        return len;
    }
    return __real_fread(buf, size, n, stream);
}

int
__wrap_ferror(FILE *stream)
{
    if (armed && read_failed) {
        return 1;
    }
    return __real_ferror(stream);
}

struct fixture {
    struct cats_catalog cat;
    char path[64];              /* An existing, valid file. */
};

static int
setup(void **state)
{
    static const char text[] = "service web vip=10.0.0.1 port=80\n";
    struct fixture *fx;
    FILE *f;
    int fd;

    fx = xzalloc(sizeof *fx);
    cats_catalog_init(&fx->cat);
    ovs_strlcpy(fx->path, "/tmp/test-config-wrap-XXXXXX", sizeof fx->path);
    fd = mkstemp(fx->path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);

    armed = true;
    read_failed = false;
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;

    armed = false;
    read_failed = false;
    if (fx) {
        unlink(fx->path);
        cats_catalog_destroy(&fx->cat);
        free(fx);
    }
    return 0;
}

/* Skips the calling test unless the binary was linked with --wrap. */
static void
require_wrapped(void)
{
    if (!__real_fopen || !__real_fread || !__real_ferror) {
        print_message("not linked with -Wl,--wrap=fopen,--wrap=fread,"
                      "--wrap=ferror\n");
        skip();
    }
}

static void
test_wrapped_file_is_parsed_when_nothing_fails(void **state)
{
    struct fixture *fx = *state;

    require_wrapped();

    /* Proves the wrappers are in the path: the data comes from here, not
     * from the file (which declares "web"). */
    will_return(__wrap_fopen, 0);
    will_return(__wrap_fread, "service api vip=10.0.0.2 port=80\n");
    will_return(__wrap_fread, "instance api 10.0.0.21:80\n");
    will_return(__wrap_fread, "");
    assert_null(cats_config_parse_file(&fx->cat, fx->path));
    assert_non_null(cats_catalog_find(&fx->cat, "api"));
    assert_null(cats_catalog_find(&fx->cat, "web"));
}

static void
test_open_refused_names_file_and_reason(void **state)
{
    struct fixture *fx = *state;
    uint64_t seqno = fx->cat.seqno;
    char *expected, *error;

    require_wrapped();

    will_return(__wrap_fopen, EACCES);
    error = cats_config_parse_file(&fx->cat, fx->path);
    expected = xasprintf("%s: open failed (Permission denied)", fx->path);
    assert_non_null(error);
    assert_string_equal(error, expected);
    assert_int_equal(cats_catalog_count(&fx->cat), 0);
    assert_int_equal(fx->cat.seqno, seqno);
    free(error);
    free(expected);
}

static void
test_read_error_mid_file_names_file_and_changes_nothing(void **state)
{
    struct fixture *fx = *state;
    uint64_t seqno = fx->cat.seqno;
    char *expected, *error;

    require_wrapped();

    /* A first chunk that would parse, then an I/O error: nothing of the
     * first chunk may reach the catalog. */
    will_return(__wrap_fopen, 0);
    will_return(__wrap_fread, "service api vip=10.0.0.2 port=80\n");
    will_return(__wrap_fread, NULL);
    will_return(__wrap_fread, EIO);
    error = cats_config_parse_file(&fx->cat, fx->path);
    expected = xasprintf("%s: read failed (Input/output error)", fx->path);
    assert_non_null(error);
    assert_string_equal(error, expected);
    assert_int_equal(cats_catalog_count(&fx->cat), 0);
    assert_int_equal(fx->cat.seqno, seqno);
    free(error);
    free(expected);
}

static void
test_read_error_on_first_read_names_file(void **state)
{
    struct fixture *fx = *state;
    char *expected, *error;

    require_wrapped();

    will_return(__wrap_fopen, 0);
    will_return(__wrap_fread, NULL);
    will_return(__wrap_fread, ENOMEM);
    error = cats_config_parse_file(&fx->cat, fx->path);
    expected = xasprintf("%s: read failed (Cannot allocate memory)",
                         fx->path);
    assert_non_null(error);
    assert_string_equal(error, expected);
    assert_int_equal(cats_catalog_count(&fx->cat), 0);
    free(error);
    free(expected);
}

#define T(NAME) cmocka_unit_test_setup_teardown(NAME, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_wrapped_file_is_parsed_when_nothing_fails),
        T(test_open_refused_names_file_and_reason),
        T(test_read_error_mid_file_names_file_and_changes_nothing),
        T(test_read_error_on_first_read_names_file),
    };

    return cmocka_run_group_tests_name("config-wrap", tests, NULL, NULL);
}
