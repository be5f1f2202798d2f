//! The demo data: a customer and an administrator, and the customer's default address.

use diesel_async::AsyncPgConnection;
use service_kit::DbPool;
use service_kit::demo::{DEMO_ADMIN_EMAIL, DEMO_CUSTOMER_EMAIL, demo_id};

use crate::db;
use crate::workflows::passwords::hash_password;

/// Passwords of the demo accounts (development only; see the README).
pub const DEMO_CUSTOMER_PASSWORD: &str = "demo-password";
pub const DEMO_ADMIN_PASSWORD: &str = "admin-password";

/// The demo accounts: a customer and an administrator (roles `customer`, and `admin` +
/// `customer`), with the passwords above. Existing rows keep their data; a missing password
/// is set.
pub async fn seed_demo_data(pool: &DbPool) -> anyhow::Result<()> {
    let accounts = [
        (
            DEMO_CUSTOMER_EMAIL,
            "Demo Customer",
            DEMO_CUSTOMER_PASSWORD,
            &["customer"][..],
        ),
        (
            DEMO_ADMIN_EMAIL,
            "Mall Admin",
            DEMO_ADMIN_PASSWORD,
            &["admin", "customer"][..],
        ),
    ];
    let mut conn = pool.get().await?;
    for (email, name, password, roles) in accounts {
        let id = demo_id("user", email);
        let hash = hash_password(password.to_owned())
            .await
            .map_err(|e| anyhow::anyhow!("hashing a demo password: {}", e.message()))?;
        db::seed::account(&mut conn, id, email, name, &hash, roles).await?;
    }
    seed_demo_address(&mut conn).await
}

/// The demo customer's default address (checkout without an address, the playground's
/// examples), unless they have saved addresses of their own.
async fn seed_demo_address(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    let user = demo_id("user", DEMO_CUSTOMER_EMAIL);
    let saved = db::addresses::count_of(conn, user).await?;
    if saved == 0 {
        db::seed::demo_address(conn, demo_id("address", DEMO_CUSTOMER_EMAIL), user).await?;
    }
    Ok(())
}
