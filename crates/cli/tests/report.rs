//! The whole pipeline at the smoke profile: `reproduce` then `report`; the report is
//! snapshotted (without the fields that change between runs) and every file it links exists.

use std::path::Path;
use std::process::Command;

fn cfm(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cfm")).args(args).current_dir(dir).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "cfm {args:?} failed:\n{text}");
    text
}

/// Every relative link of `report` (written in `dir`) resolves from `dir`; returns their count.
fn links_resolve(report: &str, dir: &Path) -> usize {
    let mut links = 0;
    for part in report.split("](").skip(1) {
        let target = &part[..part.find(')').unwrap()];
        if !target.starts_with("http") && !target.starts_with('#') {
            assert!(dir.join(target).exists(), "broken link {target} (from {})", dir.display());
            links += 1;
        }
    }
    links
}

#[test]
fn smoke_reproduction_report() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::create_dir_all(root.join("paper/templates")).unwrap();
    for template in ["REPRODUCTION.md", "figures.md"] {
        std::fs::copy(
            repo.join("paper/templates").join(template),
            root.join("paper/templates").join(template),
        )
        .unwrap();
    }
    let readme = "# title\n<!-- claims:start -->\nold\n<!-- claims:end -->\n## rest\n";
    std::fs::write(root.join("README.md"), readme).unwrap();

    // A profile other than the default writes under figures/<profile>, its report beside it,
    // and touches neither the committed figures, the report in paper/ nor the README.
    cfm(root, &["reproduce", "--profile", "smoke", "--quiet"]);
    assert!(
        root.join("figures/smoke/data/fig1a.csv").is_file()
            && root.join("figures/smoke/REPRODUCTION.md").is_file()
    );
    assert!(!root.join("figures/data").exists() && !root.join("figures/manifest.json").exists());
    assert!(!root.join("paper/REPRODUCTION.md").exists());
    assert_eq!(std::fs::read_to_string(root.join("README.md")).unwrap(), readme);
    let beside = std::fs::read_to_string(root.join("figures/smoke/REPRODUCTION.md")).unwrap();
    assert_eq!(links_resolve(&beside, &root.join("figures/smoke")), cfm_study::figures::all().len());

    // The same tables as the committed figures: the report in paper/ and the README block.
    let figures = root.join("figures");
    std::fs::create_dir_all(figures.join("data")).unwrap();
    for entry in std::fs::read_dir(root.join("figures/smoke/data")).unwrap() {
        let e = entry.unwrap();
        std::fs::copy(e.path(), figures.join("data").join(e.file_name())).unwrap();
    }
    std::fs::copy(root.join("figures/smoke/manifest.json"), figures.join("manifest.json")).unwrap();
    cfm(root, &["plot"]);
    cfm(root, &["report", "--stable"]);
    let report = std::fs::read_to_string(root.join("paper/REPRODUCTION.md")).unwrap();
    insta::assert_snapshot!("smoke_report", report);

    // Every relative link resolves from the report's own folder, and every figure has its section.
    assert_eq!(links_resolve(&report, &root.join("paper")), cfm_study::figures::all().len());
    for fig in cfm_study::figures::all() {
        assert!(report.contains(&format!("### `{}`", fig.id())), "no section for {}", fig.id());
        assert!(report.contains(&format!("../figures/{}.svg", fig.id())), "no image for {}", fig.id());
    }
    assert!(!report.contains("{{"), "unfilled placeholder");

    // Figure by figure: each section opens with the paper's claim, our verdict and the figure,
    // then how to read it; what was run and the settings are in the appendix, after every section.
    let appendix = report.find("## Appendix: what was run, and the settings").expect("no appendix");
    for fig in cfm_study::figures::all() {
        let at = report.find(&format!("### `{}`: ", fig.id())).unwrap();
        let rest = &report[at + 1..];
        let section = &rest[..rest.find("\n#").unwrap_or(rest.len())];
        let (verdict, image, read) = (
            section.find("**Our verdict.**").unwrap(),
            section.find("![").unwrap(),
            section.find("**How to read it.**").unwrap(),
        );
        assert!(
            verdict < image && image < read,
            "{} is not laid out claim, verdict, figure, reading",
            fig.id()
        );
        assert!(!section.contains("**Settings") && !section.contains("**What was run"), "{}", fig.id());
        assert!(
            at < appendix && report[appendix..].contains(&format!("### `{}`\n", fig.id())),
            "{}",
            fig.id()
        );
    }
    assert!(report[appendix..].contains("**Settings, the paper's beside ours.**"));

    // The README's claims block is replaced, the rest kept.
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.starts_with("# title\n<!-- claims:start -->\n### Claims at a glance"), "{readme}");
    assert!(readme.ends_with("<!-- claims:end -->\n## rest\n") && !readme.contains("\nold\n"), "{readme}");
    assert!(readme.contains("[paper/REPRODUCTION.md](paper/REPRODUCTION.md)"));
}

#[test]
fn a_broken_template_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("paper/templates")).unwrap();
    std::fs::write(
        root.join("paper/templates/REPRODUCTION.md"),
        "{{claims}} {{sections}} {{manifest}} {{oops}}",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cfm")).args(["report"]).current_dir(root).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("{{generated}}"), "{err}");
}

#[test]
fn verify_exit_status_counts_known_failures_as_findings() {
    let dir = tempfile::tempdir().unwrap();
    // C4 planted false: samples far from the training set; every other claim is not run.
    std::fs::write(
        dir.path().join("memorize.csv"),
        "dataset,statistic,sample,t,index,value\n\
         two-moons,fraction_memorized,0,1.0,0,0.5\n\
         two-moons,mean_d1,0,1.0,0,0.3\n\
         two-moons,train_to_train,0,1.0,0,0.35\n",
    )
    .unwrap();
    let status = |extra: &[&str]| {
        let data = dir.path().to_str().unwrap();
        let mut args = vec!["verify", "--data", data];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_cfm")).args(&args).output().unwrap().status.code()
    };
    assert_eq!(status(&[]), Some(1), "a FAIL must fail");
    assert_eq!(status(&["--known-failures", "C5,C4"]), Some(0), "a known FAIL and claims not run pass");
    assert_eq!(status(&["--known-failures", "C5"]), Some(1), "another claim's listing does not excuse C4");
}
