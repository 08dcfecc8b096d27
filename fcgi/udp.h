/* udp.h -- the UDP socket machinery shared by the services beside the
 * workers (hysteria-realm-stun, hysteria-realm-relay): --listen parsing
 * (single ports, and for the relay ranges of ports: one socket each),
 * non-blocking sockets with SO_REUSEPORT / IPV6_V6ONLY / pktinfo, a
 * recvmmsg batch drained until EAGAIN, sendmsg from a chosen local address,
 * and the SIGTERM/SIGINT signalfd. One thread: the batch is the caller's.
 */
#ifndef RR_UDP_H
#define RR_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define UDP_BATCH 32                   /* datagrams per recvmmsg */
#define UDP_DRAIN_MAX 1024             /* datagrams per socket per wake-up */
#define UDP_RANGE_MAX 4096             /* ports of one --listen range */

/* One address to listen on, from --listen: count ports from sa's port
 * (1 but for a range), a socket each. */
struct udp_addr {
    struct sockaddr_storage sa;
    socklen_t len;
    int is_default;                    /* from the default list: may be skipped */
    unsigned count;                    /* >= 1 */
};

/* What one recvmmsg call fills: datagrams, senders, pktinfo. dgram_max
 * bytes per datagram; a longer one arrives with MSG_TRUNC set. */
struct udp_batch {
    size_t dgram_max;
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    struct sockaddr_storage from[UDP_BATCH];
    union {
        char c[CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct cmsghdr align;
    } ctl[UDP_BATCH];
    uint8_t *buf;                      /* UDP_BATCH * dgram_max bytes */
};

/* Called by udp_drain for each datagram m received on the socket. */
typedef void (*udp_handler)(void *ctx, struct mmsghdr *m);

/* Parse one "a.b.c.d:port" or "[v6]:port" (n bytes at s) into a (count
 * 1). 0 or -1. */
int udp_parse_addr(const char *s, size_t n, struct udp_addr *a);

/* Parse one "a.b.c.d:port", "[v6]:port", or with max_ports > 1 also a range
 * "a.b.c.d:first-last" / "[v6]:first-last" of at most max_ports ports (n
 * bytes at s) into a. 0, or -1 with err set. */
int udp_parse_range(const char *s, size_t n, unsigned max_ports, struct udp_addr *a,
                    char *err, size_t errlen);

/* Append the comma-separated addresses of spec to list (holding *n of at
 * most max). 0, or -1 with err set. */
int udp_add_listen(struct udp_addr *list, size_t *n, size_t max, const char *spec,
                   int is_default, char *err, size_t errlen);

/* The same, ranges of up to max_ports ports allowed. */
int udp_add_listen_range(struct udp_addr *list, size_t *n, size_t max, const char *spec,
                         int is_default, unsigned max_ports, char *err, size_t errlen);

/* The sockets the n addresses of list make: the sum of their counts. */
size_t udp_ports(const struct udp_addr *list, size_t n);

/* "a.b.c.d:port" or "[v6]:port" of sa into buf (returned). */
const char *udp_addr_text(const struct sockaddr_storage *sa, char *buf, size_t size);

/* Open every address of list (a socket per port: fds has room for
 * udp_ports(list, n)), add each to epfd with data.u32 = its index in fds,
 * list the bound addresses (and ranges) in where. A default address of a
 * family the kernel lacks is skipped with a warning. 0, or -1 with err
 * set (the descriptors opened so far stay in fds for the caller to close). */
int udp_open_all(int epfd, const struct udp_addr *list, size_t n, int *fds, size_t *nfds,
                 char *where, size_t wsize, char *err, size_t errlen);

/* A batch of datagrams of up to dgram_max bytes; NULL if out of memory. */
struct udp_batch *udp_batch_new(size_t dgram_max);
void udp_batch_free(struct udp_batch *b);

/* Read what waits on fd into b, calling fn(ctx, m) per datagram: until
 * EAGAIN, or UDP_DRAIN_MAX datagrams. */
void udp_drain(int fd, struct udp_batch *b, udp_handler fn, void *ctx);

/* The local address the datagram rx was sent to (from its pktinfo; port
 * 0, IPv6 scope id = the interface) into local. 0, or -1 if rx had none. */
int udp_local_of(const struct msghdr *rx, struct sockaddr_storage *local);

/* Send the n bytes at p on fd to "to", from local (an address from
 * udp_local_of; the socket's own if local is NULL or of family 0). 0, or
 * -1 (dropped: the socket buffer is full, or an error). */
int udp_send(int fd, const void *p, size_t n, const struct sockaddr_storage *to,
             socklen_t tolen, const struct sockaddr_storage *local);

/* Block SIGTERM and SIGINT, ignore SIGPIPE (call first in main). */
void udp_block_signals(void);

/* A non-blocking signalfd for SIGTERM and SIGINT, or -1. */
int udp_signalfd(void);

/* 1 if a SIGTERM or SIGINT was read from sigfd (logged as msg=stopping). */
int udp_read_signal(int sigfd);

#endif
