//! FHIR R4 JSON (JP Core).
