//! Diesel table definitions of the `payment` schema (see `migrations/payment`).

diesel::table! {
    payments (id) {
        id -> Uuid,
        order_id -> Uuid,
        status -> Text,
        method -> Text,
        amount -> Int8,
        currency -> Text,
        created_at -> Timestamptz,
        user_id -> Uuid,
        idempotency_key -> Text,
        gateway_reference -> Text,
        expires_at -> Timestamptz,
        refunded_amount -> Int8,
        version -> Int8,
        updated_at -> Timestamptz,
        reconciled_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    payment_log (id) {
        id -> Int8,
        payment_id -> Uuid,
        at -> Timestamptz,
        from_status -> Nullable<Text>,
        to_status -> Text,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    refunds (id) {
        id -> Uuid,
        payment_id -> Uuid,
        amount -> Int8,
        reason -> Text,
        idempotency_key -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    gateway_deliveries (id) {
        id -> Int8,
        event_id -> Uuid,
        payment_id -> Uuid,
        body -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(payment_log -> payments (payment_id));
diesel::joinable!(refunds -> payments (payment_id));
diesel::allow_tables_to_appear_in_same_query!(payments, payment_log, refunds, gateway_deliveries);
