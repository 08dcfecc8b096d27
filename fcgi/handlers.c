/* handlers.c -- the endpoints, run on the event loop.
 *
 * Checks run in the contract's order: path and method (404, 405), body size
 * (413), realm name (400), credentials (401), body (400), then Redis.
 * When the body is bad but the credential is a session id, the session is
 * checked first (read-only) so that a wrong session still answers 401.
 * Nothing is written to Redis for a request that fails a check. A fault
 * that may pass (Redis away, out of memory, a name PCRE2 gave up on) is a
 * 503, never a 400: a Hysteria server stops registering after a 400.
 *
 * A Redis call carries a struct call: the connection (referenced, so a
 * reply that comes after the proxy went away finds it closed, not freed)
 * and what the answer needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "admin_api.h"
#include "authz.h"
#include "bearer.h"
#include "aredis.h"
#include "durable.h"
#include "body.h"
#include "bus.h"
#include "conn.h"
#include "contract.h"
#include "fcgi_reader.h"
#include "handlers.h"
#include "hex.h"
#include "keys.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "name.h"
#include "respond.h"
#include "route.h"
#include "status.h"
#include "stream.h"
#include "waiter.h"

#define PATH_MAX_LEN 2048
#define WHY_MAX 160
#define BIT(st) (1u << (st))

static char *ttl_reply;       /* {"ttl":N}\n, the heartbeat reply */
static char *ttl_event;       /* {"ttl":N}, the heartbeat_ack event data */
static long ttl_s;            /* --session-ttl */

/* One request's facts, gathered once (valid during handle_request). */
struct req {
    struct loop *l;
    struct conn *c;
    const struct fcgi_request *fr;
    struct route_match m;
    const char *bearer;              /* credential after "Bearer ", or NULL */
    size_t bearer_len;
    char sid[RR_SESSION_HEX + 1];    /* the bearer, when it is a session id */
    const struct token_rec *tok;     /* a scoped token's record, NULL for the shared token */
    int tok_bound;                   /* the name is the scoped token's own (it may re-claim) */
};

typedef void endpoint_fn(struct req *q);

/* A request waiting for its scoped token's record (with_token). */
struct pending {
    struct req q;
    endpoint_fn *fn;
};

/* A Redis call in flight for a short request. */
struct call {
    struct conn *c;
    enum route_endpoint ep;
    char why[WHY_MAX];               /* the 400 message, for a bad body */
    char sid[RR_SESSION_HEX + 1];    /* for logs (prefix only) */
    char name[];
};

int handlers_init(const struct config *cfg)
{
    ttl_s = cfg->session_ttl;
    ttl_reply = body_ttl_reply(cfg->session_ttl);
    ttl_event = body_heartbeat_event(cfg->session_ttl);
    if (ttl_reply == NULL || ttl_event == NULL) {
        handlers_free();
        return -1;
    }
    return 0;
}

void handlers_free(void)
{
    free(ttl_reply);
    free(ttl_event);
    ttl_reply = ttl_event = NULL;
}

/* ---- calls ---- */

static struct call *call_new(const struct req *q, const char *why)
{
    size_t nlen = strlen(q->m.name);
    struct call *k = calloc(1, sizeof(*k) + nlen + 1);
    if (k == NULL) {
        log_msg(LOG_ERROR, "out_of_memory", "what=request");
        return NULL;
    }
    k->c = q->c;
    k->ep = q->m.ep;
    memcpy(k->name, q->m.name, nlen + 1);
    memcpy(k->sid, q->sid, sizeof(k->sid));
    if (why != NULL)
        snprintf(k->why, sizeof(k->why), "%s", why);
    return k;
}

