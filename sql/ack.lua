-- ack.lua -- move the realm's acked cursor (last event id written to a
-- stream) forward, never back; a closing stream also lets go of the realm.
--
-- KEYS: 1 hr:realm:{name}
-- ARGV: 1 sid  2 event id  3 hold token to release (optional)
-- Returns: 0 ok, 4 bad session.
-- Touches: realm (acked; hold, stream_ip, stream_at).

if redis.call('HGET', KEYS[1], 'sid') ~= ARGV[1] then return 4 end

local id = tonumber(ARGV[2])
if id and id > (tonumber(redis.call('HGET', KEYS[1], 'acked')) or 0) then
    redis.call('HSET', KEYS[1], 'acked', ARGV[2])
end
if ARGV[3] and ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'hold') == ARGV[3] then
    redis.call('HDEL', KEYS[1], 'hold', 'stream_ip', 'stream_at')
end
return 0
