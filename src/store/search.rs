//! The search index and search execution.
//!
//! Codecs decide *what* to index (they know the formats); this module stores index entries
//! and runs searches over them. Tokens, strings and references live in `search_tokens`
//! (`value` compared bytewise; strings are stored normalised), dates in `search_dates` as
//! `[lo, hi)` epoch-millisecond ranges. Entries are keyed by their full content, so the
//! entries of an old version are deleted by recomputing them from the old body.

use super::resources::{COLUMNS, ResourceRow, row};
use super::sql::{Dialect, Param};
use super::{StoreError, Tx};

/// One index entry of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndexEntry {
    /// A token (`system|code`), a normalised string (system ""), or a reference
    /// (`Patient/123`, system "").
    Token {
        param: &'static str,
        system: String,
        value: String,
    },
    Date {
        param: &'static str,
        lo: i64,
        hi: i64,
    },
}

/// How a date parameter compares (FHIR prefixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Sa,
    Eb,
    Ap,
}

/// One alternative of a search clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Token equality; `system: None` = any system, `Some("")` = no system.
    Token {
        param: &'static str,
        system: Option<String>,
        value: String,
    },
    /// Every entry of a system (`system|`).
    System { param: &'static str, system: String },
    /// Normalised string starting with `prefix`.
    Prefix { param: &'static str, prefix: String },
    /// Normalised string containing `text`.
    Contains { param: &'static str, text: String },
    /// A date range comparison.
    Date {
        param: &'static str,
        op: DateOp,
        lo: i64,
        hi: i64,
    },
    /// The resource's own `_lastUpdated`.
    LastUpdated { op: DateOp, lo: i64, hi: i64 },
    /// The resource's own id.
    Id(String),
}

/// Which resources a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    All,
    /// Only resources owned by this facility.
    Facility(String),
    /// Only data of persons registered now with this practitioner (the registered
    /// かかりつけ医): Patients linked to such a person, and resources about them.
    RegisteredWith(String),
    /// Nothing (a search that can only come back empty).
    Nothing,
}

/// Patient FHIR ids of the persons registered now with a practitioner (one `?`).
const REGISTERED_PATIENT_IDS: &str = "SELECT p.fhir_id FROM registrations g \
     JOIN patients p ON p.person_pk = g.person_pk \
     WHERE g.practitioner = ? AND g.status = 'active' AND p.fhir_id IS NOT NULL";

/// A search: all clauses must hold; within a clause any match may.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub rtype: String,
    pub clauses: Vec<Vec<Match>>,
    pub visibility: Visibility,
    pub count: u32,
    /// Continue after this resource pk (paging cursor).
    pub after_pk: Option<i64>,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub total: i64,
    pub rows: Vec<ResourceRow>,
    /// The cursor for the next page, if there is one.
    pub next_after: Option<i64>,
}

fn date_condition(lo_col: &str, hi_col: &str, op: DateOp) -> String {
    // `?1` = search lo, `?2` = search hi; returned with the order the params are bound.
    match op {
        DateOp::Eq => format!("{lo_col} >= ? AND {hi_col} <= ?"),
        DateOp::Ne => format!("NOT ({lo_col} >= ? AND {hi_col} <= ?)"),
        DateOp::Lt => format!("{lo_col} < ?"),
        DateOp::Le => format!("{lo_col} < ?"),
        DateOp::Gt => format!("{hi_col} > ?"),
        DateOp::Ge => format!("{hi_col} > ?"),
        DateOp::Sa => format!("{lo_col} >= ?"),
        DateOp::Eb => format!("{hi_col} <= ?"),
        DateOp::Ap => format!("{lo_col} < ? AND {hi_col} > ?"),
    }
}

fn date_params(op: DateOp, lo: i64, hi: i64) -> Vec<i64> {
    match op {
        DateOp::Eq | DateOp::Ne => vec![lo, hi],
        DateOp::Lt => vec![lo],
        DateOp::Le => vec![hi],
        DateOp::Gt => vec![hi],
        DateOp::Ge => vec![lo],
        DateOp::Sa => vec![hi],
        DateOp::Eb => vec![lo],
        DateOp::Ap => vec![hi, lo],
    }
}

/// Upper bound for a prefix range scan over bytewise-ordered text.
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_owned();
    end.push(char::MAX);
    end
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Owned parameter values, bound by reference when the statement runs.
enum Owned {
    I64(i64),
    Text(String),
}

struct Built {
    sql: String,
    params: Vec<Owned>,
}

impl Built {
    fn params(&self) -> Vec<Param<'_>> {
        self.params
            .iter()
            .map(|p| match p {
                Owned::I64(v) => Param::I64(*v),
                Owned::Text(s) => Param::Text(s),
            })
            .collect()
    }
}

