/* fuzz_stun.c -- libFuzzer harness for the STUN Binding responder's
 * messages (fcgi/stun_msg.c).
 *
 * Input: 20 bytes of control, then the datagram.
 *   byte 0      the sender: low 2 bits 0 IPv4, 1 IPv6, 2 IPv4-mapped IPv6,
 *               3 AF_UNIX (never answered); bit 2: a short output buffer
 *   byte 1-2    the sender's port
 *   byte 3-18   its address (4 bytes used for IPv4)
 *   byte 19     with bit 2 of byte 0: the output buffer's size, modulo
 *               STUN_ANSWER_MAX + 1
 * stun_answer must agree with a second, plain reading of RFC 8489 here
 * (reference_ok): an answer exactly when that says well formed, the family
 * is IPv4 or IPv6 and the buffer is big enough. An answer is at most len +
 * STUN_ANSWER_SLACK and STUN_ANSWER_MAX bytes, parses back as a Binding
 * success response with the request's transaction id, XOR-MAPPED-ADDRESS
 * and MAPPED-ADDRESS of the sender and a right FINGERPRINT (zlib crc32),
 * and the same input gives the same answer again. A broken invariant
 * aborts (a crash libFuzzer reports). */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <zlib.h>

#include "stun_msg.h"

#define CONTROL_LEN 20

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_stun: check failed at %s:%d: %s\n",        \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* The sender, as the control bytes say. */
struct sender {
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
        struct sockaddr_un un;
    } u;
    int family;             /* 1 IPv4, 2 IPv6 as STUN encodes it; 0 none */
    uint16_t port;
    uint8_t addr[16];       /* as it must appear in the answer */
};

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint32_t fingerprint(const uint8_t *p, size_t n)
{
    return (uint32_t)crc32(0L, p, (uInt)n) ^ 0x5354554eu;
}

