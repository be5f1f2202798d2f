//! Catalog schema tests on a real, freshly migrated and seeded database.

use std::collections::HashSet;

use async_graphql::{Request, Variables};
use catalog_subgraph::graphql::loaders::add_loaders;
use catalog_subgraph::seed::{demo_products, seed_demo_data};
use catalog_subgraph::{CatalogSchema, DATABASE, schema};
use serde_json::{Value, json};
use test_support::TestStores;

async fn seeded() -> (TestStores, CatalogSchema) {
    let test = TestStores::create(&DATABASE).await.expect("test database");
    seed_demo_data(&test.stores.db).await.expect("seed");
    let schema = schema().data(test.stores.db.clone()).finish();
    (test, schema)
}

async fn execute(
    test: &TestStores,
    schema: &CatalogSchema,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = Request::new(query).variables(Variables::from_json(variables));
    add_loaders(&test.stores.db, &mut request.data);
    let response = schema.execute(request).await;
    serde_json::to_value(&response).unwrap()
}

fn error_codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn resolving_many_product_entities_costs_one_sql_statement() {
    let (test, schema) = seeded().await;
    let products = demo_products();
    let representations: Vec<Value> = products
        .iter()
        .take(50)
        .map(|p| json!({"__typename": "Product", "id": p.id.to_string()}))
        .collect();
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id name price { amount } } } }";

    test.statements.reset();
    let response = execute(&test, &schema, query, json!({ "r": representations })).await;

    assert_eq!(response["errors"], Value::Null, "{response}");
    let entities = response["data"]["_entities"].as_array().unwrap();
    assert_eq!(entities.len(), 50);
    for (entity, product) in entities.iter().zip(&products) {
        assert_eq!(entity["id"], product.id.to_string());
        assert_eq!(entity["name"], product.name);
    }
    assert_eq!(
        test.statements.get(),
        1,
        "50 entities must be loaded with one query"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_entities_resolve_to_null_in_place() {
    let (test, schema) = seeded().await;
    let known = demo_products()[0].id.to_string();
    let response = execute(
        &test,
        &schema,
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id } } }",
        json!({ "r": [
            {"__typename": "Product", "id": "00000000-0000-0000-0000-000000000000"},
            {"__typename": "Product", "id": known},
            {"__typename": "Product", "id": "not-a-uuid"},
        ]}),
    )
    .await;
    assert_eq!(
        response["data"]["_entities"],
        json!([null, {"id": known}, null]),
        "{response}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_with_first_7_visits_every_visible_product_once_newest_first() {
    let (test, schema) = seeded().await;
    let query = "query($after: String) { products(first: 7, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id createdAt } } } }";
    let mut after = Value::Null;
    let mut seen = Vec::new();
    loop {
        let response = execute(&test, &schema, query, json!({ "after": after })).await;
        assert_eq!(response["errors"], Value::Null, "{response}");
        let page = &response["data"]["products"];
        let edges = page["edges"].as_array().unwrap();
        assert!(edges.len() <= 7);
        seen.extend(edges.iter().map(|e| {
            (
                e["node"]["createdAt"].as_str().unwrap().to_owned(),
                e["node"]["id"].clone(),
            )
        }));
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            assert_eq!(page["totalCount"].as_u64().unwrap() as usize, seen.len());
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let visible = demo_products()
        .into_iter()
        .filter(|p| p.status == "ACTIVE")
        .count();
    assert_eq!(seen.len(), visible, "every active product, and only those");
    let unique: HashSet<_> = seen.iter().map(|(_, id)| id.to_string()).collect();
    assert_eq!(unique.len(), seen.len(), "no product twice");
    assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "newest first");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_paging_arguments_are_bad_user_input() {
    let (test, schema) = seeded().await;
    for (first, after) in [
        (json!(-1), Value::Null),
        (json!(1000), Value::Null),
        (json!(5), json!("garbage-cursor")),
    ] {
        let response = execute(
            &test,
            &schema,
            "query($first: Int, $after: String) { products(first: $first, after: $after) { totalCount } }",
            json!({ "first": first, "after": after }),
        )
        .await;
        assert_eq!(
            error_codes(&response),
            ["BAD_USER_INPUT"],
            "first={first} after={after}: {response}"
        );
        assert_eq!(response["data"], Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn products_by_ids_keeps_order_hides_inactive_and_caps_at_100() {
    let (test, schema) = seeded().await;
    let products = demo_products();
    let active: Vec<_> = products
        .iter()
        .filter(|p| p.status == "ACTIVE")
        .take(2)
        .collect();
    let hidden = products.iter().find(|p| p.status != "ACTIVE").unwrap();
    let ids = json!([
        active[1].id.to_string(),
        "nope",
        hidden.id.to_string(),
        active[0].id.to_string()
    ]);
    let query = "query($ids: [ID!]!) { productsByIds(ids: $ids) { id } }";
    let response = execute(&test, &schema, query, json!({ "ids": ids })).await;
    assert_eq!(
        response["data"]["productsByIds"],
        json!([{"id": active[1].id.to_string()}, null, null, {"id": active[0].id.to_string()}]),
        "{response}"
    );

    let too_many: Vec<String> = products
        .iter()
        .take(101)
        .map(|p| p.id.to_string())
        .collect();
    let response = execute(&test, &schema, query, json!({ "ids": too_many })).await;
    assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{response}");
}

#[tokio::test(flavor = "multi_thread")]
async fn seeding_twice_changes_nothing() {
    let (test, schema) = seeded().await;
    seed_demo_data(&test.stores.db).await.expect("second seed");
    let response = execute(
        &test,
        &schema,
        "{ products(first: 1) { totalCount } categories { id children { id } } }",
        json!({}),
    )
    .await;
    let visible = demo_products()
        .into_iter()
        .filter(|p| p.status == "ACTIVE")
        .count();
    assert_eq!(
        response["data"]["products"]["totalCount"],
        json!(visible),
        "{response}"
    );
    assert_eq!(response["data"]["categories"].as_array().unwrap().len(), 6);
}
