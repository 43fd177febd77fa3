//! SKELETON (to be replaced by its owner): the simulated Crypto Command Center served over
//! HTTP: a REST API (JSON) and a web console with CCC's pages, both over `hsmsim::estate::ccc`.
use hsmsim::estate::LabSelection;
use std::net::SocketAddr;

/// The address `hsmsim ccc serve` listens on unless told otherwise (loopback).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8181";

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
}

/// Serves the lab's CCC until interrupted (Ctrl-C / SIGTERM). `Err`: a sentence (the address
/// cannot be bound, the lab's store cannot be opened, ...).
pub fn serve(_selection: LabSelection, _options: ServeOptions) -> Result<(), String> {
    Err("not built yet (skeleton)".into())
}
