//! kakari's satisfaction questionnaire as FHIR R4 `Questionnaire`, and reading a member's
//! answers (`QuestionnaireResponse`): `subject` is the institution rated (logical
//! reference by its 10-digit code), `source` the member who answered (logical reference
//! by member id), one `valueInteger` 1-5 per item.

use serde_json::{Value, json};

use super::task::member_of_reference;
use crate::domain::code_system::id_system;
use crate::domain::survey::{ITEMS, SCALE};
use crate::domain::{InstitutionCode, MemberId};
use crate::error::{ErrorCode, Problem};

/// The questionnaire's id and canonical URL.
pub const QUESTIONNAIRE_ID: &str = "kakari-satisfaction";
pub const QUESTIONNAIRE_URL: &str = "urn:kakari:questionnaire:satisfaction";
pub const QUESTIONNAIRE_VERSION: &str = "1";

/// The questionnaire.
pub fn questionnaire() -> Value {
    let options: Vec<Value> = (SCALE.0..=SCALE.1)
        .map(|n| json!({"valueInteger": n}))
        .collect();
    let items: Vec<Value> = ITEMS
        .iter()
        .map(|(link, text)| {
            json!({"linkId": link, "text": text, "type": "integer", "required": true,
                   "answerOption": options})
        })
        .collect();
    json!({
        "resourceType": "Questionnaire",
        "id": QUESTIONNAIRE_ID,
        "url": QUESTIONNAIRE_URL,
        "version": QUESTIONNAIRE_VERSION,
        "name": "KakariSatisfaction",
        "title": "かかりつけ医の満足度調査",
        "status": "active",
        "subjectType": ["Organization"],
        "description": "1（不満）〜5（満足）の5段階。医療機関ごとに集計し、回答が10件以上の場合のみ平均を公開します。",
        "item": items
    })
}

/// A member's answers about an institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyAnswers {
    pub organization: InstitutionCode,
    /// The member who answered (`source`), when given.
    pub member: Option<MemberId>,
    /// (item, score), one per item of the questionnaire.
    pub scores: Vec<(&'static str, i64)>,
}

fn invalid(location: impl Into<String>, message: &str) -> Problem {
    Problem::new(ErrorCode::InvalidBody, location, message)
}

/// Reads a QuestionnaireResponse to kakari's questionnaire.
pub fn read_response(body: &Value) -> Result<SurveyAnswers, Problem> {
    super::schema::check_resource(body, "QuestionnaireResponse")?;
    let questionnaire = body
        .get("questionnaire")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if questionnaire.split('|').next() != Some(QUESTIONNAIRE_URL) {
        return Err(invalid(
            "QuestionnaireResponse.questionnaire",
            "answers kakari's questionnaire urn:kakari:questionnaire:satisfaction",
        ));
    }
    if body.get("status").and_then(Value::as_str) != Some("completed") {
        return Err(invalid("QuestionnaireResponse.status", "completed"));
    }
    let subject = body
        .get("subject")
        .and_then(|s| s.get("identifier"))
        .ok_or_else(|| {
            invalid(
                "QuestionnaireResponse.subject",
                "the institution rated, by identifier (10-digit institution code)",
            )
        })?;
    if !id_system::is_institution(
        subject
            .get("system")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    ) {
        return Err(invalid(
            "QuestionnaireResponse.subject.identifier.system",
            "the institution-code system",
        ));
    }
    let organization = InstitutionCode::parse(
        subject
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
    .map_err(|_| {
        invalid(
            "QuestionnaireResponse.subject.identifier.value",
            "a 10-digit institution code",
        )
    })?;
    let member = match body.get("source") {
        Some(source) => Some(member_of_reference(source, "QuestionnaireResponse.source")?),
        None => None,
    };
    let mut scores = Vec::new();
    for (i, item) in body
        .get("item")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let location = format!("QuestionnaireResponse.item[{i}]");
        let link = item
            .get("linkId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some((known, _)) = ITEMS.iter().find(|(l, _)| *l == link) else {
            return Err(invalid(
                format!("{location}.linkId"),
                "not an item of the questionnaire",
            ));
        };
        if scores.iter().any(|(l, _)| l == known) {
            return Err(invalid(format!("{location}.linkId"), "answered twice"));
        }
        let answers = item.get("answer").and_then(Value::as_array);
        let score = match answers.map(Vec::as_slice) {
            Some([one]) => one.get("valueInteger").and_then(Value::as_i64),
            _ => None,
        }
        .filter(|n| (SCALE.0..=SCALE.1).contains(n))
        .ok_or_else(|| invalid(format!("{location}.answer"), "one valueInteger from 1 to 5"))?;
        scores.push((*known, score));
    }
    if let Some((missing, _)) = ITEMS
        .iter()
        .find(|(l, _)| !scores.iter().any(|(s, _)| s == l))
    {
        return Err(invalid(
            "QuestionnaireResponse.item",
            &format!("every item is required; missing {missing}"),
        ));
    }
    Ok(SurveyAnswers {
        organization,
        member,
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(scores: &[(&str, i64)]) -> Value {
        let items: Vec<Value> = scores
            .iter()
            .map(|(l, s)| json!({"linkId": l, "answer": [{"valueInteger": s}]}))
            .collect();
        json!({"resourceType": "QuestionnaireResponse", "questionnaire": QUESTIONNAIRE_URL,
               "status": "completed",
               "subject": {"identifier": {"system": id_system::INSTITUTION, "value": "1311234567"}},
               "source": {"identifier": {"system": id_system::MEMBER_ID, "value": "06139463:1:2:01"}},
               "item": items})
    }

    #[test]
    fn every_item_is_answered_once_on_the_scale() {
        let all: Vec<(&str, i64)> = ITEMS.iter().map(|(l, _)| (*l, 4)).collect();
        let a = read_response(&response(&all)).unwrap();
        assert_eq!(a.organization.as_str(), "1311234567");
        assert_eq!(a.scores.len(), ITEMS.len());
        let mut six = all.clone();
        six[0].1 = 6;
        assert_eq!(
            read_response(&response(&six)).unwrap_err().issues[0].location,
            "QuestionnaireResponse.item[0].answer"
        );
        assert!(read_response(&response(&all[1..])).is_err());
        let mut twice = all.clone();
        twice.push(("overall", 3));
        assert!(read_response(&response(&twice)).is_err());
        let mut unknown = all;
        unknown.push(("favourite-nurse", 5));
        assert!(read_response(&response(&unknown)).is_err());
    }
}
