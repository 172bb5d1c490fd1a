-- Every canonical record served as FHIR (issue 8) (postgres). Keep in step with
-- sqlite/0009_records_as_fhir.sql.
--
-- Records that arrive as HL7 v2, SS-MIX2, UKE or 特定健診 are written as FHIR resources
-- too ('derived': read-only through /fhir, withdrawn with their input), and the canonical
-- records keep what the medication list needs (the amount supplied, refills, 頓用 doses).
ALTER TABLE resources ADD COLUMN derived BIGINT NOT NULL DEFAULT 0;
CREATE INDEX resources_derived_input ON resources (input_id) WHERE derived = 1;
ALTER TABLE medication_records ADD COLUMN quantity_value TEXT;
ALTER TABLE medication_records ADD COLUMN quantity_unit TEXT;
ALTER TABLE medication_records ADD COLUMN refills BIGINT;
ALTER TABLE medication_records ADD COLUMN as_needed_doses BIGINT;
ALTER TABLE medication_records ADD COLUMN usage_system TEXT;
