//! Attribute filters and facets, without I/O: what `filter.attributes` may hold and how it
//! is normalised, which selection each facet sets aside, and the order facets are listed
//! in. The SQL is in `db::filter` (conditions) and `db::facets` (counts).
//!
//! Names and values are compared whatever their case (PostgreSQL's `lower()` on both sides,
//! as the catalog's unique indexes compare attribute and option names); a facet shows each
//! value once, in one of the spellings the catalog holds.

use service_kit::ApiError;
use service_kit::validate::required_text;

/// Most attribute names one filter may name.
pub const MAX_NAMES: usize = 20;
/// Most values one attribute name of a filter may list.
pub const MAX_VALUES: usize = 100;
/// Most attribute names a listing's facets show (the most common first).
pub const MAX_FACET_NAMES: usize = 50;
/// Most values an attribute facet shows (the most common first).
pub const MAX_FACET_VALUES: usize = 100;

/// One name of `filter.attributes`: a product matches when its attributes or one of its
/// active variants' options give that name any of these values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeSelection {
    /// As given, trimmed (compared whatever its case).
    pub name: String,
    /// As given, trimmed, each once whatever its case; never empty.
    pub values: Vec<String>,
}

/// Checks `filter.attributes` given as `(name, values)` pairs under `field`: names and values
/// are trimmed and must not be blank (names up to 50 characters, values up to 200, as
/// stored). A name given twice (whatever its case) is one name with the values of both; a
/// name without values filters nothing (as an empty `brandIds`). Errors name the entry
/// (`filter.attributes[1].values[0]`).
pub fn check_attribute_filter(
    field: &str,
    given: &[(String, Vec<String>)],
) -> Result<Vec<AttributeSelection>, ApiError> {
    let mut selections: Vec<AttributeSelection> = Vec::new();
    for (index, (name, values)) in given.iter().enumerate() {
        let name = required_text(&format!("{field}[{index}].name"), name, 50)?;
        if values.len() > MAX_VALUES {
            return Err(ApiError::bad_input(
                format!("{field}[{index}].values"),
                format!("at most {MAX_VALUES} values"),
            ));
        }
        let mut checked = Vec::with_capacity(values.len());
        for (at, value) in values.iter().enumerate() {
            checked.push(required_text(
                &format!("{field}[{index}].values[{at}]"),
                value,
                200,
            )?);
        }
        let key = name.to_lowercase();
        let selection = match selections.iter_mut().find(|s| s.name.to_lowercase() == key) {
            Some(selection) => selection,
            None => {
                selections.push(AttributeSelection {
                    name,
                    values: Vec::new(),
                });
                selections.last_mut().expect("just pushed")
            }
        };
        for value in checked {
            let lower = value.to_lowercase();
            if !selection.values.iter().any(|v| v.to_lowercase() == lower) {
                selection.values.push(value);
            }
        }
        if selection.values.len() > MAX_VALUES {
            return Err(ApiError::bad_input(
                format!("{field}[{index}].values"),
                format!("at most {MAX_VALUES} values"),
            ));
        }
    }
    selections.retain(|s| !s.values.is_empty());
    if selections.len() > MAX_NAMES {
        return Err(ApiError::bad_input(
            field,
            format!("at most {MAX_NAMES} attribute names"),
        ));
    }
    Ok(selections)
}

/// A facet, and so the one selection of the filter its counts set aside: the brand facet
/// counts as if no brand were chosen (so the other brands keep their counts), the facet of
/// an attribute name as if no value of that name were chosen (the other names still apply),
/// and the price range as if no price bound were given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Facet {
    Brands,
    /// Every attribute name: each counted without its own selection.
    Attributes,
    PriceRange,
}

/// A counted value of a facet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted<T> {
    pub item: T,
    /// The name it is listed by (ties of count).
    pub name: String,
    /// Matching products.
    pub count: i64,
}

/// Most products first, then by name (whatever its case, then as written), so equal counts
/// always come in the same order.
pub fn by_count_then_name<T>(items: &mut [Counted<T>]) {
    items.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// One counted attribute pair, or (`value: None`) an attribute name with the number of
/// products that have any value of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeCount {
    /// Lower case: what rows of one name share.
    pub key: String,
    /// A spelling of the name the catalog holds.
    pub name: String,
    pub value: Option<String>,
    pub count: i64,
}

/// An attribute facet: a name and its values with their counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeFacet {
    pub name: String,
    pub values: Vec<Counted<()>>,
}

