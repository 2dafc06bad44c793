//! Templates: `$NAME`, `${NAME}`, `$(function args)`, compiled once, rendered many times.
