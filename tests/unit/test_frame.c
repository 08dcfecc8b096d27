/* test_frame.c -- FastCGI records written by hand (fcgi_frame.c), byte-exact. */
#include <stdlib.h>

#include "fcgi_frame.h"
#include "unit.h"

TEST(frame_small_padded)
{
    static const unsigned char want[] = {
        1, 6, 0x01, 0x02, 0, 5, 3, 0,   /* version, STDOUT, id 258, len 5, pad 3 */
        'h', 'e', 'l', 'l', 'o', 0, 0, 0,
    };
    unsigned char out[32];

    ASSERT_EQ_INT(16, fcgi_frame_stdout_size(5));
    ASSERT_EQ_INT(16, fcgi_frame_stdout(out, 258, "hello", 5));
    ASSERT_EQ_MEM(want, out, sizeof want);
}

TEST(frame_exact_multiple_of_eight)
{
    static const unsigned char want[] = {
        1, 6, 0, 1, 0, 8, 0, 0,          /* no padding needed */
        ':', ' ', 'k', 'a', '\n', '\n', 'x', 'y',
    };
    unsigned char out[32];

    ASSERT_EQ_INT(16, fcgi_frame_stdout(out, 1, ": ka\n\nxy", 8));
    ASSERT_EQ_MEM(want, out, sizeof want);
}

TEST(frame_empty)
{
    unsigned char out[8] = { 0xaa };

    ASSERT_EQ_INT(0, fcgi_frame_stdout_size(0));
    ASSERT_EQ_INT(0, fcgi_frame_stdout(out, 1, "", 0));
    ASSERT_EQ_INT(0xaa, out[0]);
}

TEST(frame_sizes)
{
    ASSERT_EQ_INT(16, fcgi_frame_stdout_size(1));
    ASSERT_EQ_INT(16, fcgi_frame_stdout_size(8));
    ASSERT_EQ_INT(24, fcgi_frame_stdout_size(9));
    ASSERT_EQ_INT(8 + 65528, fcgi_frame_stdout_size(65528));
    ASSERT_EQ_INT(8 + 65528 + 8 + 8, fcgi_frame_stdout_size(65529));
    ASSERT_EQ_INT(8 + 65528 + 8 + 8, fcgi_frame_stdout_size(65535));
    ASSERT_EQ_INT(2 * (8 + 65528) + 8 + 8, fcgi_frame_stdout_size(2 * 65528 + 1));
}

TEST(frame_large_split)
{
    size_t len = 70000, size = fcgi_frame_stdout_size(len), i;
    unsigned char *data = malloc(len), *out = malloc(size);
    int ok = data != NULL && out != NULL;

    for (i = 0; ok && i < len; i++)
        data[i] = (unsigned char)(i * 7);
    ok = ok && fcgi_frame_stdout(out, 0xbeef, data, len) == size;
    /* First record: 65528 bytes (0xfff8), no padding. */
    ok = ok && out[0] == 1 && out[1] == 6 && out[2] == 0xbe && out[3] == 0xef
         && out[4] == 0xff && out[5] == 0xf8 && out[6] == 0 && out[7] == 0
         && memcmp(out + 8, data, 65528) == 0;
    /* Second record: the 4472 bytes left (0x1178), already a multiple of 8. */
    ok = ok && out[8 + 65528 + 4] == 0x11 && out[8 + 65528 + 5] == 0x78
         && out[8 + 65528 + 6] == 0 && size == 8 + 65528 + 8 + 4472
         && memcmp(out + 16 + 65528, data + 65528, 4472) == 0;
    free(data);
    free(out);
    ASSERT_TRUE(ok);
}

TEST(frame_end_exact)
{
    static const unsigned char want[FCGI_FRAME_END_SIZE] = {
        1, 6, 0x12, 0x34, 0, 0, 0, 0,        /* empty STDOUT: end of stream */
        1, 3, 0x12, 0x34, 0, 8, 0, 0,        /* END_REQUEST, 8 bytes */
        0, 0, 0, 0, 0, 0, 0, 0,              /* appStatus 0, REQUEST_COMPLETE, reserved */
    };
    unsigned char out[FCGI_FRAME_END_SIZE];

    memset(out, 0xee, sizeof out);
    fcgi_frame_end(out, 0x1234);
    ASSERT_EQ_MEM(want, out, sizeof want);
}
