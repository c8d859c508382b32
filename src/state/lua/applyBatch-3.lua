--[[
  Applies one decoded Kafka batch of one topic-partition, exactly once (DESIGN.md, rule 2).
  Offsets at or below the stored offset were applied before (a replay after a crash): skipped.

    Input:
      KEYS[1] offsets hash of the shard        {p<N>}:offsets      field = topic → last applied offset
      KEYS[2] outbox stream of the table       {p<N>}:outbox:<table>
      KEYS[3] dead-letter counts of the shard  {p<N>}:dead         field = topic → dead letters

      ARGV[1] topic
      ARGV[2] last offset of the batch (stored even when its message was a dead letter)
      ARGV[3] number of dead-letter offsets that follow
      ARGV[4 .. 3+n]   dead-letter offsets
      ARGV[4+n ..]     pairs: offset, row (JSON array in the table's column order)

    Output:
      { rows appended, dead letters counted, offsets skipped as already applied }
]]
local topic = ARGV[1]
local last = tonumber(ARGV[2])
local stored = tonumber(redis.call("HGET", KEYS[1], topic) or "-1")
if last <= stored then
  return { 0, 0, -1 }
end

local dead = tonumber(ARGV[3])
local counted = 0
for i = 4, 3 + dead do
  if tonumber(ARGV[i]) > stored then
    counted = counted + 1
  end
end
if counted > 0 then
  redis.call("HINCRBY", KEYS[3], topic, counted)
end

local appended, skipped = 0, 0
for i = 4 + dead, #ARGV, 2 do
  local offset = ARGV[i]
  if tonumber(offset) > stored then
    redis.call("XADD", KEYS[2], "*", "o", offset, "r", ARGV[i + 1])
    appended = appended + 1
  else
    skipped = skipped + 1
  end
end

redis.call("HSET", KEYS[1], topic, last)
return { appended, counted, skipped }
