//! Buying in a flash sale: `purchaseFlashSale` (signed in) and `flashSalePurchase(id)`
//! (the buyer's own).
//!
//! The Redis counters decide at once (`crate::flash_counters`): `REJECTED` with a reason,
//! or admitted, then recorded in PostgreSQL with its event and answered `PENDING`; the
//! order subgraph creates the order (with the purchase's id) and the purchase becomes
//! `CONFIRMED` when the catalog sees its `OrderPlaced` (`crate::events`).

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use auth::CallerExt as _;
use service_kit::{ApiError, DbPool, Redis, validate};
use uuid::Uuid;

use crate::db::flash_purchases::{self, NewPurchase, PurchaseRow, Recorded};
use crate::db::flash_sales::{self, Phase, Rebuilt};
use crate::flash_counters::{self, Attempt, Decision, GiveBack};

/// The most units one purchase may ask for.
const MAX_QUANTITY: i32 = 100;
/// How often an attempt is decided again after the counters moved under it (rebuilt).
const ROUNDS: usize = 4;
/// How often a sale's rejections are checked against the record: longer than a recording
/// can wait for a database connection (5 s), so that between two checks every admission
/// then in flight has been recorded or has given its units back.
const AUDIT_EVERY: std::time::Duration = std::time::Duration::from_secs(6);

/// How fast one customer may try (from `FLASH_PURCHASES_PER_SECOND`).
#[derive(Clone, Copy)]
pub struct PurchaseLimits {
    pub per_second: u32,
}

/// Where a purchase is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub enum FlashSalePurchaseStatus {
    /// Admitted: units taken, the order is being created.
    Pending,
    /// The order exists (`order`).
    Confirmed,
    /// Not admitted, or its order could not be created (`reason`).
    Rejected,
}

/// An order of the order subgraph, referenced by id.
#[derive(SimpleObject)]
#[graphql(name = "Order", unresolvable = "id")]
pub struct OrderRef {
    pub id: ID,
}

/// One purchase attempt in a flash sale.
pub struct FlashSalePurchase {
    id: Uuid,
    status: FlashSalePurchaseStatus,
    reason: Option<String>,
}

impl FlashSalePurchase {
    fn rejected(id: Uuid, reason: impl Into<String>) -> Self {
        Self {
            id,
            status: FlashSalePurchaseStatus::Rejected,
            reason: Some(reason.into()),
        }
    }

    fn pending(id: Uuid) -> Self {
        Self {
            id,
            status: FlashSalePurchaseStatus::Pending,
            reason: None,
        }
    }
}

impl From<PurchaseRow> for FlashSalePurchase {
    fn from(row: PurchaseRow) -> Self {
        let status = match row.status.as_str() {
            "CONFIRMED" => FlashSalePurchaseStatus::Confirmed,
            "REJECTED" => FlashSalePurchaseStatus::Rejected,
            _ => FlashSalePurchaseStatus::Pending,
        };
        Self {
            id: row.id,
            status,
            reason: row.reason,
        }
    }
}

#[Object]
impl FlashSalePurchase {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    async fn status(&self) -> FlashSalePurchaseStatus {
        self.status
    }

