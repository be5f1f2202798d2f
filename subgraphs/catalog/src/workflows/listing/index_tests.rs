//! The search index answers exactly what PostgreSQL answers: the same products in the same
//! order with the same scores and counts, the same pages after a cursor, the same facets,
//! for every sort and a spread of filters over the demo catalog.

use service_kit::paging::PageRequest;

use super::*;
use crate::domain::facets::AttributeSelection;
use crate::domain::index::Index;

/// A filter's listing, pages and facets from both, compared.
async fn compare(conn: &mut AsyncPgConnection, index: &Index, filter: ListingFilter) -> i64 {
    let described = format!("{filter:?}");
    let mut conditions = look_up(conn, filter).await.unwrap();
    // Corrected as `list` corrects: when PostgreSQL finds fewer than the threshold.
    let first = PageRequest::<Position> {
        limit: 100,
        after: None,
    };
    let (_, total) = listing::listing_page(conn, &conditions, ProductSort::Newest, &first)
        .await
        .unwrap();
    if let Some(search) = conditions.search.as_mut()
        && total < CORRECT_BELOW
    {
        correct_typos(conn, search).await.unwrap();
    }
    let filter = index_filter(&conditions);
    for sort in [
        ProductSort::Relevance,
        ProductSort::Newest,
        ProductSort::PriceAsc,
        ProductSort::PriceDesc,
        ProductSort::BestSelling,
    ] {
        let (rows, total) = listing::listing_page(conn, &conditions, sort, &first)
            .await
            .unwrap();
        let (listed, held_total) = index.page(&filter, sort, None, 100);
        let expected: Vec<_> = rows.iter().map(|r| (r.product.id, r.scores)).collect();
        let found: Vec<_> = listed.iter().map(|r| (r.id, r.scores)).collect();
        assert_eq!(found, expected, "{sort:?} {described}");
        assert_eq!(held_total, total, "{sort:?} {described}");
        // A short first page, and pages of 7 after rows early, midway and near the end.
        let (short, _) = index.page(&filter, sort, None, 3);
        let expected: Vec<_> = rows.iter().take(4).map(|r| r.product.id).collect();
        let found: Vec<_> = short.iter().map(|r| r.id).collect();
        assert_eq!(found, expected, "first 3, {sort:?} {described}");
        let cuts = [4, rows.len() / 2, rows.len().saturating_sub(2)];
        for row in cuts.iter().filter_map(|at| rows.get(*at)) {
            let relevance = conditions.relevance(sort).map(|s| s.hash);
            let after = row.position(sort, relevance);
            let next = PageRequest {
                limit: 7,
                after: Some(after),
            };
            let (rows, _) = listing::listing_page(conn, &conditions, sort, &next)
                .await
                .unwrap();
            let (listed, _) = index.page(&filter, sort, Some(after), 7);
            let expected: Vec<_> = rows.iter().map(|r| r.product.id).collect();
            let found: Vec<_> = listed.iter().map(|r| r.id).collect();
            assert_eq!(found, expected, "after a cursor, {sort:?} {described}");
        }
    }
    // The facets as the listing counts them: with a page (of none).
    let held = index
        .search(&filter, ProductSort::Newest, None, 0, true)
        .facets
        .unwrap();
    let mut brands: Vec<_> = facets::brands(conn, &conditions)
        .await
        .unwrap()
        .into_iter()
        .map(|(brand, count)| (brand.id, count))
        .collect();
    let mut held_brands = held.brands.clone();
    brands.sort();
    held_brands.sort();
    assert_eq!(held_brands, brands, "brands {described}");
    let key = |a: &crate::domain::facets::AttributeCount| {
        (a.key.clone(), a.value.clone(), a.name.clone(), a.count)
    };
    let mut attributes: Vec<_> = facets::attributes(conn, &conditions)
        .await
        .unwrap()
        .iter()
        .map(key)
        .collect();
    let mut held_attributes: Vec<_> = held.attributes.iter().map(key).collect();
    attributes.sort();
    held_attributes.sort();
    assert_eq!(held_attributes, attributes, "attributes {described}");
    let prices = facets::price_range(conn, &conditions).await.unwrap();
    let held_prices = held.prices.map(facets::Prices::from);
    assert_eq!(held_prices, prices, "prices {described}");
    total
}

