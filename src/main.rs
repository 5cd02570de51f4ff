//! Thin entry point; everything lives in the library so it can be tested.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(dind_init::main_exit())
}
