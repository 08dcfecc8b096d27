/* admin_tokens.c -- hysteria-realm-admin token add, token list and token
 * revoke ID: scoped tokens (fcgi/token.h) made with sql/token_add.lua,
 * read from hr:toks and hr:tok:{id}, revoked with sql/token_revoke.lua.
 *
 * token add prints the token once, with realm:// URLs ready to paste; it
 * is stored nowhere: Redis keeps only its keyed hash (mac), and no command
 * prints a mac. Times are Redis's (TIME), shown in UTC. Blocking;
 * single-threaded.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "admin_out.h"
#include "admin_tokens.h"
#include "config.h"
#include "hex.h"
#include "keys.h"
#include "number.h"
#include "redis_sync.h"
#include "revoke_call.h"
#include "scripts.h"
#include "status.h"
#include "token.h"

#define TOKEN_KEY_MIN 32        /* characters of the token key (as the workers ask) */
#define TOKEN_QUOTA_MAX 1000000000L
#define TOKEN_ADD_TRIES 3       /* ids drawn before giving up on collisions */
#define TOKEN_HOST_MAX 256
#define TOKEN_REVOKE_TRIES 3    /* reads of the token's realms before giving up */

/* -- the options ----------------------------------------------------------- */

/* Which commands take an option. */
enum { TOK_ADD = 1, TOK_LIST = 2, TOK_REVOKE = 4 };

struct tok_args {
    const char *key_file;
    const char *scope;
    const char *realm;
    const char *prefix;
    const char *connect_realm;
    const char *connect_prefix;
    const char *quota;
    const char *expires;
    const char *label;
    const char *url;
    int no_relay;
};

struct tok_opt {
    const char *name;       /* "--scope" */
    int takes_value;
    size_t field;           /* offsetof(struct tok_args, ...) */
    const char *env;        /* default from this variable, or NULL */
    unsigned cmds;          /* TOK_* taking it */
    const char *help;
};

#define TOK_FIELD(f) offsetof(struct tok_args, f)

static const struct tok_opt tok_opts[] = {
    { "--token-key-file", 1, TOK_FIELD(key_file), "HYSTERIA_REALM_TOKEN_KEY_FILE", TOK_ADD,
      "the workers' key of scoped tokens (first line, at least 32 characters)" },
    { "--scope", 1, TOK_FIELD(scope), NULL, TOK_ADD, "register, connect or both (required)" },
    { "--realm", 1, TOK_FIELD(realm), NULL, TOK_ADD, "the one name it may register" },
    { "--prefix", 1, TOK_FIELD(prefix), NULL, TOK_ADD, "it may register names starting with this" },
    { "--connect-realm", 1, TOK_FIELD(connect_realm), NULL, TOK_ADD,
      "the one realm it may connect to" },
    { "--connect-prefix", 1, TOK_FIELD(connect_prefix), NULL, TOK_ADD,
      "it may connect to names starting with this" },
    { "--quota", 1, TOK_FIELD(quota), NULL, TOK_ADD,
      "live realms it may hold at once (default 0: no limit)" },
    { "--expires", 1, TOK_FIELD(expires), NULL, TOK_ADD,
      "lifetime: 30d, 12h, 15m, 90s, seconds, or never (the default)" },
    { "--label", 1, TOK_FIELD(label), NULL, TOK_ADD, "a note shown by token list" },
    { "--no-relay", 0, TOK_FIELD(no_relay), NULL, TOK_ADD,
      "connects with it are never given the relay" },
    { "--url", 1, TOK_FIELD(url), "HYSTERIA_REALM_PUBLIC_URL", TOK_ADD,
      "https://HOST[:PORT] (or http://) of the rendezvous, for the printed URLs" },
};
#define TOK_NOPTS (sizeof(tok_opts) / sizeof(tok_opts[0]))

static const struct tok_opt *tok_opt_find(const char *arg)
{
    for (size_t k = 0; k < TOK_NOPTS; k++) {
        size_t n = strlen(tok_opts[k].name);
        if (strncmp(arg, tok_opts[k].name, n) == 0 && (arg[n] == '\0' || arg[n] == '='))
            return &tok_opts[k];
    }
    return NULL;
}

int admin_tokens_option(const char *arg)
{
    const struct tok_opt *o = tok_opt_find(arg);
    return o == NULL ? 0 : o->takes_value ? 2 : 1;
}

void admin_tokens_usage(FILE *f)
{
    fprintf(f, "\nOptions of token add:\n");
    for (size_t k = 0; k < TOK_NOPTS; k++) {
        char head[64];
        snprintf(head, sizeof(head), "%s%s", tok_opts[k].name,
                 tok_opts[k].takes_value ? " VALUE" : "");
        fprintf(f, "  %-24s %s%s%s\n", head, tok_opts[k].help, tok_opts[k].env ? "; env " : "",
                tok_opts[k].env ? tok_opts[k].env : "");
    }
}

