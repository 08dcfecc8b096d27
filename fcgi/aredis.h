/* aredis.h -- asynchronous Redis connections on the event loop.
 *
 * Two per worker, both owned by the loop thread: one for script calls and
 * one in subscribe mode. The only file that includes hiredis's async API is
 * aredis.c, which also holds the five-hook adapter that puts a hiredis
 * context on our epoll loop (after hiredis's adapters/libevent.h).
 *
 * A connection reconnects by itself (100 ms, doubling to 2 s) and tells its
 * owner through on_ready / on_lost. hiredis 0.14 has no command timeouts:
 * aredis_tick() drops a connection whose oldest call has waited more than
 * AREDIS_CALL_TIMEOUT_MS, which fails every pending call, so nothing waits
 * forever on a Redis that stopped answering. A reply that says the server
 * is the wrong one (-READONLY, -LOADING, -MASTERDOWN, a missing function)
 * drops the connection too, and the next one finds the right server.
 * With a sentinel:// target, "the right server" is asked of the Sentinels
 * before every connect (sentinel.c), and checked with ROLE.
 *
 * Calls are pipelined: the command connection buffers what a loop turn
 * asks and writes it all in aredis_flush(), at the end of the turn.
 */
#ifndef RR_AREDIS_H
#define RR_AREDIS_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "scripts.h"

#define AREDIS_CALL_TIMEOUT_MS 1000
#define AREDIS_ITEMS_MAX 32          /* array elements without an allocation */
#define AREDIS_ARGS_MAX 24           /* words of a command without an allocation */

struct loop;
struct aredis;

/* A reply, flattened: a top-level integer or string is one item, an array
 * is its elements (one level). err is set when there was no reply (the
 * connection went away) or Redis answered with an error. */
struct aitem {
    int is_int;
    long long i;            /* when is_int */
    const char *s;          /* otherwise; NULL for a nil */
    size_t len;
};
struct aresult {
    int err;
    size_t n;
    const struct aitem *items;
};

/* Called once per call, with the result (valid only during the call). */
typedef void aredis_fn(void *priv, const struct aresult *res);

struct aredis_hooks {
    void (*on_ready)(void *priv);          /* connected and handshaken */
    void (*on_lost)(void *priv);           /* the connection went away */
    /* subscriber only: "message", "subscribe" or "unsubscribe" pushes */
    void (*on_push)(void *priv, const char *kind, const char *channel,
                    size_t chlen, const char *payload, size_t plen);
    void *priv;
    void (*on_fail)(void *priv);           /* a connect ended before ready (may be NULL) */
};

/* COMMANDS: our functions are loaded and the database selected in the
 * handshake; calls are written at the end of the loop turn. SUBSCRIBER:
 * pub/sub. PLAIN: neither, for a Sentinel. */
enum aredis_mode { AREDIS_COMMANDS, AREDIS_SUBSCRIBER, AREDIS_PLAIN };

/* Create and start connecting. NULL on out of memory. */
struct aredis *aredis_new(struct loop *l, const struct redis_target *t,
                          enum aredis_mode mode, const struct aredis_hooks *h);
/* Close; every pending call gets an error result first. */
void aredis_free(struct aredis *a);

int aredis_ready(const struct aredis *a);

/* Reconnect when due, and drop a connection whose calls stopped moving. */
void aredis_tick(struct aredis *a, uint64_t now);

/* Write what the calls of this loop turn buffered. */
void aredis_flush(struct aredis *a);

/* Drop the connection now (its pending calls fail) and reconnect later. */
void aredis_drop(struct aredis *a);

/* The same, after the current read: safe from the connection's own callbacks. */
void aredis_drop_soon(struct aredis *a);

/* Connect to t from the next attempt on (t is kept by the caller). */
void aredis_retarget(struct aredis *a, const struct redis_target *t);

/* A sentinel:// connection: the primary is at host:port. Connects there
 * now if not connected, or moves there if connected elsewhere. */
void aredis_locate(struct aredis *a, const char *host, int port);

/* FCALL the function of script id with keys and args. cb may be NULL
 * (fire and forget). 0, or -1 when not connected (cb is then not called). */
int aredis_script(struct aredis *a, enum script_id id,
                  int nkeys, const char *const *keys,
                  int nargs, const char *const *args,
                  aredis_fn *cb, void *priv);

/* Any command, e.g. PUBLISH. Same contract as aredis_script. */
int aredis_command(struct aredis *a, int argc, const char *const *argv,
                   aredis_fn *cb, void *priv);

/* Subscriber only: (UN)SUBSCRIBE one channel. Confirmations and messages
 * come to on_push. 0 or -1 when not connected. */
int aredis_subscribe(struct aredis *a, const char *channel);
int aredis_unsubscribe(struct aredis *a, const char *channel);

#endif
