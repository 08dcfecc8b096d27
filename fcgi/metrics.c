/* metrics.c -- Prometheus metrics of the whole deployment, kept in Redis.
 *
 * In memory: the counts since the last flush, in fixed arrays indexed by
 * the label values (no allocation per request). Once a second
 * metrics_tick() sends the non-zero ones as HINCRBY/HINCRBYFLOAT pairs in
 * one FCALL, with this worker's gauges; each Redis hash field is the
 * series exactly as exposed ("hysteria_realm_heartbeats_total{result=\"ok\"}"),
 * so a scrape prints them as they come, in the order of the tables below.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aredis.h"
#include "conn.h"
#include "keys.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "respond.h"
#include "stream.h"
#include "waiter.h"

#define NS "hysteria_realm_"
#define WORKER_TTL_MS 5000
#define FIELD_MAX 160

static const char *const counter_series[M_COUNTERS] = {
    NS "registrations_total{result=\"ok\"}", NS "registrations_total{result=\"conflict\"}",
    NS "registrations_total{result=\"global_limit\"}", NS "registrations_total{result=\"ip_limit\"}",
    NS "registrations_total{result=\"token_quota\"}",
    NS "registrations_total{result=\"invalid_token\"}", NS "registrations_total{result=\"bad_request\"}",
    NS "deregistrations_total",
    NS "heartbeats_total{result=\"ok\"}", NS "heartbeats_total{result=\"invalid_token\"}",
    NS "heartbeats_total{result=\"bad_request\"}", NS "heartbeats_total{result=\"realm_not_found\"}",
    NS "connect_requests_total",
    NS "connect_outcomes_total{outcome=\"delivered\"}", NS "connect_outcomes_total{outcome=\"timeout\"}",
    NS "connect_outcomes_total{outcome=\"no_realm\"}", NS "connect_outcomes_total{outcome=\"canceled\"}",
    NS "connect_outcomes_total{outcome=\"rate_limited\"}",
    NS "connect_outcomes_total{outcome=\"client_gave_up\"}", NS "connect_outcomes_total{outcome=\"error\"}",
    NS "connect_responses_total{result=\"delivered\"}", NS "connect_responses_total{result=\"no_pending\"}",
};

static const char *const route_label[MR_ROUTES] = {
    "/v1/{id}", "/v1/{id}/events", "/v1/{id}/heartbeat", "/v1/{id}/connect",
    "/v1/{id}/connects/{nonce}", "/metrics", "/healthz", "/readyz", "other",
};

static const char *const method_label[] = { "GET", "POST", "DELETE", "other" };
#define METHODS 4
static const int code_label[] = { 200, 204, 400, 401, 404, 405, 409, 413, 429, 500, 503 };
#define CODES ((int)(sizeof(code_label) / sizeof(code_label[0])))

/* Prometheus' default buckets, and the connect duration's. */
static const char *const http_le[] = { "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                       "0.5", "1", "2.5", "5", "10", "+Inf" };
static const double http_le_v[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 1e300 };
#define HTTP_BUCKETS 12
static const char *const conn_le[] = { "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
                                       "1", "2", "5", "10", "+Inf" };
static const double conn_le_v[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 1e300 };
#define CONN_BUCKETS 11

/* A histogram's counts since the last flush (cumulative buckets). */
struct hist {
    long long bucket[HTTP_BUCKETS];
    long long count;
    double sum;
};

static struct {
    int enabled;
    long max_realms, max_per_ip;
    char worker[80];                          /* "host:pid" */
    long long counter[M_COUNTERS];
    long long http[MR_ROUTES][METHODS][CODES];
    struct hist http_dur[MR_ROUTES];
    struct hist connect_dur;
    unsigned long long rtt_us_sum, rtt_n;     /* Redis round trips since the last flush */
    double rtt_last;                          /* seconds, the last flushed average */
    long long reconnects;                     /* since start */
    long long wait_short;                     /* since start */
} m;

void metrics_init(int enabled, long max_realms, long max_per_ip)
{
    char host[64] = "unknown";
    memset(&m, 0, sizeof(m));
    m.enabled = enabled;
    m.max_realms = max_realms;
    m.max_per_ip = max_per_ip;
    gethostname(host, sizeof(host) - 1);
    snprintf(m.worker, sizeof(m.worker), "%s:%ld", host, (long)getpid());
}

int metrics_enabled(void)
{
    return m.enabled;
}

uint64_t metrics_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void metrics_count(enum metrics_counter c)
{
    if (m.enabled)
        m.counter[c]++;
}

static void observe(struct hist *h, const double *le, int n, double v)
{
    for (int k = 0; k < n; k++)
        if (v <= le[k])
            h->bucket[k]++;
    h->count++;
    h->sum += v;
}

void metrics_connect_duration(double seconds)
{
    if (m.enabled)
        observe(&m.connect_dur, conn_le_v, CONN_BUCKETS, seconds);
}

static int method_index(const char *method)
{
    for (int k = 0; k < METHODS - 1; k++)
        if (method != NULL && strcmp(method, method_label[k]) == 0)
            return k;
    return METHODS - 1;
}

static int code_index(int status)
{
    for (int k = 0; k < CODES; k++)
        if (code_label[k] == status)
            return k;
    return -1;
}

/* The endpoint counters that follow from an answer: register, heartbeat,
 * deregister and connect-answer results are their status and error code. */
static void endpoint_result(enum metrics_route route, int mi, int status, const char *code)
{
    static const struct {
        enum metrics_route route;
        int method;                   /* index in method_label, -1: any */
        int status;
        const char *code;             /* NULL: any */
        enum metrics_counter counter;
    } rows[] = {
        { MR_REALM, 1, 200, NULL, M_REG_OK },
        { MR_REALM, 1, 409, NULL, M_REG_CONFLICT },
        { MR_REALM, 1, 429, "realm_limit_reached", M_REG_GLOBAL_LIMIT },
        { MR_REALM, 1, 429, "ip_limit_reached", M_REG_IP_LIMIT },
        { MR_REALM, 1, 429, "token_quota_reached", M_REG_TOKEN_QUOTA },
        { MR_REALM, 1, 401, NULL, M_REG_INVALID_TOKEN },
        { MR_REALM, 1, 400, NULL, M_REG_BAD_REQUEST },
        { MR_REALM, 1, 413, NULL, M_REG_BAD_REQUEST },
        { MR_REALM, 2, 204, NULL, M_DEREGISTRATIONS },
        { MR_HEARTBEAT, -1, 200, NULL, M_HB_OK },
        { MR_HEARTBEAT, -1, 401, NULL, M_HB_INVALID_TOKEN },
        { MR_HEARTBEAT, -1, 400, NULL, M_HB_BAD_REQUEST },
        { MR_HEARTBEAT, -1, 413, NULL, M_HB_BAD_REQUEST },
        { MR_HEARTBEAT, -1, 404, NULL, M_HB_REALM_NOT_FOUND },
        { MR_ANSWER, -1, 204, NULL, M_RESP_DELIVERED },
        { MR_ANSWER, -1, 404, "attempt_not_found", M_RESP_NO_PENDING },
    };
    for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++)
        if (rows[k].route == route && (rows[k].method < 0 || rows[k].method == mi) &&
            rows[k].status == status &&
            (rows[k].code == NULL || (code != NULL && strcmp(code, rows[k].code) == 0))) {
            m.counter[rows[k].counter]++;
            return;
        }
}

