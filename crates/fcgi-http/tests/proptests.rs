//! Properties: parsing is independent of how the input is split into reads;
//! generated valid requests parse back to what was generated; chunked
//! encode→decode roundtrips; arbitrary bytes never panic; CGI params are
//! well-formed with unique names; response heads parse as HTTP.

mod common;

use common::{bodies, errors, targets, Ev, Harness};
use fcgi_http::{
    encode_chunk, encode_head, BodyDecoder, BodyKind, BodyLength, Framing, Limits, ResponseContext,
    Version, LAST_CHUNK,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// Runs `input` cut at `cuts` (positions, any order, out-of-range ignored).
fn run_cut(limits: &Limits, input: &[u8], cuts: &[usize]) -> Vec<Ev> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut h = Harness::new(limits.clone());
    let mut prev = 0;
    for c in cuts.into_iter().chain([input.len()]) {
        h.push(&input[prev..c]);
        prev = c;
    }
    h.events
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    // VCHAR, SP, HTAB and obs-text; no leading or trailing whitespace.
    prop_oneof![
        "[!-~]([ -~\t]{0,20}[!-~])?".prop_map(String::into_bytes),
        vec(0x80u8..=0xff, 1..5),
        Just(Vec::new()),
    ]
}

#[derive(Clone, Debug)]
enum Body {
    None,
    Length(Vec<u8>),
    Chunked {
        chunks: Vec<Vec<u8>>,
        extension: bool,
        zeros: usize,
        trailers: Vec<(String, Vec<u8>)>,
    },
}

#[derive(Clone, Debug)]
struct Req {
    method: String,
    path: String,
    http10: bool,
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::None),
        vec(any::<u8>(), 1..300).prop_map(Body::Length),
        (
            vec(vec(any::<u8>(), 1..200), 0..4),
            any::<bool>(),
            1..4usize,
            vec((token(), header_value()), 0..3),
        )
            .prop_map(|(chunks, extension, zeros, trailers)| Body::Chunked {
                chunks,
                extension,
                zeros,
                trailers,
            }),
    ]
}

