-- 0006_queue_wait: busy is not down (issue 19). A working canary's wait for a generation slot behind the apps,
-- measured from Ollama's final-chunk durations (total − load − prompt_eval − eval; src/core/busy.ts), so the
-- report can say how saturated a node is: a capacity question, not an outage.
--   probes.queue_ms   the wait in ms; NULL when the server gave no durations to measure it (OpenAI /v1,
--                     llama.cpp, vLLM) or they could not be trusted, and for every probe before this migration
--   queue_hist        rollups: histogram of queue_ms over ok canaries with a measured wait (its count is how
--                     many were measured)
--   waited            rollups: how many of those waited 250 ms or more (core/busy WAITED_MS)
ALTER TABLE probes ADD COLUMN queue_ms REAL;
ALTER TABLE rollups_hourly ADD COLUMN queue_hist TEXT;
ALTER TABLE rollups_hourly ADD COLUMN waited INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups_daily ADD COLUMN queue_hist TEXT;
ALTER TABLE rollups_daily ADD COLUMN waited INTEGER NOT NULL DEFAULT 0;
