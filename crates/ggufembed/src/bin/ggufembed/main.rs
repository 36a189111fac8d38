//! The `ggufembed` command-line tool.
//!
//! Exit codes: 0 success, 1 error (bad file, bad input), 2 usage. Errors go to stderr as one
//! line starting `error:`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ggufembed::gguf_loader::GgufFile;

#[derive(Parser)]
#[command(
    name = "ggufembed",
    version,
    about = "Sentence embeddings from GGUF models on the CPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a GGUF file's version, metadata and tensors.
    Inspect {
        /// The GGUF file.
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help and --version: print, exit 0
        Err(e) => {
            // Usage errors: one line on stderr, exit 2.
            let rendered = e.render().to_string();
            // The `error:` paragraph joined on one line (clap lists missing arguments on the
            // lines after it); with no arguments at all clap renders the help text instead.
            let first: Vec<&str> = rendered
                .lines()
                .skip_while(|l| !l.starts_with("error:"))
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let first = if first.is_empty() {
                "error: no command given".to_string()
            } else {
                first.join(" ")
            };
            let _ = writeln!(std::io::stderr(), "{first} (try 'ggufembed --help')");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let line = message.replace('\n', " ");
            let _ = writeln!(std::io::stderr(), "error: {line}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Inspect { file, json } => {
            let gguf = GgufFile::open(&file).map_err(|e| e.to_string())?;
            let path = file.display().to_string();
            let mut text = if json {
                ggufembed::inspect::render_json(&gguf, &path).to_string()
            } else {
                ggufembed::inspect::render_text(&gguf, &path)
            };
            if !text.ends_with('\n') {
                text.push('\n');
            }
            write_stdout(text.as_bytes())
        }
    }
}

/// Writes to stdout; a closed pipe (`ggufembed inspect f | head`) ends quietly instead of
/// panicking as `println!` would.
fn write_stdout(bytes: &[u8]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("cannot write to stdout: {e}")),
    }
}
