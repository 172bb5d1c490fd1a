-- The insurer of each fed lab result, so that a pull walks only its own insurer's part of
-- the feed (index on insurer, then commit order) instead of the whole feed. Set when the
-- result is numbered into the feed and whenever its patient is linked to a person; the
-- permission filter still checks the person's insurer. Keep in step with
-- postgres/0004_feed_insurer.sql.
ALTER TABLE lab_results ADD COLUMN feed_insurer TEXT;
UPDATE lab_results SET feed_insurer = (
    SELECT p.insurer FROM persons p
    WHERE p.pk = COALESCE(lab_results.person_pk,
                          (SELECT pt.person_pk FROM patients pt WHERE pt.pk = lab_results.patient_pk)))
WHERE feed_seq IS NOT NULL;
CREATE INDEX lab_results_insurer_feed ON lab_results (feed_insurer, feed_seq);
