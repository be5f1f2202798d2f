//! Flash sales: `createFlashSale` (`flashsales:write`), `flashSales(status)` (public) and
//! the `FlashSale` type. See `db/flash_sales.rs` for how their units are kept, and
//! `workflows/flash_sales.rs` for creating them.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result};
use auth::{CallerExt as _, RequirePermission};
use chrono::{DateTime, Utc};
use service_kit::money::Money;
use service_kit::{ApiError, Redis};

use super::loaders::loaders;
use super::types::Product;
use crate::cache::ProductCache;
use crate::db::flash_sales::{self, FlashSaleRow, NewSale};
use crate::domain::flash_sales::{self as rules, Phase, Refusal, Terms};
use crate::workflows::flash_sales as workflow;

/// The most sales one `flashSales` answers (the ended ones: the latest).
const LIST_LIMIT: i64 = 100;

/// Where a sale is, by the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum FlashSaleStatus {
    /// Not started yet.
    Scheduled,
    /// Between its start and its end.
    Active,
    /// Over; its unsold units go back to the product.
    Ended,
}

impl From<Phase> for FlashSaleStatus {
    fn from(phase: Phase) -> Self {
        match phase {
            Phase::Scheduled => Self::Scheduled,
            Phase::Active => Self::Active,
            Phase::Ended => Self::Ended,
        }
    }
}

impl From<FlashSaleStatus> for Phase {
    fn from(status: FlashSaleStatus) -> Self {
        match status {
            FlashSaleStatus::Scheduled => Phase::Scheduled,
            FlashSaleStatus::Active => Phase::Active,
            FlashSaleStatus::Ended => Phase::Ended,
        }
    }
}

/// A product at a special price, a limited number of units, for a limited time.
pub struct FlashSale {
    row: FlashSaleRow,
    remaining: i64,
}

#[Object]
impl FlashSale {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    /// The product on sale (also when it has since been archived).
    async fn product(&self, ctx: &Context<'_>) -> Result<Product> {
        // Through the request's loader (not `query`'s helper: `query` uses this module).
        let loader = loaders(ctx).products();
        Ok(loader
            .load_one(self.row.product_id)
            .await?
            .map(Product)
            .ok_or_else(|| ApiError::NotFound("product".into()))?)
    }

    /// The unit on sale (the product's only variant when it has one).
    async fn variant(&self, ctx: &Context<'_>) -> Result<Option<super::types::ProductVariant>> {
        super::variants::load_variant(ctx, self.row.variant_id).await
    }

    /// The sale price.
    async fn price(&self) -> Money {
        Money::new(self.row.price, self.row.currency.clone())
    }

    /// Units put up for the sale.
    async fn total_quantity(&self) -> i32 {
        self.row.total_quantity
    }

    /// Units still to be had (live while the sale runs; after it, what it did not sell).
    async fn remaining_quantity(&self) -> i64 {
        self.remaining
    }

    /// Units one customer may buy in this sale, all purchases together.
    async fn per_user_limit(&self) -> i32 {
        self.row.per_user_limit
    }

    async fn starts_at(&self) -> DateTime<Utc> {
        self.row.starts_at
    }

    async fn ends_at(&self) -> DateTime<Utc> {
        self.row.ends_at
    }

    /// By the clock: before `startsAt` SCHEDULED, until `endsAt` ACTIVE, then ENDED.
    async fn status(&self) -> FlashSaleStatus {
        Phase::at(self.row.starts_at, self.row.ends_at, Utc::now()).into()
    }
}

/// The sales of one status (all when omitted): scheduled and active ones by time, the
/// latest ended ones first; at most 100.
pub async fn list(ctx: &Context<'_>, status: Option<FlashSaleStatus>) -> Result<Vec<FlashSale>> {
    let mut conn = service_kit::db::connection(ctx).await?;
    let rows = flash_sales::list(&mut conn, status.map(Into::into), LIST_LIMIT).await?;
    let remaining = workflow::remaining(&mut conn, ctx.data_unchecked::<Redis>(), &rows).await?;
    Ok(rows
        .into_iter()
        .zip(remaining)
        .map(|(row, remaining)| FlashSale { row, remaining })
        .collect())
}

