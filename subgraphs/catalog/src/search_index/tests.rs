//! The search index converges on PostgreSQL whatever Redis does, and reads own writes.

use super::*;
use crate::domain::index::Filter;
use crate::domain::search::{ProductSort, Search};

/// How many products `term` finds in the index, if it is current.
async fn found(index: &SearchIndex, term: &str) -> Option<i64> {
    let search = Search::of(term).unwrap();
    let filter = Filter {
        search: Some(&search),
        ..Filter::default()
    };
    index
        .read(|held| held.page(&filter, ProductSort::Newest, None, 10).1)
        .await
}

async fn seeded() -> test_support::TestStores {
    let test = test_support::TestStores::create(&crate::DATABASE)
        .await
        .unwrap();
    crate::seed::seed_demo_data(&test.stores.db).await.unwrap();
    test
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A rename made behind the catalog's back (no announcement, as if Redis lost it) is
/// found by the next reconciliation; before that, the index still answers.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_whose_announcement_was_lost_is_found_by_reconciling() {
    let test = seeded().await;
    let index = SearchIndex::start(
        Database::Pool(test.stores.db.clone()),
        test.stores.redis.clone(),
        Duration::from_secs(1),
    );
    until("current", async || index.status() == "current").await;
    assert_eq!(found(&index, "zebracorn").await, Some(0));
    let mut conn = test.stores.db.get().await.unwrap();
    index_docs::rename_behind_the_catalogs_back(&mut conn, 0, "Zebracorn lamp")
        .await
        .unwrap();
    until("reconciled", async || {
        found(&index, "zebracorn").await == Some(1)
    })
    .await;
}

/// This replica's own write is in the index for the very next listing, without waiting
/// for the channel.
#[tokio::test(flavor = "multi_thread")]
async fn an_own_write_is_read_before_the_next_listing() {
    let test = seeded().await;
    let index = SearchIndex::start(
        Database::Pool(test.stores.db.clone()),
        test.stores.redis.clone(),
        Duration::from_secs(3600),
    );
    until("current", async || index.status() == "current").await;
    let mut conn = test.stores.db.get().await.unwrap();
    for round in 0..20 {
        let name = format!("Quagga{round} kettle");
        let id = index_docs::rename_behind_the_catalogs_back(&mut conn, 3, &name)
            .await
            .unwrap();
        index.noted(vec![id]);
        assert_eq!(
            found(&index, &format!("quagga{round}")).await,
            Some(1),
            "{round}"
        );
    }
}

/// Without its channel (Redis unreachable) the index is never used: the listing asks
/// PostgreSQL, and `/ready` says so.
#[tokio::test(flavor = "multi_thread")]
async fn without_its_channel_the_index_is_not_used() {
    let test = seeded().await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dead = Redis::connect_lazy(&format!("redis://127.0.0.1:{port}"), "dead:", 1).unwrap();
    let index = SearchIndex::start(
        Database::Pool(test.stores.db.clone()),
        dead,
        Duration::from_secs(1),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(index.status(), "building");
    assert_eq!(found(&index, "phone").await, None);
    assert_eq!(index.report()["status"], "building");
}
