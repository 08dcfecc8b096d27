/* bearer.h -- the credential of an Authorization header (pure). */
#ifndef RR_BEARER_H
#define RR_BEARER_H

#include <stddef.h>

/* The credential in header, an Authorization value such as
 * "Bearer <secret>": the scheme "Bearer " in any case, then any spaces
 * skipped, then the rest with trailing spaces and tabs trimmed. On 1,
 * *out points into header and *len is the credential's length (not
 * NUL-terminated there). 0 (and *out NULL, *len 0) when header is NULL,
 * is not a Bearer header or the credential is empty. */
int bearer_parse(const char *header, const char **out, size_t *len);

#endif
