-- wrk script of scripts/cluster-local's throughput rows: one simple read, POSTed to
-- /graphql. Each request carries an undeclared variable unique to it (ignored by GraphQL,
-- but part of the router's deduplication key), so no two in-flight requests are merged.
-- The query comes from the environment (CLUSTER_READ_QUERY), JSON-escaped.
local query = os.getenv("CLUSTER_READ_QUERY") or "{ products(first: 5) { edges { node { id name } } } }"
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  bad = 0
end

function request()
  counter = counter + 1
  local body = '{"query":"' .. query .. '","variables":{"nonce":"' .. thread_id .. '-' .. counter .. '"}}'
  return wrk.format("POST", "/graphql", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  -- A GraphQL error answered with 200 counts as an error too.
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
  end
end

done = function(summary, latency, requests)
  local errors = 0
  for _, thread in ipairs(threads) do
    errors = errors + (thread:get("bad") or 0)
  end
  io.write(string.format("RESULT requests=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f bad=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, errors,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