/* Build the sender from the control bytes c. */
static void make_sender(const uint8_t *c, struct sender *s)
{
    memset(s, 0, sizeof *s);
    s->port = rd16(c + 1);
    switch (c[0] & 3) {
    case 0:
        s->u.v4.sin_family = AF_INET;
        s->u.v4.sin_port = htons(s->port);
        memcpy(&s->u.v4.sin_addr, c + 3, 4);
        s->family = 1;
        memcpy(s->addr, c + 3, 4);
        break;
    case 1:
        s->u.v6.sin6_family = AF_INET6;
        s->u.v6.sin6_port = htons(s->port);
        memcpy(&s->u.v6.sin6_addr, c + 3, 16);
        if (memcmp(c + 3, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
            s->family = 1;                  /* mapped by chance: answered as IPv4 */
            memcpy(s->addr, c + 15, 4);
        } else {
            s->family = 2;
            memcpy(s->addr, c + 3, 16);
        }
        break;
    case 2:
        s->u.v6.sin6_family = AF_INET6;
        s->u.v6.sin6_port = htons(s->port);
        memset(s->u.v6.sin6_addr.s6_addr + 10, 0xff, 2);
        memcpy(s->u.v6.sin6_addr.s6_addr + 12, c + 3, 4);
        s->family = 1;
        memcpy(s->addr, c + 3, 4);
        break;
    default:
        s->u.un.sun_family = AF_UNIX;
        break;
    }
}

/* 1 if type is a comprehension-required attribute stun_msg.h tolerates. */
static int tolerated(uint16_t type)
{
    return type == 0x0006 || type == 0x0008 || type == 0x0014 || type == 0x0015
           || type == 0x001C || type == 0x001E || type == 0x0024 || type == 0x0025;
}

/* 1 if the n bytes at p are a Binding request stun_msg.h says to answer,
 * read afresh from RFC 8489. */
static int reference_ok(const uint8_t *p, size_t n)
{
    size_t at = 20;
    int after_integrity = 0;

    if (n < 20 || (p[0] & 0xc0) != 0 || rd16(p) != 0x0001 || rd32(p + 4) != 0x2112A442u)
        return 0;
    if (rd16(p + 2) != n - 20 || (n - 20) % 4 != 0)
        return 0;
    while (at < n) {
        uint16_t type = rd16(p + at), len = rd16(p + at + 2);
        size_t next = at + 4 + (((size_t)len + 3) / 4) * 4;
        if (next > n)
            return 0;
        if (type == 0x8028)
            return len == 4 && next == n && rd32(p + at + 4) == fingerprint(p, at);
        if (type < 0x8000 && !after_integrity && !tolerated(type))
            return 0;
        if (type == 0x0008 || type == 0x001C)
            after_integrity = 1;
        at = next;
    }
    return 1;
}

/* The address attribute of type at a (in the n-byte answer) carries the
 * sender, XORed (with the cookie and transaction id) if xor. */
static void check_addr(const uint8_t *a, const uint8_t *ans, const struct sender *s,
                       uint16_t type, int xor)
{
    size_t alen = s->family == 1 ? 4 : 16;

    CHECK(rd16(a) == type);
    CHECK(rd16(a + 2) == 4 + alen);
    CHECK(a[4] == 0 && a[5] == s->family);
    CHECK((uint16_t)(rd16(a + 6) ^ (xor ? 0x2112 : 0)) == s->port);
    for (size_t k = 0; k < alen; k++)
        CHECK((uint8_t)(a[8 + k] ^ (xor ? ans[4 + k] : 0)) == s->addr[k]);
}

/* The n-byte answer to the len-byte request req parses back as it must. */
static void check_answer(const uint8_t *ans, size_t n, const uint8_t *req, size_t len,
                         const struct sender *s)
{
    size_t attr = s->family == 1 ? 12 : 24;

    CHECK(n <= len + STUN_ANSWER_SLACK && n <= STUN_ANSWER_MAX);
    CHECK(n == 20 + 2 * attr + 8);
    CHECK(rd16(ans) == 0x0101);
    CHECK(rd16(ans + 2) == n - 20);
    CHECK(rd32(ans + 4) == 0x2112A442u);
    CHECK(memcmp(ans + 8, req + 8, 12) == 0);
    check_addr(ans + 20, ans, s, 0x0020, 1);
    check_addr(ans + 20 + attr, ans, s, 0x0001, 0);
    CHECK(rd16(ans + n - 8) == 0x8028 && rd16(ans + n - 6) == 4);
    CHECK(rd32(ans + n - 4) == fingerprint(ans, n - 8));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sender s;
    uint8_t out[STUN_ANSWER_MAX + 16], again[STUN_ANSWER_MAX + 16];
    size_t cap = STUN_ANSWER_MAX, len, need;
    const uint8_t *req;
    int n, want;

    if (size < CONTROL_LEN)
        return 0;
    make_sender(data, &s);
    if (data[0] & 4)
        cap = data[19] % (STUN_ANSWER_MAX + 1);
    req = data + CONTROL_LEN;
    len = size - CONTROL_LEN;
    memset(out, 0xa5, sizeof out);
    n = stun_answer(req, len, &s.u.sa, out, cap);
    need = s.family == 0 ? 0 : 20 + 2 * (s.family == 1 ? 12 : 24) + 8;
    want = reference_ok(req, len) && s.family != 0 && need <= cap;
    CHECK(n >= 0);
    CHECK((n > 0) == want);
    for (size_t k = (size_t)n; k < sizeof out; k++)
        CHECK(out[k] == 0xa5);                 /* nothing written past the answer */
    if (n == 0)
        return 0;
    CHECK((size_t)n <= cap);
    check_answer(out, (size_t)n, req, len, &s);
    CHECK(stun_answer(req, len, &s.u.sa, again, cap) == n);
    CHECK(memcmp(out, again, (size_t)n) == 0);
    /* An answer is never answered. */
    CHECK(stun_answer(out, (size_t)n, &s.u.sa, again, sizeof again) == 0);
    return 0;
}
