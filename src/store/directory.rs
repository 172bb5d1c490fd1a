//! The directory: institutions (with their certification as kakaritsuke-capable and the
//! functions they offer) and practitioners.

use super::{StoreError, Tx};
use crate::args;

/// A stored institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRow {
    pub code: String,
    pub name: String,
    pub prefecture: String,
    pub city: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub url: Option<String>,
    pub certified: bool,
    pub certified_at: Option<i64>,
    pub certified_by: Option<String>,
    /// Function codes, comma-separated in storage.
    pub functions: Vec<String>,
    pub updated_at: i64,
}

/// A stored practitioner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PractitionerRow {
    pub id: String,
    pub name: String,
    pub name_kana: Option<String>,
    pub organization: Option<String>,
    pub qualifications: Vec<String>,
    pub updated_at: i64,
}

/// Filters of a directory search.
#[derive(Debug, Clone, Default)]
pub struct DirectoryQuery {
    pub function: Option<String>,
    pub prefecture: Option<String>,
    pub city: Option<String>,
    /// Substring of the name (already normalised by the caller).
    pub text: Option<String>,
    pub certified_only: bool,
    pub limit: i64,
    pub offset: i64,
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn join(list: &[String]) -> String {
    // Leading and trailing commas make `LIKE '%,code,%'` exact.
    format!(",{},", list.join(","))
}

const ORG_COLUMNS: &str = "code, name, prefecture, city, address, phone, url, certified, certified_at, \
                           certified_by, functions, updated_at";

fn org_row(r: &super::sql::Row<'_>) -> Result<OrganizationRow, StoreError> {
    Ok(OrganizationRow {
        code: r.string(0)?,
        name: r.string(1)?,
        prefecture: r.string(2)?,
        city: r.opt_string(3)?,
        address: r.opt_string(4)?,
        phone: r.opt_string(5)?,
        url: r.opt_string(6)?,
        certified: r.bool(7)?,
        certified_at: r.opt_i64(8)?,
        certified_by: r.opt_string(9)?,
        functions: split(r.str(10)?),
        updated_at: r.i64(11)?,
    })
}

fn practitioner_row(r: &super::sql::Row<'_>) -> Result<PractitionerRow, StoreError> {
    Ok(PractitionerRow {
        id: r.string(0)?,
        name: r.string(1)?,
        name_kana: r.opt_string(2)?,
        organization: r.opt_string(3)?,
        qualifications: split(r.str(4)?),
        updated_at: r.i64(5)?,
    })
}

impl Tx<'_> {
    /// Creates or replaces an institution; returns true when it was new.
    pub fn put_organization(&mut self, o: &OrganizationRow) -> Result<bool, StoreError> {
        let existed = self.organization(&o.code)?.is_some();
        let functions = join(&o.functions);
        let now = self.now();
        self.conn().execute(
            "INSERT INTO organizations (code, name, prefecture, city, address, phone, url, certified,
                certified_at, certified_by, functions, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, prefecture = excluded.prefecture,
                city = excluded.city, address = excluded.address, phone = excluded.phone, url = excluded.url,
                certified = excluded.certified, certified_at = excluded.certified_at,
                certified_by = excluded.certified_by, functions = excluded.functions,
                updated_at = excluded.updated_at",
            args![
                o.code.as_str(),
                o.name.as_str(),
                o.prefecture.as_str(),
                o.city.as_deref(),
                o.address.as_deref(),
                o.phone.as_deref(),
                o.url.as_deref(),
                o.certified,
                o.certified_at,
                o.certified_by.as_deref(),
                functions.as_str(),
                now
            ],
        )?;
        Ok(!existed)
    }

    pub fn organization(&mut self, code: &str) -> Result<Option<OrganizationRow>, StoreError> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organizations WHERE code = ?");
        self.conn().query_opt(&sql, args![code], org_row)
    }

    /// Searches the directory; returns the matching institutions and the total count.
    pub fn search_organizations(
        &mut self,
        q: &DirectoryQuery,
    ) -> Result<(Vec<OrganizationRow>, i64), StoreError> {
        let mut filter = String::from(" FROM organizations WHERE 1 = 1");
        let function = q.function.as_ref().map(|f| format!("%,{f},%"));
        let text = q.text.as_ref().map(|t| format!("%{t}%"));
        let mut params: Vec<super::sql::Param<'_>> = Vec::new();
        if q.certified_only {
            filter.push_str(" AND certified = 1");
        }
        if let Some(f) = &function {
            filter.push_str(" AND functions LIKE ?");
            params.push(f.as_str().into());
        }
        if let Some(p) = &q.prefecture {
            filter.push_str(" AND prefecture = ?");
            params.push(p.as_str().into());
        }
        if let Some(c) = &q.city {
            filter.push_str(" AND city = ?");
            params.push(c.as_str().into());
        }
        if let Some(t) = &text {
            filter.push_str(" AND (name LIKE ? OR address LIKE ?)");
            params.push(t.as_str().into());
            params.push(t.as_str().into());
        }
        let total = self
            .conn()
            .query_one(&format!("SELECT COUNT(*){filter}"), &params, |r| r.i64(0))?;
        let mut page = params.clone();
        page.push(q.limit.clamp(1, 500).into());
        page.push(q.offset.max(0).into());
        let rows = self.conn().query(
            &format!(
                "SELECT {ORG_COLUMNS}{filter} ORDER BY prefecture, city, code LIMIT ? OFFSET ?"
            ),
            &page,
            org_row,
        )?;
        Ok((rows, total))
    }

    /// Number of persons currently registered with each of `codes`.
    pub fn registered_counts(
        &mut self,
        codes: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut out = Vec::with_capacity(codes.len());
        for code in codes {
            let n = self.conn().query_one(
                "SELECT COUNT(*) FROM registrations WHERE organization = ? AND status = 'active'",
                args![code.as_str()],
                |r| r.i64(0),
            )?;
            out.push((code.clone(), n));
        }
        Ok(out)
    }

    /// Creates or replaces a practitioner; returns true when new.
    pub fn put_practitioner(&mut self, p: &PractitionerRow) -> Result<bool, StoreError> {
        let existed = self.practitioner(&p.id)?.is_some();
        let qualifications = join(&p.qualifications);
        let now = self.now();
        self.conn().execute(
            "INSERT INTO practitioners (id, name, name_kana, organization, qualifications, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_kana = excluded.name_kana,
                organization = excluded.organization, qualifications = excluded.qualifications,
                updated_at = excluded.updated_at",
            args![
                p.id.as_str(),
                p.name.as_str(),
                p.name_kana.as_deref(),
                p.organization.as_deref(),
                qualifications.as_str(),
                now
            ],
        )?;
        Ok(!existed)
    }

    pub fn practitioner(&mut self, id: &str) -> Result<Option<PractitionerRow>, StoreError> {
        self.conn().query_opt(
            "SELECT id, name, name_kana, organization, qualifications, updated_at FROM practitioners WHERE id = ?",
            args![id],
            practitioner_row,
        )
    }

    pub fn practitioners_of(
        &mut self,
        organization: &str,
    ) -> Result<Vec<PractitionerRow>, StoreError> {
        self.conn().query(
            "SELECT id, name, name_kana, organization, qualifications, updated_at FROM practitioners
             WHERE organization = ? ORDER BY id",
            args![organization],
            practitioner_row,
        )
    }
}
