-- POST a booking on a slot no other request of the whole run takes. Booking number n
-- goes to provider n % P at slot n / P (the files of VB_WRK_DATA: providers.txt,
-- patients.txt, slots.txt, one a line) for patient n % Q (Q >= P: the bookings of one
-- slot all have different patients). This run takes the numbers from VB_WRK_FIRST on,
-- thread t the ones t, t + T, ... after it (T = VB_WRK_THREADS). It keeps the ids of
-- its 201 answers, which done() writes to VB_WRK_IDS.
package.path = "bench/wrk/?.lua;" .. package.path
local report = require("report")
setup, done = report.setup, report.done

local providers, patients, slots, headers, path, tag
local number, stride
created, ids = 0, {}

function init(args)
  local dir = os.getenv("VB_WRK_DATA")
  providers = report.lines(dir .. "/providers.txt")
  patients = report.lines(dir .. "/patients.txt")
  slots = report.lines(dir .. "/slots.txt")
  headers = report.headers({["Content-Type"] = "application/json"})
  path, tag = os.getenv("VB_WRK_PATH"), os.getenv("VB_WRK_TAG")
  stride = tonumber(os.getenv("VB_WRK_THREADS"))
  number = tonumber(os.getenv("VB_WRK_FIRST")) + index - stride
end

function request()
  number = number + stride
  local slot = math.floor(number / #providers)
  local body = string.format(
    '{"provider_id": "%s", "patient_id": "%s", "start": "%s", "duration": 30, ' ..
    '"reason": "%s"}', providers[number % #providers + 1],
    patients[number % #patients + 1], slots[slot % #slots + 1], tag)
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
    ids[#ids + 1] = string.match(body, '"id"%s*:%s*"([^"]+)"')
  end
end
