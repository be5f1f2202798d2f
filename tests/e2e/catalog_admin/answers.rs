//! Product pages kept whole by the catalog and served again (`service_kit::answers`,
//! `subgraphs/catalog/src/graphql/answers.rs`): served again while the product is
//! unchanged, never after a write (price, stock, a new variant), never to a caller with
//! other permissions, and never when the answer read something without a version (a
//! category's children, which a new category changes).

use serde_json::{Value, json};
use test_support::{error_codes, sample_sum};

use super::support::{System, contract_operation as operation};

/// A product's own stock and price, as the page shows them.
const SHORT_PAGE: &str =
    "query($id: ID!) { product(id: $id) { id inStock variants { sku inStock price { amount } } } }";
const CHILDREN: &str = "query($id: ID!) { product(id: $id) { category { id children { name } } } }";

/// The catalog's kept answers served so far.
async fn hits(system: &System) -> f64 {
    let (status, text) = system
        .get(&format!("{}/metrics", system.subgraph_base("catalog")))
        .await;
    assert_eq!(status, 200, "{text}");
    sample_sum(&text, "answer_cache_total", &[r#"result="hit""#])
}

/// Asks `query` as `token` (anonymous when `None`) until an answer comes from the kept
/// ones, and returns that answer, which must equal the first.
async fn served_again(system: &System, token: Option<&str>, query: &str, id: &str) -> Value {
    let ask = || async {
        match token {
            Some(token) => system.graphql_as(token, query, json!({ "id": id })).await,
            None => system.graphql(query, json!({ "id": id })).await,
        }
    };
    let first = ask().await;
    let started = std::time::Instant::now();
    loop {
        let before = hits(system).await;
        let again = ask().await;
        assert_eq!(again, first, "an answer changed with nothing written");
        if hits(system).await > before {
            return again;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{query}: never served from the kept answers"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kept_product_pages_change_with_every_write_and_go_only_to_the_same_permissions() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let customer = system.demo_customer_token().await;
    let created = system
        .graphql_as(
            &admin,
            &operation("CreateProductWithVariants"),
            json!({ "input": { "name": "Kept page lamp", "description": "A lamp", "price": 1,
                "stock": 1, "options": [{ "name": "Color", "values": ["Red", "Blue"] }],
                "variants": [{ "sku": "KEPT-RED", "price": 5000, "stock": 2,
                               "options": [{ "name": "Color", "value": "Red" }] }] } }),
        )
        .await;
    let product = &created["data"]["createProduct"];
    let id = product["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let red = product["variants"][0]["id"].as_str().unwrap().to_owned();
    let page = served_again(&system, None, &operation("ProductPage"), &id).await;
    assert_eq!(page["errors"], Value::Null, "{page}");
    assert_eq!(
        page["data"]["product"]["variants"][0]["price"]["amount"],
        5000
    );
    let page = served_again(&system, Some(customer.as_str()), SHORT_PAGE, &id).await;
    assert_eq!(page["data"]["product"]["inStock"], true, "{page}");
    let write = |op: &'static str, variables: Value| {
        let (system, admin) = (&system, &admin);
        async move {
            let written = system.graphql_as(admin, &operation(op), variables).await;
            assert_eq!(written["errors"], Value::Null, "{written}");
        }
    };
    let read = |token: Option<&'static str>| {
        let (system, id, customer) = (&system, &id, &customer);
        async move {
            let variables = json!({ "id": id });
            match token {
                Some(_) => system.graphql_as(customer, SHORT_PAGE, variables).await,
                None => system.graphql(&operation("ProductPage"), variables).await,
            }
        }
    };

    // A price change is served at once, to anonymous callers and customers alike.
    write(
        "UpdateProductVariant",
        json!({ "id": red, "input": { "price": 4200 } }),
    )
    .await;
    for token in [None, Some("customer")] {
        let page = read(token).await;
        assert_eq!(
            page["data"]["product"]["variants"][0]["price"]["amount"], 4200,
            "{page}"
        );
    }

    // So is its stock running out, and a new variant.
    served_again(&system, None, &operation("ProductPage"), &id).await;
    served_again(&system, Some(customer.as_str()), SHORT_PAGE, &id).await;
    write(
        "AdjustVariantStock",
        json!({ "productId": id, "variantId": red, "delta": -2, "reason": "count" }),
    )
    .await;
    for token in [None, Some("customer")] {
        let page = read(token).await;
        assert_eq!(page["data"]["product"]["inStock"], false, "{page}");
    }
    served_again(&system, None, &operation("ProductPage"), &id).await;
    write(
        "AddProductVariant",
        json!({ "productId": id, "input": { "sku": "KEPT-BLUE", "price": 6100, "stock": 1,
            "options": [{ "name": "Color", "value": "Blue" }] } }),
    )
    .await;
    let page = read(None).await;
    assert_eq!(page["data"]["product"]["inStock"], true, "{page}");
    assert_eq!(
        page["data"]["product"]["variants"][1]["sku"], "KEPT-BLUE",
        "{page}"
    );

    // An answer kept for the exact stock's readers is not given to a customer (who may not
    // read it), nor to an anonymous caller.
    let stock = operation("AdminProductStock");
    let by_admin = served_again(&system, Some(admin.as_str()), &stock, &id).await;
    assert_eq!(by_admin["data"]["product"]["stock"], 1, "{by_admin}");
    let by_customer = system
        .graphql_as(&customer, &stock, json!({ "id": id }))
        .await;
    assert_eq!(error_codes(&by_customer), ["FORBIDDEN"], "{by_customer}");
    let anonymous = system.graphql(&stock, json!({ "id": id })).await;
    assert_eq!(
        anonymous["data"]["product"]["stock"],
        Value::Null,
        "{anonymous}"
    );
    assert!(!error_codes(&anonymous).is_empty(), "{anonymous}");

    // A change behind the catalog's back (SQL by hand, the version unchanged), followed by
    // what docs/api.md says to do then (delete the Redis copy, publish '*'): the memory
    // reads the row again at the same version, and a kept answer must not come back.
    served_again(&system, None, &operation("ProductPage"), &id).await;
    {
        use diesel::sql_types::{Text, Uuid as SqlUuid};
        use diesel_async::RunQueryDsl as _;
        let mut conn = system.sql("catalog").await;
        diesel::sql_query("UPDATE products SET name = $1 WHERE id = $2")
            .bind::<Text, _>("Lamp renamed by hand")
            .bind::<SqlUuid, _>(id.parse::<uuid::Uuid>().unwrap())
            .execute(&mut conn)
            .await
            .expect("renamed by hand");
        let redis = system.redis().await;
        let mut conn = redis.connection().await.expect("redis");
        let _: () = service_kit::redis::redis::pipe()
            .del(redis.key(&format!("catalog:product:{id}")))
            .publish(
                catalog_subgraph::cache::invalidation_channel(&redis),
                catalog_subgraph::cache::FORGET_ALL,
            )
            .query_async(&mut conn)
            .await
            .expect("DEL and PUBLISH");
    }
    let told = std::time::Instant::now();
    loop {
        // Another query reads the row into memory again first (at the same version), as
        // any request may.
        system
            .graphql(
                "query($id: ID!) { product(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        let page = read(None).await;
        if page["data"]["product"]["name"] == "Lamp renamed by hand" {
            break;
        }
        assert!(
            told.elapsed() < std::time::Duration::from_secs(5),
            "a kept answer outlived '*': {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A category's children are read without a version: such answers are not kept, and a
    // new category shows at once.
    let parent = super::brands::category(&system, &admin, "Kept pages' lamps", None).await;
    let created = system
        .graphql_as(
            &admin,
            "mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }",
            json!({ "input": { "name": "Desk lamp", "description": "A lamp", "price": 900,
                "stock": 3, "categoryId": parent } }),
        )
        .await;
    let desk_lamp = created["data"]["createProduct"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let read = system.graphql(CHILDREN, json!({ "id": desk_lamp })).await;
    assert_eq!(
        read["data"]["product"]["category"]["id"],
        parent.as_str(),
        "{read}"
    );
    let before = hits(&system).await;
    for _ in 0..3 {
        system.graphql(CHILDREN, json!({ "id": desk_lamp })).await;
    }
    assert_eq!(
        hits(&system).await,
        before,
        "an answer with children was kept"
    );
    super::brands::category(&system, &admin, "Kept pages' new child", Some(&parent)).await;
    let read = system.graphql(CHILDREN, json!({ "id": desk_lamp })).await;
    let children = read["data"]["product"]["category"]["children"].to_string();
    assert!(children.contains("Kept pages' new child"), "{read}");
    system.stop().await;
}
