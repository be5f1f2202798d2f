//! Listing filters and facets of catalog v2 through the router: brands (any of them),
//! attributes and variant options (any value within a name, every name, whatever the case),
//! prices of active variants, and facet counts that each ignore their own selection, checked
//! by hand on a small catalog and, over random filters, against the listing itself. Each test
//! works in a category of its own.

use futures::future::join_all;
use serde_json::{Value, json};

use super::support::System;

const CREATE: &str = "mutation($input: CreateProductInput!) { createProduct(input: $input) { \
    id variants { id sku options { name value } } } }";
const CATEGORY: &str = "mutation($input: CategoryInput!) { createCategory(input: $input) { id } }";
const BRAND: &str = "mutation($input: BrandInput!) { createBrand(input: $input) { id name } }";
const ARCHIVE_VARIANT: &str = "mutation($id: ID!) { updateProductVariant(id: $id, \
    input: { status: ARCHIVED }) { id status } }";
const SEARCH: &str = "query($f: ProductFilter) { products(first: 100, filter: $f) { \
    totalCount edges { node { name } } \
    facets { brands { count brand { id name } } attributes { name values { value count } } \
    priceRange { min { amount currency } max { amount } } } } }";
const COUNT: &str = "query($f: ProductFilter) { products(first: 1, filter: $f) { totalCount } }";

struct Catalog<'a> {
    system: &'a System,
    admin: String,
}

