/* fuzz_reader.c -- libFuzzer harness for the FastCGI record reader (fcgi_reader.c).
 *
 * Input: 4 bytes of control, then the bytes a proxy would send.
 *   byte 0   how long a complete request is held before its release: 0
 *            releases it at once (a short request); k > 0 holds it for k
 *            more events, as a connection serving an event stream would
 *            (so a second BEGIN_REQUEST, ABORT_REQUEST and the rest meet a
 *            complete request); only the low 2 bits count
 *   byte 1-3 piece sizes, cycled: the stream is fed in pieces of
 *            1 + byte bytes
 * The stream is fed three ways: in one call, in those pieces, and one
 * byte at a time. Each event is handled as a connection would (release
 * after REQUEST, look up params, read the reply after REPLY, stop at
 * ERROR); each way must report the same events at the same offsets with
 * the same requests and replies, and every invariant of fcgi_reader.h
 * must hold. A broken one aborts (a crash libFuzzer reports). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_reader.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_reader: check failed at %s:%d: %s\n",      \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* One connection's view of the reader. */
struct conn {
    struct fcgi_reader r;
    uint64_t hash;          /* of every event, where it ended and what it said */
    size_t pos;             /* stream bytes taken so far */
    size_t events;
    int hold_policy;        /* events to hold a complete request for (0: none) */
    int hold_left;          /* events left before the held request's release */
    int stopped;            /* FCGI_EV_ERROR: the connection is closed */
};

static void mix(struct conn *c, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t k = 0; k < n; k++)
        c->hash = (c->hash ^ s[k]) * 1099511628211ull;
}

static void mix_num(struct conn *c, uint64_t v)
{
    mix(c, &v, sizeof v);
}

/* Walk the "name\0value\0" pairs of a request: they lie within the bytes
 * the reader collected, names are not empty, each is found by lookup. */
static void check_params(struct conn *c, const struct fcgi_request *req)
{
    static const char *const names[] = {
        "SCRIPT_NAME", "REQUEST_METHOD", "CONTENT_LENGTH", "HTTP_AUTHORIZATION", "",
    };
    const char *p = req->params, *end = req->params + c->r.params_len;

    CHECK(req->nparams == 0 || p != NULL);
    for (size_t k = 0; k < req->nparams; k++) {
        const char *nul = memchr(p, 0, (size_t)(end - p));
        CHECK(nul != NULL && nul > p);
        const char *v = nul + 1;
        CHECK(v < end);
        const char *vnul = memchr(v, 0, (size_t)(end - v));
        CHECK(vnul != NULL);
        /* The first pair of a name is the one lookup finds. */
        const char *found = fcgi_request_param(req, p);
        CHECK(found != NULL && found <= v);
        if (found == v)
            mix_num(c, k);
        mix(c, p, (size_t)(vnul + 1 - p));
        p = vnul + 1;
    }
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        const char *v = fcgi_request_param(req, names[k]);
        CHECK(names[k][0] != '\0' || v == NULL);
        mix_num(c, v == NULL ? 0 : strlen(v) + 1);
    }
}

static void check_request(struct conn *c, const struct fcgi_request *req)
{
    CHECK(req != NULL);
    CHECK(req->id >= 1 && req->id <= 65535);
    CHECK(req->keep_conn == 0 || req->keep_conn == 1);
    CHECK(req->body != NULL);
    CHECK(req->body_len <= FCGI_READER_BODY_MAX);
    CHECK(req->body[req->body_len] == '\0');
    CHECK(!req->body_too_large || req->body_len == FCGI_READER_BODY_MAX);
    CHECK(c->r.params_len <= FCGI_READER_PARAMS_MAX);
    mix_num(c, (uint64_t)req->id);
    mix_num(c, (uint64_t)req->keep_conn);
    mix_num(c, (uint64_t)req->nparams);
    mix_num(c, (uint64_t)req->body_too_large);
    mix_num(c, (uint64_t)req->body_len);
    mix(c, req->body, req->body_len);
    check_params(c, req);
}

/* A reply is one whole record the reader may send. */
static void check_reply(struct conn *c)
{
    size_t n;
    const unsigned char *reply = fcgi_reader_reply(&c->r, &n);

    CHECK(reply != NULL);
    CHECK(n >= 8 && n <= sizeof(c->r.reply));
    CHECK(reply[0] == 1);
    CHECK(reply[1] == 3 || reply[1] == 10 || reply[1] == 11);   /* END, RESULT, UNKNOWN */
    CHECK(n == 8 + (((size_t)reply[4] << 8) | reply[5]) + reply[6]);
    mix(c, reply, n);
}

