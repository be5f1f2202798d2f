//! Tables of `migrations/user/`, in the user subgraph's own schema.

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        display_name -> Text,
        status -> Text,
        created_at -> Timestamptz,
        password_hash -> Nullable<Text>,
        banned_until -> Nullable<Timestamptz>,
        ban_reason -> Nullable<Text>,
        updated_at -> Timestamptz,
        access_version -> Int8,
    }
}

diesel::table! {
    roles (name) {
        name -> Text,
        permissions -> Array<Text>,
        updated_at -> Timestamptz,
        version -> Int8,
    }
}

diesel::table! {
    user_roles (user_id, role) {
        user_id -> Uuid,
        role -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Bytea,
        session_id -> Uuid,
        issued_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    addresses (id) {
        id -> Uuid,
        user_id -> Uuid,
        recipient -> Text,
        phone -> Text,
        province -> Text,
        city -> Text,
        district -> Text,
        line1 -> Text,
        postal_code -> Nullable<Text>,
        is_default -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    roles,
    user_roles,
    sessions,
    refresh_tokens,
    addresses
);
