//! Catalog v2's variant migrations lose nothing a customer has. A database is built with the
//! catalog, cart and order schemas as they were before variants (every migration older than
//! [`VARIANTS`]) and filled through them: products (one archived since it was ordered, one
//! renamed, a draft), their stock ledger, reservations held and released (through the old
//! `reserve_stock`/`release_stock`), an active flash sale with a pending and a confirmed
//! purchase, carts, and orders in every status. Then it is migrated as a deploy migrates it
//! (`service_kit::db::connect_and_migrate`), and every total must be what it was: stock,
//! prices, sales counts, reserved quantities, the sale's units, cart lines, order totals and
//! lines. Every pre-variant product has exactly one variant, with its own id, price and stock,
//! and the SKU `peer_api::default_sku`, which the reservations, the sale, its purchases, the
//! cart lines and the order lines all name. Finally stock still moves: the new
//! `reserve_stock` and `release_stock` change a migrated variant and its product together.

use diesel::migration::{Migration, MigrationConnection as _, MigrationSource};
use diesel::pg::Pg;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{
    AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _, SimpleAsyncConnection as _,
};
use serde_json::{Value, json};
use service_kit::db::{DatabaseSpec, quote_ident};
use test_support::TestDatabase;
use uuid::Uuid;

/// The version of the first variant migration, as diesel has it (the directory name's date
/// and number without their dashes: `2026-12-07-000001_…` is `20261207000001`): the
/// migrations of a lower version make the "old schema".
const VARIANTS: &str = "20261207";

/// The schemas whose data the variant migrations rewrite.
fn specs() -> [&'static DatabaseSpec; 3] {
    [
        &catalog_subgraph::DATABASE,
        &cart_subgraph::DATABASE,
        &order_subgraph::DATABASE,
    ]
}

/// Every id of the data set.
struct Ids {
    admin: Uuid,
    user_a: Uuid,
    user_b: Uuid,
    user_c: Uuid,
    address: Uuid,
    category: Uuid,
    phone: Uuid,
    case: Uuid,
    cable: Uuid,
    old: Uuid,
    earbuds: Uuid,
    draft: Uuid,
    sale: Uuid,
    /// A confirmed flash-sale purchase; also the id of its (paid) order.
    flash_order: Uuid,
    /// A purchase whose order has not come yet.
    pending_purchase: Uuid,
    pending: Uuid,
    paid: Uuid,
    cancelled: Uuid,
    expired: Uuid,
    refunded: Uuid,
    /// A checkout abandoned before it reserved anything: a RELEASED claim without lines.
    abandoned: Uuid,
    cart_a: Uuid,
    cart_b: Uuid,
    cart_c: Uuid,
}

