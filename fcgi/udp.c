/* udp.c -- UDP sockets for the services beside the workers (see udp.h):
 * moved out of stun_main.c so that hysteria-realm-stun and
 * hysteria-realm-relay share them. Single-threaded callers only.
 *
 * Each socket has SO_REUSEPORT, so several processes may share a port; an
 * IPv6 socket has IPV6_V6ONLY, so "0.0.0.0:P" and "[::]:P" are two sockets
 * on the same port. IP_PKTINFO / IPV6_RECVPKTINFO tell which local address
 * a datagram came to, so that what goes back leaves from that address even
 * on a wildcard socket of a host with several. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "number.h"
#include "udp.h"

/* Parse the host of one address (hlen bytes at s: "a.b.c.d" or "[v6]")
 * and port into a (count 1). 0 or -1. */
static int udp_parse_host(const char *s, size_t hlen, long port, struct udp_addr *a)
{
    char host[INET6_ADDRSTRLEN + 2];

    if (hlen == 0 || hlen >= sizeof host)
        return -1;
    memset(a, 0, sizeof *a);
    a->count = 1;
    if (s[0] == '[' && s[hlen - 1] == ']' && hlen > 2) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->sa;
        memcpy(host, s + 1, hlen - 2);
        host[hlen - 2] = '\0';
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        a->len = sizeof *v6;
        return inet_pton(AF_INET6, host, &v6->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a->sa;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    a->len = sizeof *v4;
    return inet_pton(AF_INET, host, &v4->sin_addr) == 1 ? 0 : -1;
}

int udp_parse_addr(const char *s, size_t n, struct udp_addr *a)
{
    const char *colon = n > 0 ? memrchr(s, ':', n) : NULL;
    size_t hlen = colon != NULL ? (size_t)(colon - s) : 0;
    long port;

    if (colon == NULL || number_parse(colon + 1, n - hlen - 1, 1, 65535, &port) != 0)
        return -1;
    return udp_parse_host(s, hlen, port, a);
}

int udp_parse_range(const char *s, size_t n, unsigned max_ports, struct udp_addr *a,
                    char *err, size_t errlen)
{
    const char *colon = n > 0 ? memrchr(s, ':', n) : NULL;
    size_t hlen = colon != NULL ? (size_t)(colon - s) : 0;
    const char *ports = colon != NULL ? colon + 1 : s, *end = s + n;
    const char *dash = colon != NULL && max_ports > 1 ? memchr(ports, '-', (size_t)(end - ports))
                                                      : NULL;
    long first, last;

    if (colon == NULL
        || number_parse(ports, (size_t)((dash != NULL ? dash : end) - ports), 1, 65535, &first) != 0
        || (dash != NULL && number_parse(dash + 1, (size_t)(end - dash - 1), 1, 65535, &last) != 0)
        || udp_parse_host(s, hlen, first, a) != 0) {
        snprintf(err, errlen, max_ports > 1
                 ? "--listen: not IPV4:PORT[-PORT] or [IPV6]:PORT[-PORT]: \"%.*s\""
                 : "--listen: not IPV4:PORT or [IPV6]:PORT: \"%.*s\"", (int)n, s);
        return -1;
    }
    if (dash == NULL)
        return 0;
    if (last < first || last - first + 1 > (long)max_ports) {
        snprintf(err, errlen, "--listen: a range of 1..%u ports, first <= last: \"%.*s\"",
                 max_ports, (int)n, s);
        return -1;
    }
    a->count = (unsigned)(last - first + 1);
    return 0;
}

int udp_add_listen_range(struct udp_addr *list, size_t *n, size_t max, const char *spec,
                         int is_default, unsigned max_ports, char *err, size_t errlen)
{
    const char *p = spec;

    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (*n == max) {
            snprintf(err, errlen, "more than %zu --listen addresses", max);
            return -1;
        }
        if (udp_parse_range(p, len, max_ports, &list[*n], err, errlen) != 0)
            return -1;
        list[(*n)++].is_default = is_default;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

int udp_add_listen(struct udp_addr *list, size_t *n, size_t max, const char *spec,
                   int is_default, char *err, size_t errlen)
{
    return udp_add_listen_range(list, n, max, spec, is_default, 1, err, errlen);
}

size_t udp_ports(const struct udp_addr *list, size_t n)
{
    size_t sum = 0;

    for (size_t k = 0; k < n; k++)
        sum += list[k].count > 0 ? list[k].count : 1;
    return sum;
}

const char *udp_addr_text(const struct sockaddr_storage *sa, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        snprintf(buf, size, "[%s]:%u", ip, ntohs(v6->sin6_port));
    } else {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        snprintf(buf, size, "%s:%u", ip, ntohs(v4->sin_port));
    }
    return buf;
}

/* The address of a at port (host order) into sa. */
static void udp_addr_at(const struct udp_addr *a, unsigned port, struct sockaddr_storage *sa)
{
    *sa = a->sa;
    if (sa->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
}

/* A non-blocking UDP socket bound to a's address at port with
 * SO_REUSEPORT, the pktinfo of each datagram asked for (and IPV6_V6ONLY for
 * IPv6). The descriptor, or -1 with errno set. */
static int udp_open(const struct udp_addr *a, unsigned port)
{
    int one = 1, v6 = a->sa.ss_family == AF_INET6;
    int fd = socket(a->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_storage sa;

    if (fd < 0)
        return -1;
    udp_addr_at(a, port, &sa);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0
        || (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
        || (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) != 0)
        || (!v6 && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) != 0)
        || bind(fd, (const struct sockaddr *)&sa, a->len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The port of sa (host order). */
static unsigned udp_port_of(const struct sockaddr_storage *sa)
{
    return ntohs(sa->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
                                           : ((const struct sockaddr_in *)sa)->sin_port);
}

/* Append the bound address of fd (a's if unknown), and "-last" for a
 * range, to where (used bytes). */
static void udp_note_bound(int fd, const struct udp_addr *a, char *where, size_t wsize,
                           size_t *used)
{
    char text[INET6_ADDRSTRLEN + 16];
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;

    if (getsockname(fd, (struct sockaddr *)&bound, &blen) != 0)
        bound = a->sa;
    *used += (size_t)snprintf(where + *used, wsize - *used, "%s%s", *used ? "," : "",
                              udp_addr_text(&bound, text, sizeof text));
    if (*used < wsize && a->count > 1)
        *used += (size_t)snprintf(where + *used, wsize - *used, "-%u",
                                  udp_port_of(&a->sa) + a->count - 1);
    if (*used >= wsize)
        *used = wsize - 1;
}

int udp_open_all(int epfd, const struct udp_addr *list, size_t n, int *fds, size_t *nfds,
                 char *where, size_t wsize, char *err, size_t errlen)
{
    char text[INET6_ADDRSTRLEN + 16];
    size_t used = 0;

    where[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        const struct udp_addr *a = &list[k];
        unsigned first = udp_port_of(&a->sa), count = a->count > 0 ? a->count : 1;
        for (unsigned j = 0; j < count; j++) {
            int fd = udp_open(a, first + j);
            if (fd < 0 && j == 0 && a->is_default && errno == EAFNOSUPPORT) {
                log_msg(LOG_WARN, "listen_skipped", "listen=%s error=\"%s\"",
                        udp_addr_text(&a->sa, text, sizeof text), strerror(errno));
                break;
            }
            if (fd < 0) {
                struct sockaddr_storage at;
                udp_addr_at(a, first + j, &at);
                snprintf(err, errlen, "cannot listen on %s: %s",
                         udp_addr_text(&at, text, sizeof text), strerror(errno));
                return -1;
            }
            fds[(*nfds)++] = fd;
            struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)(*nfds - 1) };
            if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
                snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
                return -1;
            }
            if (j == 0)
                udp_note_bound(fd, a, where, wsize, &used);
        }
    }
    if (*nfds == 0) {
        snprintf(err, errlen, "no address to listen on");
        return -1;
    }
    return 0;
}

struct udp_batch *udp_batch_new(size_t dgram_max)
{
    struct udp_batch *b = calloc(1, sizeof *b);

    if (b == NULL)
        return NULL;
    b->dgram_max = dgram_max;
    b->buf = malloc(UDP_BATCH * dgram_max);
    if (b->buf == NULL) {
        free(b);
        return NULL;
    }
    return b;
}

void udp_batch_free(struct udp_batch *b)
{
    if (b != NULL)
        free(b->buf);
    free(b);
}

/* Point the batch's headers at its buffers again (recvmmsg changes the
 * lengths). */
static void udp_batch_reset(struct udp_batch *b)
{
    for (int k = 0; k < UDP_BATCH; k++) {
        struct msghdr *h = &b->msgs[k].msg_hdr;
        b->iov[k].iov_base = b->buf + (size_t)k * b->dgram_max;
        b->iov[k].iov_len = b->dgram_max;
        h->msg_name = &b->from[k];
        h->msg_namelen = sizeof b->from[k];
        h->msg_iov = &b->iov[k];
        h->msg_iovlen = 1;
        h->msg_control = b->ctl[k].c;
        h->msg_controllen = sizeof b->ctl[k].c;
        h->msg_flags = 0;
        b->msgs[k].msg_len = 0;
    }
}

void udp_drain(int fd, struct udp_batch *b, udp_handler fn, void *ctx)
{
    for (int got = 0; got < UDP_DRAIN_MAX;) {
        int r;
        udp_batch_reset(b);
        r = recvmmsg(fd, b->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                log_msg(LOG_WARN, "recv_failed", "fd=%d error=\"%s\"", fd, strerror(errno));
            return;
        }
        for (int k = 0; k < r; k++)
            fn(ctx, &b->msgs[k]);
        got += r;
        if (r < UDP_BATCH)
            return;
    }
}

int udp_local_of(const struct msghdr *rx, struct sockaddr_storage *local)
{
    struct cmsghdr *c;

    memset(local, 0, sizeof *local);
    for (c = CMSG_FIRSTHDR((struct msghdr *)rx); c != NULL;
         c = CMSG_NXTHDR((struct msghdr *)rx, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            struct sockaddr_in *v4 = (struct sockaddr_in *)local;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            v4->sin_family = AF_INET;
            v4->sin_addr = pi.ipi_spec_dst;
            return 0;
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)local;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            v6->sin6_family = AF_INET6;
            v6->sin6_addr = pi.ipi6_addr;
            v6->sin6_scope_id = pi.ipi6_ifindex;
            return 0;
        }
    }
    return -1;
}

