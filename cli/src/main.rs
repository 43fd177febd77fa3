//! The `hsmsim` command line.
fn main() {}
