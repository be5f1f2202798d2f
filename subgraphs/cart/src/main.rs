fn main() -> std::process::ExitCode {
    service_kit::subgraph::main(&cart_subgraph::SUBGRAPH)
}
