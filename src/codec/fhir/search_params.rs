//! Search parameters: which ones each type supports (the one list the CapabilityStatement,
//! the indexer and the query parser all read), how index entries are extracted from a
//! resource, and how a query string becomes a store search.
//!
//! Strings are indexed normalised (NFKC, lower case, whitespace removed, hiragana folded to
//! katakana) and matched by prefix; `:exact` compares the normalised form whole, `:contains`
//! anywhere. Token systems are stored in their canonical spelling, so a search by OID finds
//! a resource coded by URL and vice versa.

use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

use super::ResourceType;
use super::value::{items, reference_target, str_of};
use crate::domain::FhirDateTime;
use crate::domain::code_system::{canonical_system, id_system};
use crate::error::{ErrorCode, Issue, Problem};
use crate::store::search::{DateOp, IndexEntry, Match};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Token,
    String,
    Reference,
    Date,
}

impl ParamKind {
    pub fn as_fhir(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::String => "string",
            Self::Reference => "reference",
            Self::Date => "date",
        }
    }
}

/// A supported search parameter.
#[derive(Debug, Clone, Copy)]
pub struct SearchParam {
    pub name: &'static str,
    pub kind: ParamKind,
    /// Element paths (dot-separated; arrays are walked) the values come from.
    pub paths: &'static [&'static str],
    /// For references: the resource type a bare id means.
    pub target: Option<&'static str>,
    pub doc: &'static str,
    /// Another parameter of the type this one is a synonym of (shares its index entries).
    pub alias_of: Option<&'static str>,
}

impl SearchParam {
    /// The name its index entries are stored under.
    pub fn stored_as(&self) -> &'static str {
        self.alias_of.unwrap_or(self.name)
    }
}

const fn p(
    name: &'static str,
    kind: ParamKind,
    paths: &'static [&'static str],
    doc: &'static str,
) -> SearchParam {
    SearchParam {
        name,
        kind,
        paths,
        target: None,
        doc,
        alias_of: None,
    }
}

/// `name` searches the same entries as `of`.
const fn alias(name: &'static str, of: &'static str, doc: &'static str) -> SearchParam {
    SearchParam {
        name,
        kind: ParamKind::Date,
        paths: &[],
        target: None,
        doc,
        alias_of: Some(of),
    }
}

const fn r(
    name: &'static str,
    paths: &'static [&'static str],
    target: &'static str,
    doc: &'static str,
) -> SearchParam {
    SearchParam {
        name,
        kind: ParamKind::Reference,
        paths,
        target: Some(target),
        doc,
        alias_of: None,
    }
}

use ParamKind::{Date, String as Str, Token};

