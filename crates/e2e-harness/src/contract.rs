//! The contract's operations and the router's trusted documents, as tests send them.

/// The contract operations the supergraph must serve (`schema/contract-passing.txt`:
/// `file/Operation`, a line).
pub fn contract_passing() -> std::collections::HashSet<String> {
    std::fs::read_to_string(douyin_mall::schema_dir().join("contract-passing.txt"))
        .expect("schema/contract-passing.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The contract's operations that the supergraph serves (`schema/contract/operations`, those
/// listed in `schema/contract-passing.txt`, the contract ratchet), each as a document the
/// router accepts: the operation and the fragments it uses (directly or through other
/// fragments).
pub fn contract_operations() -> Vec<(String, String)> {
    let dir = douyin_mall::schema_dir().join("contract/operations");
    let listed = contract_passing();
    // (file stem, definition text)
    let mut definitions: Vec<(String, String)> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("schema/contract/operations")
        .map(|entry| entry.expect("a file").path())
        .collect();
    files.sort();
    for file in files {
        let stem = file
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = std::fs::read_to_string(&file).expect("an operations file");
        // Every definition starts at the beginning of a line (as the contract is written).
        let mut current: Option<String> = None;
        for line in text.lines() {
            let starts = ["query ", "mutation ", "subscription ", "fragment "]
                .iter()
                .any(|keyword| line.starts_with(keyword));
            if starts {
                definitions.extend(current.take().map(|d| (stem.clone(), d)));
                current = Some(String::new());
            }
            if let Some(definition) = current.as_mut()
                && !line.trim_start().starts_with('#')
            {
                definition.push_str(line);
                definition.push('\n');
            }
        }
        definitions.extend(current.map(|d| (stem.clone(), d)));
    }
    let name_of = |definition: &str| {
        definition
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|word| !word.is_empty())
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    let fragments: std::collections::HashMap<String, String> = definitions
        .iter()
        .filter(|(_, d)| d.starts_with("fragment "))
        .map(|(_, d)| (name_of(d), d.clone()))
        .collect();
    let spreads = |text: &str| -> Vec<String> {
        text.split("...")
            .skip(1)
            .map(|rest| {
                rest.trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .filter(|name| fragments.contains_key(name))
            .collect()
    };
    definitions
        .iter()
        .filter(|(stem, d)| {
            !d.starts_with("fragment ") && listed.contains(&format!("{stem}/{}", name_of(d)))
        })
        .map(|(_, operation)| {
            let mut used: Vec<String> = Vec::new();
            let mut pending = spreads(operation);
            while let Some(name) = pending.pop() {
                if !used.contains(&name) {
                    pending.extend(spreads(&fragments[&name]));
                    used.push(name);
                }
            }
            let mut document = operation.clone();
            for name in &used {
                document.push('\n');
                document.push_str(&fragments[name]);
            }
            (name_of(operation), document)
        })
        .collect()
}

/// The router's trusted documents (`router-config/persisted-documents.json`): id → text.
pub fn trusted_documents() -> std::collections::HashMap<String, String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../router-config/persisted-documents.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the trusted-document manifest"))
        .expect("manifest JSON")
}

/// The contract operation `name` as the router accepts it (with its fragments); panics
/// when it is not served (not listed in `schema/contract-passing.txt`).
pub fn contract_operation(name: &str) -> String {
    contract_operations()
        .into_iter()
        .find(|(operation, _)| operation == name)
        .map(|(_, document)| document)
        .unwrap_or_else(|| panic!("{name} is not served (schema/contract-passing.txt)"))
}
