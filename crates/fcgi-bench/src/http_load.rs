//! HTTP/1.1 load: `conns` keep-alive connections, each with up to `pipeline`
//! requests outstanding (1 = no pipelining). Responses are parsed for their
//! status and framing (Content-Length, chunked, or until close).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::report::{lock, Shared, Window};
use crate::target::{ReadHalf, Target, WriteHalf};

pub struct Config {
    pub target: Target,
    pub conns: usize,
    pub pipeline: usize,
    /// One complete request, sent as is each time.
    pub request: Vec<u8>,
}

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

async fn slot(config: &Config, window: &Window, shared: &Shared) {
    let mut rbuf = vec![0u8; 256 * 1024];
    while !window.over() {
        let connected =
            tokio::time::timeout_at(window.hard_deadline.into(), config.target.connect()).await;
        let (r, w) = match connected {
            Ok(Ok(halves)) => halves,
            Ok(Err(_)) => {
                if window.counts(Instant::now()) {
                    lock(shared).error("connect", 1);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            Err(_) => return,
        };
        lock(shared).connects += 1;
        if !connection(config, window, shared, r, w, &mut rbuf).await {
            return;
        }
    }
}

/// `false` when there is nothing left to do, `true` to reconnect.
async fn connection(
    config: &Config,
    window: &Window,
    shared: &Shared,
    mut r: ReadHalf,
    mut w: WriteHalf,
    rbuf: &mut [u8],
) -> bool {
    let mut starts: VecDeque<Instant> = VecDeque::with_capacity(config.pipeline);
    let mut wbuf: Vec<u8> = Vec::with_capacity(config.request.len() * config.pipeline);
    let mut wpos = 0;
    let (mut rstart, mut rend) = (0usize, 0usize);
    let mut parser = Parser::default();
    let deadline = tokio::time::Instant::from_std(window.hard_deadline);
    loop {
        while starts.len() < config.pipeline && window.take() {
            wbuf.extend_from_slice(&config.request);
            let now = Instant::now();
            if window.counts(now) {
                lock(shared).bytes_out += config.request.len() as u64;
            }
            starts.push_back(now);
        }
        if starts.is_empty() {
            let _ = w.shutdown().await;
            return false;
        }
        tokio::select! {
            biased;
            read = r.read(&mut rbuf[rend..]) => {
                let n: usize = read.unwrap_or_default();
                if n == 0 {
                    // A body delimited by the close ends here.
                    if parser.until_close() {
                        let done = parser.finish();
                        complete(window, shared, &mut starts, done);
                    }
                    if !starts.is_empty() && window.counts(Instant::now()) {
                        lock(shared).error("eof", starts.len() as u64);
                    }
                    return true;
                }
                rend += n;
                loop {
                    match parser.feed(&rbuf[rstart..rend]) {
                        Err(_) => {
                            if window.counts(Instant::now()) {
                                lock(shared).error("parse", starts.len() as u64);
                            }
                            return true;
                        }
                        Ok((0, None)) => break,
                        Ok((consumed, done)) => {
                            rstart += consumed;
                            if let Some(done) = done {
                                let close = done.close;
                                complete(window, shared, &mut starts, done);
                                if close {
                                    if !starts.is_empty() && window.counts(Instant::now()) {
                                        lock(shared).error("closed", starts.len() as u64);
                                    }
                                    return true;
                                }
                            }
                        }
                    }
                }
                if rstart == rend {
                    (rstart, rend) = (0, 0);
                } else if rend == rbuf.len() || rstart > rbuf.len() / 2 {
                    rbuf.copy_within(rstart..rend, 0);
                    (rstart, rend) = (0, rend - rstart);
                }
            }
            written = w.write(&wbuf[wpos..]), if wpos < wbuf.len() => {
                match written {
                    Ok(0) | Err(_) => {
                        if window.counts(Instant::now()) {
                            lock(shared).error("write", starts.len() as u64);
                        }
                        return true;
                    }
                    Ok(n) => {
                        wpos += n;
                        if wpos == wbuf.len() {
                            wbuf.clear();
                            wpos = 0;
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                lock(shared).unfinished += starts.len() as u64;
                return false;
            }
        }
    }
}

fn complete(window: &Window, shared: &Shared, starts: &mut VecDeque<Instant>, done: Done) {
    let Some(start) = starts.pop_front() else {
        return;
    };
    let now = Instant::now();
    let mut rec = lock(shared);
    rec.answered_all += 1;
    if !window.counts(now) {
        return;
    }
    rec.bytes_in += done.body_bytes;
    *rec.statuses.entry(done.status).or_default() += 1;
    if (200..300).contains(&done.status) {
        rec.latency(now - start);
    } else {
        rec.error("status", 1);
    }
}

/// A complete response.
#[derive(Debug, PartialEq, Eq)]
pub struct Done {
    pub status: u16,
    pub body_bytes: u64,
    /// The server said `Connection: close`.
    pub close: bool,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Head,
    Body {
        left: u64,
    },
    ChunkSize,
    ChunkData {
        left: u64,
    },
    ChunkEnd,
    Trailers,
    UntilClose,
}

/// An incremental HTTP/1.1 response parser.
#[derive(Debug, Default)]
pub struct Parser {
    state: State,
    status: u16,
    body_bytes: u64,
    close: bool,
}

impl Parser {
    /// Consumes what it can from the front of `buf`: `(consumed, response if one ended)`.
    /// `(0, None)` means more input is needed.
    pub fn feed(&mut self, buf: &[u8]) -> Result<(usize, Option<Done>), String> {
        match self.state {
            State::Head => {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut response = httparse::Response::new(&mut headers);
                let n = match response.parse(buf).map_err(|e| e.to_string())? {
                    httparse::Status::Partial => return Ok((0, None)),
                    httparse::Status::Complete(n) => n,
                };
                self.status = response.code.unwrap_or(0);
                self.body_bytes = 0;
                self.close = false;
                let mut length = None;
                let mut chunked = false;
                for header in response.headers.iter() {
                    if header.name.eq_ignore_ascii_case("content-length") {
                        let text = std::str::from_utf8(header.value).map_err(|e| e.to_string())?;
                        length = Some(text.trim().parse::<u64>().map_err(|e| e.to_string())?);
                    } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = header.value.eq_ignore_ascii_case(b"chunked");
                    } else if header.name.eq_ignore_ascii_case("connection") {
                        self.close = header.value.eq_ignore_ascii_case(b"close");
                    }
                }
                if (100..200).contains(&self.status) {
                    return Ok((n, None)); // interim response: the real one follows
                }
                self.state = if self.status == 204 || self.status == 304 {
                    State::Body { left: 0 }
                } else if chunked {
                    State::ChunkSize
                } else if let Some(left) = length {
                    State::Body { left }
                } else {
                    State::UntilClose
                };
                if let State::Body { left: 0 } = self.state {
                    return Ok((n, Some(self.finish())));
                }
                Ok((n, None))
            }
            State::Body { left } => {
                let take = left.min(buf.len() as u64);
                self.body_bytes += take;
                if take == left {
                    return Ok((take as usize, Some(self.finish())));
                }
                self.state = State::Body { left: left - take };
                Ok((take as usize, None))
            }
            State::ChunkSize => {
                let Some(end) = find_crlf(buf) else {
                    return Ok((0, None));
                };
                let line = std::str::from_utf8(&buf[..end]).map_err(|e| e.to_string())?;
                let hex = line.split(';').next().unwrap_or("").trim();
                let size =
                    u64::from_str_radix(hex, 16).map_err(|e| format!("chunk size {hex:?}: {e}"))?;
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::ChunkData { left: size }
                };
                Ok((end + 2, None))
            }
            State::ChunkData { left } => {
                let take = left.min(buf.len() as u64);
                self.body_bytes += take;
                self.state = if take == left {
                    State::ChunkEnd
                } else {
                    State::ChunkData { left: left - take }
                };
                Ok((take as usize, None))
            }
            State::ChunkEnd => {
                if buf.len() < 2 {
                    return Ok((0, None));
                }
                if &buf[..2] != b"\r\n" {
                    return Err("chunk not followed by CRLF".into());
                }
                self.state = State::ChunkSize;
                Ok((2, None))
            }
            State::Trailers => {
                let Some(end) = find_crlf(buf) else {
                    return Ok((0, None));
                };
                if end == 0 {
                    return Ok((2, Some(self.finish())));
                }
                Ok((end + 2, None))
            }
            State::UntilClose => {
                self.body_bytes += buf.len() as u64;
                Ok((buf.len(), None))
            }
        }
    }

    pub fn until_close(&self) -> bool {
        matches!(self.state, State::UntilClose)
    }

    /// Ends the current response (also used at EOF for a close-delimited body).
    pub fn finish(&mut self) -> Done {
        let until_close = matches!(self.state, State::UntilClose);
        self.state = State::Head;
        Done {
            status: self.status,
            body_bytes: self.body_bytes,
            close: self.close || until_close,
        }
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(mut input: &[u8]) -> Vec<Done> {
        let mut parser = Parser::default();
        let mut done = Vec::new();
        loop {
            let (n, d) = parser.feed(input).unwrap();
            input = &input[n..];
            done.extend(d);
            if n == 0 {
                break;
            }
        }
        assert!(
            input.is_empty(),
            "left: {:?}",
            String::from_utf8_lossy(input)
        );
        done
    }

    #[test]
    fn length_and_chunked() {
        let text = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
        let done = parse_all(text);
        assert_eq!(
            done,
            [
                Done {
                    status: 200,
                    body_bytes: 5,
                    close: false
                },
                Done {
                    status: 404,
                    body_bytes: 5,
                    close: false
                },
                Done {
                    status: 204,
                    body_bytes: 0,
                    close: true
                },
            ]
        );
    }

    #[test]
    fn byte_by_byte() {
        let text = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let mut parser = Parser::default();
        let mut buf = Vec::new();
        let mut done = Vec::new();
        for &b in text.iter() {
            buf.push(b);
            loop {
                let (n, d) = parser.feed(&buf).unwrap();
                buf.drain(..n);
                done.extend(d);
                if n == 0 || buf.is_empty() {
                    break;
                }
            }
        }
        assert_eq!(
            done,
            [Done {
                status: 200,
                body_bytes: 3,
                close: false
            }]
        );
    }
}
