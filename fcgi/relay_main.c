/* relay_main.c -- hysteria-realm-relay: a UDP relay for Hysteria Realms
 * connects that hole punching cannot make direct.
 *
 *   +------------------------- one loop, one epoll set ----------------------+
 *   | UDP sockets (--listen, .. recvmmsg until EAGAIN (udp.c); each datagram  |
 *   |  one per port of each     from a flow's endpoint goes to the other one  |
 *   |  range)                   (within the rates), else it may be a punch    |
 *   |                           packet of a known attempt (relay_table.c)     |
 *   | feed eventfd ............ records of new attempts, read from Redis by  |
 *   |                           the feed's own thread (relay_feed.c)          |
 *   | signalfd ................ SIGTERM / SIGINT: log the totals, exit 0      |
 *   | every second ............ expire flows and attempts; hand the counters  |
 *   |                           to the feed (it adds them to hr:metrics)      |
 *   | every minute ............ msg=relay_stats with that minute's counters   |
 *   +-------------------------------------------------------------------------+
 *
 * The rendezvous gives both peers of a connect the relay's address among
 * the addresses to punch; the relay pairs the client's and the holder's
 * punch packets of one attempt and from then on forwards every datagram
 * between the two, from the relay address each one talked to. Nothing is
 * ever sent to a source that is not a paired endpoint.
 *
 * Ports: the relay listens on ranges of ports (--listen 0.0.0.0:7000-7255)
 * and the rendezvous (--relay-address with the same ranges) gives each
 * attempt one port, picked from its nonce, the same for every address of
 * the relay. An endpoint is a source address on one socket: a holder,
 * which punches all its clients from one socket, is then a different
 * endpoint for each of its attempts but those whose nonces picked the same
 * port (then the second waits as busy until the first flow ends). */
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "number.h"
#include "redis_url.h"
#include "relay_feed.h"
#include "relay_table.h"
#include "udp.h"

#ifndef RR_VERSION
#define RR_VERSION "unknown"
#endif

#define PROGRAM "hysteria-realm-relay"
#define DEFAULT_LISTEN "0.0.0.0:7000-7255,[::]:7000-7255"
#define DEFAULT_REDIS "redis://127.0.0.1:6379/0"
#define LISTEN_MAX 16                  /* --listen addresses (each a port or a range) */
#define FDS_SPARE 16                   /* descriptors besides the sockets */
#define EVENTS_MAX 64                  /* epoll events per wake-up */
#define DGRAM_MAX 9216                 /* longer ones are dropped (oversize) */
#define TICK_MS 100
#define SECOND_MS 1000
#define STATS_MS 60000
#define SIGNAL_TAG UINT32_MAX
#define FEED_TAG (UINT32_MAX - 1)
#define COUNT_MAX 16777216L
#define RATE_MAX (1L << 40)

enum relay_args { ARGS_OK, ARGS_EXIT, ARGS_ERROR };

struct relay_opts {
    struct udp_addr listen[LISTEN_MAX];
    size_t nlisten;
    const char *redis;
    struct relay_limits lim;
    long idle_s;
};

/* The counters: per result of relay_table_packet, and beside them. */
enum { C_SEND_FAILED = RELAY_RESULTS, C_OVERSIZE, C_RECEIVED, C_BYTES_IN, C_BYTES_OUT,
       C_PAIRED, C_EXPIRED, C_COUNTERS };

struct relay_counts {
    uint64_t c[C_COUNTERS];
};

struct relay_server {
    int epfd, sigfd;
    int *fds;                          /* a socket per port of each --listen */
    size_t nfds;
    struct udp_batch *batch;
    struct relay_table *table;
    struct relay_feed *feed;
    struct redis_target target;
    struct relay_counts minute, total, unsent;   /* unsent: not yet in Redis */
    struct relay_events seen;                    /* the table's events counted so far */
    uint64_t next_second_ms, next_stats_ms;
};

/* Milliseconds of CLOCK_MONOTONIC. */
static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Milliseconds since the epoch (CLOCK_REALTIME), as the records' "expires". */
static int64_t real_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- options ---- */

