pub mod framing;
