//! What a user reads, looks at and sends: `probstab traces` (every cell's
//! trace in one long table), `plot --trace COL` over many cells, `run
//! --dry-run` (which writes nothing), and `report.html` opened in a real
//! headless browser (Chromium, where installed; `.ci/run` installs it and
//! sets PROBSTAB_REQUIRE_CHROMIUM=1 so that there it cannot be skipped).

mod common;

use common::{Csv, TempDir, assert_png, assert_svg, list, probstab, read, walk};
use std::path::Path;
use std::process::Command;

/// 2 × 3 two_layer cells, 120 steps, a 30-row trace each.
const NETS: &str = r#"name = "nets"
kind = "two_layer"

[model]
dim = 4
hidden = 4

[data]
mu = 0.5

[train]
lr = 0.1
steps = 120
trace_points = 30

[grid]
"train.lr" = [0.05, 0.1]
"data.mu" = [0.0, 0.5, 1.0]

[[plot]]
metric = "rank_w2"
x = "train.lr"
"#;

fn nets(label: &str) -> TempDir {
    let t = TempDir::new(label);
    t.write("nets.toml", NETS);
    probstab(t.path(), &["run", "nets.toml", "--out", "out"]).ok();
    t
}

#[test]
fn traces_is_one_long_table_of_every_cell_filtered_by_where_and_columns() {
    let t = nets("traces");
    let run = probstab(t.path(), &["traces", "out"]).ok();
    assert!(
        run.stdout.contains("(180 rows from 6 cells)"),
        "{}",
        run.stdout
    );
    let table = Csv::read(t.join("out/traces.csv"));
    assert_eq!(
        table.header,
        [
            "cell", "train.lr", "data.mu", "status", "step", "loss", "log_loss"
        ]
    );
    assert_eq!(table.rows.len(), 6 * 30);
    // Each cell's rows are its trace.csv, with its id and axis values.
    for id in list(t.join("out/cells")) {
        let own = Csv::read(t.join("out/cells").join(&id).join("trace.csv"));
        let rows: Vec<&Vec<String>> = table.rows.iter().filter(|r| r[0] == id).collect();
        assert_eq!(rows.len(), own.rows.len(), "{id}");
        for (long, short) in rows.iter().zip(&own.rows) {
            assert_eq!(&long[4..], &short[..], "{id}");
            assert_eq!(long[3], "ok");
            assert!(
                id.contains(&format!("train.lr={}", long[1])),
                "{id} {long:?}"
            );
        }
    }

    probstab(
        t.path(),
        &[
            "traces",
            "out",
            "--where",
            "data.mu=0.5",
            "--columns",
            "loss",
            "--out",
            "mu.csv",
        ],
    )
    .ok();
    let mu = Csv::read(t.join("mu.csv"));
    assert_eq!(
        mu.header,
        ["cell", "train.lr", "data.mu", "status", "step", "loss"]
    );
    assert_eq!(mu.rows.len(), 2 * 30);
    assert!(mu.rows.iter().all(|r| r[2] == "0.5"), "{:?}", mu.rows[0]);

    let twice = probstab(
        t.path(),
        &[
            "traces",
            "out",
            "--where",
            "data.mu=0.5",
            "--where",
            "data.mu=1",
        ],
    )
    .failed();
    assert!(twice.stderr.contains("`data.mu` twice"), "{}", twice.stderr);
    let unknown = probstab(t.path(), &["traces", "out", "--where", "data.nu=1"]).failed();
    assert!(
        unknown.stderr.contains("not a grid axis"),
        "{}",
        unknown.stderr
    );
    let column = probstab(t.path(), &["traces", "out", "--columns", "lost"]).failed();
    assert!(
        column.stderr.contains("`lost` is in no trace"),
        "{}",
        column.stderr
    );
}

