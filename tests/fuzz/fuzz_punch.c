/* fuzz_punch.c -- libFuzzer harness for the punch packet codec
 * (fcgi/punch.c).
 *
 * Input: 32 bytes of obfs key, then the datagram. punch_decode must agree
 * with a plain reading of the wire format here (reference): valid exactly
 * when 33..1057 bytes whose unmasked head is "HYRLMv1\0" and type 1 or 2,
 * with the same type and nonce. A valid packet, encoded again with its
 * salt, type, nonce and unmasked padding, is the same bytes. Inputs too
 * short for a key decode nothing. A broken invariant aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "punch.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_punch: check failed at %s:%d: %s\n",       \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* The plaintext of p (n bytes, n >= 8) under key into plain (n - 8 bytes). */
static void unmask(const uint8_t *key, const uint8_t *p, size_t n, uint8_t *plain)
{
    uint8_t in[40], mask[32];

    memcpy(in, key, 32);
    memcpy(in + 32, p, 8);
    SHA256(in, sizeof in, mask);
    for (size_t k = 8; k < n; k++)
        plain[k - 8] = p[k] ^ mask[(k - 8) % 32];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t plain[PUNCH_MAX], again[PUNCH_MAX];
    struct punch p;

    if (size < PUNCH_KEY_LEN)
        return 0;
    const uint8_t *key = data, *pkt = data + PUNCH_KEY_LEN;
    size_t n = size - PUNCH_KEY_LEN;
    int ok = punch_decode(key, pkt, n, &p) == 0;
    int ref = 0;
    if (n >= PUNCH_MIN && n <= PUNCH_MAX) {
        unmask(key, pkt, n, plain);
        ref = memcmp(plain, "HYRLMv1\0", 8) == 0 && (plain[8] == 1 || plain[8] == 2);
    }
    CHECK(ok == ref);
    if (!ok)
        return 0;
    CHECK(p.type == plain[8]);
    CHECK(memcmp(p.nonce, plain + 9, PUNCH_NONCE_LEN) == 0);
    size_t m = punch_encode(key, pkt, p.type, p.nonce, plain + 25, n - PUNCH_MIN, again,
                            sizeof again);
    CHECK(m == n && memcmp(again, pkt, n) == 0);
    return 0;
}