fn build_where(q: &SearchQuery) -> Built {
    let mut sql = String::from(" FROM resources r WHERE r.type = ?");
    let mut params = vec![Owned::Text(q.rtype.clone())];
    match &q.visibility {
        Visibility::All => {}
        Visibility::Facility(f) => {
            sql.push_str(" AND r.owner_facility = ?");
            params.push(Owned::Text(f.clone()));
        }
        Visibility::RegisteredWith(practitioner) => {
            if q.rtype == "Patient" {
                sql.push_str(&format!(" AND r.id IN ({REGISTERED_PATIENT_IDS})"));
            } else {
                sql.push_str(&format!(
                    " AND r.subject_ref IN (SELECT 'Patient/' || fhir_id FROM ({REGISTERED_PATIENT_IDS}) registered)"
                ));
            }
            params.push(Owned::Text(practitioner.clone()));
        }
        Visibility::Nothing => sql.push_str(" AND 1 = 0"),
    }
    for clause in &q.clauses {
        let mut alternatives = Vec::new();
        for m in clause {
            let mut alt = String::new();
            match m {
                Match::Token {
                    param,
                    system,
                    value,
                } => {
                    alt.push_str("r.pk IN (SELECT resource_pk FROM search_tokens WHERE type = ? AND param = ? AND value = ?");
                    params.push(Owned::Text(q.rtype.clone()));
                    params.push(Owned::Text((*param).to_owned()));
                    params.push(Owned::Text(value.clone()));
                    if let Some(system) = system {
                        alt.push_str(" AND system = ?");
                        params.push(Owned::Text(system.clone()));
                    }
                    alt.push(')');
                }
                Match::System { param, system } => {
                    alt.push_str("r.pk IN (SELECT resource_pk FROM search_tokens WHERE type = ? AND param = ? AND system = ?)");
                    params.push(Owned::Text(q.rtype.clone()));
                    params.push(Owned::Text((*param).to_owned()));
                    params.push(Owned::Text(system.clone()));
                }
                Match::Prefix { param, prefix } => {
                    alt.push_str("r.pk IN (SELECT resource_pk FROM search_tokens WHERE type = ? AND param = ? AND value >= ? AND value < ?)");
                    params.push(Owned::Text(q.rtype.clone()));
                    params.push(Owned::Text((*param).to_owned()));
                    params.push(Owned::Text(prefix.clone()));
                    params.push(Owned::Text(prefix_end(prefix)));
                }
                Match::Contains { param, text } => {
                    alt.push_str("r.pk IN (SELECT resource_pk FROM search_tokens WHERE type = ? AND param = ? AND value LIKE ? ESCAPE '\\')");
                    params.push(Owned::Text(q.rtype.clone()));
                    params.push(Owned::Text((*param).to_owned()));
                    params.push(Owned::Text(escape_like(text)));
                }
                Match::Date { param, op, lo, hi } => {
                    alt.push_str("r.pk IN (SELECT resource_pk FROM search_dates WHERE type = ? AND param = ? AND ");
                    alt.push_str(&date_condition("lo", "hi", *op));
                    alt.push(')');
                    params.push(Owned::Text(q.rtype.clone()));
                    params.push(Owned::Text((*param).to_owned()));
                    params.extend(date_params(*op, *lo, *hi).into_iter().map(Owned::I64));
                }
                Match::LastUpdated { op, lo, hi } => {
                    // An instant: a 1 ms range.
                    alt.push('(');
                    alt.push_str(&date_condition(
                        "r.last_updated",
                        "(r.last_updated + 1)",
                        *op,
                    ));
                    alt.push(')');
                    params.extend(date_params(*op, *lo, *hi).into_iter().map(Owned::I64));
                }
                Match::Id(id) => {
                    alt.push_str("r.id = ?");
                    params.push(Owned::Text(id.clone()));
                }
            }
            alternatives.push(alt);
        }
        if !alternatives.is_empty() {
            sql.push_str(" AND (");
            sql.push_str(&alternatives.join(" OR "));
            sql.push(')');
        }
    }
    Built { sql, params }
}

const INSERT_CHUNK: usize = 64;

