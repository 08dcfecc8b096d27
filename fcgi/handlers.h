/* handlers.h -- the endpoints, as run on a request thread.
 *
 * Short requests (register, heartbeat, deregister, connect answer, and
 * every error) are answered here with one store call. An event stream or a
 * connect is checked here, then handed to the event loop.
 */
#ifndef RR_HANDLERS_H
#define RR_HANDLERS_H

#include "config.h"

struct name_matcher;
struct store;
struct loop;
struct request;

/* What one request thread needs; owned by that thread. */
struct handler_ctx {
    const struct config *cfg;
    const struct name_matcher *names;
    struct store *store;
    struct loop *loop;
    char *ttl_reply;             /* {"ttl":N}\n, the heartbeat reply, made once */
    char *ttl_event;             /* {"ttl":N}, the heartbeat_ack event data */
};

/* Fill h for one request thread, with a store of its own. 0, or -1 on out
 * of memory (h is then freed). */
int handler_ctx_init(struct handler_ctx *h, const struct config *cfg,
                     const struct name_matcher *names, struct loop *loop);
void handler_ctx_free(struct handler_ctx *h);

/* Answer (or hand over) one accepted request. */
void handle_request(struct handler_ctx *h, struct request *r);

#endif
