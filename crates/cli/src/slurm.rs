//! `cfm slurm`: a run's uncached cells as Slurm job arrays, one task per cell, then one job
//! that collects the outputs.
//!
//! A submission lives in `<cache>/slurm/<unix time>-<pid>/`: for each array `k`, the list
//! `cells-<k>.txt` (line `i + 1` is task `i`'s `FIG ID`) and the task script `array-<k>.sh`
//! (it runs `cfm cell FIG ID`, which exits at once when the cell is cached); `collect.sh`
//! (`cfm reproduce --collect`); `submit.sh`, the sbatch commands (also what `--dry-run`
//! prints); `jobs.txt`, the job ids; and `logs/`. The cache is the shared filesystem: tasks
//! write cells atomically, so a killed or requeued task leaves nothing half-written.
//!
//! Order: a cell that reads another cell of the submission ([`CellSpec::after`]: fig3 reads
//! the model fig2 trains) is in a later array, which waits (`--dependency=afterok:<job>_<task>`)
//! for exactly the tasks its cells read, and is cancelled if one of them fails
//! (`--kill-on-invalid-dep=yes`) instead of pending forever. Cells that are the same cell of
//! two figures (table1's are fig4's) are one task. What cells share without an `after` (a
//! trained model, the feature classifier) is built under a lock on its cache entry by whichever
//! task comes first, and loaded by the others. The collect job waits for every array to end
//! (`afterany`), so it runs even after a failure and lists the cells still missing.
//!
//! Resuming: the same command again submits only the cells not yet cached; when every cell is
//! cached it submits nothing (`cfm reproduce --collect` then writes the outputs).
//!
//! [`CellSpec::after`]: cfm_study::figure::CellSpec::after

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use cfm_study::Profile;

use crate::cells::{self, Row, Scope};
use crate::reproduce::default_out;

/// Options of `slurm`.
#[derive(clap::Args)]
pub struct SlurmArgs {
    #[command(flatten)]
    scope: Scope,
    /// Where the collect job writes figures, tables and the manifest [default: as `reproduce`].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Slurm partition of the jobs (`sbatch --partition`).
    #[arg(long)]
    partition: Option<String>,
    /// Generic resources of each cell's task (`sbatch --gres`, e.g. `gpu:1`).
    #[arg(long)]
    gres: Option<String>,
    /// Time limit of each job (`sbatch --time`, e.g. `12:00:00`).
    #[arg(long)]
    time: Option<String>,
    /// Memory of each job (`sbatch --mem`, e.g. `32G`).
    #[arg(long)]
    mem: Option<String>,
    /// CPUs of each cell's task (`sbatch --cpus-per-task`).
    #[arg(long)]
    cpus_per_task: Option<u32>,
    /// At most this many tasks of an array run at once (`--array=0-N%K`).
    #[arg(long)]
    throttle: Option<u32>,
    /// Another sbatch flag for every job, as one word (`--extra=--account=proj`); repeatable.
    #[arg(long, allow_hyphen_values = true)]
    extra: Vec<String>,
    /// The cfm binary the jobs run, on the shared filesystem [default: this one].
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Print the lists, scripts and sbatch commands; submit nothing.
    #[arg(long)]
    dry_run: bool,
}

/// What the jobs ask Slurm for (passed through to sbatch as given).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--gres` (cell tasks only).
    pub gres: Option<String>,
    /// `--time`.
    pub time: Option<String>,
    /// `--mem`.
    pub mem: Option<String>,
    /// `--cpus-per-task` (cell tasks only).
    pub cpus_per_task: Option<u32>,
    /// The `%K` of `--array`.
    pub throttle: Option<u32>,
    /// Other flags, verbatim.
    pub extra: Vec<String>,
}

