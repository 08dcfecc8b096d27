/* sha1.h -- SHA-1, only to name Lua scripts the way Redis does (EVALSHA). */
#ifndef RR_SHA1_H
#define RR_SHA1_H

#include <stddef.h>

/* Write the 40 lowercase hex digits of SHA-1(data) and a NUL into hex. */
void sha1_hex(const void *data, size_t len, char hex[41]);

#endif
