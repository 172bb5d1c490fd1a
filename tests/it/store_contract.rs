//! The store contract: the same behaviour on SQLite and PostgreSQL.

use kakari::domain::{Decimal, LabResult, LabValue, MedicationKind, MedicationRecord};
use kakari::domain::{Demographics, MemberId, Provenance, SourceFormat, SubjectRef};
use kakari::store::StoreError;
use kakari::store::audit::{AuditEntry, AuditFilter, ChainBreak};
use kakari::store::clients::{ClientLimits, NewClient};
use kakari::store::inputs::KeyClaim;
use kakari::store::persons::PersonLink;
use kakari::store::records::Owner;
use kakari::store::resources::ResourceWrite;
use kakari::store::search::{DateOp, IndexEntry, Match, SearchQuery, Visibility};

use crate::on_both_databases;
use crate::support::TestDb;

on_both_databases!(
    migrations_apply_once,
    clients_round_trip_and_revoke,
    idempotency_keys_remember_the_first_response,
    concurrent_claims_of_one_key_yield_one_winner,
    resources_keep_versions_and_history,
    search_matches_tokens_prefixes_dates_and_pages,
    family_cards_resolve_by_demographics_or_report_ambiguity,
    fhir_patient_placeholder_merges_with_local_patient,
    records_are_replaced_by_a_new_version_of_their_resource,
    audit_chain_detects_edits_and_removals,
    failed_unit_of_work_rolls_back_alone,
);

fn migrations_apply_once(db: &TestDb) {
    let first = db.open();
    assert!(!first.migrations().applied.is_empty());
    drop(first);
    let second = db.open();
    assert!(second.migrations().applied.is_empty());
    assert!(!second.migrations().already_applied.is_empty());
}

fn clients_round_trip_and_revoke(db: &TestDb) {
    let store = db.open();
    let id = store
        .write_blocking(|tx| {
            tx.insert_client(&NewClient {
                name: "clinic".into(),
                role: "emr".into(),
                facility: Some("1311234567".into()),
                insurer: None,
                practitioner: None,
                token_hash: vec![1, 2, 3],
                expires_at: None,
                certificate_sha256: Some("ab".repeat(32)),
                limits: ClientLimits {
                    max_request_bytes: Some(4096),
                    rate_limit_per_second: Some(5),
                    rate_burst: None,
                },
                member: None,
                issued_by: None,
                identity_evidence: None,
            })
        })
        .unwrap();
    let row = store
        .read_blocking(move |tx| tx.client_by_id(id))
        .unwrap()
        .unwrap();
    assert_eq!(row.role, "emr");
    assert_eq!(row.facility.as_deref(), Some("1311234567"));
    assert_eq!(row.limits.max_request_bytes, Some(4096));
    assert_eq!(row.limits.rate_limit_per_second, Some(5));
    assert_eq!(row.limits.rate_burst, None);
    let by_cert = store
        .read_blocking(|tx| tx.client_by_certificate(&"ab".repeat(32)))
        .unwrap();
    assert_eq!(by_cert.map(|r| r.id), Some(id));
    assert_eq!(row.token_hash, vec![1, 2, 3]);
    assert!(row.revoked_at.is_none());
    assert!(
        store
            .write_blocking(move |tx| tx.revoke_client(id))
            .unwrap()
    );
    assert!(
        !store
            .write_blocking(move |tx| tx.revoke_client(id))
            .unwrap()
    );
    // A revoked client's certificate no longer authenticates anyone.
    assert!(
        store
            .read_blocking(|tx| tx.client_by_certificate(&"ab".repeat(32)))
            .unwrap()
            .is_none()
    );
    let row = store
        .read_blocking(move |tx| tx.client_by_id(id))
        .unwrap()
        .unwrap();
    assert!(row.revoked_at.is_some());
    assert_eq!(
        store.read_blocking(|tx| tx.list_clients()).unwrap().len(),
        1
    );
}

