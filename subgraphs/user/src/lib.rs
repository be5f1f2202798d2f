//! The user subgraph: accounts, sessions with rotating refresh tokens, bans, roles and
//! addresses. It owns the `User` entity that the cart and order subgraphs extend, signs
//! access tokens, publishes their public keys (`/.well-known/jwks.json`), and publishes
//! each user's roles and ban to Redis for every subgraph's per-request check.

pub mod accounts;
pub mod db;
pub mod graphql;
pub mod sessions;
pub mod throttle;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use auth::Access;
use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use diesel_migrations::embed_migrations;
use peer_api::{AddressOf, PostalAddress};
use service_kit::db::DatabaseSpec;
use service_kit::demo::{DEMO_ADMIN_EMAIL, DEMO_CUSTOMER_EMAIL, demo_id};
use service_kit::{ApiError, DbPool, ServiceConfig, Stores, Subgraph, http, internal};

pub use graphql::{Mutation, Query};

/// The user subgraph's PostgreSQL schema and migrations.
pub static DATABASE: DatabaseSpec = DatabaseSpec {
    schema: "user",
    migrations: embed_migrations!("../../migrations/user"),
    migrations_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/user"),
    session_settings: "",
};

/// How the launcher, the tests and the binary start this subgraph.
pub static SUBGRAPH: Subgraph = Subgraph {
    name: "user",
    default_port: 4001,
    database: &DATABASE,
    sdl: || service_kit::subgraph::federation_sdl(&schema().finish()),
    seed: |stores| Box::pin(seed_demo_data(&stores.db)),
    router,
    workers: service_kit::subgraph::no_workers,
};

/// Passwords of the demo accounts (development only; see the README).
pub const DEMO_CUSTOMER_PASSWORD: &str = "demo-password";
pub const DEMO_ADMIN_PASSWORD: &str = "admin-password";

/// The schema with nothing attached.
pub fn schema() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription).enable_federation()
}

/// HTTP routes over connected stores: the subgraph routes plus the JWKS.
pub fn router(stores: Stores, config: &ServiceConfig) -> anyhow::Result<axum::Router> {
    let access = Access::new(&config.auth, stores.redis.clone())?;
    let schema = service_kit::subgraph::protect(schema(), config)
        .extension(access.root_field_guard())
        .data(stores.db.clone())
        .data(access.clone())
        .finish();
    let db = stores.db.clone();
    let window = config.loader_batch;
    let request_data =
        access.request_data(move |data| graphql::types::add_loaders(&db, window, data));
    let jwks = serde_json::to_value(access.keys().jwks())?;
    let internal = internal::protect(
        axum::Router::new()
            .route("/internal/address", post(saved_address))
            .with_state(stores.db.clone()),
        &config.internal_token,
    );
    Ok(http::subgraph_router(schema, request_data, stores, config)
        .route(
            "/.well-known/jwks.json",
            get(move || async move { axum::Json(jwks.clone()) }),
        )
        .merge(internal))
}

/// `POST /internal/address`: a saved address of a user, for checkout. `NOT_FOUND` when the
/// address does not exist or belongs to someone else.
async fn saved_address(
    State(db): State<DbPool>,
    Json(asked): Json<AddressOf>,
) -> axum::response::Response {
    let found = async {
        let mut conn = db.get().await?;
        let mut query = db::addresses::table
            .filter(db::addresses::user_id.eq(asked.user_id))
            .into_boxed();
        query = match asked.address_id {
            Some(id) => query.filter(db::addresses::id.eq(id)),
            None => query.filter(db::addresses::is_default.eq(true)),
        };
        let row: Option<db::AddressRow> = query
            .select(db::AddressRow::as_select())
            .first(&mut conn)
            .await
            .optional()?;
        let row = row.ok_or_else(|| ApiError::NotFound("address".into()))?;
        Ok::<_, ApiError>(PostalAddress {
            recipient: row.recipient,
            phone: row.phone,
            province: row.province,
            city: row.city,
            district: row.district,
            line1: row.line1,
            postal_code: row.postal_code,
        })
    };
    internal::respond(found.await)
}

/// Runs the user subgraph alone.
pub async fn run(config: ServiceConfig) -> anyhow::Result<()> {
    SUBGRAPH.run(config).await
}

/// The demo accounts: a customer and an administrator (roles `customer`, and `admin` +
/// `customer`), with the passwords above. Existing rows keep their data; a missing password
/// is set.
pub async fn seed_demo_data(db: &DbPool) -> anyhow::Result<()> {
    use db::{user_roles, users};
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
    let mut conn = db.get().await?;
    for (email, name, password, roles) in accounts {
        let id = demo_id("user", email);
        let hash = accounts::hash_password(password.to_owned())
            .await
            .map_err(|e| anyhow::anyhow!("hashing a demo password: {}", e.message()))?;
        diesel::insert_into(users::table)
            .values((
                users::id.eq(id),
                users::email.eq(email),
                users::display_name.eq(name),
                users::status.eq("ACTIVE"),
                users::created_at.eq(Utc::now()),
                users::password_hash.eq(&hash),
            ))
            .on_conflict_do_nothing()
            .execute(&mut conn)
            .await?;
        diesel::update(users::table.find(id).filter(users::password_hash.is_null()))
            .set(users::password_hash.eq(&hash))
            .execute(&mut conn)
            .await?;
        for role in roles {
            diesel::insert_into(user_roles::table)
                .values((user_roles::user_id.eq(id), user_roles::role.eq(role)))
                .on_conflict_do_nothing()
                .execute(&mut conn)
                .await?;
        }
    }
    seed_demo_address(&mut conn).await
}

/// The demo customer's default address (checkout without an address, the playground's
/// examples), unless they have saved addresses of their own.
async fn seed_demo_address(conn: &mut diesel_async::AsyncPgConnection) -> anyhow::Result<()> {
    use db::addresses;
    let user = demo_id("user", DEMO_CUSTOMER_EMAIL);
    let saved: i64 = addresses::table
        .filter(addresses::user_id.eq(user))
        .count()
        .get_result(conn)
        .await?;
    if saved == 0 {
        diesel::insert_into(addresses::table)
            .values((
                addresses::id.eq(demo_id("address", DEMO_CUSTOMER_EMAIL)),
                addresses::user_id.eq(user),
                addresses::recipient.eq("Demo Customer"),
                addresses::phone.eq("+86 138 0013 8000"),
                addresses::province.eq("北京市"),
                addresses::city.eq("北京市"),
                addresses::district.eq("朝阳区"),
                addresses::line1.eq("建国路 1 号"),
                addresses::postal_code.eq(Some("100020")),
                addresses::is_default.eq(true),
                addresses::created_at.eq(Utc::now()),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(())
}
