//! The storefront listing (`products`): its filter checked, its page mapped to edges, its
//! facets counted when asked (`graphql::facets`). The search rules are in
//! `domain::search`, the attribute filter's in `domain::facets`, the SQL in `db::filter`,
//! `db::listing` and `db::facets`, the composition in `workflows::listing`.

use async_graphql::{ID, InputObject, SimpleObject};
use diesel_async::AsyncPgConnection;
use service_kit::ApiError;
use service_kit::paging::{PageInfo, PageRequest, encode_cursor};
use service_kit::validate::optional_text;
use uuid::Uuid;

use super::facets::ProductFacets;
use super::types::{Product, ProductEdge};
use crate::domain::facets::check_attribute_filter;
pub use crate::domain::search::ProductSort;
use crate::domain::search::{ListingFilter, Position};
use crate::workflows;

/// Which products to list.
#[derive(InputObject, Default)]
pub struct ProductFilter {
    /// Words to look for in the name, description and category (full-text, as prefixes;
    /// Chinese words anywhere in a name; misspelt words are corrected when fewer than 20
    /// products match as typed). Up to 100 characters.
    pub search: Option<String>,
    /// A category, including all its sub-categories.
    pub category_id: Option<ID>,
    /// Lowest price, minor units, inclusive: a product matches when one of its active
    /// variants costs from `minPrice` to `maxPrice`.
    pub min_price: Option<i32>,
    /// Highest price, minor units, inclusive.
    pub max_price: Option<i32>,
    /// Only products that can be bought now (`true`) or only sold-out ones (`false`).
    pub in_stock: Option<bool>,
    /// Products of any of these brands (at most 100; an empty list filters nothing).
    pub brand_ids: Option<Vec<ID>>,
    /// Specification attributes and variant options: any of the values within one name, all
    /// names (compared whatever their case; at most 20 names of 100 values).
    pub attributes: Option<Vec<AttributeFilter>>,
}

/// Products whose attributes or active variants' options give `name` one of `values`.
#[derive(InputObject)]
pub struct AttributeFilter {
    /// An attribute or option name, e.g. `Color`.
    pub name: String,
    /// Any of these values (none: the name filters nothing).
    pub values: Vec<String>,
}

/// Most brands one filter may name.
pub const MAX_BRANDS: usize = 100;

impl ProductFilter {
    /// The filter with its values checked.
    fn check(&self) -> Result<ListingFilter, ApiError> {
        let search = match self.search.as_deref() {
            Some(raw) => Some(optional_text("filter.search", raw.trim(), 100)?.to_lowercase())
                .filter(|text| !text.is_empty()),
            None => None,
        };
        let price = |field: &str, value: Option<i32>| match value {
            Some(v) if v < 0 => Err(ApiError::bad_input(
                field,
                "must be 0 or more (minor units)",
            )),
            other => Ok(other.map(i64::from)),
        };
        let min_price = price("filter.minPrice", self.min_price)?;
        let max_price = price("filter.maxPrice", self.max_price)?;
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            return Err(ApiError::bad_input(
                "filter.minPrice",
                format!("must not exceed maxPrice ({min} > {max})"),
            ));
        }
        let category = self
            .category_id
            .as_ref()
            .map(|id| {
                Uuid::parse_str(id)
                    .map_err(|_| ApiError::bad_input("filter.categoryId", "is not a category id"))
            })
            .transpose()?;
        let brands = match self.brand_ids.as_deref() {
            None | Some([]) => None,
            Some(ids) if ids.len() > MAX_BRANDS => {
                return Err(ApiError::bad_input(
                    "filter.brandIds",
                    format!("at most {MAX_BRANDS} brands"),
                ));
            }
            Some(ids) => Some(
                ids.iter()
                    .map(|id| service_kit::validate::id("filter.brandIds", id))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let attributes: Vec<(String, Vec<String>)> = self
            .attributes
            .iter()
            .flatten()
            .map(|a| (a.name.clone(), a.values.clone()))
            .collect();
        Ok(ListingFilter {
            search,
            category,
            min_price,
            max_price,
            in_stock: self.in_stock,
            brands,
            attributes: check_attribute_filter("filter.attributes", &attributes)?,
        })
    }
}

/// A page of products.
#[derive(SimpleObject)]
pub struct ProductConnection {
    /// How many products match, over all pages.
    pub total_count: i64,
    /// Paging state.
    pub page_info: PageInfo,
    /// The products of this page.
    pub edges: Vec<ProductEdge>,
    /// Exact counts over the products that match the filter. Each facet ignores its own
    /// selection, so the other brands (or values) keep their counts while one is chosen.
    pub facets: ProductFacets,
}

/// One page of the listing.
pub async fn list(
    conn: &mut AsyncPgConnection,
    (index, cache, with_facets): (
        Option<std::sync::Arc<crate::search_index::SearchIndex>>,
        Option<&crate::cache::ProductCache>,
        bool,
    ),
    first: Option<i32>,
    after: Option<&str>,
    filter: &ProductFilter,
    sort: ProductSort,
) -> Result<ProductConnection, ApiError> {
    let page = PageRequest::<Position>::parse(first, after)?;
    let filter = filter.check()?;
    let listed = workflows::listing::list(
        conn,
        (index.as_deref(), cache),
        filter,
        (sort, &page, with_facets),
    )
    .await?;
    let mut rows = listed.rows;
    let has_next_page = listed.more.unwrap_or(rows.len() as i64 > page.limit);
    rows.truncate(page.limit as usize);
    let edges: Vec<ProductEdge> = rows
        .into_iter()
        .map(|row| ProductEdge {
            cursor: encode_cursor(&row.position(sort, listed.relevance)),
            node: Product(row.product),
        })
        .collect();
    Ok(ProductConnection {
        total_count: listed.total_count,
        page_info: PageInfo::of_page(
            edges.iter().map(|e| &e.cursor),
            has_next_page,
            page.after.is_some(),
        ),
        edges,
        facets: ProductFacets {
            conditions: listed.conditions,
            counted: listed.facets,
        },
    })
}
