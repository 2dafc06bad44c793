//! Process life: start-up, the event loop (reload, stop, reopen), and shutdown.
//!
//! Start-up loads and plans the config before anything binds, so a bad config
//! never half-starts. The event loop takes events from signals (SIGHUP, SIGTERM,
//! SIGINT, SIGUSR1) and the control socket alike. Shutdown stops the listeners,
//! waits for every connection to hand on its last batch, then lets each
//! destination drain its queue and close.

mod control;
mod detach;
mod notify;
mod persist;
mod running;

pub use control::VERBS;

use crate::cli::{self, Mode, Settings};
use crate::config::{self, LoadOptions, plan};
use crate::destinations::WorkerControl;
use crate::sources::internal;
use crate::telemetry::Registry;
use running::Running;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// What the event loop reacts to.
#[derive(Debug)]
pub enum Event {
    /// Reload the config; the control socket waits for the outcome.
    Reload(Option<oneshot::Sender<Result<(), String>>>),
    Stop,
    Reopen,
    /// Retry what destinations parked (`sluice-ctl retry`).
    Retry,
}

/// How long a stop waits for connections to hand on their last batch, and then
/// for destinations to drain, before it gives up waiting.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// The `sluice` binary.
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    let settings = match cli::parse(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sluice: {e}\nTry `sluice --help`.");
            return ExitCode::from(2);
        }
    };
    match &settings.mode {
        Mode::Help => {
            print!("{}", cli::help());
            return ExitCode::SUCCESS;
        }
        Mode::Version => {
            println!("sluice {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Mode::ListOptions => {
            print!("{}", config::list_options());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let loaded = match load(&settings) {
        Ok(l) => l,
        Err(text) => {
            eprint!("{text}");
            return ExitCode::FAILURE;
        }
    };
    match &settings.mode {
        Mode::SyntaxOnly => return ExitCode::SUCCESS,
        Mode::Preprocess(path) => {
            let text = config::print(&loaded.config);
            let result = if path.as_os_str() == "-" {
                std::io::stdout().write_all(text.as_bytes())
            } else {
                std::fs::write(path, text)
            };
            return match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sluice: cannot write {}: {e}", path.display());
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    let started = if settings.foreground {
        None
    } else {
        match detach::detach(settings.stderr) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("sluice: cannot daemonize: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let backlog = init_logging(&settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice")
        // A reload parses on a blocking thread of this runtime: give it the stack
        // start-up parsed on (the main thread's 8 MiB), not tokio's 2 MiB, so a
        // config that passed `-s` cannot fail on SIGHUP for want of stack. The
        // parser's nesting limits are sized to fit 2 MiB as well.
        .thread_stack_size(8 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let msg = format!("sluice: cannot start the runtime: {e}\n");
            report_start(started, Some(&msg));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(settings, loaded, started, backlog)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("sluice: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn report_start(started: Option<detach::Started>, error: Option<&str>) {
    if let Some(s) = started {
        s.report(error);
    }
}

/// A loaded config with its plan, or every diagnostic rendered.
struct Loaded {
    config: config::ast::Config,
    plan: plan::Plan,
}

fn load(settings: &Settings) -> Result<Loaded, String> {
    let opts = LoadOptions {
        include_path: settings.include_path.clone(),
        defines: settings.defines.clone(),
    };
    let loaded = config::load_file(&settings.cfgfile, &opts).map_err(|e| e.to_string())?;
    let plan = plan::build(&loaded.config, &loaded.map)
        .map_err(|diags| config::diagnostic::render_all(&diags, &loaded.map))?;
    let shown = config::diagnostic::MAX_SHOWN;
    let mut rest = String::new();
    config::diagnostic::more(
        &mut rest,
        plan.warnings.len().saturating_sub(shown),
        "warning",
    );
    let texts = plan.warnings.iter().take(shown).map(|w| {
        w.render(&loaded.map)
            .replacen(": error: ", ": warning: ", 1)
    });
    for text in texts.chain((!rest.is_empty()).then_some(rest)) {
        if settings.mode == Mode::SyntaxOnly {
            eprint!("{text}");
        } else {
            tracing::warn!("{}", text.trim_end());
        }
    }
    Ok(Loaded {
        config: loaded.config,
        plan,
    })
}

/// The internal log goes to stderr (the journal under systemd, or the terminal
/// with `-e`) and to the `internal()` source; the returned backlog feeds it.
fn init_logging(settings: &Settings) -> internal::Backlog {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = match settings.verbosity {
        0 | 1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let (layer, backlog) = internal::channel();
    let stderr = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::from_level(level))
        .with(stderr)
        .with(layer)
        .try_init();
    backlog
}

async fn serve(
    settings: Settings,
    loaded: Loaded,
    started: Option<detach::Started>,
    backlog: internal::Backlog,
) -> anyhow::Result<()> {
    let stats = Arc::new(Registry::default());
    let control = WorkerControl::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (internal_tx, internal_rx) = watch::channel(None);

    let setup = async {
        std::fs::create_dir_all(&settings.state_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create state directory {}: {e}",
                settings.state_dir.display()
            )
        })?;
        let group = match &settings.control_group {
            Some(name) => {
                let gid = crate::config::schema::resolve_account(
                    crate::config::schema::Account::Group,
                    name,
                )
                .map_err(|e| anyhow::anyhow!("--control-group: {e}"))?;
                u32::try_from(gid).ok()
            }
            None => None,
        };
        let (ctl_listener, ctl_guard) = control::bind(&settings.control, group)?;
        let pid = notify::PidFile::create(&settings.pidfile)?;
        let persist = persist::Persist::start(&settings.state_dir)?;
        crate::template::set_identity(persist.hostid, persist.runid);
        crate::sources::seed_rcptid(persist.next_rcptid);
        let mut running = Running::new(
            stats.clone(),
            control.clone(),
            stop_rx.clone(),
            alive_tx.clone(),
            internal_tx,
            settings.state_dir.clone(),
        );
        running.apply(&loaded.plan)?;
        anyhow::Ok((ctl_listener, ctl_guard, pid, running, persist))
    };
    let (ctl_listener, _ctl_guard, _pid, running, persist) = match setup.await {
        Ok(v) => v,
        Err(e) => {
            report_start(started, Some(&format!("sluice: {e:#}\n")));
            return Err(e);
        }
    };
    tokio::spawn(internal::drain(
        backlog,
        internal_rx,
        running.hostname().to_string(),
    ));
    spawn_signal_thread(events_tx.clone())?;
    let ctl_task = tokio::spawn(control::serve(
        ctl_listener,
        events_tx.clone(),
        stats.clone(),
    ));
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        listening = ?running.listening(),
        "sluice started"
    );
    report_start(started, None);
    notify::sd_notify("READY=1");

    let mut running = running;
    while let Some(event) = events.recv().await {
        match event {
            Event::Reload(reply) => {
                notify::sd_notify("RELOADING=1");
                let result = reload(&settings, &mut running).await;
                match &result {
                    Ok(()) => tracing::info!(listening = ?running.listening(), "config reloaded"),
                    Err(e) => tracing::error!("reload failed, the old config keeps running:\n{e}"),
                }
                notify::sd_notify("READY=1");
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Event::Reopen => {
                control.reopen();
                tracing::info!("reopening destination files");
            }
            Event::Retry => {
                control.retry();
                tracing::info!("retrying what destinations kept after permanent errors");
            }
            Event::Stop => break,
        }
    }

    notify::sd_notify("STOPPING=1");
    tracing::info!("stopping: finishing connections and draining destinations");
    ctl_task.abort();
    let _ = stop_tx.send(true);
    let threads = running.shut_down();
    drop(alive_tx);
    if tokio::time::timeout(STOP_GRACE, alive_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!("connections did not finish within {STOP_GRACE:?}");
    }
    control.stop();
    let joined = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    });
    if tokio::time::timeout(STOP_GRACE, joined).await.is_err() {
        tracing::warn!("destinations did not drain within {STOP_GRACE:?}");
    }
    if let Err(e) = persist.save(crate::sources::next_rcptid()) {
        tracing::warn!("{e:#}");
    }
    tracing::info!("sluice stopped");
    Ok(())
}

async fn reload(settings: &Settings, running: &mut Running) -> Result<(), String> {
    let s = settings.clone();
    let loaded = tokio::task::spawn_blocking(move || load(&s))
        .await
        .map_err(|e| e.to_string())??;
    running.apply(&loaded.plan).map_err(|e| format!("{e:#}\n"))
}

/// Signals arrive on a plain thread (signal-hook) and become events.
fn spawn_signal_thread(events: mpsc::UnboundedSender<Event>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM, SIGUSR1])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let event = match sig {
                    SIGHUP => Event::Reload(None),
                    SIGUSR1 => Event::Reopen,
                    _ => Event::Stop,
                };
                if events.send(event).is_err() {
                    break;
                }
            }
        })?;
    Ok(())
}
