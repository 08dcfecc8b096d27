/* relays.h -- the relay instances of --relay-address (pure, no I/O).
 *
 * "192.0.2.1:7000,[2001:db8::1]:7000 192.0.2.2:7000" is two instances: the
 * first reached at an IPv4 and an IPv6 address, the second at one IPv4
 * address. Only IP literals with a port: a real peer drops a whole punch
 * event or connect answer holding one address it cannot parse. One attempt
 * uses one instance, picked by its nonce, so both peers meet on it.
 */
#ifndef RR_RELAYS_H
#define RR_RELAYS_H

#include <stddef.h>

#define RELAY_INSTANCES_MAX 16
#define RELAY_ADDRS_MAX 4            /* addresses of one instance */

struct relay_instance {
    size_t n;
    char *json;                      /* "\"a\",\"b\"": the addresses as JSON array items */
};

struct relay_set {
    size_t n;                        /* 0: no relay */
    struct relay_instance inst[RELAY_INSTANCES_MAX];
};

/* Parse text (NULL or empty: no relay) into s (zeroed first). 0, or -1 with
 * a line in err; s is then freed. */
int relays_parse(const char *text, struct relay_set *s, char *err, size_t errlen);

void relays_free(struct relay_set *s);

/* The instance for the attempt with this nonce (32 hex digits, any case),
 * or NULL when there is no relay. */
const struct relay_instance *relays_pick(const struct relay_set *s, const char *nonce);

/* A copy of the JSON array addrs_json (as body.c writes it: no spaces)
 * with the instance's addresses after its own; NULL on out of memory. */
char *relays_append(const char *addrs_json, const struct relay_instance *ri);

#endif
