//! The ceiling: a FastCGI server on Tokio (fcgi-proto's server state machine,
//! the same codec as the native engine) whose handlers are Rust. It answers
//! the bench routes exactly as bench/servers/app.ts does:
//!
//! - `/hello`: `Hello, World!\n` (text/plain); any unknown path too
//! - `/echo`: the request body back (application/octet-stream)
//! - `/big`: 1 MiB (application/octet-stream)
//! - `/params`: the number of params, e.g. `100\n`
//! - `/upload`: reads the body and answers its length, e.g. `1073741824\n`
//!
//! Reading and writing are sequential per connection (write after each batch
//! of records read), which every front end and the load generator tolerate
//! because a response is only written once its request's body is complete.

use std::sync::Arc;
use std::time::Duration;

use fcgi_proto::response_head::stdout_response;
use fcgi_proto::{Event, ServerConfig, ServerConnection, Step};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};

use crate::target::Target;

pub const HELLO: &[u8] = b"Hello, World!\n";
pub const BIG_LEN: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Hello,
    Echo,
    Big,
    Params(usize),
    Upload,
}

fn route(params: &[u8], count: usize) -> Route {
    let mut uri: &[u8] = b"/";
    for pair in fcgi_proto::params::pairs(params).flatten() {
        if pair.name == b"REQUEST_URI" {
            uri = pair.value;
            break;
        }
    }
    let path = uri.split(|&b| b == b'?').next().unwrap_or(b"");
    match path {
        b"/echo" => Route::Echo,
        b"/big" => Route::Big,
        b"/params" => Route::Params(count),
        b"/upload" => Route::Upload,
        _ => Route::Hello,
    }
}

struct Pending {
    id: u16,
    route: Option<Route>,
    body: Vec<u8>,
    body_len: u64,
    stdin_done: bool,
}

struct Shared {
    big: Vec<u8>,
}

/// Binds `target` and serves forever; prints `READY <address>` once listening.
pub async fn serve(target: Target) -> std::io::Result<()> {
    let shared = Arc::new(Shared {
        big: vec![b'x'; BIG_LEN],
    });
    match target {
        Target::Unix(path) => {
            let _ = std::fs::remove_file(&path);
            let listener = UnixListener::bind(&path)?;
            println!("READY unix:{}", path.display());
            loop {
                let (stream, _) = listener.accept().await?;
                let shared = shared.clone();
                tokio::spawn(async move {
                    let (r, w) = stream.into_split();
                    connection(r, w, &shared).await;
                });
            }
        }
        Target::Tcp(address) => {
            let listener = TcpListener::bind(&address).await?;
            println!("READY {}", listener.local_addr()?);
            loop {
                let (stream, _) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let (r, w) = stream.into_split();
                    connection(r, w, &shared).await;
                });
            }
        }
    }
}

