//! # cfm-report
//!
//! Writes `paper/REPRODUCTION.md` from the results tables (`figures/data/*.csv`), the manifest
//! (`figures/manifest.json`) and the claim checks, by filling the hand-written template
//! `paper/templates/REPRODUCTION.md`; and keeps the claims table at the top of `README.md` in
//! sync. Nothing in the generated files is edited by hand.
//!
//! Template placeholders: `{{generated}}`, `{{claims}}`, `{{sections}}` (one section per
//! figure, in the paper's order, then the figures beyond the paper) and `{{manifest}}`.

mod keys;
mod markdown;
mod sections;

use std::path::{Path, PathBuf};

use cfm_study::claims;
use cfm_study::manifest::Manifest;

pub use markdown::table as md_table;

/// Report errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// From the study crate (tables, manifest).
    #[error(transparent)]
    Study(#[from] cfm_study::Error),
    /// The template is malformed.
    #[error("{0}")]
    Template(String),
}

/// The report crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the inputs and outputs are, and what to include.
#[derive(Clone, Debug)]
pub struct Options {
    /// Directory with `data/<figure>.csv`, `<figure>.svg` and `manifest.json`.
    pub figures: PathBuf,
    /// Directory with `templates/REPRODUCTION.md`; the report is written there as `REPRODUCTION.md`.
    pub paper: PathBuf,
    /// `README.md` whose claims block is kept in sync (skipped when absent).
    pub readme: PathBuf,
    /// Include what changes from run to run (compute times, commit, machine). Off in tests.
    pub volatile: bool,
}

impl Options {
    /// The repository layout under `root`, volatile fields included.
    pub fn at(root: &Path) -> Self {
        Self {
            figures: root.join("figures"),
            paper: root.join("paper"),
            readme: root.join("README.md"),
            volatile: true,
        }
    }
}

/// The generated documents.
#[derive(Clone, Debug)]
pub struct Report {
    /// The report's Markdown.
    pub markdown: String,
    /// The claims block of the README (between its markers).
    pub readme_block: String,
    /// Every relative link of the report (figure files), as written.
    pub links: Vec<String>,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

/// Builds the report and the README block without writing anything.
pub fn generate(opts: &Options) -> Result<Report> {
    let template = read(&opts.paper.join("templates").join("REPRODUCTION.md"))?;
    let manifest = Manifest::load(&opts.figures.join("manifest.json"))?;
    let outcomes = claims::verify(&opts.figures.join("data"));
    // Links are relative to the report's directory.
    let rel = pathdiff(&opts.figures, &opts.paper);
    let mut links = Vec::new();
    let sections = sections::all(opts, &rel, &manifest, &outcomes, &mut links)?;
    let mut out = template;
    for (key, value) in [
        ("{{generated}}", sections::generated_note(&manifest, opts.volatile)),
        ("{{claims}}", sections::claims_table(&outcomes, opts.volatile)),
        ("{{sections}}", sections),
        ("{{manifest}}", sections::manifest(&manifest, opts.volatile)),
    ] {
        if !out.contains(key) {
            return Err(Error::Template(format!("the template has no {key} placeholder")));
        }
        out = out.replace(key, &value);
    }
    if let Some(at) = out.find("{{") {
        let end = out[at..].find("}}").map_or(out.len(), |e| at + e + 2);
        return Err(Error::Template(format!("unknown placeholder {} in the template", &out[at..end])));
    }
    let readme_block = format!(
        "## Claims at a glance\n\n{}\nThe full reproduction report, figure by figure: \
         [paper/REPRODUCTION.md](paper/REPRODUCTION.md).\n\n{}",
        sections::claims_table(&outcomes, opts.volatile),
        sections::timing_summary(&manifest, opts.volatile)
    );
    Ok(Report { markdown: out, readme_block, links })
}

const START: &str = "<!-- claims:start -->";
const END: &str = "<!-- claims:end -->";

/// Generates the report, writes `REPRODUCTION.md` and updates the README's claims block
/// (between `<!-- claims:start -->` and `<!-- claims:end -->`), atomically.
pub fn write(opts: &Options) -> Result<Report> {
    let report = generate(opts)?;
    let path = opts.paper.join("REPRODUCTION.md");
    cfm_core::io::write_atomic(&path, report.markdown.as_bytes()).map_err(cfm_study::Error::from)?;
    if opts.readme.exists() {
        let readme = read(&opts.readme)?;
        let (Some(a), Some(b)) = (readme.find(START), readme.find(END)) else {
            return Err(Error::Template(format!(
                "{}: no {START} ... {END} markers for the claims table",
                opts.readme.display()
            )));
        };
        let updated = format!("{}{START}\n{}{}", &readme[..a], report.readme_block, &readme[b..]);
        cfm_core::io::write_atomic(&opts.readme, updated.as_bytes()).map_err(cfm_study::Error::from)?;
    }
    Ok(report)
}

/// `to` relative to `from` for sibling directories (`../figures`), else `to` as given.
fn pathdiff(to: &Path, from: &Path) -> String {
    match (to.parent(), from.parent(), to.file_name()) {
        (Some(a), Some(b), Some(name)) if a == b => format!("../{}", name.to_string_lossy()),
        _ => to.display().to_string(),
    }
}
