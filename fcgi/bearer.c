/* bearer.c -- the credential of an Authorization header (pure, any thread). */
#include <string.h>
#include <strings.h>

#include "bearer.h"

#define BEARER_SCHEME "Bearer "

/* Find the credential in header: "Bearer " in any case, spaces skipped,
 * trailing spaces and tabs trimmed. 1 with *out and *len set, else 0. */
int bearer_parse(const char *header, const char **out, size_t *len)
{
    const char *v = header;
    size_t n;

    *out = NULL;
    *len = 0;
    if (v == NULL || strncasecmp(v, BEARER_SCHEME, strlen(BEARER_SCHEME)) != 0)
        return 0;
    v += strlen(BEARER_SCHEME);
    while (*v == ' ')
        v++;
    n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0)
        return 0;
    *out = v;
    *len = n;
    return 1;
}
