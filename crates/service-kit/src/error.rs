//! The one error type resolvers return. Each variant is a code of the contract's error table;
//! infrastructure failures are logged once here and shown without internals.

use async_graphql::ErrorExtensions as _;

/// Result of a resolver or a domain operation.
pub type ApiResult<T> = Result<T, ApiError>;

/// An error a client can act on, with its contract code in `extensions.code`.
#[derive(Clone, Debug)]
pub enum ApiError {
    /// `BAD_USER_INPUT`: the argument `field` is invalid; the message says why.
    BadUserInput { field: String, message: String },
    /// `NOT_FOUND`.
    NotFound(String),
    /// `UNAUTHENTICATED`.
    Unauthenticated(String),
    /// `FORBIDDEN`.
    Forbidden(String),
    /// `CONFLICT`: the current state does not allow the operation.
    Conflict(String),
    /// `RATE_LIMITED`: try again in `retry_after_seconds`.
    RateLimited {
        message: String,
        retry_after_seconds: u64,
    },
    /// `INSUFFICIENT_STOCK`: fewer than asked are left of `product_id` (of its variant
    /// `variant_id`).
    InsufficientStock {
        product_id: String,
        variant_id: Option<String>,
        available: i64,
    },
    /// `UNAVAILABLE`: a dependency is down; retrying later may work.
    Unavailable(&'static str),
    /// `INTERNAL_SERVER_ERROR`: a bug. The message reveals nothing.
    Internal,
}

impl ApiError {
    /// `BAD_USER_INPUT` for `field`.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A stored value no code knows (a column's CHECK should have prevented it): logged,
    /// and `INTERNAL_SERVER_ERROR` for the client rather than a silent default.
    pub fn corrupt(what: &str, value: &str) -> Self {
        tracing::error!(what, value, "unknown value stored");
        Self::Internal
    }

    /// What the client is told.
    pub fn message(&self) -> String {
        match self {
            Self::BadUserInput { field, message } => format!("{field}: {message}"),
            Self::NotFound(what) => format!("{what} not found"),
            Self::Unauthenticated(m) | Self::Forbidden(m) | Self::Conflict(m) => m.clone(),
            Self::RateLimited { message, .. } => message.clone(),
            Self::InsufficientStock { available, .. } => {
                format!("not enough stock: {available} left")
            }
            Self::Unavailable(what) => format!("{what} is unavailable, try again later"),
            Self::Internal => "internal error".to_owned(),
        }
    }

    /// The contract's `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::Conflict(_) => "CONFLICT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::InsufficientStock { .. } => "INSUFFICIENT_STOCK",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Internal => "INTERNAL_SERVER_ERROR",
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        let field = match &error {
            ApiError::BadUserInput { field, .. } => Some(field.clone()),
            _ => None,
        };
        let retry_after = match &error {
            ApiError::RateLimited {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        };
        let stock = match &error {
            ApiError::InsufficientStock {
                product_id,
                variant_id,
                available,
            } => Some((product_id.clone(), variant_id.clone(), *available)),
            _ => None,
        };
        async_graphql::Error::new(error.message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some((product_id, variant_id, available)) = &stock {
                ext.set("productId", product_id.as_str());
                if let Some(variant_id) = variant_id {
                    ext.set("variantId", variant_id.as_str());
                }
                ext.set("available", *available);
            }
            if let Some(field) = field {
                ext.set("field", field);
            }
            if let Some(seconds) = retry_after {
                ext.set("retryAfterSeconds", seconds);
            }
        })
    }
}

