//! The payment state machine, the one place that decides status changes and refund
//! arithmetic (amounts in minor units):
//!
//! ```text
//! PENDING ──approve──▶ SUCCEEDED ──refund part──▶ PARTIALLY_REFUNDED ──refund rest──▶ REFUNDED
//!    │                     └──────────refund all──────────────────────────────────▶ REFUNDED
//!    ├──decline─▶ FAILED ──approve──▶ SUCCEEDED   (the gateway took the money after all)
//!    ├──cancel──▶ CANCELLED   (its order was cancelled or expired)
//!    └──expire──▶ EXPIRED     (not completed within the payment TTL)
//! ```
//!
//! A gateway that reports a success after a decline took the money: the payment succeeds,
//! and the order subgraph either is paid by it or refuses it (the order is no longer
//! payable, or another payment paid it), and then the money goes back.
//!
//! A gateway may still approve a payment this side already cancelled or expired (the
//! customer was slow, the webhook late): the money was taken for an order that is no longer
//! payable, so it is given back at once ([`Decision::refund_at_once`]).

/// Where a payment is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum PaymentStatus {
    /// Waiting for the customer at the gateway.
    Pending,
    /// Paid.
    Succeeded,
    /// Declined by the gateway.
    Failed,
    /// Cancelled with its order.
    Cancelled,
    /// Not completed in time.
    Expired,
    /// Fully refunded.
    Refunded,
    /// Partly refunded.
    PartiallyRefunded,
}

/// Something that would change a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// The gateway reports the customer paid.
    Approve,
    /// The gateway reports the customer declined (or the card was refused).
    Decline,
    /// The order was cancelled or expired while the payment was open.
    Cancel,
    /// The payment window closed.
    Expire,
    /// Give back `amount` (minor units).
    Refund { amount: i64 },
}

/// What a command does to a payment of `amount` with `refunded` already given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The status after the command.
    pub to: PaymentStatus,
    /// Minor units refunded in total after the command.
    pub refunded: i64,
    /// A late approval of a payment that is no longer open: the money must go back to the
    /// customer now (and the status is `REFUNDED`).
    pub refund_at_once: bool,
}

/// Why a command is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The current status does not allow it (`CONFLICT`).
    Illegal {
        from: PaymentStatus,
        command: Command,
    },
    /// A refund of zero or less (`BAD_USER_INPUT`).
    NotPositive,
    /// More than what is left to refund (`CONFLICT`): `left` minor units remain.
    MoreThanPaid { left: i64 },
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Illegal { from, command } => {
                let verb = match command {
                    Command::Approve => "approved",
                    Command::Decline => "declined",
                    Command::Cancel => "cancelled",
                    Command::Expire => "expired",
                    Command::Refund { .. } => "refunded",
                };
                write!(f, "a payment that is {} cannot be {verb}", from.as_db())
            }
            Self::NotPositive => write!(f, "a refund must be more than 0"),
            Self::MoreThanPaid { left } => {
                write!(f, "only {left} (minor units) is left to refund")
            }
        }
    }
}

/// What `command` does to a payment in `from` of `amount`, `refunded` of which went back.
pub fn decide(
    from: PaymentStatus,
    amount: i64,
    refunded: i64,
    command: Command,
) -> Result<Decision, Refused> {
    use Command::*;
    use PaymentStatus::*;
    let to = |to| Decision {
        to,
        refunded,
        refund_at_once: false,
    };
    match (from, command) {
        (Pending | Failed, Approve) => Ok(to(Succeeded)),
        (Pending, Decline) => Ok(to(Failed)),
        (Pending, Cancel) => Ok(to(Cancelled)),
        (Pending, Expire) => Ok(to(Expired)),
        (Cancelled | Expired, Approve) => Ok(Decision {
            to: Refunded,
            refunded: amount,
            refund_at_once: true,
        }),
        (Succeeded | PartiallyRefunded, Refund { amount: part }) => {
            if part <= 0 {
                return Err(Refused::NotPositive);
            }
            let left = amount - refunded;
            if part > left {
                return Err(Refused::MoreThanPaid { left });
            }
            let refunded = refunded + part;
            Ok(Decision {
                to: if refunded == amount {
                    Refunded
                } else {
                    PartiallyRefunded
                },
                refunded,
                refund_at_once: false,
            })
        }
        _ => Err(Refused::Illegal { from, command }),
    }
}

