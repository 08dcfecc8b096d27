/* scripts.c -- the transitions of sql/ as one Redis 7 function library.
 *
 * Each sql/<name>.lua is the body of one function, written as a script
 * (KEYS, ARGV, return); sql/common.lua, the helpers they share, comes
 * first. The library wraps each body as
 *     redis.register_function('hr_<crc>_<name>', function(KEYS, ARGV) <body> end)
 * under "#!lua name=hysteria_realm_<crc>", where <crc> is the CRC-32 of
 * the bodies: workers of two versions (a rolling upgrade) load two
 * libraries side by side instead of replacing each other's functions.
 * scripts_load() runs once in main() before the loop starts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scripts.h"
#include <zlib.h>

#define SCRIPT_SIZE_MAX (1024 * 1024)

static struct script scripts_table[SCRIPT_COUNT] = {
    [SCRIPT_REGISTER] = { .file = "register.lua" },
    [SCRIPT_HEARTBEAT] = { .file = "heartbeat.lua" },
    [SCRIPT_DEREGISTER] = { .file = "deregister.lua" },
    [SCRIPT_SESSION] = { .file = "session.lua" },
    [SCRIPT_EVENTS] = { .file = "events.lua" },
    [SCRIPT_ACK] = { .file = "ack.lua" },
    [SCRIPT_CONNECT_BEGIN] = { .file = "connect_begin.lua" },
    [SCRIPT_CONNECT_ANSWER] = { .file = "connect_answer.lua" },
    [SCRIPT_CONNECT_END] = { .file = "connect_end.lua" },
    [SCRIPT_METRICS_FLUSH] = { .file = "metrics_flush.lua" },
    [SCRIPT_METRICS_READ] = { .file = "metrics_read.lua" },
    [SCRIPT_KICK] = { .file = "kick.lua" },
    [SCRIPT_STATUS] = { .file = "status.lua" },
    [SCRIPT_TOKEN_ADD] = { .file = "token_add.lua" },
    [SCRIPT_TOKEN_REVOKE] = { .file = "token_revoke.lua" },
};

/* Read all of the open file fd (size bytes by fstat) into a malloc'd,
 * NUL-terminated buffer. 0 with *body and *len set, or -1 with errno set. */
static int scripts_read_fd(int fd, char **body, size_t *len)
{
    struct stat st;
    size_t off = 0, size;
    char *buf;

    if (fstat(fd, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return -1;
    }
    if (st.st_size <= 0 || st.st_size > SCRIPT_SIZE_MAX) {
        errno = st.st_size <= 0 ? ENODATA : EFBIG;
        return -1;
    }
    size = (size_t)st.st_size;
    buf = malloc(size + 1);
    if (buf == NULL)
        return -1;
    while (off < size) {
        ssize_t r = read(fd, buf + off, size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;   /* the file shrank while being read */
            free(buf);
            return -1;
        }
        off += (size_t)r;
    }
    buf[size] = '\0';
    *body = buf;
    *len = size;
    return 0;
}

/* Load one script from dir into s. 0, or -1 with a line in err. */
static int scripts_load_one(const char *dir, struct script *s, char *err, size_t errlen)
{
    char path[4096];
    int fd, rc, n;

    n = snprintf(path, sizeof path, "%s/%s", dir, s->file);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "script path too long: %s/%s", dir, s->file);
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open script %s: %s", path, strerror(errno));
        return -1;
    }
    rc = scripts_read_fd(fd, &s->body, &s->len);
    if (rc != 0)
        snprintf(err, errlen, "cannot read script %s: %s", path,
                 errno == ENODATA ? "file is empty" : strerror(errno));
    close(fd);
    return rc;
}

/* The helpers every function sees (sql/common.lua): first in the library. */
static struct script common = { .file = "common.lua" };

static char *library;
static size_t library_len;

/* The function's name: "hr_<crc>_" and the file name without ".lua". */
static void name_function(struct script *s, const char *crc)
{
    size_t base = strlen(s->file) - 4;
    snprintf(s->function, sizeof(s->function), "hr_%s_%.*s", crc, (int)base, s->file);
}

/* Wrap every body into the library text. 0, or -1 on out of memory. */
static int scripts_build(void)
{
    static const char head[] = "#!lua name=hysteria_realm_%s\n";
    static const char open_fn[] = "redis.register_function('%s', function(KEYS, ARGV)\n";
    static const char close_fn[] = "\nend)\n";
    char crc[9];
    uLong sum = crc32(0L, Z_NULL, 0);
    size_t size = sizeof(head) + 8 + common.len + 1;
    sum = crc32(sum, (const Bytef *)common.body, (uInt)common.len);
    for (int i = 0; i < SCRIPT_COUNT; i++) {
        sum = crc32(sum, (const Bytef *)scripts_table[i].body, (uInt)scripts_table[i].len);
        size += sizeof(open_fn) + sizeof(scripts_table[i].function) + scripts_table[i].len + sizeof(close_fn);
    }
    snprintf(crc, sizeof(crc), "%08lx", (unsigned long)sum);
    if ((library = malloc(size)) == NULL)
        return -1;
    size_t off = (size_t)snprintf(library, size, head, crc);
    memcpy(library + off, common.body, common.len);
    off += common.len;
    library[off++] = '\n';
    for (int i = 0; i < SCRIPT_COUNT; i++) {
        struct script *s = &scripts_table[i];
        name_function(s, crc);
        off += (size_t)snprintf(library + off, size - off, open_fn, s->function);
        memcpy(library + off, s->body, s->len);
        off += s->len;
        off += (size_t)snprintf(library + off, size - off, "%s", close_fn);
    }
    library_len = off;
    return 0;
}

/* Read every script from dir and build the library. 0, or -1 with a line
 * naming the missing or unreadable file in err (nothing stays loaded). */
int scripts_load(const char *dir, char *err, size_t errlen)
{
    int i;

    if (dir == NULL || dir[0] == '\0') {
        snprintf(err, errlen, "no scripts directory given");
        return -1;
    }
    scripts_free();
    if (scripts_load_one(dir, &common, err, errlen) != 0)
        return -1;
    for (i = 0; i < SCRIPT_COUNT; i++) {
        if (scripts_load_one(dir, &scripts_table[i], err, errlen) != 0) {
            scripts_free();
            return -1;
        }
    }
    if (scripts_build() != 0) {
        snprintf(err, errlen, "out of memory");
        scripts_free();
        return -1;
    }
    return 0;
}

/* Forget every loaded script. Safe to call twice. */
void scripts_free(void)
{
    int i;

    for (i = 0; i < SCRIPT_COUNT; i++) {
        free(scripts_table[i].body);
        scripts_table[i].body = NULL;
        scripts_table[i].len = 0;
        scripts_table[i].function[0] = '\0';
    }
    free(common.body);
    common.body = NULL;
    common.len = 0;
    free(library);
    library = NULL;
    library_len = 0;
}

const char *scripts_library(size_t *len)
{
    *len = library_len;
    return library;
}

/* The script id (valid after scripts_load succeeded), NULL for a bad id. */
const struct script *scripts_get(enum script_id id)
{
    if ((unsigned)id >= SCRIPT_COUNT)
        return NULL;
    return &scripts_table[id];
}
