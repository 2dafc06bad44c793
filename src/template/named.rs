//! Named templates (`template NAME { template("..."); };`) while a config is
//! being checked: `template(NAME)` in a driver and `$(template NAME)` in any
//! template compile the named text in their place.
//!
//! The names are in scope for one thread while [`Scope`] lives: config
//! checking is one pass on one thread, and templates compile without a
//! config handle of their own.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

thread_local! {
    static NAMED: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
    /// `$(template A)` inside template A: how deep the expansion is.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// How deep `$(template ...)` may nest before it is taken for a cycle.
pub const MAX_DEPTH: u32 = 16;

/// The named templates in scope until it is dropped.
pub struct Scope(HashMap<String, String>);

impl Scope {
    /// Puts `named` (name to template text) in scope for this thread.
    pub fn enter(named: HashMap<String, String>) -> Scope {
        Scope(NAMED.with(|n| std::mem::replace(&mut *n.borrow_mut(), named)))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let previous = std::mem::take(&mut self.0);
        NAMED.with(|n| *n.borrow_mut() = previous);
    }
}

/// The text of a named template in scope.
pub fn lookup(name: &str) -> Option<String> {
    NAMED.with(|n| n.borrow().get(name).cloned())
}

/// The names in scope, for suggestions.
pub fn names() -> Vec<String> {
    NAMED.with(|n| n.borrow().keys().cloned().collect())
}

/// Runs `f` one `$(template)` level deeper; `None` past [`MAX_DEPTH`].
pub(super) fn nested<T>(f: impl FnOnce() -> T) -> Option<T> {
    let depth = DEPTH.with(Cell::get);
    if depth >= MAX_DEPTH {
        return None;
    }
    DEPTH.with(|d| d.set(depth + 1));
    let out = f();
    DEPTH.with(|d| d.set(depth));
    Some(out)
}
