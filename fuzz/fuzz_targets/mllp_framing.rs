//! Arbitrary bytes as an MLLP stream, split into reads at arbitrary points: the
//! incremental framer must find exactly the frames the whole-buffer reference finds
//! (extra leading start bytes removed), in order, whatever the split, and hold nothing but
//! the unfinished frame. Nothing may panic.

#![no_main]

use kakari::mllp::{Framer, START, next_frame};
use libfuzzer_sys::fuzz_target;

/// The frames of a whole stream, found by the reference.
fn reference(mut stream: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut frames = Vec::new();
    while let Some((range, consumed)) = next_frame(stream) {
        let payload = &stream[range];
        let first = payload.iter().position(|&b| b != START).unwrap_or(payload.len());
        frames.push(payload[first..].to_vec());
        stream = &stream[consumed..];
    }
    let held = stream.iter().position(|&b| b == START).map_or(0, |at| stream.len() - at);
    (frames, held)
}

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the read sizes (1..=64), the rest is the stream.
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let mut framer = Framer::new();
    let mut frames = Vec::new();
    let mut at = 0;
    let mut step = usize::from(seed % 64) + 1;
    while at < stream.len() {
        let end = (at + step).min(stream.len());
        framer.push(&stream[at..end]);
        while let Some(frame) = framer.next_frame() {
            frames.push(frame);
        }
        at = end;
        step = step * 7 % 64 + 1;
    }
    let (expected, held) = reference(stream);
    assert_eq!(frames, expected);
    assert_eq!(framer.buffered(), held);
});
