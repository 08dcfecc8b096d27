/* test_stun.c -- unit tests of the STUN Binding responder's messages
 * (fcgi/stun_msg.c), against the test vectors of RFC 5769. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>
#include <zlib.h>

#include "stun_msg.h"
#include "unit.h"

/* RFC 5769 section 2.1: the sample request (SOFTWARE, PRIORITY,
 * ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT). */
static const uint8_t rfc5769_request[108] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42,
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74,
    0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
    0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
    0x59, 0x20, 0x20, 0x20,
    0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56,
    0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2,
    0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 section 2.2: the XOR-MAPPED-ADDRESS of 192.0.2.1:32853. */
static const uint8_t rfc5769_xor_v4[12] = {
    0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
};

/* RFC 5769 section 2.3: the XOR-MAPPED-ADDRESS of
 * [2001:db8:1234:5678:11:2233:4455:6677]:32853. */
static const uint8_t rfc5769_xor_v6[24] = {
    0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47,
    0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79,
    0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
};

/* A request being built by a test. */
struct req {
    uint8_t b[512];
    size_t n;
};

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void wr16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, v >> 16);
    wr16(p + 2, v & 0xffff);
}

/* The FINGERPRINT of the n bytes at p, computed here (not by stun_msg.c). */
static uint32_t crc_fp(const uint8_t *p, size_t n)
{
    return (uint32_t)crc32(0L, p, (uInt)n) ^ 0x5354554eu;
}

/* Start a Binding request (type, cookie given) with transaction id 1..12. */
static void req_start(struct req *r, unsigned type, uint32_t cookie)
{
    memset(r, 0, sizeof *r);
    wr16(r->b, type);
    wr32(r->b + 4, cookie);
    for (int k = 0; k < 12; k++)
        r->b[8 + k] = (uint8_t)(k + 1);
    r->n = 20;
}

/* Keep the header's length field equal to the body. */
static void req_fix_len(struct req *r)
{
    wr16(r->b + 2, (unsigned)(r->n - 20));
}

/* Append an attribute of vlen bytes of value v (padded with zeros). */
static void req_attr(struct req *r, unsigned type, const void *v, size_t vlen)
{
    wr16(r->b + r->n, type);
    wr16(r->b + r->n + 2, (unsigned)vlen);
    memcpy(r->b + r->n + 4, v, vlen);
    r->n += 4 + ((vlen + 3) & ~(size_t)3);
    req_fix_len(r);
}

/* Append a correct FINGERPRINT. */
static void req_fingerprint(struct req *r)
{
    uint8_t v[4] = { 0 };
    size_t at = r->n;
    req_attr(r, 0x8028, v, 4);
    wr32(r->b + at + 4, crc_fp(r->b, at));
}

static struct sockaddr_in v4addr(const char *ip, unsigned port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, ip, &sin.sin_addr);
    return sin;
}

static struct sockaddr_in6 v6addr(const char *ip, unsigned port)
{
    struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
    inet_pton(AF_INET6, ip, &sin6.sin6_addr);
    return sin6;
}

/* The answer to the n bytes at p from 192.0.2.1:32853, or 0. */
static int answer_v4(const uint8_t *p, size_t n)
{
    struct sockaddr_in from = v4addr("192.0.2.1", 32853);
    uint8_t out[256];
    return stun_answer(p, n, (const struct sockaddr *)&from, out, sizeof out);
}

/* 1 if the n-byte answer at a to request q is a Binding success response
 * with q's transaction id, the attributes in their places and a right
 * FINGERPRINT. */
static int answer_ok(const uint8_t *a, size_t n, const uint8_t *q)
{
    return n >= 28 && a[0] == 0x01 && a[1] == 0x01
           && (size_t)((a[2] << 8) | a[3]) == n - 20
           && memcmp(a + 4, q + 4, 16) == 0
           && a[n - 8] == 0x80 && a[n - 7] == 0x28 && a[n - 6] == 0 && a[n - 5] == 4
           && rd32(a + n - 4) == crc_fp(a, n - 8);
}

TEST(stun_rfc5769_request_ipv4)
{
    struct sockaddr_in from = v4addr("192.0.2.1", 32853);
    static const uint8_t mapped[12] = {
        0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x80, 0x55, 0xc0, 0x00, 0x02, 0x01,
    };
    uint8_t out[128];
    int n = stun_answer(rfc5769_request, sizeof rfc5769_request,
                        (const struct sockaddr *)&from, out, sizeof out);
    ASSERT_EQ_INT(52, n);
    ASSERT_TRUE(answer_ok(out, (size_t)n, rfc5769_request));
    ASSERT_EQ_MEM(rfc5769_xor_v4, out + 20, sizeof rfc5769_xor_v4);
    ASSERT_EQ_MEM(mapped, out + 32, sizeof mapped);
    ASSERT_EQ_INT(crc_fp(out, 44), stun_fingerprint(out, 44));
}