/// What the jobs run: the `cfm` command lines.
#[derive(Clone, Debug, PartialEq)]
pub struct Commands {
    /// The binary (absolute).
    pub binary: PathBuf,
    /// The directory the jobs run in (where `cfm slurm` was run: relative paths mean the same).
    pub chdir: PathBuf,
    /// The profile.
    pub profile: Profile,
    /// The root seed.
    pub seed: u64,
    /// The cache (absolute).
    pub cache: PathBuf,
    /// The data directory, when one was given.
    pub data_dir: Option<PathBuf>,
    /// The collect job's output directory.
    pub out: PathBuf,
    /// The selected figures (empty: all).
    pub only: Vec<String>,
}

/// One cell to compute.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Its figure.
    pub figure: &'static str,
    /// Its id.
    pub id: String,
    /// Estimated seconds.
    pub cost_s: f64,
    /// The tasks (indices) whose cells it reads.
    pub after: Vec<usize>,
}

/// A submission: the cells to compute, in dependency order, and how to run them.
#[derive(Clone, Debug)]
pub struct Submission {
    /// Its directory, `<cache>/slurm/<stamp>`.
    pub dir: PathBuf,
    /// The cells to compute.
    pub tasks: Vec<Task>,
    /// The arrays: task indices, in task-id order; array `k` only reads arrays before it.
    pub arrays: Vec<Vec<usize>>,
    /// Resources of the jobs.
    pub resources: Resources,
    /// The commands they run.
    pub commands: Commands,
}

/// The cells of `rows` to compute, each once (a cell listed under two figures is the first
/// one's), with the tasks each reads.
pub fn tasks(rows: &[Row]) -> Vec<Task> {
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut out: Vec<Task> = Vec::new();
    let mut reads: Vec<Vec<(&str, &str)>> = Vec::new();
    for r in rows.iter().filter(|r| r.to_run()) {
        if index.contains_key(&(r.namespace, r.id.as_str())) {
            continue;
        }
        index.insert((r.namespace, r.id.as_str()), out.len());
        out.push(Task { figure: r.figure, id: r.id.clone(), cost_s: r.cost_s, after: Vec::new() });
        reads.push(r.needs.iter().map(|n| (n.namespace, n.id.as_str())).collect());
    }
    for (task, reads) in out.iter_mut().zip(reads) {
        task.after = reads.iter().filter_map(|k| index.get(k).copied()).collect();
        task.after.sort();
        task.after.dedup();
    }
    out
}

