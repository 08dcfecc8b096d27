-- metrics_flush.lua -- add one worker's counts of the last second to the
-- deployment's metrics, and record its gauges until it stops flushing.
--
-- KEYS: 1 hr:metrics  2 hr:mworkers  3 hr:workers
-- ARGV: 1 worker id  2 ttl_ms of its gauges  3 n: how many pairs follow
--       that are counts; then n pairs series, count (the last pair may be a
--       _sum, a float); then pairs gauge, value of this worker
-- Returns: 0.
-- Touches: hr:metrics (HINCRBY / HINCRBYFLOAT), hr:mworkers ("<id>|<gauge>"),
--          hr:workers (worker id -> expiry); forgets workers past expiry.

local id, ttl, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()

local i = 4
for _ = 1, n do
    local field, value = ARGV[i], ARGV[i + 1]
    if string.find(field, '_sum', 1, true) then
        redis.call('HINCRBYFLOAT', KEYS[1], field, value)
    else
        redis.call('HINCRBY', KEYS[1], field, value)
    end
    i = i + 2
end
while ARGV[i + 1] do
    redis.call('HSET', KEYS[2], id .. '|' .. ARGV[i], ARGV[i + 1])
    i = i + 2
end
redis.call('ZADD', KEYS[3], now + ttl, id)
return 0
