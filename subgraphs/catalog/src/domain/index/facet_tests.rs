//! The facets counted from the pairs' sets equal those counted from each candidate's pairs
//! (which `workflows::listing`'s test compares with PostgreSQL), over random products,
//! spellings, changes and filters.

use chrono::Utc;
use uuid::Uuid;

use super::facets::FacetCounts;
use super::{Doc, Filter, Index};
use crate::domain::facets::AttributeSelection;

/// A small deterministic generator (xorshift).
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const COLORS: [&str; 8] = [
    "Red", "Blue", "Green", "Black", "White", "Pink", "Grey", "Gold",
];
const SIZES: [&str; 3] = ["S", "M", "L"];
/// Rare values, a few products each: their sets stay sparse.
const MATERIALS: [&str; 40] = [
    "Cotton", "Linen", "Wool", "Steel", "Glass", "Bamboo", "Silk", "Oak", "Pine", "Clay", "Jade",
    "Tin", "Zinc", "Iron", "Gold", "Felt", "Hemp", "Jute", "Lace", "Mesh", "Nylon", "Opal",
    "Pearl", "Quartz", "Rubber", "Satin", "Tweed", "Vinyl", "Wax", "Yarn", "Ash", "Beech", "Cedar",
    "Elm", "Fir", "Hazel", "Larch", "Maple", "Teak", "Yew",
];

fn doc(id: Uuid, version: i64, dice: &mut Dice, (brands, categories): (&[Uuid], &[Uuid])) -> Doc {
    let mut facets: Vec<(String, String)> = Vec::new();
    let mut pair = |name: &str, value: &str, dice: &mut Dice| {
        // Some products spell a pair otherwise: the facet shows the first spelling.
        let (name, value) = match dice.below(20) {
            0 => (name.to_uppercase(), value.to_lowercase()),
            1 => (name.to_lowercase(), value.to_uppercase()),
            _ => (name.to_owned(), value.to_owned()),
        };
        let key = format!("{}\u{1f}{}", name.to_lowercase(), value.to_lowercase());
        if !facets.iter().any(|(k, _)| *k == key) {
            facets.push((key, format!("{name}\u{1f}{value}")));
        }
    };
    // 1–4 colours: common, their sets dense.
    for _ in 0..1 + dice.below(4) {
        pair("Color", COLORS[dice.below(COLORS.len())], dice);
    }
    if dice.below(3) > 0 {
        pair("Size", SIZES[dice.below(SIZES.len())], dice);
    }
    if dice.below(2) == 0 {
        pair("Material", MATERIALS[dice.below(MATERIALS.len())], dice);
    }
    facets.sort();
    let price_min = 100 * (1 + dice.below(50)) as i64;
    let price_max = price_min + 100 * dice.below(20) as i64;
    Doc {
        id,
        version,
        category: categories.get(dice.below(categories.len() + 1)).copied(),
        brand: brands.get(dice.below(brands.len() + 1)).copied(),
        stock: dice.below(3) as i32,
        sales_count: 0,
        price_min,
        price_max: (dice.below(30) > 0).then_some(price_max),
        currency: "CNY".into(),
        variant_prices: vec![price_min, price_max],
        created_at: Utc::now(),
        name_lower: "thing".into(),
        lexemes: Vec::new(),
        facets,
    }
}

/// The counts in one order, to compare.
fn sorted(mut counts: FacetCounts) -> FacetCounts {
    counts.brands.sort();
    counts
        .attributes
        .sort_by(|a, b| (&a.key, &a.value).cmp(&(&b.key, &b.value)));
    counts
}

fn same(a: FacetCounts, b: FacetCounts, what: &str) {
    let (a, b) = (sorted(a), sorted(b));
    assert_eq!(a.brands, b.brands, "brands {what}");
    assert_eq!(a.prices, b.prices, "prices {what}");
    let shown = |c: &FacetCounts| -> Vec<_> {
        c.attributes
            .iter()
            .map(|a| (a.key.clone(), a.value.clone(), a.name.clone(), a.count))
            .collect()
    };
    assert_eq!(shown(&a), shown(&b), "attributes {what}");
}

#[test]
fn facets_counted_from_sets_equal_facets_counted_from_each_product() {
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let brands: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    // Most products in a few wide categories, some in a narrow one (few candidates).
    let categories: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let of = (brands.as_slice(), categories.as_slice());
    let ids: Vec<Uuid> = (0..4000).map(|_| Uuid::new_v4()).collect();
    let mut index = Index::default();
    for id in &ids {
        index.apply(*id, 1, Some(doc(*id, 1, &mut dice, of)), false);
    }
    let (_, dense) = index.facet_sets.assert_costs();
    assert!(dense > 2, "common pairs and names are held dense: {dense}");
    // Changes: new pairs, archived products, products back with other pairs.
    for version in 2..4 {
        for id in &ids {
            match dice.below(10) {
                0 => index.apply(*id, version, None, false),
                1 | 2 => index.apply(*id, version, Some(doc(*id, version, &mut dice, of)), false),
                _ => false,
            };
        }
    }
    index.facet_sets.assert_costs();
    let (mut by_sets_chosen, mut with_attributes) = (0, 0);
    for round in 0..300 {
        let brand_choice: Vec<Uuid> = brands
            .iter()
            .filter(|_| dice.below(3) == 0)
            .copied()
            .collect();
        let mut attributes = Vec::new();
        for _ in 0..dice.below(3) {
            let (name, values): (&str, &[&str]) = match dice.below(4) {
                0 => ("color", &COLORS),
                1 => ("SIZE", &SIZES),
                2 => ("Material", &MATERIALS),
                _ => ("Unknown", &["x"]),
            };
            let chosen = (0..1 + dice.below(3))
                .map(|_| values[dice.below(values.len())].to_owned())
                .collect();
            attributes.push(AttributeSelection {
                name: name.into(),
                values: chosen,
            });
        }
        let (min_price, max_price) = match dice.below(4) {
            0 => (Some(1_000), Some(3_000)),
            1 => (None, Some(2_000)),
            _ => (None, None),
        };
        let narrow = match dice.below(4) {
            0 => Some(
                [categories[dice.below(categories.len())]]
                    .into_iter()
                    .collect(),
            ),
            _ => None,
        };
        let filter = Filter {
            categories: narrow,
            brands: (dice.below(3) == 0).then_some(brand_choice.as_slice()),
            in_stock: (dice.below(4) == 0).then_some(true),
            min_price,
            max_price,
            attributes: &attributes,
            ..Filter::default()
        };
        let rows = index.each_missed(&filter);
        let by_rows = index.facet_counts_by(&rows, &filter, Some(false));
        let by_sets = index.facet_counts_by(&rows, &filter, Some(true));
        if !by_rows.attributes.is_empty() {
            with_attributes += 1;
        }
        same(by_rows, by_sets, &format!("round {round}"));
        if index.facets_by_sets(rows.len(), attributes.len()) {
            by_sets_chosen += 1;
        }
    }
    assert!(with_attributes > 150, "{with_attributes}");
    // Thousands of candidates: the sets are read, not every product's pairs.
    assert!(by_sets_chosen > 100, "{by_sets_chosen}");
    assert!(
        !index.facets_by_sets(10, 0),
        "a few candidates are read one by one"
    );
}
