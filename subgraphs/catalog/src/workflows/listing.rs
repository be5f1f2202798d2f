//! The storefront listing: a search looked up (the categories its words name), then
//! corrected when it finds little; a category with everything under it. Its facets count
//! over the very conditions the page was listed with (corrections included).

use std::sync::Arc;

use diesel_async::AsyncPgConnection;
use service_kit::ApiError;
use service_kit::paging::PageRequest;
use uuid::Uuid;

use crate::cache::ProductCache;
use crate::db::brands::BrandRow;
use crate::db::filter::ListingConditions;
use crate::db::listing::{self, ListedRow};
use crate::db::{categories, facets, products};
use crate::domain::facets::{AttributeFacet, Counted, attribute_facets, by_count_then_name};
use crate::domain::index::facets::FacetCounts;
use crate::domain::index::{Filter, Found};
use crate::domain::search::{CORRECT_BELOW, ListingFilter, Position, ProductSort, Search, is_cjk};
use crate::search_index::SearchIndex;

/// A page of the listing.
pub struct ListedPage {
    /// The page's rows, plus one when more follow.
    pub rows: Vec<ListedRow>,
    /// How many products match, over all pages.
    pub total_count: i64,
    /// The hash of the search when the rows are ranked by relevance, for their cursors.
    pub relevance: Option<u64>,
    /// What the rows match, for the facets.
    pub conditions: Arc<ListingConditions>,
    /// The facets, when the search index counted them with the page.
    pub facets: Option<Arc<FacetCounts>>,
    /// Whether more rows follow, when `rows` may be short of the page plus one (the search
    /// index's page, less products taken off sale since).
    pub more: Option<bool>,
}

/// One page of the listing (plus one row, to tell whether more follow): from this replica's
/// search index when it is current, else from PostgreSQL.
pub async fn list(
    conn: &mut AsyncPgConnection,
    (index, cache): (Option<&SearchIndex>, Option<&ProductCache>),
    filter: ListingFilter,
    (sort, page, with_facets): (ProductSort, &PageRequest<Position>, bool),
) -> Result<ListedPage, ApiError> {
    let mut conditions = look_up(conn, filter).await?;
    if let Some(position) = page.after
        && !position.continues(sort, conditions.relevance(sort))
    {
        return Err(ApiError::bad_input(
            "after",
            "is a cursor of another sort order or search; start again without `after`",
        ));
    }
    if let Some(index) = index.filter(|_| indexed(&conditions))
        && let Some(found) = from_index(
            (conn, cache),
            index,
            &mut conditions,
            (sort, page, with_facets),
        )
        .await?
    {
        return Ok(ListedPage {
            rows: found.rows,
            total_count: found.total_count,
            relevance: conditions.relevance(sort).map(|search| search.hash),
            conditions: Arc::new(conditions),
            facets: found.facets.map(Arc::new),
            more: Some(found.more),
        });
    }
    let (mut rows, mut total_count) = listing::listing_page(conn, &conditions, sort, page).await?;
    if let Some(search) = conditions.search.as_mut()
        && total_count < CORRECT_BELOW
        && correct_typos(conn, search).await?
    {
        (rows, total_count) = listing::listing_page(conn, &conditions, sort, page).await?;
    }
    Ok(ListedPage {
        rows,
        total_count,
        relevance: conditions.relevance(sort).map(|search| search.hash),
        conditions: Arc::new(conditions),
        facets: None,
        more: None,
    })
}

/// Whether the search index can answer a listing with these conditions exactly as
/// PostgreSQL would: all but a search for a substring (punctuation), which PostgreSQL's
/// trigram index finds, and text whose words or case PostgreSQL's parser and `lower()` may
/// see otherwise than Rust (letters beyond ASCII other than Chinese, Japanese, Korean).
fn indexed(conditions: &ListingConditions) -> bool {
    let plain = |text: &str| text.chars().all(|c| c.is_ascii() || is_cjk(c));
    conditions
        .search
        .as_ref()
        .is_none_or(|s| !s.like_filter && plain(&s.term))
        && conditions
            .attributes
            .iter()
            .all(|a| plain(&a.name) && a.values.iter().all(|v| plain(v)))
}

/// The index's view of `conditions`.
fn index_filter(conditions: &ListingConditions) -> Filter<'_> {
    Filter {
        search: conditions.search.as_ref(),
        categories: conditions
            .categories
            .as_ref()
            .map(|ids| ids.iter().copied().collect()),
        min_price: conditions.min_price,
        max_price: conditions.max_price,
        in_stock: conditions.in_stock,
        brands: conditions.brands.as_deref(),
        attributes: &conditions.attributes,
    }
}

