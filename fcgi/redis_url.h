/* redis_url.h -- where the state lives: Redis URLs parsed into a target.
 *
 *   redis://[[user]:password@]host[:port][/db]
 *   unix:///path[?db=N]
 *   sentinel://[[user]:password@]host:port[,host:port...]/master[?db=N&sentinel_password=P]
 *
 * A sentinel target names no server: the worker asks the Sentinels for the
 * primary of the master name at run time (sentinel.c). The user and
 * password authenticate to the Redis servers; the Sentinels get
 * sentinel_password, or no AUTH at all. Pure: unit-tested and fuzzed.
 */
#ifndef RR_REDIS_URL_H
#define RR_REDIS_URL_H

#include <stddef.h>

#define REDIS_URL_FORMS "redis://[[user]:password@]host[:port][/db], unix:///path[?db=N] or " \
    "sentinel://[[user]:password@]host:port[,host:port...]/master[?db=N]"
#define REDIS_SENTINELS_MAX 8

struct redis_node {
    char *host;
    int port;
};

struct redis_target {
    char *host;        /* NULL for a unix socket or a sentinel target */
    int port;
    char *path;        /* unix socket path, NULL for TCP */
    int db;            /* SELECT index, 0 by default */
    char *user;        /* ACL user for AUTH, NULL for the default user */
    char *password;    /* AUTH password, NULL for none */
    char *master_name; /* sentinel://: the master the Sentinels watch; NULL otherwise */
    char *sentinel_password;          /* AUTH for the Sentinels, NULL for none */
    size_t nsentinels;
    struct redis_node sentinels[REDIS_SENTINELS_MAX];
};

/* Parse url into t (zeroed first). 0, or -1 with a message in err that
 * never repeats the URL (it may hold a password); t is then freed. */
int redis_url_parse(const char *url, struct redis_target *t, char *err, size_t errlen);

/* Free the strings of t and zero it. Safe on a zeroed target. */
void redis_target_free(struct redis_target *t);

/* Where t points, for logs: never a password. */
void redis_target_describe(const struct redis_target *t, char *buf, size_t len);

#endif
