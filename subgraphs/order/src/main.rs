fn main() -> std::process::ExitCode {
    service_kit::subgraph::main(&order_subgraph::SUBGRAPH)
}
