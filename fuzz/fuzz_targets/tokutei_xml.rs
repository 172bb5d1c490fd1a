//! Arbitrary bytes as a 特定健診 submission: one CDA document or a ZIP archive in the MHLW
//! layout (XXE-safe XML reader, index, documents, item table). Nothing may panic.

#![no_main]

use kakari::codec::tokutei::{ReadLimits, read_submission};
use kakari::mapping::checkup_items::CheckupItems;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(items) = CheckupItems::bundled() else {
        return;
    };
    let _ = read_submission(data, items, &ReadLimits::default());
});
