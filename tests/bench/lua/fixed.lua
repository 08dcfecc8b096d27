-- fixed.lua -- GET of the URL's path, nothing else: /fixed (nginx answering
-- by itself, the ceiling) or a path the worker answers 404 without Redis.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

function done(summary, latency, requests)
   common.report(summary, latency)
end
