//! The `FlashSalePurchaseAdmitted` event of a recorded purchase, written to the outbox in
//! the transaction that records it (or resends it). Its payload is built by PostgreSQL
//! (`flash_admitted_payload`, migrations/catalog), the one definition for both.

use diesel::QueryableByName;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use uuid::Uuid;

/// The event's name (v1; the order subgraph creates the purchase's order from it).
pub(super) const ADMITTED: &str = "FlashSalePurchaseAdmitted";

/// A purchase whose event is sent again, with that event's payload.
#[derive(QueryableByName)]
pub(super) struct Due {
    #[diesel(sql_type = SqlUuid)]
    pub(super) id: Uuid,
    #[diesel(sql_type = Text)]
    pub(super) payload: String,
}
