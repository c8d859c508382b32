--[[
  Where a shard's registrations are: the start of every bucket, ARGV[3] ms wide, that holds at
  least one member of the sorted set in [ARGV[1], ARGV[2]). The windows flush:metrics builds
  are those around these buckets (sparse, as in Kafka Streams and Spark): one lookup per bucket
  with data, so a year-9999 event or an 11-month gap costs one more bucket, not every bucket of
  the span.

    KEYS[1] sorted set, members scored by event time (ms)   {p<N>}:reg
    ARGV[1] from (ms, inclusive)
    ARGV[2] to (ms, exclusive)
    ARGV[3] bucket width (ms); a multiple of 1000, so bucket starts print exactly
    ARGV[4] at most this many buckets

  Returns: bucket starts (ms), ascending
]]
local cursor = tonumber(ARGV[1])
local to = tonumber(ARGV[2])
local width = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local out = {}
while #out < limit do
  local hit = redis.call("ZRANGEBYSCORE", KEYS[1], string.format("%.0f", cursor), "(" .. string.format("%.0f", to), "WITHSCORES", "LIMIT", 0, 1)
  if #hit == 0 then break end
  local start = math.floor(tonumber(hit[2]) / width) * width
  out[#out + 1] = start
  cursor = start + width
end
return out
