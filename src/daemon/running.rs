//! The running pipeline: listeners, destination workers and the routes between
//! them, and how a new plan is applied to it on reload.
//!
//! A reload binds what is new before it changes anything, so a failure (a port
//! in use) leaves the old config serving. Listeners whose address is unchanged
//! keep their socket and connections; destinations whose options are unchanged
//! keep their worker and queue; the rest drain and close.

use crate::config::plan::{Plan, SourceDriver};
use crate::destinations::worker::Released;
use crate::destinations::{StartContext, Worker, WorkerControl};
use crate::logpath::Queue;
use crate::message::{Origin, OriginId, Proto, Zone};
use crate::parse::ParseOptions;
use crate::sources::internal::InternalConfig;
use crate::sources::network::{Listener, ListenerConfig, Transport, listen_key, tcp, udp};
use crate::telemetry::Registry;
use crate::template::RenderContext;
use anyhow::Context;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::{mpsc, watch};

struct RunningDestination {
    fingerprint: String,
    /// What it owns on disk (or its id): the key of handovers.
    owner: String,
    queue: Queue,
    worker: Worker,
}

/// Everything that runs for one config.
pub struct Running {
    stats: Arc<Registry>,
    control: WorkerControl,
    stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
    hostname: String,
    listeners: HashMap<(Transport, SocketAddr), Listener>,
    destinations: HashMap<String, RunningDestination>,
    /// Workers of replaced destinations, draining; joined at shutdown.
    retired: Vec<JoinHandle<()>>,
    /// Where the `internal()` source of the current config is published.
    internal: watch::Sender<Option<Arc<InternalConfig>>>,
    state_dir: std::path::PathBuf,
}

/// A socket bound for a new listener, not yet serving.
enum Bound {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

impl Running {
    pub fn new(
        stats: Arc<Registry>,
        control: WorkerControl,
        stop: watch::Receiver<bool>,
        alive: mpsc::Sender<()>,
        internal: watch::Sender<Option<Arc<InternalConfig>>>,
        state_dir: std::path::PathBuf,
    ) -> Running {
        Running {
            internal,
            state_dir,
            stats,
            control,
            stop,
            alive,
            hostname: hostname(),
            listeners: HashMap::new(),
            destinations: HashMap::new(),
            retired: Vec::new(),
        }
    }

