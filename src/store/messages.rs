//! HL7 v2 messages and SS-MIX2 files as received, mapped or not, and their supersession.

use super::{StoreError, Tx};
use crate::args;

/// A message to keep.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub input_id: i64,
    pub client_id: i64,
    pub scope: &'a str,
    pub control_id: Option<&'a str>,
    pub sending_app: Option<&'a str>,
    pub sending_facility: Option<&'a str>,
    pub message_type: Option<&'a str>,
    /// The SS-MIX2 file name without its condition flag.
    pub storage_name: Option<&'a str>,
    pub data_type: Option<&'a str>,
    pub patient_pk: Option<i64>,
    /// `mapped`, `not_mapped`, `error`, `invalidation`.
    pub status: &'a str,
    pub received_at: i64,
    pub raw: &'a [u8],
}

/// A kept message that a later file can supersede.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub pk: i64,
    pub input_id: i64,
    pub status: String,
}

impl Tx<'_> {
    pub fn insert_message(&mut self, m: &NewMessage<'_>) -> Result<i64, StoreError> {
        self.conn().insert_returning(
            "INSERT INTO messages (input_id, client_id, scope, control_id, sending_app, sending_facility,
                message_type, storage_name, data_type, patient_pk, status, received_at, raw)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING pk",
            args![
                m.input_id,
                m.client_id,
                m.scope,
                m.control_id,
                m.sending_app,
                m.sending_facility,
                m.message_type,
                m.storage_name,
                m.data_type,
                m.patient_pk,
                m.status,
                m.received_at,
                m.raw
            ],
        )
    }

    /// The current (not superseded) messages kept under an SS-MIX2 file name.
    pub fn current_messages(
        &mut self,
        scope: &str,
        storage_name: &str,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.conn().query(
            "SELECT pk, input_id, status FROM messages
             WHERE scope = ? AND storage_name = ? AND superseded_at IS NULL AND status <> 'invalidation'",
            args![scope, storage_name],
            |r| Ok(StoredMessage { pk: r.i64(0)?, input_id: r.i64(1)?, status: r.string(2)? }),
        )
    }

    /// Marks a message superseded and removes the canonical records it produced.
    pub fn supersede_message(&mut self, message: &StoredMessage) -> Result<(), StoreError> {
        let now = self.now();
        self.conn().execute(
            "UPDATE messages SET superseded_at = ? WHERE pk = ?",
            args![now, message.pk],
        )?;
        for table in [
            "medication_records",
            "lab_results",
            "conditions",
            "allergies",
            "coverages",
        ] {
            let sql = format!("DELETE FROM {table} WHERE input_id = ?");
            self.conn().execute(&sql, args![message.input_id])?;
        }
        Ok(())
    }

    /// Messages kept, by status (for reports and tests).
    pub fn message_counts(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        self.conn().query(
            "SELECT status, COUNT(*) FROM messages GROUP BY status ORDER BY status",
            &[],
            |r| Ok((r.string(0)?, r.i64(1)?)),
        )
    }
}
