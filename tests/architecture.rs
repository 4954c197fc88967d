//! The floors of `src/lib.rs` hold: a module imports only from floors below
//! its own, no two files import each other in a ring, and no file grows past
//! the size at which it should become a folder.
//!
//! The floors are read from the table at the top of `src/lib.rs`, so the map
//! a newcomer reads and the rule this test enforces are one text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A file past this many lines becomes a folder whose `mod.rs` only
/// declares and re-exports.
const MAX_LINES: usize = 800;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Module name → floor, from the rows `//! | <floor> | `a`, `b` | … |`.
fn floors(lib_rs: &str) -> BTreeMap<String, usize> {
    let mut floors = BTreeMap::new();
    for line in lib_rs.lines() {
        let Some(row) = line.strip_prefix("//! |") else {
            continue;
        };
        let mut cells = row.split('|');
        let Some(Ok(floor)) = cells.next().map(|c| c.trim().parse::<usize>()) else {
            continue;
        };
        let modules = cells.next().unwrap_or_default();
        for name in modules.split('`').skip(1).step_by(2) {
            floors.insert(name.to_string(), floor);
        }
    }
    floors
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path below the crate root: `src/online/codec.rs` →
/// `["online", "codec"]`, `src/online/mod.rs` → `["online"]`.
fn module_path(root: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(root).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

/// Code without comments and string literals, so that prose such as
/// "see crate::database" does not count as an import.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut previous = ' ';
                for c in chars.by_ref() {
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            // A char literal such as '"' would otherwise open a string.
            '\'' => {
                let rest: String = chars.clone().take(12).collect();
                if rest.starts_with('\\') {
                    let skip = rest[2..].find('\'').map_or(0, |i| i + 3);
                    for _ in 0..skip {
                        chars.next();
                    }
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.next();
                    chars.next();
                }
                out.push('\'');
            }
            other => out.push(other),
        }
    }
    out
}

/// Every path a file names from the crate root (`crate::a::b`, also inside
/// `use crate::{a::b, c}` groups) or relative to itself (`super::x`), as
/// module paths.
fn imported_paths(code: &str, own: &[String], is_mod_file: bool) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !ident(bytes[i - 1]);
        let (prefix, base): (&str, Vec<String>) = if starts_word && code[i..].starts_with("crate::")
        {
            ("crate::", Vec::new())
        } else if starts_word && code[i..].starts_with("super::") {
            // In `a/mod.rs` super is `a`'s parent; in `a/b.rs` it is `a`.
            let mut base = own.to_vec();
            if !is_mod_file || !base.is_empty() {
                base.pop();
            }
            let mut j = i + "super::".len();
            while code[j..].starts_with("super::") {
                base.pop();
                j += "super::".len();
            }
            let consumed = j - i;
            i += consumed - "super::".len();
            ("super::", base)
        } else {
            i += 1;
            continue;
        };
        i += prefix.len();
        for tail in path_tails(&code[i..]) {
            let mut path = base.clone();
            path.extend(tail);
            paths.push(path);
        }
    }
    paths
}

/// The paths after `crate::` or `super::`: `a::b::C` gives `[a, b, C]`;
/// `{a::b, c}` gives `[a, b]` and `[c]`.
fn path_tails(rest: &str) -> Vec<Vec<String>> {
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 1;
        let mut end = group.len();
        for (k, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let mut tails = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        let inner = &group[..end];
        for (k, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    tails.extend(path_tails(&inner[start..k]));
                    start = k + 1;
                }
                _ => {}
            }
        }
        tails.extend(path_tails(&inner[start..]));
        return tails;
    }
    let mut tail = Vec::new();
    let mut rest = rest;
    loop {
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        tail.push(rest[..len].to_string());
        rest = &rest[len..];
        if let Some(next) = rest.strip_prefix("::") {
            if next.starts_with('{') {
                let prefix = tail.clone();
                return path_tails(next)
                    .into_iter()
                    .map(|t| prefix.iter().cloned().chain(t).collect())
                    .collect();
            }
            rest = next;
        } else {
            break;
        }
    }
    if tail.is_empty() {
        Vec::new()
    } else {
        vec![tail]
    }
}

