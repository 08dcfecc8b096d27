-- churn.lua -- register a unique realm, then DELETE it with the session id
-- from the answer; repeat. Arguments: the realm token, a name prefix.
-- Run with as many connections as threads (-c N -t N): with one connection
-- per thread each response belongs to the request just sent, so the thread
-- knows which name a session id belongs to.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local threads = {}
local nthreads = 0
function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   threads[#threads + 1] = thread
end

local token, prefix
local n = 0
local name, sid
local last = nil          -- "reg" or "del": what the request just sent was
pairs_ok = 0              -- read by done() through thread:get
regs_ok = 0
bad = 0
bad_codes = ""            -- "reg:503 del:401 ..." (the first few)

local function note_bad(what, status)
   bad = bad + 1
   if #bad_codes < 120 then bad_codes = bad_codes .. what .. ":" .. status .. " " end
end

local body = '{"addresses":["203.0.113.10:4433"]}'

function init(args)
   token = args[1]
   prefix = args[2] .. "t" .. tid .. "x"
end

function request()
   if sid ~= nil then
      last = "del"
      local r = wrk.format("DELETE", "/v1/" .. name, { ["Authorization"] = "Bearer " .. sid })
      sid = nil
      return r
   end
   n = n + 1
   name = prefix .. n
   last = "reg"
   return wrk.format("POST", "/v1/" .. name,
      { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, rbody)
   if last == "reg" then
      if status == 200 then
         sid = rbody:match('"session_id":"(%x+)"')
         if sid then regs_ok = regs_ok + 1 else note_bad("reg", "nosid") end
      else
         note_bad("reg", status)
      end
   elseif last == "del" then
      if status == 204 then pairs_ok = pairs_ok + 1 else note_bad("del", status) end
   end
end

function done(summary, latency, requests)
   local p, r, b, codes = 0, 0, 0, ""
   for _, t in ipairs(threads) do
      p = p + t:get("pairs_ok")
      r = r + t:get("regs_ok")
      b = b + t:get("bad")
      codes = codes .. t:get("bad_codes")
   end
   common.report(summary, latency, { pairs = p, registers = r, bad = b, bad_codes = codes })
end
