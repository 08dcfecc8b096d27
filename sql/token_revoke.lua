-- token_revoke.lua -- revoke a scoped token and end the sessions of the realms
-- registered with it, in one step: every worker refuses the token from its
-- next request on, and each of those realms ends as a deregister would (its
-- stream closes, its waiting connects get 404, its session id 401), so the
-- holder's next heartbeat fails and its register again is refused.
--
-- The caller reads hr:tokrealms:{id} just before and passes every name in it
-- with that name's keys. If the set holds a name it did not pass (a register
-- in between), nothing changes and 12 is returned: read the set again.
--
-- KEYS: 1 hr:tok:{id}  2 hr:toks  3 hr:tokrealms:{id}  4 hr:realms
--       5 hr:realmip  6 hr:byip  7 hr:realmtok  8 hr:metrics, then for each
--       name i (from 0): 9+4i hr:realm:{name}  10+4i hr:ev:{name}
--       11+4i hr:att:{name}  12+4i hr:ans:{name}
-- ARGV: 1 id, then for each name i: 2+2i name  3+2i channel hr:ch:{name}
-- Returns: {0, sessions ended} revoked, {5, 0} no such token, {12, 0} the
--          set changed.
-- Touches: deletes hr:tok:{id} and hr:tokrealms:{id}; hr:toks (id); for each
--          passed realm still registered with this token: as deregister.lua,
--          publishing "D <sid>"; hr:metrics (token_sessions_ended_total,
--          reason revoked).

local id = ARGV[1]
local n = (#ARGV - 1) / 2
if n ~= math.floor(n) or #KEYS ~= 8 + 4 * n then
    return redis.error_reply('token_revoke: 8 + 4 keys and 2 arguments per name')
end

local passed = {}
for i = 0, n - 1 do passed[ARGV[2 + 2 * i]] = true end
for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    if not passed[name] then return {12, 0} end
end

local existed = redis.call('DEL', KEYS[1])
local listed = redis.call('ZREM', KEYS[2], id)
local ended = 0
for i = 0, n - 1 do
    local name, k = ARGV[2 + 2 * i], 9 + 4 * i
    local sid = redis.call('HGET', KEYS[k], 'sid')
    if sid and redis.call('HGET', KEYS[7], name) == id then
        end_session(KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[4], KEYS[5], KEYS[6],
                    KEYS[7], name, sid, ARGV[3 + 2 * i])
        ended = ended + 1
    end
end
redis.call('DEL', KEYS[3])
if ended > 0 then
    redis.call('HINCRBY', KEYS[8], 'hysteria_realm_token_sessions_ended_total{reason="revoked"}', ended)
end
if existed == 0 and listed == 0 and ended == 0 then return {5, 0} end
return {0, ended}