/// The page (and its facets, when asked) from the search index, corrected as [`list`]
/// corrects, with its rows read by id; `None` when the index is not current.
async fn from_index(
    (conn, cache): (&mut AsyncPgConnection, Option<&ProductCache>),
    index: &SearchIndex,
    conditions: &mut ListingConditions,
    (sort, page, with_facets): (ProductSort, &PageRequest<Position>, bool),
) -> Result<Option<IndexPage>, ApiError> {
    let limit = page.limit as usize;
    let read = async |conditions: &ListingConditions| {
        index
            .read(|held| {
                let filter = index_filter(conditions);
                held.search(&filter, sort, page.after, limit, with_facets)
            })
            .await
    };
    let Some(mut found) = read(conditions).await else {
        return Ok(None);
    };
    if let Some(search) = conditions.search.as_mut()
        && found.total < CORRECT_BELOW
        && correct_typos(conn, search).await?
    {
        let Some(corrected) = read(conditions).await else {
            return Ok(None);
        };
        found = corrected;
    }
    let Found {
        page: listed,
        total: total_count,
        facets,
    } = found;
    let more = listed.len() > page.limit as usize;
    let ids: Vec<_> = listed.iter().map(|row| row.id).collect();
    // The page's rows from the product cache (this replica's memory first) when at least as
    // new as the index's, the rest from PostgreSQL.
    let mut rows = match cache {
        Some(cache) => cache.get_many(&ids).await,
        None => std::collections::HashMap::new(),
    };
    rows.retain(|id, row| {
        listed
            .iter()
            .any(|listed| listed.id == *id && row.version >= listed.version)
    });
    let missing: Vec<_> = ids
        .iter()
        .filter(|id| !rows.contains_key(id))
        .copied()
        .collect();
    if !missing.is_empty() {
        let ticket = cache.map(ProductCache::read_ticket);
        let read = products::by_ids(conn, &missing).await?;
        if let (Some(cache), Some(ticket)) = (cache, ticket) {
            cache.fill(&read, ticket).await;
        }
        rows.extend(read.into_iter().map(|row| (row.id, row)));
    }
    // A product changed since the index read it is shown as it is now, at the place (and
    // with the cursor) the index gave it; one taken off sale meanwhile is left out.
    let rows = listed
        .into_iter()
        .filter_map(|row| {
            let product = rows.remove(&row.id).filter(|p| p.status == "ACTIVE")?;
            Some(ListedRow {
                product,
                scores: row.scores,
                total_count,
                sorted_by: Some((row.created_at, row.price, row.sales_count)),
            })
        })
        .collect();
    Ok(Some(IndexPage {
        rows,
        total_count,
        more,
        facets,
    }))
}

/// A page from the search index.
struct IndexPage {
    rows: Vec<ListedRow>,
    total_count: i64,
    /// Whether more rows follow (rows taken off sale since may leave `rows` short).
    more: bool,
    facets: Option<FacetCounts>,
}

/// The conditions of `filter`: its search with the categories that match its words, and
/// its category with all the categories under it (`BAD_USER_INPUT` if there is none).
async fn look_up(
    conn: &mut AsyncPgConnection,
    filter: ListingFilter,
) -> Result<ListingConditions, ApiError> {
    let mut search = filter.search.as_deref().and_then(Search::of);
    if let Some(search) = search.as_mut()
        && let Some(tsquery) = &search.tsquery
    {
        search.categories = categories::matching(conn, tsquery).await?;
    }
    let categories = match filter.category {
        None => None,
        Some(root) => {
            let tree = categories::subtree(conn, root).await?;
            if tree.is_empty() {
                return Err(ApiError::bad_input("filter.categoryId", "no such category"));
            }
            Some(tree)
        }
    };
    Ok(ListingConditions {
        search,
        categories,
        min_price: filter.min_price,
        max_price: filter.max_price,
        in_stock: filter.in_stock,
        brands: filter.brands,
        attributes: filter.attributes,
    })
}

/// Adds the close words of the catalog's vocabulary to each word of `search` that may be
/// misspelt ([`Search::correct_typos`]). Returns whether anything changed.
async fn correct_typos(
    conn: &mut AsyncPgConnection,
    search: &mut Search,
) -> Result<bool, ApiError> {
    let mut close = Vec::new();
    for word in search.correctable_words() {
        close.push(listing::close_words(conn, word).await?);
    }
    Ok(search.correct_typos(&close))
}

/// The brands of the matching products (as if no brand were chosen), each with its count,
/// by count then name.
pub async fn brand_facet(
    conn: &mut AsyncPgConnection,
    counted: Option<&FacetCounts>,
    conditions: &ListingConditions,
    brands_by_id: impl AsyncFnOnce(Vec<Uuid>) -> Result<Vec<BrandRow>, ApiError>,
) -> Result<Vec<Counted<BrandRow>>, ApiError> {
    let counted = match counted {
        Some(counted) => {
            let ids: Vec<_> = counted.brands.iter().map(|(id, _)| *id).collect();
            let rows = brands_by_id(ids).await?;
            let counts: std::collections::HashMap<_, _> = counted.brands.iter().copied().collect();
            rows.into_iter()
                .map(|row| {
                    let count = counts[&row.id];
                    (row, count)
                })
                .collect()
        }
        None => facets::brands(conn, conditions).await?,
    };
    let mut brands: Vec<Counted<BrandRow>> = counted
        .into_iter()
        .map(|(brand, count)| Counted {
            name: brand.name.clone(),
            item: brand,
            count,
        })
        .collect();
    by_count_then_name(&mut brands);
    Ok(brands)
}

