//! The checkout workflow: from a request to a placed order, across three other subgraphs.
//!
//! 1. Claim `(user, idempotency key)` with a new order id (a primary key, so racing retries
//!    agree on one order id; a retry of a placed checkout returns its order).
//! 2. Read the lines (cart or request) and the address (user subgraph), concurrently.
//! 3. Reserve the stock in the catalog, all lines or none, idempotent per order id.
//! 4. Place the order: attempt → PLACED, order, lines, history and `OrderPlaced` event in one
//!    statement, only if the attempt is still RESERVING.
//! 5. Take the bought lines out of the cart (also done by the cart on `OrderPlaced`).
//!
//! A crash between 3 and 4 leaves a RESERVING attempt: the sweeper abandons it after
//! `CHECKOUT_ABANDON_AFTER_SECONDS` with a `CheckoutAbandoned` event, on which the catalog
//! releases the stock and refuses any later reservation for that order id; step 4 can then
//! no longer place it. So stock is never held without an order for longer than that bound,
//! and an order never exists without its reservation.

use std::time::{Duration, Instant};

use diesel_async::AsyncPgConnection;
use peer_api::{CheckedOut, PostalAddress, ReservationStatus, StockLine};
use service_kit::{ApiError, DbPool};
use uuid::Uuid;

use crate::config::OrderSettings;
use crate::db::OrderRow;
use crate::db::checkouts::{self, Abandon};
use crate::db::orders::{self, NewOrder};
use crate::domain::checkout::{AddressChoice, CheckoutRequest, check_lines, subtotal};
use crate::peers::Peers;

/// How long a retry waits for a twin request with the same key that is still running.
const WAIT_FOR_TWIN: Duration = Duration::from_secs(5);

/// Places orders.
#[derive(Clone)]
pub struct Checkout {
    pub db: DbPool,
    pub services: Peers,
    pub settings: OrderSettings,
}

