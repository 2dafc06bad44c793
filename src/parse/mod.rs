//! Syslog parsers: RFC 3164 and RFC 5424 frames into messages.
