//! xtask's modules import each other in no circle: the CLI and commands above the stages, the
//! stages above the libraries. A unit test reads every source file's `crate::`, `super::` and
//! `use` paths and looks for a cycle among the files.

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// Module path (`stages::image`) → its file, for every file under `src/`.
    fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
        let mut modules = BTreeMap::new();
        for entry in walkdir::WalkDir::new(src).into_iter().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts
                .last()
                .is_some_and(|last| last == "mod" || last == "main")
            {
                parts.pop();
            }
            modules.insert(parts.join("::"), path.to_path_buf());
        }
        modules
    }

    /// The modules `module`'s source names through `crate::…` or `super::…` paths, resolved to
    /// the longest known module.
    fn imports(
        module: &str,
        text: &str,
        known: &BTreeMap<String, PathBuf>,
        is_dir_module: bool,
    ) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let own: Vec<&str> = module.split("::").filter(|p| !p.is_empty()).collect();
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let words = code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'));
        for word in words {
            let mut parts: Vec<&str> = word.split("::").filter(|p| !p.is_empty()).collect();
            let base: Vec<&str> = match parts.first() {
                Some(&"crate") => {
                    parts.remove(0);
                    Vec::new()
                }
                Some(&"super") => {
                    let mut base = own.clone();
                    // A `mod.rs` is its folder's module: `super` is the folder's parent.
                    let _ = is_dir_module;
                    while parts.first() == Some(&"super") {
                        parts.remove(0);
                        base.pop();
                    }
                    base
                }
                _ => continue,
            };
            let mut path: Vec<&str> = base;
            path.extend(parts);
            while !path.is_empty() {
                let candidate = path.join("::");
                if known.contains_key(&candidate) {
                    if candidate != module && !module.starts_with(&format!("{candidate}::")) {
                        found.insert(candidate);
                    }
                    break;
                }
                path.pop();
            }
        }
        found
    }

    fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
        fn visit(
            node: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            stack: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(at) = stack.iter().position(|n| n == node) {
                let mut cycle = stack[at..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            if done.contains(node) {
                return None;
            }
            stack.push(node.to_owned());
            for next in graph.get(node).into_iter().flatten() {
                if let Some(cycle) = visit(next, graph, stack, done) {
                    return Some(cycle);
                }
            }
            stack.pop();
            done.insert(node.to_owned());
            None
        }
        let mut done = BTreeSet::new();
        graph
            .keys()
            .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
    }

    fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
        let known = modules(src);
        known
            .iter()
            .map(|(module, path)| {
                let text = std::fs::read_to_string(path).unwrap();
                let is_dir = path.ends_with("mod.rs");
                (module.clone(), imports(module, &text, &known, is_dir))
            })
            .collect()
    }

    #[test]
    fn xtask_modules_import_each_other_in_no_circle() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let graph = graph(&src);
        assert!(graph["stages::image"].contains("stages::kernel"));
        if let Some(cycle) = find_cycle(&graph) {
            panic!("import circle: {}", cycle.join(" → "));
        }
    }

    #[test]
    fn a_circle_is_found() {
        let graph: BTreeMap<String, BTreeSet<String>> =
            [("a", &["b"][..]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
                .collect();
        assert_eq!(find_cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    }

    #[test]
    fn the_stages_and_libraries_never_reach_up_to_the_cli() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let graph = graph(&src);
        for (module, imports) in &graph {
            let lower = module.starts_with("stages")
                || ["cache", "exec", "layers", "guests"]
                    .iter()
                    .any(|lib| module == lib || module.starts_with(&format!("{lib}::")));
            if lower {
                for import in imports {
                    assert!(
                        !["flags", "args", "cmd", "suite", ""]
                            .iter()
                            .any(|up| import == up || import.starts_with(&format!("{up}::"))),
                        "{module} imports {import}"
                    );
                }
            }
        }
    }

    #[test]
    fn no_test_or_command_reads_the_shipped_policy_file() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for dir in ["suite", "cmd"] {
            for entry in walkdir::WalkDir::new(src.join(dir)).into_iter().flatten() {
                let path = entry.path();
                if path.ends_with("imports.rs") || path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(path).unwrap();
                assert!(
                    !text.contains("\"policy.pol\""),
                    "{} reads policy.pol: derive from the image's PolicyText instead",
                    path.display()
                );
            }
        }
    }
}
