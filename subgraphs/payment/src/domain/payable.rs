//! Whether a customer may start paying an order now, and how long the new payment stays
//! open.

use chrono::{DateTime, Utc};
use peer_api::OrderSummary;
use service_kit::ApiError;
use uuid::Uuid;

/// When a payment of `order` that `payer` starts `now` expires: `ttl` from now, never after
/// the order's own expiry. `NOT_FOUND` for another customer's order; `CONFLICT` for an
/// order that does not wait for payment, or whose time to pay is over.
pub fn new_payment_expiry(
    order: &OrderSummary,
    payer: Uuid,
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> Result<DateTime<Utc>, ApiError> {
    // Another customer's order is as good as none.
    if order.user_id != payer {
        return Err(ApiError::NotFound("order".into()));
    }
    if order.status != "PENDING_PAYMENT" {
        return Err(ApiError::Conflict(format!(
            "an order that is {} cannot be paid",
            order.status
        )));
    }
    // In the order's grace after its expiry, a payment started before may still be
    // reported; a new one may not start.
    if order.expires_at.is_some_and(|expiry| expiry <= now) {
        return Err(ApiError::Conflict(
            "this order's time to pay is over".into(),
        ));
    }
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(15));
    Ok(order
        .expires_at
        .map_or(now + ttl, |order_expiry| (now + ttl).min(order_expiry)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn order(user: Uuid, status: &str, expires_at: Option<DateTime<Utc>>) -> OrderSummary {
        OrderSummary {
            order_id: Uuid::now_v7(),
            user_id: user,
            status: status.into(),
            total_amount: 1000,
            currency: "CNY".into(),
            expires_at,
        }
    }

    #[test]
    fn only_the_owner_pays_an_order_waiting_for_payment_in_its_time() {
        let (user, now, ttl) = (Uuid::now_v7(), Utc::now(), Duration::from_secs(900));
        let payable = order(user, "PENDING_PAYMENT", None);
        let code = |result: Result<DateTime<Utc>, ApiError>| result.unwrap_err().code();
        assert_eq!(
            code(new_payment_expiry(&payable, Uuid::now_v7(), now, ttl)),
            "NOT_FOUND"
        );
        let paid = order(user, "PAID", None);
        assert_eq!(code(new_payment_expiry(&paid, user, now, ttl)), "CONFLICT");
        let late = order(user, "PENDING_PAYMENT", Some(now));
        assert_eq!(code(new_payment_expiry(&late, user, now, ttl)), "CONFLICT");
    }

    #[test]
    fn a_payment_stays_open_for_its_ttl_but_never_past_its_order() {
        let (user, now, ttl) = (Uuid::now_v7(), Utc::now(), Duration::from_secs(900));
        let open = order(user, "PENDING_PAYMENT", None);
        assert_eq!(
            new_payment_expiry(&open, user, now, ttl).unwrap(),
            now + chrono::Duration::minutes(15)
        );
        let soon = now + chrono::Duration::minutes(5);
        let closing = order(user, "PENDING_PAYMENT", Some(soon));
        assert_eq!(new_payment_expiry(&closing, user, now, ttl).unwrap(), soon);
    }
}
