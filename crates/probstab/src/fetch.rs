//! `probstab data fetch`: download a data set's archive, check its MD5 while
//! it streams in, and only then unpack it where the training kinds read it.
//!
//! Nothing half-done is left in DIR: the download goes to a `.part` file,
//! the archive is unpacked into a temporary directory and renamed into place
//! once every expected file is there; both are removed whatever happens.

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use flate2::read::GzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// A data set's official archive and what it unpacks to.
struct Source {
    name: &'static str,
    url: &'static str,
    /// MD5 of the archive, lowercase hex.
    md5: &'static str,
    /// File name of the archive (the download is `.<archive>.part`).
    archive: &'static str,
    /// The directory the archive unpacks to, relative to DIR.
    unpacks_to: &'static str,
    /// Files that must be in `unpacks_to` for the data set to count as there.
    required: &'static [&'static str],
    /// Each required file is a whole number of records of this many bytes.
    record_bytes: u64,
}

/// CIFAR-10, binary version (Krizhevsky 2009): 5 training batches and one
/// test batch of 10,000 32×32 colour images each, 30,730,000 bytes a batch.
const CIFAR10: Source = Source {
    name: "CIFAR-10",
    url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    md5: "c32a1d4ab5d03f1406bd41f8a26f4a84",
    archive: "cifar-10-binary.tar.gz",
    unpacks_to: "cifar-10-batches-bin",
    required: &train::images::CIFAR10_FILES,
    record_bytes: train::images::CIFAR_RECORD as u64,
};

/// CIFAR-100, binary version: `train.bin` (50,000 records) and `test.bin`
/// (10,000) of 3074 bytes (coarse label, fine label, 3072 pixels), with the
/// class names in `fine_label_names.txt` and `coarse_label_names.txt`.
const CIFAR100: Source = Source {
    name: "CIFAR-100",
    url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    md5: "03b5dce01913d631647c71ecec9e9cb8",
    archive: "cifar-100-binary.tar.gz",
    unpacks_to: "cifar-100-binary",
    required: &train::images::CIFAR100_FILES,
    record_bytes: train::images::CIFAR100_RECORD as u64,
};

/// Connection setup, and any one read of the response, give up after this.
const TIMEOUT: Duration = Duration::from_secs(60);

/// `probstab data ...`
#[derive(Subcommand)]
pub enum DataCommand {
    /// Download DATASET into DIR, check its MD5 and unpack it.
    ///
    /// Does nothing when the data is already there, unless --force.
    Fetch {
        #[arg(value_enum)]
        dataset: Dataset,
        /// Directory to unpack into (cifar10: DIR/cifar-10-batches-bin,
        /// cifar100: DIR/cifar-100-binary).
        #[arg(long, default_value = "data")]
        dir: PathBuf,
        /// Download from URL instead of the official release.
        #[arg(long)]
        url: Option<String>,
        /// Expected MD5 of the archive. Default: the official release's.
        #[arg(long, value_name = "HEX", value_parser = parse_md5)]
        md5: Option<String>,
        /// Download and unpack again, replacing the data that is there.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Dataset {
    /// CIFAR-10, binary version (cifar-10-binary.tar.gz, 163 MiB).
    Cifar10,
    /// CIFAR-100, binary version (cifar-100-binary.tar.gz, 161 MiB).
    Cifar100,
}

impl Dataset {
    fn source(self) -> &'static Source {
        match self {
            Dataset::Cifar10 => &CIFAR10,
            Dataset::Cifar100 => &CIFAR100,
        }
    }
}

/// `--md5`: 32 hex digits, kept lowercase.
fn parse_md5(text: &str) -> Result<String, String> {
    if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!("`{text}` is not an MD5 digest (32 hex digits)"))
    }
}