/* FCALL for q with the reply going to fn; 503 at once if Redis is away. */
static void call_send(const struct req *q, const char *why, enum script_id id,
                      int nkeys, const char *const *keys, int nargs, const char *const *args,
                      aredis_fn *fn)
{
    struct call *k = call_new(q, why);
    if (k == NULL) {
        respond_error(q->c, 503, "internal", "out of memory, try again");
        return;
    }
    /* What a client is told is done waits for the replicas (--redis-wait). */
    struct durable *d = loop_durable(q->l);
    int durable = d != NULL && (id == SCRIPT_REGISTER || id == SCRIPT_DEREGISTER ||
                                id == SCRIPT_CONNECT_ANSWER);
    int rc = durable ? durable_script(d, id, nkeys, keys, nargs, args, fn, k)
                     : aredis_script(loop_redis(q->l), id, nkeys, keys, nargs, args, fn, k);
    if (rc != 0) {
        free(k);
        log_msg(LOG_WARN, "store_unavailable", "error=\"not connected\"");
        respond_unavailable(q->c);
        return;
    }
    conn_ref(k->c);
}

/* The status of a function's reply, or STORE_UNAVAILABLE. */
static enum store_status reply_status(const struct aresult *res)
{
    if (res->err || res->n < 1 || !res->items[0].is_int ||
        res->items[0].i < STORE_OK || res->items[0].i > STORE_QUOTA)
        return STORE_UNAVAILABLE;
    return (enum store_status)res->items[0].i;
}

/* Start of every reply callback: the status, or -2 when nobody waits.
 * Statuses the caller does not list (expect: a bit per status) and
 * failures are answered here. */
static int call_take(struct call *k, const struct aresult *res, unsigned expect)
{
    int alive = conn_alive(k->c);
    conn_unref(k->c);
    if (!alive)
        return -2;
    enum store_status st = reply_status(res);
    if (st >= 0 && st != STORE_BAD_SESSION && !(expect & (1u << st))) {
        log_msg(LOG_ERROR, "unexpected_status", "status=%d", (int)st);
        st = STORE_UNAVAILABLE;
    }
    if (st == STORE_UNAVAILABLE) {
        log_msg(LOG_WARN, "store_unavailable", "error=\"%s\"",
                res->err ? "no reply or an error reply" : "unexpected reply");
        respond_unavailable(k->c);
    } else if (st == STORE_BAD_SESSION) {
        respond_error(k->c, 401, "invalid_token", "invalid or expired session");
    }
    return st;
}

/* ---- replies to calls ---- */

static void on_register(void *priv, const struct aresult *res)
{
    struct call *k = priv;
    int st = call_take(k, res, BIT(STORE_OK) | BIT(STORE_TAKEN) | BIT(STORE_REALM_LIMIT) |
                       BIT(STORE_IP_LIMIT) | BIT(STORE_TOKEN_GONE) | BIT(STORE_QUOTA));
    char *body;
    switch (st) {
    case STORE_OK:
        log_msg(LOG_DEBUG, "registered", "realm=%s session=%s", k->name, log_sid(k->sid));
        body = body_register_reply(k->sid, ttl_s);
        if (body == NULL)
            respond_error(k->c, 503, "internal", "out of memory, try again");
        else
            respond(k->c, 200, NULL, body);
        free(body);
        break;
    case STORE_TAKEN:
        respond_error(k->c, 409, "realm_taken", "realm already registered");
        break;
    case STORE_REALM_LIMIT:
        respond_error(k->c, 429, "realm_limit_reached", "global realm limit reached");
        break;
    case STORE_IP_LIMIT:
        respond_error(k->c, 429, "ip_limit_reached", "per-IP realm limit reached");
        break;
    case STORE_TOKEN_GONE:       /* revoked between the check and the register */
        respond_error(k->c, 401, "invalid_token", "invalid token");
        break;
    case STORE_QUOTA:
        respond_error(k->c, 429, "token_quota_reached", "the token's quota of live realms is reached");
        break;
    default:
        break;
    }
    free(k);
}

static void on_heartbeat(void *priv, const struct aresult *res)
{
    struct call *k = priv;
    int st = call_take(k, res, BIT(STORE_OK) | BIT(STORE_HEALED));
    if (st == STORE_OK) {
        log_msg(LOG_DEBUG, "heartbeat", "realm=%s session=%s", k->name, log_sid(k->sid));
        respond(k->c, 200, NULL, ttl_reply);
    } else if (st == STORE_HEALED) {
        /* The realm's stream was stale (heartbeat.lua): the session is
         * over, and a 404 makes the Hysteria server register again. */
        log_msg(LOG_INFO, "stale_stream_healed", "realm=%s", k->name);
        respond_error(k->c, 404, "realm_not_found", "realm not registered");
    }
    free(k);
}

