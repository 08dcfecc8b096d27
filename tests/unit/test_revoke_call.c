/* test_revoke_call.c -- the FCALL of token_revoke.lua (revoke_call.c). */
#include <stdlib.h>

#include "contract.h"
#include "revoke_call.h"
#include "unit.h"

TEST(revoke_call_layout)
{
    const char *names[] = { "home", "office-nas" };
    const size_t lens[] = { 4, 10 };
    static const char *const want[] = {
        "FCALL", "token_revoke_x", "16",
        "hr:tok:0123456789ab", "hr:toks", "hr:tokrealms:0123456789ab", "hr:realms",
        "hr:realmip", "hr:byip", "hr:realmtok", "hr:metrics",
        "hr:realm:home", "hr:ev:home", "hr:att:home", "hr:ans:home",
        "hr:realm:office-nas", "hr:ev:office-nas", "hr:att:office-nas", "hr:ans:office-nas",
        "0123456789ab", "home", "hr:ch:home", "office-nas", "hr:ch:office-nas",
    };
    struct revoke_call rc;

    ASSERT_EQ_INT(0, revoke_call_build(&rc, "token_revoke_x", "0123456789ab", names, lens, 2));
    ASSERT_EQ_INT(sizeof(want) / sizeof(want[0]), rc.argc);
    for (int i = 0; i < rc.argc; i++)
        ASSERT_EQ_STR(want[i], rc.argv[i]);
    revoke_call_free(&rc);
    ASSERT_TRUE(rc.argv == NULL && rc.buf == NULL && rc.argc == 0);
    revoke_call_free(&rc);                     /* twice: harmless */
}

TEST(revoke_call_no_names)
{
    struct revoke_call rc;

    ASSERT_EQ_INT(0, revoke_call_build(&rc, "f", "0123456789ab", NULL, NULL, 0));
    ASSERT_EQ_INT(3 + 8 + 1, rc.argc);
    ASSERT_EQ_STR("8", rc.argv[2]);
    ASSERT_EQ_STR("0123456789ab", rc.argv[11]);
    revoke_call_free(&rc);
}

TEST(revoke_call_skips_impossible_names)
{
    char longest[RR_NAME_MAX + 2];
    memset(longest, 'n', sizeof(longest));
    /* not NUL-terminated: only lens say where each ends */
    const char *names[] = { "", "a\0b", longest, longest, "okay!" };
    const size_t lens[] = { 0, 3, RR_NAME_MAX + 1, RR_NAME_MAX, 4 };
    struct revoke_call rc;

    ASSERT_EQ_INT(0, revoke_call_build(&rc, "f", "0123456789ab", names, lens, 5));
    ASSERT_EQ_INT(3 + 8 + 2 * 4 + 1 + 2 * 2, rc.argc);
    ASSERT_EQ_STR("16", rc.argv[2]);
    ASSERT_EQ_INT(strlen("hr:realm:") + RR_NAME_MAX, strlen(rc.argv[11]));
    ASSERT_EQ_STR("hr:realm:okay", rc.argv[15]);
    ASSERT_EQ_INT(RR_NAME_MAX, strlen(rc.argv[20]));
    ASSERT_EQ_STR("okay", rc.argv[22]);
    ASSERT_EQ_STR("hr:ch:okay", rc.argv[23]);
    revoke_call_free(&rc);
}
