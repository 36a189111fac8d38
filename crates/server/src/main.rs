//! `ggufembed-server`: the server alone (`ggufembed serve` runs the same code).
//!
//! Exit codes: 0 after a graceful shutdown (SIGINT/SIGTERM), 1 error, 2 usage.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = match ggufembed_server::ServeArgs::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let _ = write!(std::io::stderr(), "{e}");
            return ExitCode::from(2);
        }
    };
    match ggufembed_server::serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(1)
        }
    }
}
