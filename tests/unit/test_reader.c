/* test_reader.c -- FastCGI records read incrementally (fcgi_reader.c).
 *
 * Records are encoded here by hand; a whole byte stream is then fed to a
 * reader the way a connection would (release after a request, send the
 * reply, stop at an error) and everything the reader reports is written
 * down as a transcript, so the same bytes cut at any point must give the
 * same transcript. The protocol numbers are the FastCGI specification's
 * (libfcgi's <fastcgi.h> is included only by the modules that speak it). */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

#include "fcgi_reader.h"
#include "unit.h"

/* Record types, roles, flags and protocol statuses of FastCGI 1.0. */
enum {
    T_BEGIN = 1, T_ABORT = 2, T_END = 3, T_PARAMS = 4, T_STDIN = 5, T_STDOUT = 6,
    T_DATA = 8, T_GET_VALUES = 9, T_GET_VALUES_RESULT = 10, T_UNKNOWN_TYPE = 11
};
enum { ROLE_RESPONDER = 1, ROLE_AUTHORIZER = 2, ROLE_FILTER = 3 };
enum { KEEP_CONN = 1 };
enum { ST_CANT_MPX = 1 };     /* in transcripts: 00 complete, 01 can't mpx, 03 unknown role */

/* ---- encoding records ---- */

struct bytes {
    unsigned char *p;
    size_t len, cap;
};

