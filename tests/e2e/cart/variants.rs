//! Variants (SKU) in the cart through the router: each variant of a product is a line of its
//! own, priced and checked by the variant; `productId` alone means the product's only
//! variant; the contract's variant operations.

use serde_json::{Value, json};
use test_support::error_codes;

use super::support::{self, System};

const CREATE: &str = "mutation($input: CreateProductInput!) { createProduct(input: $input) { id variants { id sku } } }";
const CART: &str = "{ cart { totalQuantity subtotal { amount } items { quantity available \
    lineTotal { amount } product { id } variant { id sku name } } } }";
const ADD: &str = "mutation($p: ID!, $q: Int!, $v: ID) { addToCart(productId: $p, quantity: $q, variantId: $v) { totalQuantity } }";
const SET: &str = "mutation($p: ID!, $q: Int!, $v: ID) { updateCartItem(productId: $p, quantity: $q, variantId: $v) { totalQuantity } }";
const REMOVE: &str = "mutation($p: ID!, $v: ID) { removeFromCart(productId: $p, variantId: $v) { totalQuantity items { variant { id } } } }";

/// A product with a Color option and two variants, as the catalog created it.
struct Shirt {
    id: String,
    red: String,
    blue: String,
}

/// Creates a shirt in Red (`sku`-RED, ¥10.00) and Blue (`sku`-BLUE, ¥15.00), 5 of each.
async fn create_shirt(system: &System, admin: &str, sku: &str) -> Shirt {
    let created = system
        .graphql_as(
            admin,
            CREATE,
            json!({ "input": {
                "name": format!("Shirt {sku}"), "description": "Cotton", "price": 1000, "stock": 0,
                "options": [{ "name": "Color", "values": ["Red", "Blue"] }],
                "variants": [
                    { "sku": format!("{sku}-RED"), "options": [{ "name": "Color", "value": "Red" }],
                      "price": 1000, "stock": 5 },
                    { "sku": format!("{sku}-BLUE"), "options": [{ "name": "Color", "value": "Blue" }],
                      "price": 1500, "stock": 5 },
                ],
            } }),
        )
        .await;
    assert_eq!(created["errors"], Value::Null, "{created}");
    let product = &created["data"]["createProduct"];
    let variant = |sku: String| {
        product["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["sku"] == sku.as_str())
            .unwrap_or_else(|| panic!("no variant {sku}: {created}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    Shirt {
        id: product["id"].as_str().unwrap().to_owned(),
        red: variant(format!("{sku}-RED")),
        blue: variant(format!("{sku}-BLUE")),
    }
}

/// Creates a product without options: it gets one variant. (product id, variant id, sku).
async fn create_mug(system: &System, admin: &str) -> (String, String, String) {
    let created = system
        .graphql_as(
            admin,
            CREATE,
            json!({ "input": { "name": "Mug", "description": "Ceramic", "price": 800, "stock": 9 } }),
        )
        .await;
    assert_eq!(created["errors"], Value::Null, "{created}");
    let product = &created["data"]["createProduct"];
    let variants = product["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 1, "{created}");
    (
        product["id"].as_str().unwrap().to_owned(),
        variants[0]["id"].as_str().unwrap().to_owned(),
        variants[0]["sku"].as_str().unwrap().to_owned(),
    )
}

/// The `field` of a `BAD_USER_INPUT` answer.
fn bad_field(answer: &Value) -> &Value {
    assert_eq!(error_codes(answer), ["BAD_USER_INPUT"], "{answer}");
    &answer["errors"][0]["extensions"]["field"]
}

#[tokio::test(flavor = "multi_thread")]
async fn two_variants_of_one_product_are_two_lines_priced_by_their_variant() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let shirt = create_shirt(&system, &admin, "TEE1").await;
    let token = system.register("colors@example.com").await;

    for (variant, quantity) in [(&shirt.red, 2), (&shirt.blue, 1), (&shirt.red, 1)] {
        let added = system
            .graphql_as(
                &token,
                ADD,
                json!({ "p": shirt.id, "q": quantity, "v": variant }),
            )
            .await;
        assert_eq!(added["errors"], Value::Null, "{added}");
    }
    let cart = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(cart["errors"], Value::Null, "{cart}");
    let cart = &cart["data"]["cart"];
    assert_eq!(cart["totalQuantity"], 4, "{cart}");
    assert_eq!(cart["subtotal"]["amount"], 3 * 1000 + 1500, "{cart}");
    assert_eq!(
        cart["items"],
        json!([
            { "quantity": 3, "available": true, "lineTotal": { "amount": 3000 },
              "product": { "id": shirt.id },
              "variant": { "id": shirt.red, "sku": "TEE1-RED", "name": "Red" } },
            { "quantity": 1, "available": true, "lineTotal": { "amount": 1500 },
              "product": { "id": shirt.id },
              "variant": { "id": shirt.blue, "sku": "TEE1-BLUE", "name": "Blue" } },
        ]),
        "oldest line first"
    );

    // A variant's own price and status show on its line only.
    let change = "mutation($id: ID!, $input: UpdateProductVariantInput!) { updateProductVariant(id: $id, input: $input) { id } }";
    let repriced = system
        .graphql_as(
            &admin,
            change,
            json!({ "id": shirt.blue, "input": { "price": 2000 } }),
        )
        .await;
    assert_eq!(repriced["errors"], Value::Null, "{repriced}");
    let archived = system
        .graphql_as(
            &admin,
            change,
            json!({ "id": shirt.red, "input": { "status": "ARCHIVED" } }),
        )
        .await;
    assert_eq!(archived["errors"], Value::Null, "{archived}");
    let cart = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(cart["errors"], Value::Null, "{cart}");
    let items = &cart["data"]["cart"]["items"];
    assert_eq!(items[0]["available"], false, "archived variant: {cart}");
    assert_eq!(items[1]["available"], true, "{cart}");
    assert_eq!(items[1]["lineTotal"]["amount"], 2000, "{cart}");
    assert_eq!(
        cart["data"]["cart"]["subtotal"]["amount"], 2000,
        "only what can be bought: {cart}"
    );
    // An archived variant of a product on sale cannot be added again.
    let again = system
        .graphql_as(
            &token,
            ADD,
            json!({ "p": shirt.id, "q": 1, "v": shirt.red }),
        )
        .await;
    assert_eq!(error_codes(&again), ["CONFLICT"], "{again}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_variant_must_be_named_for_a_product_with_several_and_belong_to_it() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let shirt = create_shirt(&system, &admin, "TEE2").await;
    let other = create_shirt(&system, &admin, "TEE3").await;
    let (mug, mug_variant, mug_sku) = create_mug(&system, &admin).await;
    let token = system.register("picky@example.com").await;

    let unnamed = system
        .graphql_as(&token, ADD, json!({ "p": shirt.id, "q": 1 }))
        .await;
    assert_eq!(bad_field(&unnamed), "variantId", "{unnamed}");
    let unnamed = system
        .graphql_as(&token, SET, json!({ "p": shirt.id, "q": 2 }))
        .await;
    assert_eq!(bad_field(&unnamed), "variantId", "{unnamed}");
    let foreign = system
        .graphql_as(
            &token,
            ADD,
            json!({ "p": shirt.id, "q": 1, "v": other.red }),
        )
        .await;
    assert_eq!(bad_field(&foreign), "variantId", "{foreign}");
    let foreign = system
        .graphql_as(&token, ADD, json!({ "p": mug, "q": 1, "v": shirt.red }))
        .await;
    assert_eq!(bad_field(&foreign), "variantId", "{foreign}");
    let unknown = system
        .graphql_as(
            &token,
            ADD,
            json!({ "p": shirt.id, "q": 1, "v": uuid::Uuid::new_v4().to_string() }),
        )
        .await;
    assert_eq!(error_codes(&unknown), ["NOT_FOUND"], "{unknown}");
    let malformed = system
        .graphql_as(&token, ADD, json!({ "p": shirt.id, "q": 1, "v": "red" }))
        .await;
    assert_eq!(bad_field(&malformed), "variantId", "{malformed}");
    let empty = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(
        empty["data"]["cart"]["totalQuantity"], 0,
        "nothing refused was added: {empty}"
    );

    // A product with one variant needs no variantId; naming it is the same line.
    system
        .graphql_as(&token, ADD, json!({ "p": mug, "q": 1 }))
        .await;
    let named = system
        .graphql_as(&token, ADD, json!({ "p": mug, "q": 2, "v": mug_variant }))
        .await;
    assert_eq!(named["errors"], Value::Null, "{named}");
    let cart = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(
        cart["data"]["cart"]["items"],
        json!([{ "quantity": 3, "available": true, "lineTotal": { "amount": 2400 },
                 "product": { "id": mug },
                 "variant": { "id": mug_variant, "sku": mug_sku, "name": "Mug" } }]),
        "{cart}"
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn setting_and_removing_one_variant_leaves_its_sibling() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let shirt = create_shirt(&system, &admin, "TEE4").await;
    let token = system.register("sibling@example.com").await;
    for variant in [&shirt.red, &shirt.blue] {
        system
            .graphql_as(&token, ADD, json!({ "p": shirt.id, "q": 1, "v": variant }))
            .await;
    }

    let set = system
        .graphql_as(
            &token,
            SET,
            json!({ "p": shirt.id, "q": 4, "v": shirt.blue }),
        )
        .await;
    assert_eq!(set["data"]["updateCartItem"]["totalQuantity"], 5, "{set}");
    // Without variantId, two lines of the product are ambiguous: nothing is removed.
    for ambiguous in [
        system
            .graphql_as(&token, REMOVE, json!({ "p": shirt.id }))
            .await,
        system
            .graphql_as(&token, SET, json!({ "p": shirt.id, "q": 0 }))
            .await,
    ] {
        assert_eq!(bad_field(&ambiguous), "variantId", "{ambiguous}");
    }
    // A variant named with another product's id is refused, not removed.
    let (mug, _, _) = create_mug(&system, &admin).await;
    let mismatched = system
        .graphql_as(&token, REMOVE, json!({ "p": mug, "v": shirt.red }))
        .await;
    assert_eq!(bad_field(&mismatched), "variantId", "{mismatched}");

    let removed = system
        .graphql_as(&token, REMOVE, json!({ "p": shirt.id, "v": shirt.red }))
        .await;
    assert_eq!(
        removed["data"]["removeFromCart"],
        json!({ "totalQuantity": 4, "items": [{ "variant": { "id": shirt.blue } }] }),
        "{removed}"
    );
    // One line of the product is left: the product alone names it, to set and to remove.
    let set = system
        .graphql_as(&token, SET, json!({ "p": shirt.id, "q": 2 }))
        .await;
    assert_eq!(set["data"]["updateCartItem"]["totalQuantity"], 2, "{set}");
    let removed = system
        .graphql_as(&token, REMOVE, json!({ "p": shirt.id }))
        .await;
    assert_eq!(
        removed["data"]["removeFromCart"],
        json!({ "totalQuantity": 0, "items": [] }),
        "{removed}"
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_contract_s_variant_operations_add_set_and_remove_a_variant() {
    let operation = support::contract_operation;
    let system = System::start().await;
    let admin = system.admin_token().await;
    let shirt = create_shirt(&system, &admin, "TEE5").await;
    let token = system.register("contract@example.com").await;

    let variables = |variant: &str, quantity: Option<i32>| {
        let mut variables = json!({ "productId": shirt.id, "variantId": variant });
        if let Some(quantity) = quantity {
            variables["quantity"] = json!(quantity);
        }
        variables
    };
    let added = system
        .graphql_as(
            &token,
            &operation("AddVariantToCart"),
            variables(&shirt.red, Some(2)),
        )
        .await;
    assert_eq!(added["errors"], Value::Null, "{added}");
    let added = system
        .graphql_as(
            &token,
            &operation("AddVariantToCart"),
            variables(&shirt.blue, Some(1)),
        )
        .await;
    assert_eq!(added["errors"], Value::Null, "{added}");
    let cart = &added["data"]["addToCart"];
    assert_eq!(cart["totalQuantity"], 3, "{added}");
    assert_eq!(cart["subtotal"]["amount"], 2 * 1000 + 1500, "{added}");
    let red = &cart["items"][0];
    assert_eq!(red["quantity"], 2, "{added}");
    assert_eq!(red["lineTotal"]["amount"], 2000);
    assert_eq!(red["product"]["id"], shirt.id.as_str());
    assert_eq!(red["variant"]["id"], shirt.red.as_str());
    assert_eq!(red["variant"]["sku"], "TEE5-RED");
    assert_eq!(red["variant"]["name"], "Red");
    assert_eq!(
        red["variant"]["options"],
        json!([{ "name": "Color", "value": "Red" }])
    );
    assert_eq!(red["variant"]["price"]["amount"], 1000);
    assert_eq!(red["variant"]["inStock"], true);
    assert_eq!(cart["items"][1]["variant"]["id"], shirt.blue.as_str());

    let set = system
        .graphql_as(
            &token,
            &operation("SetVariantQuantity"),
            variables(&shirt.red, Some(5)),
        )
        .await;
    assert_eq!(set["errors"], Value::Null, "{set}");
    assert_eq!(set["data"]["updateCartItem"]["totalQuantity"], 6, "{set}");
    assert_eq!(set["data"]["updateCartItem"]["items"][0]["quantity"], 5);

    let removed = system
        .graphql_as(
            &token,
            &operation("RemoveVariantFromCart"),
            variables(&shirt.red, None),
        )
        .await;
    assert_eq!(removed["errors"], Value::Null, "{removed}");
    let cart = &removed["data"]["removeFromCart"];
    assert_eq!(cart["totalQuantity"], 1, "{removed}");
    assert_eq!(cart["items"].as_array().unwrap().len(), 1, "{removed}");
    assert_eq!(cart["items"][0]["variant"]["id"], shirt.blue.as_str());
    system.stop().await;
}
