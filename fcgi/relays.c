/* relays.c -- the relay instances of --relay-address (see relays.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "addr.h"
#include "contract.h"
#include "number.h"
#include "relays.h"

/* "7000" or "7000-7255" (n bytes at p) into *first and *count. 0 or -1. */
static int parse_ports(const char *p, size_t n, unsigned *first, unsigned *count)
{
    const char *dash = memchr(p, '-', n);
    long lo, hi;
    size_t lolen = dash ? (size_t)(dash - p) : n;
    if (number_parse(p, lolen, 1, 65535, &lo) != 0)
        return -1;
    hi = lo;
    if (dash != NULL && number_parse(dash + 1, n - lolen - 1, lo, 65535, &hi) != 0)
        return -1;
    if (hi - lo + 1 > RELAY_PORTS_MAX)
        return -1;
    *first = (unsigned)lo;
    *count = (unsigned)(hi - lo + 1);
    return 0;
}

/* Add the address of n bytes at p to ri. 0, or -1 with err. */
static int add_address(struct relay_instance *ri, const char *p, size_t n, char *err, size_t errlen)
{
    char a[RR_ADDR_STRLEN + 8];
    const char *colon = n < sizeof(a) ? memrchr(p, ':', n) : NULL;
    unsigned first, count;
    if (colon == NULL || parse_ports(colon + 1, n - (size_t)(colon + 1 - p), &first, &count) != 0 ||
        (size_t)(colon - p) >= sizeof(ri->addr[0].host)) {
        snprintf(err, errlen, "\"%.*s\" is not an IP literal and a port or port range (e.g. "
                 "192.0.2.1:7000-7255 or [2001:db8::1]:7000)", (int)(n < 80 ? n : 80), p);
        return -1;
    }
    snprintf(a, sizeof(a), "%.*s:%u", (int)(colon - p), p, first);
    if (!addr_valid(a)) {
        snprintf(err, errlen, "\"%.*s\" is not an IP literal and a port or port range (e.g. "
                 "192.0.2.1:7000-7255 or [2001:db8::1]:7000)", (int)(n < 80 ? n : 80), p);
        return -1;
    }
    if (ri->n == RELAY_ADDRS_MAX || (ri->n > 0 && ri->ports != count)) {
        snprintf(err, errlen, ri->n == RELAY_ADDRS_MAX ? "more than 4 addresses for one relay instance"
                 : "the addresses of one relay instance need ranges of the same size");
        return -1;
    }
    snprintf(ri->addr[ri->n].host, sizeof(ri->addr[0].host), "%.*s", (int)(colon - p), p);
    ri->addr[ri->n].port = first;
    ri->ports = count;
    ri->n++;
    return 0;
}

/* One instance: comma-separated addresses in the n bytes at p. */
static int parse_instance(struct relay_instance *ri, const char *p, size_t n, char *err, size_t errlen)
{
    while (n > 0) {
        const char *comma = memchr(p, ',', n);
        size_t len = comma ? (size_t)(comma - p) : n;
        if (add_address(ri, p, len, err, errlen) != 0)
            return -1;
        if (comma == NULL)
            break;
        n -= len + 1;
        p = comma + 1;
        if (n == 0) {
            snprintf(err, errlen, "a relay address list ends with a comma");
            return -1;
        }
    }
    return 0;
}

int relays_parse(const char *text, struct relay_set *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    for (const char *p = text; p != NULL && *p != '\0';) {
        while (isspace((unsigned char)*p))
            p++;
        size_t len = strcspn(p, " \t\n");
        if (len == 0)
            break;
        if (s->n == RELAY_INSTANCES_MAX) {
            snprintf(err, errlen, "more than %d relay instances", RELAY_INSTANCES_MAX);
            relays_free(s);
            return -1;
        }
        if (parse_instance(&s->inst[s->n++], p, len, err, errlen) != 0) {
            relays_free(s);
            return -1;
        }
        p += len;
    }
    return 0;
}

void relays_free(struct relay_set *s)
{
    memset(s, 0, sizeof(*s));
}

char *relays_for(const struct relay_set *s, const char *nonce)
{
    char lower[RR_NONCE_HEX];
    if (s->n == 0)
        return NULL;
    for (size_t k = 0; k < RR_NONCE_HEX; k++)
        lower[k] = (char)tolower((unsigned char)nonce[k]);
    uLong crc = crc32(0L, (const Bytef *)lower, RR_NONCE_HEX);
    const struct relay_instance *ri = &s->inst[crc % s->n];
    unsigned offset = (unsigned)((crc / s->n) % ri->ports);
    size_t cap = ri->n * (sizeof(ri->addr[0].host) + 10) + 1, used = 0;
    char *out = malloc(cap);
    for (size_t k = 0; out != NULL && k < ri->n; k++)
        used += (size_t)snprintf(out + used, cap - used, "%s\"%s:%u\"", k ? "," : "",
                                 ri->addr[k].host, ri->addr[k].port + offset);
    return out;
}

char *relays_append(const char *addrs_json, const char *items)
{
    size_t len = strlen(addrs_json), extra = strlen(items);
    if (len < 2 || addrs_json[len - 1] != ']')
        return NULL;
    char *out = malloc(len + extra + 2);
    if (out == NULL)
        return NULL;
    int empty = len == 2;                    /* "[]" */
    memcpy(out, addrs_json, len - 1);
    snprintf(out + len - 1, extra + 3, "%s%s]", empty ? "" : ",", items);
    return out;
}
