-- metrics_read.lua -- everything a scrape shows: the counts, the gauges of
-- the live workers, and the number of live realms. Realms found expired
-- are swept out of the counts here too (as register does) and counted as
-- expired sessions.
--
-- KEYS: 1 hr:metrics  2 hr:mworkers  3 hr:workers  4 hr:realms
--       5 hr:realmip  6 hr:byip  7 hr:realmtok
-- ARGV: 1 most expired realms to sweep
-- Returns: {live realms, n, series, value, ... (n pairs),
--           "<worker>|<gauge>", value, ...}
-- Touches: hr:realms, hr:realmip, hr:byip (sweep), hr:metrics
--          (sessions_expired_total), hr:mworkers and hr:workers (drops
--          workers past their expiry).

local now = now_ms()
sweep_expired(KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[1], now, tonumber(ARGV[1]))

for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
    for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
        if string.sub(field, 1, #gone + 1) == gone .. '|' then redis.call('HDEL', KEYS[2], field) end
    end
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)

local counts = redis.call('HGETALL', KEYS[1])
local out = {redis.call('ZCOUNT', KEYS[4], '(' .. now, '+inf'), #counts / 2}
for _, v in ipairs(counts) do out[#out + 1] = v end
for _, v in ipairs(redis.call('HGETALL', KEYS[2])) do out[#out + 1] = v end
return out
