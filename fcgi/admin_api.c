/* admin_api.c -- the admin HTTP API for panels: create, list and revoke
 * scoped tokens, and end a realm's session (loop thread only).
 *
 * Served only where the proxy sets the FastCGI param HR_ADMIN=1 (a listen
 * of its own, loopback in the shipped configurations) and only when the
 * worker has --admin-token-file; the admin token is compared through
 * SHA-256 digests in constant time. JSON in and out:
 *
 *   POST   /admin/v1/tokens       token_json.h body -> 201 the record + "token"
 *   GET    /admin/v1/tokens       200 {"tokens":[record...]}, soonest expiry first
 *   DELETE /admin/v1/tokens/{id}  204 (the realms registered with it end too),
 *                                 or 404 token_not_found
 *   DELETE /admin/v1/realms/{name} 204: the realm's session ends as a
 *                                 deregister (kick.lua); 404 realm_not_found
 *
 * Creating needs --token-key-file too (503 no_token_key without it). The
 * token itself is in the answer to its POST only: Redis keeps its mac.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "admin_api.h"
#include "aredis.h"
#include "authz.h"
#include "bearer.h"
#include "conn.h"
#include "contract.h"
#include "fcgi_reader.h"
#include "hex.h"
#include "keys.h"
#include "log.h"
#include "loop.h"
#include "name.h"
#include "respond.h"
#include "revoke_call.h"
#include "scripts.h"
#include "status.h"
#include "token_json.h"

#define TOKENS_PATH "/admin/v1/tokens"
#define REALMS_PATH "/admin/v1/realms"
#define LIST_MAX 10000                 /* tokens one listing shows */

/* A listing in progress: one HMGET per token, answered when all are in. */
struct listing {
    struct loop *l;
    struct conn *c;
    struct json_object *arr;
    size_t waiting;
    int failed;
};

/* A create in flight. */
struct change {
    struct conn *c;
    struct token_rec rec;
    char token[TOKEN_LEN + 1];
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void respond_json(struct conn *c, int status, struct json_object *o)
{
    const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
    char *body = s ? malloc(strlen(s) + 2) : NULL;
    if (body == NULL) {
        respond_error(c, 503, "internal", "out of memory, try again");
    } else {
        snprintf(body, strlen(s) + 2, "%s\n", s);
        respond(c, status, NULL, body);
    }
    free(body);
}

/* The call finished: 0 and the connection unreferenced, or -1 when nobody waits. */
static int still_there(struct conn *c)
{
    int alive = conn_alive(c);
    conn_unref(c);
    return alive ? 0 : -1;
}

/* ---- POST: create ---- */

static void on_added(void *priv, const struct aresult *res)
{
    struct change *k = priv;
    if (still_there(k->c) == 0) {
        if (res->err || res->n < 1 || !res->items[0].is_int || res->items[0].i != 0) {
            respond_unavailable(k->c);      /* an error, or an id drawn twice */
        } else {
            struct json_object *o = token_json(&k->rec);
            if (o != NULL)
                json_object_object_add(o, "token", json_object_new_string(k->token));
            log_msg(LOG_INFO, "token_added", "id=%s scope=%s", k->rec.id,
                    token_scope_name(k->rec.scope));
            respond_json(k->c, 201, o);
            json_object_put(o);
        }
    }
    explicit_bzero(k->token, sizeof(k->token));
    free(k);
}

static void create(struct loop *l, struct conn *c, const struct fcgi_request *fr)
{
    const struct config *cfg = loop_config(l);
    char err[160], key[KEY_MAX], exp[24], bufs[TOKEN_FIELDS][TOKEN_FIELD_BUF];
    const char *vals[TOKEN_FIELDS];
    if (cfg->token_key == NULL) {
        respond_error(c, 503, "no_token_key", "the worker has no --token-key-file");
        return;
    }
    struct change *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        respond_error(c, 503, "internal", "out of memory, try again");
        return;
    }
    if (token_json_parse(fr->body, fr->body_len, now_ms(), &k->rec, err, sizeof(err)) != 0) {
        respond_error(c, 400, "bad_request", err);
        free(k);
        return;
    }
    if (token_new(&k->rec, cfg->token_key, strlen(cfg->token_key), k->token) != 0) {
        respond_error(c, 503, "internal", "entropy failure, try again");
        free(k);
        return;
    }
    key_for(KEY_TOKEN, k->rec.id, key, sizeof(key));
    snprintf(exp, sizeof(exp), "%lld", k->rec.expires);
    token_fields(&k->rec, bufs, vals);
    const char *keys[2] = { key, KEY_TOKENS };
    const char *args[2 + 2 * TOKEN_FIELDS] = { k->rec.id, exp };
    for (int f = 0; f < TOKEN_FIELDS; f++) {
        args[2 + 2 * f] = token_field_names[f];
        args[3 + 2 * f] = vals[f];
    }
    k->c = c;
    if (aredis_script(loop_redis(l), SCRIPT_TOKEN_ADD, 2, keys, 2 + 2 * TOKEN_FIELDS, args,
                      on_added, k) != 0) {
        free(k);
        respond_unavailable(c);
        return;
    }
    conn_ref(c);
}

