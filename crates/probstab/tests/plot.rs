//! `probstab plot`: heatmaps of a summary column over two axes, contours,
//! `--where` for extra axes, the experiment's own `[[plot]]` tables, and
//! Fig. 6 trace plots per cell.

mod common;

use common::{SADDLE_GRID, TempDir, assert_png, assert_svg, list, probstab};

/// Run `text` into `out` without plots.
fn run(t: &TempDir, text: &str) {
    t.write("exp.toml", text);
    probstab(t.path(), &["run", "exp.toml", "--out", "out", "--no-plot"]).ok();
}

/// The files the plot command printed (relative to `t`), each checked to exist.
fn printed_files(t: &TempDir, stdout: &str) -> Vec<std::path::PathBuf> {
    let files: Vec<_> = stdout.lines().map(|l| t.join(l.trim())).collect();
    for f in &files {
        assert!(f.is_file(), "printed {} but it is not there", f.display());
    }
    files
}

#[test]
fn phase_heatmap_writes_png_and_svg() {
    let t = TempDir::new("plot-phase");
    run(&t, SADDLE_GRID);
    let plotted = probstab(t.path(), &["plot", "out", "--metric", "phase"]).ok();
    assert_png(&t.join("out/plots/phase.png"), 5000);
    assert_svg(&t.join("out/plots/phase.svg"));
    let printed = printed_files(&t, &plotted.stdout);
    assert!(
        printed.iter().any(|p| p.ends_with("plots/phase.png")),
        "{}",
        plotted.stdout
    );
}

#[test]
fn contour_of_m_minus_is_drawn_over_the_heatmap() {
    let t = TempDir::new("plot-contour");
    run(&t, SADDLE_GRID);
    probstab(
        t.path(),
        &["plot", "out", "--metric", "phase", "--file", "plain"],
    )
    .ok();
    probstab(
        t.path(),
        &[
            "plot",
            "out",
            "--metric",
            "phase",
            "--contour",
            "m_minus",
            "--file",
            "contour",
        ],
    )
    .ok();
    assert_png(&t.join("out/plots/contour.png"), 5000);
    assert_svg(&t.join("out/plots/contour.svg"));
    let (plain, contour) = (
        common::read(t.join("out/plots/plain.svg")),
        common::read(t.join("out/plots/contour.svg")),
    );
    assert_ne!(plain, contour, "the contour changed nothing in the figure");
    assert!(
        contour.contains("m_minus"),
        "the contour is labelled in the SVG"
    );
}

#[test]
fn contour_of_an_unknown_column_is_an_error() {
    let t = TempDir::new("plot-contour-bad");
    run(&t, SADDLE_GRID);
    let failed = probstab(
        t.path(),
        &["plot", "out", "--metric", "phase", "--contour", "m_nope"],
    )
    .failed();
    assert!(failed.stderr.contains("m_nope"), "{}", failed.stderr);
}

#[test]
fn third_varying_axis_needs_where_and_where_fixes_it() {
    let t = TempDir::new("plot-where");
    run(
        &t,
        &format!("{SADDLE_GRID}\"saddle.batch_size\" = [1, 4]\n"),
    );
    let failed = probstab(t.path(), &["plot", "out", "--metric", "phase"]).failed();
    assert!(
        failed.stderr.contains("--where"),
        "the error suggests --where:\n{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("saddle.batch_size"),
        "the error names the axis:\n{}",
        failed.stderr
    );
    assert!(
        !t.join("out/plots/phase.png").exists(),
        "no plot was written for the ambiguous grid"
    );

    let fixed = probstab(
        t.path(),
        &[
            "plot",
            "out",
            "--metric",
            "phase",
            "--where",
            "saddle.batch_size=1",
        ],
    )
    .ok();
    let pngs: Vec<String> = list(t.join("out/plots"))
        .into_iter()
        .filter(|f| f.ends_with(".png"))
        .collect();
    assert_eq!(pngs.len(), 1, "{pngs:?}");
    assert!(
        pngs[0].contains("saddle.batch_size=1"),
        "the file name carries the fixed axis: {pngs:?}"
    );
    assert_png(&t.join("out/plots").join(&pngs[0]), 5000);
    assert!(fixed.stdout.contains(&pngs[0]), "{}", fixed.stdout);
}

