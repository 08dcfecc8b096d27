/* request.h -- one FastCGI request as a request thread sees it.
 *
 * The only file that includes libfcgi (fcgiapp.h) is request.c, and it is
 * also the only one that touches the request's socket (libfcgi's ipcFd),
 * to hand a parked request to the event loop. One struct request per
 * request thread, reused for every request that thread accepts.
 */
#ifndef RR_REQUEST_H
#define RR_REQUEST_H

#include <stddef.h>

struct request;

/* Set up libfcgi (once, before any thread starts; SIGPIPE must already be
 * ignored) and open the listening socket: NULL for the socket on fd 0,
 * else a unix socket path or "host:port" / ":port". Returns the socket, or
 * -1 with a message in err. */
int request_listen(const char *where, char *err, size_t errlen);

struct request *request_new(int listen_fd);
void request_free(struct request *r);

/* Wait for the next request (finishing the previous one). 0, or -1 when
 * the listening socket was shut down. */
int request_accept(struct request *r);

/* A FastCGI parameter (REQUEST_METHOD, HTTP_AUTHORIZATION, ...) or NULL. */
const char *request_param(const struct request *r, const char *name);

enum body_read {
    BODY_READ_OK = 0,
    BODY_READ_TOO_LARGE = 1,     /* more than cap bytes: the rest was discarded */
    BODY_READ_ERROR = -1         /* the connection failed */
};

/* Read the request body to its end into buf (at most cap bytes kept);
 * *len gets the bytes kept, and buf[*len] is set to NUL (buf has cap + 1
 * bytes). */
enum body_read request_read_body(struct request *r, char *buf, size_t cap, size_t *len);

/* Send a whole response: status, optional extra header lines ("Allow:
 * POST\r\n"), and body (NULL for none) as application/json. */
void request_reply(struct request *r, int status, const char *extra,
                   const char *body);

/* Let go of the request without ending it: libfcgi's buffers are freed,
 * the socket and request id are given to the caller, and the request
 * object is ready for the next accept. 0, or -1 (then the request is
 * still owned here and must be answered). */
int request_detach(struct request *r, int *fd, int *request_id);

#endif
