/* keys.h -- the Redis key and channel names (layout in sql/README.md). */
#ifndef RR_KEYS_H
#define RR_KEYS_H

#include <stddef.h>

/* Fixed keys. */
#define KEY_REALMS "hr:realms"       /* ZSET name -> expiry (ms since epoch) */
#define KEY_REALMIP "hr:realmip"     /* HASH name -> client IP of the registration */
#define KEY_BYIP "hr:byip"           /* ZSET (all scores 0) "ip|name" */
#define KEY_METRICS "hr:metrics"     /* HASH series -> count (fcgi/metrics.c) */
#define KEY_MWORKERS "hr:mworkers"   /* HASH "worker|gauge" -> value */
#define KEY_WORKERS "hr:workers"     /* ZSET worker -> expiry of its gauges */
#define KEY_REALMTOK "hr:realmtok"   /* HASH name -> id of the scoped token that registered it */
#define KEY_TOKENS "hr:toks"         /* ZSET token id -> expiry (+inf: never) */
#define KEY_RELAY_ATT "hr:relay:att" /* HASH nonce -> attempt record for the relays */
#define KEY_RELAY_EXP "hr:relay:exp" /* ZSET nonce -> expiry of that record */
#define KEY_RELAY_CHANNEL "hr:relay"  /* the channel the records are published on */

/* Per-realm keys and the realm's pub/sub channel, built from the name:
 *   hr:realm:{name}  HASH sid, addrs, ip, seq, acked
 *   hr:ev:{name}     LIST of "id name data" event records, newest last, <= 16
 *   hr:att:{name}    ZSET nonce -> expiry (ms): connect attempts in flight
 *   hr:ans:{name}    HASH nonce -> answered addresses JSON
 *   hr:ch:{name}     the channel: "E sid id name data", "A nonce addrs", "D sid"
 *   hr:heal:{name}   HASH healed_at, heals, multi: stale-stream healing
 *   hr:tok:{id}      HASH a scoped token's record (token.h), by its id
 *   hr:tokrealms:{id} SET names registered with that token
 * Each writes "prefix + name" into out and returns 0, or -1 if it does not fit. */
enum key_kind { KEY_REALM, KEY_EVENTS, KEY_ATTEMPTS, KEY_ANSWERS, KEY_CHANNEL, KEY_HEAL,
                KEY_TOKEN, KEY_TOKEN_REALMS };

int key_for(enum key_kind kind, const char *name, char *out, size_t outlen);

/* Enough for any key of a name up to RR_NAME_MAX bytes. */
#define KEY_MAX 300

/* What ending a realm's session takes (end_session in sql/common.lua):
 * keys, in the order deregister.lua and kick.lua take them (realm, ev,
 * att, ans, hr:realms, hr:realmip, hr:byip, hr:realmtok), and the
 * realm's channel. keys points into the struct itself: do not copy it. */
#define SESSION_KEYS 8
struct session_keys {
    char realm[KEY_MAX], events[KEY_MAX], attempts[KEY_MAX], answers[KEY_MAX];
    char channel[KEY_MAX];
    const char *keys[SESSION_KEYS];
};

/* Fill k for realm name. 0, or -1 if a key does not fit. */
int session_keys_for(struct session_keys *k, const char *name);

#endif
