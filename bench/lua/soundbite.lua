-- wrk script for the SoundBite API benchmark.
-- Arguments after "--": mode (get | post | replay), seed, path, body, key.
--   get:    GET path
--   post:   POST path with body and a fresh UUID v4 Idempotency-Key per request
--   replay: POST path with body and the same key every time (an idempotent replay)
-- done() prints one JSON line: requests, duration, errors and latency percentiles (microseconds).

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

local mode, path, body, key = "get", "/", nil, nil

local function uuid4()
  return (string.gsub("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", "[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end

function init(args)
  mode = args[1] or "get"
  local seed = tonumber(args[2] or "1")
  path = args[3] or "/"
  body = args[4]
  key = args[5]
  -- Each thread has its own Lua state; distinct seeds keep their keys distinct.
  math.randomseed(seed * 1000 + (thread_id or 0))
end

function request()
  if mode == "get" then
    return wrk.format("GET", path)
  end
  -- wrk.format uses these headers instead of wrk.headers, so the content type goes here too.
  local headers = {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = (mode == "replay") and key or uuid4(),
  }
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean))
end
