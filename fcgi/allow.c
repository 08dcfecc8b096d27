/* allow.c -- which peers may open FastCGI connections over TCP (pure). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allow.h"

/* One item "addr" or "addr/bits" (len bytes at s) into e. 0 or -1. */
static int parse_item(const char *s, size_t len, struct allow_entry *e)
{
    char buf[64], *slash, *end;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    slash = strchr(buf, '/');
    if (slash != NULL)
        *slash = '\0';
    if (inet_pton(AF_INET, buf, e->addr) == 1) {
        e->family = AF_INET;
        e->prefix = 32;
    } else if (inet_pton(AF_INET6, buf, e->addr) == 1) {
        e->family = AF_INET6;
        e->prefix = 128;
    } else {
        return -1;
    }
    if (slash == NULL)
        return 0;
    long bits = strtol(slash + 1, &end, 10);
    if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || bits < 0 || bits > e->prefix)
        return -1;
    e->prefix = (int)bits;
    return 0;
}

int allow_parse(const char *spec, struct allow_list *out, char *err, size_t errlen)
{
    const char *p = spec != NULL ? spec : "";
    memset(out, 0, sizeof(*out));
    while (p != NULL) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p;
        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (out->n == ALLOW_MAX || parse_item(s, len, &out->e[out->n]) != 0) {
            if (out->n == ALLOW_MAX)
                snprintf(err, errlen, "more than %d entries", ALLOW_MAX);
            else
                snprintf(err, errlen, "not an IP address or CIDR block: \"%.*s\"", (int)len, s);
            return -1;
        }
        out->n++;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

int allow_match(const struct allow_list *a, const struct sockaddr *sa)
{
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    unsigned char addr[16];
    int family = sa->sa_family;
    if (family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (family == AF_INET6) {
        memcpy(addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        if (memcmp(addr, mapped, sizeof(mapped)) == 0) {
            memmove(addr, addr + 12, 4);
            family = AF_INET;
        }
    } else {
        return 0;
    }
    for (size_t k = 0; k < a->n; k++)
        if (a->e[k].family == family && prefix_equal(addr, a->e[k].addr, a->e[k].prefix))
            return 1;
    return 0;
}
