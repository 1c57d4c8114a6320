//! One server: its listener and accept loop, its connections, counters, graceful close.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Notify;

use crate::driver::{self, AnyConn};
use crate::events::{lock, AbortReason, Events, LogLevel, EV_CLOSED, EV_LOG};
use crate::fcgi_wire::FcgiWire;
use crate::http_wire::HttpWire;
use crate::socket::Stream;

pub type Waker = Box<dyn Fn() + Send + Sync>;

pub struct Opts {
    /// Serve HTTP/1.1 (http_wire.rs) instead of FastCGI (fcgi_wire.rs).
    pub http: bool,
    /// HTTP: the longest request-target (414).
    pub max_url_bytes: usize,
    pub max_conns: usize,
    pub max_reqs: usize,
    pub max_params_bytes: usize,
    pub max_params: usize,
    /// u64::MAX: unlimited.
    pub max_body_bytes: u64,
    pub params_timeout: Duration,
    pub idle_timeout: Duration,
    pub allowed: Vec<String>,
    /// Fault injection for the tests only: a request whose params contain this name makes its
    /// connection task panic (env FCGI_NATIVE_PANIC_PARAM, read when a server starts). It proves
    /// that a bug in a connection task costs that connection, never the Node process.
    pub panic_param: Option<Vec<u8>>,
}

#[derive(Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
    pub requests_active: AtomicU64,
    pub requests_total: AtomicU64,
    pub errors: AtomicU64,
    pub aborts: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
}

impl Stats {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(c: &AtomicU64) {
        c.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct Shared {
    pub opts: Opts,
    pub events: Arc<Events>,
    pub waker: RwLock<Option<Waker>>,
    pub stats: Stats,
    /// Request handle → its connection and FastCGI id (0 for HTTP).
    pub handles: Mutex<HashMap<u32, (AnyConn, u16)>>,
    next_handle: AtomicU32,
    pub conns: Mutex<HashMap<u64, AnyConn>>,
    /// Connections with output from the JS thread that their task has not been told of.
    pub dirty: Mutex<Vec<AnyConn>>,
    next_conn: AtomicU64,
    pub closing: AtomicBool,
    listener_closed: AtomicBool,
    closed_sent: AtomicBool,
    stop_accept: Notify,
    pub live_conns: AtomicUsize,
}

impl Shared {
    pub fn new(opts: Opts, events: Arc<Events>) -> Self {
        Self {
            opts,
            events,
            waker: RwLock::new(None),
            stats: Stats::default(),
            handles: Mutex::new(HashMap::new()),
            next_handle: AtomicU32::new(1),
            conns: Mutex::new(HashMap::new()),
            dirty: Mutex::new(Vec::new()),
            next_conn: AtomicU64::new(1),
            closing: AtomicBool::new(false),
            listener_closed: AtomicBool::new(false),
            closed_sent: AtomicBool::new(false),
            stop_accept: Notify::new(),
            live_conns: AtomicUsize::new(0),
        }
    }

    pub fn wake(&self) {
        let w = self.waker.read().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = w.as_ref() {
            w();
        }
    }

    pub fn emit(&self, kind: u32, arg: u32, handle: u32, payload: &[u8]) {
        if self.events.push(kind, arg, handle, payload) {
            self.wake();
        }
    }

    pub fn log(&self, level: LogLevel, msg: &str) {
        self.emit(EV_LOG, level as u32, 0, msg.as_bytes());
    }

    /// Fault injection (tests only, see `Opts::panic_param`): panics when a request's params
    /// (FastCGI name-value pairs) hold the configured name.
    pub fn check_panic_injection(&self, params: &[u8]) {
        if let Some(name) = &self.opts.panic_param {
            let injected = fcgi_proto::params::pairs(params)
                .filter_map(Result::ok)
                .any(|pair| pair.name == name.as_slice());
            assert!(!injected, "fault injection: FCGI_NATIVE_PANIC_PARAM");
        }
    }

    pub fn new_handle(&self) -> u32 {
        loop {
            let h = self.next_handle.fetch_add(1, Ordering::Relaxed);
            if h != 0 {
                return h;
            }
        }
    }

    /// A connection task ended.
    pub fn conn_closed(&self, id: u64) {
        lock(&self.conns).remove(&id);
        Stats::dec(&self.stats.connections);
        self.live_conns.fetch_sub(1, Ordering::AcqRel);
        self.maybe_closed();
    }

    fn maybe_closed(&self) {
        if self.closing.load(Ordering::Acquire)
            && self.listener_closed.load(Ordering::Acquire)
            && self.live_conns.load(Ordering::Acquire) == 0
            && !self.closed_sent.swap(true, Ordering::AcqRel)
        {
            self.emit(EV_CLOSED, 0, 0, &[]);
        }
    }

