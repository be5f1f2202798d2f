//! The event tables every producer's schema has (`outbox`).

diesel::table! {
    outbox (seq) {
        seq -> Int8,
        id -> Uuid,
        stream -> Text,
        name -> Text,
        version -> Int4,
        aggregate_id -> Text,
        payload -> Text,
        traceparent -> Nullable<Text>,
        occurred_at -> Timestamptz,
        published_at -> Nullable<Timestamptz>,
        entry_id -> Nullable<Text>,
        acked_at -> Nullable<Timestamptz>,
    }
}
