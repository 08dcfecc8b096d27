-- connect_answer.lua -- the realm holder answers a connect attempt: store its
-- addresses and wake the waiting connect.
--
-- KEYS: 1 hr:realm:{name}  2 hr:att:{name}  3 hr:ans:{name}  4 hr:relay:att
-- ARGV: 1 sid  2 nonce (lowercase)  3 addrs (JSON array)  4 channel hr:ch:{name}
-- Returns: 0 ok, 4 bad session, 7 no attempt in flight for that nonce.
-- Touches: ans (set nonce, expiry as att), realm (answered, answer_at),
--          the attempt's relay record (holder_ips; published on hr:relay);
--          publishes "A <nonce> <addrs>".

local sid, nonce, addrs, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

if redis.call('HGET', KEYS[1], 'sid') ~= sid then return 4 end

local now = now_ms()

local score = tonumber(redis.call('ZSCORE', KEYS[2], nonce))
if not score or score <= now then return 7 end

redis.call('HSET', KEYS[3], nonce, addrs)
redis.call('HINCRBY', KEYS[1], 'answered', 1)
redis.call('HSET', KEYS[1], 'answer_at', now)
-- ans may not have existed when connect_begin set its expiry.
local pttl = redis.call('PTTL', KEYS[2])
if pttl > 0 then redis.call('PEXPIRE', KEYS[3], pttl) end
redis.call('PUBLISH', channel, 'A ' .. nonce .. ' ' .. addrs)

-- With a relay: the answer's addresses are the holder's freshest (a new
-- STUN); their IPs join the record's holder_ips, which is published again.
local rec = redis.call('HGET', KEYS[4], nonce)
if rec then
    local r = cjson.decode(rec)
    local seen, added = {}, false
    for _, ip in ipairs(r.holder_ips) do seen[ip] = true end
    for _, a in ipairs(cjson.decode(addrs)) do
        local ip = addr_ip(a)
        if ip and not seen[ip] then
            seen[ip], added = true, true
            r.holder_ips[#r.holder_ips + 1] = ip
        end
    end
    -- (an empty client_ips would come back as {} from cjson: left alone)
    if added and #r.client_ips > 0 then
        table.sort(r.holder_ips)
        rec = cjson.encode(r)
        redis.call('HSET', KEYS[4], nonce, rec)
        redis.call('PUBLISH', 'hr:relay', rec)
    end
end
return 0
