//! Catalog administration through the router: permissions, validation, soft delete,
//! stock that never goes below zero under concurrent adjustments, and brands.

use crate::support;

/// Product pages kept whole and served again (`tests/e2e/catalog_admin/answers.rs`).
#[path = "catalog_admin/answers.rs"]
mod answers;
/// Brands (`tests/e2e/catalog_admin/brands.rs`).
#[path = "catalog_admin/brands.rs"]
mod brands;
/// Galleries and attributes (`tests/e2e/catalog_admin/details.rs`).
#[path = "catalog_admin/details.rs"]
mod details;
/// Listing filters and facets (`tests/e2e/catalog_admin/facets.rs`).
#[path = "catalog_admin/facets.rs"]
mod facets;
/// Variants (`tests/e2e/catalog_admin/variants.rs`).
#[path = "catalog_admin/variants.rs"]
mod variants;

use futures::future::join_all;
use serde_json::{Value, json};
use service_kit::demo::demo_id;
use support::{System, TcpProxy};
use test_support::error_codes;

const CREATE: &str = "mutation($input: CreateProductInput!) { createProduct(input: $input) { id name status stock inStock price { amount currency } category { id } } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateProductInput!) { updateProduct(id: $id, input: $input) { id name status stock price { amount } } }";
const ADJUST: &str = "mutation($id: ID!, $d: Int!, $r: String!) { adjustStock(productId: $id, delta: $d, reason: $r) { id stock inStock } }";
const READ: &str =
    "query($id: ID!) { product(id: $id) { id name stock inStock price { amount } } }";

fn product_input(name: &str, stock: i32) -> Value {
    json!({ "input": { "name": name, "description": "A test product", "price": 1999, "stock": stock } })
}