impl Ids {
    fn new() -> Self {
        let id = Uuid::new_v4;
        Self {
            admin: id(),
            user_a: id(),
            user_b: id(),
            user_c: id(),
            address: id(),
            category: id(),
            phone: id(),
            case: id(),
            cable: id(),
            old: id(),
            earbuds: id(),
            draft: id(),
            sale: id(),
            flash_order: id(),
            pending_purchase: id(),
            pending: id(),
            paid: id(),
            cancelled: id(),
            expired: id(),
            refunded: id(),
            abandoned: id(),
            cart_a: id(),
            cart_b: id(),
            cart_c: id(),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn variant_migrations_keep_every_total() {
    // An empty database of its own (dropped at the end, also when an assertion fails).
    let database = TestDatabase::create(&[]).await.expect("test database");
    let url = database.url.clone();

    // The schemas as they were before variants.
    let mut pending_versions = Vec::new();
    for spec in specs() {
        let applied = migrate_before(&url, spec, VARIANTS).await;
        let all = embedded_versions(spec);
        let pending: Vec<String> = all
            .iter()
            .filter(|v| !applied.contains(v))
            .cloned()
            .collect();
        assert!(
            !applied.is_empty() && pending.iter().all(|v| v.as_str() >= VARIANTS),
            "schema {}: applied {applied:?}, left {pending:?}",
            spec.schema
        );
        assert!(
            !pending.is_empty(),
            "schema {} has no migration from {VARIANTS} on: nothing to test",
            spec.schema
        );
        pending_versions.push((spec.schema, pending));
    }

    let ids = Ids::new();
    let mut catalog = connect(&url, "catalog").await;
    let mut cart = connect(&url, "cart").await;
    let mut order = connect(&url, "order").await;
    seed_catalog(&mut catalog, &ids).await;
    seed_cart(&mut cart, &ids).await;
    seed_orders(&mut order, &ids).await;
    check_seed(&mut catalog, &mut order, &ids).await;

    let catalog_before = snapshot(&mut catalog, CATALOG_SNAPSHOT).await;
    let cart_before = snapshot(&mut cart, CART_SNAPSHOT).await;
    let order_before = snapshot(&mut order, ORDER_SNAPSHOT).await;
    drop((catalog, cart, order));

    // Migrate the way a deploy does: each subgraph applies its pending migrations on start.
    let config = test_support::service_config(&database);
    for spec in specs() {
        let pool = service_kit::db::connect_and_migrate(&config, spec)
            .await
            .unwrap_or_else(|e| panic!("migrating schema {} to variants: {e:#}", spec.schema));
        drop(pool);
    }

    // New connections, as the new replicas have.
    let mut catalog = connect(&url, "catalog").await;
    let mut cart = connect(&url, "cart").await;
    let mut order = connect(&url, "order").await;
    for ((schema, pending), conn) in
        pending_versions
            .iter()
            .zip([&mut catalog, &mut cart, &mut order])
    {
        let recorded: Vec<String> = rows(
            conn,
            "SELECT version FROM __diesel_schema_migrations ORDER BY version",
        )
        .await
        .into_iter()
        .map(|r| r["version"].as_str().unwrap().to_owned())
        .collect();
        for version in pending {
            assert!(
                recorded.contains(version),
                "schema {schema}: migration {version} not applied (recorded {recorded:?})"
            );
        }
    }

    // Nothing changed that was there before.
    assert_unchanged("catalog", CATALOG_SNAPSHOT, &catalog_before, &mut catalog).await;
    assert_unchanged("cart", CART_SNAPSHOT, &cart_before, &mut cart).await;
    assert_unchanged("order", ORDER_SNAPSHOT, &order_before, &mut order).await;

    // What was there now names variants: each product's only one, with the product's id.
    check_variants(&mut catalog).await;
    check_catalog_references(&mut catalog).await;
    check_cart_lines(&mut cart).await;
    check_order_lines(&mut order, &mut catalog).await;

    // And it still works.
    reserve_after_migration(&mut catalog, &ids).await;
    release_after_migration(&mut catalog, &ids).await;
    cart_line_without_variant(&mut cart, &ids).await;
    assert_ledger_explains_stock(&mut catalog, "after reserving and releasing").await;

    drop((catalog, cart, order));
    drop(database);
}

// ---------------------------------------------------------------------------------------
// The old schema and its data.

/// Creates `spec`'s schema and applies only its migrations older than `cutoff`, recorded in
/// `__diesel_schema_migrations` exactly as diesel's harness records them (in the migration's
/// transaction unless its metadata says otherwise), so that a later start applies the rest.
/// The versions applied.
async fn migrate_before(url: &str, spec: &'static DatabaseSpec, cutoff: &str) -> Vec<String> {
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .expect("connecting to the test database");
    let schema = quote_ident(spec.schema);
    conn.batch_execute(&format!(
        "CREATE SCHEMA {schema}; SET search_path TO {schema}"
    ))
    .await
    .expect("creating the schema");
    let cutoff = cutoff.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        conn.setup().expect("creating __diesel_schema_migrations");
        let mut migrations =
            MigrationSource::<Pg>::migrations(&spec.migrations).expect("embedded migrations");
        migrations.sort_by_key(|m| m.name().version().to_string());
        let mut applied = Vec::new();
        for migration in &migrations {
            let version = migration.name().version().to_string();
            if version >= cutoff {
                continue;
            }
            let apply = |conn: &mut AsyncConnectionWrapper<AsyncPgConnection>| {
                migration.run(conn)?;
                diesel::RunQueryDsl::execute(
                    diesel::sql_query(
                        "INSERT INTO __diesel_schema_migrations (version) VALUES ($1)",
                    )
                    .bind::<diesel::sql_types::Text, _>(&version),
                    conn,
                )?;
                diesel::migration::Result::Ok(())
            };
            let result = if migration.metadata().run_in_transaction() {
                diesel::Connection::transaction(&mut conn, apply)
            } else {
                apply(&mut conn)
            };
            if let Err(error) = result {
                panic!(
                    "old migration {} of schema {}: {error}",
                    migration.name(),
                    spec.schema
                );
            }
            applied.push(version);
        }
        applied
    })
    .await
    .expect("migration thread")
}

/// The versions of every migration of `spec`, in order.
fn embedded_versions(spec: &'static DatabaseSpec) -> Vec<String> {
    let mut versions: Vec<String> = MigrationSource::<Pg>::migrations(&spec.migrations)
        .expect("embedded migrations")
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    versions.sort();
    versions
}

/// Products, their stock and its ledger, reservations (through the old functions), an active
/// flash sale with two purchases.
async fn seed_catalog(conn: &mut AsyncPgConnection, ids: &Ids) {
    let Ids {
        admin,
        user_a,
        user_c,
        address,
        category,
        phone,
        case,
        cable,
        old,
        earbuds,
        draft,
        sale,
        flash_order,
        pending_purchase,
        ..
    } = ids;
    execute_named(
        conn,
        "INSERT INTO categories (id, name) VALUES ('{category}', 'Phones');
             INSERT INTO products (id, category_id, name, description, image_url, price_amount,
                                   status, stock)
             VALUES ('{phone}', '{category}', 'Phone X', 'The phone',
                     'https://img.example.com/phone-x.png', 399900, 'ACTIVE', 50),
                    ('{case}', '{category}', 'Phone case', 'Fits Phone X',
                     'https://img.example.com/case.png', 4900, 'ACTIVE', 200),
                    ('{cable}', '{category}', 'USB-C cable', '1 m', NULL, 1999, 'ACTIVE', 3),
                    ('{old}', '{category}', 'Phone W', 'Last year''s', NULL, 9900, 'ACTIVE', 7),
                    ('{earbuds}', '{category}', 'Earbuds', 'Wireless',
                     'https://img.example.com/earbuds.png', 29900, 'ACTIVE', 100),
                    ('{draft}', '{category}', 'Phone Y', 'Coming soon', NULL, 599900, 'DRAFT', 0);
             INSERT INTO stock_ledger (product_id, delta, stock_after, reason, actor)
             SELECT id, stock, stock, 'initial stock', '{admin}' FROM products
              WHERE stock > 0 ORDER BY id;

             -- An active flash sale: its units left the product's stock when it was created.
             UPDATE products SET stock = stock - 20, version = version + 1
              WHERE id = '{earbuds}';
             INSERT INTO stock_ledger (product_id, delta, stock_after, reason, actor)
             VALUES ('{earbuds}', -20, 80, 'flash sale ' || ($1::jsonb ->> 'sale'), '{admin}');
             INSERT INTO flash_sales (id, product_id, price, currency, total_quantity,
                                      per_user_limit, starts_at, ends_at, created_by,
                                      counter_epoch, held)
             VALUES ('{sale}', '{earbuds}', 9900, 'CNY', 20, 2, now() - interval '1 hour',
                     now() + interval '1 hour', '{admin}', 1, 3);
             INSERT INTO flash_sale_purchases (id, sale_id, user_id, idempotency_key,
                                               request_hash, quantity, unit_price, currency,
                                               product_id, product_name, address_id, status)
             VALUES ('{flash_order}', '{sale}', '{user_a}', 'flash-a', 'hash-a', 2, 9900, 'CNY',
                     '{earbuds}', 'Earbuds', '{address}', 'CONFIRMED'),
                    ('{pending_purchase}', '{sale}', '{user_c}', 'flash-c', 'hash-c', 1, 9900,
                     'CNY', '{earbuds}', 'Earbuds', '{address}', 'PENDING');",
        json!({ "category": category, "phone": phone, "case": case, "cable": cable, "old": old, "earbuds": earbuds, "draft": draft, "admin": admin, "sale": sale, "flash_order": flash_order, "user_a": user_a, "address": address, "pending_purchase": pending_purchase, "user_c": user_c }),
    )
    .await;

    // Checkouts, through the functions of the old schema.
    let reservations: [(Uuid, &[(Uuid, i32)]); 5] = [
        (ids.pending, &[(*phone, 1), (*case, 2)]),
        (ids.paid, &[(*case, 3), (*old, 1)]),
        (ids.cancelled, &[(*phone, 2)]),
        (ids.expired, &[(*cable, 1)]),
        (ids.refunded, &[(*phone, 1), (*case, 1)]),
    ];
    for (order, lines) in reservations {
        let products: Vec<Uuid> = lines.iter().map(|l| l.0).collect();
        let quantities: Vec<i32> = lines.iter().map(|l| l.1).collect();
        let outcomes = rows_with(
            conn,
            "SELECT outcome FROM reserve_stock(($1::jsonb ->> 'order')::uuid, \
                 ARRAY(SELECT e::uuid FROM jsonb_array_elements_text($1::jsonb -> 'products') \
                       WITH ORDINALITY AS x (e, n) ORDER BY n), \
                 ARRAY(SELECT e::int FROM jsonb_array_elements_text($1::jsonb -> 'quantities') \
                       WITH ORDINALITY AS x (e, n) ORDER BY n))",
            json!({ "order": order, "products": products, "quantities": quantities }),
        )
        .await;
        assert_eq!(
            outcomes,
            vec![json!({"outcome": "RESERVED"}); lines.len()],
            "old reserve_stock for order {order} ({lines:?})"
        );
    }
    for (order, reason) in [
        (ids.cancelled, "order cancelled"),
        (ids.expired, "order expired"),
        (ids.refunded, "order refunded"),
        (ids.abandoned, "checkout abandoned"),
    ] {
        execute_with(
            conn,
            "SELECT * FROM release_stock(($1::jsonb ->> 'order')::uuid, $1::jsonb ->> 'reason')",
            json!({ "order": order, "reason": reason }),
        )
        .await;
    }

    // Since ordered: one product left the shop, another was renamed (the lines keep the name
    // they were bought under).
    execute_with(
        conn,
        "UPDATE products SET status = 'ARCHIVED', version = version + 1 \
          WHERE id = ($1::jsonb ->> 'old')::uuid",
        json!({ "old": old }),
    )
    .await;
    execute_with(
        conn,
        "UPDATE products SET name = 'Phone X (2026)', version = version + 1 \
          WHERE id = ($1::jsonb ->> 'phone')::uuid",
        json!({ "phone": phone }),
    )
    .await;
}

async fn seed_cart(conn: &mut AsyncPgConnection, ids: &Ids) {
    let Ids {
        user_a,
        user_b,
        user_c,
        phone,
        case,
        cable,
        old,
        earbuds,
        cart_a,
        cart_b,
        cart_c,
        pending,
        paid,
        ..
    } = ids;
    execute_named(
        conn,
        "INSERT INTO carts (id, user_id)
             VALUES ('{cart_a}', '{user_a}'), ('{cart_b}', '{user_b}'), ('{cart_c}', '{user_c}');
             INSERT INTO cart_items (cart_id, product_id, quantity, added_at)
             VALUES ('{cart_a}', '{phone}', 1, now() - interval '2 days'),
                    ('{cart_a}', '{case}', 2, now() - interval '1 day'),
                    ('{cart_b}', '{cable}', 5, now() - interval '3 hours'),
                    ('{cart_b}', '{old}', 1, now() - interval '2 hours'),
                    ('{cart_b}', '{earbuds}', 1, now() - interval '1 hour'),
                    ('{cart_b}', '{case}', 999, now());
             INSERT INTO cart_checkouts (order_id, user_id)
             VALUES ('{pending}', '{user_a}'), ('{paid}', '{user_b}');",
        json!({ "cart_a": cart_a, "user_a": user_a, "cart_b": cart_b, "user_b": user_b, "cart_c": cart_c, "user_c": user_c, "phone": phone, "case": case, "cable": cable, "old": old, "earbuds": earbuds, "pending": pending, "paid": paid }),
    )
    .await;
}

async fn seed_orders(conn: &mut AsyncPgConnection, ids: &Ids) {
    let Ids {
        user_a,
        user_b,
        user_c,
        phone,
        case,
        cable,
        old,
        earbuds,
        pending,
        paid,
        cancelled,
        expired,
        refunded,
        flash_order,
        ..
    } = ids;
    let number = "'DM261206' || lpad(nextval('order_number_seq')::text, 6, '0')";
    // The shipping address (a JSON text column), bound like every value.
    let address = "($1::jsonb ->> 'address')";
    let address_json =
        r#"{"recipient":"Li Lei","phone":"13800000000","line1":"1 Road","city":"Beijing"}"#;
    execute_named(
        conn,
        &"INSERT INTO orders (id, number, user_id, status, currency, subtotal_amount,
                                 discount_amount, total_amount, version, expires_at, paid_at,
                                 cancelled_at, cancel_reason, shipping_address, note,
                                 stock_returned_at)
             VALUES
             ('{pending}', {number}, '{user_a}', 'PENDING_PAYMENT', 'CNY', 409700, 0, 409700, 1,
              now() + interval '15 minutes', NULL, NULL, NULL, {address}, NULL, NULL),
             ('{paid}', {number}, '{user_b}', 'PAID', 'CNY', 24600, 1000, 23600, 2,
              now() - interval '1 day', now() - interval '1 day', NULL, NULL, {address},
              'leave it at the door', NULL),
             ('{cancelled}', {number}, '{user_a}', 'CANCELLED', 'CNY', 799800, 0, 799800, 2,
              now() - interval '2 days', NULL, now() - interval '2 days', 'changed my mind',
              {address}, NULL, now() - interval '2 days'),
             ('{expired}', {number}, '{user_c}', 'EXPIRED', 'CNY', 1999, 0, 1999, 2,
              now() - interval '3 days', NULL, now() - interval '3 days', 'payment timed out',
              {address}, NULL, now() - interval '3 days'),
             ('{refunded}', {number}, '{user_b}', 'REFUNDED', 'CNY', 404800, 0, 404800, 3,
              now() - interval '4 days', now() - interval '4 days', NULL, NULL, {address}, NULL,
              now() - interval '1 day'),
             ('{flash_order}', {number}, '{user_a}', 'PAID', 'CNY', 19800, 0, 19800, 2,
              now() + interval '15 minutes', now(), NULL, NULL, {address}, NULL, NULL);
             INSERT INTO order_items (order_id, position, product_id, product_name, unit_price,
                                      quantity)
             VALUES ('{pending}', 1, '{phone}', 'Phone X', 399900, 1),
                    ('{pending}', 2, '{case}', 'Phone case', 4900, 2),
                    ('{paid}', 1, '{case}', 'Phone case', 4900, 3),
                    ('{paid}', 2, '{old}', 'Phone W', 9900, 1),
                    ('{cancelled}', 1, '{phone}', 'Phone X', 399900, 2),
                    ('{expired}', 1, '{cable}', 'USB-C cable', 1999, 1),
                    ('{refunded}', 1, '{phone}', 'Phone X', 399900, 1),
                    ('{refunded}', 2, '{case}', 'Phone case', 4900, 1),
                    ('{flash_order}', 1, '{earbuds}', 'Earbuds', 9900, 2);
             INSERT INTO order_status_history (order_id, from_status, to_status, at)
             SELECT id, NULL, 'PENDING_PAYMENT', created_at FROM orders;".replace("{number}", number).replace("{address}", address),
        json!({ "pending": pending, "user_a": user_a, "paid": paid, "user_b": user_b, "cancelled": cancelled, "expired": expired, "user_c": user_c, "refunded": refunded, "flash_order": flash_order, "phone": phone, "case": case, "old": old, "cable": cable, "earbuds": earbuds, "address": address_json }),
    )
    .await;
}

