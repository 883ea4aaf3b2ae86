-- 0007_load_cause: why a canary's model was not in memory (issues 21 and 23, src/core/residency.ts).
-- NULL (rows before this migration, or a node whose memory the monitor cannot read): judged by load time
-- alone, as before. 'cold': seen in memory since the monitor started and unloaded since: a cold start of the
-- node. 'first_load', 'own_eviction', 'app_switch': a first load since the monitor started, or one after the
-- monitor's own or an app's eviction: not cold starts, never counted as such.
ALTER TABLE probes ADD COLUMN load_cause TEXT;
