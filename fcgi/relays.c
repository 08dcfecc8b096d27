/* relays.c -- the relay instances of --relay-address (see relays.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "addr.h"
#include "contract.h"
#include "relays.h"

/* Add the address of n bytes at p to ri. 0, or -1 with err. */
static int add_address(struct relay_instance *ri, const char *p, size_t n, char *err, size_t errlen)
{
    char a[RR_ADDR_STRLEN];
    if (n == 0 || n >= sizeof(a)) {
        snprintf(err, errlen, "an empty or overlong relay address");
        return -1;
    }
    memcpy(a, p, n);
    a[n] = '\0';
    if (!addr_valid(a) || strcmp(a + n - 2, ":0") == 0) {
        snprintf(err, errlen, "\"%s\" is not an IP literal and port (e.g. 192.0.2.1:7000 or "
                 "[2001:db8::1]:7000)", a);
        return -1;
    }
    if (ri->n == RELAY_ADDRS_MAX) {
        snprintf(err, errlen, "more than %d addresses for one relay instance", RELAY_ADDRS_MAX);
        return -1;
    }
    size_t old = ri->json ? strlen(ri->json) : 0;
    char *j = realloc(ri->json, old + n + 4);
    if (j == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(j + old, n + 4, "%s\"%s\"", old ? "," : "", a);
    ri->json = j;
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
    for (size_t k = 0; k < s->n; k++)
        free(s->inst[k].json);
    memset(s, 0, sizeof(*s));
}

const struct relay_instance *relays_pick(const struct relay_set *s, const char *nonce)
{
    char lower[RR_NONCE_HEX];
    if (s->n == 0)
        return NULL;
    for (size_t k = 0; k < RR_NONCE_HEX; k++)
        lower[k] = (char)tolower((unsigned char)nonce[k]);
    uLong crc = crc32(0L, (const Bytef *)lower, RR_NONCE_HEX);
    return &s->inst[crc % s->n];
}

char *relays_append(const char *addrs_json, const struct relay_instance *ri)
{
    size_t len = strlen(addrs_json), extra = strlen(ri->json);
    if (len < 2 || addrs_json[len - 1] != ']')
        return NULL;
    char *out = malloc(len + extra + 2);
    if (out == NULL)
        return NULL;
    int empty = len == 2;                    /* "[]" */
    memcpy(out, addrs_json, len - 1);
    snprintf(out + len - 1, extra + 3, "%s%s]", empty ? "" : ",", ri->json);
    return out;
}