void metrics_http(enum metrics_route route, const char *method, int status, const char *code,
                  double seconds)
{
    int ci = code_index(status), mi = method_index(method);
    if (!m.enabled || ci < 0)
        return;
    m.http[route][mi][ci]++;
    if (seconds >= 0)
        observe(&m.http_dur[route], http_le_v, HTTP_BUCKETS, seconds);
    endpoint_result(route, mi, status, code);
}

const char *metrics_method(const char *method)
{
    return method_label[method_index(method)];
}

void metrics_redis_rtt(uint64_t us)
{
    m.rtt_us_sum += us;
    m.rtt_n++;
}

void metrics_redis_reconnect(void)
{
    m.reconnects++;
}

void metrics_redis_wait_short(void)
{
    m.wait_short++;
}

/* ---- flush ---- */

/* The words of one metrics_flush call, in an arena freed after sending. */
struct flush_args {
    const char **argv;
    size_t argc, cap;
    char *arena;
    size_t used, size;
};

static int fa_add(struct flush_args *f, const char *fmt_field, long long iv, double dv, int is_float)
{
    if (f->argc + 2 > f->cap || f->size - f->used < FIELD_MAX + 32)
        return -1;
    char *field = f->arena + f->used;
    f->used += (size_t)snprintf(field, FIELD_MAX, "%s", fmt_field) + 1;
    char *value = f->arena + f->used;
    f->used += (size_t)(is_float ? snprintf(value, 32, "%.9g", dv) : snprintf(value, 32, "%lld", iv)) + 1;
    f->argv[f->argc++] = field;
    f->argv[f->argc++] = value;
    return 0;
}