#[test]
fn where_on_a_value_no_cell_has_is_an_error() {
    let t = TempDir::new("plot-where-none");
    run(
        &t,
        &format!("{SADDLE_GRID}\"saddle.batch_size\" = [1, 4]\n"),
    );
    let failed = probstab(
        t.path(),
        &[
            "plot",
            "out",
            "--metric",
            "phase",
            "--where",
            "saddle.batch_size=3",
        ],
    )
    .failed();
    assert!(
        failed.stderr.contains("saddle.batch_size"),
        "{}",
        failed.stderr
    );
}

#[test]
fn unknown_metric_column_is_a_clear_error() {
    let t = TempDir::new("plot-unknown");
    run(&t, SADDLE_GRID);
    let failed = probstab(t.path(), &["plot", "out", "--metric", "m_nope"]).failed();
    assert!(
        failed.stderr.contains("`m_nope`"),
        "names the column:\n{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("m_minus") && failed.stderr.contains("phase"),
        "lists the columns there are:\n{}",
        failed.stderr
    );
}

#[test]
fn unknown_where_axis_is_a_clear_error() {
    let t = TempDir::new("plot-where-unknown");
    run(&t, SADDLE_GRID);
    let failed = probstab(
        t.path(),
        &["plot", "out", "--metric", "phase", "--where", "saddle.s=1"],
    )
    .failed();
    assert!(failed.stderr.contains("saddle.s"), "{}", failed.stderr);
}

#[test]
fn plot_of_a_directory_without_results_fails_cleanly() {
    let t = TempDir::new("plot-nothing");
    let failed = probstab(t.path(), &["plot", "nowhere", "--metric", "phase"]).failed();
    assert!(failed.stderr.contains("nowhere"), "{}", failed.stderr);
}

const WITH_PLOTS: &str = r#"
[[plot]]
metric = "phase"
file = "from_config"

[[plot]]
metric = "m_plus"
contour = ["m_plus"]
file = "m_plus_config"
"#;

#[test]
fn plot_without_metric_renders_the_experiments_plot_tables() {
    let t = TempDir::new("plot-tables");
    run(&t, &format!("{SADDLE_GRID}{WITH_PLOTS}"));
    assert!(
        !t.join("out/plots").exists() || list(t.join("out/plots")).is_empty(),
        "--no-plot drew plots"
    );
    probstab(t.path(), &["plot", "out"]).ok();
    for stem in ["from_config", "m_plus_config"] {
        assert_png(&t.join(format!("out/plots/{stem}.png")), 5000);
        assert_svg(&t.join(format!("out/plots/{stem}.svg")));
    }
}

#[test]
fn run_renders_the_experiments_plot_tables() {
    let t = TempDir::new("plot-on-run");
    t.write("exp.toml", &format!("{SADDLE_GRID}{WITH_PLOTS}"));
    let run = probstab(t.path(), &["run", "exp.toml", "--out", "out"]).ok();
    assert!(run.stdout.contains("from_config.png"), "{}", run.stdout);
    assert_png(&t.join("out/plots/from_config.png"), 5000);
    assert_png(&t.join("out/plots/m_plus_config.png"), 5000);
}

#[test]
fn plot_without_metric_or_plot_tables_says_what_to_pass() {
    let t = TempDir::new("plot-no-tables");
    run(&t, SADDLE_GRID);
    let failed = probstab(t.path(), &["plot", "out"]).failed();
    assert!(failed.stderr.contains("--metric"), "{}", failed.stderr);
}

#[test]
fn one_axis_grid_plots_a_line() {
    let t = TempDir::new("plot-line");
    run(
        &t,
        "name = \"line\"\nkind = \"saddle_theory\"\n\n[saddle]\nmu = 0.3\nlr = 0.1\n\n[grid]\n\"saddle.lr\" = { linspace = [0.1, 2.0, 12] }\n",
    );
    probstab(t.path(), &["plot", "out", "--metric", "m_minus"]).ok();
    assert_png(&t.join("out/plots/m_minus.png"), 3000);
    probstab(t.path(), &["plot", "out", "--metric", "phase"]).ok();
    assert_png(&t.join("out/plots/phase.png"), 3000);
}

const REGRESSION_SIM: &str = r#"name = "fig6"
kind = "regression_sim"

[regression]
x = [0.5, 1.0, 2.0]
lr = 0.2

[sim]
trajectories = 50
steps = 200
trace_points = 20
trace_samples = 3

[grid]
"regression.lr" = [0.2, 0.5, 1.0]
"#;

