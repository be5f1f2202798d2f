fn main() -> std::process::ExitCode {
    service_kit::subgraph::main(&catalog_subgraph::SUBGRAPH)
}
