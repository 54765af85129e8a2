//! The `campaign` command: a thin front over the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
