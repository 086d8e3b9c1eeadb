//! Every relative link and image of the documents a reader opens resolves: README.md, every
//! Markdown file under docs/, and paper/REPRODUCTION.md, each link taken from the file's own
//! folder. Web addresses (http, https), mailto: and links to an anchor of the same page are not
//! checked; a `#fragment` after a path is dropped before the path is looked up.

use std::path::{Path, PathBuf};

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Text with fenced code blocks and inline code spans removed: a `[a](b)` inside code is an
/// example, not a link.
fn without_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if fenced {
            out.push('\n');
            continue;
        }
        // Inline code: drop what lies between pairs of backticks on the line.
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// Every link and image target of a Markdown text: `[..](target)`, `![..](target)` (an optional
/// title after the target dropped, `<target>` unwrapped) and HTML `src=` / `href=` attributes.
fn targets(markdown: &str) -> Vec<String> {
    let text = without_code(markdown);
    let mut out = Vec::new();
    // Markdown: "](" starts a target, which ends at the matching ")".
    let mut rest = text.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let mut depth = 0usize;
        let end = rest
            .char_indices()
            .find(|&(_, c)| match c {
                '(' => {
                    depth += 1;
                    false
                }
                ')' if depth == 0 => true,
                ')' => {
                    depth -= 1;
                    false
                }
                '\n' => true,
                _ => false,
            })
            .map_or(rest.len(), |(i, _)| i);
        let inner = rest[..end].trim();
        let target = match inner.strip_prefix('<') {
            Some(t) => t.split('>').next().unwrap_or(""),
            None => inner.split_whitespace().next().unwrap_or(""),
        };
        out.push(target.to_string());
        rest = &rest[end..];
    }
    // HTML attributes.
    for attr in ["src=", "href="] {
        let mut rest = text.as_str();
        while let Some(at) = rest.find(attr) {
            let before = rest[..at].chars().last();
            rest = &rest[at + attr.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_') {
                continue; // part of a longer attribute name (data-src=)
            }
            let quote = rest.chars().next();
            let value = match quote {
                Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or(""),
                _ => rest.split(|c: char| c.is_whitespace() || c == '>').next().unwrap_or(""),
            };
            out.push(value.to_string());
        }
    }
    out
}

/// The path a target names, or None when it is not to be checked (web, mail, same-page anchor).
fn local_path(target: &str) -> Option<&str> {
    let lower = target.to_ascii_lowercase();
    if target.is_empty()
        || target.starts_with('#')
        || lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("mailto:")
    {
        return None;
    }
    let path = target.split(['#', '?']).next().unwrap_or("");
    (!path.is_empty()).then_some(path)
}

/// The targets of `markdown` (a file in `dir`) that do not resolve from `dir`.
fn broken(markdown: &str, dir: &Path) -> Vec<String> {
    targets(markdown).into_iter().filter(|t| local_path(t).is_some_and(|p| !dir.join(p).exists())).collect()
}

/// The documents checked: README.md, docs/**/*.md, paper/REPRODUCTION.md.
fn documents() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let root = root();
    let mut docs = vec![root.join("README.md"), root.join("paper/REPRODUCTION.md")];
    walk(&root.join("docs"), &mut docs);
    docs.sort();
    docs
}

#[test]
fn the_extractor_finds_links_images_and_html_and_flags_a_broken_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("figures")).unwrap();
    std::fs::write(dir.path().join("figures/a.svg"), "<svg/>").unwrap();
    std::fs::write(dir.path().join("LICENSE"), "").unwrap();
    let planted = "See [the licence](LICENSE) and ![a](figures/a.svg \"title\"), \
        [web](https://example.org/x.md), [mail](mailto:a@b.c), [anchor](#results), \
        [section](figures/a.svg#part), <img src=\"figures/a.svg\" width=\"400\">, \
        <a href='figures/missing.svg'>x</a>, ![gone](figures/nowhere.svg), \
        [angle](<figures/a.svg>), `[code](not/a/link.md)`\n\
        ```\n[fenced](not/a/link.md)\n```\n";
    let found = targets(planted);
    assert_eq!(
        found,
        [
            "LICENSE",
            "figures/a.svg",
            "https://example.org/x.md",
            "mailto:a@b.c",
            "#results",
            "figures/a.svg#part",
            "figures/nowhere.svg",
            "figures/a.svg",
            "figures/a.svg",
            "figures/missing.svg",
        ]
    );
    assert_eq!(broken(planted, dir.path()), ["figures/nowhere.svg", "figures/missing.svg"]);
    assert!(broken("[ok](LICENSE) ![ok](figures/a.svg)", dir.path()).is_empty());
}

#[test]
fn every_link_and_image_of_the_readme_docs_and_report_resolves() {
    let docs = documents();
    assert!(docs.len() >= 3, "README.md, docs/ and paper/REPRODUCTION.md: {docs:?}");
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
        let dir = doc.parent().unwrap();
        checked += targets(&text).iter().filter(|t| local_path(t).is_some()).count();
        for target in broken(&text, dir) {
            problems.push(format!("{}: {target}", doc.display()));
        }
    }
    assert!(checked > 0, "no relative link found at all");
    assert!(problems.is_empty(), "broken links (relative to each file's folder):\n{}", problems.join("\n"));
}
