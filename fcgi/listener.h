/* listener.h -- the FastCGI listening socket: opened, accepted from, paused.
 *
 * The socket is fd 0 (spawn-fcgi, systemd StandardInput=socket), fd 3 with
 * LISTEN_FDS (systemd socket activation), or one the worker opens itself
 * (--listen). A socket the worker did not open is shared with other
 * processes: at stop the worker only closes its own descriptor, never
 * shuts the socket down.
 *
 * Accepting stops while the process is out of descriptors (EMFILE and the
 * like: logged once) and starts again on the next tick or as soon as a
 * connection closes. Over TCP only peers in --fcgi-allow are kept.
 */
#ifndef RR_LISTENER_H
#define RR_LISTENER_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct listener;

/* The listening socket for --listen where (NULL: fd 0, or LISTEN_FDS).
 * *shared is set when the socket was handed over. Returns the descriptor
 * (non-blocking), or -1 with a message in err. */
int listener_open(const char *where, int *shared, char *err, size_t errlen);

/* Take fd; accepting starts with listener_start(). NULL on failure. */
struct listener *listener_new(struct loop *l, int fd, int shared);

/* Start accepting (once). The loop calls it when Redis is reachable, or
 * after a short while without it: connections wait in the backlog rather
 * than meet a worker that would answer 503 while it connects. 0 or -1. */
int listener_start(struct listener *ls);

/* Stop accepting and let go of the socket (at stop). */
void listener_stop(struct listener *ls);
void listener_free(struct listener *ls);

/* Resume accepting after a pause, when due. */
void listener_tick(struct listener *ls, uint64_t now);

/* A descriptor was closed: resume at once if paused. */
void listener_fd_freed(struct listener *ls);

#endif
