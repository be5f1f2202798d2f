//! Brands: what a new brand must be (no I/O).

use service_kit::ApiError;
use service_kit::validate::{id, required_text};
use uuid::Uuid;

use super::urls::check_url;

/// Most categories one request may offer a brand in.
pub const MAX_CATEGORIES: usize = 100;

/// A brand to create, checked.
#[derive(Debug, PartialEq)]
pub struct NewBrand {
    /// Trimmed, 1 to 100 characters.
    pub name: String,
    pub logo_url: Option<String>,
    /// Distinct, in the order given.
    pub categories: Vec<Uuid>,
}

/// Checks `createBrand`'s input; errors name the field.
pub fn check_brand(
    name: &str,
    logo_url: Option<&str>,
    category_ids: &[String],
) -> Result<NewBrand, ApiError> {
    let name = required_text("input.name", name, 100)?;
    let logo_url = check_url("input.logoUrl", logo_url)?;
    if category_ids.len() > MAX_CATEGORIES {
        return Err(ApiError::bad_input(
            "input.categoryIds",
            format!("at most {MAX_CATEGORIES} categories"),
        ));
    }
    let mut categories = Vec::with_capacity(category_ids.len());
    for category in category_ids {
        let category = id("input.categoryIds", category)?;
        if !categories.contains(&category) {
            categories.push(category);
        }
    }
    Ok(NewBrand {
        name,
        logo_url,
        categories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brand_needs_a_name_and_may_have_a_logo_and_categories() {
        let category = Uuid::now_v7().to_string();
        let brand = check_brand(
            "  Apple ",
            Some("https://example.com/apple.png"),
            &[category.clone(), category.clone()],
        )
        .unwrap();
        assert_eq!(brand.name, "Apple");
        assert_eq!(brand.categories.len(), 1, "duplicates count once");
        let field = |error: ApiError| match error {
            ApiError::BadUserInput { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(check_brand(" ", None, &[]).unwrap_err()),
            "input.name"
        );
        assert_eq!(
            field(check_brand(&"x".repeat(101), None, &[]).unwrap_err()),
            "input.name"
        );
        assert_eq!(
            field(check_brand("A", Some("ftp://x"), &[]).unwrap_err()),
            "input.logoUrl"
        );
        assert_eq!(
            field(check_brand("A", None, &["nope".into()]).unwrap_err()),
            "input.categoryIds"
        );
    }
}
