//! Shared by both binaries: a clap usage error as one line.

/// The `error:` paragraph of a rendered clap error joined on one line (clap lists missing
/// arguments on the lines after it); `fallback` when there is none (with no arguments at all
/// clap renders the help text instead).
pub fn one_line(e: &clap::Error, fallback: &str) -> String {
    let rendered = e.render().to_string();
    let first: Vec<&str> = rendered
        .lines()
        .skip_while(|l| !l.starts_with("error:"))
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    if first.is_empty() {
        fallback.to_string()
    } else {
        first.join(" ")
    }
}
