//! Runs the model's tool calls as the customer, through the router. Reading tools answer
//! with data for the model (trimmed to what a reply needs) and note the products and orders
//! the reply refers to; `propose_*` tools prepare a proposal (see `proposals`).

use futures::future::join_all;
use serde_json::{Value, json};

use super::proposals;
use super::results::{ToolOutcome, parse_id};
use crate::domain::prompt::{tool_data, tool_error};
use crate::domain::tools::{self, ToolRequest};
use crate::model::ToolCall;
use crate::peers::{Customer, OperationError, RouterClient};

/// Products a search shows the model (and the reply its cards).
const SEARCH_RESULTS: i64 = 5;

/// Runs one call. `may_propose`: whether this reply may still propose an action (one per
/// reply; a second is refused to the model).
pub async fn run(
    router: &RouterClient,
    customer: &Customer,
    call: &ToolCall,
    may_propose: bool,
) -> ToolOutcome {
    metrics::counter!("assistant_tool_calls_total", "tool" => tool_label(&call.name)).increment(1);
    let request = match tools::parse(&call.name, &call.arguments) {
        Ok(request) => request,
        Err(reason) => {
            return ToolOutcome {
                content: tool_error("BAD_USER_INPUT", &reason),
                ..ToolOutcome::default()
            };
        }
    };
    if request.proposes() && !may_propose {
        return ToolOutcome {
            content: tool_error(
                "CONFLICT",
                "one proposal per reply: wait for the customer's decision on the first",
            ),
            ..ToolOutcome::default()
        };
    }
    let outcome = match request {
        ToolRequest::SearchProducts { query } => search(router, customer, &query).await,
        ToolRequest::GetProduct { product_id } => product(router, customer, &product_id).await,
        ToolRequest::ListMyOrders => my_orders(router, customer).await,
        ToolRequest::GetOrder { order } => one_order(router, customer, &order).await,
        ToolRequest::ViewCart => cart(router, customer).await,
        ToolRequest::ProposeAddToCart { line } => {
            proposals::add_to_cart(router, customer, &line).await
        }
        ToolRequest::ProposePlaceOrder { lines } => {
            proposals::place_order(router, customer, &lines).await
        }
        ToolRequest::ProposeCancelOrder { order } => {
            proposals::cancel_order(router, customer, &order).await
        }
    };
    outcome.unwrap_or_else(|error| ToolOutcome::error(&error))
}

/// A bounded label for metrics (the model may name anything).
fn tool_label(name: &str) -> &'static str {
    tools::specs()
        .into_iter()
        .map(|spec| spec.name)
        .find(|known| *known == name)
        .unwrap_or("unknown")
}

async fn search(
    router: &RouterClient,
    customer: &Customer,
    query: &str,
) -> Result<ToolOutcome, OperationError> {
    let data = router
        .run(
            customer,
            "ProductList",
            json!({ "first": SEARCH_RESULTS, "filter": { "search": query } }),
        )
        .await?;
    let ids: Vec<String> = data["products"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|edge| edge["node"]["id"].as_str().map(str::to_owned))
        .collect();
    // Each hit with its variants (a purchase names one), read now: one page per product,
    // concurrently.
    let pages = join_all(
        ids.iter()
            .map(|id| router.run(customer, "ProductPage", json!({ "id": id }))),
    )
    .await;
    let mut products = Vec::new();
    let mut refs = Vec::new();
    for page in pages {
        let page = page?;
        if let Some(product) = page.get("product").filter(|p| !p.is_null()) {
            refs.extend(parse_id(&product["id"]));
            products.push(product_data(product, false));
        }
    }
    Ok(ToolOutcome {
        content: tool_data(json!({ "products": products })),
        products: refs,
        ..ToolOutcome::default()
    })
}

async fn product(
    router: &RouterClient,
    customer: &Customer,
    id: &str,
) -> Result<ToolOutcome, OperationError> {
    let page = proposals::product_page(router, customer, id).await?;
    Ok(ToolOutcome {
        content: tool_data(json!({ "product": product_data(&page, true) })),
        products: parse_id(&page["id"]).into_iter().collect(),
        ..ToolOutcome::default()
    })
}

/// What the model sees of a product: prices as the API formats them, now.
pub fn product_data(product: &Value, with_description: bool) -> Value {
    let variants: Vec<Value> = product["variants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            json!({
                "id": v["id"], "name": v["name"], "sku": v["sku"],
                "price": v["price"]["formatted"], "in_stock": v["inStock"],
            })
        })
        .collect();
    let mut data = json!({
        "id": product["id"],
        "name": product["name"],
        "price": product["price"]["formatted"],
        "price_amount": product["price"]["amount"],
        "in_stock": product["inStock"],
        "brand": product["brand"]["name"],
        "variants": variants,
    });
    if with_description {
        data["description"] = product["description"].clone();
    }
    data
}

async fn my_orders(
    router: &RouterClient,
    customer: &Customer,
) -> Result<ToolOutcome, OperationError> {
    let data = router
        .run(customer, "MyOrders", json!({ "first": 10 }))
        .await?;
    let orders: Vec<&Value> = data["me"]["orders"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| &edge["node"])
        .collect();
    Ok(ToolOutcome {
        content: tool_data(
            json!({ "orders": orders.iter().map(|o| order_data(o)).collect::<Vec<_>>() }),
        ),
        orders: orders.iter().filter_map(|o| parse_id(&o["id"])).collect(),
        ..ToolOutcome::default()
    })
}

async fn one_order(
    router: &RouterClient,
    customer: &Customer,
    order: &str,
) -> Result<ToolOutcome, OperationError> {
    let order = proposals::find_order(router, customer, order).await?;
    let mut data = order_data(&order);
    data["items"] = order["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| json!({ "name": item["productName"], "quantity": item["quantity"] }))
        .collect();
    Ok(ToolOutcome {
        content: tool_data(json!({ "order": data })),
        orders: parse_id(&order["id"]).into_iter().collect(),
        ..ToolOutcome::default()
    })
}

/// What the model sees of an order.
pub fn order_data(order: &Value) -> Value {
    json!({
        "id": order["id"], "number": order["number"], "status": order["status"],
        "total": order["total"]["formatted"], "created_at": order["createdAt"],
    })
}

async fn cart(router: &RouterClient, customer: &Customer) -> Result<ToolOutcome, OperationError> {
    let data = router.run(customer, "MyCart", json!({})).await?;
    let cart = &data["cart"];
    let items: Vec<Value> = cart["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            json!({
                "product_id": item["product"]["id"], "name": item["product"]["name"],
                "quantity": item["quantity"], "line_total": item["lineTotal"]["formatted"],
                "available": item["available"],
            })
        })
        .collect();
    let products = cart["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| parse_id(&item["product"]["id"]))
        .collect();
    Ok(ToolOutcome {
        content: tool_data(
            json!({ "cart": { "items": items, "subtotal": cart["subtotal"]["formatted"] } }),
        ),
        products,
        ..ToolOutcome::default()
    })
}
