/* store.h -- Redis state for the request threads: one C call per Lua script.
 *
 * Synchronous hiredis, one struct store per thread (a hiredis context is not
 * thread-safe). Every call connects on demand (connect timeout 1 s, command
 * timeout 2 s), so a worker whose Redis went away recovers by itself on the
 * next request once Redis is back; until then calls return STORE_UNAVAILABLE
 * and the caller answers 503 store_unavailable. No call leaves state half
 * written: each is one script, atomic in Redis.
 *
 * The only file that includes the synchronous hiredis API is store.c.
 */
#ifndef RR_STORE_H
#define RR_STORE_H

#include <stddef.h>
#include "status.h"
#include "config.h"

struct store;

/* A store for target; does not connect yet. NULL only on out of memory. */
struct store *store_new(const struct redis_target *target);
void store_free(struct store *s);

/* The realm limits and session lifetime the scripts enforce. */
struct store_limits {
    long max_realms;         /* 0 = no limit */
    long max_per_ip;         /* 0 = no limit */
    long ttl_ms;             /* session lifetime */
};

/* register.lua: make a realm with session sid (32 hex), addresses addrs_json
 * (a JSON array), from client ip. STORE_OK, STORE_TAKEN, STORE_REALM_LIMIT,
 * STORE_IP_LIMIT or STORE_UNAVAILABLE. */
enum store_status store_register(struct store *s, const char *name,
                                 const char *sid, const char *addrs_json,
                                 const char *ip, const struct store_limits *lim);

/* heartbeat.lua: check sid, refresh the lifetime to lim->ttl_ms, replace the
 * addresses if addrs_json is not NULL, and put a heartbeat_ack event with
 * data event_json on the realm's stream. STORE_OK, STORE_BAD_SESSION,
 * STORE_UNAVAILABLE. */
enum store_status store_heartbeat(struct store *s, const char *name,
                                  const char *sid, const char *addrs_json,
                                  const char *event_json,
                                  const struct store_limits *lim);

/* deregister.lua: check sid, remove every key of the realm, drop its counts,
 * publish "D sid" so streams close and waiting connects fail.
 * STORE_OK, STORE_BAD_SESSION, STORE_UNAVAILABLE. */
enum store_status store_deregister(struct store *s, const char *name,
                                   const char *sid);

/* session.lua: is sid the live session of name? On STORE_OK *pttl_ms (if not
 * NULL) gets the session's remaining life. STORE_OK, STORE_BAD_SESSION,
 * STORE_UNAVAILABLE. Changes nothing. */
enum store_status store_session(struct store *s, const char *name,
                                const char *sid, long long *pttl_ms);

/* connect_answer.lua: check sid, check an attempt for nonce is in flight,
 * store addrs_json as its answer and publish "A nonce addrs" to wake the
 * waiting connect. STORE_OK, STORE_BAD_SESSION, STORE_NO_ATTEMPT,
 * STORE_UNAVAILABLE. nonce is the attempt key: the 32 hex digits lowercased
 * by the caller (connect records attempts under the lowercased nonce too). */
enum store_status store_connect_answer(struct store *s, const char *name,
                                       const char *sid, const char *nonce,
                                       const char *addrs_json);

/* A one-line description of the last failure (for logs), never NULL. */
const char *store_last_error(const struct store *s);

#endif
