//! The admin mutations that add and change variants (SKU); the `ProductVariant` entity is
//! in `types`.

use async_graphql::{Context, ID, InputObject, Object, Result};
use auth::{CallerExt as _, RequirePermission};
use service_kit::validate;

use super::loaders::loaders;
use super::types::{ProductStatus, ProductVariant};
use crate::domain::urls::check_url;
use crate::domain::variants::VariantInput;
use crate::workflows::variants;

/// An option value chosen for a new variant.
#[derive(InputObject)]
pub struct SelectedOptionInput {
    name: String,
    value: String,
}

/// A new variant.
#[derive(InputObject)]
pub struct ProductVariantInput {
    /// 1 to 64 letters, digits, `-`, `_`, `.`; unique (`CONFLICT`).
    sku: String,
    /// One value for each of the product's options.
    options: Option<Vec<SelectedOptionInput>>,
    /// Minor units, 0 or more.
    price: i32,
    /// Initial units in stock (recorded in the stock ledger).
    stock: i32,
    /// An http(s) URL.
    image_url: Option<String>,
}

impl ProductVariantInput {
    /// As the domain checks it.
    pub fn unchecked(&self) -> VariantInput {
        VariantInput {
            sku: self.sku.clone(),
            options: self.options.as_ref().map(|options| {
                options
                    .iter()
                    .map(|o| (o.name.clone(), o.value.clone()))
                    .collect()
            }),
            price: self.price,
            stock: self.stock,
            image_url: self.image_url.clone(),
        }
    }
}

/// Changes to a variant; omitted fields stay.
#[derive(InputObject)]
pub struct UpdateProductVariantInput {
    price: Option<i32>,
    image_url: Option<String>,
    status: Option<ProductStatus>,
}

/// Variant administration.
#[derive(Default)]
pub struct VariantMutation;

#[Object]
impl VariantMutation {
    /// Adds a variant to a product: one value for each of its options, not the same values
    /// as another variant (`BAD_USER_INPUT`), a SKU of its own (`CONFLICT`). Needs
    /// `catalog:product:write`.
    #[graphql(guard = "RequirePermission(\"catalog:product:write\")")]
    async fn add_product_variant(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        input: ProductVariantInput,
    ) -> Result<ProductVariant> {
        let actor = ctx.caller().user_id()?;
        let product = validate::id("productId", &product_id)?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = variants::add_variant(
            &mut conn,
            ctx.data_opt(),
            product,
            &input.unchecked(),
            actor,
        )
        .await?;
        Ok(ProductVariant(row))
    }

    /// Changes a variant's price, picture or status; its product's price follows (the
    /// lowest active variant's). Needs `catalog:product:write`.
    #[graphql(guard = "RequirePermission(\"catalog:product:write\")")]
    async fn update_product_variant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateProductVariantInput,
    ) -> Result<ProductVariant> {
        let id = validate::id("id", &id)?;
        let price = input
            .price
            .map(|price| crate::domain::products::check_price("input.price", price))
            .transpose()?;
        let image_url = match &input.image_url {
            Some(url) => Some(check_url("input.imageUrl", Some(url))?),
            None => None,
        };
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = variants::change_variant(
            &mut conn,
            ctx.data_opt(),
            id,
            price,
            image_url.as_ref().map(Option::as_deref),
            input.status.map(ProductStatus::as_db),
        )
        .await?;
        Ok(ProductVariant(row))
    }
}

/// A variant by id, any status (references from carts and orders).
pub async fn load_variant(ctx: &Context<'_>, id: uuid::Uuid) -> Result<Option<ProductVariant>> {
    let loader = loaders(ctx).variant();
    Ok(loader.load_one(id).await?.map(ProductVariant))
}
