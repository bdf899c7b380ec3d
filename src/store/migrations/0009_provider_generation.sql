-- A counter bumped by every change to the provider tables, so a process can tell "another
-- process edited a provider" apart from "another connection wrote something" (SQLite's
-- data_version changes on every commit, including the call recorder's and the monitor's).
CREATE TABLE provider_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO provider_generation (id, generation) VALUES (1, 0);

CREATE TRIGGER provider_specs_insert AFTER INSERT ON provider_specs
BEGIN UPDATE provider_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER provider_specs_update AFTER UPDATE ON provider_specs
BEGIN UPDATE provider_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER provider_specs_delete AFTER DELETE ON provider_specs
BEGIN UPDATE provider_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER provider_state_insert AFTER INSERT ON provider_state
BEGIN UPDATE provider_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER provider_state_update AFTER UPDATE ON provider_state
BEGIN UPDATE provider_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER provider_state_delete AFTER DELETE ON provider_state
BEGIN UPDATE provider_generation SET generation = generation + 1 WHERE id = 1; END;