/// The data set is what it means to be (a mistake in it would make the test prove less).
async fn check_seed(catalog: &mut AsyncPgConnection, order: &mut AsyncPgConnection, ids: &Ids) {
    let statuses = rows(order, "SELECT DISTINCT status FROM orders ORDER BY status").await;
    assert_eq!(
        statuses,
        [
            "CANCELLED",
            "EXPIRED",
            "PAID",
            "PENDING_PAYMENT",
            "REFUNDED"
        ]
        .map(|s| json!({ "status": s })),
        "orders in every status"
    );
    let inconsistent = rows(
        order,
        "SELECT o.id, o.subtotal_amount, o.discount_amount, o.total_amount,
                sum(i.unit_price * i.quantity) AS lines
           FROM orders o JOIN order_items i ON i.order_id = o.id
          GROUP BY o.id
         HAVING sum(i.unit_price * i.quantity) <> o.subtotal_amount
             OR o.subtotal_amount - o.discount_amount <> o.total_amount",
    )
    .await;
    assert_eq!(
        inconsistent,
        Vec::<Value>::new(),
        "order totals of the seed"
    );

    let reservations = rows(
        catalog,
        "SELECT r.order_id, r.status, count(l.*) AS lines FROM stock_reservations r
           LEFT JOIN stock_reservation_lines l ON l.order_id = r.order_id
          GROUP BY r.order_id, r.status ORDER BY r.order_id",
    )
    .await;
    let status_of = |order: Uuid| {
        reservations
            .iter()
            .find(|r| r["order_id"] == json!(order))
            .map(|r| (r["status"].clone(), r["lines"].clone()))
    };
    assert_eq!(
        status_of(ids.pending),
        Some((json!("RESERVED"), json!(2))),
        "the pending order's reservation: {reservations:?}"
    );
    assert_eq!(
        status_of(ids.cancelled),
        Some((json!("RELEASED"), json!(1))),
        "the cancelled order's reservation: {reservations:?}"
    );
    assert_eq!(
        status_of(ids.abandoned),
        Some((json!("RELEASED"), json!(0))),
        "the abandoned checkout's claim: {reservations:?}"
    );

    let sale = one_named(
        catalog,
        "SELECT s.held, s.sold, s.total_quantity,
                    now() BETWEEN s.starts_at AND s.ends_at AS active,
                    (SELECT sum(p.quantity) FROM flash_sale_purchases p
                      WHERE p.sale_id = s.id AND p.returned_at IS NULL) AS purchased
               FROM flash_sales s WHERE s.id = '{sale}'",
        json!({ "sale": ids.sale }),
    )
    .await;
    assert_eq!(
        sale,
        json!({"held": 3, "sold": 0, "total_quantity": 20, "active": true, "purchased": 3}),
        "the flash sale of the seed"
    );

    // Every product's stock: its initial stock less what the open reservations and the sale
    // hold (what was released came back).
    let products = rows(
        catalog,
        "SELECT name, status, stock, sales_count FROM products ORDER BY price_amount",
    )
    .await;
    assert_eq!(
        products,
        vec![
            json!({"name": "USB-C cable", "status": "ACTIVE", "stock": 3, "sales_count": 0}),
            json!({"name": "Phone case", "status": "ACTIVE", "stock": 195, "sales_count": 5}),
            json!({"name": "Phone W", "status": "ARCHIVED", "stock": 6, "sales_count": 1}),
            json!({"name": "Earbuds", "status": "ACTIVE", "stock": 80, "sales_count": 0}),
            json!({"name": "Phone X (2026)", "status": "ACTIVE", "stock": 49, "sales_count": 1}),
            json!({"name": "Phone Y", "status": "DRAFT", "stock": 0, "sales_count": 0}),
        ],
        "products of the seed"
    );
    assert_ledger_explains_stock(catalog, "before the migration").await;
}

