//! `kakari demo`: a fresh embedded database with synthetic sample data and demo clients,
//! their tokens and copy-paste requests printed, then the gateway.
//!
//! The sample data goes in through the same services an EMR would use (transaction
//! Bundles posted by each demo clinic's own client), so the demo exercises the real path.
//! Everything in it is synthetic.

use std::process::ExitCode;
use std::sync::Arc;

use crate::app::AppState;
use crate::auth::{Caller, Role};
use crate::cli::DemoArgs;
use crate::config::Config;
use crate::domain::InstitutionCode;
use crate::service::Ctx;
use crate::service::clients::{self, ClientRequest, CreatedClient};
use crate::service::directory::{self, OrganizationRequest, PractitionerRequest};
use crate::service::fhir::bundle;
use crate::service::registration::{self, ConsentRequest, RegistrationRequest};

/// The demo's institutions and who posts what.
pub const CLINIC_A: &str = "1311234567";
pub const CLINIC_B: &str = "1312345678";
pub const PHARMACY: &str = "1341234565";
pub const INSURER: &str = "06139463";
pub const DOCTOR: &str = "demo-dr-sakura";

/// A demo client: name, role, facility, insurer, practitioner.
struct DemoClient {
    name: &'static str,
    role: &'static str,
    facility: Option<&'static str>,
    insurer: Option<&'static str>,
    practitioner: Option<&'static str>,
}

const fn client(
    name: &'static str,
    role: &'static str,
    facility: Option<&'static str>,
    insurer: Option<&'static str>,
    practitioner: Option<&'static str>,
) -> DemoClient {
    DemoClient {
        name,
        role,
        facility,
        insurer,
        practitioner,
    }
}

const CLIENTS: &[DemoClient] = &[
    client(
        "さくら内科クリニック EMR",
        "emr",
        Some(CLINIC_A),
        None,
        None,
    ),
    client("みどり整形外科 EMR", "emr", Some(CLINIC_B), None, None),
    client("ひまわり薬局", "pharmacy", Some(PHARMACY), None, None),
    client("かかり健康保険組合", "insurer", None, Some(INSURER), None),
    client(
        "桜井医師 (かかりつけ医)",
        "doctor",
        Some(CLINIC_A),
        None,
        Some(DOCTOR),
    ),
    client("demo admin", "admin", None, None, None),
];

/// (which client index posts it, bundle)
const BUNDLES: &[(usize, &str)] = &[
    (5, include_str!("../examples/demo/directory.json")),
    (0, include_str!("../examples/demo/clinic-sakura.json")),
    (1, include_str!("../examples/demo/clinic-midori.json")),
    (2, include_str!("../examples/demo/pharmacy-himawari.json")),
];

fn caller_for(id: i64, spec: &DemoClient) -> Caller {
    Caller {
        client_id: id,
        name: spec.name.to_owned(),
        role: Role::parse(spec.role).unwrap_or(Role::Admin),
        facility: spec.facility.and_then(|f| InstitutionCode::parse(f).ok()),
        insurer: spec
            .insurer
            .and_then(|i| crate::domain::InsurerNumber::parse(i).ok()),
        practitioner: spec.practitioner.map(str::to_owned),
        member: None,
    }
}

/// Creates the demo clients and loads the sample data; returns the clients.
pub async fn load(app: &AppState) -> Result<Vec<(String, String, CreatedClient)>, String> {
    let mut created = Vec::new();
    let mut callers = Vec::new();
    for spec in CLIENTS {
        let request = ClientRequest {
            name: spec.name.to_owned(),
            role: spec.role.to_owned(),
            facility: spec.facility.map(str::to_owned),
            insurer: spec.insurer.map(str::to_owned),
            practitioner: spec.practitioner.map(str::to_owned),
            ..ClientRequest::default()
        };
        let client = clients::create_in(&app.store, &request, None)
            .await
            .map_err(|p| p.to_string())?;
        callers.push(caller_for(client.id, spec));
        created.push((spec.name.to_owned(), spec.role.to_owned(), client));
    }
    for (i, (who, body)) in BUNDLES.iter().enumerate() {
        let ctx = Ctx {
            caller: callers[*who].clone(),
            request_id: format!("demo-load-{i}"),
        };
        bundle::process(app, &ctx, body.as_bytes())
            .await
            .map_err(|p| format!("demo bundle {i}: {p}"))?;
    }
    load_registry(app, &callers)
        .await
        .map_err(|p| format!("demo directory and registration: {p}"))?;
    Ok(created)
}

/// The member id of the demo's registered person (山田 太郎).
pub const MEMBER: &str = "06139463:123:4567:01";

