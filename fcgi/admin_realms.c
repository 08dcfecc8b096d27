/* admin_realms.c -- hysteria-realm-admin realms, realm NAME and kick NAME:
 * the live realms and their health, read from Redis (key layout in
 * sql/README.md), and the operator's end of a session (sql/kick.lua).
 *
 * Reads only the health fields of hr:realm:{name}: never sid or hold,
 * which are secrets. Times are ages against Redis's TIME, not this
 * host's clock. Blocking; single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "admin_out.h"
#include "admin_realms.h"
#include "keys.h"
#include "redis_sync.h"
#include "scripts.h"
#include "status.h"

/* The fields of hr:realm:{name} shown, in HMGET order (never sid, hold). */
enum realm_field {
    RF_ADDRS, RF_IP, RF_REG_AT, RF_ADDRS_AT, RF_HB_AT, RF_HB_IP, RF_STREAM_IP, RF_STREAM_AT,
    RF_PUNCHES, RF_ANSWERED, RF_FALLBACK, RF_ANSWER_AT, RF_COUNT
};
static const char *const realm_fields[RF_COUNT] = {
    "addrs", "ip", "reg_at", "addrs_at", "hb_at", "hb_ip", "stream_ip", "stream_at",
    "punches", "answered", "fallback", "answer_at",
};

/* The fields of hr:heal:{name}, in HMGET order. */
enum heal_field { HF_HEALED_AT, HF_HEALS, HF_MULTI, HF_COUNT };
static const char *const heal_fields[HF_COUNT] = { "healed_at", "heals", "multi" };

/* One realm as read: its name and the two HMGET replies. */
struct realm_info {
    const char *name;
    redisReply *realm;   /* RF_COUNT elements */
    redisReply *heal;    /* HF_COUNT elements */
};


/* -- shared by the commands ------------------------------------------------ */

int admin_redis_failed(struct admin_ctx *a, const void *reply, const char *what)
{
    const redisReply *r = reply;
    if (r == NULL) {
        out_error("Redis %s failed: %s", what, a->redis->errstr[0] ? a->redis->errstr
                                                                    : "connection lost");
        return ADMIN_UNREACHABLE;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        out_error("Redis refused %s: %s", what, r->str);
        return ADMIN_NOT_FOUND;
    }
    out_error("Redis %s: unexpected reply (type %d)", what, r->type);
    return ADMIN_NOT_FOUND;
}

/* Parse the decimal string s (n bytes) into *out. 0, or -1. */
static int parse_ll(const char *s, size_t n, long long *out)
{
    char buf[32], *end;
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    long long v = strtoll(buf, &end, 10);
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

int admin_redis_time(struct admin_ctx *a, long long *now)
{
    redisReply *r = redisCommand(a->redis, "TIME");
    long long s, us;
    int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
             parse_ll(r->element[0]->str, r->element[0]->len, &s) == 0 &&
             parse_ll(r->element[1]->str, r->element[1]->len, &us) == 0;
    int rc = ok ? ADMIN_OK : admin_redis_failed(a, r, "TIME");
    if (ok)
        *now = s * 1000 + us / 1000;
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

void admin_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int name_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Add the members of one ZSCAN page (member, score pairs) scored after now
 * to names. 0, or -1 if out of memory. */
static int add_page(const redisReply *page, long long now, char ***names, size_t *n, size_t *cap)
{
    for (size_t i = 0; i + 1 < page->elements; i += 2) {
        const redisReply *m = page->element[i], *s = page->element[i + 1];
        if (m->type != REDIS_REPLY_STRING || s->type != REDIS_REPLY_STRING)
            continue;
        if (strtod(s->str, NULL) <= (double)now)
            continue;
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 256;
            char **p = realloc(*names, c * sizeof(*p));
            if (p == NULL)
                return -1;
            *names = p;
            *cap = c;
        }
        if (((*names)[*n] = strdup(m->str)) == NULL)
            return -1;
        (*n)++;
    }
    return 0;
}

int admin_live_realms(struct admin_ctx *a, long long now, char ***names, size_t *n)
{
    char cursor[32] = "0";
    size_t cap = 0;
    int rc = ADMIN_OK;
    *names = NULL;
    *n = 0;
    do {
        redisReply *r = redisCommand(a->redis, "ZSCAN %s %s COUNT 1000", KEY_REALMS, cursor);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY ||
            r->element[0]->len >= sizeof(cursor)) {
            rc = admin_redis_failed(a, r, "ZSCAN " KEY_REALMS);
        } else {
            memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
            if (add_page(r->element[1], now, names, n, &cap) != 0) {
                out_error("out of memory");
                rc = ADMIN_UNREACHABLE;
            }
        }
        if (r != NULL)
            freeReplyObject(r);
    } while (rc == ADMIN_OK && strcmp(cursor, "0") != 0);
    if (rc != ADMIN_OK) {
        admin_names_free(*names, *n);
        *names = NULL;
        *n = 0;
        return rc;
    }
    /* ZSCAN may return a member twice: sort, then keep each once. */
    if (*n > 1) {
        qsort(*names, *n, sizeof(**names), name_cmp);
        size_t k = 1;
        for (size_t i = 1; i < *n; i++) {
            if (strcmp((*names)[i], (*names)[k - 1]) == 0)
                free((*names)[i]);
            else
                (*names)[k++] = (*names)[i];
        }
        *n = k;
    }
    return ADMIN_OK;
}

