//! What sources and destinations share about the network: socket options and
//! the certificates of TLS sessions.

pub mod pki;
pub mod socket;
