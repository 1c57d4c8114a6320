//! The request every connection sends over and over: method, path, body and
//! params (FastCGI) or headers (HTTP), encoded once.

use fcgi_proto::params::encode_pair;

use crate::args::Args;

#[derive(Clone, Debug)]
pub struct Workload {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    /// FastCGI: total number of params (nginx-like base set, padded with
    /// HTTP_X_BENCH_<n>). HTTP: that many minus the base set as X-Bench-<n> headers.
    pub params: usize,
    /// Extra NAME=VALUE params (e.g. SCRIPT_FILENAME for PHP-FPM); replace base ones.
    pub extra: Vec<(String, String)>,
}

impl Workload {
    /// `--method`, `--path`, `--body <bytes>`, `--params <count>`, `--param NAME=VALUE`...
    pub fn from_args(args: &Args) -> Result<Self, String> {
        let body_len: usize = args.get("body", 0)?;
        let method = args
            .str("method")
            .unwrap_or_else(|| if body_len > 0 { "POST" } else { "GET" }.to_string());
        let mut extra = Vec::new();
        for pair in args.all("param") {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("--param wants NAME=VALUE, got {pair:?}"))?;
            extra.push((name.to_string(), value.to_string()));
        }
        Ok(Self {
            method,
            path: args.str("path").unwrap_or_else(|| "/hello".into()),
            body: (0..body_len).map(|i| b'a' + (i % 26) as u8).collect(),
            params: args.get("params", 0)?,
            extra,
        })
    }

    /// The CGI params nginx's fastcgi_params would send, then padding up to
    /// `self.params` pairs.
    pub fn fcgi_params(&self) -> Vec<(String, String)> {
        let (uri_path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let mut pairs: Vec<(String, String)> = vec![
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_SOFTWARE", "fcgi-bench"),
            ("QUERY_STRING", query),
            ("REQUEST_METHOD", &self.method),
            ("SCRIPT_FILENAME", uri_path),
            ("SCRIPT_NAME", uri_path),
            ("REQUEST_URI", &self.path),
            ("DOCUMENT_URI", uri_path),
            ("DOCUMENT_ROOT", "/"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REQUEST_SCHEME", "http"),
            ("REMOTE_ADDR", "127.0.0.1"),
            ("REMOTE_PORT", "40000"),
            ("SERVER_ADDR", "127.0.0.1"),
            ("SERVER_PORT", "80"),
            ("SERVER_NAME", "localhost"),
            ("HTTP_HOST", "localhost"),
            ("HTTP_USER_AGENT", "fcgi-bench"),
            ("HTTP_ACCEPT", "*/*"),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        if !self.body.is_empty() {
            pairs.push(("CONTENT_TYPE".into(), "application/octet-stream".into()));
            pairs.push(("CONTENT_LENGTH".into(), self.body.len().to_string()));
        }
        for (name, value) in &self.extra {
            match pairs.iter_mut().find(|(n, _)| n == name) {
                Some(pair) => pair.1 = value.clone(),
                None => pairs.push((name.clone(), value.clone())),
            }
        }
        let mut n = 0;
        while pairs.len() < self.params {
            pairs.push((format!("HTTP_X_BENCH_{n}"), format!("value-{n}-abcdefgh")));
            n += 1;
        }
        pairs
    }

    /// The params, encoded as name-value pairs (the content of the PARAMS stream).
    pub fn encoded_params(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in self.fcgi_params() {
            encode_pair(&mut out, name.as_bytes(), value.as_bytes());
        }
        out
    }

    /// One complete HTTP/1.1 request, keep-alive.
    pub fn http_request(&self, host: &str) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: fcgi-bench\r\nAccept: */*\r\n",
            self.method, self.path
        );
        if !self.body.is_empty() || self.method == "POST" || self.method == "PUT" {
            head.push_str("Content-Type: application/octet-stream\r\n");
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        // The base set above stands for ~20 params; pad with headers like FastCGI does.
        for n in 0..self.params.saturating_sub(20) {
            head.push_str(&format!("X-Bench-{n}: value-{n}-abcdefgh\r\n"));
        }
        for (name, value) in &self.extra {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(&self.body);
        request
    }
}
