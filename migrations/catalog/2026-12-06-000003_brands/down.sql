DROP TABLE brand_categories;
DROP TABLE brands;