/* The numeric flags: name, bounds, default (in usage), where it goes. */
struct num_flag {
    const char *name;
    long min, max, def;
    size_t offset;                     /* of the long in struct relay_opts */
    const char *help;
};

#define OPT(field) offsetof(struct relay_opts, field)
static const struct num_flag num_flags[] = {
    { "--idle-timeout", 1, 86400, 30, OPT(idle_s), "seconds without traffic before a flow expires" },
    { "--max-flows", 1, COUNT_MAX, 65536, OPT(lim.max_flows), "paired flows in all" },
    { "--max-flows-per-realm", 0, COUNT_MAX, 8, OPT(lim.max_flows_per_realm),
      "paired flows per realm; 0 = no limit" },
    { "--max-flows-per-ip", 0, COUNT_MAX, 16, OPT(lim.max_flows_per_ip),
      "paired flows per endpoint IP; 0 = no limit" },
    { "--flow-rate", 0, RATE_MAX, 1048576, OPT(lim.flow_rate),
      "bytes per second per flow, burst 1 s; 0 = no limit" },
    { "--total-rate", 0, RATE_MAX, 0, OPT(lim.total_rate),
      "bytes per second in all, burst 1 s; 0 = no limit" },
    { "--max-attempts", 1, COUNT_MAX, 65536, OPT(lim.max_attempts), "connect attempts held" },
};
#define NUM_FLAGS (sizeof num_flags / sizeof num_flags[0])

/* Print the usage text to out. */
static void usage(FILE *out)
{
    fprintf(out,
            "Usage: %s [--listen ADDR:PORT[-PORT][,...]]... [--redis URL] [options]\n\n"
            "A UDP relay for Hysteria Realms connects: pairs the punch packets of a\n"
            "client and a realm holder for one connect attempt (published by the\n"
            "rendezvous in Redis) and forwards every datagram between the two.\n\n"
            "  --listen ADDR:PORT[-PORT]\n"
            "                       UDP address or range of ports, a socket each (at most\n"
            "                       %d per range): 127.0.0.1:7000, [::1]:7000-7255;\n"
            "                       repeatable or comma-separated\n"
            "                       (default %s).\n"
            "                       The workers' --relay-address must give the same\n"
            "                       ranges: each connect attempt uses the port its nonce\n"
            "                       picks, so that one holder's attempts are told apart.\n"
            "                       RLIMIT_NOFILE is raised to its hard limit and must\n"
            "                       hold every socket plus %d.\n"
            "  --redis URL          %s\n"
            "                       (env HYSTERIA_REALM_REDIS; default %s)\n",
            PROGRAM, UDP_RANGE_MAX, DEFAULT_LISTEN, FDS_SPARE, REDIS_URL_FORMS, DEFAULT_REDIS);
    for (size_t k = 0; k < NUM_FLAGS; k++)
        fprintf(out, "  %-22s %s (default %ld, %ld..%ld)\n", num_flags[k].name, num_flags[k].help,
                num_flags[k].def, num_flags[k].min, num_flags[k].max);
    fprintf(out, "  --help               print this text and exit\n"
                 "  --version            print the version and exit\n");
}

/* The value of the flag at argv[*i]: after '=' or the next argument
 * (advancing *i). NULL if there is none. */
