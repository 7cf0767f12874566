//! `probstab data fetch cifar10` against a canned HTTP server on 127.0.0.1:
//! a good archive unpacks byte for byte, a second run does not download
//! again, and every bad download (404, refused connection, truncated body,
//! wrong MD5, missing batch, `..` entry) fails with a message naming the
//! problem and leaves neither the data directory nor the `.part` file.
//! Never reaches the internet: every run gets `--url` on 127.0.0.1.

mod common;

use common::{Run, TempDir, probstab};
use flate2::Compression;
use flate2::write::GzEncoder;
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const BATCHES: &str = "cifar-10-batches-bin";
const BINS: [&str; 6] = train::images::CIFAR10_FILES;
const PART: &str = ".cifar-10-binary.tar.gz.part";

/// The files of a miniature CIFAR-10 release: each batch is 4 records of
/// 1 label byte + 3072 pixel bytes, different in every file.
fn release_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = BINS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let bytes = (0..4 * 3073u32)
                .map(|j| (j.wrapping_mul(2_654_435_761).rotate_left(i as u32 + 3) >> 7) as u8)
                .collect();
            (name.to_string(), bytes)
        })
        .collect();
    files.push((
        "batches.meta.txt".into(),
        b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n".to_vec(),
    ));
    files.push((
        "readme.html".into(),
        b"<html>test release</html>\n".to_vec(),
    ));
    files
}

/// A tar.gz of `cifar-10-batches-bin/` holding `files`, laid out like the
/// official archive, plus `extra` entries whose raw names are written into
/// the header as given (so `../evil` gets past tar's own checks).
fn archive(files: &[(String, Vec<u8>)], extra: &[(&str, &[u8])]) -> Vec<u8> {
    archive_of(BATCHES, files, extra)
}

/// A tar.gz of `top/` holding `files`, then the raw `extra` entries.
fn archive_of(top: &str, files: &[(String, Vec<u8>)], extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    tar.append_data(&mut dir, format!("{top}/"), std::io::empty())
        .expect("append the directory");
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        tar.append_data(&mut header, format!("{top}/{name}"), bytes.as_slice())
            .expect("append a file");
    }
    for (raw_name, bytes) in extra {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..raw_name.len()].copy_from_slice(raw_name.as_bytes());
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        header.set_cksum();
        tar.append(&header, *bytes).expect("append a raw entry");
    }
    tar.into_inner()
        .expect("finish the tar")
        .finish()
        .expect("finish the gzip")
}

fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", Md5::digest(bytes))
}