static void on_status(void *priv, const struct aresult *res)
{
    struct call *k = priv;
    int st = call_take(k, res, BIT(STORE_OK) | BIT(STORE_NO_REALM));
    if (st == STORE_OK && res->n == 3 && res->items[1].is_int && res->items[2].is_int) {
        char body[96];
        snprintf(body, sizeof(body), "{\"online\":true,\"last_heartbeat_s\":%lld,\"stream\":%s}\n",
                 res->items[1].i / 1000, res->items[2].i ? "true" : "false");
        respond(k->c, 200, NULL, body);
    } else if (st == STORE_OK) {
        log_msg(LOG_ERROR, "unexpected_status", "what=status");
        respond_unavailable(k->c);
    } else if (st == STORE_NO_REALM) {
        respond_error(k->c, 404, "realm_not_found", "realm not registered");
    }
    free(k);
}

static void on_deregister(void *priv, const struct aresult *res)
{
    struct call *k = priv;
    if (call_take(k, res, BIT(STORE_OK)) == STORE_OK) {
        log_msg(LOG_DEBUG, "deregistered", "realm=%s session=%s", k->name, log_sid(k->sid));
        respond(k->c, 204, NULL, NULL);
    }
    free(k);
}

static void on_answer(void *priv, const struct aresult *res)
{
    struct call *k = priv;
    int st = call_take(k, res, BIT(STORE_OK) | BIT(STORE_NO_ATTEMPT));
    if (st == STORE_OK) {
        log_msg(LOG_DEBUG, "answer_posted", "realm=%s", k->name);
        respond(k->c, 204, NULL, NULL);
    } else if (st == STORE_NO_ATTEMPT) {
        respond_error(k->c, 404, "attempt_not_found", "no connect attempt in flight for this nonce");
    }
    free(k);
}

/* The body was bad: the session decides between 401 and 400. */
static void on_bad_body(void *priv, const struct aresult *res)
{
    struct call *k = priv;
    if (call_take(k, res, BIT(STORE_OK)) == STORE_OK)
        respond_error(k->c, 400, "bad_request", k->why);
    free(k);
}

/* ---- credentials ---- */

static void parse_bearer(struct req *q)
{
    (void)bearer_parse(fcgi_request_param(q->fr, "HTTP_AUTHORIZATION"), &q->bearer, &q->bearer_len);
}

/* The shared token: compared in constant time, its length not leaked. */
static int token_ok(const struct req *q)
{
    const char *t = loop_config(q->l)->token;
    return q->bearer != NULL && token_secret_equal(t, strlen(t), q->bearer, q->bearer_len);
}

/* A session id we could have made: 32 lowercase hex. Copied into q->sid. */
static int session_shape_ok(struct req *q)
{
    if (q->bearer == NULL || q->bearer_len != RR_SESSION_HEX)
        return 0;
    memcpy(q->sid, q->bearer, RR_SESSION_HEX);
    q->sid[RR_SESSION_HEX] = '\0';
    return hex_check(q->sid, RR_SESSION_HEX, 1);
}

static void client_ip(const struct req *q, char out[RR_IP_STRLEN])
{
    const char *param = loop_config(q->l)->trusted_proxy_param;
    const char *v = param ? fcgi_request_param(q->fr, param) : NULL;
    if (v != NULL && addr_ip_from_header(v, out, RR_IP_STRLEN) == 0)
        return;
    v = fcgi_request_param(q->fr, "REMOTE_ADDR");
    if (v != NULL && addr_normalize_ip(v, out, RR_IP_STRLEN) == 0)
        return;
    snprintf(out, RR_IP_STRLEN, "unknown");
}

/* A body that failed to parse: 503 when it was our memory, else the
 * session check then 400 (session routes) or 400 at once. */
