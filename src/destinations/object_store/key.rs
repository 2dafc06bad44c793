//! Object keys and their index: `BASE[-N]SUFFIX`, BASE being the rendered
//! `object-key()` and `object-key-timestamp()`, SUFFIX `object-key-suffix()`
//! and `.gz` when compressed. The first object of a base has no index; later
//! ones (rollover, grace, an older timestamp) get `-1`, `-2`, ...
//!
//! An index is never reused: the first object of a base in a run continues
//! after every index the store already holds, as objects or as unfinished
//! uploads (another instance, an earlier run), and completion refuses to
//! overwrite (If-None-Match), moving to the next index if it lost a race.

/// The key of object `index` of `base`.
pub fn key(base: &str, index: u64, suffix: &str) -> String {
    if index == 0 {
        format!("{base}{suffix}")
    } else {
        format!("{base}-{index}{suffix}")
    }
}

/// The index `key` has as an object of `base` and `suffix`, if it is one.
pub fn index_of(key: &str, base: &str, suffix: &str) -> Option<u64> {
    let middle = key.strip_prefix(base)?.strip_suffix(suffix)?;
    if middle.is_empty() {
        return Some(0);
    }
    let n = middle.strip_prefix('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('0') {
        return None;
    }
    n.parse().ok()
}

/// The first index free after every key in `taken`.
pub fn next_index<'a>(taken: impl IntoIterator<Item = &'a str>, base: &str, suffix: &str) -> u64 {
    taken
        .into_iter()
        .filter_map(|k| index_of(k, base, suffix))
        .max()
        .map_or(0, |n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_continue_after_what_the_store_holds() {
        let (b, s) = ("app/web-120261130", ".log.gz");
        assert_eq!(key(b, 0, s), "app/web-120261130.log.gz");
        assert_eq!(key(b, 2, s), "app/web-120261130-2.log.gz");
        assert_eq!(next_index([], b, s), 0);
        let taken = [
            "app/web-120261130.log.gz",
            "app/web-120261130-1.log.gz",
            "app/web-120261130-7.log.gz",
            // Not ours: another base, another suffix, a leading zero.
            "app/web-1202611300.log.gz",
            "app/web-120261130-9.log",
            "app/web-120261130-08.log.gz",
        ];
        assert_eq!(next_index(taken, b, s), 8);
    }
}
