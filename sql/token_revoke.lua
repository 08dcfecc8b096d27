-- token_revoke.lua -- revoke a scoped token: every worker refuses it from its
-- next request on (they read the record for each request). Realms already
-- registered with it keep their sessions until they end.
--
-- KEYS: 1 hr:tok:{id}  2 hr:toks  3 hr:tokrealms:{id}
-- ARGV: 1 id
-- Returns: 0 revoked, 5 no such token.
-- Touches: deletes hr:tok:{id} and hr:tokrealms:{id}; hr:toks (id).

local existed = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[3])
local listed = redis.call('ZREM', KEYS[2], ARGV[1])
if existed == 0 and listed == 0 then return 5 end
return 0