async fn connection<R, W>(mut r: R, mut w: W, shared: &Shared)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut conn = ServerConnection::new(ServerConfig::default());
    // Small to start (a connection per request must stay cheap), grown to
    // whatever the next record needs (at most 65 798 bytes).
    let mut rbuf = vec![0u8; 16 * 1024];
    let (mut start, mut end) = (0usize, 0usize);
    let mut out: Vec<u8> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut close_after_flush = false;
    loop {
        let n = match r.read(&mut rbuf[end..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        end += n;
        loop {
            match conn.feed(&rbuf[start..end], &mut out) {
                Err(_) => return,
                Ok(Step::Incomplete { needed }) => {
                    if needed > rbuf.len() - start {
                        rbuf.copy_within(start..end, 0);
                        (end, start) = (end - start, 0);
                        if needed > rbuf.len() {
                            rbuf.resize(needed.max(rbuf.len() * 2).min(256 * 1024), 0);
                        }
                    }
                    break;
                }
                Ok(Step::Record { consumed, event }) => {
                    let event = event.map(|e| own(e, &mut pending));
                    start += consumed;
                    let Some((id, respond)) = event.flatten() else {
                        continue;
                    };
                    if !respond {
                        continue;
                    }
                    let index = pending.iter().position(|p| p.id == id).expect("pending");
                    let request = pending.swap_remove(index);
                    respond_to(&request, shared, &mut out);
                    if let Some(state) = conn.end_request(id, 0, &mut out) {
                        if !state.keep_conn {
                            close_after_flush = true;
                        }
                    }
                }
            }
        }
        if start == end {
            (start, end) = (0, 0);
        } else if end == rbuf.len() || start > rbuf.len() / 2 {
            rbuf.copy_within(start..end, 0);
            (end, start) = (end - start, 0);
        }
        if end == rbuf.len() {
            rbuf.resize((rbuf.len() * 2).min(256 * 1024).max(end + 1), 0);
        }
        if !out.is_empty() {
            if w.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
            if out.capacity() > 4 << 20 {
                out.shrink_to(64 * 1024);
            }
        }
        if close_after_flush {
            // Half-close, then drain what the peer still sends (bounded).
            let _ = w.shutdown().await;
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while matches!(r.read(&mut rbuf).await, Ok(n) if n > 0) {}
            })
            .await;
            return;
        }
    }
}

/// Applies an event to the pending requests. `Some((id, true))` when the
/// request `id` has its params and its whole body: answer it now.
fn own(event: Event<'_>, pending: &mut Vec<Pending>) -> Option<(u16, bool)> {
    let find = |pending: &mut Vec<Pending>, id: u16| pending.iter().position(|p| p.id == id);
    match event {
        Event::BeginRequest { id, .. } => {
            pending.push(Pending {
                id,
                route: None,
                body: Vec::new(),
                body_len: 0,
                stdin_done: false,
            });
            None
        }
        Event::ParamsDone { id, params, count } => {
            let index = find(pending, id)?;
            let request = &mut pending[index];
            request.route = Some(route(&params, count));
            Some((id, request.stdin_done))
        }
        Event::Stdin { id, chunk } => {
            let index = find(pending, id)?;
            let request = &mut pending[index];
            request.body_len += chunk.len() as u64;
            // Only the echo keeps the body (and before routing, in case it is one).
            if matches!(request.route, None | Some(Route::Echo)) {
                request.body.extend_from_slice(chunk);
            }
            None
        }
        Event::StdinEnd { id } => {
            let index = find(pending, id)?;
            let request = &mut pending[index];
            request.stdin_done = true;
            Some((id, request.route.is_some()))
        }
        Event::Abort { id } | Event::Refused { id, .. } | Event::BodyTooLarge { id } => {
            if let Some(index) = find(pending, id) {
                pending.swap_remove(index);
            }
            None
        }
        Event::Data { .. } | Event::DataEnd { .. } => None,
    }
}

fn respond_to(request: &Pending, shared: &Shared, out: &mut Vec<u8>) {
    let id = request.id;
    match request.route.unwrap_or(Route::Hello) {
        Route::Hello => {
            stdout_response(out, id, 200, [("Content-Type", "text/plain")], HELLO);
        }
        Route::Echo => {
            stdout_response(
                out,
                id,
                200,
                [("Content-Type", "application/octet-stream")],
                &request.body,
            );
        }
        Route::Big => {
            stdout_response(
                out,
                id,
                200,
                [("Content-Type", "application/octet-stream")],
                &shared.big,
            );
        }
        Route::Params(count) => {
            let text = format!("{count}\n");
            stdout_response(
                out,
                id,
                200,
                [("Content-Type", "text/plain")],
                text.as_bytes(),
            );
        }
        Route::Upload => {
            let text = format!("{}\n", request.body_len);
            stdout_response(
                out,
                id,
                200,
                [("Content-Type", "text/plain")],
                text.as_bytes(),
            );
        }
    }
}
