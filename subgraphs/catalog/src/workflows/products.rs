//! Products and categories: the storefront listing (a search looked up, then corrected when
//! it finds little), and administration: changes with their stock-ledger entries, then the
//! cache, so readers see them.

use chrono::Utc;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use service_kit::ApiError;
use service_kit::paging::PageRequest;
use uuid::Uuid;

use crate::cache::ProductCache;
use crate::db::categories;
use crate::db::details::{self, AttributeRow, ImageRow};
use crate::db::log_stock_change;
use crate::db::models::{CategoryRow, ProductRow};
use crate::db::products::{self, ListedRow, ListingConditions, ProductChanges};
use crate::domain::details::{Attribute, Image};
use crate::domain::search::{CORRECT_BELOW, ListingFilter, Position, ProductSort, Search};

/// A page of the listing.
pub struct ListedPage {
    /// The page's rows, plus one when more follow.
    pub rows: Vec<ListedRow>,
    /// How many products match, over all pages.
    pub total_count: i64,
    /// The hash of the search when the rows are ranked by relevance, for their cursors.
    pub relevance: Option<u64>,
}

/// One page of the listing (plus one row, to tell whether more follow).
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: ListingFilter,
    sort: ProductSort,
    page: &PageRequest<Position>,
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
    let (mut rows, mut total_count) = products::listing_page(conn, &conditions, sort, page).await?;
    if let Some(search) = conditions.search.as_mut()
        && total_count < CORRECT_BELOW
        && correct_typos(conn, search).await?
    {
        (rows, total_count) = products::listing_page(conn, &conditions, sort, page).await?;
    }
    Ok(ListedPage {
        rows,
        total_count,
        relevance: conditions.relevance(sort).map(|search| search.hash),
    })
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
        close.push(products::close_words(conn, word).await?);
    }
    Ok(search.correct_typos(&close))
}

/// After a write committed: readers see the new row from now on.
async fn published(cache: Option<&ProductCache>, row: ProductRow) -> ProductRow {
    if let Some(cache) = cache {
        cache.put(&row).await;
    }
    row
}

/// Adds a category under `parent` (or at the top), after its siblings.
pub async fn add_category(
    conn: &mut AsyncPgConnection,
    parent: Option<Uuid>,
    name: String,
) -> Result<CategoryRow, ApiError> {
    let siblings = categories::count_children(conn, parent).await?;
    let row = CategoryRow {
        id: Uuid::now_v7(),
        parent_id: parent,
        name,
        position: siblings as i32,
        created_at: Utc::now(),
    };
    categories::insert(conn, &row).await?;
    Ok(row)
}

/// A product's gallery and attributes to write with it; `None` keeps them as they are (a new
/// product has none).
#[derive(Default)]
pub struct Details {
    pub images: Option<Vec<Image>>,
    pub attributes: Option<Vec<Attribute>>,
}

impl Details {
    fn is_empty(&self) -> bool {
        self.images.is_none() && self.attributes.is_none()
    }
}

/// Writes the given parts of `product`'s details (in the product's write transaction).
async fn write_details(
    conn: &mut AsyncPgConnection,
    product: Uuid,
    given: &Details,
) -> Result<(), ApiError> {
    if let Some(images) = &given.images {
        let rows: Vec<ImageRow> = images
            .iter()
            .enumerate()
            .map(|(position, image)| ImageRow {
                product_id: product,
                position: position as i32,
                url: image.url.clone(),
                alt: image.alt.clone(),
            })
            .collect();
        details::replace_images(conn, product, &rows).await?;
    }
    if let Some(attributes) = &given.attributes {
        let rows: Vec<AttributeRow> = attributes
            .iter()
            .enumerate()
            .map(|(position, attribute)| AttributeRow {
                product_id: product,
                position: position as i32,
                name: attribute.name.clone(),
                value: attribute.value.clone(),
            })
            .collect();
        details::replace_attributes(conn, product, &rows)
            .await
            .map_err(|error| match error {
                // The domain compares names as Rust lowercases them; PostgreSQL's lower() may
                // fold a few letters differently (a final sigma): the index decides, and the
                // client still learns which input is wrong.
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
                    if info.constraint_name() == Some("product_attributes_name_key") =>
                {
                    ApiError::bad_input("input.attributes", "a name appears twice")
                }
                other => ApiError::from(other),
            })?;
    }
    Ok(())
}

/// Adds a product with its details and its initial stock in the ledger (by `actor`), in one
/// transaction.
pub async fn add_product(
    conn: &mut AsyncPgConnection,
    cache: Option<&ProductCache>,
    row: ProductRow,
    given: &Details,
    actor: Uuid,
) -> Result<ProductRow, ApiError> {
    conn.transaction(async |conn| {
        products::insert(conn, &row).await?;
        write_details(conn, row.id, given).await?;
        if row.stock > 0 {
            log_stock_change(
                conn,
                row.id,
                (row.stock, row.stock),
                "initial stock",
                Some(actor),
            )
            .await?;
        }
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(published(cache, row).await)
}

/// Applies `changes` to product `id`; NOT_FOUND if there is no such product.
pub async fn change_product(
    conn: &mut AsyncPgConnection,
    cache: Option<&ProductCache>,
    id: Uuid,
    changes: ProductChanges,
    given: &Details,
) -> Result<ProductRow, ApiError> {
    let row = if given.is_empty() {
        products::change(conn, id, changes).await?
    } else {
        // The row first: its lock orders concurrent changes of the details too.
        conn.transaction(async |conn| {
            let row = products::change(conn, id, changes).await?;
            write_details(conn, id, given).await?;
            Ok::<_, ApiError>(row)
        })
        .await?
    };
    Ok(published(cache, row).await)
}

/// Adds `delta` units to product `id` (negative removes), recorded in the stock ledger
/// with `reason` and `actor`. Stock never goes below zero: `CONFLICT`.
pub async fn adjust_stock(
    conn: &mut AsyncPgConnection,
    cache: Option<&ProductCache>,
    id: Uuid,
    delta: i32,
    reason: &str,
    actor: Uuid,
) -> Result<ProductRow, ApiError> {
    let row = conn
        .transaction(async |conn| {
            let Some(row) = products::add_stock(conn, id, delta).await? else {
                let current = products::find(conn, id).await?;
                return Err(ApiError::Conflict(format!(
                    "stock cannot go below zero: {} in stock, asked to remove {}",
                    current.stock, -delta
                )));
            };
            log_stock_change(conn, id, (delta, row.stock), reason, Some(actor)).await?;
            Ok(row)
        })
        .await?;
    Ok(published(cache, row).await)
}

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
            let plan = test_support::explain(&mut conn, conditions.ids_query())
                .await
                .join("\n");
            assert!(!plan.contains("Seq Scan on products"), "{term}: {plan}");
            assert!(plan.contains("Bitmap Index Scan"), "{term}: {plan}");
        }
    }
}
