/*
 * libFuzzer target for the catalog configuration parser.
 *
 * Feeds arbitrary bytes, as one configuration text, to
 * cats_config_parse_string() on a fresh catalog.  Besides crashes and
 * sanitizer reports it checks the parser's contract: every error is one
 * line that names the origin, and the catalog's counters stay sane.
 *
 * Build and run: tests/fuzz/README.
 */

#include <config.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cats/catalog.h"
#include "cats/config.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cats_catalog cat;
    char *text, *error;

    /* The parser takes a C string: it sees the input up to its first NUL,
     * as a file's contents would be after cats_config_parse_file()'s own
     * NUL check. */
    text = xmemdup0((const char *) data, size);

    cats_catalog_init(&cat);
    error = cats_config_parse_string(&cat, text, "fuzz");
    if (error) {
        if (strncmp(error, "fuzz:", 5) || strchr(error, '\n')) {
            abort();
        }
        free(error);
    }

    /* Whatever got in is consistent. */
    const struct cats_service *s;
    HMAP_FOR_EACH (s, node, &cat.services) {
        if (!s->id || s->id > CATS_MAX_SERVICES || !s->port
            || hmap_count(&s->instances) > CATS_MAX_INSTANCES
            || cats_catalog_find(&cat, s->name) != s
            || cats_catalog_find_id(&cat, s->id) != s) {
            abort();
        }
    }
    cats_catalog_destroy(&cat);
    free(text);
    return 0;
}
