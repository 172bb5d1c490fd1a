//! Broken bodies of every shape get a clear 4xx with a code, never a 500 or a panic, and
//! no value from the input appears in a response or a log line.

use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, TestApp, TestDb, captured_logs};

/// A value that must never be echoed.
const SECRET: &str = "ZZSECRET山田";

fn broken_bodies() -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"123".to_vec(),
        b"\"ZZSECRET\"".to_vec(),
        b"{\"resourceType\": null}".to_vec(),
        b"{\"resourceType\": \"Patient\", \"id\": {\"a\": 1}}".to_vec(),
        b"{\"resourceType\": \"Patient\", \"birthDate\": 1e400}".to_vec(),
        b"{\"resourceType\": \"Patient\", \"name\": [{\"text\": \"\\u0000ZZSECRET\"}]}".to_vec(),
        vec![0xff, 0xfe, 0x7b, 0x7d],
        b"{\"resourceType\": \"Patient\", \"resourceType\": \"Observation\"}".to_vec(),
        format!("{{\"resourceType\": \"Patient\", \"gender\": \"{SECRET}\"}}").into_bytes(),
        format!("{{\"resourceType\": \"Patient\", \"birthDate\": \"{SECRET}\"}}").into_bytes(),
        format!("{{\"resourceType\": \"Patient\", \"identifier\": [{{\"system\": \"http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID\", \"value\": \"{SECRET}\"}}]}}").into_bytes(),
        format!("{{\"resourceType\": \"Observation\", \"status\": \"final\", \"code\": {{\"text\": \"x\"}}, \"subject\": {{\"reference\": \"Patient/{SECRET}\"}}}}").into_bytes(),
        format!("{{\"resourceType\": \"Bundle\", \"type\": \"transaction\", \"entry\": [{{\"resource\": {{\"resourceType\": \"Patient\", \"gender\": \"{SECRET}\"}}, \"request\": {{\"method\": \"POST\", \"url\": \"Patient\"}}}}]}}").into_bytes(),
        b"{\"resourceType\": \"Bundle\", \"type\": \"transaction\", \"entry\": 5}".to_vec(),
        b"{\"resourceType\": \"Bundle\", \"type\": \"batch\", \"entry\": [null, 1, \"x\", {}]}".to_vec(),
        b"{\"resourceType\": \"Bundle\", \"type\": \"transaction\", \"entry\": [{\"request\": {\"method\": \"PUT\", \"url\": \"Patient/../../x\"}, \"resource\": {\"resourceType\": \"Patient\"}}]}".to_vec(),
        b"{\"resourceType\": \"Bundle\", \"type\": \"searchset\"}".to_vec(),
    ];
    // Deep nesting.
    bodies.push(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes());
    bodies.push(
        format!(
            "{{\"resourceType\": \"Patient\", \"extension\": {}1{}}}",
            "[".repeat(5000),
            "]".repeat(5000)
        )
        .into_bytes(),
    );
    // A long string.
    bodies.push(
        format!(
            "{{\"resourceType\": \"Patient\", \"id\": \"{}\"}}",
            "x".repeat(1_000_000)
        )
        .into_bytes(),
    );
    bodies
}

/// Deterministic byte-level mutations of a valid resource.
fn mutations(seed_body: &[u8], n: usize) -> Vec<Vec<u8>> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let mut b = seed_body.to_vec();
            for _ in 0..(1 + next() % 4) {
                if b.is_empty() {
                    break;
                }
                let at = (next() as usize) % b.len();
                match next() % 4 {
                    0 => b[at] = (next() % 256) as u8,
                    1 => {
                        b.remove(at);
                    }
                    2 => b.insert(at, b"{}[]\",:0"[(next() % 8) as usize]),
                    _ => b.truncate(at),
                }
            }
            b
        })
        .collect()
}

fn assert_refusal(status: u16, content_type: &str, body: &str, what: &str) {
    assert!(status < 500, "{what}: got {status} {body}");
    if status >= 400 {
        // A refusal never echoes input (an accepted resource is returned as stored).
        assert!(
            !body.contains("ZZSECRET"),
            "{what}: refusal echoes input: {body}"
        );
        let v: Value = serde_json::from_str(body)
            .unwrap_or_else(|_| panic!("{what}: error body is not JSON: {body}"));
        let has_code =
            v["code"].is_string() || v["issue"][0]["details"]["coding"][0]["code"].is_string();
        assert!(
            has_code,
            "{what}: error without a code: {body} ({content_type})"
        );
    }
}

#[actix_web::test]
async fn broken_bodies_get_coded_refusals_and_never_leak() {
    let logs = captured_logs();
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let token = app.emr("1311234567").await;
    let valid = json!({"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11311234567", "value": "R-1"}],
        "name": [{"text": SECRET}], "gender": "male", "birthDate": "1970-01-01"})
    .to_string()
    .into_bytes();
    let mut bodies = broken_bodies();
    bodies.extend(mutations(&valid, 300));
    let targets: [(&str, &str); 4] = [
        ("POST", "/fhir/Patient"),
        ("PUT", "/fhir/Patient/r1"),
        ("POST", "/fhir"),
        ("POST", "/admin/clients"),
    ];
    for (i, body) in bodies.iter().enumerate() {
        for (method, path) in targets {
            let auth = if path.starts_with("/admin") {
                ADMIN_TOKEN
            } else {
                token.as_str()
            };
            let request = match method {
                "PUT" => app.http.put(app.url(path)),
                _ => app.http.post(app.url(path)),
            };
            let resp = request
                .bearer_auth(auth)
                .header("Content-Type", "application/fhir+json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get("content-type")
                .map(|h| h.to_str().unwrap_or("").to_owned())
                .unwrap_or_default();
            let text = resp.text().await.unwrap();
            assert_refusal(status, &ct, &text, &format!("body {i} {method} {path}"));
        }
    }
    // Oversized bodies are refused before they are read.
    let big = vec![b' '; 40 * 1024 * 1024];
    let resp = app
        .http
        .post(app.url("/fhir/Patient"))
        .bearer_auth(&token)
        .header("Content-Type", "application/fhir+json")
        .body(big)
        .send()
        .await;
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
    }
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        !logged.contains("ZZSECRET"),
        "a log line carries an input value"
    );
}
