-- Shared by the wrk scripts: numbers each thread (setup runs before the thread's init)
-- and prints one JSON line from done(), which bench/harness.py reads.
local report = {}
local threads = {}

function report.setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

-- The ids a booking thread collected from its 201 answers, one a line, to VB_WRK_IDS.
local function write_ids(path)
  local out = assert(io.open(path, "w"))
  local created = 0
  for _, thread in ipairs(threads) do
    local ids = thread:get("ids") or {}
    for _, id in ipairs(ids) do out:write(id, "\n") end
    created = created + (thread:get("created") or 0)
  end
  out:close()
  return created
end

function report.done(summary, latency, requests)
  local errors = summary.errors
  local created = -1
  if os.getenv("VB_WRK_IDS") then created = write_ids(os.getenv("VB_WRK_IDS")) end
  io.write(string.format(
    'VBJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "status_errors": %d, "socket_errors": %d, "timeouts": %d, "created": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, errors.status,
    errors.connect + errors.read + errors.write, errors.timeout, created))
end

-- Lines of a file, as an array.
function report.lines(path)
  local all = {}
  for line in io.lines(path) do all[#all + 1] = line end
  return all
end

-- The Authorization header of VB_WRK_KEY, if any.
function report.headers(extra)
  local headers = extra or {}
  local key = os.getenv("VB_WRK_KEY")
  if key and key ~= "" then headers["Authorization"] = "Bearer " .. key end
  return headers
end

return report
