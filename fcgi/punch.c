/* punch.c -- decode and build Hysteria Realms punch packets (see punch.h).
 * Pure and thread-safe; the only file that includes libcrypto. */
#include <string.h>

#include <openssl/sha.h>

#include "punch.h"

static const uint8_t punch_magic[8] = { 'H', 'Y', 'R', 'L', 'M', 'v', '1', '\0' };

/* The mask of salt under key: SHA-256(key || salt). */
static void punch_mask(const uint8_t key[PUNCH_KEY_LEN], const uint8_t salt[PUNCH_SALT_LEN],
                       uint8_t mask[SHA256_DIGEST_LENGTH])
{
    uint8_t in[PUNCH_KEY_LEN + PUNCH_SALT_LEN];

    memcpy(in, key, PUNCH_KEY_LEN);
    memcpy(in + PUNCH_KEY_LEN, salt, PUNCH_SALT_LEN);
    SHA256(in, sizeof in, mask);
}

int punch_decode(const uint8_t key[PUNCH_KEY_LEN], const uint8_t *p, size_t n,
                 struct punch *out)
{
    uint8_t mask[SHA256_DIGEST_LENGTH], head[PUNCH_HEAD_LEN];

    if (p == NULL || n < PUNCH_MIN || n > PUNCH_MAX)
        return -1;
    punch_mask(key, p, mask);
    for (size_t k = 0; k < PUNCH_HEAD_LEN; k++)      /* 25 < 32: one mask block */
        head[k] = p[PUNCH_SALT_LEN + k] ^ mask[k];
    if (memcmp(head, punch_magic, sizeof punch_magic) != 0
        || (head[8] != PUNCH_HELLO && head[8] != PUNCH_ACK))
        return -1;
    out->type = head[8];
    memcpy(out->nonce, head + 9, PUNCH_NONCE_LEN);
    return 0;
}

size_t punch_encode(const uint8_t key[PUNCH_KEY_LEN], const uint8_t salt[PUNCH_SALT_LEN],
                    uint8_t type, const uint8_t nonce[PUNCH_NONCE_LEN],
                    const uint8_t *pad, size_t padlen, uint8_t *out, size_t outlen)
{
    uint8_t mask[SHA256_DIGEST_LENGTH];
    size_t n = PUNCH_MIN + padlen;

    if (padlen > PUNCH_PAD_MAX || outlen < n)
        return 0;
    memcpy(out, salt, PUNCH_SALT_LEN);
    memcpy(out + PUNCH_SALT_LEN, punch_magic, sizeof punch_magic);
    out[PUNCH_SALT_LEN + 8] = type;
    memcpy(out + PUNCH_SALT_LEN + 9, nonce, PUNCH_NONCE_LEN);
    if (padlen > 0) {
        if (pad != NULL)
            memcpy(out + PUNCH_MIN, pad, padlen);
        else
            memset(out + PUNCH_MIN, 0, padlen);
    }
    punch_mask(key, salt, mask);
    for (size_t k = 0; k < n - PUNCH_SALT_LEN; k++)
        out[PUNCH_SALT_LEN + k] ^= mask[k % SHA256_DIGEST_LENGTH];
    return n;
}
