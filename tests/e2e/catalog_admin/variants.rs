//! Variants (SKU) through the router, with the contract's own operations: a product with
//! options and variants, its page, one variant by id, adding and changing variants, stock
//! per variant, and what is refused (naming the field).

use serde_json::{Value, json};
use test_support::error_codes;

use super::support::{self, System};

use support::contract_operation as operation;

/// A T-shirt in Color × Size, four variants (Blue / L is not made).
fn shirt(sku_prefix: &str) -> Value {
    let variant = |color: &str, size: &str, price: i32, stock: i32| {
        json!({
            "sku": format!("{sku_prefix}-{color}-{size}"),
            "options": [{ "name": "Size", "value": size }, { "name": "Color", "value": color }],
            "price": price,
            "stock": stock,
        })
    };
    json!({ "input": {
        "name": "Variant tee",
        "description": "Cotton tee",
        "price": 1,
        "stock": 999,
        "attributes": [{ "name": "Material", "value": "Cotton" }],
        "options": [
            { "name": "Color", "values": ["Red", "Blue"] },
            { "name": "Size", "values": ["M", "L"] },
        ],
        "variants": [
            variant("Red", "M", 5900, 3),
            variant("Red", "L", 6900, 0),
            variant("Blue", "M", 4900, 2),
        ],
    }})
}

