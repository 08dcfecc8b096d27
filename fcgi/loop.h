/* loop.h -- the event loop thread: parked requests, Redis replies, timers.
 *
 * One loop per worker process. Request threads answer short requests
 * themselves; an event stream or a waiting connect is handed here (the
 * loop_hand_* calls, the only ones that may be made from another thread)
 * and from then on lives as a few hundred bytes: its FastCGI socket in the
 * epoll set, its realm's channel in the subscriber, its deadlines in the
 * loop's lists. See loop.c for the picture.
 */
#ifndef RR_LOOP_H
#define RR_LOOP_H

#include <stdint.h>
#include "config.h"

struct loop;
struct stream_start;
struct waiter_start;

/* A file descriptor watched by the loop. on_io gets the epoll events. */
struct loop_io {
    int fd;
    uint32_t events;                      /* the mask now registered, 0 if none */
    void (*on_io)(struct loop_io *io, uint32_t revents);
};

/* Start the loop thread. NULL with a message in err on failure. */
struct loop *loop_start(const struct config *cfg, char *err, size_t errlen);

/* Ask the loop to stop, close every parked request, and join it. */
void loop_stop(struct loop *l);

/* From any thread: hand over a parked request. The loop owns s or w from
 * now on, including the descriptor. -1 if the loop is stopping (then the
 * caller still owns it and must close the descriptor and free it). */
int loop_hand_stream(struct loop *l, struct stream_start *s);
int loop_hand_waiter(struct loop *l, struct waiter_start *w);

/* Loop thread only. Set the watched events of io (0 removes it). 0 or -1. */
int loop_io_set(struct loop *l, struct loop_io *io, uint32_t events);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t loop_now_ms(void);

/* Loop thread only: the shared parts the parked requests use. */
const struct config *loop_config(const struct loop *l);
struct aredis *loop_redis(const struct loop *l);      /* command connection */
struct bus *loop_bus(const struct loop *l);           /* subscriber */
struct stream_list *loop_streams(const struct loop *l);
struct waiter_list *loop_waiters(const struct loop *l);

/* Loop thread only: free p with fn at the end of this loop turn, when no
 * epoll event of the turn can still point at it. */
void loop_defer_free(struct loop *l, void *p, void (*fn)(void *));

/* Loop thread only: run the loop's timer check no later than at (ms). */
void loop_wake_at(struct loop *l, uint64_t at);

#endif