// ---------------------------------------------------------------------------------------
// What must be the same after the migration: queries that mean the same in both schemas.

const CATALOG_SNAPSHOT: &[(&str, &str)] = &[
    (
        "products",
        "SELECT id, name, description, image_url, status, price_amount, currency, stock,
                sales_count, category_id
           FROM products ORDER BY id",
    ),
    (
        "stock ledger",
        "SELECT id, product_id, delta, stock_after, reason, actor, order_id, created_at
           FROM stock_ledger ORDER BY id",
    ),
    (
        "stock reservations",
        "SELECT order_id, status, created_at, released_at, release_reason
           FROM stock_reservations ORDER BY order_id",
    ),
    (
        "stock reservation lines",
        "SELECT order_id, product_id, quantity, product_name, unit_price, currency
           FROM stock_reservation_lines ORDER BY order_id, product_id",
    ),
    (
        "units reserved per order",
        "SELECT r.order_id, r.status, count(l.*) AS lines, coalesce(sum(l.quantity), 0) AS units,
                coalesce(sum(l.quantity * l.unit_price), 0) AS amount
           FROM stock_reservations r
           LEFT JOIN stock_reservation_lines l ON l.order_id = r.order_id
          GROUP BY r.order_id, r.status ORDER BY r.order_id",
    ),
    (
        "units reserved per product",
        "SELECT l.product_id, sum(l.quantity) AS units
           FROM stock_reservation_lines l JOIN stock_reservations r USING (order_id)
          WHERE r.status = 'RESERVED' GROUP BY l.product_id ORDER BY l.product_id",
    ),
    (
        "flash sales",
        "SELECT id, product_id, price, currency, total_quantity, per_user_limit, starts_at,
                ends_at, sold, held, returned, returned_at, counter_epoch, created_by
           FROM flash_sales ORDER BY id",
    ),
    (
        "flash sale purchases",
        "SELECT id, sale_id, user_id, idempotency_key, quantity, unit_price, currency,
                product_id, product_name, address_id, status, reason, returned_at
           FROM flash_sale_purchases ORDER BY id",
    ),
    (
        "units held per flash sale",
        "SELECT s.id, s.total_quantity, s.held, s.sold,
                coalesce(sum(p.quantity) FILTER (WHERE p.returned_at IS NULL), 0) AS purchased
           FROM flash_sales s LEFT JOIN flash_sale_purchases p ON p.sale_id = s.id
          GROUP BY s.id ORDER BY s.id",
    ),
];

