-- wrk script for the nginx cells: the workload comes from the environment, and `done` prints
-- one line `JSON {...}` with the summary (latencies in microseconds) for bench/run.ts.
local path = os.getenv("BENCH_PATH") or "/hello"
local body = tonumber(os.getenv("BENCH_BODY") or "0")
local headers = tonumber(os.getenv("BENCH_HEADERS") or "0")

wrk.path = path
if body > 0 then
  wrk.method = "POST"
  wrk.body = string.rep("a", body)
  wrk.headers["Content-Type"] = "application/octet-stream"
end
for i = 0, headers - 1 do
  wrk.headers["X-Bench-" .. i] = "value-" .. i .. "-abcdefgh"
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,"max":%.1f,"mean":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
