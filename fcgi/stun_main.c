/* stun_main.c -- hysteria-realm-stun: a STUN Binding responder (RFC 8489)
 * for "?stun=host:port" in a Hysteria realm URL.
 *
 *   +------------------------- one thread, one epoll set --------------------+
 *   | UDP sockets (--listen) .. recvmmsg until EAGAIN (at most DRAIN_MAX per  |
 *   |                           socket per wake-up: level-triggered, so the   |
 *   |                           others get their turn), each datagram checked |
 *   |                           by stun_answer() (stun_msg.c), rate-limited   |
 *   |                           per source, answered with sendmsg from the    |
 *   |                           address it was sent to (IP_PKTINFO)           |
 *   | signalfd ................ SIGTERM / SIGINT: log the totals, exit 0      |
 *   | epoll_wait timeout ...... once a minute: the counters of that minute    |
 *   +-------------------------------------------------------------------------+
 *
 * epoll rather than poll: the same shape as the worker's loop (loop.c) and
 * a signalfd beside the sockets; with a few descriptors either would do.
 * Each socket has SO_REUSEPORT, so several processes may share a port; an
 * IPv6 socket has IPV6_V6ONLY, so "0.0.0.0:P" and "[::]:P" are two sockets
 * on the same port.
 *
 * Rate limit: --rate N answers per second per source (an IPv4 address, or
 * an IPv6 /64: one host's share of addresses), with a burst of N: a token
 * bucket per source in a fixed table of RATE_SLOTS (4096) entries, 32 bytes
 * each (128 KiB, allocated once). A source is looked up in RATE_PROBE (8)
 * slots from its hash (seeded at start from getrandom, so that collisions
 * cannot be aimed at); a new source takes a free slot, or the least recently
 * seen one among those 8 if that one has been idle for a second (its bucket
 * full again, so nothing is forgotten); with none, the datagram counts as
 * rate-limited. Malformed datagrams cost nothing from the bucket; they get
 * no answer anyway. Datagrams longer than DGRAM_MAX (1500) are ignored.
 * Each process has its own table: with P processes on a port (the kernel
 * picks one by source address and port), a source using several ports may
 * get up to P times the rate.
 *
 * The sockets, the datagram batch and the signalfd are udp.c's, shared
 * with hysteria-realm-relay.
 *
 * Logs: key=value lines on stderr (log.c): msg=started; msg=stun_stats once
 * a minute with that minute's answered, ignored (malformed), rate_limited,
 * send_failed; msg=stopped with the totals. Nothing per datagram. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "number.h"
#include "stun_msg.h"
#include "udp.h"

#ifndef RR_VERSION
#define RR_VERSION "unknown"
#endif

#define PROGRAM "hysteria-realm-stun"
#define DEFAULT_LISTEN "0.0.0.0:3478,[::]:3478"
#define DEFAULT_RATE 20
#define RATE_MAX 1000000L
#define LISTEN_MAX 16
#define DGRAM_MAX 1500             /* longer ones are ignored */
#define STATS_MS 60000
#define RATE_SLOTS 4096            /* a power of two */
#define RATE_PROBE 8
#define RATE_IDLE_MS 1000          /* a bucket idle this long is full again */
#define SIGNAL_TAG UINT32_MAX      /* epoll data of the signalfd */

enum stun_args { ARGS_OK, ARGS_EXIT, ARGS_ERROR };

struct stun_opts {
    struct udp_addr listen[LISTEN_MAX];
    size_t nlisten;
    long rate;
};

/* One source's token bucket; tokens in thousandths. */
struct rate_entry {
    uint8_t key[16];               /* IPv4-mapped address, or an IPv6 /64 */
    uint64_t seen_ms;              /* 0: a free slot */
    uint64_t milli;
};

struct stun_counts {
    uint64_t answered, ignored, limited, send_failed;
};

struct stun_server {
    int epfd, sigfd;
    int fds[LISTEN_MAX];
    size_t nfds;
    long rate;
    uint64_t seed;
    struct rate_entry *table;      /* RATE_SLOTS entries */
    struct udp_batch *batch;       /* DGRAM_MAX bytes per datagram */
    struct stun_counts minute, total;
    uint64_t next_stats_ms;
};