static int hist_add(struct flush_args *f, const char *family, const char *labels,
                    const struct hist *h, const char *const *le, int n)
{
    char field[FIELD_MAX];
    int rc = 0;
    if (h->count == 0)
        return 0;
    for (int k = 0; k < n && rc == 0; k++) {
        snprintf(field, sizeof(field), NS "%s_bucket{%s%sle=\"%s\"}", family, labels,
                 *labels ? "," : "", le[k]);
        rc = fa_add(f, field, h->bucket[k], 0, 0);
    }
    snprintf(field, sizeof(field), NS "%s_count%s%s%s", family, *labels ? "{" : "", labels,
             *labels ? "}" : "");
    if (rc == 0)
        rc = fa_add(f, field, h->count, 0, 0);
    snprintf(field, sizeof(field), NS "%s_sum%s%s%s", family, *labels ? "{" : "", labels,
             *labels ? "}" : "");
    return rc == 0 ? fa_add(f, field, 0, h->sum, 1) : rc;
}

/* Every non-zero count as a HINCRBY pair. */
static int add_counts(struct flush_args *f)
{
    char field[FIELD_MAX], labels[96];
    int rc = 0;
    for (int c = 0; c < M_COUNTERS && rc == 0; c++)
        if (m.counter[c] != 0)
            rc = fa_add(f, counter_series[c], m.counter[c], 0, 0);
    for (int r = 0; r < MR_ROUTES && rc == 0; r++)
        for (int k = 0; k < METHODS && rc == 0; k++)
            for (int c = 0; c < CODES && rc == 0; c++) {
                if (m.http[r][k][c] == 0)
                    continue;
                snprintf(field, sizeof(field), NS "http_requests_total{route=\"%s\",method=\"%s\",code=\"%d\"}",
                         route_label[r], method_label[k], code_label[c]);
                rc = fa_add(f, field, m.http[r][k][c], 0, 0);
            }
    for (int r = 0; r < MR_ROUTES && rc == 0; r++) {
        snprintf(labels, sizeof(labels), "route=\"%s\"", route_label[r]);
        rc = hist_add(f, "http_request_duration_seconds", labels, &m.http_dur[r], http_le, HTTP_BUCKETS);
    }
    return rc == 0 ? hist_add(f, "connect_duration_seconds", "", &m.connect_dur, conn_le, CONN_BUCKETS) : rc;
}

static void on_flushed(void *priv, const struct aresult *res)
{
    (void)priv;
    if (res->err)
        log_msg(LOG_WARN, "metrics_flush_failed", NULL);
}

