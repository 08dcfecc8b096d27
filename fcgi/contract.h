/* contract.h -- sizes fixed by the contract (SPEC.md), in one place. */
#ifndef RR_CONTRACT_H
#define RR_CONTRACT_H

#define RR_BODY_MAX 4096          /* request bodies above this are refused (413) */
#define RR_ADDR_MAX 8             /* addresses per list */
#define RR_ADDR_STRLEN 56         /* "[" 45-char IPv6 "]:" 5-digit port + NUL, rounded */
#define RR_IP_STRLEN 46           /* INET6_ADDRSTRLEN */
#define RR_NAME_MAX 255           /* hard cap on a realm name, whatever the pattern */
#define RR_SESSION_HEX 32         /* session id: 16 random bytes as lowercase hex */
#define RR_NONCE_HEX 32
#define RR_OBFS_HEX 64
#define RR_EVENT_BUFFER 16        /* events kept per session for a stream */
#define RR_ATTEMPTS_MAX 16        /* connect attempts in flight per realm */

#endif
