//! The server's layers depend one way (see `server/src/lib.rs`): a module folder may name only
//! the folders of lower layers; inside a folder no two files name each other, even through
//! others; only `http` speaks the UI crate's service traits; each table is written by the layer
//! that owns it. Read from the source, so a new `use` that points up fails here.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // a panic is the test's failure report

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module folder and its layer; a folder may depend only on lower layers.
const LAYERS: &[(&str, u8)] = &[
    ("platform", 0),
    ("usage", 1),
    ("channels", 1),
    ("sources", 2),
    ("delivery", 2),
    ("notifications", 3),
    ("http", 4),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file names as `crate::<module>`.
fn named_modules(source: &str) -> BTreeSet<&str> {
    crate_paths(source)
        .iter()
        .filter_map(|path| path.first())
        .filter_map(|first| LAYERS.iter().map(|(name, _)| *name).find(|name| name == first))
        .collect()
}

fn violations(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (module, layer) in LAYERS {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        assert!(!files.is_empty(), "server/src/{module} has no Rust files");
        for file in files {
            let source = std::fs::read_to_string(&file).expect("readable source file");
            for named in named_modules(&source) {
                let other = LAYERS.iter().find(|(n, _)| *n == named).map(|(_, l)| *l).unwrap_or(0);
                if named != *module && other >= *layer {
                    found.push(format!("{} names crate::{named}", file.display()));
                }
            }
        }
    }
    found
}

#[test]
fn each_layer_names_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "dependencies pointing up or sideways:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_dependency_pointing_up_is_found() {
    let dir = std::env::temp_dir().join(format!("hn-layers-{}", std::process::id()));
    for (module, _) in LAYERS {
        std::fs::create_dir_all(dir.join(module)).unwrap();
        std::fs::write(dir.join(module).join("mod.rs"), "//! empty\n").unwrap();
    }
    std::fs::write(dir.join("usage").join("x.rs"), "use crate::notifications::render;\n").unwrap();
    std::fs::write(dir.join("channels").join("y.rs"), "use crate::usage::spending;\n").unwrap();
    let found = violations(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().any(|f| f.ends_with("x.rs names crate::notifications")));
    assert!(found.iter().any(|f| f.ends_with("y.rs names crate::usage")));
}

/// The file `crate::<segments…>` names, longest first: `a/b.rs` or `a/b/mod.rs` under `src`.
fn module_file(src: &Path, segments: &[&str]) -> Option<PathBuf> {
    (1..=segments.len()).rev().find_map(|n| {
        let base = segments[..n].iter().fold(src.to_path_buf(), |p, s| p.join(s));
        let file = base.with_extension("rs");
        if file.is_file() {
            return Some(file);
        }
        let module = base.join("mod.rs");
        module.is_file().then_some(module)
    })
}

/// The path segments after each `crate::` (with `{a, b::c}` groups expanded one level).
fn crate_paths(source: &str) -> Vec<Vec<&str>> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    for (at, _) in source.match_indices("crate::") {
        let mut rest = &source[at + "crate::".len()..];
        let mut segments = Vec::new();
        loop {
            let end = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
            if end > 0 {
                segments.push(&rest[..end]);
            }
            rest = &rest[end..];
            if let Some(next) = rest.strip_prefix("::") {
                if let Some(group) = next.strip_prefix('{') {
                    let close = group.find('}').unwrap_or(group.len());
                    for item in group[..close].split(',') {
                        let mut path = segments.clone();
                        path.extend(item.trim().split("::").map(str::trim).filter(|s| !s.is_empty()));
                        out.push(path);
                    }
                    segments.clear();
                    break;
                }
                rest = next;
                continue;
            }
            break;
        }
        if !segments.is_empty() {
            out.push(segments);
        }
    }
    out
}

/// A source without its comment lines: a doc link is no dependency.
fn code_of(source: &str) -> String {
    source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Within each layer's folder, the files each file names (not itself): by `crate::` paths,
/// and a `mod.rs` also by the modules it declares.
fn file_graph(src: &Path) -> std::collections::BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut graph = std::collections::BTreeMap::new();
    for (module, _) in LAYERS {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        for file in files {
            let source = code_of(&std::fs::read_to_string(&file).expect("readable source file"));
            let mut named: BTreeSet<PathBuf> = crate_paths(&source)
                .iter()
                .filter(|path| path.first() == Some(module))
                .filter_map(|path| module_file(src, path))
                .filter(|named| *named != file)
                .collect();
            if file.ends_with("mod.rs") {
                named.extend(children_named(&file, &source));
            }
            graph.insert(file, named);
        }
    }
    graph
}

/// The files of the modules a `mod.rs` declares and names by their own name (`wecom::WeCom`).
fn children_named(file: &Path, source: &str) -> Vec<PathBuf> {
    let dir = file.parent().expect("a folder");
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    source
        .lines()
        .filter_map(|line| line.trim().trim_start_matches("pub ").strip_prefix("mod "))
        .map(|rest| rest.trim_end_matches(';').trim())
        .filter(|child| {
            source
                .match_indices(&format!("{child}::"))
                .any(|(at, _)| !source[..at].ends_with(|c: char| ident(c) || c == ':'))
        })
        .filter_map(|child| {
            let file = dir.join(format!("{child}.rs"));
            let module = dir.join(child).join("mod.rs");
            [file, module].into_iter().find(|f| f.is_file())
        })
        .collect()
}

