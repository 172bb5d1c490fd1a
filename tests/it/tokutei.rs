//! 特定健診 XML: reading synthetic documents and archives (tests/data/tokutei/), refusing
//! unsafe input, and writing archives that validate against the MHLW V08 schemas and read
//! back to the same values.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use kakari::codec::tokutei::{
    ArchiveHeader, ArchiveWriter, CheckupDocument, CheckupRecord, DocumentLimits, ReadLimits,
    SkipReason, read_document, read_submission,
};
use kakari::domain::code_system::{Coding, KnownSystem};
use kakari::domain::{
    Decimal, Demographics, FhirDateTime, InstitutionCode, InsurerNumber, LabResult, LabValue,
    MemberId, Sex, SubjectRef,
};
use kakari::error::{ErrorCode, Issue, Severity};
use kakari::mapping::checkup_items::CheckupItems;
use time::macros::date;
use zip::write::SimpleFileOptions;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tokutei");
const XSD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/tokutei-xsd");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{name}")).expect("fixture")
}

fn items() -> &'static CheckupItems {
    CheckupItems::bundled().expect("bundled item table")
}

fn read(name: &str) -> (Option<CheckupDocument>, Vec<Issue>) {
    let read = read_document(&fixture(name), items(), &DocumentLimits::default());
    (read.document, read.issues)
}

fn by_item<'a>(doc: &'a CheckupDocument, code: &str) -> &'a LabResult {
    doc.results
        .iter()
        .find(|r| r.checkup_item() == Some(code))
        .unwrap_or_else(|| panic!("{code} not read"))
}

fn quantity_literal(result: &LabResult) -> (&str, Option<&str>) {
    match &result.value {
        LabValue::Quantity { value, unit, .. } => (value.as_str(), unit.as_deref()),
        other => panic!("not a quantity: {other:?}"),
    }
}

#[test]
fn reads_values_absences_groups_and_the_member() {
    let (doc, issues) = read("basic.xml");
    let doc = doc.expect("document");
    assert_eq!(doc.member.key(), "06139463:12-34:5678:01");
    assert_eq!(doc.demographics.birth_date, Some(date!(1970 - 01 - 02)));
    assert_eq!(doc.demographics.sex, Some(Sex::Female));
    assert_eq!(
        doc.demographics.name_kana.as_deref(),
        Some("ケンシン　ハナコ")
    );
    assert_eq!(doc.exam_date, Some(date!(2024 - 04 - 04)));
    assert_eq!(
        doc.performer.as_ref().map(InstitutionCode::as_str),
        Some("1311234567")
    );
    assert_eq!(doc.report_category.as_deref(), Some("10"));
    assert_eq!(doc.results.len(), 11, "{:#?}", doc.results);

    let hba1c = by_item(&doc, "3D046000001906202");
    assert_eq!(quantity_literal(hba1c), ("5.60", Some("%")));
    assert_eq!(hba1c.jlac10(), Some("3D046000001906202"));
    assert_eq!(hba1c.flag.as_deref(), Some("N"));
    assert_eq!(hba1c.category.as_deref(), Some("laboratory"));
    assert_eq!(hba1c.subject, SubjectRef::Member(doc.member.clone()));
    assert_eq!(
        hba1c.effective,
        Some(FhirDateTime::Date(date!(2024 - 04 - 04)))
    );
    assert_eq!(hba1c.facility, doc.performer);

    let sbp = by_item(&doc, "9A751000000000001");
    assert_eq!(sbp.jlac10(), None);
    assert_eq!(sbp.category.as_deref(), Some("vital-signs"));
    let range = sbp.reference_range.as_ref().expect("first range");
    assert_eq!(range.low.as_ref().map(Decimal::as_str), Some("90"));
    assert_eq!(range.high.as_ref().map(Decimal::as_str), Some("129"));

    assert_eq!(
        by_item(&doc, "3D010000001926101").value,
        LabValue::Absent {
            reason: Some("UNK".into())
        }
    );
    assert_eq!(
        by_item(&doc, "3F077000002327101").value,
        LabValue::Absent {
            reason: Some("negated".into())
        }
    );
    match &by_item(&doc, "1A010000000191111").value {
        LabValue::Coded(c) => {
            assert_eq!(
                (c.system.as_str(), c.code.as_str()),
                ("urn:oid:1.2.392.200119.6.2102", "2")
            );
        }
        other => panic!("{other:?}"),
    }
    // Series group members are read; the container is not a result.
    assert_eq!(
        quantity_literal(by_item(&doc, "8A065000002391901")).0,
        "81.8"
    );
    assert_eq!(
        by_item(&doc, "3C015161002399949").value,
        LabValue::Text("判定基準に該当 & 医師判断".into())
    );
    assert_eq!(
        by_item(&doc, "9N511000000000049").value,
        LabValue::Text("異常なし".into())
    );

    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert_eq!(issues[0].code, ErrorCode::TokuteiNegatedObservation);
    assert_eq!(issues[0].severity, Severity::Warning);
    assert_eq!(
        issues[0].location,
        "/ClinicalDocument/component/structuredBody/component/section/entry[6]/observation"
    );
}

