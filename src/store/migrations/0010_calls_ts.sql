-- Usage reads every call in a time range across providers; calls_provider_ts only serves one
-- provider at a time.
CREATE INDEX calls_ts ON calls (ts);