    /// Graceful close: stop accepting, close idle connections, let the others finish;
    /// after `timeout`, force the rest closed.
    pub fn close(self: &Arc<Self>, timeout: Duration) {
        if self.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        self.stop_accept.notify_one();
        let conns: Vec<AnyConn> = lock(&self.conns).values().cloned().collect();
        for c in &conns {
            c.drain_for_close();
        }
        let me = self.clone();
        crate::runtime().spawn(async move {
            tokio::time::sleep(timeout).await;
            let conns: Vec<AnyConn> = lock(&me.conns).values().cloned().collect();
            for c in conns {
                c.destroy(AbortReason::ConnectionClosed);
            }
        });
        self.maybe_closed();
    }
}

pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, Option<PathBuf>),
}

pub enum BoundAddress {
    Unix(String),
    Tcp(String, u16),
}

/// Errors carry a Node-style code so JavaScript can rethrow them with `err.code`.
pub struct ListenError {
    pub code: &'static str,
    pub message: String,
}

fn errno_code(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(98) => "EADDRINUSE",
        Some(99) => "EADDRNOTAVAIL",
        Some(13) => "EACCES",
        Some(1) => "EPERM",
        Some(2) => "ENOENT",
        Some(9) => "EBADF",
        Some(22) => "EINVAL",
        Some(88) => "ENOTSOCK",
        Some(20) => "ENOTDIR",
        Some(36) => "ENAMETOOLONG",
        _ => match e.kind() {
            io::ErrorKind::NotFound => "ENOTFOUND",
            _ => "EIO",
        },
    }
}

fn io_err(e: io::Error, what: &str) -> ListenError {
    let code = errno_code(&e);
    // libuv's wording, as in Node's own listen errors
    let text = match code {
        "EADDRINUSE" => "address already in use".to_string(),
        "EADDRNOTAVAIL" => "address not available".to_string(),
        "EACCES" => "permission denied".to_string(),
        "EPERM" => "operation not permitted".to_string(),
        "ENOENT" => "no such file or directory".to_string(),
        "EBADF" => "bad file descriptor".to_string(),
        "ENOTSOCK" => "socket operation on non-socket".to_string(),
        _ => e.to_string(),
    };
    ListenError {
        code,
        message: format!("listen {code}: {text} {what}"),
    }
}

fn plain_err(code: &'static str, message: String) -> ListenError {
    ListenError { code, message }
}

/// A unix socket file is replaced only if nobody listens on it (the js engine's
/// removeStaleSocket, same messages).
fn remove_stale_socket(path: &str) -> Result<(), ListenError> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    if !meta.file_type().is_socket() {
        return Err(plain_err(
            "EEXIST",
            format!("listen: {path} exists and is not a socket"),
        ));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(plain_err(
            "EADDRINUSE",
            format!("listen: another server is listening on {path}"),
        ));
    }
    std::fs::remove_file(path).map_err(|e| io_err(e, path))
}

const BACKLOG: i32 = 511;