impl PaymentStatus {
    /// Every status.
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::Expired,
        Self::Refunded,
        Self::PartiallyRefunded,
    ];

    /// Whether the payment may still complete (at most one open payment per order).
    pub fn is_open(self) -> bool {
        self == Self::Pending
    }

    /// The value stored in `payments.status`.
    pub fn as_db(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
            Self::Refunded => "REFUNDED",
            Self::PartiallyRefunded => "PARTIALLY_REFUNDED",
        }
    }

    /// A stored value; anything else is `None` (the column's CHECK allows no other).
    pub fn from_db(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_db() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::Command::*;
    use super::PaymentStatus::*;
    use super::*;

    #[test]
    fn every_status_and_command() {
        let commands = [Approve, Decline, Cancel, Expire, Refund { amount: 100 }];
        // (from, command) → status, for a payment of 1000 with nothing refunded.
        let allowed = [
            (Pending, Approve, Succeeded),
            (Failed, Approve, Succeeded),
            (Pending, Decline, Failed),
            (Pending, Cancel, Cancelled),
            (Pending, Expire, Expired),
            (Cancelled, Approve, Refunded),
            (Expired, Approve, Refunded),
            (Succeeded, Refund { amount: 100 }, PartiallyRefunded),
            (PartiallyRefunded, Refund { amount: 100 }, PartiallyRefunded),
        ];
        for from in PaymentStatus::ALL {
            for command in commands {
                let decided = decide(from, 1000, 0, command);
                match allowed.iter().find(|(f, c, _)| *f == from && *c == command) {
                    Some((_, _, to)) => {
                        assert_eq!(decided.unwrap().to, *to, "{from:?} {command:?}")
                    }
                    None => assert_eq!(
                        decided,
                        Err(Refused::Illegal { from, command }),
                        "{from:?} {command:?}"
                    ),
                }
            }
        }
    }

    #[test]
    fn refunds_add_up_to_what_was_paid_and_never_more() {
        let partial = decide(Succeeded, 1000, 0, Refund { amount: 300 }).unwrap();
        assert_eq!((partial.to, partial.refunded), (PartiallyRefunded, 300));
        let rest = decide(partial.to, 1000, partial.refunded, Refund { amount: 700 }).unwrap();
        assert_eq!((rest.to, rest.refunded), (Refunded, 1000));
        assert_eq!(
            decide(PartiallyRefunded, 1000, 300, Refund { amount: 701 }),
            Err(Refused::MoreThanPaid { left: 700 })
        );
        for amount in [0, -5] {
            assert_eq!(
                decide(Succeeded, 1000, 0, Refund { amount }),
                Err(Refused::NotPositive)
            );
        }
        assert!(matches!(
            decide(Refunded, 1000, 1000, Refund { amount: 1 }),
            Err(Refused::Illegal { .. })
        ));
    }

    #[test]
    fn a_late_approval_is_given_back_at_once() {
        for from in [Cancelled, Expired] {
            let decided = decide(from, 1000, 0, Approve).unwrap();
            assert_eq!(
                decided,
                Decision {
                    to: Refunded,
                    refunded: 1000,
                    refund_at_once: true
                }
            );
        }
    }

    #[test]
    fn stored_values_round_trip_and_only_pending_is_open() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::from_db(status.as_db()), Some(status));
            assert_eq!(status.is_open(), status == Pending);
        }
        assert_eq!(PaymentStatus::from_db("LOST"), None);
    }
}
