//! Helpers shared by the end-to-end tests of the `probstab` binary: a
//! temporary directory per test, running the binary in it, and small readers
//! for what it writes (summary.csv, metrics.json), and a small image cell
//! to watch, signal and kill.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop unless the
/// test failed (then its path is printed, to look at what the binary left).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "probstab-test-{label}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create a temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.0.join(rel)
    }

    /// Write `text` to `name` in this directory; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with the full output unless the binary exited 0.
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "probstab failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the binary exited non-zero without panicking.
    pub fn failed(self) -> Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a failure, got {:?}:\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        assert_no_panic(&self);
        self
    }
}

pub fn assert_no_panic(run: &Run) {
    assert!(
        !run.stderr.contains("panicked"),
        "the binary panicked:\n{}",
        run.stderr
    );
}

/// The binary, with the working directory `cwd` (so relative paths and the
/// default `results/` land inside the test's directory).
pub fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_probstab"));
    cmd.args(args).current_dir(cwd).env_remove("RUST_LOG");
    cmd
}

pub fn probstab(cwd: &Path, args: &[&str]) -> Run {
    Run::from_output(command(cwd, args).output().expect("start probstab"))
}

/// Start the binary without waiting (for kill tests); output is discarded.
pub fn spawn(cwd: &Path, args: &[&str]) -> Child {
    command(cwd, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start probstab")
}

/// 1-based line of the first line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in the config"))
        + 1
}

pub fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Names of the entries of a directory, sorted.
pub fn list(dir: impl AsRef<Path>) -> Vec<String> {
    let dir = dir.as_ref();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
    {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A parsed CSV file: header and rows of fields.
#[derive(Debug, PartialEq)]
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Csv {
    pub fn read(path: impl AsRef<Path>) -> Self {
        let mut records = parse_csv(&read(path));
        assert!(!records.is_empty(), "empty CSV");
        let header = records.remove(0);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(
                r.len(),
                header.len(),
                "row {i} has {} fields, the header {}",
                r.len(),
                header.len()
            );
        }
        Self {
            header,
            rows: records,
        }
    }

    pub fn column(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column `{name}` in {:?}", self.header))
    }

    /// The values of a column, in row order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        let i = self.column(name);
        self.rows.iter().map(|r| r[i].as_str()).collect()
    }

    pub fn get(&self, row: usize, name: &str) -> &str {
        &self.rows[row][self.column(name)]
    }
}

/// RFC 4180 fields: quotes, doubled quotes, newlines inside quotes.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// A JSON value; numbers keep their text so tests can compare it exactly.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing text at byte {}", p.i));
        }
        Ok(v)
    }

    pub fn read(path: impl AsRef<Path>) -> Json {
        let path = path.as_ref();
        Json::parse(&read(path)).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    }

    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(fields) => fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no key `{key}` in {self:?}")),
            _ => panic!("`{key}` looked up in a non-object {self:?}"),
        }
    }

    pub fn keys(&self) -> Vec<&str> {
        match self {
            Json::Object(fields) => fields.iter().map(|(k, _)| k.as_str()).collect(),
            _ => panic!("not an object: {self:?}"),
        }
    }

    /// A number, or one of the strings "inf", "-inf", "nan" the store uses
    /// for non-finite values, as f64 (Rust's correctly rounded parser).
    pub fn f64(&self) -> f64 {
        match self {
            Json::Number(t) | Json::String(t) => t
                .parse()
                .unwrap_or_else(|_| panic!("`{t}` is not a number")),
            other => panic!("not a number: {other:?}"),
        }
    }

    pub fn str(&self) -> &str {
        match self {
            Json::String(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, text: &str) -> bool {
        if self.s[self.i..].starts_with(text.as_bytes()) {
            self.i += text.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        let Some(&c) = self.s.get(self.i) else {
            return Err("unexpected end".into());
        };
        match c {
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Json::Object(fields));
                }
                loop {
                    self.ws();
                    let Json::String(key) = self.value()? else {
                        return Err(format!("object key expected at byte {}", self.i));
                    };
                    self.ws();
                    if !self.eat(":") {
                        return Err(format!("`:` expected at byte {}", self.i));
                    }
                    fields.push((key, self.value()?));
                    self.ws();
                    if self.eat("}") {
                        return Ok(Json::Object(fields));
                    }
                    if !self.eat(",") {
                        return Err(format!("`,` or `}}` expected at byte {}", self.i));
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    if self.eat("]") {
                        return Ok(Json::Array(items));
                    }
                    if !self.eat(",") {
                        return Err(format!("`,` or `]` expected at byte {}", self.i));
                    }
                }
            }
            b'"' => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    let Some(&b) = self.s.get(self.i) else {
                        return Err("unterminated string".into());
                    };
                    self.i += 1;
                    match b {
                        b'"' => {
                            return String::from_utf8(out)
                                .map(Json::String)
                                .map_err(|e| e.to_string());
                        }
                        b'\\' => {
                            let Some(&e) = self.s.get(self.i) else {
                                return Err("bad escape".into());
                            };
                            self.i += 1;
                            match e {
                                b'n' => out.push(b'\n'),
                                b't' => out.push(b'\t'),
                                b'r' => out.push(b'\r'),
                                b'b' => out.push(8),
                                b'f' => out.push(12),
                                b'u' => {
                                    let hex = std::str::from_utf8(
                                        self.s.get(self.i..self.i + 4).ok_or("bad \\u")?,
                                    )
                                    .map_err(|e| e.to_string())?;
                                    let code =
                                        u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                                    self.i += 4;
                                    let ch = char::from_u32(code).unwrap_or('\u{fffd}');
                                    out.extend(ch.to_string().as_bytes());
                                }
                                other => out.push(other),
                            }
                        }
                        b => out.push(b),
                    }
                }
            }
            b't' if self.eat("true") => Ok(Json::Bool(true)),
            b'f' if self.eat("false") => Ok(Json::Bool(false)),
            b'n' if self.eat("null") => Ok(Json::Null),
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).expect("ascii");
                text.parse::<f64>()
                    .map_err(|_| format!("bad number `{text}`"))?;
                Ok(Json::Number(text.to_string()))
            }
            other => Err(format!("unexpected `{}` at byte {}", other as char, self.i)),
        }
    }
}