/* Milliseconds of CLOCK_MONOTONIC, plus 1: never 0 (0 marks a free rate slot). */
static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1;
}

/* ---- options ---- */

/* Print the usage text to out. */
static void usage(FILE *out)
{
    fprintf(out,
            "Usage: %s [--listen ADDR:PORT[,ADDR:PORT...]]... [--rate N]\n\n"
            "A STUN Binding responder (RFC 8489) for \"?stun=host:port\" in a Hysteria\n"
            "realm URL: answers Binding requests with the sender's address.\n\n"
            "  --listen ADDR:PORT   UDP address to answer on: 127.0.0.1:3478, [::1]:3478;\n"
            "                       repeatable or comma-separated (default %s)\n"
            "  --rate N             answers per second per source IPv4 address or IPv6 /64,\n"
            "                       with a burst of N (default %d, 1..%ld)\n"
            "  --help               print this text and exit\n"
            "  --version            print the version and exit\n",
            PROGRAM, DEFAULT_LISTEN, DEFAULT_RATE, RATE_MAX);
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

/* Apply the flag at argv[*i] (and its value) to o. ARGS_OK, ARGS_EXIT
 * (--help, --version: printed), or ARGS_ERROR with err set. */
static enum stun_args parse_arg(struct stun_opts *o, int argc, char **argv, int *i,
                                int *listen_given, char *err, size_t errlen)
{
    const char *a = argv[*i], *eq = strchr(a, '=');
    size_t n = eq != NULL ? (size_t)(eq - a) : strlen(a);

    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        usage(stdout);
        return ARGS_EXIT;
    }
    if (strcmp(a, "--version") == 0) {
        printf("%s %s\n", PROGRAM, RR_VERSION);
        return ARGS_EXIT;
    }
    if ((n == 8 && strncmp(a, "--listen", n) == 0) || (n == 6 && strncmp(a, "--rate", n) == 0)) {
        const char *v = flag_value(eq, argc, argv, i);
        if (v == NULL) {
            snprintf(err, errlen, "flag %.*s needs a value", (int)n, a);
            return ARGS_ERROR;
        }
        if (n == 6) {
            if (number_parse(v, strlen(v), 1, RATE_MAX, &o->rate) == 0)
                return ARGS_OK;
            snprintf(err, errlen, "--rate: not a number in 1..%ld: \"%s\"", RATE_MAX, v);
            return ARGS_ERROR;
        }
        if (!*listen_given)
            o->nlisten = 0;                     /* the first --listen replaces the default */
        *listen_given = 1;
        return udp_add_listen(o->listen, &o->nlisten, LISTEN_MAX, v, 0, err, errlen) == 0
               ? ARGS_OK : ARGS_ERROR;
    }
    snprintf(err, errlen, "unknown argument \"%s\" (see --help)", a);
    return ARGS_ERROR;
}

/* Fill o from the command line. ARGS_OK, ARGS_EXIT or ARGS_ERROR (err). */
static enum stun_args parse_args(struct stun_opts *o, int argc, char **argv,
                                 char *err, size_t errlen)
{
    int listen_given = 0;

    memset(o, 0, sizeof *o);
    o->rate = DEFAULT_RATE;
    if (udp_add_listen(o->listen, &o->nlisten, LISTEN_MAX, DEFAULT_LISTEN, 1, err, errlen) != 0)
        return ARGS_ERROR;
    for (int i = 1; i < argc; i++) {
        enum stun_args r = parse_arg(o, argc, argv, &i, &listen_given, err, errlen);
        if (r != ARGS_OK)
            return r;
    }
    return ARGS_OK;
}

/* ---- rate limit ---- */

/* The key of a source: an IPv4 address as ::ffff:a.b.c.d, an IPv6 address
 * cut to its /64. 0, or -1 for another family. */
static int rate_key(const struct sockaddr_storage *from, uint8_t key[16])
{
    memset(key, 0, 16);
    if (from->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)from;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &v4->sin_addr, 4);
        return 0;
    }
    if (from->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)from;
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        memcpy(key, v6->sin6_addr.s6_addr, 16);
        if (memcmp(key, mapped, sizeof mapped) != 0)
            memset(key + 8, 0, 8);
        return 0;
    }
    return -1;
}

