//! Reads one 特定健診 CDA document (`hc08_V08.xsd`, one person and one exam date) into a
//! `CheckupDocument`.
//!
//! What is read (paths from `/ClinicalDocument`):
//! * `code/@code` 報告区分; `recordTarget/patientRole/id` by root: 保険者番号
//!   (1.2.392.200119.6.101), 記号 (…6.204), 番号 (…6.205), 枝番 (…6.211) → `MemberId`;
//!   `patient/name`, `administrativeGenderCode/@code` (1 male, 2 female), `birthTime/@value`.
//! * `author/assignedAuthor/representedOrganization/id` (root …6.102) → the file's author;
//!   `documentationOf/serviceEvent`: `code` (プログラム種別), `effectiveTime` (exam date),
//!   `performer/assignedEntity/representedOrganization/id` (root …6.102) → performer.
//! * Every `observation` with a `code`, at any depth under the sections (series groups
//!   nest results in `entryRelationship`; the group container, whose code is
//!   `nullFlavor="NA"`, is not a result). Per observation: `code` (item code, OID
//!   1.2.392.200119.6.1005), `value` by `xsi:type` (PQ/INT/REAL → quantity keeping the
//!   literal's precision and UCUM unit; CD/CO/CE/CV/CS → coded; ST/ED → text),
//!   `interpretationCode` → flag, `effectiveTime`, the first `referenceRange`
//!   (`IVL_PQ` low/high, or text).
//!
//! Absent values: `nullFlavor` on the observation or its value gives `Absent { reason:
//! the nullFlavor }`. `negationInd="true"` states (CDA R2) that the observation as
//! described is not the case: kakari records it as `Absent { reason: "negated" }`, drops
//! any value (inverting one code of a multi-valued list is not another code), and adds a
//! warning. `methodCode` is not kept: the item code already names the method.

use time::Date;

use super::document::{CheckupDocument, DocumentRead};
use super::oid;
use super::safe_xml::{DocumentLimits, Node, SafeReader, decode};
use crate::domain::code_system::{Coding, KnownSystem};
use crate::domain::{
    Decimal, Demographics, FhirDateTime, InstitutionCode, LabResult, LabValue, MemberId,
    ReferenceRange, Sex, SubjectRef,
};
use crate::error::{ErrorCode, Issue};
use crate::mapping::checkup_items::{CheckupItem, CheckupItems};

const DOC: &str = "ClinicalDocument";
const PATIENT_ROLE: [&str; 3] = [DOC, "recordTarget", "patientRole"];
const SERVICE_EVENT: [&str; 3] = [DOC, "documentationOf", "serviceEvent"];

/// Reads one checkup document.
pub fn read_document(bytes: &[u8], items: &CheckupItems, limits: &DocumentLimits) -> DocumentRead {
    if bytes.len() > limits.max_bytes {
        return refused(Issue::error(
            ErrorCode::TokuteiTooLarge,
            "byte 0",
            "document is larger than the size limit",
        ));
    }
    let text = match decode(bytes) {
        Ok(text) => text,
        Err(issue) => return refused(issue),
    };
    let mut reader = SafeReader::new(&text, oid::HL7_NS, *limits);
    let mut parser = Parser::new(items, *limits);
    if let Err(issue) = parser.run(&mut reader) {
        parser.issues.push(issue);
        return DocumentRead {
            document: None,
            issues: parser.issues,
        };
    }
    parser.into_read()
}

fn refused(issue: Issue) -> DocumentRead {
    DocumentRead {
        document: None,
        issues: vec![issue],
    }
}

/// Header fields as found (first occurrence wins).
#[derive(Debug, Default)]
struct Header {
    report_category: Option<String>,
    insurer: Option<String>,
    symbol: Option<String>,
    number: Option<String>,
    branch: Option<String>,
    name: Option<String>,
    sex: Option<String>,
    birth: Option<String>,
    author: Option<String>,
    program: Option<String>,
    exam_date: Option<String>,
    performer: Option<String>,
}

