//! Admin mutations of the catalog: categories, products and stock.

use async_graphql::{Context, ID, InputObject, MergedObject, Object, Result};
use auth::{CallerExt as _, RequirePermission};
use chrono::Utc;
use service_kit::ApiError;
use service_kit::validate::{optional_text, required_text};
use uuid::Uuid;

use crate::domain::details::{check_attributes, check_images};
use crate::domain::products::check_price;
use crate::domain::urls::check_url;
use crate::domain::variants::{NewVariant, check_options, check_variants};
use crate::workflows::products::Details;

use super::types::{Category, Product, ProductStatus};
use crate::db::models::ProductRow;
use crate::db::products::ProductChanges;
use crate::db::{brands, categories};
use crate::workflows::products;

/// A new category.
#[derive(InputObject)]
pub struct CategoryInput {
    /// 1 to 200 characters.
    name: String,
    /// The parent category; omitted for a top-level category.
    parent_id: Option<ID>,
}

/// Mutations of the catalog.
#[derive(Default, MergedObject)]
#[graphql(name = "Mutation")]
pub struct Mutation(
    CategoryMutation,
    ProductMutation,
    super::flash_sales::FlashSaleMutation,
    super::flash_purchases::FlashPurchaseMutation,
    super::brands::BrandMutation,
    super::variants::VariantMutation,
);

/// Category administration.
#[derive(Default)]
pub struct CategoryMutation;

/// Product and stock administration.
#[derive(Default)]
pub struct ProductMutation;

#[Object]
impl CategoryMutation {
    /// Adds a category under `parentId` (or at the top), after its siblings. Needs
    /// `catalog:category:write`.
    #[graphql(guard = "RequirePermission(\"catalog:category:write\")")]
    async fn create_category(&self, ctx: &Context<'_>, input: CategoryInput) -> Result<Category> {
        let name = required_text("input.name", &input.name, 200)?;
        let parent_id = input
            .parent_id
            .map(|id| {
                Uuid::parse_str(&id)
                    .map_err(|_| ApiError::bad_input("input.parentId", "is not a category id"))
            })
            .transpose()?;
        let mut conn = service_kit::db::connection(ctx).await?;
        if let Some(parent) = parent_id {
            let exists = categories::exists(&mut conn, parent)
                .await
                .map_err(ApiError::from)?;
            if !exists {
                return Err(ApiError::bad_input("input.parentId", "no such category").into());
            }
        }
        let row = products::add_category(&mut conn, parent_id, name).await?;
        Ok(Category(row))
    }
}

/// A new product.
#[derive(InputObject)]
pub struct CreateProductInput {
    /// 1 to 200 characters.
    name: String,
    /// Up to 5,000 characters.
    description: String,
    /// An http(s) URL.
    image_url: Option<String>,
    /// Minor units, 0 or more.
    price: i32,
    /// ISO 4217 code (default `CNY`).
    currency: Option<String>,
    category_id: Option<ID>,
    /// Initial units in stock (recorded in the stock ledger).
    stock: i32,
    /// Default `ACTIVE`.
    status: Option<ProductStatus>,
    /// Its brand (see `brands`).
    brand_id: Option<ID>,
    /// The gallery, in display order (at most 20); without `imageUrl`, the first is the main
    /// picture.
    images: Option<Vec<ProductImageInput>>,
    /// Specification shared by every variant, e.g. Material: cotton (at most 50; a name once).
    attributes: Option<Vec<ProductAttributeInput>>,
    /// The sales options the variants differ in (at most 5; a name once, a value once).
    options: Option<Vec<ProductOptionInput>>,
    /// Every sellable unit, one value of each option each. Without variants the product gets
    /// one, from `price` and `stock` (then it may have no options); with them, `price` and
    /// `stock` are the variants' (lowest active price, total stock) and those given are
    /// ignored.
    variants: Option<Vec<super::variants::ProductVariantInput>>,
}

/// A sales option and its values in display order.
#[derive(InputObject)]
pub struct ProductOptionInput {
    /// 1 to 50 characters.
    name: String,
    /// 1 to 100 values of 1 to 50 characters.
    values: Vec<String>,
}

/// A picture of a product's gallery.
#[derive(InputObject)]
pub struct ProductImageInput {
    /// An http(s) URL.
    url: String,
    /// Up to 200 characters.
    alt: Option<String>,
}

/// A specification attribute.
#[derive(InputObject)]
pub struct ProductAttributeInput {
    /// 1 to 50 characters.
    name: String,
    /// 1 to 200 characters.
    value: String,
}

