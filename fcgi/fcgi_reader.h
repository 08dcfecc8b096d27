/* fcgi_reader.h -- FastCGI records read incrementally from one connection (pure).
 *
 * The worker reads its proxy's bytes itself (no libfcgi accept loop): feed
 * the reader whatever arrived, in pieces of any size, and it says when a
 * request is complete (BEGIN_REQUEST, PARAMS to their empty record, STDIN
 * to its empty record), when a record must be answered at once
 * (FCGI_GET_VALUES, an unknown record type, a second request on a
 * connection that already has one, a role other than responder), and when
 * the peer broke the protocol. The record layout and constants are
 * libfcgi-dev's <fastcgi.h>; only fcgi_reader.c and fcgi_frame.c include it.
 *
 * Memory: the reader itself is a few dozen bytes; the params and body of
 * the request being read are heap buffers that fcgi_reader_release() frees,
 * so a connection that holds a long request (an event stream) keeps none.
 * Params are capped at FCGI_READER_PARAMS_MAX bytes and the body at
 * FCGI_READER_BODY_MAX; past the body cap the rest is read and dropped
 * (body_too_large), never buffered.
 */
#ifndef RR_FCGI_READER_H
#define RR_FCGI_READER_H

#include <stddef.h>

#define FCGI_READER_BODY_MAX 4096
#define FCGI_READER_PARAMS_MAX 65536

/* A complete request; valid until fcgi_reader_release(). */
struct fcgi_request {
    int id;                   /* FastCGI request id (1..65535) */
    int keep_conn;            /* FCGI_KEEP_CONN: the connection stays open after it */
    char *params;             /* "name\0value\0" pairs, nparams of them */
    size_t nparams;
    char *body;               /* stdin, NUL-terminated (body_len bytes kept) */
    size_t body_len;
    int body_too_large;       /* stdin was longer than FCGI_READER_BODY_MAX */
};

enum fcgi_event {
    FCGI_EV_MORE = 0,         /* all bytes taken, nothing to report */
    FCGI_EV_REQUEST,          /* a request is complete: fcgi_reader_request() */
    FCGI_EV_REPLY,            /* send fcgi_reader_reply() now (and go on feeding) */
    FCGI_EV_ABORT,            /* FCGI_ABORT_REQUEST for the request being served */
    FCGI_EV_ERROR             /* protocol error or out of memory: close the connection */
};

struct fcgi_reader {
    unsigned char head[8];    /* the record header being read */
    unsigned char begin[8];   /* a BEGIN_REQUEST record's content */
    unsigned char reply[80];  /* a record to answer with (FCGI_EV_REPLY) */
    size_t head_have, begin_have, reply_len;
    size_t content_left, pad_left;
    int type, id;             /* of the record being read */
    int state;                /* where the current request is (fcgi_reader.c) */
    int oom;                  /* the last FCGI_EV_ERROR was out of memory */
    struct fcgi_request req;
    size_t params_len, params_cap;
};

/* A reader at the start of a connection. */
void fcgi_reader_init(struct fcgi_reader *r);

/* Take bytes from buf (len of them). *used gets how many were taken: all
 * of them for FCGI_EV_MORE, else up to the end of the record that made the
 * event; feed the rest again after handling it. After FCGI_EV_REQUEST the
 * reader takes no further request until fcgi_reader_release() (records of
 * a second request meanwhile answer FCGI_EV_REPLY with
 * FCGI_CANT_MPX_CONN). After FCGI_EV_ERROR it stays in error. */
enum fcgi_event fcgi_reader_feed(struct fcgi_reader *r, const unsigned char *buf,
                                 size_t len, size_t *used);

/* The complete request (after FCGI_EV_REQUEST), or NULL. */
const struct fcgi_request *fcgi_reader_request(const struct fcgi_reader *r);

/* The record to send after FCGI_EV_REPLY, and its length. */
const unsigned char *fcgi_reader_reply(const struct fcgi_reader *r, size_t *len);

/* The request is answered (or handed over): free its buffers and accept
 * the next BEGIN_REQUEST. Also what a connection calls before freeing r. */
void fcgi_reader_release(struct fcgi_reader *r);

/* The value of param name (NUL-terminated) in req, or NULL. */
const char *fcgi_request_param(const struct fcgi_request *req, const char *name);

#endif