impl Tx<'_> {
    /// Is a stored resource within a visibility?
    pub fn is_visible(&mut self, v: &Visibility, row: &ResourceRow) -> Result<bool, StoreError> {
        match v {
            Visibility::All => Ok(true),
            Visibility::Nothing => Ok(false),
            Visibility::Facility(f) => Ok(row.owner_facility.as_deref() == Some(f.as_str())),
            Visibility::RegisteredWith(practitioner) => {
                let patient = if row.rtype == "Patient" {
                    Some(row.id.as_str())
                } else {
                    row.subject_ref
                        .as_deref()
                        .and_then(|s| s.strip_prefix("Patient/"))
                };
                let Some(patient) = patient else {
                    return Ok(false);
                };
                let sql = format!(
                    "SELECT 1 FROM ({REGISTERED_PATIENT_IDS}) registered WHERE fhir_id = ?"
                );
                let found = self.conn().query_opt(
                    &sql,
                    crate::args![practitioner.as_str(), patient],
                    |r| r.i64(0),
                )?;
                Ok(found.is_some())
            }
        }
    }

    /// Adds the index entries of a resource. SQLite gets one cached single-row statement
    /// per entry (no statement journal, no round trips to save); PostgreSQL gets multi-row
    /// statements (round trips are what costs there).
    pub fn insert_index(
        &mut self,
        rtype: &str,
        pk: i64,
        entries: &[IndexEntry],
    ) -> Result<(), StoreError> {
        const TOKEN: &str =
            "INSERT INTO search_tokens (type, param, value, system, resource_pk) VALUES ";
        const DATE: &str = "INSERT INTO search_dates (type, param, lo, hi, resource_pk) VALUES ";
        fn row<'a>(rtype: &'a str, pk: i64, e: &'a IndexEntry) -> [Param<'a>; 5] {
            match e {
                IndexEntry::Token {
                    param,
                    system,
                    value,
                } => [
                    Param::Text(rtype),
                    Param::Text(param),
                    Param::Text(value),
                    Param::Text(system),
                    Param::I64(pk),
                ],
                IndexEntry::Date { param, lo, hi } => [
                    Param::Text(rtype),
                    Param::Text(param),
                    Param::I64(*lo),
                    Param::I64(*hi),
                    Param::I64(pk),
                ],
            }
        }
        let (tokens, dates): (Vec<&IndexEntry>, Vec<&IndexEntry>) = entries
            .iter()
            .partition(|e| matches!(e, IndexEntry::Token { .. }));
        for (prefix, group) in [(TOKEN, tokens), (DATE, dates)] {
            match self.dialect() {
                Dialect::Sqlite => {
                    let sql = format!("{prefix}(?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
                    for e in group {
                        self.conn().execute(&sql, &row(rtype, pk, e))?;
                    }
                }
                Dialect::Postgres => {
                    for chunk in group.chunks(INSERT_CHUNK) {
                        let rows = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
                        let sql = format!("{prefix}{rows} ON CONFLICT DO NOTHING");
                        let params: Vec<Param<'_>> =
                            chunk.iter().flat_map(|e| row(rtype, pk, e)).collect();
                        self.conn().execute(&sql, &params)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes index entries (those of a superseded version).
    pub fn delete_index(
        &mut self,
        rtype: &str,
        pk: i64,
        entries: &[IndexEntry],
    ) -> Result<(), StoreError> {
        for e in entries {
            match e {
                IndexEntry::Token { param, system, value } => self.conn().execute(
                    "DELETE FROM search_tokens WHERE type = ? AND param = ? AND value = ? AND system = ? AND resource_pk = ?",
                    crate::args![rtype, *param, value.as_str(), system.as_str(), pk],
                )?,
                IndexEntry::Date { param, lo, hi } => self.conn().execute(
                    "DELETE FROM search_dates WHERE type = ? AND param = ? AND lo = ? AND hi = ? AND resource_pk = ?",
                    crate::args![rtype, *param, *lo, *hi, pk],
                )?,
            };
        }
        Ok(())
    }

    /// Runs a search; returns the total, one page, and the cursor of the next page.
    pub fn search(&mut self, q: &SearchQuery) -> Result<SearchPage, StoreError> {
        let built = build_where(q);
        let total = self.conn().query_one(
            &format!("SELECT COUNT(*){}", built.sql),
            &built.params(),
            |r| r.i64(0),
        )?;
        let mut page_sql = format!("SELECT {}{}", prefixed_columns(), built.sql);
        let mut params = built.params();
        if let Some(after) = q.after_pk {
            page_sql.push_str(" AND r.pk > ?");
            params.push(Param::I64(after));
        }
        page_sql.push_str(" ORDER BY r.pk LIMIT ?");
        let limit = i64::from(q.count) + 1;
        params.push(Param::I64(limit));
        let mut rows = self.conn().query(&page_sql, &params, row)?;
        let next_after = if rows.len() as i64 > i64::from(q.count) {
            rows.truncate(q.count as usize);
            rows.last().map(|r| r.pk)
        } else {
            None
        };
        Ok(SearchPage {
            total,
            rows,
            next_after,
        })
    }

    /// The pks of resources matching `q`, at most `limit` (for conditional operations).
    pub fn search_pks(&mut self, q: &SearchQuery, limit: i64) -> Result<Vec<i64>, StoreError> {
        let built = build_where(q);
        let mut params = built.params();
        params.push(Param::I64(limit));
        self.conn().query(
            &format!("SELECT r.pk{} ORDER BY r.pk LIMIT ?", built.sql),
            &params,
            |r| r.i64(0),
        )
    }
}

fn prefixed_columns() -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("r.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(escape_like("a%b_c"), "%a\\%b\\_c%");
    }

    #[test]
    fn every_date_operator_binds_as_many_values_as_it_has_placeholders() {
        for op in [
            DateOp::Eq,
            DateOp::Ne,
            DateOp::Lt,
            DateOp::Le,
            DateOp::Gt,
            DateOp::Ge,
            DateOp::Sa,
            DateOp::Eb,
            DateOp::Ap,
        ] {
            let placeholders = date_condition("lo", "hi", op).matches('?').count();
            assert_eq!(placeholders, date_params(op, 0, 1).len(), "{op:?}");
        }
    }
}
