/* test_sha1.c -- SHA-1 known vectors (sha1.c) and script loading (scripts.c). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "scripts.h"
#include "sha1.h"
#include "unit.h"

/* SHA-1 hex of a NUL-terminated string into hex. */
static const char *sha(const char *s, char hex[41])
{
    sha1_hex(s, strlen(s), hex);
    return hex;
}

TEST(sha1_standard_vectors)
{
    char hex[41];

    ASSERT_EQ_STR("a9993e364706816aba3e25717850c26c9cd0d89d", sha("abc", hex));
    ASSERT_EQ_STR("da39a3ee5e6b4b0d3255bfef95601890afd80709", sha("", hex));
    ASSERT_EQ_STR("84983e441c3bd26ebaae4aa1f95129e5e54670f1",
                  sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex));
    ASSERT_EQ_STR("2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
                  sha("The quick brown fox jumps over the lazy dog", hex));
}

TEST(sha1_block_boundaries)
{
    static const struct { size_t n; const char *hex; } v[] = {
        { 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a" },
        { 56, "c2db330f6083854c99d4b5bfb6e8f29f201be699" },
        { 63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5" },
        { 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d" },
        { 65, "11655326c708d70319be2610e8a57d9a5b959d3b" },
        { 119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56" },
        { 120, "f34c1488385346a55709ba056ddd08280dd4c6d6" },
    };
    char buf[128], hex[41];
    size_t i;

    memset(buf, 'a', sizeof buf);
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        sha1_hex(buf, v[i].n, hex);
        ASSERT_EQ_STR(v[i].hex, hex);
    }
}

TEST(sha1_binary_and_million)
{
    unsigned char bytes[256];
    char hex[41], *big = malloc(1000000);
    size_t i;

    for (i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)i;
    sha1_hex(bytes, sizeof bytes, hex);
    ASSERT_EQ_STR("4916d6bdb7f78e6803698cab32d1586ea457dfc8", hex);
    ASSERT_TRUE(big != NULL);
    memset(big, 'a', 1000000);
    sha1_hex(big, 1000000, hex);
    free(big);
    ASSERT_EQ_STR("34aa973cd4c4daa4f61eeb2bdbad27316534016f", hex);
}

/* Write the nine scripts into a new temporary directory (dir, at least 64
 * bytes), each "return <i>\n", leaving out script skip (-1: none). 0 or -1. */
static int make_scripts(char *dir, int skip)
{
    int i;

    snprintf(dir, 64, "/tmp/rr-unit-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    for (i = 0; i < SCRIPT_COUNT; i++) {
        char path[256];
        FILE *f;
        if (i == skip)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, scripts_get((enum script_id)i)->file);
        f = fopen(path, "w");
        if (f == NULL)
            return -1;
        fprintf(f, "return %d\n", i == SCRIPT_REGISTER ? 1 : i + 10);
        fclose(f);
    }
    return 0;
}

/* Remove the directory made by make_scripts. */
static void remove_scripts(const char *dir)
{
    int i;

    for (i = 0; i < SCRIPT_COUNT; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, scripts_get((enum script_id)i)->file);
        unlink(path);
    }
    rmdir(dir);
}

TEST(scripts_names_in_enum_order)
{
    static const char *const files[SCRIPT_COUNT] = {
        "register.lua", "heartbeat.lua", "deregister.lua", "session.lua", "events.lua",
        "ack.lua", "connect_begin.lua", "connect_answer.lua", "connect_end.lua",
    };
    int i;

    for (i = 0; i < SCRIPT_COUNT; i++)
        ASSERT_EQ_STR(files[i], scripts_get((enum script_id)i)->file);
    ASSERT_TRUE(scripts_get(SCRIPT_COUNT) == NULL);
}

TEST(scripts_load_and_sha)
{
    char dir[64], err[512];
    const struct script *s;
    int rc;

    ASSERT_EQ_INT(0, make_scripts(dir, -1));
    rc = scripts_load(dir, err, sizeof err);
    remove_scripts(dir);
    ASSERT_EQ_INT(0, rc);
    s = scripts_get(SCRIPT_REGISTER);
    ASSERT_EQ_STR("return 1\n", s->body);
    ASSERT_EQ_INT(9, s->len);
    ASSERT_EQ_STR("48df9b519ca145c867b895f740b37bd891e887af", s->sha);
    ASSERT_EQ_STR("return 18\n", scripts_get(SCRIPT_CONNECT_END)->body);
    scripts_free();
    ASSERT_TRUE(scripts_get(SCRIPT_REGISTER)->body == NULL);
    scripts_free();
}

TEST(scripts_missing_file)
{
    char dir[64], err[512];
    int rc;

    ASSERT_EQ_INT(0, make_scripts(dir, SCRIPT_ACK));
    rc = scripts_load(dir, err, sizeof err);
    remove_scripts(dir);
    ASSERT_EQ_INT(-1, rc);
    ASSERT_TRUE(strstr(err, "ack.lua") != NULL);
    ASSERT_TRUE(scripts_get(SCRIPT_REGISTER)->body == NULL);   /* nothing stays loaded */
    ASSERT_EQ_INT(-1, scripts_load("/nonexistent-dir", err, sizeof err));
    ASSERT_TRUE(strstr(err, "/nonexistent-dir/register.lua") != NULL);
    ASSERT_EQ_INT(-1, scripts_load("", err, sizeof err));
}
