//! The conversion report: one row per input file (or message), in the SS-MIX2 import
//! report's vocabulary (`accepted`, `duplicate`, `superseded`, `skipped` with the reason,
//! `rejected` with code and location), the totals, and what was written. Printed to
//! stderr as a table; written as JSON with `--report`. Codes and locations only, never
//! patient values.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::Fatal;
use super::args::{InputFormat, OutputFormat};
use crate::intake::{FileReport, ImportSummary};

/// What the writer produced.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OutputSummary {
    /// Patients (or persons) written.
    pub patients: usize,
    /// FHIR resources written (fhir, ndjson).
    pub resources: usize,
    /// Lab results written (csv, tokutei).
    pub lab_results: usize,
    /// Lab results not written because their patient has no member id (csv, tokutei).
    pub unlinked_lab_results: usize,
    /// Files written (empty for stdout).
    pub files: Vec<String>,
    /// tokutei: what the archive writer left out and why (counts by code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokutei: Option<crate::codec::tokutei::ExportReport>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ConvertReport {
    pub from: InputFormat,
    pub to: OutputFormat,
    pub files: Vec<FileReport>,
    pub summary: ImportSummary,
    pub output: OutputSummary,
}

impl ConvertReport {
    pub fn new(from: InputFormat, to: OutputFormat) -> Self {
        Self {
            from,
            to,
            files: Vec::new(),
            summary: ImportSummary::default(),
            output: OutputSummary::default(),
        }
    }

    /// Adds a file's row.
    pub fn add(&mut self, file: FileReport) {
        self.summary.add(&file);
        self.files.push(file);
    }

    /// Prints the table and the totals.
    pub fn print_table(&self, out: &mut dyn Write) {
        let _ = writeln!(
            out,
            "{:<10} {:>7} {:>8}  {:<26} {:<24} path",
            "status", "records", "warnings", "code", "location"
        );
        for f in &self.files {
            let _ = writeln!(
                out,
                "{:<10} {:>7} {:>8}  {:<26} {:<24} {}",
                f.status,
                f.records,
                f.warnings.len(),
                f.code.as_deref().unwrap_or("-"),
                f.location.as_deref().unwrap_or("-"),
                f.path
            );
            if let Some(m) = &f.message
                && f.status != "accepted"
            {
                let _ = writeln!(out, "{:>10} {m}", "");
            }
        }
        let s = &self.summary;
        let _ = writeln!(
            out,
            "{} file(s): {} accepted, {} duplicate, {} superseded, {} skipped, {} rejected; {} record(s)",
            s.files, s.accepted, s.duplicate, s.superseded, s.skipped, s.rejected, s.records
        );
        let o = &self.output;
        let _ = writeln!(
            out,
            "written: {} patient(s), {} resource(s), {} lab result(s){}",
            o.patients,
            o.resources,
            o.lab_results,
            if o.files.is_empty() {
                " to stdout".to_owned()
            } else {
                format!(" in {} file(s)", o.files.len())
            }
        );
        if o.unlinked_lab_results > 0 {
            let _ = writeln!(
                out,
                "not written: {} lab result(s) of patients without a member id (no IN1 / HO)",
                o.unlinked_lab_results
            );
        }
        if let Some(t) = &o.tokutei
            && t.left_out() > 0
        {
            let _ = writeln!(
                out,
                "left out of the tokutei archive: {} result(s); JLAC10 codes without checkup item: {}",
                t.left_out(),
                t.unmapped
                    .iter()
                    .map(|(code, n)| format!("{code}×{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }

    /// Writes the report as JSON.
    pub fn write_json(&self, path: &Path) -> Result<(), Fatal> {
        let text = serde_json::to_vec_pretty(self)
            .map_err(|_| Fatal("the report cannot be serialised".into()))?;
        std::fs::write(path, text).map_err(|_| Fatal("the report file cannot be written".into()))
    }
}
