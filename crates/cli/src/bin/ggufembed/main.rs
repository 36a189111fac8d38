//! The `ggufembed` command-line tool.
//!
//! Exit codes: 0 success, 1 error (bad file, bad input), 2 usage. Errors go to stderr as one
//! line starting `error:`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

mod embed;
mod rerank;

use clap::{Parser, Subcommand, ValueEnum};
use ggufembed::gguf_loader::GgufFile;
use ggufembed_convert::{OutType, Progress};

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
    /// Embed texts: JSONL (or lines) in, one embedding per text out, in input order.
    Embed {
        /// The GGUF model.
        #[arg(short = 'm', long = "model", value_name = "MODEL")]
        model: PathBuf,
        #[command(flatten)]
        io: Io,
        /// Longest input in tokens (default: the model's context length); longer texts are
        /// truncated and flagged.
        #[arg(long = "max-len", value_name = "N")]
        max_len: Option<usize>,
        /// Worker threads (default: all cores).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
        /// How batches use the threads: auto, texts (each worker its own texts) or matmul
        /// (every matmul split across the workers).
        #[arg(long, value_name = "MODE", default_value = "auto")]
        parallelism: ggufembed::Parallelism,
        /// Tokens per micro-batch (default: derived from --memory-budget).
        #[arg(long = "token-budget", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        token_budget: Option<u32>,
        /// Scratch memory per worker in MiB, from which the token budget is derived
        /// (default 16).
        #[arg(long = "memory-budget", value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..))]
        memory_budget: Option<u32>,
        /// Target time per streamed batch in milliseconds (default 100): the input is read and
        /// embedded in batches sized from the measured throughput to take about this long.
        #[arg(long = "latency-ms", value_name = "MS", value_parser = clap::value_parser!(u32).range(1..))]
        latency_ms: Option<u32>,
        /// Text prepended to every input (its tokens count toward --max-len), e.g.
        /// "task: search result | query: ".
        #[arg(long, value_name = "TEXT", conflicts_with = "prompt_name")]
        prompt: Option<String>,
        /// A prompt preset of the model's architecture: for gemma-embedding, query, document,
        /// Clustering, Classification, STS, …; for nomic-bert, query (search_query: ),
        /// document (search_document: ), classification, clustering; for qwen3 (Qwen3-Embedding),
        /// query (its web search instruction) and document (none) (see the docs).
        #[arg(long = "prompt-name", value_name = "NAME")]
        prompt_name: Option<String>,
        /// Where to run: auto (the GPU if this build has the `gpu` feature and a hardware
        /// adapter is found, else the CPU; RUST_LOG=info says why), cpu or gpu.
        #[arg(long, value_name = "DEVICE", default_value = "auto")]
        device: ggufembed::Device,
        /// Pooling: mean, cls, last, or none for one vector per token (default: what the model
        /// asks for).
        #[arg(long, value_name = "P")]
        pooling: Option<ggufembed::Pooling>,
        /// Do not L2-normalize the embeddings.
        #[arg(long = "no-normalize")]
        no_normalize: bool,
        /// Matryoshka: keep the first N values of every embedding, then L2-normalize them
        /// again (unless --no-normalize); 1 to the model's width.
        #[arg(long, value_name = "N")]
        dimensions: Option<usize>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
    },
    /// Tokenize texts: {"index","ids"} per text, special tokens included, not truncated.
    Tokenize {
        /// The GGUF model.
        #[arg(short = 'm', long = "model", value_name = "MODEL")]
        model: PathBuf,
        #[command(flatten)]
        io: Io,
    },
    /// Score (query, document) pairs with a reranker (cross-encoder): JSONL
    /// {"query","document"} in, {"index","score","truncated", …input fields} out in input
    /// order; or --query with one document per line, best first.
    Rerank {
        /// The GGUF reranker.
        #[arg(short = 'm', long = "model", value_name = "MODEL")]
        model: PathBuf,
        /// Input file (default: stdin): JSONL pairs, or one document per line with --query.
        #[arg(short = 'i', long = "input", value_name = "FILE")]
        input: Option<PathBuf>,
        /// Output file (default: stdout).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Rerank every input line (a document) against this query; output best first.
        #[arg(short = 'q', long, value_name = "TEXT")]
        query: Option<String>,
        /// With --query: only the best N documents.
        #[arg(long = "top-n", value_name = "N", requires = "query")]
        top_n: Option<usize>,
        /// Map the raw logits through the sigmoid (a relevance in (0, 1)).
        #[arg(long)]
        sigmoid: bool,
        /// Longest pair in tokens (default: the model's context length); longer pairs are
        /// truncated longest side first and flagged.
        #[arg(long = "max-len", value_name = "N")]
        max_len: Option<usize>,
        /// Worker threads (default: all cores).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
    },
    /// Convert a Hugging Face / sentence-transformers model directory to GGUF, writing what
    /// llama.cpp's convert_hf_to_gguf.py writes.
    Convert {
        /// The model directory (config.json, model.safetensors, tokenizer.json or vocab.txt, …).
        #[arg(long = "from-hf", value_name = "DIR")]
        from_hf: PathBuf,
        /// The GGUF file to write.
        #[arg(short = 'o', long = "output", value_name = "OUT.gguf")]
        output: PathBuf,
        /// Type of the matrices and token embeddings (norms, biases and position embeddings
        /// stay f32).
        #[arg(long = "type", value_name = "f32|f16|q8_0", default_value = "f16", value_parser = parse_out_type)]
        out_type: OutType,
    },
    /// Serve embeddings over HTTP (OpenAI- and TEI-compatible, dynamic batching across
    /// requests); see docs/SERVER.md.
    Serve(ggufembed_server::ServeArgs),
}

