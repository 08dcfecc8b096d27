/* test_hex.c -- hexadecimal digits (hex.c). */
#include <string.h>

#include "hex.h"
#include "unit.h"

TEST(hex_value_digits)
{
    ASSERT_EQ_INT(0, hex_value('0'));
    ASSERT_EQ_INT(10, hex_value('a'));
    ASSERT_EQ_INT(15, hex_value('F'));
    ASSERT_EQ_INT(-1, hex_value('g'));
    ASSERT_EQ_INT(-1, hex_value('\0'));
}

TEST(hex_check_cases)
{
    ASSERT_TRUE(hex_check("00aAfF99", 8, 0));
    ASSERT_TRUE(!hex_check("00aAfF99", 8, 1));
    ASSERT_TRUE(hex_check("00aaff99", 8, 1));
    ASSERT_TRUE(!hex_check("00aAfF9", 8, 0));
    ASSERT_TRUE(!hex_check("00aAfF990", 8, 0));
    ASSERT_TRUE(!hex_check("00aAfG99", 8, 0));
    ASSERT_TRUE(hex_check("", 0, 0));
}

TEST(hex_lower_keeps_digits)
{
    char out[9];
    hex_lower(out, "00aAfF9B", 8);
    ASSERT_EQ_STR("00aaff9b", out);
}

TEST(hex_random_shape)
{
    char a[33], b[33];
    ASSERT_EQ_INT(0, hex_random(a, 16));
    ASSERT_EQ_INT(0, hex_random(b, 16));
    ASSERT_EQ_INT(32, (int)strlen(a));
    ASSERT_TRUE(hex_check(a, 32, 1));
    ASSERT_TRUE(strcmp(a, b) != 0);
    ASSERT_EQ_INT(-1, hex_random(a, 65));
}