/* -- reading realms ---------------------------------------------------------- */

/* Queue HMGET hr:realm:{name} <fields> and HMGET hr:heal:{name} <fields>.
 * 0, or -1 (name too long for a key, or out of memory). */
static int append_hmgets(redisContext *c, const char *name)
{
    char rk[KEY_MAX], hk[KEY_MAX];
    const char *argv[2 + RF_COUNT];
    if (key_for(KEY_REALM, name, rk, sizeof(rk)) != 0 || key_for(KEY_HEAL, name, hk, sizeof(hk)) != 0)
        return -1;
    argv[0] = "HMGET";
    argv[1] = rk;
    memcpy(&argv[2], realm_fields, sizeof(realm_fields));
    if (redisAppendCommandArgv(c, 2 + RF_COUNT, argv, NULL) != REDIS_OK)
        return -1;
    argv[1] = hk;
    memcpy(&argv[2], heal_fields, sizeof(heal_fields));
    return redisAppendCommandArgv(c, 2 + HF_COUNT, argv, NULL) == REDIS_OK ? 0 : -1;
}

/* Read one queued reply, which must be an array of n elements. An
 * admin_exit; *out is the reply (freed by the caller) when ADMIN_OK. */
static int get_array(struct admin_ctx *a, size_t n, redisReply **out, const char *what)
{
    void *v = NULL;
    redisReply *r = redisGetReply(a->redis, &v) == REDIS_OK ? v : NULL;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == n) {
        *out = r;
        return ADMIN_OK;
    }
    int rc = admin_redis_failed(a, r, what);
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

/* Field i of an HMGET reply, or NULL when absent. */
static const char *fld(const redisReply *r, size_t i)
{
    if (r == NULL || i >= r->elements || r->element[i]->type != REDIS_REPLY_STRING)
        return NULL;
    return r->element[i]->str;
}

/* A realm whose hash expired between ZSCAN and HMGET has no field left. */
static int realm_gone(const struct realm_info *ri)
{
    return fld(ri->realm, RF_IP) == NULL && fld(ri->realm, RF_ADDRS) == NULL &&
           fld(ri->realm, RF_REG_AT) == NULL;
}

/* The age in ms of the time stored as text s (absent: -1). */
static long long age_of(const char *s, long long now)
{
    long long at;
    if (s == NULL || parse_ll(s, strlen(s), &at) != 0)
        return -1;
    return now > at ? now - at : 0;
}

static int is_multi(const struct realm_info *ri)
{
    const char *m = fld(ri->heal, HF_MULTI);
    return m != NULL && strcmp(m, "1") == 0;
}

