-- register.lua -- make a realm: sweep expired realms, check the name and the
-- limits, then create the session. With a scoped token: check that it
-- still exists, count its quota, and (a token bound to the name) re-claim
-- a live realm: its old session ends as a deregister, the new one starts.
--
-- KEYS: 1 hr:realm:{name}  2 hr:ev:{name}  3 hr:att:{name}  4 hr:ans:{name}
--       5 hr:realms  6 hr:realmip  7 hr:byip  8 hr:metrics  9 hr:realmtok
--       10 hr:tok:{id}  11 hr:tokrealms:{id} (any names with the shared token)
-- ARGV: 1 name  2 sid  3 addrs (JSON array)  4 client ip  5 ttl_ms
--       6 max_realms (0 = no limit)  7 max_per_ip (0 = no limit)
--       8 token id ("" for the shared token)  9 the token's quota (0 = none)
--       10 "1" if the token may re-claim the name  11 channel hr:ch:{name}
--       12 the token's expiry, ms since the epoch (0 or absent: never; kept
--          as tok_exp, so that heartbeat.lua ends the session once it passes)
-- Returns: 0 ok, 1 realm taken, 2 global limit, 3 per-IP limit,
--          9 the token is gone (revoked or expired), 10 the token's quota.
-- Touches: every key above; deletes up to 128 expired names from hr:realms,
--          hr:realmip, hr:realmtok and hr:byip, and stale hr:byip and
--          hr:tokrealms members; counts them in hr:metrics
--          (sessions_expired_total, reclaims_total); a re-claim publishes
--          "D <old sid>".

local name, sid, addrs, ip = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, max_realms, max_per_ip = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local tok, quota, reclaim = ARGV[8], tonumber(ARGV[9]), ARGV[10] == '1'
local now = now_ms()

-- Sweep a bounded batch of expired realms out of the counts.
sweep_expired(KEYS[5], KEYS[6], KEYS[7], KEYS[9], KEYS[8], now, 128)

if tok ~= '' and redis.call('EXISTS', KEYS[10]) == 0 then return 9 end

if redis.call('EXISTS', KEYS[1]) == 1 then
    if not reclaim then return 1 end
    end_session(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[9], name,
                redis.call('HGET', KEYS[1], 'sid'), ARGV[11])
    redis.call('HINCRBY', KEYS[8], 'hysteria_realm_reclaims_total', 1)
end

if max_realms > 0 and redis.call('ZCOUNT', KEYS[5], '(' .. now, '+inf') >= max_realms then
    return 2
end

-- Live realms of this IP: "<ip>|" .. "<ip>}" ('}' is the byte after '|').
if max_per_ip > 0 then
    local count = 0
    for _, member in ipairs(redis.call('ZRANGEBYLEX', KEYS[7], '[' .. ip .. '|', '(' .. ip .. '}')) do
        local other = string.sub(member, #ip + 2)
        local score = tonumber(redis.call('ZSCORE', KEYS[5], other))
        if score and score > now and redis.call('HGET', KEYS[6], other) == ip then
            count = count + 1
        else
            redis.call('ZREM', KEYS[7], member)
        end
    end
    if count >= max_per_ip then return 3 end
end

-- Live realms registered with this token: in hr:tokrealms:{id}, live in
-- hr:realms and still this token's in hr:realmtok.
if tok ~= '' then
    if quota > 0 then
        local count = 0
        for _, other in ipairs(redis.call('SMEMBERS', KEYS[11])) do
            local score = tonumber(redis.call('ZSCORE', KEYS[5], other))
            if score and score > now and redis.call('HGET', KEYS[9], other) == tok then
                count = count + 1
            else
                redis.call('SREM', KEYS[11], other)
            end
        end
        if count >= quota then return 10 end
    end
    redis.call('SADD', KEYS[11], name)
    redis.call('HSET', KEYS[9], name, tok)
else
    redis.call('HDEL', KEYS[9], name)
end

redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('HSET', KEYS[1], 'sid', sid, 'addrs', addrs, 'ip', ip, 'seq', 0, 'acked', 0,
    'reg_at', now, 'addrs_at', now)
if (tonumber(ARGV[12]) or 0) > 0 then redis.call('HSET', KEYS[1], 'tok_exp', ARGV[12]) end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[5], now + ttl, name)
redis.call('HSET', KEYS[6], name, ip)
redis.call('ZADD', KEYS[7], 0, ip .. '|' .. name)
return 0
