//! When the database cannot store (disk full, read-only), the gateway says so: `/readyz`
//! answers 503 so load balancers stop sending, and every HL7 message is answered AR with
//! its own MSH-10 in MSA-2 (HTTP 503 with `Retry-After`; MLLP an AR per frame), so a
//! sender knows exactly which messages to send again. Nothing is acknowledged.
//!
//! PostgreSQL is made to fail the way a full disk does (SQLSTATE 53100 `disk_full`, from a
//! trigger on the tables every write touches); SQLite by a trigger that aborts writes.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestApp, TestDb};

const CLINIC: &str = "1311234567";

fn message(control: &str) -> String {
    format!(
        "MSH|^~\\&|EMR|CLINIC|KAKARI|GW|20240402080000||ADT^A08^ADT_A01|{control}|P|2.5||||||UNICODE UTF-8\r\
         EVN||20240402080000\rPID|0001||P7001^^^^PI||試験^次郎||19700101|M\rPV1|0001|O\r"
    )
}

fn msa(bytes: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(bytes)
        .split(['\r', '\n'])
        .filter(|l| l.starts_with("MSA|"))
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f[1].to_owned(), f.get(2).copied().unwrap_or("").to_owned())
        })
        .collect()
}

/// Makes every write of the test's database fail from now on.
fn break_writes(db: &TestDb) {
    match db {
        TestDb::Postgres { schema, .. } => {
            let schema = schema.clone();
            std::thread::spawn(move || {
                let mut client = postgres::Client::connect(
                    &crate::support::postgres_base_url(),
                    postgres::NoTls,
                )
                .unwrap();
                client
                    .batch_execute(&format!(
                        "CREATE FUNCTION {schema}.full_disk() RETURNS trigger LANGUAGE plpgsql AS
                           $$ BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$;
                         CREATE TRIGGER full_inputs BEFORE INSERT OR UPDATE ON {schema}.inputs
                           FOR EACH ROW EXECUTE FUNCTION {schema}.full_disk();
                         CREATE TRIGGER full_probe BEFORE INSERT OR UPDATE ON {schema}.readiness_probe
                           FOR EACH ROW EXECUTE FUNCTION {schema}.full_disk();"
                    ))
                    .unwrap();
            })
            .join()
            .unwrap();
        }
        TestDb::Sqlite { url, .. } => {
            let path = url.trim_start_matches("sqlite://");
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch(
                "CREATE TRIGGER full_inputs BEFORE INSERT ON inputs BEGIN SELECT RAISE(ABORT, 'full'); END;
                 CREATE TRIGGER full_probe_i BEFORE INSERT ON readiness_probe BEGIN SELECT RAISE(ABORT, 'full'); END;
                 CREATE TRIGGER full_probe_u BEFORE UPDATE ON readiness_probe BEGIN SELECT RAISE(ABORT, 'full'); END;",
            )
            .unwrap();
        }
    }
}

crate::on_both_databases_async!(a_gateway_that_cannot_store_is_not_ready);

async fn a_gateway_that_cannot_store_is_not_ready(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    break_writes(app.db());
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(
        body["status"].as_str().unwrap().contains("cannot store"),
        "{body}"
    );
}

#[actix_rt::test]
async fn every_message_is_answered_ar_with_its_own_control_id_when_the_disk_is_full() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let token = app.emr(CLINIC).await;
    let address = app.start_mllp(CLINIC).await;
    break_writes(app.db());

    // HTTP: a batch of two; 503, Retry-After, one AR per message naming it.
    let batch = format!("{}{}", message("OUT-1"), message("OUT-2"));
    let resp = app
        .http
        .post(app.url("/hl7v2"))
        .bearer_auth(&token)
        .header("Content-Type", "x-application/hl7-v2+er7")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.headers().get("retry-after").is_some());
    let acks = msa(&resp.bytes().await.unwrap());
    assert_eq!(
        acks,
        [
            ("AR".to_owned(), "OUT-1".to_owned()),
            ("AR".to_owned(), "OUT-2".to_owned())
        ]
    );

    // MLLP: AR with MSA-2 the message's control id.
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut frame = vec![0x0b];
    frame.extend_from_slice(message("OUT-3").as_bytes());
    frame.extend_from_slice(&[0x1c, 0x0d]);
    stream.write_all(&frame).await.unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(&[0x1c, 0x0d]) {
        stream.read_exact(&mut byte).await.unwrap();
        reply.push(byte[0]);
    }
    assert_eq!(msa(&reply), [("AR".to_owned(), "OUT-3".to_owned())]);
    let counts = app
        .state
        .store
        .read(|tx| tx.message_counts())
        .await
        .unwrap();
    assert!(counts.is_empty(), "nothing stored: {counts:?}");
}