/* This worker's own series, kept per worker in Redis ("<worker>|<name>")
 * and summed or listed by worker at scrape time: name, type, help. */
enum { WORKER_GAUGES = 5 };
static const char *const worker_gauge[WORKER_GAUGES][3] = {
    { "event_streams", "gauge", "Event streams this worker holds." },
    { "waiting_connects", "gauge", "Connects waiting on this worker." },
    { "redis_rtt_seconds", "gauge", "Mean Redis round trip of this worker over the last second." },
    { "redis_reconnects_total", "counter", "Redis connections this worker made again since it started." },
    { "redis_wait_short_total", "counter",
      "Durable changes (--redis-wait) whose WAIT saw fewer replicas than asked, since the worker started." },
};

/* Send the counts and this worker's gauges; reset them once sent. 0 or -1. */
static int flush(struct loop *l, aredis_fn *cb, void *priv)
{
    enum { CAP = 2 * (M_COUNTERS + 64 + MR_ROUTES * (HTTP_BUCKETS + 2) + CONN_BUCKETS + 2) + 16 };
    char ttl[24], ints[24], values[WORKER_GAUGES][32];
    struct flush_args f = { .cap = CAP, .size = CAP * (FIELD_MAX / 2 + 32) };
    f.argv = malloc(f.cap * sizeof(*f.argv));
    f.arena = malloc(f.size);
    int rc = -1;
    if (f.argv == NULL || f.arena == NULL)
        goto out;
    f.argv[f.argc++] = m.worker;
    snprintf(ttl, sizeof(ttl), "%d", WORKER_TTL_MS);
    f.argv[f.argc++] = ttl;
    f.argv[f.argc++] = ints;              /* how many pairs are HINCRBY: filled below */
    size_t first = f.argc;
    if (add_counts(&f) != 0) {
        log_msg(LOG_ERROR, "metrics_flush_overflow", NULL);
        goto out;
    }
    snprintf(ints, sizeof(ints), "%zu", (f.argc - first) / 2);
    if (m.rtt_n > 0)
        m.rtt_last = (double)m.rtt_us_sum / (double)m.rtt_n / 1e6;
    snprintf(values[0], 32, "%zu", stream_count(loop_streams(l)));
    snprintf(values[1], 32, "%zu", waiter_count(loop_waiters(l)));
    snprintf(values[2], 32, "%.6f", m.rtt_last);
    snprintf(values[3], 32, "%lld", m.reconnects);
    snprintf(values[4], 32, "%lld", m.wait_short);
    for (int k = 0; k < WORKER_GAUGES && f.argc + 2 <= f.cap; k++) {
        f.argv[f.argc++] = worker_gauge[k][0];
        f.argv[f.argc++] = values[k];
    }
    const char *keys[3] = { KEY_METRICS, KEY_MWORKERS, KEY_WORKERS };
    if (aredis_script(loop_redis(l), SCRIPT_METRICS_FLUSH, 3, keys, (int)f.argc, f.argv, cb, priv) == 0) {
        memset(m.counter, 0, sizeof(m.counter));
        memset(m.http, 0, sizeof(m.http));
        memset(m.http_dur, 0, sizeof(m.http_dur));
        memset(&m.connect_dur, 0, sizeof(m.connect_dur));
        m.rtt_us_sum = m.rtt_n = 0;
        rc = 0;
    }
out:
    free(f.argv);
    free(f.arena);
    return rc;
}

void metrics_tick(struct loop *l)
{
    if (m.enabled && aredis_ready(loop_redis(l)))
        flush(l, on_flushed, NULL);
}

/* ---- scrape ---- */

struct field {
    const char *name;
    size_t nlen;
    const char *value;
    size_t vlen;
};

