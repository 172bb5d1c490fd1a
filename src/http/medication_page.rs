//! `GET /doctor/medication-list?member=…&asOf=…`: the consolidated medication list for the
//! registered doctor, as a server-rendered page (askama, escaped by default, no scripts),
//! Japanese labels, readable on a tablet: the findings first, then each drug with its dose
//! and usage, period and sources (institution and date), marked when no master maps it and
//! when only claims know it. The same list, rules and access as `$medication-list`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::extract::Authenticated;
use super::problem::HttpProblem;
use super::query;
use crate::app::AppState;
use crate::codec::fhir::medication_list::{explanation, key_text};
use crate::domain::medication_list::{FindingRule, FindingSeverity, ListEntry};
use crate::domain::{DrugRoute, MedicationKind, Quantity, SourceFormat};
use crate::service::medication_list::{self, PersonList, Whose};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    member: String,
    #[serde(rename = "asOf")]
    as_of: Option<String>,
}

struct FindingRow {
    severity: &'static str,
    severity_class: &'static str,
    title: &'static str,
    detail: String,
    drugs: Vec<String>,
}

struct SourceRow {
    kind: &'static str,
    institution: String,
    date: String,
    via: String,
}

struct EntryRow {
    drug: String,
    key: String,
    unmapped: bool,
    claims_only: bool,
    as_needed: bool,
    active: bool,
    dose: String,
    usage: String,
    period: String,
    institution: String,
    sources: Vec<SourceRow>,
}

#[derive(Template)]
#[template(path = "medication_list.html")]
struct ListHtml {
    member: String,
    as_of: String,
    window: String,
    findings: Vec<FindingRow>,
    entries: Vec<EntryRow>,
    undated: usize,
}

fn date(d: time::Date) -> String {
    format!("{}/{:02}/{:02}", d.year(), d.month() as u8, d.day())
}

fn institution(code: Option<&str>, names: &BTreeMap<String, String>) -> String {
    match code {
        Some(c) => match names.get(c) {
            Some(n) => format!("{n}（{c}）"),
            None => c.to_owned(),
        },
        None => "—".into(),
    }
}

fn quantity(q: Option<&Quantity>) -> String {
    q.map(|q| match &q.unit {
        Some(u) => format!("{}{u}", q.value.as_str()),
        None => q.value.as_str().to_owned(),
    })
    .unwrap_or_default()
}

fn kind(k: MedicationKind) -> &'static str {
    match k {
        MedicationKind::Prescription => "処方",
        MedicationKind::Dispense => "調剤",
        MedicationKind::Claim => "レセプト",
        MedicationKind::Statement => "服薬記録",
        MedicationKind::Administration => "投与",
    }
}

fn format_label(f: SourceFormat) -> &'static str {
    match f {
        SourceFormat::Fhir => "FHIR",
        SourceFormat::Hl7v2 => "HL7 v2",
        SourceFormat::Ssmix2 => "SS-MIX2",
        SourceFormat::Uke => "UKE",
        SourceFormat::Tokutei => "特定健診",
    }
}

fn entry_row(l: &PersonList, e: &ListEntry) -> EntryRow {
    let primary = l.inputs.get(e.primary).map(|i| &i.record);
    let sources = e
        .sources()
        .filter_map(|i| l.inputs.get(i))
        .map(|input| {
            let r = &input.record;
            let p = &input.source.provenance;
            SourceRow {
                kind: kind(r.kind),
                institution: institution(r.facility.as_ref().map(|f| f.as_str()), &l.institutions),
                date: r
                    .start
                    .or_else(|| r.recorded_at.and_then(|t| t.date()))
                    .map(date)
                    .unwrap_or_default(),
                via: match l.senders.get(&p.client_id) {
                    Some(name) => format!("{}・{name}", format_label(p.format)),
                    None => format_label(p.format).to_owned(),
                },
            }
        })
        .collect();
    EntryRow {
        drug: primary
            .and_then(|r| r.drug_name.clone())
            .unwrap_or_else(|| key_text(&e.identity.key)),
        key: key_text(&e.identity.key),
        unmapped: e.is_unmapped(),
        claims_only: e.only_claims,
        as_needed: e.route == Some(DrugRoute::AsNeeded),
        active: e.active_on_as_of,
        dose: primary
            .map(|r| quantity(r.dose.as_ref()))
            .unwrap_or_default(),
        usage: primary
            .and_then(|r| r.usage_text.clone())
            .unwrap_or_default(),
        period: format!("{} 〜 {}", date(e.start), date(e.end)),
        institution: institution(e.institution.as_ref().map(|f| f.as_str()), &l.institutions),
        sources,
    }
}

fn page(l: &PersonList) -> ListHtml {
    let entries: Vec<EntryRow> = l.list.entries.iter().map(|e| entry_row(l, e)).collect();
    let findings = l
        .list
        .findings
        .iter()
        .map(|f| FindingRow {
            severity: match f.setting.severity {
                FindingSeverity::High => "重要",
                FindingSeverity::Moderate => "注意",
                FindingSeverity::Low => "参考",
            },
            severity_class: f.setting.severity.as_str(),
            title: match f.setting.rule {
                FindingRule::DuplicateTherapy => "重複投薬",
                FindingRule::SameClass => "同効薬の重複",
                FindingRule::Polypharmacy => "多剤併用",
            },
            detail: explanation(f),
            drugs: f
                .entries
                .iter()
                .filter_map(|i| entries.get(*i))
                .map(|e| format!("{}（{}）", e.drug, e.institution))
                .collect(),
        })
        .collect();
    ListHtml {
        member: l.member.key(),
        as_of: date(l.list.as_of),
        window: format!("{} 〜 {}", date(l.list.window_start), date(l.list.as_of)),
        findings,
        entries,
        undated: l.list.undated.len(),
    }
}

/// `GET /doctor/medication-list`.
pub async fn medication_list(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    req: HttpRequest,
) -> Result<HttpResponse, HttpProblem> {
    let q: PageQuery = query::parse(&req).map_err(HttpProblem::json)?;
    let day = medication_list::as_of(q.as_of.as_deref()).map_err(HttpProblem::json)?;
    let built = medication_list::build(&app, &ctx, Whose::Member(q.member), day)
        .await
        .map_err(HttpProblem::json)?;
    match page(&built).render() {
        Ok(body) => {
            let mut resp = HttpResponse::build(StatusCode::OK)
                .content_type("text/html; charset=utf-8")
                .body(body);
            let headers = resp.headers_mut();
            headers.insert(
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
            );
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(resp)
        }
        Err(_) => {
            tracing::error!("medication list page failed to render");
            Err(HttpProblem::json(crate::error::Problem::bare(
                crate::error::ErrorCode::Internal,
            )))
        }
    }
}
