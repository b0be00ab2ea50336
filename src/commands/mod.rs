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
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
    pub ok: bool,
}
