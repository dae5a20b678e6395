-- Loaded with wrk -s: every request adds a note (POST /api/notes, JSON), and at the end one
-- machine-readable line as wrk-report.lua prints it.
wrk.method = "POST"
wrk.body = '{"text": "a note from the bench, long enough to be a sentence someone would write"}'
wrk.headers["Content-Type"] = "application/json"
dofile("/tmp/bench/wrk-report.lua")
