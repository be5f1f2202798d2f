//! Statements on the gateway events the webhook received (`webhook_events`): each event id
//! is applied once.

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use service_kit::ApiError;
use uuid::Uuid;

/// Records gateway event `event_id` about `payment`; whether it is new (false: a replay).
pub async fn record(
    conn: &mut AsyncPgConnection,
    event_id: &str,
    payment: Uuid,
) -> Result<bool, ApiError> {
    Ok(diesel::sql_query(
        "INSERT INTO webhook_events (event_id, payment_id) VALUES ($1, $2) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind::<diesel::sql_types::Text, _>(event_id)
    .bind::<diesel::sql_types::Uuid, _>(payment)
    .execute(conn)
    .await?
        == 1)
}
