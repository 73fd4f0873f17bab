//! Bounds what a WebSocket client can make the server hold, from the frames' headers alone.
//!
//! actix-http's frame parser checks a frame's size only once the whole frame has arrived, so a
//! header that declares a huge payload makes it buffer that payload first. The guard sits
//! between the connection's bytes and the parser and reads only the headers (2 to 14 bytes a
//! frame): a frame, or a fragmented message in total, larger than the limit ends the stream
//! as soon as its header says so, before any of its payload is kept.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use actix_web::dev;
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;

/// Why the guard ended a client's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A frame or message larger than the limit (close code 1009, message too big).
    TooBig,
    /// A frame no client may send: a control frame over 125 bytes, or fragments out of order
    /// (close code 1002, protocol error).
    Malformed,
}

impl Violation {
    /// The close code and reason that tell the client.
    #[must_use]
    pub fn close(self) -> (u16, &'static str) {
        match self {
            Self::TooBig => (1009, "message too big"),
            Self::Malformed => (1002, "protocol error"),
        }
    }
}

/// Where the guard reports a violation to the connection, which closes with its code.
#[derive(Debug, Clone, Default)]
pub struct Verdict(Arc<OnceLock<Violation>>);

impl Verdict {
    /// The violation, if the guard found one.
    #[must_use]
    pub fn get(&self) -> Option<Violation> {
        self.0.get().copied()
    }
}

/// The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
const MAX_HEADER: usize = 14;
/// The largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// Where the guard is in the byte stream.
#[derive(Debug)]
enum Position {
    /// Collecting a frame's header.
    Header {
        bytes: [u8; MAX_HEADER],
        have: usize,
    },
    /// Passing `remaining` bytes of a payload through.
    Payload { remaining: u64 },
}

/// Reads frame headers as the bytes go by; see the module's documentation.
#[derive(Debug)]
pub struct FrameGuard {
    position: Position,
    limit: u64,
    /// The size so far of the data message being received in fragments, if any.
    message: Option<u64>,
}

