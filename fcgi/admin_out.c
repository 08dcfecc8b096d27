/* admin_out.c -- what hysteria-realm-admin prints (see admin_out.h).
 *
 * The only file of the tool that includes json-c. Single-threaded.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "admin_out.h"

enum out_kind { OUT_STR, OUT_INT, OUT_AT, OUT_ADDRS, OUT_BOOL, OUT_SUB };

struct out_field {
    char *key;
    enum out_kind kind;
    int present;              /* 0: absent ("-" / null) */
    char *str;                /* OUT_STR, OUT_ADDRS */
    long long num;            /* OUT_INT, OUT_AT (the time), OUT_BOOL */
    long long now;            /* OUT_AT: the time it is compared with */
    struct out_record *sub;   /* OUT_SUB */
};

struct out_record {
    struct out_field *f;
    size_t n, cap;
};

struct out_list {
    struct out_record **r;
    size_t n, cap;
};

struct out_table {
    size_t ncols;
    char **cells;             /* row-major; row 0 is the header */
    size_t nrows, cap;        /* rows including the header */
};

#define OUT_JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | \
                        JSON_C_TO_STRING_NOSLASHESCAPE)

/* -- records ------------------------------------------------------------- */

struct out_record *out_record_new(void)
{
    return calloc(1, sizeof(struct out_record));
}

void out_record_free(struct out_record *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->f[i].key);
        free(r->f[i].str);
        out_record_free(r->f[i].sub);
    }
    free(r->f);
    free(r);
}

/* A new zeroed field named key at the end of r, or NULL. */
static struct out_field *field_add(struct out_record *r, const char *key, enum out_kind kind)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct out_field *f = realloc(r->f, cap * sizeof(*f));
        if (f == NULL)
            return NULL;
        r->f = f;
        r->cap = cap;
    }
    char *k = strdup(key);
    if (k == NULL)
        return NULL;
    struct out_field *f = &r->f[r->n++];
    memset(f, 0, sizeof(*f));
    f->key = k;
    f->kind = kind;
    return f;
}

int out_str(struct out_record *r, const char *key, const char *val)
{
    char *s = NULL;
    if (val != NULL && (s = strdup(val)) == NULL)
        return -1;
    struct out_field *f = field_add(r, key, OUT_STR);
    if (f == NULL) {
        free(s);
        return -1;
    }
    f->present = s != NULL;
    f->str = s;
    return 0;
}

int out_int(struct out_record *r, const char *key, long long val)
{
    struct out_field *f = field_add(r, key, OUT_INT);
    if (f == NULL)
        return -1;
    f->present = 1;
    f->num = val;
    return 0;
}

/* Parse s (digits, an optional leading '-') into *out. 0, or -1. */
static int parse_ll(const char *s, long long *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || !(isdigit((unsigned char)s[0]) || s[0] == '-'))
        return -1;
    *out = v;
    return 0;
}

int out_count(struct out_record *r, const char *key, const char *val)
{
    long long v = 0;
    int ok = parse_ll(val, &v) == 0;
    struct out_field *f = field_add(r, key, OUT_INT);
    if (f == NULL)
        return -1;
    f->present = ok;
    f->num = v;
    return 0;
}

int out_ms_at(struct out_record *r, const char *key, const char *val, long long now_ms)
{
    long long v = 0;
    int ok = parse_ll(val, &v) == 0;
    struct out_field *f = field_add(r, key, OUT_AT);
    if (f == NULL)
        return -1;
    f->present = ok;
    f->num = v;
    f->now = now_ms;
    return 0;
}

int out_addrs(struct out_record *r, const char *key, const char *json)
{
    if (out_str(r, key, json) != 0)
        return -1;
    r->f[r->n - 1].kind = OUT_ADDRS;
    return 0;
}

int out_bool(struct out_record *r, const char *key, int val)
{
    struct out_field *f = field_add(r, key, OUT_BOOL);
    if (f == NULL)
        return -1;
    f->present = 1;
    f->num = val != 0;
    return 0;
}

int out_sub(struct out_record *r, const char *key, struct out_record *sub)
{
    struct out_field *f = field_add(r, key, OUT_SUB);
    if (f == NULL) {
        out_record_free(sub);
        return -1;
    }
    f->present = 1;
    f->sub = sub;
    return 0;
}