/// What `createFlashSale` creates.
#[derive(InputObject)]
pub struct CreateFlashSaleInput {
    pub product_id: ID,
    /// The variant on sale; required when the product has more than one.
    pub variant_id: Option<ID>,
    /// The sale price, minor units, 0 or more.
    pub price: i32,
    /// Units put up (taken out of the product's stock now), 1 or more.
    pub quantity: i32,
    /// Units one customer may buy, 1 or more.
    pub per_user_limit: i32,
    pub starts_at: DateTime<Utc>,
    /// After `startsAt`, and in the future.
    pub ends_at: DateTime<Utc>,
}

/// Flash sale administration.
#[derive(Default)]
pub struct FlashSaleMutation;

#[Object]
impl FlashSaleMutation {
    /// Puts `quantity` units of an active product up for a flash sale; they leave the
    /// product's stock now and the unsold ones come back when the sale ends. Needs
    /// `flashsales:write`; every invalid field is `BAD_USER_INPUT` naming it.
    #[graphql(guard = "RequirePermission(\"flashsales:write\")")]
    async fn create_flash_sale(
        &self,
        ctx: &Context<'_>,
        input: CreateFlashSaleInput,
    ) -> Result<FlashSale> {
        let actor = ctx.caller().user_id()?;
        let new = validate(&input, actor, Utc::now())?;
        let conn = service_kit::db::connection(ctx).await?;
        let sale = workflow::create(
            conn,
            ctx.data_unchecked::<Redis>(),
            ctx.data_opt::<ProductCache>(),
            new,
        )
        .await?
        .map_err(|refusal| match refusal {
            Refusal::NoSuchProduct => {
                ApiError::bad_input("input.productId", "there is no such product")
            }
            Refusal::NotActive => {
                ApiError::bad_input("input.productId", "the product is not on sale (not ACTIVE)")
            }
            Refusal::NotEnoughStock { in_stock } => {
                ApiError::bad_input("input.quantity", format!("only {in_stock} in stock"))
            }
        })?;
        let remaining = i64::from(sale.total_quantity);
        Ok(FlashSale {
            row: sale,
            remaining,
        })
    }
}

/// Checks every field of `input`; the first invalid one is named in the error.
fn validate(
    input: &CreateFlashSaleInput,
    actor: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<NewSale, ApiError> {
    let product_id = service_kit::validate::id("input.productId", &input.product_id)?;
    let variant_id = input
        .variant_id
        .as_ref()
        .map(|id| service_kit::validate::id("input.variantId", id))
        .transpose()?;
    rules::check_terms(
        &Terms {
            price: input.price,
            quantity: input.quantity,
            per_user_limit: input.per_user_limit,
            starts_at: input.starts_at,
            ends_at: input.ends_at,
        },
        now,
    )?;
    Ok(NewSale {
        product_id,
        variant_id,
        price: i64::from(input.price),
        quantity: input.quantity,
        per_user_limit: input.per_user_limit,
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        created_by: actor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> CreateFlashSaleInput {
        let now = Utc::now();
        CreateFlashSaleInput {
            product_id: ID(uuid::Uuid::now_v7().to_string()),
            variant_id: None,
            price: 100,
            quantity: 10,
            per_user_limit: 2,
            starts_at: now,
            ends_at: now + chrono::Duration::hours(1),
        }
    }

    fn refused_field(input: &CreateFlashSaleInput) -> String {
        match validate(input, uuid::Uuid::nil(), Utc::now()) {
            Err(ApiError::BadUserInput { field, .. }) => field,
            Err(other) => panic!("not BAD_USER_INPUT: {other:?}"),
            Ok(_) => panic!("accepted"),
        }
    }

    /// The id here, the terms by `domain::flash_sales::check_terms` (tested there).
    #[test]
    fn every_invalid_field_is_named() {
        assert!(validate(&input(), uuid::Uuid::nil(), Utc::now()).is_ok());
        type Breaks = Box<dyn Fn(&mut CreateFlashSaleInput)>;
        let cases: Vec<(&str, Breaks)> = vec![
            (
                "input.productId",
                Box::new(|i| i.product_id = ID("nope".into())),
            ),
            ("input.price", Box::new(|i| i.price = -1)),
            ("input.perUserLimit", Box::new(|i| i.per_user_limit = 0)),
            ("input.endsAt", Box::new(|i| i.ends_at = i.starts_at)),
        ];
        for (field, break_it) in cases {
            let mut bad = input();
            break_it(&mut bad);
            assert_eq!(refused_field(&bad), field);
        }
    }
}
