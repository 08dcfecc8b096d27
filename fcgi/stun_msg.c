/* stun_msg.c -- STUN Binding requests checked, success responses built
 * (RFC 8489; pure, any thread). What is answered and what ignored: stun_msg.h. */
#include <netinet/in.h>
#include <string.h>
#include <zlib.h>

#include "stun_msg.h"

#define STUN_ATTR_HEADER_LEN 4
#define STUN_FINGERPRINT_LEN 8           /* header and 4-byte value */
#define STUN_FAMILY_IPV4 0x01
#define STUN_FAMILY_IPV6 0x02

#define STUN_ATTR_USERNAME 0x0006
#define STUN_ATTR_MESSAGE_INTEGRITY 0x0008
#define STUN_ATTR_REALM 0x0014
#define STUN_ATTR_NONCE 0x0015
#define STUN_ATTR_MESSAGE_INTEGRITY_SHA256 0x001C
#define STUN_ATTR_USERHASH 0x001E
#define STUN_ATTR_PRIORITY 0x0024
#define STUN_ATTR_USE_CANDIDATE 0x0025

/* The address a request came from, as STUN encodes it. */
struct stun_peer {
    uint8_t family;                      /* STUN_FAMILY_IPV4 or _IPV6 */
    uint16_t port;                       /* host order */
    uint8_t addr[16];                    /* network order; 4 bytes for IPv4 */
};

/* Comprehension-required attributes that do not stop an answer. */
static const uint16_t stun_tolerated[] = {
    STUN_ATTR_USERNAME, STUN_ATTR_MESSAGE_INTEGRITY, STUN_ATTR_REALM, STUN_ATTR_NONCE,
    STUN_ATTR_MESSAGE_INTEGRITY_SHA256, STUN_ATTR_USERHASH, STUN_ATTR_PRIORITY,
    STUN_ATTR_USE_CANDIDATE,
};

/* The big-endian 16-bit value at p. */
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

/* The big-endian 32-bit value at p. */
static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Store v big-endian at p. */
static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Store v big-endian at p. */
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint32_t stun_fingerprint(const uint8_t *msg, size_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);

    /* A STUN message is at most 20 + 65535 bytes: one call suffices. */
    crc = crc32(crc, msg, (uInt)n);
    return (uint32_t)crc ^ STUN_FINGERPRINT_XOR;
}

/* 1 if the comprehension-required attribute type may be in a request we
 * answer. */
static int stun_tolerates(uint16_t type)
{
    size_t k;

    for (k = 0; k < sizeof stun_tolerated / sizeof stun_tolerated[0]; k++)
        if (stun_tolerated[k] == type)
            return 1;
    return 0;
}

/* 1 if the 20-byte header of the len bytes at req is a Binding request's
 * whose length field counts the rest exactly, in whole 4-byte words. */
static int stun_header_ok(const uint8_t *req, size_t len)
{
    if (len < STUN_HEADER_LEN)
        return 0;
    if (get16(req) != STUN_BINDING_REQUEST)       /* also: top two bits 0 */
        return 0;
    if (get32(req + 4) != STUN_MAGIC_COOKIE)
        return 0;
    return get16(req + 2) == len - STUN_HEADER_LEN && (len - STUN_HEADER_LEN) % 4 == 0;
}

/* 1 if the attributes of the len-byte request at req are well formed (see
 * stun_msg.h): in bounds, padded, FINGERPRINT last and right, no unknown
 * comprehension-required one before a MESSAGE-INTEGRITY. */