/// What the server answers on one path.
#[derive(Clone)]
enum Reply {
    /// 200 with the whole body.
    Ok(Vec<u8>),
    /// 200 whose Content-Length promises `promised` bytes, then the body and
    /// a closed connection.
    Truncated { body: Vec<u8>, promised: usize },
    /// Any other status, with a short text body.
    Status(u16, &'static str),
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 with canned replies per path;
/// counts the requests it gets.
struct Server {
    base: String,
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn start(routes: Vec<(&'static str, Reply)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                // A client that hangs up early is not the server's problem.
                let _ = serve(stream, &routes);
            }
        });
        Self { base, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, routes: &[(&'static str, Reply)]) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let reply = routes
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, r)| r.clone())
        .unwrap_or(Reply::Status(404, "Not Found"));
    let (status, body, length) = match &reply {
        Reply::Ok(body) => ("200 OK".to_string(), body.as_slice(), body.len()),
        Reply::Truncated { body, promised } => ("200 OK".to_string(), body.as_slice(), *promised),
        Reply::Status(code, reason) => {
            (format!("{code} {reason}"), reason.as_bytes(), reason.len())
        }
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/x-gzip\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )?;
    stream.write_all(body)?;
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Both)
}

/// `probstab data fetch cifar10 --dir data --url URL [MORE...]` in `t`.
fn fetch(t: &TempDir, url: &str, more: &[&str]) -> Run {
    let mut args = vec!["data", "fetch", "cifar10", "--dir", "data", "--url", url];
    args.extend_from_slice(more);
    probstab(t.path(), &args)
}

/// A failed fetch left no data directory, no `.part` and no staging area.
fn assert_nothing_left(t: &TempDir) {
    assert!(
        !t.join("data").join(BATCHES).exists(),
        "a failed fetch left data/{BATCHES}"
    );
    assert!(
        !t.join("data").join(PART).exists(),
        "a failed fetch left data/{PART}"
    );
    if t.join("data").exists() {
        let left = common::list(t.join("data"));
        assert!(left.is_empty(), "a failed fetch left {left:?} in data/");
    }
}

#[test]
fn good_archive_unpacks_byte_identical_and_a_second_run_does_not_download() {
    let files = release_files();
    let good = archive(&files, &[]);
    let server = Server::start(vec![("/cifar-10-binary.tar.gz", Reply::Ok(good.clone()))]);
    let url = server.url("/cifar-10-binary.tar.gz");
    let t = TempDir::new("fetch-good");

    let run = fetch(&t, &url, &["--md5", &md5_hex(&good)]).ok();
    assert_eq!(server.requests(), 1);
    let batches = t.join("data").join(BATCHES);
    for (name, bytes) in &files {
        let got = std::fs::read(batches.join(name))
            .unwrap_or_else(|e| panic!("{BATCHES}/{name} was not unpacked: {e}"));
        assert!(got == *bytes, "{BATCHES}/{name} differs from the archive's");
    }
    let mut expected: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    expected.sort();
    assert_eq!(common::list(&batches), expected);
    assert_eq!(
        common::list(t.join("data")),
        vec![BATCHES.to_string()],
        "only the data set is left in data/ (no .part, no staging directory)"
    );
    assert!(
        run.stdout.contains("data/cifar-10-batches-bin") && run.stdout.contains("data.dir"),
        "stdout says where the data is and which key to set:\n{}",
        run.stdout
    );

    let again = fetch(&t, &url, &["--md5", &md5_hex(&good)]).ok();
    assert_eq!(server.requests(), 1, "a second run contacted the server");
    assert!(
        again.stdout.contains("already"),
        "a second run says the data is already there:\n{}",
        again.stdout
    );
}

#[test]
fn a_batch_cut_short_counts_as_missing_and_is_downloaded_again() {
    let files = release_files();
    let good = archive(&files, &[]);
    let server = Server::start(vec![("/c.tar.gz", Reply::Ok(good.clone()))]);
    let t = TempDir::new("fetch-cut-short");
    let md5 = md5_hex(&good);
    fetch(&t, &server.url("/c.tar.gz"), &["--md5", &md5]).ok();
    let batch = t.join("data").join(BATCHES).join("data_batch_3.bin");
    let whole = std::fs::read(&batch).expect("read the batch");
    std::fs::write(&batch, &whole[..whole.len() - 100]).expect("cut the batch short");

    let again = fetch(&t, &server.url("/c.tar.gz"), &["--md5", &md5]).ok();
    assert_eq!(
        server.requests(),
        2,
        "a batch cut short is downloaded again"
    );
    assert!(!again.stdout.contains("already"), "{}", again.stdout);
    assert!(std::fs::read(&batch).expect("read the batch") == whole);
}

#[test]
fn force_downloads_again_and_replaces_the_data() {
    let files = release_files();
    let good = archive(&files, &[]);
    let server = Server::start(vec![("/c.tar.gz", Reply::Ok(good.clone()))]);
    let t = TempDir::new("fetch-force");
    let md5 = md5_hex(&good);
    fetch(&t, &server.url("/c.tar.gz"), &["--md5", &md5]).ok();
    let batch = t.join("data").join(BATCHES).join("data_batch_1.bin");
    std::fs::write(&batch, b"stale").expect("overwrite a batch");
    std::fs::write(t.join("data").join(BATCHES).join("extra.txt"), b"old").expect("write");

    fetch(&t, &server.url("/c.tar.gz"), &["--md5", &md5, "--force"]).ok();
    assert_eq!(server.requests(), 2, "--force downloads again");
    assert!(std::fs::read(&batch).expect("read the batch") == files[0].1);
    assert!(
        !t.join("data").join(BATCHES).join("extra.txt").exists(),
        "--force replaces the old directory"
    );
    assert_eq!(common::list(t.join("data")), vec![BATCHES.to_string()]);
}

#[test]
fn an_http_error_status_names_the_url_and_the_status() {
    let server = Server::start(vec![]);
    let url = server.url("/nowhere.tar.gz");
    let t = TempDir::new("fetch-404");
    let run = fetch(&t, &url, &[]).failed();
    assert!(
        run.stderr.contains(&url) && run.stderr.contains("404"),
        "the error names the URL and the status:\n{}",
        run.stderr
    );
    assert_nothing_left(&t);
}

#[test]
fn a_refused_connection_names_the_url() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}/cifar-10-binary.tar.gz");
    let t = TempDir::new("fetch-refused");
    let run = fetch(&t, &url, &[]).failed();
    assert!(
        run.stderr.contains(&url),
        "the error names the URL:\n{}",
        run.stderr
    );
    assert_nothing_left(&t);
}

