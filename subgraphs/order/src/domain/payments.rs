//! How an order follows its payments: what a payment's status change means for the order.
//! Pure: the caller applies the steps through the state machine, in order.

use super::status::{Command, OrderStatus};

/// One thing the order does about a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Apply this command (the state machine may still refuse it: a `Pay` it refuses
    /// refuses the payment).
    Apply(Command),
    /// The payment cannot pay this order (another payment did): its money goes back.
    Refuse,
}

/// Who paid the order, as far as the order knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payer {
    /// Not paid, or paid before payers were recorded.
    Unknown,
    /// The payment the event is about.
    This,
    /// Another payment of the same order.
    Other,
}

/// What the order does about a payment moving `from` → `to`, given the order's `status`
/// and who paid it: the steps, in order (none when the order is already there or the
/// change does not concern it).
///
/// Events may arrive late or out of order (a failed one is retried after newer ones; the
/// caller drops any older than what it applied), so the newest status is read as the whole
/// story: a payment seen first `PARTIALLY_REFUNDED` or `REFUNDED` (from a success) had
/// succeeded, and the order that never heard of it is paid first.
pub fn follow(from: Option<&str>, to: &str, status: OrderStatus, payer: Payer) -> &'static [Step] {
    use OrderStatus::*;
    use Step::*;
    let succeeded_before = matches!(from, Some("SUCCEEDED" | "PARTIALLY_REFUNDED"));
    match (to, status, payer) {
        // A partial refund is a success with part of the money back: the order is paid by
        // it (if it never heard of the success) or refuses it, as for a success.
        // Only one payment pays an order: a second success is given back.
        ("SUCCEEDED" | "PARTIALLY_REFUNDED", Paid | Refunded, Payer::Other) => &[Refuse],
        ("SUCCEEDED" | "PARTIALLY_REFUNDED", Paid, _) => &[],
        ("SUCCEEDED" | "PARTIALLY_REFUNDED", _, _) => &[Apply(Command::Pay)],
        ("REFUNDED", Paid, Payer::This | Payer::Unknown) if succeeded_before => {
            &[Apply(Command::Refund)]
        }
        ("REFUNDED", PendingPayment, _) if succeeded_before => {
            &[Apply(Command::Pay), Apply(Command::Refund)]
        }
        // From a closed payment (`CANCELLED`/`EXPIRED` → `REFUNDED`) the money of a late
        // approval went straight back: the order was not paid by it. Nor by a payment
        // refused for it. Other moves (created, failed, cancelled, expired) do not change
        // the order.
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command::*;
    use OrderStatus::*;
    use Payer::*;
    use Step::*;

    #[test]
    fn a_success_pays_once_and_only_one_payment_pays() {
        assert_eq!(
            follow(Some("PENDING"), "SUCCEEDED", PendingPayment, Unknown),
            [Apply(Pay)]
        );
        assert!(follow(Some("PENDING"), "SUCCEEDED", Paid, This).is_empty());
        assert!(follow(Some("PENDING"), "SUCCEEDED", Paid, Unknown).is_empty());
        assert_eq!(follow(Some("PENDING"), "SUCCEEDED", Paid, Other), [Refuse]);
        assert_eq!(
            follow(Some("FAILED"), "SUCCEEDED", Refunded, Other),
            [Refuse]
        );
        // Not payable any more: Pay is refused by the state machine, and the payment refunded.
        assert_eq!(
            follow(Some("PENDING"), "SUCCEEDED", Expired, Unknown),
            [Apply(Pay)]
        );
    }

    #[test]
    fn a_full_refund_of_a_success_refunds_the_order_even_when_the_success_was_not_seen() {
        assert_eq!(
            follow(Some("SUCCEEDED"), "REFUNDED", Paid, This),
            [Apply(Refund)]
        );
        assert_eq!(
            follow(Some("PARTIALLY_REFUNDED"), "REFUNDED", Paid, Unknown),
            [Apply(Refund)]
        );
        assert_eq!(
            follow(Some("SUCCEEDED"), "REFUNDED", PendingPayment, Unknown),
            [Apply(Pay), Apply(Refund)]
        );
        assert!(follow(Some("SUCCEEDED"), "REFUNDED", Refunded, This).is_empty());
        assert!(follow(Some("SUCCEEDED"), "REFUNDED", Expired, Unknown).is_empty());
        // The refund of a payment that did not pay the order leaves it paid.
        assert!(follow(Some("SUCCEEDED"), "REFUNDED", Paid, Other).is_empty());
    }

    #[test]
    fn a_late_approval_returned_at_once_and_other_moves_leave_the_order() {
        assert!(follow(Some("EXPIRED"), "REFUNDED", PendingPayment, Unknown).is_empty());
        assert!(follow(Some("CANCELLED"), "REFUNDED", Paid, Other).is_empty());
        assert!(follow(None, "PENDING", PendingPayment, Unknown).is_empty());
        assert!(follow(Some("PENDING"), "FAILED", PendingPayment, Unknown).is_empty());
        assert_eq!(
            follow(
                Some("SUCCEEDED"),
                "PARTIALLY_REFUNDED",
                PendingPayment,
                Unknown
            ),
            [Apply(Pay)]
        );
        assert!(follow(Some("SUCCEEDED"), "PARTIALLY_REFUNDED", Paid, This).is_empty());
        // Seen before its success, for an order no longer payable or paid by another: the
        // state machine refuses the Pay (or it is refused outright), and the rest goes back.
        assert_eq!(
            follow(Some("SUCCEEDED"), "PARTIALLY_REFUNDED", Cancelled, Unknown),
            [Apply(Pay)]
        );
        assert_eq!(
            follow(Some("SUCCEEDED"), "PARTIALLY_REFUNDED", Paid, Other),
            [Refuse]
        );
    }
}
