-- Keyed audit chain. `seal` is an HMAC-SHA256, under a key kept in the credential store (never
-- in this database), over the row's id and hash; since the hash covers the previous row's hash,
-- one valid seal vouches for every row before it. Rows written before the key existed, or while
-- the store could not be read, have no seal. The anchor's seal (a different domain) vouches for
-- the tail, so cutting rows off the end and rewriting the anchor needs the key too.
ALTER TABLE audit_log ADD COLUMN seal TEXT;
ALTER TABLE audit_anchor ADD COLUMN seal TEXT;
