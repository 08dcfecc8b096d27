/* number.h -- whole decimal numbers from text (pure). */
#ifndef RR_NUMBER_H
#define RR_NUMBER_H

#include <stddef.h>

/* Parse the n bytes at s, digits only, as a number within [min, max]
 * (min >= 0) into *out. 0, or -1 (empty, not digits, out of range). */
int number_parse(const char *s, size_t n, long min, long max, long *out);

#endif
