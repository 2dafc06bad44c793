//! What the daemon keeps across restarts in `STATE_DIR/sluice.persist`:
//! HOSTID (random once), RUNID (counts starts) and the next RCPTID. A text file
//! of `key value` lines, replaced atomically (write, fsync, rename).
//!
//! RCPTIDs are reserved ahead at start, so a crash skips numbers but never
//! hands one out twice; a clean stop records where it really got to.

use std::path::{Path, PathBuf};

/// Receipt ids reserved at start beyond the saved counter.
const RESERVE: u64 = 1 << 20;

#[derive(Debug, PartialEq, Eq)]
pub struct Persist {
    path: PathBuf,
    pub hostid: u32,
    pub runid: u64,
    pub next_rcptid: u64,
}

impl Persist {
    /// Reads the state (creating it on first start), counts this run, and
    /// saves the reservation.
    pub fn start(state_dir: &Path) -> anyhow::Result<Persist> {
        let path = state_dir.join("sluice.persist");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        let get = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once(' '))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.trim().to_string())
        };
        let hostid = get("hostid")
            .and_then(|v| u32::from_str_radix(&v, 16).ok())
            .unwrap_or_else(random_hostid);
        let runid = get("runid").and_then(|v| v.parse().ok()).unwrap_or(0) + 1;
        let next_rcptid = get("rcptid")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1u64)
            .max(1);
        let p = Persist {
            path,
            hostid,
            runid,
            next_rcptid,
        };
        p.write(next_rcptid.saturating_add(RESERVE))?;
        Ok(p)
    }

    /// Records where receipt ids got to (at a clean stop).
    pub fn save(&self, next_rcptid: u64) -> anyhow::Result<()> {
        self.write(next_rcptid)
    }

    fn write(&self, next_rcptid: u64) -> anyhow::Result<()> {
        use std::io::Write;
        let tmp = self.path.with_extension("persist.tmp");
        let text = format!(
            "hostid {:08x}\nrunid {}\nrcptid {next_rcptid}\n",
            self.hostid, self.runid
        );
        let mut f = std::fs::File::create(&tmp)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))
    }
}

/// 32 random bits from the kernel, for a new HOSTID.
fn random_hostid() -> u32 {
    use std::io::Read;
    let mut b = [0u8; 4];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if ok.is_err() {
        // No urandom: time and pid still tell two machines' ids apart.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        return t ^ std::process::id().rotate_left(16);
    }
    u32::from_ne_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostid_stays_runid_counts_and_rcptids_are_never_reused() {
        let dir = std::env::temp_dir().join(format!("sluice-persist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let a = Persist::start(&dir).unwrap();
        assert_eq!((a.runid, a.next_rcptid), (1, 1));
        // A crash: nothing saved, the next run starts past the reservation.
        let b = Persist::start(&dir).unwrap();
        assert_eq!(
            (b.hostid, b.runid, b.next_rcptid),
            (a.hostid, 2, 1 + RESERVE)
        );
        b.save(1 + RESERVE + 5).unwrap();
        let c = Persist::start(&dir).unwrap();
        assert_eq!((c.runid, c.next_rcptid), (3, 1 + RESERVE + 5));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
