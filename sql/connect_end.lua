-- connect_end.lua -- finish a connect attempt: forget it and say which
-- addresses the client gets (the holder's answer, else the stored ones).
-- With "peek", only an attempt already answered is finished: a waiting
-- connect asks this after its subscriber reconnected, in case the answer
-- was published while it was not listening.
--
-- KEYS: 1 hr:realm:{name}  2 hr:att:{name}  3 hr:ans:{name}
-- ARGV: 1 nonce (lowercase)  2 "peek" (optional)
-- Returns: {0, addrs, "answer"}, {0, addrs, "stored"} or {5} (realm gone);
--          with "peek", {7} while the attempt has no answer (nothing changed).
-- Touches: att and ans (remove nonce); realm (fallback: stored addresses given).

local nonce = ARGV[1]
local answer = redis.call('HGET', KEYS[3], nonce)

if ARGV[2] == 'peek' and not answer then
    if redis.call('EXISTS', KEYS[1]) == 0 then return {5} end
    return {7}
end

redis.call('ZREM', KEYS[2], nonce)
redis.call('HDEL', KEYS[3], nonce)

if redis.call('EXISTS', KEYS[1]) == 0 then return {5} end
if answer then return {0, answer, 'answer'} end
redis.call('HINCRBY', KEYS[1], 'fallback', 1)
return {0, redis.call('HGET', KEYS[1], 'addrs'), 'stored'}
