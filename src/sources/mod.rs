//! Receivers. Each source driver reads, frames and parses, then hands batches to
//! its [`Routes`](crate::logpath::Routes). Sockets outlive reloads: a listener
//! whose address is still configured keeps its socket and its open connections,
//! and picks up its new settings (parse flags, routes) between two reads.

pub mod internal;
pub mod network;
