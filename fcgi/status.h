/* status.h -- the result vocabulary shared by the store, the handlers and the loop.
 *
 * Store calls return one of these. The integer values are also what the Lua
 * scripts in sql/ return as their first element, so keep them in step with
 * sql/README.md.
 */
#ifndef RR_STATUS_H
#define RR_STATUS_H

enum store_status {
    STORE_OK = 0,
    STORE_TAKEN = 1,          /* register: realm name already registered */
    STORE_REALM_LIMIT = 2,    /* register: global realm limit reached */
    STORE_IP_LIMIT = 3,       /* register: per-IP realm limit reached */
    STORE_BAD_SESSION = 4,    /* session id wrong, missing or expired */
    STORE_NO_REALM = 5,       /* connect: realm not registered */
    STORE_RATE_LIMITED = 6,   /* connect: too many attempts in flight */
    STORE_NO_ATTEMPT = 7,     /* connect answer: no attempt for that nonce */
    STORE_HEALED = 8,         /* heartbeat: the stream was stale, the session ended */
    STORE_TOKEN_GONE = 9,     /* register: the scoped token was revoked or expired */
    STORE_QUOTA = 10,         /* register: the scoped token's quota of live realms */
    STORE_DISPLACED = 11,     /* events: a newer stream of the session holds the realm */
    STORE_REREAD = 12,        /* token_revoke: a realm joined the token's set: read it again */
    STORE_UNAVAILABLE = -1    /* Redis unreachable or answered with an error */
};

#endif
