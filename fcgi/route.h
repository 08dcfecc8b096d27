/* route.h -- the route table: method and path to endpoint (pure).
 *
 * Paths are at the root: /v1/{id}, /v1/{id}/events, /v1/{id}/heartbeat,
 * /v1/{id}/connect, /v1/{id}/connects/{nonce}. The path given is the raw
 * request path (REQUEST_URI without the query string); each segment is
 * percent-decoded. The name is not checked against the pattern here.
 */
#ifndef RR_ROUTE_H
#define RR_ROUTE_H

#include <stddef.h>
#include "contract.h"

enum route_endpoint {
    EP_NONE = 0,       /* unknown path: 404 not_found */
    EP_REGISTER,       /* POST   /v1/{id} */
    EP_DEREGISTER,     /* DELETE /v1/{id} */
    EP_EVENTS,         /* GET    /v1/{id}/events */
    EP_HEARTBEAT,      /* POST   /v1/{id}/heartbeat */
    EP_CONNECT,        /* POST   /v1/{id}/connect */
    EP_ANSWER,         /* POST   /v1/{id}/connects/{nonce} */
    EP_STATUS          /* GET    /v1/{id}: the status lookup (ROUTE_EXT_STATUS) */
};

/* Extensions: routes a real peer never uses, each on only when asked. */
#define ROUTE_EXT_STATUS 1u

enum route_auth {
    AUTH_TOKEN,        /* the realm token */
    AUTH_SESSION       /* the realm's session id */
};

struct route_match {
    enum route_endpoint ep;        /* EP_NONE when no path matched */
    int method_ok;                 /* 0: the path is known but not for this method (405) */
    const char *allow;             /* methods the path takes, for the Allow header ("POST, DELETE") */
    enum route_auth auth;
    int parks;                     /* 1 if the request is handed to the event loop */
    char name[RR_NAME_MAX + 1];    /* decoded {id} */
    size_t name_len;               /* may include bytes that fail the pattern */
    int name_too_long;             /* decoded {id} longer than RR_NAME_MAX */
    char nonce[RR_NONCE_HEX * 3 + 1]; /* decoded {nonce}, EP_ANSWER only */
    int nonce_bad;                 /* {nonce} too long to be a nonce, or not decodable */
};

/* Match method (e.g. "POST") and path against the table. Always fills m;
 * m->ep == EP_NONE means 404. A HEAD is treated as the GET route's method
 * mismatch (405), like any other method the route does not list.
 * A percent-decoding failure ("%zz", "%00", an encoded "/") in {id} leaves
 * the route matched with name_len 0 (the caller answers 400); in {nonce} it
 * sets nonce_bad; in a fixed segment it makes EP_NONE. */
void route_match(const char *method, const char *path, struct route_match *m);

/* The same, with the extension routes of ext (ROUTE_EXT_* bits) on. */
void route_match_ext(const char *method, const char *path, unsigned ext, struct route_match *m);

#endif
