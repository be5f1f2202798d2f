//! Links the catalog stores (product images, brand logos).

use service_kit::ApiError;
use service_kit::validate::optional_text;

/// An optional http(s) URL of at most 2,048 characters (blank is none).
pub fn check_url(field: &str, url: Option<&str>) -> Result<Option<String>, ApiError> {
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        None => Ok(None),
        Some(url) => {
            let url = optional_text(field, url, 2048)?;
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains(' ') {
                return Err(ApiError::bad_input(field, "must be an http(s) URL"));
            }
            Ok(Some(url.to_owned()))
        }
    }
}
