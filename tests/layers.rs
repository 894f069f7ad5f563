//! The crate's source files depend on each other without circles, and only the command
//! line uses clap.
//!
//! The check reads every `src/**/*.rs` (as text: no compiler involved) and builds a
//! graph whose nodes are source files:
//!
//! - A file depends on another when it names an item there: in a `use` declaration, or
//!   in a path in code, types or attributes that starts with `crate::`, `super::`,
//!   `self::` or the name of a child module (`loops::run(..)` in `bench/mod.rs`).
//! - A path is mapped to the file of its longest module prefix: `crate::engine::tail::X`
//!   is `src/engine/tail.rs`, `crate::engine::X` is `src/engine/mod.rs` unless `X` is a
//!   submodule of `engine`.
//! - Re-exports are followed: when that file brings the named item in with a `use`
//!   (`pub use x::Y` in a `mod.rs`, or a plain import), the dependency is on the file the
//!   item comes from. So `pub use x::Y` in `mod.rs` is an edge from `mod.rs` to `x`, and
//!   a `use super::Y` in a sibling of `x` is an edge to `x`, not to `mod.rs`.
//! - Declaring a module (`mod x;`) is not a dependency on it.
//! - `#[cfg(test)]` modules, inline or in a file of their own, are nodes of their own.
//!   Nothing depends on a test module, so test code never closes a circle: tests may
//!   use any module they check.
//! - `src/main.rs` is another crate (the binary) and is not part of the graph.
//!
//! Every strongly connected set of more than one file is a circle and fails the test,
//! naming the files and one cycle through them with the line that makes each step.
//!
//! The second check: the identifier `clap` (a `use clap::..`, a `clap::` path, a clap
//! derive) appears only under `src/cli/` and in `src/main.rs`. Command-line argument
//! types live in `cli`, which converts them to the plain options of the library.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// Where clap may be used.
fn clap_allowed(file: &str) -> bool {
    file.starts_with("src/cli/") || file == "src/main.rs"
}

// ---------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------

#[test]
fn no_circles_between_source_files() {
    let graph = Graph::build(&read_sources());
    let circles = graph.circles();
    let failures: Vec<String> = circles.iter().map(|c| graph.describe(c)).collect();
    assert!(
        failures.is_empty(),
        "circles between source files (move what one file takes from the other into a \
         file that both can use):\n\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn the_graph_sees_the_dependencies() {
    // Guards the parser: a graph that lost its edges would have no circles either.
    let graph = Graph::build(&read_sources());
    assert!(
        graph.edge_count() > 200,
        "only {} edges",
        graph.edge_count()
    );
    for (from, to) in [
        // `use crate::engine::tail::{run_tail, ..}`
        ("src/cli/tail.rs", "src/engine/tail.rs"),
        // `use super::segmentation::Segmentation`
        ("src/engine/batch.rs", "src/engine/segmentation.rs"),
        // `pub use tables::create_tables` in sql/mod.rs
        ("src/sql/mod.rs", "src/sql/tables.rs"),
        // `crate::engine::tail::Progress`, which tail.rs re-exports from loading.rs
        ("src/cli/tail.rs", "src/engine/loading.rs"),
        // `crate::value::MAX_TIME` inside an `#[error(..)]` attribute
        ("src/engine/batch.rs", "src/value.rs"),
    ] {
        assert!(graph.has_edge(from, to), "no edge {from} -> {to}");
    }
}

#[test]
fn clap_is_only_used_by_the_command_line() {
    let uses = clap_outside_cli(&read_sources());
    assert!(
        uses.is_empty(),
        "clap is used outside src/cli/ and src/main.rs (command-line types belong in \
         src/cli/):\n{}",
        uses.join("\n")
    );
}

/// Every `src/**/*.rs` as (path relative to the crate, text), sorted by path.
fn read_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect(&root.join("src"), &mut files);
    let mut sources: Vec<(String, String)> = files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let relative = path.strip_prefix(root).unwrap().to_string_lossy();
            (relative.replace('\\', "/"), text)
        })
        .collect();
    sources.sort();
    sources
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Each use of clap outside the command line, as `file:line`.
fn clap_outside_cli(sources: &[(String, String)]) -> Vec<String> {
    let mut uses = Vec::new();
    for (file, text) in sources {
        if clap_allowed(file) {
            continue;
        }
        for token in tokens(text) {
            if token.text == "clap" {
                uses.push(format!("{file}:{}", token.line));
            }
        }
    }
    uses
}