    /// Makes the running pipeline match `plan`. On error nothing has changed.
    pub fn apply(&mut self, plan: &Plan) -> anyhow::Result<()> {
        // 1. Read TLS keys and bind every new socket first: the steps that can fail.
        let mut tls = HashMap::new();
        let mut bound: HashMap<(Transport, SocketAddr), Bound> = HashMap::new();
        for src in &plan.sources {
            let SourceDriver::Network(opts) = &src.driver else {
                continue;
            };
            if let Some(t) = &opts.tls {
                let config = t
                    .server_config()
                    .with_context(|| format!("source {}: tls()", src.id))?;
                tls.insert(src.id.as_str(), config);
            }
            let key = listen_key(opts);
            if self.listeners.contains_key(&key) {
                continue;
            }
            let sock = match opts.transport {
                Transport::Tcp => std::net::TcpListener::bind(opts.addr).map(Bound::Tcp),
                Transport::Udp => std::net::UdpSocket::bind(opts.addr).map(Bound::Udp),
            }
            .with_context(|| {
                format!(
                    "source {}: cannot listen on {} {}",
                    src.id,
                    opts.label(),
                    opts.addr
                )
            })?;
            bound.insert(key, sock);
        }

        // 2. Destinations: keep unchanged ones, start new ones.
        let mut old = std::mem::take(&mut self.destinations);
        let mut queues = Vec::with_capacity(plan.destinations.len());
        let owner_of = |d: &crate::config::plan::DestinationInstance| {
            d.driver.owner().unwrap_or_else(|| format!("id:{}", d.id))
        };
        // Retire what changed or went first, so that a new destination that
        // owns the same spool waits for the old one to let go of it.
        let mut released: HashMap<String, Released> = HashMap::new();
        let kept: std::collections::HashSet<&str> = plan
            .destinations
            .iter()
            .filter(|d| {
                old.get(&d.id)
                    .is_some_and(|r| r.fingerprint == d.fingerprint)
            })
            .map(|d| d.id.as_str())
            .collect();
        let leaving: Vec<String> = old
            .keys()
            .filter(|id| !kept.contains(id.as_str()))
            .cloned()
            .collect();
        for id in leaving {
            if let Some(r) = old.remove(&id) {
                let owner = r.owner.clone();
                if let Some(rel) = self.retire(r) {
                    released.insert(owner, rel);
                }
            }
        }
        for d in &plan.destinations {
            if let Some(r) = old.remove(&d.id) {
                queues.push(r.queue.clone());
                self.destinations.insert(d.id.clone(), r);
                continue;
            }
            let owner = owner_of(d);
            let stats = self.stats.destination(&d.id);
            let limits = d.driver.queue_limits();
            let (queue, rx) = Queue::new(
                limits.messages.unwrap_or(plan.options.log_fifo_size),
                limits.bytes.unwrap_or(plan.options.log_fifo_bytes),
                stats.clone(),
            );
            let cx = StartContext {
                id: d.id.clone(),
                rx,
                stats,
                control: self.control.clone(),
                predecessor: released.remove(&owner),
                state_dir: self.state_dir.clone(),
            };
            let worker = d
                .driver
                .start(cx, self.render_context(plan))
                .context("cannot start a destination thread")?;
            queues.push(queue.clone());
            self.destinations.insert(
                d.id.clone(),
                RunningDestination {
                    fingerprint: d.fingerprint.clone(),
                    owner,
                    queue,
                    worker,
                },
            );
        }
        for (_, r) in old.drain() {
            drop(self.retire(r));
        }

        // 3. Routes and listener settings; start new listeners, drop removed ones.
        let mut keep = HashMap::new();
        let mut internal = None;
        for (i, src) in plan.sources.iter().enumerate() {
            let routes = plan.routing[i].routes(&queues, self.render_context(plan));
            let opts = match &src.driver {
                SourceDriver::Network(opts) => opts,
                SourceDriver::Internal => {
                    internal = Some(Arc::new(InternalConfig {
                        routes,
                        stats: self.stats.source(&src.id),
                        origin: OriginId::intern(Origin {
                            source: src.object.clone(),
                            proto: Proto::Local,
                            local: None,
                        }),
                    }));
                    continue;
                }
            };
            let cfg = Arc::new(ListenerConfig {
                id: src.id.clone(),
                options: (**opts).clone(),
                parse: ParseOptions {
                    no_parse: opts.no_parse,
                    no_hostname: opts.no_hostname,
                    no_multi_line: opts.no_multi_line,
                    store_raw: opts.store_raw_message,
                    zone: opts
                        .time_zone
                        .clone()
                        .or_else(|| plan.options.recv_time_zone.clone())
                        .unwrap_or(Zone::Local),
                    bad_hostname: plan.options.bad_hostname.clone(),
                },
                routes,
                stats: self.stats.source(&src.id),
                origin: OriginId::intern(Origin {
                    source: src.object.clone(),
                    proto: match opts.transport {
                        Transport::Tcp => Proto::Tcp,
                        Transport::Udp => Proto::Udp,
                    },
                    local: Some(opts.addr),
                }),
                host: plan.options.host_options(opts),
                rcptid: plan.options.rcptid,
                tls: tls.remove(src.id.as_str()),
            });
            let key = listen_key(opts);
            let listener = match (self.listeners.remove(&key), bound.remove(&key)) {
                (Some(existing), _) => {
                    existing.update(cfg);
                    existing
                }
                (None, Some(Bound::Tcp(sock))) => {
                    tcp::start(sock, cfg, self.stop.clone(), self.alive.clone())
                        .context("cannot start a tcp listener")?
                }
                (None, Some(Bound::Udp(sock))) => {
                    udp::start(sock, cfg, self.stop.clone(), self.alive.clone())
                        .context("cannot start a udp listener")?
                }
                (None, None) => continue,
            };
            keep.insert(key, listener);
        }
        // Whatever is left in `self.listeners` is no longer configured: dropping
        // it stops accepting, and its connections close after their batch.
        self.listeners = keep;
        self.internal.send_replace(internal);
        let ids: Vec<String> = plan
            .sources
            .iter()
            .map(|s| format!("source.{}", s.id))
            .chain(
                plan.destinations
                    .iter()
                    .map(|d| format!("destination.{}", d.id)),
            )
            .collect();
        self.stats.retain(|k| ids.iter().any(|i| i == k));
        Ok(())
    }

    /// The local host name, as internal messages and `$LOGHOST` give it.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// What templates of this config render with: its zone and our host name.
    fn render_context(&self, plan: &Plan) -> RenderContext {
        RenderContext {
            zone: plan.options.time_zone.clone(),
            hostname: self.hostname.clone(),
            frac_digits: plan.options.frac_digits,
        }
    }

    /// Winds a destination's worker down; it ends once the routes that still
    /// hold its queue are gone. Returns what a successor waits on.
    fn retire(&mut self, r: RunningDestination) -> Option<Released> {
        drop(r.queue);
        let (thread, released) = r.worker.retire();
        self.retired.push(thread);
        released
    }

    /// Stops listening and hands back every destination thread, to be joined
    /// once the sources have finished their last batches.
    pub fn shut_down(mut self) -> Vec<JoinHandle<()>> {
        self.listeners.clear();
        // The internal() routes hold destination queues too; until they are
        // gone, those destinations cannot finish.
        self.internal.send_replace(None);
        let mut threads = std::mem::take(&mut self.retired);
        threads.extend(
            self.destinations
                .drain()
                .map(|(_, r)| r.worker.into_thread()),
        );
        threads
    }

    /// The address each listener is bound to, as `tcp 127.0.0.1:5514`.
    pub fn listening(&self) -> Vec<String> {
        let mut v: Vec<String> = self.listeners.values().map(Listener::describe).collect();
        v.sort();
        v
    }
}

/// This machine's name, for `LOGHOST`.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it or truncates.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