const PATIENT: &[SearchParam] = &[
    p(
        "identifier",
        Token,
        &["identifier"],
        "A patient identifier (local id, member id)",
    ),
    p(
        "name",
        Str,
        &["name"],
        "Any part of a name (kanji or kana), prefix match",
    ),
    p("family", Str, &["name.family"], "Family name, prefix match"),
    p("given", Str, &["name.given"], "Given name, prefix match"),
    p("birthdate", Date, &["birthDate"], "Date of birth"),
    p("gender", Token, &["gender"], "Administrative gender"),
];
const COVERAGE: &[SearchParam] = &[
    r(
        "beneficiary",
        &["beneficiary"],
        "Patient",
        "The insured patient",
    ),
    r(
        "patient",
        &["beneficiary"],
        "Patient",
        "The insured patient",
    ),
    p(
        "identifier",
        Token,
        &["identifier"],
        "Coverage identifier (member id)",
    ),
    r("payor", &["payor"], "Organization", "The insurer"),
    p("status", Token, &["status"], "Coverage status"),
];
const ORGANIZATION: &[SearchParam] = &[
    p(
        "identifier",
        Token,
        &["identifier"],
        "Institution code or insurer number",
    ),
    p("name", Str, &["name", "alias"], "Name, prefix match"),
];
const PRACTITIONER: &[SearchParam] = &[
    p(
        "identifier",
        Token,
        &["identifier", "qualification.identifier"],
        "Practitioner identifier",
    ),
    p("name", Str, &["name"], "Any part of a name, prefix match"),
];
const PRACTITIONER_ROLE: &[SearchParam] = &[
    r(
        "practitioner",
        &["practitioner"],
        "Practitioner",
        "The practitioner",
    ),
    r(
        "organization",
        &["organization"],
        "Organization",
        "The organization",
    ),
    p("identifier", Token, &["identifier"], "Role identifier"),
];
const MEDICATION_REQUEST: &[SearchParam] = &[
    r("patient", &["subject"], "Patient", "The patient"),
    r("subject", &["subject"], "Patient", "The patient"),
    p(
        "code",
        Token,
        &["medicationCodeableConcept"],
        "Drug code (HOT, YJ, receipt, 一般名)",
    ),
    p(
        "authoredon",
        Date,
        &["authoredOn"],
        "When the prescription was written",
    ),
    alias(
        "date",
        "authoredon",
        "When the prescription was written (same as authoredon)",
    ),
    p(
        "identifier",
        Token,
        &["identifier"],
        "Prescription identifiers",
    ),
    p("status", Token, &["status"], "Status"),
    p("intent", Token, &["intent"], "Intent"),
];
const MEDICATION_DISPENSE: &[SearchParam] = &[
    r("patient", &["subject"], "Patient", "The patient"),
    r("subject", &["subject"], "Patient", "The patient"),
    p("code", Token, &["medicationCodeableConcept"], "Drug code"),
    p(
        "whenhandedover",
        Date,
        &["whenHandedOver"],
        "When the drug was handed over",
    ),
    alias(
        "date",
        "whenhandedover",
        "When the drug was handed over (same as whenhandedover)",
    ),
    p("identifier", Token, &["identifier"], "Dispense identifiers"),
    p("status", Token, &["status"], "Status"),
];
const MEDICATION_STATEMENT: &[SearchParam] = &[
    r("patient", &["subject"], "Patient", "The patient"),
    r("subject", &["subject"], "Patient", "The patient"),
    p("code", Token, &["medicationCodeableConcept"], "Drug code"),
    p(
        "effective",
        Date,
        &["effectiveDateTime", "effectivePeriod"],
        "When the drug was taken",
    ),
    alias(
        "date",
        "effective",
        "When the drug was taken (same as effective)",
    ),
    p(
        "identifier",
        Token,
        &["identifier"],
        "Statement identifiers",
    ),
    p("status", Token, &["status"], "Status"),
];
const OBSERVATION: &[SearchParam] = &[
    r("patient", &["subject"], "Patient", "The patient"),
    r("subject", &["subject"], "Patient", "The patient"),
    p(
        "code",
        Token,
        &["code"],
        "Test code (JLAC10, 特定健診 item, local)",
    ),
    p(
        "date",
        Date,
        &["effectiveDateTime", "effectivePeriod", "effectiveInstant"],
        "When observed",
    ),
    p(
        "category",
        Token,
        &["category"],
        "Category (laboratory, vital-signs, ...)",
    ),
    p(
        "identifier",
        Token,
        &["identifier"],
        "Observation identifiers",
    ),
    p("status", Token, &["status"], "Status"),
];
const CONDITION: &[SearchParam] = &[
    r("patient", &["subject"], "Patient", "The patient"),
    r("subject", &["subject"], "Patient", "The patient"),
    p(
        "code",
        Token,
        &["code"],
        "Diagnosis code (MEDIS, ICD-10, receipt)",
    ),
    p(
        "onset-date",
        Date,
        &["onsetDateTime", "onsetPeriod"],
        "Onset",
    ),
    p("recorded-date", Date, &["recordedDate"], "When recorded"),
    p(
        "clinical-status",
        Token,
        &["clinicalStatus"],
        "Clinical status",
    ),
    p(
        "identifier",
        Token,
        &["identifier"],
        "Condition identifiers",
    ),
];
const ALLERGY: &[SearchParam] = &[
    r("patient", &["patient"], "Patient", "The patient"),
    p("code", Token, &["code"], "Substance code"),
    p(
        "clinical-status",
        Token,
        &["clinicalStatus"],
        "Clinical status",
    ),
    p("identifier", Token, &["identifier"], "Allergy identifiers"),
];

