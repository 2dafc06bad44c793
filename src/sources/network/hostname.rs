//! syslog-ng's hostname options on a received message: `use-dns()` (the
//! peer's name as HOST_FROM, through a small cache), `use-fqdn()`,
//! `normalize-hostnames()`, `keep-hostname()` and `chain-hostnames()`.
//!
//! Names are resolved once per TCP connection and once per cache lifetime for
//! a UDP peer, on a blocking thread (getnameinfo may wait on DNS).

use crate::message::{Field, Flags, Message};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a source treats host names (global options, overridden per source).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostOptions {
    /// HOST is the name the sender wrote; without it, HOST is HOST_FROM.
    pub keep_hostname: bool,
    /// HOST becomes `sent/HOST_FROM`; `${HOST}` shows the first, `${FULLHOST}` all.
    pub chain_hostnames: bool,
    pub use_dns: UseDns,
    /// HOST_FROM keeps the domain of a resolved name.
    pub use_fqdn: bool,
    /// Resolved names are lowercased.
    pub normalize_hostnames: bool,
    /// Resolved names are cached (dns-cache()).
    pub dns_cache: bool,
    /// dns-cache-hosts(): a hosts-format file consulted before DNS, and the
    /// only source of names with use-dns(persist-only).
    pub hosts_file: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UseDns {
    #[default]
    No,
    Yes,
    /// Only the dns-cache-hosts() file, never a DNS query.
    PersistOnly,
}

impl UseDns {
    pub fn parse(s: &str) -> UseDns {
        match s {
            "yes" => UseDns::Yes,
            "persist-only" | "persist_only" => UseDns::PersistOnly,
            _ => UseDns::No,
        }
    }
}

/// syslog-ng's dns-cache-size(), dns-cache-expire() and dns-cache-expire-failed()
/// defaults.
const CACHE_SIZE: usize = 1007;
const EXPIRE: Duration = Duration::from_secs(3600);
const EXPIRE_FAILED: Duration = Duration::from_secs(60);

/// A name (or a failed lookup) and when it expires, by address and mode.
type Cache = HashMap<(IpAddr, UseDns), (Option<Arc<str>>, Instant)>;

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

impl HostOptions {
    /// The name HOST_FROM shows for `ip`, when use-dns() asks for one.
    pub async fn resolve(&self, ip: IpAddr) -> Option<Arc<str>> {
        if self.use_dns == UseDns::No {
            return None;
        }
        let name = self.lookup(ip).await?;
        // Without use-fqdn() a name keeps its first label (HOST_FROM and
        // FULLHOST_FROM alike, as in syslog-ng).
        let short = match self.use_fqdn {
            false => name.split('.').next().unwrap_or(&name),
            true => &name,
        };
        Some(
            match (self.normalize_hostnames, short.len() == name.len()) {
                (true, _) => Arc::from(short.to_ascii_lowercase()),
                (false, true) => name,
                (false, false) => Arc::from(short),
            },
        )
    }

    /// The name as resolved (or cached), before normalizing.
    async fn lookup(&self, ip: IpAddr) -> Option<Arc<str>> {
        let key = (ip, self.use_dns);
        let now = Instant::now();
        if self.dns_cache {
            let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((name, until)) = cache.as_ref().and_then(|c| c.get(&key))
                && *until > now
            {
                return name.clone();
            }
        }
        let (mode, hosts) = (self.use_dns, self.hosts_file.clone());
        let found: Option<Arc<str>> = tokio::task::spawn_blocking(move || {
            let listed = hosts.as_deref().and_then(|f| from_hosts_file(f, ip));
            match mode {
                UseDns::PersistOnly => listed,
                _ => listed.or_else(|| reverse_lookup(ip)),
            }
        })
        .await
        .ok()
        .flatten()
        .map(Arc::from);
        if self.dns_cache {
            let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
            let map = cache.get_or_insert_with(HashMap::new);
            if map.len() >= CACHE_SIZE {
                map.retain(|_, (_, until)| *until > now);
                if map.len() >= CACHE_SIZE {
                    map.clear();
                }
            }
            let ttl = if found.is_some() {
                EXPIRE
            } else {
                EXPIRE_FAILED
            };
            map.insert(key, (found.clone(), now + ttl));
        }
        found
    }

    /// Applies the options to a parsed message whose peer resolved to `name`.
    pub fn apply(&self, msg: &mut Message, name: Option<&Arc<str>>) {
        msg.host_from = name.cloned();
        if self.chain_hostnames {
            let mut chain = Vec::with_capacity(64);
            match msg.get(Field::Host).filter(|h| !h.is_empty()) {
                Some(sent) => chain.extend_from_slice(sent),
                None => crate::template::host_from(msg, &mut chain),
            }
            chain.push(b'/');
            crate::template::host_from(msg, &mut chain);
            msg.set_owned(Field::Host, &chain);
            msg.flags.insert(Flags::CHAINED);
        } else if !self.keep_hostname {
            msg.clear(Field::Host);
        }
    }
}

/// The peer's name by reverse lookup (getnameinfo, NI_NAMEREQD).
fn reverse_lookup(ip: IpAddr) -> Option<String> {
    let (storage, len) = sockaddr(ip);
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes; getnameinfo
    // writes a NUL-terminated name of at most `host.len()` bytes into `host`.
    let rc = unsafe {
        libc::getnameinfo(
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success getnameinfo wrote a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

fn sockaddr(ip: IpAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match ip {
        IpAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is large enough for any sockaddr.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        IpAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: as above.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The first name a hosts-format file gives `ip`.
fn from_hosts_file(file: &std::path::Path, ip: IpAddr) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .find_map(|l| {
            let mut words = l.split_whitespace();
            let addr: IpAddr = words.next()?.parse().ok()?;
            (addr == ip).then(|| words.next().map(str::to_string))?
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_a_hosts_file() {
        let f = std::env::temp_dir().join(format!("sluice-hosts-{}", std::process::id()));
        std::fs::write(
            &f,
            "# comment\n192.0.2.1 web01.example.com web01\n::1 six # v6\n",
        )
        .unwrap();
        let name = |ip: &str| from_hosts_file(&f, ip.parse().unwrap());
        assert_eq!(name("192.0.2.1").as_deref(), Some("web01.example.com"));
        assert_eq!(name("::1").as_deref(), Some("six"));
        assert_eq!(name("192.0.2.77"), None);
        std::fs::remove_file(&f).unwrap();
    }
}
