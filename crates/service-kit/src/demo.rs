//! Stable ids of the demo data. Each subgraph seeds only its own tables, yet the demo cart
//! must point at demo users and products: deriving ids from names (UUID v5) lets every
//! subgraph compute the same id without reading another subgraph's tables.

use uuid::Uuid;

const NAMESPACE: Uuid = Uuid::from_u128(0x6d61_6c6c_2d64_656d_6f2d_6461_7461_0001);

/// The id of the demo record of `kind` ("user", "product", "category") named `key`.
pub fn demo_id(kind: &str, key: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{kind}:{key}").as_bytes())
}

/// Email of the seeded demo customer.
pub const DEMO_CUSTOMER_EMAIL: &str = "demo@douyin-mall.dev";
/// Email of the seeded administrator.
pub const DEMO_ADMIN_EMAIL: &str = "admin@douyin-mall.dev";

/// Lowercase, ASCII alphanumerics joined by single dashes ("iPhone 15 Pro" → "iphone-15-pro");
/// other characters (CJK included) are kept as they are.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(demo_id("user", "a"), demo_id("user", "a"));
        assert_ne!(demo_id("user", "a"), demo_id("product", "a"));
        assert_eq!(slug("iPhone 15 Pro (256GB)"), "iphone-15-pro-256gb");
        assert_eq!(slug("华为 Mate 60"), "华为-mate-60");
    }
}
