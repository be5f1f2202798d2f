//! Orders of variants (SKU) through the router: a line is of one variant and keeps its SKU,
//! name and options as bought; `variantId` is required when a product has several; each
//! variant's stock is its own, also under concurrency.

use super::*;

/// A product with the options Color (the colours given) and Size (M), one variant per
/// `(sku, colour, price, stock)`; its id and its variants' ids by SKU.
async fn product_of_variants(
    system: &System,
    admin: &str,
    name: &str,
    variants: &[(&str, &str, i64, i64)],
) -> (String, HashMap<String, String>) {
    let colours: Vec<&str> = variants.iter().map(|v| v.1).collect();
    let input = json!({
        "name": name, "description": "test", "price": variants[0].2, "stock": 0,
        "options": [{ "name": "Color", "values": colours }, { "name": "Size", "values": ["M"] }],
        "variants": variants.iter().map(|(sku, colour, price, stock)| json!({
            "sku": sku, "price": price, "stock": stock,
            "options": [{ "name": "Color", "value": colour }, { "name": "Size", "value": "M" }],
        })).collect::<Vec<_>>(),
    });
    let response = system
        .graphql_as(
            admin,
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { id variants { id sku } } }",
            json!({ "i": input }),
        )
        .await;
    let created = &response["data"]["createProduct"];
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_owned();
    let ids = created["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let field = |name: &str| v[name].as_str().unwrap().to_owned();
            (field("sku"), field("id"))
        })
        .collect();
    (id, ids)
}