/// Groups tasks into arrays by the length of the chain of tasks before them: array 0 reads
/// nothing of the submission, array `k` reads arrays before `k` (and at least one `k - 1`).
pub fn arrays(tasks: &[Task]) -> Result<Vec<Vec<usize>>> {
    let mut depth: Vec<Option<usize>> = vec![None; tasks.len()];
    // Relax until stable: a chain is at most `tasks.len()` long unless there is a cycle.
    for _ in 0..=tasks.len() {
        let mut changed = false;
        for (i, t) in tasks.iter().enumerate() {
            let d = t.after.iter().try_fold(0, |d, &p| depth[p].map(|dp| d.max(dp + 1)));
            if d.is_some() && d != depth[i] {
                depth[i] = d;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    if let Some(i) = depth.iter().position(|d| d.is_none_or(|d| d >= tasks.len())) {
        bail!("{} cell {} reads cells that read it back (a cycle of `after`)", tasks[i].figure, tasks[i].id);
    }
    let n = depth.iter().flatten().max().map_or(0, |d| d + 1);
    let mut out = vec![Vec::new(); n];
    for (i, d) in depth.iter().enumerate() {
        out[d.expect("checked")].push(i);
    }
    Ok(out)
}

/// A word for the shell: as is when it is plain, in single quotes otherwise.
fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn path(p: &Path) -> String {
    quote(&p.display().to_string())
}

impl Submission {
    /// The submission of `rows`' uncached cells into `dir`.
    pub fn new(rows: &[Row], resources: Resources, commands: Commands, dir: PathBuf) -> Result<Self> {
        let tasks = tasks(rows);
        let arrays = arrays(&tasks)?;
        Ok(Self { dir, tasks, arrays, resources, commands })
    }

    /// `(array, task index in it)` of each task.
    fn positions(&self) -> Vec<(usize, usize)> {
        let mut at = vec![(0, 0); self.tasks.len()];
        for (k, a) in self.arrays.iter().enumerate() {
            for (i, &t) in a.iter().enumerate() {
                at[t] = (k, i);
            }
        }
        at
    }

    /// The list of array `k`: one `FIG ID` line per task.
    pub fn list(&self, k: usize) -> String {
        self.arrays[k].iter().map(|&t| format!("{} {}\n", self.tasks[t].figure, self.tasks[t].id)).collect()
    }

    fn list_path(&self, k: usize) -> PathBuf {
        self.dir.join(format!("cells-{k}.txt"))
    }

    fn script_path(&self, k: usize) -> PathBuf {
        self.dir.join(format!("array-{k}.sh"))
    }

    fn collect_path(&self) -> PathBuf {
        self.dir.join("collect.sh")
    }

    /// `--profile`, `--seed`, `--cache` and `--data-dir`, as the cfm commands take them.
    fn store_flags(&self) -> String {
        let c = &self.commands;
        let mut s = format!("--profile {} --seed {} --cache {}", c.profile, c.seed, path(&c.cache));
        if let Some(d) = &c.data_dir {
            s += &format!(" --data-dir {}", path(d));
        }
        s
    }

    /// The task script of array `k`.
    pub fn array_script(&self, k: usize) -> String {
        let list = path(&self.list_path(k));
        format!(
            "#!/bin/bash\n\
             # Task i of this array computes the cell on line i + 1 of {list} (\"FIG ID\"):\n\
             # `cfm cell` exits at once when the cell is cached, and writes it atomically otherwise.\n\
             set -euo pipefail\n\
             read -r fig id < <(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {list}) || true\n\
             if [ -z \"${{id:-}}\" ]; then\n    \
                 echo \"no cell for task $SLURM_ARRAY_TASK_ID in {list}\" >&2\n    \
                 exit 1\n\
             fi\n\
             exec {} cell \"$fig\" \"$id\" {} --quiet\n",
            path(&self.commands.binary),
            self.store_flags()
        )
    }

    /// The collect job's script.
    pub fn collect_script(&self) -> String {
        let c = &self.commands;
        let only = if c.only.is_empty() {
            String::new()
        } else {
            format!(" --only {}", c.only.iter().map(|f| quote(f)).collect::<Vec<_>>().join(" "))
        };
        format!(
            "#!/bin/bash\n\
             # Once every array has ended: tables, figures, manifest and report from the cache.\n\
             # Fails, listing them, when cells are missing: run the same `cfm slurm` again.\n\
             set -euo pipefail\n\
             exec {} reproduce --collect {} --out {}{only} --quiet\n",
            path(&c.binary),
            self.store_flags(),
            path(&c.out)
        )
    }

    /// The flags every job gets: name, log, working directory, partition, time, memory, extras.
    fn common(&self, name: String, log: &str) -> Vec<String> {
        let r = &self.resources;
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name={name}"),
            format!("--output={}", self.dir.join("logs").join(log).display()),
            format!("--chdir={}", self.commands.chdir.display()),
        ];
        args.extend(r.partition.iter().map(|p| format!("--partition={p}")));
        args.extend(r.time.iter().map(|t| format!("--time={t}")));
        args.extend(r.mem.iter().map(|m| format!("--mem={m}")));
        args.extend(r.extra.iter().cloned());
        args
    }

    /// The sbatch arguments of array `k`, given the job ids of the arrays before it.
    pub fn array_args(&self, k: usize, jobs: &[String]) -> Vec<String> {
        let r = &self.resources;
        let mut args = self.common(format!("cfm-{}-{k}", self.commands.profile), "%x-%A_%a.out");
        let last = self.arrays[k].len() - 1;
        args.push(match r.throttle {
            Some(t) => format!("--array=0-{last}%{t}"),
            None => format!("--array=0-{last}"),
        });
        args.extend(r.gres.iter().map(|g| format!("--gres={g}")));
        args.extend(r.cpus_per_task.iter().map(|c| format!("--cpus-per-task={c}")));
        let at = self.positions();
        let mut reads: Vec<(usize, usize)> =
            self.arrays[k].iter().flat_map(|&t| self.tasks[t].after.iter().map(|&p| at[p])).collect();
        reads.sort();
        reads.dedup();
        if !reads.is_empty() {
            let deps: Vec<String> = reads.iter().map(|&(a, i)| format!("{}_{i}", jobs[a])).collect();
            args.push(format!("--dependency=afterok:{}", deps.join(":")));
            args.push("--kill-on-invalid-dep=yes".into());
        }
        args.push(self.script_path(k).display().to_string());
        args
    }

    /// The sbatch arguments of the collect job, given the job ids of the arrays.
    pub fn collect_args(&self, jobs: &[String]) -> Vec<String> {
        let mut args = self.common(format!("cfm-{}-collect", self.commands.profile), "%x-%j.out");
        args.push(format!("--dependency=afterany:{}", jobs.join(":")));
        args.push(self.collect_path().display().to_string());
        args
    }

    /// The sbatch commands as a shell script, the job ids in variables (`submit.sh`).
    pub fn commands_text(&self) -> String {
        let vars: Vec<String> = (0..self.arrays.len()).map(|k| format!("${{job{k}}}")).collect();
        let line = |args: Vec<String>| {
            let words: Vec<String> = args
                .iter()
                .map(|a| if a.starts_with("--dependency=") { format!("\"{a}\"") } else { quote(a) })
                .collect();
            format!("sbatch {}", words.join(" "))
        };
        let mut s = String::from("#!/bin/bash\nset -euo pipefail\n");
        for k in 0..self.arrays.len() {
            s += &format!("job{k}=$({})\n", line(self.array_args(k, &vars)));
        }
        s += &format!("{}\n", line(self.collect_args(&vars)));
        s
    }

    /// Everything `--dry-run` prints: each file of the submission, then the commands.
    pub fn dry_run_text(&self) -> String {
        let mut s = String::new();
        for k in 0..self.arrays.len() {
            s += &format!("# --- {}\n{}", self.list_path(k).display(), self.list(k));
            s += &format!("# --- {}\n{}", self.script_path(k).display(), self.array_script(k));
        }
        s += &format!("# --- {}\n{}", self.collect_path().display(), self.collect_script());
        s += &format!("# --- {}\n{}", self.dir.join("submit.sh").display(), self.commands_text());
        s
    }

    /// Writes the lists, scripts and `submit.sh` (atomically) and makes `logs/`.
    fn write(&self) -> Result<()> {
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        for k in 0..self.arrays.len() {
            cfm_core::io::write_atomic(&self.list_path(k), self.list(k).as_bytes())?;
            cfm_core::io::write_atomic(&self.script_path(k), self.array_script(k).as_bytes())?;
        }
        cfm_core::io::write_atomic(&self.collect_path(), self.collect_script().as_bytes())?;
        cfm_core::io::write_atomic(&self.dir.join("submit.sh"), self.commands_text().as_bytes())?;
        Ok(())
    }

    /// Submits the arrays in order, then the collect job; returns their job ids. If one
    /// submission fails, the jobs already submitted are cancelled.
    fn submit(&self) -> Result<Vec<String>> {
        let mut jobs: Vec<String> = Vec::new();
        for k in 0..=self.arrays.len() {
            let args =
                if k < self.arrays.len() { self.array_args(k, &jobs) } else { self.collect_args(&jobs) };
            match sbatch(&args) {
                Ok(id) => jobs.push(id),
                Err(e) => {
                    if !jobs.is_empty() {
                        let cancelled = Command::new("scancel").args(&jobs).status();
                        eprintln!("cancelled the jobs already submitted ({}): {cancelled:?}", jobs.join(" "));
                    }
                    return Err(e);
                }
            }
        }
        cfm_core::io::write_atomic(&self.dir.join("jobs.txt"), format!("{}\n", jobs.join("\n")).as_bytes())?;
        Ok(jobs)
    }
}

/// `n word`, plural when `n` is not 1.
fn count(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// Runs `sbatch --parsable ...`; returns the job id.
fn sbatch(args: &[String]) -> Result<String> {
    let out = Command::new("sbatch")
        .args(args)
        .output()
        .context("running sbatch (is this a Slurm login node, with sbatch on the PATH?)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("sbatch {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    // `--parsable` prints `<id>` or `<id>;<cluster>`.
    let id = stdout.trim().split(';').next().unwrap_or_default().to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed no job id: {stdout:?}");
    }
    Ok(id)
}

/// `cfm slurm`.
pub fn slurm(a: &SlurmArgs) -> Result<()> {
    let figs = a.scope.figures()?;
    let store = &a.scope.store;
    let rows = cells::rows(&figs, &store.context())?;
    for r in rows.iter().filter(|r| !r.cached) {
        if let (Some(d), Some(why)) = (&r.missing_data, &r.not_run) {
            eprintln!("NOT RUN: {} {} ({}): {d} missing: {why}", r.figure, r.id, r.label);
        }
    }
    let binary = match &a.binary {
        Some(b) => std::path::absolute(b)?,
        None => std::env::current_exe().context("finding the cfm binary: pass --binary")?,
    };
    let cache = std::path::absolute(&store.cache)?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let commands = Commands {
        binary,
        chdir: std::env::current_dir()?,
        profile: store.profile,
        seed: store.seed,
        cache: cache.clone(),
        data_dir: store.data_dir.as_deref().map(std::path::absolute).transpose()?,
        out: a.out.clone().unwrap_or_else(|| default_out(store.profile)),
        only: a.scope.only.clone(),
    };
    let resources = Resources {
        partition: a.partition.clone(),
        gres: a.gres.clone(),
        time: a.time.clone(),
        mem: a.mem.clone(),
        cpus_per_task: a.cpus_per_task,
        throttle: a.throttle,
        extra: a.extra.clone(),
    };
    let dir = cache.join("slurm").join(format!("{stamp}-{}", std::process::id()));
    let sub = Submission::new(&rows, resources, commands, dir)?;
    let cached = rows.iter().filter(|r| r.cached).count();
    if sub.tasks.is_empty() {
        println!(
            "nothing to submit: of {} cells, {cached} are cached and the others cannot run here (NOT RUN). \
             `cfm reproduce --collect` writes the outputs from the cache.",
            rows.len()
        );
        return Ok(());
    }
    let hours: f64 = sub.tasks.iter().map(|t| t.cost_s).sum::<f64>() / 3600.0;
    println!(
        "{} to compute in {} ({cached} of {} cached); estimated {hours:.2} h in all:",
        count(sub.tasks.len(), "cell"),
        count(sub.arrays.len(), "array"),
        count(rows.len(), "cell"),
    );
    let mut per: Vec<(&str, usize, f64)> = Vec::new();
    for t in &sub.tasks {
        match per.iter_mut().find(|p| p.0 == t.figure) {
            Some(p) => (p.1, p.2) = (p.1 + 1, p.2 + t.cost_s / 3600.0),
            None => per.push((t.figure, 1, t.cost_s / 3600.0)),
        }
    }
    for (fig, n, h) in per {
        println!("  {fig:<11} {:<10} {h:>9.2} h", count(n, "cell"));
    }
    if a.dry_run {
        print!("{}", sub.dry_run_text());
        return Ok(());
    }
    sub.write()?;
    let jobs = sub.submit()?;
    println!("submitted from {}:", sub.dir.display());
    for (k, job) in jobs.iter().enumerate() {
        if k < sub.arrays.len() {
            println!("  array {k}: job {job} ({})", count(sub.arrays[k].len(), "task"));
        } else {
            println!("  collect: job {job} (after every array) -> {}", sub.commands.out.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cells::Need;

    fn row(figure: &'static str, id: &str, cached: bool, needs: &[(&'static str, &str)]) -> Row {
        Row {
            figure,
            id: id.into(),
            label: format!("{figure} {id}"),
            network: None,
            cost_s: 1800.0,
            cached,
            missing_data: None,
            not_run: None,
            data: Vec::new(),
            needs: needs
                .iter()
                .map(|&(f, i)| Need { figure: f, id: i.into(), label: String::new(), namespace: f })
                .collect(),
            cell_of: None,
            namespace: figure,
        }
    }

    fn commands() -> Commands {
        Commands {
            binary: "/shared/bin/cfm".into(),
            chdir: "/shared/repo".into(),
            profile: Profile::Paper,
            seed: 3,
            cache: "/shared/cache dir".into(),
            data_dir: Some("/shared/data".into()),
            out: "figures/paper".into(),
            only: Vec::new(),
        }
    }

    /// fig2: a (to run), b (cached); fig3: c reads a, d reads b; table1's e is fig4's e;
    /// f cannot run (data missing).
    fn study() -> Vec<Row> {
        let mut e4 = row("fig4", "e", false, &[]);
        e4.cost_s = 3600.0;
        let mut e1 = row("table1", "e", false, &[("fig4", "e")]);
        (e1.namespace, e1.cell_of) = ("fig4", Some("fig4"));
        e1.needs.clear();
        let mut f = row("fig1a", "f", false, &[]);
        (f.missing_data, f.not_run) = (Some("mnist".into()), Some("get it".into()));
        vec![
            row("fig2", "a", false, &[]),
            row("fig2", "b", true, &[]),
            row("fig3", "c", false, &[("fig2", "a")]),
            row("fig3", "d", false, &[("fig2", "b")]),
            e4,
            e1,
            f,
        ]
    }

    fn submission(resources: Resources) -> Submission {
        Submission::new(&study(), resources, commands(), "/shared/cache dir/slurm/1-2".into()).unwrap()
    }

    #[test]
    fn cached_and_missing_cells_are_skipped_and_shared_cells_are_one_task() {
        let sub = submission(Resources::default());
        let ids: Vec<&str> = sub.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "d", "e"]);
        assert_eq!(sub.tasks[3].figure, "fig4", "table1's cell is fig4's");
        assert_eq!(sub.arrays, vec![vec![0, 2, 3], vec![1]]);
        assert_eq!(sub.list(0), "fig2 a\nfig3 d\nfig4 e\n");
        assert_eq!(sub.list(1), "fig3 c\n");
    }

    #[test]
    fn a_cell_waits_for_exactly_the_tasks_it_reads() {
        let sub = submission(Resources::default());
        let jobs = vec!["100".to_string()];
        let args = sub.array_args(1, &jobs);
        assert!(args.contains(&"--dependency=afterok:100_0".to_string()), "{args:?}");
        assert!(args.contains(&"--kill-on-invalid-dep=yes".to_string()));
        assert!(!sub.array_args(0, &[]).iter().any(|a| a.starts_with("--dependency")));
        let collect = sub.collect_args(&["100".into(), "101".into()]);
        assert!(collect.contains(&"--dependency=afterany:100:101".to_string()), "{collect:?}");
        assert_eq!(collect.last().unwrap(), "/shared/cache dir/slurm/1-2/collect.sh");

        // A chain of three is three arrays; each depends on its own predecessor's task.
        let chain = vec![
            row("x", "1", false, &[]),
            row("x", "2", false, &[("x", "1")]),
            row("x", "3", false, &[("x", "2")]),
        ];
        let sub = Submission::new(&chain, Resources::default(), commands(), "/s".into()).unwrap();
        assert_eq!(sub.arrays, vec![vec![0], vec![1], vec![2]]);
        let jobs: Vec<String> = vec!["7".into(), "8".into()];
        assert!(sub.array_args(2, &jobs).contains(&"--dependency=afterok:8_0".to_string()));
        // A cycle is an error, not a deadlock.
        let cycle = vec![row("x", "1", false, &[("x", "2")]), row("x", "2", false, &[("x", "1")])];
        let err = Submission::new(&cycle, Resources::default(), commands(), "/s".into()).unwrap_err();
        assert!(err.to_string().contains("cycle"), "{err}");
    }

    #[test]
    fn resources_and_extra_flags_are_passed_through() {
        let sub = submission(Resources {
            partition: Some("gpu".into()),
            gres: Some("gpu:1".into()),
            time: Some("12:00:00".into()),
            mem: Some("32G".into()),
            cpus_per_task: Some(8),
            throttle: Some(2),
            extra: vec!["--account=proj".into(), "--qos=long".into()],
        });
        let args = sub.array_args(0, &[]);
        for flag in [
            "--parsable",
            "--array=0-2%2",
            "--partition=gpu",
            "--gres=gpu:1",
            "--time=12:00:00",
            "--mem=32G",
            "--cpus-per-task=8",
            "--account=proj",
            "--qos=long",
            "--job-name=cfm-paper-0",
            "--chdir=/shared/repo",
            "--output=/shared/cache dir/slurm/1-2/logs/%x-%A_%a.out",
        ] {
            assert!(args.contains(&flag.to_string()), "{flag} not in {args:?}");
        }
        // The collect job needs no GPU.
        let collect = sub.collect_args(&["1".into(), "2".into()]);
        assert!(
            collect.contains(&"--partition=gpu".to_string())
                && collect.contains(&"--account=proj".to_string())
        );
        assert!(!collect.iter().any(|a| a.starts_with("--gres") || a.starts_with("--array")));
        assert!(
            !submission(Resources::default())
                .array_args(1, &["1".into()])
                .iter()
                .any(|a| a.contains('%') && a.starts_with("--array"))
        );
    }

    #[test]
    fn scripts_run_one_cell_per_task_and_collect_at_the_end() {
        let sub = submission(Resources::default());
        let script = sub.array_script(0);
        assert!(script.starts_with("#!/bin/bash\n"));
        assert!(
            script.contains(
                "sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" '/shared/cache dir/slurm/1-2/cells-0.txt'"
            ),
            "{script}"
        );
        assert!(
            script.contains(
                "exec /shared/bin/cfm cell \"$fig\" \"$id\" --profile paper --seed 3 --cache '/shared/cache dir' \
                 --data-dir /shared/data --quiet"
            ),
            "{script}"
        );
        let collect = sub.collect_script();
        assert!(collect.contains(
            "exec /shared/bin/cfm reproduce --collect --profile paper --seed 3 --cache '/shared/cache dir' \
             --data-dir /shared/data --out figures/paper --quiet"
        ), "{collect}");
        // The commands are a shell script that passes each array's job id to what reads it.
        let text = sub.commands_text();
        assert!(text.contains("job0=$(sbatch --parsable --job-name=cfm-paper-0 "), "{text}");
        assert!(text.contains("\"--dependency=afterok:${job0}_0\" --kill-on-invalid-dep=yes"), "{text}");
        assert!(
            text.contains(
                "\"--dependency=afterany:${job0}:${job1}\" '/shared/cache dir/slurm/1-2/collect.sh'\n"
            ),
            "{text}"
        );
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
