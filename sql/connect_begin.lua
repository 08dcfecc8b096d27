-- connect_begin.lua -- record a connect attempt, then put the punch event on
-- the realm's stream (the attempt exists before the event is published).
--
-- KEYS: 1 hr:realm:{name}  2 hr:ev:{name}  3 hr:att:{name}  4 hr:ans:{name}
--       5 hr:relay:att  6 hr:relay:exp
-- ARGV: 1 nonce (lowercase)  2 punch data (one-line JSON)  3 channel hr:ch:{name}
--       4 attempt_ms  5 max_in_flight
--       6 "" when no relay is configured, else the client's IP
--       7 the client's addresses (JSON array)  8 obfs (lowercase)  9 name
-- Returns: {0} ok, {5} realm not registered, {6} too many attempts in flight
--          (or this nonce is in flight already).
-- Touches: att (sweep, add, expiry), ans (sweep, clear nonce, expiry),
--          realm (seq, punches), ev (append, cap 16, expiry as the realm);
--          publishes "E <sid> <id> punch <data>". With a relay: the
--          attempt's record in hr:relay:att / hr:relay:exp (expired ones
--          swept) and published on hr:relay (relay_record below).

local nonce, data, channel = ARGV[1], ARGV[2], ARGV[3]
local attempt_ms, max_in_flight = tonumber(ARGV[4]), tonumber(ARGV[5])

-- Tell the relays (hysteria-realm-relay) about the attempt: its nonce and
-- obfs key, and the IPs each side's punch packets may come from (the
-- client's addresses and HTTP source; the holder's stored addresses,
-- register and heartbeat sources). Kept until it expires for a relay that
-- was not listening, and published for those that are.
local function relay_record(now, expires)
    local function ips(list, addrs_json, ...)
        local seen = {}
        for _, a in ipairs(cjson.decode(addrs_json or '[]')) do seen[addr_ip(a) or ''] = true end
        for i = 1, select('#', ...) do
            local v = select(i, ...)
            if v and v ~= 'unknown' then seen[v] = true end
        end
        seen[''] = nil
        for v in pairs(seen) do list[#list + 1] = v end
        table.sort(list)
        return list
    end
    local h = redis.call('HMGET', KEYS[1], 'addrs', 'ip', 'hb_ip')
    local rec = cjson.encode({nonce = nonce, obfs = ARGV[8], realm = ARGV[9], expires = expires,
        client_ips = ips({}, ARGV[7], ARGV[6]), holder_ips = ips({}, h[1], h[2], h[3])})
    for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now, 'LIMIT', 0, 64)) do
        redis.call('HDEL', KEYS[5], old)
        redis.call('ZREM', KEYS[6], old)
    end
    redis.call('HSET', KEYS[5], nonce, rec)
    redis.call('ZADD', KEYS[6], expires, nonce)
    redis.call('PUBLISH', 'hr:relay', rec)
end

if redis.call('EXISTS', KEYS[1]) == 0 then return {5} end

local now = now_ms()

for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
    redis.call('HDEL', KEYS[4], old)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
-- A nonce already in flight is refused like a 17th attempt: else one
-- realm could be sent any number of punches under one nonce.
if redis.call('ZSCORE', KEYS[3], nonce) then return {6} end
if redis.call('ZCARD', KEYS[3]) >= max_in_flight then return {6} end

redis.call('ZADD', KEYS[3], now + attempt_ms, nonce)
redis.call('HDEL', KEYS[4], nonce)
redis.call('PEXPIRE', KEYS[3], attempt_ms)
redis.call('PEXPIRE', KEYS[4], attempt_ms)

local sid = redis.call('HGET', KEYS[1], 'sid')
local id = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HINCRBY', KEYS[1], 'punches', 1)
if ARGV[6] ~= '' then relay_record(now, now + attempt_ms) end
redis.call('RPUSH', KEYS[2], id .. ' punch ' .. data)
redis.call('LTRIM', KEYS[2], -16, -1)
local pttl = redis.call('PTTL', KEYS[1])
if pttl > 0 then redis.call('PEXPIRE', KEYS[2], pttl) end
redis.call('PUBLISH', channel, 'E ' .. sid .. ' ' .. id .. ' punch ' .. data)
return {0}
