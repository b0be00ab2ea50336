//! The non-serving subcommands. Each returns its output as text and a success flag;
//! `main` prints and turns them into exit codes.

pub mod check;
pub mod demo;
pub mod explain;
pub mod health;
pub mod token;

/// What a command produced: lines for stdout, lines for stderr, and whether it passed.
#[derive(Debug, Default)]
pub struct Report {
    /// Lines for standard output.
    pub stdout: Vec<String>,
    /// Lines for standard error.
    pub stderr: Vec<String>,
    /// Whether the command passed (exit 0).
    pub ok: bool,
}
