-- Hardening: versioned access records, an index login can use, role versions.

-- Every change to what a user may do (ban, unban, roles) increments access_version in the
-- same statement; the Redis copy of the record carries it, so an older publish (a login
-- that read the user before a ban) never overwrites a newer one.
ALTER TABLE users ADD COLUMN access_version bigint NOT NULL DEFAULT 1;

-- Emails are stored lower-cased (the service normalises them), so login's `email = $1`
-- can use a plain unique index; the constraint keeps that true.
ALTER TABLE users ADD CONSTRAINT users_email_lower_case CHECK (email = lower(email));
DROP INDEX users_email_lower_idx;
CREATE UNIQUE INDEX users_email_idx ON users (email);

-- Each change of a role takes the next number: the published set of roles carries the
-- highest, so of two overlapping publishes the newer snapshot stays.
CREATE SEQUENCE role_versions;
ALTER TABLE roles ADD COLUMN version bigint NOT NULL DEFAULT nextval('role_versions');
