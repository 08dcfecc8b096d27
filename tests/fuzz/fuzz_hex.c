/* fuzz_hex.c -- libFuzzer harness for hex digits (hex.c): hex_value,
 * hex_check and hex_lower, at the lengths the handlers use.
 *
 * Input: 1 byte of control, then the text. Byte 0: bits 0-1 pick n,
 * RR_NONCE_HEX (a nonce in a connect body or a connects/{nonce} path),
 * RR_SESSION_HEX (a session id as bearer), RR_OBFS_HEX (obfs) or the
 * text's own length; bit 2 is lower_only. The text is copied into a heap
 * buffer of exactly its length plus a NUL (NULs inside are kept), so ASan
 * sees a read past the end. Checked:
 *   - hex_value of every byte value against the plain definition;
 *   - hex_check(s, n, lower_only) is 1 exactly when the first n bytes are
 *     hex digits (lowercase if lower_only) and s[n] is the NUL, and reads
 *     nothing past the buffer;
 *   - hex_lower into a heap buffer of exactly n + 1 bytes (when n bytes
 *     are there) lowercases A-F only, keeps every other byte and ends with
 *     a NUL; the result of hex digits passes hex_check lower_only;
 *   - the handlers' session shape (32 bytes copied, NUL, hex_check
 *     lower_only) agrees with the same reading.
 * A broken check aborts (a crash libFuzzer reports). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "hex.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_hex: check failed at %s:%d: %s\n",         \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

static int ref_value(int c)
{
    static const char digits[] = "0123456789abcdef", upper[] = "ABCDEF";
    for (int k = 0; k < 16; k++)
        if (c == digits[k])
            return k;
    for (int k = 0; k < 6; k++)
        if (c == upper[k])
            return 10 + k;
    return -1;
}

/* hex_check by hand, on the len bytes at s (s[len] is a NUL). */
static int ref_check(const char *s, size_t len, size_t n, int lower_only)
{
    if (n > len)
        return 0;
    for (size_t k = 0; k < n; k++) {
        int v = ref_value((unsigned char)s[k]);
        if (v < 0 || (lower_only && v >= 10 && s[k] != "0123456789abcdef"[v]))
            return 0;
    }
    return s[n] == '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t lens[] = { RR_NONCE_HEX, RR_SESSION_HEX, RR_OBFS_HEX };
    size_t len, n;
    int lower_only, got;
    char *s, *dst;

    if (size < 1)
        return 0;
    lower_only = (data[0] >> 2) & 1;
    len = size - 1;
    n = (data[0] & 3) == 3 ? len : lens[data[0] & 3];
    s = malloc(len + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, len);
    s[len] = '\0';

    for (size_t k = 0; k < len; k++)
        CHECK(hex_value((unsigned char)s[k]) == ref_value((unsigned char)s[k]));
    CHECK(hex_value(-1) == -1 && hex_value(256 + '0') == -1);

    got = hex_check(s, n, lower_only);
    CHECK(got == ref_check(s, len, n, lower_only));
    CHECK(hex_check(s, len, lower_only) == ref_check(s, len, len, lower_only));

    if (n <= len) {
        dst = malloc(n + 1);
        CHECK(dst != NULL);
        hex_lower(dst, s, n);
        CHECK(dst[n] == '\0');
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)s[k];
            CHECK((unsigned char)dst[k] == (c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c));
        }
        size_t digits = 0;
        while (digits < n && ref_value((unsigned char)s[digits]) >= 0)
            digits++;
        CHECK(hex_check(dst, n, 1) == (digits == n));
        free(dst);
    }

    /* handlers.c's session shape: the bearer's 32 bytes, then a NUL. */
    if (len >= RR_SESSION_HEX) {
        char sid[RR_SESSION_HEX + 1];
        memcpy(sid, s, RR_SESSION_HEX);
        sid[RR_SESSION_HEX] = '\0';
        CHECK(hex_check(sid, RR_SESSION_HEX, 1) == ref_check(sid, RR_SESSION_HEX, RR_SESSION_HEX, 1));
    }
    free(s);
    return 0;
}
