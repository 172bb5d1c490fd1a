//! Arbitrary bytes through everything an HL7 v2 body goes through: batch split, character
//! set detection and decoding, indexing, value lookups with escapes, segment-order check,
//! mapping to the domain, acknowledgement; and the first line through the SS-MIX2 path and
//! file-name rules and the location parser. Nothing may panic.

#![no_main]

use kakari::codec::hl7v2::{self, AckCode, Location};
use kakari::codec::ssmix2;
use kakari::domain::InstitutionCode;
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let Ok(facility) = InstitutionCode::parse("1311234567") else {
        return;
    };
    let now = OffsetDateTime::UNIX_EPOCH;
    let (received, _) = hl7v2::receive(data, &facility);
    for message in &received {
        match &message.outcome {
            Ok((parsed, mapped)) => {
                let code = AckCode::from_issues(&mapped.issues);
                let _ = hl7v2::acknowledge(parsed, code, "F1", &mapped.issues, now).to_bytes();
                for segment in parsed.segments() {
                    for n in 0..=segment.field_count() + 1 {
                        let field = segment.field(n);
                        for repetition in field.repetitions() {
                            let _ = repetition.component(2).subcomponent(2).text_checked();
                        }
                    }
                }
            }
            Err(rejected) => {
                let _ = hl7v2::reject_unreadable(rejected, "F1", now).to_bytes();
            }
        }
    }
    let first_line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    if let Ok(path) = std::str::from_utf8(first_line) {
        let _ = Location::parse(path);
        let check = ssmix2::check_file(path, data);
        if let Some(storage) = &check.path {
            let _ = storage.record_key();
        }
    }
});