const ENCOUNTER: &[SearchParam] = &[
    r("patient", &["subject"], "Patient", "The patient"),
    r("subject", &["subject"], "Patient", "The patient"),
    p("date", Date, &["period"], "When the encounter took place"),
    p(
        "identifier",
        Token,
        &["identifier"],
        "Encounter identifiers",
    ),
    p("type", Token, &["type"], "Kind of encounter"),
    p("class", Token, &["class"], "Inpatient, ambulatory, ..."),
    p("status", Token, &["status"], "Status"),
];
const SPECIMEN: &[SearchParam] = &[
    r("patient", &["subject"], "Patient", "The patient"),
    r("subject", &["subject"], "Patient", "The patient"),
    p(
        "collected",
        Date,
        &["collection.collectedDateTime", "collection.collectedPeriod"],
        "When the specimen was collected",
    ),
    alias(
        "date",
        "collected",
        "When the specimen was collected (same as collected)",
    ),
    p(
        "identifier",
        Token,
        &["identifier", "accessionIdentifier"],
        "Specimen and accession identifiers",
    ),
    p(
        "type",
        Token,
        &["type"],
        "Kind of material (v2-0487, JLAC10 material)",
    ),
    p("status", Token, &["status"], "Status"),
];
const MEDICATION_ADMINISTRATION: &[SearchParam] = &[
    r("patient", &["subject"], "Patient", "The patient"),
    r("subject", &["subject"], "Patient", "The patient"),
    p("code", Token, &["medicationCodeableConcept"], "Drug code"),
    p(
        "effective-time",
        Date,
        &["effectiveDateTime", "effectivePeriod"],
        "When the drug was given",
    ),
    alias(
        "date",
        "effective-time",
        "When the drug was given (same as effective-time)",
    ),
    p(
        "identifier",
        Token,
        &["identifier"],
        "Administration identifiers",
    ),
    p("status", Token, &["status"], "Status"),
];
const PROVENANCE: &[SearchParam] = &[
    r(
        "target",
        &["target"],
        "Patient",
        "What the provenance is about",
    ),
    r("patient", &["target"], "Patient", "The patient it is about"),
    p(
        "recorded",
        Date,
        &["recorded"],
        "When the input was received",
    ),
    r(
        "agent",
        &["agent.who"],
        "Organization",
        "Who sent it (institution or insurer)",
    ),
    p(
        "entity-identifier",
        Token,
        &["entity.what.identifier"],
        "The input it came from (kakari input key)",
    ),
];
const BUNDLE: &[SearchParam] = &[
    p(
        "identifier",
        Token,
        &["identifier"],
        "Bundle.identifier (the document's or collection's identity)",
    ),
    p("type", Token, &["type"], "document or collection"),
    p(
        "timestamp",
        Date,
        &["timestamp"],
        "When the Bundle was assembled",
    ),
];

/// The search parameters of a type.
pub fn params_of(rtype: ResourceType) -> &'static [SearchParam] {
    match rtype {
        ResourceType::Patient => PATIENT,
        ResourceType::Coverage => COVERAGE,
        ResourceType::Organization => ORGANIZATION,
        ResourceType::Practitioner => PRACTITIONER,
        ResourceType::PractitionerRole => PRACTITIONER_ROLE,
        ResourceType::MedicationRequest => MEDICATION_REQUEST,
        ResourceType::MedicationDispense => MEDICATION_DISPENSE,
        ResourceType::MedicationStatement => MEDICATION_STATEMENT,
        ResourceType::MedicationAdministration => MEDICATION_ADMINISTRATION,
        ResourceType::Provenance => PROVENANCE,
        ResourceType::Observation => OBSERVATION,
        ResourceType::Condition => CONDITION,
        ResourceType::AllergyIntolerance => ALLERGY,
        ResourceType::Encounter => ENCOUNTER,
        ResourceType::Specimen => SPECIMEN,
        ResourceType::Bundle => BUNDLE,
    }
}