/* Control data making a datagram leave from local into ctl; its length
 * (0: local is NULL or of no family). */
static size_t udp_control(const struct sockaddr_storage *local, void *ctl, size_t size)
{
    struct msghdr tx = { .msg_control = ctl, .msg_controllen = size };
    struct cmsghdr *out = CMSG_FIRSTHDR(&tx);

    if (local != NULL && local->ss_family == AF_INET) {
        struct in_pktinfo pi = { .ipi_ifindex = 0 };   /* route as usual */
        pi.ipi_spec_dst = ((const struct sockaddr_in *)local)->sin_addr;
        out->cmsg_level = IPPROTO_IP;
        out->cmsg_type = IP_PKTINFO;
        out->cmsg_len = CMSG_LEN(sizeof pi);
        memcpy(CMSG_DATA(out), &pi, sizeof pi);
        return CMSG_SPACE(sizeof pi);
    }
    if (local != NULL && local->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)local;
        struct in6_pktinfo pi = { .ipi6_addr = v6->sin6_addr, .ipi6_ifindex = v6->sin6_scope_id };
        out->cmsg_level = IPPROTO_IPV6;
        out->cmsg_type = IPV6_PKTINFO;
        out->cmsg_len = CMSG_LEN(sizeof pi);
        memcpy(CMSG_DATA(out), &pi, sizeof pi);
        return CMSG_SPACE(sizeof pi);
    }
    return 0;
}

