//! Money: integer minor units plus an ISO 4217 currency, never floats.

use async_graphql::{ComplexObject, SimpleObject};

/// The currency used when none is given.
pub const DEFAULT_CURRENCY: &str = "CNY";

/// An amount in minor units (fen, cents) of an ISO 4217 currency.
#[derive(Clone, Debug, PartialEq, Eq, SimpleObject)]
#[graphql(shareable, complex)]
pub struct Money {
    /// Minor units, e.g. 1250 for ¥12.50.
    pub amount: i64,
    /// ISO 4217 code, e.g. "CNY".
    pub currency: String,
}

#[ComplexObject]
impl Money {
    /// Human readable, e.g. "¥12.50".
    #[graphql(shareable)]
    async fn formatted(&self) -> String {
        self.format()
    }
}

impl Money {
    /// `amount` minor units of `currency`.
    pub fn new(amount: i64, currency: impl Into<String>) -> Self {
        Self {
            amount,
            currency: currency.into(),
        }
    }

    /// Symbol and decimal places from the currency: "¥12.50", "$0.99", "¥1200" for JPY,
    /// "12.50 CHF" for currencies without a well-known symbol.
    pub fn format(&self) -> String {
        let (symbol, decimals) = match self.currency.as_str() {
            "CNY" => (Some("¥"), 2),
            "USD" => (Some("$"), 2),
            "EUR" => (Some("€"), 2),
            "GBP" => (Some("£"), 2),
            "JPY" => (Some("¥"), 0),
            "KRW" => (Some("₩"), 0),
            _ => (None, 2),
        };
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        let number = if decimals == 0 {
            abs.to_string()
        } else {
            format!("{}.{:02}", abs / 100, abs % 100)
        };
        match symbol {
            Some(symbol) => format!("{sign}{symbol}{number}"),
            None => format!("{sign}{number} {}", self.currency),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Money;

    #[test]
    fn formats_minor_units() {
        assert_eq!(Money::new(1250, "CNY").format(), "¥12.50");
        assert_eq!(Money::new(5, "USD").format(), "$0.05");
        assert_eq!(Money::new(-199, "EUR").format(), "-€1.99");
        assert_eq!(Money::new(1200, "JPY").format(), "¥1200");
        assert_eq!(Money::new(1050, "CHF").format(), "10.50 CHF");
    }
}