/// The attribute facets of the matching products (each name as if none of its values were
/// chosen), by count then name.
pub async fn attribute_facet(
    conn: &mut AsyncPgConnection,
    counted: Option<&FacetCounts>,
    conditions: &ListingConditions,
) -> Result<Vec<AttributeFacet>, ApiError> {
    let counts = match counted {
        Some(counted) => counted.attributes.clone(),
        None => facets::attributes(conn, conditions).await?,
    };
    Ok(attribute_facets(counts))
}

/// The lowest and highest price of the matching products' active variants (as if no price
/// bound were given), each with its product's currency; `None` when no product matches.
pub async fn price_facet(
    conn: &mut AsyncPgConnection,
    counted: Option<&FacetCounts>,
    conditions: &ListingConditions,
) -> Result<Option<facets::Prices>, ApiError> {
    match counted {
        Some(counted) => Ok(counted.prices.clone().map(facets::Prices::from)),
        None => Ok(facets::price_range(conn, conditions).await?),
    }
}

#[cfg(test)]
mod index_tests;

#[cfg(test)]
mod tests {
    use diesel_async::SimpleAsyncConnection as _;

    use super::*;

    #[tokio::test]
    async fn every_branch_of_a_search_is_served_by_an_index() {
        let test = test_support::TestStores::create(&crate::DATABASE)
            .await
            .unwrap();
        crate::seed::seed_demo_data(&test.stores.db).await.unwrap();
        let mut conn = test.stores.db.get().await.unwrap();
        conn.batch_execute("SET enable_seqscan = off")
            .await
            .unwrap();
        // Words (full text and a category), a substring, and a typo.
        for term in ["phone case", "手机", "iphnoe", "50% off"] {
            let filter = ListingFilter {
                search: Some(term.to_owned()),
                ..ListingFilter::default()
            };
            let mut conditions = look_up(&mut conn, filter).await.unwrap();
            // Corrected spellings too (the typo finds `iphone`).
            let search = conditions.search.as_mut().unwrap();
            let corrected = correct_typos(&mut conn, search).await.unwrap();
            assert!(corrected || term != "iphnoe", "the typo is corrected");
            let plan = test_support::explain(&mut conn, listing::ids_query(&conditions))
                .await
                .join("\n");
            assert!(!plan.contains("Seq Scan on products"), "{term}: {plan}");
            assert!(plan.contains("Bitmap Index Scan"), "{term}: {plan}");
        }
    }

    /// The filters of catalog v2 and the facets' statements: the variants' prices, the
    /// attributes and options, and brands, alone and with a search, never scan a table.
    #[tokio::test]
    async fn price_and_attribute_filters_and_facets_are_served_by_indexes() {
        use crate::domain::facets::AttributeSelection;

        let test = test_support::TestStores::create(&crate::DATABASE)
            .await
            .unwrap();
        crate::seed::seed_demo_data(&test.stores.db).await.unwrap();
        let mut conn = test.stores.db.get().await.unwrap();
        conn.batch_execute("SET enable_seqscan = off")
            .await
            .unwrap();
        let color = AttributeSelection {
            name: "Color".into(),
            values: vec!["Red".into(), "Blue".into()],
        };
        let size = AttributeSelection {
            name: "Size".into(),
            values: vec!["M".into()],
        };
        let brand = crate::seed::demo_brands()[0].0.id;
        let filters = [
            ListingFilter {
                min_price: Some(1000),
                max_price: Some(5000),
                ..ListingFilter::default()
            },
            ListingFilter {
                attributes: vec![color.clone()],
                ..ListingFilter::default()
            },
            ListingFilter {
                search: Some("phone".into()),
                brands: Some(vec![brand]),
                min_price: Some(100),
                attributes: vec![color, size],
                ..ListingFilter::default()
            },
        ];
        for filter in filters {
            let described = format!(
                "price {:?}..{:?}, {} names, search {:?}",
                filter.min_price,
                filter.max_price,
                filter.attributes.len(),
                filter.search
            );
            let conditions = look_up(&mut conn, filter).await.unwrap();
            let plans = [
                (
                    "listing",
                    test_support::explain(&mut conn, listing::ids_query(&conditions)).await,
                ),
                (
                    "brands",
                    test_support::explain(&mut conn, facets::brands_statement(&conditions)).await,
                ),
                (
                    "attributes",
                    test_support::explain(&mut conn, facets::attributes_statement(&conditions))
                        .await,
                ),
                (
                    "price",
                    test_support::explain(&mut conn, facets::price_statement(&conditions)).await,
                ),
            ];
            for (what, plan) in plans {
                let plan = plan.join("\n");
                assert!(!plan.contains("Seq Scan"), "{what}, {described}: {plan}");
            }
        }
    }
}
