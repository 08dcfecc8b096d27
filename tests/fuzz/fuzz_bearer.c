/* fuzz_bearer.c -- libFuzzer harness for the Authorization header
 * (bearer.c).
 *
 * Input: the header value (up to the first NUL), copied into a heap buffer
 * of exactly its length plus the NUL so ASan sees a read past the end.
 * Checked against a second, plain reading of bearer.h: "Bearer " in any
 * case, then spaces skipped, trailing spaces and tabs trimmed, empty is
 * none. On 1 the credential lies inside the header, is not empty, does not
 * start with a space nor end with a space or tab, and ends either at the
 * header's end or where only spaces and tabs follow; on 0 *out is NULL and
 * *len 0. A NULL header is none. A broken check aborts (a crash libFuzzer
 * reports). */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearer.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_bearer: check failed at %s:%d: %s\n",      \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* The credential by hand: offset and length, or 0 for none. */
static int reference(const char *h, size_t n, size_t *off, size_t *len)
{
    static const char scheme[] = "bearer ";
    size_t a = sizeof scheme - 1, b = n;

    if (n < a)
        return 0;
    for (size_t k = 0; k < a; k++)
        if (tolower((unsigned char)h[k]) != scheme[k])
            return 0;
    while (a < n && h[a] == ' ')
        a++;
    while (b > a && (h[b - 1] == ' ' || h[b - 1] == '\t'))
        b--;
    if (b == a)
        return 0;
    *off = a;
    *len = b - a;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = strnlen((const char *)data, size), len = 99, roff = 0, rlen = 0;
    const char *out = (const char *)data;
    char *h = malloc(n + 1);
    int rc;

    if (h == NULL)
        return 0;
    memcpy(h, data, n);
    h[n] = '\0';

    rc = bearer_parse(h, &out, &len);
    CHECK(rc == 0 || rc == 1);
    CHECK(rc == reference(h, n, &roff, &rlen));
    if (rc == 1) {
        CHECK(out == h + roff && len == rlen);
        CHECK(out >= h + 7 && out + len <= h + n && len > 0);
        CHECK(out[0] != ' ');
        CHECK(out[len - 1] != ' ' && out[len - 1] != '\t');
        for (const char *p = out + len; p < h + n; p++)
            CHECK(*p == ' ' || *p == '\t');
    } else {
        CHECK(out == NULL && len == 0);
    }

    out = h;
    len = 99;
    CHECK(bearer_parse(NULL, &out, &len) == 0 && out == NULL && len == 0);
    free(h);
    return 0;
}
