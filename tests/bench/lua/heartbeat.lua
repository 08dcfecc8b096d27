-- heartbeat.lua -- POST /v1/{name}/heartbeat with a session, body {}.
-- Argument: a file of "name session" lines (realms registered beforehand).
-- Each wrk thread starts at a different line and walks the list, so the
-- load is spread over every realm and session.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local nthreads = 0
function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
end

local reqs = {}
local idx = 0

function init(args)
   for line in io.lines(args[1]) do
      local name, sid = line:match("^(%S+) (%S+)$")
      if name then
         reqs[#reqs + 1] = wrk.format("POST", "/v1/" .. name .. "/heartbeat",
            { ["Authorization"] = "Bearer " .. sid, ["Content-Type"] = "application/json" }, "{}")
      end
   end
   idx = (tid * 7919) % #reqs
end

function request()
   idx = idx % #reqs + 1
   return reqs[idx]
end

function done(summary, latency, requests)
   common.report(summary, latency)
end