#[test]
fn trace_plot_writes_one_figure_per_cell() {
    let t = TempDir::new("plot-trace");
    run(&t, REGRESSION_SIM);
    let cells = list(t.join("out/cells"));
    assert_eq!(cells.len(), 3);
    for cell in &cells {
        let header = common::read(t.join("out/cells").join(cell).join("trace.csv"));
        let header = header.lines().next().unwrap();
        for column in ["step", "exp_2m", "mean_sq", "sample_0", "sample_2"] {
            assert!(
                header.split(',').any(|c| c == column),
                "{cell}: trace.csv lacks {column}: {header}"
            );
        }
    }
    probstab(
        t.path(),
        &["plot", "out", "--trace", "exp_2m,mean_sq,samples"],
    )
    .ok();
    let pngs: Vec<String> = list(t.join("out/plots"))
        .into_iter()
        .filter(|f| f.ends_with(".png"))
        .collect();
    assert_eq!(pngs.len(), cells.len(), "one trace plot per cell: {pngs:?}");
    for cell in &cells {
        let png = pngs
            .iter()
            .find(|p| p.contains(cell.as_str()))
            .unwrap_or_else(|| panic!("no trace plot for {cell}: {pngs:?}"));
        assert_png(&t.join("out/plots").join(png), 3000);
        let svg = common::read(t.join("out/plots").join(png.replace(".png", ".svg")));
        for label in ["exp_2m", "mean_sq", "single runs"] {
            assert!(
                svg.contains(label),
                "{cell}: the trace plot has no `{label}` series"
            );
        }
    }
}

#[test]
fn trace_plot_of_an_unknown_column_names_it() {
    let t = TempDir::new("plot-trace-bad");
    run(&t, REGRESSION_SIM);
    let failed = probstab(t.path(), &["plot", "out", "--trace", "nope"]).failed();
    assert!(
        failed.stderr.contains("`nope`") && failed.stderr.contains("exp_2m"),
        "{}",
        failed.stderr
    );
}

