/* relay_table.h -- the UDP relay's state: the connect attempts it was told
 * about (indexed by the IPs that may punch for them), the two slots of
 * each, the paired flows (indexed by endpoint address), their limits, rate
 * buckets and expiry. Pure: no sockets, no Redis, time passed in (a
 * monotonic clock for flows and rates, the real-time clock for attempts'
 * "expires"), so the unit tests drive it. One thread.
 *
 * A datagram goes to relay_table_packet(): from an endpoint of a flow it
 * is forwarded to the other endpoint (within the rates); otherwise it may
 * be a punch packet (punch.c) of a live attempt listing its source IP,
 * which fills the slot of its side; when both slots hold different
 * addresses the flow is paired (within the flow limits) and the packet
 * that completed it is forwarded. Everything else is dropped, by reason.
 *
 * An endpoint is a source address and the relay socket it talks to
 * (relay_ep.sock): the relay listens on a range of ports and the
 * rendezvous gives each attempt one of them (from its nonce), so a holder
 * punching all its clients from one socket is a different endpoint in
 * each attempt. An endpoint belongs to at most one flow: a pairing whose
 * endpoint is already in another live flow (two attempts of one holder
 * whose nonces picked the same port) is refused (RELAY_DROP_BUSY) until
 * that flow expires, since the relay could not tell the two apart; the
 * punch packets of the second attempt coming from the first flow's
 * endpoint are counted busy, not forwarded into that flow. */
#ifndef RR_RELAY_TABLE_H
#define RR_RELAY_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "contract.h"
#include "punch.h"

#define RELAY_IPS_MAX 32               /* per side of an attempt */
#define RELAY_REALM_MAX (RR_NAME_MAX + 1) /* bytes of a realm name, with the NUL */

enum relay_side_id { RELAY_CLIENT = 0, RELAY_HOLDER = 1 };

struct relay_limits {
    long max_flows;                    /* >= 1 */
    long max_flows_per_realm;          /* 0: no limit */
    long max_flows_per_ip;             /* 0: no limit */
    long max_attempts;                 /* >= 1 */
    long flow_rate;                    /* bytes per second per flow, burst 1 s; 0: no limit */
    long total_rate;                   /* bytes per second in all; 0: no limit */
    long idle_ms;                      /* a flow without traffic this long expires */
};

/* An attempt as the rendezvous published it. IPs are 16 bytes: IPv6, or
 * IPv4 mapped (::ffff:a.b.c.d). */
struct relay_spec {
    uint8_t nonce[PUNCH_NONCE_LEN];
    uint8_t obfs[PUNCH_KEY_LEN];
    char realm[RELAY_REALM_MAX];
    int64_t expires_ms;                /* ms since the epoch */
    size_t nips[2];                    /* [RELAY_CLIENT], [RELAY_HOLDER] */
    uint8_t ips[2][RELAY_IPS_MAX][16];
};

/* Where a peer sends from, and the relay socket and local address it
 * talked to (what goes to it leaves from there). addr and sock are the
 * endpoint's identity. */
struct relay_ep {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint32_t sock;                     /* the relay socket's index */
    struct sockaddr_storage local;     /* family 0: the socket's own address */
};

/* What became of a datagram (the order of relay_result_names). */
enum relay_result {
    RELAY_FORWARD,                     /* send it to *to */
    RELAY_HELD,                        /* a punch that filled or refreshed a slot */
    RELAY_DROP_GARBAGE,                /* no flow and not a punch packet's length */
    RELAY_DROP_UNKNOWN,                /* no attempt lists the source IP */
    RELAY_DROP_EXPIRED,                /* only expired attempts list it */
    RELAY_DROP_INVALID,                /* not a punch packet of any attempt listing it */
    RELAY_DROP_REPLAY,                 /* a valid punch from a third address */
    RELAY_DROP_LIMIT_FLOWS,
    RELAY_DROP_LIMIT_REALM,
    RELAY_DROP_LIMIT_IP,
    RELAY_DROP_BUSY,                   /* an endpoint is in another flow */
    RELAY_DROP_RATE_FLOW,
    RELAY_DROP_RATE_TOTAL,
    RELAY_RESULTS
};

enum relay_add {
    RELAY_ADD_OK,                      /* a new attempt */
    RELAY_ADD_UPDATED,                 /* a known one: its IPs and expiry replaced */
    RELAY_ADD_DUP,                     /* a known one, the same record */
    RELAY_ADD_EXPIRED,
    RELAY_ADD_FULL,
    RELAY_ADD_NOMEM
};

/* Events counted since the table was made. */
struct relay_events {
    uint64_t paired, flows_expired, attempts_expired;
};

struct relay_table;

/* A table with limits lim (copied) and hash seed seed; NULL if out of memory. */
struct relay_table *relay_table_new(const struct relay_limits *lim, uint64_t seed);
void relay_table_free(struct relay_table *t);

/* Add the attempt s unless it has expired at real_ms or max_attempts are
 * held. If one with its nonce is known (a record read again, or published
 * again with more holder IPs), its IP lists and expiry are replaced by s's
 * and its slots and flow kept. */
enum relay_add relay_table_add(struct relay_table *t, const struct relay_spec *s, int64_t real_ms);

/* The datagram p (n bytes) from src (on the relay socket src->sock): what
 * to do with it. With
 * RELAY_FORWARD, *to is the endpoint to send it to (valid until the next
 * call on t). */
enum relay_result relay_table_packet(struct relay_table *t, const struct relay_ep *src,
                                     const uint8_t *p, size_t n, uint64_t mono_ms,
                                     int64_t real_ms, const struct relay_ep **to);

/* Drop the flows idle for idle_ms at mono_ms and the attempts expired at
 * real_ms. */
void relay_table_expire(struct relay_table *t, uint64_t mono_ms, int64_t real_ms);

size_t relay_table_flows(const struct relay_table *t);
size_t relay_table_attempts(const struct relay_table *t);
const struct relay_events *relay_table_events(const struct relay_table *t);

/* The name of result r for logs and metrics ("forwarded", "garbage", ...). */
const char *relay_result_name(enum relay_result r);

/* The 16-byte key of the IP of sa (IPv4 mapped). 0, or -1 for another family. */
int relay_ip_key(const struct sockaddr_storage *sa, uint8_t key[16]);

/* Add the IP text ip ("127.0.0.1", "::1") to side of s. 0, or -1 if it is
 * not an IP or the side is full. */
int relay_spec_add_ip(struct relay_spec *s, enum relay_side_id side, const char *ip);

/* Decode 2*n lowercase hex digits at hex into out. 0 or -1. */
int relay_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n);

#endif
