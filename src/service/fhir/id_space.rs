//! Ids are per institution. Each institution chooses its own resource ids (`PUT Patient/1`)
//! and two institutions may choose the same one: the first keeps it as kakari's served id,
//! a later one's resource is stored under a new served id with an alias (migration 0014).
//! So one institution's writes never block another's, and the answer to a write never
//! tells an institution whether someone else used an id.
//!
//! An institution's EMR and pharmacy clients are read in its own ids (URL ids, references
//! in bodies, reference search values) and answered in them (resource ids, references,
//! `fullUrl`, `location`): they only ever see their own institution's clinical resources,
//! so their own ids are unambiguous there. Everyone else, and views that mix institutions
//! (the registered doctor's reads, `$medication-list`), see served ids. Directory resources
//! (Organization, Practitioner, …) are shared by everyone and keep one id space: the first
//! writer holds an id. Institutions without aliases, almost all of them, pay one indexed
//! lookup per unit of work.

use serde_json::Value;

use crate::auth::{Caller, Role, access};
use crate::codec::fhir::value::reference_target;
use crate::store::{StoreError, Tx};

/// The caller's id space within one unit of work.
#[derive(Debug, Clone)]
pub struct IdSpace {
    /// The owning institution; `None` for callers that own no ids of their own.
    scope: Option<String>,
    has_aliases: bool,
}

impl IdSpace {
    /// The id space of `caller` as it stands in this unit of work.
    pub fn of(tx: &mut Tx<'_>, caller: &Caller) -> Result<Self, StoreError> {
        let scope = match caller.role {
            Role::Emr | Role::Pharmacy => access::owner_facility(caller),
            _ => None,
        };
        let has_aliases = match &scope {
            Some(s) => tx.scope_has_aliases(s)?,
            None => false,
        };
        Ok(Self { scope, has_aliases })
    }

    /// The owning institution, if the caller has one.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The served id of the caller's id.
    pub fn served(&self, tx: &mut Tx<'_>, rtype: &str, id: &str) -> Result<String, StoreError> {
        match (&self.scope, self.has_aliases) {
            (Some(scope), true) => Ok(tx
                .served_id_of_alias(scope, rtype, id)?
                .unwrap_or_else(|| id.to_owned())),
            _ => Ok(id.to_owned()),
        }
    }

    /// The caller's id for a served id.
    pub fn own(&self, tx: &mut Tx<'_>, rtype: &str, served: &str) -> Result<String, StoreError> {
        match (&self.scope, self.has_aliases) {
            (Some(scope), true) => Ok(tx
                .alias_of_served_id(scope, rtype, served)?
                .unwrap_or_else(|| served.to_owned())),
            _ => Ok(served.to_owned()),
        }
    }

    /// Records that the caller's `alias` is stored as `served`.
    pub fn record(
        &mut self,
        tx: &mut Tx<'_>,
        rtype: &str,
        alias: &str,
        served: &str,
    ) -> Result<(), StoreError> {
        if let Some(scope) = &self.scope {
            tx.insert_alias(scope, rtype, alias, served)?;
            self.has_aliases = true;
        }
        Ok(())
    }

    /// Rewrites the relative references of a resource the caller sent into served ids;
    /// returns whether anything changed.
    pub fn to_served(&self, tx: &mut Tx<'_>, v: &mut Value) -> Result<bool, StoreError> {
        if !self.has_aliases {
            return Ok(false);
        }
        let mut changed = false;
        self.walk(tx, v, &mut changed, Direction::ToServed)?;
        Ok(changed)
    }

    /// Rewrites a response for the caller: resource ids, references, `fullUrl`s and
    /// `location`s in served ids become the caller's own.
    pub fn to_own(&self, tx: &mut Tx<'_>, v: &mut Value) -> Result<(), StoreError> {
        if self.has_aliases {
            let mut changed = false;
            self.walk(tx, v, &mut changed, Direction::ToOwn)?;
        }
        Ok(())
    }

    /// [`Self::to_own`] on serialised JSON (left as it is when nothing can change).
    pub fn to_own_text(&self, tx: &mut Tx<'_>, text: String) -> Result<String, StoreError> {
        if !self.has_aliases {
            return Ok(text);
        }
        let Ok(mut v) = serde_json::from_str::<Value>(&text) else {
            return Ok(text);
        };
        let mut changed = false;
        self.walk(tx, &mut v, &mut changed, Direction::ToOwn)?;
        Ok(if changed {
            serde_json::to_string(&v).unwrap_or(text)
        } else {
            text
        })
    }

    fn map(
        &self,
        tx: &mut Tx<'_>,
        rtype: &str,
        id: &str,
        direction: Direction,
    ) -> Result<String, StoreError> {
        match direction {
            Direction::ToServed => self.served(tx, rtype, id),
            Direction::ToOwn => self.own(tx, rtype, id),
        }
    }

    /// Maps the `Type/id` a reference-like string ends with (before any `/_history/n`).
    fn map_path(
        &self,
        tx: &mut Tx<'_>,
        text: &str,
        direction: Direction,
    ) -> Result<Option<String>, StoreError> {
        let Some((rtype, id)) = reference_target(text) else {
            return Ok(None);
        };
        let (head, history) = match text.find("/_history/") {
            Some(at) => text.split_at(at),
            None => (text, ""),
        };
        let tail = format!("{rtype}/{id}");
        let Some(prefix) = head.strip_suffix(tail.as_str()) else {
            return Ok(None);
        };
        if !(prefix.is_empty() || prefix.ends_with('/')) {
            return Ok(None);
        }
        let mapped = self.map(tx, rtype, id, direction)?;
        Ok((mapped != id).then(|| format!("{prefix}{rtype}/{mapped}{history}")))
    }

    fn walk(
        &self,
        tx: &mut Tx<'_>,
        v: &mut Value,
        changed: &mut bool,
        direction: Direction,
    ) -> Result<(), StoreError> {
        match v {
            Value::Object(o) => {
                if direction == Direction::ToOwn
                    && let (Some(Value::String(rtype)), Some(Value::String(id))) =
                        (o.get("resourceType"), o.get("id"))
                {
                    let own = self.own(tx, rtype, id)?;
                    if &own != id {
                        o.insert("id".into(), Value::String(own));
                        *changed = true;
                    }
                }
                for (key, child) in o.iter_mut() {
                    let rewrite = match direction {
                        // Only relative references name this server's resources.
                        Direction::ToServed => key == "reference",
                        Direction::ToOwn => {
                            matches!(key.as_str(), "reference" | "fullUrl" | "location")
                        }
                    };
                    match child {
                        Value::String(text) if rewrite => {
                            let relative = !text.contains(':');
                            if (direction == Direction::ToOwn || relative)
                                && let Some(mapped) = self.map_path(tx, text, direction)?
                            {
                                *text = mapped;
                                *changed = true;
                            }
                        }
                        _ => self.walk(tx, child, changed, direction)?,
                    }
                }
            }
            Value::Array(a) => {
                for child in a {
                    self.walk(tx, child, changed, direction)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToServed,
    ToOwn,
}
