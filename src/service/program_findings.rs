//! `GET /insurer/findings`: what an insurer's programs act on, for its own members with an
//! active registration and consent (the lab pull's rule, read at the time of the pull):
//! duplicate therapy and polypharmacy from the consolidated medication list (claims
//! included: `service::medication_list`'s loader and the `consolidate` engine), and the
//! program rules of `consolidate::program` (untreated high-risk values, interrupted
//! treatment, frequent tests). Rules and numbers are data (`mappings/`); every finding
//! explains itself: the rule, the threshold, the records.
//!
//! Paging walks the members (an opaque cursor, as the lab pull): each page evaluates the
//! next `limit` members as of `asOf` and returns their findings. Every member whose
//! findings are released gets an audit row first. A finding seen for the first time is
//! told once (topic medication-finding: `finding.detected`) to the insurer and to the
//! member's registered doctor.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::Date;

use crate::app::AppState;
use crate::codec::fhir::medication_list::explanation as medication_explanation;
use crate::codec::fhir::program_findings::{self as render, IssueFacts};
use crate::consolidate::ListSettings;
use crate::consolidate::program::{self, DiagnosisFact, LabFact, OverThreshold, ProgramFinding};
use crate::domain::code_system::KnownSystem;
use crate::domain::{
    Coding, FhirDateTime, FindingSubject, LabValue, MedicationList, Sex, SourcedMedication,
};
use crate::error::{ErrorCode, Problem};
use crate::mapping::program_rules::ProgramRules;
use crate::mapping::thresholds::{Level, Thresholds};
use crate::service::Ctx;
use crate::store::audit::AuditEntry;
use crate::store::events::{NewEvent, Recipient};
use crate::store::persons::PersonRow;
use crate::store::program::{PersonDiagnosis, PersonLab};
use crate::store::{StoreError, Tx};

/// Members per page at most.
pub const MAX_MEMBERS: i64 = 1000;

/// A record a finding rests on.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct FindingRecord {
    /// `lab` or `medication`.
    pub kind: String,
    /// The FHIR resources it is served as (`Observation/…`, `MedicationRequest/…`).
    pub references: Vec<String>,
    /// The day (a lab value's) or the first day (a medication entry's).
    pub date: String,
    /// The last active day of a medication entry.
    pub end: Option<String>,
    pub institution: Option<String>,
    /// The test or the drug, as the source named it.
    pub name: Option<String>,
    /// A lab value with its unit.
    pub value: Option<String>,
}

/// One finding.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct FindingView {
    pub member: String,
    /// `duplicate-therapy`, `same-class`, `polypharmacy`, `untreated-high-risk`,
    /// `interrupted-treatment`, `frequent-tests`.
    pub rule: String,
    /// Stable for the member across evaluations (rule, subject, first day).
    pub key: String,
    #[schema(value_type = Object)]
    pub code: Coding,
    /// `high`, `moderate`, `low`.
    pub severity: String,
    /// What was seen, which rule and threshold, in Japanese.
    pub explanation: String,
    pub threshold: String,
    pub start: String,
    pub end: String,
    pub records: Vec<FindingRecord>,
}

/// A page.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct FindingsPage {
    pub as_of: String,
    /// Members evaluated on this page.
    pub members: usize,
    pub findings: Vec<FindingView>,
    /// Give it as `since` for the next members (also in `Kakari-Next-Cursor`).
    pub next_cursor: String,
    /// Whether the walk reached the last member.
    pub complete: bool,
}

const CURSOR: &str = "kakari-findings-v1";

