//! Variants (SKU) and the options they differ in: what a product's options and variants may
//! hold (no I/O). A variant has one value for each of its product's options, spelt as the
//! product spells it, and no two variants of a product have the same values.

use peer_api::SelectedOption;
use service_kit::ApiError;
use service_kit::validate::required_text;

use super::urls::check_url;

/// Most options of a product (Color, Size, Storage …).
pub const MAX_OPTIONS: usize = 5;
/// Most values of one option.
pub const MAX_OPTION_VALUES: usize = 100;
/// Most variants of a product.
pub const MAX_VARIANTS: usize = 250;
/// Longest SKU code.
pub const MAX_SKU: usize = 64;
/// Most units of one variant.
pub const MAX_STOCK: i32 = 1_000_000_000;

/// A sales option, checked: a name and its values in display order.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductOption {
    pub name: String,
    pub values: Vec<String>,
}

/// A variant as given, before checking.
#[derive(Clone, Debug, Default)]
pub struct VariantInput {
    pub sku: String,
    pub options: Option<Vec<(String, String)>>,
    pub price: i32,
    pub stock: i32,
    pub image_url: Option<String>,
}

/// A variant, checked against its product's options.
#[derive(Clone, Debug, PartialEq)]
pub struct NewVariant {
    pub sku: String,
    /// One per product option, in the product's option order and spelling.
    pub options: Vec<SelectedOption>,
    pub price: i64,
    pub stock: i32,
    pub image_url: Option<String>,
}

fn same(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// Checks options given as `(name, values)` under `field` (`input.options`): names once
/// each, values once within their option, whatever their case.
pub fn check_options(
    field: &str,
    options: &[(String, Vec<String>)],
) -> Result<Vec<ProductOption>, ApiError> {
    if options.len() > MAX_OPTIONS {
        return Err(ApiError::bad_input(
            field,
            format!("at most {MAX_OPTIONS} options"),
        ));
    }
    let mut checked: Vec<ProductOption> = Vec::with_capacity(options.len());
    for (index, (name, values)) in options.iter().enumerate() {
        let name_field = format!("{field}[{index}].name");
        let name = required_text(&name_field, name, 50)?;
        if checked.iter().any(|o| same(&o.name, &name)) {
            return Err(ApiError::bad_input(
                name_field,
                "an option name appears twice",
            ));
        }
        let values_field = format!("{field}[{index}].values");
        if values.is_empty() || values.len() > MAX_OPTION_VALUES {
            return Err(ApiError::bad_input(
                values_field,
                format!("1 to {MAX_OPTION_VALUES} values"),
            ));
        }
        let mut kept: Vec<String> = Vec::with_capacity(values.len());
        for (v, value) in values.iter().enumerate() {
            let value = required_text(&format!("{values_field}[{v}]"), value, 50)?;
            if kept.iter().any(|k| same(k, &value)) {
                return Err(ApiError::bad_input(
                    format!("{values_field}[{v}]"),
                    "a value appears twice",
                ));
            }
            kept.push(value);
        }
        checked.push(ProductOption { name, values: kept });
    }
    Ok(checked)
}

/// A SKU code: 1 to 64 letters, digits, `-`, `_` or `.`.
pub fn check_sku(field: &str, sku: &str) -> Result<String, ApiError> {
    let sku = sku.trim();
    if sku.is_empty()
        || sku.len() > MAX_SKU
        || !sku
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ApiError::bad_input(
            field,
            format!("1 to {MAX_SKU} letters, digits, '-', '_' or '.'"),
        ));
    }
    Ok(sku.to_owned())
}

/// Checks one variant under `field` (`input.variants[1]`) against the product's
/// `options`: one value of each option, spelt as the product spells it.
pub fn check_variant(
    field: &str,
    options: &[ProductOption],
    given: &VariantInput,
) -> Result<NewVariant, ApiError> {
    let sku = check_sku(&format!("{field}.sku"), &given.sku)?;
    let price = super::products::check_price(&format!("{field}.price"), given.price)?;
    if !(0..=MAX_STOCK).contains(&given.stock) {
        return Err(ApiError::bad_input(
            format!("{field}.stock"),
            format!("must be 0 to {MAX_STOCK}"),
        ));
    }
    let image_url = check_url(&format!("{field}.imageUrl"), given.image_url.as_deref())?;
    let options_field = format!("{field}.options");
    let chosen = given.options.as_deref().unwrap_or_default();
    if chosen.len() != options.len() {
        return Err(ApiError::bad_input(
            options_field,
            if options.is_empty() {
                "the product has no options".to_owned()
            } else {
                let names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
                format!("one value for each option: {}", names.join(", "))
            },
        ));
    }
    let mut selected = Vec::with_capacity(options.len());
    for option in options {
        let Some((_, value)) = chosen.iter().find(|(name, _)| same(name, &option.name)) else {
            return Err(ApiError::bad_input(
                options_field,
                format!("no value for the option {}", option.name),
            ));
        };
        let Some(value) = option.values.iter().find(|v| same(v, value.trim())) else {
            return Err(ApiError::bad_input(
                options_field,
                format!("{value:?} is not a value of {}", option.name),
            ));
        };
        selected.push(SelectedOption {
            name: option.name.clone(),
            value: value.clone(),
        });
    }
    Ok(NewVariant {
        sku,
        options: selected,
        price,
        stock: given.stock,
        image_url,
    })
}