    /// Why it was rejected: `SOLD_OUT`, `LIMIT_EXCEEDED`, `NOT_ACTIVE`, or
    /// `ADDRESS_NOT_FOUND` when the order could not be created.
    async fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The order, once `CONFIRMED` (it has the purchase's id).
    async fn order(&self) -> Option<OrderRef> {
        (self.status == FlashSalePurchaseStatus::Confirmed).then(|| OrderRef {
            id: ID(self.id.to_string()),
        })
    }
}

/// What `purchaseFlashSale` asks for.
#[derive(InputObject)]
pub struct FlashSalePurchaseInput {
    pub flash_sale_id: ID,
    /// Units, 1 to 100 (and within the sale's per-user limit).
    pub quantity: i32,
    /// One of the buyer's saved addresses, to ship the order to.
    pub address_id: ID,
    /// 8 to 128 characters chosen by the client: the same key again returns the same
    /// purchase.
    pub idempotency_key: String,
}

/// Buying in flash sales.
#[derive(Default)]
pub struct FlashPurchaseMutation;

#[Object]
impl FlashPurchaseMutation {
    /// Tries to buy `quantity` units in a flash sale. Answers at once: `PENDING` (admitted;
    /// the order at the sale price follows within seconds, see `flashSalePurchase`) or
    /// `REJECTED` with `SOLD_OUT`, `LIMIT_EXCEEDED` or `NOT_ACTIVE`. Signed in; more than
    /// `FLASH_PURCHASES_PER_SECOND` attempts a second are `RATE_LIMITED`.
    async fn purchase_flash_sale(
        &self,
        ctx: &Context<'_>,
        input: FlashSalePurchaseInput,
    ) -> Result<FlashSalePurchase> {
        let buyer = ctx.caller().user_id()?;
        let sale = validate::id("input.flashSaleId", &input.flash_sale_id)?;
        if !(1..=MAX_QUANTITY).contains(&input.quantity) {
            return Err(ApiError::bad_input(
                "input.quantity",
                format!("must be between 1 and {MAX_QUANTITY}"),
            )
            .into());
        }
        let address = validate::id("input.addressId", &input.address_id)?;
        let key = validate::idempotency_key("input.idempotencyKey", &input.idempotency_key)?;
        let request = Request {
            buyer,
            sale,
            quantity: input.quantity,
            address,
            fingerprint: format!("{sale}/{}/{address}", input.quantity),
            key,
            traceparent: ctx
                .data_opt::<service_kit::telemetry::TraceParent>()
                .map(|t| t.0.clone()),
        };
        Ok(purchase(
            ctx.data_unchecked::<DbPool>(),
            ctx.data_unchecked::<Redis>(),
            *ctx.data_unchecked::<PurchaseLimits>(),
            request,
        )
        .await?)
    }
}

/// One validated purchase request.
#[derive(Clone)]
struct Request {
    buyer: Uuid,
    sale: Uuid,
    quantity: i32,
    address: Uuid,
    /// What was asked, to tell a retry from a reused key.
    fingerprint: String,
    key: String,
    traceparent: Option<String>,
}

async fn purchase(
    db: &DbPool,
    redis: &Redis,
    limits: PurchaseLimits,
    request: Request,
) -> Result<FlashSalePurchase, ApiError> {
    let answer = decide(db, redis, limits, request).await;
    // Labels from a fixed set (a rejection's reason is one of a few codes).
    let outcome: metrics::SharedString = match &answer {
        Ok(purchase) => match (purchase.status, purchase.reason.as_deref()) {
            (FlashSalePurchaseStatus::Rejected, Some(reason)) => reason.to_owned().into(),
            (FlashSalePurchaseStatus::Rejected, None) => "REJECTED".into(),
            (FlashSalePurchaseStatus::Pending, _) => "PENDING".into(),
            (FlashSalePurchaseStatus::Confirmed, _) => "CONFIRMED".into(),
        },
        Err(error) => error.code().into(),
    };
    metrics::counter!("flash_sale_attempts_total", "outcome" => outcome).increment(1);
    answer
}

async fn decide(
    db: &DbPool,
    redis: &Redis,
    limits: PurchaseLimits,
    request: Request,
) -> Result<FlashSalePurchase, ApiError> {
    let id = Uuid::now_v7();
    let attempt = Attempt {
        buyer: request.buyer,
        sale: request.sale,
        quantity: request.quantity,
        purchase: id,
        idempotency_key: &request.key,
        request_hash: &request.fingerprint,
        per_second: limits.per_second,
    };
    for _ in 0..ROUNDS {
        match flash_counters::admit(redis, &attempt).await? {
            Decision::RateLimited(millis) => {
                return Err(ApiError::RateLimited {
                    message: "too many purchase attempts: retry in a moment".into(),
                    retry_after_seconds: millis.div_ceil(1000).max(1),
                });
            }
            Decision::Seen(seen) => {
                if seen.request_hash != request.fingerprint {
                    return Err(reused_key());
                }
                return match seen.rejection {
                    Some(reason) => Ok(FlashSalePurchase::rejected(seen.purchase, reason)),
                    None => {
                        let mut conn = db.get().await?;
                        Ok(flash_purchases::find(&mut conn, seen.purchase)
                            .await?
                            // Its twin request is still recording it.
                            .map_or(FlashSalePurchase::pending(seen.purchase), Into::into))
                    }
                };
            }
            Decision::Rebuild => {
                if let Some(answer) = rebuild(db, redis, id, request.sale, None).await? {
                    return Ok(answer);
                }
            }
            Decision::Rejected(reason) => {
                if !counters_too_low(db, redis, &request, &reason).await? {
                    return Ok(FlashSalePurchase::rejected(id, reason));
                }
                flash_counters::forget_rejection(redis, &attempt).await?;
            }
            Decision::Admitted { epoch } => {
                // Recorded (or rolled back) even if the client goes away meanwhile:
                // admitted units must not stay taken without a record.
                let admission = Admission {
                    id,
                    epoch,
                    request: request.clone(),
                };
                let recording = {
                    let (db, redis) = (db.clone(), redis.clone());
                    tokio::spawn(async move { admission.record(&db, &redis).await })
                };
                let outcome = recording.await.map_err(|_| ApiError::Internal)??;
                match outcome {
                    Outcome::Recorded(purchase) => return Ok(purchase),
                    // The counters that admitted it were rebuilt meanwhile, rolled back to
                    // an older epoch, or admitted more than the record allows: rebuilt
                    // unless another request did it already, then decided again.
                    Outcome::Stale | Outcome::Refused => {
                        if let Some(answer) =
                            rebuild(db, redis, id, request.sale, Some(epoch)).await?
                        {
                            return Ok(answer);
                        }
                    }
                }
            }
        }
    }
    Err(ApiError::Unavailable("the flash sale counters"))
}

/// Checks a SOLD_OUT or LIMIT_EXCEEDED of the counters against the record, at most once
/// per [`AUDIT_EVERY`] per sale, across replicas, and acts on two checks in a row that
/// found room with nothing recorded in between: counters with
/// too few units left (a give-back that reached PostgreSQL but not Redis, or Redis restored
/// from a snapshot older than some give-backs) would refuse buyers until the sale ends.
/// Whether they were found so and rebuilt (the attempt is then decided again).
async fn counters_too_low(
    db: &DbPool,
    redis: &Redis,
    request: &Request,
    reason: &str,
) -> Result<bool, ApiError> {
    let for_buyer = match reason {
        "SOLD_OUT" => false,
        "LIMIT_EXCEEDED" => true,
        _ => return Ok(false),
    };
    if !flash_counters::audit_turn(redis, request.sale, AUDIT_EVERY).await? {
        return Ok(false);
    }
    // A connection for one statement each time: none is held while Redis answers (a slow
    // Redis in a storm would otherwise take the pool away from the recordings).
    let record = {
        let mut conn = db.get().await?;
        flash_purchases::room(&mut conn, request.sale, request.buyer).await?
    };
    let Some(record) = record else {
        return Ok(false);
    };
    let wanted = i64::from(request.quantity);
    let room = if for_buyer { record.buyer } else { record.sale };
    // Admissions still being recorded look like room in the record (a storm at sell-out):
    // only a difference that outlasts a check with nothing recorded in between counts.
    if room < wanted
        || !flash_counters::held_unchanged_since_last_check(
            redis,
            request.sale,
            record.held,
            AUDIT_EVERY,
        )
        .await?
    {
        return Ok(false);
    }
    let Some(counters) = flash_counters::state(redis, request.sale).await? else {
        // Gone meanwhile: the next round rebuilds them.
        return Ok(true);
    };
    tracing::warn!(sale = %request.sale, reason, room, "the counters refused what the record has room for");
    let mut conn = db.get().await?;
    flash_sales::rebuild_counters(&mut conn, redis, request.sale, Some(counters.epoch)).await?;
    Ok(true)
}

/// Rebuilds the sale's counters from the record if they are missing, not of the record's
/// epoch, or (`wrong`) of an epoch found wrong. An answer when there is nothing to decide
/// any more (no such sale, or it has ended).
async fn rebuild(
    db: &DbPool,
    redis: &Redis,
    id: Uuid,
    sale: Uuid,
    wrong: Option<i32>,
) -> Result<Option<FlashSalePurchase>, ApiError> {
    let mut conn = db.get().await?;
    Ok(
        match flash_sales::rebuild_counters(&mut conn, redis, sale, wrong).await? {
            None => return Err(ApiError::NotFound("flash sale".into())),
            Some(Rebuilt::Counters { sale, .. })
                if sale.phase(chrono::Utc::now()) != Phase::Ended =>
            {
                None
            }
            Some(_) => Some(FlashSalePurchase::rejected(id, "NOT_ACTIVE")),
        },
    )
}

fn reused_key() -> ApiError {
    ApiError::Conflict("this idempotency key was already used for a different purchase".into())
}

/// What recording an admission came to.
enum Outcome {
    Recorded(FlashSalePurchase),
    /// The counters that admitted it were replaced meanwhile.
    Stale,
    /// The record refused it: the counters admitted too much.
    Refused,
}

/// An admission to record.
struct Admission {
    id: Uuid,
    epoch: i32,
    request: Request,
}

impl Admission {
    /// The recorded purchase, or why it was not recordable; units not recorded go back
    /// into the counters. When the recording failed (a lost connection, perhaps during
    /// COMMIT), the purchase is read back first: units of a purchase that did commit stay
    /// taken.
    async fn record(self, db: &DbPool, redis: &Redis) -> Result<Outcome, ApiError> {
        let request = &self.request;
        let new = NewPurchase {
            id: self.id,
            sale: request.sale,
            buyer: request.buyer,
            idempotency_key: &request.key,
            request_hash: &request.fingerprint,
            quantity: request.quantity,
            address: request.address,
            epoch: self.epoch,
            traceparent: request.traceparent.clone(),
        };
        let recorded = async {
            let mut conn = db.get().await?;
            flash_purchases::record(&mut conn, &new).await
        }
        .await;
        // A failure may hide a commit (the reply to COMMIT lost): a purchase that is in the
        // record keeps its units. When that cannot be read either, they go back all the
        // same: the record's bounds refuse what counters with units too many admit, and
        // the counters are rebuilt then.
        let recorded = match recorded {
            Err(error) => match self.read_back(db).await {
                Some(row) => Ok(Recorded::New(row)),
                None => Err(error),
            },
            other => other,
        };
        if !matches!(recorded, Ok(Recorded::New(_))) {
            self.roll_back(redis).await;
        }
        match recorded? {
            Recorded::New(row) => Ok(Outcome::Recorded(row.into())),
            // Redis had forgotten the key; PostgreSQL had not.
            Recorded::Existing(row) if row.request_hash == request.fingerprint => {
                Ok(Outcome::Recorded(row.into()))
            }
            Recorded::Existing(_) => Err(reused_key()),
            Recorded::Stale => Ok(Outcome::Stale),
            Recorded::Refused(bound) => {
                tracing::warn!(sale = %request.sale, purchase = %self.id, ?bound, "the counters admitted what the record refuses");
                metrics::counter!("flash_sale_admissions_refused_by_record_total", "bound" => bound.reason())
                    .increment(1);
                Ok(Outcome::Refused)
            }
        }
    }