fn day(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

/// What one member's evaluation reads.
struct MemberData {
    person: PersonRow,
    practitioner: Option<String>,
    inputs: Vec<SourcedMedication>,
    labs: Vec<PersonLab>,
    diagnoses: Vec<PersonDiagnosis>,
}

fn value_text(value: &LabValue) -> Option<String> {
    match value {
        LabValue::Quantity { value, unit, .. } => Some(match unit {
            Some(u) => format!("{value} {u}"),
            None => value.to_string(),
        }),
        LabValue::Coded(c) => Some(c.display.clone().unwrap_or_else(|| c.code.clone())),
        LabValue::Text(t) => Some(t.clone()),
        LabValue::Absent { .. } => None,
    }
}

fn lab_fact(
    app: &AppState,
    thresholds: &Thresholds,
    lab: &PersonLab,
    sex: Option<Sex>,
) -> Option<LabFact> {
    let r = &lab.result;
    let day = r.effective.as_ref().and_then(FhirDateTime::date)?;
    let analyte = r
        .codes
        .iter()
        .find(|c| c.known_system() == Some(KnownSystem::Jlac10))
        .and_then(|c| c.code.get(..5))
        .map(str::to_owned);
    let over = thresholds
        .evaluate_result(r, app.checkup_items, sex)
        .filter(|e| e.level == Level::Consultation)
        .and_then(|e| {
            let rule = thresholds
                .for_measure(&e.measure)
                .find(|t| t.level == Level::Consultation && (t.sex.is_none() || t.sex == sex))?;
            Some(OverThreshold {
                measure: e.measure.clone(),
                name: rule.name.clone(),
                comparator: rule.comparator.as_str(),
                threshold: rule.value.to_string(),
                unit: rule.unit.clone(),
                value: value_text(&r.value).unwrap_or_default(),
            })
        });
    Some(LabFact {
        day,
        analyte,
        name: r.name.clone(),
        institution: r.facility.as_ref().map(|f| f.as_str().to_owned()),
        over,
    })
}

fn diagnosis_fact(d: &PersonDiagnosis) -> DiagnosisFact {
    let day = [&d.onset, &d.recorded]
        .into_iter()
        .flatten()
        .find_map(|t| FhirDateTime::parse(t).ok().and_then(|x| x.date()));
    DiagnosisFact {
        day,
        icd10: d
            .codes
            .iter()
            .filter(|c| c.known_system() == Some(KnownSystem::Icd10))
            .map(|c| c.code.replace('.', ""))
            .collect(),
    }
}

fn medication_record(
    list: &MedicationList,
    inputs: &[SourcedMedication],
    entry: usize,
) -> Option<FindingRecord> {
    let e = list.entries.get(entry)?;
    let references: Vec<String> = e
        .sources()
        .filter_map(|i| inputs.get(i)?.source.resource.clone())
        .collect();
    Some(FindingRecord {
        kind: "medication".into(),
        references,
        date: day(e.start),
        end: Some(day(e.end)),
        institution: e.institution.as_ref().map(|i| i.as_str().to_owned()),
        name: inputs
            .get(e.primary)
            .and_then(|i| i.record.drug_name.clone()),
        value: None,
    })
}

fn lab_record(lab: &PersonLab, fact: &LabFact) -> FindingRecord {
    FindingRecord {
        kind: "lab".into(),
        references: lab.resource.iter().cloned().collect(),
        date: day(fact.day),
        end: None,
        institution: fact.institution.clone(),
        name: lab.result.name.clone(),
        value: value_text(&lab.result.value),
    }
}

/// Evaluates one member (pure computing over what was read).
fn evaluate(app: &AppState, rules: &ProgramRules, m: &MemberData, as_of: Date) -> Vec<FindingView> {
    let thresholds = match Thresholds::bundled() {
        Ok(t) => t,
        Err(_) => return Vec::new(),
    };
    let sex = m.person.sex.as_deref().and_then(Sex::from_fhir);
    let mut settings = app.config.medication_list;
    settings.look_back_days = settings.look_back_days.max(program::look_back_days(rules));
    let master = app.drugs.current();
    let list =
        crate::consolidate::consolidate(&m.inputs, &master, &app.finding_rules, as_of, &settings);
    let mut labs = Vec::new();
    let mut facts = Vec::new();
    for lab in &m.labs {
        if let Some(f) = lab_fact(app, thresholds, lab, sex) {
            labs.push(lab);
            facts.push(f);
        }
    }
    let diagnoses: Vec<DiagnosisFact> = m.diagnoses.iter().map(diagnosis_fact).collect();
    let mut out = Vec::new();
    for f in &list.findings {
        let subject = match f.subject {
            FindingSubject::Ingredient(k) => k.as_str().to_owned(),
            FindingSubject::Class(c) => c.as_str().to_owned(),
            FindingSubject::List => "list".to_owned(),
        };
        out.push(FindingView {
            member: m.person.member_key.clone(),
            rule: f.setting.rule.as_str().to_owned(),
            key: format!("{}:{subject}:{}", f.setting.rule.as_str(), day(f.start)),
            code: f.setting.code.clone(),
            severity: f.setting.severity.as_str().to_owned(),
            explanation: medication_explanation(f),
            threshold: f.setting.threshold.to_string(),
            start: day(f.start),
            end: day(f.end),
            records: f
                .entries
                .iter()
                .filter_map(|e| medication_record(&list, &m.inputs, *e))
                .collect(),
        });
    }
    for p in program::evaluate(rules, &facts, &diagnoses, &list, &m.inputs, as_of) {
        out.push(program_view(rules, m, &list, &labs, &facts, p));
    }
    out
}

fn program_view(
    rules: &ProgramRules,
    m: &MemberData,
    list: &MedicationList,
    labs: &[&PersonLab],
    facts: &[LabFact],
    p: ProgramFinding,
) -> FindingView {
    let setting = rules.get(p.rule);
    let mut records: Vec<FindingRecord> = p
        .labs
        .iter()
        .filter_map(|i| Some(lab_record(labs.get(*i)?, facts.get(*i)?)))
        .collect();
    records.extend(
        p.entries
            .iter()
            .filter_map(|e| medication_record(list, &m.inputs, *e)),
    );
    FindingView {
        member: m.person.member_key.clone(),
        rule: p.rule.as_str().to_owned(),
        key: p.key,
        code: setting
            .map(|s| s.code.clone())
            .unwrap_or_else(|| Coding::new("urn:kakari:program-finding", p.rule.as_str(), None)),
        severity: setting
            .map_or("moderate", |s| s.severity.as_str())
            .to_owned(),
        explanation: p.explanation,
        threshold: p.threshold,
        start: day(p.start),
        end: day(p.end),
        records,
    }
}

/// A member's findings to audit and (the first time) tell: (key, rule, member).
struct Told {
    person: i64,
    practitioner: Option<String>,
    findings: Vec<(String, String, String)>,
}

impl Told {
    fn of(m: &MemberData, findings: &[FindingView]) -> Self {
        Told {
            person: m.person.pk,
            practitioner: m.practitioner.clone(),
            findings: findings
                .iter()
                .map(|f| (f.key.clone(), f.rule.clone(), f.member.clone()))
                .collect(),
        }
    }
}

/// Tells each finding seen for the first time (topic `finding.detected`) to the insurer
/// and the member's registered doctor; returns how many were new.
fn tell_new(tx: &mut Tx<'_>, insurer: &str, told: &Told) -> Result<usize, StoreError> {
    let mut new = 0;
    for (key, rule, member) in &told.findings {
        if !tx.finding_first_seen(told.person, key)? {
            continue;
        }
        new += 1;
        let payload = json!({"member": member, "rule": rule, "key": key}).to_string();
        let mut recipients = vec![Recipient::Insurer(insurer)];
        if let Some(p) = &told.practitioner {
            recipients.push(Recipient::Practitioner(p));
        }
        for recipient in recipients {
            tx.insert_event(&NewEvent {
                topic: "finding.detected",
                recipient,
                person_pk: Some(told.person),
                registration_id: None,
                payload: &payload,
                focus: None,
            })?;
        }
    }
    Ok(new)
}

/// The span of records an evaluation as of a day reads.
#[derive(Debug, Clone, Copy)]
struct Window {
    as_of: Date,
    from: Date,
    /// `from` at 00:00 Japan time, epoch ms (lab values are filed by instant).
    from_millis: i64,
}

impl Window {
    fn new(rules: &ProgramRules, mut settings: ListSettings, as_of: Date) -> Self {
        settings.look_back_days = settings.look_back_days.max(program::look_back_days(rules));
        let from = as_of
            .checked_sub(time::Duration::days(i64::from(settings.look_back_days)))
            .unwrap_or(as_of);
        let from_millis = time::PrimitiveDateTime::new(from, time::Time::MIDNIGHT)
            .assume_offset(time::macros::offset!(+9))
            .unix_timestamp()
            * 1000;
        Self {
            as_of,
            from,
            from_millis,
        }
    }
}

/// Reads what one member's evaluation needs.
fn read_member(tx: &mut Tx<'_>, person: PersonRow, w: Window) -> Result<MemberData, Problem> {
    let practitioner = tx.active_registration(person.pk)?.map(|r| r.practitioner);
    let inputs = tx.medication_of_person(person.pk, w.from, w.as_of)?;
    let labs = tx.labs_of_person(person.pk, w.from_millis)?;
    let diagnoses = tx.diagnoses_of_person(person.pk)?;
    Ok(MemberData {
        person,
        practitioner,
        inputs,
        labs,
        diagnoses,
    })
}

/// One round of the finding watch: evaluates up to `limit` persons whose records changed
/// (marked by the units of work that stored them, `store::finding_watch`) and who are
/// registered and consent to their insurer's programs, tells each new finding once, and
/// clears the marks. Returns the number of persons looked at.
pub async fn watch_round(app: &AppState, limit: i64) -> Result<usize, Problem> {
    let now = crate::domain::datetime::now_millis();
    let settle = i64::try_from(app.config.finding_watch_settle_millis).unwrap_or(i64::MAX);
    let lease = 60_000 + 2 * i64::try_from(app.config.finding_watch_millis).unwrap_or(0);
    let marks = app
        .store
        .write(move |tx| tx.lease_finding_marks(now - settle, now + lease, limit))
        .await?;
    if marks.is_empty() {
        return Ok(0);
    }
    let rules = ProgramRules::bundled().map_err(|e| e.to_problem())?;
    let window = Window::new(
        rules,
        app.config.medication_list,
        crate::domain::datetime::today_in_japan(),
    );
    let persons: Vec<i64> = marks.iter().map(|m| m.person_pk).collect();
    let members = app
        .store
        .read(move |tx| {
            let mut out = Vec::new();
            for person in persons {
                if let Some(row) = tx.consenting_member(person)? {
                    out.push(read_member(tx, row, window)?);
                }
            }
            Ok::<_, Problem>(out)
        })
        .await?;
    let told: Vec<(String, Told)> = members
        .iter()
        .map(|m| {
            let findings = evaluate(app, rules, m, window.as_of);
            (m.person.insurer.clone(), Told::of(m, &findings))
        })
        .collect();
    let looked_at = marks.len();
    app.store
        .write(move |tx| {
            let mut audit = Vec::new();
            for (insurer, t) in &told {
                let new = tell_new(tx, insurer, t)?;
                if new > 0 {
                    // Telling the insurer that a finding exists releases something about
                    // the member: audited as the watch's own action (no client).
                    audit.push(AuditEntry {
                        action: "findings.told".into(),
                        resource_type: Some("DetectedIssue".into()),
                        person_pk: Some(t.person),
                        outcome: "success".into(),
                        detail: Some(format!("{new} new finding(s)")),
                        ..AuditEntry::default()
                    });
                }
            }
            for mark in marks {
                tx.clear_finding_mark(mark)?;
            }
            tx.append_audit(&audit)?;
            Ok::<_, Problem>(())
        })
        .await?;
    Ok(looked_at)
}

/// What was asked.
#[derive(Debug, Clone)]
pub struct FindingsRequest {
    pub since: Option<String>,
    pub limit: i64,
    pub as_of: Option<String>,
}

/// `GET /insurer/findings`.
pub async fn list(
    app: &AppState,
    ctx: &Ctx,
    request: FindingsRequest,
) -> Result<FindingsPage, Problem> {
    crate::auth::access::require_role(&ctx.caller, crate::auth::access::INSURERS)?;
    let insurer = crate::auth::access::bound_insurer(&ctx.caller)?
        .as_str()
        .to_owned();
    if !(1..=MAX_MEMBERS).contains(&request.limit) {
        return Err(Problem::new(
            ErrorCode::InvalidParameter,
            "limit",
            "limit (members per page) must be 1 to 1000",
        ));
    }
    let after = match request.since.as_deref() {
        Some(c) if !c.is_empty() => super::cursor::decode(CURSOR, c, "since")?,
        _ => 0,
    };
    let as_of = crate::service::medication_list::as_of(request.as_of.as_deref())?;
    let rules = ProgramRules::bundled().map_err(|e| e.to_problem())?;
    let settings = app.config.medication_list;
    let limit = request.limit;
    let window = Window::new(rules, settings, as_of);
    let members = app
        .store
        .read(move |tx| {
            let mut out = Vec::new();
            for person in tx.consenting_members(&insurer, after, limit)? {
                out.push(read_member(tx, person, window)?);
            }
            Ok::<_, Problem>(out)
        })
        .await?;
    let complete = (members.len() as i64) < limit;
    let next = members.last().map_or(after, |m| m.person.pk);
    let mut findings: BTreeMap<i64, Vec<FindingView>> = BTreeMap::new();
    for m in &members {
        findings.insert(m.person.pk, evaluate(app, rules, m, as_of));
    }
    // Audit before release; tell each finding the first time it is seen.
    let ctx2 = ctx.clone();
    let insurer = ctx
        .caller
        .insurer
        .as_ref()
        .map(|i| i.as_str().to_owned())
        .unwrap_or_default();
    let told: Vec<Told> = members
        .iter()
        .map(|m| Told::of(m, &findings[&m.person.pk]))
        .collect();
    app.store
        .write(move |tx| {
            let mut audit = Vec::new();
            for t in &told {
                let mut e = ctx2.audit("findings");
                e.resource_type = Some("DetectedIssue".into());
                e.person_pk = Some(t.person);
                e.detail = Some(format!("{} finding(s)", t.findings.len()));
                audit.push(e);
                tell_new(tx, &insurer, t)?;
            }
            tx.append_audit(&audit)?;
            Ok::<_, Problem>(())
        })
        .await?;
    Ok(FindingsPage {
        as_of: day(as_of),
        members: members.len(),
        findings: findings.into_values().flatten().collect(),
        next_cursor: super::cursor::encode(CURSOR, next),
        complete,
    })
}

/// The page as a FHIR `searchset` Bundle of `DetectedIssue` (`self_url` and `next_url`
/// for its links).
pub fn as_fhir(page: &FindingsPage, self_url: &str, next_url: Option<&str>) -> serde_json::Value {
    let issues = page
        .findings
        .iter()
        .map(|f| {
            let digest = crate::service::sha256(format!("{}|{}", f.member, f.key).as_bytes());
            let id: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            render::detected_issue(&IssueFacts {
                id: &id,
                member_key: &f.member,
                rule: &f.rule,
                key: &f.key,
                code: &f.code,
                severity: &f.severity,
                as_of: &page.as_of,
                explanation: &f.explanation,
                threshold: &f.threshold,
                start: &f.start,
                end: &f.end,
                implicated: f
                    .records
                    .iter()
                    .flat_map(|r| r.references.clone())
                    .collect(),
            })
        })
        .collect();
    render::bundle(issues, self_url, next_url)
}
