//! Bad input to `probstab run`: exit code 2, one message on stderr that names
//! the file, the key and where the value is (its line, or the override), no
//! panic, and no results directory.

mod common;

use common::{TempDir, line_of, probstab};
use std::path::Path;

/// Run `probstab run ARGS --out out` in `t` and check the shape of a config
/// error; returns stderr.
fn config_error(t: &TempDir, args: &[&str]) -> String {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", "out"]);
    let run = probstab(t.path(), &all);
    assert_eq!(
        run.code,
        Some(2),
        "a config error exits 2:\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    common::assert_no_panic(&run);
    assert!(
        run.stderr.contains("error"),
        "stderr says it is an error:\n{}",
        run.stderr
    );
    assert!(
        !t.join("out").exists(),
        "a config error created the results directory"
    );
    assert!(
        !t.join("results").exists(),
        "a config error created results/"
    );
    run.stderr
}

const SADDLE: &str = "name = \"bad\"\nkind = \"saddle_theory\"\n\n[saddle]\nmu = 0.5\nlr = 0.1\n";

fn assert_mentions(stderr: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr should mention {needle}:\n{stderr}"
        );
    }
}

#[test]
fn unknown_key_names_the_dotted_key_and_its_line() {
    let t = TempDir::new("unknown-key");
    let text = format!("{SADDLE}lrr = 0.1\n");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml"]);
    let line = format!("line {}", line_of(&text, "lrr"));
    assert_mentions(&stderr, &["bad.toml", "`saddle.lrr`", &line]);
}

#[test]
fn unknown_top_level_key_names_it() {
    let t = TempDir::new("unknown-top");
    let text = format!("sed = 3\n{SADDLE}");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml"]);
    assert_mentions(&stderr, &["bad.toml", "`sed`", "line 1"]);
}

#[test]
fn wrong_type_names_the_key_and_its_line() {
    let t = TempDir::new("wrong-type");
    let text = SADDLE.replace("lr = 0.1", "lr = \"fast\"");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml"]);
    let line = format!("line {}", line_of(&text, "\"fast\""));
    assert_mentions(&stderr, &["bad.toml", "`saddle.lr`", &line]);
}

#[test]
fn unknown_kind_names_kind_and_the_known_kinds() {
    let t = TempDir::new("unknown-kind");
    let text = SADDLE.replace("saddle_theory", "nope");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml"]);
    assert_mentions(
        &stderr,
        &["bad.toml", "`kind`", "line 2", "nope", "saddle_theory"],
    );
}

#[test]
fn zero_learning_rate_is_out_of_range() {
    let t = TempDir::new("lr-zero");
    let text = SADDLE.replace("lr = 0.1", "lr = 0");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml"]);
    let line = format!("line {}", line_of(&text, "lr = 0"));
    assert_mentions(&stderr, &["bad.toml", "`saddle.lr`", &line]);
}

#[test]
fn zero_batch_size_is_out_of_range() {
    let t = TempDir::new("batch-zero");
    let text = format!("{SADDLE}batch_size = 0\n");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml"]);
    let line = format!("line {}", line_of(&text, "batch_size"));
    assert_mentions(&stderr, &["bad.toml", "`saddle.batch_size`", &line]);
}

#[test]
fn regression_batch_size_zero_names_the_regression_key() {
    let t = TempDir::new("reg-batch-zero");
    let text = "name = \"bad\"\nkind = \"regression_theory\"\n\n[regression]\nx = [1.0, 2.0]\nlr = 0.1\nbatch_size = 0\n";
    t.write("bad.toml", text);
    let stderr = config_error(&t, &["bad.toml"]);
    assert_mentions(&stderr, &["bad.toml", "`regression.batch_size`", "line 7"]);
}

#[test]
fn signal_mu_above_one_is_out_of_range() {
    let t = TempDir::new("mu-range");
    let text = SADDLE.replace("mu = 0.5", "mu = 1.5");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml"]);
    let line = format!("line {}", line_of(&text, "mu = 1.5"));
    assert_mentions(&stderr, &["bad.toml", "`saddle.mu`", &line, "1.5"]);
}

#[test]
fn unknown_grid_axis_names_the_axis_and_its_line() {
    let t = TempDir::new("grid-axis");
    let text = format!("{SADDLE}\n[grid]\n\"saddle.lrr\" = [0.1, 0.2]\n");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml"]);
    let line = format!("line {}", line_of(&text, "\"saddle.lrr\""));
    assert_mentions(&stderr, &["bad.toml", "`saddle.lrr`", &line]);
}

