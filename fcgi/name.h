/* name.h -- realm-name validation with the operator's PCRE2 pattern.
 *
 * The only file that includes pcre2.h is name.c. Compiled with PCRE2_UTF
 * and PCRE2_DOLLAR_ENDONLY, so non-UTF-8 names never match and "$" does not
 * accept a trailing newline. Thread-safe after name_compile().
 */
#ifndef RR_NAME_H
#define RR_NAME_H

#include <stddef.h>

struct name_matcher;

/* Compile pattern. NULL on error, with PCRE2's message and offset in err. */
struct name_matcher *name_compile(const char *pattern, char *err, size_t errlen);

/* 1 if the len bytes at name match (len 0 never matches; len > RR_NAME_MAX
 * never matches), 0 if not, -1 if PCRE2 gave up (match limit, memory):
 * a fault that may pass, never a 400. */
int name_match(const struct name_matcher *m, const char *name, size_t len);

void name_free(struct name_matcher *m);

#endif
