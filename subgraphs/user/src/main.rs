fn main() -> std::process::ExitCode {
    service_kit::subgraph::main(&user_subgraph::SUBGRAPH)
}
