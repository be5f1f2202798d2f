//! Relay-style cursor paging: argument validation and opaque cursors.

use async_graphql::SimpleObject;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Page size when `first` is omitted.
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// Largest accepted `first`.
pub const MAX_PAGE_SIZE: i64 = 100;

/// Paging state of a connection.
#[derive(Clone, Debug, Default, SimpleObject)]
#[graphql(shareable)]
pub struct PageInfo {
    /// More items follow `endCursor`.
    pub has_next_page: bool,
    /// Items precede `startCursor`.
    pub has_previous_page: bool,
    /// Cursor of the first edge.
    pub start_cursor: Option<String>,
    /// Cursor of the last edge; pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

impl PageInfo {
    /// The paging state of a page whose edges have these `cursors` (in order), fetched
    /// after a cursor or not.
    pub fn of_page<'a>(
        cursors: impl DoubleEndedIterator<Item = &'a String> + Clone,
        has_next_page: bool,
        after_cursor: bool,
    ) -> Self {
        Self {
            has_next_page,
            has_previous_page: after_cursor,
            start_cursor: cursors.clone().next().cloned(),
            end_cursor: cursors.last().cloned(),
        }
    }
}

/// Validated `first`/`after` arguments.
#[derive(Debug)]
pub struct PageRequest<C> {
    /// How many items to return.
    pub limit: i64,
    /// Position to continue after, decoded.
    pub after: Option<C>,
}

impl<C: DeserializeOwned> PageRequest<C> {
    /// `first` must be 0..=100 (default 20); `after` must be a cursor this service issued.
    pub fn parse(first: Option<i32>, after: Option<&str>) -> Result<Self, ApiError> {
        let limit = match first {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if (0..=MAX_PAGE_SIZE).contains(&i64::from(n)) => i64::from(n),
            Some(n) => {
                return Err(ApiError::bad_input(
                    "first",
                    format!("must be between 0 and {MAX_PAGE_SIZE}, got {n}"),
                ));
            }
        };
        let after = after.map(decode_cursor).transpose()?;
        Ok(Self { limit, after })
    }
}

/// Tag that distinguishes our cursors from arbitrary base64.
const CURSOR_VERSION: &str = "c1:";

/// An opaque cursor for a position (base64url of a tagged JSON value).
pub fn encode_cursor<C: Serialize>(position: &C) -> String {
    let json = serde_json::to_string(position).expect("cursor positions serialize");
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_VERSION}{json}"))
}

/// The position in a cursor made by [`encode_cursor`]; anything else is `BAD_USER_INPUT`.
pub fn decode_cursor<C: DeserializeOwned>(cursor: &str) -> Result<C, ApiError> {
    let invalid = || ApiError::bad_input("after", "is not a cursor returned by this connection");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
    let json = text.strip_prefix(CURSOR_VERSION).ok_or_else(invalid)?;
    serde_json::from_str(json).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = encode_cursor(&("2026-11-22T08:00:00Z", 42));
        let decoded: (String, i32) = decode_cursor(&cursor).unwrap();
        assert_eq!(decoded, ("2026-11-22T08:00:00Z".to_owned(), 42));
        for garbage in [
            "",
            "!!!",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("c1:{"),
        ] {
            let error = decode_cursor::<(String, i32)>(garbage).unwrap_err();
            assert_eq!(error.code(), "BAD_USER_INPUT", "{garbage}");
        }
    }

    #[test]
    fn first_is_bounded() {
        assert_eq!(PageRequest::<i32>::parse(None, None).unwrap().limit, 20);
        assert_eq!(
            PageRequest::<i32>::parse(Some(100), None).unwrap().limit,
            100
        );
        assert_eq!(PageRequest::<i32>::parse(Some(0), None).unwrap().limit, 0);
        for bad in [-1, 101, 1000] {
            assert_eq!(
                PageRequest::<i32>::parse(Some(bad), None)
                    .unwrap_err()
                    .code(),
                "BAD_USER_INPUT"
            );
        }
    }
}