static void bad_body(struct req *q, enum body_result br, const char *why)
{
    char key[KEY_MAX];
    if (br == BODY_NOMEM) {
        log_msg(LOG_ERROR, "out_of_memory", "what=json");
        respond_error(q->c, 503, "internal", "out of memory, try again");
        return;
    }
    if (q->m.auth != AUTH_SESSION) {
        respond_error(q->c, 400, "bad_request", why);
        return;
    }
    key_for(KEY_REALM, q->m.name, key, sizeof(key));
    const char *keys[1] = { key };
    const char *args[1] = { q->sid };
    call_send(q, why, SCRIPT_SESSION, 1, keys, 1, args, on_bad_body);
}

/* ---- short endpoints ---- */

/* POST /v1/{id}, the credential checked (with_token). */
static void do_register(struct req *q)
{
    struct addr_list addrs;
    char why[WHY_MAX], ip[RR_IP_STRLEN], ttl[24], maxr[24], maxip[24], quota[24], texp[24];
    char key[KEY_MAX], ev[KEY_MAX], att[KEY_MAX], ans[KEY_MAX], ch[KEY_MAX];
    char tok[KEY_MAX], tokrealms[KEY_MAX];
    const struct config *cfg = loop_config(q->l);
    const char *id = q->tok ? q->tok->id : "";
    enum body_result br = body_parse_addresses(q->fr->body, q->fr->body_len, &addrs, why, sizeof(why));
    if (br != BODY_OK) {
        bad_body(q, br, why);
        return;
    }
    char *json = body_addresses_json(&addrs);
    if (json == NULL || hex_random(q->sid, RR_SESSION_HEX / 2) != 0) {
        free(json);
        log_msg(LOG_ERROR, "register_failed", "error=\"entropy or memory\"");
        respond_error(q->c, 503, "internal", "entropy or memory failure, try again");
        return;
    }
    client_ip(q, ip);
    key_for(KEY_REALM, q->m.name, key, sizeof(key));
    key_for(KEY_EVENTS, q->m.name, ev, sizeof(ev));
    key_for(KEY_ATTEMPTS, q->m.name, att, sizeof(att));
    key_for(KEY_ANSWERS, q->m.name, ans, sizeof(ans));
    key_for(KEY_CHANNEL, q->m.name, ch, sizeof(ch));
    snprintf(ttl, sizeof(ttl), "%ld", cfg->session_ttl * 1000);
    snprintf(maxr, sizeof(maxr), "%ld", cfg->max_realms);
    snprintf(maxip, sizeof(maxip), "%ld", cfg->max_realms_per_ip);
    snprintf(quota, sizeof(quota), "%ld", q->tok ? q->tok->quota : 0L);
    snprintf(texp, sizeof(texp), "%lld", q->tok ? q->tok->expires : 0LL);
    key_for(KEY_TOKEN, id, tok, sizeof(tok));
    key_for(KEY_TOKEN_REALMS, id, tokrealms, sizeof(tokrealms));
    const char *keys[11] = { key, ev, att, ans, KEY_REALMS, KEY_REALMIP, KEY_BYIP, KEY_METRICS,
                             KEY_REALMTOK, tok, tokrealms };
    const char *args[12] = { q->m.name, q->sid, json, ip, ttl, maxr, maxip, id, quota,
                             q->tok_bound ? "1" : "0", ch, texp };
    log_msg(LOG_DEBUG, "register", "realm=%s ip=%s", q->m.name, ip);
    call_send(q, NULL, SCRIPT_REGISTER, 11, keys, 12, args, on_register);
    free(json);
}