impl From<diesel::result::Error> for ApiError {
    /// Maps a database error to what the client may know: a constraint the request broke is
    /// its fault (`CONFLICT` for uniqueness and references, `BAD_USER_INPUT` for checks,
    /// nulls and numbers out of range), a lost connection is `UNAVAILABLE`, and anything else
    /// is a bug (`INTERNAL_SERVER_ERROR`). The driver's text is logged, never shown.
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::DatabaseErrorKind as Kind;
        use diesel::result::Error as E;
        match &error {
            E::DatabaseError(kind, info) => {
                let constraint = info.constraint_name().unwrap_or("-").to_owned();
                match kind {
                    Kind::UniqueViolation | Kind::ExclusionViolation => {
                        tracing::info!(%constraint, "request conflicts with a stored row");
                        Self::Conflict("this conflicts with an existing record".into())
                    }
                    Kind::ForeignKeyViolation | Kind::RestrictViolation => {
                        tracing::info!(%constraint, "request breaks a reference");
                        Self::Conflict(
                            "this refers to, or is referred to by, another record".into(),
                        )
                    }
                    Kind::SerializationFailure => {
                        tracing::warn!(error = %error, "serialization failure");
                        Self::Conflict("a concurrent change got in the way: try again".into())
                    }
                    Kind::CheckViolation | Kind::NotNullViolation => {
                        tracing::info!(%constraint, "request breaks a check");
                        Self::bad_input("input", "a value is outside what is allowed")
                    }
                    Kind::ClosedConnection | Kind::UnableToSendCommand => {
                        tracing::error!(error = %error, "database connection lost");
                        Self::Unavailable("the database")
                    }
                    _ if info.message().contains("out of range") => {
                        tracing::info!(error = %error, "number out of range");
                        Self::bad_input("input", "a number is out of range")
                    }
                    _ => {
                        tracing::error!(error = %error, "database query failed");
                        Self::Internal
                    }
                }
            }
            E::BrokenTransactionManager => {
                tracing::error!(error = %error, "database connection lost");
                Self::Unavailable("the database")
            }
            // A query that expected a row found none: the code assumed something that is
            // not so. Logged as a bug; the client learns nothing of the query.
            _ => {
                tracing::error!(error = %error, "database error");
                Self::Internal
            }
        }
    }
}

impl From<bb8::RunError<diesel_async::pooled_connection::PoolError>> for ApiError {
    fn from(error: bb8::RunError<diesel_async::pooled_connection::PoolError>) -> Self {
        tracing::error!(error = %error, "no database connection");
        Self::Unavailable("the database")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error};

    struct Info(&'static str);

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            Some("some_constraint")
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn database(kind: DatabaseErrorKind, message: &'static str) -> Error {
        Error::DatabaseError(kind, Box::new(Info(message)))
    }

    #[test]
    fn every_database_error_maps_to_a_contract_code_without_internals() {
        let table = [
            (
                database(DatabaseErrorKind::UniqueViolation, "duplicate key"),
                "CONFLICT",
            ),
            (
                database(DatabaseErrorKind::ForeignKeyViolation, "fk"),
                "CONFLICT",
            ),
            (
                database(DatabaseErrorKind::SerializationFailure, "serialize"),
                "CONFLICT",
            ),
            (
                database(DatabaseErrorKind::CheckViolation, "check"),
                "BAD_USER_INPUT",
            ),
            (
                database(DatabaseErrorKind::NotNullViolation, "null"),
                "BAD_USER_INPUT",
            ),
            (
                database(DatabaseErrorKind::Unknown, "integer out of range"),
                "BAD_USER_INPUT",
            ),
            (
                database(DatabaseErrorKind::ClosedConnection, "closed"),
                "UNAVAILABLE",
            ),
            (
                database(DatabaseErrorKind::UnableToSendCommand, "send"),
                "UNAVAILABLE",
            ),
            (
                database(DatabaseErrorKind::Unknown, "syntax error at or near"),
                "INTERNAL_SERVER_ERROR",
            ),
            (Error::NotFound, "INTERNAL_SERVER_ERROR"),
            (Error::BrokenTransactionManager, "UNAVAILABLE"),
        ];
        for (error, code) in table {
            let shown = format!("{error}");
            let mapped = ApiError::from(error);
            assert_eq!(mapped.code(), code, "{shown}");
            let message = mapped.message();
            for internal in [
                "duplicate key",
                "syntax",
                "record not found",
                "some_constraint",
            ] {
                assert!(!message.contains(internal), "{message} shows {internal}");
            }
        }
    }
}
