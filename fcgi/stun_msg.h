/* stun_msg.h -- STUN Binding requests in, Binding success responses out
 * (RFC 8489; pure: no sockets, no state, any thread).
 *
 * A request is answered only if it is a well-formed RFC 5389/8489 Binding
 * request; everything else is ignored (stun_answer returns 0), never
 * answered with an error response:
 *   - at least 20 bytes, the two top bits 0, type 0x0001 exactly, magic
 *     cookie 0x2112A442, length field == len - 20 and a multiple of 4;
 *   - attributes within bounds, each padded to 4 bytes;
 *   - a FINGERPRINT (0x8028), if present, is the last attribute, 4 bytes,
 *     and correct (zlib crc32 of what precedes it, XOR 0x5354554e);
 *   - no comprehension-required attribute (type < 0x8000) other than the
 *     tolerated ones below, before any MESSAGE-INTEGRITY. Where RFC 8489
 *     says 420 (Unknown Attribute) the request is ignored instead.
 *     Comprehension-optional ones (SOFTWARE 0x8022, ...) are skipped.
 * Tolerated comprehension-required attributes, ignored (there is no
 * authentication here, the answer carries no MESSAGE-INTEGRITY): USERNAME
 * 0x0006, MESSAGE-INTEGRITY 0x0008, REALM 0x0014, NONCE 0x0015,
 * MESSAGE-INTEGRITY-SHA256 0x001C, USERHASH 0x001E, and ICE's PRIORITY
 * 0x0024 and USE-CANDIDATE 0x0025 (RFC 8445), so that the sample request
 * of RFC 5769 and ICE-style checks are answered. Attributes after a
 * MESSAGE-INTEGRITY(-SHA256) are ignored, as RFC 8489 section 14.5 says,
 * but still bounds-checked; FINGERPRINT still must be last. RFC 5780's
 * CHANGE-REQUEST 0x0003, RESPONSE-PORT 0x0027 and PADDING 0x0026 are not
 * supported: requests with them are ignored.
 *
 * Classic RFC 3489 requests (no magic cookie in bytes 4-7) are ignored:
 * their responses cannot be told from an attacker's, and every client a
 * Hysteria peer uses (and turnutils_stunclient) sends RFC 5389 requests.
 *
 * The answer: Binding success response 0x0101 with the request's
 * transaction id, XOR-MAPPED-ADDRESS (0x0020), MAPPED-ADDRESS (0x0001) for
 * RFC 3489-era clients, FINGERPRINT (0x8028); nothing else. An IPv4-mapped
 * IPv6 source (::ffff:a.b.c.d) is answered as IPv4. At most 20 + 12 + 12
 * + 8 = 52 bytes for IPv4, 20 + 24 + 24 + 8 = 76 for IPv6.
 *
 * Amplification: an answer is at most STUN_ANSWER_SLACK (64) bytes longer
 * than its request (checked: a longer one is not made). The smallest
 * request (20 bytes) gets the largest ratio: 52/20 for IPv4, 76/20 for
 * IPv6; the rate limit per source in stun_main.c bounds the rest. */
#ifndef RR_STUN_MSG_H
#define RR_STUN_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define STUN_HEADER_LEN 20
#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_FINGERPRINT_XOR 0x5354554eu
#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_ATTR_MAPPED_ADDRESS 0x0001
#define STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define STUN_ATTR_FINGERPRINT 0x8028
#define STUN_ANSWER_MAX 76         /* IPv6: 20 + 24 + 24 + 8 */
#define STUN_ANSWER_SLACK 64       /* an answer is at most len + this */

/* The answer to the len bytes of req received from the address from (a
 * sockaddr_in or sockaddr_in6), written to out (outcap bytes, at least
 * STUN_ANSWER_MAX to be able to answer). Its length, or 0 when the packet
 * must be ignored: not a well-formed Binding request (see above), from an
 * unknown address family, an answer longer than len + STUN_ANSWER_SLACK
 * or than outcap. */
int stun_answer(const uint8_t *req, size_t len, const struct sockaddr *from,
                uint8_t *out, size_t outcap);

/* The FINGERPRINT value of the n bytes of msg that precede the attribute
 * (whose length field already counts it): crc32 XOR 0x5354554e. */
uint32_t stun_fingerprint(const uint8_t *msg, size_t n);

#endif