#[test]
fn faults_are_located_and_the_good_observations_kept() {
    let (doc, issues) = read("flawed.xml");
    let doc = doc.expect("the person is identified, so the document is kept");
    assert_eq!(doc.member.key(), "00138057:ア:1");
    assert_eq!(doc.exam_date, None);
    assert_eq!(doc.demographics.sex, None);
    assert_eq!(doc.demographics.birth_date, None);
    let codes: Vec<_> = doc
        .results
        .iter()
        .filter_map(LabResult::checkup_item)
        .collect();
    assert_eq!(codes, ["9X999000000000001", "3C020000002327101"]);
    let uric = by_item(&doc, "3C020000002327101");
    assert_eq!(quantity_literal(uric).0, "5.50");
    assert_eq!(
        uric.effective,
        Some(FhirDateTime::Date(date!(2024 - 04 - 05)))
    );

    let find = |code: ErrorCode| {
        issues
            .iter()
            .find(|i| i.code == code)
            .unwrap_or_else(|| panic!("{code} missing in {issues:#?}"))
    };
    let value = find(ErrorCode::TokuteiInvalidValue);
    assert_eq!(
        value.location,
        "/ClinicalDocument/component/structuredBody/component/section/entry/observation/value"
    );
    assert!(value.is_error());
    assert_eq!(
        find(ErrorCode::TokuteiUnknownItem).severity,
        Severity::Warning
    );
    assert!(
        issues
            .iter()
            .any(|i| i.code == ErrorCode::TokuteiMissingElement
                && i.location.ends_with("entry[4]/observation/code"))
    );
    assert!(
        issues
            .iter()
            .any(|i| i.code == ErrorCode::TokuteiMissingElement
                && i.location == "/ClinicalDocument/documentationOf/serviceEvent/effectiveTime")
    );
    for issue in &issues {
        for value in ["abc", "138057", "19701340", "ア"] {
            assert!(
                !issue.message.contains(value) && !issue.location.contains(value),
                "{issue:?} leaks a value"
            );
        }
    }
}

#[test]
fn doctype_and_external_entities_are_refused() {
    let (doc, issues) = read("doctype.xml");
    assert!(doc.is_none());
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].code, ErrorCode::TokuteiDoctypeRefused);
    assert!(issues[0].location.starts_with("byte "));
    assert!(!issues[0].message.contains("passwd"));
}

