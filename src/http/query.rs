//! Query strings of the JSON API: parsed into typed structs that refuse unknown parameters.

use actix_web::HttpRequest;
use serde::de::DeserializeOwned;

use crate::error::{ErrorCode, Problem};

/// Parses the query string; an unknown parameter or a bad value is a 400.
pub fn parse<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, Problem> {
    serde_urlencoded::from_str::<T>(req.query_string()).map_err(|e| {
        let text = e.to_string();
        if text.starts_with("unknown field") {
            Problem::new(
                ErrorCode::UnknownParameter,
                "query",
                "a query parameter this endpoint does not support",
            )
        } else {
            Problem::new(
                ErrorCode::InvalidParameter,
                "query",
                "a query parameter has an invalid value",
            )
        }
    })
}