/* ---- GET: list ---- */

static void listing_done(struct listing *g)
{
    if (still_there(g->c) == 0) {
        if (g->failed) {
            respond_unavailable(g->c);
        } else {
            struct json_object *o = json_object_new_object();
            if (o != NULL && json_object_object_add(o, "tokens", g->arr) == 0)
                g->arr = NULL;
            respond_json(g->c, 200, o);
            json_object_put(o);
        }
    }
    json_object_put(g->arr);
    free(g);
}

struct one { struct listing *g; char id[TOKEN_ID_HEX + 1]; };

static void on_record(void *priv, const struct aresult *res)
{
    struct one *k = priv;
    struct listing *g = k->g;
    struct token_rec rec;
    int got = authz_record(res, k->id, &rec);
    if (got < 0)
        g->failed = 1;
    else if (got > 0)           /* else gone since the listing (expired, revoked): left out */
        json_object_array_add(g->arr, token_json(&rec));
    free(k);
    if (--g->waiting == 0)
        listing_done(g);
}

/* Ask the record of every listed id; 0, or -1 (nothing asked) on failure. */
static int ask_records(struct loop *l, struct listing *g, const struct aresult *res)
{
    for (size_t i = 0; i < res->n; i++) {
        char key[KEY_MAX];
        const char *argv[2 + TOKEN_FIELDS] = { "HMGET", key };
        struct one *k = calloc(1, sizeof(*k));
        if (k == NULL || res->items[i].s == NULL || res->items[i].len != TOKEN_ID_HEX) {
            free(k);
            continue;
        }
        memcpy(k->id, res->items[i].s, TOKEN_ID_HEX);
        k->g = g;
        key_for(KEY_TOKEN, k->id, key, sizeof(key));
        for (size_t f = 0; f < TOKEN_FIELDS; f++)
            argv[2 + f] = token_field_names[f];
        if (aredis_command(loop_redis(l), 2 + TOKEN_FIELDS, argv, on_record, k) != 0) {
            free(k);
            g->failed = 1;
            return g->waiting == 0 ? -1 : 0;
        }
        g->waiting++;
    }
    return 0;
}

static void on_ids(void *priv, const struct aresult *res)
{
    struct listing *g = priv;
    g->failed = res->err;
    if (!res->err && conn_alive(g->c) && ask_records(g->l, g, res) == 0 &&
        g->waiting > 0)
        return;
    listing_done(g);
}

