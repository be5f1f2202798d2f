DROP TABLE product_attributes;
DROP TABLE product_images;
