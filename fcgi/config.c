/* config.c -- worker configuration from defaults, environment and flags.
 *
 * Table-driven: one row per setting (flag, environment variable, type,
 * default, bounds, field). Each setting's final text is chosen first
 * (flag over environment over default, an empty environment variable counts
 * as unset), then converted and checked, so an error names the source that
 * gave the bad value. Called once by main() before any thread starts. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "number.h"
#include "relays.h"

#ifndef RR_SCRIPTS_DIR
#define RR_SCRIPTS_DIR "/usr/local/share/hysteria-realm"
#endif
#ifndef RR_VERSION
#define RR_VERSION "unknown"
#endif

#define CFG_PROGRAM "hysteria-realm-fcgi"
#define CFG_NUMBER_MAX 1000000000L

enum cfg_type {
    CFG_STRING,     /* text, must not be empty */
    CFG_OPTIONAL,   /* text, empty means none (NULL) */
    CFG_NUMBER,     /* whole decimal number within [min, max], into a long */
    CFG_BOOL        /* true/false/1/0/yes/no, into an int */
};

struct cfg_row {
    const char *flag;      /* without the leading "--" */
    const char *env;
    enum cfg_type type;
    const char *def;       /* default as text; NULL: none */
    long min, max;
    size_t offset;         /* of the field in struct config */
    const char *help;
};

#define CFG_FIELD(f) offsetof(struct config, f)

