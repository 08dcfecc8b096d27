/* waiter.h -- held connects (POST /v1/{id}/connect), on the event loop.
 *
 * A waiter joins its realm's channel and, in the same turn, records the
 * attempt and publishes the punch (connect_begin.lua); if the subscription
 * becomes live only after that, it asks once whether an answer came
 * meanwhile (connect_end.lua peek), so no answer is missed and no connect
 * waits for a SUBSCRIBE round trip. It answers with the
 * holder's addresses as soon as they are published, 404 at once when the
 * realm is deregistered, and after --connect-wait seconds the realm's stored
 * addresses (connect_end.lua).
 */
#ifndef RR_WAITER_H
#define RR_WAITER_H

#include <stddef.h>
#include <stdint.h>
#include "contract.h"

struct conn;
struct connect_body;
struct loop;

struct waiter_list *waiter_list_new(void);
void waiter_list_free(struct waiter_list *wl);
size_t waiter_count(const struct waiter_list *wl);

/* Hold the connect request on c for realm name with the client's body cb
 * (from the client's IP ip; relay_ok 0: its token gets no relay address).
 * Answers the request itself on any failure. */
void waiter_open(struct loop *l, struct conn *c, const char *name, const char *ip,
                 int relay_ok, const struct connect_body *cb);

/* Answer the waits that reached their deadline; returns the next deadline
 * (UINT64_MAX if none). */
uint64_t waiter_tick(struct loop *l, uint64_t now);

/* The worker stops: answer every waiter now with what it would get at its
 * deadline (the realm's stored addresses), as soon as its attempt is
 * recorded. */
void waiter_stop_all(struct loop *l);

/* The end: answer every waiter still there 503. */
void waiter_close_all(struct loop *l);

#endif
