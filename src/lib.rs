//! Sluice: a log destination server configured in syslog-ng's language.
//!
//! # Layout
//! The folders follow the data path, top to bottom:
//!
//! - `config/`: the config language: source map, preprocessing (`@include`,
//!   `@define`, backticks), parser, SCL blocks, option schema, diagnostics, and the
//!   typed plan the daemon runs.
//! - `template/`: `${MACRO}` / `$(function)` templates, compiled once at load and
//!   rendered into a reused buffer.
//! - `message/`: the message type every stage hands on.
//! - `sources/`: receivers (`network()`: TCP and UDP syslog), with framing.
//! - `parse/`: RFC 3164 and RFC 5424 parsers turning a frame into a message.
//! - `logpath/`: routing of batches from sources to destinations, fan-out, flow
//!   control and the acknowledgement of what destinations made durable.
//! - `destinations/`: drivers (`file()`), one folder each.
//! - `daemon/`: process life: signals, reload, shutdown, control socket, pid file.
//! - `telemetry/`: the counters behind `sluice-ctl stats`.
//!
//! `main.rs` and `bin/sluice-ctl.rs` are thin: argument parsing and a call in here.

pub mod cli;
pub mod compress;
pub mod config;
pub mod daemon;
pub mod destinations;
pub mod encode;
pub mod logpath;
pub mod message;
pub mod net;
pub mod parse;
pub mod sources;
pub mod telemetry;
pub mod template;