static const char *flag_value(const char *eq, int argc, char **argv, int *i)
{
    if (eq != NULL)
        return eq + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* Set the numeric flag f from v. ARGS_OK or ARGS_ERROR (err). */
static enum relay_args set_num(struct relay_opts *o, const struct num_flag *f, const char *v,
                               char *err, size_t errlen)
{
    long *dst = (long *)((char *)o + f->offset);

    if (number_parse(v, strlen(v), f->min, f->max, dst) == 0)
        return ARGS_OK;
    snprintf(err, errlen, "%s: not a number in %ld..%ld: \"%s\"", f->name, f->min, f->max, v);
    return ARGS_ERROR;
}

/* Apply the flag at argv[*i] (and its value) to o. */
static enum relay_args parse_arg(struct relay_opts *o, int argc, char **argv, int *i,
                                 int *listen_given, char *err, size_t errlen)
{
    const char *a = argv[*i], *eq = strchr(a, '='), *v;
    size_t n = eq != NULL ? (size_t)(eq - a) : strlen(a);

    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        usage(stdout);
        return ARGS_EXIT;
    }
    if (strcmp(a, "--version") == 0) {
        printf("%s %s\n", PROGRAM, RR_VERSION);
        return ARGS_EXIT;
    }
    if ((v = flag_value(eq, argc, argv, i)) == NULL) {
        snprintf(err, errlen, "unknown argument or missing value: \"%s\" (see --help)", a);
        return ARGS_ERROR;
    }
    for (size_t k = 0; k < NUM_FLAGS; k++)
        if (strlen(num_flags[k].name) == n && strncmp(a, num_flags[k].name, n) == 0)
            return set_num(o, &num_flags[k], v, err, errlen);
    if (n == 7 && strncmp(a, "--redis", n) == 0) {
        o->redis = v;
        return ARGS_OK;
    }
    if (n == 8 && strncmp(a, "--listen", n) == 0) {
        if (!*listen_given)
            o->nlisten = 0;                     /* the first --listen replaces the default */
        *listen_given = 1;
        return udp_add_listen_range(o->listen, &o->nlisten, LISTEN_MAX, v, 0, UDP_RANGE_MAX,
                                    err, errlen) == 0 ? ARGS_OK : ARGS_ERROR;
    }
    snprintf(err, errlen, "unknown argument \"%s\" (see --help)", a);
    return ARGS_ERROR;
}

/* The ports of a (host order): [*first, *first + a->count). */
static unsigned first_port(const struct udp_addr *a)
{
    return ntohs(a->sa.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&a->sa)->sin6_port
                                             : ((const struct sockaddr_in *)&a->sa)->sin_port);
}

/* 1 if a and b are the same IP address. */
static int same_ip(const struct udp_addr *a, const struct udp_addr *b)
{
    if (a->sa.ss_family != b->sa.ss_family)
        return 0;
    if (a->sa.ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr,
                      &((const struct sockaddr_in6 *)&b->sa)->sin6_addr, 16) == 0;
    return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr
           == ((const struct sockaddr_in *)&b->sa)->sin_addr.s_addr;
}

/* ARGS_ERROR (err) if two --listen ranges of one address overlap: two
 * sockets of one port (SO_REUSEPORT lets them bind) would split its
 * endpoints between them. */
static enum relay_args check_overlap(const struct relay_opts *o, char *err, size_t errlen)
{
    char a[INET6_ADDRSTRLEN + 16];

    for (size_t i = 0; i < o->nlisten; i++)
        for (size_t j = i + 1; j < o->nlisten; j++) {
            unsigned fi = first_port(&o->listen[i]), fj = first_port(&o->listen[j]);
            if (same_ip(&o->listen[i], &o->listen[j]) && fi < fj + o->listen[j].count
                && fj < fi + o->listen[i].count) {
                snprintf(err, errlen, "--listen: two ranges of %s overlap",
                         udp_addr_text(&o->listen[i].sa, a, sizeof a));
                return ARGS_ERROR;
            }
        }
    return ARGS_OK;
}

/* Fill o from the environment and the command line. */
static enum relay_args parse_args(struct relay_opts *o, int argc, char **argv,
                                  char *err, size_t errlen)
{
    int listen_given = 0;
    const char *env = getenv("HYSTERIA_REALM_REDIS");

    memset(o, 0, sizeof *o);
    for (size_t k = 0; k < NUM_FLAGS; k++)
        *(long *)((char *)o + num_flags[k].offset) = num_flags[k].def;
    o->redis = env != NULL && env[0] != '\0' ? env : DEFAULT_REDIS;
    if (udp_add_listen_range(o->listen, &o->nlisten, LISTEN_MAX, DEFAULT_LISTEN, 1,
                             UDP_RANGE_MAX, err, errlen) != 0)
        return ARGS_ERROR;
    for (int i = 1; i < argc; i++) {
        enum relay_args r = parse_arg(o, argc, argv, &i, &listen_given, err, errlen);
        if (r != ARGS_OK)
            return r;
    }
    o->lim.idle_ms = o->idle_s * 1000;
    return check_overlap(o, err, errlen);
}

/* ---- datagrams ---- */