fn field(response: &Value) -> &str {
    response["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or_else(|| panic!("no field named: {response}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_product_with_variants_is_created_shown_and_sold_per_variant() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let created = system
        .graphql_as(
            &admin,
            &operation("CreateProductWithVariants"),
            shirt("TEE"),
        )
        .await;
    assert_eq!(created["errors"], Value::Null, "{created}");
    let product = &created["data"]["createProduct"];
    let id = product["id"].as_str().unwrap().to_owned();
    // The product sums its variants up: the lowest price, the total stock.
    assert_eq!(product["price"]["amount"], 4900, "{product}");
    assert_eq!(product["stock"], 5);
    assert_eq!(product["priceRange"]["min"]["amount"], 4900);
    assert_eq!(product["priceRange"]["max"]["amount"], 6900);
    assert_eq!(
        product["options"],
        json!([{ "name": "Color", "values": ["Red", "Blue"] },
               { "name": "Size", "values": ["M", "L"] }])
    );
    let variants = product["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 3);
    // Options in the product's order, whatever order they were given in.
    assert_eq!(variants[0]["name"], "Red / M", "{product}");
    assert_eq!(
        variants[0]["options"],
        json!([{ "name": "Color", "value": "Red" }, { "name": "Size", "value": "M" }])
    );
    assert_eq!(variants[1]["inStock"], false);
    assert_eq!(variants[2]["sku"], "TEE-Blue-M");

    // The storefront's page and one variant by id.
    let page = system
        .graphql(&operation("ProductPage"), json!({ "id": id }))
        .await;
    assert_eq!(page["errors"], Value::Null, "{page}");
    assert_eq!(
        page["data"]["product"]["variants"][2]["price"]["amount"],
        4900
    );
    assert_eq!(
        page["data"]["product"]["attributes"],
        json!([{ "name": "Material", "value": "Cotton" }])
    );
    let blue = variants[2]["id"].as_str().unwrap().to_owned();
    let one = system
        .graphql(&operation("VariantById"), json!({ "id": blue }))
        .await;
    assert_eq!(
        one["data"]["productVariant"]["product"]["id"],
        id.as_str(),
        "{one}"
    );
    assert_eq!(one["data"]["productVariant"]["name"], "Blue / M");

    // Adding Blue / L; the same values again are refused, naming the field.
    let add = operation("AddProductVariant");
    let blue_l = json!({ "productId": id, "input": {
        "sku": "TEE-Blue-L", "price": 3900, "stock": 4,
        "options": [{ "name": "Color", "value": "blue" }, { "name": "Size", "value": "L" }] } });
    let added = system.graphql_as(&admin, &add, blue_l.clone()).await;
    assert_eq!(added["errors"], Value::Null, "{added}");
    assert_eq!(added["data"]["addProductVariant"]["name"], "Blue / L");
    let blue_l_id = added["data"]["addProductVariant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut again = blue_l.clone();
    again["input"]["sku"] = json!("TEE-Blue-L-2");
    let twice = system.graphql_as(&admin, &add, again).await;
    assert_eq!(error_codes(&twice), ["BAD_USER_INPUT"], "{twice}");
    assert_eq!(field(&twice), "input.options");
    // A SKU is unique across the catalog, whatever its case.
    let mut taken = blue_l.clone();
    taken["input"]["sku"] = json!("tee-red-m");
    taken["input"]["options"] =
        json!([{ "name": "Color", "value": "Red" }, { "name": "Size", "value": "L" }]);
    let conflict = system.graphql_as(&admin, &add, taken).await;
    assert_eq!(error_codes(&conflict), ["CONFLICT"], "{conflict}");

    // The product's price follows its cheapest active variant.
    let read = "query($id: ID!) { product(id: $id) { price { amount } stock priceRange { min { amount } max { amount } } } }";
    let now = system.graphql_as(&admin, read, json!({ "id": id })).await;
    assert_eq!(now["data"]["product"]["price"]["amount"], 3900, "{now}");
    assert_eq!(now["data"]["product"]["stock"], 9);
    let update = operation("UpdateProductVariant");
    let archived = system
        .graphql_as(
            &admin,
            &update,
            json!({ "id": blue_l_id, "input": { "status": "ARCHIVED" } }),
        )
        .await;
    assert_eq!(
        archived["data"]["updateProductVariant"]["status"], "ARCHIVED",
        "{archived}"
    );
    let repriced = system
        .graphql_as(
            &admin,
            &update,
            json!({ "id": blue, "input": { "price": 4500 } }),
        )
        .await;
    assert_eq!(
        repriced["data"]["updateProductVariant"]["price"]["amount"], 4500,
        "{repriced}"
    );
    let now = system.graphql_as(&admin, read, json!({ "id": id })).await;
    assert_eq!(now["data"]["product"]["price"]["amount"], 4500, "{now}");
    assert_eq!(
        now["data"]["product"]["priceRange"]["max"]["amount"], 6900,
        "{now}"
    );
    // An archived variant is no longer shown by id to customers.
    let gone = system
        .graphql(&operation("VariantById"), json!({ "id": blue_l_id }))
        .await;
    assert_eq!(gone["data"]["productVariant"], Value::Null, "{gone}");

    // Stock per variant: the sold-out Red / L gets units, the product's total follows.
    let red_l = variants[1]["id"].as_str().unwrap().to_owned();
    let adjust = operation("AdjustVariantStock");
    let adjusted = system
        .graphql_as(
            &admin,
            &adjust,
            json!({ "productId": id, "variantId": red_l, "delta": 5, "reason": "delivery" }),
        )
        .await;
    assert_eq!(adjusted["errors"], Value::Null, "{adjusted}");
    assert_eq!(adjusted["data"]["adjustStock"]["stock"], 14);
    let red_l_now = adjusted["data"]["adjustStock"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == red_l.as_str())
        .cloned()
        .unwrap();
    assert_eq!(red_l_now["stock"], 5, "{adjusted}");
    let below_zero = system
        .graphql_as(
            &admin,
            &adjust,
            json!({ "productId": id, "variantId": red_l, "delta": -6, "reason": "loss" }),
        )
        .await;
    assert_eq!(error_codes(&below_zero), ["CONFLICT"], "{below_zero}");
}

#[tokio::test(flavor = "multi_thread")]
async fn variant_choices_and_definitions_that_cannot_be_right_are_refused_naming_the_field() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let create = operation("CreateProductWithVariants");
    let created = system.graphql_as(&admin, &create, shirt("REF")).await;
    let id = created["data"]["createProduct"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();

    // Two variants with the same values (in another case), or a value the option lacks.
    let mut twice = shirt("DUP");
    twice["input"]["variants"][1]["options"] =
        json!([{ "name": "color", "value": "red" }, { "name": "size", "value": "m" }]);
    let refused = system.graphql_as(&admin, &create, twice).await;
    assert_eq!(error_codes(&refused), ["BAD_USER_INPUT"], "{refused}");
    assert_eq!(field(&refused), "input.variants[1].options");
    let mut unknown_value = shirt("UNK");
    unknown_value["input"]["variants"][2]["options"][1]["value"] = json!("Green");
    let refused = system.graphql_as(&admin, &create, unknown_value).await;
    assert_eq!(field(&refused), "input.variants[2].options", "{refused}");
    let mut same_sku = shirt("SKU");
    same_sku["input"]["variants"][2]["sku"] = json!("sku-red-m");
    let refused = system.graphql_as(&admin, &create, same_sku).await;
    assert_eq!(field(&refused), "input.variants[2].sku", "{refused}");
    // A SKU another product has: CONFLICT, and nothing of the product is left behind.
    let before = system
        .graphql(
            "{ products(filter: { search: \"Variant tee\" }) { totalCount } }",
            json!({}),
        )
        .await;
    let taken = system.graphql_as(&admin, &create, shirt("REF")).await;
    assert_eq!(error_codes(&taken), ["CONFLICT"], "{taken}");
    let after = system
        .graphql(
            "{ products(filter: { search: \"Variant tee\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        before["data"], after["data"],
        "a refused product is not created"
    );
    // Options without variants.
    let mut no_variants = shirt("NOV");
    no_variants["input"]["variants"] = Value::Null;
    let refused = system.graphql_as(&admin, &create, no_variants).await;
    assert_eq!(field(&refused), "input.variants", "{refused}");

    // Stock of a product with several variants needs the variant; another product's is
    // BAD_USER_INPUT, an id that is no variant NOT_FOUND.
    let plain = system
        .graphql_as(
            &admin,
            &create,
            json!({ "input": { "name": "Plain mug", "description": "", "price": 900, "stock": 4 } }),
        )
        .await;
    let plain_product = &plain["data"]["createProduct"];
    assert_eq!(
        plain_product["variants"][0]["sku"]
            .as_str()
            .map(|s| s.starts_with("SKU-")),
        Some(true),
        "{plain}"
    );
    assert_eq!(plain_product["variants"][0]["stock"], 4);
    let plain_id = plain_product["id"].as_str().unwrap();
    let adjust = "mutation($p: ID!, $v: ID, $d: Int!) { adjustStock(productId: $p, variantId: $v, delta: $d, reason: \"count\") { stock } }";
    let missing = system
        .graphql_as(&admin, adjust, json!({ "p": id, "d": 1 }))
        .await;
    assert_eq!(error_codes(&missing), ["BAD_USER_INPUT"], "{missing}");
    assert_eq!(field(&missing), "variantId");
    let foreign = plain_product["variants"][0]["id"].as_str().unwrap();
    let wrong = system
        .graphql_as(&admin, adjust, json!({ "p": id, "v": foreign, "d": 1 }))
        .await;
    assert_eq!(error_codes(&wrong), ["BAD_USER_INPUT"], "{wrong}");
    let unknown = system
        .graphql_as(
            &admin,
            adjust,
            json!({ "p": id, "v": uuid::Uuid::now_v7().to_string(), "d": 1 }),
        )
        .await;
    assert_eq!(error_codes(&unknown), ["NOT_FOUND"], "{unknown}");
    // The only variant is implied.
    let implied = system
        .graphql_as(&admin, adjust, json!({ "p": plain_id, "d": 2 }))
        .await;
    assert_eq!(implied["data"]["adjustStock"]["stock"], 6, "{implied}");

    // Customers may not add variants.
    let customer = system.demo_customer_token().await;
    let denied = system
        .graphql_as(
            &customer,
            &operation("AddProductVariant"),
            json!({ "productId": id, "input": { "sku": "X-1", "price": 1, "stock": 1,
                    "options": [{ "name": "Color", "value": "Blue" }, { "name": "Size", "value": "L" }] } }),
        )
        .await;
    assert_eq!(error_codes(&denied), ["FORBIDDEN"], "{denied}");
}