    /// This admission's purchase, if PostgreSQL has it and can say so.
    async fn read_back(&self, db: &DbPool) -> Option<PurchaseRow> {
        // A few tries: the pool may first hand out connections that died with the one that
        // failed; the last try opens a connection of its own.
        for pause in [0, 50, 250] {
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            let found = if pause < 250 {
                match db.get().await {
                    Ok(mut conn) => flash_purchases::find(&mut conn, self.id).await,
                    Err(_) => continue,
                }
            } else {
                match db.dedicated_connection().await {
                    Ok(mut conn) => flash_purchases::find(&mut conn, self.id).await,
                    Err(_) => continue,
                }
            };
            match found {
                Ok(found) => return found,
                Err(error) => {
                    tracing::warn!(error = %error.message(), purchase = %self.id, "reading an admission back failed");
                }
            }
        }
        None
    }

    /// Gives the admitted units back and forgets the key's admission.
    async fn roll_back(&self, redis: &Redis) {
        let back = GiveBack {
            sale: self.request.sale,
            buyer: self.request.buyer,
            quantity: self.request.quantity,
            epoch: self.epoch,
            purchase: self.id,
        };
        if let Err(error) = flash_counters::give_back(redis, &back, Some(&self.request.key)).await {
            // Units stay taken in these counters (never an oversell); a rebuild corrects it.
            tracing::error!(error = %error.message(), purchase = %self.id, "admission not rolled back");
        }
    }
}

/// The caller's purchase `id`; `NOT_FOUND` when unknown or someone else's.
pub async fn find(ctx: &Context<'_>, id: &ID) -> Result<FlashSalePurchase, ApiError> {
    let buyer = ctx.caller().user_id()?;
    let id = validate::id("id", id)?;
    let not_found = || ApiError::NotFound("flash sale purchase".into());
    let mut conn = ctx.data_unchecked::<DbPool>().get().await?;
    if let Some(row) = flash_purchases::find(&mut conn, id).await? {
        return if row.user_id == buyer {
            Ok(row.into())
        } else {
            Err(not_found())
        };
    }
    drop(conn);
    match flash_counters::rejection(ctx.data_unchecked::<Redis>(), id).await? {
        Some((owner, reason)) if owner == buyer => Ok(FlashSalePurchase::rejected(id, reason)),
        _ => Err(not_found()),
    }
}
