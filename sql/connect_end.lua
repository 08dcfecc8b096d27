-- connect_end.lua -- finish a connect attempt: forget it and say which
-- addresses the client gets (the holder's answer, else the stored ones).
--
-- KEYS: 1 hr:realm:{name}  2 hr:att:{name}  3 hr:ans:{name}
-- ARGV: 1 nonce (lowercase)
-- Returns: {0, addrs, "answer"}, {0, addrs, "stored"} or {5} (realm gone).
-- Touches: att and ans (remove nonce); reads realm.

local nonce = ARGV[1]

redis.call('ZREM', KEYS[2], nonce)
local answer = redis.call('HGET', KEYS[3], nonce)
redis.call('HDEL', KEYS[3], nonce)

if redis.call('EXISTS', KEYS[1]) == 0 then return {5} end
if answer then return {0, answer, 'answer'} end
return {0, redis.call('HGET', KEYS[1], 'addrs'), 'stored'}
