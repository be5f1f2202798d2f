//! Flash-sale rules: phases, bounds and invariants (no I/O).
//!
//! The record's bounds (kept in PostgreSQL by `record_flash_purchases`, which
//! `db::flash_purchases::record_batch` calls): a sale's units held by its buyers (`held`) never
//! exceed its `total_quantity`, nor any buyer's units the per-user limit; the Redis counters
//! can only ever under-sell.

use chrono::{DateTime, Utc};
use service_kit::ApiError;
use uuid::Uuid;

/// The most units one sale may put up.
pub const MAX_SALE_QUANTITY: i32 = 1_000_000;
/// The most units one purchase may ask for.
pub const MAX_PURCHASE_QUANTITY: i32 = 100;

/// Where a sale is, by the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Scheduled,
    Active,
    Ended,
}

impl Phase {
    /// The phase at `now` of a sale running from `starts_at` (included) to `ends_at`
    /// (excluded).
    pub fn at(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if now < starts_at {
            Phase::Scheduled
        } else if now < ends_at {
            Phase::Active
        } else {
            Phase::Ended
        }
    }
}

/// The terms of a sale to create, as asked.
pub struct Terms {
    /// Minor units.
    pub price: i32,
    pub quantity: i32,
    pub per_user_limit: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Checks every term; the first invalid one is named in the error (`input.<field>`).
pub fn check_terms(terms: &Terms, now: DateTime<Utc>) -> Result<(), ApiError> {
    if terms.price < 0 {
        return Err(ApiError::bad_input(
            "input.price",
            "must be 0 or more (minor units)",
        ));
    }
    if !(1..=MAX_SALE_QUANTITY).contains(&terms.quantity) {
        return Err(ApiError::bad_input(
            "input.quantity",
            format!("must be between 1 and {MAX_SALE_QUANTITY}"),
        ));
    }
    if terms.per_user_limit < 1 {
        return Err(ApiError::bad_input(
            "input.perUserLimit",
            "must be 1 or more",
        ));
    }
    if terms.ends_at <= terms.starts_at {
        return Err(ApiError::bad_input(
            "input.endsAt",
            "must be after startsAt",
        ));
    }
    if terms.ends_at <= now {
        return Err(ApiError::bad_input("input.endsAt", "must be in the future"));
    }
    Ok(())
}

/// Why a sale cannot be created for its product.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    NoSuchProduct,
    NotActive,
    NotEnoughStock { in_stock: i32 },
}

impl Refusal {
    /// Why the product (`(status, stock)`, `None` when there is none) could not give the
    /// sale's units.
    pub fn of(product: Option<(&str, i32)>) -> Self {
        match product {
            None => Refusal::NoSuchProduct,
            Some((status, _)) if status != "ACTIVE" => Refusal::NotActive,
            Some((_, in_stock)) => Refusal::NotEnoughStock { in_stock },
        }
    }
}

/// The units one purchase asks for, checked (`input.quantity`).
pub fn check_purchase_quantity(quantity: i32) -> Result<(), ApiError> {
    if !(1..=MAX_PURCHASE_QUANTITY).contains(&quantity) {
        return Err(ApiError::bad_input(
            "input.quantity",
            format!("must be between 1 and {MAX_PURCHASE_QUANTITY}"),
        ));
    }
    Ok(())
}

/// What a purchase asked for, to tell a retry from a reused idempotency key.
pub fn purchase_fingerprint(sale: Uuid, quantity: i32, address: Uuid) -> String {
    format!("{sale}/{quantity}/{address}")
}

/// Which bound of the record an admission would break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// More units than the sale has left.
    SoldOut,
    /// More units than the buyer may hold.
    LimitExceeded,
}

