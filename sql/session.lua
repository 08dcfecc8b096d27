-- session.lua -- is sid the live session of the realm? Changes nothing.
--
-- KEYS: 1 hr:realm:{name}
-- ARGV: 1 sid
-- Returns: {0, pttl_ms} or {4} (bad session).
-- Touches: reads realm only.

if redis.call('HGET', KEYS[1], 'sid') ~= ARGV[1] then return {4} end
return {0, redis.call('PTTL', KEYS[1])}
