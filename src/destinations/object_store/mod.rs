//! Object-store wire clients (S3 and S3-compatible stores) and the small HTTP
//! client under them. The driver that spools, rolls objects over and runs the
//! upload pool lives elsewhere and talks to these clients only.

pub mod http;
pub mod s3;
