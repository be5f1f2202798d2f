//! Tables of `migrations/order/`, in the order subgraph's own schema.

diesel::table! {
    orders (id) {
        id -> Uuid,
        number -> Text,
        user_id -> Uuid,
        status -> Text,
        currency -> Text,
        subtotal_amount -> Int8,
        discount_amount -> Int8,
        total_amount -> Int8,
        created_at -> Timestamptz,
        version -> Int4,
        expires_at -> Nullable<Timestamptz>,
        paid_at -> Nullable<Timestamptz>,
        cancelled_at -> Nullable<Timestamptz>,
        cancel_reason -> Nullable<Text>,
        shipping_address -> Text,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    order_items (order_id, position) {
        order_id -> Uuid,
        position -> Int4,
        product_id -> Uuid,
        product_name -> Text,
        unit_price -> Int8,
        quantity -> Int4,
        variant_id -> Uuid,
        sku -> Text,
        variant_name -> Text,
        options -> Text,
    }
}

diesel::table! {
    order_status_history (id) {
        id -> Int8,
        order_id -> Uuid,
        from_status -> Nullable<Text>,
        to_status -> Text,
        at -> Timestamptz,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    checkout_attempts (user_id, idempotency_key) {
        user_id -> Uuid,
        idempotency_key -> Text,
        request_hash -> Text,
        order_id -> Uuid,
        state -> Text,
        created_at -> Timestamptz,
        stock_returned_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    payment_versions (payment_id) {
        payment_id -> Uuid,
        order_id -> Uuid,
        version -> Int8,
        status -> Text,
        applied_at -> Timestamptz,
    }
}

diesel::table! {
    order_payers (order_id) {
        order_id -> Uuid,
        payment_id -> Uuid,
    }
}

diesel::joinable!(order_items -> orders (order_id));
diesel::joinable!(order_status_history -> orders (order_id));
diesel::allow_tables_to_appear_in_same_query!(
    orders,
    order_items,
    order_status_history,
    order_payers
);
