/* sentinel.h -- find the Redis primary through Redis Sentinel, and follow it.
 *
 * With --redis sentinel://..., a worker's Redis connections name no server.
 * Each time one of them (attached here) connects, it asks sentinel_want();
 * the locator asks a Sentinel "SENTINEL get-master-addr-by-name" and hands
 * the answer to every attached connection (aredis_locate), which connects
 * there and checks with ROLE that it reached the primary. A second
 * connection, subscribed to a Sentinel's +switch-master, moves every
 * attached connection to a new primary as soon as the Sentinels promote
 * one; a -READONLY reply or a lost connection leads back here too. A
 * Sentinel that is unreachable, or does not know the master, is left for
 * the next one in the URL's list. Loop thread only.
 */
#ifndef RR_SENTINEL_H
#define RR_SENTINEL_H

#include <stdint.h>
#include "redis_url.h"

#define SENTINEL_ATTACHED_MAX 4

struct loop;
struct aredis;
struct sentinel;

/* Start asking the Sentinels of t (a sentinel:// target, kept by the
 * caller). NULL on out of memory. */
struct sentinel *sentinel_new(struct loop *l, const struct redis_target *t);
void sentinel_free(struct sentinel *s);

/* A Redis connection that follows the primary. 0, or -1 when full. */
int sentinel_attach(struct sentinel *s, struct aredis *a);
void sentinel_detach(struct sentinel *s, const struct aredis *a);

/* An attached connection is about to connect: find the primary. The
 * answer comes to every attached connection through aredis_locate(). */
void sentinel_want(struct sentinel *s);

/* Reconnect to the Sentinels when due; drop a stuck one. */
void sentinel_tick(struct sentinel *s, uint64_t now);

#endif
