//! The router alone, as `compose.yaml` runs it:
//! `ROUTER_CONFIG_FILE_PATH=router-config/router.config.yaml router`.

#[global_allocator]
static GLOBAL: router::RouterGlobalAllocator = router::RouterGlobalAllocator;

fn main() -> std::process::ExitCode {
    match router::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