/* -- text ---------------------------------------------------------------- */

char *out_age(long long ms, char *buf, size_t len)
{
    long long s = ms / 1000;
    if (ms < 0)
        snprintf(buf, len, "-");
    else if (s < 60)
        snprintf(buf, len, "%llds", s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm", s / 60);
    else if (s < 48 * 3600)
        snprintf(buf, len, "%lldh", s / 3600);
    else
        snprintf(buf, len, "%lldd", s / 86400);
    return buf;
}

char *out_addrs_line(const char *json, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    if (json == NULL) {
        snprintf(buf, len, "-");
        return buf;
    }
    json_object *a = json_tokener_parse(json);
    size_t off = 0;
    buf[0] = '\0';
    if (a == NULL || !json_object_is_type(a, json_type_array)) {
        snprintf(buf, len, "?");
        json_object_put(a);
        return buf;
    }
    size_t n = json_object_array_length(a);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(a, i);
        const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "?";
        int w = snprintf(buf + off, len - off, "%s%s", i ? "," : "", s);
        if (w < 0 || (size_t)w >= len - off)
            break;
        off += (size_t)w;
    }
    if (n == 0)
        snprintf(buf, len, "-");
    json_object_put(a);
    return buf;
}

/* The text of field f into buf ("-" when absent). */
static const char *field_text(const struct out_field *f, char *buf, size_t len)
{
    if (!f->present)
        return "-";
    switch (f->kind) {
    case OUT_STR:
        return f->str;
    case OUT_INT:
        snprintf(buf, len, "%lld", f->num);
        return buf;
    case OUT_AT: {
        char age[32];
        snprintf(buf, len, "%s ago", out_age(f->now - f->num < 0 ? 0 : f->now - f->num,
                                             age, sizeof(age)));
        return buf;
    }
    case OUT_ADDRS:
        return out_addrs_line(f->str, buf, len);
    case OUT_BOOL:
        return f->num ? "yes" : "no";
    case OUT_SUB:
        return "";
    }
    return "-";
}

static int record_text(const struct out_record *r, FILE *f, int indent)
{
    char buf[4096];
    for (size_t i = 0; i < r->n; i++) {
        const struct out_field *x = &r->f[i];
        if (x->kind == OUT_SUB) {
            if (fprintf(f, "%*s%s:\n", indent, "", x->key) < 0 ||
                record_text(x->sub, f, indent + 2) != 0)
                return -1;
            continue;
        }
        if (fprintf(f, "%*s%s: %s\n", indent, "", x->key, field_text(x, buf, sizeof(buf))) < 0)
            return -1;
    }
    return 0;
}

int out_record_print_text(const struct out_record *r, FILE *f)
{
    return record_text(r, f, 0);
}

/* -- JSON ---------------------------------------------------------------- */

/* "hb_at" -> "hb_age_ms", "x" -> "x_age_ms". */
static void age_key(const char *key, char *buf, size_t len)
{
    size_t n = strlen(key);
    if (n > 3 && strcmp(key + n - 3, "_at") == 0)
        snprintf(buf, len, "%.*s_age_ms", (int)(n - 3), key);
    else
        snprintf(buf, len, "%s_age_ms", key);
}

/* Add one json-c value (taken over) to o under key. 0, or -1. */
static int obj_add(json_object *o, const char *key, json_object *v)
{
    if (json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return -1;
    }
    return 0;
}

static json_object *record_json(const struct out_record *r)
{
    json_object *o = json_object_new_object();
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < r->n; i++) {
        const struct out_field *x = &r->f[i];
        json_object *v = NULL;
        int bad = 0;
        if (x->present) {
            switch (x->kind) {
            case OUT_STR:
                v = json_object_new_string(x->str);
                bad = v == NULL;
                break;
            case OUT_INT:
            case OUT_AT:
                v = json_object_new_int64(x->num);
                bad = v == NULL;
                break;
            case OUT_ADDRS:
                /* As stored; a value that is not JSON stays a string. */
                v = json_tokener_parse(x->str);
                if (v == NULL)
                    v = json_object_new_string(x->str);
                bad = v == NULL;
                break;
            case OUT_BOOL:
                v = json_object_new_boolean((json_bool)x->num);
                bad = v == NULL;
                break;
            case OUT_SUB:
                v = record_json(x->sub);
                bad = v == NULL;
                break;
            }
        }
        if (bad || obj_add(o, x->key, v) != 0)
            goto fail;
        if (x->kind == OUT_AT) {
            char k[128];
            json_object *age = NULL;
            age_key(x->key, k, sizeof(k));
            if (x->present && (age = json_object_new_int64(x->now > x->num ? x->now - x->num
                                                                           : 0)) == NULL)
                goto fail;
            if (obj_add(o, k, age) != 0)
                goto fail;
        }
    }
    return o;
