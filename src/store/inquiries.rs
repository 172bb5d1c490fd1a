//! Inquiries (照会, served as FHIR Task): the current version of each, and every version
//! kept for the history (`GET /fhir/Task/{id}/_history`).

use super::sql::Param;
use super::{StoreError, Tx};
use crate::args;
use crate::domain::inquiry::InquiryStatus;

/// The current version of an inquiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InquiryRow {
    pub id: i64,
    pub person_pk: i64,
    pub member_key: String,
    pub insurer: String,
    pub created_by: i64,
    pub owner_practitioner: Option<String>,
    pub owner_organization: Option<String>,
    pub status: InquiryStatus,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The Task as served.
    pub body: String,
}

/// One version of an inquiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InquiryVersion {
    pub version: i64,
    pub at: i64,
    pub client_id: i64,
    pub status: InquiryStatus,
    pub body: String,
}

/// A new inquiry (its body is written by `update_inquiry` once the id is known).
#[derive(Debug, Clone)]
pub struct NewInquiry<'a> {
    pub person_pk: i64,
    pub member_key: &'a str,
    pub insurer: &'a str,
    pub created_by: i64,
    pub owner_practitioner: &'a str,
    pub owner_organization: &'a str,
}

/// A change of an inquiry: its new status, owner and body (the next version).
#[derive(Debug, Clone)]
pub struct InquiryChange<'a> {
    pub id: i64,
    pub status: InquiryStatus,
    pub owner_practitioner: Option<&'a str>,
    pub owner_organization: Option<&'a str>,
    pub body: &'a str,
    pub by: i64,
}

/// Which inquiries to list.
#[derive(Debug, Clone, Default)]
pub struct InquiryFilter {
    /// Owned by this practitioner.
    pub owner: Option<String>,
    /// Asked by this insurer.
    pub insurer: Option<String>,
    pub person_pk: Option<i64>,
    pub statuses: Vec<InquiryStatus>,
    /// Ids below this (newest first paging).
    pub before_id: Option<i64>,
    pub limit: i64,
}

const COLUMNS: &str = "id, person_pk, member_key, insurer, created_by, owner_practitioner,
    owner_organization, status, version, created_at, updated_at, body";

fn row(r: &super::sql::Row<'_>) -> Result<InquiryRow, StoreError> {
    Ok(InquiryRow {
        id: r.i64(0)?,
        person_pk: r.i64(1)?,
        member_key: r.string(2)?,
        insurer: r.string(3)?,
        created_by: r.i64(4)?,
        owner_practitioner: r.opt_string(5)?,
        owner_organization: r.opt_string(6)?,
        status: status(r.str(7)?)?,
        version: r.i64(8)?,
        created_at: r.i64(9)?,
        updated_at: r.i64(10)?,
        body: r.string(11)?,
    })
}

fn status(s: &str) -> Result<InquiryStatus, StoreError> {
    InquiryStatus::parse(s).ok_or_else(|| StoreError::Decode("unknown inquiry status".into()))
}

fn filter_sql<'a>(f: &'a InquiryFilter, select: &str) -> (String, Vec<Param<'a>>) {
    let mut sql = format!("SELECT {select} FROM inquiries WHERE 1 = 1");
    let mut params: Vec<Param<'a>> = Vec::new();
    if let Some(owner) = &f.owner {
        sql.push_str(" AND owner_practitioner = ?");
        params.push(Param::Text(owner));
    }
    if let Some(insurer) = &f.insurer {
        sql.push_str(" AND insurer = ?");
        params.push(Param::Text(insurer));
    }
    if let Some(person) = f.person_pk {
        sql.push_str(" AND person_pk = ?");
        params.push(Param::I64(person));
    }
    if !f.statuses.is_empty() {
        sql.push_str(" AND status IN (");
        for (i, s) in f.statuses.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
            params.push(Param::Text(s.as_str()));
        }
        sql.push(')');
    }
    (sql, params)
}

