//! Documentation that must stay true: every error code is documented.

use kakari::error::ErrorCode;

#[test]
fn every_error_code_is_documented() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md")).unwrap();
    let missing: Vec<&str> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !doc.contains(&format!("`{c}`")))
        .collect();
    assert!(missing.is_empty(), "undocumented error codes: {missing:?}");
    for code in ErrorCode::ALL {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}`", code.as_str())))
            .unwrap();
        assert!(
            row.contains(&format!("| {} |", code.http_status())),
            "docs/errors.md gives another status for {}",
            code.as_str()
        );
    }
}

/// The API body schemas in `schemas/api/` are the ones the gateway validates with
/// (generated from the body types); `KAKARI_REGENERATE_SCHEMAS=1` rewrites them.
#[test]
fn api_body_schemas_are_current() {
    use kakari::api_schema::{compiles, schema_of};
    use kakari::http::registration::{ConfirmRequest, PersonConsent};
    use kakari::service::audit::AuditPage;
    use kakari::service::clients::ClientRequest;
    use kakari::service::consent::ConsentChange;
    use kakari::service::directory::{OrganizationRequest, PractitionerRequest};
    use kakari::service::person::PersonClientRequest;
    use kakari::service::registration::RegistrationRequest;
    let schemas = [
        (
            "client-request",
            schema_of::<ClientRequest>(),
            compiles::<ClientRequest>(),
        ),
        (
            "organization-request",
            schema_of::<OrganizationRequest>(),
            compiles::<OrganizationRequest>(),
        ),
        (
            "practitioner-request",
            schema_of::<PractitionerRequest>(),
            compiles::<PractitionerRequest>(),
        ),
        (
            "registration-request",
            schema_of::<RegistrationRequest>(),
            compiles::<RegistrationRequest>(),
        ),
        (
            "consent-change",
            schema_of::<ConsentChange>(),
            compiles::<ConsentChange>(),
        ),
        (
            "person-client-request",
            schema_of::<PersonClientRequest>(),
            compiles::<PersonClientRequest>(),
        ),
        (
            "confirm-request",
            schema_of::<ConfirmRequest>(),
            compiles::<ConfirmRequest>(),
        ),
        (
            "person-consent",
            schema_of::<PersonConsent>(),
            compiles::<PersonConsent>(),
        ),
        (
            "need-request",
            schema_of::<kakari::service::matching::NeedRequest>(),
            compiles::<kakari::service::matching::NeedRequest>(),
        ),
        (
            "hand-request",
            schema_of::<kakari::service::matching::HandRequest>(),
            compiles::<kakari::service::matching::HandRequest>(),
        ),
        (
            "accept-request",
            schema_of::<kakari::service::matching::AcceptRequest>(),
            compiles::<kakari::service::matching::AcceptRequest>(),
        ),
        // A response body: GET /admin/audit (tests/it/audit.rs validates real pages).
        (
            "audit-page",
            schema_of::<AuditPage>(),
            compiles::<AuditPage>(),
        ),
    ];
    for (name, schema, compiled) in schemas {
        assert_eq!(compiled, Ok(()), "{name} schema does not compile");
        let path = format!(
            "{}/schemas/api/{name}.schema.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if std::env::var_os("KAKARI_REGENERATE_SCHEMAS").is_some() {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{path} is out of date; run with KAKARI_REGENERATE_SCHEMAS=1"
        );
    }
}

/// Every path in the OpenAPI document is served (the document is collected from the
/// handlers, so every served non-FHIR route is in it).
#[actix_web::test]
async fn openapi_lists_the_served_routes() {
    let app = crate::support::TestApp::spawn(crate::support::TestDb::sqlite()).await;
    let api: serde_json::Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = api["paths"].as_object().unwrap();
    for expected in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/admin/clients",
        "/admin/clients/{id}",
    ] {
        assert!(
            paths.contains_key(expected),
            "{expected} missing from /openapi.json"
        );
    }
    for (path, item) in paths {
        let concrete = path.replace("{id}", "1");
        for method in item.as_object().unwrap().keys() {
            let request = match method.as_str() {
                "get" => app.http.get(app.url(&concrete)),
                "post" => app.http.post(app.url(&concrete)),
                "put" => app.http.put(app.url(&concrete)),
                "delete" => app.http.delete(app.url(&concrete)),
                _ => continue,
            };
            let resp = request.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            assert!(
                !text.contains("request.route_not_found")
                    && !text.contains("request.method_not_allowed"),
                "{method} {path} is documented but not served ({status})"
            );
        }
    }
}
