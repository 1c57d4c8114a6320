//! `fcgi-ceiling --listen unix:/tmp/c.sock|127.0.0.1:9100 [--threads 1]`
//!
//! A FastCGI server with Rust handlers (see fcgi_bench::ceiling): the upper
//! bound for the native engine, which runs the same codec on the same runtime
//! but calls JavaScript. `--threads` defaults to 1, as FCGI_NATIVE_THREADS does.

use fcgi_bench::args::Args;
use fcgi_bench::target::Target;

fn main() {
    let words: Vec<String> = std::env::args().skip(1).collect();
    if words.iter().any(|w| w == "--help" || w == "-h") {
        println!("usage: fcgi-ceiling --listen unix:/path|host:port [--threads N]");
        return;
    }
    let result = (|| -> Result<(), String> {
        let args = Args::parse(&words, &[])?;
        let listen = args.str("listen").ok_or("--listen is required")?;
        let threads: usize = args.get("threads", 1)?;
        args.finish()?;
        let target = Target::parse(&listen)?;
        // A multi-thread runtime even for 1 worker, like the native engine's.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(fcgi_bench::ceiling::serve(target))
            .map_err(|e| format!("{listen}: {e}"))
    })();
    if let Err(message) = result {
        eprintln!("fcgi-ceiling: {message}");
        std::process::exit(2);
    }
}
