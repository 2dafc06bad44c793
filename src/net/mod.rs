//! What sources and destinations share about the network: socket options,
//! the certificates of TLS sessions, the client end of TLS, and an HTTP client.

pub mod http;
pub mod pki;
pub mod socket;
pub mod tls;
