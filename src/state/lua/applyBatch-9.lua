--[[
  Applies one decoded Kafka batch of one topic-partition, exactly once (DESIGN.md, rule 2).
  Offsets at or below the stored offset were applied before (a replay after a crash): skipped.
  Every key is in the shard's hash tag {p<N>}, so the script touches one Redis Cluster slot.

    Input:
      KEYS[1] offsets hash      {p<N>}:offsets   topic → last applied offset
      KEYS[2] outbox stream     {p<N>}:outbox:<table>
      KEYS[3] dead letters      {p<N>}:dead      topic → dead letters counted
      KEYS[4] registrations     {p<N>}:reg       sorted set: user_id scored by earliest registration time (ZADD LT)
      KEYS[5] sales             {p<N>}:sales     item_id → cents
      KEYS[6] event-time marks  {p<N>}:maxtime   topic → max event time applied (epoch ms)
      KEYS[7] late events       {p<N>}:late      <window_type>:<window_start> → late events
      KEYS[8] sign-ins          {p<N>}:sess:in   sorted set: "<time>|<user_id>" scored by time
      KEYS[9] sign-outs         {p<N>}:sess:out  sorted set: "<time>|<user_id>" scored by time

      ARGV[1] topic
      ARGV[2] last offset of the batch (stored even when its message was a dead letter)
      ARGV[3] max event time among the batch's applied rows (epoch ms), or -1
      ARGV[4] n: number of dead-letter offsets, then ARGV[5 .. 4+n] those offsets
      then    m: number of late entries, then m pairs: offset, <window_type>:<window_start>
      then    triples: offset, row (JSON array in the table's column order), state op
              state op: "" | "R <user_id> <time>" (registration) | "S <item_id>|<currency> <cents>" (sale)
                        | "I <user_id> <time>" (sign-in) | "O <user_id> <time>" (sign-out)

    Output:
      { rows appended, dead letters counted, offsets skipped as already applied }
]]
local topic = ARGV[1]
local last = tonumber(ARGV[2])
local stored = tonumber(redis.call("HGET", KEYS[1], topic) or "-1")
if last <= stored then
  return { 0, 0, -1 }
end

local i = 4
local dead = tonumber(ARGV[i])
local counted = 0
for j = i + 1, i + dead do
  if tonumber(ARGV[j]) > stored then
    counted = counted + 1
  end
end
if counted > 0 then
  redis.call("HINCRBY", KEYS[3], topic, counted)
end
i = i + dead + 1

local late = tonumber(ARGV[i])
for j = i + 1, i + 2 * late, 2 do
  if tonumber(ARGV[j]) > stored then
    redis.call("HINCRBY", KEYS[7], ARGV[j + 1], 1)
  end
end
i = i + 2 * late + 1

local appended, skipped = 0, 0
for j = i, #ARGV, 3 do
  local offset = ARGV[j]
  if tonumber(offset) > stored then
    redis.call("XADD", KEYS[2], "*", "o", offset, "r", ARGV[j + 1])
    local op = ARGV[j + 2]
    local kind = string.sub(op, 1, 1)
    if kind == "R" then
      local user, t = string.match(op, "^R (.+) (%-?%d+)$")
      -- LT: a user counts once, at the earliest registration time seen (the oracle's min(event_time)).
      redis.call("ZADD", KEYS[4], "LT", t, user)
    elseif kind == "S" then
      local item, cents = string.match(op, "^S (.+) (%-?%d+)$")
      redis.call("HINCRBY", KEYS[5], item, cents)
    elseif kind == "I" or kind == "O" then
      local user, t = string.match(op, "^[IO] (.+) (%-?%d+)$")
      redis.call("ZADD", kind == "I" and KEYS[8] or KEYS[9], t, t .. "|" .. user)
    end
    appended = appended + 1
  else
    skipped = skipped + 1
  end
end

local maxtime = tonumber(ARGV[3])
if maxtime >= 0 and maxtime > tonumber(redis.call("HGET", KEYS[6], topic) or "-1") then
  redis.call("HSET", KEYS[6], topic, maxtime)
end
redis.call("HSET", KEYS[1], topic, last)
return { appended, counted, skipped }
