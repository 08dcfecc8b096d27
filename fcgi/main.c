/* main.c -- hysteria-realm-fcgi: start-up, the event loop, shutdown.
 *
 * Start-up reads the configuration, compiles the name pattern, reads the
 * function library and opens (or takes over) the listening socket; any
 * failure there is one line on stderr and exit status 2. Then the one
 * event loop serves until SIGTERM or SIGINT (blocked here and read from a
 * signalfd in the loop, so no handler runs inside a library), ends the
 * held requests, and the process exits 0. SIGHUP reads --token-file again.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "handlers.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "name.h"
#include "scripts.h"

/* Each held stream costs a descriptor: take all the kernel allows. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_msg(LOG_WARN, "rlimit_nofile", "error=\"%s\"", strerror(errno));
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
    metrics_init(cfg->metrics, cfg->max_realms, cfg->max_realms_per_ip);
    if (handlers_init(cfg) != 0) {
        fprintf(stderr, "hysteria-realm-fcgi: out of memory\n");
        return -1;
    }
    return 0;
}

static int serve(struct config *cfg, const struct name_matcher *names)
{
    char err[512], where[320];
    int shared;
    int fd = listener_open(cfg->listen, &shared, err, sizeof(err));
    if (fd < 0) {
        fprintf(stderr, "hysteria-realm-fcgi: %s\n", err);
        return -1;
    }
    struct loop *l = loop_new(cfg, names, fd, shared, err, sizeof(err));
    if (l == NULL) {
        fprintf(stderr, "hysteria-realm-fcgi: %s\n", err);
        if (!shared)
            close(fd);
        return -1;
    }
    redis_target_describe(&cfg->redis, where, sizeof(where));
    log_msg(LOG_INFO, "started", "listen=%s%s redis=%s pid=%ld",
            cfg->listen ? cfg->listen : shared && fd == 3 ? "systemd" : "fd0",
            shared ? " shared=yes" : "", where, (long)getpid());
    int rc = loop_run(l);
    loop_free(l);
    log_msg(LOG_INFO, "stopped", NULL);
    return rc;
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct name_matcher *names = NULL;
    sigset_t sigs;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    raise_nofile();

    memset(&cfg, 0, sizeof(cfg));
    int rc = setup(&cfg, &names, argc, argv);
    if (rc == 0)
        rc = serve(&cfg, names);
    handlers_free();
    name_free(names);
    scripts_free();
    config_free(&cfg);
    return rc < 0 ? 2 : 0;
}