/// Opens the listening socket synchronously (inside the runtime, so Tokio can register it).
pub fn bind(
    kind: &str,
    path: Option<&str>,
    host: Option<&str>,
    port: u16,
    fd: i32,
) -> Result<(Listener, BoundAddress), ListenError> {
    use socket2::{Domain, SockAddr, Socket, Type};
    match kind {
        "unix" => {
            let path = path.unwrap_or("fcgi.sock");
            remove_stale_socket(path)?;
            let sock =
                Socket::new(Domain::UNIX, Type::STREAM, None).map_err(|e| io_err(e, path))?;
            let addr = SockAddr::unix(path).map_err(|e| io_err(e, path))?;
            sock.bind(&addr).map_err(|e| io_err(e, path))?;
            sock.listen(BACKLOG).map_err(|e| io_err(e, path))?;
            sock.set_nonblocking(true).map_err(|e| io_err(e, path))?;
            let std_l: std::os::unix::net::UnixListener = OwnedFd::from(sock).into();
            let l = UnixListener::from_std(std_l).map_err(|e| io_err(e, path))?;
            Ok((
                Listener::Unix(l, Some(PathBuf::from(path))),
                BoundAddress::Unix(path.to_string()),
            ))
        }
        "tcp" => {
            let host = host.unwrap_or("127.0.0.1");
            let what = format!("{host}:{port}");
            let addrs: Vec<SocketAddr> = (host, port)
                .to_socket_addrs()
                .map_err(|e| plain_err("ENOTFOUND", format!("getaddrinfo ENOTFOUND {host}: {e}")))?
                .collect();
            let mut last = None;
            for addr in addrs {
                let sock = match Socket::new(Domain::for_address(addr), Type::STREAM, None) {
                    Ok(s) => s,
                    Err(e) => {
                        last = Some(e);
                        continue;
                    }
                };
                let r = (|| {
                    sock.set_reuse_address(true)?;
                    if addr.is_ipv6() {
                        // Node listens dual-stack on '::'
                        let _ = sock.set_only_v6(false);
                    }
                    sock.bind(&addr.into())?;
                    sock.listen(BACKLOG)?;
                    sock.set_nonblocking(true)
                })();
                match r {
                    Ok(()) => {
                        let std_l: std::net::TcpListener = OwnedFd::from(sock).into();
                        let l = TcpListener::from_std(std_l).map_err(|e| io_err(e, &what))?;
                        let local = l.local_addr().map_err(|e| io_err(e, &what))?;
                        return Ok((
                            Listener::Tcp(l),
                            BoundAddress::Tcp(local.ip().to_string(), local.port()),
                        ));
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(io_err(
                last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrNotAvailable)),
                &what,
            ))
        }
        "fd" => {
            let what = format!("fd {fd}");
            if fd < 0 {
                return Err(plain_err("EBADF", format!("listen EBADF: invalid fd {fd}")));
            }
            // SAFETY: `borrow_raw` requires the descriptor to stay open while the borrow
            // lives; the borrow lives only for this statement, which duplicates it
            // (F_DUPFD_CLOEXEC). If the caller passed a closed descriptor, the dup fails
            // with EBADF and nothing else touches it. The original stays owned by the caller.
            let owned = unsafe { BorrowedFd::borrow_raw(fd) }
                .try_clone_to_owned()
                .map_err(|e| io_err(e, &what))?;
            let sock = Socket::from(owned);
            let local = sock.local_addr().map_err(|e| io_err(e, &what))?;
            sock.set_nonblocking(true).map_err(|e| io_err(e, &what))?;
            if let Some(addr) = local.as_socket() {
                let std_l: std::net::TcpListener = OwnedFd::from(sock).into();
                let l = TcpListener::from_std(std_l).map_err(|e| io_err(e, &what))?;
                Ok((
                    Listener::Tcp(l),
                    BoundAddress::Tcp(addr.ip().to_string(), addr.port()),
                ))
            } else if local.is_unix() {
                let path = local
                    .as_pathname()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let std_l: std::os::unix::net::UnixListener = OwnedFd::from(sock).into();
                let l = UnixListener::from_std(std_l).map_err(|e| io_err(e, &what))?;
                Ok((Listener::Unix(l, None), BoundAddress::Unix(path)))
            } else {
                Err(plain_err(
                    "EINVAL",
                    format!("listen EINVAL: fd {fd} is not a TCP or unix socket"),
                ))
            }
        }
        other => Err(plain_err(
            "EINVAL",
            format!("listen: unknown listen type {other}"),
        )),
    }
}

fn allowed(shared: &Shared, ip: IpAddr) -> bool {
    if shared.opts.allowed.is_empty() {
        return true;
    }
    let s = ip.to_canonical().to_string();
    shared.opts.allowed.contains(&s)
}

/// The accept loop; ends when the server closes.
pub async fn accept_loop(shared: Arc<Shared>, listener: Listener) {
    loop {
        let accepted = tokio::select! {
            _ = shared.stop_accept.notified() => break,
            r = accept(&listener) => r,
        };
        match accepted {
            Ok((stream, peer)) => on_accept(&shared, stream, peer),
            Err(e) => {
                shared.log(LogLevel::Error, &format!("listener: {e}"));
                // EMFILE and friends: give the process a moment instead of spinning
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    if let Listener::Unix(l, Some(path)) = &listener {
        // like Node, the socket file goes away with the listener
        let _ = l.as_raw_fd();
        let _ = std::fs::remove_file(path);
    }
    drop(listener);
    shared.listener_closed.store(true, Ordering::Release);
    shared.maybe_closed();
}

async fn accept(l: &Listener) -> io::Result<(Stream, Option<IpAddr>)> {
    match l {
        Listener::Tcp(l) => {
            let (s, peer) = l.accept().await?;
            Ok((Stream::Tcp(s), Some(peer.ip())))
        }
        Listener::Unix(l, _) => {
            let (s, _) = l.accept().await?;
            Ok((Stream::Unix(s), None))
        }
    }
}

fn on_accept(shared: &Arc<Shared>, stream: Stream, peer: Option<IpAddr>) {
    let live = shared.live_conns.load(Ordering::Acquire);
    // FastCGI accepts some connections past maxConns to answer FCGI_OVERLOADED; HTTP has no
    // such answer and drops them at once, as node:http does with server.maxConnections
    let cap = if shared.opts.http {
        shared.opts.max_conns
    } else {
        shared.opts.max_conns + fcgi_proto::server::OVERLOAD_SLACK
    };
    if shared.closing.load(Ordering::Acquire) || live >= cap {
        return; // dropped: closed at once
    }
    if let Some(ip) = peer {
        if !allowed(shared, ip) {
            shared.log(
                LogLevel::Warn,
                &format!(
                    "connection from {ip} refused: not in allowedAddresses (FCGI_WEB_SERVER_ADDRS)"
                ),
            );
            Stats::inc(&shared.stats.errors);
            return;
        }
    }
    if let Stream::Tcp(s) = &stream {
        let _ = s.set_nodelay(true);
    }
    Stats::inc(&shared.stats.connections);
    Stats::inc(&shared.stats.connections_total);
    shared.live_conns.fetch_add(1, Ordering::AcqRel);
    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    // where a connection is served: the runtime's threads, one task each (driver.rs)
    if shared.opts.http {
        let wire = HttpWire::new(shared, stream.addrs());
        driver::start(id, shared, wire, stream);
    } else {
        let wire = FcgiWire::new(shared, live >= shared.opts.max_conns);
        driver::start(id, shared, wire, stream);
    }
}
