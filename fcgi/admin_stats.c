/* admin_stats.c -- hysteria-realm-admin stats: the deployment at a glance.
 *
 * Live realms are counted like the workers count them (ZCOUNT hr:realms
 * after TIME); streams and multi-address realms by reading each live
 * realm's hold flag (HEXISTS, never its value) and hr:heal:{name} multi in
 * pipelined batches; workers from hr:workers; the counters are the fields
 * of hr:metrics named hysteria_realm_*_total (labels after the name), read
 * with HSCAN. Blocking; single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "admin_out.h"
#include "admin_stats.h"
#include "keys.h"

#define METRIC_PREFIX "hysteria_realm_"
#define METRIC_SUFFIX "_total"

/* ZCOUNT key (now +inf into *n. An admin_exit. */
static int count_after(struct admin_ctx *a, const char *key, long long now, long long *n)
{
    char since[32];
    snprintf(since, sizeof(since), "(%lld", now);
    redisReply *r = redisCommand(a->redis, "ZCOUNT %s %s +inf", key, since);
    int rc = ADMIN_OK;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        *n = r->integer;
    else
        rc = admin_redis_failed(a, r, "ZCOUNT");
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

/* Count among names[0..n-1] the realms held by a stream and those marked
 * multi-address, in one pipeline. An admin_exit. */
static int count_batch(struct admin_ctx *a, char **names, size_t n, long long *streams,
                       long long *multi)
{
    size_t queued = 0;
    int rc = ADMIN_OK;
    for (; queued < n; queued++) {
        char rk[KEY_MAX], hk[KEY_MAX];
        if (key_for(KEY_REALM, names[queued], rk, sizeof(rk)) != 0 ||
            key_for(KEY_HEAL, names[queued], hk, sizeof(hk)) != 0)
            break;
        if (redisAppendCommand(a->redis, "HEXISTS %s hold", rk) != REDIS_OK ||
            redisAppendCommand(a->redis, "HGET %s multi", hk) != REDIS_OK) {
            out_error("out of memory");
            return ADMIN_UNREACHABLE;
        }
    }
    for (size_t i = 0; i < 2 * queued; i++) {
        void *v = NULL;
        redisReply *r = redisGetReply(a->redis, &v) == REDIS_OK ? v : NULL;
        if (rc != ADMIN_OK) {
            /* keep reading so the pipeline stays in step; report once */
        } else if (i % 2 == 0 && r != NULL && r->type == REDIS_REPLY_INTEGER) {
            *streams += r->integer != 0;
        } else if (i % 2 == 1 && r != NULL &&
                   (r->type == REDIS_REPLY_NIL || r->type == REDIS_REPLY_STRING)) {
            *multi += r->type == REDIS_REPLY_STRING && strcmp(r->str, "1") == 0;
        } else {
            rc = admin_redis_failed(a, r, i % 2 ? "HGET" : "HEXISTS");
        }
        if (r != NULL)
            freeReplyObject(r);
        else
            break;
    }
    return rc;
}

/* 1 if the hr:metrics field s is a counter of ours: "hysteria_realm_" +
 * a name ending in "_total", then optionally "{labels}". */
static int metric_wanted(const char *s)
{
    size_t p = strlen(METRIC_PREFIX), sl = strlen(METRIC_SUFFIX);
    if (strncmp(s, METRIC_PREFIX, p) != 0)
        return 0;
    const char *brace = strchr(s, '{');
    size_t n = brace ? (size_t)(brace - s) : strlen(s);
    return n >= p + sl && strncmp(s + n - sl, METRIC_SUFFIX, sl) == 0;
}

/* One counter: its series and value (both pointing into a kept reply). */
struct metric {
    const char *series;
    const char *value;
};

static int metric_cmp(const void *x, const void *y)
{
    return strcmp(((const struct metric *)x)->series, ((const struct metric *)y)->series);
}

/* Read hr:metrics with HSCAN and add its counters, sorted, to m as
 * series: value. An admin_exit. */
static int read_metrics(struct admin_ctx *a, struct out_record *m)
{
    char cursor[32] = "0";
    redisReply **pages = NULL;
    struct metric *ms = NULL;
    size_t npages = 0, n = 0, cap = 0;
    int rc = ADMIN_OK;

    do {
        redisReply *r = redisCommand(a->redis, "HSCAN %s %s COUNT 1000", KEY_METRICS, cursor);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY ||
            r->element[0]->len >= sizeof(cursor)) {
            rc = admin_redis_failed(a, r, "HSCAN " KEY_METRICS);
            if (r != NULL)
                freeReplyObject(r);
            break;
        }
        redisReply **p = realloc(pages, (npages + 1) * sizeof(*p));
        if (p == NULL) {
            freeReplyObject(r);
            rc = -1;
            break;
        }
        pages = p;
        pages[npages++] = r;
        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
        const redisReply *kv = r->element[1];
        for (size_t i = 0; i + 1 < kv->elements && rc == ADMIN_OK; i += 2) {
            if (kv->element[i]->type != REDIS_REPLY_STRING ||
                kv->element[i + 1]->type != REDIS_REPLY_STRING ||
                !metric_wanted(kv->element[i]->str))
                continue;
            if (n == cap) {
                size_t c = cap ? cap * 2 : 64;
                struct metric *q = realloc(ms, c * sizeof(*q));
                if (q == NULL) {
                    rc = -1;
                    break;
                }
                ms = q;
                cap = c;
            }
            ms[n].series = kv->element[i]->str;
            ms[n++].value = kv->element[i + 1]->str;
        }
    } while (rc == ADMIN_OK && strcmp(cursor, "0") != 0);

    if (rc == ADMIN_OK && n > 1)
        qsort(ms, n, sizeof(*ms), metric_cmp);
    /* HSCAN may return a field twice: keep each series once. */
    for (size_t i = 0; i < n && rc == ADMIN_OK; i++) {
        if (i > 0 && strcmp(ms[i].series, ms[i - 1].series) == 0)
            continue;
        char *end;
        long long v = strtoll(ms[i].value, &end, 10);
        if ((*end == '\0' && end != ms[i].value ? out_int(m, ms[i].series, v)
                                                : out_str(m, ms[i].series, ms[i].value)) != 0)
            rc = -1;
    }
    if (rc == -1) {
        out_error("out of memory");
        rc = ADMIN_UNREACHABLE;
    }
    for (size_t i = 0; i < npages; i++)
        freeReplyObject(pages[i]);
    free(pages);
    free(ms);
    return rc;
}

