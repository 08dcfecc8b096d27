-- connect_begin.lua -- record a connect attempt, then put the punch event on
-- the realm's stream (the attempt exists before the event is published).
--
-- KEYS: 1 hr:realm:{name}  2 hr:ev:{name}  3 hr:att:{name}  4 hr:ans:{name}
-- ARGV: 1 nonce (lowercase)  2 punch data (one-line JSON)  3 channel hr:ch:{name}
--       4 attempt_ms  5 max_in_flight
-- Returns: {0} ok, {5} realm not registered, {6} too many attempts in flight.
-- Touches: att (sweep, add, expiry), ans (sweep, clear nonce, expiry),
--          realm (seq), ev (append, cap 16, expiry as the realm);
--          publishes "E <sid> <id> punch <data>".

local nonce, data, channel = ARGV[1], ARGV[2], ARGV[3]
local attempt_ms, max_in_flight = tonumber(ARGV[4]), tonumber(ARGV[5])

if redis.call('EXISTS', KEYS[1]) == 0 then return {5} end

local now = now_ms()

for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
    redis.call('HDEL', KEYS[4], old)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= max_in_flight then return {6} end

redis.call('ZADD', KEYS[3], now + attempt_ms, nonce)
redis.call('HDEL', KEYS[4], nonce)
redis.call('PEXPIRE', KEYS[3], attempt_ms)
redis.call('PEXPIRE', KEYS[4], attempt_ms)

local sid = redis.call('HGET', KEYS[1], 'sid')
local id = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('RPUSH', KEYS[2], id .. ' punch ' .. data)
redis.call('LTRIM', KEYS[2], -16, -1)
local pttl = redis.call('PTTL', KEYS[1])
if pttl > 0 then redis.call('PEXPIRE', KEYS[2], pttl) end
redis.call('PUBLISH', channel, 'E ' .. sid .. ' ' .. id .. ' punch ' .. data)
return {0}
