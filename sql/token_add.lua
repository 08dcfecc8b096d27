-- token_add.lua -- store a scoped token's record (hysteria-realm-admin token
-- add, or the admin API): only its keyed hash, never the token.
--
-- KEYS: 1 hr:tok:{id}  2 hr:toks
-- ARGV: 1 id  2 expires (ms since the epoch, 0 = never), then pairs of
--       field, value (fcgi/token.h token_field_names)
-- Returns: 0 ok, 1 the id exists already (draw another).
-- Touches: hr:tok:{id} (expires with the token); hr:toks (id -> expiry,
--          +inf for never; expired ids swept).

if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
local fields = {}
for k = 3, #ARGV do fields[#fields + 1] = ARGV[k] end
redis.call('HSET', KEYS[1], unpack(fields))
local expires = tonumber(ARGV[2])
if expires > 0 then redis.call('PEXPIREAT', KEYS[1], expires) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms())
redis.call('ZADD', KEYS[2], expires > 0 and expires or '+inf', ARGV[1])
return 0
