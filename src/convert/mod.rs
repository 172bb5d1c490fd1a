//! `kakari convert`: offline conversion between the formats kakari reads and writes, with
//! no database and no server.
//!
//! ```text
//! input (ssmix2 tree or archive | hl7v2 files | UKE file | 特定健診 ZIP or XML | FHIR JSON)
//!   └─ from_* readers: the codecs decode and map each file (codec::hl7v2, codec::ssmix2
//!      via intake::storage_file, codec::uke, codec::tokutei, codec::fhir::admit)
//!        ├─ offline: what the gateway would decide (accepted, duplicate, superseded,
//!        │  rejected: intake::decide), without a store
//!        ├─ report: one row per file, the SS-MIX2 import report's vocabulary
//!        └─ patients: the persons and patients in memory, linked by the gateway's own
//!           rules (intake::identity)
//!   └─ to_fhir (fhir, ndjson) or to_lab (csv, tokutei) writers
//! ```
//!
//! Layering: convert uses the core (`domain`, `codec`, `mapping`, `intake`), never
//! `service`, `store` or `http`.
//!
//! One concept per file: `args` (the command line and which combinations make sense),
//! `offline`, `patients`, `report`, `progress`, one reader per input format and one
//! writer per output family. Exit codes: 0 all files converted, 1 some files rejected
//! (the others converted), 2 usage error or unreadable input / unwritable output.
//! Errors name locations (file, line, segment, field), never patient values.

mod args;
mod from_fhir;
mod from_hl7v2;
mod from_ssmix2;
mod from_tokutei;
mod from_uke;
mod input_files;
mod offline;
mod patients;
mod progress;
mod report;
mod to_fhir;
mod to_lab;

use std::process::ExitCode;

pub use args::{ConvertArgs, InputFormat, OutputFormat};
pub use patients::{Patient, Patients, RecordPlace};
pub use report::ConvertReport;

use crate::domain::InstitutionCode;
use crate::intake::FileReport;
use crate::mapping::checkup_items::CheckupItems;

/// Why a conversion could not run at all (exit code 2). Says where, never what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal(pub String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<crate::codec::archive::Stop> for Fatal {
    fn from(stop: crate::codec::archive::Stop) -> Self {
        crate::intake::report::stop_problem(stop).into()
    }
}

impl From<crate::error::Problem> for Fatal {
    fn from(p: crate::error::Problem) -> Self {
        let first = p.issues.first();
        Fatal(format!(
            "{}{}: {}",
            p.code.as_str(),
            first
                .map(|i| format!(" at {}", i.location))
                .unwrap_or_default(),
            first.map_or("", |i| i.message.as_str())
        ))
    }
}

/// Runs `kakari convert`.
pub fn run(args: &ConvertArgs) -> ExitCode {
    match convert(args) {
        Ok(report) => {
            report.print_table(&mut std::io::stderr().lock());
            if let Some(path) = &args.report
                && let Err(e) = report.write_json(path)
            {
                eprintln!("kakari convert: {e}");
                return ExitCode::from(2);
            }
            if report.summary.rejected > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(fatal) => {
            eprintln!("kakari convert: {fatal}");
            ExitCode::from(2)
        }
    }
}

fn facility(args: &ConvertArgs, why: &str) -> Result<InstitutionCode, Fatal> {
    let raw = args
        .facility
        .as_deref()
        .ok_or_else(|| Fatal(format!("--facility CODE10 is required {why}")))?;
    InstitutionCode::parse(raw)
        .map_err(|_| Fatal("--facility must be a 10-digit institution code".into()))
}

/// Reads the input as the gateway would take it in: the persons and patients with their
/// records, and one report row per file (or message, resource). Writes nothing.
pub fn read(args: &ConvertArgs) -> Result<(Patients, Vec<FileReport>), Fatal> {
    if !args.input.exists() {
        return Err(Fatal("the input does not exist".into()));
    }
    let mut patients = Patients::default();
    let files = match args.from {
        InputFormat::Ssmix2 => {
            let facility = facility(args, "with --from ssmix2 (the clinic the tree is from)")?;
            from_ssmix2::read(&args.input, &facility, &mut patients)?
        }
        InputFormat::Hl7v2 => {
            let facility = facility(args, "with --from hl7v2 (the sending clinic)")?;
            from_hl7v2::read(&args.input, &facility, &mut patients)?
        }
        InputFormat::Fhir => {
            let facility = facility(args, "with --from fhir (the sending institution)")?;
            from_fhir::read(&args.input, &facility, &mut patients)?
        }
        InputFormat::Uke => from_uke::read(&args.input, args.masters.as_deref(), &mut patients)?,
        InputFormat::Tokutei => from_tokutei::read(&args.input, checkup_items()?, &mut patients)?,
    };
    Ok((patients, files))
}

fn checkup_items() -> Result<&'static CheckupItems, Fatal> {
    CheckupItems::bundled()
        .map_err(|_| Fatal("the bundled checkup item table cannot be read".into()))
}

/// Reads the input, writes the output, and returns the report.
pub fn convert(args: &ConvertArgs) -> Result<ConvertReport, Fatal> {
    args::check_combination(args.from, args.to)?;
    let items = checkup_items()?;
    let (patients, files) = read(args)?;
    let mut report = ConvertReport::new(args.from, args.to);
    for file in files {
        report.add(file);
    }
    report.output = match args.to {
        OutputFormat::Fhir | OutputFormat::Ndjson => {
            to_fhir::write(&patients, args.to, args.output.as_deref())?
        }
        OutputFormat::Csv => to_lab::write_csv(&patients, items, args.output.as_deref())?,
        OutputFormat::Tokutei => {
            let sender = facility(args, "with --to tokutei (the archive's sender)")?;
            let out = args
                .output
                .as_deref()
                .ok_or_else(|| Fatal("--to tokutei needs -o DIR for the ZIP archive(s)".into()))?;
            to_lab::write_tokutei(&patients, items, &sender, out)?
        }
    };
    Ok(report)
}
