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
    /// `INSUFFICIENT_STOCK`: fewer than asked are left of `product_id`.
    InsufficientStock { product_id: String, available: i64 },
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
                available,
            } => Some((product_id.clone(), *available)),
            _ => None,
        };
        async_graphql::Error::new(error.message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some((product_id, available)) = &stock {
                ext.set("productId", product_id.as_str());
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
    fn from(error: diesel::result::Error) -> Self {
        match error {
            diesel::result::Error::NotFound => Self::NotFound("record".into()),
            diesel::result::Error::DatabaseError(_, _)
            | diesel::result::Error::BrokenTransactionManager => {
                tracing::error!(error = %error, "database query failed");
                Self::Unavailable("the database")
            }
            other => {
                tracing::error!(error = %other, "database error");
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
