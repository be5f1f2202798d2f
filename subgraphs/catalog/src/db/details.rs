//! A product's gallery and specification attributes: `product_images`, `product_attributes`.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{product_attributes, product_images};

/// A row of `product_images`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = product_images, check_for_backend(diesel::pg::Pg))]
pub struct ImageRow {
    pub product_id: Uuid,
    pub position: i32,
    pub url: String,
    pub alt: Option<String>,
}

/// A row of `product_attributes`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = product_attributes, check_for_backend(diesel::pg::Pg))]
pub struct AttributeRow {
    pub product_id: Uuid,
    pub position: i32,
    pub name: String,
    pub value: String,
}

/// The galleries of `products`, each in display order.
pub async fn images_of(
    conn: &mut AsyncPgConnection,
    products: &[Uuid],
) -> QueryResult<Vec<ImageRow>> {
    product_images::table
        .filter(product_images::product_id.eq_any(products))
        .order((product_images::product_id, product_images::position))
        .select(ImageRow::as_select())
        .load(conn)
        .await
}

/// The attributes of `products`, each in display order.
pub async fn attributes_of(
    conn: &mut AsyncPgConnection,
    products: &[Uuid],
) -> QueryResult<Vec<AttributeRow>> {
    product_attributes::table
        .filter(product_attributes::product_id.eq_any(products))
        .order((product_attributes::product_id, product_attributes::position))
        .select(AttributeRow::as_select())
        .load(conn)
        .await
}

/// Replaces `product`'s gallery with `rows` (call it in the product's write transaction).
pub async fn replace_images(
    conn: &mut AsyncPgConnection,
    product: Uuid,
    rows: &[ImageRow],
) -> QueryResult<()> {
    diesel::delete(product_images::table.filter(product_images::product_id.eq(product)))
        .execute(conn)
        .await?;
    if !rows.is_empty() {
        diesel::insert_into(product_images::table)
            .values(rows)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Replaces `product`'s attributes with `rows` (call it in the product's write transaction).
pub async fn replace_attributes(
    conn: &mut AsyncPgConnection,
    product: Uuid,
    rows: &[AttributeRow],
) -> QueryResult<()> {
    diesel::delete(product_attributes::table.filter(product_attributes::product_id.eq(product)))
        .execute(conn)
        .await?;
    if !rows.is_empty() {
        diesel::insert_into(product_attributes::table)
            .values(rows)
            .execute(conn)
            .await?;
    }
    Ok(())
}