static int stun_attrs_ok(const uint8_t *req, size_t len)
{
    size_t at = STUN_HEADER_LEN;
    int integrity = 0;

    while (at < len) {
        uint16_t type, alen;
        size_t padded;

        if (len - at < STUN_ATTR_HEADER_LEN)
            return 0;
        type = get16(req + at);
        alen = get16(req + at + 2);
        padded = ((size_t)alen + 3) & ~(size_t)3;
        if (padded > len - at - STUN_ATTR_HEADER_LEN)
            return 0;
        if (type == STUN_ATTR_FINGERPRINT)
            return alen == 4 && at + STUN_FINGERPRINT_LEN == len
                   && get32(req + at + 4) == stun_fingerprint(req, at);
        if (type < 0x8000 && !integrity && !stun_tolerates(type))
            return 0;
        if (type == STUN_ATTR_MESSAGE_INTEGRITY || type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
            integrity = 1;
        at += STUN_ATTR_HEADER_LEN + padded;
    }
    return 1;
}

/* The sender's address from, as STUN encodes it, into p. 0, or -1 for an
 * address family other than IPv4 and IPv6. */
static int stun_peer_of(const struct sockaddr *from, struct stun_peer *p)
{
    static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    memset(p, 0, sizeof *p);
    if (from == NULL)
        return -1;
    if (from->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, from, sizeof sin);
        p->family = STUN_FAMILY_IPV4;
        p->port = ntohs(sin.sin_port);
        memcpy(p->addr, &sin.sin_addr, 4);
        return 0;
    }
    if (from->sa_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, from, sizeof sin6);
        p->port = ntohs(sin6.sin6_port);
        if (memcmp(sin6.sin6_addr.s6_addr, v4mapped, sizeof v4mapped) == 0) {
            p->family = STUN_FAMILY_IPV4;
            memcpy(p->addr, sin6.sin6_addr.s6_addr + 12, 4);
        } else {
            p->family = STUN_FAMILY_IPV6;
            memcpy(p->addr, sin6.sin6_addr.s6_addr, 16);
        }
        return 0;
    }
    return -1;
}

/* The length of an address attribute's value for peer p (8 or 20). */
static size_t stun_addr_value_len(const struct stun_peer *p)
{
    return p->family == STUN_FAMILY_IPV4 ? 8 : 20;
}

/* Write an address attribute of type (MAPPED-ADDRESS, or XOR-MAPPED-ADDRESS
 * when xor: port and address XORed with the cookie and transaction id of
 * the message at msg) for peer p at out. Its length with the header. */
static size_t stun_put_addr(uint8_t *out, uint16_t type, const struct stun_peer *p,
                            const uint8_t *msg, int xor)
{
    size_t vlen = stun_addr_value_len(p), alen = vlen - 4, k;
    uint16_t port = p->port;

    put16(out, type);
    put16(out + 2, (uint16_t)vlen);
    out[4] = 0;
    out[5] = p->family;
    if (xor)
        port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
    put16(out + 6, port);
    for (k = 0; k < alen; k++)
        out[8 + k] = xor ? (uint8_t)(p->addr[k] ^ msg[4 + k]) : p->addr[k];
    return STUN_ATTR_HEADER_LEN + vlen;
}

int stun_answer(const uint8_t *req, size_t len, const struct sockaddr *from,
                uint8_t *out, size_t outcap)
{
    struct stun_peer peer;
    size_t n, at;

    if (req == NULL || out == NULL || !stun_header_ok(req, len) || !stun_attrs_ok(req, len))
        return 0;
    if (stun_peer_of(from, &peer) != 0)
        return 0;
    n = STUN_HEADER_LEN + 2 * (STUN_ATTR_HEADER_LEN + stun_addr_value_len(&peer))
        + STUN_FINGERPRINT_LEN;
    if (n > outcap || n > len + STUN_ANSWER_SLACK)
        return 0;
    put16(out, STUN_BINDING_SUCCESS);
    put16(out + 2, (uint16_t)(n - STUN_HEADER_LEN));
    memcpy(out + 4, req + 4, 16);                    /* cookie, transaction id */
    at = STUN_HEADER_LEN;
    at += stun_put_addr(out + at, STUN_ATTR_XOR_MAPPED_ADDRESS, &peer, out, 1);
    at += stun_put_addr(out + at, STUN_ATTR_MAPPED_ADDRESS, &peer, out, 0);
    put16(out + at, STUN_ATTR_FINGERPRINT);
    put16(out + at + 2, 4);
    put32(out + at + 4, stun_fingerprint(out, at));
    return (int)n;
}