TEST(stun_rfc5769_request_ipv6)
{
    struct sockaddr_in6 from = v6addr("2001:db8:1234:5678:11:2233:4455:6677", 32853);
    uint8_t out[128];
    int n = stun_answer(rfc5769_request, sizeof rfc5769_request,
                        (const struct sockaddr *)&from, out, sizeof out);
    ASSERT_EQ_INT(76, n);
    ASSERT_TRUE(answer_ok(out, (size_t)n, rfc5769_request));
    ASSERT_EQ_MEM(rfc5769_xor_v6, out + 20, sizeof rfc5769_xor_v6);
    ASSERT_EQ_INT(0x0001, (out[44] << 8) | out[45]);           /* MAPPED-ADDRESS */
    ASSERT_EQ_INT(20, (out[46] << 8) | out[47]);
    ASSERT_EQ_INT(0x02, out[49]);
    ASSERT_EQ_INT(32853, (out[50] << 8) | out[51]);
    ASSERT_EQ_MEM(from.sin6_addr.s6_addr, out + 52, 16);
}

TEST(stun_bare_request_and_mapped_v4)
{
    struct req r;
    struct sockaddr_in6 from = v6addr("::ffff:127.0.0.1", 40000);
    uint8_t out[128];
    int n;

    req_start(&r, 0x0001, 0x2112A442);             /* as turnutils_stunclient sends */
    n = stun_answer(r.b, r.n, (const struct sockaddr *)&from, out, sizeof out);
    ASSERT_EQ_INT(52, n);                          /* IPv4-mapped: answered as IPv4 */
    ASSERT_TRUE(answer_ok(out, (size_t)n, r.b));
    ASSERT_EQ_INT(0x01, out[25]);
    ASSERT_EQ_INT(40000 ^ 0x2112, (out[26] << 8) | out[27]);
    ASSERT_EQ_INT(0x7f000001u ^ 0x2112A442u, rd32(out + 28));
}

TEST(stun_truncated_ignored)
{
    for (size_t n = 0; n < sizeof rfc5769_request; n++)
        ASSERT_EQ_INT(0, answer_v4(rfc5769_request, n));
    ASSERT_EQ_INT(0, answer_v4(NULL, 20));
}

TEST(stun_wrong_cookie_ignored)
{
    struct req r;

    req_start(&r, 0x0001, 0x2112A443);
    ASSERT_EQ_INT(0, answer_v4(r.b, r.n));
    req_start(&r, 0x0001, 0x0badcafe);             /* an RFC 3489 transaction id */
    req_attr(&r, 0x8022, "classic", 7);
    ASSERT_EQ_INT(0, answer_v4(r.b, r.n));
}

TEST(stun_wrong_type_ignored)
{
    static const unsigned types[] = {
        0x0000, 0x0002, 0x0003, 0x0011 /* indication */, 0x0101 /* success */,
        0x0111 /* error */, 0x4001, 0x8001, 0xc001, 0x0201,
    };
    struct req r;

    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        req_start(&r, types[k], 0x2112A442);
        req_fingerprint(&r);
        ASSERT_EQ_INT(0, answer_v4(r.b, r.n));
    }
    req_start(&r, 0x0001, 0x2112A442);
    req_fingerprint(&r);
    ASSERT_EQ_INT(52, answer_v4(r.b, r.n));
}

TEST(stun_response_ignored)
{
    struct sockaddr_in from = v4addr("192.0.2.1", 32853);
    uint8_t resp[128];
    int n = stun_answer(rfc5769_request, sizeof rfc5769_request,
                        (const struct sockaddr *)&from, resp, sizeof resp);
    ASSERT_EQ_INT(52, n);
    ASSERT_EQ_INT(0, answer_v4(resp, (size_t)n));  /* an answer is never answered */
}

TEST(stun_bad_length_ignored)
{
    uint8_t b[sizeof rfc5769_request + 8];
    struct req r;

    memcpy(b, rfc5769_request, sizeof rfc5769_request);
    b[3] = 0x5c;                                   /* says 4 more than there are */
    ASSERT_EQ_INT(0, answer_v4(b, sizeof rfc5769_request));
    b[3] = 0x54;                                   /* says 4 fewer */
    ASSERT_EQ_INT(0, answer_v4(b, sizeof rfc5769_request));
    b[3] = 0x58;                                   /* right, but 2 bytes of trailer */
    memset(b + sizeof rfc5769_request, 0, 8);
    ASSERT_EQ_INT(0, answer_v4(b, sizeof rfc5769_request + 2));
    req_start(&r, 0x0001, 0x2112A442);             /* a length not in whole words */
    r.n = 22;
    req_fix_len(&r);
    ASSERT_EQ_INT(0, answer_v4(r.b, r.n));
    req_start(&r, 0x0001, 0x2112A442);             /* an empty attribute is well formed */
    req_attr(&r, 0x8022, "", 0);
    ASSERT_EQ_INT(24, (int)r.n);
    ASSERT_EQ_INT(52, answer_v4(r.b, r.n));
}

