//! The native engine of `fcgi`: a Tokio runtime owns the listeners and connections and
//! speaks FastCGI (`fcgi-proto`) or HTTP/1.1 (`fcgi-http`); JavaScript only sees requests and
//! answers them.
//!
//! - `server.rs`: listener, accept loop, counters, graceful close.
//! - `driver.rs`: ONE connection driver for both protocols (`Conn<W: Wire>`: loop, output,
//!   read budget, flush, close, destroy); `fcgi_wire.rs` and `http_wire.rs` plug the codecs
//!   into it. `socket.rs` and `output.rs` are its socket and output queue; `head.rs` takes a
//!   response head from JavaScript.
//! - `events.rs`: the queue to JavaScript, and the codes that cross (exported below as
//!   `#[napi]` enums, so the adapter imports them from the generated binding/index.d.cts).
//!
//! The boundary:
//! - Rust → JS: ONE threadsafe function per server. Events are queued (`events.rs`) and
//!   JavaScript is woken once per batch, receiving the whole batch as one Buffer.
//! - JS → Rust: one synchronous call per response part (`NativeServer.send`): the head as a
//!   status and one latin1 string of NUL-terminated header names and values, which the protocol encodes straight
//!   into the connection's write buffer; false under backpressure, and a drain event comes back
//!   through the queue.

#![deny(clippy::all)]

mod driver;
mod events;
mod fcgi_wire;
mod head;
mod http_wire;
mod output;
mod server;
mod socket;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::JsString;

use napi_derive::napi;
use tokio::runtime::Runtime;

use crate::driver::{AnyConn, Part};
use crate::events::{lock, Events};
use crate::head::with_head;
use crate::output::Body;
use crate::server::{BoundAddress, Opts, Shared};

pub use crate::events::{AbortReason, ArgFlag, EventKind, LogLevel, RoleCode};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The process-wide Tokio runtime: FCGI_NATIVE_THREADS worker threads (default: 2, or 1
/// on a one-core machine; measured on 2 cores, 2 workers beat 1 by ~10 % on hello world).
pub(crate) fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        let threads = std::env::var("FCGI_NATIVE_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(2)));
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("fcgi-io")
            .enable_all()
            .build()
            .expect("cannot start the Tokio runtime")
    })
}

#[napi(object)]
pub struct NativeOptions {
    /// 'fcgi' (default) | 'http'
    pub protocol: Option<String>,
    /// 'unix' | 'tcp' | 'fd'
    pub kind: String,
    pub path: Option<String>,
    pub host: Option<String>,
    pub port: Option<u32>,
    pub fd: Option<i32>,
    pub max_conns: f64,
    pub max_reqs: f64,
    pub max_params_bytes: f64,
    pub max_params: f64,
    /// Infinity: unlimited.
    pub max_body_bytes: f64,
    /// HTTP: the longest request-target (414).
    pub max_url_bytes: Option<f64>,
    pub params_timeout: f64,
    pub idle_timeout: f64,
    pub allowed_addresses: Vec<String>,
}

#[napi(object)]
pub struct NativeAddress {
    /// 'unix' | 'tcp'
    pub kind: String,
    pub path: Option<String>,
    pub host: Option<String>,
    pub port: Option<u32>,
}

#[napi(object)]
pub struct NativeStats {
    pub connections: f64,
    pub connections_total: f64,
    pub requests_active: f64,
    pub requests_total: f64,
    pub errors: f64,
    pub aborts: f64,
    pub bytes_read: f64,
    pub bytes_written: f64,
    /// Times JavaScript was woken with a batch (not part of ServerStats).
    pub wakeups: f64,
}

fn count(v: f64) -> usize {
    if v.is_finite() && v >= 0.0 {
        v as usize
    } else if v > 0.0 {
        usize::MAX / 4
    } else {
        0
    }
}

fn millis(v: f64) -> Duration {
    // far beyond any real timeout, and far from Instant overflow
    const MAX_MS: f64 = 1e11;
    Duration::from_millis(if v.is_finite() {
        v.clamp(0.0, MAX_MS)
    } else {
        MAX_MS
    } as u64)
}

