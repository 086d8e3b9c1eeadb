//! `cfm reproduce`, `cfm run`, `cfm plot`, `cfm report`, `cfm verify`, `cfm list`, `cfm data`:
//! the reproduction pipeline.
//!
//! For each figure: run (or load cached) cells -> `<out>/data/<id>.csv` -> `<out>/<id>.svg`
//! -> an entry of `<out>/manifest.json`; then the report. The default run (quick profile into
//! `figures/`) is the committed one: its report is `paper/REPRODUCTION.md` and it keeps the
//! README's claims block in sync. Any other profile writes under `figures/<profile>/` (or
//! `--out`), report included, and touches nothing committed. Every file is written atomically.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use cfm_core::datasets::{DataDirs, ImageData};
use cfm_study::claims::Verdict;
use cfm_study::figure::{caption, cells};
use cfm_study::manifest::{FigureEntry, Manifest, crate_versions, git_commit, machine};
use cfm_study::{Context, Figure, Profile, figures, pipeline, table};
use indicatif::MultiProgress;

/// Options shared by `reproduce` and `run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Scale of the run.
    #[arg(long, default_value = "quick")]
    pub profile: Profile,
    /// Only these figures (ids as printed by `cfm list`).
    #[arg(long, num_args = 1..)]
    pub only: Vec<String>,
    /// Only the figures that train no network.
    #[arg(long, conflicts_with = "only")]
    pub without_training: bool,
    /// A directory with the datasets (looked up before $CFM_DATA_DIR and /usr/share/datasets).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// List the cells, their estimated cost and the missing data files; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Root seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where figures, tables and the manifest go [default: figures for the quick profile,
    /// figures/<profile> for the others].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Cache of finished cells and trained models.
    #[arg(long, default_value = ".cfm-cache")]
    pub cache: PathBuf,
    /// Hide progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Cells of a figure run at once [default: the number of cores; 1 at --profile paper, whose
    /// cells share one GPU; always 1 for timing figures]. Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Do not regenerate the report at the end.
    #[arg(long)]
    pub no_report: bool,
    /// Compute nothing: assemble tables, figures, manifest and report from the cached cells
    /// (those of `cfm cell` or `cfm slurm`), and list the cells still missing (exit status 1
    /// if any; a figure with a missing cell is not written, nor the report).
    #[arg(long, conflicts_with = "dry_run")]
    pub collect: bool,
}

impl RunArgs {
    /// The output directory.
    pub fn out(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| default_out(self.profile))
    }

    /// The run's context.
    pub fn context(&self) -> Context {
        Context {
            profile: self.profile,
            seed: self.seed,
            data: DataDirs::standard(self.data_dir.as_deref()),
            cache_dir: self.cache.clone(),
            progress: !self.quiet,
            jobs: match self.jobs {
                Some(j) => j,
                None if self.profile == Profile::Paper => 1,
                None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
        }
    }

    /// The selected figures.
    pub fn figures(&self) -> Result<Vec<&'static dyn Figure>> {
        let mut figs = selected(&self.only)?;
        if self.without_training {
            figs.retain(|f| !f.trains());
        }
        Ok(figs)
    }
}

/// `figures` for the default profile, `figures/<profile>` for the others.
pub fn default_out(profile: Profile) -> PathBuf {
    if profile == Profile::Quick {
        PathBuf::from("figures")
    } else {
        Path::new("figures").join(profile.name())
    }
}

/// Options of `plot`.
#[derive(clap::Args)]
pub struct PlotArgs {
    /// Only these figures.
    #[arg(long, num_args = 1..)]
    only: Vec<String>,
    /// Directory holding data/<id>.csv and manifest.json; SVGs are written there.
    #[arg(long, default_value = "figures")]
    out: PathBuf,
}

/// Options of `report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Repository root: figures/ and paper/ are read there, README.md updated.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Another run's figures directory (e.g. figures/smoke): its report is written beside it,
    /// and the README is left alone.
    #[arg(long)]
    figures: Option<PathBuf>,
    /// Leave out what changes between runs (compute times, commit, machine).
    #[arg(long)]
    stable: bool,
}