static void list(struct loop *l, struct conn *c)
{
    char now[24], limit[24];
    struct listing *g = calloc(1, sizeof(*g));
    if (g == NULL || (g->arr = json_object_new_array()) == NULL) {
        free(g);
        respond_error(c, 503, "internal", "out of memory, try again");
        return;
    }
    snprintf(now, sizeof(now), "(%lld", now_ms());
    snprintf(limit, sizeof(limit), "%d", LIST_MAX);
    const char *argv[7] = { "ZRANGEBYSCORE", KEY_TOKENS, now, "+inf", "LIMIT", "0", limit };
    g->l = l;
    g->c = c;
    if (aredis_command(loop_redis(l), 7, argv, on_ids, g) != 0) {
        json_object_put(g->arr);
        free(g);
        respond_unavailable(c);
        return;
    }
    conn_ref(c);
}

/* ---- DELETE: revoke ---- */

#define REVOKE_TRIES 3          /* reads of the token's realms before 503 */

/* A revoke in flight: read hr:tokrealms:{id}, then token_revoke.lua with
 * those realms' keys; again if a register slipped in between. */
struct revocation {
    struct loop *l;
    struct conn *c;
    int tries;
    char id[TOKEN_ID_HEX + 1];
    char realms[KEY_MAX];
};

static void revoke_read(struct revocation *v);

static void revoke_end(struct revocation *v, int status, const char *code, const char *msg)
{
    if (still_there(v->c) == 0) {
        if (status == 503)
            respond_unavailable(v->c);
        else if (code != NULL)
            respond_error(v->c, status, code, msg);
        else
            respond(v->c, status, NULL, NULL);
    }
    free(v);
}

static void on_revoked(void *priv, const struct aresult *res)
{
    struct revocation *v = priv;
    if (res->err || res->n != 2 || !res->items[0].is_int || !res->items[1].is_int) {
        revoke_end(v, 503, NULL, NULL);
    } else if (res->items[0].i == STORE_REREAD && ++v->tries < REVOKE_TRIES && conn_alive(v->c)) {
        revoke_read(v);
    } else if (res->items[0].i == STORE_OK) {
        log_msg(LOG_INFO, "token_revoked", "id=%s sessions_ended=%lld", v->id, res->items[1].i);
        revoke_end(v, 204, NULL, NULL);
    } else if (res->items[0].i == STORE_NO_REALM) {
        revoke_end(v, 404, "token_not_found", "no such token");
    } else {
        revoke_end(v, 503, NULL, NULL);
    }
}

/* The token's realms are in: revoke it and end their sessions. */
static void on_members(void *priv, const struct aresult *res)
{
    struct revocation *v = priv;
    struct revoke_call call;
    const char **names = calloc(res->n + 1, sizeof(*names));
    size_t *lens = calloc(res->n + 1, sizeof(*lens)), n = 0;
    int sent = -1;
    for (size_t i = 0; !res->err && names != NULL && lens != NULL && i < res->n; i++)
        if (res->items[i].s != NULL) {
            names[n] = res->items[i].s;
            lens[n++] = res->items[i].len;
        }
    if (!res->err && names != NULL && lens != NULL && conn_alive(v->c) &&
        revoke_call_build(&call, scripts_get(SCRIPT_TOKEN_REVOKE)->function, v->id, names, lens,
                          n) == 0) {
        sent = aredis_command(loop_redis(v->l), call.argc, call.argv, on_revoked, v);
        revoke_call_free(&call);
    }
    free(names);
    free(lens);
    if (sent != 0)
        revoke_end(v, 503, NULL, NULL);
}

static void revoke_read(struct revocation *v)
{
    const char *argv[2] = { "SMEMBERS", v->realms };
    if (aredis_command(loop_redis(v->l), 2, argv, on_members, v) != 0)
        revoke_end(v, 503, NULL, NULL);
}

static void revoke(struct loop *l, struct conn *c, const char *id)
{
    if (strlen(id) != TOKEN_ID_HEX || !hex_check(id, TOKEN_ID_HEX, 1)) {
        respond_error(c, 404, "token_not_found", "no such token");
        return;
    }
    struct revocation *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        respond_error(c, 503, "internal", "out of memory, try again");
        return;
    }
    v->l = l;
    v->c = c;
    snprintf(v->id, sizeof(v->id), "%s", id);
    key_for(KEY_TOKEN_REALMS, id, v->realms, sizeof(v->realms));
    conn_ref(c);
    revoke_read(v);
}

