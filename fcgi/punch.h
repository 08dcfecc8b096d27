/* punch.h -- Hysteria Realms punch packets: decode and check one with an
 * obfuscation key, and build one (for the tests). Pure, thread-safe.
 *
 *   wire:      salt (8) | masked plaintext (25 .. 1049)
 *   plaintext: "HYRLMv1\0" (8) | type (1: 0x01 hello, 0x02 ack) |
 *              nonce (16) | random padding (0 .. 1024)
 *   mask:      SHA-256(key (32) || salt (8)), repeated every 32 bytes
 *
 * So a packet is 33..1057 bytes. The padding is random and unchecked, so
 * decoding needs only the first 25 plaintext bytes: one SHA-256. */
#ifndef RR_PUNCH_H
#define RR_PUNCH_H

#include <stddef.h>
#include <stdint.h>

#define PUNCH_KEY_LEN 32
#define PUNCH_SALT_LEN 8
#define PUNCH_NONCE_LEN 16
#define PUNCH_PAD_MAX 1024
#define PUNCH_HEAD_LEN 25          /* magic + type + nonce */
#define PUNCH_MIN (PUNCH_SALT_LEN + PUNCH_HEAD_LEN)
#define PUNCH_MAX (PUNCH_MIN + PUNCH_PAD_MAX)

enum punch_type { PUNCH_HELLO = 0x01, PUNCH_ACK = 0x02 };

/* What a valid packet says. */
struct punch {
    uint8_t type;                              /* PUNCH_HELLO or PUNCH_ACK */
    uint8_t nonce[PUNCH_NONCE_LEN];
};

/* Decode the n bytes at p with key into out. 0 if they are a punch packet
 * (length in PUNCH_MIN..PUNCH_MAX, the magic right, a known type), else -1
 * (out untouched). */
int punch_decode(const uint8_t key[PUNCH_KEY_LEN], const uint8_t *p, size_t n,
                 struct punch *out);

/* Build a packet of type and nonce with the given salt and padlen bytes of
 * padding (pad may be NULL for zeros) into out (size outlen). Its length,
 * or 0 if padlen > PUNCH_PAD_MAX or out is too small. */
size_t punch_encode(const uint8_t key[PUNCH_KEY_LEN], const uint8_t salt[PUNCH_SALT_LEN],
                    uint8_t type, const uint8_t nonce[PUNCH_NONCE_LEN],
                    const uint8_t *pad, size_t padlen, uint8_t *out, size_t outlen);

#endif
