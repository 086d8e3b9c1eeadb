//! `cfm reproduce`, `cfm run`, `cfm plot`, `cfm verify`, `cfm list`: the reproduction pipeline.
//!
//! For each figure: run (or load cached) cells -> `figures/data/<id>.csv` -> `figures/<id>.svg`
//! -> an entry of `figures/manifest.json`. Every file is written atomically.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use cfm_study::claims::Verdict;
use cfm_study::manifest::{FigureEntry, Manifest, crate_versions, git_commit, machine};
use cfm_study::{Context, Figure, Profile, figures, pipeline, table};
use indicatif::MultiProgress;

/// Options shared by `reproduce` and `run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Scale of the run.
    #[arg(long, default_value = "quick")]
    profile: Profile,
    /// Only these figures (ids as printed by `cfm list`).
    #[arg(long, num_args = 1..)]
    only: Vec<String>,
    /// Only the figures that train no network.
    #[arg(long, conflicts_with = "only")]
    without_training: bool,
    /// Directory with the paper's datasets (needed by --profile paper).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// List the cells and their estimated cost, run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Root seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where figures, tables and the manifest go.
    #[arg(long, default_value = "figures")]
    out: PathBuf,
    /// Cache of finished cells and trained models.
    #[arg(long, default_value = ".cfm-cache")]
    cache: PathBuf,
    /// Hide progress bars.
    #[arg(long)]
    quiet: bool,
    /// Cells of a figure run at once [default: the number of cores; 1 at --profile paper, whose
    /// cells share one GPU; always 1 for timing figures]. Results do not depend on it.
    #[arg(long)]
    jobs: Option<usize>,
    /// Do not regenerate the report (paper/REPRODUCTION.md) at the end.
    #[arg(long)]
    no_report: bool,
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
    /// Leave out what changes between runs (compute times, commit, machine).
    #[arg(long)]
    stable: bool,
}

/// Options of `verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Directory holding the results tables (<figure>.csv).
    #[arg(long, default_value = "figures/data")]
    data: PathBuf,
    /// Claims whose FAIL is a recorded finding (e.g. `C5,C6`): printed, but they do not make
    /// the exit status non-zero. Any other FAIL, an error or a claim not run still does.
    #[arg(long, value_delimiter = ',')]
    known_failures: Vec<String>,
}

fn selected(only: &[String]) -> Result<Vec<&'static dyn Figure>> {
    if only.is_empty() {
        return Ok(figures::all());
    }
    only.iter().map(|id| Ok(figures::get(id)?)).collect()
}