static void release(struct conn *c)
{
    fcgi_reader_release(&c->r);
    c->hold_left = 0;
    CHECK(fcgi_reader_request(&c->r) == NULL);
}

/* Handle one event as a connection would. */
static void on_event(struct conn *c, enum fcgi_event ev)
{
    const struct fcgi_request *req = fcgi_reader_request(&c->r);

    if (ev == FCGI_EV_MORE)
        return;
    c->events++;
    mix_num(c, (uint64_t)ev);
    mix_num(c, (uint64_t)c->pos);
    switch (ev) {
    case FCGI_EV_REQUEST:
        CHECK(c->hold_left == 0);          /* no second request while one is held */
        check_request(c, req);
        if (c->hold_policy == 0)
            release(c);
        else
            c->hold_left = c->hold_policy;
        return;
    case FCGI_EV_REPLY:
        check_reply(c);
        break;
    case FCGI_EV_ABORT:
        CHECK(req != NULL);                /* only for a complete request */
        mix_num(c, (uint64_t)req->id);
        release(c);                        /* the connection cancels it */
        return;
    case FCGI_EV_ERROR:
        c->stopped = 1;
        mix_num(c, (uint64_t)c->r.oom);
        return;
    default:
        CHECK(!"unknown event");
    }
    if (c->hold_left > 0 && --c->hold_left == 0)
        release(c);
}

/* Feed one piece until it is all taken or the connection stops. */
static void feed_piece(struct conn *c, const unsigned char *p, size_t n)
{
    size_t off = 0;
    while (off < n && !c->stopped) {
        size_t used = (size_t)-1;
        enum fcgi_event ev = fcgi_reader_feed(&c->r, p + off, n - off, &used);
        CHECK(used <= n - off);
        CHECK(ev != FCGI_EV_MORE || used == n - off);
        CHECK(ev == FCGI_EV_ERROR || ev == FCGI_EV_MORE || used > 0);
        CHECK(c->r.head_have <= sizeof(c->r.head));
        CHECK(c->r.req.body_len <= FCGI_READER_BODY_MAX);
        CHECK(c->r.params_len <= FCGI_READER_PARAMS_MAX);
        CHECK(c->r.params_len <= c->r.params_cap || c->r.params_cap == 0);
        if (ev == FCGI_EV_REQUEST || ev == FCGI_EV_ABORT)
            CHECK(fcgi_reader_request(&c->r) != NULL);
        off += used;
        c->pos += used;
        on_event(c, ev);
        if (ev == FCGI_EV_ERROR) {
            /* It stays in error, taking nothing. */
            CHECK(fcgi_reader_feed(&c->r, p, n, &used) == FCGI_EV_ERROR && used == 0);
        }
    }
}

/* The stream fed in pieces: sizes[k % nsizes] + 1 bytes each, or all at
 * once when nsizes is 0. The final hash (and the connection's counts). */
static void run(struct conn *c, int hold, const unsigned char *s, size_t n,
                const unsigned char *sizes, size_t nsizes)
{
    size_t off = 0, k = 0;

    memset(c, 0, sizeof(*c));
    fcgi_reader_init(&c->r);
    c->hash = 14695981039346656037ull;
    c->hold_policy = hold;
    while (off < n && !c->stopped) {
        size_t piece = nsizes == 0 ? n - off : (size_t)sizes[k++ % nsizes] + 1;
        if (piece > n - off)
            piece = n - off;
        feed_piece(c, s + off, piece);
        off += piece;
    }
    mix_num(c, (uint64_t)c->stopped);
    release(c);                             /* the connection closes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char one = 0;
    struct conn whole, pieces, bytes;

    if (size < 4)
        return 0;
    int hold = data[0] & 3;
    const unsigned char *s = data + 4;
    size_t n = size - 4;

    run(&whole, hold, s, n, NULL, 0);
    run(&pieces, hold, s, n, data + 1, 3);
    run(&bytes, hold, s, n, &one, 1);
    CHECK(whole.events == pieces.events && whole.events == bytes.events);
    CHECK(whole.pos == pieces.pos && whole.pos == bytes.pos);
    CHECK(whole.stopped == pieces.stopped && whole.stopped == bytes.stopped);
    CHECK(whole.hash == pieces.hash && whole.hash == bytes.hash);
    CHECK(whole.stopped || whole.pos == n);
    return 0;
}