static int field_cmp(const void *a, const void *b)
{
    const struct field *x = a, *y = b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    return c != 0 ? c : (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

/* The value of series name among the sorted fields, or NULL. */
static const struct field *lookup(const struct field *fs, size_t n, const char *name)
{
    struct field key = { name, strlen(name), NULL, 0 };
    return bsearch(&key, fs, n, sizeof(*fs), field_cmp);
}

struct out {
    char *buf;
    size_t len, cap;
    int oom;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0 || o->oom)
            return;
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        char *b = realloc(o->buf, o->cap * 2 + (size_t)n);
        if (b == NULL) {
            o->oom = 1;
            return;
        }
        o->buf = b;
        o->cap = o->cap * 2 + (size_t)n;
    }
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP " NS "%s %s\n# TYPE " NS "%s %s\n", name, help, name, type);
}

/* Series name from the fields, or 0 when absent (and zero is shown). */
static void series(struct out *o, const struct field *fs, size_t n, const char *name, int zero)
{
    const struct field *f = lookup(fs, n, name);
    if (f != NULL)
        put(o, "%s %.*s\n", name, (int)f->vlen, f->value);
    else if (zero)
        put(o, "%s 0\n", name);
}

/* Every field whose name starts with prefix: the series of the relays
 * (hysteria-realm-relay adds them to hr:metrics; it names their labels). */
static void prefixed(struct out *o, const struct field *fs, size_t n, const char *prefix)
{
    size_t plen = strlen(prefix);
    for (size_t k = 0; k < n; k++)
        if (fs[k].nlen >= plen && memcmp(fs[k].name, prefix, plen) == 0)
            put(o, "%.*s %.*s\n", (int)fs[k].nlen, fs[k].name, (int)fs[k].vlen, fs[k].value);
}

static void relay_families(struct out *o, const struct field *fs, size_t n)
{
    family(o, "relay_packets_total", "counter",
           "Datagrams the relays handled, by result (forwarded, or why dropped).");
    prefixed(o, fs, n, NS "relay_packets_total{");
    family(o, "relay_received_packets_total", "counter", "Datagrams the relays received.");
    series(o, fs, n, NS "relay_received_packets_total", 1);
    family(o, "relay_bytes_total", "counter", "Bytes the relays received and forwarded.");
    series(o, fs, n, NS "relay_bytes_total{direction=\"received\"}", 1);
    series(o, fs, n, NS "relay_bytes_total{direction=\"forwarded\"}", 1);
    family(o, "relay_flows_total", "counter", "Relayed flows paired, and expired (idle).");
    series(o, fs, n, NS "relay_flows_total{event=\"paired\"}", 1);
    series(o, fs, n, NS "relay_flows_total{event=\"expired\"}", 1);
}

static void counters(struct out *o, const struct field *fs, size_t n, int from, int to,
                     const char *name, const char *help)
{
    family(o, name, "counter", help);
    for (int c = from; c <= to; c++)
        series(o, fs, n, counter_series[c], 1);
}

static void histogram(struct out *o, const struct field *fs, size_t n, const char *name,
                      const char *labels, const char *const *le, int buckets)
{
    char s[FIELD_MAX];
    const char *sep = *labels ? "," : "";
    snprintf(s, sizeof(s), NS "%s_count%s%s%s", name, *labels ? "{" : "", labels, *labels ? "}" : "");
    if (lookup(fs, n, s) == NULL && *labels)
        return;               /* a route never observed */
    for (int k = 0; k < buckets; k++) {
        snprintf(s, sizeof(s), NS "%s_bucket{%s%sle=\"%s\"}", name, labels, sep, le[k]);
        series(o, fs, n, s, 1);
    }
    snprintf(s, sizeof(s), NS "%s_sum%s%s%s", name, *labels ? "{" : "", labels, *labels ? "}" : "");
    series(o, fs, n, s, 1);
    snprintf(s, sizeof(s), NS "%s_count%s%s%s", name, *labels ? "{" : "", labels, *labels ? "}" : "");
    series(o, fs, n, s, 1);
}

