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
        const struct cats_instance *inst;

        if (!s->id || s->id > CATS_MAX_SERVICES || !s->port
            || hmap_count(&s->instances) > CATS_MAX_INSTANCES
            || cats_catalog_find(&cat, s->name) != s
            || cats_catalog_find_id(&cat, s->id) != s) {
            abort();
        }
        HMAP_FOR_EACH (inst, node, &s->instances) {
            if (inst->site && cats_site_find(&cat, inst->site->name)
                              != inst->site) {
                abort();
            }
        }
    }
    const struct cats_site *site;
    HMAP_FOR_EACH (site, node, &cat.sites) {
        if (!site->id || site->id > CATS_MAX_SITES
            || cats_site_find_id(&cat, site->id) != site
            || cats_site_find_dpid(&cat, site->dpid) != site) {
            abort();
        }
    }
    const struct cats_path *p;
    HMAP_FOR_EACH (p, node, &cat.paths) {
        if (!p->id || p->id > CATS_MAX_PATHS
            || cats_path_find_id(&cat, p->id) != p
            || p->site[0] == p->site[1]
            || cats_path_end(p, p->site[0]) != 0
            || !p->n_links || p->n_links > CATS_PATH_MAX_LINKS) {
            abort();
        }
    }

    /* A reload of it over a catalog with sites and paths of its own keeps
     * what is kept and ends up the same. */
    struct cats_catalog old;
    char *old_error;
    cats_catalog_init(&old);
    old_error = cats_config_parse_string(&old, "site A dpid=1\n"
                                         "site B dpid=2\n"
                                         "path p1 A:1 B:1 link=l1\n"
                                         "path p2 A:2 B:2 link=l2\n", "old");
    if (old_error) {
        abort();
    }
    cats_path_set_carrier(&old, cats_path_find(&old, "p1"), 2);
    if (!error) {
        cats_catalog_sync(&old, &cat);
        if (hmap_count(&old.sites) != hmap_count(&cat.sites)
            || hmap_count(&old.paths) != hmap_count(&cat.paths)
            || cats_catalog_count(&old) != cats_catalog_count(&cat)) {
            abort();
        }
    }
    cats_catalog_destroy(&old);
    cats_catalog_destroy(&cat);
    free(text);
    return 0;
}