/* Take the options of argv (up to "--") into args, then the defaults from
 * the environment; the words after "--" are *words (*nwords of them).
 * cmd is the command (TOK_*), what its name. An admin_exit. */
static int tok_parse(unsigned cmd, const char *what, int argc, char **argv,
                     struct tok_args *args, char ***words, int *nwords)
{
    int i = 0;
    memset(args, 0, sizeof(*args));
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const struct tok_opt *o = tok_opt_find(argv[i]);
        if (o == NULL) {
            out_error("unknown option %s (see --help)", argv[i]);
            return ADMIN_USAGE;
        }
        if (!(o->cmds & cmd)) {
            out_error("%s is not an option of %s", o->name, what);
            return ADMIN_USAGE;
        }
        size_t n = strlen(o->name);
        char *field = (char *)args + o->field;
        if (!o->takes_value) {
            if (argv[i][n] == '=') {
                out_error("%s takes no value", o->name);
                return ADMIN_USAGE;
            }
            *(int *)(void *)field = 1;
            continue;
        }
        const char *val = argv[i][n] == '=' ? argv[i] + n + 1 : NULL;
        if (val == NULL) {
            if (i + 1 >= argc) {
                out_error("%s needs a value", o->name);
                return ADMIN_USAGE;
            }
            val = argv[++i];
        }
        *(const char **)(void *)field = val;
    }
    if (i < argc)
        i++;                    /* the "--" */
    *words = argv + i;
    *nwords = argc - i;
    for (size_t k = 0; k < TOK_NOPTS; k++) {
        const struct tok_opt *o = &tok_opts[k];
        const char **field = (const char **)(void *)((char *)args + o->field);
        const char *env = o->env && (o->cmds & cmd) ? getenv(o->env) : NULL;
        if (o->takes_value && *field == NULL && env != NULL && env[0] != '\0')
            *field = env;
    }
    return ADMIN_OK;
}

/* -- shared ------------------------------------------------------------------ */

/* Load the function library (as kick does). An admin_exit. */
static int tok_load_library(struct admin_ctx *a)
{
    char err[512];
    if (scripts_load(a->scripts_dir, err, sizeof(err)) != 0) {
        out_error("%s (see --scripts-dir)", err);
        return ADMIN_USAGE;
    }
    if (redis_sync_load_library(a->redis, err, sizeof(err)) != 0) {
        out_error("%s", err);
        return a->redis->err ? ADMIN_UNREACHABLE : ADMIN_NOT_FOUND;
    }
    return ADMIN_OK;
}

/* ms since the epoch as "2025-01-31T12:00:00Z" into buf. Returns buf. */
static char *utc(long long ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "?");
    return buf;
}

/* What a binding allows as text: the realm, "prefix*", or "any". */
static const char *binding(const char *realm, const char *prefix, char *buf, size_t len)
{
    if (realm[0])
        snprintf(buf, len, "%s", realm);
    else if (prefix[0])
        snprintf(buf, len, "%s*", prefix);
    else
        snprintf(buf, len, "any");
    return buf;
}

/* Add the record's fields to r: typed for JSON (empty bindings null,
 * expires null for never), readable in text. Never the mac. 0, or -1 if
 * out of memory. */
static int rec_fields(struct out_record *r, const struct token_rec *rec, long long now, int json)
{
    char at[40];
    int bad;
#define NZ(s) ((s)[0] ? (s) : NULL)
    bad = out_str(r, "id", rec->id) != 0 ||
          out_str(r, "scope", token_scope_name(rec->scope)) != 0 ||
          out_str(r, "realm", NZ(rec->realm)) != 0 ||
          out_str(r, "prefix", NZ(rec->prefix)) != 0 ||
          out_str(r, "connect_realm", NZ(rec->connect_realm)) != 0 ||
          out_str(r, "connect_prefix", NZ(rec->connect_prefix)) != 0;
    if (json) {
        bad = bad || out_int(r, "quota", rec->quota) != 0 ||
              (rec->expires ? out_int(r, "expires", rec->expires)
                            : out_str(r, "expires", NULL)) != 0 ||
              out_str(r, "expires_utc", rec->expires ? utc(rec->expires, at, sizeof(at)) : NULL) != 0 ||
              out_int(r, "created", rec->created) != 0 ||
              out_str(r, "created_utc", utc(rec->created, at, sizeof(at))) != 0;
    } else {
        char exp[96], quota[32];
        snprintf(quota, sizeof(quota), rec->quota ? "%ld" : "%ld (no limit)", rec->quota);
        if (rec->expires) {
            char left[32];
            snprintf(exp, sizeof(exp), "%s (in %s)", utc(rec->expires, at, sizeof(at)),
                     out_age(rec->expires > now ? rec->expires - now : 0, left, sizeof(left)));
        } else {
            snprintf(exp, sizeof(exp), "never");
        }
        bad = bad || out_str(r, "quota", quota) != 0 || out_str(r, "expires", exp) != 0 ||
              out_str(r, "created", utc(rec->created, at, sizeof(at))) != 0;
    }
    bad = bad || out_bool(r, "relay", rec->relay) != 0 ||
          out_str(r, "label", NZ(rec->label)) != 0;
#undef NZ
    return bad ? -1 : 0;
}

