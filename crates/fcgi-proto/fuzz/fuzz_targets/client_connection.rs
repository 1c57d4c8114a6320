//! Arbitrary bytes from a "back end" into `ClientConnection::feed`, the
//! parser `fcgi request` and the load generator run on what an application
//! sends. Checks, beyond "no panic":
//! - the same bytes cut into different reads give the same events and error
//!   (records are only handled whole);
//! - `Incomplete` asks for more than it has and at most one record;
//! - only open ids get STDOUT/STDERR/END_REQUEST, END_REQUEST frees the id,
//!   and after an error every later feed repeats it.
//!
//! The first input byte picks how many ids are open (1..=4, plus id 0x0100
//! when its top bit is set) and the read size; the rest is the byte stream.
#![no_main]

use fcgi_proto::{ClientConnection, ClientEvent, ProtocolError, Role, Step};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq, Eq)]
struct Trace {
    events: Vec<String>,
    error: Option<ProtocolError>,
    active: usize,
}

fn open(knobs: u8) -> ClientConnection {
    let mut client = ClientConnection::new();
    let mut out = Vec::new();
    let mut ids: Vec<u16> = (1..=u16::from(knobs & 3) + 1).collect();
    if knobs & 0x80 != 0 {
        ids.push(0x0100);
    }
    for id in ids {
        client
            .begin_request(id, Role::Responder, true, &mut out)
            .expect("fresh id");
        client.params(id, [(&b"A"[..], &b"b"[..])], &mut out);
        client.stdin_end(id, &mut out);
    }
    client
}

fn run(input: &[u8], read_size: usize, knobs: u8) -> Trace {
    let mut client = open(knobs);
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let mut error = None;
    'reads: for read in input.chunks(read_size) {
        buf.extend_from_slice(read);
        let mut pos = 0;
        loop {
            let before = client.active_count();
            match client.feed(&buf[pos..]) {
                Err(e) => {
                    // A failed connection stays failed.
                    assert_eq!(client.feed(&[]), Err(e.clone()));
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
                    let event = event.expect("every record a client accepts is an event");
                    match &event {
                        ClientEvent::End { id, .. } => {
                            assert!(!client.is_active(*id));
                            assert_eq!(client.active_count(), before - 1);
                        }
                        ClientEvent::Stdout { id, chunk } | ClientEvent::Stderr { id, chunk } => {
                            assert!(client.is_active(*id));
                            assert!(!chunk.is_empty());
                        }
                        ClientEvent::StdoutEnd { id } | ClientEvent::StderrEnd { id } => {
                            assert!(client.is_active(*id));
                        }
                        ClientEvent::GetValuesResult { content } => {
                            assert!(fcgi_proto::params::validate(content).is_ok());
                        }
                        ClientEvent::UnknownType { .. } => {}
                    }
                    events.push(format!("{event:?}"));
                }
            }
        }
        buf.drain(..pos);
    }
    Trace {
        events,
        error,
        active: client.active_count(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, input)) = data.split_first() else {
        return;
    };
    let read_size = 1 + ((knobs >> 2) & 0x1f) as usize * 3;
    let whole = run(input, input.len().max(1), knobs);
    let split = run(input, read_size, knobs);
    assert_eq!(whole, split);
});
