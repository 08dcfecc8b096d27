/* fcgi_reader.c -- FastCGI records read incrementally from one connection (pure).
 *
 * A record is an 8-byte header, content and padding; any of them may be
 * split across reads, and the next record may follow in the same read.
 * The reader walks the bytes once: header bytes into r->head, content
 * straight into the request's buffers (params, body) or r->begin, padding
 * skipped. An event is reported only at the end of a record, padding
 * included, so the caller's next feed starts on a record boundary.
 *
 *   IDLE --BEGIN_REQUEST--> PARAMS --empty PARAMS--> STDIN --empty STDIN--> DONE
 *   DONE --fcgi_reader_release()--> IDLE
 */
#include <stdlib.h>
#include <string.h>

#include <fastcgi.h>

#include "fcgi_frame.h"
#include "fcgi_reader.h"

enum { RS_IDLE, RS_PARAMS, RS_STDIN, RS_DONE, RS_ERROR };

#define PARAMS_FIRST 1024

/* What the worker says of itself to FCGI_GET_VALUES: no multiplexing. */
static const char *const mgmt_values[][2] = {
    { FCGI_MAX_CONNS, "10000" },
    { FCGI_MAX_REQS, "10000" },
    { FCGI_MPXS_CONNS, "0" },
};

void fcgi_reader_init(struct fcgi_reader *r)
{
    memset(r, 0, sizeof(*r));
    r->state = RS_IDLE;
}

void fcgi_reader_release(struct fcgi_reader *r)
{
    free(r->req.params);
    free(r->req.body);
    memset(&r->req, 0, sizeof(r->req));
    r->params_len = r->params_cap = 0;
    if (r->state != RS_ERROR)
        r->state = RS_IDLE;
}

const struct fcgi_request *fcgi_reader_request(const struct fcgi_reader *r)
{
    return r->state == RS_DONE ? &r->req : NULL;
}

const unsigned char *fcgi_reader_reply(const struct fcgi_reader *r, size_t *len)
{
    *len = r->reply_len;
    return r->reply;
}

/* ---- replies ---- */

static enum fcgi_event reply_end_request(struct fcgi_reader *r, int id, int protocol_status)
{
    fcgi_frame_header(r->reply, FCGI_END_REQUEST, id, 8, 0);
    memset(r->reply + 8, 0, 8);
    r->reply[12] = (unsigned char)protocol_status;
    r->reply_len = 16;
    return FCGI_EV_REPLY;
}

static enum fcgi_event reply_unknown_type(struct fcgi_reader *r, int type)
{
    fcgi_frame_header(r->reply, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, 8, 0);
    memset(r->reply + 8, 0, 8);
    r->reply[8] = (unsigned char)type;
    r->reply_len = 16;
    return FCGI_EV_REPLY;
}

/* Every value we know, whatever was asked: the names are short and fixed. */
static enum fcgi_event reply_get_values(struct fcgi_reader *r)
{
    size_t off = 8;
    for (size_t k = 0; k < sizeof(mgmt_values) / sizeof(mgmt_values[0]); k++) {
        size_t nl = strlen(mgmt_values[k][0]), vl = strlen(mgmt_values[k][1]);
        r->reply[off++] = (unsigned char)nl;
        r->reply[off++] = (unsigned char)vl;
        memcpy(r->reply + off, mgmt_values[k][0], nl);
        memcpy(r->reply + off + nl, mgmt_values[k][1], vl);
        off += nl + vl;
    }
    size_t clen = off - 8, pad = (8 - clen % 8) % 8;
    memset(r->reply + off, 0, pad);
    fcgi_frame_header(r->reply, FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID, clen, pad);
    r->reply_len = off + pad;
    return FCGI_EV_REPLY;
}

static enum fcgi_event fail(struct fcgi_reader *r, int oom)
{
    r->state = RS_ERROR;
    r->oom = oom;
    return FCGI_EV_ERROR;
}

/* ---- params: "len len name value" pairs rewritten as "name\0value\0" ---- */

