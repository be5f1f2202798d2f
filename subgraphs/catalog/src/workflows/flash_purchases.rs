//! Flash-sale purchases: admission in the Redis counters, recording in PostgreSQL.
//!
//! The Redis counters decide at once (`crate::flash_counters`): `REJECTED` with a reason,
//! or admitted, then recorded in PostgreSQL with its event (`crate::db::flash_purchases`)
//! and answered `PENDING`; the order subgraph creates the order (with the purchase's id)
//! and the purchase becomes `CONFIRMED` when the catalog sees its `OrderPlaced`
//! (`crate::events`). Counters found wrong are rebuilt from the record
//! (`crate::workflows::flash_sales::rebuild_counters`).

use std::time::Duration;

use service_kit::{ApiError, DbPool, Redis};
use uuid::Uuid;

use super::flash_recorder::Recorder;
use super::flash_sales::{Rebuilt, rebuild_counters};
use crate::db::flash_purchases::{self, NewPurchase, PurchaseRow, Recorded};
use crate::domain::flash_sales::{Bound, Phase, PurchaseStatus};
use crate::flash_counters::{self, Admissions, Attempt, Decision, GiveBack};

/// How long a recording's statement may outlive its connection: the `lock_timeout` of
/// `record_flash_purchases` (3 s), and a margin for what it does once it holds its locks.
const STRAY_RECORDING: Duration = Duration::from_millis(3_500);
/// How often an attempt is decided again after the counters moved under it (rebuilt).
const ROUNDS: usize = 4;
/// How often a sale's rejections are checked against the record: longer than a recording
/// can wait for a database connection (5 s), so that between two checks an admission then
/// in flight has normally been recorded or has given its units back. One in flight longer
/// (queued behind a batch, or read back after its answer was lost) may find the counters
/// rebuilt under it: its epoch is gone, it is refused as stale and decided again.
const AUDIT_EVERY: Duration = Duration::from_secs(6);

/// How fast one customer may try (from `FLASH_PURCHASES_PER_SECOND`).
#[derive(Clone, Copy)]
pub struct PurchaseLimits {
    pub per_second: u32,
}

/// One validated purchase request.
#[derive(Clone)]
pub struct Request {
    pub buyer: Uuid,
    pub sale: Uuid,
    pub quantity: i32,
    pub address: Uuid,
    /// What was asked, to tell a retry from a reused key.
    pub fingerprint: String,
    pub key: String,
    pub traceparent: Option<String>,
}

/// One purchase attempt, as its buyer sees it.
pub struct Purchase {
    pub id: Uuid,
    pub status: PurchaseStatus,
    /// Why it was rejected.
    pub reason: Option<String>,
}

impl Purchase {
    fn rejected(id: Uuid, reason: impl Into<String>) -> Self {
        Self {
            id,
            status: PurchaseStatus::Rejected,
            reason: Some(reason.into()),
        }
    }

    fn pending(id: Uuid) -> Self {
        Self {
            id,
            status: PurchaseStatus::Pending,
            reason: None,
        }
    }
}

impl From<PurchaseRow> for Purchase {
    fn from(row: PurchaseRow) -> Self {
        Self {
            id: row.id,
            status: PurchaseStatus::of_record(&row.status),
            reason: row.reason,
        }
    }
}

/// Decides one purchase attempt (see the module's documentation), counted in
/// `flash_sale_attempts_total` by outcome.
///
/// In a task of its own: once an attempt is on its way to the counters (waiting for its
/// sale's next call among others, `Admissions`), it is decided and, if admitted, recorded
/// even if its client goes away meanwhile — else its units would stay taken in the
/// counters with nothing recorded, until a check of the counters against the record.
pub async fn purchase(
    db: &DbPool,
    redis: &Redis,
    (admissions, recorder): (&Admissions, &Recorder),
    limits: PurchaseLimits,
    request: Request,
) -> Result<Purchase, ApiError> {
    let (db, redis, admissions, recorder) = (
        db.clone(),
        redis.clone(),
        admissions.clone(),
        recorder.clone(),
    );
    let decided = tokio::spawn(tracing::Instrument::in_current_span(async move {
        let answer = decide(&db, &redis, (&admissions, &recorder), limits, request).await;
        count(&answer);
        answer
    }));
    decided.await.map_err(|_| ApiError::Internal)?
}