#[test]
fn a_document_without_insurance_identifiers_is_refused() {
    let (doc, issues) = read("no_member.xml");
    assert!(doc.is_none());
    assert_eq!(issues[0].code, ErrorCode::TokuteiMemberId);
    assert_eq!(
        issues[0].location,
        "/ClinicalDocument/recordTarget/patientRole/id"
    );
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    for (name, bytes) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

const INDEX: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<index xmlns="https://www.mhlw.go.jp/stf/seisakunitsuite/bunya/0000161103.html">
  <interactionType code="6"/><creationTime value="20240520"/>
  <sender><id root="1.2.392.200119.6.102" extension="1311234567"/></sender>
  <receiver><id root="1.2.392.200119.6.101" extension="06139463"/></receiver>
  <serviceEventType code="1"/><totalRecordCount value="2"/>
</index>"#;

#[test]
fn a_bad_document_does_not_stop_the_good_ones() {
    let basic = fixture("basic.xml");
    let broken = fixture("broken.xml");
    let archive = zip_of(&[
        ("r/ix08_V08.xml", INDEX.as_bytes()),
        ("r/DATA/h0001.xml", &basic),
        ("r/DATA/h0002.xml", &broken),
        ("r/XSD/hc08_V08.xsd", b"<not read/>"),
    ]);
    let read = read_submission(&archive, items(), &ReadLimits::default());
    assert_eq!(read.documents.len(), 1);
    assert_eq!(read.documents[0].path, "r/DATA/h0001.xml");
    assert_eq!(read.documents[0].document.results.len(), 11);
    let index = read.index.as_ref().expect("index");
    assert_eq!(index.receiver.as_deref(), Some("06139463"));
    assert_eq!(index.total_record_count, Some(2));
    assert_eq!(index.created, Some(date!(2024 - 05 - 20)));
    let broken_issue = read
        .issues
        .iter()
        .find(|i| i.code == ErrorCode::TokuteiNotXml)
        .expect("broken document reported");
    assert!(
        broken_issue.location.starts_with("r/DATA/h0002.xml byte "),
        "{broken_issue:?}"
    );
    assert!(!read.is_refused());
    // No index-count warning: two data files, as the index says.
    assert!(
        !read
            .issues
            .iter()
            .any(|i| i.code == ErrorCode::TokuteiIndexMismatch)
    );
}

#[test]
fn unsafe_entries_and_zip_bombs_are_refused() {
    let basic = fixture("basic.xml");
    let zeros = vec![b' '; 4 * 1024 * 1024];
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    zip.start_file("../DATA/h_escape.xml", options).unwrap();
    zip.write_all(&basic).unwrap();
    zip.add_symlink("r/DATA/h_link.xml", "/etc/passwd", options)
        .unwrap();
    zip.start_file("r/DATA/h_bomb.xml", options).unwrap();
    zip.write_all(&zeros).unwrap();
    zip.start_file("r/DATA/h_good.xml", options).unwrap();
    zip.write_all(&basic).unwrap();
    let archive = zip.finish().unwrap().into_inner();

    let read = read_submission(&archive, items(), &ReadLimits::default());
    assert_eq!(read.documents.len(), 1, "{:#?}", read.issues);
    let codes: Vec<_> = read
        .issues
        .iter()
        .map(|i| (i.code, i.location.as_str()))
        .collect();
    assert!(
        codes.contains(&(ErrorCode::TokuteiArchiveUnsafeEntry, "entry[1]")),
        "{codes:?}"
    );
    assert!(
        codes.contains(&(ErrorCode::TokuteiArchiveUnsafeEntry, "entry[2]")),
        "{codes:?}"
    );
    assert!(
        codes.contains(&(ErrorCode::TokuteiArchiveLimit, "r/DATA/h_bomb.xml")),
        "{codes:?}"
    );

    let few = ReadLimits {
        max_entries: 2,
        ..ReadLimits::default()
    };
    let read = read_submission(&archive, items(), &few);
    assert!(read.is_refused());
    assert_eq!(read.issues[0].code, ErrorCode::TokuteiArchiveLimit);

    let small_total = ReadLimits {
        max_total_bytes: 1000,
        ..ReadLimits::default()
    };
    let read = read_submission(&archive, items(), &small_total);
    assert!(read.documents.is_empty());
    assert!(
        read.issues
            .iter()
            .any(|i| i.code == ErrorCode::TokuteiArchiveLimit && i.message.contains("total"))
    );
}

#[test]
fn a_single_document_is_a_submission_too() {
    let read = read_submission(&fixture("basic.xml"), items(), &ReadLimits::default());
    assert_eq!(read.documents.len(), 1);
    assert_eq!(read.documents[0].path, "");
    assert!(read.index.is_none());
}

/// Whether xmllint can run; in CI its absence is a failure, elsewhere a loud skip.
fn xmllint_available() -> bool {
    let found = Command::new("xmllint").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "xmllint is required when CI=true (apt-get install libxml2-utils)"
        );
        println!("xmllint absent, schema validation skipped");
    }
    found
}

