//! Tables of `migrations/catalog/`, in the catalog's own schema (set as `search_path`).

diesel::table! {
    categories (id) {
        id -> Uuid,
        parent_id -> Nullable<Uuid>,
        name -> Text,
        position -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    products (id) {
        id -> Uuid,
        category_id -> Nullable<Uuid>,
        name -> Text,
        description -> Text,
        image_url -> Nullable<Text>,
        price_amount -> Int8,
        currency -> Text,
        status -> Text,
        stock -> Int4,
        sales_count -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int8,
        brand_id -> Nullable<Uuid>,
    }
}

diesel::joinable!(products -> categories (category_id));
diesel::allow_tables_to_appear_in_same_query!(categories, products);

diesel::table! {
    stock_ledger (id) {
        id -> Int8,
        product_id -> Uuid,
        delta -> Int4,
        stock_after -> Int4,
        reason -> Text,
        actor -> Nullable<Uuid>,
        created_at -> Timestamptz,
        variant_id -> Uuid,
    }
}

diesel::joinable!(stock_ledger -> products (product_id));
diesel::allow_tables_to_appear_in_same_query!(stock_ledger, products);

diesel::table! {
    flash_sales (id) {
        id -> Uuid,
        product_id -> Uuid,
        price -> Int8,
        currency -> Text,
        total_quantity -> Int4,
        per_user_limit -> Int4,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        sold -> Int4,
        returned -> Nullable<Int4>,
        returned_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        counter_epoch -> Int4,
        held -> Int4,
        variant_id -> Uuid,
    }
}

diesel::table! {
    flash_sale_purchases (id) {
        id -> Uuid,
        sale_id -> Uuid,
        user_id -> Uuid,
        idempotency_key -> Text,
        request_hash -> Text,
        quantity -> Int4,
        unit_price -> Int8,
        currency -> Text,
        product_id -> Uuid,
        product_name -> Text,
        address_id -> Uuid,
        status -> Text,
        reason -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Timestamptz,
        returned_at -> Nullable<Timestamptz>,
        // variant_id, sku, variant_name and options (catalog v2) are read and written with
        // SQL text: diesel's tables stop at 16 columns.
    }
}

diesel::joinable!(flash_sale_purchases -> flash_sales (sale_id));
diesel::joinable!(flash_sales -> products (product_id));
diesel::allow_tables_to_appear_in_same_query!(flash_sales, products);
diesel::allow_tables_to_appear_in_same_query!(flash_sale_purchases, flash_sales);

diesel::table! {
    brands (id) {
        id -> Uuid,
        name -> Text,
        logo_url -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    brand_categories (brand_id, category_id) {
        brand_id -> Uuid,
        category_id -> Uuid,
    }
}

diesel::joinable!(brand_categories -> brands (brand_id));
diesel::allow_tables_to_appear_in_same_query!(brands, brand_categories);

diesel::table! {
    product_images (product_id, position) {
        product_id -> Uuid,
        position -> Int4,
        url -> Text,
        alt -> Nullable<Text>,
    }
}

diesel::table! {
    product_attributes (product_id, position) {
        product_id -> Uuid,
        position -> Int4,
        name -> Text,
        value -> Text,
    }
}
