/* token_json.c -- a scoped token's record as JSON (see token_json.h). */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "token_json.h"

/* Copy the string member of o into out (cap bytes); absent: "". 0 or -1. */
static int take_string(struct json_object *v, const char *key, char *out, size_t cap,
                       char *err, size_t errlen)
{
    if (!json_object_is_type(v, json_type_string) || (size_t)json_object_get_string_len(v) >= cap ||
        strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
        snprintf(err, errlen, "\"%s\" must be a string of at most %zu bytes", key, cap - 1);
        return -1;
    }
    memcpy(out, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
    return 0;
}

/* "expires": "30d" or a whole number of seconds. */
static int take_expires(struct json_object *v, long long now_ms, struct token_rec *rec,
                        char *err, size_t errlen)
{
    char text[32];
    long long ms;
    if (json_object_is_type(v, json_type_int))
        snprintf(text, sizeof(text), "%lld", (long long)json_object_get_int64(v));
    else if (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) < 31)
        snprintf(text, sizeof(text), "%s", json_object_get_string(v));
    else
        text[0] = '\0';
    if (token_duration_ms(text, &ms) != 0) {
        snprintf(err, errlen, "\"expires\" must be a duration such as \"30d\", \"12h\" or seconds");
        return -1;
    }
    rec->expires = now_ms + ms;
    return 0;
}

/* One member of the body into rec. 0, or -1 with err. */
static int take_member(const char *key, struct json_object *v, long long now_ms,
                       struct token_rec *rec, char *err, size_t errlen)
{
    if (strcmp(key, "scope") == 0) {
        char scope[16];
        if (take_string(v, key, scope, sizeof(scope), err, errlen) != 0)
            return -1;
        rec->scope = token_scope_parse(scope);
        return 0;
    }
    if (strcmp(key, "realm") == 0)
        return take_string(v, key, rec->realm, sizeof(rec->realm), err, errlen);
    if (strcmp(key, "prefix") == 0)
        return take_string(v, key, rec->prefix, sizeof(rec->prefix), err, errlen);
    if (strcmp(key, "connect_realm") == 0)
        return take_string(v, key, rec->connect_realm, sizeof(rec->connect_realm), err, errlen);
    if (strcmp(key, "connect_prefix") == 0)
        return take_string(v, key, rec->connect_prefix, sizeof(rec->connect_prefix), err, errlen);
    if (strcmp(key, "label") == 0)
        return take_string(v, key, rec->label, sizeof(rec->label), err, errlen);
    if (strcmp(key, "expires") == 0)
        return take_expires(v, now_ms, rec, err, errlen);
    if (strcmp(key, "relay") == 0 && json_object_is_type(v, json_type_boolean)) {
        rec->relay = json_object_get_boolean(v);
        return 0;
    }
    if (strcmp(key, "quota") == 0 && json_object_is_type(v, json_type_int) &&
        json_object_get_int64(v) >= 0 && json_object_get_int64(v) <= 1000000000) {
        rec->quota = (long)json_object_get_int64(v);
        return 0;
    }
    snprintf(err, errlen, "unknown member or bad value: \"%.40s\"", key);
    return -1;
}

int token_json_parse(const char *buf, size_t len, long long now_ms, struct token_rec *rec,
                     char *err, size_t errlen)
{
    memset(rec, 0, sizeof(*rec));
    rec->relay = 1;
    rec->created = now_ms;
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = tok ? json_tokener_parse_ex(tok, buf, (int)len) : NULL;
    int rc = -1;
    if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
        snprintf(err, errlen, "the body must be one JSON object");
    } else {
        rc = 0;
        json_object_object_foreach(o, key, v) {
            if (take_member(key, v, now_ms, rec, err, errlen) != 0) {
                rc = -1;
                break;
            }
        }
        if (rc == 0)
            rc = token_check(rec, err, errlen);
    }
    json_object_put(o);
    if (tok != NULL)
        json_tokener_free(tok);
    return rc;
}

static int add(struct json_object *o, const char *key, struct json_object *v)
{
    if (v == NULL || json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return -1;
    }
    return 0;
}

struct json_object *token_json(const struct token_rec *rec)
{
    struct json_object *o = json_object_new_object();
    if (o == NULL)
        return NULL;
    int bad = add(o, "id", json_object_new_string(rec->id)) ||
              add(o, "scope", json_object_new_string(token_scope_name(rec->scope))) ||
              add(o, "realm", json_object_new_string(rec->realm)) ||
              add(o, "prefix", json_object_new_string(rec->prefix)) ||
              add(o, "connect_realm", json_object_new_string(rec->connect_realm)) ||
              add(o, "connect_prefix", json_object_new_string(rec->connect_prefix)) ||
              add(o, "quota", json_object_new_int64(rec->quota)) ||
              add(o, "expires", json_object_new_int64(rec->expires)) ||
              add(o, "created", json_object_new_int64(rec->created)) ||
              add(o, "relay", json_object_new_boolean(rec->relay)) ||
              add(o, "label", json_object_new_string(rec->label));
    if (bad) {
        json_object_put(o);
        return NULL;
    }
    return o;
}
