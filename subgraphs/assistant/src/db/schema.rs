//! The assistant's tables, as diesel sees them.

diesel::table! {
    conversations (id) {
        id -> Uuid,
        user_id -> Uuid,
        tokens_used -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        conversation_id -> Uuid,
        position -> Int8,
        role -> Text,
        text -> Text,
        product_ids -> Array<Uuid>,
        order_ids -> Array<Uuid>,
        action_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    assistant_actions (id) {
        id -> Uuid,
        conversation_id -> Uuid,
        user_id -> Uuid,
        kind -> Text,
        summary -> Text,
        request -> Text,
        status -> Text,
        confirm_key -> Nullable<Text>,
        confirmed_at -> Nullable<Timestamptz>,
        attempt_until -> Nullable<Timestamptz>,
        order_id -> Nullable<Uuid>,
        error -> Nullable<Text>,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(conversations, messages, assistant_actions);