/* The value of "field:" in an INFO reply text, copied into buf ("" if
 * absent). */
static void info_field(const char *info, const char *field, char *buf, size_t len)
{
    size_t fl = strlen(field);
    buf[0] = '\0';
    for (const char *p = info; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, field, fl) == 0 && p[fl] == ':') {
            size_t n = strcspn(p + fl + 1, "\r\n");
            snprintf(buf, len, "%.*s", (int)n, p + fl + 1);
            return;
        }
    }
}

/* Redis's role and memory use into s. An admin_exit. */
static int read_info(struct admin_ctx *a, struct out_record *s)
{
    char role[64], mem[32], human[32];
    redisReply *r = redisCommand(a->redis, "INFO replication memory");
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        int rc = admin_redis_failed(a, r, "INFO");
        if (r != NULL)
            freeReplyObject(r);
        return rc;
    }
    info_field(r->str, "role", role, sizeof(role));
    info_field(r->str, "used_memory", mem, sizeof(mem));
    info_field(r->str, "used_memory_human", human, sizeof(human));
    freeReplyObject(r);
    char *end;
    long long used = strtoll(mem, &end, 10);
    if (out_str(s, "redis_role", role[0] ? role : NULL) != 0 ||
        (mem[0] && *end == '\0' ? out_int(s, "redis_used_memory", used)
                                : out_str(s, "redis_used_memory", NULL)) != 0 ||
        out_str(s, "redis_used_memory_human", human[0] ? human : NULL) != 0) {
        out_error("out of memory");
        return ADMIN_UNREACHABLE;
    }
    return ADMIN_OK;
}

/* stats: the deployment at a glance, "key: value" or one JSON object. */
int admin_cmd_stats(struct admin_ctx *a, int argc, char **argv)
{
    struct out_record *s = NULL, *m = NULL;
    char **names = NULL;
    size_t n = 0;
    long long now, live = 0, workers = 0, streams = 0, multi = 0;
    int rc;

    (void)argv;
    if (argc != 0) {
        out_error("stats takes no argument");
        return ADMIN_USAGE;
    }
    if ((rc = admin_redis_time(a, &now)) != ADMIN_OK ||
        (rc = count_after(a, KEY_REALMS, now, &live)) != ADMIN_OK ||
        (rc = count_after(a, KEY_WORKERS, now, &workers)) != ADMIN_OK ||
        (rc = admin_live_realms(a, now, &names, &n)) != ADMIN_OK)
        goto out;
    for (size_t off = 0; off < n && rc == ADMIN_OK; off += ADMIN_BATCH)
        rc = count_batch(a, names + off, n - off < ADMIN_BATCH ? n - off : ADMIN_BATCH,
                         &streams, &multi);
    if (rc != ADMIN_OK)
        goto out;
    if ((s = out_record_new()) == NULL || (m = out_record_new()) == NULL ||
        out_int(s, "realms", live) != 0 || out_int(s, "realms_with_stream", streams) != 0 ||
        out_int(s, "realms_multi_address", multi) != 0 || out_int(s, "workers", workers) != 0) {
        out_error("out of memory");
        rc = ADMIN_UNREACHABLE;
        goto out;
    }
    if ((rc = read_info(a, s)) != ADMIN_OK || (rc = read_metrics(a, m)) != ADMIN_OK)
        goto out;
    rc = out_sub(s, "metrics", m);
    m = NULL;
    if (rc != 0) {
        out_error("out of memory");
        rc = ADMIN_UNREACHABLE;
        goto out;
    }
    if ((a->json ? out_record_print_json(s, stdout) : out_record_print_text(s, stdout)) != 0) {
        out_error("cannot write the output");
        rc = ADMIN_UNREACHABLE;
    }
out:
    out_record_free(m);
    out_record_free(s);
    admin_names_free(names, n);
    return rc;
}
