//! Where a message came in: the source's name, the transport and the local
//! address it arrived on (syslog-ng's SOURCE, PROTO, DESTIP and DESTPORT, and
//! the `.source.NAME` tag).
//!
//! These are the same for every message of a listener, so a message carries a
//! two-byte [`OriginId`] into a process-wide table instead of a reference
//! count: no atomic per message on the hot path. Origins are interned by
//! content when a config is applied, so reloads reuse their entries; the
//! table holds [`CAPACITY`] of them, and an origin beyond that reads as
//! unknown (empty macros) rather than failing a reload.

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

/// Distinct origins the table holds.
pub const CAPACITY: usize = 1024;

/// The transport a message came over, as syslog-ng's PROTO shows it (the IP
/// protocol number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    /// Sluice's own messages (internal()).
    Local,
}

impl Proto {
    /// `6`, `17`, or nothing for a local source.
    pub fn number(self) -> Option<u8> {
        match self {
            Proto::Tcp => Some(6),
            Proto::Udp => Some(17),
            Proto::Local => None,
        }
    }
}

/// One source driver's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The source object's name (`s_net`).
    pub source: String,
    pub proto: Proto,
    /// The address the listener is bound to.
    pub local: Option<SocketAddr>,
}

/// An index into the origin table; `OriginId::default()` is "unknown".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OriginId(u16);

static TABLE: [OnceLock<Origin>; CAPACITY] = [const { OnceLock::new() }; CAPACITY];
/// Serialises interning; readers never take it.
static INTERN: Mutex<usize> = Mutex::new(1);

impl OriginId {
    /// The id of `origin`, the same one every time it is interned.
    pub fn intern(origin: Origin) -> OriginId {
        let mut used = INTERN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = (1..*used).find(|&i| TABLE[i].get() == Some(&origin)) {
            return OriginId(i as u16);
        }
        if *used >= CAPACITY {
            tracing::warn!(source = %origin.source, "too many distinct sources over the daemon's life; SOURCE and PROTO of this one read empty");
            return OriginId::default();
        }
        let i = *used;
        let _ = TABLE[i].set(origin);
        *used += 1;
        OriginId(i as u16)
    }

    /// The table index: equal for equal origins.
    pub fn index(self) -> u16 {
        self.0
    }

    /// The origin, `None` when unknown.
    pub fn get(self) -> Option<&'static Origin> {
        TABLE.get(self.0 as usize)?.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_by_content() {
        let o = |name: &str| Origin {
            source: name.into(),
            proto: Proto::Tcp,
            local: "127.0.0.1:514".parse().ok(),
        };
        let a = OriginId::intern(o("origin-test-a"));
        let b = OriginId::intern(o("origin-test-b"));
        assert_ne!(a, b);
        assert_eq!(OriginId::intern(o("origin-test-a")), a);
        assert_eq!(a.get().map(|o| o.source.as_str()), Some("origin-test-a"));
        assert_eq!(OriginId::default().get(), None);
    }
}
