//! fstore's own statements. Each prints back as SQL that parses to itself.

use std::fmt;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, ColumnDef, Expr, Ident, ObjectName, Query, SqlOption, Statement,
};

/// A statement of fstore's dialect (everything else is DataFusion SQL).
#[derive(Debug, Clone, PartialEq)]
pub enum FsStatement {
    CreateFeatureGroup(Box<CreateFeatureGroup>),
    /// `COPY name [(columns)] FROM STDIN [options]` (a sqlparser `Copy`).
    CopyFromStdin(Box<Statement>),
    /// `COPY name [(columns)] | (query) TO STDOUT [options]` (a sqlparser `Copy`).
    CopyToStdout(Box<Statement>),
    /// `SHOW FEATURE GROUPS`
    ShowFeatureGroups,
    /// `DESCRIBE FEATURE GROUP name [VERSION n]`
    DescribeFeatureGroup {
        name: ObjectName,
        version: Option<u64>,
    },
    /// `DROP FEATURE GROUP [IF EXISTS] name [VERSION n]`
    DropFeatureGroup {
        if_exists: bool,
        name: ObjectName,
        version: Option<u64>,
    },
    /// `ALTER FEATURE GROUP name [VERSION n] REBUILD ONLINE`
    RebuildOnline {
        name: ObjectName,
        version: Option<u64>,
    },
    /// `COMMENT ON FEATURE GROUP name [VERSION n] IS 'text' | NULL`
    CommentOnFeatureGroup {
        name: ObjectName,
        version: Option<u64>,
        comment: Option<String>,
    },
    CreateFeatureView(Box<CreateFeatureView>),
    CreateTrainingDataset(Box<CreateTrainingDataset>),
    /// `SHOW FEATURE VIEWS` / `SHOW TRAINING DATASETS`
    Show(ObjectKind),
    /// `DESCRIBE FEATURE VIEW | TRAINING DATASET name [VERSION n]`
    Describe {
        kind: ObjectKind,
        name: ObjectName,
        version: Option<u64>,
    },
    /// `DROP FEATURE VIEW | TRAINING DATASET [IF EXISTS] name [VERSION n]`
    Drop {
        kind: ObjectKind,
        if_exists: bool,
        name: ObjectName,
        version: Option<u64>,
    },
}

fn version_suffix(version: &Option<u64>) -> String {
    version.map(|v| format!(" VERSION {v}")).unwrap_or_default()
}

impl fmt::Display for FsStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsStatement::CreateFeatureGroup(s) => s.fmt(f),
            FsStatement::CopyFromStdin(s) | FsStatement::CopyToStdout(s) => s.fmt(f),
            FsStatement::ShowFeatureGroups => write!(f, "SHOW FEATURE GROUPS"),
            FsStatement::DescribeFeatureGroup { name, version } => {
                write!(
                    f,
                    "DESCRIBE FEATURE GROUP {name}{}",
                    version_suffix(version)
                )
            }
            FsStatement::DropFeatureGroup {
                if_exists,
                name,
                version,
            } => write!(
                f,
                "DROP FEATURE GROUP {}{name}{}",
                if *if_exists { "IF EXISTS " } else { "" },
                version_suffix(version)
            ),
            FsStatement::RebuildOnline { name, version } => write!(
                f,
                "ALTER FEATURE GROUP {name}{} REBUILD ONLINE",
                version_suffix(version)
            ),
            FsStatement::CommentOnFeatureGroup {
                name,
                version,
                comment,
            } => write!(
                f,
                "COMMENT ON FEATURE GROUP {name}{} IS {}",
                version_suffix(version),
                comment
                    .as_deref()
                    .map(quote_string)
                    .unwrap_or_else(|| "NULL".into())
            ),
            FsStatement::CreateFeatureView(s) => s.fmt(f),
            FsStatement::CreateTrainingDataset(s) => s.fmt(f),
            FsStatement::Show(kind) => write!(f, "SHOW {}", kind.plural_keywords()),
            FsStatement::Describe {
                kind,
                name,
                version,
            } => write!(
                f,
                "DESCRIBE {} {name}{}",
                kind.keywords(),
                version_suffix(version)
            ),
            FsStatement::Drop {
                kind,
                if_exists,
                name,
                version,
            } => write!(
                f,
                "DROP {} {}{name}{}",
                kind.keywords(),
                if *if_exists { "IF EXISTS " } else { "" },
                version_suffix(version)
            ),
        }
    }
}

/// Where a feature group's rows are served from, besides the offline store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    Online,
    Offline,
}

/// ```sql
/// CREATE FEATURE GROUP [IF NOT EXISTS] name [VERSION n] (
///     column type [NOT NULL], …, PRIMARY KEY (cols), [EVENT TIME (col)]
/// ) [ONLINE | OFFLINE] [TTL INTERVAL '…'] [COMMENT '…'] [WITH (k = 'v', …)]
/// [AS query]
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CreateFeatureGroup {
    pub if_not_exists: bool,
    pub name: ObjectName,
    pub version: Option<u64>,
    pub columns: Vec<ColumnDef>,
    pub primary_key: Vec<Ident>,
    pub event_time: Option<Ident>,
    pub serving: Option<Serving>,
    pub ttl: Option<Expr>,
    pub comment: Option<String>,
    pub options: Vec<SqlOption>,
    pub query: Option<Box<Query>>,
}

