//! The rules of the code base that a reader relies on, checked on the
//! sources of every crate: no two files import each other (directly or
//! through others), and each training rule is written in one place only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its `#[cfg(test)]` part and comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module path of a source file (`kinds::report` for
/// `src/kinds/report.rs`, `kinds` for `src/kinds/mod.rs`, `` for lib.rs).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The file-level import graph of one crate: file module → modules it uses.
fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let resolve = |path: &str| -> Option<String> {
        // The longest prefix of `a::b::c` that is a file's module.
        let parts: Vec<&str> = path.split("::").collect();
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|m| modules.contains(m))
    };
    let mut graph = BTreeMap::new();
    for file in &files {
        let me = module_of(src, file);
        let text = code(file);
        let mut uses = BTreeSet::new();
        let parent = me
            .rsplit_once("::")
            .map_or(String::new(), |(p, _)| p.to_string());
        for (prefix, base) in [("crate::", String::new()), ("super::", parent.clone())] {
            for (i, _) in text.match_indices(prefix) {
                let rest: String = text[i + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let full = if base.is_empty() {
                    rest
                } else {
                    format!("{base}::{rest}")
                };
                if let Some(m) = resolve(full.trim_end_matches(':')) {
                    uses.insert(m);
                }
            }
        }
        // A parent names its child modules by their bare names.
        for line in text.lines() {
            let line = line.trim();
            if let Some(child) = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("mod "))
                .and_then(|l| l.strip_suffix(';'))
            {
                let child_mod = if me.is_empty() {
                    child.to_string()
                } else {
                    format!("{me}::{child}")
                };
                if text.contains(&format!("{child}::")) && modules.contains(&child_mod) {
                    uses.insert(child_mod);
                }
            }
        }
        uses.remove(&me);
        graph.insert(me, uses);
    }
    graph
}

/// A cycle of the graph, if it has one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node) {
            let mut stack = Vec::new();
            if let Some(c) = visit(node, graph, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_two_files_import_each_other_directly_or_through_others() {
    for krate in ["analysis", "models", "probstab", "rules", "train"] {
        let src = crates_dir().join(krate).join("src");
        let graph = import_graph(&src);
        assert!(graph.len() > 1, "{krate}: no files found");
        if let Some(cycle) = find_cycle(&graph) {
            panic!(
                "{krate}: the files import in a circle: {}",
                cycle.join(" → ")
            );
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_planted_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(find_cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    let mut acyclic = graph.clone();
    acyclic.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&acyclic), None);
}

/// Lines of non-test code in any crate that match `pattern`, outside the
/// files in `owners` (paths relative to crates/).
fn written_outside(pattern: impl Fn(&str) -> bool, owners: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    for krate in ["analysis", "models", "probstab", "rules", "train"] {
        rust_files(&crates_dir().join(krate).join("src"), &mut files);
        let benches = crates_dir().join(krate).join("benches");
        if benches.exists() {
            rust_files(&benches, &mut files);
        }
    }
    let root = crates_dir();
    let mut hits = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if owners.contains(&rel.as_str()) {
            continue;
        }
        for line in code(&file).lines().filter(|l| pattern(l)) {
            hits.push(format!("{rel}: {}", line.trim()));
        }
    }
    hits
}

#[test]
fn the_divergence_rule_is_written_once() {
    let hits = written_outside(
        |l| {
            (l.contains("is_finite()") && l.contains("as f64 >"))
                || (l.contains("diverge_above") && (l.contains(" > ") || l.contains(" >= ")))
        },
        &["rules/src/outcome.rs"],
    );
    assert!(
        hits.is_empty(),
        "the divergence rule outside rules::outcome:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_activations_are_written_once() {
    let formulas = [
        "(-z).exp()",
        "(-x).exp()",
        "1.0 - a * a",
        "1.0 - s * s",
        "z.max(0.0)",
        ".tanh()",
        "sigmoid(",
        "silu(",
    ];
    let hits = written_outside(
        |l| formulas.iter().any(|f| l.contains(f)),
        &["rules/src/activation.rs", "models/src/activation.rs"],
    );
    assert!(
        hits.is_empty(),
        "an activation's formula outside its owner:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_seed_rule_is_written_once() {
    let hits = written_outside(
        |l| l.contains("0x9E37_79B9_7F4A_7C15") || l.contains("seed_from_u64"),
        &["rules/src/seed.rs"],
    );
    assert!(
        hits.is_empty(),
        "the seed rule outside rules::seed:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_results_layout_is_named_in_one_file() {
    let hits = written_outside(
        |l| {
            [
                "\"experiment.toml\"",
                "\"metrics.json\"",
                "\"summary.csv\"",
                "\"config.toml\"",
            ]
            .iter()
            .any(|name| l.contains(name))
        },
        &["probstab/src/store.rs"],
    );
    assert!(
        hits.is_empty(),
        "a results path outside store.rs:\n{}",
        hits.join("\n")
    );
}
