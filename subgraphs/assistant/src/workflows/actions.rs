//! Confirming or declining a proposal. A confirmation claims the action for its
//! idempotency key (one statement: only a `PROPOSED`, unclaimed, unexpired action of this
//! customer), runs the operation through the router with the customer's token, and records
//! the outcome. The operations are safe to run again, so a confirmation cut short (the
//! router unreachable, this process stopped) is simply confirmed again with the same key:
//! the order is placed with an idempotency key derived from the action (the same order
//! comes back), a cancellation of an order already cancelled is recognised as done. An
//! attempt holds the action for `ATTEMPT` (30 s; its operation gets 25 s of it): a second
//! confirmation with the same key meanwhile (a double click, a client's retry) waits for
//! its outcome instead of running the operation again, and an attempt records its outcome
//! only while it still holds the action. A cart addition notes the cart's units of the
//! product before it adds, so that a re-run recognises an addition already made.

use serde_json::{Value, json};
use service_kit::ApiError;
use uuid::Uuid;

use super::Assistant;
use super::results::parse_id;
use crate::db::{self, ActionRow};
use crate::domain::actions::{
    ATTEMPT, ActionKind, Confirmation, RERUN_GRACE, confirmation, is_final,
};
use crate::peers::{Customer, OperationError};

/// Confirms `user`'s action `id` with `key`; the action afterwards. `NOT_FOUND` for
/// anyone else's; `CONFLICT` when it was declined, expired or confirmed with another key;
/// `UNAVAILABLE` when the outcome is unknown (confirm again with the same key). Concurrent
/// confirmations with one key run the operation once: the others wait for its outcome.
pub async fn confirm(
    assistant: &Assistant,
    user: Uuid,
    customer: &Customer,
    id: Uuid,
    key: &str,
) -> Result<ActionRow, ApiError> {
    let mut waited_until = None;
    let (action, rerun) = loop {
        let mut conn = assistant.db.get().await?;
        // The database's clock (the same for every replica), read after the connection:
        // its wait does not eat into the attempt's time.
        let now = db::actions::database_now(&mut conn).await?;
        let waited_until = *waited_until.get_or_insert(now + WAIT_FOR_ATTEMPT);
        if let Some(claimed) =
            db::actions::claim(&mut conn, id, user, key, now, now + ATTEMPT).await?
        {
            break (claimed, false);
        }
        let action = db::actions::find_owned(&mut conn, id, user)
            .await?
            .ok_or_else(|| ApiError::NotFound("assistant action".into()))?;
        match confirmation(&action, key, now) {
            Confirmation::Answered => return Ok(action),
            Confirmation::Refused(reason) => return Err(ApiError::Conflict(reason.into())),
            Confirmation::RunAgain => {
                let reclaimed =
                    db::actions::reclaim(&mut conn, id, key, now, now - RERUN_GRACE, now + ATTEMPT)
                        .await?;
                if let Some(action) = reclaimed {
                    break (action, true);
                }
                if now >= waited_until {
                    return Err(ApiError::Unavailable(
                        "this action, whose confirmation is still running,",
                    ));
                }
            }
            Confirmation::InProgress if now >= waited_until => {
                return Err(ApiError::Unavailable(
                    "this action, whose confirmation is still running,",
                ));
            }
            Confirmation::InProgress => {}
        }
        drop(conn);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let kind = ActionKind::parse(&action.kind)
        .ok_or_else(|| ApiError::corrupt("assistant action kind", &action.kind))?;
    let request: Value = serde_json::from_str(&action.request)
        .map_err(|_| ApiError::corrupt("assistant action request", &action.request))?;
    // The attempt's token: what its claim stored (a later attempt stores another).
    let attempt = action.attempt_until.ok_or(ApiError::Internal)?;
    let bound = (ATTEMPT - ATTEMPT_MARGIN).to_std().unwrap_or_default();
    let outcome = match tokio::time::timeout(
        bound,
        run(assistant, customer, &action, kind, &request, rerun),
    )
    .await
    {
        Ok(outcome) => outcome,
        // Its time is nearly over: the outcome is unknown, and the action is left to the
        // lease's end (not released: the operation may still be running).
        Err(_) => {
            tracing::warn!(action = %action.id, "confirmation attempt ran out of time");
            return Err(ApiError::Unavailable("the shop's API"));
        }
    };
    let (status, order, error) = match outcome {
        Ok(order) => ("DONE", order, None),
        Err(error) if is_final(kind, &error.code, &error.message) => {
            ("FAILED", None, Some(error.code))
        }
        // The outcome is unknown: the same key may run it again at once.
        Err(error) => {
            tracing::warn!(action = %action.id, code = %error.code, "confirmation without an outcome");
            let mut conn = assistant.db.get().await?;
            let now = db::actions::database_now(&mut conn).await?;
            db::actions::release(&mut conn, id, key, attempt, now).await?;
            return Err(match error.code.as_str() {
                "UNAUTHENTICATED" => ApiError::Unauthenticated(error.message),
                _ => ApiError::Unavailable("the shop's API"),
            });
        }
    };
    let mut conn = assistant.db.get().await?;
    let now = db::actions::database_now(&mut conn).await?;
    let finished = db::actions::finish(
        &mut conn,
        id,
        key,
        attempt,
        status,
        order,
        error.as_deref(),
        now,
    )
    .await?;
    match finished {
        Some(action) => {
            let outcome = if status == "DONE" { "done" } else { "failed" };
            metrics::counter!("assistant_actions_total", "kind" => kind.as_str(), "outcome" => outcome)
                .increment(1);
            Ok(action)
        }
        // Another attempt with the same key recorded it first: theirs stands.
        None => db::actions::find_owned(&mut conn, id, user)
            .await?
            .ok_or_else(|| ApiError::NotFound("assistant action".into())),
    }
}

/// How long a confirmation waits for another attempt with its key to finish.
const WAIT_FOR_ATTEMPT: chrono::Duration = chrono::Duration::seconds(20);
/// An attempt's operation gets its lease minus this (time to record the outcome).
const ATTEMPT_MARGIN: chrono::Duration = chrono::Duration::seconds(5);

/// Runs the operation an action stands for; the order it placed or cancelled.
async fn run(
    assistant: &Assistant,
    customer: &Customer,
    action: &ActionRow,
    kind: ActionKind,
    request: &Value,
    rerun: bool,
) -> Result<Option<Uuid>, OperationError> {
    let router = &assistant.router;
    match kind {
        ActionKind::PlaceOrder => {
            let input = json!({
                // The same key for every attempt of this action: one order at most.
                "idempotencyKey": format!("assistant-{}", action.id),
                "addressId": request["addressId"],
                "items": request["items"],
            });
            let data = router
                .run(customer, "Checkout", json!({ "input": input }))
                .await?;
            Ok(parse_id(&data["checkout"]["id"]))
        }
        ActionKind::CancelOrder => {
            let id = &request["id"];
            let cancelled = router
                .run(
                    customer,
                    "CancelOrder",
                    json!({ "id": id, "reason": "cancelled through the shopping assistant" }),
                )
                .await;
            match cancelled {
                Ok(data) => Ok(parse_id(&data["cancelOrder"]["id"])),
                // Cancelled by an earlier attempt of this confirmation.
                Err(error) if error.code == "CONFLICT" && rerun => {
                    let order = router
                        .run(customer, "OrderById", json!({ "id": id }))
                        .await?;
                    if order["order"]["status"] == "CANCELLED" {
                        Ok(parse_id(id))
                    } else {
                        Err(error)
                    }
                }
                Err(error) => Err(error),
            }
        }
        ActionKind::AddToCart => add_to_cart(assistant, customer, action, request).await,
    }
}

/// Adds the proposed units to the cart, once. `addToCart` adds to a line's quantity, so a
/// confirmation that runs again must not simply repeat it: the first attempt notes how many
/// of the product the cart held before it added (before adding), and an attempt that finds
/// that note and the cart holding as many more as proposed takes the addition as done.
async fn add_to_cart(
    assistant: &Assistant,
    customer: &Customer,
    action: &ActionRow,
    request: &Value,
) -> Result<Option<Uuid>, OperationError> {
    let router = &assistant.router;
    let product = request["productId"].as_str().unwrap_or_default();
    let quantity = request["quantity"].as_i64().unwrap_or_default();
    let held = product_in_cart(router, customer, product).await?;
    match request["cartBefore"].as_i64() {
        Some(before) if held >= before + quantity => return Ok(None),
        Some(_) => {}
        None => {
            let mut noted = request.clone();
            noted["cartBefore"] = json!(held);
            let attempt = action
                .attempt_until
                .ok_or_else(|| OperationError::from(ApiError::Internal))?;
            let mut conn = assistant.db.get().await.map_err(ApiError::from)?;
            if !db::actions::note_request(&mut conn, action.id, attempt, &noted.to_string()).await?
            {
                // Another attempt holds the action now.
                return Err(OperationError::from(ApiError::Unavailable(
                    "the shop's API",
                )));
            }
        }
    }
    let variables = json!({
        "productId": request["productId"],
        "variantId": request["variantId"],
        "quantity": request["quantity"],
    });
    router.run(customer, "AddVariantToCart", variables).await?;
    Ok(None)
}

/// Units of `product` in the customer's cart now (all its variants).
async fn product_in_cart(
    router: &crate::peers::RouterClient,
    customer: &Customer,
    product: &str,
) -> Result<i64, OperationError> {
    let data = router.run(customer, "MyCart", json!({})).await?;
    Ok(data["cart"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["product"]["id"].as_str() == Some(product))
        .filter_map(|item| item["quantity"].as_i64())
        .sum())
}

/// Declines `user`'s proposal `id`. Declining again answers the same; a confirmed one
/// cannot be declined (`CONFLICT`); an expired one stays `EXPIRED`.
pub async fn decline(assistant: &Assistant, user: Uuid, id: Uuid) -> Result<ActionRow, ApiError> {
    let mut conn = assistant.db.get().await?;
    let now = db::actions::database_now(&mut conn).await?;
    if let Some(declined) = db::actions::decline(&mut conn, id, user, now).await? {
        metrics::counter!("assistant_actions_total", "kind" => ActionKind::parse(&declined.kind).map_or("unknown", |k| k.as_str()), "outcome" => "declined").increment(1);
        return Ok(declined);
    }
    let action = db::actions::find_owned(&mut conn, id, user)
        .await?
        .ok_or_else(|| ApiError::NotFound("assistant action".into()))?;
    if action.confirm_key.is_some() {
        return Err(ApiError::Conflict(
            "this action was already confirmed".into(),
        ));
    }
    Ok(action)
}
