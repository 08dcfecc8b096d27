/* main.c -- hysteria-realm-fcgi: start-up, the request threads, shutdown.
 *
 * Start-up reads the configuration, compiles the name pattern and loads the
 * Lua scripts; any failure there is one line on stderr and exit status 2.
 * Then: the event loop thread, --threads request threads sharing the
 * listening socket, and the main thread waiting for SIGTERM or SIGINT.
 * Signals are blocked in every thread and taken by sigwait() here, so no
 * handler runs inside libfcgi or hiredis. Shutdown stops accepting (the
 * listening socket is shut down, which wakes the threads in accept), lets
 * the request threads finish what they hold, then ends the parked
 * requests and exits 0.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "handlers.h"
#include "log.h"
#include "loop.h"
#include "name.h"
#include "request.h"
#include "scripts.h"

struct worker {
    pthread_t thread;
    int started;
    int listen_fd;
    struct handler_ctx ctx;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct request *r = request_new(w->listen_fd);
    if (r == NULL) {
        log_msg(LOG_ERROR, "request_init_failed", NULL);
        return NULL;
    }
    while (request_accept(r) == 0)
        handle_request(&w->ctx, r);
    request_free(r);
    return NULL;
}

static int start_workers(struct worker *ws, long n, const struct config *cfg,
                         const struct name_matcher *names, struct loop *loop, int fd)
{
    for (long k = 0; k < n; k++) {
        struct worker *w = &ws[k];
        w->listen_fd = fd;
        if (handler_ctx_init(&w->ctx, cfg, names, loop) != 0 ||
            pthread_create(&w->thread, NULL, worker_main, w) != 0)
            return -1;
        w->started = 1;
    }
    return 0;
}

static void stop_workers(struct worker *ws, long n, int fd)
{
    /* Wakes every thread blocked in accept(2) with an error. */
    shutdown(fd, SHUT_RDWR);
    for (long k = 0; k < n; k++) {
        if (ws[k].started)
            pthread_join(ws[k].thread, NULL);
        handler_ctx_free(&ws[k].ctx);
    }
}

static int setup(struct config *cfg, struct name_matcher **names, int argc, char **argv)
{
    char err[512];
    enum config_result cr = config_load(cfg, argc, argv, err, sizeof(err));
    if (cr == CONFIG_HELP || cr == CONFIG_VERSION)
        return 1;
    if (cr != CONFIG_OK) {
        fprintf(stderr, "hysteria-realm-fcgi: %s\n", err);
        return -1;
    }
    log_set_level(cfg->debug ? LOG_DEBUG : LOG_INFO);
    *names = name_compile(cfg->name_pattern, err, sizeof(err));
    if (*names == NULL) {
        fprintf(stderr, "hysteria-realm-fcgi: HYSTERIA_REALM_NAME_PATTERN (--realm-name-pattern): %s\n", err);
        return -1;
    }
    if (scripts_load(cfg->scripts_dir, err, sizeof(err)) != 0) {
        fprintf(stderr, "hysteria-realm-fcgi: %s\n", err);
        return -1;
    }
    return 0;
}

static int serve(const struct config *cfg, const struct name_matcher *names, sigset_t *sigs)
{
    char err[512];
    int sig = 0;
    int fd = request_listen(cfg->listen, err, sizeof(err));
    if (fd < 0) {
        fprintf(stderr, "hysteria-realm-fcgi: %s\n", err);
        return -1;
    }
    struct loop *loop = loop_start(cfg, err, sizeof(err));
    if (loop == NULL) {
        fprintf(stderr, "hysteria-realm-fcgi: %s\n", err);
        return -1;
    }
    struct worker *ws = calloc((size_t)cfg->threads, sizeof(*ws));
    int rc = ws == NULL ? -1 : start_workers(ws, cfg->threads, cfg, names, loop, fd);
    if (rc == 0) {
        log_msg(LOG_INFO, "started", "listen=%s threads=%ld redis=%s",
                cfg->listen ? cfg->listen : "fd0", cfg->threads, cfg->redis_url);
        sigwait(sigs, &sig);
        log_msg(LOG_INFO, "stopping", "signal=%d", sig);
    } else {
        log_msg(LOG_ERROR, "start_failed", "error=\"cannot start request threads\"");
    }
    if (ws != NULL)
        stop_workers(ws, cfg->threads, fd);
    free(ws);
    loop_stop(loop);
    if (cfg->listen != NULL && fd > 0)
        close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct name_matcher *names = NULL;
    sigset_t sigs;

    /* Before libfcgi sets anything up: it keeps handlers that are not default. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    /* libfcgi drains a finished request's socket for up to this long. */
    setenv("LIBFCGI_OS_CLOSE_POLL_TIMEOUT", "500", 0);

    memset(&cfg, 0, sizeof(cfg));
    int rc = setup(&cfg, &names, argc, argv);
    if (rc == 0)
        rc = serve(&cfg, names, &sigs);
    name_free(names);
    scripts_free();
    config_free(&cfg);
    return rc < 0 ? 2 : 0;
}
