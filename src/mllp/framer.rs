//! MLLP framing, read incrementally: `0x0B` payload `0x1C 0x0D`.
//!
//! Bytes arrive in pieces (64 KiB reads, or a byte at a time). The framer keeps only the
//! unfinished frame and remembers how far it has looked for the end marker, so each byte
//! is examined once however the frame is split: a 16 MiB frame sent in 64 KiB pieces costs
//! one pass, not 256 growing rescans. Bytes before a start byte (noise between frames) are
//! dropped at once and never held. Extra start bytes at the head of a frame (`0x0B 0x0B
//! MSH|…`, which some senders emit) are tolerated and removed; a start byte anywhere else
//! stays in the payload (the HL7 reader reports it as `hl7.framing`).

use memchr::memchr;

pub const START: u8 = 0x0b;
pub const END: u8 = 0x1c;
pub const CR: u8 = 0x0d;

/// Wraps a payload in MLLP framing.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 3);
    out.push(START);
    out.extend_from_slice(payload);
    out.extend_from_slice(&[END, CR]);
    out
}

/// Finds the first complete frame in a whole buffer: `(payload range, bytes consumed)`.
/// Bytes before a start byte are discarded (noise between frames). The reference the
/// incremental [`Framer`] is checked against (it also removes extra leading start bytes).
pub fn next_frame(buffer: &[u8]) -> Option<(std::ops::Range<usize>, usize)> {
    let start = buffer.iter().position(|&b| b == START)?;
    let rest = buffer.get(start + 1..)?;
    let end = rest.windows(2).position(|w| w == [END, CR])?;
    Some((start + 1..start + 1 + end, start + 1 + end + 2))
}

/// Splits a byte stream into frame payloads as it arrives.
#[derive(Debug, Default)]
pub struct Framer {
    /// The unfinished frame, from its start byte (empty between frames).
    buffer: Vec<u8>,
    /// Offset in `buffer` up to which no end marker was found.
    scanned: usize,
}

impl Framer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held for the unfinished frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Takes received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.buffer.is_empty() {
            let Some(start) = memchr(START, bytes) else {
                return; // noise between frames
            };
            self.buffer.extend_from_slice(&bytes[start..]);
            self.scanned = 1;
        } else {
            self.buffer.extend_from_slice(bytes);
        }
    }

    /// The payload of the next complete frame, if one has arrived.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            let from = self.scanned.max(1);
            let Some(offset) = self.buffer.get(from..).and_then(|rest| memchr(END, rest)) else {
                self.scanned = self.buffer.len();
                return None;
            };
            let end = from + offset;
            match self.buffer.get(end + 1) {
                // The end byte is the last one so far: its CR may come with the next read.
                None => {
                    self.scanned = end;
                    return None;
                }
                Some(&CR) => return Some(self.take_frame(end)),
                Some(_) => self.scanned = end + 1,
            }
        }
    }

    /// Cuts the frame ending at `end` (the offset of its end byte) out of the buffer.
    fn take_frame(&mut self, end: usize) -> Vec<u8> {
        let mut payload = std::mem::take(&mut self.buffer);
        self.scanned = 0;
        // What follows the frame starts the next one (after any noise).
        self.push(&payload[end + 2..]);
        payload.truncate(end);
        let first = payload
            .iter()
            .position(|&b| b != START)
            .unwrap_or(payload.len());
        payload.drain(..first);
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_across_noise_and_partial_input() {
        let mut buffer = b"noise".to_vec();
        buffer.extend(frame(b"MSH|a"));
        buffer.extend(&frame(b"MSH|b")[..4]);
        let (range, consumed) = next_frame(&buffer).unwrap();
        assert_eq!(&buffer[range], b"MSH|a");
        let rest = &buffer[consumed..];
        assert!(next_frame(rest).is_none());
        assert!(next_frame(b"").is_none());
        assert!(next_frame(&[START, b'x', END]).is_none());
    }

    /// Feeds `stream` in pieces of `size` and collects the payloads.
    fn split(stream: &[u8], size: usize) -> (Vec<Vec<u8>>, usize) {
        let mut framer = Framer::new();
        let mut out = Vec::new();
        for piece in stream.chunks(size.max(1)) {
            framer.push(piece);
            while let Some(payload) = framer.next_frame() {
                out.push(payload);
            }
        }
        (out, framer.buffered())
    }

    #[test]
    fn any_split_of_the_stream_gives_the_same_frames() {
        let mut stream = b"noise\r\n".to_vec();
        stream.extend(frame(b"MSH|1\rPID|x\x1cy\r"));
        stream.extend(b"\x1c\r junk");
        stream.extend(frame(b"MSH|2"));
        stream.extend(frame(b""));
        stream.extend(&frame(b"MSH|3")[..5]);
        for size in [1, 2, 3, 5, 7, 64, 1 << 16] {
            let (frames, held) = split(&stream, size);
            assert_eq!(
                frames,
                vec![
                    b"MSH|1\rPID|x\x1cy\r".to_vec(),
                    b"MSH|2".to_vec(),
                    Vec::new()
                ],
                "pieces of {size}"
            );
            assert_eq!(held, 5, "pieces of {size}");
        }
    }

    #[test]
    fn extra_leading_start_bytes_are_tolerated() {
        let mut stream = vec![START, START];
        stream.extend(frame(b"MSH|a\x0bb"));
        let (frames, _) = split(&stream, 3);
        assert_eq!(frames, vec![b"MSH|a\x0bb".to_vec()]);
    }

    #[test]
    fn noise_is_never_held() {
        let (frames, held) = split(&vec![b'x'; 100_000], 4096);
        assert!(frames.is_empty());
        assert_eq!(held, 0);
    }

    #[test]
    fn a_large_frame_in_small_pieces_is_scanned_once() {
        // 4 MiB of payload in 64 KiB pieces: quadratic rescanning would take seconds even
        // in release builds; one pass takes milliseconds. Counted, not timed: the framer
        // never looks at a byte before `scanned` again.
        let payload = vec![b'a'; 4 << 20];
        let stream = frame(&payload);
        let mut framer = Framer::new();
        let mut looked_at = 0usize;
        let mut found = None;
        for piece in stream.chunks(64 * 1024) {
            framer.push(piece);
            let before = framer.scanned.max(1);
            found = framer.next_frame();
            if found.is_none() {
                looked_at += framer.buffered() - before;
            }
        }
        assert_eq!(found.map(|p| p.len()), Some(payload.len()));
        assert!(looked_at <= stream.len(), "{looked_at} bytes examined");
    }
}