/* The realm as a record (for JSON and for realm NAME), or NULL. */
static struct out_record *realm_record(const struct realm_info *ri, long long now)
{
    struct out_record *r = out_record_new();
    const redisReply *h = ri->realm;
    if (r == NULL)
        return NULL;
    if (out_str(r, "name", ri->name) != 0 ||
        out_addrs(r, "addrs", fld(h, RF_ADDRS)) != 0 ||
        out_ms_at(r, "addrs_at", fld(h, RF_ADDRS_AT), now) != 0 ||
        out_str(r, "ip", fld(h, RF_IP)) != 0 ||
        out_ms_at(r, "reg_at", fld(h, RF_REG_AT), now) != 0 ||
        out_ms_at(r, "hb_at", fld(h, RF_HB_AT), now) != 0 ||
        out_str(r, "hb_ip", fld(h, RF_HB_IP)) != 0 ||
        out_str(r, "stream_ip", fld(h, RF_STREAM_IP)) != 0 ||
        out_ms_at(r, "stream_at", fld(h, RF_STREAM_AT), now) != 0 ||
        out_count(r, "punches", fld(h, RF_PUNCHES)) != 0 ||
        out_count(r, "answered", fld(h, RF_ANSWERED)) != 0 ||
        out_count(r, "fallback", fld(h, RF_FALLBACK)) != 0 ||
        out_ms_at(r, "answer_at", fld(h, RF_ANSWER_AT), now) != 0 ||
        out_bool(r, "multi_address", is_multi(ri)) != 0 ||
        out_count(r, "heals", fld(ri->heal, HF_HEALS)) != 0 ||
        out_ms_at(r, "healed_at", fld(ri->heal, HF_HEALED_AT), now) != 0) {
        out_record_free(r);
        return NULL;
    }
    return r;
}

/* The columns of the realms table. */
enum realm_col {
    RC_NAME, RC_ADDRS, RC_ADDRS_AGE, RC_HEARTBEAT, RC_STREAM, RC_PUNCHES, RC_ANSWER, RC_FLAGS,
    RC_COUNT
};
static const char *const realm_header[RC_COUNT] = {
    "NAME", "ADDRESSES", "CHANGED", "HEARTBEAT", "STREAM", "PUNCH/ANS/FB", "ANSWERED", "FLAGS",
};

/* "<age> <ip>" with "-" for a missing part, or "-" if both are missing. */
static void age_ip(char *buf, size_t len, const char *at, const char *ip, long long now,
                   int ip_first)
{
    char age[32];
    if (at == NULL && ip == NULL) {
        snprintf(buf, len, "-");
        return;
    }
    out_age(age_of(at, now), age, sizeof(age));
    if (ip_first)
        snprintf(buf, len, "%s %s", ip ? ip : "-", age);
    else
        snprintf(buf, len, "%s %s", age, ip ? ip : "-");
}

/* Add the realm's row to t. 0, or -1. */
static int realm_row(struct out_table *t, const struct realm_info *ri, long long now)
{
    char addrs[1024], changed[32], hb[96], stream[96], punches[96], answer[32], flags[32];
    const redisReply *h = ri->realm;
    const char *p = fld(h, RF_PUNCHES), *an = fld(h, RF_ANSWERED), *fb = fld(h, RF_FALLBACK);
    const char *healed = fld(ri->heal, HF_HEALED_AT);

    out_addrs_line(fld(h, RF_ADDRS), addrs, sizeof(addrs));
    out_age(age_of(fld(h, RF_ADDRS_AT), now), changed, sizeof(changed));
    age_ip(hb, sizeof(hb), fld(h, RF_HB_AT), fld(h, RF_HB_IP), now, 0);
    age_ip(stream, sizeof(stream), fld(h, RF_STREAM_AT), fld(h, RF_STREAM_IP), now, 1);
    snprintf(punches, sizeof(punches), "%s/%s/%s", p ? p : "-", an ? an : "-", fb ? fb : "-");
    out_age(age_of(fld(h, RF_ANSWER_AT), now), answer, sizeof(answer));
    snprintf(flags, sizeof(flags), "%s%s%s", is_multi(ri) ? "multi" : "",
             is_multi(ri) && healed ? "," : "", healed ? "healed" : "");
    const char *cells[RC_COUNT] = {
        [RC_NAME] = ri->name, [RC_ADDRS] = addrs, [RC_ADDRS_AGE] = changed, [RC_HEARTBEAT] = hb,
        [RC_STREAM] = stream, [RC_PUNCHES] = punches, [RC_ANSWER] = answer,
        [RC_FLAGS] = flags[0] ? flags : "-",
    };
    return out_table_add(t, cells);
}

/* Read names[0..n-1] in one pipeline and add each live one to the table
 * (text) or the list (JSON). An admin_exit. */
static int realms_batch(struct admin_ctx *a, char **names, size_t n, long long now,
                        struct out_table *t, struct out_list *l)
{
    struct realm_info ri[ADMIN_BATCH];
    size_t queued = 0, got = 0;
    int rc = ADMIN_OK;

