/* allow.h -- which peers may open FastCGI connections over TCP (pure).
 *
 * A list of IPv4 and IPv6 addresses and CIDR blocks ("127.0.0.0/8,::1").
 * An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) counts as its IPv4 address.
 */
#ifndef RR_ALLOW_H
#define RR_ALLOW_H

#include <stddef.h>
#include <sys/socket.h>

#define ALLOW_MAX 32

struct allow_entry {
    int family;                  /* AF_INET or AF_INET6 */
    unsigned char addr[16];      /* network order; 4 bytes used for IPv4 */
    int prefix;                  /* bits */
};

struct allow_list {
    size_t n;
    struct allow_entry e[ALLOW_MAX];
};

/* Parse a comma-separated list of addresses and CIDR blocks (white space
 * around items is ignored). 0, or -1 with the bad item named in err. */
int allow_parse(const char *spec, struct allow_list *out, char *err, size_t errlen);

/* 1 if the peer address sa is in the list. */
int allow_match(const struct allow_list *a, const struct sockaddr *sa);

#endif
