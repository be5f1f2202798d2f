//! Proposals: what a `propose_*` tool prepares. Everything a summary states (names,
//! quantities, prices, the address, the order) is read from the API now, as the customer;
//! the proposal is stored with the reply and runs only when the customer confirms it.

use serde_json::{Value, json};
use service_kit::money::Money;

use super::results::{Proposal, ToolOutcome, parse_id};
use crate::domain::actions::ActionKind;
use crate::domain::prompt::tool_data;
use crate::domain::tools::LineRequest;
use crate::peers::{Customer, OperationError, RouterClient};

fn refused(code: &str, message: impl Into<String>) -> OperationError {
    OperationError {
        code: code.to_owned(),
        message: message.into(),
    }
}

/// The product page of `id` (`NOT_FOUND` when the catalog does not show it).
pub async fn product_page(
    router: &RouterClient,
    customer: &Customer,
    id: &str,
) -> Result<Value, OperationError> {
    let data = router
        .run(customer, "ProductPage", json!({ "id": id }))
        .await?;
    match data.get("product") {
        Some(product) if !product.is_null() => Ok(product.clone()),
        _ => Err(refused("NOT_FOUND", format!("product {id} not found"))),
    }
}

/// One of the customer's orders, by number (`DM…`) or id, with its lines.
pub async fn find_order(
    router: &RouterClient,
    customer: &Customer,
    order: &str,
) -> Result<Value, OperationError> {
    let id = match uuid::Uuid::parse_str(order) {
        Ok(id) => id.to_string(),
        Err(_) => {
            let data = router
                .run(customer, "MyOrders", json!({ "first": 100 }))
                .await?;
            data["me"]["orders"]["edges"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|edge| &edge["node"])
                .find(|node| {
                    node["number"]
                        .as_str()
                        .is_some_and(|number| number.eq_ignore_ascii_case(order))
                })
                .and_then(|node| node["id"].as_str().map(str::to_owned))
                .ok_or_else(|| refused("NOT_FOUND", format!("order {order} not found")))?
        }
    };
    let data = router
        .run(customer, "OrderById", json!({ "id": id }))
        .await?;
    match data.get("order") {
        Some(order) if !order.is_null() => Ok(order.clone()),
        _ => Err(refused("NOT_FOUND", format!("order {order} not found"))),
    }
}

/// A line checked against the product as it is now: the variant it names (or the only
/// one), on sale and with enough stock.
struct CheckedLine {
    product_id: String,
    variant_id: String,
    quantity: i64,
    /// "iPhone 15 Pro (256GB, Blue)".
    name: String,
    unit: Money,
}

async fn check_line(
    router: &RouterClient,
    customer: &Customer,
    line: &LineRequest,
) -> Result<CheckedLine, OperationError> {
    let product = product_page(router, customer, &line.product_id).await?;
    let variants = product["variants"].as_array().cloned().unwrap_or_default();
    let variant = match &line.variant_id {
        Some(id) => variants
            .iter()
            .find(|v| v["id"].as_str() == Some(id.as_str()))
            .ok_or_else(|| {
                refused(
                    "NOT_FOUND",
                    format!("variant {id} is not one of product {}", line.product_id),
                )
            })?,
        None if variants.len() == 1 => &variants[0],
        None => {
            let choices: Vec<String> = variants
                .iter()
                .map(|v| {
                    format!(
                        "{} ({})",
                        v["id"].as_str().unwrap_or(""),
                        v["name"].as_str().unwrap_or("")
                    )
                })
                .collect();
            return Err(refused(
                "BAD_USER_INPUT",
                format!(
                    "this product has several variants: pass variant_id, one of {}",
                    choices.join(", ")
                ),
            ));
        }
    };
    if variant["inStock"] != Value::Bool(true) {
        return Err(refused("INSUFFICIENT_STOCK", "this variant is sold out"));
    }
    let name = product["name"].as_str().unwrap_or("the product");
    let variant_name = variant["name"].as_str().unwrap_or("");
    let name = if variants.len() > 1 && !variant_name.is_empty() {
        format!("{name} ({variant_name})")
    } else {
        name.to_owned()
    };
    Ok(CheckedLine {
        product_id: line.product_id.clone(),
        variant_id: variant["id"].as_str().unwrap_or_default().to_owned(),
        quantity: line.quantity,
        name,
        unit: Money::new(
            variant["price"]["amount"].as_i64().unwrap_or_default(),
            variant["price"]["currency"].as_str().unwrap_or("CNY"),
        ),
    })
}