static void do_heartbeat(struct req *q)
{
    struct addr_list addrs;
    char why[WHY_MAX], ttl[24], ip[RR_IP_STRLEN];
    char key[KEY_MAX], ev[KEY_MAX], att[KEY_MAX], ans[KEY_MAX], heal[KEY_MAX], ch[KEY_MAX];
    const struct config *cfg = loop_config(q->l);
    enum body_result br = body_parse_heartbeat(q->fr->body, q->fr->body_len, &addrs, why, sizeof(why));
    if (br != BODY_OK && br != BODY_ABSENT) {
        bad_body(q, br, why);
        return;
    }
    char *json = br == BODY_OK ? body_addresses_json(&addrs) : NULL;
    if (br == BODY_OK && json == NULL) {
        bad_body(q, BODY_NOMEM, why);
        return;
    }
    client_ip(q, ip);
    key_for(KEY_REALM, q->m.name, key, sizeof(key));
    key_for(KEY_EVENTS, q->m.name, ev, sizeof(ev));
    key_for(KEY_ATTEMPTS, q->m.name, att, sizeof(att));
    key_for(KEY_ANSWERS, q->m.name, ans, sizeof(ans));
    key_for(KEY_HEAL, q->m.name, heal, sizeof(heal));
    key_for(KEY_CHANNEL, q->m.name, ch, sizeof(ch));
    snprintf(ttl, sizeof(ttl), "%ld", cfg->session_ttl * 1000);
    const char *keys[10] = { key, ev, KEY_REALMS, att, ans, KEY_REALMIP, KEY_BYIP, heal, KEY_METRICS,
                             KEY_REALMTOK };
    const char *args[8] = { q->m.name, q->sid, json ? json : "", ttl, ttl_event, ch, ip,
                            cfg->heal ? "1" : "0" };
    call_send(q, NULL, SCRIPT_HEARTBEAT, 10, keys, 8, args, on_heartbeat);
    free(json);
}

/* GET /v1/{id}, the status lookup (an extension, --status-lookup); the
 * credential checked (with_token). */
static void do_status(struct req *q)
{
    char key[KEY_MAX];
    key_for(KEY_REALM, q->m.name, key, sizeof(key));
    const char *keys[1] = { key };
    call_send(q, NULL, SCRIPT_STATUS, 1, keys, 0, NULL, on_status);
}

static void do_deregister(struct req *q)
{
    struct session_keys k;
    session_keys_for(&k, q->m.name);
    const char *args[3] = { q->m.name, q->sid, k.channel };
    call_send(q, NULL, SCRIPT_DEREGISTER, SESSION_KEYS, k.keys, 3, args, on_deregister);
}

static void do_answer(struct req *q)
{
    struct addr_list addrs;
    char why[WHY_MAX], nonce[RR_NONCE_HEX + 1];
    char key[KEY_MAX], att[KEY_MAX], ans[KEY_MAX], ch[KEY_MAX];
    if (q->m.nonce_bad || !hex_check(q->m.nonce, RR_NONCE_HEX, 0)) {
        bad_body(q, BODY_BAD, "nonce must be 32 hex digits");
        return;
    }
    enum body_result br = body_parse_addresses(q->fr->body, q->fr->body_len, &addrs, why, sizeof(why));
    char *json = br == BODY_OK ? body_addresses_json(&addrs) : NULL;
    if (br != BODY_OK || json == NULL) {
        bad_body(q, br == BODY_OK ? BODY_NOMEM : br, why);
        return;
    }
    hex_lower(nonce, q->m.nonce, RR_NONCE_HEX);
    key_for(KEY_REALM, q->m.name, key, sizeof(key));
    key_for(KEY_ATTEMPTS, q->m.name, att, sizeof(att));
    key_for(KEY_ANSWERS, q->m.name, ans, sizeof(ans));
    key_for(KEY_CHANNEL, q->m.name, ch, sizeof(ch));
    const char *keys[4] = { key, att, ans, KEY_RELAY_ATT };
    const char *args[4] = { q->sid, nonce, json, ch };
    call_send(q, NULL, SCRIPT_CONNECT_ANSWER, 4, keys, 4, args, on_answer);
    free(json);
}

/* ---- held endpoints ---- */

/* 1 if this worker may hold one more request; else answered 503. */
static int may_hold(const struct req *q)
{
    long cap = loop_config(q->l)->max_held;
    if (cap == 0 || loop_held(q->l) < (size_t)cap)
        return 1;
    log_msg(LOG_WARN, "worker_busy", "held=%zu", loop_held(q->l));
    respond_error(q->c, 503, "worker_busy", "this worker holds as many requests as it may, try again");
    return 0;
}

static long long last_event_id(const struct req *q)
{
    const char *v = fcgi_request_param(q->fr, "HTTP_LAST_EVENT_ID");
    char *end;
    if (v == NULL || *v < '0' || *v > '9')
        return -1;
    long long id = strtoll(v, &end, 10);
    return *end == '\0' && id >= 0 ? id : -1;
}

