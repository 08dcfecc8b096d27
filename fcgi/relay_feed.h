/* relay_feed.h -- what the relay learns from Redis, and the counters it
 * adds there. The rendezvous (sql/connect_begin.lua) keeps each connect
 * attempt's record in the hash hr:relay:att and publishes it on hr:relay;
 * the feed SUBSCRIBEs to hr:relay, then reads hr:relay:att (HSCAN) on a
 * second, command connection for what was published while it was not
 * listening, and hands every record to a callback. A lost connection is
 * made again with backoff (100 ms doubling to 2 s) and the hash read again.
 *
 * Both connections live on a thread of the feed's own, where every Redis
 * call may block (for at most about a second each): the relay's epoll
 * loop never waits on Redis, so a Redis that hangs (SIGSTOP, a dead
 * link) does not hold up a relayed datagram. The thread parses records
 * and queues them; an eventfd in the loop's epoll set (data.u32 = the tag
 * given) wakes the loop, which calls the callback, on its own thread.
 * Counters are handed over the same way and added to Redis once a second.
 * Logs msg=redis_unreachable once per outage and msg=redis_ready when
 * back. The only file of the relay that includes hiredis (records are
 * parsed by relay_record.c). */
#ifndef RR_RELAY_FEED_H
#define RR_RELAY_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "redis_url.h"
#include "relay_table.h"

struct relay_feed;

/* Called with every record read (published or in the hash). */
typedef void (*relay_feed_fn)(void *ctx, const struct relay_spec *s);

/* A feed from target (not copied: it must outlive the feed) whose wake-up
 * eventfd joins epfd under tag; its thread starts connecting at once.
 * NULL with errno set if out of memory, or no eventfd or thread could be
 * made (errno 0: out of memory). */
struct relay_feed *relay_feed_new(const struct redis_target *target, int epfd, uint32_t tag,
                                  relay_feed_fn fn, void *ctx);

/* Stop the thread (after it has added the last counts, if Redis is up)
 * and free everything. */
void relay_feed_free(struct relay_feed *f);

/* The wake-up eventfd is readable: call the callback with every record
 * queued (on the caller's thread). */
void relay_feed_readable(struct relay_feed *f);

/* Add values[k] to the series fields[k] (HINCRBY hr:metrics) for the n
 * fields: taken at once; the thread adds them in one MULTI/EXEC within a
 * second, and keeps them while Redis is away. */
void relay_feed_incr(struct relay_feed *f, size_t n, const char *const *fields,
                     const long long *values);

#endif
