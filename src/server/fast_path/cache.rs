//! Simple-protocol lookups remembered by their text, as prepared ones are
//! by their statement: recognising a lookup parses and resolves it, which
//! costs more than the LMDB read it leads to. An entry holds the online
//! catalog generation it was recognised at and is recognised again once
//! that changed; texts that are not lookups are remembered too, so a query
//! that merely mentions `online.` is not parsed twice by the fast path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Lookup, recognize_on};
use crate::database::Database;
use crate::error::Result;

/// Distinct texts kept before the cache starts over: texts with literal
/// keys are as many as the keys asked for, so the cache must not grow with
/// them.
const MAX_ENTRIES: usize = 4096;

struct Entry {
    generation: u64,
    lookup: Option<Arc<Lookup>>,
}

#[derive(Default)]
pub struct LookupCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl LookupCache {
    /// The lookup `sql` is, recognised at most once per online catalog
    /// generation; `None` when it is not a lookup.
    pub fn recognize(&self, database: &Database, sql: &str) -> Result<Option<Arc<Lookup>>> {
        let generation = database.online_generation();
        if let Some(entry) = self.lock().get(sql)
            && entry.generation == generation
        {
            return Ok(entry.lookup.clone());
        }
        let lookup = recognize_on(database, sql, &[])?.map(Arc::new);
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            sql.to_string(),
            Entry {
                generation,
                lookup: lookup.clone(),
            },
        );
        Ok(lookup)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
