//! Starting the daemon on free loopback ports, talking to it, and reading what it
//! wrote.

#![allow(dead_code)]

use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");
pub const SLUICE_CTL: &str = env!("CARGO_BIN_EXE_sluice-ctl");

/// The repository root, for shipped configs and snippets.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory removed when the test ends.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        Self::new_in(&std::env::temp_dir(), name)
    }

    /// A scratch directory under `parent` (`/dev/shm`, say), removed when the
    /// test ends.
    pub fn new_in(parent: &Path, name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = parent.join(format!(
            "sluice-it-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.join(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A named pipe `name` in the directory (with coreutils' mkfifo).
    pub fn fifo(&self, name: &str) -> PathBuf {
        let p = self.join(name);
        let made = Command::new("mkfifo").arg(&p).status().expect("run mkfifo");
        assert!(made.success(), "mkfifo {}", p.display());
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A loopback port free for both TCP and UDP right now.
pub fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A running daemon with its own config, control socket, pid file and state dir.
pub struct Daemon {
    pub child: Child,
    pub dir: TempDir,
    pub conf: PathBuf,
    pub ctl: PathBuf,
    pub stderr: PathBuf,
}

impl Daemon {
    /// Starts `sluice -F` on `config` (written to `sluice.conf` in a fresh
    /// directory, which is also the working directory) and waits until it answers.
    pub fn start(config: &str) -> Daemon {
        Self::try_start(config).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_start(config: &str) -> Result<Daemon, String> {
        let dir = TempDir::new("daemon");
        Self::start_in(dir, config)
    }

    pub fn start_in(dir: TempDir, config: &str) -> Result<Daemon, String> {
        Self::start_limited(dir, config, None, None)
    }

    /// Starts the daemon with at most `nofile` open descriptors (RLIMIT_NOFILE).
    pub fn start_with_nofile(config: &str, nofile: u64) -> Daemon {
        Self::start_limited(TempDir::new("daemon"), config, Some(nofile), None)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the daemon in a mount namespace of its own (util-linux
    /// `unshare`, as root or in a user namespace) where `dir/small` is a
    /// tmpfs of `kib` KiB: a disk that fills up, for what `config` puts
    /// there (`{small}` in it stands for the path).
    pub fn start_with_small_disk(config: &str, kib: u64) -> Daemon {
        let dir = TempDir::new("daemon");
        let small = dir.join("small");
        std::fs::create_dir_all(&small).unwrap();
        let config = config.replace("{small}", &small.display().to_string());
        Self::start_limited(dir, &config, None, Some((small, kib)))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn start_limited(
        dir: TempDir,
        config: &str,
        nofile: Option<u64>,
        small_disk: Option<(PathBuf, u64)>,
    ) -> Result<Daemon, String> {
        let conf = dir.write("sluice.conf", config);
        let ctl = dir.join("sluice.ctl");
        let stderr = dir.join("stderr.log");
        let mut cmd = match &small_disk {
            // unshare execs the shell, which mounts and execs sluice: the
            // child is the daemon itself.
            Some((path, kib)) => {
                let mut c = Command::new("unshare");
                c.args(["--user", "--map-root-user", "--mount", "sh", "-c"])
                    .arg(format!(
                        "mount -t tmpfs -o size={kib}k sluice-small \"$0\" && exec \"$@\""
                    ))
                    .arg(path)
                    .arg(SLUICE);
                c
            }
            None => Command::new(SLUICE),
        };
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe and touches no memory of
            // the parent.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd
            .args(["-F", "-e", "-d", "-f"])
            .arg(&conf)
            .arg("-c")
            .arg(&ctl)
            .arg("-p")
            .arg(dir.join("sluice.pid"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .map_err(|e| format!("cannot start sluice: {e}"))?;
        let mut d = Daemon {
            child,
            dir,
            conf,
            ctl,
            stderr,
        };
        let up = wait_until(Duration::from_secs(20), || {
            if let Ok(Some(_)) = d.child.try_wait() {
                return true;
            }
            d.ctl_ok(&["healthcheck"])
        });
        if let Ok(Some(status)) = d.child.try_wait() {
            return Err(format!("sluice exited with {status}:\n{}", d.log()));
        }
        if !up {
            return Err(format!("sluice did not come up:\n{}", d.log()));
        }
        Ok(d)
    }

    /// The daemon's process id, for /proc/PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The daemon's internal log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Runs `sluice-ctl -c CTL ARGS`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(SLUICE_CTL)
            .arg("-c")
            .arg(&self.ctl)
            .args(args)
            .output()
            .expect("run sluice-ctl")
    }

    fn ctl_ok(&self, args: &[&str]) -> bool {
        self.ctl.exists() && self.ctl(args).status.success()
    }

    /// One counter from `sluice-ctl stats` (`source.s#0.received`).
    pub fn stat(&self, name: &str) -> u64 {
        let out = self.ctl(&["stats"]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                (k == name).then(|| v.parse().ok())?
            })
            .unwrap_or(0)
    }

    /// Waits up to `timeout` for counter `name` to reach `n`; fails the test
    /// with the daemon's log otherwise.
    pub fn await_stat(&self, name: &str, n: u64, timeout: Duration) {
        assert!(
            wait_until(timeout, || self.stat(name) == n),
            "{name} stayed at {} (not {n}); log:\n{}",
            self.stat(name),
            self.log()
        );
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc_kill(self.child.id() as i32, sig) };
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(mut self) -> ExitStatus {
        self.terminate()
    }

    /// Sends SIGTERM and waits for the exit, keeping the directory to inspect.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(SIGTERM);
        self.wait(Duration::from_secs(30))
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let end = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("sluice did not exit in time:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// kill -9, then hands back the directory (config, state and all) for a
    /// restart with [`Daemon::start_in`].
    pub fn crash(mut self) -> TempDir {
        self.signal(SIGKILL);
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, TempDir::new("crashed"))
    }

    /// Rewrites the config file (for reload tests).
    pub fn rewrite(&self, config: &str) {
        std::fs::write(&self.conf, config).unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub const SIGHUP: i32 = 1;
pub const SIGKILL: i32 = 9;
pub const SIGUSR1: i32 = 10;
pub const SIGTERM: i32 = 15;

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Sends `sig` to a process this test started.
pub fn signal_pid(pid: u32, sig: i32) {
    // SAFETY: a plain kill(2) on a child of this process.
    unsafe { libc_kill(pid as i32, sig) };
}

/// Sends newline-framed lines over one TCP connection.
pub fn send_tcp(port: u16, lines: impl IntoIterator<Item = String>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut buf = Vec::new();
    for l in lines {
        buf.extend_from_slice(l.as_bytes());
        buf.push(b'\n');
        if buf.len() > 64 * 1024 {
            s.write_all(&buf).unwrap();
            buf.clear();
        }
    }
    s.write_all(&buf).unwrap();
    s.flush().unwrap();
}

/// The lines of a file, empty when it does not exist yet.
pub fn lines(path: &Path) -> Vec<String> {
    // Lossy: a test may send bytes that are not UTF-8, and they are written as sent.
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Waits until `path` holds at least `n` lines and returns them.
pub fn wait_lines(path: &Path, n: usize, timeout: Duration) -> Vec<String> {
    let mut got = Vec::new();
    wait_until(timeout, || {
        got = lines(path);
        got.len() >= n
    });
    got
}

/// Whether an external tool is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// An external tool the test suite needs; the test command installs it, so its
/// absence is a failure unless SLUICE_IT_SKIP_MISSING=1 says otherwise.
pub fn require(tool: &str) -> bool {
    if have(tool) {
        return true;
    }
    if std::env::var("SLUICE_IT_SKIP_MISSING").as_deref() == Ok("1") {
        eprintln!("skipping: {tool} is not installed");
        return false;
    }
    panic!("{tool} is not installed; run the suite through tests/run.sh, which installs it");
}

/// `text` as an RFC 3164 line, so `${MESSAGE}` renders exactly `text`.
pub fn sl(text: &str) -> String {
    format!("<13>Nov 23 14:07:17 host app: {text}")
}

/// `sluice -s -f conf`: the exit code and stderr.
pub fn syntax_check(conf: &Path) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["-s", "-f"])
        .arg(conf)
        .output()
        .expect("run sluice -s");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs syslog-ng's `loggen` with `args` (transport and mode flags) sending
/// `n` messages of 200 bytes to 127.0.0.1:`port`, and asserts it succeeded.
pub fn loggen(args: &[&str], n: usize, port: u16) {
    let o = Command::new("loggen")
        .args(args)
        .args(["--rate", "50000", "--interval", "100000", "--size", "200"])
        .args(["--number", &n.to_string(), "127.0.0.1", &port.to_string()])
        .output()
        .expect("run loggen");
    assert!(
        o.status.success(),
        "loggen: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Text that does not compress: words of 16 hex digits from a xorshift
/// generator, the same sequence every run.
pub struct HexNoise(u64);

impl Default for HexNoise {
    fn default() -> HexNoise {
        HexNoise(0x9e37_79b9_7f4a_7c15)
    }
}

impl HexNoise {
    pub fn words(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                format!("{:016x}", self.0)
            })
            .collect()
    }
}
