//! A connection loop as fcgi-node runs it (minus the sockets): heads, bodies,
//! pipelining, stop after an error or a non-keep-alive request. It records
//! an owned trace, so runs over differently split input can be compared.
#![allow(dead_code)]

use fcgi_http::{
    cgi_params, BodyDecoder, ConnInfo, HttpError, Limits, RequestParser, Status, Version,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Request {
        method: String,
        target: String,
        version: Version,
        keep_alive: bool,
        expect_continue: bool,
        headers: Vec<(String, Vec<u8>)>,
        params: Vec<u8>,
    },
    /// The whole body, once complete.
    Body(Vec<u8>),
    Error(HttpError),
}

enum State {
    Head,
    Body {
        decoder: BodyDecoder,
        data: Vec<u8>,
        keep_alive: bool,
    },
    Closed,
}

pub struct Harness {
    parser: RequestParser,
    limits: Limits,
    pub buf: Vec<u8>,
    state: State,
    pub events: Vec<Ev>,
}

pub fn conn_info() -> ConnInfo {
    ConnInfo::new(
        Some("127.0.0.1:8080".parse().unwrap()),
        Some("[::ffff:127.0.0.1]:40000".parse().unwrap()),
    )
}

impl Harness {
    pub fn new(limits: Limits) -> Self {
        Self {
            parser: RequestParser::new(limits.clone()),
            limits,
            buf: Vec::new(),
            state: State::Head,
            events: Vec::new(),
        }
    }

    pub fn closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// One read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.closed() {
            return;
        }
        self.buf.extend_from_slice(bytes);
        self.run();
    }

    /// Feeds `input` in reads of `read_size` bytes and returns the trace.
    pub fn run_all(limits: &Limits, input: &[u8], read_size: usize) -> Vec<Ev> {
        let mut h = Self::new(limits.clone());
        for read in input.chunks(read_size.max(1)) {
            h.push(read);
        }
        h.events
    }

    fn run(&mut self) {
        loop {
            match &mut self.state {
                State::Closed => return,
                State::Head => match self.parser.parse(&self.buf) {
                    Err(e) => {
                        self.events.push(Ev::Error(e));
                        self.state = State::Closed;
                    }
                    Ok(Status::Partial) => return,
                    Ok(Status::Complete { consumed }) => {
                        let req = self.parser.request(&self.buf);
                        assert_eq!(req.head_len(), consumed);
                        let mut params = Vec::new();
                        let n = cgi_params(&req, &conn_info(), &mut params);
                        assert_eq!(fcgi_proto::params::validate(&params), Ok(n));
                        self.events.push(Ev::Request {
                            method: req.method().to_owned(),
                            target: req.target().to_owned(),
                            version: req.version(),
                            keep_alive: req.keep_alive(),
                            expect_continue: req.expect_continue(),
                            headers: req
                                .headers()
                                .map(|(n, v)| (n.to_owned(), v.to_vec()))
                                .collect(),
                            params,
                        });
                        let decoder = BodyDecoder::new(req.body(), &self.limits);
                        let keep_alive = req.keep_alive();
                        self.buf.drain(..consumed);
                        self.state = State::Body {
                            decoder,
                            data: Vec::new(),
                            keep_alive,
                        };
                    }
                },
                State::Body {
                    decoder,
                    data,
                    keep_alive,
                } => match decoder.decode(&self.buf) {
                    Err(e) => {
                        self.events.push(Ev::Error(e));
                        self.state = State::Closed;
                    }
                    Ok(step) => {
                        assert!(step.consumed <= self.buf.len());
                        data.extend_from_slice(step.data);
                        let (consumed, done, needs_input) =
                            (step.consumed, step.done, step.needs_input());
                        self.buf.drain(..consumed);
                        if done {
                            let body = std::mem::take(data);
                            let keep_alive = *keep_alive;
                            self.events.push(Ev::Body(body));
                            self.state = if keep_alive {
                                State::Head
                            } else {
                                State::Closed
                            };
                        } else if needs_input {
                            return;
                        }
                    }
                },
            }
        }
    }
}

/// Errors in a trace.
pub fn errors(events: &[Ev]) -> Vec<HttpError> {
    events
        .iter()
        .filter_map(|e| match e {
            Ev::Error(e) => Some(*e),
            _ => None,
        })
        .collect()
}

/// Targets of the requests in a trace.
pub fn targets(events: &[Ev]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Ev::Request { target, .. } => Some(target.clone()),
            _ => None,
        })
        .collect()
}

/// Bodies in a trace.
pub fn bodies(events: &[Ev]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            Ev::Body(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}
