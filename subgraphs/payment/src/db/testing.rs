//! Statements only the unit tests use: counting rows, the last event written, and making
//! queued webhook calls due.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// The `count` column of `sql`'s one row.
pub async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .unwrap()
        .count
}

/// The payload of the newest event in the outbox.
pub async fn last_event_payload(conn: &mut AsyncPgConnection) -> String {
    event_bus::outbox::outbox::table
        .order(event_bus::outbox::outbox::seq.desc())
        .select(event_bus::outbox::outbox::payload)
        .first(conn)
        .await
        .unwrap()
}

/// Makes every queued webhook call due now (as if its backoff had passed).
pub async fn make_deliveries_due(conn: &mut AsyncPgConnection) {
    diesel::sql_query("UPDATE gateway_deliveries SET next_attempt_at = now()")
        .execute(conn)
        .await
        .unwrap();
}