const CART_SNAPSHOT: &[(&str, &str)] = &[
    (
        "carts",
        "SELECT id, user_id, created_at FROM carts ORDER BY id",
    ),
    (
        "cart lines",
        "SELECT c.user_id, i.cart_id, i.product_id, i.quantity, i.added_at
           FROM cart_items i JOIN carts c ON c.id = i.cart_id
          ORDER BY i.cart_id, i.product_id",
    ),
    (
        "units per cart",
        "SELECT c.id, count(i.*) AS lines, coalesce(sum(i.quantity), 0) AS units
           FROM carts c LEFT JOIN cart_items i ON i.cart_id = c.id
          GROUP BY c.id ORDER BY c.id",
    ),
    (
        "cart checkouts",
        "SELECT order_id, user_id FROM cart_checkouts ORDER BY order_id",
    ),
];

const ORDER_SNAPSHOT: &[(&str, &str)] = &[
    (
        "orders",
        "SELECT id, number, user_id, status, currency, subtotal_amount, discount_amount,
                total_amount, version, created_at, expires_at, paid_at, cancelled_at,
                cancel_reason, shipping_address, note, stock_returned_at
           FROM orders ORDER BY id",
    ),
    (
        "order lines",
        "SELECT order_id, position, product_id, product_name, unit_price, quantity
           FROM order_items ORDER BY order_id, position",
    ),
    (
        "order totals from their lines",
        "SELECT o.id, o.status, o.total_amount, count(i.*) AS lines, sum(i.quantity) AS units,
                sum(i.unit_price * i.quantity) AS lines_amount
           FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
          GROUP BY o.id ORDER BY o.id",
    ),
    (
        "order status history",
        "SELECT id, order_id, from_status, to_status, at FROM order_status_history ORDER BY id",
    ),
];

async fn snapshot(
    conn: &mut AsyncPgConnection,
    queries: &'static [(&'static str, &'static str)],
) -> Vec<(&'static str, Vec<Value>)> {
    let mut taken = Vec::new();
    for (what, sql) in queries {
        let found = rows(conn, sql).await;
        assert!(!found.is_empty(), "the seed has no {what}");
        taken.push((*what, found));
    }
    taken
}

