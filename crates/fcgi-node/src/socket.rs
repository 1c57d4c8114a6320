//! The connection task's side of a socket, for the driver (driver.rs): the stream, its guard against writes from the JS thread after close,
//! the write step, waiting for the socket / the JS thread / a deadline, read-buffer room, and
//! the panic guard that keeps a bug to one connection.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;

use futures_util::FutureExt;
use tokio::io::{Interest, Ready};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::events::LogLevel;
use crate::output::OutQueue;
use crate::server::Shared;

pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub(crate) async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        match self {
            Stream::Tcp(s) => s.ready(interest).await,
            Stream::Unix(s) => s.ready(interest).await,
        }
    }

    pub(crate) fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read_buf(buf),
            Stream::Unix(s) => s.try_read_buf(buf),
        }
    }

    pub(crate) fn try_write_vectored(&self, bufs: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write_vectored(bufs),
            Stream::Unix(s) => s.try_write_vectored(bufs),
        }
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    /// Local and peer addresses (TCP only), for HTTP's CGI params.
    pub(crate) fn addrs(&self) -> (Option<std::net::SocketAddr>, Option<std::net::SocketAddr>) {
        match self {
            Stream::Tcp(s) => (s.local_addr().ok(), s.peer_addr().ok()),
            Stream::Unix(_) => (None, None),
        }
    }

    pub(crate) fn shutdown_write(&self) {
        let sock = match self {
            Stream::Tcp(s) => socket2::SockRef::from(s),
            Stream::Unix(s) => socket2::SockRef::from(s),
        };
        let _ = sock.shutdown(std::net::Shutdown::Write);
    }
}

/// What one write step of a connection task achieved.
pub(crate) enum Wrote {
    /// Everything owed went out (the buffer is empty again).
    Flushed,
    /// The socket took what it could; wait until it is writable.
    Blocked,
    Failed(io::Error),
}

/// Write what the socket takes now of `wq`.
pub(crate) fn write_ready(
    stream: &Stream,
    wq: &mut OutQueue,
    sh: &Shared,
    last_activity: &mut Instant,
) -> Wrote {
    loop {
        match wq.write_with(|slices| stream.try_write_vectored(slices)) {
            Ok(n) => {
                sh.stats
                    .bytes_written
                    .fetch_add(n as u64, Ordering::Relaxed);
                *last_activity = Instant::now();
                if wq.is_empty() {
                    return Wrote::Flushed;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Wrote::Blocked,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Wrote::Failed(e),
        }
    }
}

/// A read or write error ends the connection; it is logged unless the connection was
/// lingering anyway (then the peer closing on us is expected).
pub(crate) fn log_io_error(sh: &Shared, lingering: bool, op: &str, e: &io::Error) {
    if !lingering {
        sh.log(
            LogLevel::Info,
            &format!("connection error: {op} {}", os_code(e)),
        );
    }
}

pub(crate) fn os_code(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(104) => "ECONNRESET".into(),
        Some(32) => "EPIPE".into(),
        Some(110) => "ETIMEDOUT".into(),
        Some(113) => "EHOSTUNREACH".into(),
        _ => e.to_string(),
    }
}

/// The task's socket. Dropping it (normally or while unwinding from a panic) first runs
/// `detach`, which withdraws the descriptor from the JS thread (`Output::detach`), then closes it.
pub(crate) struct TaskStream {
    stream: Stream,
    detach: Box<dyn Fn() + Send + Sync>,
}

impl TaskStream {
    pub fn new(stream: Stream, detach: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            stream,
            detach: Box::new(detach),
        }
    }
}

impl Drop for TaskStream {
    fn drop(&mut self) {
        (self.detach)();
    }
}

impl std::ops::Deref for TaskStream {
    type Target = Stream;
    fn deref(&self) -> &Stream {
        &self.stream
    }
}

/// Runs a connection task; a panic in it costs that connection only: `on_panic` logs it and
/// releases the connection's requests, and the process goes on.
pub(crate) fn spawn_guarded(
    task: impl Future<Output = ()> + Send + 'static,
    on_panic: impl FnOnce() + Send + 'static,
) {
    crate::runtime().spawn(async move {
        if AssertUnwindSafe(task).catch_unwind().await.is_err() {
            on_panic();
        }
    });
}

/// What woke a connection task.
pub(crate) enum Woke {
    Socket(Ready),
    /// The socket failed (logged unless the connection was lingering): the connection is lost.
    Lost,
    /// The JS thread (`Notify`): new output, a destroy, a resume...
    Js,
    Deadline,
}

/// When a task must wake up anyway: the end of its linger, else the idle timeout or the
/// protocol's own deadline (params / request head), whichever comes first.
pub(crate) fn next_deadline(
    linger: Option<Instant>,
    idle_at: Instant,
    protocol: Option<Instant>,
) -> Instant {
    linger.unwrap_or_else(|| protocol.map_or(idle_at, |p| p.min(idle_at)))
}

/// Waits for the socket (readable when `read`, writable when `write`), the JS thread, or
/// `deadline`.
pub(crate) async fn wait(
    stream: &Stream,
    (read, write): (bool, bool),
    wake: &Notify,
    deadline: Instant,
    sh: &Shared,
    lingering: bool,
) -> Woke {
    let interest = match (read, write) {
        (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
        (true, false) => Some(Interest::READABLE),
        (false, true) => Some(Interest::WRITABLE),
        (false, false) => None,
    };
    tokio::select! {
        r = stream.ready(interest.unwrap_or(Interest::READABLE)), if interest.is_some() => match r {
            Ok(ready) => Woke::Socket(ready),
            Err(e) => {
                if !lingering {
                    sh.log(LogLevel::Info, &format!("connection error: {}", os_code(&e)));
                }
                Woke::Lost
            }
        },
        _ = wake.notified() => Woke::Js,
        _ = tokio::time::sleep_until(deadline) => Woke::Deadline,
    }
}

/// Makes room for a read of about `chunk` bytes in `buf`, whose bytes before `pos` are consumed.
pub(crate) fn make_room(buf: &mut Vec<u8>, pos: &mut usize, chunk: usize) {
    if buf.capacity() - buf.len() < chunk / 2 {
        if *pos > 0 {
            buf.drain(..*pos);
            *pos = 0;
        }
        buf.reserve(chunk);
    }
}
