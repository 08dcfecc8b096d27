/* bus.h -- the worker's Redis subscriber: realm channels and who listens.
 *
 * hiredis 0.14 keeps one callback per channel, so the bus keeps its own map
 * channel -> listeners and subscribes each channel once, however many
 * streams and waiting connects of this worker listen on it. Loop thread
 * only.
 *
 * A listener is told on_active each time its channel's subscription is
 * confirmed: first after joining, and again after the subscriber
 * reconnected. Messages published while the subscriber was away are lost
 * (pub/sub is fire-and-forget), so on_active is where a listener re-reads
 * the state it cares about.
 */
#ifndef RR_BUS_H
#define RR_BUS_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

struct loop;
struct aredis;
struct bus;
struct bus_channel;

struct bus_listener {
    struct bus_listener *prev, *next;     /* in the channel's list */
    struct bus_channel *ch;               /* NULL when not joined */
    void (*on_active)(struct bus_listener *l);
    void (*on_message)(struct bus_listener *l, const char *msg, size_t len);
};

/* cmd is the loop's command connection, used to publish liveness pings. */
struct bus *bus_new(struct loop *l, const struct redis_target *t, struct aredis *cmd);
void bus_free(struct bus *b);

/* Listen on the channel of realm name. on_active may be called before this
 * returns (the channel was already subscribed). 0, or -1 on out of memory. */
int bus_join(struct bus *b, const char *name, struct bus_listener *l);

/* Stop listening. Safe on a listener that is not joined. May be called
 * from the listener's own on_message. */
void bus_leave(struct bus *b, struct bus_listener *l);

/* Reconnect, and check the subscriber still delivers (a token published to
 * the worker's own channel must come back within AREDIS_CALL_TIMEOUT_MS). */
void bus_tick(struct bus *b, uint64_t now);

/* A channel message's fields ("E <sid> <id> <event> <data>", "A <nonce>
 * <addrs>", "D <sid>": see sql/README.md). */
struct bus_field {
    const char *s;
    size_t len;
};

/* Split msg at single spaces into at most n fields, the last taking the
 * rest of the message. Returns how many fields were found. */
int bus_split(const char *msg, size_t len, struct bus_field *f, int n);

/* 1 if field f is exactly the NUL-terminated string s. */
int bus_field_is(const struct bus_field *f, const char *s);

/* 1 while the subscriber is connected. */
int bus_ready(const struct bus *b);

/* Channels subscribed (for logs and tests). */
size_t bus_channel_count(const struct bus *b);

#endif