fail:
    json_object_put(o);
    return NULL;
}

/* Print v (freed) and a newline. 0, or -1. */
static int print_json(json_object *v, FILE *f)
{
    if (v == NULL)
        return -1;
    const char *s = json_object_to_json_string_ext(v, OUT_JSON_FLAGS);
    int rc = s != NULL && fprintf(f, "%s\n", s) >= 0 ? 0 : -1;
    json_object_put(v);
    return rc;
}

int out_record_print_json(const struct out_record *r, FILE *f)
{
    return print_json(record_json(r), f);
}

/* -- lists --------------------------------------------------------------- */

struct out_list *out_list_new(void)
{
    return calloc(1, sizeof(struct out_list));
}

void out_list_free(struct out_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        out_record_free(l->r[i]);
    free(l->r);
    free(l);
}

int out_list_add(struct out_list *l, struct out_record *r)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct out_record **p = realloc(l->r, cap * sizeof(*p));
        if (p == NULL) {
            out_record_free(r);
            return -1;
        }
        l->r = p;
        l->cap = cap;
    }
    l->r[l->n++] = r;
    return 0;
}

int out_list_print_json(const struct out_list *l, FILE *f)
{
    json_object *a = json_object_new_array();
    if (a == NULL)
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        json_object *o = record_json(l->r[i]);
        if (o == NULL || json_object_array_add(a, o) != 0) {
            json_object_put(o);
            json_object_put(a);
            return -1;
        }
    }
    return print_json(a, f);
}

/* -- tables -------------------------------------------------------------- */

struct out_table *out_table_new(size_t ncols, const char *const *header)
{
    struct out_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    if (out_table_add(t, header) != 0) {
        out_table_free(t);
        return NULL;
    }
    return t;
}

void out_table_free(struct out_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

int out_table_add(struct out_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **p = realloc(t->cells, cap * t->ncols * sizeof(*p));
        if (p == NULL)
            return -1;
        t->cells = p;
        t->cap = cap;
    }
    char **row = &t->cells[t->nrows * t->ncols];
    for (size_t c = 0; c < t->ncols; c++) {
        row[c] = strdup(cells[c] != NULL ? cells[c] : "-");
        if (row[c] == NULL) {
            while (c-- > 0)
                free(row[c]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

/* Rows compare by their first cell (a row starts with its pointer). */
static int row_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void out_table_sort(struct out_table *t)
{
    if (t->nrows < 3)
        return;
    /* Rows are ncols pointers each: sort them as fixed-size elements. */
    qsort(&t->cells[t->ncols], t->nrows - 1, t->ncols * sizeof(char *), row_cmp);
}

int out_table_print(const struct out_table *t, FILE *f)
{
    size_t *w = calloc(t->ncols, sizeof(*w));
    if (w == NULL)
        return -1;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);
            if (n > w[c])
                w[c] = n;
        }
    int rc = 0;
    for (size_t r = 0; r < t->nrows && rc == 0; r++) {
        for (size_t c = 0; c < t->ncols && rc == 0; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c + 1 == t->ncols)
                rc = fprintf(f, "%s\n", s) < 0 ? -1 : 0;
            else
                rc = fprintf(f, "%-*s  ", (int)w[c], s) < 0 ? -1 : 0;
        }
    }
    free(w);
    return rc;
}

/* -- errors -------------------------------------------------------------- */

void out_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (iscntrl((unsigned char)*p))
            *p = ' ';
    fprintf(stderr, "hysteria-realm-admin: %s\n", msg);
}