#[tokio::test]
async fn the_search_index_answers_what_postgresql_answers() {
    let test = test_support::TestStores::create(&crate::DATABASE)
        .await
        .unwrap();
    crate::seed::seed_demo_data(&test.stores.db).await.unwrap();
    let mut conn = test.stores.db.get().await.unwrap();
    let index = crate::search_index::load(&mut conn).await.unwrap();
    assert!(index.len() > 100, "{}", index.len());
    let brands: Vec<_> = crate::seed::demo_brands()
        .into_iter()
        .map(|(b, _)| b.id)
        .collect();
    let top = crate::seed::demo_categories()
        .into_iter()
        .find(|c| c.parent_id.is_none())
        .unwrap()
        .id;
    let selection = |name: &str, values: &[&str]| AttributeSelection {
        name: name.into(),
        values: values.iter().map(|v| (*v).into()).collect(),
    };
    let search = |term: &str| ListingFilter {
        search: Some(term.into()),
        ..ListingFilter::default()
    };
    let mut filters = vec![ListingFilter::default()];
    for term in [
        "phone",
        "phone case",
        "手机",
        "手机壳",
        "龙井",
        "iphnoe",
        "tea",
        "charger",
        "shoes",
        "zzqxv",
        "wool men",
    ] {
        filters.push(search(term));
    }
    filters.extend([
        ListingFilter {
            brands: Some(brands[..3].to_vec()),
            ..ListingFilter::default()
        },
        ListingFilter {
            min_price: Some(1_000),
            max_price: Some(50_000),
            ..ListingFilter::default()
        },
        ListingFilter {
            min_price: Some(20_000),
            ..search("phone")
        },
        ListingFilter {
            in_stock: Some(true),
            category: Some(top),
            ..ListingFilter::default()
        },
        ListingFilter {
            in_stock: Some(false),
            ..ListingFilter::default()
        },
        ListingFilter {
            attributes: vec![selection("Color", &["Black", "white"])],
            ..ListingFilter::default()
        },
        ListingFilter {
            attributes: vec![
                selection("gender", &["Men"]),
                selection("Material", &["Wool", "Leather", "Nothing"]),
            ],
            brands: Some(brands.clone()),
            max_price: Some(100_000),
            ..ListingFilter::default()
        },
        ListingFilter {
            attributes: vec![selection("Unknown", &["x"])],
            ..search("shoes")
        },
    ]);
    let mut found_some = 0;
    for filter in filters {
        if compare(&mut conn, &index, filter).await > 0 {
            found_some += 1;
        }
    }
    assert!(found_some >= 15, "the filters find products: {found_some}");
}

/// Terms PostgreSQL's parser or `lower()` may read otherwise than Rust, and substrings,
/// are left to PostgreSQL; plain and Chinese words are the index's.
#[test]
fn terms_postgresql_may_read_otherwise_are_left_to_it() {
    let with = |term: &str| ListingConditions {
        search: Search::of(term),
        ..ListingConditions::default()
    };
    assert!(indexed(&with("phone case")));
    assert!(indexed(&with("手机壳 pro")));
    assert!(!indexed(&with("café")));
    assert!(!indexed(&with("50%")));
    let attributes = ListingConditions {
        attributes: vec![AttributeSelection {
            name: "Größe".into(),
            values: vec!["M".into()],
        }],
        ..ListingConditions::default()
    };
    assert!(!indexed(&attributes));
}

/// A product taken off sale after the index listed it is left out of the page, and the page
/// still says more follow (the index had a row beyond it).
#[tokio::test(flavor = "multi_thread")]
async fn a_product_taken_off_sale_since_the_index_read_it_is_left_out_and_more_still_follow() {
    use crate::search_index::{Database, SearchIndex};
    let test = test_support::TestStores::create(&crate::DATABASE)
        .await
        .unwrap();
    crate::seed::seed_demo_data(&test.stores.db).await.unwrap();
    let index = SearchIndex::start(
        Database::Pool(test.stores.db.clone()),
        test.stores.redis.clone(),
        std::time::Duration::from_secs(3600),
    );
    for _ in 0..200 {
        if index.status() == "current" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(index.status(), "current");
    let mut conn = test.stores.db.get().await.unwrap();
    let page = PageRequest::<Position> {
        limit: 3,
        after: None,
    };
    let list = async |conn: &mut AsyncPgConnection| {
        let sort = (ProductSort::Newest, &page, false);
        super::list(conn, (Some(&index), None), ListingFilter::default(), sort)
            .await
            .unwrap()
    };
    let before = list(&mut conn).await;
    assert_eq!(before.rows.len(), 4, "a page of 3, plus one");
    assert_eq!(before.more, Some(true));
    let gone = before.rows[1].product.id;
    crate::db::index_docs::archive_behind_the_catalogs_back(&mut conn, gone)
        .await
        .unwrap();
    // The index has not heard of it (no announcement): its page still names the product.
    let after = list(&mut conn).await;
    let ids: Vec<_> = after.rows.iter().map(|r| r.product.id).collect();
    assert!(!ids.contains(&gone), "{ids:?}");
    assert_eq!(after.rows.len(), 3);
    assert_eq!(after.more, Some(true), "more still follow");
}