async fn assert_unchanged(
    schema: &str,
    queries: &'static [(&'static str, &'static str)],
    before: &[(&'static str, Vec<Value>)],
    conn: &mut AsyncPgConnection,
) {
    let after = snapshot(conn, queries).await;
    for ((what, was), (_, is)) in before.iter().zip(&after) {
        assert_eq!(
            is, was,
            "{schema}: {what} changed by the variant migrations (left: after, right: before)"
        );
    }
}

// ---------------------------------------------------------------------------------------
// What the migrated rows name.

/// Every product has exactly one variant: its own id, price, stock, the default SKU, no
/// options, no picture of its own (it shows the product's), archived with its product;
/// nothing else has a variant.
async fn check_variants(catalog: &mut AsyncPgConnection) {
    let products = rows(
        catalog,
        "SELECT p.id, p.name, p.status, p.price_amount, p.stock, p.image_url,
                coalesce(json_agg(json_build_object(
                    'id', v.id, 'sku', v.sku, 'price_amount', v.price_amount, 'stock', v.stock,
                    'status', v.status, 'options', v.options, 'image_url', v.image_url,
                    'position', v.position, 'name', variant_name(v.options, p.name),
                    'default_sku', default_sku(p.id)))
                  FILTER (WHERE v.id IS NOT NULL), '[]') AS variants
           FROM products p LEFT JOIN product_variants v ON v.product_id = p.id
          GROUP BY p.id ORDER BY p.id",
    )
    .await;
    assert_eq!(products.len(), 6, "products after the migration");
    for product in &products {
        let id: Uuid = serde_json::from_value(product["id"].clone()).unwrap();
        let sku = peer_api::default_sku(id);
        let status = if product["status"] == "ARCHIVED" {
            "ARCHIVED"
        } else {
            "ACTIVE"
        };
        assert_eq!(
            product["variants"],
            json!([{
                "id": id,
                "sku": sku,
                "price_amount": product["price_amount"],
                "stock": product["stock"],
                "status": status,
                "options": [],
                "image_url": null,
                "position": 0,
                "name": product["name"],
                "default_sku": sku,
            }]),
            "the variants of product {product}"
        );
    }
    let stray = one(
        catalog,
        "SELECT count(*) AS n FROM product_variants v
          WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.id = v.product_id AND p.id = v.id)",
    )
    .await;
    assert_eq!(
        stray,
        json!({"n": 0}),
        "variants that are not a product's own"
    );
}

/// Ledger rows, reservation lines, the flash sale and its purchases name the product's own
/// variant, with its SKU and the name the line was taken under.
async fn check_catalog_references(catalog: &mut AsyncPgConnection) {
    let ledger = rows(
        catalog,
        "SELECT id, product_id, variant_id FROM stock_ledger
          WHERE variant_id IS DISTINCT FROM product_id ORDER BY id",
    )
    .await;
    assert_eq!(
        ledger,
        Vec::<Value>::new(),
        "stock ledger rows not of the product's own variant"
    );

    for (what, table) in [
        ("stock reservation lines", "stock_reservation_lines"),
        ("flash sale purchases", "flash_sale_purchases"),
    ] {
        let lines = rows(
            catalog,
            &format!(
                "SELECT product_id, variant_id, sku, variant_name, product_name, options
                   FROM {table} ORDER BY product_id, variant_name"
            ),
        )
        .await;
        assert!(!lines.is_empty(), "no {what}");
        for line in &lines {
            let product: Uuid = serde_json::from_value(line["product_id"].clone()).unwrap();
            assert_eq!(
                (
                    &line["variant_id"],
                    &line["sku"],
                    &line["variant_name"],
                    &line["options"]
                ),
                (
                    &json!(product),
                    &json!(peer_api::default_sku(product)),
                    &line["product_name"],
                    &json!([])
                ),
                "{what}: {line}"
            );
        }
    }
    // The renamed product's lines keep the name they were reserved under.
    let renamed = one(
        catalog,
        "SELECT count(*) AS n FROM stock_reservation_lines WHERE variant_name = 'Phone X'",
    )
    .await;
    assert_eq!(renamed, json!({"n": 3}), "lines of the renamed product");

    let sales = rows(
        catalog,
        "SELECT id, product_id, variant_id FROM flash_sales WHERE variant_id IS DISTINCT FROM product_id",
    )
    .await;
    assert_eq!(
        sales,
        Vec::<Value>::new(),
        "flash sales not of the product's own variant"
    );
}

async fn check_cart_lines(cart: &mut AsyncPgConnection) {
    let lines = rows(
        cart,
        "SELECT cart_id, product_id, variant_id FROM cart_items
          WHERE variant_id IS DISTINCT FROM product_id",
    )
    .await;
    assert_eq!(
        lines,
        Vec::<Value>::new(),
        "cart lines not of the product's own variant"
    );
}

/// Order lines name the product's own variant with its SKU, the name they were bought under
/// and no options: the same as the catalog's reservation lines of those orders.
async fn check_order_lines(order: &mut AsyncPgConnection, catalog: &mut AsyncPgConnection) {
    let lines = rows(
        order,
        "SELECT order_id, position, product_id, product_name, variant_id, sku, variant_name,
                options, unit_price, quantity
           FROM order_items ORDER BY order_id, position",
    )
    .await;
    assert_eq!(lines.len(), 9, "order lines");
    for line in &lines {
        let product: Uuid = serde_json::from_value(line["product_id"].clone()).unwrap();
        assert_eq!(
            (
                &line["variant_id"],
                &line["sku"],
                &line["variant_name"],
                &line["options"]
            ),
            (
                &json!(product),
                &json!(peer_api::default_sku(product)),
                &line["product_name"],
                &json!("[]")
            ),
            "order line {line}"
        );
        let options: Value = serde_json::from_str(line["options"].as_str().unwrap()).unwrap();
        assert_eq!(
            options,
            json!([]),
            "order line options are a JSON array: {line}"
        );
    }

    // The two subgraphs migrated without reading each other, yet agree line by line.
    let in_order: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!([
                l["order_id"],
                l["variant_id"],
                l["sku"],
                l["variant_name"],
                l["unit_price"],
                l["quantity"]
            ])
        })
        .collect();
    let reserved = rows(
        catalog,
        "SELECT order_id, variant_id, sku, variant_name, unit_price, quantity
           FROM stock_reservation_lines ORDER BY order_id, variant_id",
    )
    .await;
    assert_eq!(reserved.len(), 8, "reservation lines");
    for line in &reserved {
        let line = json!([
            line["order_id"],
            line["variant_id"],
            line["sku"],
            line["variant_name"],
            line["unit_price"],
            line["quantity"]
        ]);
        assert!(
            in_order.contains(&line),
            "reservation line {line} matches no order line of {in_order:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Stock still moves.

/// Stock and sales count of a product and of its only variant.
async fn stock_of(catalog: &mut AsyncPgConnection, product: Uuid) -> Value {
    one_named(
        catalog,
        "SELECT p.stock, p.sales_count, v.stock AS variant_stock
               FROM products p JOIN product_variants v ON v.product_id = p.id
              WHERE p.id = '{product}'",
        json!({ "product": product }),
    )
    .await
}

async fn reserve_after_migration(catalog: &mut AsyncPgConnection, ids: &Ids) {
    let case = ids.case;
    let before = stock_of(catalog, case).await;
    let order = Uuid::new_v4();
    let reserved = rows_named(
        catalog,
        "SELECT outcome, product_id, variant_id, sku, variant_name, options, quantity,
                    available, unit_price
               FROM reserve_stock('{order}', ARRAY['{case}']::uuid[], ARRAY[NULL]::uuid[],
                                  ARRAY[4])",
        json!({ "order": order, "case": case }),
    )
    .await;
    let stock = before["stock"].as_i64().unwrap();
    assert_eq!(
        reserved,
        vec![json!({
            "outcome": "RESERVED", "product_id": case, "variant_id": case,
            "sku": peer_api::default_sku(case), "variant_name": "Phone case", "options": [],
            "quantity": 4, "available": stock - 4, "unit_price": 4900,
        })],
        "reserve_stock of a migrated product without naming its variant"
    );
    let after = stock_of(catalog, case).await;
    assert_eq!(
        after,
        json!({
            "stock": stock - 4,
            "sales_count": before["sales_count"].as_i64().unwrap() + 4,
            "variant_stock": before["variant_stock"].as_i64().unwrap() - 4,
        }),
        "the product's and its variant's stock after reserving 4 (before: {before})"
    );
    let line = one_named(
        catalog,
        "SELECT variant_id, sku, quantity FROM stock_reservation_lines
              WHERE order_id = '{order}'",
        json!({ "order": order }),
    )
    .await;
    assert_eq!(
        line,
        json!({"variant_id": case, "sku": peer_api::default_sku(case), "quantity": 4}),
        "the new reservation's line"
    );

    // A catalog replica of the old version (a rolling deploy) still reserves.
    let cable = ids.cable;
    let old_signature = rows_named(
        catalog,
        "SELECT outcome, variant_id, quantity
               FROM reserve_stock('{other_order}', ARRAY['{cable}']::uuid[], ARRAY[1])",
        json!({ "other_order": Uuid::new_v4(), "cable": cable }),
    )
    .await;
    assert_eq!(
        old_signature,
        vec![json!({"outcome": "RESERVED", "variant_id": cable, "quantity": 1})],
        "reserve_stock with the version-1 signature"
    );

    // The archived product's variant is not on sale; asking too much is refused.
    for (product, quantity, outcome) in
        [(ids.old, 1, "INACTIVE"), (ids.phone, 1000, "INSUFFICIENT")]
    {
        let order = Uuid::new_v4();
        let refused = rows_named(
        catalog,
        "SELECT outcome FROM reserve_stock('{order}', ARRAY['{product}']::uuid[],
                                                   ARRAY[NULL]::uuid[], ARRAY[($1::jsonb ->> 'quantity')::int])",
        json!({ "order": order, "product": product, "quantity": quantity }),
    )
        .await;
        assert_eq!(
            refused,
            vec![json!({ "outcome": outcome })],
            "reserving {quantity} of {product}"
        );
        let claims = one_named(
            catalog,
            "SELECT count(*) AS n FROM stock_reservations WHERE order_id = '{order}'",
            json!({ "order": order }),
        )
        .await;
        assert_eq!(
            claims,
            json!({"n": 0}),
            "a refused reservation leaves no claim"
        );
    }
}

/// Releasing a reservation made before the migration gives its units back to the variants
/// (and the products).
async fn release_after_migration(catalog: &mut AsyncPgConnection, ids: &Ids) {
    let phone_before = stock_of(catalog, ids.phone).await;
    let case_before = stock_of(catalog, ids.case).await;
    let released = rows_named(
        catalog,
        "SELECT product ->> 'id' AS id FROM release_stock('{pending}', 'test') ORDER BY 1",
        json!({ "pending": ids.pending }),
    )
    .await;
    assert_eq!(
        released.len(),
        2,
        "products changed by releasing the old reservation: {released:?}"
    );
    for (product, before, units) in [(ids.phone, phone_before, 1), (ids.case, case_before, 2)] {
        let after = stock_of(catalog, product).await;
        let plus = |key: &str, n: i64| before[key].as_i64().unwrap() + n;
        assert_eq!(
            after,
            json!({
                "stock": plus("stock", units),
                "sales_count": plus("sales_count", -units),
                "variant_stock": plus("variant_stock", units),
            }),
            "product {product} after releasing {units} (before: {before})"
        );
    }
    let reservation = one_named(
        catalog,
        "SELECT status, release_reason FROM stock_reservations WHERE order_id = '{pending}'",
        json!({ "pending": ids.pending }),
    )
    .await;
    assert_eq!(
        reservation,
        json!({"status": "RELEASED", "release_reason": "test"}),
        "the released reservation"
    );

    // Once only.
    let stock = rows(catalog, "SELECT id, stock FROM products ORDER BY id").await;
    let again = rows_named(
        catalog,
        "SELECT * FROM release_stock('{pending}', 'again')",
        json!({ "pending": ids.pending }),
    )
    .await;
    assert_eq!(
        again,
        Vec::<Value>::new(),
        "a second release changes nothing"
    );
    assert_eq!(
        rows(catalog, "SELECT id, stock FROM products ORDER BY id").await,
        stock,
        "stock after a second release"
    );

    // Every product's stock is its (only) variant's.
    let apart = rows(
        catalog,
        "SELECT p.id, p.stock, sum(v.stock) AS variants FROM products p
           JOIN product_variants v ON v.product_id = p.id
          GROUP BY p.id HAVING p.stock <> sum(v.stock)",
    )
    .await;
    assert_eq!(
        apart,
        Vec::<Value>::new(),
        "products whose stock is not their variants'"
    );
}

/// A cart replica of the old version inserts lines without a variant: they mean the
/// product's own.
async fn cart_line_without_variant(cart: &mut AsyncPgConnection, ids: &Ids) {
    execute_named(
        cart,
        "INSERT INTO cart_items (cart_id, product_id, quantity) VALUES ('{cart_c}', '{case}', 1)",
        json!({ "cart_c": ids.cart_c, "case": ids.case }),
    )
    .await;
    let line = one_named(
        cart,
        "SELECT variant_id, quantity FROM cart_items WHERE cart_id = '{cart_c}'",
        json!({ "cart_c": ids.cart_c }),
    )
    .await;
    assert_eq!(
        line,
        json!({"variant_id": ids.case, "quantity": 1}),
        "a line inserted without a variant"
    );
}

/// The ledger explains the stock: for each product (before) or variant (after), its deltas
/// sum to its stock and the newest row's `stock_after` is that stock.
async fn assert_ledger_explains_stock(catalog: &mut AsyncPgConnection, when: &str) {
    let has_variants = one(
        catalog,
        "SELECT to_regclass('product_variants') IS NOT NULL AS yes",
    )
    .await["yes"]
        == json!(true);
    let (table, key) = if has_variants {
        ("product_variants", "variant_id")
    } else {
        ("products", "product_id")
    };
    let unexplained = rows(
        catalog,
        &format!(
            "SELECT s.id, s.stock,
                    (SELECT coalesce(sum(l.delta), 0) FROM stock_ledger l WHERE l.{key} = s.id)
                        AS deltas,
                    (SELECT l.stock_after FROM stock_ledger l WHERE l.{key} = s.id
                      ORDER BY l.id DESC LIMIT 1) AS newest
               FROM {table} s
              WHERE s.stock <> (SELECT coalesce(sum(l.delta), 0) FROM stock_ledger l
                                 WHERE l.{key} = s.id)
                 OR s.stock IS DISTINCT FROM coalesce(
                        (SELECT l.stock_after FROM stock_ledger l WHERE l.{key} = s.id
                          ORDER BY l.id DESC LIMIT 1), 0)
              ORDER BY s.id"
        ),
    )
    .await;
    assert_eq!(
        unexplained,
        Vec::<Value>::new(),
        "{table} whose stock the ledger does not explain, {when}"
    );
}

// ---------------------------------------------------------------------------------------
// SQL plumbing.

async fn connect(url: &str, schema: &str) -> AsyncPgConnection {
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .expect("connecting to the test database");
    conn.batch_execute(&format!("SET search_path TO {}", quote_ident(schema)))
        .await
        .expect("search_path");
    conn
}

async fn execute(conn: &mut AsyncPgConnection, sql: &str) {
    if let Err(error) = conn.batch_execute(sql).await {
        panic!("{sql}\nfailed: {error}");
    }
}

/// Runs one statement whose values come from `params`, bound as `$1` (JSON).
async fn execute_with(conn: &mut AsyncPgConnection, sql: &str, params: Value) {
    if let Err(error) = diesel::sql_query(sql)
        .bind::<diesel::sql_types::Text, _>(params.to_string())
        .execute(conn)
        .await
    {
        panic!("{sql}\nfailed: {error}");
    }
}

/// The rows of `sql`, each a JSON object of its columns.
async fn rows(conn: &mut AsyncPgConnection, sql: &str) -> Vec<Value> {
    rows_with(conn, sql, json!({})).await
}

/// The rows of `sql`, whose values come from `params`, bound as `$1` (JSON: `$1->>'order'`).
async fn rows_with(conn: &mut AsyncPgConnection, sql: &str, params: Value) -> Vec<Value> {
    #[derive(diesel::QueryableByName)]
    struct Rows {
        #[diesel(sql_type = diesel::sql_types::Text)]
        doc: String,
    }
    let wrapped = format!(
        "SELECT coalesce(json_agg(t), '[]')::text AS doc FROM ({sql}) t, \
         (SELECT $1::jsonb) AS bound (p)"
    );
    let found: Rows = diesel::sql_query(&wrapped)
        .bind::<diesel::sql_types::Text, _>(params.to_string())
        .get_result(conn)
        .await
        .unwrap_or_else(|error| panic!("{sql}\nfailed: {error}"));
    serde_json::from_str(&found.doc).expect("JSON rows")
}

/// `template` with each quoted placeholder `'{name}'` read from the bound JSON `$1` as a
/// uuid: the SQL text is the template's own, every value travels bound.
fn named(template: &str) -> String {
    let mut sql = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("'{") {
        let Some(end) = rest[start..].find("}'") else {
            break;
        };
        let name = &rest[start + 2..start + end];
        sql.push_str(&rest[..start]);
        sql.push_str(&format!("($1::jsonb ->> '{name}')::uuid"));
        rest = &rest[start + end + 2..];
    }
    sql.push_str(rest);
    sql
}

/// Runs the statements of `template` (see [`named`]) one by one, their values from `params`.
async fn execute_named(conn: &mut AsyncPgConnection, template: &str, params: Value) {
    for statement in template.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let sql = named(statement);
        if sql.contains("$1") {
            execute_with(conn, &sql, params.clone()).await;
        } else {
            execute(conn, &sql).await;
        }
    }
}

/// The rows of `template` (see [`named`]), its values from `params`.
async fn rows_named(conn: &mut AsyncPgConnection, template: &str, params: Value) -> Vec<Value> {
    rows_with(conn, &named(template), params).await
}

/// The only row of `template` (see [`named`]), its values from `params`.
async fn one_named(conn: &mut AsyncPgConnection, template: &str, params: Value) -> Value {
    let mut found = rows_named(conn, template, params).await;
    assert_eq!(
        found.len(),
        1,
        "one row expected from {template}: {found:?}"
    );
    found.remove(0)
}

/// The only row of `sql`.
async fn one(conn: &mut AsyncPgConnection, sql: &str) -> Value {
    let mut found = rows(conn, sql).await;
    assert_eq!(found.len(), 1, "one row expected from {sql}: {found:?}");
    found.remove(0)
}