/// Each cycle of files, as the files on it (found once, from its smallest file).
fn cycles(graph: &std::collections::BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    fn walk(
        graph: &std::collections::BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        start: &PathBuf,
        path: &mut Vec<PathBuf>,
        found: &mut Vec<Vec<PathBuf>>,
    ) {
        let last = path.last().expect("a path").clone();
        for next in graph.get(&last).into_iter().flatten() {
            if next == start {
                found.push(path.clone());
            } else if next > start && !path.contains(next) && found.len() < 50 {
                path.push(next.clone());
                walk(graph, start, path, found);
                path.pop();
            }
        }
    }
    let mut found = Vec::new();
    for start in graph.keys() {
        walk(graph, start, &mut vec![start.clone()], &mut found);
    }
    found
}

#[test]
fn no_two_files_of_a_folder_name_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found: Vec<String> = cycles(&file_graph(&src))
        .iter()
        .map(|cycle| {
            let names: Vec<String> = cycle
                .iter()
                .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
                .collect();
            names.join(" → ")
        })
        .collect();
    assert!(found.is_empty(), "files that name each other:\n{}", found.join("\n"));
}

#[test]
fn a_cycle_between_files_is_found() {
    let dir = std::env::temp_dir().join(format!("hn-cycles-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("usage")).unwrap();
    for (module, _) in LAYERS {
        std::fs::create_dir_all(dir.join(module)).unwrap();
        std::fs::write(dir.join(module).join("mod.rs"), "pub mod a;\npub mod b;\n").unwrap();
    }
    std::fs::write(dir.join("usage/a.rs"), "use crate::usage::{b::Thing, mod_item};\n").unwrap();
    std::fs::write(dir.join("usage/b.rs"), "fn f() { crate::usage::a::g() }\n").unwrap();
    std::fs::write(dir.join("delivery/a.rs"), "use crate::delivery::b;\n").unwrap();
    std::fs::write(dir.join("delivery/b.rs"), "use crate::usage::a;\n").unwrap();
    // A `mod.rs` that uses a module it declares, which uses the `mod.rs`'s own items.
    std::fs::write(
        dir.join("channels/mod.rs"),
        "pub mod a;\npub mod b;\npub fn f() { a::g() }\n",
    )
    .unwrap();
    std::fs::write(dir.join("channels/a.rs"), "use crate::channels::Trait;\n").unwrap();
    let found = cycles(&file_graph(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found
        .iter()
        .any(|c| c[0].ends_with("usage/a.rs") && c[1].ends_with("usage/b.rs")));
    assert!(found
        .iter()
        .any(|c| c[0].ends_with("channels/a.rs") && c[1].ends_with("channels/mod.rs")));
}

/// Where the server speaks the UI crate's service side: its ports and the error they answer.
const UI_SERVICE_PATHS: [&str; 2] = ["app::ports", "AppError"];

#[test]
fn only_http_speaks_the_pages_ports() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for (module, _) in LAYERS.iter().filter(|(m, _)| *m != "http") {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            for path in UI_SERVICE_PATHS.iter().filter(|p| source.contains(*p)) {
                found.push(format!("{} names {path}", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "port adapters outside http/ports.rs:\n{}",
        found.join("\n")
    );
}

/// Each table and the layer folder that writes it.
const TABLE_OWNERS: &[(&str, &str)] = &[
    ("secrets_key_check", "platform"),
    ("users", "usage"),
    ("providers", "usage"),
    ("api_keys", "usage"),
    ("usage_", "usage"),
    ("breaker_backlog", "usage"),
    ("source_", "sources"),
    ("push_targets", "channels"),
    ("notification_deliveries", "delivery"),
    ("push_target_bindings", "notifications"),
    ("notification_settings", "notifications"),
];

/// The tables a source writes: `INSERT INTO t`, `UPDATE t`, `DELETE FROM t`.
fn written_tables(source: &str) -> BTreeSet<String> {
    let mut tables = BTreeSet::new();
    for verb in ["INSERT INTO ", "UPDATE ", "DELETE FROM "] {
        for (at, _) in source.match_indices(verb) {
            let rest = &source[at + verb.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let table = &rest[..end];
            // `UPDATE SET` of an upsert, and `{table}` of a generated statement, name no table.
            if !table.is_empty()
                && table != "SET"
                && table
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
            {
                tables.insert(table.to_owned());
            }
        }
    }
    tables
}

#[test]
fn each_table_is_written_by_the_layer_that_owns_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for (module, _) in LAYERS {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            for table in written_tables(&source) {
                match TABLE_OWNERS
                    .iter()
                    .find(|(t, _)| table == *t || (t.ends_with('_') && table.starts_with(t)))
                {
                    Some((_, owner)) if owner == module => {}
                    Some((_, owner)) => found.push(format!("{} writes {table}, which {owner} owns", file.display())),
                    None => found.push(format!("{} writes {table}, which has no owner here", file.display())),
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "tables written outside their layer:\n{}",
        found.join("\n")
    );
}