/// Counts an attempt's outcome in `flash_sale_attempts_total`.
fn count(answer: &Result<Purchase, ApiError>) {
    // Labels from a fixed set (a rejection's reason is one of a few codes).
    let outcome: metrics::SharedString = match answer {
        Ok(purchase) => match (purchase.status, purchase.reason.as_deref()) {
            (PurchaseStatus::Rejected, Some(reason)) => reason.to_owned().into(),
            (PurchaseStatus::Rejected, None) => "REJECTED".into(),
            (PurchaseStatus::Pending, _) => "PENDING".into(),
            (PurchaseStatus::Confirmed, _) => "CONFIRMED".into(),
        },
        Err(error) => error.code().into(),
    };
    metrics::counter!("flash_sale_attempts_total", "outcome" => outcome).increment(1);
}

async fn decide(
    db: &DbPool,
    redis: &Redis,
    (admissions, recorder): (&Admissions, &Recorder),
    limits: PurchaseLimits,
    request: Request,
) -> Result<Purchase, ApiError> {
    let mut id = flash_counters::purchase_id(request.sale);
    let mut attempt = Attempt {
        buyer: request.buyer,
        sale: request.sale,
        quantity: request.quantity,
        purchase: id,
        idempotency_key: request.key.clone(),
        request_hash: request.fingerprint.clone(),
        per_second: limits.per_second,
    };
    for _ in 0..ROUNDS {
        match admissions.admit(redis, attempt.clone()).await? {
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
                if let Some(reason) = seen.rejection {
                    return Ok(Purchase::rejected(seen.purchase, reason));
                }
                let mut conn = db.get().await?;
                if let Some(row) = flash_purchases::find(&mut conn, seen.purchase).await? {
                    return Ok(row.into());
                }
                drop(conn);
                // Admitted, not recorded: a twin request may be recording it, or nobody
                // is (the admission's reply was lost — a Redis master killed after running
                // it — and the client, or the cluster client itself, tried again). It is
                // recorded now; recording is idempotent by purchase id, so a twin's
                // recording and this one make one purchase.
                let Some(epoch) = seen.epoch else {
                    return Ok(Purchase::pending(seen.purchase));
                };
                let admission = Admission {
                    id: seen.purchase,
                    epoch,
                    request: request.clone(),
                };
                if let Some(answer) = settle(db, redis, recorder, admission).await? {
                    return Ok(answer);
                }
            }
            Decision::Rebuild => {
                if let Some(answer) = rebuild(db, redis, id, request.sale, None).await? {
                    return Ok(answer);
                }
            }
            Decision::Rejected(reason) => {
                if !counters_too_low(db, redis, &request, &reason).await? {
                    return Ok(Purchase::rejected(id, reason));
                }
                flash_counters::forget_rejection(redis, &attempt).await?;
            }
            Decision::Admitted { epoch } => {
                let admission = Admission {
                    id,
                    epoch,
                    request: request.clone(),
                };
                if let Some(answer) = settle(db, redis, recorder, admission).await? {
                    return Ok(answer);
                }
                // Admitted again, it is another admission: a new id, so that the same id
                // always means the same admission (a twin recording it keeps its units).
                id = flash_counters::purchase_id(request.sale);
                attempt.purchase = id;
            }
        }
    }
    Err(ApiError::Unavailable("the flash sale counters"))
}

