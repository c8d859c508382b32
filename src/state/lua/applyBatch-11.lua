--[[
  Applies the state of one decoded Kafka batch of one topic-partition, exactly once (DESIGN.md,
  the state path). Raw rows do not pass here: the raw loader takes them from Kafka itself.
  Every key is in the shard's hash tag {p<N>}, so the script touches one Redis Cluster slot.

  Guards, all inside this step:
  - the caller decided lateness from the stored offset and mark it read: if the stored offset is
    no longer that one (another consumer applied in between), nothing changes and the caller
    reads again;
  - for sign-ins and sign-outs, also from how far flush:metrics had paired the shard's sessions:
    if pairing moved on since (its hours may now be final), nothing changes and the caller
    decides again, so no session event is recorded behind the pairing boundary;
  - for registrations, also from how far flush:metrics has made each window type final in this
    shard (set before it counts them): if that moved on since, nothing changes and the caller
    decides again, so no registration enters a window already counted as final (a cold
    partition with no event-time mark included);
  - offsets at or below the stored offset were applied before (a replay): skipped;
  - an event_id this topic's shard already applied (a re-sent event) changes nothing;
  - an event older than the mark minus the dedup horizon could no longer be told from a re-sent
    one: refused (the caller dead-letters exactly these, from the same mark).

    Input:
      KEYS[1] offsets hash      {p<N>}:offsets    topic → last applied offset
      KEYS[2] event-time marks  {p<N>}:maxtime    topic → max event time applied (epoch ms)
      KEYS[3] late events       {p<N>}:late       <window_type>:<window_start> → late events
      KEYS[4] registrations     {p<N>}:reg        sorted set: user_id scored by earliest registration time (ZADD LT)
      KEYS[5] sales             {p<N>}:sales      item_id|currency → cents
      KEYS[6] sign-ins          {p<N>}:sess:in    sorted set: "<time>|<user_id>" scored by time
      KEYS[7] sign-outs         {p<N>}:sess:out   sorted set: "<time>|<user_id>" scored by time
      KEYS[8] applied ids       {p<N>}:seen:<topic> sorted set: event_id scored by event time, kept for the horizon
      KEYS[9] session totals    {p<N>}:sess:acc   field "done": how far sessions are paired (epoch ms)
      KEYS[10] final through    {p<N>}:final      "<window_type>=<end>;…": windows ending at or before are final
      KEYS[11] late log         {p<N>}:latelog    sorted set "<event_id>\t<final-through>" scored by offset:
                                                  registrations applied while some of their windows were
                                                  final, and which (flush:metrics loads them into the
                                                  warehouse, where the oracle reads them)

      ARGV[1] topic
      ARGV[2] the stored offset the caller read ("" when none)
      ARGV[3] last offset of the batch (stored even when its message was not applied)
      ARGV[4] max event time among the batch's applied events (epoch ms), or -1
      ARGV[5] dedup horizon (ms of event time)
      ARGV[6] the pairing boundary the caller read ("" when none), or "*" when the batch records no session events
      ARGV[7] the final-through text the caller read ("" when none), or "*" when the batch holds no registrations
      ARGV[8] m: number of late entries, then m pairs: offset, <window_type>:<window_start> (a final
              window the registration at that offset belongs to; it still counts in its open ones)
      then    quadruples: offset, event_id, event time (epoch ms), state op
              state op: "R <user_id> <time>" (registration) | "S <item_id>|<currency> <cents>" (sale)
                        | "I <user_id> <time>" (sign-in) | "O <user_id> <time>" (sign-out)

    Output:
      { applied, duplicates, refused beyond the horizon, 1 if the stored offset, the pairing boundary or the final-through moved (nothing done) else 0 }
]]
local topic = ARGV[1]
local storedText = redis.call("HGET", KEYS[1], topic)
if (storedText or "") ~= ARGV[2] then
  return { 0, 0, 0, 1 }
end
if ARGV[6] ~= "*" and (redis.call("HGET", KEYS[9], "done") or "") ~= ARGV[6] then
  return { 0, 0, 0, 1 }
end
if ARGV[7] ~= "*" and (redis.call("GET", KEYS[10]) or "") ~= ARGV[7] then
  return { 0, 0, 0, 1 }
end
local stored = tonumber(storedText or "-1")
local last = tonumber(ARGV[3])
if last <= stored then
  return { 0, 0, 0, 0 }
end
local horizon = tonumber(ARGV[5])
local mark = tonumber(redis.call("HGET", KEYS[2], topic) or "-1")
local floor = mark >= 0 and mark - horizon or nil

local i = 8
local late = tonumber(ARGV[i])
local lateAt = {}
for j = i + 1, i + 2 * late, 2 do
  local at = lateAt[ARGV[j]]
  if not at then
    at = {}
    lateAt[ARGV[j]] = at
  end
  at[#at + 1] = ARGV[j + 1]
end
i = i + 2 * late + 1

local applied, duplicates, refused = 0, 0, 0
for j = i, #ARGV, 4 do
  if tonumber(ARGV[j]) > stored then
    local t = tonumber(ARGV[j + 2])
    if floor and t < floor then
      refused = refused + 1
    elseif redis.call("ZADD", KEYS[8], "NX", t, ARGV[j + 1]) == 0 then
      duplicates = duplicates + 1
    else
      local op = ARGV[j + 3]
      local kind = string.sub(op, 1, 1)
      if kind == "R" then
        local user, rt = string.match(op, "^R (.+) (%-?%d+)$")
        -- LT: a user counts once, at the earliest registration time seen (the oracle's min(event_time)).
        -- A late one too: the windows already final keep their count (flush:metrics never
        -- recounts them); its open windows count it. The late log says which were final.
        redis.call("ZADD", KEYS[4], "LT", rt, user)
        local finals = lateAt[ARGV[j]]
        if finals then
          for _, windowKey in ipairs(finals) do
            redis.call("HINCRBY", KEYS[3], windowKey, 1)
          end
          redis.call("ZADD", KEYS[11], ARGV[j], ARGV[j + 1] .. "\t" .. ARGV[7])
        end
      elseif kind == "S" then
        local item, cents = string.match(op, "^S (.+) (%-?%d+)$")
        redis.call("HINCRBY", KEYS[5], item, cents)
      elseif kind == "I" or kind == "O" then
        local user, st = string.match(op, "^[IO] (.+) (%-?%d+)$")
        redis.call("ZADD", kind == "I" and KEYS[6] or KEYS[7], st, st .. "|" .. user)
      end
      applied = applied + 1
    end
  end
end

local maxtime = tonumber(ARGV[4])
if maxtime > mark then
  redis.call("HSET", KEYS[2], topic, maxtime)
  mark = maxtime
end
-- Ids older than the horizon can go: events that old are refused above, so none can repeat.
if mark >= 0 then
  redis.call("ZREMRANGEBYSCORE", KEYS[8], "-inf", "(" .. string.format("%.0f", mark - horizon))
end
redis.call("HSET", KEYS[1], topic, last)
return { applied, duplicates, refused, 0 }
