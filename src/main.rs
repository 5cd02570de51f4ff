//! Thin entry point; everything lives in the library so it can be tested.

fn main() -> std::process::ExitCode {
    dind_init::run()
}
