//! The lab feed insurers pull: lab results of an insurer's members who have an active
//! registration and consent to share with the insurer, in commit order (`feed_seq`), from
//! an opaque cursor.
//!
//! Commit order is what makes the cursor gap-free under concurrent ingest (see
//! `records::assign_feed`): a row that commits after a reader has read past number `n`
//! always carries a number above `n`.

use super::persons::PersonRow;
use super::{StoreError, Tx};
use crate::args;
use crate::domain::code_system::Coding;
use crate::domain::{
    Decimal, FhirDateTime, InstitutionCode, LabResult, LabValue, ReferenceRange, SubjectRef,
};

/// One result of the feed, with the person it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct LabFeedItem {
    pub seq: i64,
    pub pk: i64,
    pub person: PersonRow,
    pub result: LabResult,
}

/// Rows a page may contain at most.
pub const MAX_PAGE: i64 = 10_000;

/// The permission filter over a window of the caller's feed: its members, registered,
/// consenting. `?` parameters: insurer number, window start (exclusive), window end
/// (inclusive), insurer number again, then the query's own. The window is taken from the
/// index on (`feed_insurer`, `feed_seq`) and materialised before the joins, so both
/// planners visit only the window's rows (PostgreSQL otherwise misjudges the filter and
/// hash-joins the whole feed); the person's own insurer is checked again on the join.
const PERMITTED: &str = "
    FROM window_rows l
    JOIN persons p ON p.pk = COALESCE(l.person_pk, (SELECT pt.person_pk FROM patients pt WHERE pt.pk = l.patient_pk))
    WHERE p.insurer = ?
      AND EXISTS (SELECT 1 FROM registrations r WHERE r.person_pk = p.pk AND r.status = 'active')
      AND (SELECT c.insurer_programs FROM consents c WHERE c.person_pk = p.pk ORDER BY c.id DESC LIMIT 1) = 1";

const WINDOW: &str = "WITH window_rows AS MATERIALIZED (
    SELECT * FROM lab_results WHERE feed_insurer = ? AND feed_seq > ? AND feed_seq <= ?)";

pub(super) const ITEM_COLUMNS: &str = "l.feed_seq, l.pk, p.pk, p.member_key, p.insurer, p.birth_date, p.sex, l.codes, l.name,
    l.value_kind, l.value_num, l.value_text, l.value_code, l.value_system, l.comparator, l.unit, l.unit_code,
    l.ref_low, l.ref_high, l.ref_text, l.flag, l.status, l.effective, l.performer, l.facility, l.category";

fn decimal(s: Option<&str>) -> Option<Decimal> {
    s.and_then(|v| Decimal::parse(v).ok())
}

pub(super) fn item(r: &super::sql::Row<'_>) -> Result<LabFeedItem, StoreError> {
    let person = PersonRow {
        pk: r.i64(2)?,
        member_key: r.string(3)?,
        insurer: r.string(4)?,
        birth_date: r.opt_string(5)?,
        sex: r.opt_string(6)?,
    };
    let codes: Vec<Coding> = serde_json::from_str(r.str(7)?).unwrap_or_default();
    let value = match r.str(9)? {
        "quantity" => match decimal(r.opt_str(10)?) {
            Some(value) => LabValue::Quantity {
                value,
                comparator: r.opt_string(14)?,
                unit: r.opt_string(15)?,
                unit_code: r.opt_string(16)?,
                unit_system: None,
            },
            None => LabValue::Absent { reason: None },
        },
        "coded" => LabValue::Coded(Coding {
            system: r.opt_string(13)?.unwrap_or_default(),
            code: r.opt_string(12)?.unwrap_or_default(),
            display: r.opt_string(11)?,
        }),
        "text" => LabValue::Text(r.opt_string(11)?.unwrap_or_default()),
        _ => LabValue::Absent {
            reason: r.opt_string(11)?,
        },
    };
    let (low, high, text) = (
        decimal(r.opt_str(17)?),
        decimal(r.opt_str(18)?),
        r.opt_string(19)?,
    );
    let member = crate::domain::MemberId::parse(&person.member_key).ok();
    let mut result = LabResult::new(
        member.map_or_else(
            || SubjectRef::FhirPatient(String::new()),
            SubjectRef::Member,
        ),
        value,
    );
    result.codes = codes;
    result.name = r.opt_string(8)?;
    result.reference_range = (low.is_some() || high.is_some() || text.is_some())
        .then_some(ReferenceRange { low, high, text });
    result.flag = r.opt_string(20)?;
    result.status = r.opt_string(21)?;
    result.effective = r.opt_str(22)?.and_then(|e| FhirDateTime::parse(e).ok());
    result.performer = r.opt_string(23)?;
    result.facility = r.opt_str(24)?.and_then(|f| InstitutionCode::parse(f).ok());
    result.category = r.opt_string(25)?;
    Ok(LabFeedItem {
        seq: r.i64(0)?,
        pk: r.i64(1)?,
        person,
        result,
    })
}

