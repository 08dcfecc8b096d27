/* config.h -- worker configuration: environment variables and flags, table-driven.
 *
 * Every setting has an environment variable and a flag of the same meaning;
 * flags win. config_load() is called once by main() before any thread starts.
 */
#ifndef RR_CONFIG_H
#define RR_CONFIG_H

#include <stddef.h>
#include "allow.h"
#include "relays.h"
#include "redis_url.h"


struct config {
    /* The contract's settings (SPEC.md "Configuration"). */
    char *token;                 /* --token, HYSTERIA_REALM_TOKEN, or read from token_file */
    char *token_file;            /* --token-file, HYSTERIA_REALM_TOKEN_FILE: first line; SIGHUP re-reads */
    char *token_key_file;        /* --token-key-file: the HMAC key of scoped tokens; NULL = none */
    char *token_key;             /* its first line (NULL: scoped tokens are refused) */
    char *admin_token_file;      /* --admin-token-file: guards the admin API; NULL = no admin API */
    char *admin_token;           /* its first line */
    long max_realms;             /* --max-realms, 65536, 0 = no limit */
    long max_realms_per_ip;      /* --max-realms-per-ip, 4, 0 = no limit */
    char *trusted_proxy_header;  /* --trusted-proxy-header, NULL = none; as given ("X-Forwarded-For") */
    char *trusted_proxy_param;   /* the same as a FastCGI param ("HTTP_X_FORWARDED_FOR"), derived */
    char *name_pattern;          /* --realm-name-pattern */
    int debug;                   /* --debug, HYSTERIA_REALM_DEBUG (true/false/1/0/yes/no) */
    int metrics;                 /* --metrics, HYSTERIA_REALM_METRICS, true */
    char *redis_url;             /* --redis, HYSTERIA_REALM_REDIS: see redis_url.h */
    struct redis_target redis;   /* parsed from redis_url */
    long redis_wait;             /* --redis-wait, 0 = off: replicas a reported change must reach */
    long redis_wait_timeout;     /* --redis-wait-timeout, 200 ms (1..900) */
    int redis_wait_strict;       /* --redis-wait-strict, false: a short WAIT answers 503 */

    /* Extensions (each can be turned off; see README "Extensions"). */
    int heal;                    /* --heal, true: end a realm's stale event stream */
    int status_lookup;           /* --status-lookup, true: GET /v1/{id} */
    char *relay_address;         /* --relay-address: relay instances, NULL = none */
    struct relay_set relays;     /* parsed from relay_address */

    /* The worker's own settings. */
    char *listen;                /* --listen, HYSTERIA_REALM_LISTEN: NULL = FastCGI socket on fd 0;
                                    "/path/sock" or "unix:/path" or "host:port" or ":port" */
    long threads;                /* --threads: ignored since the event loop (kept so old command lines start) */
    long max_held;               /* --max-held, HYSTERIA_REALM_MAX_HELD, 0 = no cap:
                                    event streams + waiting connects per worker */
    long fcgi_timeout;           /* --fcgi-timeout, HYSTERIA_REALM_FCGI_TIMEOUT, 5 s (1..300):
                                    a request's records must arrive within it */
    char *fcgi_allow;            /* --fcgi-allow, HYSTERIA_REALM_FCGI_ALLOW: TCP peers allowed */
    struct allow_list fcgi_allow_list;  /* parsed from fcgi_allow */
    long session_ttl;            /* --session-ttl, HYSTERIA_REALM_SESSION_TTL, 60 s (1..86400) */
    long connect_wait;           /* --connect-wait, HYSTERIA_REALM_CONNECT_WAIT, 10 s (1..60) */
    long keepalive;              /* --keepalive, HYSTERIA_REALM_KEEPALIVE, 20 s (1..3600): SSE comment interval */
    char *scripts_dir;           /* --scripts-dir, HYSTERIA_REALM_SCRIPTS_DIR, compiled-in pkgdatadir */
};

/* What config_load() found. */
enum config_result {
    CONFIG_OK = 0,
    CONFIG_HELP = 1,      /* --help was given: usage printed, exit 0 */
    CONFIG_VERSION = 2,   /* --version was given: version printed, exit 0 */
    CONFIG_ERROR = -1     /* err holds one line saying what is wrong */
};

/* Fill cfg from defaults, then the environment, then argv (flags as
 * "--name value" or "--name=value"; "--debug" alone means true).
 * On error writes one line (no newline) into err and returns CONFIG_ERROR;
 * cfg is then freed. */
enum config_result config_load(struct config *cfg, int argc, char **argv,
                               char *err, size_t errlen);

/* Read a token from the first line of path into a malloc'd *out. 0, or
 * -1 with a message in err. */
int config_read_token(const char *path, char **out, char *err, size_t errlen);

/* Free every string config_load() allocated. Safe on a zeroed struct. */
void config_free(struct config *cfg);

/* Print the usage text (the table of settings) to f (a FILE *). */
void config_usage(void *f);

#endif