#[test]
fn a_trace_plot_of_one_column_draws_every_cell_coloured_by_an_axis() {
    let t = nets("trace-overlay");
    let run = probstab(
        t.path(),
        &["plot", "out", "--trace", "loss", "--color-by", "data.mu"],
    )
    .ok();
    assert!(run.stdout.contains("trace_loss.png"), "{}", run.stdout);
    assert_png(&t.join("out/plots/trace_loss.png"), 10_000);
    let svg = t.join("out/plots/trace_loss.svg");
    assert_svg(&svg);
    let text = read(&svg);
    for value in ["data.mu = 0.0", "data.mu = 0.5", "data.mu = 1.0"] {
        assert_eq!(
            text.matches(value).count(),
            1,
            "one legend entry for {value}"
        );
    }
    assert!(text.contains("loss of 6 cells by data.mu"), "title");
    let wrong = probstab(
        t.path(),
        &["plot", "out", "--trace", "loss", "--color-by", "lr"],
    )
    .failed();
    assert!(
        wrong.stderr.contains("`lr` is not an axis of this grid"),
        "{}",
        wrong.stderr
    );
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walk(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_dry_run_prints_the_plan_and_an_estimate_and_writes_nothing() {
    let t = TempDir::new("dry-run");
    t.write("nets.toml", NETS);
    let first = probstab(t.path(), &["run", "nets.toml", "--out", "out", "--dry-run"]).ok();
    assert!(
        !t.join("out").exists(),
        "a dry run created the output directory"
    );
    for line in [
        "6 cells over train.lr (2) × data.mu (3)\n",
        "0 already complete in out, 6 to run\n",
        "packs: 1 (of 6 cells), 0 cells alone\n",
        "estimate: none (no complete cells in out to time)\n",
        "dry run: nothing written\n",
    ] {
        assert!(
            first.stdout.contains(line),
            "{line:?} in:\n{}",
            first.stdout
        );
    }
    let unpacked = probstab(
        t.path(),
        &["run", "nets.toml", "--out", "out", "--dry-run", "--no-pack"],
    )
    .ok();
    assert!(
        unpacked
            .stdout
            .contains("packs: none (6 cells, each alone)"),
        "{}",
        unpacked.stdout
    );

    // Half the grid complete: the estimate comes from those cells.
    probstab(
        t.path(),
        &["run", "nets.toml", "--out", "out", "grid.train.lr=[0.05]"],
    )
    .ok();
    let before = snapshot(&t.join("out"));
    let second = probstab(t.path(), &["run", "nets.toml", "--out", "out", "--dry-run"]).ok();
    assert!(
        second
            .stdout
            .contains("3 already complete in out, 3 to run"),
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("estimate: about ")
            && second.stdout.contains("the mean of 3 complete cells here"),
        "{}",
        second.stdout
    );
    assert_eq!(
        snapshot(&t.join("out")),
        before,
        "a dry run changed the results directory"
    );
    let slice = probstab(
        t.path(),
        &[
            "run",
            "nets.toml",
            "--out",
            "out",
            "--dry-run",
            "--cells",
            "0..2",
        ],
    )
    .ok();
    assert!(
        slice.stdout.contains("2 already complete in out, 0 to run"),
        "{}",
        slice.stdout
    );
}

/// Chromium, if it can be run (PROBSTAB_REQUIRE_CHROMIUM=1: it must).
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("PROBSTAB_REQUIRE_CHROMIUM").is_none(),
            "PROBSTAB_REQUIRE_CHROMIUM is set but no chromium runs"
        );
        eprintln!("skipped the browser check: no chromium (apt-get install chromium)");
    }
    found
}

/// The DOM of `page` after its scripts ran, from headless Chromium.
fn dump_dom(browser: &str, page: &Path, fragment: &str) -> String {
    let url = format!("file://{}{fragment}", page.display());
    let output = Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            "--dump-dom",
            &url,
        ])
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_report_is_one_self_contained_page_that_a_browser_renders_without_script_errors() {
    let t = nets("report");
    // `run` wrote it; `report` rewrites it.
    assert!(
        t.join("out/report.html").is_file(),
        "run writes report.html"
    );
    let run = probstab(t.path(), &["report", "out"]).ok();
    assert!(run.stdout.trim().ends_with("report.html"), "{}", run.stdout);
    let page = read(t.join("out/report.html"));
    let without_namespaces = page
        .replace("http://www.w3.org/2000/svg", "")
        .replace("http://www.w3.org/1999/xlink", "");
    assert!(!without_namespaces.contains("http://") && !without_namespaces.contains("https://"));
    assert!(
        !page.contains("<link") && !page.contains(" src="),
        "nothing loaded from outside"
    );
    assert!(
        !page.contains("http-equiv=\"refresh\""),
        "a complete grid's page does not reload"
    );
    assert!(
        page.contains("rank_w2__train.lr") || page.contains("rank_w2"),
        "the plot is named"
    );
    assert!(
        page.contains("trace: log_loss"),
        "the trace figure is there"
    );
    assert!(page.len() < 3 << 20, "{} bytes", page.len());

    // An incomplete grid: its page reloads itself.
    std::fs::remove_file(
        t.join("out/cells")
            .join(&list(t.join("out/cells"))[0])
            .join("metrics.json"),
    )
    .unwrap();
    probstab(t.path(), &["report", "out", "--out", "partial.html"]).ok();
    let partial = read(t.join("partial.html"));
    assert!(
        partial.contains("http-equiv=\"refresh\""),
        "an incomplete grid's page reloads"
    );
    assert!(partial.contains("grid incomplete"));

    let Some(browser) = chromium() else {
        return;
    };
    let dom = dump_dom(browser, &t.join("out/report.html"), "#selftest");
    let body = dom
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or("");
    assert!(
        body.contains("data-ready=\"1\""),
        "the script did not finish: <body{body}>"
    );
    assert!(
        !body.contains("data-errors"),
        "script errors: {}",
        dom.split("script-errors").nth(1).unwrap_or("")
    );
    assert!(
        body.contains("data-selftest=\"ok\""),
        "sorting and filtering: <body{body}>"
    );
    assert!(
        dom.matches("<svg").count() >= 2,
        "the plot and the trace figure are drawn"
    );
    assert!(dom.contains("id=\"summary-table\""));
    let table = dom.split("id=\"summary-table\"").nth(1).unwrap();
    let table = table.split("</table>").next().unwrap();
    assert_eq!(
        table.matches("<tr").count(),
        1 + 6,
        "a header and a row per cell"
    );
}

#[test]
fn a_sliced_run_writes_neither_summary_nor_plots_nor_report() {
    let t = TempDir::new("slice-report");
    t.write("nets.toml", NETS);
    probstab(
        t.path(),
        &["run", "nets.toml", "--out", "out", "--cells", "0..2"],
    )
    .ok();
    for file in ["summary.csv", "report.html", "plots"] {
        assert!(!t.join("out").join(file).exists(), "a slice wrote {file}");
    }
    probstab(t.path(), &["report", "out"]).ok();
    let page = read(t.join("out/report.html"));
    assert!(
        page.contains("http-equiv=\"refresh\""),
        "4 of 6 cells missing: the page reloads"
    );
}
