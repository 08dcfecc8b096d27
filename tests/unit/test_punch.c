/* test_punch.c -- unit tests of the punch packet codec (fcgi/punch.c):
 * round trips, a packet built by hand from the wire format, bad ones. */
#include <stdint.h>
#include <string.h>

#include <openssl/sha.h>

#include "punch.h"
#include "unit.h"

static const uint8_t key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t salt[8] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7 };
static const uint8_t nonce[16] = { 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };

TEST(punch_round_trip)
{
    uint8_t pad[PUNCH_PAD_MAX], out[PUNCH_MAX + 8];
    struct punch p;

    for (size_t k = 0; k < sizeof pad; k++)
        pad[k] = (uint8_t)(k * 7);
    for (size_t padlen = 0; padlen <= PUNCH_PAD_MAX; padlen += 97) {
        size_t n = punch_encode(key, salt, PUNCH_ACK, nonce, pad, padlen, out, sizeof out);
        ASSERT_EQ_INT(PUNCH_MIN + padlen, n);
        memset(&p, 0, sizeof p);
        ASSERT_EQ_INT(0, punch_decode(key, out, n, &p));
        ASSERT_EQ_INT(PUNCH_ACK, p.type);
        ASSERT_EQ_MEM(nonce, p.nonce, 16);
    }
    ASSERT_EQ_INT(PUNCH_MAX, punch_encode(key, salt, PUNCH_HELLO, nonce, NULL, PUNCH_PAD_MAX,
                                          out, sizeof out));
    ASSERT_EQ_INT(0, punch_decode(key, out, PUNCH_MAX, &p));
    ASSERT_EQ_INT(PUNCH_HELLO, p.type);
}

/* Built here from the wire format: salt, then the plaintext XOR
 * SHA-256(key || salt) repeated every 32 bytes (the padding crosses it). */
TEST(punch_by_hand)
{
    uint8_t in[40], mask[32], pkt[8 + 25 + 40], plain[25 + 40];
    struct punch p;

    memcpy(in, key, 32);
    memcpy(in + 32, salt, 8);
    SHA256(in, sizeof in, mask);
    memcpy(plain, "HYRLMv1\0", 8);
    plain[8] = 0x01;
    memcpy(plain + 9, nonce, 16);
    memset(plain + 25, 0x55, 40);
    memcpy(pkt, salt, 8);
    for (size_t k = 0; k < sizeof plain; k++)
        pkt[8 + k] = plain[k] ^ mask[k % 32];
    ASSERT_EQ_INT(0, punch_decode(key, pkt, sizeof pkt, &p));
    ASSERT_EQ_INT(PUNCH_HELLO, p.type);
    ASSERT_EQ_MEM(nonce, p.nonce, 16);
    uint8_t again[sizeof pkt];
    ASSERT_EQ_INT(sizeof pkt, punch_encode(key, salt, 1, nonce, plain + 25, 40, again, sizeof again));
    ASSERT_EQ_MEM(pkt, again, sizeof pkt);
}

TEST(punch_rejects)
{
    uint8_t out[PUNCH_MAX + 8], other[32];
    struct punch p;
    size_t n = punch_encode(key, salt, PUNCH_HELLO, nonce, NULL, 10, out, sizeof out);

    memcpy(other, key, 32);
    other[31] ^= 1;
    ASSERT_EQ_INT(-1, punch_decode(other, out, n, &p));            /* another key */
    ASSERT_EQ_INT(-1, punch_decode(key, out, PUNCH_MIN - 1, &p));  /* too short */
    ASSERT_EQ_INT(-1, punch_decode(key, out, PUNCH_MAX + 1, &p));  /* too long */
    ASSERT_EQ_INT(-1, punch_decode(key, NULL, n, &p));
    out[0] ^= 1;                                                   /* the salt */
    ASSERT_EQ_INT(-1, punch_decode(key, out, n, &p));
    out[0] ^= 1;
    out[12] ^= 0x20;                                               /* the magic */
    ASSERT_EQ_INT(-1, punch_decode(key, out, n, &p));
    out[12] ^= 0x20;
    ASSERT_EQ_INT(0, punch_decode(key, out, n, &p));
    n = punch_encode(key, salt, 3, nonce, NULL, 0, out, sizeof out); /* unknown type */
    ASSERT_EQ_INT(-1, punch_decode(key, out, n, &p));
    ASSERT_EQ_INT(0, punch_encode(key, salt, 1, nonce, NULL, PUNCH_PAD_MAX + 1, out, sizeof out));
    ASSERT_EQ_INT(0, punch_encode(key, salt, 1, nonce, NULL, 0, out, PUNCH_MIN - 1));
}