static void do_events(struct req *q)
{
    char ip[RR_IP_STRLEN];
    client_ip(q, ip);
    if (may_hold(q))
        stream_open(q->l, q->c, q->m.name, q->sid, ip, last_event_id(q));
}

/* POST /v1/{id}/connect, the credential checked (with_token). */
static void do_connect(struct req *q)
{
    struct connect_body cb;
    char why[WHY_MAX];
    enum body_result br = body_parse_connect(q->fr->body, q->fr->body_len, &cb, why, sizeof(why));
    if (br != BODY_OK) {
        bad_body(q, br, why);
        return;
    }
    char ip[RR_IP_STRLEN];
    client_ip(q, ip);
    if (may_hold(q))
        waiter_open(q->l, q->c, q->m.name, ip, q->tok == NULL || q->tok->relay, &cb);
}

/* ---- the realm token: shared, or scoped ---- */

/* What the scoped token rec allows q's endpoint on q's realm. */
static int token_allows(struct req *q, const struct token_rec *rec)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (q->m.ep == EP_REGISTER)
        return token_may_register(rec, q->m.name, now, &q->tok_bound);
    return token_may_connect(rec, q->m.name, now);
}

static void on_token(void *priv, enum authz_result r, const struct token_rec *rec)
{
    struct pending *p = priv;
    struct req *q = &p->q;
    int alive = conn_alive(q->c);
    conn_unref(q->c);
    if (!alive)
        ;
    else if (r == AUTHZ_UNAVAILABLE)
        respond_unavailable(q->c);
    else if (r != AUTHZ_OK || !token_allows(q, rec))
        respond_error(q->c, 401, "invalid_token", "invalid token");
    else {
        q->tok = rec;
        p->fn(q);
    }
    free(p);
}

/* Run fn for q once its realm token is known good: the shared token at
 * once; a scoped token (authz.h) after its record is read and allows the
 * endpoint on this realm; anything else 401. */
static void with_token(struct req *q, endpoint_fn *fn)
{
    char id[TOKEN_ID_HEX + 1], mac[TOKEN_MAC_HEX + 1];
    if (token_ok(q)) {
        fn(q);
        return;
    }
    if (!authz_parse(loop_config(q->l)->token_key, q->bearer, q->bearer_len, id, mac)) {
        respond_error(q->c, 401, "invalid_token", "invalid token");
        return;
    }
    struct pending *p = malloc(sizeof(*p));
    if (p == NULL) {
        respond_error(q->c, 503, "internal", "out of memory, try again");
        return;
    }
    p->q = *q;
    p->fn = fn;
    if (authz_lookup(q->l, id, mac, on_token, p) != 0) {
        free(p);
        respond_unavailable(q->c);
        return;
    }
    conn_ref(q->c);
}

/* ---- dispatch ---- */

static void dispatch(struct req *q)
{
    if (q->m.auth == AUTH_SESSION && !session_shape_ok(q)) {
        respond_error(q->c, 401, "invalid_token", "invalid or expired session");
        return;
    }
    switch (q->m.ep) {
    case EP_REGISTER: with_token(q, do_register); break;
    case EP_DEREGISTER: do_deregister(q); break;
    case EP_EVENTS: do_events(q); break;
    case EP_HEARTBEAT: do_heartbeat(q); break;
    case EP_CONNECT: with_token(q, do_connect); break;
    case EP_ANSWER: do_answer(q); break;
    case EP_STATUS: with_token(q, do_status); break;
    default: respond_error(q->c, 404, "not_found", "not found");
    }
}

/* The request path without its query string, or NULL if too long. */
static const char *request_path(const struct fcgi_request *fr, char buf[PATH_MAX_LEN])
{
    const char *uri = fcgi_request_param(fr, "REQUEST_URI");
    if (uri == NULL)
        uri = fcgi_request_param(fr, "SCRIPT_NAME");
    if (uri == NULL)
        return "";
    size_t len = strcspn(uri, "?");
    if (len >= PATH_MAX_LEN)
        return NULL;
    memcpy(buf, uri, len);
    buf[len] = '\0';
    return buf;
}