static void http_families(struct out *o, const struct field *fs, size_t n)
{
    char s[FIELD_MAX], labels[96];
    family(o, "http_requests_total", "counter", "HTTP requests answered, by route pattern, method and status.");
    for (int r = 0; r < MR_ROUTES; r++)
        for (int k = 0; k < METHODS; k++)
            for (int c = 0; c < CODES; c++) {
                snprintf(s, sizeof(s), NS "http_requests_total{route=\"%s\",method=\"%s\",code=\"%d\"}",
                         route_label[r], method_label[k], code_label[c]);
                series(o, fs, n, s, 0);
            }
    family(o, "http_request_duration_seconds", "histogram",
           "Time from reading a request to its answer (event streams excluded).");
    for (int r = 0; r < MR_ROUTES; r++) {
        snprintf(labels, sizeof(labels), "route=\"%s\"", route_label[r]);
        histogram(o, fs, n, "http_request_duration_seconds", labels, http_le, HTTP_BUCKETS);
    }
    family(o, "connect_duration_seconds", "histogram",
           "Delivered connects: time from notifying the realm to the holder's answer.");
    histogram(o, fs, n, "connect_duration_seconds", "", conn_le, CONN_BUCKETS);
}

/* Per-worker fields "<worker>|<gauge>": one family per gauge, and sums. */
static void worker_families(struct out *o, const struct field *ws, size_t n, long long sums[2])
{
    const char *const (*gauge)[3] = worker_gauge;
    for (int g = 0; g < WORKER_GAUGES; g++) {
        char fam[64];
        snprintf(fam, sizeof(fam), "worker_%s", gauge[g][0]);
        family(o, fam, gauge[g][1], gauge[g][2]);
        size_t glen = strlen(gauge[g][0]);
        for (size_t k = 0; k < n; k++) {
            const char *bar = memchr(ws[k].name, '|', ws[k].nlen);
            if (bar == NULL || (size_t)(ws[k].name + ws[k].nlen - bar - 1) != glen ||
                memcmp(bar + 1, gauge[g][0], glen) != 0)
                continue;
            put(o, NS "%s{worker=\"%.*s\"} %.*s\n", fam, (int)(bar - ws[k].name), ws[k].name,
                (int)ws[k].vlen, ws[k].value);
            if (g < 2)
                sums[g] += strtoll(ws[k].value, NULL, 10);
        }
    }
}

