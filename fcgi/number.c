/* number.c -- whole decimal numbers from text: settings, URLs, Sentinel replies. */
#include "number.h"

int number_parse(const char *s, size_t n, long min, long max, long *out)
{
    long v = 0;

    if (s == NULL || n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int d = s[i] - '0';
        /* max - d < 0: the quotient below would round up to 0 */
        if (d < 0 || d > 9 || max - d < 0 || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v < min)
        return -1;
    *out = v;
    return 0;
}
