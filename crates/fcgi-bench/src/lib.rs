//! Benchmark tools for `fcgi` (driven by bench/run.ts):
//!
//! - `fcgi-bench`, a load generator that speaks FastCGI directly (N connections ×
//!   M requests in flight each, kept connections or one request per connection,
//!   multiplexed or not, unix or TCP) and HTTP/1.1 (keep-alive, optional
//!   pipelining), and prints one JSON line with req/s, an HDR-histogram latency
//!   summary, errors and bytes. Sub-commands for 10 000 idle kept connections and
//!   a streamed upload measure memory.
//! - `fcgi-ceiling`, a FastCGI server on Tokio whose handlers are Rust
//!   ([`ceiling`]): the same server work as the native engine minus JavaScript,
//!   so `ceiling - native` is the cost of the hop into JS.
//!
//! The codec is `fcgi-proto` (client side for the generator, server side for
//! the ceiling).

pub mod args;
pub mod ceiling;
pub mod fcgi_load;
pub mod http_load;
pub mod idle;
pub mod report;
pub mod target;
pub mod upload;
pub mod workload;

/// Runs `future` on a Tokio runtime with `threads` workers (1: current-thread).
pub fn block_on<F: std::future::Future>(threads: usize, future: F) -> F::Output {
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .expect("cannot start the Tokio runtime");
    runtime.block_on(future)
}

/// CPU seconds (user + system) this process used so far, all threads.
pub fn self_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