int udp_send(int fd, const void *p, size_t n, const struct sockaddr_storage *to,
             socklen_t tolen, const struct sockaddr_storage *local)
{
    union {
        char c[CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = (void *)p, .iov_len = n };
    struct msghdr tx = { .msg_name = (void *)to, .msg_namelen = tolen,
                         .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t w;

    memset(&ctl, 0, sizeof ctl);
    tx.msg_controllen = udp_control(local, ctl.c, sizeof ctl.c);
    tx.msg_control = tx.msg_controllen ? ctl.c : NULL;
    do {
        w = sendmsg(fd, &tx, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    return w == (ssize_t)n ? 0 : -1;
}

/* SIGTERM and SIGINT in sigs. */
static void udp_stop_signals(sigset_t *sigs)
{
    sigemptyset(sigs);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGINT);
}

void udp_block_signals(void)
{
    sigset_t sigs;

    udp_stop_signals(&sigs);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int udp_signalfd(void)
{
    sigset_t sigs;

    udp_stop_signals(&sigs);
    return signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
}

int udp_read_signal(int sigfd)
{
    struct signalfd_siginfo si;
    ssize_t r = read(sigfd, &si, sizeof si);

    if (r != (ssize_t)sizeof si)
        return 0;
    log_msg(LOG_INFO, "stopping", "signal=%s", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
    return 1;
}
