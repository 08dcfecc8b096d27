/* fuzz_addr.c -- libFuzzer harness for address strings and client IPs
 * (addr.c): addr_valid, addr_normalize_ip, addr_ip_from_header.
 *
 * Input: 1 byte of control, then the text (up to the first NUL), copied
 * into a heap buffer of exactly its length plus the NUL so ASan sees a
 * read past the end. Byte 0 modulo 65 is a short output length; every
 * output is also made into RR_IP_STRLEN bytes (what the handlers pass).
 * Outputs are guarded buffers. Checked:
 *   addr_valid: 0 or 1; a valid address fits RR_ADDR_STRLEN, is
 *     "a.b.c.d:port" or "[v6]:port" with 1..5 digits of port <= 65535, and
 *     its host normalises (an IPv4 host to itself);
 *   addr_normalize_ip: 0 exactly when inet_pton reads the text as IPv4 or
 *     IPv6 and the result fits; the result is NUL-terminated within outlen,
 *     nothing is written past outlen, it is IPv4 dotted quad or IPv6 but
 *     never IPv4-mapped, normalising it again gives itself, and a short
 *     outlen gives the same result when it fits and -1 when it does not;
 *   addr_ip_from_header: the same as addr_normalize_ip of the leftmost
 *     comma-separated element with spaces and tabs trimmed (-1 when empty
 *     or no IP), and any element too long for an IP literal is no IP.
 * A broken check aborts (a crash libFuzzer reports). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "contract.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_addr: check failed at %s:%d: %s\n",        \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

#define GUARD 0x5a
#define OUT_MAX 64

static int all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *s = p;
    for (size_t k = 0; k < n; k++)
        if (s[k] != v)
            return 0;
    return 1;
}

/* 1 if s is an IP literal inet_pton reads; *v6 says which kind. */
static int is_ip(const char *s, int *v6)
{
    unsigned char a[16];

    *v6 = 0;
    if (inet_pton(AF_INET, s, a) == 1)
        return 1;
    *v6 = 1;
    return inet_pton(AF_INET6, s, a) == 1;
}

/* f(s, out, outlen) into a guarded buffer; out_copy gets the result. */
static int call_guarded(int (*f)(const char *, char *, size_t), const char *s,
                        size_t outlen, char *out_copy)
{
    char out[OUT_MAX + 16];
    int rc;

    memset(out, GUARD, sizeof out);
    rc = f(s, out, outlen);
    CHECK(rc == 0 || rc == -1);
    CHECK(all_bytes(out + outlen, sizeof out - outlen, GUARD));
    if (rc == 0) {
        CHECK(outlen > 0 && memchr(out, '\0', outlen) != NULL);
        memcpy(out_copy, out, outlen);
    }
    return rc;
}

/* A normalised IP as addr.h promises it. */
static void check_normal(const char *ip)
{
    char again[OUT_MAX];
    unsigned char a6[16];
    int v6;

    CHECK(ip[0] != '\0' && strlen(ip) < RR_IP_STRLEN);
    CHECK(is_ip(ip, &v6));
    if (v6) {
        CHECK(inet_pton(AF_INET6, ip, a6) == 1);
        CHECK(!IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a6));
    }
    CHECK(call_guarded(addr_normalize_ip, ip, RR_IP_STRLEN, again) == 0);
    CHECK(strcmp(again, ip) == 0);
}

/* addr_normalize_ip or addr_ip_from_header of s at full and short length;
 * the full result into full (or -1). */
static int check_both_lengths(int (*f)(const char *, char *, size_t), const char *s,
                              size_t short_len, char *full)
{
    char small[OUT_MAX];
    int rc = call_guarded(f, s, RR_IP_STRLEN, full);
    int rs = call_guarded(f, s, short_len, small);

    if (rc == 0) {
        check_normal(full);
        CHECK(rs == (strlen(full) < short_len ? 0 : -1));
        if (rs == 0)
            CHECK(strcmp(small, full) == 0);
    } else {
        CHECK(rs == -1);
    }
    return rc;
}

static void check_valid(const char *s)
{
    size_t len = strlen(s);
    const char *colon, *host;
    size_t hostlen, portlen;
    char hostbuf[RR_ADDR_STRLEN], norm[OUT_MAX];
    long port = 0;
    int v6;

    CHECK(len > 0 && len < RR_ADDR_STRLEN);
    colon = strrchr(s, ':');
    CHECK(colon != NULL);
    portlen = len - (size_t)(colon + 1 - s);
    CHECK(portlen >= 1 && portlen <= 5);
    for (size_t k = 0; k < portlen; k++) {
        CHECK(colon[1 + k] >= '0' && colon[1 + k] <= '9');
        port = port * 10 + (colon[1 + k] - '0');
    }
    CHECK(port <= 65535);
    if (s[0] == '[') {
        CHECK(colon > s + 1 && colon[-1] == ']');
        host = s + 1;
        hostlen = (size_t)(colon - 1 - host);
    } else {
        host = s;
        hostlen = (size_t)(colon - s);
    }
    memcpy(hostbuf, host, hostlen);
    hostbuf[hostlen] = '\0';
    CHECK(is_ip(hostbuf, &v6));
    CHECK(v6 == (s[0] == '['));
    CHECK(call_guarded(addr_normalize_ip, hostbuf, RR_IP_STRLEN, norm) == 0);
    if (!v6)
        CHECK(strcmp(norm, hostbuf) == 0);
}

/* addr_ip_from_header as addr.h says, by hand. */
static void check_header(const char *s, size_t short_len)
{
    char full[OUT_MAX], ref[OUT_MAX], *elem;
    const char *start = s, *end = strchr(s, ',');
    int rc, rr, v6;

    if (end == NULL)
        end = s + strlen(s);
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    elem = malloc((size_t)(end - start) + 1);
    CHECK(elem != NULL);
    memcpy(elem, start, (size_t)(end - start));
    elem[end - start] = '\0';

    rc = check_both_lengths(addr_ip_from_header, s, short_len, full);
    if (end - start >= RR_IP_STRLEN) {
        /* Too long to be copied: must not be an IP literal either. */
        CHECK(!is_ip(elem, &v6));
        rr = -1;
    } else {
        rr = end == start ? -1 : call_guarded(addr_normalize_ip, elem, RR_IP_STRLEN, ref);
    }
    CHECK(rc == rr);
    if (rc == 0)
        CHECK(strcmp(full, ref) == 0);
    free(elem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char full[OUT_MAX], *s;
    size_t n, short_len;
    int valid, v6;

    if (size < 1)
        return 0;
    short_len = data[0] % (OUT_MAX + 1);
    data++;
    size--;
    n = strnlen((const char *)data, size);
    s = malloc(n + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, n);
    s[n] = '\0';

    valid = addr_valid(s);
    CHECK(valid == 0 || valid == 1);
    if (valid)
        check_valid(s);

    if (check_both_lengths(addr_normalize_ip, s, short_len, full) == 0)
        CHECK(is_ip(s, &v6));
    else
        CHECK(!is_ip(s, &v6));

    check_header(s, short_len);
    CHECK(addr_valid(NULL) == 0);
    free(s);
    return 0;
}