/* -- token add ------------------------------------------------------------------ */

/* The realm:// scheme and HOST[:PORT] of url: "https://host[:port]" or
 * "http://host[:port]" (realm+http://), trailing slashes dropped; host a
 * name, an IPv4 address or a bracketed IPv6 one. 0, or -1. */
static int url_host(const char *url, const char **scheme, char *host, size_t len)
{
    const char *h, *colon;
    size_t n;
    if (strncmp(url, "https://", 8) == 0) {
        *scheme = "realm";
        h = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        *scheme = "realm+http";
        h = url + 7;
    } else {
        return -1;
    }
    n = strlen(h);
    while (n > 0 && h[n - 1] == '/')
        n--;
    if (n == 0 || n >= len)
        return -1;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)h[k];
        if (c <= ' ' || c >= 0x7f || strchr("/@?#\\%\"<>", c) != NULL)
            return -1;
    }
    memcpy(host, h, n);
    host[n] = '\0';
    colon = strrchr(host, ':');
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (close == NULL || close == host + 1 || (close[1] != '\0' && close[1] != ':'))
            return -1;
        if (colon < close)
            colon = NULL;
    } else if (colon != NULL && (colon == host || strchr(host, ':') != colon ||
                                 strchr(host, '[') || strchr(host, ']'))) {
        return -1;              /* an unbracketed IPv6 address, or no host */
    }
    if (colon != NULL) {
        long port;
        if (number_parse(colon + 1, strlen(colon + 1), 1, 65535, &port) != 0)
            return -1;
    }
    return 0;
}

/* The path of a URL for the binding: the realm, "<prefix><name>", or
 * "<realm>" when unbound. */
static void url_path(const char *realm, const char *prefix, char *buf, size_t len)
{
    if (realm[0])
        snprintf(buf, len, "%s", realm);
    else if (prefix[0])
        snprintf(buf, len, "%s<name>", prefix);
    else
        snprintf(buf, len, "<realm>");
}

/* The URLs to paste: "register" (the owner's) with the register scope,
 * "connect" (the clients') with the connect scope. NULL if out of memory. */
static struct out_record *urls_record(const struct token_rec *rec, const char *token,
                                      const char *scheme, const char *host)
{
    struct out_record *u = out_record_new();
    char path[2 * TOKEN_NAME_MAX + 16], url[3 * TOKEN_NAME_MAX + 128];
    if (u == NULL)
        return NULL;
    if (rec->scope & TOKEN_REGISTER) {
        url_path(rec->realm, rec->prefix, path, sizeof(path));
        snprintf(url, sizeof(url), "%s://%s@%s/%s", scheme, token, host, path);
        if (out_str(u, "register", url) != 0)
            goto fail;
    }
    if (rec->scope & TOKEN_CONNECT) {
        if (rec->connect_realm[0] || rec->connect_prefix[0])
            url_path(rec->connect_realm, rec->connect_prefix, path, sizeof(path));
        else if (rec->scope & TOKEN_REGISTER)
            url_path(rec->realm, rec->prefix, path, sizeof(path));
        else
            url_path("", "", path, sizeof(path));
        snprintf(url, sizeof(url), "%s://%s@%s/%s", scheme, token, host, path);
        if (out_str(u, "connect", url) != 0)
            goto fail;
    }
    return u;
fail:
    out_record_free(u);
    return NULL;
}

/* Copy a binding option into out (TOKEN_NAME_MAX + 1 bytes). 0, or -1 with
 * the error printed. */
static int take_name(char *out, const char *val, const char *opt)
{
    if (val == NULL)
        return 0;
    if (val[0] == '\0' || strlen(val) > TOKEN_NAME_MAX) {
        out_error("%s: between 1 and %d bytes", opt, TOKEN_NAME_MAX);
        return -1;
    }
    memcpy(out, val, strlen(val) + 1);
    return 0;
}

/* The record from the options (all but id, mac, created, expires) and the
 * duration in *dur_ms (0: never). An admin_exit. */
