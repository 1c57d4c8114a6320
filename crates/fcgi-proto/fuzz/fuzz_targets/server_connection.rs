//! Arbitrary bytes into `ServerConnection`, fed the way a socket would
//! deliver them. Checks, beyond "no panic":
//! - the same bytes cut into different reads give the same events, output
//!   and error (records are only handled whole);
//! - everything the connection writes decodes as whole, 8-byte-padded records.
//!
//! The first input byte picks the limits and the read size; the rest is the
//! byte stream.
#![no_main]

use fcgi_proto::decoder::Records;
use fcgi_proto::{Event, ProtocolError, ServerConfig, ServerConnection, Step};
use libfuzzer_sys::fuzz_target;

/// An owned, comparable trace of one run.
#[derive(Debug, PartialEq, Eq)]
struct Trace {
    events: Vec<String>,
    out: Vec<u8>,
    error: Option<ProtocolError>,
}

fn run(input: &[u8], read_size: usize, config: &ServerConfig) -> Trace {
    let mut conn = ServerConnection::new(config.clone());
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut events = Vec::new();
    let mut error = None;
    'reads: for read in input.chunks(read_size) {
        buf.extend_from_slice(read);
        let mut pos = 0;
        loop {
            match conn.feed(&buf[pos..], &mut out) {
                Err(e) => {
                    error = Some(e);
                    break 'reads;
                }
                Ok(Step::Incomplete { needed }) => {
                    assert!(needed > buf.len() - pos, "incomplete with enough bytes");
                    assert!(needed <= fcgi_proto::record::MAX_RECORD_LEN);
                    break;
                }
                Ok(Step::Record { consumed, event }) => {
                    assert!(consumed >= 8 && consumed <= buf.len() - pos);
                    pos += consumed;
                    let Some(event) = event else { continue };
                    events.push(format!("{event:?}"));
                    // React as an application would, so end paths run too.
                    match event {
                        Event::ParamsDone { id, .. } => {
                            conn.write_stdout(id, b"Status: 200 OK\r\n\r\nhi", &mut out);
                            if id % 2 == 0 {
                                conn.write_stderr(id, b"log", &mut out);
                            }
                            assert!(conn.end_request(id, 0, &mut out).is_some());
                        }
                        Event::Abort { id } => {
                            assert!(conn.end_request(id, 1, &mut out).is_some());
                        }
                        _ => {}
                    }
                }
            }
        }
        buf.drain(..pos);
    }
    assert!(conn.active_count() <= config.max_reqs);
    Trace { events, out, error }
}

fn check_output(out: &[u8]) {
    let mut records = Records::new(out);
    for record in records.by_ref() {
        let record = record.expect("output decodes");
        assert_eq!(record.encoded_len() % 8, 0);
    }
    assert_eq!(records.consumed(), out.len());
}

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, input)) = data.split_first() else {
        return;
    };
    let config = if knobs & 1 == 0 {
        ServerConfig::default()
    } else {
        // Small limits reach OVERLOADED and the 431 often.
        ServerConfig {
            max_reqs: 2,
            max_params_bytes: 300,
            max_params: 3,
            overloaded: knobs & 2 != 0,
            ..ServerConfig::default()
        }
    };
    let read_size = 1 + (knobs >> 2) as usize;
    let whole = run(input, input.len().max(1), &config);
    let split = run(input, read_size, &config);
    assert_eq!(whole, split);
    check_output(&whole.out);
});
