//! The order state machine, the one place that decides status changes:
//!
//! ```text
//! PENDING_PAYMENT ──pay──────▶ PAID ──refund──▶ REFUNDED
//!        │ ──cancel─▶ CANCELLED
//!        └ ──expire─▶ EXPIRED
//! ```

use async_graphql::Enum;

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Enum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Created, stock reserved, waiting for payment.
    PendingPayment,
    /// Paid.
    Paid,
    /// Cancelled by the customer before payment.
    Cancelled,
    /// Not paid in time.
    Expired,
    /// Paid, then fully refunded.
    Refunded,
}

/// Something that would change an order's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// The customer cancels.
    Cancel,
    /// The payment window closed.
    Expire,
    /// A payment succeeded.
    Pay,
    /// The payment was refunded in full.
    Refund,
}

/// A command the current status does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Illegal {
    pub from: OrderStatus,
    pub command: Command,
}

impl std::fmt::Display for Illegal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = match self.command {
            Command::Cancel => "cancelled",
            Command::Expire => "expired",
            Command::Pay => "paid",
            Command::Refund => "refunded",
        };
        write!(f, "an order that is {} cannot be {verb}", self.from.as_db())
    }
}

/// The status `command` leads to from `from`, or why not.
pub fn decide(from: OrderStatus, command: Command) -> Result<OrderStatus, Illegal> {
    use Command::*;
    use OrderStatus::*;
    match (from, command) {
        (PendingPayment, Cancel) => Ok(Cancelled),
        (PendingPayment, Expire) => Ok(Expired),
        (PendingPayment, Pay) => Ok(Paid),
        (Paid, Refund) => Ok(Refunded),
        _ => Err(Illegal { from, command }),
    }
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [Self; 5] = [
        Self::PendingPayment,
        Self::Paid,
        Self::Cancelled,
        Self::Expired,
        Self::Refunded,
    ];

    /// The statuses this one may move to, in the order of [`Self::ALL`].
    pub fn next(self) -> Vec<Self> {
        let commands = [
            Command::Cancel,
            Command::Expire,
            Command::Pay,
            Command::Refund,
        ];
        let reachable: Vec<Self> = commands
            .iter()
            .filter_map(|command| decide(self, *command).ok())
            .collect();
        Self::ALL
            .into_iter()
            .filter(|status| reachable.contains(status))
            .collect()
    }

    /// Whether the customer may still change the shipping address.
    pub fn address_changeable(self) -> bool {
        self == Self::PendingPayment
    }

    /// The value stored in `orders.status`.
    pub fn as_db(self) -> &'static str {
        match self {
            Self::PendingPayment => "PENDING_PAYMENT",
            Self::Paid => "PAID",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
            Self::Refunded => "REFUNDED",
        }
    }

    /// A stored value; anything else is an error (the column's CHECK allows no other).
    pub fn from_db(value: &str) -> Result<Self, UnknownStatus> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_db() == value)
            .ok_or_else(|| UnknownStatus(value.to_owned()))
    }
}

/// A status string that is not one of ours.
#[derive(Debug, thiserror::Error)]
#[error("unknown order status {0:?}")]
pub struct UnknownStatus(pub String);

#[cfg(test)]
mod tests {
    use super::Command::*;
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn every_pair_of_status_and_command() {
        let table = [
            (PendingPayment, Cancel, Some(Cancelled)),
            (PendingPayment, Expire, Some(Expired)),
            (PendingPayment, Pay, Some(Paid)),
            (PendingPayment, Refund, None),
            (Paid, Cancel, None),
            (Paid, Expire, None),
            (Paid, Pay, None),
            (Paid, Refund, Some(Refunded)),
        ];
        for (from, command, to) in table {
            assert_eq!(decide(from, command).ok(), to, "{from:?} {command:?}");
        }
        for terminal in [Cancelled, Expired, Refunded] {
            for command in [Cancel, Expire, Pay, Refund] {
                let error = decide(terminal, command).unwrap_err();
                assert_eq!(
                    error,
                    Illegal {
                        from: terminal,
                        command
                    }
                );
            }
            assert!(terminal.next().is_empty());
        }
    }

    #[test]
    fn next_statuses_and_addresses() {
        assert_eq!(PendingPayment.next(), vec![Paid, Cancelled, Expired]);
        assert_eq!(Paid.next(), vec![Refunded]);
        assert!(PendingPayment.address_changeable());
        assert!(!Paid.address_changeable());
        assert_eq!(
            decide(Paid, Cancel).unwrap_err().to_string(),
            "an order that is PAID cannot be cancelled"
        );
    }

    #[test]
    fn stored_values_round_trip_and_unknown_ones_fail() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::from_db(status.as_db()).unwrap(), status);
        }
        assert!(OrderStatus::from_db("SHIPPED").is_err());
    }
}
