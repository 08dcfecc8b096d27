/* addr.h -- IP-and-port address strings and client IPs (pure, no I/O).
 *
 * The contract's address form is an IP literal and a port:
 * "203.0.113.10:4433" or "[2001:db8::1]:4433", port 0..65535.
 */
#ifndef RR_ADDR_H
#define RR_ADDR_H

#include <stddef.h>

/* 1 if s (NUL-terminated) is a valid address as above, else 0.
 * No host names, no missing port, no leading/trailing spaces, no zone ids,
 * port digits only (no sign, at most 5 digits, value <= 65535). */
int addr_valid(const char *s);

/* Normalise an IP literal (no port, no brackets) into out:
 * IPv4 stays dotted quad, IPv6 is printed by inet_ntop, and an IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) becomes its IPv4 form.
 * 0 on success, -1 if s is not an IP literal or out is too small. */
int addr_normalize_ip(const char *s, char *out, size_t outlen);

/* The client IP from a trusted-proxy header value: the leftmost
 * comma-separated element, spaces trimmed, normalised as above.
 * 0 on success, -1 if missing or unparseable (caller falls back). */
int addr_ip_from_header(const char *value, char *out, size_t outlen);

#endif