fn xmllint(schema: &Path, files: &[PathBuf]) {
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .args(files)
        .output()
        .expect("xmllint runs");
    assert!(
        output.status.success(),
        "xmllint rejected the output:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn schema_files(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.path().is_dir() {
            schema_files(&entry.path(), &format!("{name}/"), out);
        } else if name.ends_with(".xsd") {
            out.push((name, std::fs::read(entry.path()).unwrap()));
        }
    }
}

fn lab(member: &MemberId, jlac10: &str, value: LabValue) -> LabResult {
    let mut result = LabResult::new(SubjectRef::Member(member.clone()), value);
    result
        .codes
        .push(Coding::new(KnownSystem::Jlac10.uri(), jlac10, None));
    result
}

fn quantity(value: &str, unit: &str) -> LabValue {
    LabValue::Quantity {
        value: Decimal::parse(value).unwrap(),
        comparator: None,
        unit: Some(unit.to_owned()),
        unit_code: None,
        unit_system: None,
    }
}

#[test]
fn export_validates_against_the_v08_schemas_and_reads_back() {
    let source = read("basic.xml").0.expect("document");
    let second = MemberId::parse("06139463:12-34:5678:02").unwrap();
    let second_results = vec![
        lab(&second, "3D046000001906902", quantity("6.5", "%")),
        lab(&second, "3F015000002327101", quantity("1.70", "mmol/L")),
        lab(&second, "5C105000002306101", quantity("12", "mg/dL")),
        {
            let mut r = lab(&second, "3B035000002327201", quantity("5", "U/L"));
            r.value = LabValue::Quantity {
                value: Decimal::parse("5").unwrap(),
                comparator: Some("<".into()),
                unit: Some("U/L".into()),
                unit_code: None,
                unit_system: None,
            };
            r
        },
    ];
    let second_demographics = Demographics {
        birth_date: Some(date!(1999 - 12 - 31)),
        sex: Some(Sex::Male),
        name: None,
        name_kana: Some("ケンシン タロウ".into()),
        names: Vec::new(),
    };
    let header = ArchiveHeader {
        sender: InstitutionCode::parse("1311234567").unwrap(),
        receiver: InsurerNumber::parse("06139463").unwrap(),
        created: date!(2024 - 05 - 27),
        split: 0,
    };
    let mut writer = ArchiveWriter::new(header.clone(), items()).unwrap();
    let mut schemas = Vec::new();
    let have_corpus = Path::new(XSD_DIR).is_dir();
    if have_corpus {
        schema_files(Path::new(XSD_DIR), "", &mut schemas);
        for (path, bytes) in &schemas {
            writer.add_schema(path, bytes).unwrap();
        }
    } else {
        println!("corpus absent, schema files not bundled: {XSD_DIR}");
    }
    assert!(
        writer
            .add(&CheckupRecord {
                member: &source.member,
                demographics: &source.demographics,
                exam_date: source.exam_date.unwrap(),
                performer: source.performer.as_ref(),
                results: &source.results,
            })
            .unwrap()
    );
    assert!(
        writer
            .add(&CheckupRecord {
                member: &second,
                demographics: &second_demographics,
                exam_date: date!(2024 - 04 - 10),
                performer: None,
                results: &second_results,
            })
            .unwrap()
    );
    let other_insurer = MemberId::parse("01130012:1:2:01").unwrap();
    let refused = writer.add(&CheckupRecord {
        member: &other_insurer,
        demographics: &second_demographics,
        exam_date: date!(2024 - 04 - 10),
        performer: None,
        results: &second_results,
    });
    assert_eq!(refused.unwrap_err().code, ErrorCode::TokuteiInsurerMismatch);
    let archive = writer.finish().unwrap();
    assert_eq!(archive.file_name, "1311234567_06139463_202405270_1.zip");
    assert_eq!(archive.documents, 2);
    assert_eq!(archive.report.unmapped["5C105000002306101"], 1);
    assert_eq!(
        archive.report.skipped[&SkipReason::Comparator]["3B035000002327201"],
        1
    );
    assert_eq!(archive.report.converted["3F015000002327101"], 1);

    // Unpack and validate every document and the index with xmllint.
    let tmp = tempfile::tempdir().unwrap();
    let mut zip = zip::ZipArchive::new(Cursor::new(archive.bytes.clone())).unwrap();
    let root = tmp.path().join("1311234567_06139463_202405270_1");
    let mut documents = Vec::new();
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).unwrap();
        let name = file.name().unwrap().into_owned();
        let path = tmp.path().join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        std::fs::write(&path, bytes).unwrap();
        if name.contains("/DATA/") {
            documents.push(path);
        }
    }
    documents.sort();
    assert_eq!(
        documents
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        [
            "h13112345672024052701000001.xml",
            "h13112345672024052701000002.xml"
        ]
    );
    if have_corpus && xmllint_available() {
        xmllint(&root.join("XSD/hc08_V08.xsd"), &documents);
        xmllint(&root.join("XSD/ix08_V08.xsd"), &[root.join("ix08_V08.xml")]);
    }

    // Read the archive back: same values, same precision, same absences.
    let back = read_submission(&archive.bytes, items(), &ReadLimits::default());
    assert!(
        back.issues
            .iter()
            .all(|i| i.code == ErrorCode::TokuteiNegatedObservation),
        "{:#?}",
        back.issues
    );
    assert_eq!(back.index.as_ref().unwrap().total_record_count, Some(2));
    let first = &back.documents[0].document;
    assert_eq!(first.member, source.member);
    assert_eq!(first.demographics, source.demographics);
    assert_eq!(first.exam_date, source.exam_date);
    assert_eq!(first.results.len(), source.results.len());
    for original in &source.results {
        let code = original.checkup_item().unwrap();
        let copy = by_item(first, code);
        assert_eq!(copy.value, original.value, "{code}");
        assert_eq!(copy.reference_range, original.reference_range, "{code}");
        assert_eq!(copy.flag, original.flag, "{code}");
    }
    let second_back = &back.documents[1].document;
    assert_eq!(second_back.member, second);
    assert_eq!(second_back.demographics, second_demographics);
    assert_eq!(
        quantity_literal(by_item(second_back, "3D046000001999902")),
        ("6.5", Some("%"))
    );
    assert_eq!(
        quantity_literal(by_item(second_back, "3F015000002327101")),
        ("151", Some("mg/dL"))
    );
    assert_eq!(second_back.results.len(), 2);
}

/// A small deterministic generator for the mutation test (no extra dependency).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

/// Damaged input never panics: random byte flips, insertions of markup characters and
/// truncations of a valid document and of a valid archive.
#[test]
fn damaged_input_is_reported_never_panics() {
    let document = fixture("basic.xml");
    let archive = zip_of(&[
        ("r/ix08_V08.xml", INDEX.as_bytes()),
        ("r/DATA/h0001.xml", &document),
    ]);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let noise: &[u8] = b"<>&;\"'/=:![]\x00\xFF\xE3\x81";
    for round in 0..1500 {
        for original in [&document, &archive] {
            let mut bytes = original.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                match rng.below(3) {
                    0 => bytes[at] = noise[rng.below(noise.len())],
                    1 => bytes.insert(at, noise[rng.below(noise.len())]),
                    _ => bytes.truncate(at.max(1)),
                }
            }
            let read = read_submission(&bytes, items(), &ReadLimits::default());
            for issue in &read.issues {
                assert!(!issue.location.is_empty(), "round {round}: {issue:?}");
            }
        }
    }
}