/// The PNG file signature.
pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// Panics unless `path` is a PNG of at least `min_bytes`.
pub fn assert_png(path: &Path, min_bytes: usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("no plot {}: {e}", path.display()));
    assert!(
        bytes.starts_with(&PNG_SIGNATURE),
        "{} is not a PNG",
        path.display()
    );
    assert!(
        bytes.len() >= min_bytes,
        "{} has only {} bytes",
        path.display(),
        bytes.len()
    );
}

/// Panics unless `path` is an SVG document with some drawing in it.
pub fn assert_svg(path: &Path) {
    let text = read(path);
    assert!(
        text.contains("<svg") && text.trim_end().ends_with("</svg>"),
        "{} is not an SVG",
        path.display()
    );
    assert!(
        text.len() > 1000,
        "{} has only {} bytes",
        path.display(),
        text.len()
    );
}

/// A two-axis saddle theory grid (3 learning rates x 2 signals), 6 cells.
pub const SADDLE_GRID: &str = r#"name = "saddle_grid"
kind = "saddle_theory"

[saddle]
chi = "teacher"
mu = 0.5
lr = 0.1

[grid]
"saddle.lr" = [0.5, 1.0, 2.0]
"saddle.mu" = [0.1, 0.3]
"#;

/// A saddle_sim grid over the given λ and μ lists whose cells take roughly
/// 0.1 s each: slow enough to kill or cancel a run midway.
pub fn slow_grid(lrs: &str, mus: &str) -> String {
    format!(
        "name = \"slow\"\nkind = \"saddle_sim\"\n\n[saddle]\nmu = 0.5\nlr = 0.1\n\n[sim]\ntrajectories = 200\nsteps = 6000\ntrace_points = 20\ntrace_samples = 2\n\n[grid]\n\"saddle.lr\" = {lrs}\n\"saddle.mu\" = {mus}\n"
    )
}

/// One image_classifier cell named `name` on generated CIFAR-format images
/// (`cifar/` of the test's directory), slow enough (a few seconds) to be
/// watched, signalled and killed: `steps` steps (about 100 a second on 2
/// cores), 250 trace rows; `train` adds lines to its [train] table.
pub fn image_cell(label: &str, name: &str, steps: usize, train: &str) -> TempDir {
    let t = TempDir::new(label);
    train::synthetic_images::write_cifar10(
        &t.join("cifar"),
        &train::synthetic_images::synthetic(3, 32, 100, 40, 2),
    )
    .unwrap();
    t.write(
        "cell.toml",
        &format!(
            r#"name = "{name}"
kind = "image_classifier"

[model]
width = 0.03125

[data]
dataset = "cifar10"
dir = "cifar"
noise_prob = 0.2

[train]
lr = 0.05
batch_size = 8
steps = {steps}
eval_every = 100
trace_points = 250
{train}
[measure]
rank_samples = 24
"#
        ),
    );
    t
}

/// The one cell directory of `out`.
pub fn only_cell(out: &Path) -> PathBuf {
    let cells = list(out.join("cells"));
    assert_eq!(cells.len(), 1, "{cells:?}");
    out.join("cells").join(&cells[0])
}

/// Wait (at most 90 s) until `ready` holds, while `child` runs.
pub fn wait_for(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before {what}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(90),
            "no {what} within 90 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