static int rec_from_args(const struct tok_args *args, struct token_rec *rec, long long *dur_ms)
{
    char err[256];
    long quota = 0;
    memset(rec, 0, sizeof(*rec));
    *dur_ms = 0;
    if (args->scope == NULL) {
        out_error("token add needs --scope register|connect|both");
        return ADMIN_USAGE;
    }
    if ((rec->scope = token_scope_parse(args->scope)) == 0) {
        out_error("--scope: register, connect or both, not %s", args->scope);
        return ADMIN_USAGE;
    }
    if (take_name(rec->realm, args->realm, "--realm") != 0 ||
        take_name(rec->prefix, args->prefix, "--prefix") != 0 ||
        take_name(rec->connect_realm, args->connect_realm, "--connect-realm") != 0 ||
        take_name(rec->connect_prefix, args->connect_prefix, "--connect-prefix") != 0)
        return ADMIN_USAGE;
    if (args->quota != NULL &&
        number_parse(args->quota, strlen(args->quota), 0, TOKEN_QUOTA_MAX, &quota) != 0) {
        out_error("--quota: a number of realms (0 for no limit), not %s", args->quota);
        return ADMIN_USAGE;
    }
    rec->quota = quota;
    if (args->expires != NULL && strcmp(args->expires, "never") != 0 &&
        token_duration_ms(args->expires, dur_ms) != 0) {
        out_error("--expires: a duration such as 30d, 12h, 15m, 90s or seconds "
                  "(up to 100 years), or never; not %s", args->expires);
        return ADMIN_USAGE;
    }
    if (args->label != NULL) {
        size_t n = strlen(args->label);
        for (size_t k = 0; k < n; k++)
            if ((unsigned char)args->label[k] < ' ' || args->label[k] == 0x7f) {
                out_error("--label: no control characters");
                return ADMIN_USAGE;
            }
        if (n > TOKEN_LABEL_MAX) {
            out_error("--label: at most %d bytes", TOKEN_LABEL_MAX);
            return ADMIN_USAGE;
        }
        memcpy(rec->label, args->label, n + 1);
    }
    rec->relay = !args->no_relay;
    if (token_check(rec, err, sizeof(err)) != 0) {
        out_error("%s", err);
        return ADMIN_USAGE;
    }
    return ADMIN_OK;
}

/* Read the token key named by args into a malloc'd *key. An admin_exit. */
static int read_key(const struct tok_args *args, char **key)
{
    char err[512];
    *key = NULL;
    if (args->key_file == NULL) {
        out_error("token add needs the token key: --token-key-file PATH "
                  "(or HYSTERIA_REALM_TOKEN_KEY_FILE), the workers' own");
        return ADMIN_USAGE;
    }
    if (config_read_token(args->key_file, key, err, sizeof(err)) != 0) {
        out_error("--token-key-file: %s", err);
        return ADMIN_USAGE;
    }
    if (strlen(*key) < TOKEN_KEY_MIN) {
        out_error("--token-key-file: %s holds fewer than %d characters", args->key_file,
                  TOKEN_KEY_MIN);
        explicit_bzero(*key, strlen(*key));
        free(*key);
        *key = NULL;
        return ADMIN_USAGE;
    }
    return ADMIN_OK;
}

/* Store rec (a fresh token for it is drawn into token) with token_add.lua,
 * drawing again when the id is taken. An admin_exit. */
static int store_new(struct admin_ctx *a, struct token_rec *rec, const char *key,
                     char token[TOKEN_LEN + 1])
{
    char bufs[TOKEN_FIELDS][TOKEN_FIELD_BUF], tk[KEY_MAX], expires[32];
    const char *vals[TOKEN_FIELDS];
    const char *argv[7 + 2 * TOKEN_FIELDS];

    for (int tries = 0; tries < TOKEN_ADD_TRIES; tries++) {
        if (token_new(rec, key, strlen(key), token) != 0) {
            out_error("cannot make a token (no randomness, or HMAC failed)");
            return ADMIN_UNREACHABLE;
        }
        key_for(KEY_TOKEN, rec->id, tk, sizeof(tk));
        snprintf(expires, sizeof(expires), "%lld", rec->expires);
        token_fields(rec, bufs, vals);
        int n = 0;
        argv[n++] = "FCALL";
        argv[n++] = scripts_get(SCRIPT_TOKEN_ADD)->function;
        argv[n++] = "2";
        argv[n++] = tk;
        argv[n++] = KEY_TOKENS;
        argv[n++] = rec->id;
        argv[n++] = expires;
        for (int k = 0; k < TOKEN_FIELDS; k++) {
            argv[n++] = token_field_names[k];
            argv[n++] = vals[k];
        }
        redisReply *r = redisCommandArgv(a->redis, n, argv, NULL);
        int rc;
        explicit_bzero(bufs, sizeof(bufs));
        if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
            rc = admin_redis_failed(a, r, "FCALL token_add");
        } else if (r->integer == 0) {
            rc = ADMIN_OK;
        } else if (r->integer == 1) {
            rc = -1;            /* the id exists: draw again */
        } else {
            out_error("token add: unexpected status %lld", r->integer);
            rc = ADMIN_NOT_FOUND;
        }
        if (r != NULL)
            freeReplyObject(r);
        if (rc != -1)
            return rc;
    }
    out_error("token add: %d ids drawn were all taken", TOKEN_ADD_TRIES);
    return ADMIN_NOT_FOUND;
}

