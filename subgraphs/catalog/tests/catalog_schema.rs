//! Catalog schema tests on a real, freshly migrated and seeded database.

use std::collections::HashSet;

use async_graphql::{Request, Variables};
use catalog_subgraph::cache::{MemoryCategories, ProductCache};
use catalog_subgraph::db::models::ProductRow;
use catalog_subgraph::graphql::loaders::add_loaders;
use catalog_subgraph::seed::{demo_products, seed_demo_data};
use catalog_subgraph::{CatalogSchema, DATABASE, schema};
use serde_json::{Value, json};
use service_kit::loader::BatchWindow;
use test_support::{TestStores, error_codes};

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
    let cache = ProductCache::new(test.stores.redis.clone());
    execute_with(test, &cache, schema, query, variables).await
}

async fn execute_with(
    test: &TestStores,
    cache: &ProductCache,
    schema: &CatalogSchema,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = Request::new(query).variables(Variables::from_json(variables));
    add_loaders(
        &test.stores.db,
        &(
            cache.clone(),
            MemoryCategories::default(),
            catalog_subgraph::memo::MemoryDetails::default(),
        ),
        BatchWindow::Yield,
        &mut request.data,
    );
    let response = schema.execute(request).await;
    serde_json::to_value(&response).unwrap()
}

// One thread: the DataLoader's batch task cannot start while the `_entities` resolvers are
// still being polled, so the batch is never split by a slow, busy machine. Under load in
// production a batch may split in two; it never becomes N.
#[tokio::test(flavor = "current_thread")]
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

    // The same entities again come from the Redis cache: no SQL at all.
    test.statements.reset();
    let again = execute(&test, &schema, query, json!({ "r": representations })).await;
    assert_eq!(again["data"], response["data"]);
    assert_eq!(test.statements.get(), 0, "served from the product cache");
}

#[tokio::test(flavor = "current_thread")]
async fn product_reads_survive_a_redis_outage() {
    let (test, schema) = seeded().await;
    // Nothing listens on port 1: every cache call fails.
    let down = service_kit::Redis::connect_lazy("redis://127.0.0.1:1", "down:", 1).unwrap();
    let cache = ProductCache::new(down);
    let products = demo_products();
    let id = products[0].id.to_string();
    let response = execute_with(
        &test,
        &cache,
        &schema,
        "query($id: ID!, $ids: [ID!]!) { product(id: $id) { name } productsByIds(ids: $ids) { name } }",
        json!({ "id": id, "ids": [id] }),
    )
    .await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    assert_eq!(response["data"]["product"]["name"], products[0].name);
    assert_eq!(
        response["data"]["productsByIds"][0]["name"],
        products[0].name
    );
}

/// Whatever order cache updates arrive in, the cache keeps the row with the highest version
/// (the last commit): a write-through delayed behind a later one, or a reader filling in a
/// row it loaded before a write, cannot bring an old price back.
#[tokio::test(flavor = "current_thread")]
async fn the_cache_never_replaces_a_row_with_an_older_version() {
    let test = TestStores::create(&DATABASE).await.expect("test database");
    keeps_the_newest_row(&ProductCache::new(test.stores.redis.clone())).await;
}

/// A cache with memory, once its invalidation channel is up (memory is used from then on).
async fn memory_cache(redis: service_kit::Redis) -> ProductCache {
    let cache = ProductCache::with_memory(redis, 100);
    let subscribed = async {
        while !cache.uses_memory() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), subscribed)
        .await
        .expect("invalidation channel up");
    cache
}

