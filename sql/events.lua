-- events.lua -- the buffered events a stream has not seen yet; on a
-- stream's first read, also mark the realm as held by that stream.
--
-- KEYS: 1 hr:realm:{name}  2 hr:ev:{name}
-- ARGV: 1 sid  2 after: an event id, or "" for the realm's acked cursor
--       3 hold token (optional): the stream now holding the realm
--       4 the stream's client IP (with a hold token)
--       5 channel hr:ch:{name} (optional, with a hold token)
--       6 the reading stream's own hold token (optional, on later reads)
-- Returns: {0, pttl_ms, after, record...}: the cursor used, then the records
--          "<id> <event> <data>" whose id > after, oldest first; or {4}
--          (bad session); or {11}: another stream holds the realm (ARGV 6
--          given and the hold is another token), the reader was displaced
--          and missed the "H" message (its subscription was not yet live).
-- Touches: reads realm and ev; with a hold token sets realm's hold,
--          stream_ip and (when the holder changed) stream_at, and if
--          another stream held the realm publishes "H <sid> <its token>" on
--          the channel: the newest stream of a session takes over and the
--          one it displaced ends, so that one session never holds more
--          than one stream (and a worker's slots) at a time.

if redis.call('HGET', KEYS[1], 'sid') ~= ARGV[1] then return {4} end
if ARGV[6] and ARGV[6] ~= '' then
    local hold = redis.call('HGET', KEYS[1], 'hold')
    if hold and hold ~= ARGV[6] then return {11} end
end

if ARGV[3] and ARGV[3] ~= '' then
    local set = {'hold', ARGV[3], 'stream_ip', ARGV[4] or 'unknown'}
    local old = redis.call('HGET', KEYS[1], 'hold')
    if old ~= ARGV[3] then
        set[5], set[6] = 'stream_at', now_ms()
    end
    redis.call('HSET', KEYS[1], unpack(set))
    if old and old ~= ARGV[3] and ARGV[5] and ARGV[5] ~= '' then
        redis.call('PUBLISH', ARGV[5], 'H ' .. ARGV[1] .. ' ' .. old)
    end
end

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
