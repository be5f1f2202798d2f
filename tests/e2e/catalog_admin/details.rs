//! A product's gallery and specification attributes through the router: order kept, the main
//! picture first, replaced when given, bad entries named and refused without a change.

use serde_json::{Value, json};
use test_support::error_codes;

use super::support::System;

const DETAILS: &str = "query($id: ID!) { product(id: $id) { imageUrl images { url alt } \
    attributes { name value } } }";

#[tokio::test(flavor = "multi_thread")]
async fn products_keep_a_gallery_and_attributes_in_order_and_refuse_bad_ones() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let create =
        "mutation($input: CreateProductInput!) { createProduct(input: $input) { id imageUrl } }";
    let input = |extra: Value| {
        let mut input = json!({ "name": "Linen shirt", "description": "Cool", "price": 29900,
            "stock": 3 });
        for (key, value) in extra.as_object().unwrap() {
            input[key] = value.clone();
        }
        json!({ "input": input })
    };
    let created = system
        .graphql_as(
            &admin,
            create,
            input(json!({
                "images": [{ "url": "https://img.example/front.jpg", "alt": " Front " },
                           { "url": "https://img.example/back.jpg" }],
                "attributes": [{ "name": "Material", "value": "linen" },
                               { "name": "Origin", "value": "Portugal" }],
            })),
        )
        .await;
    let product = &created["data"]["createProduct"];
    // Without imageUrl, the gallery's first picture is the main one.
    assert_eq!(
        product["imageUrl"], "https://img.example/front.jpg",
        "{created}"
    );
    let id = product["id"].as_str().unwrap().to_owned();
    let read = system.graphql(DETAILS, json!({ "id": id })).await;
    assert_eq!(
        read["data"]["product"]["images"],
        json!([{ "url": "https://img.example/front.jpg", "alt": "Front" },
               { "url": "https://img.example/back.jpg", "alt": null }]),
        "{read}"
    );
    assert_eq!(
        read["data"]["product"]["attributes"],
        json!([{ "name": "Material", "value": "linen" }, { "name": "Origin", "value": "Portugal" }])
    );

    // An update replaces what it is given and keeps the rest; the main picture stays first.
    let update = "mutation($id: ID!, $input: UpdateProductInput!) { updateProduct(id: $id, input: $input) { id } }";
    let changed = system
        .graphql_as(
            &admin,
            update,
            json!({ "id": id, "input": { "images": [{ "url": "https://img.example/side.jpg" }] } }),
        )
        .await;
    assert!(
        changed["data"]["updateProduct"]["id"].is_string(),
        "{changed}"
    );
    let read = system.graphql(DETAILS, json!({ "id": id })).await;
    // A new gallery without imageUrl: its first picture is the main one now.
    assert_eq!(
        read["data"]["product"]["imageUrl"], "https://img.example/side.jpg",
        "{read}"
    );
    assert_eq!(
        read["data"]["product"]["images"],
        json!([{ "url": "https://img.example/side.jpg", "alt": null }])
    );
    assert_eq!(
        read["data"]["product"]["attributes"],
        json!([{ "name": "Material", "value": "linen" }, { "name": "Origin", "value": "Portugal" }]),
        "kept"
    );
    // Attributes alone are replaced, in the order given; the gallery stays.
    system
        .graphql_as(
            &admin,
            update,
            json!({ "id": id, "input": { "attributes": [{ "name": "Fit", "value": "regular" }] } }),
        )
        .await;
    let read = system.graphql(DETAILS, json!({ "id": id })).await;
    assert_eq!(
        read["data"]["product"]["attributes"],
        json!([{ "name": "Fit", "value": "regular" }])
    );
    assert_eq!(
        read["data"]["product"]["images"].as_array().unwrap().len(),
        1
    );

    // Bad entries are named and change nothing.
    let before = system.graphql(DETAILS, json!({ "id": id })).await;
    let cases = [
        (
            "input.images[1].url",
            json!({ "images": [{ "url": "https://ok" }, { "url": "javascript:x" }] }),
        ),
        (
            "input.attributes[1].name",
            json!({ "attributes": [{ "name": "Size", "value": "M" },
                                                            { "name": "size", "value": "L" }] }),
        ),
        (
            "input.attributes[0].value",
            json!({ "attributes": [{ "name": "Size", "value": " " }] }),
        ),
    ];
    for (field, changes) in cases {
        let refused = system
            .graphql_as(&admin, update, json!({ "id": id, "input": changes }))
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
    assert_eq!(system.graphql(DETAILS, json!({ "id": id })).await, before);
    let count = "{ products { totalCount } }";
    let products = system.graphql(count, json!({})).await;
    let too_many: Vec<Value> = (0..21)
        .map(|n| json!({ "url": format!("https://img.example/{n}.jpg") }))
        .collect();
    let refused = system
        .graphql_as(&admin, create, input(json!({ "images": too_many })))
        .await;
    assert_eq!(error_codes(&refused), ["BAD_USER_INPUT"], "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"]["field"], "input.images",
        "{refused}"
    );
    assert_eq!(
        system.graphql(count, json!({})).await,
        products,
        "nothing was created"
    );
    system.stop().await;
}