/// The gallery and attributes given, checked under `input.images` / `input.attributes`.
fn check_details(
    images: Option<&[ProductImageInput]>,
    attributes: Option<&[ProductAttributeInput]>,
) -> Result<Details, ApiError> {
    let images = images
        .map(|images| {
            let pairs: Vec<_> = images
                .iter()
                .map(|i| (i.url.clone(), i.alt.clone()))
                .collect();
            check_images("input.images", &pairs)
        })
        .transpose()?;
    let attributes = attributes
        .map(|attributes| {
            let pairs: Vec<_> = attributes
                .iter()
                .map(|a| (a.name.clone(), a.value.clone()))
                .collect();
            check_attributes("input.attributes", &pairs)
        })
        .transpose()?;
    Ok(Details { images, attributes })
}

/// Changes to a product; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateProductInput {
    name: Option<String>,
    description: Option<String>,
    image_url: Option<String>,
    price: Option<i32>,
    category_id: Option<ID>,
    status: Option<ProductStatus>,
    /// Its brand (see `brands`).
    brand_id: Option<ID>,
    /// Replaces the gallery; without `imageUrl`, its first picture becomes the main one.
    images: Option<Vec<ProductImageInput>>,
    /// Replaces the attributes.
    attributes: Option<Vec<ProductAttributeInput>>,
}

/// Longest description, in characters.
pub const DESCRIPTION_MAX: usize = 5_000;
/// Largest single stock adjustment.
pub const MAX_STOCK_DELTA: i32 = 1_000_000;

fn parse_uuid(field: &str, id: &str) -> Result<Uuid, ApiError> {
    service_kit::validate::id(field, id)
}

fn check_currency(field: &str, currency: Option<&str>) -> Result<String, ApiError> {
    let currency = currency.unwrap_or("CNY");
    if currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(currency.to_owned())
    } else {
        Err(ApiError::bad_input(
            field,
            "must be a 3-letter ISO 4217 code like CNY",
        ))
    }
}

/// `id` parsed, if `exists` says it names a row; `BAD_USER_INPUT` naming `field` otherwise
/// ("no such `what`").
async fn existing(
    field: &str,
    id: &str,
    what: &str,
    exists: impl AsyncFnOnce(Uuid) -> diesel::QueryResult<bool>,
) -> Result<Uuid, ApiError> {
    let id = parse_uuid(field, id)?;
    if exists(id).await? {
        Ok(id)
    } else {
        Err(ApiError::bad_input(field, format!("no such {what}")))
    }
}

