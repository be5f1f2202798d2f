fn main() -> std::process::ExitCode {
    service_kit::subgraph::main(&payment_subgraph::SUBGRAPH)
}
