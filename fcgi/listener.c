/* listener.c -- the FastCGI listening socket: opened, accepted from, paused. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "allow.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "loop.h"

#define BACKLOG 1024
#define ACCEPT_BATCH 64
#define PAUSE_MS 100

struct listener {
    struct loop_io io;
    struct loop *loop;
    int shared;
    int tcp;                     /* check peers against --fcgi-allow */
    uint32_t mask;               /* EPOLLIN, EPOLLEXCLUSIVE when shared */
    int paused, stopped;
    int draining;                /* at stop: accept until the backlog is empty */
    int waiting;                 /* not accepting yet: see listener_start() */
    uint64_t resume_at;
};

static int set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int open_unix(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "cannot listen on %s: path too long", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);        /* left by a worker that did not stop cleanly */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, BACKLOG) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int open_tcp(const char *where, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(where, ':');
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai = NULL;
    size_t hlen = colon ? (size_t)(colon - where) : 0;
    if (colon == NULL || hlen >= sizeof(host)) {
        snprintf(err, errlen, "cannot listen on %s: expected host:port", where);
        return -1;
    }
    memcpy(host, where, hlen);
    host[hlen] = '\0';
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    int rc = getaddrinfo(hlen ? host : NULL, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", where, gai_strerror(rc));
        return -1;
    }
    int one = 1, fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, BACKLOG) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", where, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* systemd socket activation: LISTEN_PID is us and LISTEN_FDS >= 1: fd 3. */
static int handed_fd(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (pid != NULL && fds != NULL && atol(pid) == (long)getpid() && atol(fds) >= 1)
        return 3;
    return 0;
}

int listener_open(const char *where, int *shared, char *err, size_t errlen)
{
    int fd;
    *shared = where == NULL;
    if (where == NULL)
        fd = handed_fd();
    else if (strncmp(where, "unix:", 5) == 0)
        fd = open_unix(where + 5, err, errlen);
    else if (where[0] == '/')
        fd = open_unix(where, err, errlen);
    else
        fd = open_tcp(where, err, errlen);
    if (fd >= 0 && set_nonblock(fd) != 0) {
        snprintf(err, errlen, "listening socket (fd %d): %s", fd, strerror(errno));
        if (!*shared)
            close(fd);
        return -1;
    }
    return fd;
}

/* ---- accepting ---- */

static void pause_accepting(struct listener *ls, int err)
{
    if (!ls->paused)
        log_msg(LOG_WARN, "accept_paused", "error=\"%s\" held=%zu connections=%zu",
                strerror(err), loop_held(ls->loop), conn_count(loop_conns(ls->loop)));
    ls->paused = 1;
    ls->resume_at = loop_now_ms() + PAUSE_MS;
    loop_io_set(ls->loop, &ls->io, 0);
    loop_wake_at(ls->loop, ls->resume_at);
}

static void resume_accepting(struct listener *ls)
{
    if (!ls->paused || ls->stopped || ls->waiting)
        return;
    if (loop_io_set(ls->loop, &ls->io, ls->mask) == 0) {
        ls->paused = 0;
        ls->resume_at = 0;
    }
}

/* Over TCP: 1 if the peer may speak FastCGI to us. */
static int peer_allowed(const struct listener *ls, const struct sockaddr_storage *sa)
{
    char ip[INET6_ADDRSTRLEN] = "unknown";
    if (!ls->tcp || allow_match(&loop_config(ls->loop)->fcgi_allow_list, (const struct sockaddr *)sa))
        return 1;
    if (sa->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip, sizeof(ip));
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip, sizeof(ip));
    log_msg(LOG_WARN, "fcgi_peer_refused", "peer=%s", ip);
    return 0;
}

static void on_accept(struct loop_io *io, uint32_t revents)
{
    struct listener *ls = (struct listener *)((char *)io - offsetof(struct listener, io));
    (void)revents;
    for (int k = 0; (k < ACCEPT_BATCH || ls->draining) && !ls->paused; k++) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof(sa);
        int fd = accept4(io->fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accepting(ls, errno);
            else if (errno != EINTR && errno != ECONNABORTED && errno != EPROTO)
                break;       /* EAGAIN: nothing more (another worker may have taken it) */
            continue;
        }
        if (!peer_allowed(ls, &sa)) {
            close(fd);
            continue;
        }
        conn_open(ls->loop, fd);
    }
}

struct listener *listener_new(struct loop *l, int fd, int shared)
{
    struct sockaddr_storage sa;
    socklen_t salen = sizeof(sa);
    struct listener *ls = calloc(1, sizeof(*ls));
    if (ls == NULL)
        return NULL;
    ls->loop = l;
    ls->shared = shared;
    ls->io.fd = fd;
    ls->io.on_io = on_accept;
    if (getsockname(fd, (struct sockaddr *)&sa, &salen) == 0)
        ls->tcp = sa.ss_family == AF_INET || sa.ss_family == AF_INET6;
    /* Processes sharing the socket: wake one of them per connection. */
    ls->mask = EPOLLIN | (shared ? EPOLLEXCLUSIVE : 0);
    ls->waiting = 1;             /* listener_start() */
    return ls;
}

int listener_start(struct listener *ls)
{
    if (!ls->waiting || ls->stopped)
        return 0;
    ls->waiting = 0;
    return loop_io_set(ls->loop, &ls->io, ls->mask);
}

void listener_stop(struct listener *ls)
{
    if (ls == NULL || ls->stopped)
        return;
    /* Connections the kernel completed but we did not accept yet would be
     * reset by the close: take them, and serve what they send. */
    ls->draining = 1;
    if (!ls->paused && !ls->waiting)
        on_accept(&ls->io, EPOLLIN);
    ls->draining = 0;
    ls->stopped = 1;
    if (!ls->paused && !ls->waiting)
        loop_io_set(ls->loop, &ls->io, 0);
    /* Only our descriptor: a shared socket keeps serving the others. */
    close(ls->io.fd);
    ls->io.fd = -1;
}

void listener_free(struct listener *ls)
{
    listener_stop(ls);
    free(ls);
}

void listener_tick(struct listener *ls, uint64_t now)
{
    if (ls->paused && now >= ls->resume_at)
        resume_accepting(ls);
}

void listener_fd_freed(struct listener *ls)
{
    if (ls != NULL && ls->paused)
        resume_accepting(ls);
}