    memset(ri, 0, sizeof(ri));
    for (; queued < n; queued++) {
        if (append_hmgets(a->redis, names[queued]) != 0)
            break;               /* a name too long for a key: not ours */
        ri[queued].name = names[queued];
    }
    for (; got < queued && rc == ADMIN_OK; got++) {
        rc = get_array(a, RF_COUNT, &ri[got].realm, "HMGET");
        if (rc == ADMIN_OK)
            rc = get_array(a, HF_COUNT, &ri[got].heal, "HMGET");
    }
    for (size_t i = 0; i < got && rc == ADMIN_OK; i++) {
        if (realm_gone(&ri[i]))
            continue;
        if (l != NULL) {
            struct out_record *r = realm_record(&ri[i], now);
            if (r == NULL || out_list_add(l, r) != 0)
                rc = -1;
        } else if (realm_row(t, &ri[i], now) != 0) {
            rc = -1;
        }
        if (rc == -1) {
            out_error("out of memory");
            rc = ADMIN_UNREACHABLE;
        }
    }
    for (size_t i = 0; i < queued; i++) {
        if (ri[i].realm != NULL)
            freeReplyObject(ri[i].realm);
        if (ri[i].heal != NULL)
            freeReplyObject(ri[i].heal);
    }
    return rc;
}

/* realms: one line (or one object) per live realm. */
int admin_cmd_realms(struct admin_ctx *a, int argc, char **argv)
{
    char **names = NULL;
    size_t n = 0;
    long long now;
    struct out_table *t = NULL;
    struct out_list *l = NULL;
    int rc;

    (void)argv;
    if (argc != 0) {
        out_error("realms takes no argument");
        return ADMIN_USAGE;
    }
    if ((rc = admin_redis_time(a, &now)) != ADMIN_OK ||
        (rc = admin_live_realms(a, now, &names, &n)) != ADMIN_OK)
        goto out;
    if (a->json ? (l = out_list_new()) == NULL : (t = out_table_new(RC_COUNT, realm_header)) == NULL) {
        out_error("out of memory");
        rc = ADMIN_UNREACHABLE;
        goto out;
    }
    for (size_t off = 0; off < n && rc == ADMIN_OK; off += ADMIN_BATCH)
        rc = realms_batch(a, names + off, n - off < ADMIN_BATCH ? n - off : ADMIN_BATCH, now, t, l);
    if (rc == ADMIN_OK && (l ? out_list_print_json(l, stdout) : out_table_print(t, stdout)) != 0) {
        out_error("cannot write the output");
        rc = ADMIN_UNREACHABLE;
    }
out:
    out_table_free(t);
    out_list_free(l);
    admin_names_free(names, n);
    return rc;
}

/* -- one realm --------------------------------------------------------------- */

