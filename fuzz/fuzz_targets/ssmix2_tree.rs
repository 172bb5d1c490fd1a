//! Arbitrary bytes as an uploaded SS-MIX2 storage tree: archive recognition (zip, tar,
//! tar.gz), the safe walk (traversal, links, bombs, limits), and each file's intake
//! preparation (path rules, HL7 v2 decoding, mapping). Nothing may panic.

#![no_main]

use std::io::Cursor;

use kakari::codec::archive::{self, ArchiveKind, Limits};
use kakari::domain::InstitutionCode;
use kakari::intake::storage_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(facility) = InstitutionCode::parse("1311234567") else {
        return;
    };
    let limits = Limits {
        max_entries: 500,
        max_entry_bytes: 1024 * 1024,
        max_total_bytes: 8 * 1024 * 1024,
        max_ratio: 200,
    };
    // The sniffed kind first, then every kind: a walker must survive a mislabelled body.
    let kinds = [ArchiveKind::Zip, ArchiveKind::Tar, ArchiveKind::TarGz];
    for kind in archive::sniff(data).into_iter().chain(kinds) {
        let _ = archive::walk_archive(
            Cursor::new(data),
            kind,
            &limits,
            &archive::everything,
            &mut |entry| {
                let _ = storage_file::tree_item(entry, &facility);
                true
            },
        );
    }
});
