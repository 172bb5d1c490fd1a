//! The command line of `kakari convert` and the combinations of formats that make sense.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::Fatal;

/// What the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// An SS-MIX2 standardized storage tree: a directory, or a zip / tar / tar.gz of one.
    Ssmix2,
    /// HL7 v2.5 messages: a file (one message or a batch) or a directory of files.
    Hl7v2,
    /// A UKE (レセプト電算) claims file.
    Uke,
    /// A 特定健診 ZIP in the MHLW layout, or one CDA XML document.
    Tokutei,
    /// FHIR R4 JSON: a Bundle (transaction, batch, document, collection) or one resource
    /// per file, NDJSON (`.ndjson`, one resource a line), or a directory of such files.
    Fhir,
}

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// JP Core FHIR R4 JSON: one collection Bundle per patient (a file each in -o DIR), or
    /// one Bundle of everything on stdout.
    Fhir,
    /// FHIR resources, one per line.
    Ndjson,
    /// Lab results in the insurer pull's CSV layout.
    Csv,
    /// Lab results as 特定健診 ZIP archives in the MHLW layout (one per insurer).
    Tokutei,
}

/// `kakari convert`.
#[derive(Debug, Clone, Args)]
pub struct ConvertArgs {
    /// Input format.
    #[arg(long, value_enum)]
    pub from: InputFormat,
    /// Output format.
    #[arg(long, value_enum)]
    pub to: OutputFormat,
    /// Input file, directory or archive.
    pub input: PathBuf,
    /// Output file (ndjson, csv) or directory (fhir, tokutei); stdout when omitted
    /// (fhir, ndjson, csv).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Also write the per-file report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// 10-digit institution code: the clinic an SS-MIX2 tree, HL7 messages or FHIR
    /// resources come from (their patient ids are its own), and the sender of a tokutei
    /// archive.
    #[arg(long)]
    pub facility: Option<String>,
    /// Directory of drug masters (支払基金 `y_*.csv`, HOT) naming UKE drugs; the curated
    /// table only when omitted.
    #[arg(long, env = "KAKARI_MASTERS_DIR")]
    pub masters: Option<PathBuf>,
}

/// Refuses a combination that makes no sense: lab outputs need an input that carries lab
/// results (UKE claims carry none).
pub fn check_combination(from: InputFormat, to: OutputFormat) -> Result<(), Fatal> {
    match (from, to) {
        (InputFormat::Uke, OutputFormat::Csv | OutputFormat::Tokutei) => Err(Fatal(format!(
            "--from uke --to {}: UKE claims carry no lab results; use --to fhir or --to ndjson",
            if to == OutputFormat::Csv {
                "csv"
            } else {
                "tokutei"
            }
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_have_no_lab_output() {
        assert!(check_combination(InputFormat::Uke, OutputFormat::Csv).is_err());
        assert!(check_combination(InputFormat::Uke, OutputFormat::Tokutei).is_err());
        assert!(check_combination(InputFormat::Uke, OutputFormat::Fhir).is_ok());
        assert!(check_combination(InputFormat::Tokutei, OutputFormat::Tokutei).is_ok());
        assert!(check_combination(InputFormat::Ssmix2, OutputFormat::Csv).is_ok());
    }
}
