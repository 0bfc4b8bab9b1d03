dofile(os.getenv("BENCH_DIR") .. "/wrk/tokens.lua")
request = function()
  local t = take()
  return wrk.format("POST", "/identity/v2/auth/login/pin?apikey=" .. os.getenv("KEY") .. "&session_token=" .. t.session,
    { ["Content-Type"] = "application/json" }, '{"PIN":"7294"}')
end
