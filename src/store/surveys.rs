//! Satisfaction survey responses (one per member and institution) and their per-item
//! sums for the directory.

use super::sql::Param;
use super::{StoreError, Tx};
use crate::args;

/// An institution's responses: how many, and per item (item, count, sum).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SurveyTotals {
    pub responses: i64,
    pub items: Vec<(String, i64, i64)>,
}

impl Tx<'_> {
    /// Stores a member's response about an institution, replacing their earlier one;
    /// returns its id.
    pub fn put_survey_response(
        &mut self,
        person_pk: i64,
        organization: &str,
        by: i64,
        body: &str,
        scores: &[(&str, i64)],
    ) -> Result<i64, StoreError> {
        let now = self.now();
        let earlier = self.conn().query_opt(
            "SELECT id FROM survey_responses WHERE person_pk = ? AND organization = ?",
            args![person_pk, organization],
            |r| r.i64(0),
        )?;
        let id = match earlier {
            Some(id) => {
                self.conn().execute(
                    "UPDATE survey_responses SET submitted_by = ?, submitted_at = ?, body = ? WHERE id = ?",
                    args![by, now, body, id],
                )?;
                self.conn()
                    .execute("DELETE FROM survey_answers WHERE response_id = ?", args![id])?;
                id
            }
            None => self.conn().insert_returning(
                "INSERT INTO survey_responses (person_pk, organization, submitted_by, submitted_at, body)
                 VALUES (?, ?, ?, ?, ?) RETURNING id",
                args![person_pk, organization, by, now, body],
            )?,
        };
        for (item, score) in scores {
            self.conn().execute(
                "INSERT INTO survey_answers (response_id, item, score) VALUES (?, ?, ?)",
                args![id, *item, *score],
            )?;
        }
        Ok(id)
    }

    /// Was the person ever registered (a registration that took effect) with `organization`?
    pub fn was_registered_with(
        &mut self,
        person_pk: i64,
        organization: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .query_opt(
                "SELECT 1 FROM registrations WHERE person_pk = ? AND organization = ?
                   AND status IN ('active', 'ended') LIMIT 1",
                args![person_pk, organization],
                |_| Ok(()),
            )?
            .is_some())
    }

    /// The totals of each of `codes` (in the same order).
    pub fn survey_totals(&mut self, codes: &[String]) -> Result<Vec<SurveyTotals>, StoreError> {
        let mut out = vec![SurveyTotals::default(); codes.len()];
        if codes.is_empty() {
            return Ok(out);
        }
        let marks = vec!["?"; codes.len()].join(", ");
        let params: Vec<Param<'_>> = codes.iter().map(|c| c.as_str().into()).collect();
        let counts = self.conn().query(
            &format!(
                "SELECT organization, COUNT(*) FROM survey_responses WHERE organization IN ({marks})
                 GROUP BY organization"
            ),
            &params,
            |r| Ok((r.string(0)?, r.i64(1)?)),
        )?;
        let items = self.conn().query(
            &format!(
                "SELECT r.organization, a.item, COUNT(*), CAST(SUM(a.score) AS BIGINT)
                 FROM survey_answers a JOIN survey_responses r ON r.id = a.response_id
                 WHERE r.organization IN ({marks}) GROUP BY r.organization, a.item"
            ),
            &params,
            |r| Ok((r.string(0)?, r.string(1)?, r.i64(2)?, r.i64(3)?)),
        )?;
        for (i, code) in codes.iter().enumerate() {
            out[i].responses = counts.iter().find(|(c, _)| c == code).map_or(0, |c| c.1);
            out[i].items = items
                .iter()
                .filter(|(c, ..)| c == code)
                .map(|(_, item, n, sum)| (item.clone(), *n, *sum))
                .collect();
        }
        Ok(out)
    }
}
