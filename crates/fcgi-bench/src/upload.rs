//! One streamed upload of `size` bytes (FastCGI STDIN records of 65528 bytes,
//! or an HTTP body with Content-Length), written while the response is read,
//! to watch the server's memory while it consumes the body.

use std::time::Instant;

use fcgi_proto::encoder::{self, stream_end};
use fcgi_proto::params::encode_pair;
use fcgi_proto::{ClientConnection, ClientEvent, RecordType, Role, Step};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::http_load::Parser;
use crate::target::Target;
use crate::workload::Workload;

pub struct Config {
    pub target: Target,
    pub http: bool,
    pub size: u64,
    pub workload: Workload,
}

/// Record content per STDIN record: a multiple of 8 below 65535, so no padding.
const CHUNK: usize = 65528;

pub async fn run(config: Config) -> Result<serde_json::Value, String> {
    let started = Instant::now();
    let (mut r, mut w) = config
        .target
        .connect()
        .await
        .map_err(|e| format!("connect {}: {e}", config.target))?;
    let chunk = vec![b'u'; CHUNK];
    let mut workload = config.workload.clone();
    workload.body.clear();
    let size = config.size;

    // The head: FastCGI BEGIN_REQUEST + params, or the HTTP request head.
    let mut head = Vec::new();
    let mut client = ClientConnection::new();
    if config.http {
        let mut text = String::from_utf8(workload.http_request("localhost")).expect("ascii");
        text.truncate(text.len() - 2);
        text = text.replace("Content-Length: 0\r\n", "");
        text.push_str(&format!("Content-Length: {size}\r\n\r\n"));
        head.extend_from_slice(text.as_bytes());
    } else {
        client
            .begin_request(1, Role::Responder, true, &mut head)
            .map_err(|e| e.to_string())?;
        let mut pairs = Vec::new();
        for (name, value) in workload.fcgi_params() {
            let value = match name.as_str() {
                "CONTENT_LENGTH" => size.to_string(),
                "REQUEST_METHOD" => "POST".to_string(),
                _ => value,
            };
            encode_pair(&mut pairs, name.as_bytes(), value.as_bytes());
        }
        if !workload
            .fcgi_params()
            .iter()
            .any(|(n, _)| n == "CONTENT_LENGTH")
        {
            encode_pair(&mut pairs, b"CONTENT_LENGTH", size.to_string().as_bytes());
        }
        encoder::params(&mut head, 1, &pairs);
        stream_end(&mut head, RecordType::Params, 1);
    }
    let mut record = Vec::with_capacity(CHUNK + 8);
    if config.http {
        record.extend_from_slice(&chunk);
    } else {
        encoder::stdin(&mut record, 1, &chunk);
    }
    let http = config.http;

    let writer = async move {
        w.write_all(&head).await?;
        let mut left = size;
        while left >= CHUNK as u64 {
            w.write_all(&record).await?;
            left -= CHUNK as u64;
        }
        let mut tail = Vec::new();
        if http {
            tail.extend_from_slice(&chunk[..left as usize]);
        } else {
            encoder::stdin(&mut tail, 1, &chunk[..left as usize]);
            stream_end(&mut tail, RecordType::Stdin, 1);
        }
        w.write_all(&tail).await?;
        w.flush().await?;
        Ok::<_, std::io::Error>((Instant::now(), w))
    };

    let reader = async move {
        let mut rbuf = vec![0u8; 256 * 1024];
        let (mut start, mut end) = (0, 0);
        let mut body = Vec::new();
        let mut status = 0u16;
        let mut parser = Parser::default();
        loop {
            let n = r.read(&mut rbuf[end..]).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("EOF before the response ended".to_string());
            }
            end += n;
            if http {
                loop {
                    let (consumed, done) = parser.feed(&rbuf[start..end])?;
                    if body.len() < 256 {
                        body.extend_from_slice(&rbuf[start..start + consumed]);
                    }
                    start += consumed;
                    if let Some(done) = done {
                        return Ok((done.status, 0u32, body));
                    }
                    if consumed == 0 {
                        break;
                    }
                }
            } else {
                loop {
                    match client.feed(&rbuf[start..end]).map_err(|e| e.to_string())? {
                        Step::Incomplete { .. } => break,
                        Step::Record { consumed, event } => {
                            start += consumed;
                            match event {
                                Some(ClientEvent::Stdout { chunk, .. }) => {
                                    if status == 0 {
                                        status = crate::fcgi_load::cgi_status(chunk);
                                    }
                                    if body.len() < 256 {
                                        body.extend_from_slice(chunk);
                                    }
                                }
                                Some(ClientEvent::End { app_status, .. }) => {
                                    return Ok((status, app_status, body));
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
            rbuf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
    };

    let (written, read) = tokio::join!(writer, reader);
    let finished = Instant::now();
    let (sent_at, _w) = written.map_err(|e| format!("write: {e}"))?;
    let (status, app_status, body) = read?;
    let seconds = (finished - started).as_secs_f64();
    let text = String::from_utf8_lossy(&body).into_owned();
    let body_text = text
        .split("\r\n\r\n")
        .last()
        .unwrap_or("")
        .trim()
        .to_string();
    Ok(json!({
        "event": "upload",
        "bytes": size,
        "seconds": crate::report::round(seconds, 3),
        "mib_per_s": crate::report::round(size as f64 / (1 << 20) as f64 / seconds, 1),
        "sent_seconds": crate::report::round((sent_at - started).as_secs_f64(), 3),
        "status": status,
        "app_status": app_status,
        "response": body_text,
    }))
}
