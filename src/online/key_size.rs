//! The online store's limit on key size, checked before anything is
//! committed: LMDB refuses a longer key inside its commit, after the offline
//! commit already happened.

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{Error, Limit, Result};

/// LMDB's largest key (its compiled-in `MDB_MAXKEYSIZE`), in bytes.
pub const MAX_KEY_BYTES: usize = 511;

/// Refuses a batch with a row whose encoded key would be longer than the
/// online store takes ([`MAX_KEY_BYTES`]): checked before the offline commit,
/// so that the online commit after it cannot fail on the data.
pub fn check_key_sizes(batch: &RecordBatch, key_columns: &[usize], group: &str) -> Result<()> {
    let fixed_width = key_columns.iter().all(|&c| {
        batch.column(c).data_type().primitive_width().is_some()
            || batch.column(c).data_type() == &DataType::Boolean
    });
    if fixed_width {
        return Ok(());
    }
    let mut key = Vec::with_capacity(64);
    for row in 0..batch.num_rows() {
        super::codec::encode_key_into(&mut key, batch, key_columns, row)?;
        if key.len() > MAX_KEY_BYTES {
            return Err(Error::LimitExceeded {
                limit: Limit::ProgramLimit,
                message: format!(
                    "primary key of {} bytes exceeds the online store's maximum of {MAX_KEY_BYTES} bytes for feature group \"{group}\"",
                    key.len()
                ),
            });
        }
    }
    Ok(())
}
