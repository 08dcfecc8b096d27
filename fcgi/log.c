/* log.c -- one line per event on stderr: timestamp, level, msg, key=value pairs.
 *
 * Any thread: each line is built on the stack and written with one write(2),
 * so lines from different threads never interleave. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 2048
#define LOG_SID_SHOWN 8

static atomic_int log_min = LOG_INFO;

static const char *const log_names[] = {
    [LOG_DEBUG] = "debug", [LOG_INFO] = "info",
    [LOG_WARN] = "warn", [LOG_ERROR] = "error",
};

/* Drop lines below min from now on. */
void log_set_level(enum log_level min)
{
    atomic_store(&log_min, (int)min);
}

/* 1 if a line at level would be written. */
int log_enabled(enum log_level level)
{
    return (int)level >= atomic_load(&log_min);
}

/* Write "2026-11-22T10:00:00.123Z" (UTC, milliseconds) into buf. */
static size_t log_timestamp(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000L);
    return n;
}

/* Keep the line on one line: control bytes become '?'. */
static void log_sanitize(char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            s[i] = '?';
}

/* Write the n bytes of line to stderr in one call (retried on EINTR). */
static void log_write(const char *line, size_t n)
{
    ssize_t w;

    do {
        w = write(STDERR_FILENO, line, n);
    } while (w < 0 && errno == EINTR);
}

/* Clamp a snprintf result to what was stored in a buffer of room bytes. */
static size_t log_clamp(int r, size_t room)
{
    if (r < 0)
        return 0;
    return (size_t)r < room ? (size_t)r : room - 1;
}

/* Log "<time> level=<level> msg=<msg> <rest>" where rest is fmt formatted. */
void log_msg(enum log_level level, const char *msg, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    size_t n, start;

    if (!log_enabled(level) || (unsigned)level > LOG_ERROR)
        return;
    n = log_timestamp(line, sizeof line - 1);
    start = n;
    n += log_clamp(snprintf(line + n, sizeof line - 1 - n, " level=%s msg=%s",
                            log_names[level], msg != NULL ? msg : "-"),
                   sizeof line - 1 - n);
    if (fmt != NULL && fmt[0] != '\0' && n + 1 < sizeof line - 1) {
        va_list ap;
        line[n++] = ' ';
        va_start(ap, fmt);
        n += log_clamp(vsnprintf(line + n, sizeof line - 1 - n, fmt, ap),
                       sizeof line - 1 - n);
        va_end(ap);
    }
    log_sanitize(line + start, n - start);
    line[n++] = '\n';
    log_write(line, n);
}

/* The first 8 characters of sid and "...", in a buffer per thread. Bytes
 * other than letters and digits are shown as '?'. */
const char *log_sid(const char *sid)
{
    static _Thread_local char buf[LOG_SID_SHOWN + 4];
    size_t i;

    if (sid == NULL)
        return "-";
    for (i = 0; i < LOG_SID_SHOWN && sid[i] != '\0'; i++) {
        char c = sid[i];
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
                 || (c >= 'A' && c <= 'Z');
        buf[i] = ok ? c : '?';
    }
    memcpy(buf + i, "...", 4);
    return buf;
}
