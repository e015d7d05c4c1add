-- GET the paths of the file VB_WRK_PATHS in turn (each thread from its own offset),
-- with VB_WRK_KEY as the bearer key when set.
package.path = "bench/wrk/?.lua;" .. package.path
local report = require("report")
setup, done = report.setup, report.done

local paths, headers, next_path

function init(args)
  paths = report.lines(os.getenv("VB_WRK_PATHS"))
  headers = report.headers()
  next_path = (index * 7919) % #paths
end

function request()
  next_path = next_path % #paths + 1
  return wrk.format("GET", paths[next_path], headers)
end
