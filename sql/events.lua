-- events.lua -- the buffered events a stream has not seen yet.
--
-- KEYS: 1 hr:realm:{name}  2 hr:ev:{name}
-- ARGV: 1 sid  2 after: an event id, or "" for the realm's acked cursor
-- Returns: {0, pttl_ms, after, record...}: the cursor used, then the records
--          "<id> <event> <data>" whose id > after, oldest first; or {4}
--          (bad session).
-- Touches: reads realm and ev only.

if redis.call('HGET', KEYS[1], 'sid') ~= ARGV[1] then return {4} end

local after = tonumber(ARGV[2]) or tonumber(redis.call('HGET', KEYS[1], 'acked')) or 0
-- A Last-Event-ID past the newest event (a stale id from an earlier
-- session) must not hide the events still to come.
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq')) or 0
if after > seq then after = seq end
local out = {0, redis.call('PTTL', KEYS[1]), after}
for _, rec in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    local id = tonumber(string.match(rec, '^(%d+) '))
    if id and id > after then out[#out + 1] = rec end
end
return out
