//! Which catalog answers are kept whole and served again (`service_kit::answers`): queries
//! whose root fields are all `product` — the product page and the product detail — per
//! set of caller permissions (a guard, such as the one on `stock`, answers by permission;
//! nothing else in a product depends on who asks). Such an answer reads the product's row
//! (its version names its variants, options, gallery and attributes), its category and
//! brand (never changed once created); it is served again while this replica's memory
//! holds the product at the version it read, which the product invalidations keep exact
//! (`crate::cache`), and within one epoch of that memory (a lost subscription, or a `'*'`
//! after changes behind the catalog's back, starts a new one). A category's `children` or
//! a variant by id are read without a version, so answers that read them are not kept.

use std::any::TypeId;

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use async_graphql::{Data, Request};
use auth::Caller;
use service_kit::answers::AnswerPolicy;
use uuid::Uuid;

use crate::cache::ProductCache;

/// See the module documentation.
pub struct ProductAnswers(pub ProductCache);

impl AnswerPolicy for ProductAnswers {
    fn audience(&self, request: &mut Request, data: &Data) -> Option<String> {
        if !asks_products_only(request) {
            return None;
        }
        let caller = data
            .get(&TypeId::of::<Caller>())?
            .downcast_ref::<Caller>()?;
        Some(match caller.identity_opt() {
            None => "anonymous".to_owned(),
            Some(identity) => {
                // As JSON: an entry may hold any character (a pattern with a space).
                let mut permissions = identity.permissions.clone();
                permissions.sort_unstable();
                serde_json::to_string(&permissions).ok()?
            }
        })
    }

    fn current(&self, id: Uuid, version: i64) -> bool {
        self.0.holds(id, version)
    }

    fn generation(&self) -> Option<u64> {
        self.0.memory_epoch()
    }
}

/// Whether the request's operation is a query whose root fields are all `product` (or
/// `__typename`), at least one.
fn asks_products_only(request: &mut Request) -> bool {
    let name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    let operation = match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => {
            match operations.get(name.as_str()) {
                Some(operation) => operation,
                None => return false,
            }
        }
        // One named operation runs without its name being sent.
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            match operations.values().next() {
                Some(operation) => operation,
                None => return false,
            }
        }
        (DocumentOperations::Multiple(_), None) => return false,
    };
    let operation = &operation.node;
    let fields: Option<Vec<&str>> = operation
        .selection_set
        .node
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => Some(field.node.name.node.as_str()),
            _ => None,
        })
        .collect();
    operation.ty == OperationType::Query
        && fields.is_some_and(|fields| {
            fields.contains(&"product")
                && fields
                    .iter()
                    .all(|field| matches!(*field, "product" | "__typename"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_queries_of_products_by_id_are_kept() {
        let kept = |query: &str, name: Option<&str>| {
            let mut request = Request::new(query);
            if let Some(name) = name {
                request = request.operation_name(name);
            }
            asks_products_only(&mut request)
        };
        assert!(kept("{ product(id: 1) { id name } }", None));
        assert!(kept("query Page { product(id: 1) { id } }", None));
        assert!(kept(
            "query A { products { totalCount } } query B { __typename p: product(id: 1) { id } }",
            Some("B")
        ));
        assert!(!kept(
            "{ product(id: 1) { id } products { totalCount } }",
            None
        ));
        assert!(!kept("{ __typename }", None));
        assert!(!kept(
            "{ ...F } fragment F on Query { product(id: 1) { id } }",
            None
        ));
        assert!(!kept("mutation { product(id: 1) { id } }", None));
        assert!(!kept(
            "query A { product(id: 1) { id } } query B { product(id: 2) { id } }",
            None
        ));
        assert!(!kept("{ product(id: ", None));
    }
}
