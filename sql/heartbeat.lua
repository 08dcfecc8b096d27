-- heartbeat.lua -- check the session, refresh its lifetime, optionally replace
-- the addresses, and put a heartbeat_ack event on the realm's stream.
--
-- KEYS: 1 hr:realm:{name}  2 hr:ev:{name}  3 hr:realms
-- ARGV: 1 name  2 sid  3 addrs (JSON array) or "" to keep  4 ttl_ms
--       5 event data (one-line JSON)  6 channel hr:ch:{name}
-- Returns: 0 ok, 4 bad session.
-- Touches: realm (addrs, seq, acked, expiry), ev (append, cap 16, expiry),
--          hr:realms (score); publishes "E <sid> <id> heartbeat_ack <data>".
--
-- The ack is counted as delivered here when a stream holds the realm
-- (hold set by events.lua), some worker heard the event, and every earlier
-- event was delivered: the stream then writes it without a Redis write of
-- its own. Otherwise it waits in the buffer like any event.

local name, sid, addrs, ttl, data, channel =
    ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]

if redis.call('HGET', KEYS[1], 'sid') ~= sid then return 4 end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if addrs ~= '' then redis.call('HSET', KEYS[1], 'addrs', addrs) end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[3], 'XX', now + ttl, name)

local id = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('RPUSH', KEYS[2], id .. ' heartbeat_ack ' .. data)
redis.call('LTRIM', KEYS[2], -16, -1)
redis.call('PEXPIRE', KEYS[2], ttl)
local heard = redis.call('PUBLISH', channel, 'E ' .. sid .. ' ' .. id .. ' heartbeat_ack ' .. data)
if heard > 0 and redis.call('HEXISTS', KEYS[1], 'hold') == 1 and
        (tonumber(redis.call('HGET', KEYS[1], 'acked')) or 0) == id - 1 then
    redis.call('HSET', KEYS[1], 'acked', id)
end
return 0