/// Parameters every type accepts.
pub const COMMON_PARAMS: &[(&str, &str)] = &[("_id", "token"), ("_lastUpdated", "date")];

/// Normalised form of a string for indexing and matching.
pub fn normalise(s: &str) -> String {
    s.nfkc()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            // Hiragana → katakana, so かな and カナ spellings meet.
            'ぁ'..='ゖ' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// The canonical spelling of an identifier or code system.
pub fn canonical_any_system(system: &str) -> String {
    if id_system::is_member_id(system) {
        return id_system::MEMBER_ID.to_owned();
    }
    if id_system::is_insurer(system) {
        return id_system::INSURER.to_owned();
    }
    canonical_system(system).to_owned()
}

fn walk<'a>(node: &'a Value, path: &[&str], out: &mut Vec<&'a Value>) {
    match node {
        Value::Array(a) => a.iter().for_each(|n| walk(n, path, out)),
        _ => match path.split_first() {
            None => out.push(node),
            Some((head, rest)) => {
                if let Some(child) = node.get(*head) {
                    walk(child, rest, out);
                }
            }
        },
    }
}

fn values_at<'a>(resource: &'a Value, path: &str) -> Vec<&'a Value> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    walk(resource, &segments, &mut out);
    out
}

fn tokens_of(v: &Value, param: &'static str, out: &mut Vec<IndexEntry>) {
    let mut push = |system: &str, value: &str| {
        if !value.is_empty() && value.len() <= 256 {
            out.push(IndexEntry::Token {
                param,
                system: canonical_any_system(system),
                value: value.to_owned(),
            });
        }
    };
    match v {
        Value::String(s) => push("", s),
        Value::Bool(b) => push("", if *b { "true" } else { "false" }),
        Value::Object(_) => {
            if v.get("coding").is_some() {
                for c in items(v, "coding") {
                    if let Some(code) = str_of(c, "code") {
                        push(str_of(c, "system").unwrap_or(""), code);
                    }
                }
            } else if let Some(value) = str_of(v, "value") {
                push(str_of(v, "system").unwrap_or(""), value);
            } else if let Some(code) = str_of(v, "code") {
                push(str_of(v, "system").unwrap_or(""), code);
            }
        }
        _ => {}
    }
}

fn strings_of(v: &Value, param: &'static str, out: &mut Vec<IndexEntry>) {
    let mut push = |s: &str| {
        let n = normalise(s);
        if !n.is_empty() && n.len() <= 256 {
            out.push(IndexEntry::Token {
                param,
                system: String::new(),
                value: n,
            });
        }
    };
    match v {
        Value::String(s) => push(s),
        Value::Object(_) => {
            // HumanName: each part, the text, and family + given together.
            let family = str_of(v, "family");
            let given: Vec<&str> = items(v, "given").iter().filter_map(Value::as_str).collect();
            if let Some(f) = family {
                push(f);
            }
            given.iter().for_each(|g| push(g));
            if let Some(t) = str_of(v, "text") {
                push(t);
            }
            if let Some(f) = family {
                push(&format!("{f}{}", given.concat()));
            }
        }
        _ => {}
    }
}

fn dates_of(v: &Value, param: &'static str, out: &mut Vec<IndexEntry>) {
    let range = match v {
        Value::String(s) => FhirDateTime::parse(s).ok().map(|d| d.range()),
        Value::Object(_) => {
            let start = str_of(v, "start").and_then(|s| FhirDateTime::parse(s).ok());
            let end = str_of(v, "end").and_then(|s| FhirDateTime::parse(s).ok());
            match (start, end) {
                (None, None) => None,
                (s, e) => Some(crate::domain::DateRange {
                    lo: s.map_or(i64::MIN, |d| d.range().lo),
                    hi: e.map_or(i64::MAX, |d| d.range().hi),
                }),
            }
        }
        _ => None,
    };
    if let Some(range) = range {
        out.push(IndexEntry::Date {
            param,
            lo: range.lo,
            hi: range.hi,
        });
    }
}

