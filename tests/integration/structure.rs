//! The crate's structure: no file imports a file that (through others) imports it back.
//! Imports are read from the source as written (`crate::a::b` paths, `super::Item` and
//! `super::*`, and `use crate::a::{b, C}` lists, `super::` resolved), tests left out, and
//! resolved to the files they name (a type or constant to the file that defines or
//! re-exports it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::REPO;

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

/// The module path of a file: `src/extract/csv.rs` → ["extract", "csv"].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The file a module path names: its longest prefix that is a file.
fn file_of(src: &Path, path: &[String]) -> Option<PathBuf> {
    (1..=path.len()).rev().find_map(|n| {
        let p = path[..n].join("/");
        [src.join(format!("{p}.rs")), src.join(format!("{p}/mod.rs"))]
            .into_iter()
            .find(|f| f.exists())
    })
}

fn imports(src: &Path, file: &Path) -> BTreeSet<PathBuf> {
    let text = std::fs::read_to_string(file).unwrap();
    // Unit tests may reach anywhere.
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    let here = module_of(src, file);
    // `super` is the parent of the file's module (for a mod.rs too).
    let parent: Vec<String> = here[..here.len().saturating_sub(1)].to_vec();
    let path_re = regex::Regex::new(r"\b(crate|super)::((?:[a-z_0-9]+::)*[a-z_0-9]+)").unwrap();
    let list_re = regex::Regex::new(r"\b(crate|super)::((?:[a-z_0-9]+::)*)\{([^}]*)\}").unwrap();
    let absolute = |root: &str, rest: &str| -> Vec<String> {
        let mut p = if root == "crate" {
            Vec::new()
        } else {
            parent.clone()
        };
        p.extend(rest.split("::").filter(|s| !s.is_empty()).map(String::from));
        p
    };
    let mut out = BTreeSet::new();
    for c in path_re.captures_iter(text) {
        if let Some(f) = file_of(src, &absolute(&c[1], &c[2])) {
            out.insert(f);
        }
    }
    for c in list_re.captures_iter(text) {
        for item in c[3].split(',') {
            let item = item.trim().split("::").next().unwrap_or("").trim();
            let mut p = absolute(&c[1], &c[2]);
            // A module (or a function) by its name; a type, a constant, `self` or `*`
            // is the listing module's own.
            if item.starts_with(|ch: char| ch.is_ascii_lowercase()) && item != "self" {
                p.push(item.to_string());
            }
            if !item.is_empty()
                && let Some(f) = file_of(src, &p)
            {
                out.insert(f);
            }
        }
    }
    // An item of a module by its path: `super::MOVED`, `crate::a::Type`, `super::*`.
    let item_re = regex::Regex::new(r"\b(crate|super)((?:::[a-z_0-9]+)*)::(?:[A-Z]|\*)").unwrap();
    for c in item_re.captures_iter(text) {
        if let Some(f) = file_of(src, &absolute(&c[1], &c[2])) {
            out.insert(f);
        }
    }
    // A child module used by its bare name (`mod policies;` … `policies::step(..)`).
    let mod_re = regex::Regex::new(r"(?m)^\s*(?:pub(?:\([a-z]+\))? )?mod ([a-z_0-9]+);").unwrap();
    for m in mod_re.captures_iter(text) {
        let child = &m[1];
        if regex::Regex::new(&format!(r"\b{child}::"))
            .unwrap()
            .is_match(text)
        {
            let mut p = here.clone();
            p.push(child.to_string());
            if let Some(f) = file_of(src, &p) {
                out.insert(f);
            }
        }
    }
    out.remove(file);
    out
}

#[test]
fn no_file_imports_its_importers() {
    let src = Path::new(REPO).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let graph: BTreeMap<PathBuf, BTreeSet<PathBuf>> = files
        .iter()
        .map(|f| (f.clone(), imports(&src, f)))
        .collect();
    // A cycle shows as a path back to a file being visited (depth-first).
    fn visit(
        f: &PathBuf,
        graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        state: &mut BTreeMap<PathBuf, u8>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        match state.get(f) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| s == f).unwrap();
                return Some(stack[start..].to_vec());
            }
            _ => {}
        }
        state.insert(f.clone(), 1);
        stack.push(f.clone());
        for next in graph.get(f).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(f.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for f in graph.keys() {
        if let Some(cycle) = visit(f, &graph, &mut state, &mut Vec::new()) {
            let names: Vec<String> = cycle
                .iter()
                .map(|p| p.strip_prefix(&src).unwrap().display().to_string())
                .collect();
            panic!("an import cycle: {}", names.join(" → "));
        }
    }
    assert!(graph.len() > 50, "the crate's files were found");
}