impl Catalog<'_> {
    async fn category(&self, name: &str, parent: Option<&str>) -> String {
        let created = self
            .system
            .graphql_as(
                &self.admin,
                CATEGORY,
                json!({ "input": { "name": name, "parentId": parent } }),
            )
            .await;
        created["data"]["createCategory"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"))
            .to_owned()
    }

    async fn brand(&self, name: &str) -> String {
        let created = self
            .system
            .graphql_as(&self.admin, BRAND, json!({ "input": { "name": name } }))
            .await;
        created["data"]["createBrand"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"))
            .to_owned()
    }

    /// Creates a product; returns it (id, variants).
    async fn product(&self, input: Value) -> Value {
        let created = self
            .system
            .graphql_as(&self.admin, CREATE, json!({ "input": input }))
            .await;
        assert_eq!(created["errors"], Value::Null, "{created}");
        created["data"]["createProduct"].clone()
    }

    async fn archive_variant(&self, id: &str) {
        let archived = self
            .system
            .graphql_as(&self.admin, ARCHIVE_VARIANT, json!({ "id": id }))
            .await;
        assert_eq!(
            archived["data"]["updateProductVariant"]["status"], "ARCHIVED",
            "{archived}"
        );
    }

    async fn search(&self, filter: &Value) -> Value {
        let found = self.system.graphql(SEARCH, json!({ "f": filter })).await;
        assert_eq!(found["errors"], Value::Null, "{filter}: {found}");
        found["data"]["products"].clone()
    }

    async fn count(&self, filter: &Value) -> i64 {
        let found = self.system.graphql(COUNT, json!({ "f": filter })).await;
        found["data"]["products"]["totalCount"]
            .as_i64()
            .unwrap_or_else(|| panic!("{filter}: {found}"))
    }
}

/// `name: value` pairs as `attributes` input.
fn attributes(pairs: &[(&str, &str)]) -> Value {
    pairs
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect()
}

/// Variants `(sku, [(option, value)], price)`, stock 5 each, and the options they use.
/// A variant as the tests give it: SKU, option values, price.
type VariantSpec<'a> = (&'a str, &'a [(&'a str, &'a str)], i64);

fn variants(given: &[VariantSpec<'_>]) -> (Value, Value) {
    let mut options: Vec<(String, Vec<String>)> = Vec::new();
    let variants: Vec<Value> = given
        .iter()
        .map(|(sku, chosen, price)| {
            for (name, value) in *chosen {
                let at = match options.iter().position(|(n, _)| n == name) {
                    Some(at) => at,
                    None => {
                        options.push(((*name).to_owned(), Vec::new()));
                        options.len() - 1
                    }
                };
                if !options[at].1.iter().any(|v| v == value) {
                    options[at].1.push((*value).to_owned());
                }
            }
            let selected: Vec<Value> = chosen
                .iter()
                .map(|(name, value)| json!({ "name": name, "value": value }))
                .collect();
            json!({ "sku": sku, "options": selected, "price": price, "stock": 5 })
        })
        .collect();
    let options: Vec<Value> = options
        .into_iter()
        .map(|(name, values)| json!({ "name": name, "values": values }))
        .collect();
    (json!(options), json!(variants))
}

/// `[(name or value, count)]` of a facet list.
fn counts(list: &Value, key: &str) -> Vec<(String, i64)> {
    list.as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|entry| {
            let name = match key {
                "brand" => entry["brand"]["name"].as_str(),
                _ => entry[key].as_str(),
            };
            (name.unwrap().to_owned(), entry["count"].as_i64().unwrap())
        })
        .collect()
}

fn attribute_facet(facets: &Value, name: &str) -> Vec<(String, i64)> {
    facets["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|facet| facet["name"].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|facet| counts(&facet["values"], "value"))
        .unwrap_or_default()
}

fn owned(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn facets_count_each_selection_without_itself_over_attributes_options_and_variant_prices() {
    let system = System::start().await;
    let catalog = Catalog {
        admin: system.admin_token().await,
        system: &system,
    };
    let category = catalog.category("Facet Tees", None).await;
    let acme = catalog.brand("Acme Tees").await;
    let bolt = catalog.brand("Bolt Tees").await;
    let crest = catalog.brand("Crest Tees").await;
    let base = |name: &str, brand: Option<&str>, price: i64| {
        json!({ "name": name, "description": "A facet test product", "price": price,
            "stock": 5, "categoryId": category, "brandId": brand })
    };
    // Tee A: cotton; red M at 10.00 and blue L at 15.00.
    let mut input = base("Tee A", Some(&acme), 1000);
    input["attributes"] = attributes(&[("Material", "Cotton")]);
    let (options, given) = variants(&[
        ("FT-A-RM", &[("Color", "Red"), ("Size", "M")], 1000),
        ("FT-A-BL", &[("Color", "Blue"), ("Size", "L")], 1500),
    ]);
    input["options"] = options;
    input["variants"] = given;
    let tee_a = catalog.product(input).await;
    // Tee B: linen, red at 20.00.
    let mut input = base("Tee B", Some(&acme), 2000);
    input["attributes"] = attributes(&[("Material", "Linen")]);
    let (options, given) = variants(&[("FT-B-R", &[("Color", "Red")], 2000)]);
    input["options"] = options;
    input["variants"] = given;
    catalog.product(input).await;
    // Tee C: cotton, green at 30.00.
    let mut input = base("Tee C", Some(&bolt), 3000);
    input["attributes"] = attributes(&[("Material", "Cotton")]);
    let (options, given) = variants(&[("FT-C-G", &[("Color", "Green")], 3000)]);
    input["options"] = options;
    input["variants"] = given;
    catalog.product(input).await;
    // A hoodie whose colour is an attribute, not an option; its one variant at 40.00.
    let mut input = base("Hoodie", Some(&bolt), 4000);
    input["attributes"] = attributes(&[("Color", "blue")]);
    catalog.product(input).await;
    // A cap without attributes; socks without a brand, "cotton" in lower case.
    catalog.product(base("Cap", Some(&crest), 500)).await;
    let mut input = base("Socks", None, 300);
    input["attributes"] = attributes(&[("material", "cotton")]);
    catalog.product(input).await;

    let within = |extra: Value| {
        let mut filter = json!({ "categoryId": category });
        for (key, value) in extra.as_object().unwrap() {
            filter[key] = value.clone();
        }
        filter
    };

    // Everything: brands by count then name, attributes and options merged whatever their
    // case, the price range over every active variant.
    let all = catalog.search(&within(json!({}))).await;
    assert_eq!(all["totalCount"], 6, "{all}");
    let facets = &all["facets"];
    assert_eq!(
        counts(&facets["brands"], "brand"),
        owned(&[("Acme Tees", 2), ("Bolt Tees", 2), ("Crest Tees", 1)])
    );
    assert_eq!(
        attribute_facet(facets, "Color"),
        owned(&[("Blue", 2), ("Red", 2), ("Green", 1)]),
        "{facets}"
    );
    assert_eq!(
        attribute_facet(facets, "Material"),
        owned(&[("Cotton", 3), ("Linen", 1)]),
        "{facets}"
    );
    assert_eq!(
        attribute_facet(facets, "Size"),
        owned(&[("L", 1), ("M", 1)])
    );
    let names: Vec<&str> = facets["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{facets}");
    assert_eq!(
        names[2], "Size",
        "names by how many products have them: {facets}"
    );
    assert_eq!(
        facets["priceRange"],
        json!({ "min": { "amount": 300, "currency": "CNY" }, "max": { "amount": 4000 } })
    );

    // One brand chosen: the listing narrows, the other brands keep their counts, the other
    // facets follow the brand.
    let acmes = catalog.search(&within(json!({ "brandIds": [acme] }))).await;
    assert_eq!(acmes["totalCount"], 2);
    assert_eq!(
        counts(&acmes["facets"]["brands"], "brand"),
        owned(&[("Acme Tees", 2), ("Bolt Tees", 2), ("Crest Tees", 1)])
    );
    assert_eq!(
        attribute_facet(&acmes["facets"], "Color"),
        owned(&[("Red", 2), ("Blue", 1)])
    );
    assert_eq!(
        acmes["facets"]["priceRange"],
        json!({ "min": { "amount": 1000, "currency": "CNY" }, "max": { "amount": 2000 } })
    );
    let two = catalog
        .count(&within(json!({ "brandIds": [acme, crest] })))
        .await;
    assert_eq!(two, 3, "any of the brands");

    // Any value within a name, every name; each name's facet without its own selection.
    let colors = json!([{ "name": "Color", "values": ["Red", "Green"] }]);
    assert_eq!(
        catalog
            .count(&within(json!({ "attributes": colors })))
            .await,
        3
    );
    let both = within(json!({ "attributes": [
        { "name": "Color", "values": ["Red", "Green"] },
        { "name": "Material", "values": ["Cotton"] },
    ] }));
    let found = catalog.search(&both).await;
    assert_eq!(found["totalCount"], 2, "Tee A and Tee C: {found}");
    // Colours of the cotton products (Tee A, Tee C, the socks have none).
    assert_eq!(
        attribute_facet(&found["facets"], "Color"),
        owned(&[("Blue", 1), ("Green", 1), ("Red", 1)])
    );
    // Materials of the red or green products (Tee A, B, C).
    assert_eq!(
        attribute_facet(&found["facets"], "Material"),
        owned(&[("Cotton", 2), ("Linen", 1)])
    );
    assert_eq!(
        attribute_facet(&found["facets"], "Size"),
        owned(&[("L", 1), ("M", 1)])
    );
    assert_eq!(
        counts(&found["facets"]["brands"], "brand"),
        owned(&[("Acme Tees", 1), ("Bolt Tees", 1)])
    );
    // Whatever the case of names and values; an attribute counts like an option.
    let blue = within(json!({ "attributes": [{ "name": "COLOR", "values": ["bLuE"] }] }));
    assert_eq!(
        catalog.count(&blue).await,
        2,
        "Tee A's option, the hoodie's attribute"
    );
    // A name without values filters nothing.
    let none = within(json!({ "attributes": [{ "name": "Color", "values": [] }] }));
    assert_eq!(catalog.count(&none).await, 6);

    // Prices are the variants': Tee A (from 10.00) has a variant at 15.00, none at 12.00.
    let around = |min: i64, max: i64| within(json!({ "minPrice": min, "maxPrice": max }));
    assert_eq!(catalog.count(&around(1400, 1600)).await, 1);
    let gap = catalog.search(&around(1100, 1400)).await;
    assert_eq!(gap["totalCount"], 0, "{gap}");
    assert_eq!(gap["facets"]["brands"], json!([]), "{gap}");
    assert_eq!(
        gap["facets"]["priceRange"]["min"]["amount"], 300,
        "the price range ignores the price bounds: {gap}"
    );
    // An archived variant no longer matches by price or option.
    let blue_l = tee_a["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sku"] == "FT-A-BL")
        .unwrap_or_else(|| panic!("{tee_a}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    catalog.archive_variant(&blue_l).await;
    assert_eq!(catalog.count(&around(1400, 1600)).await, 0);
    assert_eq!(catalog.count(&blue).await, 1, "only the hoodie");
    let after = catalog.search(&within(json!({}))).await;
    assert_eq!(
        attribute_facet(&after["facets"], "Size"),
        owned(&[("M", 1)])
    );

    // Nothing matches (everything is in stock): no facet values, no price range.
    let nothing = catalog.search(&within(json!({ "inStock": false }))).await;
    assert_eq!(nothing["totalCount"], 0);
    assert_eq!(
        nothing["facets"],
        json!({ "brands": [], "attributes": [], "priceRange": null })
    );

    // Bad attribute filters name the entry.
    for (filter, field) in [
        (
            json!({ "attributes": [{ "name": " ", "values": ["x"] }] }),
            "filter.attributes[0].name",
        ),
        (
            json!({ "attributes": [{ "name": "Color", "values": ["Red", ""] }] }),
            "filter.attributes[0].values[1]",
        ),
    ] {
        let refused = system.graphql(COUNT, json!({ "f": filter })).await;
        assert_eq!(
            test_support::error_codes(&refused),
            ["BAD_USER_INPUT"],
            "{refused}"
        );
        assert_eq!(refused["errors"][0]["extensions"]["field"], field);
    }
    system.stop().await;
}

/// Facets cost nothing unless asked: from PostgreSQL (the search index off), each part of
/// them is one statement of its own; from the search index, neither the page nor its facets
/// cost a statement once its rows and brands are held in memory.
#[tokio::test(flavor = "multi_thread")]
async fn facets_are_counted_only_when_asked() {
    for (index, expected) in [(false, (1, 2, 4)), (true, (0, 0, 0))] {
        let reconcile = if index { 30 } else { 0 };
        let options = super::support::Options {
            search_index_reconcile: Some(std::time::Duration::from_secs(reconcile)),
            ..super::support::Options::default()
        };
        let system = System::start_with(options).await;
        if index {
            wait_for_the_search_index(&system).await;
        }
        facets_cost(&system, expected).await;
        system.stop().await;
    }
}

/// Waits until the catalog's `/ready` says its search index is current.
async fn wait_for_the_search_index(system: &System) {
    let ready = format!("{}/ready", system.subgraph_base("catalog"));
    for _ in 0..200 {
        let (_, body) = system.get(&ready).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        if body["searchIndex"]["status"] == "current" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the search index never became current");
}

/// The fewest catalog statements of a page alone, with the brand facet, with all facets.
async fn facets_cost(system: &System, expected: (u64, u64, u64)) {
    // The fewest catalog statements of ten runs: the catalog's background work (its
    // relay, sweeps) and the pool's new connections only ever add some.
    let statements = |query: &'static str| async move {
        let mut fewest = u64::MAX;
        for _ in 0..10 {
            system.catalog_statements.reset();
            let answer = system.graphql(query, json!({})).await;
            assert_eq!(answer["errors"], Value::Null, "{answer}");
            fewest = fewest.min(system.catalog_statements.get());
        }
        fewest
    };
    let plain = statements("{ products(first: 5) { totalCount } }").await;
    let brands =
        statements("{ products(first: 5) { totalCount facets { brands { count } } } }").await;
    let all = statements(
        "{ products(first: 5) { totalCount facets { brands { count } \
         attributes { name } priceRange { min { amount } } } } }",
    )
    .await;
    assert_eq!(
        (plain, brands, all),
        expected,
        "the page, then (from PostgreSQL) one statement per facet"
    );
}

/// A small deterministic random generator (xorshift64*), so that a failing filter can be
/// replayed: `FACETS_SEED=<seed>`.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// Up to `most` distinct items of `from`, at least `least`.
    fn some<'a, T>(&mut self, from: &'a [T], least: usize, most: usize) -> Vec<&'a T> {
        let n = least + self.below(most - least + 1);
        let mut indexes: Vec<usize> = (0..from.len()).collect();
        let mut chosen = Vec::new();
        while chosen.len() < n.min(from.len()) {
            let at = self.below(indexes.len());
            chosen.push(&from[indexes.remove(at)]);
        }
        chosen
    }
}

const WORDS: [&str; 3] = ["zephyr", "quokka", "marmot"];
const NAMES: [(&str, &[&str]); 4] = [
    ("Material", &["Cotton", "Linen", "Wool"]),
    ("Fit", &["Slim", "Loose"]),
    ("Color", &["Red", "Blue", "Green", "Black"]),
    ("Size", &["S", "M", "L"]),
];

/// For random filters (brands, attribute values, price bounds, category, search), every
/// facet count is what the listing counts with that value chosen instead of the filter's
/// own selection for it (0 for a value the facet leaves out), and the price range is the
/// cheapest and dearest active variant of what the filter matches without its price
/// bounds.
#[tokio::test(flavor = "multi_thread")]
async fn every_facet_count_is_the_listing_count_with_that_value_chosen() {
    let seed = std::env::var("FACETS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f00d_u64);
    eprintln!("FACETS_SEED={seed}");
    let mut random = Random(seed | 1);
    let system = System::start().await;
    let catalog = Catalog {
        admin: system.admin_token().await,
        system: &system,
    };
    let root = catalog.category("Facet Property", None).await;
    let children = [
        catalog.category("Facet Property A", Some(&root)).await,
        catalog.category("Facet Property B", Some(&root)).await,
    ];
    let mut brands = Vec::new();
    for n in 0..4 {
        brands.push(catalog.brand(&format!("Facet Brand {n}")).await);
    }
    let mut archive = Vec::new();
    for i in 0..40 {
        let word = WORDS[random.below(WORDS.len())];
        let category = match random.below(3) {
            0 => root.clone(),
            n => children[n - 1].clone(),
        };
        let brand = (!random.chance(20)).then(|| brands[random.below(brands.len())].clone());
        let mut specification = Vec::new();
        for (name, values) in &NAMES[..2] {
            if random.chance(70) {
                let value = values[random.below(values.len())];
                // Some in lower case: the same value whatever its case.
                let value = if random.chance(20) {
                    value.to_lowercase()
                } else {
                    value.to_owned()
                };
                specification.push(json!({ "name": name, "value": value }));
            }
        }
        let mut input = json!({ "name": format!("{word} item {i}"), "description": "Random",
            "price": 100 + 10 * random.below(500) as i64, "stock": random.below(3),
            "categoryId": category, "brandId": brand, "attributes": specification });
        if random.chance(75) {
            // 1 to 4 variants over some colours and sizes.
            let colors = random.some(NAMES[2].1, 1, 2);
            let sizes = random.some(NAMES[3].1, 1, 2);
            let mut given = Vec::new();
            for color in &colors {
                for size in &sizes {
                    let price = 100 + 10 * random.below(500) as i64;
                    given.push(json!({ "sku": format!("FP-{i}-{color}-{size}"),
                        "options": [{ "name": "Color", "value": color },
                                    { "name": "Size", "value": size }],
                        "price": price, "stock": random.below(3) }));
                }
            }
            input["options"] = json!([{ "name": "Color", "values": colors },
                                      { "name": "Size", "values": sizes }]);
            input["variants"] = json!(given);
        }
        let product = catalog.product(input).await;
        let variants = product["variants"].as_array().unwrap();
        if variants.len() > 1 && random.chance(30) {
            archive.push(variants[0]["id"].as_str().unwrap().to_owned());
        }
    }
    for id in &archive {
        catalog.archive_variant(id).await;
    }

    for round in 0..20 {
        let mut filter = json!({ "categoryId": if random.chance(70) { &root } else {
            &children[random.below(2)] } });
        if random.chance(40) {
            filter["brandIds"] = json!(random.some(&brands, 1, 2));
        }
        if random.chance(60) {
            let names = random.some(&NAMES, 1, 2);
            let chosen: Vec<Value> = names
                .iter()
                .map(|(name, values)| {
                    let values: Vec<String> = random
                        .some(values, 1, 2)
                        .into_iter()
                        .map(|v| {
                            if random.chance(20) {
                                v.to_uppercase()
                            } else {
                                (*v).to_owned()
                            }
                        })
                        .collect();
                    json!({ "name": name, "values": values })
                })
                .collect();
            filter["attributes"] = json!(chosen);
        }
        let low = 100 + 10 * random.below(300);
        if random.chance(40) {
            filter["minPrice"] = json!(low);
        }
        if random.chance(40) {
            filter["maxPrice"] = json!(low + 10 * random.below(300));
        }
        if random.chance(30) {
            filter["search"] = json!(WORDS[random.below(WORDS.len())]);
        }
        check_facets(&catalog, &brands, &filter)
            .await
            .unwrap_or_else(|problem| panic!("round {round}, {filter}: {problem}"));
    }
    system.stop().await;
}

/// What [`every_facet_count_is_the_listing_count_with_that_value_chosen`] checks of one
/// filter.
async fn check_facets(
    catalog: &Catalog<'_>,
    brands: &[String],
    filter: &Value,
) -> Result<(), String> {
    let found = catalog.search(filter).await;
    let facets = &found["facets"];
    let listed = found["edges"].as_array().unwrap().len() as i64;
    if found["totalCount"].as_i64() != Some(listed) {
        return Err(format!("totalCount against {listed} edges: {found}"));
    }

    // Brands: the filter with that one brand instead of its own.
    let shown: Vec<(String, i64)> = facets["brands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["brand"]["id"].as_str().unwrap().to_owned(),
                b["count"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut checks: Vec<(String, Value, i64)> = Vec::new();
    for brand in brands {
        let expected = shown.iter().find(|(id, _)| id == brand).map_or(0, |s| s.1);
        let mut with = filter.clone();
        with["brandIds"] = json!([brand]);
        checks.push((format!("brand {brand}"), with, expected));
    }
    // Attributes: the filter with that one value for its name instead of its own.
    for (name, values) in NAMES {
        let facet = attribute_facet(facets, name);
        for (value, _) in &facet {
            if !values.iter().any(|v| v.eq_ignore_ascii_case(value)) {
                return Err(format!("{name}: unexpected value {value}: {facets}"));
            }
        }
        for value in values {
            let expected = facet
                .iter()
                .find(|(v, _)| v.eq_ignore_ascii_case(value))
                .map_or(0, |s| s.1);
            let mut with = filter.clone();
            let mut chosen: Vec<Value> = filter["attributes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|a| !a["name"].as_str().unwrap().eq_ignore_ascii_case(name))
                .collect();
            chosen.push(json!({ "name": name, "values": [value] }));
            with["attributes"] = json!(chosen);
            checks.push((format!("{name} {value}"), with, expected));
        }
    }
    // The price range: without the filter's bounds, something costs exactly min and max,
    // nothing less or more.
    let mut unbounded = filter.clone();
    let object = unbounded.as_object_mut().unwrap();
    object.remove("minPrice");
    object.remove("maxPrice");
    let range = &facets["priceRange"];
    if range.is_null() {
        let mut any = unbounded.clone();
        any["minPrice"] = json!(0);
        checks.push(("no price range".into(), any, 0));
    } else {
        let (min, max) = (
            range["min"]["amount"].as_i64().unwrap(),
            range["max"]["amount"].as_i64().unwrap(),
        );
        let bounded = |low: i64, high: i64| {
            let mut with = unbounded.clone();
            with["minPrice"] = json!(low);
            with["maxPrice"] = json!(high);
            with
        };
        checks.push(("below min".into(), bounded(0, min - 1), 0));
        checks.push(("above max".into(), bounded(max + 1, 1_000_000), 0));
        checks.push(("at min".into(), bounded(min, min), -1));
        checks.push(("at max".into(), bounded(max, max), -1));
    }
    let counted = join_all(checks.iter().map(|(_, with, _)| catalog.count(with))).await;
    for ((what, with, expected), count) in checks.iter().zip(counted) {
        let ok = if *expected < 0 {
            count > 0
        } else {
            count == *expected
        };
        if !ok {
            return Err(format!(
                "{what}: the listing counts {count} for {with}, the facets said {expected} \
                 (-1: some): {facets}"
            ));
        }
    }
    Ok(())
}
