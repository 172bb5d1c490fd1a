//! The OpenAPI document of the non-FHIR endpoints, collected from the handlers themselves
//! (utoipa-actix-web), served at `GET /openapi.json`. FHIR endpoints are described by
//! `GET /fhir/metadata` instead.

use actix_web::{HttpResponse, web};
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// Fills in the document's header and security scheme.
pub fn finish(mut api: OpenApi) -> OpenApi {
    api.info.title = "kakari".into();
    api.info.version = env!("CARGO_PKG_VERSION").into();
    api.info.description = Some(
        "Registered family doctor (かかりつけ医) gateway: non-FHIR endpoints. FHIR R4 lives under /fhir (see /fhir/metadata).".into(),
    );
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    api
}

pub async fn serve(api: web::Data<OpenApi>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(api.to_json().unwrap_or_else(|_| "{}".into()))
}
