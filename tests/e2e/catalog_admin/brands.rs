//! Brands through the router: who may create them, what a brand must be, one brand per name
//! (also when two administrators race), and listing by category subtree.

use futures::future::join_all;
use serde_json::{Value, json};
use service_kit::demo::{demo_id, slug};
use test_support::error_codes;

use super::support::System;

const CREATE_BRAND: &str =
    "mutation($input: BrandInput!) { createBrand(input: $input) { id name logoUrl } }";
const BRANDS: &str = "query($c: ID) { brands(categoryId: $c) { id name logoUrl } }";
const CATEGORY: &str = "mutation($input: CategoryInput!) { createCategory(input: $input) { id } }";

fn names(response: &Value) -> Vec<String> {
    response["data"]["brands"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|brand| brand["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn brands(system: &System, category: Option<&str>) -> Vec<String> {
    names(&system.graphql(BRANDS, json!({ "c": category })).await)
}

/// A new category (by a catalog admin's token), its id.
pub(super) async fn category(
    system: &System,
    admin: &str,
    name: &str,
    parent: Option<&str>,
) -> String {
    let created = system
        .graphql_as(
            admin,
            CATEGORY,
            json!({ "input": { "name": name, "parentId": parent } }),
        )
        .await;
    created["data"]["createCategory"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn brands_are_created_by_catalog_admins_and_listed_by_category_subtree() {
    let system = System::start().await;
    // Anyone may list them: the demo brands, by name.
    let demo = brands(&system, None).await;
    assert!(demo.contains(&"Apple".to_owned()), "{demo:?}");
    let mut sorted = demo.clone();
    sorted.sort_by_key(|name| name.to_lowercase());
    assert_eq!(demo, sorted, "listed by name");
    let phones = demo_id("category", &slug("Phones 手机")).to_string();
    let phone_brands = brands(&system, Some(&phones)).await;
    assert!(
        phone_brands.contains(&"Xiaomi 小米".to_owned()),
        "{phone_brands:?}"
    );
    assert!(
        !phone_brands.contains(&"Sony".to_owned()),
        "{phone_brands:?}"
    );

    // Only holders of catalog:brand:write create them.
    let input = json!({ "input": { "name": "Anker" } });
    let anonymous = system.graphql(CREATE_BRAND, input.clone()).await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"], "{anonymous}");
    let customer = system.demo_customer_token().await;
    let denied = system.graphql_as(&customer, CREATE_BRAND, input).await;
    assert_eq!(error_codes(&denied), ["FORBIDDEN"], "{denied}");

    // A brand of a child category shows under its parent too; one of the parent does not
    // show under the child.
    let admin = system.admin_token().await;
    let parent = category(&system, &admin, "Outdoor", None).await;
    let child = category(&system, &admin, "Tents", Some(&parent)).await;
    let tents = system
        .graphql_as(
            &admin,
            CREATE_BRAND,
            json!({ "input": { "name": "  Naturehike ", "logoUrl": "https://example.com/n.png",
                "categoryIds": [child, child] } }),
        )
        .await;
    assert_eq!(
        tents["data"]["createBrand"]["name"], "Naturehike",
        "{tents}"
    );
    assert_eq!(
        tents["data"]["createBrand"]["logoUrl"],
        "https://example.com/n.png"
    );
    let outdoor = system
        .graphql_as(
            &admin,
            CREATE_BRAND,
            json!({ "input": { "name": "Black Diamond", "categoryIds": [parent] } }),
        )
        .await;
    assert!(
        outdoor["data"]["createBrand"]["id"].is_string(),
        "{outdoor}"
    );
    assert_eq!(
        brands(&system, Some(&parent)).await,
        ["Black Diamond", "Naturehike"]
    );
    assert_eq!(brands(&system, Some(&child)).await, ["Naturehike"]);
    let unknown = demo_id("category", "no such category").to_string();
    for category in [unknown.as_str(), "not-an-id"] {
        let refused = system.graphql(BRANDS, json!({ "c": category })).await;
        assert_eq!(error_codes(&refused), ["BAD_USER_INPUT"], "{refused}");
        assert_eq!(refused["errors"][0]["extensions"]["field"], "categoryId");
    }

    // Bad input names its field and creates nothing.
    let before = brands(&system, None).await;
    let cases = [
        ("input.name", json!({ "name": "  " })),
        ("input.name", json!({ "name": "n".repeat(101) })),
        (
            "input.logoUrl",
            json!({ "name": "Logo", "logoUrl": "javascript:alert(1)" }),
        ),
        (
            "input.categoryIds",
            json!({ "name": "Lost", "categoryIds": ["not-an-id"] }),
        ),
        (
            "input.categoryIds",
            json!({ "name": "Lost", "categoryIds": [unknown] }),
        ),
    ];
    for (field, input) in cases {
        let refused = system
            .graphql_as(&admin, CREATE_BRAND, json!({ "input": input }))
            .await;
        assert_eq!(
            error_codes(&refused),
            ["BAD_USER_INPUT"],
            "{field}: {refused}"
        );
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], field,
            "{refused}"
        );
    }
    assert_eq!(brands(&system, None).await, before, "nothing was created");

    // One brand per name, whatever its case, also when eight administrators race for it.
    let taken = system
        .graphql_as(
            &admin,
            CREATE_BRAND,
            json!({ "input": { "name": "apple" } }),
        )
        .await;
    assert_eq!(error_codes(&taken), ["CONFLICT"], "{taken}");
    let racing = join_all((0..8).map(|n| {
        let name = if n % 2 == 0 { "Decathlon" } else { "DECATHLON" };
        system.graphql_as(&admin, CREATE_BRAND, json!({ "input": { "name": name } }))
    }))
    .await;
    let created = racing
        .iter()
        .filter(|r| r["data"]["createBrand"]["id"].is_string())
        .count();
    assert_eq!(created, 1, "{racing:?}");
    assert!(
        racing
            .iter()
            .filter(|r| r["data"]["createBrand"].is_null())
            .all(|r| error_codes(r) == ["CONFLICT"]),
        "{racing:?}"
    );
    let all = brands(&system, None).await;
    assert_eq!(
        all.iter()
            .filter(|n| n.eq_ignore_ascii_case("decathlon"))
            .count(),
        1,
        "{all:?}"
    );
    system.stop().await;
}

const LIST: &str = "query($f: ProductFilter) { products(first: 100, filter: $f) { totalCount \
    edges { node { name brand { id name } } } } }";

#[tokio::test(flavor = "multi_thread")]
async fn products_carry_their_brand_and_the_listing_filters_by_brands() {
    let system = System::start().await;
    let listed = |filter: Value| system.graphql(LIST, json!({ "f": filter }));
    let total = |response: &Value| {
        response["data"]["products"]["totalCount"]
            .as_i64()
            .unwrap_or_else(|| panic!("{response}"))
    };
    // The demo's Apple products: only they, each naming its brand.
    let apple = demo_id("brand", &slug("Apple")).to_string();
    let sony = demo_id("brand", &slug("Sony")).to_string();
    let apples = listed(json!({ "brandIds": [apple] })).await;
    assert!(total(&apples) > 0, "{apples}");
    for edge in apples["data"]["products"]["edges"].as_array().unwrap() {
        assert_eq!(edge["node"]["brand"]["name"], "Apple", "{edge}");
    }
    let sonys = total(&listed(json!({ "brandIds": [sony] })).await);
    let both = total(&listed(json!({ "brandIds": [apple, sony] })).await);
    assert_eq!(both, total(&apples) + sonys, "any of the brands");
    let everything = total(&listed(json!({})).await);
    assert_eq!(total(&listed(json!({ "brandIds": [] })).await), everything);
    let bad = listed(json!({ "brandIds": ["not-an-id"] })).await;
    assert_eq!(error_codes(&bad), ["BAD_USER_INPUT"], "{bad}");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "filter.brandIds");

    // A product is created with a brand and moved to another; the product read (through the
    // cache) shows the change at once.
    let admin = system.admin_token().await;
    let brand =
        |name: &str| system.graphql_as(&admin, CREATE_BRAND, json!({ "input": { "name": name } }));
    let first = brand("Lamy").await["data"]["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = brand("Pelikan").await["data"]["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let create = "mutation($input: CreateProductInput!) { createProduct(input: $input) { id brand { name } } }";
    let input = |brand: &str| {
        json!({ "input": { "name": "Fountain pen", "description": "Writes", "price": 19900,
            "stock": 5, "brandId": brand } })
    };
    let unknown = demo_id("brand", "no such brand").to_string();
    let refused = system.graphql_as(&admin, create, input(&unknown)).await;
    assert_eq!(error_codes(&refused), ["BAD_USER_INPUT"], "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "input.brandId");
    assert_eq!(
        total(&listed(json!({})).await),
        everything,
        "nothing was created"
    );
    let created = system.graphql_as(&admin, create, input(&first)).await;
    assert_eq!(
        created["data"]["createProduct"]["brand"]["name"], "Lamy",
        "{created}"
    );
    let id = created["data"]["createProduct"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = "query($id: ID!) { product(id: $id) { brand { name } } }";
    let before = system.graphql(read, json!({ "id": id })).await;
    assert_eq!(
        before["data"]["product"]["brand"]["name"], "Lamy",
        "{before}"
    );
    let moved = system
        .graphql_as(
            &admin,
            "mutation($id: ID!, $b: ID!) { updateProduct(id: $id, input: { brandId: $b }) { brand { name } } }",
            json!({ "id": id, "b": second }),
        )
        .await;
    assert_eq!(
        moved["data"]["updateProduct"]["brand"]["name"], "Pelikan",
        "{moved}"
    );
    let after = system.graphql(read, json!({ "id": id })).await;
    assert_eq!(
        after["data"]["product"]["brand"]["name"], "Pelikan",
        "{after}"
    );
    assert_eq!(
        total(&listed(json!({ "brandIds": [second] })).await),
        1,
        "the listing follows"
    );
    assert_eq!(total(&listed(json!({ "brandIds": [first] })).await), 0);
    system.stop().await;
}
