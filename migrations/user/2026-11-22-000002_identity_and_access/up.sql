-- Identity and access: credentials, bans, roles, sessions with rotating refresh tokens,
-- and addresses.
ALTER TABLE users
    ADD COLUMN password_hash text,
    ADD COLUMN banned_until  timestamptz,
    ADD COLUMN ban_reason    text,
    ADD COLUMN updated_at    timestamptz NOT NULL DEFAULT now();

-- A role's permission entries: exact strings, `*` wildcards or `re:` regular expressions.
CREATE TABLE roles (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,63}$'),
    permissions text[] NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO roles (name, permissions) VALUES ('customer', '{}'), ('admin', '{*}');

CREATE TABLE user_roles (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    text NOT NULL REFERENCES roles (name),
    PRIMARY KEY (user_id, role)
);

-- One row per login. Revoking it kills its access tokens (via the revocation list in
-- Redis) and its refresh tokens.
CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_live_by_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- Refresh tokens of a session, stored only as SHA-256 hashes. A refresh marks its token
-- used and issues the next; presenting a used token revokes the session (theft).
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE addresses (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient   text NOT NULL,
    phone       text NOT NULL,
    province    text NOT NULL,
    city        text NOT NULL,
    district    text NOT NULL,
    line1       text NOT NULL,
    postal_code text,
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX addresses_user_idx ON addresses (user_id, created_at);
-- Exactly one default per user is kept by the code; at most one by the database.
CREATE UNIQUE INDEX addresses_one_default_idx ON addresses (user_id) WHERE is_default;