/// The same with the rows also held in memory (as the catalog's readers hold them).
#[tokio::test(flavor = "multi_thread")]
async fn memory_never_replaces_a_row_with_an_older_version_either() {
    let test = TestStores::create(&DATABASE).await.expect("test database");
    let cache = memory_cache(test.stores.redis.clone()).await;
    keeps_the_newest_row(&cache).await;
    // Those reads came from memory: they go on without the Redis copy.
    let id = demo_products()[0].id;
    let mut conn = test.stores.redis.connection().await.expect("redis");
    let key = test.stores.redis.key(&format!("catalog:product:{id}"));
    let _: () = service_kit::redis::redis::cmd("DEL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("DEL");
    assert_eq!(cache.get_many(&[id]).await[&id].price_amount, 500);
}

/// A row read from PostgreSQL before the invalidation channel was (re)established may have
/// missed an invalidation: memory does not keep it. One read after is kept.
#[tokio::test(flavor = "multi_thread")]
async fn memory_keeps_no_row_read_before_its_channel_came_back() {
    let test = TestStores::create(&DATABASE).await.expect("test database");
    let redis = test.stores.redis.clone();
    let cache = memory_cache(redis.clone()).await;
    let row = demo_products()[0].clone();
    let id = row.id;
    let mut conn = redis.connection().await.expect("redis");
    let conn_for_drops = conn.clone();
    let drop_redis_copy = || {
        let mut conn = conn_for_drops.clone();
        let key = redis.key(&format!("catalog:product:{id}"));
        async move {
            let _: () = service_kit::redis::redis::cmd("DEL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .expect("DEL");
        }
    };

    let before = cache.read_ticket();
    // Every replica forgets and starts afresh, as after its subscription came back.
    let _: i64 = service_kit::redis::redis::cmd("PUBLISH")
        .arg(catalog_subgraph::cache::invalidation_channel(&redis))
        .arg(catalog_subgraph::cache::FORGET_ALL)
        .query_async(&mut conn)
        .await
        .expect("PUBLISH");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    cache.fill(std::slice::from_ref(&row), before).await;
    drop_redis_copy().await;
    assert!(
        cache.get_many(&[id]).await.is_empty(),
        "kept a row read before"
    );

    let after = cache.read_ticket();
    cache.fill(std::slice::from_ref(&row), after).await;
    drop_redis_copy().await;
    assert_eq!(cache.get_many(&[id]).await[&id].version, row.version);
}

async fn keeps_the_newest_row(cache: &ProductCache) {
    let original = demo_products()[0].clone();
    let id = original.id;
    let version = |version: i64, price_amount: i64| ProductRow {
        version,
        price_amount,
        ..original.clone()
    };
    let cached_price = || async { cache.get_many(&[id]).await[&id].price_amount };

    cache.put(&version(3, 300)).await;
    cache.put(&version(2, 200)).await;
    assert_eq!(cached_price().await, 300, "an earlier commit arrived late");
    cache.fill(&[version(1, 100)], cache.read_ticket()).await;
    assert_eq!(cached_price().await, 300, "a reader's old row arrived late");
    cache.fill(&[version(4, 400)], cache.read_ticket()).await;
    assert_eq!(
        cached_price().await,
        400,
        "a newer row read from PostgreSQL"
    );
    cache.put(&version(5, 500)).await;
    assert_eq!(cached_price().await, 500, "a newer write");
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
        uuid::Uuid::new_v4().to_string(),
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
    // A malformed id is the caller's mistake, named by its position.
    let malformed = execute(
        &test,
        &schema,
        query,
        json!({ "ids": [active[0].id.to_string(), "nope"] }),
    )
    .await;
    assert_eq!(
        malformed["errors"][0]["extensions"],
        json!({ "code": "BAD_USER_INPUT", "field": "ids[1]" }),
        "{malformed}"
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

/// Every page of `products(filter, sort)` with `first: 7`: the ids in order, and each
/// page's `totalCount`.
async fn page_through(
    test: &TestStores,
    schema: &CatalogSchema,
    filter: &Value,
    sort: &str,
) -> (Vec<String>, Vec<i64>) {
    let query = "query($after: String, $filter: ProductFilter, $sort: ProductSort) {
        products(first: 7, after: $after, filter: $filter, sort: $sort) {
            totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }";
    let mut after = Value::Null;
    let (mut ids, mut totals) = (Vec::new(), Vec::new());
    loop {
        let response = execute(
            test,
            schema,
            query,
            json!({ "after": after, "filter": filter, "sort": sort }),
        )
        .await;
        assert_eq!(
            response["errors"],
            Value::Null,
            "{sort} {filter}: {response}"
        );
        let page = &response["data"]["products"];
        totals.push(page["totalCount"].as_i64().unwrap());
        ids.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["id"].as_str().unwrap().to_owned()),
        );
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return (ids, totals);
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_filter_and_sort_pages_through_exactly_the_expected_products() {
    use catalog_subgraph::db::models::ProductRow;
    use catalog_subgraph::seed::demo_categories;

    let (test, schema) = seeded().await;
    let categories = demo_categories();
    // A top-level category with sub-categories: its products are those of its children.
    let parent = categories
        .iter()
        .find(|c| c.parent_id.is_none() && categories.iter().any(|k| k.parent_id == Some(c.id)))
        .unwrap();
    let subtree: HashSet<_> = categories
        .iter()
        .filter(|c| c.id == parent.id || c.parent_id == Some(parent.id))
        .map(|c| c.id)
        .collect();
    let visible: Vec<ProductRow> = demo_products()
        .into_iter()
        .filter(|p| p.status == "ACTIVE")
        .collect();

    type Keep = Box<dyn Fn(&ProductRow) -> bool>;
    let subtree_keep = subtree.clone();
    let filters: Vec<(Value, Keep)> = vec![
        (json!({}), Box::new(|_| true)),
        (
            json!({ "categoryId": parent.id.to_string() }),
            Box::new(move |p| p.category_id.is_some_and(|c| subtree_keep.contains(&c))),
        ),
        (
            json!({ "minPrice": 10000, "maxPrice": 300000 }),
            Box::new(|p| (10000..=300000).contains(&p.price_amount)),
        ),
        (json!({ "inStock": false }), Box::new(|p| p.stock == 0)),
        (
            json!({ "inStock": true, "maxPrice": 50000, "categoryId": parent.id.to_string() }),
            Box::new(move |p| {
                p.stock > 0
                    && p.price_amount <= 50000
                    && p.category_id.is_some_and(|c| subtree.contains(&c))
            }),
        ),
    ];
    type Order = fn(&ProductRow, &ProductRow) -> std::cmp::Ordering;
    let sorts: [(&str, Order); 5] = [
        ("NEWEST", |a, b| {
            (b.created_at, b.id).cmp(&(a.created_at, a.id))
        }),
        ("RELEVANCE", |a, b| {
            (b.created_at, b.id).cmp(&(a.created_at, a.id))
        }),
        ("PRICE_ASC", |a, b| {
            (a.price_amount, a.id).cmp(&(b.price_amount, b.id))
        }),
        ("PRICE_DESC", |a, b| {
            (b.price_amount, b.id).cmp(&(a.price_amount, a.id))
        }),
        ("BEST_SELLING", |a, b| {
            (b.sales_count, b.id).cmp(&(a.sales_count, a.id))
        }),
    ];
    for (filter, keep) in &filters {
        let mut expected: Vec<&ProductRow> = visible.iter().filter(|p| keep(p)).collect();
        assert!(!expected.is_empty(), "the fixture exercises {filter}");
        for (sort, order) in &sorts {
            expected.sort_by(|a, b| order(a, b));
            let (ids, totals) = page_through(&test, &schema, filter, sort).await;
            let want: Vec<String> = expected.iter().map(|p| p.id.to_string()).collect();
            assert_eq!(ids, want, "{sort} {filter}");
            assert!(
                totals.iter().all(|t| *t as usize == want.len()),
                "{sort} {filter}: {totals:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_filters_and_foreign_cursors_are_bad_user_input() {
    let (test, schema) = seeded().await;
    let query = "query($after: String, $filter: ProductFilter, $sort: ProductSort) {
        products(first: 3, after: $after, filter: $filter, sort: $sort) { pageInfo { endCursor } } }";
    let price_cursor = execute(&test, &schema, query, json!({ "sort": "PRICE_ASC" })).await["data"]
        ["products"]["pageInfo"]["endCursor"]
        .clone();
    let cases = [
        ("filter.minPrice", json!({ "filter": { "minPrice": -1 } })),
        (
            "filter.minPrice",
            json!({ "filter": { "minPrice": 500, "maxPrice": 100 } }),
        ),
        (
            "filter.categoryId",
            json!({ "filter": { "categoryId": "nope" } }),
        ),
        (
            "filter.categoryId",
            json!({ "filter": { "categoryId": "00000000-0000-0000-0000-000000000000" } }),
        ),
        ("after", json!({ "sort": "NEWEST", "after": price_cursor })),
        ("after", json!({ "after": "eyJzIjoiTmV3ZXN0In0" })),
    ];
    for (field, variables) in cases {
        let response = execute(&test, &schema, query, variables.clone()).await;
        assert_eq!(
            error_codes(&response),
            ["BAD_USER_INPUT"],
            "{variables}: {response}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{response}"
        );
    }
}

/// All results of a search, in one page (the fixture has fewer than 100 matches).
async fn search_all(
    test: &TestStores,
    schema: &CatalogSchema,
    term: &str,
    sort: &str,
) -> Vec<(String, String, String)> {
    let response = execute(
        test,
        schema,
        "query($f: ProductFilter, $s: ProductSort) { products(first: 100, filter: $f, sort: $s) {
            totalCount edges { node { id name category { name } } } } }",
        json!({ "f": { "search": term }, "s": sort }),
    )
    .await;
    assert_eq!(response["errors"], Value::Null, "{term}: {response}");
    let page = &response["data"]["products"];
    let edges = page["edges"].as_array().unwrap();
    assert_eq!(
        page["totalCount"].as_u64().unwrap() as usize,
        edges.len(),
        "{term}"
    );
    edges
        .iter()
        .map(|e| {
            (
                e["node"]["id"].as_str().unwrap().to_owned(),
                e["node"]["name"].as_str().unwrap().to_owned(),
                e["node"]["category"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn search_ranks_phones_first_tolerates_typos_and_finds_chinese() {
    let (test, schema) = seeded().await;
    let active_iphones: HashSet<String> = demo_products()
        .into_iter()
        .filter(|p| p.status == "ACTIVE" && p.name.starts_with("iPhone"))
        .map(|p| p.id.to_string())
        .collect();
    assert!(!active_iphones.is_empty());

    // "phone": every product of the Phones category before any phone accessory.
    let phone = search_all(&test, &schema, "phone", "RELEVANCE").await;
    let last_phone = phone
        .iter()
        .rposition(|(_, _, c)| c.starts_with("Phones"))
        .unwrap();
    let first_accessory = phone
        .iter()
        .position(|(_, _, c)| c.starts_with("Phone Accessories"))
        .unwrap();
    assert!(last_phone < first_accessory, "{phone:#?}");
    let found: HashSet<String> = phone.iter().map(|(id, ..)| id.clone()).collect();
    assert!(active_iphones.is_subset(&found), "iPhones are phones");

    // A typo still finds the iPhones, first.
    let typo = search_all(&test, &schema, "iphnoe", "RELEVANCE").await;
    let first: HashSet<String> = typo
        .iter()
        .take(active_iphones.len())
        .map(|(id, ..)| id.clone())
        .collect();
    assert_eq!(first, active_iphones, "{typo:#?}");

    // Chinese: a word inside a name, and a category's Chinese name.
    let tea = search_all(&test, &schema, "龙井", "RELEVANCE").await;
    assert!(
        tea.iter().any(|(_, n, _)| n.contains("西湖龙井")),
        "{tea:#?}"
    );
    let cases = search_all(&test, &schema, "手机壳", "RELEVANCE").await;
    let exact = cases
        .iter()
        .take_while(|(_, n, _)| n.contains("手机壳"))
        .count();
    assert!(exact > 0, "{cases:#?}");
    assert!(
        cases[exact..].iter().all(|(_, n, _)| !n.contains("手机壳")),
        "names with the term come first: {cases:#?}"
    );

    // Nothing matches nonsense; SQL in the term is just text.
    assert!(
        search_all(&test, &schema, "zzqxv", "RELEVANCE")
            .await
            .is_empty()
    );
    search_all(&test, &schema, "'; DROP TABLE products; --", "RELEVANCE").await;
    search_all(&test, &schema, "100% _cotton\\", "NEWEST").await;
    assert_eq!(
        search_all(&test, &schema, "phone", "RELEVANCE").await,
        phone
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn search_pages_exactly_under_every_sort() {
    let (test, schema) = seeded().await;
    for sort in ["RELEVANCE", "NEWEST", "PRICE_ASC", "BEST_SELLING"] {
        let whole = search_all(&test, &schema, "phone", sort).await;
        let (paged, totals) =
            page_through(&test, &schema, &json!({ "search": "phone" }), sort).await;
        let whole_ids: Vec<String> = whole.iter().map(|(id, ..)| id.clone()).collect();
        assert_eq!(paged, whole_ids, "{sort}: first 7 at a time = all at once");
        assert!(totals.iter().all(|t| *t as usize == whole.len()), "{sort}");
    }
    // A relevance cursor continues only its own search.
    let query = "query($f: ProductFilter, $after: String) { products(first: 2, after: $after, filter: $f, sort: RELEVANCE) { pageInfo { endCursor } } }";
    let first = execute(&test, &schema, query, json!({ "f": { "search": "phone" } })).await;
    let cursor = first["data"]["products"]["pageInfo"]["endCursor"].clone();
    let other = execute(
        &test,
        &schema,
        query,
        json!({ "f": { "search": "tea" }, "after": cursor }),
    )
    .await;
    assert_eq!(error_codes(&other), ["BAD_USER_INPUT"], "{other}");
}

/// Names that break hand-quoted SQL; each is found by its own hostile part and by nothing
/// else's.
const HOSTILE: [(&str, &str); 7] = [
    ("Quote's tote", "'"),
    ("Back\\slash cup", "\\"),
    ("Pure 100% cotton", "%"),
    ("snake_case mug", "_"),
    ("Dollar $$ note", "$$"),
    ("Double -- dash", "--"),
    ("长城长城长城纪念品", "长城长城"),
];

async fn insert_hostile_products(test: &TestStores) {
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;
    let mut conn = test.stores.db.get().await.unwrap();
    for (name, _) in HOSTILE {
        diesel::sql_query(
            "INSERT INTO products (id, name, description, price_amount, currency, status, stock) \
             VALUES (gen_random_uuid(), $1, 'plain text', 100, 'CNY', 'ACTIVE', 5)",
        )
        .bind::<Text, _>(name)
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

/// Names of what `term` finds, whichever connection settings the pool has.
async fn names_found(test: &TestStores, schema: &CatalogSchema, term: &str) -> Vec<String> {
    let mut names: Vec<String> = search_all(test, schema, term, "RELEVANCE")
        .await
        .into_iter()
        .map(|(_, name, _)| name)
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_search_terms_find_what_they_should_and_nothing_else() {
    let (test, schema) = seeded().await;
    insert_hostile_products(&test).await;
    let hostile: Vec<&str> = HOSTILE.iter().map(|(name, _)| *name).collect();
    for (name, part) in HOSTILE {
        let found = names_found(&test, &schema, part).await;
        assert!(
            found.contains(&name.to_owned()),
            "{part:?} finds {name:?}: {found:?}"
        );
        for other in hostile.iter().filter(|other| **other != name) {
            assert!(
                !found.contains(&(*other).to_owned()) || other.contains(part),
                "{part:?} also found {other:?}"
            );
        }
    }
    // Wildcards are literal: `%` alone does not match everything.
    let everything = names_found(&test, &schema, "%").await;
    assert_eq!(everything, ["Pure 100% cotton"]);
    // 100 CJK characters are a valid term that simply finds nothing.
    let long = "长".repeat(100);
    assert_eq!(
        names_found(&test, &schema, &long).await,
        Vec::<String>::new()
    );
    // A NUL cannot be stored or searched: refused, nothing run.
    let nul = execute(
        &test,
        &schema,
        "query($f: ProductFilter) { products(filter: $f) { totalCount } }",
        json!({ "f": { "search": "a\u{0}b" } }),
    )
    .await;
    assert_eq!(error_codes(&nul), ["BAD_USER_INPUT"], "{nul}");
}

#[tokio::test(flavor = "multi_thread")]
async fn search_values_are_parameters_even_without_standard_conforming_strings() {
    // Every pooled connection of this database runs with backslash escapes in literals, the
    // setting under which hand-quoted SQL breaks (or is injected into).
    let test = TestStores::create(&catalog_subgraph::DATABASE)
        .await
        .expect("test database");
    {
        use diesel_async::{AsyncConnection as _, SimpleAsyncConnection as _};
        let mut admin = diesel_async::AsyncPgConnection::establish(&test.database.url)
            .await
            .unwrap();
        // A database name is an identifier (it cannot be a bind parameter): quoted.
        let name = test.database.url.rsplit('/').next().unwrap();
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {} SET standard_conforming_strings = off",
                service_kit::db::quote_ident(name)
            ))
            .await
            .unwrap();
    }
    let pool = service_kit::db::pool(&test.database.url, &catalog_subgraph::DATABASE, 2, None)
        .await
        .unwrap();
    {
        use diesel_async::RunQueryDsl;
        let mut conn = pool.get().await.unwrap();
        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Text)]
            standard_conforming_strings: String,
        }
        let setting: Setting = diesel::sql_query("SHOW standard_conforming_strings")
            .get_result(&mut conn)
            .await
            .unwrap();
        assert_eq!(setting.standard_conforming_strings, "off");
    }
    let test = TestStores {
        stores: service_kit::Stores {
            db: pool,
            redis: test.stores.redis.clone(),
        },
        statements: test.statements.clone(),
        database: test.database,
    };
    seed_demo_data(&test.stores.db).await.expect("seed");
    insert_hostile_products(&test).await;
    let schema = schema().data(test.stores.db.clone()).finish();
    // The same data with the default settings: every search must find the same.
    let (normal, normal_schema) = seeded().await;
    insert_hostile_products(&normal).await;
    // The last one is what an injection looks like under these settings: a quote escaped
    // by a backslash, then SQL. It must stay text (its words still match some products).
    let terms = HOSTILE
        .iter()
        .map(|(_, part)| *part)
        .chain(["\\' OR 1=1 --", "kettle"]);
    for term in terms {
        let found = names_found(&test, &schema, term).await;
        let expected = names_found(&normal, &normal_schema, term).await;
        assert_eq!(found, expected, "{term:?}");
    }
    for (name, part) in HOSTILE {
        let found = names_found(&test, &schema, part).await;
        assert!(
            found.contains(&name.to_owned()),
            "{part:?} finds {name:?}: {found:?}"
        );
    }
}

/// One batch of flash-sale recordings (one call of `record_flash_purchases`) answers each
/// admission on its own, in order, against what the batch recorded before it, and raises
/// the sale's `held` by what it recorded, with one `FlashSalePurchaseAdmitted` each.
#[tokio::test]
async fn a_batch_of_flash_recordings_answers_each_admission_on_its_own() {
    use catalog_subgraph::db::flash_purchases::{NewPurchase, Recorded, record_batch};
    use diesel::sql_types::{BigInt, Uuid as SqlUuid};
    use diesel_async::RunQueryDsl;
    use uuid::Uuid;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    let (test, _schema) = seeded().await;
    let mut conn = test.stores.db.get().await.unwrap();
    // 3 units, at most 2 per buyer, counters of epoch 0.
    let sale = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO flash_sales (id, product_id, variant_id, currency, price, total_quantity, \
                                  per_user_limit, starts_at, ends_at) \
         SELECT $1, v.product_id, v.id, 'CNY', 50, 3, 2, now(), now() + interval '1 hour' \
           FROM product_variants v ORDER BY v.id LIMIT 1",
    )
    .bind::<SqlUuid, _>(sale)
    .execute(&mut conn)
    .await
    .unwrap();
    let (a, b, c, d) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let admission = |buyer: Uuid, key: &str, epoch: i32| NewPurchase {
        id: Uuid::now_v7(),
        sale,
        buyer,
        idempotency_key: key.to_owned(),
        request_hash: "same request".to_owned(),
        quantity: 1,
        address: Uuid::now_v7(),
        epoch,
        traceparent: None,
    };
    let batch = vec![
        admission(a, "key-a-1", 0),
        admission(a, "key-a-2", 0),
        admission(a, "key-a-3", 0),
        admission(b, "key-b-1", 0),
        admission(c, "key-c-1", 0),
        admission(a, "key-a-1", 0),
        admission(d, "key-d-1", 7),
    ];
    let first = batch[0].id;
    let describe = |recorded: &Recorded| match recorded {
        Recorded::New(row) => format!("NEW {}", row.idempotency_key),
        Recorded::Existing(row) => format!(
            "EXISTING {} {}",
            row.idempotency_key,
            if row.id == first { "first" } else { "other" }
        ),
        Recorded::Stale => "STALE".to_owned(),
        Recorded::Refused(bound) => bound.reason().to_owned(),
    };
    let answers: Vec<String> = record_batch(&mut conn, sale, &batch)
        .await
        .unwrap()
        .iter()
        .map(describe)
        .collect();
    assert_eq!(
        answers,
        [
            "NEW key-a-1",
            "NEW key-a-2",
            "LIMIT_EXCEEDED",
            "NEW key-b-1",
            "SOLD_OUT",
            "EXISTING key-a-1 first",
            "STALE",
        ]
    );
    async fn held(conn: &mut diesel_async::AsyncPgConnection, sale: Uuid) -> i64 {
        let held: Count =
            diesel::sql_query("SELECT held::bigint AS n FROM flash_sales WHERE id = $1")
                .bind::<SqlUuid, _>(sale)
                .get_result(conn)
                .await
                .unwrap();
        held.n
    }
    assert_eq!(held(&mut conn, sale).await, 3);
    let events: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM outbox o JOIN flash_sale_purchases p \
             ON o.aggregate_id = p.id::text \
          WHERE p.sale_id = $1 AND o.name = 'FlashSalePurchaseAdmitted'",
    )
    .bind::<SqlUuid, _>(sale)
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(events.n, 3);
    // The next batch starts from what this one recorded.
    let next = record_batch(&mut conn, sale, &[admission(d, "key-d-2", 0)])
        .await
        .unwrap();
    assert_eq!(next.iter().map(describe).collect::<Vec<_>>(), ["SOLD_OUT"]);
    assert_eq!(held(&mut conn, sale).await, 3);

    // A batch refused before anything is counted (a key again, a buyer at the limit)
    // takes no lock on the sale: it is answered while another transaction holds the row
    // (else it would wait, then fail on the function's 3 s lock timeout).
    use diesel_async::SimpleAsyncConnection as _;
    let mut other = test.stores.db.get().await.unwrap();
    other.batch_execute("BEGIN").await.unwrap();
    diesel::sql_query("SELECT 1 AS n FROM flash_sales WHERE id = $1 FOR UPDATE")
        .bind::<SqlUuid, _>(sale)
        .execute(&mut other)
        .await
        .unwrap();
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        record_batch(
            &mut conn,
            sale,
            &[admission(a, "key-a-1", 0), admission(a, "key-a-4", 0)],
        ),
    )
    .await
    .expect("answered while the sale's row is held elsewhere")
    .unwrap();
    assert_eq!(
        refused.iter().map(describe).collect::<Vec<_>>(),
        ["EXISTING key-a-1 first", "LIMIT_EXCEEDED"]
    );
    other.batch_execute("ROLLBACK").await.unwrap();
}