struct Source {
    /// Module path → file.
    files: BTreeMap<Vec<String>, PathBuf>,
    /// File module path → the file module paths it imports.
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

impl Source {
    fn read(root: &Path) -> Source {
        let mut paths = Vec::new();
        rust_files(root, &mut paths);
        let files: BTreeMap<Vec<String>, PathBuf> = paths
            .into_iter()
            .map(|p| (module_path(root, &p), p))
            .collect();
        let mut edges = BTreeMap::new();
        for (module, file) in &files {
            if module.is_empty() {
                continue;
            }
            let code = code_of(&std::fs::read_to_string(file).unwrap());
            let is_mod_file = file.file_name().is_some_and(|n| n == "mod.rs");
            let targets: BTreeSet<Vec<String>> = imported_paths(&code, module, is_mod_file)
                .into_iter()
                .filter_map(|path| {
                    // The longest prefix of the path that is a file.
                    (1..=path.len())
                        .rev()
                        .map(|n| path[..n].to_vec())
                        .find(|prefix| files.contains_key(prefix))
                })
                .filter(|target| target != module)
                .collect();
            edges.insert(module.clone(), targets);
        }
        Source { files, edges }
    }
}

fn is_ancestor(ancestor: &[String], of: &[String]) -> bool {
    ancestor.len() < of.len() && of.starts_with(ancestor)
}

fn upward_imports(source: &Source, floors: &BTreeMap<String, usize>) -> Vec<String> {
    let mut found = Vec::new();
    for (from, targets) in &source.edges {
        let Some(from_floor) = floors.get(&from[0]) else {
            continue;
        };
        for to in targets {
            if to[0] == from[0] {
                continue;
            }
            match floors.get(&to[0]) {
                Some(to_floor) if to_floor < from_floor => {}
                Some(to_floor) => found.push(format!(
                    "{} (floor {from_floor}) imports {} (floor {to_floor})",
                    from.join("::"),
                    to.join("::")
                )),
                None => found.push(format!(
                    "{} imports {}, which has no floor in src/lib.rs",
                    from.join("::"),
                    to.join("::")
                )),
            }
        }
    }
    found
}

/// Rings of files importing each other. A file naming its own parent
/// module (`super::Thing`, or a `mod.rs` re-exporting its children) is
/// how Rust nests modules, not a ring.
fn import_cycles(source: &Source) -> Vec<Vec<String>> {
    let graph: BTreeMap<&Vec<String>, Vec<&Vec<String>>> = source
        .edges
        .iter()
        .map(|(from, targets)| {
            let kept = targets
                .iter()
                .filter(|to| !is_ancestor(to, from) && !is_ancestor(from, to))
                .collect();
            (from, kept)
        })
        .collect();
    // Tarjan's strongly connected components.
    struct State<'a> {
        graph: &'a BTreeMap<&'a Vec<String>, Vec<&'a Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on_stack: BTreeSet<&'a Vec<String>>,
        components: Vec<Vec<String>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a Vec<String>) {
        let n = state.index.len();
        state.index.insert(node, n);
        state.low.insert(node, n);
        state.stack.push(node);
        state.on_stack.insert(node);
        for &next in state.graph.get(node).into_iter().flatten() {
            if !state.index.contains_key(next) {
                visit(state, next);
                let low = state.low[node].min(state.low[next]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(next) {
                let low = state.low[node].min(state.index[next]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            loop {
                let member = state.stack.pop().unwrap();
                state.on_stack.remove(member);
                component.push(member.join("::"));
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.components.push(component);
            }
        }
    }
    let mut state = State {
        graph: &graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(*node) {
            visit(&mut state, node);
        }
    }
    state.components
}

fn oversized(source: &Source) -> Vec<String> {
    source
        .files
        .values()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect()
}

fn lib_floors() -> BTreeMap<String, usize> {
    floors(&std::fs::read_to_string(src_dir().join("lib.rs")).unwrap())
}

#[test]
fn every_module_has_a_floor() {
    let floors = lib_floors();
    assert!(!floors.is_empty(), "src/lib.rs has no floor table");
    let source = Source::read(&src_dir());
    let missing: BTreeSet<&String> = source
        .files
        .keys()
        .filter_map(|m| m.first())
        .filter(|m| !floors.contains_key(*m))
        .collect();
    assert!(missing.is_empty(), "modules without a floor: {missing:?}");
}

#[test]
fn imports_go_down_the_floors() {
    let found = upward_imports(&Source::read(&src_dir()), &lib_floors());
    assert!(
        found.is_empty(),
        "imports that do not go down:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_files_import_each_other_in_a_ring() {
    let cycles = import_cycles(&Source::read(&src_dir()));
    assert!(cycles.is_empty(), "import cycles: {cycles:?}");
}

#[test]
fn no_file_is_past_the_size_limit() {
    let found = oversized(&Source::read(&src_dir()));
    assert!(
        found.is_empty(),
        "files past {MAX_LINES} lines:\n{}",
        found.join("\n")
    );
}

/// The checks above would catch what they name: a copy of `src/` with an
/// upward import planted in the online store, a ring planted between two
/// files, and a long file.
#[test]
fn the_checks_catch_planted_violations() {
    let planted = tempfile::tempdir().unwrap();
    let copy = planted.path().join("src");
    copy_dir(&src_dir(), &copy);
    let online = copy.join("online").join("mod.rs");
    let text = std::fs::read_to_string(&online).unwrap();
    std::fs::write(&online, format!("use crate::database::Database;\n{text}")).unwrap();
    let floors = lib_floors();
    let source = Source::read(&copy);
    let found = upward_imports(&source, &floors);
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("online ") && f.contains("imports database")),
        "a planted `use crate::database` in src/online was not caught: {found:?}"
    );

    let codec = copy.join("online").join("codec.rs");
    let text = std::fs::read_to_string(&codec).unwrap();
    std::fs::write(&codec, format!("use super::provider::Unused;\n{text}")).unwrap();
    let provider = copy.join("online").join("provider.rs");
    let text = std::fs::read_to_string(&provider).unwrap();
    std::fs::write(&provider, format!("use super::codec::Unused;\n{text}")).unwrap();
    let cycles = import_cycles(&Source::read(&copy));
    assert!(
        cycles.contains(&vec![
            "online::codec".to_string(),
            "online::provider".to_string()
        ]),
        "a planted ring between online::codec and online::provider was not caught: {cycles:?}"
    );

    std::fs::write(copy.join("config.rs"), "\n".repeat(MAX_LINES + 1)).unwrap();
    assert!(
        oversized(&Source::read(&copy))
            .iter()
            .any(|f| f.contains("config.rs")),
        "a long file was not caught"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