/// Options of `verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Directory holding the results tables (<figure>.csv), beside their manifest.json.
    #[arg(long, default_value = "figures/data")]
    data: PathBuf,
    /// Claims whose FAIL is a recorded finding (e.g. `C5,C6`): printed, but they do not make
    /// the exit status non-zero. Any other FAIL, or an error, still does.
    #[arg(long, value_delimiter = ',')]
    known_failures: Vec<String>,
}

/// Options of `data`.
#[derive(clap::Args)]
pub struct DataArgs {
    /// A directory with the datasets (looked up before $CFM_DATA_DIR and /usr/share/datasets).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn selected(only: &[String]) -> Result<Vec<&'static dyn Figure>> {
    if only.is_empty() {
        return Ok(figures::all());
    }
    only.iter().map(|id| Ok(figures::get(id)?)).collect()
}

/// The datasets the cells of `figs` read at `ctx`'s profile.
fn datasets_read(figs: &[&'static dyn Figure], ctx: &Context) -> Result<Vec<ImageData>> {
    let mut all = Vec::new();
    for fig in figs {
        for c in cells(*fig, ctx)? {
            all.extend(c.data);
        }
    }
    all.sort();
    all.dedup();
    Ok(all)
}

/// Prints, for each dataset `figs` read, where it is or the fix; returns whether all are there.
fn check_data(figs: &[&'static dyn Figure], ctx: &Context) -> Result<bool> {
    let mut all = true;
    for d in datasets_read(figs, ctx)? {
        if let Err(e) = ctx.data.locate(d) {
            all = false;
            eprintln!("missing: {d}: its cells will be NOT RUN. {e}");
        }
    }
    Ok(all)
}

/// `cfm reproduce` / `cfm run`.
pub fn reproduce(a: &RunArgs) -> Result<()> {
    let figs = a.figures()?;
    let ctx = a.context();
    let out = a.out();
    if a.dry_run {
        check_data(&figs, &ctx)?;
        let mut total = 0.0;
        for fig in &figs {
            for c in pipeline::plan(*fig, &ctx)? {
                let state = match (&c.missing, c.cached) {
                    (Some(m), _) => format!("NOT RUN ({} missing)", m.dataset),
                    (None, true) => "cached".into(),
                    (None, false) => "to run".into(),
                };
                println!("{:<11} {:<32} ~{:>8.1} s  {state}", fig.id(), c.spec.label, c.spec.cost);
                total += if c.cached || c.missing.is_some() { 0.0 } else { c.spec.cost };
            }
        }
        println!("estimated time for the cells to run: {total:.0} s");
        return Ok(());
    }
    check_data(&figs, &ctx)?;
    if a.collect {
        return collect(a, &figs, &ctx, &out);
    }
    let mp = MultiProgress::new();
    for fig in figs {
        let start = Instant::now();
        let run = pipeline::run_figure(fig, &ctx, &mp).with_context(|| format!("figure {}", fig.id()))?;
        publish(fig, &ctx, &out, run)?;
        mp.suspend(|| eprintln!("{:<11} done in {:.1} s", fig.id(), start.elapsed().as_secs_f64()));
    }
    if !a.no_report {
        write_report(a.profile, &out)?;
    }
    Ok(())
}

/// `cfm reproduce --collect`: publishes every figure whose cells are all cached (or NOT RUN
/// for missing data), then the report; lists the cells of the others and fails if there are any.
fn collect(a: &RunArgs, figs: &[&'static dyn Figure], ctx: &Context, out: &Path) -> Result<()> {
    let mut missing = 0;
    for &fig in figs {
        let (run, uncached) =
            pipeline::collect_figure(fig, ctx).with_context(|| format!("figure {}", fig.id()))?;
        if uncached.is_empty() {
            publish(fig, ctx, out, run)?;
            continue;
        }
        for c in cells(fig, ctx)?.iter().filter(|c| uncached.contains(&c.label)) {
            println!("missing: {} {} ({})", fig.id(), pipeline::cell_hash(fig, ctx, c), c.label);
            missing += 1;
        }
    }
    if missing > 0 {
        bail!(
            "{missing} cells are not in the cache {} (listed above): compute them with `cfm cell FIG ID` \
             or `cfm slurm`; their figures and the report were not written",
            ctx.cache_dir.display()
        );
    }
    if !a.no_report {
        write_report(a.profile, out)?;
    }
    Ok(())
}

/// Writes a figure's table, SVG and manifest entry (a figure none of whose cells ran gets
/// only its manifest entry, which lists why).
pub fn publish(fig: &dyn Figure, ctx: &Context, out: &Path, run: pipeline::FigureRun) -> Result<()> {
    let manifest_path = out.join("manifest.json");
    for n in &run.not_run {
        eprintln!("{:<11} NOT RUN: {}: {}", fig.id(), n.cell, n.reason);
    }
    if let Some(table) = &run.table {
        table::write_csv(&out.join("data").join(format!("{}.csv", fig.id())), table)?;
        render(fig, ctx.profile, table, out)?;
    }
    let mut manifest = Manifest::load(&manifest_path)?;
    manifest.figures.insert(
        fig.id().to_string(),
        FigureEntry {
            title: fig.title().to_string(),
            profile: ctx.profile,
            seed: ctx.seed,
            config_hash: run.config_hash,
            cells: run.cells,
            git_commit: git_commit(Path::new(".")),
            crate_versions: crate_versions(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            machine: machine(),
            device: cfm_nn::describe_device()?,
            wall_time_s: (run.compute_s * 10.0).round() / 10.0,
            jobs: pipeline::jobs(fig, ctx),
            cells_of: (fig.cache_namespace() != fig.id()).then(|| fig.cache_namespace().to_string()),
            not_run: run.not_run,
            data_files: run.data_files,
        },
    );
    manifest.save(&manifest_path)?;
    eprintln!(
        "{:<11} {} cells ({} cached), {:.1} s compute -> {}",
        fig.id(),
        run.cells,
        run.cached,
        run.compute_s,
        out.join(format!("{}.svg", fig.id())).display()
    );
    Ok(())
}

/// The report of a run into `out`: `paper/REPRODUCTION.md` and the README block for the default
/// run, `<out>/REPRODUCTION.md` otherwise; skipped outside a checkout (no template).
pub fn write_report(profile: Profile, out: &Path) -> Result<()> {
    let root = Path::new(".");
    let committed = profile == Profile::Quick && out == Path::new("figures");
    let opts = if committed { cfm_report::Options::at(root) } else { cfm_report::Options::beside(root, out) };
    if !opts.template.exists() {
        return Ok(());
    }
    cfm_report::write(&opts).context("writing the report")?;
    eprintln!("report -> {}", opts.report.display());
    Ok(())
}

/// `cfm report`: writes the report (and the README's claims table for the default figures).
pub fn report(a: &ReportArgs) -> Result<()> {
    let mut opts = match &a.figures {
        Some(f) => cfm_report::Options::beside(&a.root, f),
        None => cfm_report::Options::at(&a.root),
    };
    opts.volatile = !a.stable;
    let report = cfm_report::write(&opts)?;
    for link in &report.links {
        let target = opts.report_dir().join(link);
        if !target.exists() {
            bail!("the report links {link}, which does not exist ({}): run `cfm plot`", target.display());
        }
    }
    println!("{}", opts.report.display());
    Ok(())
}

fn render(fig: &dyn Figure, profile: Profile, df: &polars::prelude::DataFrame, out: &Path) -> Result<()> {
    let svg = cfm_plot::render(fig.id(), df, fig.title(), &caption(fig, profile))
        .with_context(|| format!("plotting {}", fig.id()))?;
    cfm_core::io::write_atomic(&out.join(format!("{}.svg", fig.id())), svg.as_bytes())?;
    Ok(())
}

/// `cfm plot`: re-renders SVGs from the saved tables.
pub fn plot(a: &PlotArgs) -> Result<()> {
    let manifest = Manifest::load(&a.out.join("manifest.json"))?;
    for fig in selected(&a.only)? {
        let path = a.out.join("data").join(format!("{}.csv", fig.id()));
        if !path.exists() {
            if a.only.is_empty() {
                continue;
            }
            bail!("{}: no results table; run `cfm reproduce --only {}` first", path.display(), fig.id());
        }
        let profile = manifest.figures.get(fig.id()).map_or(Profile::Quick, |e| e.profile);
        render(fig, profile, &table::read_csv(&path)?, &a.out)?;
        println!("{}", a.out.join(format!("{}.svg", fig.id())).display());
    }
    Ok(())
}

/// `cfm verify`: one block per claim, then the count of each verdict; exit status 1 when a
/// claim FAILs (other than a known failure) or cannot be evaluated, 0 otherwise (INCONCLUSIVE
/// and NOT RUN are reported, not failures).
pub fn verify(a: &VerifyArgs) -> Result<std::process::ExitCode> {
    let outcomes = cfm_study::claims::verify(&a.data);
    let mut failed = false;
    for o in &outcomes {
        println!(
            "{:<4} {:<12} [{}] {}",
            o.claim.id,
            o.verdict.to_string(),
            o.claim.figure,
            o.claim.statement
        );
        println!("     paper:     {}", o.claim.paper);
        if let Some(d) = &o.dataset {
            println!("     decided on {d}");
        }
        if let Some(m) = &o.measured {
            println!("     measured:  {}", m.value);
            println!("     threshold: {}", m.threshold);
            if let cfm_study::claims::Decision::Inconclusive(why) = &m.decision {
                println!("     inconclusive: {why}");
            }
        }
        match &o.verdict {
            Verdict::NotRun(why) => println!("     not run:   {why}"),
            Verdict::Error(e) => println!("     error:     {e}"),
            _ => {}
        }
        let known = a.known_failures.iter().any(|id| id.eq_ignore_ascii_case(o.claim.id));
        failed |= matches!(o.verdict, Verdict::Error(_)) || (o.verdict == Verdict::Fail && !known);
    }
    println!("{}", cfm_study::claims::summary(&outcomes));
    Ok(if failed { std::process::ExitCode::from(1) } else { std::process::ExitCode::SUCCESS })
}

/// `cfm list`: the figures and the claims they decide.
pub fn list() {
    for fig in figures::all() {
        let claims: Vec<&str> = fig.claims().iter().map(|c| c.id).collect();
        let trains = if fig.trains() { " (trains networks)" } else { "" };
        println!(
            "{:<11} {}{trains}{}",
            fig.id(),
            fig.title(),
            if claims.is_empty() { String::new() } else { format!(" [{}]", claims.join(", ")) }
        );
    }
}

/// `cfm data`: every dataset the profiles use, where it was found and that its files are the
/// published ones, or that it is missing and how to get it. Exit status 1 if one is missing.
pub fn data(a: &DataArgs) -> Result<std::process::ExitCode> {
    println!("computes on: {}", cfm_nn::describe_device()?);
    let dirs = DataDirs::standard(a.data_dir.as_deref());
    let names: Vec<String> = dirs.dirs().iter().map(|d| d.display().to_string()).collect();
    println!("data directories, in lookup order: {}", names.join(", "));
    let mut missing = false;
    for d in ImageData::ALL {
        let mut profiles = Vec::new();
        for p in Profile::ALL {
            let ctx = Context { data: dirs.clone(), ..Context::new(p, ".cfm-cache") };
            if d == ImageData::Digits || datasets_read(&figures::all(), &ctx)?.contains(&d) {
                profiles.push(p.name());
            }
        }
        if profiles.is_empty() {
            continue;
        }
        let used = format!(
            "used by the {} profile{}",
            profiles.join(", "),
            if profiles.len() > 1 { "s" } else { "" }
        );
        match dirs.locate(d) {
            Ok(found) if d == ImageData::Digits => {
                println!(
                    "{d:<14} ships with the build ({}), SHA-256 checked; {used}",
                    found.files[0].path.display()
                )
            }
            Ok(found) => println!(
                "{d:<14} found in {}: {} files, each the published file (SHA-256 checked); {used}",
                found.folder.display(),
                found.files.len()
            ),
            Err(e) => {
                missing = true;
                println!("{d:<14} MISSING ({used}): {e}");
            }
        }
    }
    Ok(if missing { std::process::ExitCode::from(1) } else { std::process::ExitCode::SUCCESS })
}