/* One length (1 byte, or 4 with the high bit set) at p[*off]. -1 if cut. */
static long read_len(const unsigned char *p, size_t n, size_t *off)
{
    if (*off >= n)
        return -1;
    if (p[*off] < 0x80)
        return p[(*off)++];
    if (n - *off < 4)
        return -1;
    long v = ((long)(p[*off] & 0x7f) << 24) | ((long)p[*off + 1] << 16) |
             ((long)p[*off + 2] << 8) | p[*off + 3];
    *off += 4;
    return v;
}

/* Each pair's two lengths take at least two bytes, room for the two NULs,
 * so the rewrite never overtakes what it has yet to read. 0 or -1. */
static int params_finish(struct fcgi_reader *r)
{
    unsigned char *p = (unsigned char *)r->req.params;
    size_t n = r->params_len, in = 0, out = 0, count = 0;
    while (in < n) {
        long nl = read_len(p, n, &in), vl = nl < 0 ? -1 : read_len(p, n, &in);
        if (vl < 0 || (size_t)nl > n - in || (size_t)vl > n - in - (size_t)nl)
            return -1;
        if (nl == 0 || memchr(p + in, 0, (size_t)nl + (size_t)vl) != NULL)
            return -1;
        memmove(p + out, p + in, (size_t)nl);
        p[out + (size_t)nl] = 0;
        memmove(p + out + (size_t)nl + 1, p + in + (size_t)nl, (size_t)vl);
        p[out + (size_t)nl + 1 + (size_t)vl] = 0;
        out += (size_t)nl + (size_t)vl + 2;
        in += (size_t)nl + (size_t)vl;
        count++;
    }
    r->req.nparams = count;
    return 0;
}

