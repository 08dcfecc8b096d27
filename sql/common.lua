-- common.lua -- helpers shared by the functions of the library. It is not a
-- function itself: the library starts with it (fcgi/scripts.c), so every
-- function below sees these as locals.

-- Milliseconds since the epoch, by Redis's clock.
local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Take up to limit realms whose expiry score is past now out of the counts
-- (realms, realmip, byip, realmtok: hr:realms, hr:realmip, hr:byip,
-- hr:realmtok) and count them as expired sessions in metrics (hr:metrics;
-- nil: not counted). Returns how many were swept.
local function sweep_expired(realms, realmip, byip, realmtok, metrics, now, limit)
    local expired = 0
    for _, old in ipairs(redis.call('ZRANGEBYSCORE', realms, '-inf', now, 'LIMIT', 0, limit)) do
        local oldip = redis.call('HGET', realmip, old)
        if oldip then redis.call('ZREM', byip, oldip .. '|' .. old) end
        redis.call('HDEL', realmip, old)
        redis.call('HDEL', realmtok, old)
        redis.call('ZREM', realms, old)
        expired = expired + 1
    end
    if expired > 0 and metrics then
        redis.call('HINCRBY', metrics, 'hysteria_realm_sessions_expired_total', expired)
    end
    return expired
end

-- End the session sid of realm name: delete its keys (realm, ev, att, ans:
-- hr:realm:, hr:ev:, hr:att:, hr:ans:), take it out of the counts (realms,
-- realmip, byip, realmtok: hr:realms, hr:realmip, hr:byip, hr:realmtok)
-- and publish "D <sid>" on channel so that its streams close and its
-- waiting connects get 404. Used by deregister, kick, a heartbeat that
-- heals a stale stream, and an owner's re-claim.
local function end_session(realm, ev, att, ans, realms, realmip, byip, realmtok, name, sid, channel)
    local ip = redis.call('HGET', realm, 'ip')
    redis.call('DEL', realm, ev, att, ans)
    redis.call('ZREM', realms, name)
    redis.call('HDEL', realmip, name)
    redis.call('HDEL', realmtok, name)
    if ip then redis.call('ZREM', byip, ip .. '|' .. name) end
    redis.call('PUBLISH', channel, 'D ' .. sid)
end

-- The IP of an address "1.2.3.4:5" or "[2001:db8::1]:5".
local function addr_ip(addr)
    return string.match(addr, '^%[(.*)%]:%d+$') or string.match(addr, '^(.*):%d+$')
end