/// Records an admission — even if the client goes away meanwhile, as [`purchase`] runs in
/// a task of its own: admitted units must not stay taken without a record — and answers
/// with the purchase; or, when the counters that admitted it were rebuilt meanwhile,
/// rolled back to an older epoch, or admitted more than the record allows, rebuilds them
/// (unless another request did already) and answers `None`: decide again.
async fn settle(
    db: &DbPool,
    redis: &Redis,
    recorder: &Recorder,
    admission: Admission,
) -> Result<Option<Purchase>, ApiError> {
    let (id, sale, epoch) = (admission.id, admission.request.sale, admission.epoch);
    match admission.record(db, redis, recorder).await? {
        Outcome::Recorded(purchase) => Ok(Some(purchase)),
        Outcome::Stale | Outcome::Refused => rebuild(db, redis, id, sale, Some(epoch)).await,
    }
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
    let Some(bound) = Bound::of_reason(reason) else {
        return Ok(false);
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
    let room = match bound {
        Bound::LimitExceeded => record.buyer,
        Bound::SoldOut => record.sale,
    };
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
    rebuild_counters(&mut conn, redis, request.sale, Some(counters.epoch)).await?;
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
) -> Result<Option<Purchase>, ApiError> {
    let mut conn = db.get().await?;
    Ok(
        match rebuild_counters(&mut conn, redis, sale, wrong).await? {
            None => return Err(ApiError::NotFound("flash sale".into())),
            Some(Rebuilt::Counters { sale, .. })
                if Phase::at(sale.starts_at, sale.ends_at, chrono::Utc::now()) != Phase::Ended =>
            {
                None
            }
            Some(_) => Some(Purchase::rejected(id, "NOT_ACTIVE")),
        },
    )
}

fn reused_key() -> ApiError {
    ApiError::Conflict("this idempotency key was already used for a different purchase".into())
}

/// What recording an admission came to.
enum Outcome {
    Recorded(Purchase),
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
    async fn record(
        self,
        db: &DbPool,
        redis: &Redis,
        recorder: &Recorder,
    ) -> Result<Outcome, ApiError> {
        let request = &self.request;
        let new = NewPurchase {
            id: self.id,
            sale: request.sale,
            buyer: request.buyer,
            idempotency_key: request.key.clone(),
            request_hash: request.fingerprint.clone(),
            quantity: request.quantity,
            address: request.address,
            epoch: self.epoch,
            traceparent: request.traceparent.clone(),
        };
        // With the other admissions of the sale waiting meanwhile (flash_recorder.rs).
        let recorded = recorder.record(db, new).await;
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
        // Units stay taken when this admission is in the record: new, or recorded by a
        // twin request under the same purchase id.
        let in_record = match &recorded {
            Ok(Recorded::New(_)) => true,
            Ok(Recorded::Existing(row)) => row.id == self.id,
            _ => false,
        };
        if !in_record {
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

    /// This admission's purchase, if PostgreSQL has it and can say so. A recording whose
    /// answer was lost may still be running on the server: its lock waits end within its
    /// `lock_timeout` ([`STRAY_RECORDING`] with a margin), and a statement whose client is
    /// gone is cancelled within 100 ms (the catalog's `client_connection_check_interval`).
    /// So "not there" is final only once that long has passed; a purchase found earlier
    /// is answered at once.
    async fn read_back(&self, db: &DbPool) -> Option<PurchaseRow> {
        let (id, buyer, key) = (self.id, self.request.buyer, &self.request.key);
        let pauses = [
            Duration::ZERO,
            Duration::from_millis(50),
            Duration::from_millis(250),
            STRAY_RECORDING,
        ];
        let last = pauses.len() - 1;
        for (round, pause) in pauses.into_iter().enumerate() {
            tokio::time::sleep(pause).await;
            // The pool may first hand out connections that died with the one that failed;
            // the last tries open a connection of their own.
            let found = if round < 2 {
                match db.get().await {
                    Ok(mut conn) => flash_purchases::find_settled(&mut conn, id, buyer, key).await,
                    Err(_) => continue,
                }
            } else {
                match db.dedicated_connection().await {
                    Ok(mut conn) => flash_purchases::find_settled(&mut conn, id, buyer, key).await,
                    Err(_) => continue,
                }
            };
            match found {
                Ok(Some(row)) => return Some(row),
                Ok(None) if round == last => return None,
                Ok(None) => {}
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

/// `buyer`'s purchase `id`, recorded or rejected; `NOT_FOUND` when unknown or someone
/// else's.
pub async fn find(db: &DbPool, redis: &Redis, buyer: Uuid, id: Uuid) -> Result<Purchase, ApiError> {
    let not_found = || ApiError::NotFound("flash sale purchase".into());
    let mut conn = db.get().await?;
    if let Some(row) = flash_purchases::find(&mut conn, id).await? {
        return if row.user_id == buyer {
            Ok(row.into())
        } else {
            Err(not_found())
        };
    }
    drop(conn);
    match flash_counters::rejection(redis, id).await? {
        Some((owner, reason)) if owner == buyer => Ok(Purchase::rejected(id, reason)),
        _ => Err(not_found()),
    }
}
