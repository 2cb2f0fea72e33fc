-- wrk script: POSTs the JSON bodies in $LOAD_BODIES (one per line, round
-- robin) to $LOAD_PATH and prints one machine-readable RESULT line.
local path = os.getenv("LOAD_PATH") or "/api/search"
local key = os.getenv("TINGWEN_API_KEY")
local bodies = {}
for line in io.lines(os.getenv("LOAD_BODIES")) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
local headers = { ["Content-Type"] = "application/json" }
if key and key ~= "" then headers["Authorization"] = "Bearer " .. key end

local counter = 0
function init(args)
  -- Threads start at different bodies so they do not ask the same thing.
  counter = math.random(1, #bodies)
end

function request()
  counter = counter + 1
  return wrk.format("POST", path, headers, bodies[(counter % #bodies) + 1])
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT path=%s requests=%d seconds=%.1f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d\n",
    path, summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
