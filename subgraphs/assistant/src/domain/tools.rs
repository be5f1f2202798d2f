//! The tools the model may call. Reading tools run contract operations with the customer's
//! token; the three `propose_*` tools only record a proposal, which changes nothing until
//! the customer confirms it. Arguments come from the model, so they are checked like any
//! client input.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::model::ToolSpec;

/// Most units of one line the assistant proposes (a customer can still order more directly).
pub const MAX_QUANTITY: i64 = 99;
/// Most lines of one proposed order.
pub const MAX_LINES: usize = 10;

/// A tool call, its arguments checked.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolRequest {
    SearchProducts { query: String },
    GetProduct { product_id: String },
    ListMyOrders,
    GetOrder { order: String },
    ViewCart,
    ProposeAddToCart { line: LineRequest },
    ProposePlaceOrder { lines: Vec<LineRequest> },
    ProposeCancelOrder { order: String },
}

/// One line of a proposal.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct LineRequest {
    pub product_id: String,
    #[serde(default)]
    pub variant_id: Option<String>,
    pub quantity: i64,
}

impl ToolRequest {
    /// Whether the tool proposes an action (at most one per reply).
    pub fn proposes(&self) -> bool {
        matches!(
            self,
            Self::ProposeAddToCart { .. }
                | Self::ProposePlaceOrder { .. }
                | Self::ProposeCancelOrder { .. }
        )
    }
}

/// The tools, as offered to the model.
pub fn specs() -> Vec<ToolSpec> {
    let line = json!({
        "type": "object",
        "properties": {
            "product_id": { "type": "string", "description": "A product id from search_products or get_product." },
            "variant_id": { "type": "string", "description": "The variant id, when the product has several variants." },
            "quantity": { "type": "integer", "minimum": 1, "maximum": MAX_QUANTITY }
        },
        "required": ["product_id", "quantity"]
    });
    let order = json!({
        "type": "object",
        "properties": { "order_number": { "type": "string", "description": "The order's number (DM…) or id." } },
        "required": ["order_number"]
    });
    vec![
        ToolSpec {
            name: "search_products",
            description: "Searches the catalog; returns products with their current prices, stock and variants.",
            parameters: json!({
                "type": "object",
                "properties": { "query": { "type": "string" } },
                "required": ["query"]
            }),
        },
        ToolSpec {
            name: "get_product",
            description: "One product with its description, variants, current prices and stock.",
            parameters: json!({
                "type": "object",
                "properties": { "product_id": { "type": "string" } },
                "required": ["product_id"]
            }),
        },
        ToolSpec {
            name: "list_my_orders",
            description: "The customer's most recent orders with their status and total.",
            parameters: json!({ "type": "object", "properties": {} }),
        },
        ToolSpec {
            name: "get_order",
            description: "One of the customer's orders, by number (DM…) or id, with its status and lines.",
            parameters: order.clone(),
        },
        ToolSpec {
            name: "view_cart",
            description: "The customer's cart with its lines and subtotal.",
            parameters: json!({ "type": "object", "properties": {} }),
        },
        ToolSpec {
            name: "propose_add_to_cart",
            description: "Proposes adding a product to the cart. Nothing changes until the customer confirms.",
            parameters: line.clone(),
        },
        ToolSpec {
            name: "propose_place_order",
            description: "Proposes placing an order for these items, shipped to the customer's saved address. Nothing happens until the customer confirms.",
            parameters: json!({
                "type": "object",
                "properties": { "items": { "type": "array", "items": line, "minItems": 1, "maxItems": MAX_LINES } },
                "required": ["items"]
            }),
        },
        ToolSpec {
            name: "propose_cancel_order",
            description: "Proposes cancelling one of the customer's orders. Nothing happens until the customer confirms.",
            parameters: order,
        },
    ]
}

/// Checks a call's name and arguments; the error is told to the model as the tool's result.
pub fn parse(name: &str, arguments: &str) -> Result<ToolRequest, String> {
    let arguments = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    let value: Value = serde_json::from_str(arguments)
        .map_err(|_| format!("the arguments of {name} are not valid JSON"))?;
    let text = |field: &str| -> Result<String, String> {
        value
            .get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.chars().count() <= 200)
            .map(str::to_owned)
            .ok_or_else(|| format!("{name} needs `{field}`: a string of 1 to 200 characters"))
    };
    let request = match name {
        "search_products" => ToolRequest::SearchProducts {
            query: text("query")?,
        },
        "get_product" => ToolRequest::GetProduct {
            product_id: text("product_id")?,
        },
        "list_my_orders" => ToolRequest::ListMyOrders,
        "get_order" => ToolRequest::GetOrder {
            order: text("order_number")?,
        },
        "view_cart" => ToolRequest::ViewCart,
        "propose_add_to_cart" => ToolRequest::ProposeAddToCart {
            line: line(name, &value)?,
        },
        "propose_place_order" => {
            let items = value
                .get("items")
                .and_then(Value::as_array)
                .filter(|items| !items.is_empty() && items.len() <= MAX_LINES)
                .ok_or_else(|| format!("{name} needs `items`: 1 to {MAX_LINES} lines"))?;
            ToolRequest::ProposePlaceOrder {
                lines: items
                    .iter()
                    .map(|item| line(name, item))
                    .collect::<Result<_, _>>()?,
            }
        }
        "propose_cancel_order" => ToolRequest::ProposeCancelOrder {
            order: text("order_number")?,
        },
        other => return Err(format!("there is no tool named {other}")),
    };
    Ok(request)
}

fn line(name: &str, value: &Value) -> Result<LineRequest, String> {
    let line: LineRequest = serde_json::from_value(value.clone()).map_err(|_| {
        format!("{name}: each line needs `product_id` (a string) and `quantity` (an integer)")
    })?;
    if !(1..=MAX_QUANTITY).contains(&line.quantity) {
        return Err(format!(
            "{name}: a quantity is between 1 and {MAX_QUANTITY}"
        ));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offered_tool_parses_with_its_required_arguments() {
        let samples = [
            ("search_products", r#"{"query":"phone"}"#),
            ("get_product", r#"{"product_id":"p1"}"#),
            ("list_my_orders", ""),
            ("get_order", r#"{"order_number":"DM1"}"#),
            ("view_cart", "{}"),
            ("propose_add_to_cart", r#"{"product_id":"p","quantity":2}"#),
            (
                "propose_place_order",
                r#"{"items":[{"product_id":"p","variant_id":"v","quantity":1}]}"#,
            ),
            ("propose_cancel_order", r#"{"order_number":"DM1"}"#),
        ];
        let names: Vec<&str> = specs().iter().map(|s| s.name).collect();
        assert_eq!(names, samples.map(|(name, _)| name));
        for (name, arguments) in samples {
            parse(name, arguments).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn bad_arguments_are_refused_with_a_reason_the_model_can_read() {
        assert!(
            parse("search_products", r#"{"query": "#)
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            parse("search_products", "{}")
                .unwrap_err()
                .contains("`query`")
        );
        assert!(parse("propose_place_order", r#"{"items":[]}"#).is_err());
        let too_many = r#"{"product_id":"p","quantity":100}"#;
        assert!(
            parse("propose_add_to_cart", too_many)
                .unwrap_err()
                .contains("between 1 and 99")
        );
        assert!(parse("propose_add_to_cart", r#"{"product_id":"p","quantity":0}"#).is_err());
        assert!(
            parse("delete_everything", "{}")
                .unwrap_err()
                .contains("no tool")
        );
    }
}
