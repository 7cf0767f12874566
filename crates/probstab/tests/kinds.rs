//! The kinds through the library: each kind's example config validates into
//! its spec, runs, and writes only metric columns it declares; a plot of an
//! undeclared metric is a config error before any cell runs.

use probstab::kind::CellContext;
use probstab::kinds::KINDS;
use probstab::{Experiment, Grid, ResultsDir};
use std::path::Path;

fn grid(source: &str) -> Result<Grid, probstab::ConfigError> {
    Grid::new(Experiment::from_source(
        Path::new("test.toml"),
        source.to_string(),
        &[],
    )?)
}

#[test]
fn every_kind_writes_only_the_metrics_it_declares() {
    let out = std::env::temp_dir().join(format!("probstab-kinds-{}", std::process::id()));
    let out = ResultsDir::new(out);
    for kind in KINDS {
        let source = format!(
            "name = \"t\"\nkind = \"{}\"\n{}",
            kind.name(),
            kind.example()
        );
        let grid = grid(&source).unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
        let cell = &grid.cells[0];
        let declared: Vec<String> = cell.spec.metrics().into_iter().map(|m| m.name).collect();
        let dir = out.cell(&format!("{}", kind.name()));
        std::fs::create_dir_all(dir.path()).unwrap();
        let output = cell
            .spec
            .run(&CellContext {
                dir: &dir,
                resume: false,
                config_text: "",
                live: None,
            })
            .unwrap_or_else(|e| panic!("{}: {e:#}", kind.name()));
        assert!(!output.metrics.is_empty(), "{}", kind.name());
        for (name, _) in &output.metrics {
            assert!(
                declared.contains(name),
                "{}: writes `{name}`, which it does not declare ({})",
                kind.name(),
                declared.join(", ")
            );
        }
        // Declared names are unique.
        let mut unique = declared.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), declared.len(), "{}", kind.name());
    }
    let _ = std::fs::remove_dir_all(out.path());
}

#[test]
fn a_kind_declares_per_layer_metrics_from_its_spec() {
    let kind = KINDS
        .iter()
        .find(|k| k.name() == "image_classifier")
        .unwrap();
    let source = format!(
        "name = \"t\"\nkind = \"image_classifier\"\n{}",
        kind.example()
    );
    let names: Vec<String> = grid(&source).unwrap().cells[0]
        .spec
        .metrics()
        .into_iter()
        .map(|m| m.name)
        .collect();
    for layer in [
        "sparsity_layer1.1.conv2",
        "sparsity_layer2.0.downsample.0",
        "sparsity_conv1",
    ] {
        assert!(names.iter().any(|n| n == layer), "{layer} in {names:?}");
    }
    assert!(!names.iter().any(|n| n == "sparsity_layer1.0.downsample.0"));
}

#[test]
fn a_plot_of_an_undeclared_metric_is_a_config_error_listing_the_metrics() {
    let source = "name = \"t\"\nkind = \"two_layer\"\n[data]\nmu = 0.5\n[train]\nlr = 0.1\n[grid]\n\"train.lr\" = [0.1, 0.2]\n\n[[plot]]\nmetric = \"rank_w3\"\n";
    let e = grid(source).unwrap_err().to_string();
    assert!(e.contains("plot[0].metric"), "{e}");
    assert!(e.contains("`rank_w3`"), "{e}");
    assert!(
        e.contains("rank_w2") && e.contains("m_l"),
        "the kind's metrics: {e}"
    );
    assert!(e.contains("line 11"), "{e}");
    let contour = source.replace(
        "metric = \"rank_w3\"",
        "metric = \"rank_w2\"\ncontour = [\"m_plus\"]",
    );
    let e = grid(&contour).unwrap_err().to_string();
    assert!(
        e.contains("plot[0].contour") && e.contains("`m_plus`"),
        "{e}"
    );
    // Axes and `status` are columns too.
    let axis = source.replace("metric = \"rank_w3\"", "metric = \"train.lr\"");
    assert!(grid(&axis).is_ok());
}

#[test]
fn an_unknown_kind_lists_the_registry() {
    let e = grid("name = \"t\"\nkind = \"nope\"\n")
        .unwrap_err()
        .to_string();
    for kind in KINDS {
        assert!(e.contains(&format!("`{}`", kind.name())), "{e}");
    }
}

#[test]
fn overrides_drop_the_plots_they_make_undrawable_and_keep_the_others() {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/quick/fig7_two_layer.toml"),
    )
    .unwrap();
    let load = |overrides: &[&str]| {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Grid::new(Experiment::from_source(
            Path::new("fig7.toml"),
            source.clone(),
            &overrides,
        )?)
    };
    assert_eq!(load(&[]).unwrap().experiment.plots.len(), 2);
    // Pinning the axis both plots fix with `where`: both dropped, the run goes on.
    let pinned = load(&["model.activation=linear"]).unwrap();
    assert!(pinned.experiment.plots.is_empty());
    assert!(pinned.experiment.resolved.get("plot").is_none());
    // Another kind that has no `rank_w2`: dropped too.
    let theory = load(&["kind=two_layer_theory"]).unwrap();
    assert!(theory.experiment.plots.is_empty());
    // Without an override the same undrawable plot stays an error.
    let bad = source.replace("metric = \"rank_w2\"", "metric = \"rank_w3\"");
    let e = Grid::new(Experiment::from_source(Path::new("fig7.toml"), bad, &[]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("rank_w3"), "{e}");
}
