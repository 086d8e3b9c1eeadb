//! # cfm-report
//!
//! Writes `paper/REPRODUCTION.md` from the results tables (`figures/data/*.csv`), the manifest
//! (`figures/manifest.json`) and the claim checks, by filling the hand-written template
//! `paper/templates/REPRODUCTION.md`; and keeps the claims table at the top of `README.md` in
//! sync. Nothing in the generated files is edited by hand.
//!
//! Template placeholders: `{{generated}}`, `{{claims}}`, `{{sections}}` (one section per
//! figure, in the paper's order, then the figures beyond the paper: the paper's claim, our
//! verdict, the figure, how to read it, the key numbers), `{{appendix}}` (what each figure ran
//! and its settings beside the paper's) and `{{manifest}}`. The paragraph on how to read each
//! figure is hand-written in the reading guide beside the template
//! (`paper/templates/figures.md`, see [`guide`]).

pub mod guide;
mod markdown;
mod sections;

use std::path::{Path, PathBuf};

use cfm_study::claims;
use cfm_study::manifest::Manifest;

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
    /// The template (`paper/templates/REPRODUCTION.md`).
    pub template: PathBuf,
    /// The reading guide, one paragraph per figure (`paper/templates/figures.md`).
    pub guide: PathBuf,
    /// Where the report is written; its links are relative to its folder.
    pub report: PathBuf,
    /// `README.md` whose claims block is kept in sync (the committed default run only).
    pub readme: Option<PathBuf>,
    /// Include what changes from run to run (compute times, commit, machine). Off in tests.
    pub volatile: bool,
}

impl Options {
    /// The repository layout under `root` (the default profile's figures, the report in
    /// `paper/`, the README's block), volatile fields included.
    pub fn at(root: &Path) -> Self {
        Self {
            figures: root.join("figures"),
            template: root.join("paper").join("templates").join("REPRODUCTION.md"),
            guide: root.join("paper").join("templates").join("figures.md"),
            report: root.join("paper").join("REPRODUCTION.md"),
            readme: Some(root.join("README.md")),
            volatile: true,
        }
    }

    /// A report beside the figures of another run (`<figures>/REPRODUCTION.md`), the README
    /// untouched: what runs at a profile other than the default, or with `--out`, write.
    pub fn beside(root: &Path, figures: &Path) -> Self {
        Self {
            report: figures.join("REPRODUCTION.md"),
            readme: None,
            figures: figures.to_path_buf(),
            ..Self::at(root)
        }
    }

    /// The folder of the report, which its links are relative to.
    pub fn report_dir(&self) -> &Path {
        self.report.parent().unwrap_or(Path::new("."))
    }
}

/// The generated documents.
#[derive(Clone, Debug)]
pub struct Report {
    /// The report's Markdown.
    pub markdown: String,
    /// The claims block of the README (between its markers).
    pub readme_block: String,
    /// Every relative link of the report (figure files), as written: relative to the report's
    /// folder.
    pub links: Vec<String>,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

const PLACEHOLDERS: [&str; 5] =
    ["{{generated}}", "{{claims}}", "{{sections}}", "{{appendix}}", "{{manifest}}"];

/// Builds the report and the README block without writing anything.
pub fn generate(opts: &Options) -> Result<Report> {
    let template = read(&opts.template)?;
    if let Some(key) = PLACEHOLDERS.iter().find(|k| !template.contains(*k)) {
        return Err(Error::Template(format!("the template has no {key} placeholder")));
    }
    let ids: Vec<&str> = cfm_study::figures::all().iter().map(|f| f.id()).collect();
    let guide = guide::Guide::parse(&read(&opts.guide)?, &ids)
        .map_err(|e| Error::Template(format!("{}: {e}", opts.guide.display())))?;
    let manifest = Manifest::load(&opts.figures.join("manifest.json"))?;
    let outcomes = claims::verify(&opts.figures.join("data"));
    let mut links = Vec::new();
    let sections::Sections { body, appendix } =
        sections::all(opts, &manifest, &outcomes, &guide, &mut links)?;
    let mut out = template;
    for (key, value) in PLACEHOLDERS.into_iter().zip([
        sections::generated_note(&manifest, opts.volatile),
        sections::claims_table(&outcomes, opts.volatile),
        body,
        appendix,
        sections::manifest(&manifest, opts.volatile),
    ]) {
        out = out.replace(key, &value);
    }
    if let Some(at) = out.find("{{") {
        let end = out[at..].find("}}").map_or(out.len(), |e| at + e + 2);
        return Err(Error::Template(format!("unknown placeholder {} in the template", &out[at..end])));
    }
    let readme_block = format!(
        "### Claims at a glance\n\n{}\nThe full reproduction report, figure by figure: \
         [paper/REPRODUCTION.md](paper/REPRODUCTION.md).\n\n{}",
        sections::claims_table(&outcomes, opts.volatile),
        sections::timing_summary(&manifest, opts.volatile)
    );
    Ok(Report { markdown: out, readme_block, links })
}

const START: &str = "<!-- claims:start -->";
const END: &str = "<!-- claims:end -->";

/// Generates the report, writes it and updates the README's claims block (between
/// `<!-- claims:start -->` and `<!-- claims:end -->`) when there is one, atomically.
pub fn write(opts: &Options) -> Result<Report> {
    let report = generate(opts)?;
    cfm_core::io::write_atomic(&opts.report, report.markdown.as_bytes()).map_err(cfm_study::Error::from)?;
    if let Some(path) = opts.readme.as_ref().filter(|p| p.exists()) {
        let readme = read(path)?;
        let (Some(a), Some(b)) = (readme.find(START), readme.find(END)) else {
            return Err(Error::Template(format!(
                "{}: no {START} ... {END} markers for the claims table",
                path.display()
            )));
        };
        let updated = format!("{}{START}\n{}{}", &readme[..a], report.readme_block, &readme[b..]);
        cfm_core::io::write_atomic(path, updated.as_bytes()).map_err(cfm_study::Error::from)?;
    }
    Ok(report)
}

/// The path of `to` relative to the folder `from` (both made absolute first), with `/`.
pub fn relative(to: &Path, from: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (to, from) = (abs(to), abs(from));
    let (t, f): (Vec<_>, Vec<_>) = (to.components().collect(), from.components().collect());
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); f.len() - common];
    parts.extend(t[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        assert_eq!(relative(Path::new("/r/figures/a.svg"), Path::new("/r/paper")), "../figures/a.svg");
        assert_eq!(relative(Path::new("/r/figures/smoke/a.svg"), Path::new("/r/figures/smoke")), "a.svg");
        assert_eq!(relative(Path::new("/x/y/a.svg"), Path::new("/r/paper")), "../../x/y/a.svg");
    }
}