/* The first slot of key: FNV-1a from the random seed, then mixed. */
static size_t rate_slot(uint64_t seed, const uint8_t key[16])
{
    uint64_t h = seed ^ 14695981039346656037ull;

    for (int k = 0; k < 16; k++)
        h = (h ^ key[k]) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (size_t)h & (RATE_SLOTS - 1);
}

/* The entry of key among the RATE_PROBE slots from its hash: its own, a
 * free one, or one idle RATE_IDLE_MS taken over; NULL if none. */
static struct rate_entry *rate_find(struct stun_server *s, const uint8_t key[16], uint64_t now)
{
    size_t first = rate_slot(s->seed, key);
    struct rate_entry *take = NULL;

    for (size_t k = 0; k < RATE_PROBE; k++) {
        struct rate_entry *e = &s->table[(first + k) & (RATE_SLOTS - 1)];
        if (e->seen_ms != 0 && memcmp(e->key, key, 16) == 0)
            return e;
        if (take == NULL || e->seen_ms < take->seen_ms)
            take = e;
    }
    if (take->seen_ms != 0 && now - take->seen_ms < RATE_IDLE_MS)
        return NULL;
    memcpy(take->key, key, 16);
    take->seen_ms = now;
    take->milli = (uint64_t)s->rate * 1000;         /* a full bucket */
    return take;
}

/* 1 if the source from may have one more answer now (taking a token). */
static int rate_allow(struct stun_server *s, const struct sockaddr_storage *from, uint64_t now)
{
    uint8_t key[16];
    struct rate_entry *e;
    uint64_t cap = (uint64_t)s->rate * 1000, idle;

    if (rate_key(from, key) != 0 || (e = rate_find(s, key, now)) == NULL)
        return 0;
    idle = now > e->seen_ms ? now - e->seen_ms : 0;
    if (idle > RATE_IDLE_MS)
        idle = RATE_IDLE_MS;                         /* enough to fill any bucket */
    e->milli += idle * (uint64_t)s->rate;            /* rate per second = rate milli per ms */
    if (e->milli > cap)
        e->milli = cap;
    e->seen_ms = now;
    if (e->milli < 1000)
        return 0;
    e->milli -= 1000;
    return 1;
}

/* ---- answering ---- */

/* The socket a batch is drained from, for handle(). */
struct stun_drain {
    struct stun_server *s;
    int fd;
    uint64_t now;
};

/* Handle the datagram m (from recvmmsg) received on the socket of ctx (a
 * struct stun_drain): answer it from the address it was sent to. */
static void handle(void *ctx, struct mmsghdr *m)
{
    struct stun_drain *d = ctx;
    struct stun_server *s = d->s;
    uint8_t out[STUN_ANSWER_MAX];
    const struct sockaddr_storage *from = m->msg_hdr.msg_name;
    struct sockaddr_storage local;
    int n = 0;

    if (!(m->msg_hdr.msg_flags & MSG_TRUNC) && m->msg_hdr.msg_namelen > 0)
        n = stun_answer(m->msg_hdr.msg_iov->iov_base, m->msg_len,
                        (const struct sockaddr *)from, out, sizeof out);
    if (n <= 0)
        s->minute.ignored++;
    else if (!rate_allow(s, from, d->now))
        s->minute.limited++;
    else if (udp_send(d->fd, out, (size_t)n, from, m->msg_hdr.msg_namelen,
                      udp_local_of(&m->msg_hdr, &local) == 0 ? &local : NULL) != 0)
        s->minute.send_failed++;
    else
        s->minute.answered++;
}

/* Read and answer what waits on fd. */
static void drain(struct stun_server *s, int fd)
{
    struct stun_drain d = { .s = s, .fd = fd, .now = now_ms() };

    udp_drain(fd, s->batch, handle, &d);
}

/* ---- the loop ---- */

/* Log the counts c under msg. */
static void log_counts(const char *msg, const struct stun_counts *c)
{
    log_msg(LOG_INFO, msg, "answered=%llu ignored=%llu rate_limited=%llu send_failed=%llu",
            (unsigned long long)c->answered, (unsigned long long)c->ignored,
            (unsigned long long)c->limited, (unsigned long long)c->send_failed);
}

