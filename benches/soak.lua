-- wrk script for benches/soak.sh: a mix of valid, invalid, random and missing tokens,
-- counting what was sent by kind and the answers by status and error code.
--   wrk ... -s soak.lua URL -- VALID_FILE INVALID_FILE
local valid, invalid = {}, {}
kinds = { valid = 0, invalid = 0, random = 0, none = 0 } -- globals: read by done()
statuses = {}

local threads = {}
function setup(thread) table.insert(threads, thread) end

local function lines(path)
  local out = {}
  for line in io.lines(path) do if #line > 0 then out[#out + 1] = line end end
  return out
end

function init(args)
  valid, invalid = lines(args[1]), lines(args[2])
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
local function random_token()
  local n = math.random(1, 1200)
  local t = {}
  for i = 1, n do
    local c = math.random(1, #alphabet)
    t[i] = alphabet:sub(c, c)
  end
  return table.concat(t)
end

function request()
  local r, headers = math.random(), {}
  if r < 0.50 then
    kinds.valid = kinds.valid + 1
    headers["Authorization"] = "Bearer " .. valid[math.random(#valid)]
  elseif r < 0.70 then
    kinds.invalid = kinds.invalid + 1
    headers["Authorization"] = "Bearer " .. invalid[math.random(#invalid)]
  elseif r < 0.90 then
    kinds.random = kinds.random + 1
    headers["Authorization"] = "Bearer " .. random_token()
  else
    kinds.none = kinds.none + 1
  end
  return wrk.format("GET", "/api/soak", headers)
end

function response(status, headers, body)
  local code = body and body:match('"error":"([%w_]+)"') or ""
  local key = tostring(status) .. (code ~= "" and (" " .. code) or "")
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local total_kinds, total_status = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("kinds")) do total_kinds[k] = (total_kinds[k] or 0) + v end
    for k, v in pairs(t:get("statuses")) do total_status[k] = (total_status[k] or 0) + v end
  end
  local e = summary.errors
  io.write(string.format("SOAK requests %d in %.1f s (%.0f req/s), p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("SOAK errors %d %d %d %d\n", e.connect, e.read, e.write, e.timeout))
  for k, v in pairs(total_kinds) do io.write(string.format("SOAK sent %-8s %d\n", k, v)) end
  for k, v in pairs(total_status) do io.write(string.format("SOAK answered %-22s %d\n", k, v)) end
end