impl Bound {
    /// The rejection reason a buyer sees.
    pub fn reason(self) -> &'static str {
        match self {
            Bound::SoldOut => "SOLD_OUT",
            Bound::LimitExceeded => "LIMIT_EXCEEDED",
        }
    }

    /// The bound behind a rejection reason (`None` for `NOT_ACTIVE` and the like).
    pub fn of_reason(reason: &str) -> Option<Self> {
        match reason {
            "SOLD_OUT" => Some(Bound::SoldOut),
            "LIMIT_EXCEEDED" => Some(Bound::LimitExceeded),
            _ => None,
        }
    }
}

/// Units the record lets a sale still admit (`held` never exceeds `total_quantity`).
pub fn sale_room(total_quantity: i32, held: i32) -> i64 {
    i64::from(total_quantity - held)
}

/// Units a buyer holding `holding` may still take.
pub fn buyer_room(per_user_limit: i32, holding: i64) -> i64 {
    i64::from(per_user_limit) - holding
}

/// Units a sale did not sell (`sold`: what its buyers held when it gave them back).
pub fn unsold(total_quantity: i32, sold: i32) -> i32 {
    total_quantity - sold
}

/// Units left in a sale whose buyers hold these units each.
pub fn units_left(total_quantity: i32, held: &[(Uuid, i64)]) -> i64 {
    i64::from(total_quantity) - held.iter().map(|(_, n)| n).sum::<i64>()
}

/// Whether counters of epoch `found` may stand for a record at epoch `record`: the same
/// epoch, and not one found wrong (`wrong`: counters of that epoch or an older one admitted
/// what the record refused, or admitted a purchase under an epoch the record has left).
pub fn counters_current(record: i32, found: i32, wrong: Option<i32>) -> bool {
    found == record && wrong.is_none_or(|epoch| record > epoch)
}

/// The epoch of rebuilt counters: above any epoch Redis has (`found`; a rolled-back or
/// half-installed one included), so that the install replaces it.
pub fn next_epoch(record: i32, found: Option<i32>) -> i32 {
    record.max(found.unwrap_or(0)) + 1
}

/// Where a purchase is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurchaseStatus {
    /// Admitted: units taken, the order is being created.
    Pending,
    /// The order exists.
    Confirmed,
    /// Not admitted, or its order could not be created.
    Rejected,
}

