//! What feature groups, feature views and training datasets share as
//! objects kept in numbered versions: `name [VERSION n]` picks the named
//! version or the latest, `DROP … name` without a version drops them all,
//! and a missing one is 42704 — or a NOTICE under `IF EXISTS`.

use pgwire::api::results::Tag;

use super::Outcome;
use crate::error::{Error, Result};
use crate::sql::QualifiedName;

/// `name [VERSION n]` of one kind of versioned object.
pub struct VersionedName<'a> {
    /// The object kind as messages name it ("feature group").
    pub kind: &'static str,
    pub name: &'a QualifiedName,
    pub version: Option<u64>,
}

/// What `DROP … [IF EXISTS] name [VERSION n]` acts on.
pub enum Dropping<T> {
    Versions(Vec<T>),
    /// Nothing matched under `IF EXISTS`: the statement's outcome.
    Skipped(Outcome),
}

impl VersionedName<'_> {
    fn described(&self) -> String {
        match self.version {
            Some(v) => format!("{} version {v}", self.name),
            None => self.name.to_string(),
        }
    }

    pub fn undefined(&self) -> Error {
        Error::UndefinedObject {
            kind: self.kind,
            name: self.described(),
        }
    }

    /// The named version of `versions` (oldest first), or the latest.
    pub fn pick<T>(&self, versions: Vec<T>, version_of: impl Fn(&T) -> u64) -> Option<T> {
        match self.version {
            Some(v) => versions.into_iter().find(|d| version_of(d) == v),
            None => versions.into_iter().last(),
        }
    }

    /// [`Self::pick`], or 42704 naming what is missing.
    pub fn find<T>(&self, versions: Vec<T>, version_of: impl Fn(&T) -> u64) -> Result<T> {
        self.pick(versions, version_of)
            .ok_or_else(|| self.undefined())
    }

    /// The versions a DROP removes: the named one, or all of them.
    pub fn to_drop<T>(
        &self,
        versions: Vec<T>,
        version_of: impl Fn(&T) -> u64,
        if_exists: bool,
        tag: &str,
    ) -> Result<Dropping<T>> {
        let targets: Vec<T> = versions
            .into_iter()
            .filter(|d| self.version.is_none_or(|v| version_of(d) == v))
            .collect();
        if !targets.is_empty() {
            return Ok(Dropping::Versions(targets));
        }
        if if_exists {
            return Ok(Dropping::Skipped(Outcome {
                tag: Tag::new(tag),
                notices: vec![format!(
                    "{} \"{}\" does not exist, skipping",
                    self.kind,
                    self.described()
                )],
            }));
        }
        Err(self.undefined())
    }
}

/// For each object, whether no later version of the same name exists.
pub fn latest_flags<'a, T>(
    objects: &'a [T],
    identity: impl Fn(&'a T) -> (&'a String, &'a String, u64),
) -> Vec<bool> {
    objects
        .iter()
        .map(|object| {
            let (schema, name, version) = identity(object);
            !objects.iter().any(|other| {
                let (s, n, v) = identity(other);
                s == schema && n == name && v > version
            })
        })
        .collect()
}
