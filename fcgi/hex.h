/* hex.h -- hexadecimal digits: values, checks, random ids (pure but hex_random). */
#ifndef RR_HEX_H
#define RR_HEX_H

#include <stddef.h>

/* The value of hex digit c (either case), or -1. */
int hex_value(int c);

/* 1 if s is exactly n hex digits (either case; s may be longer only if
 * s[n] is NUL), else 0. lower_only: accept lowercase digits only. */
int hex_check(const char *s, size_t n, int lower_only);

/* Copy n hex digits from src to dst lowercased, and a NUL. */
void hex_lower(char *dst, const char *src, size_t n);

/* Fill out with 2 * nbytes lowercase hex digits of kernel randomness and a
 * NUL. 0, or -1 if getrandom(2) failed. */
int hex_random(char *out, size_t nbytes);

#endif
