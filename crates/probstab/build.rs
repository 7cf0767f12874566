//! Records which commit built the binary (and whether the tree had
//! uncommitted changes) for the provenance of every result: the
//! `PROBSTAB_GIT_COMMIT` and `PROBSTAB_GIT_DIRTY` environment variables of
//! the build. Outside a git checkout both say `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    // Read when the script runs, not when it was compiled: a build
    // directory kept across checkouts (CI's cache) keeps the compiled
    // script, and `env!` would point it at the first checkout for good (its
    // `git` calls failing there, so every binary said "unknown", and its
    // rerun-if-changed naming a missing path, so probstab rebuilt on every
    // cargo call).
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("../..");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) => (!changes.is_empty()).to_string(),
        None => "unknown".into(),
    };
    println!("cargo:rustc-env=PROBSTAB_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=PROBSTAB_GIT_DIRTY={dirty}");
    // Again when HEAD moves, a commit or `git add` happens, or a source changes.
    for dir in [
        git(&["rev-parse", "--git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ]
    .into_iter()
    .flatten()
    {
        let dir = root.join(dir);
        for file in ["HEAD", "index", "packed-refs", "refs"] {
            if dir.join(file).exists() {
                println!("cargo:rerun-if-changed={}", dir.join(file).display());
            }
        }
    }
    println!("cargo:rerun-if-changed={}", root.join("crates").display());
}
