-- common.lua -- shared by the bench's wrk scripts: a machine-readable summary.
-- done() prints one line "BENCH {json}" that tests/bench/bench.py parses.
local M = {}

-- extra(): a table of name -> number added to the summary (may be nil).
function M.report(summary, latency, extra)
   local e = summary.errors
   local parts = {
      string.format('"requests":%d', summary.requests),
      string.format('"duration_us":%d', summary.duration),
      string.format('"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d',
                    e.connect, e.read, e.write, e.status, e.timeout),
      string.format('"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d',
                    latency.mean, latency:percentile(50), latency:percentile(90),
                    latency:percentile(99), latency:percentile(99.9), latency.max),
   }
   for k, v in pairs(extra or {}) do
      if type(v) == "string" then
         parts[#parts + 1] = string.format('"%s":"%s"', k, v)
      else
         parts[#parts + 1] = string.format('"%s":%d', k, v)
      end
   end
   io.write("BENCH {" .. table.concat(parts, ",") .. "}\n")
end

return M
