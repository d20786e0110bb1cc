-- wrk script for the load tests: rotate over the paths in HW_WRK_PATHS (comma-separated),
-- send an allowed Origin to /api/*, and print the count of each status code at the end
-- ("status <code> <count>" lines, parsed by tests/load/harness.py).
local paths = {}
for path in string.gmatch(os.getenv("HW_WRK_PATHS") or "/", "[^,]+") do
  paths[#paths + 1] = path
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

local index = 0
statuses = {}

function request()
  index = index % #paths + 1
  local path = paths[index]
  local headers = {}
  if string.sub(path, 1, 5) == "/api/" then
    headers["Origin"] = "https://app.example.com"
  end
  return wrk.format("GET", path, headers)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses")) do
      total[code] = (total[code] or 0) + count
    end
  end
  for code, count in pairs(total) do
    io.write(string.format("status %d %d\n", code, count))
  end
end
