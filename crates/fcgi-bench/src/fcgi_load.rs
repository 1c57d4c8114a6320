//! FastCGI load: `conns` connection tasks, each keeping `inflight` requests
//! outstanding on its connection (distinct ids: multiplexed when > 1), or
//! opening one connection per request (`keep = false`, FCGI_KEEP_CONN unset,
//! the latency then includes the connect).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fcgi_proto::encoder::{self, stream_end};
use fcgi_proto::{ClientConnection, ClientEvent, ProtocolStatus, RecordType, Role, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::report::{lock, Shared, Window};
use crate::target::{ReadHalf, Target, WriteHalf};

pub struct Config {
    pub target: Target,
    pub conns: usize,
    pub inflight: usize,
    pub keep: bool,
    /// Encoded params (the PARAMS stream's content).
    pub params: Vec<u8>,
    pub body: Vec<u8>,
}

/// Runs the load until the window closes; returns when every task is done.
pub async fn run(config: Arc<Config>, window: Arc<Window>, shared: Shared) {
    let mut tasks = Vec::with_capacity(config.conns);
    for _ in 0..config.conns {
        let (config, window, shared) = (config.clone(), window.clone(), shared.clone());
        tasks.push(tokio::spawn(async move {
            slot(&config, &window, &shared).await
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// One connection slot: (re)connects until the window is over.
async fn slot(config: &Config, window: &Window, shared: &Shared) {
    let mut conn = Conn::new(config.inflight);
    while !window.over() {
        let started = Instant::now();
        let connected =
            tokio::time::timeout_at(window.hard_deadline.into(), config.target.connect()).await;
        let (r, w) = match connected {
            Ok(Ok(halves)) => halves,
            Ok(Err(_)) => {
                if window.counts(Instant::now()) {
                    lock(shared).error("connect", 1);
                }
                // Back off a little so a refusing server is not spun on.
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            Err(_) => return,
        };
        lock(shared).connects += 1;
        let first_start = (!config.keep).then_some(started);
        if conn.run(config, window, shared, r, w, first_start).await == Ended::Stop {
            return;
        }
    }
}

#[derive(PartialEq, Eq)]
enum Ended {
    /// The connection ended (EOF, error, or its one request done): reconnect if time is left.
    Reconnect,
    /// Nothing left to do.
    Stop,
}

/// Per-connection state, reused across reconnects.
struct Conn {
    client: ClientConnection,
    track: Track,
    wbuf: Vec<u8>,
    rbuf: Vec<u8>,
}

/// What is known of each request in flight, indexed by request id (ids are
/// the lowest free ones, so at most `inflight`).
struct Track {
    start: Vec<Option<Instant>>,
    status: Vec<u16>,
    body_bytes: Vec<u64>,
}

const READ_BUFFER: usize = 256 * 1024;

impl Conn {
    fn new(inflight: usize) -> Self {
        Self {
            client: ClientConnection::new(),
            track: Track {
                start: vec![None; inflight + 2],
                status: vec![0; inflight + 2],
                body_bytes: vec![0; inflight + 2],
            },
            wbuf: Vec::with_capacity(64 * 1024),
            rbuf: vec![0; READ_BUFFER],
        }
    }

    async fn run(
        &mut self,
        config: &Config,
        window: &Window,
        shared: &Shared,
        mut r: ReadHalf,
        mut w: WriteHalf,
        mut first_start: Option<Instant>,
    ) -> Ended {
        self.client = ClientConnection::new();
        self.track.start.iter_mut().for_each(|s| *s = None);
        self.wbuf.clear();
        let mut wpos = 0;
        let (mut rstart, mut rend) = (0, 0);
        let mut inflight = 0usize;
        let mut issued = 0usize;
        let per_conn = if config.keep { usize::MAX } else { 1 };
        let deadline = tokio::time::Instant::from_std(window.hard_deadline);
        loop {
            while inflight < config.inflight && issued < per_conn && window.take() {
                let id = self.client.free_id().expect("a free id");
                let before = self.wbuf.len();
                self.client
                    .begin_request(id, Role::Responder, config.keep, &mut self.wbuf)
                    .expect("fresh id");
                encoder::params(&mut self.wbuf, id, &config.params);
                stream_end(&mut self.wbuf, RecordType::Params, id);
                encoder::stdin(&mut self.wbuf, id, &config.body);
                stream_end(&mut self.wbuf, RecordType::Stdin, id);
                let now = Instant::now();
                if window.counts(now) {
                    lock(shared).bytes_out += (self.wbuf.len() - before) as u64;
                }
                self.track.start[id as usize] = Some(first_start.take().unwrap_or(now));
                self.track.status[id as usize] = 0;
                self.track.body_bytes[id as usize] = 0;
                inflight += 1;
                issued += 1;
            }
            if inflight == 0 {
                return if issued >= per_conn && !window.over() {
                    Ended::Reconnect
                } else {
                    Ended::Stop
                };
            }
            tokio::select! {
                biased;
                read = r.read(&mut self.rbuf[rend..]) => {
                    let n = match read {
                        Ok(0) => {
                            lost(window, shared, "eof", inflight);
                            return Ended::Reconnect;
                        }
                        Ok(n) => n,
                        Err(_) => {
                            lost(window, shared, "read", inflight);
                            return Ended::Reconnect;
                        }
                    };
                    rend += n;
                    loop {
                        match self.client.feed(&self.rbuf[rstart..rend]) {
                            Ok(Step::Incomplete { .. }) => break,
                            Ok(Step::Record { consumed, event }) => {
                                rstart += consumed;
                                if let Some(event) = event {
                                    if self.track.on_event(event, window, shared) {
                                        inflight -= 1;
                                    }
                                }
                            }
                            Err(_) => {
                                lost(window, shared, "protocol", inflight);
                                return Ended::Reconnect;
                            }
                        }
                    }
                    if rstart == rend {
                        (rstart, rend) = (0, 0);
                    } else if rend == self.rbuf.len() || rstart > READ_BUFFER / 2 {
                        self.rbuf.copy_within(rstart..rend, 0);
                        (rstart, rend) = (0, rend - rstart);
                    }
                    if !config.keep && inflight == 0 {
                        return Ended::Reconnect;
                    }
                }
                written = w.write(&self.wbuf[wpos..]), if wpos < self.wbuf.len() => {
                    match written {
                        Ok(0) | Err(_) => {
                            lost(window, shared, "write", inflight);
                            return Ended::Reconnect;
                        }
                        Ok(n) => {
                            wpos += n;
                            if wpos == self.wbuf.len() {
                                self.wbuf.clear();
                                wpos = 0;
                            }
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    lock(shared).unfinished += inflight as u64;
                    let _ = w.shutdown().await;
                    return Ended::Stop;
                }
            }
        }
    }
}

impl Track {
    /// Handles one event; `true` when a request completed.
    fn on_event(&mut self, event: ClientEvent<'_>, window: &Window, shared: &Shared) -> bool {
        match event {
            ClientEvent::Stdout { id, chunk } => {
                let i = id as usize;
                if self.status[i] == 0 {
                    self.status[i] = cgi_status(chunk);
                }
                self.body_bytes[i] += chunk.len() as u64;
                false
            }
            ClientEvent::End {
                id,
                app_status,
                protocol_status,
            } => {
                let now = Instant::now();
                let i = id as usize;
                let Some(start) = self.start[i].take() else {
                    return true;
                };
                let mut rec = lock(shared);
                rec.answered_all += 1;
                if !window.counts(now) {
                    return true;
                }
                rec.bytes_in += self.body_bytes[i];
                match protocol_status {
                    ProtocolStatus::RequestComplete => {}
                    ProtocolStatus::Overloaded => {
                        rec.error("overloaded", 1);
                        return true;
                    }
                    _ => {
                        rec.error("protocol_status", 1);
                        return true;
                    }
                }
                if app_status != 0 {
                    rec.error("app_status", 1);
                    return true;
                }
                let status = if self.status[i] == 0 {
                    502
                } else {
                    self.status[i]
                };
                *rec.statuses.entry(status).or_default() += 1;
                if (200..300).contains(&status) {
                    rec.latency(now - start);
                } else {
                    rec.error("status", 1);
                }
                true
            }
            _ => false,
        }
    }
}

/// The connection broke with `inflight` requests outstanding.
fn lost(window: &Window, shared: &Shared, kind: &'static str, inflight: usize) {
    if window.counts(Instant::now()) {
        lock(shared).error(kind, inflight as u64);
    }
}

/// The status of a CGI response from the start of its head: a `Status:` line
/// (any case) if there is one before the blank line, else 200.
pub fn cgi_status(head: &[u8]) -> u16 {
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(head.len());
    for line in head[..end].split(|&b| b == b'\n') {
        if line.len() >= 10 && line[..7].eq_ignore_ascii_case(b"status:") {
            let digits = line[7..].trim_ascii_start();
            if digits.len() >= 3 && digits[..3].iter().all(u8::is_ascii_digit) {
                return digits[..3]
                    .iter()
                    .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
            }
        }
    }
    200
}

#[cfg(test)]
mod tests {
    use super::cgi_status;

    #[test]
    fn statuses() {
        assert_eq!(cgi_status(b"Status: 404 Not Found\r\n\r\nx"), 404);
        assert_eq!(cgi_status(b"Content-Type: a\r\nstatus:201\r\n\r\n"), 201);
        assert_eq!(
            cgi_status(b"Content-type: text/html\r\n\r\nStatus: 500"),
            200
        );
        assert_eq!(cgi_status(b"X-Powered-By: PHP\r\n"), 200);
    }
}
