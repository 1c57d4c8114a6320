//! Arbitrary bytes into an HTTP/1.1 connection loop (RequestParser +
//! BodyDecoder, pipelined), fed the way a socket would deliver them. Checks,
//! beyond "no panic":
//! - the same bytes cut into different reads give the same requests, bodies
//!   and error (every check fires at the byte that decides it);
//! - a parsed head's CGI params are well-formed name-value pairs;
//! - the response written for each request parses back as HTTP, and an
//!   error answer carries the error's status.
//!
//! The first input byte picks the limits and the read size; the rest is the
//! byte stream.
#![no_main]

use fcgi_http::{
    cgi_params, encode_head, error_response, BodyDecoder, BodyLength, ConnInfo, Framing,
    HttpError, Limits, RequestParser, Status,
};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Request(String, Vec<(String, Vec<u8>)>, bool, bool),
    Body(Vec<u8>),
    Error(HttpError),
}

/// The trace, the bytes written, and the framing of each response written
/// (`None`: an error answer).
type Run = (Vec<Ev>, Vec<u8>, Vec<Option<Framing>>);

fn run(input: &[u8], read_size: usize, limits: &Limits) -> Run {
    let conn = ConnInfo::new(
        Some("127.0.0.1:80".parse().unwrap()),
        Some("[::ffff:10.1.2.3]:5000".parse().unwrap()),
    );
    let mut parser = RequestParser::new(limits.clone());
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut events = Vec::new();
    let mut framings = Vec::new();
    let mut body: Option<(BodyDecoder, Vec<u8>, bool, fcgi_http::ResponseContext<'static>)> = None;
    'reads: for read in input.chunks(read_size) {
        buf.extend_from_slice(read);
        loop {
            if let Some((decoder, data, keep_alive, ctx)) = &mut body {
                match decoder.decode(&buf) {
                    Err(e) => {
                        events.push(Ev::Error(e));
                        error_response(&mut out, e.status(), None);
                        framings.push(None);
                        break 'reads;
                    }
                    Ok(step) => {
                        assert!(step.consumed <= buf.len());
                        data.extend_from_slice(step.data);
                        let (consumed, done, needs) = (step.consumed, step.done, step.needs_input());
                        buf.drain(..consumed);
                        if done {
                            let data = std::mem::take(data);
                            // Odd lengths stream (chunked or until close).
                            let length = if data.len() % 2 == 0 {
                                BodyLength::Known(data.len() as u64)
                            } else {
                                BodyLength::Unknown
                            };
                            let mut enc = encode_head(
                                &mut out,
                                200,
                                [("X-Len", data.len().to_string())],
                                length,
                                ctx,
                            );
                            framings.push(Some(enc.framing()));
                            enc.write(&mut out, &data).unwrap();
                            enc.finish(&mut out).unwrap();
                            events.push(Ev::Body(data));
                            let keep = *keep_alive && enc.keep_alive();
                            body = None;
                            if !keep {
                                break 'reads;
                            }
                        } else if needs {
                            continue 'reads;
                        }
                    }
                }
                continue;
            }
            match parser.parse(&buf) {
                Err(e) => {
                    events.push(Ev::Error(e));
                    error_response(&mut out, e.status(), None);
                    framings.push(None);
                    break 'reads;
                }
                Ok(Status::Partial) => continue 'reads,
                Ok(Status::Complete { consumed }) => {
                    let req = parser.request(&buf);
                    let mut params = Vec::new();
                    let n = cgi_params(&req, &conn, &mut params);
                    assert_eq!(fcgi_proto::params::validate(&params), Ok(n));
                    events.push(Ev::Request(
                        format!("{} {} {:?}", req.method(), req.target(), req.version()),
                        req.headers().map(|(n, v)| (n.to_owned(), v.to_vec())).collect(),
                        req.keep_alive(),
                        req.expect_continue(),
                    ));
                    let decoder = BodyDecoder::new(req.body(), limits);
                    body = Some((decoder, Vec::new(), req.keep_alive(), req.response_context()));
                    buf.drain(..consumed);
                }
            }
        }
    }
    (events, out, framings)
}

/// `out` is exactly the responses written, each a valid HTTP/1.1 response
/// whose body is framed as its encoder said.
fn check_output(out: &[u8], events: &[Ev], framings: &[Option<Framing>]) {
    let mut pos = 0;
    let mut statuses = Vec::new();
    for framing in framings {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut res = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(n) = res.parse(&out[pos..]).expect("valid response head")
        else {
            panic!("partial response head");
        };
        statuses.push(res.code.unwrap());
        let length = res
            .headers
            .iter()
            .find(|h| h.name == "Content-Length")
            .map(|h| std::str::from_utf8(h.value).unwrap().parse::<usize>().unwrap());
        pos += n;
        match framing {
            None => pos += length.expect("error answers have a length"),
            Some(Framing::NoBody) => {}
            Some(Framing::Length(n)) => {
                assert_eq!(length, Some(*n as usize));
                pos += *n as usize;
            }
            Some(Framing::UntilClose) => pos = out.len(),
            Some(Framing::Chunked) => {
                let mut d = BodyDecoder::new(fcgi_http::BodyKind::Chunked, &Limits::default());
                loop {
                    let step = d.decode(&out[pos..]).expect("valid chunked body");
                    pos += step.consumed;
                    if step.done {
                        break;
                    }
                    assert!(!step.needs_input(), "truncated chunked body");
                }
            }
        }
    }
    assert_eq!(pos, out.len());
    if let Some(Ev::Error(e)) = events.last() {
        assert_eq!(statuses.last(), Some(&e.status()));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, input)) = data.split_first() else {
        return;
    };
    let limits = if knobs & 1 == 0 {
        Limits::default()
    } else {
        // Small limits reach 414, 431, 413 and the chunk limits often.
        Limits {
            max_target_bytes: 24,
            max_head_bytes: 200,
            max_headers: 4,
            max_body_bytes: 300,
            max_chunk_line_bytes: 16,
            max_trailer_bytes: 40,
        }
    };
    let read_size = 1 + (knobs >> 1) as usize;
    let whole = run(input, input.len().max(1), &limits);
    let split = run(input, read_size, &limits);
    assert_eq!(whole, split);
    check_output(&whole.1, &whole.0, &whole.2);
});
