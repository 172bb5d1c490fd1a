//! Arbitrary bytes as a UKE claims file (レセプト電算): Shift_JIS decoding, records, receipts,
//! totals, and the mapping of receipts to medication records. Nothing may panic.

#![no_main]

use kakari::codec::uke;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = uke::parse(data) {
        let _ = uke::to_domain(&file, None);
    }
});