/* The socket a batch is drained from, for on_datagram(). */
struct relay_drain {
    struct relay_server *s;
    uint32_t sock;
    uint64_t mono;
    int64_t real;
};

/* Add one to counter c (and n bytes to the byte counter b, if any). */
static void count(struct relay_server *s, int c)
{
    s->minute.c[c]++;
    s->unsent.c[c]++;
}

static void count_bytes(struct relay_server *s, int c, uint64_t n)
{
    s->minute.c[c] += n;
    s->unsent.c[c] += n;
}

/* Handle the datagram m received on the socket of ctx (a struct relay_drain). */
static void on_datagram(void *ctx, struct mmsghdr *m)
{
    struct relay_drain *d = ctx;
    struct relay_server *s = d->s;
    const struct relay_ep *to = NULL;
    struct relay_ep src;
    const uint8_t *p = m->msg_hdr.msg_iov->iov_base;
    enum relay_result r;

    count(s, C_RECEIVED);
    count_bytes(s, C_BYTES_IN, m->msg_len);
    if ((m->msg_hdr.msg_flags & MSG_TRUNC) || m->msg_hdr.msg_namelen == 0
        || m->msg_hdr.msg_namelen > sizeof src.addr) {
        count(s, C_OVERSIZE);
        return;
    }
    memset(&src, 0, sizeof src);
    memcpy(&src.addr, m->msg_hdr.msg_name, m->msg_hdr.msg_namelen);
    src.addrlen = m->msg_hdr.msg_namelen;
    src.sock = d->sock;
    udp_local_of(&m->msg_hdr, &src.local);
    r = relay_table_packet(s->table, &src, p, m->msg_len, d->mono, d->real, &to);
    if (r != RELAY_FORWARD) {
        count(s, (int)r);
        return;
    }
    if (to->sock >= s->nfds
        || udp_send(s->fds[to->sock], p, m->msg_len, &to->addr, to->addrlen, &to->local) != 0) {
        count(s, C_SEND_FAILED);
        return;
    }
    count(s, RELAY_FORWARD);
    count_bytes(s, C_BYTES_OUT, m->msg_len);
}

/* A record from the feed: a new attempt, unless known or expired. */
static void on_record(void *ctx, const struct relay_spec *spec)
{
    struct relay_server *s = ctx;
    enum relay_add r = relay_table_add(s->table, spec, real_ms());

    if (r == RELAY_ADD_FULL || r == RELAY_ADD_NOMEM)
        log_msg(LOG_WARN, "relay_attempt_refused", "realm=%s reason=%s", spec->realm,
                r == RELAY_ADD_FULL ? "max_attempts" : "out_of_memory");
    else if ((r == RELAY_ADD_OK || r == RELAY_ADD_UPDATED) && log_enabled(LOG_DEBUG))
        log_msg(LOG_DEBUG, "relay_attempt", "realm=%s client_ips=%zu holder_ips=%zu%s",
                spec->realm, spec->nips[RELAY_CLIENT], spec->nips[RELAY_HOLDER],
                r == RELAY_ADD_UPDATED ? " updated=1" : "");
}

/* ---- counters ---- */

static const char *const extra_names[C_COUNTERS - RELAY_RESULTS] = {
    "send_failed", "oversize", "received", "bytes_in", "bytes_forwarded",
    "flows_paired", "flows_expired",
};

static const char *counter_name(int c)
{
    return c < RELAY_RESULTS ? relay_result_name((enum relay_result)c)
                             : extra_names[c - RELAY_RESULTS];
}

/* The hr:metrics field of counter c. */
static void counter_series(int c, char *buf, size_t size)
{
    if (c <= C_OVERSIZE)
        snprintf(buf, size, "hysteria_realm_relay_packets_total{result=\"%s\"}", counter_name(c));
    else if (c == C_RECEIVED)
        snprintf(buf, size, "hysteria_realm_relay_received_packets_total");
    else if (c == C_BYTES_IN || c == C_BYTES_OUT)
        snprintf(buf, size, "hysteria_realm_relay_bytes_total{direction=\"%s\"}",
                 c == C_BYTES_IN ? "received" : "forwarded");
    else
        snprintf(buf, size, "hysteria_realm_relay_flows_total{event=\"%s\"}",
                 c == C_PAIRED ? "paired" : "expired");
}