/* Read one integer reply into *v. An admin_exit. */
static int get_int(struct admin_ctx *a, long long *v, const char *what)
{
    void *p = NULL;
    redisReply *r = redisGetReply(a->redis, &p) == REDIS_OK ? p : NULL;
    int rc = ADMIN_OK;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        *v = r->integer;
    else
        rc = admin_redis_failed(a, r, what);
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

/* realm NAME: every field of one realm, "key: value" or one JSON object. */
int admin_cmd_realm(struct admin_ctx *a, int argc, char **argv)
{
    char rk[KEY_MAX], ek[KEY_MAX], ak[KEY_MAX], since[32];
    struct realm_info ri = { 0 };
    struct out_record *r = NULL;
    long long now, pttl = -2, nev = 0, natt = 0;
    int rc;

    if (argc != 1) {
        out_error("usage: realm NAME");
        return ADMIN_USAGE;
    }
    ri.name = argv[0];
    if (key_for(KEY_REALM, ri.name, rk, sizeof(rk)) != 0 ||
        key_for(KEY_EVENTS, ri.name, ek, sizeof(ek)) != 0 ||
        key_for(KEY_ATTEMPTS, ri.name, ak, sizeof(ak)) != 0) {
        out_error("realm %s is not registered", ri.name);
        return ADMIN_NOT_FOUND;
    }
    if ((rc = admin_redis_time(a, &now)) != ADMIN_OK)
        return rc;
    snprintf(since, sizeof(since), "(%lld", now);
    if (append_hmgets(a->redis, ri.name) != 0 ||
        redisAppendCommand(a->redis, "PTTL %s", rk) != REDIS_OK ||
        redisAppendCommand(a->redis, "LLEN %s", ek) != REDIS_OK ||
        redisAppendCommand(a->redis, "ZCOUNT %s %s +inf", ak, since) != REDIS_OK) {
        out_error("out of memory");
        return ADMIN_UNREACHABLE;
    }
    if ((rc = get_array(a, RF_COUNT, &ri.realm, "HMGET")) != ADMIN_OK ||
        (rc = get_array(a, HF_COUNT, &ri.heal, "HMGET")) != ADMIN_OK ||
        (rc = get_int(a, &pttl, "PTTL")) != ADMIN_OK ||
        (rc = get_int(a, &nev, "LLEN")) != ADMIN_OK ||
        (rc = get_int(a, &natt, "ZCOUNT")) != ADMIN_OK)
        goto out;
    if (pttl == -2 || realm_gone(&ri)) {
        out_error("realm %s is not registered", ri.name);
        rc = ADMIN_NOT_FOUND;
        goto out;
    }
    if ((r = realm_record(&ri, now)) == NULL ||
        (pttl < 0 ? out_str(r, "expires_in_s", NULL)
                  : out_int(r, "expires_in_s", (pttl + 999) / 1000)) != 0 ||
        out_int(r, "events_buffered", nev) != 0 ||
        out_int(r, "attempts_in_flight", natt) != 0) {
        out_error("out of memory");
        rc = ADMIN_UNREACHABLE;
        goto out;
    }
    if ((a->json ? out_record_print_json(r, stdout) : out_record_print_text(r, stdout)) != 0) {
        out_error("cannot write the output");
        rc = ADMIN_UNREACHABLE;
    }
out:
    out_record_free(r);
    if (ri.realm != NULL)
        freeReplyObject(ri.realm);
    if (ri.heal != NULL)
        freeReplyObject(ri.heal);
    return rc;
}

/* -- kick ------------------------------------------------------------------- */

/* kick NAME: end the realm's session as a deregister would (kick.lua). */
int admin_cmd_kick(struct admin_ctx *a, int argc, char **argv)
{
    struct session_keys sk;
    char err[512];
    redisReply *r = NULL;
    int rc = ADMIN_OK;

    if (argc != 1) {
        out_error("usage: kick NAME");
        return ADMIN_USAGE;
    }
    const char *name = argv[0];
    if (session_keys_for(&sk, name) != 0) {
        out_error("realm %s is not registered", name);
        return ADMIN_NOT_FOUND;
    }
    if (scripts_load(a->scripts_dir, err, sizeof(err)) != 0) {
        out_error("%s (see --scripts-dir)", err);
        return ADMIN_USAGE;
    }
    if (redis_sync_load_library(a->redis, err, sizeof(err)) != 0) {
        out_error("%s", err);
        rc = a->redis->err ? ADMIN_UNREACHABLE : ADMIN_NOT_FOUND;
        goto out;
    }
    char nkeys[8];
    snprintf(nkeys, sizeof(nkeys), "%d", SESSION_KEYS);
    const char *argv_fcall[3 + SESSION_KEYS + 2] = { "FCALL", scripts_get(SCRIPT_KICK)->function,
                                                     nkeys };
    memcpy(argv_fcall + 3, sk.keys, sizeof(sk.keys));
    argv_fcall[3 + SESSION_KEYS] = name;
    argv_fcall[4 + SESSION_KEYS] = sk.channel;
    r = redisCommandArgv(a->redis, 3 + SESSION_KEYS + 2, argv_fcall, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        rc = admin_redis_failed(a, r, "FCALL kick");
    } else if (r->integer == STORE_NO_REALM) {
        out_error("realm %s is not registered", name);
        rc = ADMIN_NOT_FOUND;
    } else if (r->integer != STORE_OK) {
        out_error("kick %s: unexpected status %lld", name, r->integer);
        rc = ADMIN_NOT_FOUND;
    } else {
        struct out_record *o = out_record_new();
        int w = o == NULL || out_str(o, "name", name) != 0 || out_bool(o, "kicked", 1) != 0
                    ? -1
                : a->json ? out_record_print_json(o, stdout)
                          : (printf("kicked %s\n", name) < 0 ? -1 : 0);
        out_record_free(o);
        if (w != 0) {
            out_error("cannot write the output");
            rc = ADMIN_UNREACHABLE;
        }
    }
out:
    if (r != NULL)
        freeReplyObject(r);
    scripts_free();
    return rc;
}
