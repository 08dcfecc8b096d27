/* scripts.c -- the Lua scripts of sql/, read from disk once and named by SHA-1.
 *
 * scripts_load() and scripts_free() run in main() while there is one thread;
 * scripts_get() may then be called from any thread (the table is read-only). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scripts.h"
#include "sha1.h"

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
    if (rc == 0)
        sha1_hex(s->body, s->len, s->sha);
    return rc;
}

/* Read every script from dir and compute its SHA-1. 0, or -1 with a line
 * naming the missing or unreadable file in err (nothing stays loaded). */
int scripts_load(const char *dir, char *err, size_t errlen)
{
    int i;

    if (dir == NULL || dir[0] == '\0') {
        snprintf(err, errlen, "no scripts directory given");
        return -1;
    }
    scripts_free();
    for (i = 0; i < SCRIPT_COUNT; i++) {
        if (scripts_load_one(dir, &scripts_table[i], err, errlen) != 0) {
            scripts_free();
            return -1;
        }
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
        scripts_table[i].sha[0] = '\0';
    }
}

/* The script id (valid after scripts_load succeeded), NULL for a bad id. */
const struct script *scripts_get(enum script_id id)
{
    if ((unsigned)id >= SCRIPT_COUNT)
        return NULL;
    return &scripts_table[id];
}