TEST(stun_bad_fingerprint_ignored)
{
    uint8_t b[sizeof rfc5769_request];
    struct req r;
    uint8_t v[4] = { 1, 2, 3, 4 };

    memcpy(b, rfc5769_request, sizeof b);
    b[sizeof b - 1] ^= 0x01;
    ASSERT_EQ_INT(0, answer_v4(b, sizeof b));
    memcpy(b, rfc5769_request, sizeof b);
    b[30] ^= 0x20;                                 /* SOFTWARE changed under it */
    ASSERT_EQ_INT(0, answer_v4(b, sizeof b));

    req_start(&r, 0x0001, 0x2112A442);             /* not last */
    req_fingerprint(&r);
    req_attr(&r, 0x8022, "late", 4);
    ASSERT_EQ_INT(0, answer_v4(r.b, r.n));

    req_start(&r, 0x0001, 0x2112A442);             /* 8 bytes long */
    req_attr(&r, 0x8028, v, 4);
    wr16(r.b + 22, 8);
    ASSERT_EQ_INT(0, answer_v4(r.b, r.n));
}

TEST(stun_attribute_overrun_ignored)
{
    struct req r;

    req_start(&r, 0x0001, 0x2112A442);
    req_attr(&r, 0x8022, "abcdefgh", 8);
    wr16(r.b + 22, 9);                             /* padded to 12: past the end */
    ASSERT_EQ_INT(0, answer_v4(r.b, r.n));
    wr16(r.b + 22, 0xffff);
    ASSERT_EQ_INT(0, answer_v4(r.b, r.n));
    wr16(r.b + 22, 8);
    ASSERT_EQ_INT(52, answer_v4(r.b, r.n));
}

TEST(stun_unknown_required_ignored)
{
    struct req r;
    uint8_t mi[20] = { 0 };
    uint8_t change[4] = { 0, 0, 0, 6 };

    req_start(&r, 0x0001, 0x2112A442);             /* RFC 5780 CHANGE-REQUEST */
    req_attr(&r, 0x0003, change, 4);
    ASSERT_EQ_INT(0, answer_v4(r.b, r.n));
    req_start(&r, 0x0001, 0x2112A442);             /* RESPONSE-PORT */
    req_attr(&r, 0x0027, change, 4);
    ASSERT_EQ_INT(0, answer_v4(r.b, r.n));
    req_start(&r, 0x0001, 0x2112A442);             /* comprehension-optional: skipped */
    req_attr(&r, 0x8055, change, 3);
    req_attr(&r, 0x8022, "hysteria", 8);
    req_fingerprint(&r);
    ASSERT_EQ_INT(52, answer_v4(r.b, r.n));
    req_start(&r, 0x0001, 0x2112A442);             /* after MESSAGE-INTEGRITY: ignored */
    req_attr(&r, 0x0006, "user:name", 9);
    req_attr(&r, 0x0008, mi, sizeof mi);
    req_attr(&r, 0x0003, change, 4);
    req_fingerprint(&r);
    ASSERT_EQ_INT(52, answer_v4(r.b, r.n));
}

TEST(stun_amplification_bound)
{
    struct sockaddr_in6 v6 = v6addr("2001:db8::1", 1);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    struct req r;
    uint8_t out[256];
    int n;

    req_start(&r, 0x0001, 0x2112A442);
    n = stun_answer(r.b, r.n, (const struct sockaddr *)&v6, out, sizeof out);
    ASSERT_EQ_INT(76, n);                          /* the largest answer, the smallest request */
    ASSERT_TRUE((size_t)n <= r.n + STUN_ANSWER_SLACK);
    ASSERT_TRUE(n <= STUN_ANSWER_MAX);
    ASSERT_EQ_INT(0, stun_answer(r.b, r.n, (const struct sockaddr *)&v6, out, 75));
    ASSERT_EQ_INT(0, stun_answer(r.b, r.n, (const struct sockaddr *)&un, out, sizeof out));
    ASSERT_EQ_INT(0, stun_answer(r.b, r.n, NULL, out, sizeof out));
    for (size_t pad = 0; pad <= 400; pad += 4) {   /* never longer than len + slack */
        static const uint8_t zeros[400];
        req_start(&r, 0x0001, 0x2112A442);
        if (pad >= 4)
            req_attr(&r, 0x8022, zeros, pad - 4);
        n = stun_answer(r.b, r.n, (const struct sockaddr *)&v6, out, sizeof out);
        ASSERT_EQ_INT(76, n);
        ASSERT_TRUE((size_t)n <= r.n + STUN_ANSWER_SLACK);
    }
}