/* token add: make a scoped token, store its record, print it once. */
int admin_cmd_token_add(struct admin_ctx *a, int argc, char **argv)
{
    struct tok_args args;
    struct token_rec rec;
    struct out_record *o = NULL, *u;
    char **words, token[TOKEN_LEN + 1] = "", host[TOKEN_HOST_MAX] = "<host>";
    const char *scheme = "realm";
    char *key = NULL;
    long long dur, now;
    int nwords, rc;

    if ((rc = tok_parse(TOK_ADD, "token add", argc, argv, &args, &words, &nwords)) != ADMIN_OK)
        return rc;
    if (nwords != 0) {
        out_error("token add takes options only, not %s", words[0]);
        return ADMIN_USAGE;
    }
    if ((rc = rec_from_args(&args, &rec, &dur)) != ADMIN_OK)
        return rc;
    if (args.url != NULL && url_host(args.url, &scheme, host, sizeof(host)) != 0) {
        out_error("--url: https://HOST[:PORT] or http://HOST[:PORT], not %s", args.url);
        return ADMIN_USAGE;
    }
    if ((rc = read_key(&args, &key)) != ADMIN_OK)
        return rc;
    if ((rc = tok_load_library(a)) != ADMIN_OK || (rc = admin_redis_time(a, &now)) != ADMIN_OK)
        goto out;
    rec.created = now;
    rec.expires = dur ? now + dur : 0;
    if ((rc = store_new(a, &rec, key, token)) != ADMIN_OK)
        goto out;
    /* the token, the record's fields, the URLs (out_sub takes u over) */
    if ((o = out_record_new()) == NULL || out_str(o, "token", token) != 0 ||
        rec_fields(o, &rec, now, a->json) != 0 ||
        (u = urls_record(&rec, token, scheme, host)) == NULL || out_sub(o, "urls", u) != 0) {
        out_error("out of memory");
        rc = ADMIN_UNREACHABLE;
        goto out;
    }
    if (a->json ? out_record_print_json(o, stdout) != 0
                : out_record_print_text(o, stdout) != 0 ||
                  printf("Store the token now; it is shown only this once.\n") < 0) {
        out_error("cannot write the output");
        rc = ADMIN_UNREACHABLE;
    }
out:
    out_record_free(o);
    explicit_bzero(token, sizeof(token));
    if (key != NULL) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    scripts_free();
    return rc;
}

/* -- token list ------------------------------------------------------------------ */

/* One listed token as read: its HMGET and SMEMBERS replies, then the
 * parsed record and how many of its realms are live. */
struct tok_info {
    const char *id;
    redisReply *fields;     /* TOKEN_FIELDS elements */
    redisReply *realms;     /* the names registered with it */
    struct token_rec rec;
    int ok;                 /* rec parsed */
    long long used;
};

/* The columns of the token table. */
enum tok_col {
    TC_ID, TC_SCOPE, TC_REGISTER, TC_CONNECT, TC_QUOTA, TC_EXPIRES, TC_LEFT, TC_RELAY, TC_LABEL,
    TC_COUNT
};
static const char *const tok_header[TC_COUNT] = {
    "ID", "SCOPE", "REGISTER", "CONNECT", "USED/QUOTA", "EXPIRES", "LEFT", "RELAY", "LABEL",
};

/* Read one queued reply of type want. An admin_exit; *out is the reply
 * (freed by the caller) when ADMIN_OK. */