fn framing_name(name: &str) -> bool {
    [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "expect",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

fn req() -> impl Strategy<Value = Req> {
    (
        prop_oneof![
            Just("GET".to_owned()),
            Just("POST".to_owned()),
            Just("HEAD".to_owned()),
            "[A-Z]{1,10}"
        ],
        "/[A-Za-z0-9%/?=&._~-]{0,40}",
        any::<bool>(),
        vec((token(), header_value()), 0..8),
        body(),
    )
        .prop_map(|(method, path, http10, headers, body)| Req {
            method: if method == "CONNECT" {
                "GET".into()
            } else {
                method
            },
            path,
            http10,
            headers: headers
                .into_iter()
                .filter(|(n, _)| !framing_name(n))
                .collect(),
            // HTTP/1.0 with Transfer-Encoding closes after the request.
            body: match body {
                Body::Chunked { chunks, .. } if http10 => {
                    let data = chunks.concat();
                    if data.is_empty() {
                        Body::None
                    } else {
                        Body::Length(data)
                    }
                }
                body => body,
            },
        })
}

impl Req {
    fn encode(&self, out: &mut Vec<u8>) {
        let version = if self.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        out.extend_from_slice(format!("{} {} {version}\r\n", self.method, self.path).as_bytes());
        if self.http10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        } else {
            out.extend_from_slice(b"Host: example.com:80\r\n");
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        match &self.body {
            Body::None => out.extend_from_slice(b"\r\n"),
            Body::Length(data) => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", data.len()).as_bytes());
                out.extend_from_slice(data);
            }
            Body::Chunked {
                chunks,
                extension,
                zeros,
                trailers,
            } => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for chunk in chunks {
                    out.extend_from_slice(
                        format!("{:0width$X}", chunk.len(), width = *zeros).as_bytes(),
                    );
                    if *extension {
                        out.extend_from_slice(b";name=\"v a l\";flag");
                    }
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice("0".repeat(*zeros).as_bytes());
                out.extend_from_slice(b"\r\n");
                for (name, value) in trailers {
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b":");
                    out.extend_from_slice(value);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            Body::None => Vec::new(),
            Body::Length(data) => data.clone(),
            Body::Chunked { chunks, .. } => chunks.concat(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Valid pipelined requests parse back to what was generated, whichever
    /// way the bytes are cut.
    #[test]
    fn valid_requests_roundtrip_split_anywhere(
        reqs in vec(req(), 1..5),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let mut input = Vec::new();
        for r in &reqs {
            r.encode(&mut input);
        }
        let limits = Limits::default();
        let whole = Harness::run_all(&limits, &input, input.len());
        prop_assert_eq!(errors(&whole), vec![]);
        let expected_targets: Vec<String> = reqs.iter().map(|r| r.path.clone()).collect();
        prop_assert_eq!(targets(&whole), expected_targets);
        let expected_bodies: Vec<Vec<u8>> = reqs.iter().map(Req::body_bytes).collect();
        prop_assert_eq!(bodies(&whole), expected_bodies);
        for (ev, r) in whole.iter().filter(|e| matches!(e, Ev::Request { .. })).zip(&reqs) {
            let Ev::Request { method, version, keep_alive, headers, .. } = ev else { unreachable!() };
            prop_assert_eq!(method, &r.method);
            prop_assert_eq!(*version, if r.http10 { Version::Http10 } else { Version::Http11 });
            prop_assert!(*keep_alive);
            let user: Vec<_> = headers.iter().filter(|(n, _)| !framing_name(n)).cloned().collect();
            prop_assert_eq!(&user, &r.headers);
        }
        prop_assert_eq!(&run_cut(&limits, &input, &cuts), &whole);
        prop_assert_eq!(&Harness::run_all(&limits, &input, 1), &whole);
    }

    /// Arbitrary bytes, and valid requests with bytes changed: no panic, and
    /// the same trace however they are split, with tight limits too.
    #[test]
    fn garbage_never_panics_and_split_equals_whole(
        reqs in vec(req(), 1..3),
        edits in vec((any::<usize>(), any::<u8>(), 0..3u8), 0..4),
        noise in vec(any::<u8>(), 0..200),
        use_noise in any::<bool>(),
        tight in any::<bool>(),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let input = if use_noise {
            noise
        } else {
            let mut input = Vec::new();
            for r in &reqs {
                r.encode(&mut input);
            }
            for (at, byte, op) in edits {
                let at = at % (input.len() + 1);
                match op {
                    0 if at < input.len() => input[at] = byte,
                    1 => input.insert(at, byte),
                    _ if at < input.len() => { input.remove(at); }
                    _ => {}
                }
            }
            input
        };
        let limits = if tight {
            Limits {
                max_target_bytes: 16,
                max_head_bytes: 120,
                max_headers: 3,
                max_body_bytes: 100,
                max_chunk_line_bytes: 12,
                max_trailer_bytes: 20,
            }
        } else {
            Limits::default()
        };
        let whole = Harness::run_all(&limits, &input, input.len());
        prop_assert_eq!(&run_cut(&limits, &input, &cuts), &whole);
        prop_assert_eq!(&Harness::run_all(&limits, &input, 1), &whole);
    }

    /// CGI params: well-formed pairs, unique names (a JS object), fixed names
    /// first.
    #[test]
    fn cgi_params_have_unique_names(reqs in vec(req(), 1..3), dup in vec((0..3usize, header_value()), 0..4)) {
        let mut input = Vec::new();
        for r in &reqs {
            let mut r = r.clone();
            // Repeat some header names, in other cases and with `_`.
            for (i, value) in &dup {
                if let Some((name, _)) = r.headers.get(*i).cloned() {
                    r.headers.push((name.to_lowercase().replace('-', "_"), value.clone()));
                }
            }
            r.encode(&mut input);
        }
        for ev in Harness::run_all(&Limits::default(), &input, input.len()) {
            if let Ev::Request { params, .. } = ev {
                let names: Vec<Vec<u8>> = fcgi_proto::params::pairs(&params)
                    .map(|p| p.unwrap().name.to_vec())
                    .collect();
                let mut sorted = names.clone();
                sorted.sort();
                sorted.dedup();
                prop_assert_eq!(sorted.len(), names.len());
                prop_assert_eq!(&names[0], b"GATEWAY_INTERFACE");
                prop_assert_eq!(&names[13], b"QUERY_STRING");
            }
        }
    }

    /// Chunked: whatever the write sizes and read splits, the body comes back.
    #[test]
    fn chunked_encode_decode_roundtrip(
        data in vec(any::<u8>(), 0..5000),
        writes in vec(0..700usize, 0..20),
        reads in vec(1..600usize, 1..20),
        helper in any::<bool>(),
    ) {
        let mut wire = Vec::new();
        let ctx = ResponseContext::default();
        let mut head = Vec::new();
        let mut enc = encode_head(&mut head, 200, [("A", "b")], BodyLength::Unknown, &ctx);
        prop_assert_eq!(enc.framing(), Framing::Chunked);
        let mut rest = &data[..];
        for w in writes.iter().chain(std::iter::repeat(&700)) {
            if rest.is_empty() {
                break;
            }
            let (part, tail) = rest.split_at((*w).min(rest.len()));
            if helper {
                encode_chunk(&mut wire, part);
            } else {
                enc.write(&mut wire, part).unwrap();
            }
            rest = tail;
        }
        if helper {
            wire.extend_from_slice(LAST_CHUNK);
        } else {
            enc.finish(&mut wire).unwrap();
        }
        wire.extend_from_slice(b"NEXT");

        let mut decoder = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut fed = 0;
        let mut read = reads.iter().cycle();
        loop {
            let step = decoder.decode(&buf).unwrap();
            out.extend_from_slice(step.data);
            let (consumed, done, needs_input) = (step.consumed, step.done, step.needs_input());
            buf.drain(..consumed);
            if done {
                break;
            }
            if needs_input {
                let n = (*read.next().unwrap()).min(wire.len() - fed);
                prop_assert!(n > 0, "decoder wants more than the encoder wrote");
                buf.extend_from_slice(&wire[fed..fed + n]);
                fed += n;
            }
        }
        prop_assert_eq!(out, data);
        buf.extend_from_slice(&wire[fed..]);
        prop_assert_eq!(buf, b"NEXT");
    }

    /// Response heads are valid HTTP to a client, with consistent framing.
    #[test]
    fn response_heads_parse(
        status in prop_oneof![100..600u16, Just(204), Just(304), Just(200)],
        headers in vec((token(), "[!-~]([ -~]{0,10}[!-~])?"), 0..6),
        known in proptest::option::of(0..10_000u64),
        http10 in any::<bool>(),
        head_request in any::<bool>(),
        keep_alive in any::<bool>(),
        timeout in proptest::option::of(1..100u32),
    ) {
        let ctx = ResponseContext {
            version: if http10 { Version::Http10 } else { Version::Http11 },
            head_request,
            keep_alive,
            date: Some(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            keep_alive_timeout: timeout,
        };
        let length = known.map_or(BodyLength::Unknown, BodyLength::Known);
        let mut out = Vec::new();
        let enc = encode_head(&mut out, status, headers.iter().map(|(n, v)| (n, v)), length, &ctx);
        let mut parsed = [httparse::EMPTY_HEADER; 32];
        let mut res = httparse::Response::new(&mut parsed);
        prop_assert_eq!(res.parse(&out), Ok(httparse::Status::Complete(out.len())));
        prop_assert_eq!(res.code, Some(status));
        let count = |name: &str| res.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)).count();
        prop_assert!(count("content-length") <= 1);
        prop_assert!(count("transfer-encoding") <= 1);
        prop_assert!(count("connection") <= 1);
        prop_assert!(count("content-length") + count("transfer-encoding") <= 1);
        let no_body = (100..200).contains(&status) || status == 204 || status == 304 || head_request;
        if no_body {
            prop_assert_eq!(enc.framing(), Framing::NoBody);
        }
        match enc.framing() {
            Framing::Length(n) => {
                let cl = res.headers.iter().find(|h| h.name == "Content-Length").unwrap();
                let expected = n.to_string();
                prop_assert_eq!(cl.value, expected.as_bytes());
            }
            Framing::Chunked => prop_assert!(!http10 && count("transfer-encoding") == 1),
            Framing::UntilClose => prop_assert!(http10 && !enc.keep_alive()),
            Framing::NoBody => prop_assert!(no_body),
        }
        if !keep_alive {
            prop_assert!(!enc.keep_alive());
        }
    }
}
