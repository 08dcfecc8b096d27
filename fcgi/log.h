/* log.h -- one line per event on stderr, as key=value pairs with a level.
 *
 *   2026-11-22T10:00:00.123Z level=info msg=registered realm=home ip=198.51.100.7
 *
 * Thread-safe (one write(2) per line). Never log a token or a whole session
 * id: log_sid() gives the first 8 hex digits. */
#ifndef RR_LOG_H
#define RR_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Lines below min are dropped (LOG_DEBUG with --debug, else LOG_INFO). */
void log_set_level(enum log_level min);
int log_enabled(enum log_level level);

/* fmt is the rest of the line after "level=... msg=<msg>", e.g.
 * log_msg(LOG_INFO, "registered", "realm=%s ip=%s", name, ip). fmt may be NULL.
 * Values are printed as given: callers quote what may contain spaces. */
void log_msg(enum log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The loggable prefix of a session id ("3fa2c91b..."): static per thread. */
const char *log_sid(const char *sid);

#endif
