/* relay_feed.h -- what the relay learns from Redis, and the counters it
 * adds there. The rendezvous (sql/connect_begin.lua) keeps each connect
 * attempt's record in the hash hr:relay:att and publishes it on hr:relay;
 * the feed SUBSCRIBEs to hr:relay, then reads hr:relay:att (HSCAN) on a
 * second, command connection for what was published while it was not
 * listening, and hands every record to a callback. A lost connection is
 * made again with backoff (100 ms doubling to 2 s) and the hash read again.
 *
 * Made for the relay's single epoll loop: the subscriber's descriptor is
 * in the caller's epoll set (data.u32 = the tag given) and is read only
 * when readable (redisBufferRead + redisGetReplyFromReader), so only a
 * (re)connect blocks, for at most about a second per step. Logs
 * msg=redis_unreachable once per outage and msg=redis_ready when back.
 * The only file of the relay that includes hiredis and json-c. */
#ifndef RR_RELAY_FEED_H
#define RR_RELAY_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "redis_url.h"
#include "relay_table.h"

struct relay_feed;

/* Called with every record read (published or in the hash). */
typedef void (*relay_feed_fn)(void *ctx, const struct relay_spec *s);

/* A feed from target (not copied: it must outlive the feed) whose
 * subscriber joins epfd under tag. Not connected yet: relay_feed_tick
 * connects. NULL if out of memory. */
struct relay_feed *relay_feed_new(const struct redis_target *target, int epfd, uint32_t tag,
                                  relay_feed_fn fn, void *ctx);
void relay_feed_free(struct relay_feed *f);

/* Connect when down and the backoff has passed (mono_ms: monotonic). */
void relay_feed_tick(struct relay_feed *f, uint64_t mono_ms);

/* The subscriber's descriptor is readable: read and hand on what came. */
void relay_feed_readable(struct relay_feed *f, uint64_t mono_ms);

/* 1 while both connections are up. */
int relay_feed_up(const struct relay_feed *f);

/* HINCRBY hr:metrics fields[k] values[k] for the n fields, in one
 * MULTI/EXEC on the command connection. 0, or -1 (down, or it failed:
 * nothing was added; the feed reconnects). */
int relay_feed_incr(struct relay_feed *f, size_t n, const char *const *fields,
                    const long long *values, uint64_t mono_ms);

/* Parse the record JSON (len bytes) into s. 0, or -1 with err set. */
int relay_record_parse(const char *json, size_t len, struct relay_spec *s,
                       char *err, size_t errlen);

#endif
