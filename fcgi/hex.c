/* hex.c -- hexadecimal digits: values, checks, random ids. */
#include <sys/random.h>

#include "hex.h"

int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_check(const char *s, size_t n, int lower_only)
{
    for (size_t k = 0; k < n; k++)
        if (hex_value((unsigned char)s[k]) < 0 || (lower_only && s[k] >= 'A' && s[k] <= 'F'))
            return 0;
    return s[n] == '\0';
}

void hex_lower(char *dst, const char *src, size_t n)
{
    for (size_t k = 0; k < n; k++)
        dst[k] = src[k] >= 'A' && src[k] <= 'F' ? (char)(src[k] - 'A' + 'a') : src[k];
    dst[n] = '\0';
}

int hex_random(char *out, size_t nbytes)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char rnd[64];
    if (nbytes > sizeof(rnd) || getrandom(rnd, nbytes, 0) != (ssize_t)nbytes)
        return -1;
    for (size_t k = 0; k < nbytes; k++) {
        out[2 * k] = digits[rnd[k] >> 4];
        out[2 * k + 1] = digits[rnd[k] & 15];
    }
    out[2 * nbytes] = '\0';
    return 0;
}