/// Checks a product's variants under `field` (`input.variants`): each against the options,
/// no SKU twice, no two with the same values.
pub fn check_variants(
    field: &str,
    options: &[ProductOption],
    given: &[VariantInput],
) -> Result<Vec<NewVariant>, ApiError> {
    if given.is_empty() || given.len() > MAX_VARIANTS {
        return Err(ApiError::bad_input(
            field,
            format!("1 to {MAX_VARIANTS} variants"),
        ));
    }
    let mut checked: Vec<NewVariant> = Vec::with_capacity(given.len());
    for (index, variant) in given.iter().enumerate() {
        let entry = format!("{field}[{index}]");
        let variant = check_variant(&entry, options, variant)?;
        if checked.iter().any(|v| same(&v.sku, &variant.sku)) {
            return Err(ApiError::bad_input(
                format!("{entry}.sku"),
                "a SKU appears twice",
            ));
        }
        if checked.iter().any(|v| v.options == variant.options) {
            return Err(ApiError::bad_input(
                format!("{entry}.options"),
                "another variant has the same option values",
            ));
        }
        checked.push(variant);
    }
    Ok(checked)
}

/// "Red / M"; the product's name when there are no options (the SQL function
/// `variant_name` says the same).
pub fn variant_name(options: &[SelectedOption], product_name: &str) -> String {
    if options.is_empty() {
        product_name.to_owned()
    } else {
        options
            .iter()
            .map(|o| o.value.as_str())
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// Which variant a request means: the one named, or the product's only one. `variants`
/// are the ids of the product's variants.
pub fn choose_variant(
    field: &str,
    given: Option<uuid::Uuid>,
    variants: &[uuid::Uuid],
) -> Result<uuid::Uuid, ApiError> {
    match (given, variants) {
        (Some(id), _) if variants.contains(&id) => Ok(id),
        (Some(_), _) => Err(ApiError::bad_input(
            field,
            "is a variant of another product",
        )),
        (None, [only]) => Ok(*only),
        (None, _) => Err(ApiError::bad_input(
            field,
            "is required: the product has several variants",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Vec<ProductOption> {
        check_options(
            "input.options",
            &[
                ("Color".into(), vec!["Red".into(), "Blue".into()]),
                ("Size".into(), vec!["S".into(), "M".into()]),
            ],
        )
        .unwrap()
    }

    fn variant(sku: &str, color: &str, size: &str) -> VariantInput {
        VariantInput {
            sku: sku.into(),
            options: Some(vec![
                ("size".into(), size.into()),
                ("color".into(), color.into()),
            ]),
            price: 100,
            stock: 1,
            image_url: None,
        }
    }

    #[test]
    fn a_variant_takes_the_products_spelling_and_option_order() {
        let checked = check_variant("v", &options(), &variant("A-1", "red", "m")).unwrap();
        assert_eq!(
            checked.options,
            vec![
                SelectedOption {
                    name: "Color".into(),
                    value: "Red".into()
                },
                SelectedOption {
                    name: "Size".into(),
                    value: "M".into()
                },
            ]
        );
        assert_eq!(variant_name(&checked.options, "Shirt"), "Red / M");
        assert_eq!(variant_name(&[], "Shirt"), "Shirt");
    }

    #[test]
    fn duplicate_values_and_skus_are_refused_naming_the_entry() {
        let twice = [variant("A", "Red", "S"), variant("B", "RED", "s")];
        let error = check_variants("input.variants", &options(), &twice).unwrap_err();
        assert!(
            matches!(&error, ApiError::BadUserInput { field, .. } if field == "input.variants[1].options"),
            "{error:?}"
        );
        let same_sku = [variant("A", "Red", "S"), variant("a", "Blue", "S")];
        let error = check_variants("input.variants", &options(), &same_sku).unwrap_err();
        assert!(
            matches!(&error, ApiError::BadUserInput { field, .. } if field == "input.variants[1].sku")
        );
    }

    #[test]
    fn a_variant_needs_exactly_one_known_value_per_option() {
        let mut missing = variant("A", "Red", "S");
        missing.options = Some(vec![("Color".into(), "Red".into())]);
        let unknown = variant("A", "Green", "S");
        for given in [missing, unknown] {
            let error = check_variant("input.variants[0]", &options(), &given).unwrap_err();
            assert!(
                matches!(&error, ApiError::BadUserInput { field, .. } if field == "input.variants[0].options")
            );
        }
        let plain = VariantInput {
            sku: "P".into(),
            ..VariantInput::default()
        };
        assert!(check_variant("v", &[], &plain).is_ok());
        assert!(check_variant("v", &options(), &plain).is_err());
    }

    #[test]
    fn options_are_named_once_with_distinct_values() {
        let twice = [
            ("Color".into(), vec!["Red".into()]),
            ("color".into(), vec!["Blue".into()]),
        ];
        assert!(check_options("o", &twice).is_err());
        assert!(check_options("o", &[("Size".into(), vec![])]).is_err());
        assert!(check_options("o", &[("Size".into(), vec!["M".into(), "m".into()])]).is_err());
        assert!(check_sku("s", "bad sku").is_err());
        assert_eq!(check_sku("s", " AB-1.x_2 ").unwrap(), "AB-1.x_2");
    }

    #[test]
    fn the_only_variant_is_implied_and_several_need_a_choice() {
        let a = uuid::Uuid::from_u128(1);
        let b = uuid::Uuid::from_u128(2);
        let other = uuid::Uuid::from_u128(3);
        assert_eq!(choose_variant("variantId", None, &[a]).unwrap(), a);
        assert_eq!(choose_variant("variantId", Some(b), &[a, b]).unwrap(), b);
        for (given, variants) in [(None, vec![a, b]), (Some(other), vec![a, b])] {
            let error = choose_variant("variantId", given, &variants).unwrap_err();
            assert!(matches!(&error, ApiError::BadUserInput { field, .. } if field == "variantId"));
        }
    }
}
