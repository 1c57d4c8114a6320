//! A caller of `ServerConnection` as the napi engine will be: a read buffer
//! that grows by arbitrary chunks, a feed loop, and owned copies of the events
//! so runs can be compared.
#![allow(dead_code)]

use fcgi_proto::decoder::Records;
use fcgi_proto::{
    encoder, Event, ProtocolError, RecordType, Refusal, Role, ServerConfig, ServerConnection, Step,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Begin(u16, Role, bool),
    ParamsDone(u16, Vec<u8>, usize),
    Stdin(u16, Vec<u8>),
    StdinEnd(u16),
    Data(u16, Vec<u8>),
    DataEnd(u16),
    Abort(u16),
    Refused(u16, Refusal, bool),
    BodyTooLarge(u16),
}

impl From<Event<'_>> for Ev {
    fn from(event: Event<'_>) -> Self {
        match event {
            Event::BeginRequest {
                id,
                role,
                keep_conn,
            } => Ev::Begin(id, role, keep_conn),
            Event::ParamsDone { id, params, count } => Ev::ParamsDone(id, params, count),
            Event::Stdin { id, chunk } => Ev::Stdin(id, chunk.to_vec()),
            Event::StdinEnd { id } => Ev::StdinEnd(id),
            Event::Data { id, chunk } => Ev::Data(id, chunk.to_vec()),
            Event::DataEnd { id } => Ev::DataEnd(id),
            Event::Abort { id } => Ev::Abort(id),
            Event::BodyTooLarge { id } => Ev::BodyTooLarge(id),
            Event::Refused {
                id,
                reason,
                keep_conn,
            } => Ev::Refused(id, reason, keep_conn),
        }
    }
}

/// How the simulated application reacts to events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum App {
    /// Only record events.
    Passive,
    /// Answer each request when its params are done, end aborted requests
    /// with app status 1.
    Respond,
}

pub struct Harness {
    pub conn: ServerConnection,
    pub app: App,
    pub buf: Vec<u8>,
    pub out: Vec<u8>,
    pub events: Vec<Ev>,
    pub error: Option<ProtocolError>,
}

impl Harness {
    pub fn new(config: ServerConfig, app: App) -> Self {
        Self {
            conn: ServerConnection::new(config),
            app,
            buf: Vec::new(),
            out: Vec::new(),
            events: Vec::new(),
            error: None,
        }
    }

    pub fn passive() -> Self {
        Self::new(ServerConfig::default(), App::Passive)
    }

    /// Appends a chunk of input and handles every complete record in it.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.buf.extend_from_slice(chunk);
        let mut pos = 0;
        loop {
            let step = match self.conn.feed(&self.buf[pos..], &mut self.out) {
                Ok(step) => step,
                Err(error) => {
                    self.error = Some(error);
                    break;
                }
            };
            let Step::Record { consumed, event } = step else {
                break;
            };
            assert!(consumed >= 8, "a record is at least a header");
            pos += consumed;
            if let Some(event) = event {
                let event = Ev::from(event);
                self.react(&event);
                self.events.push(event);
            }
        }
        self.buf.drain(..pos);
    }

    fn react(&mut self, event: &Ev) {
        if self.app != App::Respond {
            return;
        }
        match *event {
            Ev::ParamsDone(id, ref params, _) => {
                let body = format!("{} bytes of params", params.len());
                fcgi_proto::response_head::stdout_response(
                    &mut self.out,
                    id,
                    200,
                    [("Content-Type", "text/plain")],
                    body.as_bytes(),
                );
                self.conn.write_stderr(id, b"log line", &mut self.out);
                assert!(self.conn.end_request(id, 0, &mut self.out).is_some());
            }
            Ev::Abort(id) => {
                assert!(self.conn.end_request(id, 1, &mut self.out).is_some());
            }
            _ => {}
        }
    }

    /// The output so far as (type, id, content) records.
    pub fn out_records(&self) -> Vec<(RecordType, u16, Vec<u8>)> {
        records(&self.out)
    }
}

pub fn records(bytes: &[u8]) -> Vec<(RecordType, u16, Vec<u8>)> {
    let mut iter = Records::new(bytes);
    let all = iter
        .by_ref()
        .map(|record| {
            let record = record.expect("output decodes");
            assert_eq!(
                record.encoded_len() % 8,
                0,
                "output records are padded to 8"
            );
            (
                record.header.record_type,
                record.header.request_id,
                record.content.to_vec(),
            )
        })
        .collect();
    assert_eq!(
        iter.consumed(),
        bytes.len(),
        "output ends on a record boundary"
    );
    all
}

/// BEGIN_REQUEST with any role value.
pub fn begin(out: &mut Vec<u8>, id: u16, role: u16, keep_conn: bool) {
    let mut body = [0u8; 8];
    body[..2].copy_from_slice(&role.to_be_bytes());
    body[2] = u8::from(keep_conn);
    encoder::record(out, RecordType::BeginRequest, id, &body);
}

/// The whole params stream for these pairs, then its empty record.
pub fn params(out: &mut Vec<u8>, id: u16, pairs: &[(&[u8], &[u8])]) {
    let mut encoded = Vec::new();
    for (name, value) in pairs {
        fcgi_proto::params::encode_pair(&mut encoded, name, value);
    }
    encoder::params(out, id, &encoded);
    encoder::stream_end(out, RecordType::Params, id);
}

pub fn end_request_body(app_status: u32, protocol_status: u8) -> Vec<u8> {
    let mut body = app_status.to_be_bytes().to_vec();
    body.extend_from_slice(&[protocol_status, 0, 0, 0]);
    body
}