impl FrameGuard {
    /// A guard of frames and messages of at most `limit` bytes.
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            position: Position::Header {
                bytes: [0; MAX_HEADER],
                have: 0,
            },
            limit: u64::try_from(limit).unwrap_or(u64::MAX),
            message: None,
        }
    }

    /// Looks at the next bytes of the stream.
    ///
    /// # Errors
    /// The first violation found; the guard must not be fed after one.
    pub fn inspect(&mut self, mut chunk: &[u8]) -> Result<(), Violation> {
        while !chunk.is_empty() {
            match &mut self.position {
                Position::Payload { remaining } => {
                    let step =
                        usize::try_from(*remaining).map_or(chunk.len(), |r| r.min(chunk.len()));
                    *remaining -= step as u64;
                    chunk = &chunk[step..];
                    if *remaining == 0 {
                        self.position = Position::Header {
                            bytes: [0; MAX_HEADER],
                            have: 0,
                        };
                    }
                }
                Position::Header { bytes, have } => {
                    let step = (MAX_HEADER - *have).min(chunk.len());
                    bytes[*have..*have + step].copy_from_slice(&chunk[..step]);
                    let before = *have;
                    *have += step;
                    match header_len(&bytes[..*have]) {
                        None => chunk = &chunk[step..],
                        Some(len) => {
                            let header = *bytes;
                            // Only the header's own bytes are consumed here.
                            chunk = &chunk[len - before..];
                            let payload = self.on_header(&header)?;
                            self.position = if payload == 0 {
                                Position::Header {
                                    bytes: [0; MAX_HEADER],
                                    have: 0,
                                }
                            } else {
                                Position::Payload { remaining: payload }
                            };
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks a complete header; returns its payload's length.
    fn on_header(&mut self, header: &[u8; MAX_HEADER]) -> Result<u64, Violation> {
        let fin = header[0] & 0x80 != 0;
        let opcode = header[0] & 0x0f;
        let length = payload_len(header);
        if opcode >= 0x8 {
            // Control frames may come between fragments; they are small and never fragmented.
            return if length > MAX_CONTROL_PAYLOAD || !fin {
                Err(Violation::Malformed)
            } else {
                Ok(length)
            };
        }
        let so_far = match (opcode, self.message) {
            // A continuation adds to the message under way.
            (0x0, Some(so_far)) => so_far,
            // A new text or binary message (any other opcode is left to the parser).
            (0x0, None) | (_, Some(_)) => return Err(Violation::Malformed),
            (_, None) => 0,
        };
        let total = so_far.saturating_add(length);
        if total > self.limit {
            return Err(Violation::TooBig);
        }
        self.message = (!fin).then_some(total);
        Ok(length)
    }
}

/// The length of the header that `bytes` starts with, once enough of it is there.
fn header_len(bytes: &[u8]) -> Option<usize> {
    let second = *bytes.get(1)?;
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    let len = match second & 0x7f {
        126 => 4 + mask,
        127 => 10 + mask,
        _ => 2 + mask,
    };
    (bytes.len() >= len).then_some(len)
}

/// The payload length a complete header declares.
fn payload_len(header: &[u8; MAX_HEADER]) -> u64 {
    match header[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
        127 => u64::from_be_bytes(header[2..10].try_into().expect("eight bytes")),
        short => u64::from(short),
    }
}

/// The client's byte stream, passed through a [`FrameGuard`].
struct Guarded {
    inner: dev::Payload,
    guard: FrameGuard,
    verdict: Verdict,
}

impl Stream for Guarded {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.verdict.get().is_some() {
            return Poll::Ready(None);
        }
        let next = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &next {
            if let Err(violation) = self.guard.inspect(bytes) {
                let _ = self.verdict.0.set(violation);
                return Poll::Ready(Some(Err(PayloadError::Overflow)));
            }
        }
        next
    }
}

/// Wraps a WebSocket's payload in a guard of `limit` bytes; the verdict says why it ended, if
/// the guard ended it.
pub fn guard(payload: dev::Payload, limit: usize) -> (dev::Payload, Verdict) {
    let verdict = Verdict::default();
    let guarded = Guarded {
        inner: payload,
        guard: FrameGuard::new(limit),
        verdict: verdict.clone(),
    };
    (
        dev::Payload::Stream {
            payload: Box::pin(guarded),
        },
        verdict,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame's header.
    fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut h = vec![u8::from(fin) << 7 | opcode];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&len.to_be_bytes());
            }
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    fn frame(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
        let mut f = header(fin, opcode, len as u64);
        f.extend(std::iter::repeat_n(b'x', len));
        f
    }

    #[test]
    fn frames_within_the_limit_pass_in_any_chunking() {
        let mut bytes = frame(true, 1, 10);
        bytes.extend(frame(true, 9, 4));
        bytes.extend(frame(true, 2, 300));
        bytes.extend(frame(true, 1, 70_000));
        for chunk in [1, 3, 7, 1000, bytes.len()] {
            let mut guard = FrameGuard::new(70_000);
            for piece in bytes.chunks(chunk) {
                assert_eq!(guard.inspect(piece), Ok(()), "chunks of {chunk}");
            }
        }
    }

    #[test]
    fn a_header_declaring_too_much_is_refused_before_its_payload() {
        let mut guard = FrameGuard::new(65_536);
        assert_eq!(
            guard.inspect(&header(true, 1, 65_537)),
            Err(Violation::TooBig)
        );
        let mut guard = FrameGuard::new(65_536);
        assert_eq!(
            guard.inspect(&header(true, 1, i64::MAX as u64)),
            Err(Violation::TooBig)
        );
    }

    #[test]
    fn a_fragmented_message_is_bounded_in_total() {
        let mut guard = FrameGuard::new(100);
        assert_eq!(guard.inspect(&frame(false, 1, 60)), Ok(()));
        // A ping between fragments is allowed and does not count.
        assert_eq!(guard.inspect(&frame(true, 9, 100)), Ok(()));
        assert_eq!(guard.inspect(&frame(false, 0, 40)), Ok(()));
        assert_eq!(guard.inspect(&header(false, 0, 1)), Err(Violation::TooBig));
        // Once finished, the next message starts from zero.
        let mut guard = FrameGuard::new(100);
        for _ in 0..10 {
            assert_eq!(guard.inspect(&frame(false, 1, 50)), Ok(()));
            assert_eq!(guard.inspect(&frame(true, 0, 50)), Ok(()));
        }
    }

    #[test]
    fn control_frames_and_fragments_out_of_order_are_malformed() {
        let mut guard = FrameGuard::new(1 << 20);
        assert_eq!(
            guard.inspect(&header(true, 9, 126)),
            Err(Violation::Malformed)
        );
        let mut guard = FrameGuard::new(1 << 20);
        assert_eq!(
            guard.inspect(&header(true, 0, 1)),
            Err(Violation::Malformed)
        );
        let mut guard = FrameGuard::new(1 << 20);
        assert_eq!(guard.inspect(&frame(false, 1, 1)), Ok(()));
        assert_eq!(
            guard.inspect(&header(true, 1, 1)),
            Err(Violation::Malformed)
        );
    }
}