/* Add the minute's counts to the totals and start a new minute. */
static void counts_roll(struct stun_server *s)
{
    s->total.answered += s->minute.answered;
    s->total.ignored += s->minute.ignored;
    s->total.limited += s->minute.limited;
    s->total.send_failed += s->minute.send_failed;
    memset(&s->minute, 0, sizeof s->minute);
}

/* Once a minute: log the minute's counts, add them to the totals. */
static void stats_tick(struct stun_server *s, uint64_t now)
{
    if (now < s->next_stats_ms)
        return;
    log_counts("stun_stats", &s->minute);
    counts_roll(s);
    s->next_stats_ms = now + STATS_MS;
}

/* Serve until SIGTERM or SIGINT. 0, or -1 if epoll failed. */
static int serve(struct stun_server *s)
{
    struct epoll_event evs[LISTEN_MAX + 1];

    s->next_stats_ms = now_ms() + STATS_MS;
    for (;;) {
        uint64_t now = now_ms();
        int timeout = s->next_stats_ms > now ? (int)(s->next_stats_ms - now) : 0;
        int n = epoll_wait(s->epfd, evs, LISTEN_MAX + 1, timeout);
        if (n < 0 && errno != EINTR) {
            log_msg(LOG_ERROR, "epoll_wait_failed", "error=\"%s\"", strerror(errno));
            return -1;
        }
        for (int k = 0; k < n; k++) {
            if (evs[k].data.u32 == SIGNAL_TAG) {
                if (udp_read_signal(s->sigfd))
                    return 0;
            } else if (evs[k].data.u32 < s->nfds) {
                drain(s, s->fds[evs[k].data.u32]);
            }
        }
        stats_tick(s, now_ms());
    }
}

/* Set up s: the epoll set, the signalfd (SIGTERM, SIGINT already blocked),
 * the rate table, the batch, the sockets. 0, or -1 with err set. */
static int setup(struct stun_server *s, const struct stun_opts *o, char *where, size_t wsize,
                 char *err, size_t errlen)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = SIGNAL_TAG };

    s->rate = o->rate;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->sigfd = udp_signalfd();
    if (s->epfd < 0 || s->sigfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &ev) != 0) {
        snprintf(err, errlen, "epoll or signalfd: %s", strerror(errno));
        return -1;
    }
    s->table = calloc(RATE_SLOTS, sizeof *s->table);
    s->batch = udp_batch_new(DGRAM_MAX);
    if (s->table == NULL || s->batch == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (getrandom(&s->seed, sizeof s->seed, GRND_NONBLOCK) != (ssize_t)sizeof s->seed)
        s->seed = (uint64_t)now_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    return udp_open_all(s->epfd, o->listen, o->nlisten, s->fds, &s->nfds, where, wsize,
                        err, errlen);
}

/* Close what setup opened. */
static void teardown(struct stun_server *s)
{
    for (size_t k = 0; k < s->nfds; k++)
        close(s->fds[k]);
    if (s->sigfd >= 0)
        close(s->sigfd);
    if (s->epfd >= 0)
        close(s->epfd);
    free(s->table);
    udp_batch_free(s->batch);
}

int main(int argc, char **argv)
{
    static struct stun_opts opts;
    struct stun_server s = { .epfd = -1, .sigfd = -1 };
    char err[512], where[LISTEN_MAX * (INET6_ADDRSTRLEN + 10)];
    int rc = 2;

    udp_block_signals();

    enum stun_args ar = parse_args(&opts, argc, argv, err, sizeof err);
    if (ar != ARGS_OK) {
        if (ar == ARGS_ERROR)
            fprintf(stderr, "%s: %s\n", PROGRAM, err);
        return ar == ARGS_EXIT ? 0 : 2;
    }
    if (setup(&s, &opts, where, sizeof where, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, err);
        goto out;
    }
    log_msg(LOG_INFO, "started", "listen=%s rate=%ld version=%s pid=%ld",
            where, s.rate, RR_VERSION, (long)getpid());
    rc = serve(&s) == 0 ? 0 : 1;
    counts_roll(&s);                               /* the last part-minute */
    log_counts("stopped", &s.total);
out:
    teardown(&s);
    return rc;
}