/* Append n bytes of src to b (aborts the run if memory is short). */
static void put(struct bytes *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (p == NULL)
            abort();
        b->p = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_byte(struct bytes *b, int c)
{
    unsigned char u = (unsigned char)c;
    put(b, &u, 1);
}

static void bytes_free(struct bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* One record: header (version 1, type, id, clen, pad), the content, and pad
 * bytes of padding filled with 0xa5 (so padding taken for content shows). */
static void put_record_v(struct bytes *b, int version, int type, int id,
                         const void *content, size_t clen, size_t pad)
{
    unsigned char head[8] = {
        (unsigned char)version, (unsigned char)type,
        (unsigned char)(id >> 8), (unsigned char)id,
        (unsigned char)(clen >> 8), (unsigned char)clen,
        (unsigned char)pad, 0
    };
    put(b, head, sizeof head);
    put(b, content, clen);
    for (size_t k = 0; k < pad; k++)
        put_byte(b, 0xa5);
}

static void put_record(struct bytes *b, int type, int id, const void *content,
                       size_t clen, size_t pad)
{
    put_record_v(b, 1, type, id, content, clen, pad);
}

/* BEGIN_REQUEST: role and flags (FCGI_KEEP_CONN or 0). */
static void put_begin(struct bytes *b, int id, int role, int flags)
{
    unsigned char body[8] = { (unsigned char)(role >> 8), (unsigned char)role,
                              (unsigned char)flags, 0, 0, 0, 0, 0 };
    put_record(b, T_BEGIN, id, body, sizeof body, 0);
}

/* A name-value length: one byte below 128 unless wide, else four with the
 * high bit set. */
static void put_nv_len(struct bytes *b, size_t n, int wide)
{
    if (n < 128 && !wide) {
        put_byte(b, (int)n);
        return;
    }
    put_byte(b, (int)(0x80 | ((n >> 24) & 0x7f)));
    put_byte(b, (int)((n >> 16) & 0xff));
    put_byte(b, (int)((n >> 8) & 0xff));
    put_byte(b, (int)(n & 0xff));
}

/* One name-value pair of PARAMS (or GET_VALUES) content. */
static void put_pair(struct bytes *b, const char *name, const char *value, int wide)
{
    size_t nl = strlen(name), vl = strlen(value);
    put_nv_len(b, nl, wide);
    put_nv_len(b, vl, wide);
    put(b, name, nl);
    put(b, value, vl);
}

/* data as records of type of at most chunk bytes each, each padded with
 * pad bytes; then the empty record that ends the stream (padded too). */
static void put_stream(struct bytes *b, int type, int id, const void *data, size_t n,
                       size_t chunk, size_t pad)
{
    const unsigned char *p = data;
    while (n > 0) {
        size_t k = n < chunk ? n : chunk;
        put_record(b, type, id, p, k, pad);
        p += k;
        n -= k;
    }
    put_record(b, type, id, NULL, 0, pad);
}

/* A whole responder request: BEGIN, params (content already encoded), body. */
static void put_request(struct bytes *b, int id, int flags, const struct bytes *params,
                        const char *body, size_t body_len, size_t pad)
{
    put_begin(b, id, ROLE_RESPONDER, flags);
    put_stream(b, T_PARAMS, id, params->p, params->len, 65535, pad);
    put_stream(b, T_STDIN, id, body, body_len, 65535, pad);
}

/* The params of a typical request, some with long (4-byte) lengths. */
static void typical_params(struct bytes *pb)
{
    char big[301];
    memset(big, 'v', 300);
    big[300] = '\0';
    put_pair(pb, "SCRIPT_NAME", "/realms/abc/connects", 0);
    put_pair(pb, "REQUEST_METHOD", "POST", 0);
    put_pair(pb, "CONTENT_LENGTH", "11", 1);       /* short, but 4-byte lengths */
    put_pair(pb, "HTTP_AUTHORIZATION", big, 0);    /* 300 bytes: 4-byte value length */
    put_pair(pb, "EMPTY", "", 0);
}

/* ---- a connection's view: the transcript of what the reader reports ---- */

struct run {
    struct fcgi_reader r;
    char *log;
    size_t log_len, log_cap;
    int error;          /* FCGI_EV_ERROR seen: the connection is closed */
    int hold;           /* keep a complete request (no release) */
};

static void logf_(struct run *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append to the transcript. */
static void logf_(struct run *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    if (t->log_len + (size_t)n + 1 > t->log_cap) {
        size_t cap = t->log_cap ? t->log_cap : 256;
        while (cap < t->log_len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(t->log, cap);
        if (p == NULL)
            abort();
        t->log = p;
        t->log_cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->log + t->log_len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->log_len += (size_t)n;
}

static uint32_t fnv(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint32_t h = 2166136261u;
    for (size_t k = 0; k < n; k++)
        h = (h ^ s[k]) * 16777619u;
    return h;
}

/* Bytes into the transcript: themselves when short and printable, else
 * their length and a hash. */
static void log_blob(struct run *t, const char *p, size_t n)
{
    int plain = n <= 40;
    for (size_t k = 0; plain && k < n; k++)
        plain = p[k] >= 0x20 && p[k] < 0x7f;
    if (plain)
        logf_(t, "%.*s", (int)n, p);
    else
        logf_(t, "<%zu:%08x>", n, fnv(p, n));
}

static void log_request(struct run *t, const struct fcgi_request *req)
{
    logf_(t, "REQUEST id=%d keep=%d params=%zu", req->id, req->keep_conn, req->nparams);
    const char *p = req->params;
    for (size_t k = 0; k < req->nparams; k++) {
        const char *v = p + strlen(p) + 1;
        logf_(t, " ");
        log_blob(t, p, strlen(p));
        logf_(t, "=");
        log_blob(t, v, strlen(v));
        p = v + strlen(v) + 1;
    }
    logf_(t, " body=");
    log_blob(t, req->body, req->body_len);
    logf_(t, " len=%zu large=%d%s\n", req->body_len, req->body_too_large,
          req->body != NULL && req->body[req->body_len] == '\0' ? "" : " UNTERMINATED");
}

/* Handle one event as a connection would. */
static void on_event(struct run *t, enum fcgi_event ev)
{
    const struct fcgi_request *req = fcgi_reader_request(&t->r);
    const unsigned char *reply;
    size_t n;

    switch (ev) {
    case FCGI_EV_MORE:
        break;
    case FCGI_EV_REQUEST:
        if (req == NULL) {
            logf_(t, "REQUEST but fcgi_reader_request() is NULL\n");
            break;
        }
        log_request(t, req);
        if (!t->hold)
            fcgi_reader_release(&t->r);
        break;
    case FCGI_EV_REPLY:
        reply = fcgi_reader_reply(&t->r, &n);
        logf_(t, "REPLY");
        for (size_t k = 0; k < n; k++)
            logf_(t, " %02x", reply[k]);
        logf_(t, "\n");
        break;
    case FCGI_EV_ABORT:
        logf_(t, "ABORT id=%d\n", req != NULL ? req->id : -1);
        break;
    case FCGI_EV_ERROR:
        logf_(t, "ERROR oom=%d\n", t->r.oom);
        t->error = 1;
        break;
    }
}

/* Feed one piece until all of it is taken (or the reader fails). 0, or -1
 * when the reader broke its contract on *used. */
static int feed_piece(struct run *t, const unsigned char *p, size_t n)
{
    size_t off = 0;
    while (off < n && !t->error) {
        size_t used = (size_t)-1;
        enum fcgi_event ev = fcgi_reader_feed(&t->r, p + off, n - off, &used);
        if (used > n - off || (ev == FCGI_EV_MORE && used != n - off)
            || (ev != FCGI_EV_ERROR && used == 0)) {
            logf_(t, "BAD used=%zu of %zu for event %d\n", used, n - off, (int)ev);
            return -1;
        }
        off += used;
        on_event(t, ev);
    }
    return 0;
}

static void run_init(struct run *t)
{
    memset(t, 0, sizeof(*t));
    fcgi_reader_init(&t->r);
    logf_(t, "%s", "");
}

static void run_free(struct run *t)
{
    fcgi_reader_release(&t->r);
    free(t->log);
    t->log = NULL;
}

/* The transcript of data fed in pieces that end at cuts[0..ncuts) (sorted)
 * and at len. The caller frees it. */
static char *transcript_cuts(const unsigned char *data, size_t len, const size_t *cuts,
                             size_t ncuts)
{
    struct run t;
    size_t from = 0;

    run_init(&t);
    for (size_t k = 0; k <= ncuts; k++) {
        size_t to = k < ncuts ? cuts[k] : len;
        if (feed_piece(&t, data + from, to - from) != 0)
            break;
        from = to;
    }
    char *log = t.log;
    t.log = NULL;
    run_free(&t);
    return log;
}

static char *transcript(const struct bytes *b)
{
    size_t no_cut = 0;
    return transcript_cuts(b->p, b->len, &no_cut, 0);
}

/* The transcript of b fed in one call, then with every split point, one byte
 * at a time, and in pieces of pseudo-random sizes: all the same. 0, or -1
 * (the first difference reported as a failure). want gets the transcript
 * (the caller frees it). */
static int splits_agree(const struct bytes *b, char **want)
{
    char *whole = transcript(b), *got = NULL;
    size_t *cuts = malloc((b->len + 1) * sizeof(*cuts));
    const char *how = NULL;
    size_t at = 0;

    if (cuts == NULL)
        abort();
    *want = whole;
    for (size_t k = 1; k < b->len && how == NULL; k++) {
        got = transcript_cuts(b->p, b->len, &k, 1);
        if (strcmp(got, whole) != 0) {
            how = "split at";
            at = k;
        } else {
            free(got);
            got = NULL;
        }
    }
    if (how == NULL && b->len > 1) {
        for (size_t k = 0; k + 1 < b->len; k++)
            cuts[k] = k + 1;
        got = transcript_cuts(b->p, b->len, cuts, b->len - 1);
        if (strcmp(got, whole) != 0)
            how = "one byte at a time";
        else {
            free(got);
            got = NULL;
        }
    }
    for (unsigned seed = 1; seed <= 20 && how == NULL; seed++) {
        size_t n = 0, pos = 0;
        unsigned x = seed;
        for (;;) {
            x = x * 1103515245u + 12345u;
            pos += 1 + (x >> 16) % 23;
            if (pos >= b->len)
                break;
            cuts[n++] = pos;
        }
        got = transcript_cuts(b->p, b->len, cuts, n);
        if (strcmp(got, whole) != 0) {
            how = "random pieces, seed";
            at = seed;
        } else {
            free(got);
            got = NULL;
        }
    }
    free(cuts);
    if (how == NULL)
        return 0;
    unit_fail(__FILE__, __LINE__, "%s %zu: transcript\n%s-- differs from the whole feed's\n%s",
              how, at, got, whole);
    free(got);
    return -1;
}

/* Feed b whole to r; the event, *used the bytes taken. */
static enum fcgi_event feed_bytes(struct fcgi_reader *r, const struct bytes *b, size_t *used)
{
    return fcgi_reader_feed(r, b->p, b->len, used);
}

/* The value of name in a GET_VALUES_RESULT content (1-byte lengths), into
 * out (size outsz); 0, or -1 if absent. */
static int values_lookup(const unsigned char *p, size_t n, const char *name, char *out,
                         size_t outsz)
{
    size_t off = 0;
    while (off + 2 <= n) {
        size_t nl = p[off], vl = p[off + 1];
        off += 2;
        if (nl >= 128 || vl >= 128 || off + nl + vl > n)
            return -1;
        if (nl == strlen(name) && memcmp(p + off, name, nl) == 0 && vl < outsz) {
            memcpy(out, p + off + nl, vl);
            out[vl] = '\0';
            return 0;
        }
        off += nl + vl;
    }
    return -1;
}

/* ---- whole requests, any split ---- */

#define TYPICAL_WANT                                                            \
    "REQUEST id=1 keep=0 params=5 SCRIPT_NAME=/realms/abc/connects "            \
    "REQUEST_METHOD=POST CONTENT_LENGTH=11 HTTP_AUTHORIZATION=<300:%08x> "      \
    "EMPTY= body=hello world len=11 large=0\n"

TEST(reader_whole_request)
{
    struct bytes pb = { 0 }, b = { 0 };
    char want[512], big[300];
    struct fcgi_reader r;
    size_t used;

    typical_params(&pb);
    put_request(&b, 1, 0, &pb, "hello world", 11, 0);
    memset(big, 'v', sizeof big);
    snprintf(want, sizeof want, TYPICAL_WANT, fnv(big, sizeof big));

    fcgi_reader_init(&r);
    ASSERT_TRUE(fcgi_reader_request(&r) == NULL);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    const struct fcgi_request *req = fcgi_reader_request(&r);
    int ok = ev == FCGI_EV_REQUEST && used == b.len && req != NULL && req->id == 1
             && req->keep_conn == 0 && req->nparams == 5 && req->body_len == 11
             && memcmp(req->body, "hello world", 12) == 0 && !req->body_too_large;
    fcgi_reader_release(&r);
    ASSERT_TRUE(fcgi_reader_request(&r) == NULL);

    char *got = transcript(&b);
    int same = strcmp(got, want) == 0;
    if (!same)
        unit_fail(__FILE__, __LINE__, "transcript:\n%swant:\n%s", got, want);
    free(got);
    bytes_free(&pb);
    bytes_free(&b);
    ASSERT_TRUE(ok);
    ASSERT_TRUE(same);
}

TEST(reader_every_split_point)
{
    struct bytes pb = { 0 }, b = { 0 };
    char want[512], big[300], *got;

    typical_params(&pb);
    put_request(&b, 1, 0, &pb, "hello world", 11, 0);
    memset(big, 'v', sizeof big);
    snprintf(want, sizeof want, TYPICAL_WANT, fnv(big, sizeof big));
    int rc = splits_agree(&b, &got);
    int same = strcmp(got, want) == 0;
    free(got);
    bytes_free(&pb);
    bytes_free(&b);
    ASSERT_EQ_INT(0, rc);
    ASSERT_TRUE(same);
}

TEST(reader_byte_at_a_time)
{
    struct bytes pb = { 0 }, b = { 0 };
    struct fcgi_reader r;
    size_t k, used = 0, events = 0;
    enum fcgi_event ev = FCGI_EV_MORE;

    typical_params(&pb);
    put_request(&b, 7, KEEP_CONN, &pb, "hello world", 11, 0);
    fcgi_reader_init(&r);
    for (k = 0; k < b.len; k++) {
        ev = fcgi_reader_feed(&r, b.p + k, 1, &used);
        if (used != 1 || (ev != FCGI_EV_MORE && ev != FCGI_EV_REQUEST))
            break;
        events += ev != FCGI_EV_MORE;
    }
    const struct fcgi_request *req = fcgi_reader_request(&r);
    int ok = k == b.len && events == 1 && ev == FCGI_EV_REQUEST && req != NULL
             && req->id == 7 && req->keep_conn == 1 && req->nparams == 5
             && strcmp(fcgi_request_param(req, "REQUEST_METHOD"), "POST") == 0
             && strcmp(req->body, "hello world") == 0;
    fcgi_reader_release(&r);
    bytes_free(&pb);
    bytes_free(&b);
    ASSERT_TRUE(ok);
}

TEST(reader_padding)
{
    struct bytes pb = { 0 }, b = { 0 };
    char *got;

    put_pair(&pb, "A", "1", 0);
    put_pair(&pb, "BB", "22", 0);
    put_begin(&b, 3, ROLE_RESPONDER, 0);
    put_record(&b, T_PARAMS, 3, pb.p, 3, 5);                 /* "A=1", padded */
    put_record(&b, T_PARAMS, 3, pb.p + 3, pb.len - 3, 255);  /* "BB=22", most padding */
    put_record(&b, T_PARAMS, 3, NULL, 0, 7);
    put_record(&b, T_STDIN, 3, "abc", 3, 5);
    put_record(&b, T_STDIN, 3, "defgh", 5, 3);
    put_record(&b, T_STDIN, 3, NULL, 0, 255);

    int rc = splits_agree(&b, &got);
    ASSERT_EQ_INT(0, rc);
    ASSERT_EQ_STR("REQUEST id=3 keep=0 params=2 A=1 BB=22 body=abcdefgh len=8 large=0\n", got);
    free(got);
    bytes_free(&pb);
    bytes_free(&b);
}

/* ---- params ---- */

TEST(reader_params_long_lengths)
{
    struct bytes pb = { 0 }, b = { 0 };
    struct fcgi_reader r;
    char name[200], value[1000];
    size_t used;

    memset(name, 'N', sizeof name - 1);
    name[sizeof name - 1] = '\0';                   /* 199: 4-byte name length */
    for (size_t k = 0; k < sizeof value - 1; k++)
        value[k] = (char)('a' + k % 26);
    value[sizeof value - 1] = '\0';                 /* 999: 4-byte value length */
    put_pair(&pb, "SHORT", "s", 0);
    put_pair(&pb, name, value, 0);
    put_pair(&pb, "EMPTYV", "", 0);
    put_pair(&pb, "WIDE", "w", 1);                  /* short, but 4-byte lengths */
    put_pair(&pb, "LAST", value + 871, 0);          /* 128 bytes: just past one byte */
    put_request(&b, 9, 0, &pb, "", 0, 0);

    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    const struct fcgi_request *req = fcgi_reader_request(&r);
    int ok = ev == FCGI_EV_REQUEST && req != NULL && req->nparams == 5;
    const char *v_short = ok ? fcgi_request_param(req, "SHORT") : NULL;
    const char *v_name = ok ? fcgi_request_param(req, name) : NULL;
    const char *v_x = ok ? fcgi_request_param(req, "EMPTYV") : NULL;
    const char *v_wide = ok ? fcgi_request_param(req, "WIDE") : NULL;
    const char *v_last = ok ? fcgi_request_param(req, "LAST") : NULL;
    int found = v_short != NULL && strcmp(v_short, "s") == 0
                && v_name != NULL && strcmp(v_name, value) == 0
                && v_x != NULL && *v_x == '\0'
                && v_wide != NULL && strcmp(v_wide, "w") == 0
                && v_last != NULL && strlen(v_last) == 128
                && strcmp(v_last, value + 871) == 0;
    int absent = ok && fcgi_request_param(req, "SHOR") == NULL
                 && fcgi_request_param(req, "SHORTER") == NULL
                 && fcgi_request_param(req, "s") == NULL        /* a value, not a name */
                 && fcgi_request_param(req, "") == NULL
                 && fcgi_request_param(req, "short") == NULL;
    fcgi_reader_release(&r);
    bytes_free(&pb);
    bytes_free(&b);
    ASSERT_TRUE(ok);
    ASSERT_TRUE(found);
    ASSERT_TRUE(absent);
}

TEST(reader_params_across_records)
{
    struct bytes pb = { 0 }, b = { 0 };
    char value[300], *got;

    memset(value, 'q', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    put_pair(&pb, "FIRST", "one", 0);
    put_pair(&pb, "LONG", value, 0);
    put_pair(&pb, "THIRD", "three", 0);
    put_begin(&b, 2, ROLE_RESPONDER, KEEP_CONN);
    put_stream(&b, T_PARAMS, 2, pb.p, pb.len, 3, 1);   /* 3 bytes a record: pairs cut */
    put_stream(&b, T_STDIN, 2, "xyz", 3, 1, 2);

    int rc = splits_agree(&b, &got);
    ASSERT_EQ_INT(0, rc);
    char want[256];
    snprintf(want, sizeof want,
             "REQUEST id=2 keep=1 params=3 FIRST=one LONG=<299:%08x> THIRD=three "
             "body=xyz len=3 large=0\n", fnv(value, 299));
    ASSERT_EQ_STR(want, got);
    free(got);
    bytes_free(&pb);
    bytes_free(&b);
}

TEST(reader_empty_params)
{
    struct bytes pb = { 0 }, b = { 0 };
    struct fcgi_reader r;
    size_t used;

    put_request(&b, 1, 0, &pb, "x", 1, 0);
    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    const struct fcgi_request *req = fcgi_reader_request(&r);
    int ok = ev == FCGI_EV_REQUEST && req != NULL && req->nparams == 0
             && fcgi_request_param(req, "REQUEST_METHOD") == NULL
             && fcgi_request_param(req, "") == NULL && strcmp(req->body, "x") == 0;
    fcgi_reader_release(&r);
    bytes_free(&b);
    ASSERT_TRUE(ok);
}

/* Params of exactly FCGI_READER_PARAMS_MAX bytes, or one more. */
static void params_of_size(struct bytes *b, size_t size)
{
    struct bytes pb = { 0 };
    size_t vl = size - 1 - 1 - 4;             /* name "N", 1-byte and 4-byte lengths */
    char *value = malloc(vl + 1);

    if (value == NULL)
        abort();
    memset(value, 'z', vl);
    value[vl] = '\0';
    put_pair(&pb, "N", value, 0);
    put_begin(b, 1, ROLE_RESPONDER, 0);
    put_stream(b, T_PARAMS, 1, pb.p, pb.len, 40000, 0);
    put_stream(b, T_STDIN, 1, NULL, 0, 1, 0);
    free(value);
    bytes_free(&pb);
}

TEST(reader_params_at_max)
{
    struct bytes b = { 0 };
    struct fcgi_reader r;
    size_t used;

    params_of_size(&b, FCGI_READER_PARAMS_MAX);
    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    const struct fcgi_request *req = fcgi_reader_request(&r);
    const char *v = req != NULL ? fcgi_request_param(req, "N") : NULL;
    int ok = ev == FCGI_EV_REQUEST && v != NULL
             && strlen(v) == FCGI_READER_PARAMS_MAX - 6 && v[0] == 'z';
    fcgi_reader_release(&r);
    bytes_free(&b);
    ASSERT_TRUE(ok);
}

TEST(reader_params_too_large)
{
    struct bytes b = { 0 };
    struct fcgi_reader r;
    size_t used;

    params_of_size(&b, FCGI_READER_PARAMS_MAX + 1);
    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    int oom = r.oom;
    enum fcgi_event again = fcgi_reader_feed(&r, b.p + used, b.len - used, &used);
    int no_req = fcgi_reader_request(&r) == NULL;
    fcgi_reader_release(&r);
    bytes_free(&b);
    ASSERT_EQ_INT(FCGI_EV_ERROR, ev);
    ASSERT_EQ_INT(0, oom);
    ASSERT_EQ_INT(FCGI_EV_ERROR, again);
    ASSERT_EQ_INT(0, used);
    ASSERT_TRUE(no_req);
}

/* PARAMS content that is not a sequence of whole pairs. */
static enum fcgi_event feed_params(const unsigned char *content, size_t n)
{
    struct bytes b = { 0 };
    struct fcgi_reader r;
    size_t used;

    put_begin(&b, 1, ROLE_RESPONDER, 0);
    put_stream(&b, T_PARAMS, 1, content, n, 65535, 0);
    put_stream(&b, T_STDIN, 1, NULL, 0, 1, 0);
    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    if (ev == FCGI_EV_ERROR && fcgi_reader_feed(&r, b.p, b.len, &used) != FCGI_EV_ERROR)
        ev = FCGI_EV_MORE;      /* an error that did not stay */
    fcgi_reader_release(&r);
    bytes_free(&b);
    return ev;
}

TEST(reader_malformed_params)
{
    static const unsigned char name_past_end[] = { 5, 1, 'A', 'B', 'C' };
    static const unsigned char value_past_end[] = { 1, 9, 'A', 'x', 'y' };
    static const unsigned char lone_length[] = { 1, 1, 'A', 'x', 3 };
    static const unsigned char cut_wide_length[] = { 1, 1, 'A', 'x', 0x80, 0 };
    static const unsigned char wide_past_end[] = { 0x80, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 'A' };
    static const unsigned char huge_value[] = { 1, 0x80, 0x10, 0, 0, 'A', 'x' };
    static const unsigned char nul_in_name[] = { 2, 1, 'A', 0, 'x' };
    static const unsigned char empty_name[] = { 0, 1, 'x' };
    static const unsigned char ok[] = { 1, 1, 'A', 'x', 0x80, 0, 0, 1, 0x80, 0, 0, 0, 'B' };

    ASSERT_EQ_INT(FCGI_EV_ERROR, feed_params(name_past_end, sizeof name_past_end));
    ASSERT_EQ_INT(FCGI_EV_ERROR, feed_params(value_past_end, sizeof value_past_end));
    ASSERT_EQ_INT(FCGI_EV_ERROR, feed_params(lone_length, sizeof lone_length));
    ASSERT_EQ_INT(FCGI_EV_ERROR, feed_params(cut_wide_length, sizeof cut_wide_length));
    ASSERT_EQ_INT(FCGI_EV_ERROR, feed_params(wide_past_end, sizeof wide_past_end));
    ASSERT_EQ_INT(FCGI_EV_ERROR, feed_params(huge_value, sizeof huge_value));
    ASSERT_EQ_INT(FCGI_EV_ERROR, feed_params(nul_in_name, sizeof nul_in_name));
    ASSERT_EQ_INT(FCGI_EV_ERROR, feed_params(empty_name, sizeof empty_name));
    ASSERT_EQ_INT(FCGI_EV_REQUEST, feed_params(ok, sizeof ok));
}

/* ---- bodies ---- */

TEST(reader_empty_body)
{
    struct bytes pb = { 0 }, b = { 0 };
    struct fcgi_reader r;
    size_t used;

    put_pair(&pb, "REQUEST_METHOD", "GET", 0);
    put_request(&b, 4, 0, &pb, NULL, 0, 3);
    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    const struct fcgi_request *req = fcgi_reader_request(&r);
    int ok = ev == FCGI_EV_REQUEST && used == b.len && req != NULL && req->body != NULL
             && req->body_len == 0 && req->body[0] == '\0' && !req->body_too_large;
    fcgi_reader_release(&r);
    bytes_free(&pb);
    bytes_free(&b);
    ASSERT_TRUE(ok);
}

/* A request with a body of n bytes (byte k is 'a' + k % 26) in records of
 * chunk bytes, then a GET_VALUES and a second small request. */
static void body_stream(struct bytes *b, size_t n, size_t chunk)
{
    struct bytes pb = { 0 };
    char *body = malloc(n + 1);

    if (body == NULL)
        abort();
    for (size_t k = 0; k < n; k++)
        body[k] = (char)('a' + k % 26);
    put_pair(&pb, "CONTENT_LENGTH", "many", 0);
    put_begin(b, 1, ROLE_RESPONDER, KEEP_CONN);
    put_stream(b, T_PARAMS, 1, pb.p, pb.len, 65535, 0);
    put_stream(b, T_STDIN, 1, body, n, chunk, 1);
    put_record(b, T_GET_VALUES, 0, NULL, 0, 0);
    put_request(b, 2, 0, &pb, "after", 5, 0);
    free(body);
    bytes_free(&pb);
}

static int body_is_pattern(const struct fcgi_request *req, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (req->body[k] != (char)('a' + k % 26))
            return 0;
    return req->body[n] == '\0';
}

/* The first request's body of body_stream(n, chunk): *len, *large, and
 * whether the bytes are the pattern; then the rest still parses. */
static int body_check(size_t n, size_t chunk, size_t *len, int *large, int *rest_ok)
{
    struct bytes b = { 0 };
    struct fcgi_reader r;
    size_t used, off;

    body_stream(&b, n, chunk);
    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    const struct fcgi_request *req = fcgi_reader_request(&r);
    int ok = ev == FCGI_EV_REQUEST && req != NULL;
    *len = ok ? req->body_len : 0;
    *large = ok ? req->body_too_large : -1;
    ok = ok && body_is_pattern(req, req->body_len);
    fcgi_reader_release(&r);
    off = used;
    ev = fcgi_reader_feed(&r, b.p + off, b.len - off, &used);
    *rest_ok = ev == FCGI_EV_REPLY;
    off += used;
    ev = fcgi_reader_feed(&r, b.p + off, b.len - off, &used);
    req = fcgi_reader_request(&r);
    *rest_ok = *rest_ok && ev == FCGI_EV_REQUEST && off + used == b.len && req != NULL
               && req->id == 2 && req->body_len == 5 && strcmp(req->body, "after") == 0
               && !req->body_too_large && req->keep_conn == 0;
    fcgi_reader_release(&r);
    bytes_free(&b);
    return ok;
}

TEST(reader_body_at_max)
{
    size_t len;
    int large, rest_ok;

    ASSERT_TRUE(body_check(FCGI_READER_BODY_MAX, 1000, &len, &large, &rest_ok));
    ASSERT_EQ_INT(FCGI_READER_BODY_MAX, len);
    ASSERT_EQ_INT(0, large);
    ASSERT_TRUE(rest_ok);
}

TEST(reader_body_too_large)
{
    size_t len;
    int large, rest_ok;

    ASSERT_TRUE(body_check(FCGI_READER_BODY_MAX + 1, 1000, &len, &large, &rest_ok));
    ASSERT_EQ_INT(FCGI_READER_BODY_MAX, len);
    ASSERT_EQ_INT(1, large);
    ASSERT_TRUE(rest_ok);
    ASSERT_TRUE(body_check(3 * FCGI_READER_BODY_MAX + 17, 777, &len, &large, &rest_ok));
    ASSERT_EQ_INT(FCGI_READER_BODY_MAX, len);
    ASSERT_EQ_INT(1, large);
    ASSERT_TRUE(rest_ok);
    ASSERT_TRUE(body_check(70000, 65535, &len, &large, &rest_ok));   /* one huge record */
    ASSERT_EQ_INT(FCGI_READER_BODY_MAX, len);
    ASSERT_EQ_INT(1, large);
    ASSERT_TRUE(rest_ok);
}

TEST(reader_body_too_large_every_split)
{
    struct bytes b = { 0 };
    char *got;

    body_stream(&b, FCGI_READER_BODY_MAX + 300, 1024);
    int rc = splits_agree(&b, &got);
    int large = strstr(got, "len=4096 large=1\n") != NULL
                && strstr(got, "REQUEST id=2 keep=0 params=1 CONTENT_LENGTH=many "
                               "body=after len=5 large=0\n") != NULL;
    free(got);
    bytes_free(&b);
    ASSERT_EQ_INT(0, rc);
    ASSERT_TRUE(large);
}

/* ---- kept connections ---- */

TEST(reader_keep_conn_two_requests)
{
    struct bytes pa = { 0 }, pb = { 0 }, b = { 0 };
    struct fcgi_reader r;
    size_t used, first_len;

    put_pair(&pa, "SCRIPT_NAME", "/one", 0);
    put_pair(&pb, "SCRIPT_NAME", "/two", 0);
    put_request(&b, 1, KEEP_CONN, &pa, "first", 5, 2);
    first_len = b.len;
    put_request(&b, 1, 0, &pb, "second!", 7, 0);     /* the same id again, as nginx does */

    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    ASSERT_EQ_INT(FCGI_EV_REQUEST, ev);
    ASSERT_EQ_INT(first_len, used);
    const struct fcgi_request *req = fcgi_reader_request(&r);
    ASSERT_TRUE(req != NULL);
    ASSERT_EQ_INT(1, req->id);
    ASSERT_EQ_INT(1, req->keep_conn);
    ASSERT_EQ_STR("/one", fcgi_request_param(req, "SCRIPT_NAME"));
    ASSERT_EQ_STR("first", req->body);
    fcgi_reader_release(&r);
    ASSERT_TRUE(fcgi_reader_request(&r) == NULL);

    size_t off = used;
    ev = fcgi_reader_feed(&r, b.p + off, b.len - off, &used);
    req = fcgi_reader_request(&r);
    int ok = ev == FCGI_EV_REQUEST && off + used == b.len && req != NULL && req->id == 1
             && req->keep_conn == 0 && req->nparams == 1
             && strcmp(fcgi_request_param(req, "SCRIPT_NAME"), "/two") == 0
             && req->body_len == 7 && strcmp(req->body, "second!") == 0;
    fcgi_reader_release(&r);
    bytes_free(&pa);
    bytes_free(&pb);
    bytes_free(&b);
    ASSERT_TRUE(ok);
}

TEST(reader_keep_conn_flag)
{
    struct bytes pb = { 0 }, b = { 0 };
    char *got;

    put_pair(&pb, "K", "v", 0);
    put_request(&b, 1, KEEP_CONN, &pb, "a", 1, 0);
    put_request(&b, 2, 0, &pb, "b", 1, 0);
    put_request(&b, 3, KEEP_CONN | 0x80, &pb, "c", 1, 0);    /* other flag bits: ignored */
    put_request(&b, 4, 0xfe, &pb, "d", 1, 0);
    int rc = splits_agree(&b, &got);
    ASSERT_EQ_INT(0, rc);
    ASSERT_EQ_STR("REQUEST id=1 keep=1 params=1 K=v body=a len=1 large=0\n"
                  "REQUEST id=2 keep=0 params=1 K=v body=b len=1 large=0\n"
                  "REQUEST id=3 keep=1 params=1 K=v body=c len=1 large=0\n"
                  "REQUEST id=4 keep=0 params=1 K=v body=d len=1 large=0\n", got);
    free(got);
    bytes_free(&pb);
    bytes_free(&b);
}

/* ---- records answered at once ---- */

TEST(reader_get_values)
{
    struct bytes q = { 0 }, b = { 0 };
    struct fcgi_reader r;
    size_t used, n;
    char v[16];

    put_pair(&q, "FCGI_MPXS_CONNS", "", 0);
    put_pair(&q, "FCGI_MAX_REQS", "", 0);
    put_record(&b, T_GET_VALUES, 0, q.p, q.len, 3);
    size_t record_len = b.len;
    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    const unsigned char *reply = fcgi_reader_reply(&r, &n);
    bytes_free(&q);
    bytes_free(&b);
    ASSERT_EQ_INT(FCGI_EV_REPLY, ev);
    ASSERT_EQ_INT(record_len, used);
    ASSERT_TRUE(n >= 8);
    ASSERT_EQ_INT(1, reply[0]);
    ASSERT_EQ_INT(T_GET_VALUES_RESULT, reply[1]);
    ASSERT_EQ_INT(0, reply[2]);
    ASSERT_EQ_INT(0, reply[3]);
    size_t clen = ((size_t)reply[4] << 8) | reply[5];
    ASSERT_EQ_INT(n, 8 + clen + reply[6]);
    ASSERT_EQ_INT(0, n % 8);
    ASSERT_EQ_INT(0, values_lookup(reply + 8, clen, "FCGI_MPXS_CONNS", v, sizeof v));
    ASSERT_EQ_STR("0", v);
    ASSERT_EQ_INT(0, values_lookup(reply + 8, clen, "FCGI_MAX_REQS", v, sizeof v));
    ASSERT_TRUE(atoi(v) > 0);
    ASSERT_TRUE(fcgi_reader_request(&r) == NULL);
    fcgi_reader_release(&r);
}

TEST(reader_get_values_not_management)
{
    struct bytes b = { 0 };
    struct fcgi_reader r;
    size_t used;

    put_record(&b, T_GET_VALUES, 5, NULL, 0, 0);   /* not request id 0: ignored */
    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    bytes_free(&b);
    ASSERT_EQ_INT(FCGI_EV_MORE, ev);
    ASSERT_EQ_INT(8, used);
}

TEST(reader_unknown_type)
{
    static const unsigned char want[] = {
        1, T_UNKNOWN_TYPE, 0, 0, 0, 8, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0,
    };
    static const unsigned char want_stdout[] = {
        1, T_UNKNOWN_TYPE, 0, 0, 0, 8, 0, 0, T_STDOUT, 0, 0, 0, 0, 0, 0, 0,
    };
    struct bytes b = { 0 };
    struct fcgi_reader r;
    size_t used, n;

    put_record(&b, 42, 0, "abcde", 5, 3);
    put_record(&b, T_STDOUT, 1, "x", 1, 7);
    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    const unsigned char *reply = fcgi_reader_reply(&r, &n);
    ASSERT_EQ_INT(FCGI_EV_REPLY, ev);
    ASSERT_EQ_INT(16, used);
    ASSERT_EQ_INT(sizeof want, n);
    ASSERT_EQ_MEM(want, reply, sizeof want);
    ev = fcgi_reader_feed(&r, b.p + 16, b.len - 16, &used);
    reply = fcgi_reader_reply(&r, &n);
    bytes_free(&b);
    ASSERT_EQ_INT(FCGI_EV_REPLY, ev);
    ASSERT_EQ_INT(16, used);
    ASSERT_EQ_INT(sizeof want_stdout, n);
    ASSERT_EQ_MEM(want_stdout, reply, sizeof want_stdout);
}

TEST(reader_cant_mpx_when_complete)
{
    static const unsigned char want[] = {
        1, T_END, 0, 2, 0, 8, 0, 0, 0, 0, 0, 0, ST_CANT_MPX, 0, 0, 0,
    };
    struct bytes pb = { 0 }, b = { 0 };
    struct fcgi_reader r;
    size_t used, n, off;

    put_pair(&pb, "A", "b", 0);
    put_request(&b, 1, KEEP_CONN, &pb, "one", 3, 0);
    size_t first = b.len;
    put_request(&b, 2, 0, &pb, "two", 3, 0);        /* while 1 is served */

    fcgi_reader_init(&r);
    ASSERT_EQ_INT(FCGI_EV_REQUEST, feed_bytes(&r, &b, &used));
    ASSERT_EQ_INT(first, used);
    off = used;
    enum fcgi_event ev = fcgi_reader_feed(&r, b.p + off, b.len - off, &used);
    const unsigned char *reply = fcgi_reader_reply(&r, &n);
    ASSERT_EQ_INT(FCGI_EV_REPLY, ev);
    ASSERT_EQ_INT(16, used);                         /* just the BEGIN_REQUEST */
    ASSERT_EQ_INT(sizeof want, n);
    ASSERT_EQ_MEM(want, reply, sizeof want);
    off += used;
    /* Request 2's params and stdin: dropped; request 1 stays as it was. */
    ev = fcgi_reader_feed(&r, b.p + off, b.len - off, &used);
    const struct fcgi_request *req = fcgi_reader_request(&r);
    int ok = ev == FCGI_EV_MORE && off + used == b.len && req != NULL && req->id == 1
             && req->nparams == 1 && strcmp(req->body, "one") == 0;
    fcgi_reader_release(&r);
    bytes_free(&pb);
    bytes_free(&b);
    ASSERT_TRUE(ok);
}

TEST(reader_cant_mpx_while_reading)
{
    struct bytes pb = { 0 }, b = { 0 };
    char *got;

    put_pair(&pb, "A", "b", 0);
    put_begin(&b, 1, ROLE_RESPONDER, KEEP_CONN);
    put_record(&b, T_PARAMS, 1, pb.p, pb.len, 0);
    put_begin(&b, 300, ROLE_RESPONDER, 0);            /* a second request meanwhile */
    put_record(&b, T_PARAMS, 300, "\1\1Zz", 4, 0);
    put_record(&b, T_PARAMS, 1, NULL, 0, 0);
    put_record(&b, T_PARAMS, 300, NULL, 0, 0);
    put_record(&b, T_STDIN, 300, "nope", 4, 0);
    put_record(&b, T_STDIN, 1, "yes", 3, 0);
    put_record(&b, T_STDIN, 300, NULL, 0, 0);
    put_record(&b, T_STDIN, 1, NULL, 0, 0);
    int rc = splits_agree(&b, &got);
    ASSERT_EQ_INT(0, rc);
    ASSERT_EQ_STR("REPLY 01 03 01 2c 00 08 00 00 00 00 00 00 01 00 00 00\n"
                  "REQUEST id=1 keep=1 params=1 A=b body=yes len=3 large=0\n", got);
    free(got);
    bytes_free(&pb);
    bytes_free(&b);
}

TEST(reader_unknown_role)
{
    struct bytes pb = { 0 }, b = { 0 };
    char *got;

    put_pair(&pb, "A", "b", 0);
    put_begin(&b, 5, ROLE_AUTHORIZER, KEEP_CONN);
    put_stream(&b, T_PARAMS, 5, pb.p, pb.len, 65535, 0);
    put_stream(&b, T_STDIN, 5, "auth", 4, 65535, 0);
    put_begin(&b, 6, ROLE_FILTER, 0);
    put_begin(&b, 7, 0x0101, 0);                        /* 257: not responder either */
    put_request(&b, 8, 0, &pb, "ok", 2, 0);
    int rc = splits_agree(&b, &got);
    ASSERT_EQ_INT(0, rc);
    ASSERT_EQ_STR("REPLY 01 03 00 05 00 08 00 00 00 00 00 00 03 00 00 00\n"
                  "REPLY 01 03 00 06 00 08 00 00 00 00 00 00 03 00 00 00\n"
                  "REPLY 01 03 00 07 00 08 00 00 00 00 00 00 03 00 00 00\n"
                  "REQUEST id=8 keep=0 params=1 A=b body=ok len=2 large=0\n", got);
    free(got);
    bytes_free(&pb);
    bytes_free(&b);
}

TEST(reader_abort_while_reading)
{
    struct bytes pb = { 0 }, b = { 0 };
    char *got;

    put_pair(&pb, "A", "b", 0);
    put_begin(&b, 1, ROLE_RESPONDER, KEEP_CONN);
    put_record(&b, T_PARAMS, 1, pb.p, pb.len, 0);
    put_record(&b, T_ABORT, 1, NULL, 0, 0);             /* in PARAMS */
    put_begin(&b, 1, ROLE_RESPONDER, KEEP_CONN);
    put_stream(&b, T_PARAMS, 1, pb.p, pb.len, 65535, 0);
    put_record(&b, T_STDIN, 1, "par", 3, 0);
    put_record(&b, T_ABORT, 1, NULL, 0, 4);             /* in STDIN */
    put_record(&b, T_STDIN, 1, NULL, 0, 0);             /* (of nothing now) */
    put_request(&b, 2, 0, &pb, "next", 4, 0);
    int rc = splits_agree(&b, &got);
    ASSERT_EQ_INT(0, rc);
    ASSERT_EQ_STR("REPLY 01 03 00 01 00 08 00 00 00 00 00 00 00 00 00 00\n"
                  "REPLY 01 03 00 01 00 08 00 00 00 00 00 00 00 00 00 00\n"
                  "REQUEST id=2 keep=0 params=1 A=b body=next len=4 large=0\n", got);
    free(got);
    bytes_free(&pb);
    bytes_free(&b);
}

TEST(reader_abort_when_complete)
{
    struct bytes pb = { 0 }, b = { 0 };
    struct fcgi_reader r;
    size_t used;

    put_pair(&pb, "A", "b", 0);
    put_request(&b, 3, KEEP_CONN, &pb, "body", 4, 0);
    size_t first = b.len;
    put_record(&b, T_ABORT, 4, NULL, 0, 0);             /* another id: ignored */
    put_record(&b, T_ABORT, 3, NULL, 0, 0);

    fcgi_reader_init(&r);
    ASSERT_EQ_INT(FCGI_EV_REQUEST, feed_bytes(&r, &b, &used));
    ASSERT_EQ_INT(first, used);
    enum fcgi_event ev = fcgi_reader_feed(&r, b.p + first, b.len - first, &used);
    const struct fcgi_request *req = fcgi_reader_request(&r);
    int ok = ev == FCGI_EV_ABORT && first + used == b.len && req != NULL && req->id == 3
             && strcmp(req->body, "body") == 0;
    fcgi_reader_release(&r);
    /* After release an ABORT for the old id is nothing. */
    ev = fcgi_reader_feed(&r, b.p + b.len - 8, 8, &used);
    bytes_free(&pb);
    bytes_free(&b);
    ASSERT_TRUE(ok);
    ASSERT_EQ_INT(FCGI_EV_MORE, ev);
    ASSERT_EQ_INT(8, used);
}

TEST(reader_abort_idle)
{
    struct bytes b = { 0 };
    struct fcgi_reader r;
    size_t used;

    put_record(&b, T_ABORT, 1, NULL, 0, 0);
    put_record(&b, T_DATA, 1, "data", 4, 4);
    put_record(&b, T_PARAMS, 1, "\1\1Aa", 4, 4);        /* no BEGIN_REQUEST: dropped */
    put_record(&b, T_STDIN, 1, NULL, 0, 0);
    size_t len = b.len;
    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    int none = fcgi_reader_request(&r) == NULL;
    fcgi_reader_release(&r);
    bytes_free(&b);
    ASSERT_EQ_INT(FCGI_EV_MORE, ev);
    ASSERT_EQ_INT(len, used);
    ASSERT_TRUE(none);
}

/* ---- protocol errors ---- */

TEST(reader_bad_version)
{
    struct bytes pb = { 0 }, b = { 0 }, good = { 0 };
    struct fcgi_reader r;
    size_t used;

    put_pair(&pb, "A", "b", 0);
    put_request(&good, 1, 0, &pb, "x", 1, 0);
    put_record_v(&b, 2, T_BEGIN, 1, "\0\1\0\0\0\0\0\0", 8, 0);
    fcgi_reader_init(&r);
    enum fcgi_event ev = feed_bytes(&r, &b, &used);
    enum fcgi_event again = fcgi_reader_feed(&r, good.p, good.len, &used);
    size_t again_used = used;
    fcgi_reader_release(&r);                            /* stays in error */
    enum fcgi_event after_release = fcgi_reader_feed(&r, good.p, good.len, &used);
    int none = fcgi_reader_request(&r) == NULL;
    fcgi_reader_release(&r);

    /* The bad byte on a later record, after a whole request. */
    struct bytes two = { 0 };
    put(&two, good.p, good.len);
    put_record_v(&two, 0, T_GET_VALUES, 0, NULL, 0, 0);
    char *got = transcript(&two);
    int later = strcmp(got, "REQUEST id=1 keep=0 params=1 A=b body=x len=1 large=0\n"
                            "ERROR oom=0\n") == 0;
    free(got);
    bytes_free(&pb);
    bytes_free(&b);
    bytes_free(&good);
    bytes_free(&two);
    ASSERT_EQ_INT(FCGI_EV_ERROR, ev);
    ASSERT_EQ_INT(FCGI_EV_ERROR, again);
    ASSERT_EQ_INT(0, again_used);
    ASSERT_EQ_INT(FCGI_EV_ERROR, after_release);
    ASSERT_TRUE(none);
    ASSERT_TRUE(later);
}

TEST(reader_bad_version_every_split)
{
    struct bytes pb = { 0 }, b = { 0 };
    char *got;

    put_pair(&pb, "A", "b", 0);
    put_begin(&b, 1, ROLE_RESPONDER, 0);
    put_record(&b, T_PARAMS, 1, pb.p, pb.len, 0);
    put_record_v(&b, 0x81, T_PARAMS, 1, NULL, 0, 0);
    put_request(&b, 2, 0, &pb, "x", 1, 0);
    int rc = splits_agree(&b, &got);
    ASSERT_EQ_INT(0, rc);
    ASSERT_EQ_STR("ERROR oom=0\n", got);
    free(got);
    bytes_free(&pb);
    bytes_free(&b);
}

TEST(reader_bad_begin)
{
    struct bytes pb = { 0 }, id0 = { 0 }, shortb = { 0 }, twice = { 0 };
    char *a, *s, *t;

    put_pair(&pb, "A", "b", 0);
    put_begin(&id0, 0, ROLE_RESPONDER, 0);                           /* id 0 */
    put_record(&shortb, T_BEGIN, 1, "\0\1\0\0\0", 5, 3);             /* 5 bytes */
    put_begin(&twice, 1, ROLE_RESPONDER, 0);                         /* the same id twice */
    put_record(&twice, T_PARAMS, 1, pb.p, pb.len, 0);
    put_begin(&twice, 1, ROLE_RESPONDER, 0);
    a = transcript(&id0);
    s = transcript(&shortb);
    t = transcript(&twice);
    int ok_a = strcmp(a, "ERROR oom=0\n") == 0, ok_s = strcmp(s, "ERROR oom=0\n") == 0;
    int ok_t = strcmp(t, "ERROR oom=0\n") == 0;
    free(a);
    free(s);
    free(t);
    bytes_free(&pb);
    bytes_free(&id0);
    bytes_free(&shortb);
    bytes_free(&twice);
    ASSERT_TRUE(ok_a);
    ASSERT_TRUE(ok_s);
    ASSERT_TRUE(ok_t);
}

TEST(reader_long_begin)
{
    struct bytes pb = { 0 }, b = { 0 };
    unsigned char begin[20] = { 0, 1, 1 };               /* 20 bytes: the rest ignored */
    char *got;

    memset(begin + 8, 0xee, sizeof begin - 8);
    put_pair(&pb, "A", "b", 0);
    put_record(&b, T_BEGIN, 1, begin, sizeof begin, 4);
    put_stream(&b, T_PARAMS, 1, pb.p, pb.len, 65535, 0);
    put_stream(&b, T_STDIN, 1, NULL, 0, 1, 0);
    int rc = splits_agree(&b, &got);
    ASSERT_EQ_INT(0, rc);
    ASSERT_EQ_STR("REQUEST id=1 keep=1 params=1 A=b body= len=0 large=0\n", got);
    free(got);
    bytes_free(&pb);
    bytes_free(&b);
}

/* ---- everything at once ---- */

TEST(reader_mixed_stream_every_split)
{
    struct bytes pb = { 0 }, q = { 0 }, b = { 0 };
    char big[200], *got;

    memset(big, 'L', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    put_pair(&pb, "SCRIPT_NAME", "/x", 0);
    put_pair(&pb, big, "long name", 0);
    put_pair(&q, "FCGI_MPXS_CONNS", "", 0);

    put_record(&b, T_GET_VALUES, 0, q.p, q.len, 1);
    put_begin(&b, 1, ROLE_RESPONDER, KEEP_CONN);
    put_record(&b, T_PARAMS, 1, pb.p, 10, 6);
    put_record(&b, 77, 0, NULL, 0, 0);                   /* unknown type mid-request */
    put_record(&b, T_PARAMS, 1, pb.p + 10, pb.len - 10, 2);
    put_record(&b, T_PARAMS, 1, NULL, 0, 0);
    put_record(&b, T_DATA, 1, "ignored", 7, 1);
    put_record(&b, T_STDIN, 1, "12345678", 8, 0);
    put_record(&b, T_STDIN, 1, NULL, 0, 0);
    put_begin(&b, 2, ROLE_FILTER, 0);
    put_request(&b, 3, 0, &pb, "", 0, 7);
    int rc = splits_agree(&b, &got);
    ASSERT_EQ_INT(0, rc);
    char want[1024];
    snprintf(want, sizeof want,
             "REPLY 01 0a 00 00 00 3b 05 00 0e 05 46 43 47 49 5f 4d 41 58 5f 43 4f 4e 4e 53"
             " 31 30 30 30 30 0d 05 46 43 47 49 5f 4d 41 58 5f 52 45 51 53 31 30 30 30 30"
             " 0f 01 46 43 47 49 5f 4d 50 58 53 5f 43 4f 4e 4e 53 30 00 00 00 00 00\n"
             "REPLY 01 0b 00 00 00 08 00 00 4d 00 00 00 00 00 00 00\n"
             "REQUEST id=1 keep=1 params=2 SCRIPT_NAME=/x <199:%08x>=long name "
             "body=12345678 len=8 large=0\n"
             "REPLY 01 03 00 02 00 08 00 00 00 00 00 00 03 00 00 00\n"
             "REQUEST id=3 keep=0 params=2 SCRIPT_NAME=/x <199:%08x>=long name "
             "body= len=0 large=0\n", fnv(big, 199), fnv(big, 199));
    ASSERT_EQ_STR(want, got);
    free(got);
    bytes_free(&pb);
    bytes_free(&q);
    bytes_free(&b);
}
