/* fcgi_frame.c -- FastCGI records written by the worker (pure).
 *
 * Every response: FCGI_STDOUT records, then FCGI_END_REQUEST, with the
 * record layout and constants of libfcgi-dev's <fastcgi.h>. */
#include <string.h>

#include <fastcgi.h>

#include "fcgi_frame.h"

/* Content bytes per record: a multiple of 8 below 65535, so full records
 * need no padding. */
#define FCGI_FRAME_CHUNK 65528

/* Zero bytes to bring n up to a multiple of 8. */
static size_t fcgi_frame_pad(size_t n)
{
    return (8 - (n % 8)) % 8;
}

/* Write an 8-byte record header into out. */
void fcgi_frame_header(unsigned char *out, int type, int request_id,
                              size_t content_len, size_t pad_len)
{
    out[0] = FCGI_VERSION_1;
    out[1] = (unsigned char)type;
    out[2] = (unsigned char)((request_id >> 8) & 0xff);
    out[3] = (unsigned char)(request_id & 0xff);
    out[4] = (unsigned char)((content_len >> 8) & 0xff);
    out[5] = (unsigned char)(content_len & 0xff);
    out[6] = (unsigned char)pad_len;
    out[7] = 0;
}

/* Bytes fcgi_frame_stdout() writes for len bytes of content. */
size_t fcgi_frame_stdout_size(size_t len)
{
    size_t full = len / FCGI_FRAME_CHUNK, rest = len % FCGI_FRAME_CHUNK;
    size_t size = full * (FCGI_HEADER_LEN + FCGI_FRAME_CHUNK);

    if (rest > 0)
        size += FCGI_HEADER_LEN + rest + fcgi_frame_pad(rest);
    return size;
}

/* Frame len bytes of data as FCGI_STDOUT records for request_id into out.
 * Returns the bytes written (fcgi_frame_stdout_size(len)). */
size_t fcgi_frame_stdout(unsigned char *out, int request_id,
                         const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t off = 0;

    while (len > 0) {
        size_t n = len > FCGI_FRAME_CHUNK ? FCGI_FRAME_CHUNK : len;
        size_t pad = fcgi_frame_pad(n);

        fcgi_frame_header(out + off, FCGI_STDOUT, request_id, n, pad);
        off += FCGI_HEADER_LEN;
        memcpy(out + off, p, n);
        off += n;
        memset(out + off, 0, pad);
        off += pad;
        p += n;
        len -= n;
    }
    return off;
}

/* The end of a response for request_id: an empty FCGI_STDOUT record, then
 * FCGI_END_REQUEST (appStatus 0, FCGI_REQUEST_COMPLETE). */
void fcgi_frame_end(unsigned char out[FCGI_FRAME_END_SIZE], int request_id)
{
    fcgi_frame_header(out, FCGI_STDOUT, request_id, 0, 0);
    fcgi_frame_header(out + 8, FCGI_END_REQUEST, request_id, 8, 0);
    memset(out + 16, 0, 8);   /* appStatus 0 (4 bytes), protocolStatus, reserved */
    out[20] = FCGI_REQUEST_COMPLETE;
}
