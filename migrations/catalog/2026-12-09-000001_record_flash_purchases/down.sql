DROP FUNCTION record_flash_purchases(uuid, uuid[], uuid[], text[], text[], integer[], uuid[],
                                     integer[], uuid[], text[], text, text);
DROP FUNCTION record_flash_admission(uuid, uuid, uuid, text, text, integer, uuid, integer,
                                     uuid, text, text, text);
DROP FUNCTION flash_admitted_payload(flash_sale_purchases);