/// The attribute facets of counted rows: names by how many products have them, then by
/// name; the values of each by count, then name; at most [`MAX_FACET_NAMES`] names of at
/// most [`MAX_FACET_VALUES`] values (the most common).
pub fn attribute_facets(rows: Vec<AttributeCount>) -> Vec<AttributeFacet> {
    let mut names: Vec<Counted<String>> = Vec::new();
    let mut values: std::collections::HashMap<String, Vec<Counted<()>>> =
        std::collections::HashMap::new();
    for row in rows {
        match row.value {
            None => names.push(Counted {
                item: row.key,
                name: row.name,
                count: row.count,
            }),
            Some(value) => values.entry(row.key).or_default().push(Counted {
                item: (),
                name: value,
                count: row.count,
            }),
        }
    }
    by_count_then_name(&mut names);
    names
        .into_iter()
        .take(MAX_FACET_NAMES)
        .map(|name| {
            let mut values = values.remove(&name.item).unwrap_or_default();
            by_count_then_name(&mut values);
            values.truncate(MAX_FACET_VALUES);
            AttributeFacet {
                name: name.name,
                values,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(error: ApiError) -> String {
        match error {
            ApiError::BadUserInput { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    type Given = Vec<(String, Vec<String>)>;

    fn given(pairs: &[(&str, &[&str])]) -> Given {
        pairs
            .iter()
            .map(|(name, values)| {
                (
                    (*name).to_owned(),
                    values.iter().map(|v| (*v).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn names_given_twice_are_one_name_and_values_are_kept_once() {
        let checked = check_attribute_filter(
            "filter.attributes",
            &given(&[
                (" Color ", &["Red", " blue"]),
                ("size", &["M"]),
                ("COLOR", &["RED", "Green"]),
                ("Empty", &[]),
            ]),
        )
        .unwrap();
        assert_eq!(
            checked,
            [
                AttributeSelection {
                    name: "Color".into(),
                    values: vec!["Red".into(), "blue".into(), "Green".into()],
                },
                AttributeSelection {
                    name: "size".into(),
                    values: vec!["M".into()],
                },
            ]
        );
        assert!(check_attribute_filter("f", &[]).unwrap().is_empty());
    }

    #[test]
    fn blank_or_long_entries_are_refused_naming_them() {
        let cases: [(Given, &str); 5] = [
            (given(&[("  ", &["x"])]), "filter.attributes[0].name"),
            (
                given(&[("Color", &["Red"]), ("Size", &["M", " "])]),
                "filter.attributes[1].values[1]",
            ),
            (
                vec![("n".repeat(51), vec!["x".into()])],
                "filter.attributes[0].name",
            ),
            (
                vec![("Model".into(), vec!["v".repeat(201)])],
                "filter.attributes[0].values[0]",
            ),
            (
                vec![(
                    "Model".into(),
                    (0..=MAX_VALUES).map(|i| i.to_string()).collect(),
                )],
                "filter.attributes[0].values",
            ),
        ];
        for (input, expected) in cases {
            let error = check_attribute_filter("filter.attributes", &input).unwrap_err();
            assert_eq!(field(error), expected);
        }
        let many: Given = (0..=MAX_NAMES)
            .map(|i| (format!("name {i}"), vec!["x".to_owned()]))
            .collect();
        let error = check_attribute_filter("filter.attributes", &many).unwrap_err();
        assert_eq!(field(error), "filter.attributes");
    }

    #[test]
    fn counts_come_first_then_names_whatever_their_case() {
        let mut items: Vec<Counted<u8>> = [("b", 2), ("a", 1), ("C", 2), ("B", 2), ("A", 1)]
            .iter()
            .map(|(name, count)| Counted {
                item: 0,
                name: (*name).to_owned(),
                count: *count,
            })
            .collect();
        by_count_then_name(&mut items);
        let order: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(order, ["B", "b", "C", "A", "a"]);
    }

    #[test]
    fn attribute_facets_list_names_and_values_by_count_then_name() {
        let row = |key: &str, name: &str, value: Option<&str>, count| AttributeCount {
            key: key.into(),
            name: name.into(),
            value: value.map(Into::into),
            count,
        };
        let facets = attribute_facets(vec![
            row("size", "Size", Some("M"), 3),
            row("color", "Color", None, 5),
            row("size", "Size", None, 5),
            row("color", "Color", Some("Red"), 2),
            row("color", "Color", Some("blue"), 4),
            row("color", "Color", Some("Green"), 2),
            row("size", "Size", Some("L"), 3),
        ]);
        let shown: Vec<(String, Vec<(String, i64)>)> = facets
            .into_iter()
            .map(|f| {
                (
                    f.name,
                    f.values.into_iter().map(|v| (v.name, v.count)).collect(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "Color".to_owned(),
                    vec![
                        ("blue".to_owned(), 4),
                        ("Green".to_owned(), 2),
                        ("Red".to_owned(), 2)
                    ]
                ),
                (
                    "Size".to_owned(),
                    vec![("L".to_owned(), 3), ("M".to_owned(), 3)]
                ),
            ]
        );
    }

    #[test]
    fn facets_show_the_most_common_names_and_values_only() {
        let mut rows = Vec::new();
        for n in 0..MAX_FACET_NAMES + 5 {
            let key = format!("name {n:03}");
            rows.push(AttributeCount {
                key: key.clone(),
                name: key.clone(),
                value: None,
                count: n as i64,
            });
            for v in 0..MAX_FACET_VALUES + 3 {
                rows.push(AttributeCount {
                    key: key.clone(),
                    name: key.clone(),
                    value: Some(format!("{v:03}")),
                    count: 1,
                });
            }
        }
        let facets = attribute_facets(rows);
        assert_eq!(facets.len(), MAX_FACET_NAMES);
        assert_eq!(facets[0].name, format!("name {:03}", MAX_FACET_NAMES + 4));
        assert!(facets.iter().all(|f| f.values.len() == MAX_FACET_VALUES));
        assert_eq!(facets[0].values[0].name, "000");
    }
}