impl Checkout {
    /// The order of this request: placed now, or placed earlier under the same key.
    pub async fn place(
        &self,
        user: Uuid,
        key: &str,
        request: &CheckoutRequest,
        traceparent: Option<String>,
    ) -> Result<OrderRow, ApiError> {
        let hash = request.fingerprint();
        let deadline = Instant::now() + WAIT_FOR_TWIN;
        loop {
            let mut conn = self.db.get().await?;
            let (attempt, fresh) =
                checkouts::claim_attempt(&mut conn, user, key, &hash, Uuid::now_v7()).await?;
            if attempt.request_hash != hash {
                return Err(ApiError::Conflict(
                    "this idempotency key was already used for a different checkout".into(),
                ));
            }
            match (fresh, attempt.state.as_str()) {
                (true, _) => {
                    drop(conn);
                    return self.run(attempt.order_id, user, request, traceparent).await;
                }
                (false, "PLACED") => {
                    return orders::find_order(&mut conn, attempt.order_id)
                        .await?
                        .ok_or(ApiError::Internal);
                }
                (false, "ABANDONED") => {
                    // Its stock back first, whatever became of its event (the stock
                    // reconciler no longer sees its order once the attempt has a new one).
                    drop(conn);
                    self.services
                        .release(attempt.order_id, "checkout abandoned")
                        .await?;
                    let mut conn = self.db.get().await?;
                    let restarted =
                        checkouts::restart_abandoned(&mut conn, user, key, Uuid::now_v7()).await?;
                    drop(conn);
                    if let Some(attempt) = restarted {
                        return self.run(attempt.order_id, user, request, traceparent).await;
                    }
                }
                _ if Instant::now() >= deadline => {
                    return Err(ApiError::Conflict(
                        "a checkout with this idempotency key is still in progress; retry in a moment"
                            .into(),
                    ));
                }
                _ => {
                    drop(conn);
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
        }
    }

    async fn run(
        &self,
        order_id: Uuid,
        user: Uuid,
        request: &CheckoutRequest,
        traceparent: Option<String>,
    ) -> Result<OrderRow, ApiError> {
        let (lines, address) = match self.prepare(user, request).await {
            Ok(prepared) => prepared,
            Err(error) => return Err(self.forget(order_id, error).await),
        };
        let reservation = match self.services.reserve(order_id, &lines).await {
            Ok(reservation) => reservation,
            // No answer: stock may or may not be held. Abandon now, so that the catalog
            // releases whatever it holds and a retry with this key starts over.
            Err(error @ (ApiError::Unavailable(_) | ApiError::Internal)) => {
                let mut conn = self.db.get().await?;
                checkouts::abandon_attempts(&mut conn, Abandon::Order(order_id)).await?;
                return Err(error);
            }
            Err(error) => return Err(self.forget(order_id, error).await),
        };
        if reservation.status == ReservationStatus::Released {
            // This checkout took longer than the sweeper allows and was abandoned.
            return Err(ApiError::Unavailable("checkout"));
        }
        let (amount, currency) = match subtotal(&reservation.lines) {
            Ok(total) => total,
            Err(error) => {
                let mut conn = self.db.get().await?;
                checkouts::abandon_attempts(&mut conn, Abandon::Order(order_id)).await?;
                return Err(error);
            }
        };
        let address_json = serde_json::to_string(&address).map_err(|_| ApiError::Internal)?;
        let from_cart = request.items.is_none();
        let order = NewOrder {
            id: order_id,
            user_id: user,
            currency: &currency,
            subtotal: amount,
            payment_ttl: self.settings.payment_ttl,
            shipping_address: &address_json,
            note: request.note.as_deref(),
            from_cart,
            lines: &reservation.lines,
            traceparent,
            flash_sale: None,
        };
        let mut conn = self.db.get().await?;
        let placed = match orders::place_order(&mut conn, &order).await? {
            Some(row) => row,
            // A twin placed it first, or it was abandoned meanwhile.
            None => placed_or_abandoned(&mut conn, order_id).await?,
        };
        drop(conn);
        if from_cart {
            let bought = CheckedOut {
                user_id: user,
                order_id,
                lines: reservation
                    .lines
                    .iter()
                    // The variants the catalog resolved: the cart's lines name them too.
                    .map(|l| StockLine {
                        product_id: l.product_id,
                        variant_id: Some(l.variant_id),
                        quantity: l.quantity,
                    })
                    .collect(),
            };
            // The cart also does this on `OrderPlaced`; this call only makes it immediate.
            if let Err(error) = self.services.remove_from_cart(&bought).await {
                tracing::warn!(error = %error.message(), order = %order_id, "cart not emptied yet; the OrderPlaced event will do it");
            }
        }
        tracing::info!(order = %placed.id, number = %placed.number, total = placed.total_amount, "order placed");
        Ok(placed)
    }

    /// The lines to buy and the address to ship to.
    async fn prepare(
        &self,
        user: Uuid,
        request: &CheckoutRequest,
    ) -> Result<(Vec<StockLine>, PostalAddress), ApiError> {
        let lines = async {
            match &request.items {
                Some(items) => Ok(items.clone()),
                None => {
                    let mut lines = self.services.cart_lines(user).await?;
                    if lines.is_empty() {
                        return Err(ApiError::Conflict(
                            "the cart is empty: add products, or give input.items".into(),
                        ));
                    }
                    check_lines("cart", &mut lines)?;
                    Ok(lines)
                }
            }
        };
        let address = async {
            match &request.address {
                AddressChoice::Given(address) => Ok(address.clone()),
                AddressChoice::Saved(id) => self.services.saved_address(user, Some(*id)).await,
                AddressChoice::Default => {
                    self.services
                        .saved_address(user, None)
                        .await
                        .map_err(|error| match error {
                            ApiError::NotFound(_) => ApiError::bad_input(
                                "input.address",
                                "no address given and none saved: give addressId or address",
                            ),
                            other => other,
                        })
                }
            }
        };
        // Both at once; when both fail, the lines' error is the one reported (deterministic).
        let (lines, address) = tokio::join!(lines, address);
        Ok((lines?, address?))
    }

    /// Forgets an attempt that reserved nothing, then returns `error`.
    async fn forget(&self, order_id: Uuid, error: ApiError) -> ApiError {
        match self.db.get().await {
            Ok(mut conn) => {
                if let Err(forget_error) = checkouts::forget_attempt(&mut conn, order_id).await {
                    return forget_error;
                }
                error
            }
            Err(pool_error) => pool_error.into(),
        }
    }
}

async fn placed_or_abandoned(
    conn: &mut AsyncPgConnection,
    order_id: Uuid,
) -> Result<OrderRow, ApiError> {
    orders::find_order(conn, order_id)
        .await?
        .ok_or(ApiError::Unavailable("checkout"))
}
