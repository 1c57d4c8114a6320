//! Configurable limits of one connection's parser and body decoder.

/// Limits, checked as early as the bytes allow (a 20 KB request-target is
/// refused once its first `max_target_bytes + 1` bytes are in, not when the
/// head completes).
///
/// The defaults mirror the js engine's defaults (lib/options.ts mapped as in
/// lib/engines/js/http-server.ts): `maxUrlBytes` → `max_target_bytes`,
/// `min(maxParamsBytes, 1 MiB)` → `max_head_bytes`, `maxParams` →
/// `max_headers`, `maxBodyBytes` → `max_body_bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request-target, in bytes (414). Default 8192.
    pub max_target_bytes: usize,
    /// Longest head: request line, header lines and the empty line, counted
    /// from the first byte handed to the parser (leading empty lines
    /// included) (431). Default 1 MiB.
    pub max_head_bytes: usize,
    /// Most header lines (431). Default 1000.
    pub max_headers: usize,
    /// Largest body, declared (Content-Length) or received (chunked) (413).
    /// Default: no limit.
    pub max_body_bytes: u64,
    /// Longest chunk-size line, extensions included (400). Default 4096.
    pub max_chunk_line_bytes: usize,
    /// Largest trailer section of a chunked body, final CRLF included (431).
    /// Default 16 KiB.
    pub max_trailer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_target_bytes: 8192,
            max_head_bytes: 1 << 20,
            max_headers: 1000,
            max_body_bytes: u64::MAX,
            max_chunk_line_bytes: 4096,
            max_trailer_bytes: 16 << 10,
        }
    }
}

impl Limits {
    /// The limits for the server's options, mapped as the js engine maps them
    /// onto node:http (see the type's docs): the head may not pass
    /// `max_params_bytes`, nor node:http's largest `maxHeaderSize` of 1 MiB.
    pub fn for_server(
        max_url_bytes: usize,
        max_params_bytes: usize,
        max_params: usize,
        max_body_bytes: u64,
    ) -> Self {
        Self {
            max_target_bytes: max_url_bytes,
            max_head_bytes: max_params_bytes.min(1 << 20),
            max_headers: max_params,
            max_body_bytes,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_options_map_as_for_node_http() {
        let l = Limits::for_server(100, 5 << 20, 7, 9);
        assert_eq!(
            (
                l.max_target_bytes,
                l.max_head_bytes,
                l.max_headers,
                l.max_body_bytes
            ),
            (100, 1 << 20, 7, 9)
        );
        assert_eq!(Limits::for_server(100, 2048, 7, 9).max_head_bytes, 2048);
        assert_eq!(l.max_trailer_bytes, Limits::default().max_trailer_bytes);
    }
}