static const struct cfg_row cfg_table[] = {
    { "token", "HYSTERIA_REALM_TOKEN", CFG_OPTIONAL, NULL, 0, 0, CFG_FIELD(token),
      "shared bearer token for register and connect (this or --token-file is required)" },
    { "token-file", "HYSTERIA_REALM_TOKEN_FILE", CFG_OPTIONAL, NULL, 0, 0, CFG_FIELD(token_file),
      "file holding the token (first line); read again on SIGHUP" },
    { "token-key-file", "HYSTERIA_REALM_TOKEN_KEY_FILE", CFG_OPTIONAL, NULL, 0, 0,
      CFG_FIELD(token_key_file),
      "file holding the key of scoped tokens (first line, at least 32 characters); without it only the shared token works" },
    { "admin-token-file", "HYSTERIA_REALM_ADMIN_TOKEN_FILE", CFG_OPTIONAL, NULL, 0, 0,
      CFG_FIELD(admin_token_file),
      "file holding the admin API's token (first line); without it there is no admin API" },
    { "max-realms", "HYSTERIA_REALM_MAX_REALMS", CFG_NUMBER, "65536",
      0, CFG_NUMBER_MAX, CFG_FIELD(max_realms), "total realms; 0 = no limit" },
    { "max-realms-per-ip", "HYSTERIA_REALM_MAX_REALMS_PER_IP", CFG_NUMBER, "4",
      0, CFG_NUMBER_MAX, CFG_FIELD(max_realms_per_ip), "realms per client IP; 0 = no limit" },
    { "trusted-proxy-header", "HYSTERIA_REALM_TRUSTED_PROXY_HEADER", CFG_OPTIONAL, NULL,
      0, 0, CFG_FIELD(trusted_proxy_header),
      "header holding the real client IP (leftmost value); default: none" },
    { "realm-name-pattern", "HYSTERIA_REALM_NAME_PATTERN", CFG_STRING,
      "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", 0, 0, CFG_FIELD(name_pattern),
      "PCRE2 regex that realm names must match" },
    { "debug", "HYSTERIA_REALM_DEBUG", CFG_BOOL, "false", 0, 1, CFG_FIELD(debug),
      "debug logs for registrations, sessions, punches" },
    { "metrics", "HYSTERIA_REALM_METRICS", CFG_BOOL, "true", 0, 1, CFG_FIELD(metrics),
      "count Prometheus metrics (served on /metrics where the proxy sets HR_METRICS=1)" },
    { "redis", "HYSTERIA_REALM_REDIS", CFG_STRING, "redis://127.0.0.1:6379/0",
      0, 0, CFG_FIELD(redis_url), "where the state lives: " REDIS_URL_FORMS },
    { "redis-wait", "HYSTERIA_REALM_REDIS_WAIT", CFG_NUMBER, "0", 0, 64, CFG_FIELD(redis_wait),
      "replicas a register, deregister or connect answer must reach (WAIT) before its reply; 0 = off" },
    { "redis-wait-timeout", "HYSTERIA_REALM_REDIS_WAIT_TIMEOUT", CFG_NUMBER, "200", 1, 900,
      CFG_FIELD(redis_wait_timeout), "milliseconds a WAIT may take; past it the change is answered anyway and counted" },
    { "redis-wait-strict", "HYSTERIA_REALM_REDIS_WAIT_STRICT", CFG_BOOL, "false", 0, 1,
      CFG_FIELD(redis_wait_strict), "a change whose WAIT timed out short of the replicas is answered 503" },
    { "heal", "HYSTERIA_REALM_HEAL", CFG_BOOL, "true", 0, 1, CFG_FIELD(heal),
      "a heartbeat from another IP than the realm's event stream ends the stale session (answered 404)" },
    { "status-lookup", "HYSTERIA_REALM_STATUS_LOOKUP", CFG_BOOL, "true", 0, 1, CFG_FIELD(status_lookup),
      "answer GET /v1/{id} with the realm's status (an extension; off: 405 as before)" },
    { "relay-address", "HYSTERIA_REALM_RELAY_ADDRESS", CFG_OPTIONAL, NULL, 0, 0, CFG_FIELD(relay_address),
      "relay instances given to both peers of a connect: IP:port[-port][,IP:port[-port]] per instance, instances "
      "separated by spaces; default: none" },
    { "listen", "HYSTERIA_REALM_LISTEN", CFG_OPTIONAL, NULL, 0, 0, CFG_FIELD(listen),
      "FastCGI socket: /path, unix:/path, host:port or :port; default: fd 0" },
    { "threads", "HYSTERIA_REALM_THREADS", CFG_NUMBER, "4", 1, 256,
      CFG_FIELD(threads), "ignored: one event loop serves every request (kept for old command lines)" },
    { "max-held", "HYSTERIA_REALM_MAX_HELD", CFG_NUMBER, "0", 0, CFG_NUMBER_MAX,
      CFG_FIELD(max_held), "event streams + waiting connects per worker, past it 503; 0 = no cap but descriptors" },
    { "fcgi-timeout", "HYSTERIA_REALM_FCGI_TIMEOUT", CFG_NUMBER, "5", 1, 300,
      CFG_FIELD(fcgi_timeout), "seconds a FastCGI connection may take to send a request" },
    { "fcgi-allow", "HYSTERIA_REALM_FCGI_ALLOW", CFG_STRING, "127.0.0.0/8,::1", 0, 0,
      CFG_FIELD(fcgi_allow), "peers allowed to connect to a TCP --listen (IPs, CIDR blocks)" },
    { "session-ttl", "HYSTERIA_REALM_SESSION_TTL", CFG_NUMBER, "60", 1, 86400,
      CFG_FIELD(session_ttl), "session lifetime in seconds" },
    { "connect-wait", "HYSTERIA_REALM_CONNECT_WAIT", CFG_NUMBER, "10", 1, 60,
      CFG_FIELD(connect_wait), "seconds a connect waits for the answer" },
    { "keepalive", "HYSTERIA_REALM_KEEPALIVE", CFG_NUMBER, "20", 1, 3600,
      CFG_FIELD(keepalive), "seconds between SSE keepalive comments" },
    { "scripts-dir", "HYSTERIA_REALM_SCRIPTS_DIR", CFG_STRING, RR_SCRIPTS_DIR,
      0, 0, CFG_FIELD(scripts_dir), "directory of the Lua scripts" },
};

#define CFG_ROWS (sizeof cfg_table / sizeof cfg_table[0])

enum cfg_source { SRC_DEFAULT, SRC_ENV, SRC_FLAG };

/* The text chosen for one setting and where it came from. */
struct cfg_raw {
    const char *value;
    enum cfg_source src;
};