/// The index entries of a resource.
pub fn index_entries(rtype: ResourceType, resource: &Value) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    for param in params_of(rtype) {
        for path in param.paths {
            for v in values_at(resource, path) {
                match param.kind {
                    ParamKind::Token => tokens_of(v, param.name, &mut out),
                    ParamKind::String => strings_of(v, param.name, &mut out),
                    ParamKind::Date => dates_of(v, param.name, &mut out),
                    ParamKind::Reference => {
                        if let Some((t, id)) = str_of(v, "reference").and_then(reference_target) {
                            out.push(IndexEntry::Token {
                                param: param.name,
                                system: String::new(),
                                value: format!("{t}/{id}"),
                            });
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A parsed search request (before access rules set its visibility).
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub clauses: Vec<Vec<Match>>,
    pub count: u32,
    pub cursor: Option<i64>,
    /// The canonical query string without paging parameters (for `self`/`next` links).
    pub canonical: Vec<(String, String)>,
}

pub const DEFAULT_COUNT: u32 = 20;
pub const MAX_COUNT: u32 = 1000;

/// Most parameters one search may have (paging included).
pub const MAX_PARAMETERS: usize = 50;
/// Most times one parameter may be repeated (each repetition is one more AND).
pub const MAX_REPETITIONS: usize = 20;
/// Most comma-separated values one parameter may have (each is one more OR).
pub const MAX_VALUES: usize = 100;

/// Refuses search shapes no real client sends and every database pays dearly for: each
/// repetition of a parameter is one more join, each value one more alternative. The
/// limits are checked before any value is parsed.
fn check_shape(pairs: &[(String, String)]) -> Result<(), Problem> {
    if pairs.len() > MAX_PARAMETERS {
        return Err(Problem::new(
            ErrorCode::SearchTooComplex,
            "query",
            format!("a search may have at most {MAX_PARAMETERS} parameters"),
        ));
    }
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for (key, value) in pairs {
        let name = key.split_once(':').map_or(key.as_str(), |(n, _)| n);
        match seen.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => seen.push((name, 1)),
        }
        if seen
            .iter()
            .any(|(n, count)| *n == name && *count > MAX_REPETITIONS)
        {
            return Err(bad(
                ErrorCode::SearchTooComplex,
                name,
                &format!("a parameter may be repeated at most {MAX_REPETITIONS} times"),
            ));
        }
        if value.split(',').nth(MAX_VALUES).is_some() {
            return Err(bad(
                ErrorCode::SearchTooComplex,
                name,
                &format!("a parameter may have at most {MAX_VALUES} comma-separated values"),
            ));
        }
        if super::json::has_control_character(value) {
            return Err(bad(
                ErrorCode::InvalidSearch,
                name,
                "the value holds a control character (below U+0020 other than tab, CR and LF)",
            ));
        }
    }
    Ok(())
}

fn bad(code: ErrorCode, param: &str, message: &str) -> Problem {
    let shown = super::path::sanitise_name(param);
    Problem::new(code, format!("query parameter {shown}"), message)
}

fn parse_date(param: &str, raw: &str) -> Result<(DateOp, i64, i64), Problem> {
    let (op, rest) = match raw.get(..2) {
        Some("eq") => (DateOp::Eq, &raw[2..]),
        Some("ne") => (DateOp::Ne, &raw[2..]),
        Some("lt") => (DateOp::Lt, &raw[2..]),
        Some("le") => (DateOp::Le, &raw[2..]),
        Some("gt") => (DateOp::Gt, &raw[2..]),
        Some("ge") => (DateOp::Ge, &raw[2..]),
        Some("sa") => (DateOp::Sa, &raw[2..]),
        Some("eb") => (DateOp::Eb, &raw[2..]),
        Some("ap") => (DateOp::Ap, &raw[2..]),
        _ => (DateOp::Eq, raw),
    };
    let range = FhirDateTime::parse(rest)
        .map_err(|_| {
            bad(
                ErrorCode::InvalidSearch,
                param,
                "expected [prefix]YYYY[-MM[-DD[Thh:mm:ss[+zz:zz]]]]",
            )
        })?
        .range();
    Ok((op, range.lo, range.hi))
}

fn parse_value(def: &SearchParam, modifier: Option<&str>, raw: &str) -> Result<Match, Problem> {
    // An alias (`date` of MedicationRequest) searches the entries of the parameter it
    // stands for; only those are indexed.
    let name = def.stored_as();
    if raw.is_empty() {
        return Err(bad(ErrorCode::InvalidSearch, def.name, "empty value"));
    }
    match (def.kind, modifier) {
        (ParamKind::Token, None) => Ok(match raw.split_once('|') {
            Some((system, "")) if !system.is_empty() => Match::System {
                param: name,
                system: canonical_any_system(system),
            },
            Some((system, code)) => Match::Token {
                param: name,
                system: Some(canonical_any_system(system)),
                value: code.to_owned(),
            },
            None => Match::Token {
                param: name,
                system: None,
                value: raw.to_owned(),
            },
        }),
        (ParamKind::String, None) => Ok(Match::Prefix {
            param: name,
            prefix: normalise(raw),
        }),
        (ParamKind::String, Some("exact")) => Ok(Match::Token {
            param: name,
            system: Some(String::new()),
            value: normalise(raw),
        }),
        (ParamKind::String, Some("contains")) => Ok(Match::Contains {
            param: name,
            text: normalise(raw),
        }),
        (ParamKind::Reference, None) => {
            let target = match reference_target(raw) {
                Some((t, id)) => format!("{t}/{id}"),
                None if super::resource_type::is_valid_id(raw) => {
                    format!("{}/{raw}", def.target.unwrap_or("Patient"))
                }
                None => {
                    return Err(bad(
                        ErrorCode::InvalidSearch,
                        def.name,
                        "expected [Type/]id",
                    ));
                }
            };
            Ok(Match::Token {
                param: name,
                system: Some(String::new()),
                value: target,
            })
        }
        (ParamKind::Date, None) => {
            let (op, lo, hi) = parse_date(def.name, raw)?;
            Ok(Match::Date {
                param: name,
                op,
                lo,
                hi,
            })
        }
        _ => Err(bad(
            ErrorCode::InvalidSearch,
            def.name,
            "modifier not supported for this parameter",
        )),
    }
}

/// Parses a search query for a type. Unknown parameters are refused, never ignored.
pub fn parse_query(
    rtype: ResourceType,
    pairs: &[(String, String)],
) -> Result<SearchRequest, Problem> {
    check_shape(pairs)?;
    let mut req = SearchRequest {
        count: DEFAULT_COUNT,
        ..SearchRequest::default()
    };
    let mut issues: Vec<Issue> = Vec::new();
    for (key, value) in pairs {
        let (name, modifier) = match key.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (key.as_str(), None),
        };
        let result: Result<(), Problem> = (|| {
            match name {
                "_count" => {
                    let n: u32 = value.parse().map_err(|_| {
                        bad(
                            ErrorCode::InvalidSearch,
                            "_count",
                            "expected a whole number",
                        )
                    })?;
                    req.count = n.min(MAX_COUNT);
                    return Ok(());
                }
                "_cursor" => {
                    let n: i64 = value.parse().map_err(|_| {
                        bad(
                            ErrorCode::InvalidSearch,
                            "_cursor",
                            "not a cursor from a next link",
                        )
                    })?;
                    req.cursor = Some(n);
                    return Ok(());
                }
                "_format" => {
                    return if matches!(
                        value.as_str(),
                        "json" | "application/json" | "application/fhir+json"
                    ) {
                        Ok(())
                    } else {
                        Err(bad(
                            ErrorCode::NotAcceptable,
                            "_format",
                            "only JSON is served",
                        ))
                    };
                }
                "_id" => {
                    let ids = value
                        .split(',')
                        .map(|id| {
                            if super::resource_type::is_valid_id(id) {
                                Ok(Match::Id(id.to_owned()))
                            } else {
                                Err(bad(ErrorCode::InvalidSearch, "_id", "not a valid id"))
                            }
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    req.clauses.push(ids);
                }
                "_lastUpdated" => {
                    let alts =
                        value
                            .split(',')
                            .map(|v| {
                                parse_date("_lastUpdated", v)
                                    .map(|(op, lo, hi)| Match::LastUpdated { op, lo, hi })
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                    req.clauses.push(alts);
                }
                _ => {
                    let def = params_of(rtype)
                        .iter()
                        .find(|p| p.name == name)
                        .ok_or_else(|| {
                            bad(
                                ErrorCode::UnknownSearchParameter,
                                name,
                                "not a search parameter of this resource type (see /fhir/metadata)",
                            )
                        })?;
                    let alts = value
                        .split(',')
                        .map(|v| parse_value(def, modifier, v))
                        .collect::<Result<Vec<_>, _>>()?;
                    req.clauses.push(alts);
                }
            }
            req.canonical.push((key.clone(), value.clone()));
            Ok(())
        })();
        if let Err(p) = result {
            issues.extend(p.issues);
        }
    }
    if let Some(first) = issues.first() {
        let code = first.code;
        return Err(Problem::with_issues(code, issues));
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn patient_entries_cover_identifiers_names_and_birth_date() {
        let p = json!({"resourceType": "Patient",
            "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11311234567", "value": "00000010"}],
            "name": [{"text": "山田 太郎", "family": "山田", "given": ["太郎"]},
                     {"text": "ヤマダ タロウ", "family": "ヤマダ", "given": ["タロウ"]}],
            "birthDate": "1970-01-01", "gender": "male"});
        let entries = index_entries(ResourceType::Patient, &p);
        let has = |param: &str, value: &str| {
            entries.iter().any(|e| matches!(e, IndexEntry::Token { param: p, value: v, .. } if *p == param && v == value))
        };
        assert!(has("identifier", "00000010"));
        assert!(has("name", "山田太郎"));
        assert!(has("name", "ヤマダ"));
        assert!(has("family", "山田"));
        assert!(has("gender", "male"));
        assert!(entries.iter().any(|e| matches!(
            e,
            IndexEntry::Date {
                param: "birthdate",
                ..
            }
        )));
    }

    #[test]
    fn code_systems_are_indexed_canonically() {
        let mr = json!({"medicationCodeableConcept": {"coding": [
            {"system": "urn:oid:1.2.392.200119.4.403.1", "code": "103835401"}]}});
        let entries = index_entries(ResourceType::MedicationRequest, &mr);
        assert_eq!(
            entries,
            vec![IndexEntry::Token {
                param: "code",
                system: "http://medis.or.jp/CodeSystem/master-HOT9".into(),
                value: "103835401".into()
            }]
        );
        let q = parse_query(
            ResourceType::MedicationRequest,
            &pairs(&[(
                "code",
                "http://medis.or.jp/CodeSystem/master-HOT9|103835401",
            )]),
        )
        .unwrap();
        assert_eq!(
            q.clauses[0][0],
            Match::Token {
                param: "code",
                system: Some("http://medis.or.jp/CodeSystem/master-HOT9".into()),
                value: "103835401".into()
            }
        );
    }

    #[test]
    fn date_aliases_search_the_entries_of_their_parameter() {
        let q = parse_query(
            ResourceType::MedicationRequest,
            &pairs(&[("date", "2026-05")]),
        )
        .unwrap();
        assert!(matches!(
            q.clauses[0][0],
            Match::Date {
                param: "authoredon",
                ..
            }
        ));
        let indexed = index_entries(
            ResourceType::Specimen,
            &json!({"collection": {"collectedDateTime": "2026-05-08"}}),
        );
        assert!(matches!(
            indexed[0],
            IndexEntry::Date {
                param: "collected",
                ..
            }
        ));
    }

    #[test]
    fn kana_spellings_meet() {
        assert_eq!(normalise("やまだ"), normalise("ヤマダ"));
        assert_eq!(normalise("ﾔﾏﾀﾞ"), normalise("ヤマダ"));
        assert_eq!(normalise("Yamada Taro"), "yamadataro");
    }

    #[test]
    fn queries_parse_modifiers_prefixes_and_paging() {
        let q = parse_query(
            ResourceType::Observation,
            &pairs(&[
                ("patient", "p1"),
                ("date", "ge2021-01-01"),
                ("date", "lt2022"),
                ("code", "a,b"),
                ("_count", "5"),
                ("_cursor", "42"),
            ]),
        )
        .unwrap();
        assert_eq!(q.count, 5);
        assert_eq!(q.cursor, Some(42));
        assert_eq!(q.clauses.len(), 4);
        assert_eq!(
            q.clauses[0][0],
            Match::Token {
                param: "patient",
                system: Some(String::new()),
                value: "Patient/p1".into()
            }
        );
        assert_eq!(q.clauses[3].len(), 2);
        assert_eq!(q.canonical.len(), 4);
    }

    #[test]
    fn unknown_parameters_and_bad_values_are_refused() {
        let e = parse_query(ResourceType::Patient, &pairs(&[("favourite", "x")])).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownSearchParameter);
        let e =
            parse_query(ResourceType::Patient, &pairs(&[("birthdate", "yesterday")])).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidSearch);
        let e = parse_query(
            ResourceType::Patient,
            &pairs(&[("birthdate:exact", "1970")]),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidSearch);
        let e = parse_query(ResourceType::Patient, &pairs(&[("_sort", "name")])).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownSearchParameter);
        assert!(parse_query(ResourceType::Patient, &pairs(&[("name:exact", "山田")])).is_ok());
    }

    #[test]
    fn search_shapes_are_bounded() {
        let owned = |n: usize, f: &dyn Fn(usize) -> (String, String)| -> Vec<(String, String)> {
            (0..n).map(f).collect()
        };
        let repeated = |n| owned(n, &|i| ("code".into(), format!("x{i}")));
        assert!(parse_query(ResourceType::Observation, &repeated(MAX_REPETITIONS)).is_ok());
        let e = parse_query(ResourceType::Observation, &repeated(MAX_REPETITIONS + 1)).unwrap_err();
        assert_eq!(e.code, ErrorCode::SearchTooComplex);
        assert_eq!(e.issues[0].location, "query parameter code");
        // Modifiers do not make another parameter.
        let mut mixed = repeated(MAX_REPETITIONS);
        mixed.push(("code:exact".into(), "y".into()));
        assert_eq!(
            parse_query(ResourceType::Observation, &mixed)
                .unwrap_err()
                .code,
            ErrorCode::SearchTooComplex
        );
        let values = |n: usize| {
            vec![(
                "code".to_owned(),
                (0..n)
                    .map(|i| format!("x{i}"))
                    .collect::<Vec<_>>()
                    .join(","),
            )]
        };
        assert_eq!(
            parse_query(ResourceType::Observation, &values(MAX_VALUES))
                .unwrap()
                .clauses[0]
                .len(),
            MAX_VALUES
        );
        assert_eq!(
            parse_query(ResourceType::Observation, &values(MAX_VALUES + 1))
                .unwrap_err()
                .code,
            ErrorCode::SearchTooComplex
        );
        let many = owned(MAX_PARAMETERS + 1, &|i| {
            (["code", "date", "status"][i % 3].into(), "x".into())
        });
        let e = parse_query(ResourceType::Observation, &many).unwrap_err();
        assert_eq!(
            (e.code, e.issues[0].location.as_str()),
            (ErrorCode::SearchTooComplex, "query")
        );
    }

    #[test]
    fn control_characters_in_values_are_refused() {
        for value in ["a\u{0}b", "a\u{1b}b", "\u{7f}\u{7}"] {
            let e = parse_query(ResourceType::Patient, &pairs(&[("name", value)])).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidSearch, "{value:?}");
            assert_eq!(e.issues[0].location, "query parameter name");
        }
        assert!(parse_query(ResourceType::Patient, &pairs(&[("name", "山田\t太郎")])).is_ok());
    }
}
