//! The UDP listener: one datagram is one message. Datagrams that arrive together
//! are received into one buffer and handed on as one batch.

use super::{Listener, ListenerConfig};
use crate::message::{Flags, Timestamp, Zone};
use crate::net::socket::set_rcvbuf;
use bytes::BytesMut;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

/// Datagrams gathered into one batch at most.
const MAX_BATCH: usize = 512;
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_536;

/// Starts receiving on a bound socket.
pub fn start(
    std_socket: std::net::UdpSocket,
    config: Arc<ListenerConfig>,
    stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) -> std::io::Result<Listener> {
    std_socket.set_nonblocking(true)?;
    set_rcvbuf(std_socket.as_raw_fd(), config.options.so_rcvbuf);
    let socket = UdpSocket::from_std(std_socket)?;
    let local_addr = socket.local_addr()?;
    let (tx, rx) = watch::channel(config);
    let task = tokio::spawn(receive_loop(socket, rx, stop, alive));
    Ok(Listener::new(local_addr, tx, task))
}

async fn receive_loop(
    socket: UdpSocket,
    mut config: watch::Receiver<Arc<ListenerConfig>>,
    mut stop: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
) {
    let mut buf = BytesMut::with_capacity(MAX_BATCH * 1024);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            changed = config.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            ready = socket.readable() => {
                if let Err(e) = ready {
                    tracing::warn!("udp socket failed: {e}");
                    return;
                }
            }
        }
        let cfg = config.borrow().clone();
        let recvd = Timestamp::now(&Zone::Local);
        let mut messages = Vec::new();
        let (mut oversize, mut malformed, mut empty) = (0u64, 0u64, 0u64);
        for _ in 0..MAX_BATCH {
            if buf.capacity() - buf.len() < MAX_DATAGRAM {
                buf.reserve(MAX_BATCH * 1024);
            }
            let peer = match socket.try_recv_buf_from(&mut buf) {
                Ok((_, peer)) => peer,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!("udp receive failed: {e}");
                    break;
                }
            };
            let mut datagram = buf.split().freeze();
            // An empty datagram is no message (syslog-ng drops it too; one
            // holding only `\n` is an empty message there, and here).
            if datagram.is_empty() {
                empty += 1;
                continue;
            }
            let truncated = datagram.len() > cfg.options.log_msg_size;
            if truncated {
                datagram.truncate(cfg.options.log_msg_size);
                oversize += 1;
            }
            let mut msg = crate::parse::parse(datagram, recvd, Some(peer), &cfg.parse);
            msg.origin = cfg.origin;
            let name = cfg.host.resolve(peer.ip()).await;
            cfg.host.apply(&mut msg, name.as_ref());
            if truncated {
                msg.flags.insert(Flags::TRUNCATED);
            }
            if msg.flags.contains(Flags::PARSE_ERROR) {
                malformed += 1;
            }
            messages.push(msg);
        }
        if cfg.rcptid {
            crate::sources::number(&mut messages);
        }
        cfg.stats.received.add(messages.len() as u64);
        cfg.stats.oversize.add(oversize);
        cfg.stats.malformed.add(malformed);
        cfg.stats.empty.add(empty);
        if !messages.is_empty() {
            cfg.routes.dispatch(messages, &cfg.stats).await;
        }
    }
}
