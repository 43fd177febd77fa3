//! The Securosys Primus Tools console (seed 001): `grammar` parses a command line as the
//! vendor writes it, `session` runs it on one token (the connection the command line's
//! `<HSM connection and credentials>` stands for) with the files it names, `operations` are
//! the PKCS#11 operations behind each command, and `output` is what a command prints and how
//! it fails.
pub mod grammar;
pub mod operations;
pub mod output;
pub mod session;

pub use grammar::{Command, Invocation, parse_documented};
pub use output::{ConsoleError, Output};
pub use session::Session;
