/* fcgi_frame.h -- FastCGI records written by the worker (pure).
 *
 * Every response is FCGI_STDOUT records, then the closing
 * FCGI_END_REQUEST. Each record is an 8-byte header (version 1, type,
 * request id, content length, padding length) and its content, padded to
 * a multiple of 8.
 */
#ifndef RR_FCGI_FRAME_H
#define RR_FCGI_FRAME_H

#include <stddef.h>

/* An 8-byte record header (version 1) into out. */
void fcgi_frame_header(unsigned char *out, int type, int request_id,
                       size_t content_len, size_t pad_len);

/* Bytes fcgi_frame_stdout() writes for len bytes of content (several
 * records when len exceeds 65535; 0 content bytes -> 0). */
size_t fcgi_frame_stdout_size(size_t len);

/* Frame len bytes of data as FCGI_STDOUT records for request_id into out
 * (at least fcgi_frame_stdout_size(len) bytes). Returns bytes written. */
size_t fcgi_frame_stdout(unsigned char *out, int request_id,
                         const void *data, size_t len);

/* The end of a response: an empty FCGI_STDOUT record (end of stream) and
 * FCGI_END_REQUEST with appStatus 0 and FCGI_REQUEST_COMPLETE. */
#define FCGI_FRAME_END_SIZE 24
void fcgi_frame_end(unsigned char out[FCGI_FRAME_END_SIZE], int request_id);

#endif