const char *fcgi_request_param(const struct fcgi_request *req, const char *name)
{
    const char *p = req->params;
    for (size_t k = 0; k < req->nparams; k++) {
        const char *value = p + strlen(p) + 1;
        if (strcmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}

/* ---- content ---- */

static int params_add(struct fcgi_reader *r, const unsigned char *buf, size_t n)
{
    if (r->params_len + n > FCGI_READER_PARAMS_MAX)
        return -1;
    if (r->params_len + n > r->params_cap) {
        size_t cap = r->params_cap ? r->params_cap : PARAMS_FIRST;
        while (cap < r->params_len + n)
            cap *= 2;
        char *p = realloc(r->req.params, cap);
        if (p == NULL) {
            r->oom = 1;
            return -1;
        }
        r->req.params = p;
        r->params_cap = cap;
    }
    memcpy(r->req.params + r->params_len, buf, n);
    r->params_len += n;
    return 0;
}

static int body_add(struct fcgi_reader *r, const unsigned char *buf, size_t n)
{
    if (r->req.body == NULL && (r->req.body = malloc(FCGI_READER_BODY_MAX + 1)) == NULL) {
        r->oom = 1;
        return -1;
    }
    size_t room = FCGI_READER_BODY_MAX - r->req.body_len;
    if (n > room) {
        r->req.body_too_large = 1;
        n = room;
    }
    memcpy(r->req.body + r->req.body_len, buf, n);
    r->req.body_len += n;
    return 0;
}

/* Content bytes of the current record. 0, or -1 on error. */
static int take_content(struct fcgi_reader *r, const unsigned char *buf, size_t n)
{
    int ours = r->id == r->req.id;
    switch (r->type) {
    case FCGI_BEGIN_REQUEST:
        n = n > sizeof(r->begin) - r->begin_have ? sizeof(r->begin) - r->begin_have : n;
        memcpy(r->begin + r->begin_have, buf, n);
        r->begin_have += n;
        return 0;
    case FCGI_PARAMS:
        return ours && r->state == RS_PARAMS ? params_add(r, buf, n) : 0;
    case FCGI_STDIN:
        return ours && r->state == RS_STDIN ? body_add(r, buf, n) : 0;
    default:
        return 0;       /* GET_VALUES: answered whatever it asks; others dropped */
    }
}

/* ---- whole records ---- */

static enum fcgi_event on_begin(struct fcgi_reader *r)
{
    if (r->begin_have != 8 || r->id == FCGI_NULL_REQUEST_ID)
        return fail(r, 0);
    if (r->state != RS_IDLE)
        return r->id == r->req.id ? fail(r, 0) : reply_end_request(r, r->id, FCGI_CANT_MPX_CONN);
    int role = (r->begin[0] << 8) | r->begin[1];
    if (role != FCGI_RESPONDER)
        return reply_end_request(r, r->id, FCGI_UNKNOWN_ROLE);
    r->req.id = r->id;
    r->req.keep_conn = (r->begin[2] & FCGI_KEEP_CONN) != 0;
    r->state = RS_PARAMS;
    return FCGI_EV_MORE;
}

static enum fcgi_event on_stream_end(struct fcgi_reader *r)
{
    if (r->type == FCGI_PARAMS && r->state == RS_PARAMS) {
        if (r->req.params == NULL && (r->req.params = malloc(1)) == NULL)
            return fail(r, 1);
        if (params_finish(r) != 0)
            return fail(r, 0);
        r->state = RS_STDIN;
        return FCGI_EV_MORE;
    }
    if (r->type == FCGI_STDIN && r->state == RS_STDIN) {
        if (r->req.body == NULL && (r->req.body = malloc(1)) == NULL)
            return fail(r, 1);
        r->req.body[r->req.body_len] = '\0';
        r->state = RS_DONE;
        return FCGI_EV_REQUEST;
    }
    return FCGI_EV_MORE;
}

static enum fcgi_event on_abort(struct fcgi_reader *r)
{
    if (r->state == RS_IDLE || r->id != r->req.id)
        return FCGI_EV_MORE;
    if (r->state == RS_DONE)
        return FCGI_EV_ABORT;
    int id = r->req.id;
    fcgi_reader_release(r);        /* still being read: nothing to cancel */
    return reply_end_request(r, id, FCGI_REQUEST_COMPLETE);
}

/* The record whose header is in r->head ended (content and padding). */
static enum fcgi_event on_record(struct fcgi_reader *r, size_t clen)
{
    int ours = r->id == r->req.id && r->state != RS_IDLE;
    switch (r->type) {
    case FCGI_BEGIN_REQUEST:
        return on_begin(r);
    case FCGI_ABORT_REQUEST:
        return on_abort(r);
    case FCGI_PARAMS:
    case FCGI_STDIN:
        return clen == 0 && ours ? on_stream_end(r) : FCGI_EV_MORE;
    case FCGI_GET_VALUES:
        return r->id == FCGI_NULL_REQUEST_ID ? reply_get_values(r) : FCGI_EV_MORE;
    case FCGI_DATA:
        return FCGI_EV_MORE;
    default:
        return reply_unknown_type(r, r->type);
    }
}

static void parse_header(struct fcgi_reader *r)
{
    r->type = r->head[1];
    r->id = (r->head[2] << 8) | r->head[3];
    r->content_left = ((size_t)r->head[4] << 8) | r->head[5];
    r->pad_left = r->head[6];
    r->begin_have = 0;
}

enum fcgi_event fcgi_reader_feed(struct fcgi_reader *r, const unsigned char *buf,
                                 size_t len, size_t *used)
{
    size_t off = 0;
    *used = 0;
    if (r->state == RS_ERROR)
        return FCGI_EV_ERROR;
    while (off < len) {
        if (r->head_have < sizeof(r->head)) {
            size_t n = sizeof(r->head) - r->head_have;
            n = n > len - off ? len - off : n;
            memcpy(r->head + r->head_have, buf + off, n);
            r->head_have += n;
            off += n;
            if (r->head_have < sizeof(r->head))
                break;
            if (r->head[0] != FCGI_VERSION_1) {
                *used = off;
                return fail(r, 0);
            }
            parse_header(r);
        }
        size_t clen = ((size_t)r->head[4] << 8) | r->head[5];
        size_t n = r->content_left > len - off ? len - off : r->content_left;
        if (n > 0 && take_content(r, buf + off, n) != 0) {
            *used = off + n;
            return fail(r, r->oom);
        }
        off += n;
        r->content_left -= n;
        n = r->pad_left > len - off ? len - off : r->pad_left;
        off += n;
        r->pad_left -= n;
        if (r->content_left > 0 || r->pad_left > 0)
            break;
        r->head_have = 0;
        enum fcgi_event ev = on_record(r, clen);
        if (ev != FCGI_EV_MORE) {
            *used = off;
            return ev;
        }
    }
    *used = off;
    return FCGI_EV_MORE;
}