/// The certified directory, the demo doctor, and the demo person registered with them
/// (consenting to share lab values with the insurer).
async fn load_registry(app: &AppState, callers: &[Caller]) -> Result<(), crate::error::Problem> {
    let admin = Ctx {
        caller: callers[5].clone(),
        request_id: "demo-directory".into(),
    };
    let common = [
        "broad-consultation",
        "information-hub",
        "care-coordination",
        "after-hours",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        common
            .iter()
            .chain(extra)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let organizations = [
        (
            CLINIC_A,
            "さくら内科クリニック",
            "文京区",
            "本郷1-2-3",
            "03-1234-5678",
            with(&[
                "online-first-visit",
                "vaccination",
                "home-care",
                "checkups-guidance",
            ]),
        ),
        (
            CLINIC_B,
            "みどり整形外科",
            "新宿区",
            "西新宿2-8-1",
            "03-2345-6789",
            with(&["fever-outpatient", "refill-prescription"]),
        ),
    ];
    for (code, name, city, address, phone, functions) in organizations {
        let request = OrganizationRequest {
            name: name.into(),
            prefecture: "13".into(),
            city: Some(city.into()),
            address: Some(address.into()),
            phone: Some(phone.into()),
            url: None,
            certified: true,
            functions,
        };
        directory::put_organization(app, &admin, code, request).await?;
    }
    let doctor = PractitionerRequest {
        name: "桜井 直子".into(),
        name_kana: Some("サクライ ナオコ".into()),
        organization: CLINIC_A.into(),
        qualifications: vec!["kakaritsuke-training".into()],
    };
    directory::put_practitioner(app, &admin, DOCTOR, doctor).await?;
    let by_doctor = Ctx {
        caller: callers[4].clone(),
        request_id: "demo-registration".into(),
    };
    let registration = RegistrationRequest {
        member: MEMBER.into(),
        practitioner: DOCTOR.into(),
        organization: CLINIC_A.into(),
        start: "2026-04-01".into(),
        consent: ConsentRequest {
            insurer_programs: true,
        },
        evidence: None,
    };
    registration::register(app, &by_doctor, registration).await?;
    Ok(())
}

fn print_guide(listen: &str, clients: &[(String, String, CreatedClient)]) {
    let base = format!("http://{listen}");
    let var = |role: &str, n: usize| -> String {
        match (role, n) {
            ("emr", 0) => "EMR_TOKEN".into(),
            ("emr", _) => "EMR2_TOKEN".into(),
            (r, _) => format!("{}_TOKEN", r.to_uppercase()),
        }
    };
    println!("\nkakari demo — synthetic data only\n");
    println!("Demo clients (copy these lines into your shell):");
    let mut emr_seen = 0;
    for (name, role, client) in clients {
        let n = if role == "emr" {
            emr_seen += 1;
            emr_seen - 1
        } else {
            0
        };
        println!(
            "  export {}={}   # {name} ({role}, client {})",
            var(role, n),
            client.token,
            client.id
        );
    }
    println!("\nTry:");
    println!("  curl -s {base}/healthz");
    println!("  curl -s {base}/fhir/metadata | head -c 400; echo");
    println!(
        "  curl -s -H \"Authorization: Bearer $EMR_TOKEN\" -G {base}/fhir/Patient --data-urlencode name=やまだ"
    );
    println!(
        "  curl -s -H \"Authorization: Bearer $EMR_TOKEN\" '{base}/fhir/MedicationRequest?patient=demo-yamada'"
    );
    println!(
        "  curl -s -H \"Authorization: Bearer $EMR_TOKEN\" '{base}/fhir/Observation?patient=demo-yamada&date=ge2026-01-01'"
    );
    println!(
        "  curl -s -X POST -H \"Authorization: Bearer $EMR_TOKEN\" -H 'Content-Type: application/fhir+json' \\\n       --data @examples/requests/observation.json {base}/fhir/Observation"
    );
    println!(
        "  curl -s -H \"Authorization: Bearer $DOCTOR_TOKEN\" -G {base}/fhir/EpisodeOfCare --data-urlencode member={MEMBER}"
    );
    println!(
        "  curl -s -H \"Authorization: Bearer $DOCTOR_TOKEN\" '{base}/fhir/Observation?patient=demo-yamada'"
    );
    println!(
        "  curl -s -H \"Authorization: Bearer $INSURER_TOKEN\" '{base}/insurer/lab-results?format=csv&limit=100'"
    );
    println!("  curl -s '{base}/directory/organizations?function=home-care'");
    println!("  open {base}/directory   # the public search page (Japanese)");
    println!("  curl -s -H \"Authorization: Bearer $ADMIN_TOKEN\" {base}/admin/clients");
    println!(
        "  curl -s -H \"Authorization: Bearer $ADMIN_TOKEN\" '{base}/admin/audit?limit=5'   # the audit trail"
    );
    println!("  curl -s {base}/metrics | grep kakari_ | head");
    println!("\nAPI: {base}/openapi.json, docs/api.md. Stop with Ctrl-C.\n");
}

/// Runs `kakari demo`.
pub fn run(mut config: Config, args: &DemoArgs) -> ExitCode {
    let db = args.dir.join("kakari.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    config.database_url = format!("sqlite://{}", db.display());
    config.listen = args.listen.clone();
    let state: Arc<AppState> = match AppState::open(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kakari demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    actix_web::rt::System::new().block_on(async move {
        let clients = match load(&state).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kakari demo: loading sample data failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        print_guide(&args.listen, &clients);
        if args.no_serve {
            state.store.shutdown();
            return ExitCode::SUCCESS;
        }
        match crate::server::serve(state).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kakari demo: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
