-- The audit log: append-only, each row carrying the SHA-256 of the previous row (the first row
-- points to 64 zeros). Holds metadata only, never secret material. `detail` is canonical JSON
-- (object keys sorted) and is hashed exactly as stored.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    ts        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    event     TEXT NOT NULL,
    provider  TEXT,
    key_label TEXT,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_log_ts ON audit_log (ts);
CREATE INDEX audit_log_key ON audit_log (provider, key_label);
CREATE INDEX audit_log_event ON audit_log (event);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;

-- The tail anchor: the id and hash of the last row appended, updated in the same transaction
-- as each append. A chain alone cannot show that rows were cut off its end; the anchor can,
-- and the next append chains to the anchored hash, so a cut-off tail stays visible as a gap.
CREATE TABLE audit_anchor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_id   INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    row_count INTEGER NOT NULL
);
INSERT INTO audit_anchor (id, last_id, last_hash, row_count)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);

CREATE TRIGGER audit_anchor_forward_only BEFORE UPDATE ON audit_anchor
WHEN NEW.last_id <= OLD.last_id OR NEW.row_count <= OLD.row_count
BEGIN
    SELECT RAISE(ABORT, 'audit anchor only moves forward');
END;

CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