/// A text axis (an activation, an optimizer) is a heatmap axis with one
/// named column per value; a curve, drawn in axis units, needs numeric axes;
/// a `--where` that matches nothing says which filter it was. All in plain
/// words, not parser or Debug output.
#[test]
fn text_axes_and_empty_filters_are_explained() {
    let t = TempDir::new("plot_text_axis");
    t.write(
        "net.toml",
        r#"name = "text_axis"
kind = "two_layer"
[model]
dim = 2
hidden = 2
[data]
mu = 0.5
[train]
lr = 0.05
steps = 10
[grid]
"model.activation" = ["tanh", "linear"]
"train.lr" = [0.01, 0.02]
"#,
    );
    probstab(t.path(), &["run", "net.toml", "--out", "out", "--no-plot"]).ok();
    for (args, stem) in [
        (&["--x", "model.activation"][..], "m_l"),
        (
            &["--x", "model.activation", "--where", "train.lr=0.02"][..],
            "m_l__train.lr=0.02",
        ),
    ] {
        let plot = probstab(
            t.path(),
            &[&["plot", "out", "--metric", "m_l"][..], args].concat(),
        )
        .ok();
        assert!(
            plot.stdout.contains(&format!("{stem}.png")),
            "{}",
            plot.stdout
        );
        let svg = common::read(t.join(format!("out/plots/{stem}.svg")));
        for name in ["tanh", "linear"] {
            assert!(
                svg.contains(&format!(">\n{name}\n<")),
                "{stem}: no tick label {name}"
            );
        }
    }
    let run = probstab(
        t.path(),
        &[
            "plot",
            "out",
            "--metric",
            "m_l",
            "--x",
            "model.activation",
            "--curve",
            "m_l",
        ],
    )
    .failed();
    assert!(
        run.stderr.contains("a curve needs numeric axes")
            && run.stderr.contains("`model.activation`"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("invalid float"), "{}", run.stderr);
    let run = probstab(
        t.path(),
        &["plot", "out", "--metric", "m_l", "--where", "train.lr=0.5"],
    )
    .failed();
    assert!(
        run.stderr.contains("no cell matches --where train.lr=0.5"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Float("), "{}", run.stderr);
}

/// summary.csv as (header, rows).
fn summary_rows(t: &TempDir) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(t.join("out/summary.csv")).unwrap();
    let mut lines = text
        .lines()
        .map(|l| l.split(',').map(String::from).collect::<Vec<_>>());
    (lines.next().unwrap(), lines.collect())
}

/// The column `name` of a CSV table's rows.
fn column<'a>(header: &[String], rows: &'a [Vec<String>], name: &str) -> Vec<&'a str> {
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    rows.iter().map(|r| r[i].as_str()).collect()
}

/// `probstab plot out --metric METRIC --x X --y Y --reduce mean`.
fn plot_reduced(t: &TempDir, metric: &str, x: &str, y: &str) -> String {
    let mut args = vec!["plot", "out", "--metric", metric, "--x", x];
    if !y.is_empty() {
        args.extend(["--y", y]);
    }
    args.extend(["--reduce", "mean"]);
    probstab(t.path(), &args).ok().stdout
}

#[test]
fn reduce_mean_over_seeds_gives_mean_standard_error_and_n_in_its_own_table() {
    let t = TempDir::new("plot-reduce");
    run(
        &t,
        "name = \"seeds\"\nkind = \"saddle_sim\"\n\n[saddle]\nmu = 0.5\nlr = 0.1\n\n[sim]\ntrajectories = 40\nsteps = 300\n\n[grid]\n\"saddle.lr\" = [0.5, 2.0]\n\"saddle.mu\" = [0.1, 0.3]\nseed = [0, 1, 2]\n",
    );
    let before = std::fs::read_to_string(t.join("out/summary.csv")).unwrap();
    let plotted = plot_reduced(&t, "m_rate", "saddle.lr", "saddle.mu");
    let printed = printed_files(&t, &plotted);
    assert!(
        printed.iter().any(|p| p.ends_with("plots/m_rate.csv")),
        "{plotted}"
    );
    // summary.csv keeps one row per cell.
    assert_eq!(
        std::fs::read_to_string(t.join("out/summary.csv")).unwrap(),
        before
    );
    let (sh, srows) = summary_rows(&t);
    assert_eq!(srows.len(), 12);
    let table = std::fs::read_to_string(t.join("out/plots/m_rate.csv")).unwrap();
    let mut lines = table
        .lines()
        .map(|l| l.split(',').map(String::from).collect::<Vec<_>>());
    let header = lines.next().unwrap();
    let rows: Vec<Vec<String>> = lines.collect();
    let mut expected = vec!["saddle.lr", "saddle.mu"];
    expected.extend(probstab::reduce::COLUMNS);
    assert_eq!(header, expected);
    assert_eq!(rows.len(), 4, "{table}");
    for row in &rows {
        // Recompute the point's mean and standard error from summary.csv.
        let values: Vec<f64> = srows
            .iter()
            .filter(|r| {
                column(&sh, std::slice::from_ref(r), "saddle.lr")[0] == row[0]
                    && column(&sh, std::slice::from_ref(r), "saddle.mu")[0] == row[1]
            })
            .map(|r| {
                column(&sh, std::slice::from_ref(r), "m_rate")[0]
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(values.len(), 3);
        let mean = values.iter().sum::<f64>() / 3.0;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0;
        let (got_mean, got_se): (f64, f64) = (row[5].parse().unwrap(), row[6].parse().unwrap());
        assert_eq!((row[3].as_str(), row[4].as_str()), ("3", "3"));
        assert!(
            (got_mean - mean).abs() < 1e-12 * mean.abs().max(1.0),
            "{row:?}"
        );
        assert!((got_se - (var / 3.0).sqrt()).abs() < 1e-12, "{row:?}");
        assert!(
            row[7..].iter().all(|c| c.is_empty()),
            "not a fraction: {row:?}"
        );
    }
    // The coarse heatmap writes each mean and its error in its cell.
    let svg = std::fs::read_to_string(t.join("out/plots/m_rate.svg")).unwrap();
    assert!(svg.contains("± "), "no cell labels");
    assert!(
        svg.contains("mean ± standard error, n = 3"),
        "title names the error bars"
    );
    // A fraction of trajectories pools its counts: 3 seeds × 40 trials.
    plot_reduced(&t, "frac_converged", "saddle.lr", "saddle.mu");
    let table = std::fs::read_to_string(t.join("out/plots/frac_converged.csv")).unwrap();
    for line in table.lines().skip(1) {
        let c: Vec<f64> = line
            .split(',')
            .skip(5)
            .map(|v| v.parse().unwrap())
            .collect();
        let (mean, successes, trials, low, high) = (c[0], c[2], c[3], c[4], c[5]);
        assert_eq!(trials, 120.0, "{line}");
        assert!((successes / trials - mean).abs() < 1e-9, "{line}");
        assert!(
            low <= mean && mean <= high && low >= 0.0 && high <= 1.0,
            "{line}"
        );
        assert!(high - low > 0.0, "{line}");
    }
}

#[test]
fn reduce_mean_of_a_true_false_metric_draws_binomial_error_bars_on_a_line() {
    let t = TempDir::new("plot-reduce-bool");
    run(
        &t,
        "name = \"neuron\"\nkind = \"neuron\"\n\n[model]\nactivation = \"tanh\"\nw0 = 0.5\nu0 = 0.5\n\n[data]\nn = 50\nteacher = \"linear\"\nsignal = 0.2\nnoise_std = 1.0\n\n[train]\nlr = 0.1\nsteps = 200\nloss = \"half_sum\"\n\n[grid]\n\"train.lr\" = [0.1, 1.5]\nseed = [0, 1, 2, 3, 4]\n",
    );
    plot_reduced(&t, "at_saddle", "train.lr", "");
    let (sh, srows) = summary_rows(&t);
    let table = std::fs::read_to_string(t.join("out/plots/at_saddle.csv")).unwrap();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
    for row in &rows {
        let k = srows
            .iter()
            .filter(|r| column(&sh, std::slice::from_ref(r), "train.lr")[0] == row[0])
            .filter(|r| column(&sh, std::slice::from_ref(r), "at_saddle")[0] == "true")
            .count();
        assert_eq!(row[6], k.to_string(), "successes: {row:?}");
        assert_eq!(row[7], "5", "trials: {row:?}");
        let (low, high): (f64, f64) = (row[8].parse().unwrap(), row[9].parse().unwrap());
        assert!(low < high && low >= 0.0 && high <= 1.0, "{row:?}");
    }
    let svg = std::fs::read_to_string(t.join("out/plots/at_saddle.svg")).unwrap();
    assert!(
        svg.contains("Wilson 95% interval"),
        "title names the interval"
    );
    assert!(
        svg.matches("stroke-width=\"2\"").count() >= 6,
        "two error bars"
    );
}

#[test]
fn reduce_refuses_text_axes_and_traces_and_averages_overlays_too() {
    let t = TempDir::new("plot-reduce-bad");
    run(
        &t,
        "name = \"seeds\"\nkind = \"saddle_sim\"\n\n[saddle]\nmu = 0.5\nlr = 0.1\n\n[sim]\ntrajectories = 20\nsteps = 100\ntrace_points = 10\ntrace_samples = 2\n\n[grid]\n\"saddle.lr\" = [0.2, 0.5, 1.0, 2.0]\n\"saddle.mu\" = [0.1, 0.3, 0.5]\nseed = [0, 1, 2]\n",
    );
    let fails = |args: &[&str], needle: &str| {
        let e = probstab(t.path(), args).failed();
        assert!(e.stderr.contains(needle), "{args:?}: {}", e.stderr);
    };
    fails(
        &["plot", "out", "--metric", "phase", "--reduce", "mean"],
        "`phase` has text values",
    );
    fails(
        &["plot", "out", "--metric", "seed", "--reduce", "mean"],
        "`seed` is a grid axis",
    );
    fails(
        &["plot", "out", "--trace", "m", "--reduce", "mean"],
        "applies to a --metric plot",
    );
    fails(
        &[
            "plot", "out", "--metric", "m_rate", "--x", "seed", "--y", "seed",
        ],
        "same axis",
    );
    // A contour over a reduced map is the contour of the means, not of
    // the first seed's values: its line differs from seed 0's alone.
    let svg = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "plot",
            "out",
            "--metric",
            "frac_converged",
            "--x",
            "saddle.lr",
            "--y",
            "saddle.mu",
            "--contour",
            "m_rate=0.02",
            "--file",
            file,
        ];
        args.extend(extra);
        probstab(t.path(), &args).ok();
        let text = std::fs::read_to_string(t.join(format!("out/plots/{file}.svg"))).unwrap();
        text.lines()
            .filter(|l| l.contains("<polyline"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let mean = svg("a", &["--reduce", "mean"]);
    let first = svg("b", &["--where", "seed=0"]);
    assert!(!mean.is_empty());
    assert_ne!(mean, first, "the reduced map's contour is seed 0's");
    // In an experiment file, reduce with a trace or a prediction is a
    // config error before anything runs.
    t.write(
        "bad.toml",
        &format!(
            "{}\n[[plot]]\ntrace = [\"m\"]\nreduce = \"mean\"\n",
            "name = \"b\"\nkind = \"saddle_sim\"\n\n[saddle]\nmu = 0.5\nlr = 0.1\n\n[grid]\nseed = [0, 1]\n"
        ),
    );
    let e = probstab(t.path(), &["run", "bad.toml", "--out", "bad"]).failed();
    assert!(
        e.stderr.contains("reduce") && e.stderr.contains("trace plot"),
        "{}",
        e.stderr
    );
}
