/* loop.h -- the worker's one event loop: sockets, Redis replies, timers, signals.
 *
 * A worker process is one thread running one loop, the shape of nginx and
 * Redis: every FastCGI connection, both Redis connections and the signals
 * are file descriptors in one epoll set, and nothing blocks. See loop.c
 * for the picture. Everything here is for that one thread.
 */
#ifndef RR_LOOP_H
#define RR_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

struct loop;
struct name_matcher;

/* A file descriptor watched by the loop. on_io gets the epoll events. */
struct loop_io {
    int fd;
    uint32_t events;                      /* the mask now registered, 0 if none */
    void (*on_io)(struct loop_io *io, uint32_t revents);
};

/* Set up the loop: epoll, signals (SIGTERM, SIGINT and SIGHUP must
 * already be blocked), the Redis connections, the listening socket
 * listen_fd (owned: closed at the end unless shared). cfg->token is
 * replaced on SIGHUP. NULL with a message in err. */
struct loop *loop_new(struct config *cfg, const struct name_matcher *names,
                      int listen_fd, int listen_shared, char *err, size_t errlen);

/* Serve until SIGTERM or SIGINT, then end every request and return 0. */
int loop_run(struct loop *l);

void loop_free(struct loop *l);

/* Set the watched events of io (0 removes it). 0 or -1. */
int loop_io_set(struct loop *l, struct loop_io *io, uint32_t events);

/* Milliseconds of CLOCK_MONOTONIC, read once per loop turn. */
uint64_t loop_now_ms(void);

/* The shared parts the requests use. */
const struct config *loop_config(const struct loop *l);
const struct name_matcher *loop_names(const struct loop *l);
struct aredis *loop_redis(const struct loop *l);      /* command connection */
struct sentinel *loop_sentinel(const struct loop *l);  /* NULL without sentinel:// */
struct durable *loop_durable(const struct loop *l);    /* NULL without --redis-wait */
struct bus *loop_bus(const struct loop *l);           /* subscriber */
struct stream_list *loop_streams(const struct loop *l);
struct waiter_list *loop_waiters(const struct loop *l);
struct conn_list *loop_conns(const struct loop *l);
struct listener *loop_listener(const struct loop *l);
int loop_stopping(const struct loop *l);

/* Held requests (event streams and waiting connects) of this worker. */
size_t loop_held(const struct loop *l);

/* Free p with fn at the end of this loop turn, when no epoll event of the
 * turn can still point at it. */
void loop_defer_free(struct loop *l, void *p, void (*fn)(void *));

/* Run the loop's timer check no later than at (ms). */
void loop_wake_at(struct loop *l, uint64_t at);

#endif
