/* sha1.c -- SHA-1 (FIPS 180-4), only to name Lua scripts as Redis does.
 *
 * Pure and reentrant: all state is on the caller's stack. */
#include <stdint.h>
#include <string.h>

#include "sha1.h"

struct sha1_ctx {
    uint32_t h[5];
    uint64_t bytes;            /* message length so far */
    unsigned char block[64];
    size_t used;               /* bytes waiting in block */
};

static uint32_t sha1_rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

/* Load the 16 big-endian words of block and extend them to 80 into w. */
static void sha1_schedule(const unsigned char *block, uint32_t w[80])
{
    int i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16
             | (uint32_t)block[4 * i + 2] << 8 | (uint32_t)block[4 * i + 3];
    for (i = 16; i < 80; i++)
        w[i] = sha1_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
}

/* Process one 64-byte block into the state h. */
static void sha1_block(uint32_t h[5], const unsigned char *block)
{
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    int i;

    sha1_schedule(block, w);
    for (i = 0; i < 80; i++) {
        uint32_t f, k, t;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999u;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1u;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdcu;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6u;
        }
        t = sha1_rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = sha1_rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

static void sha1_init(struct sha1_ctx *c)
{
    static const uint32_t iv[5] = {
        0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u
    };

    memcpy(c->h, iv, sizeof iv);
    c->bytes = 0;
    c->used = 0;
}

/* Feed len bytes of data. */
static void sha1_update(struct sha1_ctx *c, const unsigned char *data, size_t len)
{
    c->bytes += len;
    while (len > 0) {
        size_t n = 64 - c->used;
        if (n > len)
            n = len;
        memcpy(c->block + c->used, data, n);
        c->used += n;
        data += n;
        len -= n;
        if (c->used == 64) {
            sha1_block(c->h, c->block);
            c->used = 0;
        }
    }
}

/* Pad (0x80, zeros, 64-bit big-endian bit length) and write the digest. */
static void sha1_final(struct sha1_ctx *c, unsigned char out[20])
{
    uint64_t bits = c->bytes * 8;
    unsigned char tail[8];
    static const unsigned char pad = 0x80, zero = 0;
    int i;

    for (i = 0; i < 8; i++)
        tail[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha1_update(c, &pad, 1);
    while (c->used != 56)
        sha1_update(c, &zero, 1);
    sha1_update(c, tail, 8);
    for (i = 0; i < 20; i++)
        out[i] = (unsigned char)(c->h[i / 4] >> (24 - 8 * (i % 4)));
}

/* Write the 40 lowercase hex digits of SHA-1(data, len) and a NUL into hex. */
void sha1_hex(const void *data, size_t len, char hex[41])
{
    static const char digits[] = "0123456789abcdef";
    struct sha1_ctx c;
    unsigned char d[20];
    int i;

    sha1_init(&c);
    sha1_update(&c, data, len);
    sha1_final(&c, d);
    for (i = 0; i < 20; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[40] = '\0';
}
