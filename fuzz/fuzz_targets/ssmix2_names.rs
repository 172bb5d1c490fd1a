//! An SS-MIX2 storage path and file content: the first line is the path, the rest the
//! file. Path and 7-part file-name rules, the record key, the message checks against the
//! path, and the whole per-file intake preparation. Nothing may panic.

#![no_main]

use kakari::codec::ssmix2::{self, StoragePath};
use kakari::domain::InstitutionCode;
use kakari::intake::storage_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (first, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(path) = std::str::from_utf8(first) else {
        return;
    };
    let (parsed, _) = StoragePath::parse(path);
    if let Some(parsed) = parsed {
        let _ = parsed.record_key();
        let _ = parsed.data_type_definition();
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let _ = StoragePath::parse_file_name(name);
    let _ = ssmix2::check_file(path, rest);
    if let Ok(facility) = InstitutionCode::parse("1311234567") {
        let _ = storage_file::prepare_file(path, rest.to_vec(), &facility);
    }
});
