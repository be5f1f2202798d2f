//! The caller's saved addresses.

use async_graphql::{Context, ID, InputObject, Object, Result};
use auth::CallerExt as _;
use peer_api::PostalAddress;
use service_kit::ApiError;
use service_kit::validate::AddressParts;

use super::types::Address;
use crate::workflows::addresses;

#[derive(InputObject)]
pub struct AddressInput {
    recipient: String,
    phone: String,
    province: String,
    city: String,
    district: String,
    line1: String,
    postal_code: Option<String>,
    is_default: Option<bool>,
}

impl AddressInput {
    fn validate(&self) -> Result<PostalAddress, ApiError> {
        service_kit::validate::postal_address(
            "input",
            AddressParts {
                recipient: &self.recipient,
                phone: &self.phone,
                province: &self.province,
                city: &self.city,
                district: &self.district,
                line1: &self.line1,
                postal_code: self.postal_code.as_deref(),
            },
        )
    }
}

/// Changes of the caller's addresses.
#[derive(Default)]
pub struct AddressMutation;

#[Object]
impl AddressMutation {
    /// Saves an address. The first address, or one with `isDefault: true`, becomes the
    /// default.
    async fn add_address(&self, ctx: &Context<'_>, input: AddressInput) -> Result<Address> {
        let user = ctx.caller().user_id()?;
        let fields = input.validate()?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = addresses::add(&mut conn, user, fields, input.is_default).await?;
        Ok(Address(row))
    }

    /// Replaces an address of the caller. `isDefault: true` makes it the default; the
    /// default cannot be unset (make another address the default instead).
    async fn update_address(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: AddressInput,
    ) -> Result<Address> {
        let user = ctx.caller().user_id()?;
        let id = service_kit::validate::id("id", &id)?;
        let fields = input.validate()?;
        let mut conn = service_kit::db::connection(ctx).await?;
        let row = addresses::replace(&mut conn, user, id, fields, input.is_default).await?;
        Ok(Address(row))
    }

    /// Deletes an address of the caller; if it was the default, the oldest remaining
    /// address becomes the default.
    async fn delete_address(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let user = ctx.caller().user_id()?;
        let id = service_kit::validate::id("id", &id)?;
        let mut conn = service_kit::db::connection(ctx).await?;
        addresses::delete(&mut conn, user, id).await?;
        Ok(true)
    }
}