/* Log the counts c under msg, with the table's sizes. */
static void log_counts(struct relay_server *s, const char *msg, const struct relay_counts *c)
{
    char line[1024];
    size_t used = 0;

    for (int k = 0; k < C_COUNTERS && used < sizeof line; k++)
        used += (size_t)snprintf(line + used, sizeof line - used, "%s%s=%llu", k ? " " : "",
                                 counter_name(k), (unsigned long long)c->c[k]);
    log_msg(LOG_INFO, msg, "%s flows=%zu attempts=%zu", line, relay_table_flows(s->table),
            relay_table_attempts(s->table));
}

/* Count the table's pairings and expiries since the last call. */
static void count_events(struct relay_server *s)
{
    const struct relay_events *ev = relay_table_events(s->table);

    count_bytes(s, C_PAIRED, ev->paired - s->seen.paired);
    count_bytes(s, C_EXPIRED, ev->flows_expired - s->seen.flows_expired);
    s->seen = *ev;
}

/* Add the minute's counts to the totals and start a new minute. */
static void counts_roll(struct relay_server *s)
{
    for (int k = 0; k < C_COUNTERS; k++)
        s->total.c[k] += s->minute.c[k];
    memset(&s->minute, 0, sizeof s->minute);
}

/* Hand the unsent counts to the feed, which adds them to Redis hr:metrics. */
static void metrics_flush(struct relay_server *s)
{
    char names[C_COUNTERS][96];
    const char *fields[C_COUNTERS];
    long long values[C_COUNTERS];
    size_t n = 0;

    for (int k = 0; k < C_COUNTERS; k++)
        if (s->unsent.c[k] != 0) {
            counter_series(k, names[n], sizeof names[n]);
            fields[n] = names[n];
            values[n++] = (long long)s->unsent.c[k];
        }
    relay_feed_incr(s->feed, n, fields, values);
    memset(&s->unsent, 0, sizeof s->unsent);
}

/* ---- the loop ---- */

/* Timers: once a second expiry and metrics; once a minute the stats line. */
static void timers(struct relay_server *s)
{
    uint64_t now = mono_ms();

    if (now >= s->next_second_ms) {
        relay_table_expire(s->table, now, real_ms());
        count_events(s);
        metrics_flush(s);
        s->next_second_ms = now + SECOND_MS;
    }
    if (now >= s->next_stats_ms) {
        log_counts(s, "relay_stats", &s->minute);
        counts_roll(s);
        s->next_stats_ms = now + STATS_MS;
    }
}

/* Serve until SIGTERM or SIGINT. 0, or -1 if epoll failed. */
static int serve(struct relay_server *s)
{
    struct epoll_event evs[EVENTS_MAX];

    s->next_second_ms = mono_ms() + SECOND_MS;
    s->next_stats_ms = mono_ms() + STATS_MS;
    for (;;) {
        timers(s);
        int n = epoll_wait(s->epfd, evs, EVENTS_MAX, TICK_MS);
        if (n < 0 && errno != EINTR) {
            log_msg(LOG_ERROR, "epoll_wait_failed", "error=\"%s\"", strerror(errno));
            return -1;
        }
        for (int k = 0; k < n; k++) {
            uint32_t tag = evs[k].data.u32;
            if (tag == SIGNAL_TAG) {
                if (udp_read_signal(s->sigfd))
                    return 0;
            } else if (tag == FEED_TAG) {
                relay_feed_readable(s->feed);
            } else if (tag < s->nfds) {
                struct relay_drain d = { .s = s, .sock = tag, .mono = mono_ms(), .real = real_ms() };
                udp_drain(s->fds[tag], s->batch, on_datagram, &d);
            }
        }
    }
}

/* A random hash seed. */
static uint64_t seed_of(void)
{
    uint64_t seed;

    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = mono_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    return seed;
}

/* Raise the soft RLIMIT_NOFILE to the hard one (a socket per port) and
 * check that nsocks sockets and FDS_SPARE more fit. 0, or -1 with err set. */