async fn total_products(system: &System) -> i64 {
    system
        .graphql("{ products { totalCount } }", json!({}))
        .await["data"]["products"]["totalCount"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn only_permission_holders_manage_products_and_read_exact_stock() {
    let system = System::start().await;
    let customer = system.demo_customer_token().await;
    let denied = system
        .graphql_as(&customer, CREATE, product_input("Sneaky", 5))
        .await;
    assert_eq!(error_codes(&denied), ["FORBIDDEN"], "{denied}");

    let admin = system.admin_token().await;
    let created = system
        .graphql_as(&admin, CREATE, product_input("Bamboo Toothbrush", 7))
        .await;
    assert_eq!(created["errors"], Value::Null, "{created}");
    let product = &created["data"]["createProduct"];
    assert_eq!(product["stock"], 7);
    assert_eq!(product["status"], "ACTIVE");
    assert_eq!(
        product["price"],
        json!({ "amount": 1999, "currency": "CNY" })
    );

    // A customer sees inStock, and null + FORBIDDEN for the exact count only.
    let id = product["id"].as_str().unwrap();
    let read = system
        .graphql_as(&customer, READ, json!({ "id": id }))
        .await;
    assert_eq!(read["data"]["product"]["inStock"], true, "{read}");
    assert_eq!(read["data"]["product"]["name"], "Bamboo Toothbrush");
    assert_eq!(read["data"]["product"]["stock"], Value::Null);
    assert_eq!(error_codes(&read), ["FORBIDDEN"], "{read}");
    assert_eq!(read["errors"][0]["path"], json!(["product", "stock"]));
    let anonymous = system.graphql(READ, json!({ "id": id })).await;
    assert_eq!(
        anonymous["data"]["product"]["stock"],
        Value::Null,
        "{anonymous}"
    );
    assert_eq!(anonymous["data"]["product"]["inStock"], true);
    let by_admin = system.graphql_as(&admin, READ, json!({ "id": id })).await;
    assert_eq!(by_admin["data"]["product"]["stock"], 7, "{by_admin}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_products_are_refused_naming_the_field_and_nothing_is_created() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let before = total_products(&system).await;
    let base = |patch: Value| {
        let mut input = json!({ "name": "Valid", "description": "d", "price": 100, "stock": 1 });
        for (key, value) in patch.as_object().unwrap() {
            input[key] = value.clone();
        }
        json!({ "input": input })
    };
    let cases = [
        ("input.name", json!({ "name": "   " })),
        ("input.name", json!({ "name": "n".repeat(201) })),
        ("input.price", json!({ "price": -1 })),
        ("input.currency", json!({ "currency": "yuan" })),
        (
            "input.categoryId",
            json!({ "categoryId": demo_id("category", "no such category").to_string() }),
        ),
        ("input.categoryId", json!({ "categoryId": "not-an-id" })),
        (
            "input.imageUrl",
            json!({ "imageUrl": "javascript:alert(1)" }),
        ),
        ("input.stock", json!({ "stock": -5 })),
        (
            "input.description",
            json!({ "description": "bad\u{0}byte" }),
        ),
    ];
    for (field, patch) in cases {
        let response = system.graphql_as(&admin, CREATE, base(patch)).await;
        assert_eq!(
            error_codes(&response),
            ["BAD_USER_INPUT"],
            "{field}: {response}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{response}"
        );
    }
    assert_eq!(total_products(&system).await, before, "nothing was created");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_show_at_once_and_archived_products_disappear_for_customers() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let created = system
        .graphql_as(&admin, CREATE, product_input("Desk Lamp", 3))
        .await;
    let id = created["data"]["createProduct"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Read first, so that the product cache holds the old row.
    let before = system.graphql(READ, json!({ "id": id })).await;
    assert_eq!(
        before["data"]["product"]["price"]["amount"], 1999,
        "{before}"
    );

    let updated = system
        .graphql_as(
            &admin,
            UPDATE,
            json!({ "id": id, "input": { "price": 2599, "name": "LED Desk Lamp" } }),
        )
        .await;
    assert_eq!(updated["errors"], Value::Null, "{updated}");
    let read = system.graphql(READ, json!({ "id": id })).await;
    assert_eq!(read["data"]["product"]["price"]["amount"], 2599, "{read}");
    assert_eq!(read["data"]["product"]["name"], "LED Desk Lamp");

    let archived = system
        .graphql_as(
            &admin,
            "mutation($id: ID!) { archiveProduct(id: $id) { id status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        archived["data"]["archiveProduct"]["status"], "ARCHIVED",
        "{archived}"
    );
    let gone = system.graphql(READ, json!({ "id": id })).await;
    assert_eq!(gone["data"]["product"], Value::Null, "{gone}");
    let by_ids = system
        .graphql(
            "query($ids: [ID!]!) { productsByIds(ids: $ids) { id } }",
            json!({ "ids": [id] }),
        )
        .await;
    assert_eq!(by_ids["data"]["productsByIds"], json!([null]), "{by_ids}");

    let missing = system
        .graphql_as(
            &admin,
            UPDATE,
            json!({ "id": uuid::Uuid::new_v4().to_string(), "input": { "price": 1 } }),
        )
        .await;
    assert_eq!(error_codes(&missing), ["NOT_FOUND"], "{missing}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_stock_removals_never_take_stock_below_zero() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let created = system
        .graphql_as(&admin, CREATE, product_input("Last Few Mugs", 10))
        .await;
    let id = created["data"]["createProduct"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let too_many = system
        .graphql_as(
            &admin,
            ADJUST,
            json!({ "id": id, "d": -11, "r": "breakage" }),
        )
        .await;
    assert_eq!(error_codes(&too_many), ["CONFLICT"], "{too_many}");

    let results = join_all((0..20).map(|_| {
        system.graphql_as(
            &admin,
            ADJUST,
            json!({ "id": id, "d": -1, "r": "sold offline" }),
        )
    }))
    .await;
    let ok = results.iter().filter(|r| r["errors"].is_null()).count();
    let conflicts = results
        .iter()
        .filter(|r| error_codes(r) == ["CONFLICT"])
        .count();
    assert_eq!((ok, conflicts), (10, 10), "{results:?}");
    let read = system.graphql_as(&admin, READ, json!({ "id": id })).await;
    assert_eq!(read["data"]["product"]["stock"], 0, "{read}");
    assert_eq!(read["data"]["product"]["inStock"], false);

    let restock = system
        .graphql_as(&admin, ADJUST, json!({ "id": id, "d": 5, "r": "delivery" }))
        .await;
    assert_eq!(restock["data"]["adjustStock"]["stock"], 5, "{restock}");
    let zero = system
        .graphql_as(&admin, ADJUST, json!({ "id": id, "d": 0, "r": "nothing" }))
        .await;
    assert_eq!(error_codes(&zero), ["BAD_USER_INPUT"], "{zero}");

    // Stock at the top of its range: one more unit overflows the column. The database
    // refuses; the client hears that its number is out of range, not that the database is
    // down, and nothing changes.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = system.sql("catalog").await;
        // The product's only variant holds its stock (and shares its id).
        for table in ["products", "product_variants"] {
            diesel::sql_query(format!(
                "UPDATE {table} SET stock = 2147483000 WHERE id = $1"
            ))
            .bind::<diesel::sql_types::Uuid, _>(uuid::Uuid::parse_str(&id).unwrap())
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
    let overflow = system
        .graphql_as(
            &admin,
            ADJUST,
            json!({ "id": id, "d": 1000, "r": "delivery" }),
        )
        .await;
    assert_eq!(error_codes(&overflow), ["BAD_USER_INPUT"], "{overflow}");
    let message = overflow["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("unavailable"), "{message}");
    system.stop().await;
}

/// Concurrent writes to one product: updates of different fields never undo each other or
/// the stock, and reads (from the cache) show the last committed row, whatever order the
/// writers' cache updates arrived in. Each round runs a price change, a rename and a stock
/// removal at once; a writer that wrote back a row it read before another's commit would
/// leave the previous round's value behind.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_keep_every_change_and_leave_the_cache_current() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let created = system
        .graphql_as(&admin, CREATE, product_input("Busy Mug", 100))
        .await;
    let id = created["data"]["createProduct"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = || system.graphql_as(&admin, READ, json!({ "id": id }));
    assert_eq!(read().await["data"]["product"]["stock"], 100);

    for round in 1..=20 {
        let (price, rename, removal) = futures::join!(
            system.graphql_as(
                &admin,
                UPDATE,
                json!({ "id": id, "input": { "price": 2000 + round } }),
            ),
            system.graphql_as(
                &admin,
                UPDATE,
                json!({ "id": id, "input": { "name": format!("Busy Mug {round}") } }),
            ),
            system.graphql_as(
                &admin,
                ADJUST,
                json!({ "id": id, "d": -1, "r": "sold offline" }),
            ),
        );
        for result in [price, rename, removal] {
            assert_eq!(result["errors"], Value::Null, "{result}");
        }
        let product = read().await["data"]["product"].clone();
        assert_eq!(
            (
                &product["price"]["amount"],
                &product["name"],
                &product["stock"]
            ),
            (
                &json!(2000 + round),
                &json!(format!("Busy Mug {round}")),
                &json!(100 - round)
            ),
            "round {round}"
        );
    }
    let cached = read().await;
    system.flush_product_cache().await;
    assert_eq!(
        cached,
        read().await,
        "the cache holds the last committed row"
    );
    system.stop().await;
}

const PRICE: &str = "query($id: ID!) { product(id: $id) { price { amount } } }";

/// Two catalog replicas hold hot products in memory. A price change made through one (the
/// router's) is what the other serves moments later: the write publishes the new version
/// and the other drops its copy. While the other has lost that channel (its Redis is cut) it
/// serves nothing from memory, and once back it starts afresh.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_through_one_catalog_replica_evicts_the_product_from_the_others_memory() {
    let system = System::start().await;
    let redis = TcpProxy::start().await;
    let statements = std::sync::Arc::new(service_kit::StatementCounter::default());
    let config = service_kit::ServiceConfig {
        redis_url: redis.url().to_owned(),
        statement_counter: Some(statements.clone()),
        ..system.replica_config("127.0.0.1:0".parse().unwrap())
    };
    let replica = douyin_mall::serve_subgraph(&catalog_subgraph::SUBGRAPH, &config)
        .await
        .expect("second catalog replica");
    let other = format!("http://{}/graphql", replica.addr);
    let admin = system.admin_token().await;
    let id = system.product_ids(1).await.remove(0);
    let price_at = |url: String| {
        let id = id.clone();
        let system = &system;
        async move {
            let read = system.post(&url, PRICE, json!({ "id": id })).await;
            read["data"]["product"]["price"]["amount"]
                .as_i64()
                .unwrap_or_else(|| panic!("{read}"))
        }
    };
    let set_price = |amount: i64| {
        let (id, admin, system) = (id.clone(), admin.clone(), &system);
        async move {
            let input = json!({ "id": id, "input": { "price": amount } });
            let updated = system.graphql_as(&admin, UPDATE, input).await;
            assert_eq!(updated["errors"], Value::Null, "{updated}");
        }
    };

    // The other replica holds the product in memory: without the Redis copy, it reads it
    // without a single SQL statement (once its invalidation channel is up).
    let redis_copy = system.redis().await.key(&format!("catalog:product:{id}"));
    let held_in_memory = async {
        loop {
            price_at(other.clone()).await;
            let mut conn = system.redis().await.connection().await.expect("redis");
            let _: () = service_kit::redis::redis::cmd("DEL")
                .arg(&redis_copy)
                .query_async(&mut conn)
                .await
                .expect("DEL");
            statements.reset();
            let price = price_at(other.clone()).await;
            if statements.get() == 0 {
                return price;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let mut price = tokio::time::timeout(std::time::Duration::from_secs(10), held_in_memory)
        .await
        .expect("the other replica keeps products in memory");

    let mut delays = Vec::new();
    for _ in 0..5 {
        price += 1;
        set_price(price).await;
        let written = std::time::Instant::now();
        while price_at(other.clone()).await != price {
            assert!(
                written.elapsed() < std::time::Duration::from_secs(2),
                "the other replica still serves the old price"
            );
        }
        delays.push(written.elapsed());
        // Held again (read twice) before the next write.
        price_at(other.clone()).await;
    }
    println!("other replica served the new price after {delays:?}");

    // Its Redis gone, the other replica stops trusting its memory (invalidations may be
    // missed now): a write made meanwhile is served at once, from PostgreSQL.
    redis.cut().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    price += 1;
    set_price(price).await;
    assert_eq!(
        price_at(other.clone()).await,
        price,
        "memory used without invalidations"
    );

    // Back: it subscribes again, drops everything it held, and follows writes again.
    redis.restore().await;
    price += 1;
    set_price(price).await;
    let written = std::time::Instant::now();
    while price_at(other.clone()).await != price {
        assert!(written.elapsed() < std::time::Duration::from_secs(2));
    }
    replica.stop().await;
    system.stop().await;
}

const CREATE_SALE: &str = "mutation($input: CreateFlashSaleInput!) { createFlashSale(input: $input) { \
    id price { amount currency } totalQuantity remainingQuantity perUserLimit startsAt endsAt status product { id name } } }";
const SALES: &str = "query($status: FlashSaleStatus) { flashSales(status: $status) { id status totalQuantity remainingQuantity product { id } } }";

fn sale_input(product: &str, quantity: i64, starts_in: i64, lasts: i64) -> Value {
    let now = chrono::Utc::now();
    json!({
        "productId": product,
        "price": 99,
        "quantity": quantity,
        "perUserLimit": 2,
        "startsAt": (now + chrono::Duration::seconds(starts_in)).to_rfc3339(),
        "endsAt": (now + chrono::Duration::seconds(starts_in + lasts)).to_rfc3339(),
    })
}

async fn stock_of(system: &System, admin: &str, product: &str) -> i64 {
    let read = system
        .graphql_as(admin, READ, json!({ "id": product }))
        .await;
    read["data"]["product"]["stock"]
        .as_i64()
        .unwrap_or_else(|| panic!("{read}"))
}

fn sale_ids(response: &Value) -> Vec<String> {
    response["data"]["flashSales"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|sale| sale["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn flash_sales_set_units_aside_and_give_the_unsold_back_once() {
    let system = System::start_with(support::Options::sweeping_every(
        std::time::Duration::from_millis(100),
    ))
    .await;
    let admin = system.admin_token().await;
    let customer = system.demo_customer_token().await;
    let created = system
        .graphql_as(&admin, CREATE, product_input("Flash item", 10))
        .await;
    let product = created["data"]["createProduct"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Customers may not; every invalid field is named.
    let theirs = system
        .graphql_as(
            &customer,
            CREATE_SALE,
            json!({ "input": sale_input(&product, 2, 0, 60) }),
        )
        .await;
    assert_eq!(error_codes(&theirs), ["FORBIDDEN"], "{theirs}");
    let archived = system
        .graphql_as(
            &admin,
            CREATE,
            json!({ "input": { "name": "Gone", "description": "archived", "price": 100, "stock": 5, "status": "ARCHIVED" } }),
        )
        .await;
    let archived = archived["data"]["createProduct"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{archived}"))
        .to_owned();
    let mut past = sale_input(&product, 2, -120, 60);
    past["perUserLimit"] = json!(1);
    for (input, field) in [
        (json!({ "price": -1 }), "input.price"),
        (json!({ "quantity": 0 }), "input.quantity"),
        (json!({ "quantity": 11 }), "input.quantity"),
        (json!({ "perUserLimit": 0 }), "input.perUserLimit"),
        (json!({ "productId": archived }), "input.productId"),
        (json!({ "productId": "not-an-id" }), "input.productId"),
        (json!({ "endsAt": past["endsAt"] }), "input.endsAt"),
    ] {
        let mut bad = sale_input(&product, 2, 0, 60);
        for (key, value) in input.as_object().unwrap() {
            bad[key] = value.clone();
        }
        let refused = system
            .graphql_as(&admin, CREATE_SALE, json!({ "input": bad }))
            .await;
        assert_eq!(error_codes(&refused), ["BAD_USER_INPUT"], "{refused}");
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], field,
            "{refused}"
        );
    }
    assert_eq!(
        stock_of(&system, &admin, &product).await,
        10,
        "nothing was set aside"
    );

    // Two admins race for 6 of the 10 units: one sale is created, the other is refused.
    let racing = join_all((0..2).map(|_| {
        system.graphql_as(
            &admin,
            CREATE_SALE,
            json!({ "input": sale_input(&product, 6, 0, 3) }),
        )
    }))
    .await;
    let made: Vec<&Value> = racing.iter().filter(|r| r["errors"].is_null()).collect();
    assert_eq!(made.len(), 1, "{racing:?}");
    let sale = &made[0]["data"]["createFlashSale"];
    assert_eq!(sale["status"], "ACTIVE", "{sale}");
    assert_eq!(sale["remainingQuantity"], 6, "{sale}");
    assert_eq!(sale["price"]["amount"], 99, "{sale}");
    assert_eq!(sale["product"]["id"], product, "{sale}");
    let running = sale["id"].as_str().unwrap().to_owned();
    assert_eq!(stock_of(&system, &admin, &product).await, 4);

    // A scheduled one takes 3 more; lists by status are public.
    let later = system
        .graphql_as(
            &admin,
            CREATE_SALE,
            json!({ "input": sale_input(&product, 3, 3600, 60) }),
        )
        .await;
    let later = later["data"]["createFlashSale"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{later}"))
        .to_owned();
    assert_eq!(stock_of(&system, &admin, &product).await, 1);
    let active = system.graphql(SALES, json!({ "status": "ACTIVE" })).await;
    assert!(
        sale_ids(&active).contains(&running) && !sale_ids(&active).contains(&later),
        "{active}"
    );
    let scheduled = system
        .graphql(SALES, json!({ "status": "SCHEDULED" }))
        .await;
    assert_eq!(sale_ids(&scheduled), [later.as_str()], "{scheduled}");

    // Redis loses the counter: it is rebuilt from the record.
    let redis = system.redis().await;
    let mut conn = redis.connection().await.unwrap();
    let _: () = service_kit::redis::redis::cmd("DEL")
        .arg(catalog_subgraph::flash_counters::state_key(
            &redis,
            running.parse().unwrap(),
        ))
        .query_async(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let rebuilt = system.graphql(SALES, json!({ "status": "ACTIVE" })).await;
    assert_eq!(
        rebuilt["data"]["flashSales"][0]["remainingQuantity"], 6,
        "{rebuilt}"
    );

    // The running sale ends: its 6 unsold units come back, once.
    let mut waited = 0;
    while stock_of(&system, &admin, &product).await != 7 {
        assert!(waited < 100, "the unsold units did not come back");
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ended = system.graphql(SALES, json!({ "status": "ENDED" })).await;
    assert_eq!(sale_ids(&ended), [running.as_str()], "{ended}");
    assert_eq!(ended["data"]["flashSales"][0]["status"], "ENDED", "{ended}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        stock_of(&system, &admin, &product).await,
        7,
        "returned twice"
    );
    system.stop().await;
}
