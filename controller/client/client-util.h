/* libcatsclient: allocation that cannot fail (internal). */

#ifndef CATS_CLIENT_UTIL_H
#define CATS_CLIENT_UTIL_H 1

#include <stdlib.h>
#include <string.h>

static inline void *
client_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (!p) {
        abort();
    }
    return p;
}

static inline void *
client_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p) {
        abort();
    }
    return p;
}

static inline char *
client_xstrdup(const char *s)
{
    return s ? strcpy(client_xmalloc(strlen(s) + 1), s) : NULL;
}

#endif /* client-util.h */