#[test]
fn a_body_shorter_than_its_content_length_is_reported_truncated() {
    let good = archive(&release_files(), &[]);
    let half = good[..good.len() / 2].to_vec();
    let server = Server::start(vec![(
        "/short.tar.gz",
        Reply::Truncated {
            body: half,
            promised: good.len(),
        },
    )]);
    let url = server.url("/short.tar.gz");
    let t = TempDir::new("fetch-truncated");
    let run = fetch(&t, &url, &["--md5", &md5_hex(&good)]).failed();
    assert!(
        run.stderr.contains("truncated") && run.stderr.contains(&url),
        "the error says the download was truncated:\n{}",
        run.stderr
    );
    assert_nothing_left(&t);
}

#[test]
fn an_md5_mismatch_names_both_digests_and_deletes_the_download() {
    let good = archive(&release_files(), &[]);
    let mut other_files = release_files();
    other_files[2].1[100] ^= 0xff;
    let tampered = archive(&other_files, &[]);
    let server = Server::start(vec![("/tampered.tar.gz", Reply::Ok(tampered.clone()))]);
    let url = server.url("/tampered.tar.gz");
    let t = TempDir::new("fetch-md5");
    let expected = md5_hex(&good);
    let run = fetch(&t, &url, &["--md5", &expected]).failed();
    assert!(
        run.stderr.contains("MD5")
            && run.stderr.contains(&expected)
            && run.stderr.contains(&md5_hex(&tampered))
            && run.stderr.contains(&url),
        "the error names the expected and actual digests and the URL:\n{}",
        run.stderr
    );
    assert_nothing_left(&t);
}

#[test]
fn the_default_md5_is_the_official_release() {
    let good = archive(&release_files(), &[]);
    let server = Server::start(vec![("/c.tar.gz", Reply::Ok(good))]);
    let t = TempDir::new("fetch-default-md5");
    let run = fetch(&t, &server.url("/c.tar.gz"), &[]).failed();
    assert!(
        run.stderr
            .contains("expected c32a1d4ab5d03f1406bd41f8a26f4a84"),
        "without --md5 the official digest is expected:\n{}",
        run.stderr
    );
    assert_nothing_left(&t);
}

#[test]
fn an_archive_without_the_test_batch_names_the_missing_file() {
    let files: Vec<_> = release_files()
        .into_iter()
        .filter(|(name, _)| name != "test_batch.bin")
        .collect();
    let incomplete = archive(&files, &[]);
    let server = Server::start(vec![("/incomplete.tar.gz", Reply::Ok(incomplete.clone()))]);
    let t = TempDir::new("fetch-incomplete");
    let run = fetch(
        &t,
        &server.url("/incomplete.tar.gz"),
        &["--md5", &md5_hex(&incomplete)],
    )
    .failed();
    assert!(
        run.stderr.contains("test_batch.bin") && !run.stderr.contains("data_batch_1.bin"),
        "the error names the missing file, and only it:\n{}",
        run.stderr
    );
    assert_nothing_left(&t);
}

#[test]
fn an_archive_entry_with_dotdot_is_refused() {
    let evil = archive(&release_files(), &[("../evil", b"pwned\n")]);
    let server = Server::start(vec![("/evil.tar.gz", Reply::Ok(evil.clone()))]);
    let t = TempDir::new("fetch-evil");
    let run = fetch(&t, &server.url("/evil.tar.gz"), &["--md5", &md5_hex(&evil)]).failed();
    assert!(
        run.stderr.contains("../evil"),
        "the error names the entry:\n{}",
        run.stderr
    );
    assert!(!t.join("evil").exists(), "../evil was written");
    assert!(!t.join("data").join("evil").exists(), "../evil was written");
    assert_nothing_left(&t);
}

