//! `POST /hl7v2`: HL7 v2 messages in, acknowledgements out.

use actix_web::{HttpResponse, post, web};

use super::extract::{Authenticated, RawBody};
use super::problem::HttpProblem;
use crate::app::AppState;
use crate::codec::hl7v2::Charset;
use crate::error::{ErrorCode, Problem};
use crate::service::hl7;

/// The MIME charset name of an HL7 character set.
pub fn mime_charset(charset: Charset) -> &'static str {
    match charset {
        Charset::Ascii => "us-ascii",
        Charset::Iso2022Jp => "iso-2022-jp",
        Charset::ShiftJis => "shift_jis",
        Charset::Utf8 => "utf-8",
    }
}

/// One HL7 v2 message or a batch (ER7; the character set comes from MSH-18). The answer is
/// the acknowledgement of each message (MSA AA / AE / AR with ERR locations) in the
/// message's own character set, sent after the message was durably stored. When the
/// database is unavailable nothing is stored: 503 with `Retry-After`, and every message
/// answered AR with its own MSH-10 in MSA-2. An empty body holds no message to answer:
/// 400 `request.empty_body`.
#[utoipa::path(tag = "hl7v2", request_body(content = String, content_type = "x-application/hl7-v2+er7"),
    responses((status = 200, description = "the HL7 acknowledgement(s)", content_type = "x-application/hl7-v2+er7"),
        (status = 400, description = "empty body (`request.empty_body`)"),
        (status = 503, description = "database unavailable: every message answered AR, none stored", content_type = "x-application/hl7-v2+er7")),
    security(("bearer" = [])))]
#[post("/hl7v2")]
pub async fn post_hl7v2(
    app: web::Data<AppState>,
    Authenticated(ctx): Authenticated,
    RawBody(body): RawBody,
) -> Result<HttpResponse, HttpProblem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(HttpProblem::json(Problem::new(
            ErrorCode::EmptyBody,
            "body",
            "the body holds no HL7 v2 message",
        )));
    }
    let reply = hl7::receive(&app, &ctx, &body)
        .await
        .map_err(HttpProblem::json)?;
    let mut response = if reply.stored {
        HttpResponse::Ok()
    } else {
        let mut r = HttpResponse::ServiceUnavailable();
        r.insert_header(("Retry-After", "5"));
        r
    };
    Ok(response
        .content_type(format!(
            "x-application/hl7-v2+er7; charset={}",
            mime_charset(reply.charset)
        ))
        .body(reply.bytes))
}