fn idempotency_keys_remember_the_first_response(db: &TestDb) {
    let store = db.open();
    let first = store
        .write_blocking(|tx| {
            let claim = tx.claim_key("client:1", "bundle-1", Some(b"digest-1"))?;
            tx.complete_key("client:1", "bundle-1", None, 200, b"response-1")?;
            Ok::<_, StoreError>(claim)
        })
        .unwrap();
    assert_eq!(first, KeyClaim::New);
    let second = store
        .write_blocking(|tx| tx.claim_key("client:1", "bundle-1", Some(b"digest-2")))
        .unwrap();
    // The second claim sees the first's response and the content digest it was claimed
    // with (so a caller can tell a re-send from a reused key).
    assert_eq!(
        second,
        KeyClaim::Seen {
            status: Some(200),
            response: Some(b"response-1".to_vec()),
            input_id: None,
            digest: Some(b"digest-1".to_vec()),
        }
    );
    let other_scope = store
        .write_blocking(|tx| tx.claim_key("client:2", "bundle-1", None))
        .unwrap();
    assert_eq!(other_scope, KeyClaim::New);
}

fn concurrent_claims_of_one_key_yield_one_winner(db: &TestDb) {
    let store = db.open();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                store
                    .write_blocking(move |tx| {
                        let claim = tx.claim_key("client:1", "same", None)?;
                        if claim == KeyClaim::New {
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            tx.complete_key(
                                "client:1",
                                "same",
                                None,
                                201,
                                format!("winner {i}").as_bytes(),
                            )?;
                        }
                        Ok::<_, StoreError>(claim)
                    })
                    .unwrap()
            })
        })
        .collect();
    let claims: Vec<KeyClaim> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let winners = claims.iter().filter(|c| **c == KeyClaim::New).count();
    assert_eq!(winners, 1, "{claims:?}");
    for c in claims.iter().filter(|c| **c != KeyClaim::New) {
        match c {
            KeyClaim::Seen {
                status, response, ..
            } => {
                assert_eq!(*status, Some(201));
                assert!(response.as_ref().unwrap().starts_with(b"winner"));
            }
            KeyClaim::New => unreachable!(),
        }
    }
}