static void exposition(struct out *o, const struct field *fs, size_t n, const struct field *ws,
                       size_t nw, long long realms)
{
    long long sums[2] = { 0, 0 };
    counters(o, fs, n, M_REG_OK, M_REG_BAD_REQUEST, "registrations_total", "Register requests by result.");
    counters(o, fs, n, M_DEREGISTRATIONS, M_DEREGISTRATIONS, "deregistrations_total", "Realms deregistered.");
    counters(o, fs, n, M_HB_OK, M_HB_REALM_NOT_FOUND, "heartbeats_total", "Heartbeats by result.");
    family(o, "sessions_expired_total", "counter", "Sessions that ended by expiring.");
    series(o, fs, n, NS "sessions_expired_total", 1);
    family(o, "heals_total", "counter",
           "Heartbeats from another IP than the realm's event stream: healed (session ended), "
           "or the realm marked multi-address instead.");
    series(o, fs, n, NS "heals_total{result=\"healed\"}", 1);
    series(o, fs, n, NS "heals_total{result=\"multi_address\"}", 1);
    family(o, "reclaims_total", "counter",
           "Registers with a token bound to the name that replaced the realm's live session.");
    series(o, fs, n, NS "reclaims_total", 1);
    family(o, "token_sessions_ended_total", "counter",
           "Sessions ended because the scoped token they were registered with was revoked, "
           "or had expired at a heartbeat.");
    series(o, fs, n, NS "token_sessions_ended_total{reason=\"revoked\"}", 1);
    series(o, fs, n, NS "token_sessions_ended_total{reason=\"expired\"}", 1);
    relay_families(o, fs, n);
    counters(o, fs, n, M_CONNECT_REQUESTS, M_CONNECT_REQUESTS, "connect_requests_total",
             "Connects that waited for the realm holder (the sum of the outcomes).");
    counters(o, fs, n, M_OUT_DELIVERED, M_OUT_ERROR, "connect_outcomes_total", "Connects by outcome.");
    counters(o, fs, n, M_RESP_DELIVERED, M_RESP_NO_PENDING, "connect_responses_total",
             "Answers posted by realm holders, by result.");
    http_families(o, fs, n);
    worker_families(o, ws, nw, sums);
    family(o, "realms_registered", "gauge", "Realms registered now.");
    put(o, NS "realms_registered %lld\n", realms);
    family(o, "sessions_active", "gauge", "Live sessions now (one per realm).");
    put(o, NS "sessions_active %lld\n", realms);
    family(o, "event_streams_active", "gauge", "Event streams held by all workers.");
    put(o, NS "event_streams_active %lld\n", sums[0]);
    family(o, "pending_connects", "gauge", "Connects waiting on all workers.");
    put(o, NS "pending_connects %lld\n", sums[1]);
    family(o, "global_limit", "gauge", "The configured limit on realms (0: none).");
    put(o, NS "global_limit %ld\n", m.max_realms);
    family(o, "ip_limit", "gauge", "The configured limit on realms per client IP (0: none).");
    put(o, NS "ip_limit %ld\n", m.max_per_ip);
    family(o, "build_info", "gauge", "The answering worker's version.");
    put(o, NS "build_info{version=\"%s\"} 1\n", RR_VERSION);
}

/* The reply: {realms, nfields, field, value, ..., worker field, value, ...}. */
static void on_read(void *priv, const struct aresult *res)
{
    struct conn *c = priv;
    int alive = conn_alive(c);
    conn_unref(c);
    if (!alive)
        return;
    if (res->err || res->n < 2 || !res->items[0].is_int || !res->items[1].is_int) {
        respond_unavailable(c);
        return;
    }
    size_t nf = (size_t)res->items[1].i, total = (res->n - 2) / 2;
    if (nf > total)
        nf = total;
    struct field *fs = calloc(total + 1, sizeof(*fs));
    struct out o = { .cap = 16384 };
    o.buf = malloc(o.cap);
    if (fs == NULL || o.buf == NULL) {
        free(fs);
        free(o.buf);
        respond_error(c, 503, "internal", "out of memory, try again");
        return;
    }
    for (size_t k = 0; k < total; k++) {
        const struct aitem *a = &res->items[2 + 2 * k], *b = &res->items[3 + 2 * k];
        fs[k] = (struct field){ a->s ? a->s : "", a->len, b->s ? b->s : "0", b->s ? b->len : 1 };
    }
    qsort(fs, nf, sizeof(*fs), field_cmp);
    exposition(&o, fs, nf, fs + nf, total - nf, res->items[0].i);
    if (o.oom)
        respond_error(c, 503, "internal", "out of memory, try again");
    else
        respond_typed(c, 200, "text/plain; version=0.0.4; charset=utf-8", o.buf, o.len);
    free(fs);
    free(o.buf);
}

/* After the flush (same connection, so Redis runs it first): the read. */
void metrics_scrape(struct loop *l, struct conn *c)
{
    const char *keys[7] = { KEY_METRICS, KEY_MWORKERS, KEY_WORKERS, KEY_REALMS, KEY_REALMIP,
                            KEY_BYIP, KEY_REALMTOK };
    const char *args[1] = { "1000" };
    flush(l, on_flushed, NULL);
    if (aredis_script(loop_redis(l), SCRIPT_METRICS_READ, 7, keys, 1, args, on_read, c) != 0) {
        respond_unavailable(c);
        return;
    }
    conn_ref(c);
}