#[Object]
impl ProductMutation {
    /// Adds a product. Needs `catalog:product:write`.
    #[graphql(guard = "RequirePermission(\"catalog:product:write\")")]
    async fn create_product(
        &self,
        ctx: &Context<'_>,
        input: CreateProductInput,
    ) -> Result<Product> {
        let actor = ctx.caller().user_id()?;
        let name = required_text("input.name", &input.name, 200)?;
        let description = optional_text("input.description", &input.description, DESCRIPTION_MAX)?
            .trim()
            .to_owned();
        let given = check_details(input.images.as_deref(), input.attributes.as_deref())?;
        let image_url = check_url("input.imageUrl", input.image_url.as_deref())?.or_else(|| {
            given
                .images
                .as_ref()
                .and_then(|images| images.first())
                .map(|image| image.url.clone())
        });
        let price = check_price("input.price", input.price)?;
        let currency = check_currency("input.currency", input.currency.as_deref())?;
        if input.stock < 0 {
            return Err(ApiError::bad_input("input.stock", "must be 0 or more").into());
        }
        let mut conn = service_kit::db::connection(ctx).await?;
        let category_id = match &input.category_id {
            Some(id) => Some(
                existing("input.categoryId", id, "category", async |id| {
                    categories::exists(&mut conn, id).await
                })
                .await?,
            ),
            None => None,
        };
        let brand_id = match &input.brand_id {
            Some(id) => Some(
                existing("input.brandId", id, "brand", async |id| {
                    brands::exists(&mut conn, id).await
                })
                .await?,
            ),
            None => None,
        };
        let id = Uuid::now_v7();
        let options: Vec<(String, Vec<String>)> = input
            .options
            .iter()
            .flatten()
            .map(|o| (o.name.clone(), o.values.clone()))
            .collect();
        let options = check_options("input.options", &options)?;
        let new_variants = match &input.variants {
            Some(given) => {
                let given: Vec<_> = given.iter().map(|v| v.unchecked()).collect();
                let checked = check_variants("input.variants", &options, &given)?;
                // The first keeps the product's id, as a product's only variant does.
                checked
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (if i == 0 { id } else { Uuid::now_v7() }, v))
                    .collect::<Vec<_>>()
            }
            None if !options.is_empty() => {
                return Err(ApiError::bad_input(
                    "input.variants",
                    "a product with options needs its variants",
                )
                .into());
            }
            None => vec![(
                id,
                NewVariant {
                    sku: peer_api::default_sku(id),
                    options: Vec::new(),
                    price,
                    stock: input.stock,
                    image_url: None,
                },
            )],
        };
        let lowest = new_variants.iter().map(|(_, v)| v.price).min();
        let total: i64 = new_variants.iter().map(|(_, v)| i64::from(v.stock)).sum();
        let stock = i32::try_from(total)
            .map_err(|_| ApiError::bad_input("input.variants", "too many units in total"))?;
        let now = Utc::now();
        let row = ProductRow {
            id,
            category_id,
            name,
            description,
            image_url,
            price_amount: lowest.unwrap_or(price),
            currency,
            status: input
                .status
                .unwrap_or(ProductStatus::Active)
                .as_db()
                .to_owned(),
            stock,
            sales_count: 0,
            created_at: now,
            updated_at: now,
            version: 1,
            brand_id,
        };
        let row = products::add_product(
            &mut conn,
            ctx.data_opt(),
            row,
            &given,
            (&options, &new_variants),
            actor,
        )
        .await?;
        Ok(Product(row))
    }

    /// Changes a product; omitted fields stay. Needs `catalog:product:write`.
    #[graphql(guard = "RequirePermission(\"catalog:product:write\")")]
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateProductInput,
    ) -> Result<Product> {
        let id = parse_uuid("id", &id)?;
        let given = check_details(input.images.as_deref(), input.attributes.as_deref())?;
        let mut conn = service_kit::db::connection(ctx).await?;
        // Only the fields given are written, so concurrent updates of different fields (and
        // concurrent `adjustStock` calls) never undo each other.
        let mut changes = ProductChanges {
            updated_at: Utc::now(),
            ..ProductChanges::default()
        };
        if let Some(name) = &input.name {
            changes.name = Some(required_text("input.name", name, 200)?);
        }
        if let Some(description) = &input.description {
            changes.description = Some(
                optional_text("input.description", description, DESCRIPTION_MAX)?
                    .trim()
                    .to_owned(),
            );
        }
        if input.image_url.is_some() {
            changes.image_url = Some(check_url("input.imageUrl", input.image_url.as_deref())?);
        } else if let Some(images) = &given.images {
            // A new gallery without a main picture: its first one is.
            changes.image_url = Some(images.first().map(|image| image.url.clone()));
        }
        if let Some(price) = input.price {
            changes.price_amount = Some(check_price("input.price", price)?);
        }
        if let Some(category) = &input.category_id {
            changes.category_id = Some(Some(
                existing("input.categoryId", category, "category", async |id| {
                    categories::exists(&mut conn, id).await
                })
                .await?,
            ));
        }
        if let Some(status) = input.status {
            changes.status = Some(status.as_db().to_owned());
        }
        if let Some(brand) = &input.brand_id {
            changes.brand_id = Some(Some(
                existing("input.brandId", brand, "brand", async |id| {
                    brands::exists(&mut conn, id).await
                })
                .await?,
            ));
        }
        let row = products::change_product(&mut conn, ctx.data_opt(), id, changes, &given).await?;
        Ok(Product(row))
    }

    /// Withdraws a product (soft delete): customers no longer see it; carts and orders keep
    /// their reference. Needs `catalog:product:write`.
    #[graphql(guard = "RequirePermission(\"catalog:product:write\")")]
    async fn archive_product(&self, ctx: &Context<'_>, id: ID) -> Result<Product> {
        let id = parse_uuid("id", &id)?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let changes = ProductChanges {
            status: Some(ProductStatus::Archived.as_db().to_owned()),
            updated_at: Utc::now(),
            ..ProductChanges::default()
        };
        let row =
            products::change_product(&mut conn, ctx.data_opt(), id, changes, &Details::default())
                .await?;
        Ok(Product(row))
    }

    /// Adds `delta` units (negative removes) to a variant (`variantId`, required when the
    /// product has several) with a reason, recorded in the stock ledger. Stock never goes
    /// below zero: `CONFLICT`. Needs `catalog:stock:write`.
    #[graphql(guard = "RequirePermission(\"catalog:stock:write\")")]
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        delta: i32,
        reason: String,
        variant_id: Option<ID>,
    ) -> Result<Product> {
        let actor = ctx.caller().user_id()?;
        let id = parse_uuid("productId", &product_id)?;
        let variant = variant_id
            .map(|v| parse_uuid("variantId", &v))
            .transpose()?;
        if delta == 0 || delta.abs() > MAX_STOCK_DELTA {
            return Err(ApiError::bad_input(
                "delta",
                format!("must be non-zero and at most {MAX_STOCK_DELTA} either way"),
            )
            .into());
        }
        let reason = required_text("reason", &reason, 200)?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = crate::workflows::variants::adjust_stock(
            &mut conn,
            ctx.data_opt(),
            id,
            variant,
            delta,
            (&reason, actor),
        )
        .await?;
        Ok(Product(row))
    }
}