#[test]
fn out_of_range_grid_value_names_the_axis_and_the_value() {
    let t = TempDir::new("grid-value");
    let text = format!("{SADDLE}\n[grid]\n\"saddle.mu\" = [0.5, 1.5]\n");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml"]);
    assert_mentions(&stderr, &["bad.toml", "`saddle.mu`", "1.5"]);
}

#[test]
fn malformed_grid_axis_names_the_axis() {
    let t = TempDir::new("grid-malformed");
    let text = format!("{SADDLE}\n[grid]\n\"saddle.lr\" = {{ logspace = [-3, 0, 10] }}\n");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml"]);
    assert_mentions(&stderr, &["bad.toml", "saddle.lr", "logspace"]);
}

#[test]
fn toml_syntax_error_gives_the_line() {
    let t = TempDir::new("syntax");
    t.write("bad.toml", "name = \"bad\"\nkind =\n");
    let stderr = config_error(&t, &["bad.toml"]);
    assert_mentions(&stderr, &["bad.toml", "line 2"]);
}

#[test]
fn missing_config_file_names_the_path() {
    let t = TempDir::new("missing");
    let stderr = config_error(&t, &["does/not/exist.toml"]);
    assert_mentions(&stderr, &["does/not/exist.toml"]);
}

#[test]
fn missing_config_file_states_the_cause_once() {
    let t = TempDir::new("missing-once");
    let stderr = config_error(&t, &["nothing.toml"]);
    let cause = "No such file or directory";
    assert_eq!(
        stderr.matches(cause).count(),
        1,
        "the OS error is repeated:\n{stderr}"
    );
}

#[test]
fn out_of_range_override_names_the_override() {
    let t = TempDir::new("override-range");
    t.write("ok.toml", SADDLE);
    let stderr = config_error(&t, &["ok.toml", "saddle.lr=-1"]);
    assert_mentions(&stderr, &["`saddle.lr`", "saddle.lr=-1"]);
}

/// No line of the file: the value is not there.
fn assert_no_line(stderr: &str, what: &str) {
    assert!(
        !stderr.contains("(line ") && !stderr.contains(", line "),
        "{what}: the error names a line of the file:\n{stderr}"
    );
}

#[test]
fn bad_values_from_overrides_name_the_override_not_a_line_of_the_file() {
    // The file's own values are valid; each override breaks one.
    let t = TempDir::new("override-origin");
    t.write(
        "ok.toml",
        &format!("{SADDLE}\n[grid]\n\"saddle.lr\" = [0.1, 0.2]\n\"saddle.mu\" = [0.1, 0.5]\n"),
    );
    for (over, key) in [
        ("saddle.lr=-1", "saddle.lr"),
        ("saddle.lr=abc", "saddle.lr"),
        ("saddle.mu=2", "saddle.mu"),
        ("grid.saddle.lr=[0.1, -1]", "saddle.lr"),
        ("grid.saddle.mu=[0.5, 1.5]", "saddle.mu"),
        ("grid.saddle.batch_size=[1, 0]", "saddle.batch_size"),
    ] {
        let stderr = config_error(&t, &["ok.toml", over]);
        assert_mentions(
            &stderr,
            &[&format!("`{key}`"), &format!("override `{over}`")],
        );
        assert_no_line(&stderr, over);
    }
    // An override of a whole table: its keys are the override's, not the file's.
    t.write("plain.toml", SADDLE);
    let over = "saddle={lr=-1, mu=0.5}";
    let stderr = config_error(&t, &["plain.toml", over]);
    assert_mentions(&stderr, &["`saddle.lr`", &format!("override `{over}`")]);
    assert_no_line(&stderr, over);
    // A training kind's table too.
    t.write(
        "net.toml",
        "name = \"bad\"\nkind = \"two_layer\"\n\n[model]\ndim = 4\nhidden = 4\n\n[data]\nmu = 0.5\n\n[train]\nlr = 0.1\nsteps = 10\n",
    );
    for over in ["train.lr=-1", "train.lr=abc"] {
        let stderr = config_error(&t, &["net.toml", over]);
        assert_mentions(&stderr, &["`train.lr`", &format!("override `{over}`")]);
        assert_no_line(&stderr, over);
    }
    // A bad value the file itself holds still gets its line.
    let text = format!("{SADDLE}\n[grid]\n\"saddle.mu\" = [0.5, 1.5]\n");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml", "saddle.lr=0.3"]);
    let line = format!("line {}", line_of(&text, "[0.5, 1.5]"));
    assert_mentions(&stderr, &["`saddle.mu`", &line]);
}