fn write(rtype: &'static str, id: &'static str, body: &'static str) -> ResourceWrite<'static> {
    ResourceWrite {
        rtype,
        id,
        owner_facility: Some("1311234567"),
        client_id: 1,
        input_id: None,
        subject_ref: None,
        body,
        derived: false,
        last_updated: 1,
    }
}

fn resources_keep_versions_and_history(db: &TestDb) {
    let store = db.open();
    let (pk, _) = store
        .write_blocking(|tx| tx.insert_resource(&write("Patient", "p1", r#"{"v":1}"#)))
        .unwrap();
    let duplicate = store.write_blocking(|tx| tx.insert_resource(&write("Patient", "p1", "{}")));
    assert!(
        matches!(duplicate, Err(StoreError::Unique(_))),
        "{duplicate:?}"
    );
    let (version, _) = store
        .write_blocking(|tx| {
            let current = tx.resource("Patient", "p1")?.unwrap();
            tx.update_resource(&current, &write("Patient", "p1", r#"{"v":2}"#))
        })
        .unwrap();
    assert_eq!(version, 2);
    let current = store
        .read_blocking(|tx| tx.resource("Patient", "p1"))
        .unwrap()
        .unwrap();
    assert_eq!(current.pk, pk);
    assert_eq!(current.version, 2);
    assert_eq!(current.body, r#"{"v":2}"#);
    let old = store
        .read_blocking(move |tx| tx.resource_version(pk, 1))
        .unwrap()
        .unwrap();
    assert_eq!(old.1, r#"{"v":1}"#);
    assert!(
        store
            .read_blocking(|tx| tx.resource("Patient", "nope"))
            .unwrap()
            .is_none()
    );
}

fn token(param: &'static str, system: &str, value: &str) -> IndexEntry {
    IndexEntry::Token {
        param,
        system: system.into(),
        value: value.into(),
    }
}

fn search_matches_tokens_prefixes_dates_and_pages(db: &TestDb) {
    let store = db.open();
    store
        .write_blocking(|tx| {
            for i in 0..5i64 {
                let id = format!("o{i}");
                let (pk, _) = tx.insert_resource(&ResourceWrite {
                    id: &id,
                    ..write("Observation", "x", "{}")
                })?;
                let code = if i % 2 == 0 { "even" } else { "odd" };
                tx.insert_index(
                    "Observation",
                    pk,
                    &[
                        token("code", "http://loinc.org", code),
                        token("name", "", &format!("やまだ{i}")),
                        IndexEntry::Date {
                            param: "date",
                            lo: i * 1000,
                            hi: i * 1000 + 1000,
                        },
                    ],
                )?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let query = |clauses: Vec<Vec<Match>>, count: u32| SearchQuery {
        rtype: "Observation".into(),
        clauses,
        visibility: Visibility::All,
        count,
        after_pk: None,
    };
    let run = |q: SearchQuery| store.read_blocking(move |tx| tx.search(&q)).unwrap();

    let evens = run(query(
        vec![vec![Match::Token {
            param: "code",
            system: Some("http://loinc.org".into()),
            value: "even".into(),
        }]],
        10,
    ));
    assert_eq!(evens.total, 3);
    let any_system = run(query(
        vec![vec![Match::Token {
            param: "code",
            system: None,
            value: "odd".into(),
        }]],
        10,
    ));
    assert_eq!(any_system.total, 2);
    let wrong_system = run(query(
        vec![vec![Match::Token {
            param: "code",
            system: Some("x".into()),
            value: "odd".into(),
        }]],
        10,
    ));
    assert_eq!(wrong_system.total, 0);
    let prefix = run(query(
        vec![vec![Match::Prefix {
            param: "name",
            prefix: "やまだ".into(),
        }]],
        10,
    ));
    assert_eq!(prefix.total, 5);
    let contains = run(query(
        vec![vec![Match::Contains {
            param: "name",
            text: "まだ3".into(),
        }]],
        10,
    ));
    assert_eq!(contains.total, 1);
    let ge = run(query(
        vec![vec![Match::Date {
            param: "date",
            op: DateOp::Ge,
            lo: 3000,
            hi: 3001,
        }]],
        10,
    ));
    assert_eq!(ge.total, 2);
    let eq = run(query(
        vec![vec![Match::Date {
            param: "date",
            op: DateOp::Eq,
            lo: 2000,
            hi: 3000,
        }]],
        10,
    ));
    assert_eq!(eq.total, 1);
    let either = run(query(
        vec![vec![
            Match::Date {
                param: "date",
                op: DateOp::Lt,
                lo: 1000,
                hi: 1001,
            },
            Match::Date {
                param: "date",
                op: DateOp::Gt,
                lo: 3999,
                hi: 4000,
            },
        ]],
        10,
    ));
    assert_eq!(either.total, 2);
    let both = run(query(
        vec![
            vec![Match::Token {
                param: "code",
                system: None,
                value: "even".into(),
            }],
            vec![Match::Date {
                param: "date",
                op: DateOp::Ge,
                lo: 1000,
                hi: 1001,
            }],
        ],
        10,
    ));
    assert_eq!(both.total, 2);

    // Paging: 2 per page over 5 results.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let mut q = query(vec![], 2);
        q.after_pk = after;
        let page = run(q);
        assert_eq!(page.total, 5);
        seen.extend(page.rows.iter().map(|r| r.id.clone()));
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    assert_eq!(seen, ["o0", "o1", "o2", "o3", "o4"]);

    let mut hidden = query(vec![], 10);
    hidden.visibility = Visibility::Facility("9999999999".into());
    assert_eq!(run(hidden).total, 0);

    // Deleting entries removes exactly them.
    store
        .write_blocking(|tx| {
            let r = tx.resource("Observation", "o0")?.unwrap();
            tx.delete_index(
                "Observation",
                r.pk,
                &[token("code", "http://loinc.org", "even")],
            )
        })
        .unwrap();
    let evens = run(query(
        vec![vec![Match::Token {
            param: "code",
            system: None,
            value: "even".into(),
        }]],
        10,
    ));
    assert_eq!(evens.total, 2);
}

fn family_cards_resolve_by_demographics_or_report_ambiguity(db: &TestDb) {
    let store = db.open();
    let father = MemberId::parse("06139463:12:345:01").unwrap();
    let child = MemberId::parse("06139463:12:345:03").unwrap();
    let card = MemberId::parse("06139463:１２:３４５").unwrap();
    let (f, c) = store
        .write_blocking(move |tx| {
            let f = tx.resolve_person(&father, Some("1970-01-01".into()), Some("male".into()))?;
            let c = tx.resolve_person(&child, Some("2005-05-05".into()), Some("female".into()))?;
            Ok::<_, StoreError>((f, c))
        })
        .unwrap();
    let (PersonLink::Linked(f), PersonLink::Linked(c)) = (f, c) else {
        panic!("expected links")
    };
    assert_ne!(f, c);
    let card2 = card.clone();
    let by_birth = store
        .write_blocking(move |tx| tx.resolve_person(&card2, Some("2005-05-05".into()), None))
        .unwrap();
    assert_eq!(by_birth, PersonLink::Linked(c));
    let unknown = store
        .write_blocking(move |tx| tx.resolve_person(&card, None, None))
        .unwrap();
    assert_eq!(unknown, PersonLink::Ambiguous { candidates: 2 });
    // The same card with 枝番 finds the same person.
    let again = MemberId::parse("06139463:12:345:01").unwrap();
    let same = store
        .write_blocking(move |tx| tx.resolve_person(&again, None, None))
        .unwrap();
    assert_eq!(same, PersonLink::Linked(f));
}

fn fhir_patient_placeholder_merges_with_local_patient(db: &TestDb) {
    let store = db.open();
    let local = store
        .write_blocking(|tx| {
            tx.upsert_local_patient("1311234567", "00000010", &Demographics::default())
        })
        .unwrap();
    // A record arrives referencing Patient/p1 before the Patient resource.
    let placeholder = store
        .write_blocking(|tx| tx.ensure_fhir_patient("p1", Some("1311234567")))
        .unwrap();
    assert_ne!(placeholder.pk, local.pk);
    let merged = store
        .write_blocking(|tx| {
            tx.upsert_fhir_patient(
                "p1",
                Some("1311234567"),
                Some("00000010"),
                &Demographics::default(),
            )
        })
        .unwrap();
    assert_eq!(merged.pk, local.pk);
    let by_fhir = store
        .read_blocking(|tx| tx.patient_by_fhir_id("p1"))
        .unwrap()
        .unwrap();
    assert_eq!(by_fhir.pk, local.pk);
    assert!(
        store
            .read_blocking(move |tx| tx.patient(placeholder.pk))
            .unwrap()
            .is_none()
    );
}

fn provenance() -> Provenance {
    Provenance {
        client_id: 1,
        input_id: 1,
        format: SourceFormat::Fhir,
        received_at: 0,
        location: "Bundle.entry[0]".into(),
    }
}

fn records_are_replaced_by_a_new_version_of_their_resource(db: &TestDb) {
    let store = db.open();
    store
        .write_blocking(|tx| {
            let subject = SubjectRef::FhirPatient("p1".into());
            let m = MedicationRecord::new(MedicationKind::Prescription, subject.clone());
            let mut l = LabResult::new(
                subject,
                LabValue::Quantity {
                    value: Decimal::parse("1.50").unwrap(),
                    comparator: None,
                    unit: Some("mg/dL".into()),
                    unit_code: None,
                    unit_system: None,
                },
            );
            l.codes.push(kakari::domain::Coding::new(
                "urn:oid:1.2.392.200119.4.504",
                "3C020000002327101",
                None,
            ));
            let owner = Owner {
                patient_pk: Some(1),
                person_pk: None,
            };
            tx.insert_medication(&m, owner, &provenance(), Some(10))?;
            tx.insert_lab(&l, owner, &provenance(), Some(10))?;
            tx.insert_lab(&l, owner, &provenance(), Some(11))?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    assert_eq!(
        store.read_blocking(|tx| tx.record_counts()).unwrap(),
        [1, 2, 0, 0]
    );
    store
        .write_blocking(|tx| tx.delete_records_of_resource(10))
        .unwrap();
    assert_eq!(
        store.read_blocking(|tx| tx.record_counts()).unwrap(),
        [0, 1, 0, 0]
    );
}

fn entry(action: &str) -> AuditEntry {
    AuditEntry {
        client_id: Some(1),
        role: Some("emr".into()),
        action: action.into(),
        resource_type: Some("Patient".into()),
        resource_id: Some("p1".into()),
        outcome: "success".into(),
        ..AuditEntry::default()
    }
}

fn audit_chain_detects_edits_and_removals(db: &TestDb) {
    let store = db.open();
    store
        .write_blocking(|tx| tx.append_audit(&[entry("create"), entry("read")]))
        .unwrap();
    store
        .write_blocking(|tx| tx.append_audit(&[entry("update")]))
        .unwrap();
    assert_eq!(store.read_blocking(|tx| tx.verify_audit()).unwrap(), Ok(3));
    let listed = store
        .read_blocking(|tx| {
            tx.list_audit(&AuditFilter {
                action: Some("read".into()),
                limit: 10,
                ..Default::default()
            })
        })
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].seq, 2);

    // Tamper with row 2 behind the store's back.
    tamper(
        db,
        "UPDATE audit_events SET outcome = 'denied' WHERE seq = 2",
    );
    assert_eq!(
        db.open().read_blocking(|tx| tx.verify_audit()).unwrap(),
        Err(ChainBreak::Altered { seq: 2 })
    );
    tamper(db, "DELETE FROM audit_events WHERE seq = 2");
    assert_eq!(
        db.open().read_blocking(|tx| tx.verify_audit()).unwrap(),
        Err(ChainBreak::Unlinked { seq: 3 })
    );
}

/// Runs raw SQL against the test database, outside kakari.
pub fn tamper(db: &TestDb, sql: &str) {
    match db {
        TestDb::Sqlite { url, .. } => {
            let conn = rusqlite::Connection::open(url.trim_start_matches("sqlite://")).unwrap();
            conn.execute_batch(sql).unwrap();
        }
        TestDb::Postgres { url, .. } => {
            let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
            client.batch_execute(sql).unwrap();
        }
    }
}

fn failed_unit_of_work_rolls_back_alone(db: &TestDb) {
    let store = db.open();
    let failing = store.clone();
    let t = std::thread::spawn(move || {
        failing.write_blocking(|tx| {
            tx.claim_key("s", "doomed", None)?;
            Err::<(), StoreError>(StoreError::Decode("deliberate".into()))
        })
    });
    let ok = store.write_blocking(|tx| tx.claim_key("s", "kept", None));
    assert!(t.join().unwrap().is_err());
    assert_eq!(ok.unwrap(), KeyClaim::New);
    assert_eq!(
        store
            .write_blocking(|tx| tx.claim_key("s", "doomed", None))
            .unwrap(),
        KeyClaim::New
    );
    assert!(matches!(
        store
            .write_blocking(|tx| tx.claim_key("s", "kept", None))
            .unwrap(),
        KeyClaim::Seen { .. }
    ));
}