pub fn run(command: DataCommand) -> Result<ExitCode> {
    match command {
        DataCommand::Fetch {
            dataset,
            dir,
            url,
            md5,
            force,
        } => {
            let source = dataset.source();
            let url = url.as_deref().unwrap_or(source.url);
            let md5 = md5.as_deref().unwrap_or(source.md5);
            fetch(source, &dir, url, md5, force)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn fetch(source: &Source, dir: &Path, url: &str, md5: &str, force: bool) -> Result<()> {
    let target = dir.join(source.unpacks_to);
    let missing = missing_files(&target, source);
    if missing.is_empty() && !force {
        println!(
            "{} is already in {} (--force downloads it again); use it with data.dir = {:?}",
            source.name,
            target.display(),
            target.display().to_string()
        );
        return Ok(());
    }
    if target.exists() && !force {
        tracing::warn!(
            dir = %target.display(),
            missing = ?missing,
            "incomplete data set (files missing or cut short); downloading it again"
        );
    }
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let part = dir.join(format!(".{}.part", source.archive));
    let staging = dir.join(format!(".unpack-{}", std::process::id()));

    let result = download(url, &part, md5)
        .and_then(|()| unpack(&part, &staging, source, url))
        .and_then(|unpacked| replace_dir(&unpacked, &target));
    // Success or not, neither the download nor the staging area stays.
    remove_quietly(&part);
    remove_quietly(&staging);
    result?;

    println!(
        "{} is in {}; use it with data.dir = {:?}",
        source.name,
        target.display(),
        target.display().to_string()
    );
    Ok(())
}

/// Stream `url` into `part`, checking its length and that its MD5 is `md5`.
fn download(url: &str, part: &Path, md5: &str) -> Result<()> {
    tracing::info!(url, part = %part.display(), "downloading");
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(TIMEOUT))
            .timeout_per_read(Some(TIMEOUT))
            .build(),
    );
    let mut response = agent
        .get(url)
        // The MD5 is of the archive's bytes: ask the server not to compress
        // them again (ureq would decompress a Content-Encoding: gzip body).
        .header("Accept-Encoding", "identity")
        .call()
        .with_context(|| format!("cannot download {url}"))?;
    let status = response.status();
    if status != ureq::http::StatusCode::OK {
        bail!("cannot download {url}: the server answered HTTP {status}, not 200 OK");
    }
    let length = response.body().content_length();

    let bar = match length {
        Some(length) => {
            let bar = ProgressBar::new(length);
            bar.set_style(ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec}, ETA {eta}",
            )?);
            bar
        }
        None => ProgressBar::hidden(),
    };
    let file = File::create(part).with_context(|| format!("cannot create {}", part.display()))?;
    let mut out = BufWriter::new(file);
    let mut hasher = Md5::new();
    let mut reader = response.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut received: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                bar.abandon();
                let what = match length {
                    Some(length) => format!(
                        "the download of {url} broke off after {received} of {length} bytes (truncated)"
                    ),
                    None => format!("the download of {url} broke off after {received} bytes"),
                };
                return Err(anyhow::Error::new(e).context(what));
            }
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", part.display()))?;
        received += n as u64;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|file| file.sync_all())
        .with_context(|| format!("cannot write {}", part.display()))?;
    if let Some(length) = length
        && received != length
    {
        bail!(
            "the download of {url} has {received} bytes, its Content-Length {length} (truncated)"
        );
    }

    let actual = format!("{:x}", hasher.finalize());
    if actual != md5 {
        bail!(
            "MD5 mismatch for {url}: expected {md5}, got {actual}; \
             the download was deleted (a corrupt transfer, or not the archive expected: \
             --md5 sets the digest for another archive)"
        );
    }
    tracing::info!(url, bytes = received, md5 = actual, "download verified");
    Ok(())
}

/// Unpack the tar.gz `archive` into the fresh directory `staging`; returns
/// the unpacked `source.unpacks_to`, which holds every required file.
fn unpack(archive: &Path, staging: &Path, source: &Source, url: &str) -> Result<PathBuf> {
    tracing::info!(archive = %archive.display(), into = %staging.display(), "unpacking");
    remove_quietly(staging);
    fs::create_dir(staging)
        .with_context(|| format!("cannot create the directory {}", staging.display()))?;
    let file = File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    let bad_archive = || format!("cannot unpack the archive from {url}");
    for entry in tar.entries().with_context(bad_archive)? {
        let mut entry = entry.with_context(bad_archive)?;
        let path = entry.path().with_context(bad_archive)?.into_owned();
        let outside = path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if outside {
            bail!(
                "refusing the archive from {url}: its entry {} is an absolute path or has `..` \
                 components",
                path.display()
            );
        }
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Directory => {}
            tar::EntryType::XGlobalHeader => continue,
            other => bail!(
                "refusing the archive from {url}: its entry {} is a {other:?} entry, \
                 not a file or directory",
                path.display()
            ),
        }
        entry
            .unpack_in(staging)
            .with_context(|| format!("cannot unpack {} from {url}", path.display()))?;
    }

    let unpacked = staging.join(source.unpacks_to);
    let missing = missing_files(&unpacked, source);
    if !missing.is_empty() {
        bail!(
            "the archive from {url} is not {}: in {}/, missing or cut short: {}",
            source.name,
            source.unpacks_to,
            missing.join(", ")
        );
    }
    Ok(unpacked)
}

/// Rename `new` to `target`; an old `target` is moved aside first and
/// deleted once the new one is in place (restored if the rename fails).
fn replace_dir(new: &Path, target: &Path) -> Result<()> {
    if !target.exists() {
        return fs::rename(new, target)
            .with_context(|| format!("cannot move {} to {}", new.display(), target.display()));
    }
    let old = target.with_file_name(format!(".old-{}", std::process::id()));
    remove_quietly(&old);
    fs::rename(target, &old)
        .with_context(|| format!("cannot move the old {} aside", target.display()))?;
    if let Err(e) = fs::rename(new, target) {
        let _ = fs::rename(&old, target);
        return Err(e)
            .with_context(|| format!("cannot move {} to {}", new.display(), target.display()));
    }
    tracing::info!(dir = %target.display(), "replaced the old data");
    remove_quietly(&old);
    Ok(())
}

/// The `files` that are not regular files in `dir`.
/// The required files of `source` that are not in `dir` as a whole number
/// (at least one) of records: missing, or cut short by an interrupted copy.
fn missing_files(dir: &Path, source: &Source) -> Vec<&'static str> {
    let whole = |f: &str| {
        fs::metadata(dir.join(f))
            .is_ok_and(|m| m.is_file() && m.len() > 0 && m.len() % source.record_bytes == 0)
    };
    source
        .required
        .iter()
        .copied()
        .filter(|f| !whole(f))
        .collect()
}

/// Remove a file or directory tree if it is there; a failure is only logged.
fn remove_quietly(path: &Path) {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => return,
    };
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove");
    }
}
