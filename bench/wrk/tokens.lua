-- Shared by the scripts below: tokens from $TOKENS ("session access" per line), the API key from
-- $KEY. Each wrk thread takes its own share of the tokens, so a one-use token is used once.
local tokens = {}
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local n = tonumber(os.getenv("THREADS") or "1")
  local i = 0
  for line in io.lines(os.getenv("TOKENS")) do
    if i % n == id then
      local session, access = line:match("(%S+) (%S+)")
      table.insert(tokens, { session = session, access = access })
    end
    i = i + 1
  end
  next_token = 0
end

function take()
  next_token = next_token + 1
  return tokens[((next_token - 1) % #tokens) + 1]
end
