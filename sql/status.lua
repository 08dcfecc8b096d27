-- status.lua -- the status lookup (GET /v1/{id}, an extension): is the realm
-- online, how long since its last heartbeat (or its register), is an event
-- stream holding it. Read-only.
--
-- KEYS: 1 hr:realm:{name}
-- ARGV: none
-- Returns: {0, ms since the last heartbeat, 1 if a stream holds it else 0},
--          or {5} (realm not registered).

local cur = redis.call('HMGET', KEYS[1], 'sid', 'hb_at', 'reg_at', 'hold')
if not cur[1] then return {5} end
local last = tonumber(cur[2]) or tonumber(cur[3]) or now_ms()
local ago = now_ms() - last
if ago < 0 then ago = 0 end
return {0, ago, cur[4] and 1 or 0}