/// `cfm reproduce` / `cfm run`.
pub fn reproduce(a: &RunArgs) -> Result<()> {
    let mut figs = selected(&a.only)?;
    if a.without_training {
        figs.retain(|f| !f.trains());
    }
    let ctx = Context {
        profile: a.profile,
        seed: a.seed,
        data_dir: a.data_dir.clone(),
        cache_dir: a.cache.clone(),
        progress: !a.quiet,
        jobs: match a.jobs {
            Some(j) => j,
            None if a.profile == Profile::Paper => 1,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
    };
    if a.profile == Profile::Paper {
        ctx.data_dir().context("--profile paper")?;
    }
    if a.dry_run {
        let mut total = 0.0;
        for fig in &figs {
            for c in pipeline::plan(*fig, &ctx)? {
                let state = if c.cached { "cached" } else { "to run" };
                println!("{:<11} {:<24} ~{:>8.1} s  {state}", fig.id(), c.label, c.cost);
                total += if c.cached { 0.0 } else { c.cost };
            }
        }
        println!("estimated time for the cells to run: {total:.0} s");
        return Ok(());
    }
    let manifest_path = a.out.join("manifest.json");
    let mp = MultiProgress::new();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for fig in figs {
        let start = Instant::now();
        let run = pipeline::run_figure(fig, &ctx, &mp).with_context(|| format!("figure {}", fig.id()))?;
        table::write_csv(&a.out.join("data").join(format!("{}.csv", fig.id())), &run.table)?;
        render(fig, a.profile, &run.table, &a.out)?;
        let mut manifest = Manifest::load(&manifest_path)?;
        manifest.figures.insert(
            fig.id().to_string(),
            FigureEntry {
                title: fig.title().to_string(),
                profile: a.profile,
                seed: a.seed,
                config_hash: run.config_hash,
                cells: run.cells,
                git_commit: git_commit(Path::new(".")),
                crate_versions: crate_versions(),
                threads,
                machine: machine(),
                wall_time_s: (run.compute_s * 10.0).round() / 10.0,
                jobs: pipeline::jobs(fig, &ctx),
                cells_of: (fig.cache_namespace() != fig.id()).then(|| fig.cache_namespace().to_string()),
            },
        );
        manifest.save(&manifest_path)?;
        mp.suspend(|| {
            eprintln!(
                "{:<11} {} cells ({} cached), {:.1} s compute, {:.1} s now -> {}",
                fig.id(),
                run.cells,
                run.cached,
                run.compute_s,
                start.elapsed().as_secs_f64(),
                a.out.join(format!("{}.svg", fig.id())).display()
            )
        });
    }
    // The report lives beside the figures directory (figures/ -> paper/).
    let root = a.out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !a.no_report && root.join("paper").join("templates").exists() {
        let opts = cfm_report::Options { figures: a.out.clone(), ..cfm_report::Options::at(root) };
        cfm_report::write(&opts).context("writing the report")?;
        eprintln!("report -> {}", opts.paper.join("REPRODUCTION.md").display());
    }
    Ok(())
}

/// `cfm report`: writes paper/REPRODUCTION.md and the README's claims table.
pub fn report(a: &ReportArgs) -> Result<()> {
    let opts = cfm_report::Options { volatile: !a.stable, ..cfm_report::Options::at(&a.root) };
    let report = cfm_report::write(&opts)?;
    for link in &report.links {
        let target = opts.paper.join(link);
        if !target.exists() {
            bail!("the report links {link}, which does not exist ({}): run `cfm plot`", target.display());
        }
    }
    println!("{}", opts.paper.join("REPRODUCTION.md").display());
    Ok(())
}

fn render(fig: &dyn Figure, profile: Profile, df: &polars::prelude::DataFrame, out: &Path) -> Result<()> {
    let caption = fig.caption(profile);
    let svg = cfm_plot::render(fig.id(), df, fig.title(), &caption)
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

/// `cfm verify`: one line per claim; exit 1 on FAIL or ERROR, 2 when some figure was not run.
pub fn verify(a: &VerifyArgs) -> Result<std::process::ExitCode> {
    let outcomes = cfm_study::claims::verify(&a.data);
    let (mut failed, mut missing) = (false, false);
    for o in &outcomes {
        println!("{:<4} {:<8} [{}] {}", o.claim.id, o.verdict.to_string(), o.claim.figure, o.claim.statement);
        println!("     paper:     {}", o.claim.paper);
        match (&o.verdict, &o.measured) {
            (_, Some(m)) => {
                println!("     measured:  {}", m.value);
                println!("     threshold: {}", m.threshold);
            }
            (Verdict::NotRun, _) => {
                println!(
                    "     not run: no {}/{}.csv (run `cfm reproduce --only {}`)",
                    a.data.display(),
                    o.claim.figure,
                    o.claim.figure
                )
            }
            (Verdict::Error(e), _) => println!("     error:     {e}"),
            _ => {}
        }
        let known = a.known_failures.iter().any(|id| id.eq_ignore_ascii_case(o.claim.id));
        failed |= matches!(o.verdict, Verdict::Error(_)) || (o.verdict == Verdict::Fail && !known);
        missing |= o.verdict == Verdict::NotRun;
    }
    let pass = outcomes.iter().filter(|o| o.verdict == Verdict::Pass).count();
    println!("{pass} of {} claims pass", outcomes.len());
    Ok(if failed {
        std::process::ExitCode::from(1)
    } else if missing {
        std::process::ExitCode::from(2)
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// `cfm list`: the figures and the claims they decide.
pub fn list() {
    for fig in figures::all() {
        let claims: Vec<&str> = figures::claims_of(fig.id()).iter().map(|c| c.id).collect();
        let trains = if fig.trains() { " (trains networks)" } else { "" };
        println!(
            "{:<11} {}{trains}{}",
            fig.id(),
            fig.title(),
            if claims.is_empty() { String::new() } else { format!(" [{}]", claims.join(", ")) }
        );
    }
}
