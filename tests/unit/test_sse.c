/* test_sse.c -- SSE framing (sse.c) and log lines (log.c), byte-exact. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "sse.h"
#include "unit.h"

TEST(sse_head_exact)
{
    ASSERT_EQ_STR("Status: 200 OK\r\nContent-Type: text/event-stream\r\n"
                  "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n", SSE_HEAD);
    ASSERT_EQ_STR(": ka\n\n", SSE_KEEPALIVE);
}

TEST(sse_event_exact)
{
    size_t len = 0;
    char *s = sse_event("17", "punch", "{\"addresses\":[\"1.2.3.4:5\"]}", &len);

    ASSERT_EQ_STR("id: 17\nevent: punch\ndata: {\"addresses\":[\"1.2.3.4:5\"]}\n\n", s);
    ASSERT_EQ_INT(strlen(s), len);
    free(s);
    s = sse_event(NULL, "heartbeat_ack", "{\"ttl\":60}", &len);
    ASSERT_EQ_STR("event: heartbeat_ack\ndata: {\"ttl\":60}\n\n", s);
    ASSERT_EQ_INT(strlen(s), len);
    free(s);
    s = sse_event(NULL, "x", "", &len);
    ASSERT_EQ_STR("event: x\ndata: \n\n", s);
    free(s);
}

TEST(sse_event_rejects_newlines)
{
    size_t len = 99;

    ASSERT_TRUE(sse_event("1", "punch", "{\n}", &len) == NULL);
    ASSERT_TRUE(sse_event("1", "punch", "{\r}", &len) == NULL);
    ASSERT_TRUE(sse_event("1", "pu\nnch", "{}", &len) == NULL);
    ASSERT_TRUE(sse_event("1\n", "punch", "{}", &len) == NULL);
    ASSERT_TRUE(sse_event("1", NULL, "{}", &len) == NULL);
    ASSERT_TRUE(sse_event("1", "punch", NULL, &len) == NULL);
}

TEST(sse_parse_record_ok)
{
    char rec[] = "42 punch {\"nonce\":\"ab cd\"}";
    char *id, *name, *data;

    ASSERT_EQ_INT(0, sse_parse_record(rec, &id, &name, &data));
    ASSERT_EQ_STR("42", id);
    ASSERT_EQ_STR("punch", name);
    ASSERT_EQ_STR("{\"nonce\":\"ab cd\"}", data);
}

TEST(sse_parse_record_bad)
{
    char a[] = "42punch", b[] = "42 punch", c[] = " punch {}", d[] = "42  {}", e[] = "";
    char f[] = "7 heartbeat_ack ";
    char *id, *name, *data;

    ASSERT_EQ_INT(-1, sse_parse_record(a, &id, &name, &data));
    ASSERT_EQ_INT(-1, sse_parse_record(b, &id, &name, &data));
    ASSERT_EQ_INT(-1, sse_parse_record(c, &id, &name, &data));
    ASSERT_EQ_INT(-1, sse_parse_record(d, &id, &name, &data));
    ASSERT_EQ_INT(-1, sse_parse_record(e, &id, &name, &data));
    ASSERT_EQ_INT(-1, sse_parse_record(NULL, &id, &name, &data));
    ASSERT_EQ_INT(0, sse_parse_record(f, &id, &name, &data));
    ASSERT_EQ_STR("", data);
}

/* Run log_msg with stderr sent to a pipe; the line read back into buf. */
static ssize_t capture_log(char *buf, size_t size, enum log_level level,
                           const char *msg, const char *fmt, const char *arg)
{
    int fds[2], saved;
    ssize_t n;

    if (pipe(fds) != 0)
        return -1;
    saved = dup(2);
    dup2(fds[1], 2);
    if (fmt != NULL)
        log_msg(level, msg, fmt, arg);
    else
        log_msg(level, msg, NULL);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    n = read(fds[0], buf, size - 1);
    close(fds[0]);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

TEST(log_line_format)
{
    char buf[4096];

    log_set_level(LOG_INFO);
    ASSERT_TRUE(capture_log(buf, sizeof buf, LOG_INFO, "registered", "realm=%s ip=1.2.3.4",
                            "home") > 0);
    /* 2026-11-22T10:00:00.123Z */
    ASSERT_EQ_INT(24, strchr(buf, ' ') - buf);
    ASSERT_TRUE(buf[4] == '-' && buf[7] == '-' && buf[10] == 'T' && buf[13] == ':'
                && buf[16] == ':' && buf[19] == '.' && buf[23] == 'Z');
    ASSERT_EQ_STR(" level=info msg=registered realm=home ip=1.2.3.4\n", buf + 24);
    ASSERT_TRUE(capture_log(buf, sizeof buf, LOG_ERROR, "redis_down", NULL, NULL) > 0);
    ASSERT_EQ_STR(" level=error msg=redis_down\n", buf + 24);
}

TEST(log_levels_and_one_line)
{
    char buf[4096];

    log_set_level(LOG_INFO);
    ASSERT_TRUE(!log_enabled(LOG_DEBUG));
    ASSERT_TRUE(log_enabled(LOG_WARN));
    ASSERT_EQ_INT(0, capture_log(buf, sizeof buf, LOG_DEBUG, "hidden", NULL, NULL));
    log_set_level(LOG_DEBUG);
    ASSERT_TRUE(capture_log(buf, sizeof buf, LOG_DEBUG, "shown", "realm=%s", "a\nb c") > 0);
    ASSERT_EQ_STR(" level=debug msg=shown realm=a?b c\n", buf + 24);
    log_set_level(LOG_INFO);
}

TEST(log_long_line_truncated)
{
    char buf[8192], *big = malloc(5000);
    ssize_t n;

    ASSERT_TRUE(big != NULL);
    memset(big, 'x', 4999);
    big[4999] = '\0';
    n = capture_log(buf, sizeof buf, LOG_WARN, "big", "v=%s", big);
    free(big);
    ASSERT_TRUE(n > 100 && n <= 2048);
    ASSERT_EQ_INT('\n', buf[n - 1]);
    ASSERT_TRUE(strchr(buf, '\n') == buf + n - 1);
}

TEST(log_sid_prefix)
{
    ASSERT_EQ_STR("3fa2c91b...", log_sid("3fa2c91b0011223344556677889900aa"));
    ASSERT_EQ_STR("abc...", log_sid("abc"));
    ASSERT_EQ_STR("ab?c?d?x...", log_sid("ab c\td\nxyz"));
    ASSERT_EQ_STR("-", log_sid(NULL));
}
