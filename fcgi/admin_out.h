/* admin_out.h -- what hysteria-realm-admin prints: records of typed fields
 * rendered as "key: value" lines or JSON objects, aligned text tables,
 * human-readable ages, and the one-line error on stderr.
 *
 * json-c is included only in admin_out.c: the commands build records and
 * tables here and never see a JSON library. Single-threaded.
 */
#ifndef RR_ADMIN_OUT_H
#define RR_ADMIN_OUT_H

#include <stddef.h>
#include <stdio.h>

/* An ordered list of named fields (one realm, the stats). */
struct out_record;

/* A list of records printed as one JSON array. */
struct out_list;

/* A text table: a header row, then rows of as many cells. */
struct out_table;

struct out_record *out_record_new(void);
void out_record_free(struct out_record *r);

/* Add a field to r. Each returns 0, or -1 if out of memory.
 *   out_str:   a string; NULL is absent ("-" / null).
 *   out_int:   a number.
 *   out_count: a decimal number as Redis stores it; NULL or not a number is
 *              absent.
 *   out_ms_at: a time in ms since the epoch (as stored, NULL = absent) shown
 *              as its age against now_ms: "12s" in text; in JSON two
 *              fields, key (the time) and key with "_at" replaced by
 *              "_age_ms" (or "_age_ms" appended).
 *   out_addrs: a JSON array of addresses (as stored, NULL = absent): one
 *              comma-separated line in text, the array in JSON.
 *   out_bool:  true or false ("yes"/"no" in text).
 *   out_sub:   a nested record (taken over by r; freed with it): its lines
 *              indented under key in text, an object in JSON. */
int out_str(struct out_record *r, const char *key, const char *val);
int out_int(struct out_record *r, const char *key, long long val);
int out_count(struct out_record *r, const char *key, const char *val);
int out_ms_at(struct out_record *r, const char *key, const char *val, long long now_ms);
int out_addrs(struct out_record *r, const char *key, const char *json);
int out_bool(struct out_record *r, const char *key, int val);
int out_sub(struct out_record *r, const char *key, struct out_record *sub);

/* Print r as "key: value" lines, or as one JSON object. 0, or -1 on a
 * write error or out of memory. */
int out_record_print_text(const struct out_record *r, FILE *f);
int out_record_print_json(const struct out_record *r, FILE *f);

struct out_list *out_list_new(void);
void out_list_free(struct out_list *l);
/* Append r (taken over by l, also on failure). 0, or -1. */
int out_list_add(struct out_list *l, struct out_record *r);
/* Print l as one JSON array. 0, or -1. */
int out_list_print_json(const struct out_list *l, FILE *f);

/* A table with ncols columns named by header[0..ncols-1] (copied). */
struct out_table *out_table_new(size_t ncols, const char *const *header);
void out_table_free(struct out_table *t);
/* Append a row of ncols cells (copied; NULL prints "-"). 0, or -1. */
int out_table_add(struct out_table *t, const char *const *cells);
/* Sort the rows by their first cell (bytewise). */
void out_table_sort(struct out_table *t);
/* Print the header and the rows, columns padded to their widest cell,
 * two spaces apart. 0, or -1 on a write error. */
int out_table_print(const struct out_table *t, FILE *f);

/* The age ms (>= 0) for people: "0s".."59s", "1m".."59m", "1h".."47h",
 * then "2d"...; "-" for a negative age (absent). Returns buf. */
char *out_age(long long ms, char *buf, size_t len);

/* The JSON array of addresses json as "a, b" into buf; "-" if json is
 * NULL and "?" if it is not an array of strings. Returns buf (truncated
 * to fit). */
char *out_addrs_line(const char *json, char *buf, size_t len);

/* Print "hysteria-realm-admin: <message>" as one line on stderr: control
 * characters of the message (a Redis error may hold some) become spaces. */
void out_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
