//! Wire formats. One module per format; each turns bytes into its own typed values and
//! those into domain values, returning the value together with the issues it found (with
//! locations). Only this module knows formats; nothing here does IO beyond reading the
//! bytes it is handed.

pub mod archive;
pub mod fhir;
pub mod hl7v2;
pub mod lab_csv;
pub mod ssmix2;
pub mod tokutei;
pub mod uke;
