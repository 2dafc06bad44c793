//! Integration tests: the real `sluice` binary on loopback ports, real sockets,
//! real clients. One test binary with modules, so the suite links once.

mod fault_proxy;
mod harness;
mod moto;
mod s3_server;

mod cli;
mod compat;
mod control;
mod filters;
mod forward;
mod http;
mod network;
mod objects;
mod objects_faults;
mod oss;
mod parquet_objects;
mod reload;
mod s3;
mod tls;
