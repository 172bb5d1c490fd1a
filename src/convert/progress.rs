//! A progress bar on stderr while files are read (`indicatif`), hidden when stderr is not
//! a terminal (scripts, CI, tests) and for inputs of a single file.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Counts files read.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar of `total` steps (a running count when the total is unknown, e.g. tar).
    pub fn new(total: Option<u64>, unit: &str) -> Self {
        let show = std::io::stderr().is_terminal() && total.is_none_or(|t| t > 1);
        let bar = if !show {
            ProgressBar::hidden()
        } else if let Some(t) = total {
            let bar = ProgressBar::new(t);
            if let Ok(style) = ProgressStyle::with_template(&format!(
                "{{bar:40}} {{pos}}/{{len}} {unit} ({{eta}} left)"
            )) {
                bar.set_style(style);
            }
            bar
        } else {
            let bar = ProgressBar::no_length();
            if let Ok(style) = ProgressStyle::with_template(&format!("{{pos}} {unit} read")) {
                bar.set_style(style);
            }
            bar
        };
        Self { bar }
    }

    /// One more step done.
    pub fn step(&self) {
        self.bar.inc(1);
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
