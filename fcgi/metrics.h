/* metrics.h -- Prometheus metrics of the whole deployment, kept in Redis.
 *
 * Each worker counts in memory (a few arrays, no allocation per request)
 * and adds its counts to Redis once a second with one function call
 * (metrics_flush.lua), along with its own gauges (held streams, waiting
 * connects, Redis round-trip time), which expire when the worker dies. A
 * scrape of /metrics, on whichever worker, flushes that worker's counts,
 * reads the sums (metrics_read.lua) and writes the text exposition format.
 * Names, types and labels follow the existing server's
 * (namespace hysteria_realm); README lists them.
 */
#ifndef RR_METRICS_H
#define RR_METRICS_H

#include <stdint.h>

struct conn;
struct loop;

enum metrics_counter {
    M_REG_OK, M_REG_CONFLICT, M_REG_GLOBAL_LIMIT, M_REG_IP_LIMIT, M_REG_TOKEN_QUOTA, M_REG_INVALID_TOKEN,
    M_REG_BAD_REQUEST,
    M_DEREGISTRATIONS,
    M_HB_OK, M_HB_INVALID_TOKEN, M_HB_BAD_REQUEST, M_HB_REALM_NOT_FOUND,
    M_CONNECT_REQUESTS,
    M_OUT_DELIVERED, M_OUT_TIMEOUT, M_OUT_NO_REALM, M_OUT_CANCELED, M_OUT_RATE_LIMITED,
    M_OUT_CLIENT_GAVE_UP, M_OUT_ERROR,
    M_RESP_DELIVERED, M_RESP_NO_PENDING,
    M_COUNTERS
};

/* The route label of a request. */
enum metrics_route {
    MR_REALM, MR_EVENTS, MR_HEARTBEAT, MR_CONNECT, MR_ANSWER,
    MR_METRICS, MR_HEALTHZ, MR_READYZ, MR_OTHER,
    MR_ROUTES
};

/* Off (--metrics false): every call below does nothing, /metrics is 404. */
void metrics_init(int enabled, long max_realms, long max_per_ip);
int metrics_enabled(void);

void metrics_count(enum metrics_counter m);

/* A delivered connect: seconds from notifying the realm to the answer. */
void metrics_connect_duration(double seconds);

/* One answered request: route, method ("GET", ...), status, the error
 * code of an error answer (or NULL), and the time since it was read
 * (seconds; < 0 for none: the events stream). Also counts the endpoint's
 * result (registrations_total, heartbeats_total, ...). */
void metrics_http(enum metrics_route route, const char *method, int status, const char *code,
                  double seconds);

/* The method label for method: a static string ("GET", ..., "other"). */
const char *metrics_method(const char *method);

/* Microseconds of CLOCK_MONOTONIC, for durations. */
uint64_t metrics_now_us(void);

/* A Redis call's round trip (for the per-worker gauge). */
void metrics_redis_rtt(uint64_t us);
void metrics_redis_reconnect(void);
/* A WAIT (--redis-wait) saw fewer replicas than asked. */
void metrics_redis_wait_short(void);

/* Once a second: add this worker's counts to Redis. */
void metrics_tick(struct loop *l);

/* Answer GET /metrics on c. */
void metrics_scrape(struct loop *l, struct conn *c);

#endif