pub(super) fn comma_separated<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|item| item.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn quote_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl fmt::Display for CreateFeatureGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE FEATURE GROUP ")?;
        if self.if_not_exists {
            write!(f, "IF NOT EXISTS ")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(version) = self.version {
            write!(f, " VERSION {version}")?;
        }
        let has_body =
            !self.columns.is_empty() || !self.primary_key.is_empty() || self.event_time.is_some();
        if has_body {
            let mut parts: Vec<String> = self.columns.iter().map(|c| c.to_string()).collect();
            if !self.primary_key.is_empty() {
                parts.push(format!(
                    "PRIMARY KEY ({})",
                    comma_separated(&self.primary_key)
                ));
            }
            if let Some(event_time) = &self.event_time {
                parts.push(format!("EVENT TIME ({event_time})"));
            }
            write!(f, " ({})", parts.join(", "))?;
        }
        match self.serving {
            Some(Serving::Online) => write!(f, " ONLINE")?,
            Some(Serving::Offline) => write!(f, " OFFLINE")?,
            None => {}
        }
        if let Some(ttl) = &self.ttl {
            write!(f, " TTL {ttl}")?;
        }
        if let Some(comment) = &self.comment {
            write!(f, " COMMENT {}", quote_string(comment))?;
        }
        if !self.options.is_empty() {
            write!(f, " WITH ({})", comma_separated(&self.options))?;
        }
        if let Some(query) = &self.query {
            write!(f, " AS {query}")?;
        }
        Ok(())
    }
}

/// The conjuncts of `expr` (`a AND (b AND c)` → `a, b, c`), parentheses
/// removed.
pub fn conjuncts(
    expr: &datafusion::sql::sqlparser::ast::Expr,
) -> Vec<&datafusion::sql::sqlparser::ast::Expr> {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr};
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let mut out = conjuncts(left);
            out.extend(conjuncts(right));
            out
        }
        Expr::Nested(inner) => conjuncts(inner),
        other => vec![other],
    }
}

/// The catalog objects these statements manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    FeatureView,
    TrainingDataset,
}

impl ObjectKind {
    pub fn keywords(self) -> &'static str {
        match self {
            ObjectKind::FeatureView => "FEATURE VIEW",
            ObjectKind::TrainingDataset => "TRAINING DATASET",
        }
    }

    pub fn plural_keywords(self) -> &'static str {
        match self {
            ObjectKind::FeatureView => "FEATURE VIEWS",
            ObjectKind::TrainingDataset => "TRAINING DATASETS",
        }
    }

    /// As Postgres names object kinds in messages.
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::FeatureView => "feature view",
            ObjectKind::TrainingDataset => "training dataset",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateFeatureView {
    pub if_not_exists: bool,
    pub name: ObjectName,
    pub version: Option<u64>,
    pub comment: Option<String>,
    pub query: Box<Query>,
    pub labels: Vec<Ident>,
}

impl fmt::Display for CreateFeatureView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE FEATURE VIEW ")?;
        if self.if_not_exists {
            write!(f, "IF NOT EXISTS ")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(version) = self.version {
            write!(f, " VERSION {version}")?;
        }
        if let Some(comment) = &self.comment {
            write!(f, " COMMENT {}", quote_string(comment))?;
        }
        write!(f, " AS {}", self.query)?;
        if !self.labels.is_empty() {
            write!(f, " LABELS ({})", comma_separated(&self.labels))?;
        }
        Ok(())
    }
}

/// How a training dataset's rows are assigned to splits.
#[derive(Debug, Clone, PartialEq)]
pub enum Split {
    /// Each row lands in a split with the given probability, decided by a
    /// hash of the row's position and the seed (reproducible).
    Random {
        fractions: Vec<(Ident, f64)>,
        seed: u64,
    },
    /// Each row lands in the first split whose condition on the view's
    /// event time holds.
    ByTime {
        parts: Vec<(Ident, BinaryOperator, Expr)>,
    },
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Split::Random { fractions, seed } => {
                let parts: Vec<String> = fractions
                    .iter()
                    .map(|(name, fraction)| format!("{name} {fraction}"))
                    .collect();
                write!(f, "SPLIT RANDOM ({}) SEED {seed}", parts.join(", "))
            }
            Split::ByTime { parts } => {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|(name, op, value)| format!("{name} {op} {value}"))
                    .collect();
                write!(f, "SPLIT BY TIME ({})", parts.join(", "))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateTrainingDataset {
    pub if_not_exists: bool,
    pub name: ObjectName,
    pub version: Option<u64>,
    pub view: ObjectName,
    pub view_version: Option<u64>,
    pub filter: Option<Expr>,
    pub split: Option<Split>,
    pub comment: Option<String>,
}

impl fmt::Display for CreateTrainingDataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE TRAINING DATASET ")?;
        if self.if_not_exists {
            write!(f, "IF NOT EXISTS ")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(version) = self.version {
            write!(f, " VERSION {version}")?;
        }
        write!(f, " FROM {}", self.view)?;
        if let Some(version) = self.view_version {
            write!(f, " VERSION {version}")?;
        }
        if let Some(filter) = &self.filter {
            write!(f, " WHERE {filter}")?;
        }
        if let Some(split) = &self.split {
            write!(f, " {split}")?;
        }
        if let Some(comment) = &self.comment {
            write!(f, " COMMENT {}", quote_string(comment))?;
        }
        Ok(())
    }
}
