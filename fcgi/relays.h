/* relays.h -- the relay instances of --relay-address (pure, no I/O).
 *
 * "192.0.2.1:7000-7255,[2001:db8::1]:7000-7255 192.0.2.2:7000" is two
 * instances: the first reached at an IPv4 and an IPv6 address, each with a
 * range of 256 ports, the second at one IPv4 address and one port. Only IP
 * literals: a real peer drops a whole punch event or connect answer holding
 * one address it cannot parse. One attempt uses one instance and one port
 * of its range, both picked from the attempt's nonce, so both peers meet on
 * the same socket of the same relay: the relay tells the attempts of one
 * holder (which punches every client from one socket) apart by port.
 */
#ifndef RR_RELAYS_H
#define RR_RELAYS_H

#include <stddef.h>

#define RELAY_INSTANCES_MAX 16
#define RELAY_ADDRS_MAX 4            /* addresses of one instance */
#define RELAY_PORTS_MAX 4096         /* ports of one range */

struct relay_addr {
    char host[48];                   /* "192.0.2.1" or "[2001:db8::1]" */
    unsigned port;                   /* the first of the range */
};

struct relay_instance {
    size_t n;
    struct relay_addr addr[RELAY_ADDRS_MAX];
    unsigned ports;                  /* ports in each address's range (1: one port) */
};

struct relay_set {
    size_t n;                        /* 0: no relay */
    struct relay_instance inst[RELAY_INSTANCES_MAX];
};

/* Parse text (NULL or empty: no relay) into s (zeroed first). 0, or -1 with
 * a line in err. */
int relays_parse(const char *text, struct relay_set *s, char *err, size_t errlen);

void relays_free(struct relay_set *s);

/* The relay addresses of the attempt with this nonce (32 hex digits, any
 * case) as JSON array items ("\"192.0.2.1:7042\",\"[2001:db8::1]:7042\"")
 * in a new string; NULL when there is no relay, or out of memory. */
char *relays_for(const struct relay_set *s, const char *nonce);

/* A copy of the JSON array addrs_json (as body.c writes it: no spaces)
 * with items after its own; NULL on out of memory or a bad array. */
char *relays_append(const char *addrs_json, const char *items);

#endif