impl Tx<'_> {
    /// The next page of the caller's feed after `after`: at most `limit` results (capped at
    /// `MAX_PAGE`), in feed order. Walks the caller's part of the feed in windows (about
    /// twice what the page still lacks) until the page is full or the feed ends.
    pub fn lab_feed_next(
        &mut self,
        insurer: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LabFeedItem>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let page_sql =
            format!("{WINDOW} SELECT {ITEM_COLUMNS}{PERMITTED} ORDER BY l.feed_seq LIMIT ?");
        let mut page = Vec::new();
        let mut position = after;
        loop {
            let wanted = limit - page.len() as i64;
            let window = wanted * 2 + 64;
            let seqs = self.conn().query(
                "SELECT feed_seq FROM lab_results WHERE feed_insurer = ? AND feed_seq > ?
                 ORDER BY feed_seq LIMIT ?",
                args![insurer, position, window],
                |r| r.i64(0),
            )?;
            let Some(&end) = seqs.last() else { break };
            page.extend(self.conn().query(
                &page_sql,
                args![insurer, position, end, insurer, wanted],
                item,
            )?);
            if page.len() as i64 >= limit || (seqs.len() as i64) < window {
                break;
            }
            position = end;
        }
        Ok(page)
    }

    /// Tells each insurer that lab values of its registered, consenting members were fed
    /// (`lab-result.new`, one event per member and unit of work; pulled with
    /// `GET /insurer/lab-results`): called by the unit of work that numbered `pks`, in its
    /// transaction, so a subscription learns of every value the pull will show.
    pub(crate) fn tell_lab_results(&mut self, pks: &[i64]) -> Result<(), StoreError> {
        let mut found: Vec<(String, i64, String, i64, i64)> = Vec::new();
        for chunk in pks.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let params: Vec<super::sql::Param<'_>> = chunk.iter().map(|pk| (*pk).into()).collect();
            found.extend(self.conn().query(
                &format!(
                    "SELECT p.insurer, p.pk, p.member_key, COUNT(*), MIN(l.feed_seq)
                     FROM lab_results l
                     JOIN persons p ON p.pk = COALESCE(l.person_pk,
                        (SELECT pt.person_pk FROM patients pt WHERE pt.pk = l.patient_pk))
                     WHERE l.pk IN ({marks}) AND l.feed_seq IS NOT NULL
                       AND EXISTS (SELECT 1 FROM registrations r WHERE r.person_pk = p.pk AND r.status = 'active')
                       AND (SELECT c.insurer_programs FROM consents c WHERE c.person_pk = p.pk
                            ORDER BY c.id DESC LIMIT 1) = 1
                     GROUP BY p.insurer, p.pk, p.member_key"
                ),
                &params,
                |r| Ok((r.string(0)?, r.i64(1)?, r.string(2)?, r.i64(3)?, r.i64(4)?)),
            )?);
        }
        for (insurer, person, member, count, first) in found {
            let payload =
                serde_json::json!({"member": member, "results": count, "first_seq": first});
            self.insert_event(&super::events::NewEvent {
                topic: "lab-result.new",
                recipient: super::events::Recipient::Insurer(&insurer),
                person_pk: Some(person),
                registration_id: None,
                payload: &payload.to_string(),
                focus: None,
            })?;
        }
        Ok(())
    }
}
