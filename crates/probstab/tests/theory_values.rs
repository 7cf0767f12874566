//! Values the theory kinds write, checked against the paper's closed forms:
//! Eq. (7) and the critical rates 1/x_i² (Prop. 1), Eq. (68)–(69) (Prop. 2).

mod common;

use common::{Csv, Json, TempDir, probstab};

/// Run a one-cell config; returns (summary.csv, the cell's metrics).
fn one_cell(t: &TempDir, text: &str) -> (Csv, Json) {
    t.write("cell.toml", text);
    probstab(t.path(), &["run", "cell.toml", "--out", "out", "--no-plot"]).ok();
    let csv = Csv::read(t.join("out/summary.csv"));
    assert_eq!(csv.rows.len(), 1);
    let record = Json::read(t.join("out/cells/cell/metrics.json"));
    (csv, record.get("metrics").clone())
}

#[test]
fn critical_learning_rate_gives_minus_infinite_m_and_is_stable() {
    // λ = 4 = 1/x₁² for x₁ = 0.5: one factor |1 − λx₁²| is 0, so m = −∞.
    let t = TempDir::new("critical");
    let (csv, metrics) = one_cell(
        &t,
        "name = \"critical\"\nkind = \"regression_theory\"\n\n[regression]\nx = [0.5, 1.0, 4.0]\nlr = 4.0\n",
    );
    assert_eq!(csv.get(0, "m"), "-inf");
    assert_eq!(csv.get(0, "stable"), "true");
    assert_eq!(csv.get(0, "status"), "ok");
    assert_eq!(metrics.get("m"), &Json::String("-inf".into()));
    assert_eq!(metrics.get("stable"), &Json::Bool(true));
}

#[test]
fn regression_m_is_the_mean_log_factor_of_eq_7() {
    let (x, lr) = ([0.5, 1.0, 4.0], 0.3);
    let t = TempDir::new("eq7");
    let (csv, metrics) = one_cell(
        &t,
        &format!(
            "name = \"eq7\"\nkind = \"regression_theory\"\n\n[regression]\nx = {x:?}\nlr = {lr:?}\n"
        ),
    );
    let expected = x
        .iter()
        .map(|xi: &f64| (1.0 - lr * xi * xi).abs().ln())
        .sum::<f64>()
        / x.len() as f64;
    for (source, m) in [
        ("summary.csv", csv.get(0, "m").parse::<f64>().unwrap()),
        ("metrics.json", metrics.get("m").f64()),
    ] {
        assert!(
            (m - expected).abs() < 1e-12,
            "{source}: m = {m}, Eq. 7 gives {expected}"
        );
    }
    // m = (ln 0.925 + ln 0.7 + ln 3.8)/3 > 0: unstable.
    assert_eq!(csv.get(0, "stable"), "false");
}

#[test]
fn bernoulli_chi_gives_the_closed_forms_of_eq_68_and_69() {
    let (a, lr) = (-0.6_f64, 0.7_f64);
    let t = TempDir::new("eq68");
    let (csv, metrics) = one_cell(
        &t,
        &format!(
            "name = \"eq68\"\nkind = \"saddle_theory\"\n\n[saddle]\nchi = \"bernoulli\"\na = {a:?}\nlr = {lr:?}\n"
        ),
    );
    let m_plus = 0.5 * ((1.0 + lr) * (1.0 + lr * a)).abs().ln(); // Eq. (68)
    let m_minus = 0.5 * ((1.0 - lr) * (1.0 - lr * a)).abs().ln(); // Eq. (69)
    for (key, expected) in [("m_plus", m_plus), ("m_minus", m_minus)] {
        let from_csv: f64 = csv.get(0, key).parse().unwrap();
        let from_json = metrics.get(key).f64();
        assert!(
            (from_csv - expected).abs() < 1e-12,
            "summary.csv {key} = {from_csv}, Eq. 68/69 give {expected}"
        );
        assert!(
            (from_json - expected).abs() < 1e-12,
            "metrics.json {key} = {from_json}, Eq. 68/69 give {expected}"
        );
    }
    // Both exponents negative: collapse to the saddle (phase III).
    assert!(m_plus < 0.0 && m_minus < 0.0);
    assert_eq!(csv.get(0, "phase"), "III");
}