#[test]
fn grid_axes_without_values_are_errors_with_their_line() {
    // `{}` once ran the grid without the axis, silently.
    let t = TempDir::new("grid-empty-axis");
    for axis in [
        "\"saddle.lr\" = {}",
        "saddle.lr = {}",
        "\"saddle.lr\" = { linspac = [0.1, 1.0, 3] }",
        "\"saddle.lr\" = []",
    ] {
        let text = format!("{SADDLE}\n[grid]\n\"saddle.mu\" = [0.1, 0.2]\n{axis}\n");
        t.write("bad.toml", &text);
        let stderr = config_error(&t, &["bad.toml"]);
        let line = format!("line {}", line_of(&text, axis));
        assert_mentions(
            &stderr,
            &["bad.toml", "`grid.saddle.lr`", &line, "linspace"],
        );
    }
}

#[test]
fn grid_axis_overrides_without_values_are_errors_naming_the_override() {
    let t = TempDir::new("grid-empty-override");
    t.write(
        "ok.toml",
        &format!("{SADDLE}\n[grid]\n\"saddle.mu\" = [0.1, 0.2]\n"),
    );
    for over in [
        "grid.saddle.lr={}",
        "grid.saddle.lr=[]",
        "grid.saddle.lr={linspac=[0.1, 1.0, 3]}",
        "grid.saddle={lr={}}",
    ] {
        let stderr = config_error(&t, &["ok.toml", over]);
        assert_mentions(
            &stderr,
            &[
                &format!("override `{over}`"),
                "`grid.saddle.lr`",
                "linspace",
            ],
        );
        assert_no_line(&stderr, over);
    }
}

#[test]
fn malformed_overrides_name_the_override() {
    let t = TempDir::new("override-malformed");
    t.write("ok.toml", SADDLE);
    for text in ["saddle..lr=1", "=5", "saddle.lr.x=1", "saddle"] {
        let stderr = config_error(&t, &["ok.toml", text]);
        assert_mentions(&stderr, &[&format!("`{text}`")]);
    }
}

#[test]
fn override_with_an_unknown_key_names_the_override() {
    let t = TempDir::new("override-unknown");
    t.write("ok.toml", SADDLE);
    let stderr = config_error(&t, &["ok.toml", "saddle.lrr=0.3"]);
    assert_mentions(&stderr, &["`saddle.lrr`", "saddle.lrr=0.3"]);
}

#[test]
fn table_the_kind_does_not_use_is_rejected_with_its_line() {
    let t = TempDir::new("unused-table");
    let text = "name = \"bad\"\nkind = \"saddle_theory\"\n\n[saddle]\nmu = 0.5\nlr = 0.1\n\n[regression]\nx = [1.0]\nlr = 0.1\n";
    t.write("bad.toml", text);
    let stderr = config_error(&t, &["bad.toml"]);
    assert_mentions(
        &stderr,
        &["bad.toml", "`regression`", "line 8", "saddle_theory"],
    );
}

#[test]
fn missing_table_the_kind_needs_is_named() {
    let t = TempDir::new("missing-table");
    t.write("bad.toml", "name = \"bad\"\nkind = \"regression_theory\"\n");
    let stderr = config_error(&t, &["bad.toml"]);
    assert_mentions(&stderr, &["bad.toml", "`regression`"]);
}

#[test]
fn unknown_plot_key_names_the_plot_key_and_its_line() {
    let t = TempDir::new("plot-key");
    let text = format!("{SADDLE}\n[[plot]]\nmetrc = \"phase\"\n");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml"]);
    let line = format!("line {}", line_of(&text, "metrc"));
    assert_mentions(&stderr, &["bad.toml", "metrc", &line]);
}