impl PurchaseStatus {
    /// The status of a recorded purchase (`flash_sale_purchases.status`).
    pub fn of_record(status: &str) -> Self {
        match status {
            "CONFIRMED" => PurchaseStatus::Confirmed,
            "REJECTED" => PurchaseStatus::Rejected,
            _ => PurchaseStatus::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms() -> Terms {
        let now = Utc::now();
        Terms {
            price: 100,
            quantity: 10,
            per_user_limit: 2,
            starts_at: now,
            ends_at: now + chrono::Duration::hours(1),
        }
    }

    fn refused_field(terms: &Terms) -> String {
        match check_terms(terms, Utc::now()) {
            Err(ApiError::BadUserInput { field, .. }) => field,
            Err(other) => panic!("not BAD_USER_INPUT: {other:?}"),
            Ok(()) => panic!("accepted"),
        }
    }

    #[test]
    fn every_invalid_term_is_named() {
        assert!(check_terms(&terms(), Utc::now()).is_ok());
        let now = Utc::now();
        type Breaks = Box<dyn Fn(&mut Terms)>;
        let cases: Vec<(&str, Breaks)> = vec![
            ("input.price", Box::new(|t| t.price = -1)),
            ("input.quantity", Box::new(|t| t.quantity = 0)),
            (
                "input.quantity",
                Box::new(|t| t.quantity = MAX_SALE_QUANTITY + 1),
            ),
            ("input.perUserLimit", Box::new(|t| t.per_user_limit = 0)),
            ("input.endsAt", Box::new(|t| t.ends_at = t.starts_at)),
            (
                "input.endsAt",
                Box::new(move |t| {
                    t.starts_at = now - chrono::Duration::hours(2);
                    t.ends_at = now - chrono::Duration::hours(1);
                }),
            ),
        ];
        for (field, break_it) in cases {
            let mut bad = terms();
            break_it(&mut bad);
            assert_eq!(refused_field(&bad), field);
        }
    }

    #[test]
    fn phases_follow_the_clock() {
        let start = Utc::now();
        let end = start + chrono::Duration::hours(1);
        let second = chrono::Duration::seconds(1);
        assert_eq!(Phase::at(start, end, start - second), Phase::Scheduled);
        assert_eq!(Phase::at(start, end, start), Phase::Active);
        assert_eq!(Phase::at(start, end, end - second), Phase::Active);
        assert_eq!(Phase::at(start, end, end), Phase::Ended);
    }

    #[test]
    fn refusals_name_what_is_missing() {
        assert_eq!(Refusal::of(None), Refusal::NoSuchProduct);
        assert_eq!(Refusal::of(Some(("ARCHIVED", 50))), Refusal::NotActive);
        assert_eq!(
            Refusal::of(Some(("ACTIVE", 3))),
            Refusal::NotEnoughStock { in_stock: 3 }
        );
    }

    #[test]
    fn purchase_quantities_are_bounded() {
        assert!(check_purchase_quantity(1).is_ok());
        assert!(check_purchase_quantity(MAX_PURCHASE_QUANTITY).is_ok());
        for quantity in [0, -1, MAX_PURCHASE_QUANTITY + 1] {
            assert!(matches!(
                check_purchase_quantity(quantity),
                Err(ApiError::BadUserInput { field, .. }) if field == "input.quantity"
            ));
        }
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let (sale, address) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            purchase_fingerprint(sale, 2, address),
            purchase_fingerprint(sale, 2, address)
        );
        assert_ne!(
            purchase_fingerprint(sale, 2, address),
            purchase_fingerprint(sale, 3, address)
        );
    }

    #[test]
    fn bounds_and_reasons_match() {
        for bound in [Bound::SoldOut, Bound::LimitExceeded] {
            assert_eq!(Bound::of_reason(bound.reason()), Some(bound));
        }
        assert_eq!(Bound::of_reason("NOT_ACTIVE"), None);
    }

    #[test]
    fn the_per_user_limit_includes_what_is_held() {
        assert_eq!(buyer_room(2, 0), 2);
        assert_eq!(buyer_room(2, 1), 1);
        assert_eq!(buyer_room(2, 2), 0);
    }

    #[test]
    fn units_left_count_every_buyer() {
        let held = [(Uuid::now_v7(), 3), (Uuid::now_v7(), 4)];
        assert_eq!(units_left(10, &held), 3);
        assert_eq!(units_left(10, &[]), 10);
        assert_eq!(sale_room(10, 7), 3);
        assert_eq!(unsold(10, 7), 3);
    }

    #[test]
    fn counters_stand_only_for_their_epoch() {
        assert!(counters_current(3, 3, None));
        assert!(!counters_current(3, 2, None));
        // Found wrong at this epoch: rebuilt, not trusted.
        assert!(!counters_current(3, 3, Some(3)));
        // Found wrong at an older epoch, rebuilt since.
        assert!(counters_current(4, 4, Some(3)));
    }

    #[test]
    fn rebuilt_epochs_pass_any_epoch_redis_has() {
        assert_eq!(next_epoch(3, None), 4);
        assert_eq!(next_epoch(3, Some(2)), 4);
        assert_eq!(next_epoch(3, Some(7)), 8);
    }

    #[test]
    fn record_statuses_map() {
        assert_eq!(
            PurchaseStatus::of_record("PENDING"),
            PurchaseStatus::Pending
        );
        assert_eq!(
            PurchaseStatus::of_record("CONFIRMED"),
            PurchaseStatus::Confirmed
        );
        assert_eq!(
            PurchaseStatus::of_record("REJECTED"),
            PurchaseStatus::Rejected
        );
    }
}