static int fit_nofile(size_t nsocks, char *err, size_t errlen)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;                                       /* then let socket() tell */
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
        else
            log_msg(LOG_WARN, "rlimit_nofile", "error=\"%s\"", strerror(errno));
    }
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)(nsocks + FDS_SPARE) > rl.rlim_cur) {
        snprintf(err, errlen, "--listen: %zu sockets (one per port) and %d more descriptors "
                 "do not fit RLIMIT_NOFILE %llu (hard limit): raise it (ulimit -n, systemd "
                 "LimitNOFILE=) or listen on fewer ports", nsocks, FDS_SPARE,
                 (unsigned long long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

/* Set up s from o: the Redis target, the descriptor limit, the epoll set,
 * the signalfd, the table, the batch, the feed, the sockets. 0, or -1
 * with err set. */
static int setup(struct relay_server *s, const struct relay_opts *o, char *where, size_t wsize,
                 char *err, size_t errlen)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = SIGNAL_TAG };
    size_t nsocks = udp_ports(o->listen, o->nlisten);

    if (redis_url_parse(o->redis, &s->target, err, errlen) != 0 || fit_nofile(nsocks, err, errlen) != 0)
        return -1;
    if ((s->fds = calloc(nsocks, sizeof *s->fds)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->sigfd = udp_signalfd();
    if (s->epfd < 0 || s->sigfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &ev) != 0) {
        snprintf(err, errlen, "epoll or signalfd: %s", strerror(errno));
        return -1;
    }
    s->table = relay_table_new(&o->lim, seed_of());
    s->batch = udp_batch_new(DGRAM_MAX);
    if (s->table == NULL || s->batch == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    errno = 0;
    s->feed = relay_feed_new(&s->target, s->epfd, FEED_TAG, on_record, s);
    if (s->feed == NULL) {
        snprintf(err, errlen, "cannot start the Redis feed (eventfd, thread): %s",
                 errno ? strerror(errno) : "out of memory");
        return -1;
    }
    return udp_open_all(s->epfd, o->listen, o->nlisten, s->fds, &s->nfds, where, wsize,
                        err, errlen);
}

/* Close and free what setup made. */
static void teardown(struct relay_server *s)
{
    relay_feed_free(s->feed);
    relay_table_free(s->table);
    udp_batch_free(s->batch);
    for (size_t k = 0; k < s->nfds; k++)
        close(s->fds[k]);
    free(s->fds);
    if (s->sigfd >= 0)
        close(s->sigfd);
    if (s->epfd >= 0)
        close(s->epfd);
    redis_target_free(&s->target);
}

int main(int argc, char **argv)
{
    static struct relay_opts opts;
    static struct relay_server s = { .epfd = -1, .sigfd = -1 };
    char err[512], where[LISTEN_MAX * (INET6_ADDRSTRLEN + 16)], rd[256];
    int rc = 2;

    udp_block_signals();
    enum relay_args ar = parse_args(&opts, argc, argv, err, sizeof err);
    if (ar != ARGS_OK) {
        if (ar == ARGS_ERROR)
            fprintf(stderr, "%s: %s\n", PROGRAM, err);
        return ar == ARGS_EXIT ? 0 : 2;
    }
    if (setup(&s, &opts, where, sizeof where, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, err);
        goto out;
    }
    redis_target_describe(&s.target, rd, sizeof rd);
    log_msg(LOG_INFO, "started", "listen=%s redis=%s idle_timeout=%ld max_flows=%ld "
            "max_flows_per_realm=%ld max_flows_per_ip=%ld flow_rate=%ld total_rate=%ld "
            "max_attempts=%ld version=%s pid=%ld", where, rd, opts.idle_s, opts.lim.max_flows,
            opts.lim.max_flows_per_realm, opts.lim.max_flows_per_ip, opts.lim.flow_rate,
            opts.lim.total_rate, opts.lim.max_attempts, RR_VERSION, (long)getpid());
    rc = serve(&s) == 0 ? 0 : 1;
    count_events(&s);
    metrics_flush(&s);
    counts_roll(&s);                               /* the last part-minute */
    log_counts(&s, "stopped", &s.total);
out:
    teardown(&s);
    return rc;
}