static int get_reply(struct admin_ctx *a, int want, redisReply **out, const char *what)
{
    void *v = NULL;
    redisReply *r = redisGetReply(a->redis, &v) == REDIS_OK ? v : NULL;
    if (r != NULL && r->type == want) {
        *out = r;
        return ADMIN_OK;
    }
    int rc = admin_redis_failed(a, r, what);
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

/* Parse ti->fields into ti->rec. 1 if it is a record, 0 if it is gone or
 * damaged (*damaged set for the latter). */
static int tok_parse_rec(struct tok_info *ti, int *damaged)
{
    const char *vals[TOKEN_FIELDS];
    size_t lens[TOKEN_FIELDS];
    int any = 0;
    for (size_t k = 0; k < TOKEN_FIELDS; k++) {
        const redisReply *e = ti->fields->element[k];
        vals[k] = e->type == REDIS_REPLY_STRING ? e->str : NULL;
        lens[k] = e->type == REDIS_REPLY_STRING ? e->len : 0;
        any |= vals[k] != NULL;
    }
    if (!any)
        return 0;               /* revoked or expired since ZRANGEBYSCORE */
    if (token_from_fields(&ti->rec, ti->id, vals, lens) != 0) {
        *damaged = 1;
        return 0;
    }
    return 1;
}

/* Count the live realms of each parsed token of ti[0..n-1]: members of
 * hr:tokrealms:{id} live in hr:realms (scored after now) and still the
 * token's in hr:realmtok, as register.lua counts them. An admin_exit. */
static int count_used(struct admin_ctx *a, struct tok_info *ti, size_t n, long long now)
{
    size_t queued = 0;
    int rc = ADMIN_OK;
    for (size_t i = 0; i < n; i++) {
        if (!ti[i].ok)
            continue;
        for (size_t m = 0; m < ti[i].realms->elements; m++) {
            const redisReply *e = ti[i].realms->element[m];
            if (e->type != REDIS_REPLY_STRING)
                continue;
            if (redisAppendCommand(a->redis, "ZSCORE %s %b", KEY_REALMS, e->str, e->len) != REDIS_OK ||
                redisAppendCommand(a->redis, "HGET %s %b", KEY_REALMTOK, e->str, e->len) != REDIS_OK) {
                out_error("out of memory");
                return ADMIN_UNREACHABLE;
            }
            queued++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!ti[i].ok)
            continue;
        for (size_t m = 0; m < ti[i].realms->elements && queued > 0; m++) {
            if (ti[i].realms->element[m]->type != REDIS_REPLY_STRING)
                continue;
            void *v1 = NULL, *v2 = NULL;
            redisReply *score = redisGetReply(a->redis, &v1) == REDIS_OK ? v1 : NULL;
            redisReply *owner = score != NULL && redisGetReply(a->redis, &v2) == REDIS_OK ? v2 : NULL;
            queued--;
            if (rc == ADMIN_OK && (score == NULL || owner == NULL ||
                                   score->type == REDIS_REPLY_ERROR || owner->type == REDIS_REPLY_ERROR))
                rc = admin_redis_failed(a, score == NULL || score->type == REDIS_REPLY_ERROR ? score : owner,
                                        "ZSCORE/HGET");
            else if (rc == ADMIN_OK && score->type == REDIS_REPLY_STRING &&
                     strtod(score->str, NULL) > (double)now && owner->type == REDIS_REPLY_STRING &&
                     strcmp(owner->str, ti[i].id) == 0)
                ti[i].used++;
            if (score != NULL)
                freeReplyObject(score);
            if (owner != NULL)
                freeReplyObject(owner);
            if (rc == ADMIN_UNREACHABLE)
                return rc;      /* the connection is gone: nothing left to read */
        }
    }
    return rc;
}

/* Add ti's row to t. 0, or -1. */
static int tok_row(struct out_table *t, const struct tok_info *ti, long long now)
{
    char reg[TOKEN_NAME_MAX + 2], con[TOKEN_NAME_MAX + 2], quota[64], exp[40], left[32];
    const struct token_rec *rec = &ti->rec;
    if (rec->quota)
        snprintf(quota, sizeof(quota), "%lld/%ld", ti->used, rec->quota);
    else
        snprintf(quota, sizeof(quota), "%lld/-", ti->used);
    const char *cells[TC_COUNT] = {
        [TC_ID] = rec->id,
        [TC_SCOPE] = token_scope_name(rec->scope),
        [TC_REGISTER] = rec->scope & TOKEN_REGISTER ? binding(rec->realm, rec->prefix, reg, sizeof(reg)) : "-",
        [TC_CONNECT] = rec->scope & TOKEN_CONNECT
                           ? binding(rec->connect_realm, rec->connect_prefix, con, sizeof(con)) : "-",
        [TC_QUOTA] = quota,
        [TC_EXPIRES] = rec->expires ? utc(rec->expires, exp, sizeof(exp)) : "never",
        [TC_LEFT] = rec->expires ? out_age(rec->expires > now ? rec->expires - now : 0, left,
                                           sizeof(left)) : "-",
        [TC_RELAY] = rec->relay ? "yes" : "no",
        [TC_LABEL] = rec->label[0] ? rec->label : "-",
    };
    return out_table_add(t, cells);
}

/* Read ids[0..n-1] (n <= ADMIN_BATCH) in pipelines and add each live
 * token to the table (text) or the list (JSON). An admin_exit. */
static int tokens_batch(struct admin_ctx *a, char **ids, size_t n, long long now,
                        struct out_table *t, struct out_list *l, int *damaged)
{
    static struct tok_info ti[ADMIN_BATCH];
    size_t queued = 0, got = 0;
    int rc = ADMIN_OK;

    memset(ti, 0, sizeof(ti));
    for (size_t i = 0; i < n; i++) {
        char tk[KEY_MAX], rk[KEY_MAX];
        const char *argv[2 + TOKEN_FIELDS] = { "HMGET", tk };
        if (!hex_check(ids[i], TOKEN_ID_HEX, 1))
            continue;           /* not an id of ours */
        key_for(KEY_TOKEN, ids[i], tk, sizeof(tk));
        key_for(KEY_TOKEN_REALMS, ids[i], rk, sizeof(rk));
        memcpy(&argv[2], token_field_names, sizeof(token_field_names));
        if (redisAppendCommandArgv(a->redis, 2 + TOKEN_FIELDS, argv, NULL) != REDIS_OK ||
            redisAppendCommand(a->redis, "SMEMBERS %s", rk) != REDIS_OK) {
            out_error("out of memory");
            return ADMIN_UNREACHABLE;
        }
        ti[queued++].id = ids[i];
    }
    for (; got < queued && rc == ADMIN_OK; got++) {
        rc = get_reply(a, REDIS_REPLY_ARRAY, &ti[got].fields, "HMGET");
        if (rc == ADMIN_OK)
            rc = get_reply(a, REDIS_REPLY_ARRAY, &ti[got].realms, "SMEMBERS");
        if (rc == ADMIN_OK && ti[got].fields->elements != TOKEN_FIELDS)
            rc = admin_redis_failed(a, ti[got].fields, "HMGET");
    }
    for (size_t i = 0; i < got && rc == ADMIN_OK; i++)
        ti[i].ok = tok_parse_rec(&ti[i], damaged);
    if (rc == ADMIN_OK)
        rc = count_used(a, ti, got, now);
    for (size_t i = 0; i < got && rc == ADMIN_OK; i++) {
        if (!ti[i].ok)
            continue;
        if (l != NULL) {
            struct out_record *r = out_record_new();
            if (r == NULL || rec_fields(r, &ti[i].rec, now, 1) != 0 ||
                out_int(r, "used", ti[i].used) != 0 ||
                (ti[i].rec.expires ? out_int(r, "expires_in_ms", ti[i].rec.expires > now
                                                                     ? ti[i].rec.expires - now : 0)
                                   : out_str(r, "expires_in_ms", NULL)) != 0) {
                out_record_free(r);
                rc = -1;
            } else if (out_list_add(l, r) != 0) {
                rc = -1;
            }
        } else if (tok_row(t, &ti[i], now) != 0) {
            rc = -1;
        }
        if (rc == -1) {
            out_error("out of memory");
            rc = ADMIN_UNREACHABLE;
        }
    }
    for (size_t i = 0; i < queued; i++) {
        if (ti[i].fields != NULL)
            freeReplyObject(ti[i].fields);
        if (ti[i].realms != NULL)
            freeReplyObject(ti[i].realms);
    }
    return rc;
}

/* token list: one line (or one object) per live token, soonest to expire
 * first. */
int admin_cmd_token_list(struct admin_ctx *a, int argc, char **argv)
{
    struct tok_args args;
    struct out_table *t = NULL;
    struct out_list *l = NULL;
    redisReply *ids = NULL;
    char **words, since[32];
    long long now;
    int nwords, rc, damaged = 0;

    if ((rc = tok_parse(TOK_LIST, "token list", argc, argv, &args, &words, &nwords)) != ADMIN_OK)
        return rc;
    if (nwords != 0) {
        out_error("token list takes no argument");
        return ADMIN_USAGE;
    }
    if ((rc = admin_redis_time(a, &now)) != ADMIN_OK)
        return rc;
    snprintf(since, sizeof(since), "(%lld", now);
    ids = redisCommand(a->redis, "ZRANGEBYSCORE %s %s +inf", KEY_TOKENS, since);
    if (ids == NULL || ids->type != REDIS_REPLY_ARRAY) {
        rc = admin_redis_failed(a, ids, "ZRANGEBYSCORE " KEY_TOKENS);
        goto out;
    }
    if (a->json ? (l = out_list_new()) == NULL : (t = out_table_new(TC_COUNT, tok_header)) == NULL) {
        out_error("out of memory");
        rc = ADMIN_UNREACHABLE;
        goto out;
    }
    for (size_t off = 0; off < ids->elements && rc == ADMIN_OK; off += ADMIN_BATCH) {
        char *batch[ADMIN_BATCH];
        size_t n = 0;
        for (size_t i = off; i < ids->elements && n < ADMIN_BATCH; i++)
            if (ids->element[i]->type == REDIS_REPLY_STRING)
                batch[n++] = ids->element[i]->str;
            else
                batch[n++] = "";
        rc = tokens_batch(a, batch, n, now, t, l, &damaged);
    }
    if (rc == ADMIN_OK && (l ? out_list_print_json(l, stdout) : out_table_print(t, stdout)) != 0) {
        out_error("cannot write the output");
        rc = ADMIN_UNREACHABLE;
    }
    if (rc == ADMIN_OK && damaged)
        out_error("warning: damaged token records left out (see hr:tok:* in Redis)");
out:
    if (ids != NULL)
        freeReplyObject(ids);
    out_table_free(t);
    out_list_free(l);
    return rc;
}

/* -- token revoke ------------------------------------------------------------------ */

/* One try at token_revoke.lua: read the names registered with the token,
 * then revoke it and end their sessions. Returns the FCALL's reply, or
 * the SMEMBERS reply that was not a list, or NULL (no reply, or out of
 * memory); *failed names the command for the error message. */
static redisReply *revoke_try(struct admin_ctx *a, const char *id, const char *rk,
                              const char **failed)
{
    struct revoke_call call;
    const char *smembers[] = { "SMEMBERS", rk };
    redisReply *m = redisCommandArgv(a->redis, 2, smembers, NULL), *r = NULL;
    *failed = "SMEMBERS";
    if (m == NULL || m->type != REDIS_REPLY_ARRAY)
        return m;
    const char **names = calloc(m->elements + 1, sizeof(*names));
    size_t *lens = calloc(m->elements + 1, sizeof(*lens));
    size_t n = 0;
    for (size_t i = 0; names != NULL && lens != NULL && i < m->elements; i++)
        if (m->element[i]->type == REDIS_REPLY_STRING) {
            names[n] = m->element[i]->str;
            lens[n++] = m->element[i]->len;
        }
    *failed = "FCALL token_revoke";
    if (names != NULL && lens != NULL &&
        revoke_call_build(&call, scripts_get(SCRIPT_TOKEN_REVOKE)->function, id, names, lens,
                          n) == 0) {
        r = redisCommandArgv(a->redis, call.argc, call.argv, NULL);
        revoke_call_free(&call);
    } else {
        out_error("out of memory");
    }
    free(names);
    free(lens);
    freeReplyObject(m);
    return r;
}

/* Print what a revoke did. 0, or ADMIN_UNREACHABLE if stdout failed. */
static int revoke_print(struct admin_ctx *a, const char *id, long long ended)
{
    struct out_record *o = out_record_new();
    int w = o == NULL || out_str(o, "id", id) != 0 || out_bool(o, "revoked", 1) != 0 ||
                    out_int(o, "sessions_ended", ended) != 0 ? -1
            : a->json ? out_record_print_json(o, stdout)
                      : (printf("revoked %s, sessions ended: %lld\n", id, ended) < 0 ? -1 : 0);
    out_record_free(o);
    if (w == 0)
        return ADMIN_OK;
    out_error("cannot write the output");
    return ADMIN_UNREACHABLE;
}

/* token revoke ID: delete the token's record and end the sessions of the
 * realms registered with it (token_revoke.lua), read again if a register
 * slipped in between. */
int admin_cmd_token_revoke(struct admin_ctx *a, int argc, char **argv)
{
    struct tok_args args;
    char **words, rk[KEY_MAX];
    redisReply *r = NULL;
    const char *failed = "";
    int nwords, rc;

    if ((rc = tok_parse(TOK_REVOKE, "token revoke", argc, argv, &args, &words, &nwords)) != ADMIN_OK)
        return rc;
    if (nwords != 1) {
        out_error("usage: token revoke ID");
        return ADMIN_USAGE;
    }
    const char *id = words[0];
    if (strlen(id) != TOKEN_ID_HEX || !hex_check(id, TOKEN_ID_HEX, 1)) {
        /* never echoed: it may be a pasted token */
        out_error("token revoke: give the token's id, %d lowercase hex digits as token list "
                  "shows (the part after hrt_)", TOKEN_ID_HEX);
        return ADMIN_USAGE;
    }
    key_for(KEY_TOKEN_REALMS, id, rk, sizeof(rk));
    if ((rc = tok_load_library(a)) != ADMIN_OK)
        goto out;
    for (int t = 0; t < TOKEN_REVOKE_TRIES; t++) {
        if (r != NULL)
            freeReplyObject(r);
        r = revoke_try(a, id, rk, &failed);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_INTEGER || r->element[0]->integer != STORE_REREAD)
            break;
    }
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
        rc = admin_redis_failed(a, r, failed);
    } else if (r->element[0]->integer == STORE_NO_REALM) {
        out_error("no token %s", id);
        rc = ADMIN_NOT_FOUND;
    } else if (r->element[0]->integer != STORE_OK) {
        out_error("token revoke %s: unexpected status %lld", id, r->element[0]->integer);
        rc = ADMIN_NOT_FOUND;
    } else {
        rc = revoke_print(a, id, r->element[1]->integer);
    }
out:
    if (r != NULL)
        freeReplyObject(r);
    scripts_free();
    return rc;
}
