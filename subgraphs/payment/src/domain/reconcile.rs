//! What the money reconciler does with a successful payment, given what the order
//! subgraph says of its order: money is kept only for the order it paid.

use peer_api::OrderPayer;
use uuid::Uuid;

/// The outcome for one successful payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Its order is paid by it (or, paid before payers were recorded, paid): nothing to do.
    Settled,
    /// Its order will never be paid by it: all that is left goes back, for this reason.
    Refund(String),
    /// Its order is still payable and nobody paid it: the order never applied the success
    /// (its event lost): published again.
    Republish,
    /// Its order is paid, by a payment not recorded (paid before payers were recorded), and
    /// another payment of the order succeeded too: which one paid is for a person to say.
    Review,
}

/// What to do with successful payment `payment` whose order is `order` (`None`: no such
/// order); `others_succeeded`: another payment of the order holds money too.
pub fn settle(payment: Uuid, order: Option<&OrderPayer>, others_succeeded: bool) -> Settlement {
    let Some(order) = order else {
        return Settlement::Refund("refunded automatically: the order does not exist".into());
    };
    match (order.paid_by, order.status.as_str()) {
        (Some(payer), _) if payer == payment => Settlement::Settled,
        (Some(_), _) => {
            Settlement::Refund("refunded automatically: another payment paid the order".into())
        }
        (None, "PENDING_PAYMENT") => Settlement::Republish,
        (None, "PAID") if others_succeeded => Settlement::Review,
        (None, "PAID") => Settlement::Settled,
        (None, status) => Settlement::Refund(format!(
            "refunded automatically: the order was {status} when the payment succeeded"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: &str, paid_by: Option<Uuid>) -> OrderPayer {
        OrderPayer {
            order_id: Uuid::now_v7(),
            status: status.into(),
            paid_by,
        }
    }

    #[test]
    fn money_is_kept_only_for_the_order_it_paid() {
        let (this, other) = (Uuid::now_v7(), Uuid::now_v7());
        let settle = |order: Option<&OrderPayer>| settle(this, order, false);
        assert_eq!(
            settle(Some(&order("PAID", Some(this)))),
            Settlement::Settled
        );
        assert_eq!(
            settle(Some(&order("REFUNDED", Some(this)))),
            Settlement::Settled
        );
        assert!(matches!(
            settle(Some(&order("PAID", Some(other)))),
            Settlement::Refund(_)
        ));
        assert!(
            matches!(settle(Some(&order("EXPIRED", None))), Settlement::Refund(r) if r.contains("EXPIRED"))
        );
        assert!(matches!(
            settle(Some(&order("CANCELLED", None))),
            Settlement::Refund(_)
        ));
        assert!(matches!(settle(None), Settlement::Refund(_)));
        assert_eq!(
            settle(Some(&order("PENDING_PAYMENT", None))),
            Settlement::Republish
        );
    }

    #[test]
    fn an_order_paid_before_payers_were_recorded_is_settled_only_when_unambiguous() {
        let this = Uuid::now_v7();
        let paid = order("PAID", None);
        assert_eq!(settle(this, Some(&paid), false), Settlement::Settled);
        assert_eq!(settle(this, Some(&paid), true), Settlement::Review);
    }
}