/// One listening server of the native engine.
#[napi]
pub struct NativeServer {
    shared: Arc<Shared>,
    kind: String,
    path: Option<String>,
    host: Option<String>,
    port: Option<u32>,
}

#[napi]
impl NativeServer {
    /// Opens the listener and starts accepting. `on_batch(buffer)` runs on the JS thread
    /// once per batch of events. Listen errors are thrown as `CODE|message`.
    #[napi(constructor, catch_unwind)]
    pub fn new(options: NativeOptions, on_batch: Function<Buffer, ()>) -> Result<Self> {
        let events = Arc::new(Events::default());
        let taker = events.clone();
        let tsfn = on_batch
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            // The batch is copied into a Buffer that V8 allocates: V8 counts that memory and
            // collects it in time. A Buffer made from the Vec (external memory) is invisible
            // to the GC: under a 100 MiB upload the RSS grew by 80 MiB before a collection.
            .build_callback(move |ctx| BufferSlice::copy_from(&ctx.env, taker.take()))?;
        let opts = Opts {
            http: options.protocol.as_deref() == Some("http"),
            max_url_bytes: count(options.max_url_bytes.unwrap_or(8192.0)),
            max_conns: count(options.max_conns),
            max_reqs: count(options.max_reqs),
            max_params_bytes: count(options.max_params_bytes),
            max_params: count(options.max_params),
            max_body_bytes: if options.max_body_bytes.is_finite() {
                options.max_body_bytes.max(0.0) as u64
            } else {
                u64::MAX
            },
            params_timeout: millis(options.params_timeout),
            idle_timeout: millis(options.idle_timeout),
            allowed: options.allowed_addresses,
            panic_param: std::env::var("FCGI_NATIVE_PANIC_PARAM")
                .ok()
                .filter(|name| !name.is_empty())
                .map(String::into_bytes),
        };
        let shared = Arc::new(Shared::new(opts, events));
        let rt = runtime();
        let _enter = rt.enter();
        let (listener, address) = server::bind(
            &options.kind,
            options.path.as_deref(),
            options.host.as_deref(),
            options.port.unwrap_or(0).min(65535) as u16,
            options.fd.unwrap_or(-1),
        )
        .map_err(|e| Error::new(Status::GenericFailure, format!("{}|{}", e.code, e.message)))?;
        *shared.waker.write().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(move || {
            tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }));
        rt.spawn(server::accept_loop(shared.clone(), listener));
        let (kind, path, host, port) = match address {
            BoundAddress::Unix(p) => ("unix".to_string(), Some(p), None, None),
            BoundAddress::Tcp(h, p) => ("tcp".to_string(), None, Some(h), Some(p as u32)),
        };
        Ok(Self {
            shared,
            kind,
            path,
            host,
            port,
        })
    }

    #[napi(getter)]
    pub fn address(&self) -> NativeAddress {
        NativeAddress {
            kind: self.kind.clone(),
            path: self.path.clone(),
            host: self.host.clone(),
            port: self.port,
        }
    }

    /// One part of a response: the head (first call only: `status` and `headers`, the names
    /// and values as one latin1 string, each followed by a NUL), a body chunk, and whether this ends the request.
    /// Returns false when the caller should wait for the drain event. A handle that is no
    /// longer active is ignored (returns true).
    #[napi(catch_unwind)]
    pub fn send(
        &self,
        handle: u32,
        status: Option<u32>,
        headers: Option<JsString>,
        body: Option<BufferSlice>,
        end: bool,
    ) -> Result<bool> {
        let body = body.as_ref().map(|b| Body::Copy(b));
        self.send_body(handle, status, headers, body, end)
    }

    /// `send` for a large body (the adapter uses it from 32 KiB on): the body is not copied but
    /// held by reference until the socket took it, as node:net does with `socket.write`; the
    /// caller must not modify it meanwhile.
    #[napi(catch_unwind)]
    pub fn send_held(
        &self,
        handle: u32,
        status: Option<u32>,
        headers: Option<JsString>,
        body: Buffer,
        end: bool,
    ) -> Result<bool> {
        let body = Some(Body::Hold(Arc::new(body)));
        self.send_body(handle, status, headers, body, end)
    }

    fn send_body(
        &self,
        handle: u32,
        status: Option<u32>,
        headers: Option<JsString>,
        body: Option<Body<'_>>,
        end: bool,
    ) -> Result<bool> {
        let Some((conn, id)) = self.lookup(handle) else {
            return Ok(true);
        };
        let Some(status) = status else {
            let head = None;
            return Ok(conn.send(Part {
                handle,
                req: id,
                head,
                body,
                end,
            }));
        };
        // the API layer allows 100-999 (else a RangeError in the handler)
        let status = u16::try_from(status).unwrap_or(500);
        with_head(status, headers.as_ref(), |head| {
            let head = Some(head);
            conn.send(Part {
                handle,
                req: id,
                head,
                body,
                end,
            })
        })
    }

    /// Wake the connections that `send`, `stderr` or `cut` gave output since the last
    /// flush. JavaScript calls it once per batch of responses (a microtask).
    #[napi(catch_unwind)]
    pub fn flush(&self) {
        let dirty = std::mem::take(&mut *lock(&self.shared.dirty));
        for conn in dirty {
            conn.flush();
        }
    }

    /// FCGI_STDERR for a request (HTTP: the adapter logs stderr itself).
    #[napi(catch_unwind)]
    pub fn stderr(&self, handle: u32, chunk: BufferSlice) {
        if let Some((conn, id)) = self.lookup(handle) {
            conn.stderr(handle, id, &chunk);
        }
    }

    /// Cut a response after a handler error: END_REQUEST with appStatus 1; HTTP: the
    /// connection closes.
    #[napi(catch_unwind)]
    pub fn cut(&self, handle: u32) {
        if let Some((conn, id)) = self.lookup(handle) {
            conn.cut(handle, id);
        }
    }

    /// Stop reading the request's connection until `resume` (its BodyStream is full).
    #[napi(catch_unwind)]
    pub fn pause(&self, handle: u32) {
        if let Some((conn, id)) = self.lookup(handle) {
            conn.set_paused(handle, id, true);
        }
    }

    #[napi(catch_unwind)]
    pub fn resume(&self, handle: u32) {
        if let Some((conn, id)) = self.lookup(handle) {
            conn.set_paused(handle, id, false);
        }
    }

    /// Graceful close: stop accepting, let connections finish, force them closed after
    /// `timeout` ms. The `Closed` event comes through `on_batch`.
    #[napi(catch_unwind)]
    pub fn close(&self, timeout: f64) {
        self.shared.close(millis(timeout));
    }

    /// After the closed event: release the threadsafe function so Node can exit.
    #[napi(catch_unwind)]
    pub fn release(&self) {
        let w = self
            .shared
            .waker
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(w);
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> NativeStats {
        use std::sync::atomic::Ordering::Relaxed;
        let s = &self.shared.stats;
        NativeStats {
            connections: s.connections.load(Relaxed) as f64,
            connections_total: s.connections_total.load(Relaxed) as f64,
            requests_active: s.requests_active.load(Relaxed) as f64,
            requests_total: s.requests_total.load(Relaxed) as f64,
            errors: s.errors.load(Relaxed) as f64,
            aborts: s.aborts.load(Relaxed) as f64,
            bytes_read: s.bytes_read.load(Relaxed) as f64,
            bytes_written: s.bytes_written.load(Relaxed) as f64,
            wakeups: self.shared.events.wakeups.load(Relaxed) as f64,
        }
    }
}

impl NativeServer {
    fn lookup(&self, handle: u32) -> Option<(AnyConn, u16)> {
        lock(&self.shared.handles)
            .get(&handle)
            .map(|(c, id)| (c.clone(), *id))
    }
}