#[test]
fn an_unknown_dataset_is_a_usage_error_listing_cifar10() {
    let t = TempDir::new("fetch-unknown");
    let run = probstab(
        t.path(),
        &["data", "fetch", "imagenet", "--url", "http://127.0.0.1:9/"],
    );
    assert_eq!(run.code, Some(2), "clap's usage error:\n{}", run.stderr);
    assert!(
        run.stderr.contains("cifar10") && run.stderr.contains("cifar100"),
        "the error lists the known datasets:\n{}",
        run.stderr
    );
    assert!(!t.join("data").exists());
}

/// A miniature CIFAR-100 release: `train.bin` of 40 and `test.bin` of 20
/// records (coarse label, fine label, 3072 pixels), and the coarse names.
fn cifar100_files() -> Vec<(String, Vec<u8>)> {
    let records = |n: usize, salt: usize| -> Vec<u8> {
        let mut bytes = Vec::new();
        for k in 0..n {
            let fine = (k * 7 + salt) % 100;
            bytes.push((fine / 5) as u8);
            bytes.push(fine as u8);
            // The class shows in the pixels: a learnable set.
            bytes.extend((0..3072).map(|p| ((fine * 2 + p % 7) % 256) as u8));
        }
        bytes
    };
    let names: String = (0..20).map(|k| format!("superclass_{k}\n")).collect();
    vec![
        ("train.bin".into(), records(40, 0)),
        ("test.bin".into(), records(20, 3)),
        ("coarse_label_names.txt".into(), names.into_bytes()),
    ]
}

#[test]
fn cifar100_fetches_unpacks_and_trains_with_coarse_labels() {
    let files = cifar100_files();
    let good = archive_of("cifar-100-binary", &files, &[]);
    let server = Server::start(vec![("/cifar-100-binary.tar.gz", Reply::Ok(good.clone()))]);
    let url = server.url("/cifar-100-binary.tar.gz");
    let t = TempDir::new("fetch-cifar100");
    let args = ["data", "fetch", "cifar100", "--dir", "data", "--url", &url];
    // The official digest is expected by default: this archive is not it.
    let run = probstab(t.path(), &args).failed();
    assert!(
        run.stderr
            .contains("expected 03b5dce01913d631647c71ecec9e9cb8"),
        "{}",
        run.stderr
    );
    assert!(!t.join("data/cifar-100-binary").exists());
    let md5 = md5_hex(&good);
    let mut with_md5 = args.to_vec();
    with_md5.extend(["--md5", &md5]);
    let run = probstab(t.path(), &with_md5).ok();
    assert!(
        run.stdout.contains("data/cifar-100-binary"),
        "{}",
        run.stdout
    );
    for (name, bytes) in &files {
        assert_eq!(
            &std::fs::read(t.join("data/cifar-100-binary").join(name)).unwrap(),
            bytes,
            "{name}"
        );
    }
    // A record cut short counts as missing: downloaded again.
    let test_bin = t.join("data/cifar-100-binary/test.bin");
    let whole = std::fs::read(&test_bin).unwrap();
    std::fs::write(&test_bin, &whole[..whole.len() - 1]).unwrap();
    probstab(t.path(), &with_md5).ok();
    assert_eq!(server.requests(), 3);
    assert_eq!(std::fs::read(&test_bin).unwrap(), whole);

    // The default data.dir is where fetch put it.
    t.write(
        "c100.toml",
        "name = \"c100\"\nkind = \"image_classifier\"\n[model]\narch = \"mlp\"\nhidden_widths = [16]\n\
         [data]\ndataset = \"cifar100\"\nlabels = \"coarse\"\naugment = false\n\
         [train]\nlr = 0.05\nbatch_size = 8\nsteps = 5\n[measure]\nrank_samples = 10\n",
    );
    probstab(t.path(), &["run", "c100.toml", "--out", "res", "--no-plot"]).ok();
    let summary = common::Csv::read(t.join("res/summary.csv"));
    assert_eq!(summary.get(0, "status"), "ok");
    assert_eq!(summary.get(0, "train_images"), "40");
    assert_eq!(summary.get(0, "test_images"), "20");
    assert_eq!(summary.get(0, "feature_dim"), "16");
}
