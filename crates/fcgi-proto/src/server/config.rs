//! Limits and advertised capacity of one server connection.

/// Connections a server accepts past `max_conns` only to answer their requests
/// OVERLOADED (the js engine's OVERLOAD_SLACK); beyond them it drops new
/// connections at once.
pub const OVERLOAD_SLACK: usize = 1024;

/// Limits and advertised capacity of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Requests active at once on this connection; further BEGIN_REQUESTs get
    /// OVERLOADED. Also the FCGI_MAX_REQS value. Default 256.
    pub max_reqs: usize,
    /// Only advertised, as FCGI_MAX_CONNS; the caller counts connections.
    /// Default 10 000.
    pub max_conns: usize,
    /// Largest PARAMS stream of one request, in bytes. Default 1 MiB.
    pub max_params_bytes: usize,
    /// Most name-value pairs in one request's params. Default 1000.
    pub max_params: usize,
    /// Most STDIN bytes of one request; past it the request gets
    /// [`Event::BodyTooLarge`](super::Event::BodyTooLarge). Default: unlimited.
    pub max_body_bytes: u64,
    /// Set for a connection accepted past `max_conns` (or while draining):
    /// every BEGIN_REQUEST is answered OVERLOADED and the refusal asks to close
    /// the connection (`keep_conn: false`).
    pub overloaded: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_reqs: 256,
            max_conns: 10_000,
            max_params_bytes: 1 << 20,
            max_params: 1000,
            max_body_bytes: u64::MAX,
            overloaded: false,
        }
    }
}