impl CheckedLine {
    /// "2 × iPhone 15 Pro (¥8,999.00 each)" / "1 × Tea (¥88.00)".
    fn words(&self) -> String {
        if self.quantity == 1 {
            format!("1 × {} ({})", self.name, self.unit.format())
        } else {
            format!(
                "{} × {} ({} each)",
                self.quantity,
                self.name,
                self.unit.format()
            )
        }
    }
}

fn proposed(proposal: Proposal, products: Vec<uuid::Uuid>, orders: Vec<uuid::Uuid>) -> ToolOutcome {
    ToolOutcome {
        // The action's id is given once it is recorded; the model needs the words.
        content: tool_data(json!({ "action": {
            "id": proposal.id, "kind": proposal.kind.as_str(), "summary": proposal.summary, "status": "PROPOSED",
            "note": "Shown to the customer with Confirm and Decline buttons; nothing has happened yet.",
        }})),
        products,
        orders,
        proposal: Some(proposal),
    }
}

pub async fn add_to_cart(
    router: &RouterClient,
    customer: &Customer,
    line: &LineRequest,
) -> Result<ToolOutcome, OperationError> {
    let line = check_line(router, customer, line).await?;
    let proposal = Proposal {
        id: uuid::Uuid::now_v7(),
        kind: ActionKind::AddToCart,
        summary: format!("Add {} to your cart", line.words()),
        request: json!({
            "productId": line.product_id, "variantId": line.variant_id, "quantity": line.quantity,
        }),
    };
    let products = parse_id(&json!(line.product_id)).into_iter().collect();
    Ok(proposed(proposal, products, Vec::new()))
}

pub async fn place_order(
    router: &RouterClient,
    customer: &Customer,
    lines: &[LineRequest],
) -> Result<ToolOutcome, OperationError> {
    let checked = futures::future::join_all(lines.iter().map(|l| check_line(router, customer, l)))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let me = router.run(customer, "Me", json!({})).await?;
    let addresses = me["me"]["addresses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let address = addresses
        .iter()
        .find(|a| a["isDefault"] == Value::Bool(true))
        .or(addresses.first())
        .ok_or_else(|| {
            refused(
                "BAD_USER_INPUT",
                "the customer has no saved address: they add one first, then ask again",
            )
        })?;
    let currency = checked[0].unit.currency.clone();
    let total: i64 = checked.iter().map(|l| l.unit.amount * l.quantity).sum();
    let words: Vec<String> = checked.iter().map(CheckedLine::words).collect();
    let summary = format!(
        "Order {}{} to {}, {}",
        words.join(", "),
        if checked.len() > 1 || checked[0].quantity > 1 {
            format!(", {} in all,", Money::new(total, currency).format())
        } else {
            String::new()
        },
        address["recipient"].as_str().unwrap_or(""),
        address["city"].as_str().unwrap_or(""),
    );
    let items: Vec<Value> = checked
        .iter()
        .map(|l| json!({ "productId": l.product_id, "variantId": l.variant_id, "quantity": l.quantity }))
        .collect();
    let products = checked
        .iter()
        .filter_map(|l| parse_id(&json!(l.product_id)))
        .collect();
    let proposal = Proposal {
        id: uuid::Uuid::now_v7(),
        kind: ActionKind::PlaceOrder,
        summary,
        request: json!({ "items": items, "addressId": address["id"] }),
    };
    Ok(proposed(proposal, products, Vec::new()))
}

pub async fn cancel_order(
    router: &RouterClient,
    customer: &Customer,
    order: &str,
) -> Result<ToolOutcome, OperationError> {
    let order = find_order(router, customer, order).await?;
    let cancellable = order["nextStatuses"]
        .as_array()
        .is_some_and(|next| next.iter().any(|s| s == "CANCELLED"));
    let number = order["number"].as_str().unwrap_or("");
    if !cancellable {
        return Err(refused(
            "CONFLICT",
            format!(
                "order {number} is {} and can no longer be cancelled",
                order["status"].as_str().unwrap_or("")
            ),
        ));
    }
    let proposal = Proposal {
        id: uuid::Uuid::now_v7(),
        kind: ActionKind::CancelOrder,
        summary: format!(
            "Cancel order {number} ({}, {})",
            order["total"]["formatted"].as_str().unwrap_or(""),
            order["status"].as_str().unwrap_or("")
        ),
        request: json!({ "id": order["id"] }),
    };
    let orders = parse_id(&order["id"]).into_iter().collect();
    Ok(proposed(proposal, Vec::new(), orders))
}