fn set_once(slot: &mut Option<String>, value: Option<&str>) {
    if slot.is_none() {
        *slot = value.map(str::to_owned);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextTarget {
    PatientName,
    Value,
    RangeText,
}

#[derive(Debug)]
struct Collecting {
    target: TextTarget,
    depth: usize,
    text: String,
}

/// A `value` element's attributes and text.
#[derive(Debug, Default)]
struct RawValue {
    xsi_type: Option<String>,
    value: Option<String>,
    unit: Option<String>,
    code: Option<String>,
    code_system: Option<String>,
    display: Option<String>,
    null_flavor: Option<String>,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeState {
    NotSeen,
    Open,
    Done,
}

#[derive(Debug, Default)]
struct RangeDraft {
    low: Option<String>,
    high: Option<String>,
    text: Option<String>,
}

#[derive(Debug)]
struct Draft {
    depth: usize,
    location: String,
    negated: bool,
    null_flavor: Option<String>,
    code: Option<String>,
    code_null: bool,
    display: Option<String>,
    value: Option<RawValue>,
    flag: Option<String>,
    effective: Option<String>,
    range_state: RangeState,
    range: RangeDraft,
}

#[derive(Debug)]
struct Finished {
    code: String,
    display: Option<String>,
    value: LabValue,
    flag: Option<String>,
    effective: Option<FhirDateTime>,
    range: Option<ReferenceRange>,
    location: String,
}

struct Parser<'t> {
    items: &'t CheckupItems,
    limits: DocumentLimits,
    header: Header,
    drafts: Vec<Draft>,
    finished: Vec<Finished>,
    issues: Vec<Issue>,
    collecting: Option<Collecting>,
    observations: usize,
}

/// Equivalence classes of `xsi:type` names.
fn type_class(xsi_type: &str) -> Option<&'static str> {
    match xsi_type {
        "PQ" | "INT" | "REAL" => Some("PQ"),
        "CD" | "CO" | "CE" | "CV" | "CS" => Some("CD"),
        "ST" | "ED" => Some("ST"),
        _ => None,
    }
}

fn is_kana(text: &str) -> bool {
    text.chars()
        .all(|c| matches!(c, '\u{30A0}'..='\u{30FF}' | '\u{FF65}'..='\u{FF9F}' | ' ' | '\u{3000}'))
}

fn parse_date(raw: &str) -> Option<Date> {
    FhirDateTime::parse_hl7(raw.trim()).ok()?.date()
}

impl<'t> Parser<'t> {
    fn new(items: &'t CheckupItems, limits: DocumentLimits) -> Self {
        Self {
            items,
            limits,
            header: Header::default(),
            drafts: Vec::new(),
            finished: Vec::new(),
            issues: Vec::new(),
            collecting: None,
            observations: 0,
        }
    }

    fn run(&mut self, reader: &mut SafeReader<'_>) -> Result<(), Issue> {
        loop {
            match reader.next()? {
                Node::Open => self.open(reader)?,
                Node::Close => self.close(reader),
                Node::Text(text) => {
                    if let Some(collecting) = &mut self.collecting {
                        if collecting.text.len() + text.len() > self.limits.max_text_bytes {
                            return Err(reader.path_issue(
                                ErrorCode::TokuteiTooLarge,
                                "element text is longer than the limit",
                            ));
                        }
                        collecting.text.push_str(&text);
                    }
                }
                Node::End => return Ok(()),
            }
        }
    }

    fn collect(&mut self, target: TextTarget, depth: usize) {
        self.collecting = Some(Collecting {
            target,
            depth,
            text: String::new(),
        });
    }

    fn open(&mut self, reader: &SafeReader<'_>) -> Result<(), Issue> {
        let depth = reader.path.depth();
        let element = reader.element();
        let (local, attrs) = (element.local.as_str(), &element.attrs);
        if depth == 1 {
            if element.in_ns && local == DOC {
                return Ok(());
            }
            return Err(reader.path_issue(
                ErrorCode::TokuteiNotCheckup,
                "the root element must be ClinicalDocument in the urn:hl7-org:v3 namespace",
            ));
        }
        if !element.in_ns {
            return Ok(());
        }
        if local == "observation" {
            self.observations += 1;
            if self.observations > self.limits.max_observations {
                return Err(reader.path_issue(
                    ErrorCode::TokuteiTooLarge,
                    "more observations than the limit",
                ));
            }
            self.drafts.push(Draft {
                depth,
                location: reader.path.render(),
                negated: attrs.get("negationInd") == Some("true"),
                null_flavor: attrs.get("nullFlavor").map(str::to_owned),
                code: None,
                code_null: false,
                display: None,
                value: None,
                flag: None,
                effective: None,
                range_state: RangeState::NotSeen,
                range: RangeDraft::default(),
            });
            return Ok(());
        }
        let Some(draft) = self.drafts.last_mut() else {
            self.header_element(reader);
            return Ok(());
        };
        let base = draft.depth;
        let below = |tail: &[&str]| reader.path.is_below(base, tail);
        let in_range = draft.range_state == RangeState::Open;
        if below(&["code"]) {
            if draft.code.is_none() && !draft.code_null {
                draft.code = attrs.get("code").map(str::to_owned);
                draft.code_null = draft.code.is_none() && attrs.get("nullFlavor").is_some();
                draft.display = attrs.get("displayName").map(str::to_owned);
            }
        } else if below(&["value"]) {
            if draft.value.is_none() {
                draft.value = Some(RawValue {
                    xsi_type: attrs.xsi_type().map(str::to_owned),
                    value: attrs.get("value").map(str::to_owned),
                    unit: attrs.get("unit").map(str::to_owned),
                    code: attrs.get("code").map(str::to_owned),
                    code_system: attrs.get("codeSystem").map(str::to_owned),
                    display: attrs.get("displayName").map(str::to_owned),
                    null_flavor: attrs.get("nullFlavor").map(str::to_owned),
                    text: String::new(),
                });
                self.collect(TextTarget::Value, depth);
            }
        } else if below(&["interpretationCode"]) {
            set_once(&mut draft.flag, attrs.get("code"));
        } else if below(&["effectiveTime"]) || below(&["effectiveTime", "low"]) {
            set_once(&mut draft.effective, attrs.get("value"));
        } else if below(&["referenceRange"]) {
            if draft.range_state == RangeState::NotSeen {
                draft.range_state = RangeState::Open;
            }
        } else if in_range && below(&["referenceRange", "observationRange", "value", "low"]) {
            set_once(&mut draft.range.low, attrs.get("value"));
        } else if in_range && below(&["referenceRange", "observationRange", "value", "high"]) {
            set_once(&mut draft.range.high, attrs.get("value"));
        } else if in_range && below(&["referenceRange", "observationRange", "text"]) {
            self.collect(TextTarget::RangeText, depth);
        }
        Ok(())
    }

    fn header_element(&mut self, reader: &SafeReader<'_>) {
        let path = &reader.path;
        let attrs = &reader.element().attrs;
        let h = &mut self.header;
        let role = |tail: &[&str]| path.is_path(&PATIENT_ROLE, tail);
        let event = |tail: &[&str]| path.is_path(&SERVICE_EVENT, tail);
        let provider = attrs.get("root") == Some(oid::CHECKUP_PROVIDER);
        if path.is(&[DOC, "code"]) {
            set_once(&mut h.report_category, attrs.get("code"));
        } else if role(&["id"]) {
            let slot = match attrs.get("root") {
                Some(oid::INSURER) => &mut h.insurer,
                Some(oid::CARD_SYMBOL) => &mut h.symbol,
                Some(oid::CARD_NUMBER) => &mut h.number,
                Some(oid::CARD_BRANCH) => &mut h.branch,
                _ => return,
            };
            set_once(slot, attrs.get("extension"));
        } else if role(&["patient", "name"]) {
            if h.name.is_none() {
                self.collect(TextTarget::PatientName, path.depth());
            }
        } else if role(&["patient", "administrativeGenderCode"]) {
            set_once(&mut h.sex, attrs.get("code"));
        } else if role(&["patient", "birthTime"]) {
            set_once(&mut h.birth, attrs.get("value"));
        } else if provider
            && path.is(&[
                DOC,
                "author",
                "assignedAuthor",
                "representedOrganization",
                "id",
            ])
        {
            set_once(&mut h.author, attrs.get("extension"));
        } else if event(&["code"]) {
            set_once(&mut h.program, attrs.get("code"));
        } else if event(&["effectiveTime"]) || event(&["effectiveTime", "low"]) {
            set_once(&mut h.exam_date, attrs.get("value"));
        } else if provider
            && event(&[
                "performer",
                "assignedEntity",
                "representedOrganization",
                "id",
            ])
        {
            set_once(&mut h.performer, attrs.get("extension"));
        }
    }

    fn close(&mut self, reader: &SafeReader<'_>) {
        let depth = reader.path.depth();
        if self.collecting.as_ref().is_some_and(|c| c.depth == depth)
            && let Some(done) = self.collecting.take()
        {
            self.store_text(done);
        }
        let Some(draft) = self.drafts.last_mut() else {
            return;
        };
        if draft.depth == depth {
            if let Some(draft) = self.drafts.pop() {
                self.finish_observation(draft);
            }
        } else if depth == draft.depth + 1
            && draft.range_state == RangeState::Open
            && reader.path.current() == Some("referenceRange")
        {
            draft.range_state = RangeState::Done;
        }
    }

    fn store_text(&mut self, done: Collecting) {
        match done.target {
            TextTarget::PatientName => {
                let name = done.text.trim();
                if !name.is_empty() {
                    self.header.name = Some(name.to_owned());
                }
            }
            TextTarget::Value => {
                if let Some(value) = self.drafts.last_mut().and_then(|d| d.value.as_mut()) {
                    value.text = done.text;
                }
            }
            TextTarget::RangeText => {
                if let Some(draft) = self.drafts.last_mut() {
                    let text = done.text.trim();
                    if !text.is_empty() {
                        draft.range.text = Some(text.to_owned());
                    }
                }
            }
        }
    }

    fn warn(&mut self, code: ErrorCode, location: String, message: &str) {
        self.issues.push(Issue::warning(code, location, message));
    }

    fn finish_observation(&mut self, draft: Draft) {
        let Some(code) = draft.code else {
            if !draft.code_null {
                self.issues.push(Issue::error(
                    ErrorCode::TokuteiMissingElement,
                    format!("{}/code", draft.location),
                    "observation has no code; not taken",
                ));
            }
            return;
        };
        let item = self.items.get(&code);
        let value_location = format!("{}/value", draft.location);
        let value = if draft.negated {
            self.warn(
                ErrorCode::TokuteiNegatedObservation,
                draft.location.clone(),
                "negationInd=\"true\": recorded as absent (reason \"negated\")",
            );
            LabValue::Absent {
                reason: Some(oid::NEGATED.to_owned()),
            }
        } else if let Some(null_flavor) = draft.null_flavor {
            LabValue::Absent {
                reason: Some(null_flavor),
            }
        } else {
            match draft.value {
                None => {
                    self.warn(
                        ErrorCode::TokuteiMissingElement,
                        value_location,
                        "observation has no value; recorded as absent",
                    );
                    LabValue::Absent { reason: None }
                }
                Some(raw) => match self.value(raw, item, &value_location) {
                    Ok(value) => value,
                    Err(issue) => {
                        self.issues.push(issue);
                        return;
                    }
                },
            }
        };
        let effective = match draft.effective {
            None => None,
            Some(raw) => match FhirDateTime::parse_hl7(raw.trim()) {
                Ok(at) => Some(at),
                Err(_) => {
                    self.warn(
                        ErrorCode::TokuteiInvalidValue,
                        format!("{}/effectiveTime", draft.location),
                        "not an HL7 date/time; the exam date is used",
                    );
                    None
                }
            },
        };
        let range = self.range(draft.range, &draft.location);
        self.finished.push(Finished {
            code,
            display: draft.display,
            value,
            flag: draft.flag,
            effective,
            range,
            location: draft.location,
        });
    }

    fn value(
        &mut self,
        raw: RawValue,
        item: Option<&CheckupItem>,
        location: &str,
    ) -> Result<LabValue, Issue> {
        if let Some(null_flavor) = raw.null_flavor {
            return Ok(LabValue::Absent {
                reason: Some(null_flavor),
            });
        }
        let invalid =
            |message: &str| Issue::error(ErrorCode::TokuteiInvalidValue, location, message);
        let missing =
            |message: &str| Issue::error(ErrorCode::TokuteiMissingElement, location, message);
        let declared = raw.xsi_type.as_deref();
        let table = item.map(|i| i.data_type.as_str());
        let inferred = if raw.value.is_some() {
            "PQ"
        } else if raw.code.is_some() {
            "CD"
        } else {
            "ST"
        };
        let class = match declared.or(table) {
            Some(t) => type_class(t).ok_or_else(|| {
                invalid("value has an xsi:type other than PQ, INT, REAL, CD, CO, CE, CV, CS, ST, ED; not taken")
            })?,
            None => inferred,
        };
        if let (Some(declared), Some(table)) = (declared, table)
            && type_class(declared) != type_class(table)
        {
            self.warn(
                ErrorCode::TokuteiInvalidValue,
                location.to_owned(),
                "value type differs from the item table; read as declared",
            );
        }
        match class {
            "PQ" => {
                let literal = raw
                    .value
                    .ok_or_else(|| missing("quantity without @value; not taken"))?;
                let value = Decimal::parse_lenient(&literal)
                    .map_err(|_| invalid("@value is not a decimal number; not taken"))?;
                let unit = raw.unit.filter(|u| !u.is_empty() && u != "1");
                Ok(LabValue::Quantity {
                    value,
                    comparator: None,
                    unit_code: unit.clone(),
                    unit_system: unit.as_ref().map(|_| KnownSystem::Ucum.uri().to_owned()),
                    unit,
                })
            }
            "CD" => {
                let code = raw
                    .code
                    .ok_or_else(|| missing("coded value without @code; not taken"))?;
                let system = raw
                    .code_system
                    .or_else(|| item.and_then(|i| i.result_oid.clone()))
                    .map(|s| format!("urn:oid:{s}"))
                    .unwrap_or_default();
                Ok(LabValue::Coded(Coding::new(&system, code, raw.display)))
            }
            _ => {
                let text = raw.text.trim();
                Ok(if text.is_empty() {
                    LabValue::Absent { reason: None }
                } else {
                    LabValue::Text(text.to_owned())
                })
            }
        }
    }

    fn range(&mut self, draft: RangeDraft, location: &str) -> Option<ReferenceRange> {
        let mut bound = |raw: Option<String>, which: &str| {
            let raw = raw?;
            match Decimal::parse_lenient(&raw) {
                Ok(value) => Some(value),
                Err(_) => {
                    self.warn(
                        ErrorCode::TokuteiInvalidValue,
                        format!("{location}/referenceRange/observationRange/value/{which}"),
                        "reference range bound is not a decimal number; ignored",
                    );
                    None
                }
            }
        };
        let low = bound(draft.low, "low");
        let high = bound(draft.high, "high");
        (low.is_some() || high.is_some() || draft.text.is_some()).then_some(ReferenceRange {
            low,
            high,
            text: draft.text,
        })
    }

    fn into_read(mut self) -> DocumentRead {
        let member = match self.member() {
            Ok(member) => member,
            Err(issue) => {
                self.issues.push(issue);
                return DocumentRead {
                    document: None,
                    issues: self.issues,
                };
            }
        };
        let header = std::mem::take(&mut self.header);
        let exam_location = "/ClinicalDocument/documentationOf/serviceEvent/effectiveTime";
        let exam_date = match header.exam_date.as_deref() {
            None => {
                self.issues.push(Issue::error(
                    ErrorCode::TokuteiMissingElement,
                    exam_location,
                    "exam date (serviceEvent/effectiveTime) missing",
                ));
                None
            }
            Some(raw) => {
                let date = parse_date(raw);
                if date.is_none() {
                    self.issues.push(Issue::error(
                        ErrorCode::TokuteiInvalidValue,
                        exam_location,
                        "exam date is not a YYYYMMDD date",
                    ));
                }
                date
            }
        };
        let patient = "/ClinicalDocument/recordTarget/patientRole/patient";
        let birth_date = header.birth.as_deref().and_then(|raw| {
            let date = parse_date(raw);
            if date.is_none() {
                self.warn(
                    ErrorCode::TokuteiInvalidValue,
                    format!("{patient}/birthTime"),
                    "birth date is not a YYYYMMDD date; ignored",
                );
            }
            date
        });
        let sex = header.sex.as_deref().and_then(|code| {
            let sex = Sex::from_jp_code(code);
            if sex.is_none() {
                self.warn(
                    ErrorCode::TokuteiInvalidValue,
                    format!("{patient}/administrativeGenderCode"),
                    "sex code is not 1 or 2; ignored",
                );
            }
            sex
        });
        let (name, name_kana) = match header.name {
            Some(name) if is_kana(&name) => (None, Some(name)),
            other => (other, None),
        };
        let performer = self.institution(
            header.performer.as_deref(),
            "/ClinicalDocument/documentationOf/serviceEvent/performer/assignedEntity/representedOrganization/id",
        );
        let author = self.institution(
            header.author.as_deref(),
            "/ClinicalDocument/author/assignedAuthor/representedOrganization/id",
        );
        let facility = performer.clone().or_else(|| author.clone());
        let finished = std::mem::take(&mut self.finished);
        let results = finished
            .into_iter()
            .map(|obs| self.result(obs, &member, exam_date, facility.as_ref()))
            .collect();
        DocumentRead {
            document: Some(CheckupDocument {
                member,
                demographics: Demographics {
                    birth_date,
                    sex,
                    name,
                    name_kana,
                    names: Vec::new(),
                },
                exam_date,
                performer,
                author,
                report_category: header.report_category,
                program: header.program,
                results,
            }),
            issues: self.issues,
        }
    }

    fn member(&self) -> Result<MemberId, Issue> {
        let location = "/ClinicalDocument/recordTarget/patientRole/id";
        let h = &self.header;
        let (Some(insurer), Some(number)) = (h.insurer.as_deref(), h.number.as_deref()) else {
            return Err(Issue::error(
                ErrorCode::TokuteiMemberId,
                location,
                "insurer number (root 1.2.392.200119.6.101) or card number (root 1.2.392.200119.6.205) missing",
            ));
        };
        MemberId::from_parts(
            insurer,
            h.symbol.as_deref().unwrap_or(""),
            number,
            h.branch.as_deref(),
        )
        .map_err(|e| Issue::error(ErrorCode::TokuteiMemberId, location, e.to_string()))
    }

    fn institution(&mut self, raw: Option<&str>, location: &str) -> Option<InstitutionCode> {
        let code = InstitutionCode::parse(raw?);
        if code.is_err() {
            self.warn(
                ErrorCode::TokuteiInvalidValue,
                location.to_owned(),
                "institution number is not 10 digits; ignored",
            );
        }
        code.ok()
    }

    fn result(
        &mut self,
        obs: Finished,
        member: &MemberId,
        exam_date: Option<Date>,
        facility: Option<&InstitutionCode>,
    ) -> LabResult {
        let item = self.items.get(&obs.code);
        if item.is_none() {
            self.warn(
                ErrorCode::TokuteiUnknownItem,
                format!("{}/code", obs.location),
                "item code is not in the checkup item table; kept with its code only",
            );
        }
        let name = obs.display.or_else(|| item.map(|i| i.name.clone()));
        let mut result = LabResult::new(SubjectRef::Member(member.clone()), obs.value);
        result.codes.push(Coding::new(
            KnownSystem::CheckupItem.uri(),
            obs.code,
            name.clone(),
        ));
        if let Some(jlac10) = item.and_then(|i| i.jlac10.clone()) {
            result
                .codes
                .push(Coding::new(KnownSystem::Jlac10.uri(), jlac10, None));
        }
        result.name = name;
        result.reference_range = obs.range;
        result.flag = obs.flag;
        result.status = Some("final".to_owned());
        result.effective = obs.effective.or(exam_date.map(FhirDateTime::Date));
        result.facility = facility.cloned();
        result.category = item.map(|i| i.observation_category().to_owned());
        result
    }
}
