//! XPath-like locations for issues: `/ClinicalDocument/component/structuredBody/component[2]/section/entry[14]/observation/value`.
//!
//! A step carries `[n]` when it is the n-th (n ≥ 2) element of that name under its parent;
//! a step without an index is the first. Locations name elements only, never values.

#[derive(Debug, Clone)]
struct Step {
    name: String,
    index: u32,
    /// How many children of each name this element has had so far.
    children: Vec<(String, u32)>,
}

/// The path from the root to the current element.
#[derive(Debug, Clone, Default)]
pub(crate) struct ElementPath {
    steps: Vec<Step>,
    /// Children of the document node (only the root element, in a well-formed file).
    top: Vec<(String, u32)>,
}

impl ElementPath {
    /// Enters a child element named `name`.
    pub fn push(&mut self, name: &str) {
        let siblings = match self.steps.last_mut() {
            Some(parent) => &mut parent.children,
            None => &mut self.top,
        };
        let index = match siblings.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => {
                *count = count.saturating_add(1);
                *count
            }
            None => {
                siblings.push((name.to_owned(), 1));
                1
            }
        };
        self.steps.push(Step {
            name: name.to_owned(),
            index,
            children: Vec::new(),
        });
    }

    /// Leaves the current element.
    pub fn pop(&mut self) {
        self.steps.pop();
    }

    /// Number of open elements.
    pub fn depth(&self) -> usize {
        self.steps.len()
    }

    /// True when the open elements are exactly `names`, from the root.
    pub fn is(&self, names: &[&str]) -> bool {
        self.steps.len() == names.len() && self.steps.iter().zip(names).all(|(s, n)| s.name == *n)
    }

    /// The name of the current element.
    pub fn current(&self) -> Option<&str> {
        self.steps.last().map(|s| s.name.as_str())
    }

    /// The names of the open elements below depth `from` (0 = the root).
    pub fn names_from(&self, from: usize) -> impl Iterator<Item = &str> {
        self.steps.iter().skip(from).map(|s| s.name.as_str())
    }

    /// The location of the current element.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.steps.len() * 16);
        for step in &self.steps {
            out.push('/');
            out.push_str(&step.name);
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
        path.pop();
        path.push("entry");
        path.push("observation");
        assert_eq!(path.render(), "/ClinicalDocument/entry[2]/observation");
        assert!(path.is(&["ClinicalDocument", "entry", "observation"]));
        assert_eq!(path.current(), Some("observation"));
        assert_eq!(
            path.names_from(1).collect::<Vec<_>>(),
            ["entry", "observation"]
        );
        path.pop();
        path.pop();
        assert_eq!(path.depth(), 1);
    }
}
