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
--
-- The most frequent transition: one HMGET reads what it needs and one HSET
-- writes the realm's fields back.

local name, sid, addrs, ttl, data, channel =
    ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]

local cur = redis.call('HMGET', KEYS[1], 'sid', 'seq', 'hold', 'acked')
if cur[1] ~= sid then return 4 end

local now = now_ms()

redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[3], 'XX', now + ttl, name)

local id = (tonumber(cur[2]) or 0) + 1
if redis.call('RPUSH', KEYS[2], id .. ' heartbeat_ack ' .. data) > 16 then
    redis.call('LPOP', KEYS[2])
end
redis.call('PEXPIRE', KEYS[2], ttl)
local heard = redis.call('PUBLISH', channel, 'E ' .. sid .. ' ' .. id .. ' heartbeat_ack ' .. data)

local set = {'seq', id}
if heard > 0 and cur[3] and (tonumber(cur[4]) or 0) == id - 1 then
    set[#set + 1] = 'acked'
    set[#set + 1] = id
end
if addrs ~= '' then
    set[#set + 1] = 'addrs'
    set[#set + 1] = addrs
end
redis.call('HSET', KEYS[1], unpack(set))
return 0
