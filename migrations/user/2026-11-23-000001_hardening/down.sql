ALTER TABLE roles DROP COLUMN version;
DROP SEQUENCE role_versions;
DROP INDEX users_email_idx;
CREATE UNIQUE INDEX users_email_lower_idx ON users (lower(email));
ALTER TABLE users DROP CONSTRAINT users_email_lower_case;
ALTER TABLE users DROP COLUMN access_version;
