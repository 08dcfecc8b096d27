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
};

/* Answer (or hand over) one accepted request. */
void handle_request(struct handler_ctx *h, struct request *r);

#endif