#[test]
fn config_error_without_out_creates_no_results_directory() {
    let t = TempDir::new("no-results");
    t.write("bad.toml", &SADDLE.replace("mu = 0.5", "mu = 1.5"));
    let run = probstab(t.path(), &["run", "bad.toml"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    common::assert_no_panic(&run);
    assert!(
        !t.join("results").exists(),
        "results/ was created for a config error"
    );
}

#[test]
fn axis_repeating_a_number_as_integer_and_float_is_rejected() {
    // 1 and 1.0 are the same learning rate and would share the cell directory
    // `saddle.lr=1`.
    let t = TempDir::new("grid-int-float");
    let text = format!("{SADDLE}\n[grid]\n\"saddle.lr\" = [1, 1.0, 2]\n");
    t.write("bad.toml", &text);
    let stderr = config_error(&t, &["bad.toml"]);
    assert_mentions(&stderr, &["bad.toml", "saddle.lr"]);
}

#[test]
fn oversized_grids_and_sizes_are_errors_not_aborts() {
    let t = TempDir::new("limits");
    t.write(
        "ok.toml",
        "name = \"x\"\nkind = \"saddle_theory\"\n[saddle]\nlr = 0.1\nmu = 0.5\n",
    );
    // 10⁵ × 10⁵ × 10⁵ cells: far past the limit, and past usize for more axes.
    let run = probstab(
        t.path(),
        &[
            "run",
            "ok.toml",
            "--out",
            "o1",
            "grid.saddle.lr={linspace=[0.1,1,100000]}",
            "grid.saddle.mu={linspace=[0,1,100000]}",
            "grid.seed={linspace=[0,99999,100000]}",
        ],
    )
    .failed();
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("more than 10000000 cells"),
        "{}",
        run.stderr
    );
    for (over, key) in [
        ("saddle.n=100000000000", "saddle.n"),
        ("saddle.batch_size=1000000000", "saddle.batch_size"),
    ] {
        let run = probstab(t.path(), &["run", "ok.toml", "--out", "o2", over]).failed();
        assert!(
            run.stderr.contains(key) && run.stderr.contains("limit"),
            "{over}: {}",
            run.stderr
        );
    }
    let run = probstab(t.path(), &["run", "ok.toml", "--out", "o3", "--jobs", "0"]).failed();
    assert!(run.stderr.contains("--jobs 0"), "{}", run.stderr);
    assert!(!t.join("o1").exists() && !t.join("o2").exists());
}

#[test]
fn plot_files_stay_inside_plots_and_plot_keys_are_checked_before_running() {
    let t = TempDir::new("plot_checks");
    let base = "name = \"x\"\nkind = \"saddle_theory\"\n[saddle]\nlr = 0.1\nmu = 0.5\n[grid]\n\"saddle.lr\" = [0.1, 0.2]\n";
    t.write(
        "escape.toml",
        &format!("{base}[[plot]]\nmetric = \"phase\"\nfile = \"../../escaped\"\n"),
    );
    let run = probstab(t.path(), &["run", "escape.toml", "--out", "o"]).failed();
    assert!(
        run.stderr.contains("plot[0].file") && run.stderr.contains("plain file name"),
        "{}",
        run.stderr
    );
    t.write(
        "axis.toml",
        &format!("{base}[[plot]]\nmetric = \"phase\"\nx = \"nope\"\n"),
    );
    let run = probstab(t.path(), &["run", "axis.toml", "--out", "o"]).failed();
    assert!(
        run.stderr.contains("plot[0].x") && run.stderr.contains("not a grid axis"),
        "{}",
        run.stderr
    );
    // Two plots of one metric with nothing to tell their files apart.
    t.write(
        "twice.toml",
        &format!("{base}[[plot]]\nmetric = \"phase\"\n[[plot]]\nmetric = \"m_minus\"\n[[plot]]\nmetric = \"phase\"\ntitle = \"again\"\n"),
    );
    let run = probstab(t.path(), &["run", "twice.toml", "--out", "o"]).failed();
    assert!(
        run.stderr.contains("plot[2].file")
            && run.stderr.contains("plots/phase.png")
            && run.stderr.contains("plot[0]"),
        "{}",
        run.stderr
    );
    assert!(
        !t.join("o").exists(),
        "nothing runs before the plots are checked"
    );
}

/// Every config the repository ships loads and expands into its cells (the
/// sbatch export resolves the whole grid without running it).
#[test]
fn every_shipped_config_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let t = TempDir::new("shipped");
    let mut checked = 0;
    for dir in [root.clone(), root.join("quick")] {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let out = t.join(format!("out{checked}"));
            probstab(
                t.path(),
                &[
                    "slurm",
                    path.to_str().unwrap(),
                    "--out",
                    out.to_str().unwrap(),
                ],
            )
            .ok();
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} configs");
}
