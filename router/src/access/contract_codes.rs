//! The contract's error codes for what the router itself reports.

/// Codes of Hive Router's JWT failures (all mean: the token is not acceptable).
const JWT_ERROR_CODES: [&str; 6] = [
    "MISSING_JWT",
    "INVALID_JWT",
    "JWT_NOT_SUPPORTED",
    "INVALID_JWT_HEADER",
    "JWT_LOOKUP_FAILED",
    "JWK_ALGORITHM_NOT_SUPPORTED",
];

/// The contract's `extensions.code` for an error the router reports with `code`.
pub fn contract_code(code: Option<&str>) -> &'static str {
    const CONTRACT: [&str; 9] = [
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "BAD_USER_INPUT",
        "NOT_FOUND",
        "CONFLICT",
        "INSUFFICIENT_STOCK",
        "RATE_LIMITED",
        "UNAVAILABLE",
        "INTERNAL_SERVER_ERROR",
    ];
    let Some(code) = code else {
        return "INTERNAL_SERVER_ERROR";
    };
    if let Some(known) = CONTRACT.iter().find(|c| **c == code) {
        return known;
    }
    if JWT_ERROR_CODES.contains(&code) || code.starts_with("JWT") {
        return "UNAUTHENTICATED";
    }
    match code {
        // The request itself is wrong: syntax, validation, variables, limits, transport.
        "GRAPHQL_PARSE_FAILED"
        | "GRAPHQL_VALIDATION_FAILED"
        | "BAD_REQUEST"
        | "OPERATION_RESOLUTION_FAILURE"
        | "MAX_DEPTH_EXCEEDED"
        | "MAX_ALIASES_EXCEEDED"
        | "MAX_DIRECTIVES_EXCEEDED"
        | "TOKEN_LIMIT_EXCEEDED"
        | "COST_ESTIMATED_TOO_EXPENSIVE"
        | "COST_ACTUAL_TOO_EXPENSIVE"
        | "SUBGRAPH_COST_ESTIMATED_TOO_EXPENSIVE"
        | "COST_INVALID_SLICING_ARGUMENTS"
        | "PAYLOAD_TOO_LARGE_CONTENT_LENGTH"
        | "PAYLOAD_TOO_LARGE_BODY_STREAM"
        | "REQUEST_HEADER_FIELDS_TOO_LARGE"
        | "INVALID_HEADER"
        | "MISSING_CONTENT_TYPE_HEADER"
        | "UNSUPPORTED_CONTENT_TYPE"
        | "UNSUPPORTED_CONTENT_ENCODING"
        | "MISSING_QUERY_PARAM"
        | "UNPROCESSABLE_QUERY_PARAMS"
        | "METHOD_NOT_ALLOWED"
        | "MUTATION_NOT_ALLOWED_OVER_HTTP_GET"
        | "SUBSCRIPTIONS_NOT_SUPPORTED"
        | "SUBSCRIPTIONS_TRANSPORT_NOT_SUPPORTED"
        | "PERSISTED_DOCUMENT_NOT_FOUND"
        | "PERSISTED_DOCUMENT_ID_REQUIRED"
        | "PERSISTED_DOCUMENT_EXTRACTION_FAILED"
        | "READ_BODY_STREAM_ERROR"
        | "PAYLOAD_READ_ERROR"
        | "DECOMPRESSION_FAILED" => "BAD_USER_INPUT",
        "UNAUTHORIZED_OPERATION"
        | "UNAUTHORIZED_FIELD_OR_TYPE"
        | "CSRF_PREVENTION_FAILED"
        | "INTROSPECTION_DISABLED" => "FORBIDDEN",
        // Validation errors carry the name of the rule they broke (`ValuesOfCorrectType`,
        // `FieldsOnCorrectType`, ...): the document does not fit the schema.
        _ if code.starts_with(|c: char| c.is_ascii_uppercase())
            && code.chars().any(|c| c.is_ascii_lowercase())
            && code.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            "BAD_USER_INPUT"
        }
        "GATEWAY_TIMEOUT"
        | "SERVICE_UNAVAILABLE"
        | "NO_SUPERGRAPH_AVAILABLE"
        | "DOWNSTREAM_SERVICE_ERROR" => "UNAVAILABLE",
        // A subgraph did not answer, answered garbage, or its socket failed.
        _ if code.starts_with("SUBGRAPH_")
            || code.starts_with("SUBREQUEST_")
            || code.starts_with("WS_") =>
        {
            "UNAVAILABLE"
        }
        _ => "INTERNAL_SERVER_ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_router_error_gets_a_contract_code() {
        let table = [
            (None, "INTERNAL_SERVER_ERROR"),
            (Some("NOT_FOUND"), "NOT_FOUND"),
            (Some("INSUFFICIENT_STOCK"), "INSUFFICIENT_STOCK"),
            (Some("INVALID_JWT"), "UNAUTHENTICATED"),
            (Some("JWT_ERROR"), "UNAUTHENTICATED"),
            (Some("GRAPHQL_VALIDATION_FAILED"), "BAD_USER_INPUT"),
            (Some("GRAPHQL_PARSE_FAILED"), "BAD_USER_INPUT"),
            (Some("MAX_DEPTH_EXCEEDED"), "BAD_USER_INPUT"),
            (Some("PAYLOAD_TOO_LARGE_CONTENT_LENGTH"), "BAD_USER_INPUT"),
            (Some("UNAUTHORIZED_FIELD_OR_TYPE"), "FORBIDDEN"),
            (Some("ValuesOfCorrectType"), "BAD_USER_INPUT"),
            (Some("FieldsOnCorrectType"), "BAD_USER_INPUT"),
            (Some("SUBGRAPH_REQUEST_TIMEOUT"), "UNAVAILABLE"),
            (Some("SUBREQUEST_MALFORMED_RESPONSE"), "UNAVAILABLE"),
            (Some("SUBREQUEST_HTTP_ERROR"), "UNAVAILABLE"),
            (Some("SUBGRAPH_WEBSOCKET_CLIENT_FAILURE"), "UNAVAILABLE"),
            (Some("GATEWAY_TIMEOUT"), "UNAVAILABLE"),
            (Some("QUERY_PLAN_BUILD_FAILED"), "INTERNAL_SERVER_ERROR"),
            (Some("SOMETHING_NEW"), "INTERNAL_SERVER_ERROR"),
        ];
        for (given, expected) in table {
            assert_eq!(contract_code(given), expected, "{given:?}");
        }
    }
}
