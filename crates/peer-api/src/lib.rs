//! The messages subgraphs exchange over their internal routes (`/internal/...`, never
//! through the router): the bodies of requests and answers, shared by the subgraph that
//! serves a route and the one that calls it. Kept apart from `service-kit`, so that a
//! message changes only the two sides that use it. Also the GraphQL documents a subgraph
//! sends another's `/graphql` directly ([`catalog_entities`]): subgraphs validate documents
//! the fast way, so the subgraph that serves them checks them with every rule in its tests.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Units of one product: of its variant `variant_id`, or of its only variant when that is
/// absent (the catalog refuses it with `BAD_USER_INPUT` when the product has several).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockLine {
    pub product_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<Uuid>,
    pub quantity: i32,
}

/// One option value of a variant, e.g. Color: Red.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedOption {
    pub name: String,
    pub value: String,
}

/// The SKU of a product's first variant when it was made from the product itself (every
/// product that existed before variants has one, with the product's id as its own). The
/// catalog's migration uses the same rule (`default_sku` in SQL), so the cart's and the
/// order's existing lines can name that variant without asking the catalog.
pub fn default_sku(product_id: Uuid) -> String {
    format!("SKU-{}", product_id.simple().to_string().to_uppercase())
}

/// Catalog `POST /internal/stock/reserve`: all lines or none, idempotent per order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveStock {
    pub order_id: Uuid,
    pub lines: Vec<StockLine>,
}

/// What a reservation holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    /// Reserved by this call.
    Reserved,
    /// Reserved earlier for the same order (a retry).
    Existing,
    /// The order's checkout was abandoned and its stock released: nothing is reserved.
    Released,
}

/// A reserved line with the catalog's name, variant and price at that moment.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservedLine {
    pub product_id: Uuid,
    pub variant_id: Uuid,
    pub quantity: i32,
    pub product_name: String,
    pub unit_price: i64,
    pub currency: String,
    pub sku: String,
    /// The option values joined ("Red / M"), or the product's name without options.
    pub variant_name: String,
    pub options: Vec<SelectedOption>,
}

/// The answer to [`ReserveStock`]; errors are `NOT_FOUND` (unknown product or variant),
/// `BAD_USER_INPUT` (a variant of another product, or none named for a product with
/// several; the field is `variantId`), `CONFLICT` (not on sale) and `INSUFFICIENT_STOCK`
/// (naming the variant).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub status: ReservationStatus,
    pub lines: Vec<ReservedLine>,
}

/// Catalog `POST /internal/stock/release`: gives an order's stock back, once.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseStock {
    pub order_id: Uuid,
    pub reason: String,
}

/// The answer to [`ReleaseStock`]: whether this call gave stock back.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Released {
    pub released: bool,
}

/// Catalog `POST /internal/orders/closed`: the orders (or abandoned checkouts) are
/// closed without being paid for, or refunded: their reserved stock, or their flash-sale
/// units, go back, once (the reconciler's call; the same as their events do).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrdersClosed {
    pub order_ids: Vec<Uuid>,
    pub reason: String,
}

/// The answer to [`OrdersClosed`]: how many of them this call gave something back for
/// (the others had it back already), and those it could not settle now (logged; to ask
/// again).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GivenBack {
    pub given_back: usize,
    pub failed: Vec<Uuid>,
}

/// Order `POST /internal/orders/payers`: status and paying payment of some orders.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrdersOf {
    pub order_ids: Vec<Uuid>,
}

/// One order in [`OrderPayers`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPayer {
    pub order_id: Uuid,
    /// `PENDING_PAYMENT`, `PAID`, `CANCELLED`, `EXPIRED` or `REFUNDED`.
    pub status: String,
    /// The payment that paid it, if one did.
    pub paid_by: Option<Uuid>,
}

/// The answer to [`OrdersOf`]: the orders that exist (unknown ids are left out).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPayers {
    pub orders: Vec<OrderPayer>,
}

/// Cart `POST /internal/cart/lines`: a user's cart lines, oldest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartOf {
    pub user_id: Uuid,
}

/// The answer to [`CartOf`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLines {
    pub lines: Vec<StockLine>,
}

/// Order `POST /internal/orders/summary`: what the payment subgraph needs to know about
/// an order before taking money for it. An unknown order is `NOT_FOUND`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderOf {
    pub order_id: Uuid,
}

/// The answer to [`OrderOf`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderSummary {
    pub order_id: Uuid,
    pub user_id: Uuid,
    /// `PENDING_PAYMENT`, `PAID`, `CANCELLED`, `EXPIRED` or `REFUNDED`.
    pub status: String,
    /// What is to be paid, minor units.
    pub total_amount: i64,
    pub currency: String,
    /// When an unpaid order expires.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Cart `POST /internal/cart/checked-out`: removes what an order bought from the cart,
/// once per order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckedOut {
    pub user_id: Uuid,
    pub order_id: Uuid,
    pub lines: Vec<StockLine>,
}

/// User `POST /internal/address`: one saved address of a user, or their default one
/// when `address_id` is absent (`NOT_FOUND` when it is not theirs, or they have none).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressOf {
    pub user_id: Uuid,
    pub address_id: Option<Uuid>,
}

/// User `POST /internal/addresses`: several saved addresses at once (at most
/// [`MAX_ADDRESSES`]), answered by [`SavedAddresses`] in the same order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressesOf {
    pub addresses: Vec<AddressOf>,
}

/// Most addresses one [`AddressesOf`] may ask for.
pub const MAX_ADDRESSES: usize = 200;

/// The answer to [`AddressesOf`]: per address asked, in order, the address, or `None`
/// where [`AddressOf`] would have answered `NOT_FOUND`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedAddresses {
    pub addresses: Vec<Option<PostalAddress>>,
}

/// A postal address (the answer to [`AddressOf`], and an order's shipping address).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostalAddress {
    pub recipient: String,
    pub phone: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub line1: String,
    pub postal_code: Option<String>,
}

/// The documents the cart sends the catalog's `/graphql` (variable `r`: the
/// representations), checked against the catalog's schema with every validation rule by the
/// catalog's tests.
pub mod catalog_entities {
    /// Products with their variants.
    pub const PRODUCTS: &str = "query($r: [_Any!]!) { _entities(representations: $r) { \
        ... on Product { id status \
        variants { id status inStock price { amount currency } } } } }";
    /// Variants with their product.
    pub const VARIANT_OWNERS: &str = "query($r: [_Any!]!) { _entities(representations: $r) { \
        ... on ProductVariant { id status product { id } } } }";
    /// Every document above.
    pub const ALL: [&str; 2] = [PRODUCTS, VARIANT_OWNERS];
}
