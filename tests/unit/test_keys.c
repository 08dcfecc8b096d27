/* test_keys.c -- Redis key and channel names (keys.c). */
#include "keys.h"
#include "contract.h"
#include "unit.h"

TEST(keys_each_kind)
{
    char k[KEY_MAX];

    ASSERT_EQ_INT(0, key_for(KEY_REALM, "home", k, sizeof k));
    ASSERT_EQ_STR("hr:realm:home", k);
    ASSERT_EQ_INT(0, key_for(KEY_EVENTS, "home", k, sizeof k));
    ASSERT_EQ_STR("hr:ev:home", k);
    ASSERT_EQ_INT(0, key_for(KEY_ATTEMPTS, "home", k, sizeof k));
    ASSERT_EQ_STR("hr:att:home", k);
    ASSERT_EQ_INT(0, key_for(KEY_ANSWERS, "home", k, sizeof k));
    ASSERT_EQ_STR("hr:ans:home", k);
    ASSERT_EQ_INT(0, key_for(KEY_CHANNEL, "home", k, sizeof k));
    ASSERT_EQ_STR("hr:ch:home", k);
    ASSERT_EQ_INT(0, key_for(KEY_HEAL, "home", k, sizeof k));
    ASSERT_EQ_STR("hr:heal:home", k);
    ASSERT_EQ_STR("hr:realms", KEY_REALMS);
    ASSERT_EQ_STR("hr:realmip", KEY_REALMIP);
    ASSERT_EQ_STR("hr:byip", KEY_BYIP);
}

TEST(keys_longest_name_fits)
{
    char name[RR_NAME_MAX + 1], k[KEY_MAX];

    memset(name, 'n', RR_NAME_MAX);
    name[RR_NAME_MAX] = '\0';
    ASSERT_EQ_INT(0, key_for(KEY_REALM, name, k, sizeof k));
    ASSERT_EQ_INT(strlen("hr:realm:") + RR_NAME_MAX, strlen(k));
    ASSERT_EQ_INT(0, key_for(KEY_ATTEMPTS, name, k, sizeof k));
}

TEST(keys_too_small_or_bad)
{
    char k[32];

    ASSERT_EQ_INT(-1, key_for(KEY_REALM, "home", k, 13));   /* needs 14 */
    ASSERT_EQ_INT(-1, key_for(KEY_REALM, "home", k, 10));
    ASSERT_EQ_STR("", k);
    ASSERT_EQ_INT(0, key_for(KEY_CHANNEL, "home", k, 11));
    ASSERT_EQ_STR("hr:ch:home", k);
    ASSERT_EQ_INT(-1, key_for(KEY_REALM, NULL, k, sizeof k));
    ASSERT_EQ_INT(-1, key_for((enum key_kind)99, "x", k, sizeof k));
    ASSERT_EQ_INT(-1, key_for(KEY_REALM, "x", k, 0));
}

TEST(keys_any_bytes_kept)
{
    char k[KEY_MAX];

    ASSERT_EQ_INT(0, key_for(KEY_EVENTS, "a b:{c}\xc3\xa9", k, sizeof k));
    ASSERT_EQ_STR("hr:ev:a b:{c}\xc3\xa9", k);
}

TEST(keys_session)
{
    struct session_keys k;
    char name[RR_NAME_MAX + 1], longer[KEY_MAX + 1];
    static const char *const want[SESSION_KEYS] = {
        "hr:realm:home", "hr:ev:home", "hr:att:home", "hr:ans:home",
        "hr:realms", "hr:realmip", "hr:byip", "hr:realmtok",
    };

    ASSERT_EQ_INT(0, session_keys_for(&k, "home"));
    for (int i = 0; i < SESSION_KEYS; i++)
        ASSERT_EQ_STR(want[i], k.keys[i]);
    ASSERT_EQ_STR("hr:ch:home", k.channel);
    memset(name, 'n', RR_NAME_MAX);
    name[RR_NAME_MAX] = '\0';
    ASSERT_EQ_INT(0, session_keys_for(&k, name));
    memset(longer, 'n', KEY_MAX);
    longer[KEY_MAX] = '\0';
    ASSERT_EQ_INT(-1, session_keys_for(&k, longer));
}