fn parse_out_type(s: &str) -> Result<OutType, String> {
    s.parse()
}

/// Output format of `embed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON object per text: {"index","embedding","tokens","truncated", …input fields}.
    Jsonl,
    /// A NumPy float32 matrix, one row per text.
    Npy,
}

/// Input and output options shared by `embed` and `tokenize`.
#[derive(clap::Args)]
struct Io {
    /// Input file (default: stdin): JSONL objects with a "text" field, or plain lines with
    /// --text-lines.
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    input: Option<PathBuf>,
    /// Output file (default: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Read one text per line instead of JSONL.
    #[arg(long = "text-lines")]
    text_lines: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help and --version: print, exit 0
        Err(e) => {
            // Usage errors: one line on stderr, exit 2.
            let first = ggufembed_cli::usage::one_line(&e, "error: no command given");
            let _ = writeln!(std::io::stderr(), "{first} (try 'ggufembed --help')");
            return ExitCode::from(2);
        }
    };
    // Warnings by default (RUST_LOG=info shows where the model runs and why); the server logs
    // its address, requests and shutdown at info.
    let level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
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
        Command::Serve(args) => ggufembed_server::serve(args).map_err(|e| e.to_string()),
        Command::Inspect { file, json } => {
            let gguf = GgufFile::open(&file).map_err(|e| e.to_string())?;
            let path = file.display().to_string();
            let mut text = if json {
                ggufembed_cli::inspect::render_json(&gguf, &path).to_string()
            } else {
                ggufembed_cli::inspect::render_text(&gguf, &path)
            };
            if !text.ends_with('\n') {
                text.push('\n');
            }
            write_stdout(text.as_bytes())
        }
        Command::Embed {
            model,
            io,
            max_len,
            threads,
            parallelism,
            token_budget,
            memory_budget,
            latency_ms,
            prompt,
            prompt_name,
            device,
            pooling,
            no_normalize,
            dimensions,
            format,
        } => embed::embed(
            &model,
            &io.into_args(),
            &embed::EmbedArgs {
                max_len,
                threads: threads.map(usize::from),
                pooling,
                normalize: !no_normalize,
                npy: format == Format::Npy,
                parallelism,
                token_budget: token_budget.map(|t| t as usize),
                memory_budget_mib: memory_budget.map(|m| m as usize),
                latency_ms: latency_ms.map(u64::from),
                prompt,
                prompt_name,
                device,
                dimensions,
            },
        ),
        Command::Tokenize { model, io } => embed::tokenize(&model, &io.into_args()),
        Command::Rerank {
            model,
            input,
            output,
            query,
            top_n,
            sigmoid,
            max_len,
            threads,
        } => rerank::rerank(
            &model,
            &rerank::RerankArgs {
                input,
                output,
                query,
                top_n,
                sigmoid,
                max_len,
                threads: threads.map(usize::from),
            },
        ),
        Command::Convert {
            from_hf,
            output,
            out_type,
        } => {
            let report = run_convert(&from_hf, &output, out_type)?;
            let mut err = std::io::stderr().lock();
            for w in &report.warnings {
                let _ = writeln!(err, "warning: {}", w.replace('\n', " "));
            }
            let line = format!(
                "wrote {}: {} tensors, {} metadata keys, {} parameters, {} bytes ({}) in {:.2} s\n",
                report.output.display(),
                report.n_tensors,
                report.n_metadata,
                report.n_params,
                report.file_size,
                report.out_type,
                report.seconds
            );
            write_stdout(line.as_bytes())
        }
    }
}

impl Io {
    fn into_args(self) -> embed::InputArgs {
        embed::InputArgs {
            input: self.input,
            output: self.output,
            text_lines: self.text_lines,
        }
    }
}

/// Runs the conversion with a progress bar on stderr when it is a terminal, and a few plain
/// lines otherwise.
fn run_convert(
    dir: &std::path::Path,
    out: &std::path::Path,
    out_type: OutType,
) -> Result<ggufembed_convert::ConvertReport, String> {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut progress = |p: Progress<'_>| match p {
        Progress::Start { total } => {
            if tty {
                let b = indicatif::ProgressBar::with_draw_target(
                    Some(total as u64),
                    indicatif::ProgressDrawTarget::stderr(),
                );
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "converting [{bar:30}] {pos}/{len} {msg}",
                ) {
                    b.set_style(style.progress_chars("=> "));
                }
                bar = Some(b);
            } else {
                let _ = writeln!(
                    std::io::stderr(),
                    "converting {} ({total} tensors, {out_type})",
                    dir.display()
                );
            }
        }
        Progress::Tensor { name, .. } => {
            if let Some(b) = &bar {
                b.set_message(name.to_string());
                b.inc(1);
            }
        }
        Progress::Writing { path } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            let _ = writeln!(std::io::stderr(), "writing {}", path.display());
        }
        _ => {}
    };
    let result = ggufembed_convert::convert_hf(dir, out, out_type, &mut progress);
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    result.map_err(|e| e.to_string())
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