impl Tx<'_> {
    /// Serialises changes of one inquiry (PostgreSQL).
    pub fn lock_inquiry(&mut self, id: i64) -> Result<(), StoreError> {
        self.lock(&format!("inquiry|{id}"))
    }

    /// Inserts a new inquiry at version 1 with `body` built by `render(id)`.
    pub fn insert_inquiry(
        &mut self,
        n: &NewInquiry<'_>,
        status: InquiryStatus,
        render: impl FnOnce(i64, i64) -> String,
    ) -> Result<InquiryRow, StoreError> {
        let now = self.now();
        let id = self.conn().insert_returning(
            "INSERT INTO inquiries (person_pk, member_key, insurer, created_by, owner_practitioner,
                owner_organization, status, version, created_at, updated_at, body)
             VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, '') RETURNING id",
            args![
                n.person_pk,
                n.member_key,
                n.insurer,
                n.created_by,
                n.owner_practitioner,
                n.owner_organization,
                status.as_str(),
                now,
                now
            ],
        )?;
        let body = render(id, now);
        self.conn().execute(
            "UPDATE inquiries SET body = ? WHERE id = ?",
            args![body.as_str(), id],
        )?;
        self.insert_inquiry_version(id, 1, n.created_by, status, &body)?;
        self.inquiry(id)?
            .ok_or_else(|| StoreError::Decode("inserted inquiry not found".into()))
    }

    fn insert_inquiry_version(
        &mut self,
        id: i64,
        version: i64,
        by: i64,
        status: InquiryStatus,
        body: &str,
    ) -> Result<(), StoreError> {
        let now = self.now();
        self.conn().execute(
            "INSERT INTO inquiry_versions (inquiry_id, version, at, client_id, status, body)
             VALUES (?, ?, ?, ?, ?, ?)",
            args![id, version, now, by, status.as_str(), body],
        )?;
        Ok(())
    }

    /// Writes the next version of an inquiry (the caller holds `lock_inquiry` and read the
    /// current version); returns the new version number.
    pub fn update_inquiry(&mut self, c: &InquiryChange<'_>) -> Result<i64, StoreError> {
        let now = self.now();
        let version = self.conn().query_one(
            "SELECT version FROM inquiries WHERE id = ?",
            args![c.id],
            |r| r.i64(0),
        )? + 1;
        self.conn().execute(
            "UPDATE inquiries SET status = ?, owner_practitioner = ?, owner_organization = ?,
                version = ?, updated_at = ?, body = ? WHERE id = ?",
            args![
                c.status.as_str(),
                c.owner_practitioner,
                c.owner_organization,
                version,
                now,
                c.body,
                c.id
            ],
        )?;
        self.insert_inquiry_version(c.id, version, c.by, c.status, c.body)?;
        Ok(version)
    }

    pub fn inquiry(&mut self, id: i64) -> Result<Option<InquiryRow>, StoreError> {
        self.conn().query_opt(
            &format!("SELECT {COLUMNS} FROM inquiries WHERE id = ?"),
            args![id],
            row,
        )
    }

    /// Every version of an inquiry, newest first.
    pub fn inquiry_versions(&mut self, id: i64) -> Result<Vec<InquiryVersion>, StoreError> {
        self.conn().query(
            "SELECT version, at, client_id, status, body FROM inquiry_versions
             WHERE inquiry_id = ? ORDER BY version DESC",
            args![id],
            |r| {
                Ok(InquiryVersion {
                    version: r.i64(0)?,
                    at: r.i64(1)?,
                    client_id: r.i64(2)?,
                    status: status(r.str(3)?)?,
                    body: r.string(4)?,
                })
            },
        )
    }

    /// The open inquiries about a person (to follow a registration change).
    pub fn open_inquiries_of(&mut self, person_pk: i64) -> Result<Vec<InquiryRow>, StoreError> {
        let filter = InquiryFilter {
            person_pk: Some(person_pk),
            statuses: crate::domain::inquiry::OPEN.to_vec(),
            ..InquiryFilter::default()
        };
        let (sql, params) = filter_sql(&filter, COLUMNS);
        self.conn()
            .query(&format!("{sql} ORDER BY id"), &params, row)
    }

    /// Inquiries matching `f`, newest first, at most `f.limit`.
    pub fn list_inquiries(&mut self, f: &InquiryFilter) -> Result<Vec<InquiryRow>, StoreError> {
        let (mut sql, mut params) = filter_sql(f, COLUMNS);
        if let Some(before) = f.before_id {
            sql.push_str(" AND id < ?");
            params.push(Param::I64(before));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        params.push(Param::I64(f.limit));
        self.conn().query(&sql, &params, row)
    }

    pub fn count_inquiries(&mut self, f: &InquiryFilter) -> Result<i64, StoreError> {
        let (sql, params) = filter_sql(f, "COUNT(*)");
        self.conn().query_one(&sql, &params, |r| r.i64(0))
    }
}
