-- The shopping assistant's memory: conversations, their messages, and the actions it
-- proposed. Products and orders are referenced by id only; their names, prices and statuses
-- are always read from the API at the time of a reply, never copied here as truth.
CREATE TABLE conversations (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL,
    -- Prompt and completion tokens the model spent on this conversation (its budget).
    tokens_used bigint NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_user ON conversations (user_id, created_at DESC);

-- An action the assistant proposed. Nothing happens until the customer confirms it:
-- `confirm_key` is set once (the idempotency key of the confirmation), the operation runs
-- through the router with the customer's token, and its outcome is recorded.
CREATE TABLE assistant_actions (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('ADD_TO_CART', 'PLACE_ORDER', 'CANCEL_ORDER')),
    summary         text NOT NULL,
    -- What to run, as JSON (the operation's variables, read when it was proposed).
    request         text NOT NULL,
    status          text NOT NULL DEFAULT 'PROPOSED'
                    CHECK (status IN ('PROPOSED', 'DONE', 'DECLINED', 'FAILED')),
    confirm_key     text,
    confirmed_at    timestamptz,
    -- While a confirmation is running its operation: another one with the same key waits
    -- for its outcome instead of running the operation a second time; once past (the
    -- attempt died, or its outcome was unknown), the same key may run it again.
    attempt_until   timestamptz,
    order_id        uuid,
    error           text,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- A finished action has its outcome; a confirmed one its key.
    CHECK (status <> 'FAILED' OR error IS NOT NULL),
    CHECK (status NOT IN ('DONE', 'FAILED') OR confirm_key IS NOT NULL)
);
CREATE INDEX assistant_actions_conversation ON assistant_actions (conversation_id);

CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- Orders messages within a conversation (ids are v7 but two may share a millisecond).
    position        bigserial NOT NULL,
    role            text NOT NULL CHECK (role IN ('CUSTOMER', 'ASSISTANT')),
    text            text NOT NULL,
    product_ids     uuid[] NOT NULL DEFAULT '{}',
    order_ids       uuid[] NOT NULL DEFAULT '{}',
    action_id       uuid REFERENCES assistant_actions (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation ON messages (conversation_id, position);
