//! `fcgi-bench <fcgi|http|idle|upload> [options]`: prints one JSON line.
//! Run `fcgi-bench --help` for the options.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use fcgi_bench::args::Args;
use fcgi_bench::report::{Recorder, Window};
use fcgi_bench::target::Target;
use fcgi_bench::workload::Workload;
use fcgi_bench::{fcgi_load, http_load, idle, upload};
use serde_json::{json, Map, Value};

const HELP: &str = "\
fcgi-bench: FastCGI and HTTP/1.1 load generator; prints one JSON line.

  fcgi-bench fcgi   --target unix:/path|host:port [load options] [--inflight M] [--no-keep]
  fcgi-bench http   --target unix:/path|host:port [load options] [--pipeline P]
  fcgi-bench idle   --target ... [--proto fcgi|http] --conns 10000 [--hold 60] [--parallel 256]
  fcgi-bench upload --target ... [--proto fcgi|http] --size 1g [--path /upload]

load options:
  --conns N        connections (default 32)
  --inflight M     FastCGI requests in flight per connection, distinct ids (default 1;
                   > 1 is multiplexing)
  --no-keep        FastCGI: one request per connection, FCGI_KEEP_CONN unset (latency
                   includes the connect)
  --pipeline P     HTTP requests in flight per connection (default 1: no pipelining)
  --duration S     measured seconds (default 5; `3`, `2.5s`, `500ms`)
  --warmup S       unmeasured seconds before (default 1)
  --requests N     instead of a duration: issue N requests, then stop (no warm-up)
  --grace S        how long in-flight requests may finish after the end (default 5)
  --threads T      generator threads (default 1)
workload:
  --path P         request URI (default /hello)
  --method M       default GET, or POST with a body
  --body BYTES     request body size (`64k`, `1m`)
  --params N       FastCGI: total params (nginx-like base set padded with HTTP_X_BENCH_n);
                   HTTP: X-Bench-n headers beyond the first 20
  --param N=V      add or replace a FastCGI param (e.g. SCRIPT_FILENAME=/x/bench.php)
  --label TEXT     copied into the JSON line
";

fn main() {
    let words: Vec<String> = std::env::args().skip(1).collect();
    if words.is_empty() || words.iter().any(|w| w == "--help" || w == "-h") {
        print!("{HELP}");
        return;
    }
    match run(&words[0], &words[1..]) {
        Ok(line) => println!("{line}"),
        Err(message) => {
            eprintln!("fcgi-bench: {message}");
            std::process::exit(2);
        }
    }
}

fn run(command: &str, rest: &[String]) -> Result<Value, String> {
    let args = Args::parse(rest, &["no-keep"])?;
    let target = Target::parse(&args.str("target").ok_or("--target is required")?)?;
    let threads: usize = args.get("threads", 1)?;
    let label = args.str("label");
    let workload = Workload::from_args(&args)?;
    let http = match command {
        "fcgi" | "http" => command == "http",
        "idle" | "upload" => match args.str("proto").as_deref() {
            None | Some("fcgi") => false,
            Some("http") => true,
            Some(other) => return Err(format!("--proto is fcgi or http, got {other:?}")),
        },
        other => {
            return Err(format!(
                "unknown command {other:?} (fcgi, http, idle, upload)"
            ))
        }
    };
    let mut meta = Map::new();
    meta.insert("mode".into(), json!(command));
    meta.insert("target".into(), json!(target.to_string()));
    if let Some(label) = label {
        meta.insert("label".into(), json!(label));
    }
    meta.insert(
        "workload".into(),
        json!({
            "method": workload.method, "path": workload.path,
            "body": workload.body.len(), "params": workload.fcgi_params().len(),
        }),
    );

    match command {
        "idle" => {
            let config = idle::Config {
                target,
                conns: args.get("conns", 10_000)?,
                http,
                workload,
                hold: args.seconds("hold", 60.0)?,
                parallel: args.get("parallel", 256)?,
            };
            args.finish()?;
            let mut done = fcgi_bench::block_on(threads, idle::run(config));
            merge(&mut done, meta);
            Ok(done)
        }
        "upload" => {
            let config = upload::Config {
                target,
                http,
                size: args.get("size", 1u64 << 30)?,
                workload,
            };
            args.finish()?;
            let mut done = fcgi_bench::block_on(threads, upload::run(config))?;
            merge(&mut done, meta);
            Ok(done)
        }
        _ => {
            let conns: usize = args.get("conns", 32)?;
            let inflight: usize = args.get("inflight", 1)?;
            let pipeline: usize = args.get("pipeline", 1)?;
            let keep = !args.flag("no-keep");
            let requests: Option<u64> = args
                .str("requests")
                .map(|t| t.parse())
                .transpose()
                .map_err(|_| "bad --requests")?;
            let duration = args.seconds("duration", 5.0)?;
            let warmup = if requests.is_some() {
                args.seconds("warmup", 0.0)?
            } else {
                args.seconds("warmup", 1.0)?
            };
            let grace = args.seconds("grace", 5.0)?;
            args.finish()?;
            if conns == 0 || inflight == 0 || pipeline == 0 {
                return Err("--conns, --inflight and --pipeline must be at least 1".into());
            }
            if inflight > 65535 {
                return Err("--inflight is at most 65535".into());
            }
            meta.insert("conns".into(), json!(conns));
            if http {
                meta.insert("pipeline".into(), json!(pipeline));
            } else {
                meta.insert("inflight".into(), json!(inflight));
                meta.insert("keep".into(), json!(keep));
            }
            meta.insert("threads".into(), json!(threads));
            let window = Arc::new(Window::new(
                warmup,
                if requests.is_some() {
                    None
                } else {
                    Some(duration)
                },
                requests,
                grace,
            ));
            let shared = Arc::new(Mutex::new(Recorder::default()));
            let cpu_before = fcgi_bench::self_cpu_seconds();
            let load = {
                let (window, shared) = (window.clone(), shared.clone());
                async move {
                    if http {
                        let config = Arc::new(http_load::Config {
                            target,
                            conns,
                            pipeline,
                            request: workload.http_request("localhost"),
                        });
                        http_load::run(config, window, shared).await;
                    } else {
                        let config = Arc::new(fcgi_load::Config {
                            target,
                            conns,
                            inflight,
                            keep,
                            params: workload.encoded_params(),
                            body: workload.body.clone(),
                        });
                        fcgi_load::run(config, window, shared).await;
                    }
                }
            };
            fcgi_bench::block_on(threads, load);
            let last = Instant::now();
            let gen_cpu = fcgi_bench::self_cpu_seconds() - cpu_before;
            let recorder = fcgi_bench::report::lock(&shared);
            Ok(recorder.to_json(meta, window.seconds(last), gen_cpu))
        }
    }
}

fn merge(value: &mut Value, meta: Map<String, Value>) {
    if let Value::Object(object) = value {
        for (k, v) in meta {
            object.entry(k).or_insert(v);
        }
    }
}
