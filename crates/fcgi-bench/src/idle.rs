//! Memory per idle kept connection: open `conns` connections, send one
//! kept-alive request on each (so the server has set the connection up fully),
//! then hold them all open and say so on stdout; the driver samples the
//! server's RSS meanwhile, then closes our stdin (or `hold` runs out).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fcgi_proto::{ClientConnection, ClientEvent, Role, Step};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::http_load::Parser;
use crate::target::{ReadHalf, Target, WriteHalf};
use crate::workload::Workload;

pub struct Config {
    pub target: Target,
    pub conns: usize,
    pub http: bool,
    pub workload: Workload,
    /// Most seconds to hold the connections.
    pub hold: f64,
    /// Connects (and first requests) running at once.
    pub parallel: usize,
}

type Held = (ReadHalf, WriteHalf);

pub async fn run(config: Config) -> serde_json::Value {
    let config = Arc::new(config);
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(config.parallel.max(1)));
    let mut tasks = Vec::with_capacity(config.conns);
    for _ in 0..config.conns {
        let (config, gate) = (config.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.map_err(|_| "closed")?;
            tokio::time::timeout(Duration::from_secs(30), open(&config))
                .await
                .map_err(|_| "timeout")?
        }));
    }
    let mut held: Vec<Held> = Vec::with_capacity(config.conns);
    let mut failed = std::collections::BTreeMap::<&'static str, u64>::new();
    for task in tasks {
        match task.await {
            Ok(Ok(halves)) => held.push(halves),
            Ok(Err(kind)) => *failed.entry(kind).or_default() += 1,
            Err(_) => *failed.entry("panic").or_default() += 1,
        }
    }
    let ready = json!({
        "event": "ready",
        "conns": held.len(),
        "failed": failed.values().sum::<u64>(),
        "failed_kinds": failed,
        "seconds": crate::report::round(started.elapsed().as_secs_f64(), 3),
    });
    println!("{ready}");
    // Hold until stdin closes or time runs out.
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 64];
    let hold = tokio::time::sleep(Duration::from_secs_f64(config.hold));
    tokio::pin!(hold);
    loop {
        tokio::select! {
            _ = &mut hold => break,
            read = stdin.read(&mut sink) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
        }
    }
    // Still open? Count connections the server closed meanwhile.
    let mut closed = 0;
    for (r, _) in held.iter_mut() {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_micros(1), r.read(&mut byte)).await {
            closed += 1;
        }
    }
    drop(held);
    let mut done = ready;
    done["event"] = json!("done");
    done["closed_by_server"] = json!(closed);
    done
}

async fn open(config: &Config) -> Result<Held, &'static str> {
    let (mut r, mut w) = config.target.connect().await.map_err(|_| "connect")?;
    let mut rbuf = vec![0u8; 128 * 1024];
    let mut end = 0;
    if config.http {
        let request = config.workload.http_request("localhost");
        w.write_all(&request).await.map_err(|_| "write")?;
        let mut parser = Parser::default();
        let mut start = 0;
        loop {
            let n = r.read(&mut rbuf[end..]).await.map_err(|_| "read")?;
            if n == 0 {
                return Err("eof");
            }
            end += n;
            loop {
                let (consumed, done) = parser.feed(&rbuf[start..end]).map_err(|_| "parse")?;
                start += consumed;
                if let Some(done) = done {
                    return if (200..300).contains(&done.status) {
                        Ok((r, w))
                    } else {
                        Err("status")
                    };
                }
                if consumed == 0 {
                    break;
                }
            }
        }
    }
    let mut client = ClientConnection::new();
    let mut out = Vec::new();
    let params = config.workload.fcgi_params();
    let pairs = params.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
    client
        .send_request(
            1,
            Role::Responder,
            true,
            pairs,
            &config.workload.body,
            &mut out,
        )
        .map_err(|_| "encode")?;
    w.write_all(&out).await.map_err(|_| "write")?;
    let mut start = 0;
    loop {
        let n = r.read(&mut rbuf[end..]).await.map_err(|_| "read")?;
        if n == 0 {
            return Err("eof");
        }
        end += n;
        while let Ok(Step::Record { consumed, event }) = client.feed(&rbuf[start..end]) {
            start += consumed;
            if let Some(ClientEvent::End { app_status, .. }) = event {
                return if app_status == 0 {
                    Ok((r, w))
                } else {
                    Err("app_status")
                };
            }
        }
        if client.feed(&rbuf[start..end]).is_err() {
            return Err("protocol");
        }
        rbuf.copy_within(start..end, 0);
        (start, end) = (0, end - start);
    }
}
