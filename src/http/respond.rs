//! Building responses: FHIR resources and bundles with their headers, and JSON.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::service::fhir::{FhirBody, FhirResponse};

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// A JSON value as response bytes (written straight into a buffer, without the
/// `fmt::Display` detour of `to_string`).
pub fn json_bytes(value: &serde_json::Value) -> Vec<u8> {
    // Serialising a `Value` into memory cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// `Last-Modified` in the HTTP date form.
fn http_date(epoch_millis: i64) -> Option<String> {
    let at = OffsetDateTime::from_unix_timestamp(epoch_millis.div_euclid(1000)).ok()?;
    let text = at.format(&Rfc2822).ok()?;
    // RFC 2822 writes "+0000"; HTTP dates say "GMT".
    Some(text.replace("+0000", "GMT"))
}

/// A FHIR response with `Location`/`Content-Location`, `ETag` and `Last-Modified`.
pub fn fhir(resp: FhirResponse) -> HttpResponse {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::OK);
    let mut builder = HttpResponse::build(status);
    if let Some(location) = &resp.location {
        let header = if resp.status == 201 {
            "Location"
        } else {
            "Content-Location"
        };
        builder.insert_header((header, location.as_str()));
    }
    if let Some(version) = resp.version {
        builder.insert_header(("ETag", format!("W/\"{version}\"")));
    }
    if let Some(date) = resp.last_modified.and_then(http_date) {
        builder.insert_header(("Last-Modified", date));
    }
    match resp.body {
        FhirBody::Text(text) => builder.content_type(FHIR_JSON).body(text),
        FhirBody::Json(value) => builder.content_type(FHIR_JSON).body(json_bytes(&value)),
        FhirBody::Empty => builder.finish(),
    }
}

/// A JSON response.
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(serde_json::to_string(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_use_gmt() {
        assert_eq!(
            http_date(784_111_777_000).as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
    }
}
