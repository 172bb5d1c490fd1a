//! XPath-like locations for issues: `/ClinicalDocument/component/structuredBody/component[2]/section/entry[14]/observation/value`.
//!
//! A step carries `[n]` when it is the n-th (n ≥ 2) element of that name under its parent;
//! a step without an index is the first. Locations name elements only, never values.
//!
//! Element names are interned, so following the path allocates only for names not seen
//! before in the document.

use std::collections::HashMap;

/// Distinct element names remembered per document; further names share one placeholder.
const MAX_NAMES: usize = 4096;
const OVERFLOW: &str = "*";

/// Names of the CDA and index vocabulary, known without allocating. Ids below
/// `KNOWN.len()` point here; higher ids point into the per-document list.
const KNOWN: [&str; 40] = [
    "ClinicalDocument",
    "typeId",
    "id",
    "code",
    "effectiveTime",
    "confidentialityCode",
    "recordTarget",
    "patientRole",
    "addr",
    "postalCode",
    "patient",
    "name",
    "administrativeGenderCode",
    "birthTime",
    "author",
    "time",
    "assignedAuthor",
    "representedOrganization",
    "telecom",
    "custodian",
    "assignedCustodian",
    "representedCustodianOrganization",
    "participant",
    "documentationOf",
    "serviceEvent",
    "performer",
    "assignedEntity",
    "component",
    "structuredBody",
    "section",
    "text",
    "entry",
    "observation",
    "value",
    "interpretationCode",
    "methodCode",
    "referenceRange",
    "observationRange",
    "low",
    "high",
];

#[derive(Debug, Clone, Copy)]
struct Step {
    name: u16,
    index: u32,
}

/// How many children named `name` the open element at `depth - 1` has had so far.
#[derive(Debug, Clone, Copy)]
struct Counter {
    depth: usize,
    name: u16,
    count: u32,
}

/// The path from the root to the current element.
#[derive(Debug, Clone, Default)]
pub(crate) struct ElementPath {
    names: Vec<String>,
    ids: HashMap<String, u16>,
    steps: Vec<Step>,
    counters: Vec<Counter>,
}

impl ElementPath {
    fn intern(&mut self, name: &str) -> u16 {
        if let Some(known) = KNOWN.iter().position(|k| *k == name) {
            return u16::try_from(known).unwrap_or(u16::MAX);
        }
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let name = if self.names.len() >= MAX_NAMES {
            OVERFLOW
        } else {
            name
        };
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u16::try_from(KNOWN.len() + self.names.len()).unwrap_or(u16::MAX);
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    fn name(&self, id: u16) -> &str {
        let id = usize::from(id);
        match KNOWN.get(id) {
            Some(known) => known,
            None => self
                .names
                .get(id - KNOWN.len())
                .map_or(OVERFLOW, String::as_str),
        }
    }

    /// Enters a child element named `name`.
    pub fn push(&mut self, name: &str) {
        let name = self.intern(name);
        let depth = self.steps.len() + 1;
        let existing = self
            .counters
            .iter_mut()
            .rev()
            .take_while(|c| c.depth == depth)
            .find(|c| c.name == name);
        let index = match existing {
            Some(counter) => {
                counter.count = counter.count.saturating_add(1);
                counter.count
            }
            None => {
                self.counters.push(Counter {
                    depth,
                    name,
                    count: 1,
                });
                1
            }
        };
        self.steps.push(Step { name, index });
    }

    /// Leaves the current element.
    pub fn pop(&mut self) {
        let depth = self.steps.len();
        self.steps.pop();
        while self.counters.last().is_some_and(|c| c.depth > depth) {
            self.counters.pop();
        }
    }

    /// Number of open elements.
    pub fn depth(&self) -> usize {
        self.steps.len()
    }

    /// The name of the current element.
    pub fn current(&self) -> Option<&str> {
        self.steps.last().map(|s| self.name(s.name))
    }

    /// True when the open elements below depth `from` (0 = from the root) are `tail`.
    pub fn is_below(&self, from: usize, tail: &[&str]) -> bool {
        self.steps.len() == from + tail.len()
            && self
                .steps
                .iter()
                .skip(from)
                .zip(tail)
                .all(|(s, n)| self.name(s.name) == *n)
    }

    /// True when the open elements are exactly `names`, from the root.
    pub fn is(&self, names: &[&str]) -> bool {
        self.is_below(0, names)
    }

    /// True when the open elements are `prefix` followed by `tail`.
    pub fn is_path(&self, prefix: &[&str], tail: &[&str]) -> bool {
        self.is_below(prefix.len(), tail)
            && self
                .steps
                .iter()
                .zip(prefix)
                .all(|(s, n)| self.name(s.name) == *n)
    }

    /// The location of the current element.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.steps.len() * 16);
        for step in &self.steps {
            out.push('/');
            out.push_str(self.name(step.name));
            if step.index > 1 {
                out.push('[');
                out.push_str(&step.index.to_string());
                out.push(']');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_repeated_siblings_only() {
        let mut path = ElementPath::default();
        path.push("ClinicalDocument");
        path.push("entry");
        path.push("observation");
        path.pop();
        path.pop();
        path.push("entry");
        path.push("observation");
        assert_eq!(path.render(), "/ClinicalDocument/entry[2]/observation");
        assert!(path.is(&["ClinicalDocument", "entry", "observation"]));
        assert!(path.is_below(1, &["entry", "observation"]));
        assert!(path.is_path(&["ClinicalDocument"], &["entry", "observation"]));
        assert!(!path.is_path(&["entry"], &["entry", "observation"]));
        assert_eq!(path.current(), Some("observation"));
        path.pop();
        path.pop();
        assert_eq!(path.depth(), 1);
        path.push("other");
        assert_eq!(path.render(), "/ClinicalDocument/other");
    }

    #[test]
    fn name_memory_is_capped() {
        let mut path = ElementPath::default();
        path.push("root");
        for i in 0..(MAX_NAMES + 10) {
            path.push(&format!("n{i}"));
            path.pop();
        }
        assert!(path.names.len() <= MAX_NAMES + 1);
        path.push("another-new-name");
        assert_eq!(path.current(), Some(OVERFLOW));
    }
}