/* Parse a boolean (true/false/1/0/yes/no, any case) into *out. 0 or -1. */
static int cfg_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "true", "1", "yes" };
    static const char *const no[] = { "false", "0", "no" };
    size_t i;

    for (i = 0; s != NULL && i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Name of the source of a setting for messages: "--flag", "ENV_VAR" or
 * "default of --flag", written into buf. */
static const char *cfg_who(const struct cfg_row *r, enum cfg_source src,
                           char *buf, size_t size)
{
    if (src == SRC_ENV)
        snprintf(buf, size, "%s", r->env);
    else
        snprintf(buf, size, "%s--%s", src == SRC_DEFAULT ? "default of " : "", r->flag);
    return buf;
}

/* Store text into the char * field of row r. 0, or -1 when out of memory. */
static int cfg_set_string(struct config *cfg, const struct cfg_row *r, const char *text)
{
    char **field = (char **)(void *)((char *)cfg + r->offset);

    free(*field);
    *field = NULL;
    if (text == NULL)
        return 0;
    *field = strdup(text);
    return *field != NULL ? 0 : -1;
}

/* Convert the text of row r into its field of cfg. 0, or -1 with err set. */
static int cfg_apply(struct config *cfg, const struct cfg_row *r,
                     const struct cfg_raw *raw, char *err, size_t errlen)
{
    char who[64];
    void *field = (char *)cfg + r->offset;
    const char *v = raw->value;

    switch (r->type) {
    case CFG_NUMBER:
        if (number_parse(v, v != NULL ? strlen(v) : 0, r->min, r->max, field) == 0)
            return 0;
        snprintf(err, errlen, "%s: bad value \"%s\" (expected a whole number from %ld to %ld)",
                 cfg_who(r, raw->src, who, sizeof who), v != NULL ? v : "", r->min, r->max);
        return -1;
    case CFG_BOOL:
        if (cfg_parse_bool(v, field) == 0)
            return 0;
        snprintf(err, errlen, "%s: bad value \"%s\" (expected true, false, 1, 0, yes or no)",
                 cfg_who(r, raw->src, who, sizeof who), v != NULL ? v : "");
        return -1;
    case CFG_STRING:
        if (v == NULL || *v == '\0') {
            snprintf(err, errlen, "%s: must not be empty", cfg_who(r, raw->src, who, sizeof who));
            return -1;
        }
        break;
    case CFG_OPTIONAL:
        if (v != NULL && *v == '\0')
            v = NULL;
        break;
    }
    if (cfg_set_string(cfg, r, v) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* The row whose flag is the n bytes at name, or NULL. */
static const struct cfg_row *cfg_find(const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < CFG_ROWS; i++)
        if (strlen(cfg_table[i].flag) == n && strncmp(cfg_table[i].flag, name, n) == 0)
            return &cfg_table[i];
    return NULL;
}

/* 1 if argument a looks like a flag ("--something"). */
static int cfg_is_flag(const char *a)
{
    return a != NULL && a[0] == '-' && a[1] == '-' && a[2] != '\0';
}

/* The value of flag r given as "--flag value" at argv[*i] (advancing *i
 * past it), "true" for a boolean flag standing alone, or NULL if missing. */
static const char *cfg_flag_value(const struct cfg_row *r, int argc, char **argv, int *i)
{
    const char *next = *i + 1 < argc ? argv[*i + 1] : NULL;
    int dummy;

    if (r->type == CFG_BOOL) {
        if (next == NULL || cfg_parse_bool(next, &dummy) != 0)
            return "true";
    } else if (next == NULL || cfg_is_flag(next)) {
        return NULL;
    }
    ++*i;
    return next;
}

/* Handle argv[*i] (and its value, advancing *i). CONFIG_OK, CONFIG_HELP,
 * CONFIG_VERSION, or CONFIG_ERROR with err set. */
static enum config_result cfg_parse_arg(int argc, char **argv, int *i,
                                        struct cfg_raw *raw, char *err, size_t errlen)
{
    const char *a = argv[*i], *name, *eq, *value;
    const struct cfg_row *r;
    size_t n;

    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        config_usage(stdout);
        return CONFIG_HELP;
    }
    if (strcmp(a, "--version") == 0) {
        printf("%s %s\n", CFG_PROGRAM, RR_VERSION);
        return CONFIG_VERSION;
    }
    if (!cfg_is_flag(a)) {
        snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", a);
        return CONFIG_ERROR;
    }
    name = a + 2;
    eq = strchr(name, '=');
    n = eq != NULL ? (size_t)(eq - name) : strlen(name);
    r = cfg_find(name, n);
    if (r == NULL) {
        snprintf(err, errlen, "unknown flag --%.*s (see --help)", (int)n, name);
        return CONFIG_ERROR;
    }
    value = eq != NULL ? eq + 1 : cfg_flag_value(r, argc, argv, i);
    if (value == NULL) {
        snprintf(err, errlen, "flag --%s needs a value", r->flag);
        return CONFIG_ERROR;
    }
    raw[r - cfg_table].value = value;
    raw[r - cfg_table].src = SRC_FLAG;
    return CONFIG_OK;
}

/* Choose each setting's text: default, then environment, then flags. */
static enum config_result cfg_collect(int argc, char **argv, struct cfg_raw *raw,
                                      char *err, size_t errlen)
{
    enum config_result res = CONFIG_OK;
    size_t k;
    int i;

    for (k = 0; k < CFG_ROWS; k++) {
        const char *e = getenv(cfg_table[k].env);
        raw[k].value = cfg_table[k].def;
        raw[k].src = SRC_DEFAULT;
        if (e != NULL && *e != '\0') {
            raw[k].value = e;
            raw[k].src = SRC_ENV;
        }
    }
    for (i = 1; i < argc && res == CONFIG_OK; i++)
        res = cfg_parse_arg(argc, argv, &i, raw, err, errlen);
    return res;
}

/* Derive trusted_proxy_param ("HTTP_X_FORWARDED_FOR") from the header name.
 * 0, or -1 with err set. */
static int cfg_derive_param(struct config *cfg, char *err, size_t errlen)
{
    const char *h = cfg->trusted_proxy_header;
    size_t i, n;

    if (h == NULL)
        return 0;
    n = strlen(h);
    cfg->trusted_proxy_param = malloc(n + 6);
    if (cfg->trusted_proxy_param == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(cfg->trusted_proxy_param, "HTTP_", 5);
    for (i = 0; i < n; i++) {
        char c = h[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (c == '-')
            c = '_';
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
            snprintf(err, errlen, "trusted proxy header \"%s\" is not a header name "
                     "(letters, digits, '-' and '_' only)", h);
            return -1;
        }
        cfg->trusted_proxy_param[5 + i] = c;
    }
    cfg->trusted_proxy_param[5 + n] = '\0';
    return 0;
}

/* A setting that failed to parse: "<who>: <msg>" into err; -1. */
static int cfg_error(const struct cfg_raw *raw, const char *flag, const char *msg,
                     char *err, size_t errlen)
{
    const struct cfg_row *r = cfg_find(flag, strlen(flag));
    char who[64];
    snprintf(err, errlen, "%s: %s", cfg_who(r, raw[r - cfg_table].src, who, sizeof who), msg);
    return -1;
}

/* The first line of path (when set) into *out: at least min characters. 0, or -1 with err. */
static int cfg_read_secret(const struct cfg_raw *raw, const char *flag, const char *path, char **out,
                           size_t min, char *err, size_t errlen)
{
    char msg[256];
    if (path == NULL)
        return 0;
    if (config_read_token(path, out, msg, sizeof msg) != 0)
        return cfg_error(raw, flag, msg, err, errlen);
    if (strlen(*out) < min) {
        snprintf(msg, sizeof msg, "%s holds fewer than %zu characters", path, min);
        return cfg_error(raw, flag, msg, err, errlen);
    }
    return 0;
}

/* Convert every setting, derive the rest, check what is required. */
static int cfg_finish(struct config *cfg, const struct cfg_raw *raw,
                      char *err, size_t errlen)
{
    char msg[256];
    size_t k;

    for (k = 0; k < CFG_ROWS; k++)
        if (cfg_apply(cfg, &cfg_table[k], &raw[k], err, errlen) != 0)
            return -1;
    if (cfg->token != NULL && cfg->token_file != NULL) {
        snprintf(err, errlen, "give the token once: --token or --token-file, not both");
        return -1;
    }
    if (cfg->token_file != NULL) {
        if (config_read_token(cfg->token_file, &cfg->token, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "--token-file: %s", msg);
            return -1;
        }
    }
    if (cfg->token == NULL) {
        snprintf(err, errlen, "HYSTERIA_REALM_TOKEN (--token) or HYSTERIA_REALM_TOKEN_FILE "
                 "(--token-file) is required");
        return -1;
    }
    if (cfg_read_secret(raw, "token-key-file", cfg->token_key_file, &cfg->token_key, 32,
                        err, errlen) != 0 ||
        cfg_read_secret(raw, "admin-token-file", cfg->admin_token_file, &cfg->admin_token, 16,
                        err, errlen) != 0)
        return -1;
    if (cfg_derive_param(cfg, err, errlen) != 0)
        return -1;
    if (allow_parse(cfg->fcgi_allow, &cfg->fcgi_allow_list, msg, sizeof msg) != 0)
        return cfg_error(raw, "fcgi-allow", msg, err, errlen);
    if (redis_url_parse(cfg->redis_url, &cfg->redis, msg, sizeof msg) != 0)
        return cfg_error(raw, "redis", msg, err, errlen);
    if (relays_parse(cfg->relay_address, &cfg->relays, msg, sizeof msg) != 0)
        return cfg_error(raw, "relay-address", msg, err, errlen);
    return 0;
}

/* The first line of path, without its line end and surrounding white
 * space, into a malloc'd *out. 0, or -1 with err (which never holds the
 * token). */
int config_read_token(const char *path, char **out, char *err, size_t errlen)
{
    char buf[1024];
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    size_t start = 0, len = line ? strlen(line) : 0;
    while (len > 0 && strchr(" \t\r\n", buf[len - 1]) != NULL)
        len--;
    while (start < len && (buf[start] == ' ' || buf[start] == '\t'))
        start++;
    if (len == start) {
        snprintf(err, errlen, "%s holds no token on its first line", path);
        return -1;
    }
    char *t = strndup(buf + start, len - start);
    explicit_bzero(buf, sizeof buf);
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = t;
    return 0;
}

/* Fill cfg from defaults, the environment, then argv. */
enum config_result config_load(struct config *cfg, int argc, char **argv,
                               char *err, size_t errlen)
{
    struct cfg_raw raw[CFG_ROWS];
    enum config_result res;

    memset(cfg, 0, sizeof *cfg);
    if (errlen > 0)
        err[0] = '\0';
    res = cfg_collect(argc, argv, raw, err, errlen);
    if (res == CONFIG_OK && cfg_finish(cfg, raw, err, errlen) != 0)
        res = CONFIG_ERROR;
    if (res != CONFIG_OK)
        config_free(cfg);
    return res;
}

/* Free every string config_load() allocated and zero cfg. */
void config_free(struct config *cfg)
{
    size_t k;

    if (cfg == NULL)
        return;
    for (k = 0; k < CFG_ROWS; k++)
        if (cfg_table[k].type == CFG_STRING || cfg_table[k].type == CFG_OPTIONAL)
            (void)cfg_set_string(cfg, &cfg_table[k], NULL);
    free(cfg->trusted_proxy_param);
    free(cfg->token_key);
    free(cfg->admin_token);
    redis_target_free(&cfg->redis);
    relays_free(&cfg->relays);
    memset(cfg, 0, sizeof *cfg);
}

/* Print the usage text, the table of settings, to f (a FILE *). */
void config_usage(void *f)
{
    FILE *out = f != NULL ? f : stdout;
    char arg[64];
    size_t k;

    fprintf(out, "Usage: %s [--flag value | --flag=value]...\n\n"
            "Hysteria Realms rendezvous server: a FastCGI worker over Redis.\n"
            "Every flag has an environment variable of the same meaning; flags win.\n\n",
            CFG_PROGRAM);
    for (k = 0; k < CFG_ROWS; k++) {
        const struct cfg_row *r = &cfg_table[k];
        snprintf(arg, sizeof arg, "--%s%s", r->flag,
                 r->type == CFG_NUMBER ? " N" : r->type == CFG_BOOL ? "[=BOOL]" : " VALUE");
        fprintf(out, "  %-30s %s\n      %s", arg, r->env, r->help);
        if (r->type == CFG_NUMBER)
            fprintf(out, " (default %s, %ld..%ld)", r->def, r->min, r->max);
        else if (r->def != NULL)
            fprintf(out, " (default %s)", r->def);
        fprintf(out, "\n");
    }
    fprintf(out, "  %-30s print this text and exit\n  %-30s print the version and exit\n",
            "--help", "--version");
}