// ---------------------------------------------------------------------------------
// Tokens: identifiers and punctuation, without comments and literals
// ---------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Token {
    text: String,
    line: usize,
}

impl Token {
    fn is_ident(&self) -> bool {
        self.text
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
    }
}

/// The identifiers and punctuation of Rust source (`::` is one token); comments are
/// dropped and every literal is one token `"lit"`.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        let start_line = line;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&chars, i) {
            line += chars[i..end].iter().filter(|&&c| c == '\n').count();
            i = end;
            out.push(lit(start_line));
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            i += if c == 'b' { 2 } else { 1 };
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            i += 1;
            out.push(lit(start_line));
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            // A character literal, or the quote of a lifetime (then only skipped).
            let quote = if c == 'b' { i + 1 } else { i };
            if at(quote + 1) == '\\' {
                // Past the backslash and the character it escapes (maybe a quote).
                i = quote + 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push(lit(start_line));
            } else if at(quote + 2) == '\'' {
                i = quote + 3;
                out.push(lit(start_line));
            } else if c == 'b' {
                out.push(word(&chars, &mut i, start_line));
            } else {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            out.push(word(&chars, &mut i, start_line));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(lit(start_line));
        } else if c == ':' && at(i + 1) == ':' {
            out.push(Token {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

fn lit(line: usize) -> Token {
    Token {
        text: "lit".into(),
        line,
    }
}

/// An identifier (a raw one, `r#type`, without its `r#`).
fn word(chars: &[char], i: &mut usize, line: usize) -> Token {
    if chars[*i] == 'r' && chars.get(*i + 1) == Some(&'#') {
        *i += 2;
    }
    let start = *i;
    while *i < chars.len() && (chars[*i].is_alphanumeric() || chars[*i] == '_') {
        *i += 1;
    }
    Token {
        text: chars[start..*i].iter().collect(),
        line,
    }
}

/// Where a raw string literal (`r"..."`, `r#"..."#`, `br"..."`) starting at `i` ends.
fn raw_string_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"' && chars[j + 1..].iter().take_while(|&&c| c == '#').count() >= hashes {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(chars.len())
}

// ---------------------------------------------------------------------------------
// What each file names
// ---------------------------------------------------------------------------------

/// A module path from the crate root: `["engine", "tail"]`.
type ModulePath = Vec<String>;

/// A path named in a file, in the module it appears in.
#[derive(Clone, Debug)]
struct Mention {
    /// The node (file or test module) it appears in.
    node: String,
    /// The module whose scope it is resolved in.
    scope: ModulePath,
    segments: Vec<String>,
    line: usize,
}

/// A name a `use` declaration brings into a module.
#[derive(Clone, Debug)]
struct Import {
    scope: ModulePath,
    /// The name bound in `scope` (`None` for globs and `as _`).
    name: Option<String>,
    segments: Vec<String>,
}

/// What one file declares and names.
#[derive(Default)]
struct Scan {
    mentions: Vec<Mention>,
    imports: Vec<Import>,
    /// Inline modules: path, and the test node they are (if `#[cfg(test)]`).
    inline: Vec<(ModulePath, Option<String>)>,
}

/// The module path of a source file: `src/engine/tail.rs` and `src/engine/tail/mod.rs`
/// are `engine::tail`; `src/lib.rs` is the root.
fn module_of(file: &str) -> ModulePath {
    let inner = file
        .strip_prefix("src/")
        .unwrap()
        .strip_suffix(".rs")
        .unwrap();
    let mut path: ModulePath = inner.split('/').map(String::from).collect();
    if matches!(path.last().map(String::as_str), Some("mod" | "lib")) {
        path.pop();
    }
    path
}

fn scan(file: &str, text: &str) -> Scan {
    let tokens = tokens(text);
    let file_module = module_of(file);
    let mut scan = Scan::default();
    // Open inline modules: name, the brace depth inside them, and their test node.
    let mut open: Vec<(String, usize, Option<String>)> = Vec::new();
    let mut depth = 0;
    let mut pending_test = false;
    let mut i = 0;
    while i < tokens.len() {
        let text = tokens[i].text.as_str();
        let next = |k: usize| tokens.get(i + k).map_or("", |t| t.text.as_str());
        let scope = || {
            let mut scope = file_module.clone();
            scope.extend(open.iter().map(|(name, _, _)| name.clone()));
            scope
        };
        let node = || {
            open.iter()
                .rev()
                .find_map(|(_, _, test)| test.clone())
                .unwrap_or_else(|| file.to_string())
        };
        match text {
            "#" if next(1) == "[" && next(2) == "cfg" && next(3) == "(" && next(4) == "test" => {
                pending_test = next(5) == ")" && next(6) == "]";
                i += 1;
            }
            "mod" if tokens.get(i + 1).is_some_and(Token::is_ident) => {
                let name = next(1).to_string();
                let mut path = scope();
                path.push(name.clone());
                if next(2) == "{" {
                    let test = pending_test.then(|| format!("{file} (mod {name})"));
                    scan.inline.push((path, test.clone()));
                    depth += 1;
                    open.push((name, depth, test));
                    i += 3;
                } else {
                    i += 2;
                }
                pending_test = false;
            }
            "use" => {
                let mut end = i + 1;
                while end < tokens.len() && tokens[end].text != ";" {
                    end += 1;
                }
                let mut trees = Vec::new();
                use_tree(&tokens[i + 1..end], &mut Vec::new(), &mut trees);
                let (scope, node) = (scope(), node());
                for (segments, name) in trees {
                    scan.mentions.push(Mention {
                        node: node.clone(),
                        scope: scope.clone(),
                        segments: segments.clone(),
                        line: tokens[i].line,
                    });
                    scan.imports.push(Import {
                        scope: scope.clone(),
                        name,
                        segments,
                    });
                }
                pending_test = false;
                i = end + 1;
            }
            "{" => {
                depth += 1;
                pending_test = false;
                i += 1;
            }
            "}" => {
                if open.last().is_some_and(|(_, d, _)| *d == depth) {
                    open.pop();
                }
                depth = depth.saturating_sub(1);
                pending_test = false;
                i += 1;
            }
            ";" => {
                pending_test = false;
                i += 1;
            }
            _ if tokens[i].is_ident()
                && next(1) == "::"
                && (i == 0 || tokens[i - 1].text != "::") =>
            {
                let mut segments = vec![text.to_string()];
                let mut j = i + 1;
                while tokens.get(j).is_some_and(|t| t.text == "::")
                    && tokens.get(j + 1).is_some_and(Token::is_ident)
                {
                    segments.push(tokens[j + 1].text.clone());
                    j += 2;
                }
                scan.mentions.push(Mention {
                    node: node(),
                    scope: scope(),
                    segments,
                    line: tokens[i].line,
                });
                i = j;
            }
            _ => i += 1,
        }
    }
    scan
}

/// The paths of a use tree (the tokens between `use` and `;`), each with the name it
/// binds: `a::{self, b::C as D, e::*}` gives `a` (`a`), `a::b::C` (`D`) and `a::e`
/// (a glob, no name).
fn use_tree(
    tokens: &[Token],
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut i = 0;
    let depth = prefix.len();
    if tokens.first().is_some_and(|t| t.text == "::") {
        i += 1;
    }
    while i < tokens.len() {
        let text = tokens[i].text.as_str();
        match text {
            "*" => {
                out.push((prefix.clone(), None));
                i += 1;
            }
            "{" => {
                // Split the group at its top-level commas.
                let mut level = 0;
                let mut start = i + 1;
                for j in i + 1..tokens.len() {
                    match tokens[j].text.as_str() {
                        "{" => level += 1,
                        "}" if level > 0 => level -= 1,
                        "}" | "," if level == 0 => {
                            if start < j {
                                use_tree(&tokens[start..j], prefix, out);
                            }
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                break;
            }
            "self" if i == 0 && depth > 0 => {
                let name = alias(&tokens[i + 1..]).unwrap_or_else(|| prefix.last().cloned());
                out.push((prefix.clone(), name));
                break;
            }
            "::" => i += 1,
            "as" => break,
            _ if tokens[i].is_ident() => {
                prefix.push(text.to_string());
                if tokens.get(i + 1).is_none_or(|t| t.text == "as") {
                    let name = alias(&tokens[i + 1..]).unwrap_or_else(|| Some(text.to_string()));
                    out.push((prefix.clone(), name));
                    break;
                }
                i += 1;
            }
            _ => break,
        }
    }
    prefix.truncate(depth);
}

/// The name of `as NAME` at the start of `tokens`: `Some(None)` for `as _`.
fn alias(tokens: &[Token]) -> Option<Option<String>> {
    match tokens {
        [a, name, ..] if a.text == "as" => Some((name.text != "_").then(|| name.text.clone())),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------
// The graph
// ---------------------------------------------------------------------------------

/// Why a file depends on another: the first line and path that make the edge.
#[derive(Clone, Debug)]
struct Evidence {
    line: usize,
    path: String,
}

struct Graph {
    /// Every module: the node (file or test module) that holds its items.
    modules: BTreeMap<ModulePath, String>,
    /// The imports of every module, to follow re-exports.
    imports: BTreeMap<ModulePath, Vec<Import>>,
    edges: BTreeMap<String, BTreeMap<String, Evidence>>,
}

impl Graph {
    fn build(sources: &[(String, String)]) -> Graph {
        let sources: Vec<&(String, String)> = sources
            .iter()
            .filter(|(file, _)| file != "src/main.rs" && !file.starts_with("src/bin/"))
            .collect();
        let scans: Vec<(&str, Scan)> = sources
            .iter()
            .map(|(file, text)| (file.as_str(), scan(file, text)))
            .collect();
        let mut graph = Graph {
            modules: BTreeMap::new(),
            imports: BTreeMap::new(),
            edges: BTreeMap::new(),
        };
        for (file, scan) in &scans {
            graph.modules.insert(module_of(file), file.to_string());
            for (path, test) in &scan.inline {
                let node = test.clone().unwrap_or_else(|| file.to_string());
                graph.modules.insert(path.clone(), node);
            }
            for import in &scan.imports {
                graph
                    .imports
                    .entry(import.scope.clone())
                    .or_default()
                    .push(import.clone());
            }
        }
        for (_, scan) in &scans {
            for mention in &scan.mentions {
                let Some(target) = graph.resolve(&mention.scope, &mention.segments) else {
                    continue;
                };
                let Some(to) = graph.node_of(&target, 0) else {
                    continue;
                };
                if to != mention.node {
                    graph
                        .edges
                        .entry(mention.node.clone())
                        .or_default()
                        .entry(to)
                        .or_insert_with(|| Evidence {
                            line: mention.line,
                            path: mention.segments.join("::"),
                        });
                }
            }
        }
        graph
    }

    /// The absolute path a path in `scope` names, if it is in this crate.
    fn resolve(&self, scope: &[String], segments: &[String]) -> Option<ModulePath> {
        let first = segments.first()?.as_str();
        let (mut base, rest) = match first {
            "crate" => (Vec::new(), &segments[1..]),
            "self" => (scope.to_vec(), &segments[1..]),
            "super" => {
                let supers = segments.iter().take_while(|s| *s == "super").count();
                let base = scope.get(..scope.len().checked_sub(supers)?)?.to_vec();
                (base, &segments[supers..])
            }
            _ => {
                let mut child = scope.to_vec();
                child.push(first.to_string());
                if !self.modules.contains_key(&child) {
                    return None;
                }
                (scope.to_vec(), segments)
            }
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The node holding the item at `path`: the file of its longest module prefix, or,
    /// when that module imports the item, the node the import names.
    fn node_of(&self, path: &[String], hops: usize) -> Option<String> {
        let prefix = (0..=path.len())
            .rev()
            .find(|&n| self.modules.contains_key(&path[..n]))?;
        let module = &path[..prefix];
        let node = self.modules[module].clone();
        let Some(name) = path.get(prefix) else {
            return Some(node);
        };
        let import = self
            .imports
            .get(module)
            .and_then(|imports| imports.iter().find(|i| i.name.as_ref() == Some(name)));
        match import {
            Some(import) if hops < 16 => {
                let target = self.resolve(module, &import.segments);
                // An import from outside the crate: the item is not in another file.
                let Some(mut target) = target else {
                    return Some(node);
                };
                target.extend(path[prefix + 1..].iter().cloned());
                self.node_of(&target, hops + 1).or(Some(node))
            }
            _ => Some(node),
        }
    }

    fn edge_count(&self) -> usize {
        self.edges.values().map(BTreeMap::len).sum()
    }

    fn has_edge(&self, from: &str, to: &str) -> bool {
        self.edges.get(from).is_some_and(|e| e.contains_key(to))
    }

    fn successors(&self, node: &str) -> impl Iterator<Item = &String> {
        self.edges.get(node).into_iter().flat_map(BTreeMap::keys)
    }

    /// The strongly connected sets of more than one node, each sorted (Tarjan).
    fn circles(&self) -> Vec<Vec<String>> {
        struct Tarjan<'g> {
            graph: &'g Graph,
            index: BTreeMap<&'g str, usize>,
            low: BTreeMap<&'g str, usize>,
            stack: Vec<&'g str>,
            on_stack: BTreeSet<&'g str>,
            found: Vec<Vec<String>>,
        }
        impl<'g> Tarjan<'g> {
            fn visit(&mut self, node: &'g str) {
                let n = self.index.len();
                self.index.insert(node, n);
                self.low.insert(node, n);
                self.stack.push(node);
                self.on_stack.insert(node);
                for next in self.graph.successors(node) {
                    let next = next.as_str();
                    if !self.index.contains_key(next) {
                        self.visit(next);
                        let low = self.low[node].min(self.low[next]);
                        self.low.insert(node, low);
                    } else if self.on_stack.contains(next) {
                        let low = self.low[node].min(self.index[next]);
                        self.low.insert(node, low);
                    }
                }
                if self.low[node] == self.index[node] {
                    let mut set = Vec::new();
                    while let Some(top) = self.stack.pop() {
                        self.on_stack.remove(top);
                        set.push(top.to_string());
                        if top == node {
                            break;
                        }
                    }
                    if set.len() > 1 {
                        set.sort();
                        self.found.push(set);
                    }
                }
            }
        }
        let mut tarjan = Tarjan {
            graph: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            found: Vec::new(),
        };
        for node in self.edges.keys() {
            if !tarjan.index.contains_key(node.as_str()) {
                tarjan.visit(node);
            }
        }
        tarjan.found.sort();
        tarjan.found
    }

    /// A circle's files and one shortest cycle through its first file, each step with
    /// the line that makes it.
    fn describe(&self, circle: &[String]) -> String {
        let members: BTreeSet<&str> = circle.iter().map(String::as_str).collect();
        let start = circle[0].as_str();
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        'search: while let Some(node) = queue.pop_front() {
            for next in self.successors(node) {
                let next = next.as_str();
                if !members.contains(next) {
                    continue;
                }
                if next == start {
                    came_from.insert(start, node);
                    break 'search;
                }
                if !came_from.contains_key(next) {
                    came_from.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        let mut cycle = vec![start];
        let mut node = came_from[start];
        while node != start {
            cycle.push(node);
            node = came_from[node];
        }
        cycle.reverse();
        let mut text = format!("circle of {} files: {}", circle.len(), circle.join(", "));
        for (k, from) in cycle.iter().enumerate() {
            let to = if k + 1 < cycle.len() {
                cycle[k + 1]
            } else {
                cycle[0]
            };
            let evidence = &self.edges[*from][to];
            text.push_str(&format!(
                "\n  {from}:{} uses {} ({to})",
                evidence.line, evidence.path
            ));
        }
        text
    }
}

// ---------------------------------------------------------------------------------
// The checks can fail
// ---------------------------------------------------------------------------------

fn sources(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(file, text)| (file.to_string(), text.to_string()))
        .collect()
}

#[test]
fn a_circle_through_a_reexport_is_found() {
    let graph = Graph::build(&sources(&[
        ("src/lib.rs", "pub mod a;"),
        ("src/a/mod.rs", "mod b;\nmod c;\npub use b::B;\n"),
        ("src/a/b.rs", "pub struct B;\nfn f() { super::c::g() }\n"),
        ("src/a/c.rs", "use super::B;\npub fn g() {}\n"),
    ]));
    assert_eq!(graph.circles(), [["src/a/b.rs", "src/a/c.rs"]]);
    let described = graph.describe(&graph.circles()[0]);
    assert!(
        described.contains("src/a/b.rs:2 uses super::c::g"),
        "{described}"
    );
    assert!(
        described.contains("src/a/c.rs:1 uses super::B (src/a/b.rs)"),
        "{described}"
    );
}

#[test]
fn a_circle_through_crate_paths_in_code_is_found() {
    let graph = Graph::build(&sources(&[
        ("src/lib.rs", "pub mod x;\npub mod y;\npub mod z;"),
        ("src/x.rs", "pub fn f() -> crate::y::Y { todo!() }"),
        ("src/y.rs", "pub struct Y(crate::z::Z);"),
        (
            "src/z.rs",
            "pub struct Z;\nimpl Z { fn g() { let _ = crate::x::f(); } }",
        ),
    ]));
    assert_eq!(graph.circles(), [["src/x.rs", "src/y.rs", "src/z.rs"]]);
}

#[test]
fn modules_reexports_and_tests_make_no_circle() {
    let graph = Graph::build(&sources(&[
        ("src/lib.rs", "pub mod a;\n"),
        (
            "src/a/mod.rs",
            "//! use b::B; (a comment)\nmod b;\nmod c;\npub use b::B;\npub use c::{self, C};\n\
             #[cfg(test)]\nmod tests;\n\
             #[cfg(test)]\nmod inline {\n    use super::*;\n    use crate::a::b::B;\n}\n",
        ),
        ("src/a/b.rs", "use super::c::C;\npub struct B(C);\n"),
        (
            "src/a/c.rs",
            "pub struct C;\nconst S: &str = \"super::b::B\";\n",
        ),
        ("src/a/tests.rs", "use super::*;\nuse crate::a::c::C;\n"),
    ]));
    assert_eq!(graph.circles(), Vec::<Vec<String>>::new());
    assert!(graph.has_edge("src/a/mod.rs", "src/a/b.rs"));
    assert!(graph.has_edge("src/a/mod.rs", "src/a/c.rs"));
    assert!(graph.has_edge("src/a/b.rs", "src/a/c.rs"));
    assert!(graph.has_edge("src/a/tests.rs", "src/a/mod.rs"));
    assert!(graph.has_edge("src/a/mod.rs (mod inline)", "src/a/b.rs"));
    assert!(!graph.has_edge("src/a/c.rs", "src/a/b.rs"));
    assert_eq!(graph.edge_count(), 7, "{:#?}", graph.edges);
}

#[test]
fn clap_outside_the_command_line_is_found() {
    let found = clap_outside_cli(&sources(&[
        ("src/cli/mod.rs", "use clap::Parser;"),
        ("src/main.rs", "use clap::Parser;"),
        (
            "src/engine/batch.rs",
            "// clap\n#[derive(clap::ValueEnum)]\npub enum E { A }",
        ),
    ]));
    assert_eq!(found, ["src/engine/batch.rs:2"]);
}

#[test]
fn literals_and_comments_name_nothing() {
    let text = r###"
        /* crate::a::X /* nested */ crate::a::Y */
        const C: char = '\''; const D: char = '"';
        fn f<'a>(x: &'a str) -> &'a str { x }
        const S: &str = r#"crate::a::Z "quoted" "#;
        const B: &[u8] = b"crate::a::W \" crate::a::U";
        // crate::a::V
        fn g() { crate::b::f() }
    "###;
    let named: Vec<String> = scan("src/x.rs", text)
        .mentions
        .iter()
        .map(|mention| mention.segments.join("::"))
        .collect();
    assert_eq!(named, ["crate::b::f"]);
}
