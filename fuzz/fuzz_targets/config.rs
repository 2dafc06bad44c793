//! The config front end on arbitrary bytes: lexer, preprocessor (defines,
//! backticks; includes of absolute paths find nothing useful), parser, SCL
//! expansion, planning and rendering must not panic, and what they print stays
//! bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::config::{LoadOptions, diagnostic, load_str, plan};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let out = match load_str("fuzz.conf", &text, &LoadOptions::default()) {
        Ok(l) => match plan::build(&l.config, &l.map) {
            Ok(_) => return,
            Err(d) => diagnostic::render_all(&d, &l.map),
        },
        Err(e) => e.to_string(),
    };
    // 50 errors of a few short lines each, plus their notes.
    assert!(out.lines().all(|l| l.chars().count() <= 700));
    assert!(out.lines().count() <= diagnostic::MAX_SHOWN * (5 + 64 * 4) + 1);
});