/// The only variant of a product made without variants: its id and SKU.
async fn only_variant(system: &System, admin: &str, product: &str) -> (String, String) {
    let response = system
        .graphql_as(
            admin,
            "query($id: ID!) { product(id: $id) { variants { id sku } } }",
            json!({ "id": product }),
        )
        .await;
    let variants = response["data"]["product"]["variants"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"));
    assert_eq!(variants.len(), 1, "{response}");
    let field = |name: &str| variants[0][name].as_str().unwrap().to_owned();
    (field("id"), field("sku"))
}

/// Units in stock of a variant.
async fn variant_stock(system: &System, variant: &str) -> i64 {
    count(
        system,
        "catalog",
        "SELECT stock::bigint AS count FROM product_variants WHERE id = $1::uuid",
        variant,
    )
    .await
}

/// Sum of the stock ledger's deltas of a variant.
async fn variant_ledger_sum(system: &System, variant: &str) -> i64 {
    count(
        system,
        "catalog",
        "SELECT coalesce(sum(delta), 0)::bigint AS count FROM stock_ledger WHERE variant_id = $1::uuid",
        variant,
    )
    .await
}

/// A checkout of `(product, variant, quantity)` lines to an explicit address.
fn buy_variants(key: &str, items: &[(&str, Option<&str>, i64)]) -> Value {
    json!({
        "idempotencyKey": key,
        "address": address(),
        "items": items.iter().map(|(p, v, q)| match v {
            Some(v) => json!({ "productId": p, "variantId": v, "quantity": q }),
            None => json!({ "productId": p, "quantity": q }),
        }).collect::<Vec<_>>(),
    })
}

/// The contract's `OrderReceipt`, as the supergraph serves it.
fn order_receipt() -> String {
    support::contract_operation("OrderReceipt")
}

fn order_id(response: &Value) -> String {
    response["data"]["checkout"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_line_keeps_the_variant_as_bought_and_the_receipt_names_it() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("variant-buyer@example.com").await;
    let (tee, variants) = product_of_variants(
        &system,
        &admin,
        "Variant tee",
        &[
            ("TEE-RED-M", "Red", 1_000, 5),
            ("TEE-BLUE-M", "Blue", 1_200, 5),
        ],
    )
    .await;
    let (red, blue) = (&variants["TEE-RED-M"], &variants["TEE-BLUE-M"]);
    // A product made without variants has one: bought by its product id alone.
    let plain = product(&system, &admin, "Plain mug", 500, 3).await;
    let (plain_variant, plain_sku) = only_variant(&system, &admin, &plain).await;

    let placed = checkout(
        &system,
        &token,
        buy_variants(
            "variant-receipt-1",
            &[(&tee, Some(red), 2), (&plain, None, 1)],
        ),
    )
    .await;
    let id = order_id(&placed);
    assert_eq!(
        placed["data"]["checkout"]["total"]["amount"],
        2 * 1_000 + 500
    );
    assert_eq!(variant_stock(&system, red).await, 3);
    assert_eq!(variant_stock(&system, blue).await, 5, "the sibling");
    assert_eq!(variant_stock(&system, &plain_variant).await, 2);

    let receipt = order_receipt();
    let expected_red = json!({
        "productName": "Variant tee",
        "variantName": "Red / M",
        "sku": "TEE-RED-M",
        "options": [{ "name": "Color", "value": "Red" }, { "name": "Size", "value": "M" }],
        "quantity": 2,
        "variant": { "id": red, "inStock": true },
    });
    let expected_plain = json!({
        "productName": "Plain mug",
        "variantName": "Plain mug",
        "sku": plain_sku,
        "options": [],
        "quantity": 1,
        "variant": { "id": plain_variant, "inStock": true },
    });
    let check = |read: &Value, prices: (i64, i64)| {
        assert_eq!(read["errors"], Value::Null, "{read}");
        let order = &read["data"]["order"];
        assert_eq!(order["id"], id.as_str(), "{read}");
        let items = order["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{read}");
        let line = |sku: &str| {
            let mut line = items
                .iter()
                .find(|i| i["sku"] == sku)
                .cloned()
                .unwrap_or_else(|| panic!("no {sku}: {read}"));
            let (unit, total) = (line["unitPrice"].take(), line["lineTotal"].take());
            line.as_object_mut().unwrap().retain(|_, v| !v.is_null());
            (line, unit["amount"].clone(), total["amount"].clone())
        };
        let (red_line, unit, total) = line("TEE-RED-M");
        assert_eq!(red_line, expected_red);
        assert_eq!((unit, total), (json!(prices.0), json!(2 * prices.0)));
        let (plain_line, unit, total) = line(&plain_sku);
        assert_eq!(plain_line, expected_plain);
        assert_eq!((unit, total), (json!(prices.1), json!(prices.1)));
    };
    check(
        &system
            .graphql_as(&token, &receipt, json!({ "id": id }))
            .await,
        (1_000, 500),
    );

    // Later changes to the variants and products leave the lines as they were bought; the
    // variant reference reads the catalog now.
    let repriced = system
        .graphql_as(
            &admin,
            "mutation($id: ID!) { updateProductVariant(id: $id, input: { price: 1 }) { id price { amount } } }",
            json!({ "id": red }),
        )
        .await;
    assert_eq!(repriced["errors"], Value::Null, "{repriced}");
    let repriced = system
        .graphql_as(
            &admin,
            "mutation($id: ID!) { updateProductVariant(id: $id, input: { price: 2 }) { id } }",
            json!({ "id": plain_variant }),
        )
        .await;
    assert_eq!(repriced["errors"], Value::Null, "{repriced}");
    for renamed in [&tee, &plain] {
        let update = system
            .graphql_as(
                &admin,
                "mutation($id: ID!) { updateProduct(id: $id, input: { name: \"Renamed\" }) { id } }",
                json!({ "id": renamed }),
            )
            .await;
        assert_eq!(update["errors"], Value::Null, "{update}");
    }
    check(
        &system
            .graphql_as(&token, &receipt, json!({ "id": id }))
            .await,
        (1_000, 500),
    );
    let live = system
        .graphql_as(
            &token,
            "query($id: ID!) { order(id: $id) { items { sku variantName variant { sku name price { amount } } product { name } } } }",
            json!({ "id": id }),
        )
        .await;
    let items = live["data"]["order"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{live}"));
    let red_line = items.iter().find(|i| i["sku"] == "TEE-RED-M").unwrap();
    assert_eq!(red_line["variant"]["price"]["amount"], 1, "{live}");
    assert_eq!(red_line["variant"]["sku"], "TEE-RED-M");
    assert_eq!(red_line["product"]["name"], "Renamed", "{live}");
    assert_eq!(red_line["variantName"], "Red / M");
    let plain_line = items
        .iter()
        .find(|i| i["sku"] == plain_sku.as_str())
        .unwrap();
    assert_eq!(plain_line["variant"]["name"], "Renamed", "{live}");
    assert_eq!(plain_line["variant"]["price"]["amount"], 2, "{live}");
    assert_eq!(plain_line["variantName"], "Plain mug", "the snapshot");

    // Sold out, the variant says so; the snapshot stays.
    let rest = checkout(
        &system,
        &token,
        buy_variants("variant-receipt-2", &[(&tee, Some(red), 3)]),
    )
    .await;
    assert_eq!(rest["errors"], Value::Null, "{rest}");
    let read = system
        .graphql_as(&token, &receipt, json!({ "id": id }))
        .await;
    let red_line = read["data"]["order"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == "TEE-RED-M")
        .cloned()
        .unwrap_or_else(|| panic!("{read}"));
    assert_eq!(red_line["variant"], json!({ "id": red, "inStock": false }));

    // The OrderPlaced event names the variants bought.
    eventually("OrderPlaced published", || async {
        system
            .events("orders")
            .await
            .iter()
            .any(|e| e.name == "OrderPlaced" && e.aggregate_id == id)
    })
    .await;
    let event = system
        .events("orders")
        .await
        .into_iter()
        .find(|e| e.name == "OrderPlaced" && e.aggregate_id == id)
        .unwrap();
    let mut lines: Vec<(String, String, i64)> = event.payload["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["variantId"].as_str().unwrap().to_owned(),
                l["sku"].as_str().unwrap().to_owned(),
                l["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    lines.sort();
    let mut expected = vec![
        (red.clone(), "TEE-RED-M".to_owned(), 2),
        (plain_variant.clone(), plain_sku.clone(), 1),
    ];
    expected.sort();
    assert_eq!(lines, expected, "{}", event.payload);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_product_of_several_variants_is_bought_by_variant_and_each_sells_out_alone() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("variant-picker@example.com").await;
    let (tee, variants) = product_of_variants(
        &system,
        &admin,
        "Picky tee",
        &[
            ("PICK-RED", "Red", 1_000, 2),
            ("PICK-BLUE", "Blue", 1_000, 5),
        ],
    )
    .await;
    let (red, blue) = (&variants["PICK-RED"], &variants["PICK-BLUE"]);
    let other = product(&system, &admin, "Other product", 100, 5).await;
    let (other_variant, _) = only_variant(&system, &admin, &other).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let malformed = "not-an-id".to_owned();

    // Refused, and nothing reserved: no variant named, another product's variant, an unknown
    // one, a malformed one.
    let cases = [
        (
            "no-variant-named",
            (&tee, None),
            "BAD_USER_INPUT",
            Some("variantId"),
        ),
        (
            "foreign-variant",
            (&tee, Some(&other_variant)),
            "BAD_USER_INPUT",
            Some("variantId"),
        ),
        ("unknown-variant", (&tee, Some(&unknown)), "NOT_FOUND", None),
        (
            "malformed-variant",
            (&tee, Some(&malformed)),
            "BAD_USER_INPUT",
            Some("input.items[0].variantId"),
        ),
    ];
    for (key, (product, variant), code, field) in cases {
        let response = checkout(
            &system,
            &token,
            buy_variants(key, &[(product, variant.map(String::as_str), 1)]),
        )
        .await;
        assert_eq!(error_codes(&response), [code], "{key}: {response}");
        if let Some(field) = field {
            assert_eq!(
                response["errors"][0]["extensions"]["field"], field,
                "{key}: {response}"
            );
        }
    }
    assert_eq!(variant_stock(&system, red).await, 2);
    assert_eq!(variant_stock(&system, blue).await, 5);
    assert_eq!(variant_stock(&system, &other_variant).await, 5);

    // Lines of one variant are added up; lines of two variants stay apart.
    let placed = checkout(
        &system,
        &token,
        buy_variants(
            "two-variants-1",
            &[
                (&tee, Some(red), 1),
                (&tee, Some(blue), 2),
                (&tee, Some(red), 1),
            ],
        ),
    )
    .await;
    let id = order_id(&placed);
    let read = system
        .graphql_as(
            &token,
            "query($id: ID!) { order(id: $id) { items { sku quantity variant { id } } } }",
            json!({ "id": id }),
        )
        .await;
    let mut lines: Vec<(String, i64)> = read["data"]["order"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{read}"))
        .iter()
        .map(|i| {
            (
                i["sku"].as_str().unwrap().to_owned(),
                i["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [("PICK-BLUE".to_owned(), 2), ("PICK-RED".to_owned(), 2)]
    );
    assert_eq!(variant_stock(&system, red).await, 0);
    assert_eq!(variant_stock(&system, blue).await, 3);

    // Red is sold out: refused naming it; blue still sells.
    let refused = checkout(
        &system,
        &token,
        buy_variants("red-sold-out", &[(&tee, Some(red), 1)]),
    )
    .await;
    assert_eq!(error_codes(&refused), ["INSUFFICIENT_STOCK"], "{refused}");
    let extensions = &refused["errors"][0]["extensions"];
    assert_eq!(extensions["productId"], tee.as_str(), "{refused}");
    assert_eq!(extensions["variantId"], red.as_str(), "{refused}");
    assert_eq!(extensions["available"], 0, "{refused}");
    let sibling = checkout(
        &system,
        &token,
        buy_variants("blue-still-sells", &[(&tee, Some(blue), 3)]),
    )
    .await;
    assert_eq!(sibling["errors"], Value::Null, "{sibling}");
    assert_eq!(variant_stock(&system, blue).await, 0);

    // Cancelling gives each variant its own units back.
    let cancelled = system.graphql_as(&token, CANCEL, json!({ "id": id })).await;
    assert_eq!(cancelled["errors"], Value::Null, "{cancelled}");
    assert_eq!(variant_stock(&system, red).await, 2);
    assert_eq!(variant_stock(&system, blue).await, 2);
    assert_eq!(stock(&system, &admin, &tee).await, 4, "the product's sum");
    let orders = system
        .graphql_as(&token, "{ me { orders { totalCount } } }", json!({}))
        .await;
    assert_eq!(orders["data"]["me"]["orders"]["totalCount"], 2, "{orders}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_buyers_of_two_variants_with_ten_units_each_make_twenty_orders() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("variant-crowd@example.com").await;
    let (hot, variants) = product_of_variants(
        &system,
        &admin,
        "Hot tee",
        &[("HOT-RED", "Red", 500, 10), ("HOT-BLUE", "Blue", 600, 10)],
    )
    .await;
    let (red, blue) = (&variants["HOT-RED"], &variants["HOT-BLUE"]);
    let tries = join_all((0..200).map(|i| {
        let variant = if i % 2 == 0 { red } else { blue };
        let input = buy_variants(
            &format!("variant-crowd-{i:03}"),
            &[(&hot, Some(variant), 1)],
        );
        let (system, token) = (&system, &token);
        async move { (variant, checkout(system, token, input).await) }
    }))
    .await;
    let mut placed: HashMap<&str, usize> = HashMap::new();
    let mut codes: HashMap<String, usize> = HashMap::new();
    for (variant, response) in &tries {
        if response["errors"].is_null() {
            *placed.entry(variant.as_str()).or_default() += 1;
            continue;
        }
        for code in error_codes(response) {
            *codes.entry(code).or_default() += 1;
        }
        let extensions = &response["errors"][0]["extensions"];
        assert_eq!(extensions["variantId"], variant.as_str(), "{response}");
        assert_eq!(extensions["productId"], hot.as_str(), "{response}");
        assert_eq!(extensions["available"], 0, "{response}");
    }
    assert_eq!(placed.get(red.as_str()), Some(&10), "{placed:?} {codes:?}");
    assert_eq!(placed.get(blue.as_str()), Some(&10), "{placed:?} {codes:?}");
    assert_eq!(codes.get("INSUFFICIENT_STOCK"), Some(&180), "{codes:?}");
    for variant in [red, blue] {
        assert_eq!(variant_stock(&system, variant).await, 0);
        assert_eq!(
            variant_ledger_sum(&system, variant).await,
            0,
            "10 in, 10 reserved"
        );
    }
    assert_eq!(stock(&system, &admin, &hot).await, 0);
    let lines = count(
        &system,
        "order",
        "SELECT count(*) AS count FROM order_items WHERE product_id = $1::uuid",
        &hot,
    )
    .await;
    assert_eq!(lines, 20, "one line per order");
    let by_variant = count(
        &system,
        "order",
        "SELECT count(DISTINCT (variant_id, sku, unit_price))::bigint AS count FROM order_items \
         WHERE product_id = $1::uuid",
        &hot,
    )
    .await;
    assert_eq!(by_variant, 2, "each line has its variant's SKU and price");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn checkout_from_the_cart_buys_the_variants_in_it_and_takes_only_those_out() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let token = system.register("variant-cart@example.com").await;
    let (tee, variants) = product_of_variants(
        &system,
        &admin,
        "Cart tee",
        &[
            ("CART-RED", "Red", 1_000, 5),
            ("CART-BLUE", "Blue", 1_100, 5),
        ],
    )
    .await;
    let (red, blue) = (&variants["CART-RED"], &variants["CART-BLUE"]);
    const ADD_VARIANT: &str = "mutation($p: ID!, $v: ID, $q: Int!) { \
        addToCart(productId: $p, variantId: $v, quantity: $q) { totalQuantity } }";
    for (variant, quantity) in [(red, 1), (blue, 2)] {
        let added = system
            .graphql_as(
                &token,
                ADD_VARIANT,
                json!({ "p": tee, "v": variant, "q": quantity }),
            )
            .await;
        assert_eq!(added["errors"], Value::Null, "{added}");
    }
    let placed = checkout(
        &system,
        &token,
        json!({ "idempotencyKey": "variant-cart-1", "address": address() }),
    )
    .await;
    let id = order_id(&placed);
    assert_eq!(
        placed["data"]["checkout"]["total"]["amount"],
        1_000 + 2 * 1_100
    );
    let read = system
        .graphql_as(
            &token,
            "query($id: ID!) { order(id: $id) { items { sku quantity variant { id } } } }",
            json!({ "id": id }),
        )
        .await;
    let mut lines: Vec<(String, String, i64)> = read["data"]["order"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{read}"))
        .iter()
        .map(|i| {
            (
                i["variant"]["id"].as_str().unwrap().to_owned(),
                i["sku"].as_str().unwrap().to_owned(),
                i["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    lines.sort();
    let mut expected = vec![
        (red.clone(), "CART-RED".to_owned(), 1),
        (blue.clone(), "CART-BLUE".to_owned(), 2),
    ];
    expected.sort();
    assert_eq!(lines, expected);
    assert_eq!(variant_stock(&system, red).await, 4);
    assert_eq!(variant_stock(&system, blue).await, 3);
    let cart = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(cart["data"]["cart"]["totalQuantity"], 0, "{cart}");

    // What was added after checkout stays; a new order takes it.
    let added = system
        .graphql_as(&token, ADD_VARIANT, json!({ "p": tee, "v": red, "q": 1 }))
        .await;
    assert_eq!(added["errors"], Value::Null, "{added}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cart = system.graphql_as(&token, CART, json!({})).await;
    assert_eq!(
        cart["data"]["cart"]["totalQuantity"], 1,
        "the OrderPlaced event takes out only what the order bought: {cart}"
    );
    system.stop().await;
}
