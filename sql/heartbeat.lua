-- heartbeat.lua -- check the session, refresh its lifetime, optionally replace
-- the addresses, record the realm's health, and put a heartbeat_ack event on
-- the realm's stream; or heal a stale stream (below).
--
-- KEYS: 1 hr:realm:{name}  2 hr:ev:{name}  3 hr:realms  4 hr:att:{name}
--       5 hr:ans:{name}  6 hr:realmip  7 hr:byip  8 hr:heal:{name}  9 hr:metrics
--       10 hr:realmtok
-- ARGV: 1 name  2 sid  3 addrs (JSON array) or "" to keep  4 ttl_ms
--       5 event data (one-line JSON)  6 channel hr:ch:{name}  7 client ip
--       8 "1" to heal stale streams, "0" not to
-- Returns: 0 ok, 4 bad session (also when the scoped token it was registered
--          with has expired: the session is ended first), 8 healed (the
--          session was ended: answer 404).
-- Touches: realm (addrs, addrs_at, hb_at, hb_ip, seq, acked, expiry), ev
--          (append, cap 16, expiry), hr:realms (score); publishes
--          "E <sid> <id> heartbeat_ack <data>". When healing: as
--          deregister.lua, plus hr:heal:{name} and hr:metrics. When the
--          token has expired: as deregister.lua, plus hr:metrics.
--
-- Healing: a heartbeat from a client IP of the same family as, but other
-- than, the IP whose event stream holds the realm means that stream hangs
-- on a connection that died when the holder's address changed (a PPPoE
-- redial, a CGNAT remap): the holder only reads it and never learns. The
-- session is ended and the heartbeat answered 404, so the Hysteria server
-- registers again (with a fresh STUN) and opens a new stream. A holder
-- whose connections come from two IPs all along would flap: when the same
-- pattern is seen again within HEAL_WINDOW_MS of a healing, the realm is
-- marked multi-address for MULTI_MS and not healed.
--
-- The ack is counted as delivered here when a stream holds the realm
-- (hold set by events.lua), some worker heard the event, and every earlier
-- event was delivered: the stream then writes it without a Redis write of
-- its own. Otherwise it waits in the buffer like any event.

local HEAL_WINDOW_MS, MULTI_MS = 600000, 86400000

local name, sid, addrs, ttl, data, channel, ip, heal =
    ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7], ARGV[8]

local cur = redis.call('HMGET', KEYS[1], 'sid', 'seq', 'hold', 'acked', 'stream_ip', 'tok_exp')
if cur[1] ~= sid then return 4 end

local now = now_ms()

-- Registered with a scoped token that has expired since: the session ends
-- (as a deregister) and the heartbeat is answered 401, so the Hysteria
-- server registers again, and is refused.
if cur[6] and tonumber(cur[6]) <= now then
    redis.call('HINCRBY', KEYS[9], 'hysteria_realm_token_sessions_ended_total{reason="expired"}', 1)
    end_session(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[3], KEYS[6], KEYS[7], KEYS[10], name, sid, channel)
    return 4
end

-- 1 if the heartbeat says the stream is stale and the realm may be healed.
local function stale()
    local sip = cur[5]
    if heal ~= '1' or not cur[3] or not sip or sip == ip or ip == 'unknown' then return false end
    if (string.find(sip, ':', 1, true) ~= nil) ~= (string.find(ip, ':', 1, true) ~= nil) then
        return false
    end
    local h = redis.call('HMGET', KEYS[8], 'multi', 'healed_at')
    if h[1] == '1' then return false end
    if h[2] then
        redis.call('HSET', KEYS[8], 'multi', '1')
        redis.call('PEXPIRE', KEYS[8], MULTI_MS)
        redis.call('HINCRBY', KEYS[9], 'hysteria_realm_heals_total{result="multi_address"}', 1)
        return false
    end
    return true
end

if stale() then
    redis.call('HSET', KEYS[8], 'healed_at', now)
    redis.call('HINCRBY', KEYS[8], 'heals', 1)
    redis.call('PEXPIRE', KEYS[8], HEAL_WINDOW_MS)
    redis.call('HINCRBY', KEYS[9], 'hysteria_realm_heals_total{result="healed"}', 1)
    end_session(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[3], KEYS[6], KEYS[7], KEYS[10], name, sid, channel)
    return 8
end

redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[3], 'XX', now + ttl, name)

local id = (tonumber(cur[2]) or 0) + 1
if redis.call('RPUSH', KEYS[2], id .. ' heartbeat_ack ' .. data) > 16 then
    redis.call('LPOP', KEYS[2])
end
redis.call('PEXPIRE', KEYS[2], ttl)
local heard = redis.call('PUBLISH', channel, 'E ' .. sid .. ' ' .. id .. ' heartbeat_ack ' .. data)

local set = {'seq', id, 'hb_at', now, 'hb_ip', ip}
if heard > 0 and cur[3] and (tonumber(cur[4]) or 0) == id - 1 then
    set[#set + 1] = 'acked'
    set[#set + 1] = id
end
-- (the stored addresses are read only when new ones are given)
if addrs ~= '' and addrs ~= redis.call('HGET', KEYS[1], 'addrs') then
    set[#set + 1] = 'addrs'
    set[#set + 1] = addrs
    set[#set + 1] = 'addrs_at'
    set[#set + 1] = now
end
redis.call('HSET', KEYS[1], unpack(set))
return 0
