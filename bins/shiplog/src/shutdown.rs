//! Graceful shutdown: the first SIGTERM or Ctrl-C (SIGINT) stops accepting connections and lets
//! the requests in flight finish, for at most `--shutdown-timeout`; a second signal while they
//! drain stops at once. actix's own handlers treat SIGINT as a forced stop, which would cut off
//! a request in flight when an operator presses Ctrl-C, so the servers run without them and
//! this module decides.

use std::task::Poll;

use actix_web::dev::ServerHandle;
use actix_web::rt::signal::unix::{signal, Signal, SignalKind};

/// SIGTERM and SIGINT, caught from [`Signals::install`] on.
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Catches both signals; call inside the runtime, before the address is announced, so a
    /// signal sent as soon as the server answers is never the default (an abrupt exit).
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for a signal and stops every server in `servers` (the faces, and `/metrics` when
    /// it has an address of its own) gracefully; a second signal stops them at once. The
    /// servers' futures finish when their connections have drained.
    pub async fn stop_on_signal(mut self, servers: Vec<ServerHandle>) {
        let name = self.next().await;
        log::info!("{name} received: no new connections; finishing the requests in flight");
        for server in &servers {
            let server = server.clone();
            actix_web::rt::spawn(async move { server.stop(true).await });
        }
        let name = self.next().await;
        log::warn!("{name} received again: stopping without waiting for the requests in flight");
        for server in servers {
            server.stop(false).await;
        }
    }

    /// The name of whichever signal comes next.
    async fn next(&mut self) -> &'static str {
        std::future::poll_fn(|cx| {
            if self.term.poll_recv(cx).is_ready() {
                Poll::Ready("SIGTERM")
            } else if self.int.poll_recv(cx).is_ready() {
                Poll::Ready("SIGINT")
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
