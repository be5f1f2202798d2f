//! The checked-in subgraph schemas (`schema/<name>.graphql`, `schema/subgraphs.json`) are
//! exactly what the code exports. `scripts/regenerate-schemas` rewrites them; CI then also
//! checks `schema/supergraph.graphql` against their composition.

use douyin_mall::{SUBGRAPHS, export_schemas, schema_dir};

#[test]
fn checked_in_subgraph_schemas_match_the_code() {
    let exported = tempfile::tempdir().unwrap();
    export_schemas(exported.path()).unwrap();
    let mut stale = Vec::new();
    let files = SUBGRAPHS
        .iter()
        .map(|s| format!("{}.graphql", s.name))
        .chain(["subgraphs.json".to_owned()]);
    for file in files {
        let expected = std::fs::read_to_string(exported.path().join(&file)).unwrap();
        let checked_in = std::fs::read_to_string(schema_dir().join(&file)).unwrap_or_default();
        if expected != checked_in {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "schema/{stale:?} differ from what the code exports; run scripts/regenerate-schemas and commit the result"
    );
}
