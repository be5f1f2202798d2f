//! What the workflows' unit tests share: payments to create, and a database holding one.

use chrono::Utc;
use uuid::Uuid;

use super::payments::{Created, create_pending};
use crate::db::PaymentRow;
use crate::db::payments::NewPayment;

/// A sandbox card payment of 1000 CNY of `order` by `user`, made with `key`, open for 15
/// minutes.
pub fn new_payment(order: Uuid, user: Uuid, key: &str) -> NewPayment {
    let id = Uuid::now_v7();
    NewPayment {
        id,
        order_id: order,
        user_id: user,
        method: "SANDBOX_CARD",
        amount: 1000,
        currency: "CNY".into(),
        idempotency_key: key.into(),
        gateway_reference: format!("sandbox-{id}"),
        expires_at: Utc::now() + chrono::Duration::minutes(15),
    }
}

/// A fresh database holding one `PENDING` payment of 1000 created with `key`.
pub async fn with_payment(key: &str) -> (test_support::TestStores, PaymentRow) {
    let test = test_support::TestStores::create(&crate::DATABASE)
        .await
        .unwrap();
    let mut conn = test.stores.db.get().await.unwrap();
    let outcome = create_pending(
        &mut conn,
        new_payment(Uuid::now_v7(), Uuid::now_v7(), key),
        None,
    )
    .await
    .unwrap();
    drop(conn);
    (test, created(outcome))
}

/// The payment, new or found.
pub fn created(outcome: Created) -> PaymentRow {
    match outcome {
        Created::New(row) | Created::Existing(row) => row,
    }
}
