fn main() -> std::process::ExitCode {
    service_kit::subgraph::main(&assistant_subgraph::SUBGRAPH)
}