static void method_not_allowed(struct req *q)
{
    char allow[64];
    snprintf(allow, sizeof(allow), "Allow: %s\r\n", q->m.allow);
    char *err = body_error("method_not_allowed", "method not allowed");
    if (err == NULL)
        respond_error(q->c, 503, "internal", "out of memory, try again");
    else
        respond(q->c, 405, allow, err);
    free(err);
}

/* The route label of a matched endpoint. */
static enum metrics_route route_of(enum route_endpoint ep)
{
    switch (ep) {
    case EP_REGISTER: case EP_DEREGISTER: case EP_STATUS: return MR_REALM;
    case EP_EVENTS: return MR_EVENTS;
    case EP_HEARTBEAT: return MR_HEARTBEAT;
    case EP_CONNECT: return MR_CONNECT;
    case EP_ANSWER: return MR_ANSWER;
    default: return MR_OTHER;
    }
}

/* /healthz, /readyz and /metrics (this last one only where the proxy says
 * so: the metrics listen of the shipped configs sets HR_METRICS=1). 1 if
 * path was one of them (answered), else 0. */
static int operator_path(struct loop *l, struct conn *c, const struct fcgi_request *fr,
                         const char *path)
{
    struct conn_note *note = conn_note(c);
    const char *allowed = fcgi_request_param(fr, "HR_METRICS");
    if (strcmp(path, "/healthz") == 0) {
        note->route = MR_HEALTHZ;
        respond(c, 200, NULL, "{\"status\":\"ok\"}\n");
    } else if (strcmp(path, "/readyz") == 0) {
        note->route = MR_READYZ;
        if (aredis_ready(loop_redis(l)) && bus_ready(loop_bus(l)) &&
            (loop_durable(l) == NULL || durable_ready(loop_durable(l))))
            respond(c, 200, NULL, "{\"status\":\"ready\"}\n");
        else
            respond_error(c, 503, "not_ready", "Redis is not reachable from this worker");
    } else if (admin_api_request(l, c, fr, path)) {
        note->route = MR_OTHER;
    } else if (strcmp(path, "/metrics") == 0 && metrics_enabled() &&
               allowed != NULL && strcmp(allowed, "1") == 0) {
        note->route = MR_METRICS;
        metrics_scrape(l, c);
    } else {
        return 0;
    }
    return 1;
}

void handle_request(struct loop *l, struct conn *c)
{
    char pathbuf[PATH_MAX_LEN];
    struct req q = { .l = l, .c = c, .fr = conn_request(c) };
    const char *method = fcgi_request_param(q.fr, "REQUEST_METHOD");
    const char *path = request_path(q.fr, pathbuf);
    int named;
    conn_note(c)->method = metrics_method(method);
    if (path != NULL && path[0] == '/' && path[1] != 'v' && operator_path(l, c, q.fr, path))
        return;
    route_match_ext(method ? method : "", path ? path : "",
                    loop_config(l)->status_lookup ? ROUTE_EXT_STATUS : 0, &q.m);
    conn_note(c)->route = route_of(q.m.ep);
    if (q.m.ep == EP_NONE) {
        respond_error(c, 404, "not_found", "not found");
    } else if (!q.m.method_ok) {
        method_not_allowed(&q);
    } else if (q.fr->body_too_large) {
        respond_error(c, 413, "bad_request", "request body over 4096 bytes");
    } else if ((named = q.m.name_len == 0 ? 0 : name_match(loop_names(l), q.m.name, q.m.name_len)) < 0) {
        log_msg(LOG_WARN, "name_check_failed", "error=\"PCRE2 match limit or out of memory\"");
        respond_error(c, 503, "internal", "the realm name could not be checked, try again");
    } else if (named == 0) {
        respond_error(c, 400, "bad_request", "invalid realm name");
    } else if (loop_stopping(l) && (q.m.ep == EP_EVENTS || q.m.ep == EP_CONNECT)) {
        /* A stopping worker holds nothing new: closed unanswered, nginx
         * passes the request to the next worker (fastcgi_next_upstream). */
        conn_close(c);
    } else {
        parse_bearer(&q);
        dispatch(&q);
    }
}