/* ---- DELETE realm: kick ---- */

/* A kick in flight. */
struct kick {
    struct conn *c;
    char name[RR_NAME_MAX + 1];
};

static void on_kicked(void *priv, const struct aresult *res)
{
    struct kick *k = priv;
    if (still_there(k->c) == 0) {
        if (res->err || res->n < 1 || !res->items[0].is_int) {
            respond_unavailable(k->c);
        } else if (res->items[0].i == STORE_OK) {
            log_msg(LOG_INFO, "realm_kicked", "realm=%s", k->name);
            respond(k->c, 204, NULL, NULL);
        } else {
            respond_error(k->c, 404, "realm_not_found", "realm not registered");
        }
    }
    free(k);
}

/* End realm name's session, as hysteria-realm-admin kick does. */
static void kick(struct loop *l, struct conn *c, const char *name)
{
    struct session_keys sk;
    int m = name_match(loop_names(l), name, strlen(name));
    if (m < 0) {
        respond_unavailable(c);
        return;
    }
    if (m == 0 || session_keys_for(&sk, name) != 0) {
        respond_error(c, 404, "realm_not_found", "realm not registered");
        return;
    }
    struct kick *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        respond_error(c, 503, "internal", "out of memory, try again");
        return;
    }
    k->c = c;
    snprintf(k->name, sizeof(k->name), "%s", name);
    const char *args[2] = { name, sk.channel };
    if (aredis_script(loop_redis(l), SCRIPT_KICK, SESSION_KEYS, sk.keys, 2, args, on_kicked, k) != 0) {
        free(k);
        respond_unavailable(c);
        return;
    }
    conn_ref(c);
}

/* ---- routing ---- */

static int admin_token_ok(const struct config *cfg, const struct fcgi_request *fr)
{
    const char *cred;
    size_t len;
    if (!bearer_parse(fcgi_request_param(fr, "HTTP_AUTHORIZATION"), &cred, &len))
        return 0;
    return token_secret_equal(cfg->admin_token, strlen(cfg->admin_token), cred, len);
}

int admin_api_request(struct loop *l, struct conn *c, const struct fcgi_request *fr,
                      const char *path)
{
    const struct config *cfg = loop_config(l);
    const char *method = fcgi_request_param(fr, "REQUEST_METHOD");
    const char *allowed = fcgi_request_param(fr, "HR_ADMIN");
    if (strncmp(path, "/admin/", 7) != 0 || allowed == NULL || strcmp(allowed, "1") != 0 ||
        cfg->admin_token == NULL)
        return 0;
    method = method ? method : "";
    int whole = strcmp(path, TOKENS_PATH) == 0;
    int one = strncmp(path, TOKENS_PATH "/", sizeof(TOKENS_PATH)) == 0;
    int realm = strncmp(path, REALMS_PATH "/", sizeof(REALMS_PATH)) == 0 &&
                path[sizeof(REALMS_PATH)] != '\0';
    if (!whole && !one && !realm)
        respond_error(c, 404, "not_found", "not found");
    else if (!admin_token_ok(cfg, fr))
        respond_error(c, 401, "invalid_token", "invalid admin token");
    else if (whole && strcmp(method, "GET") == 0)
        list(l, c);
    else if (whole && strcmp(method, "POST") == 0)
        create(l, c, fr);
    else if (one && strcmp(method, "DELETE") == 0)
        revoke(l, c, path + sizeof(TOKENS_PATH));
    else if (realm && strcmp(method, "DELETE") == 0)
        kick(l, c, path + sizeof(REALMS_PATH));
    else
        respond(c, 405, whole ? "Allow: GET, POST\r\n" : "Allow: DELETE\r\n",
                "{\"error\":\"method_not_allowed\",\"message\":\"method not allowed\"}\n");
    return 1;
}
