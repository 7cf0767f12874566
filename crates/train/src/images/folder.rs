//! `dataset = "image_folder"`: a folder with one subfolder of PNG or JPEG
//! images per class (burn-dataset's `ImageFolderDataset` layout), either
//! split already (`train/<class>/…` and `test/<class>/…`) or split here,
//! per class, from a seed.
//!
//! Every file is read twice: its header first (size and colour, for the
//! default channels, the size check and the memory check before anything
//! is decoded), then decoded, converted to the chosen channels, brought to
//! the chosen size and kept as bytes (`C × H × W`). Classes are the
//! subfolders in name order; the images are stored in an order shuffled
//! from the split seed, so that `train_size` and `test_size` take a random
//! part of every class. Errors name the file or folder.

use super::read::{format_error, shown};
use super::{ImageData, ImageDataError, ImageSet};
use crate::config::{Fit, ReadOptions};
use crate::rng::{Stream, rng};
use image::codecs::jpeg::JpegDecoder;
use image::codecs::png::PngDecoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat};
use rand::RngExt;
use rayon::prelude::*;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// How an image folder is read (the image_folder part of `[data]`).
pub type FolderOptions = ReadOptions;

/// The test fraction when the folder is not split and the config says none.
const DEFAULT_TEST_FRACTION: f64 = 0.2;
const HINT: &str = "image_folder reads a folder with one subfolder of PNG or JPEG images \
     per class, or `train/` and `test/` folders holding one subfolder per class each";

/// One class folder's images, in name order.
struct ClassFiles {
    dir: PathBuf,
    files: Vec<PathBuf>,
}

/// Load the folder `dir`. `available` is the memory the images may take
/// (None: unknown, not checked).
pub fn load_image_folder(
    dir: &Path,
    opts: &FolderOptions,
    available: Option<f64>,
) -> Result<ImageData, ImageDataError> {
    if dir.is_file() {
        return Err(format_error(
            dir,
            format!("is a file, not a folder: {HINT}"),
        ));
    }
    if !dir.is_dir() {
        return Err(ImageDataError::Missing {
            path: shown(dir),
            hint: HINT.into(),
        });
    }
    let (train_dir, test_dir) = (dir.join("train"), dir.join("test"));
    let (class_names, train, test) = if train_dir.is_dir() {
        if opts.test_fraction.is_some() {
            return Err(format_error(
                dir,
                "has `train/` and `test/` folders: they are the split, so leave \
                 data.test_fraction out",
            ));
        }
        if !test_dir.is_dir() {
            return Err(format_error(
                &test_dir,
                "no such folder: a folder with `train/` needs `test/` beside it \
                 (or put the class folders directly in the folder and set data.test_fraction)",
            ));
        }
        let train = class_folders(&train_dir)?;
        let names: Vec<String> = train.iter().map(|c| file_name(&c.dir)).collect();
        let test = test_classes(&test_dir, &names)?;
        (names, train, test)
    } else {
        if test_dir.is_dir() {
            return Err(format_error(
                &train_dir,
                "no such folder, but `test/` is there: give both, or neither",
            ));
        }
        let classes = class_folders(dir)?;
        let names = classes.iter().map(|c| file_name(&c.dir)).collect();
        let fraction = opts.test_fraction.unwrap_or(DEFAULT_TEST_FRACTION);
        let (train, test) = split(classes, fraction, opts.split_seed)?;
        (names, train, test)
    };
    if test.iter().all(|c| c.files.is_empty()) {
        return Err(format_error(dir, "no test images"));
    }

    // Headers: sizes and colours, before anything is decoded.
    let labelled = |classes: &[ClassFiles]| -> Vec<(PathBuf, u8)> {
        classes
            .iter()
            .enumerate()
            .flat_map(|(k, c)| c.files.iter().map(move |f| (f.clone(), k as u8)))
            .collect()
    };
    let (train_files, test_files) = (labelled(&train), labelled(&test));
    let all: Vec<&(PathBuf, u8)> = train_files.iter().chain(&test_files).collect();
    let headers = first_error(all.par_iter().map(|(f, _)| header(f)).collect())?;
    let channels = opts
        .channels
        .unwrap_or(if headers.iter().all(|h| !h.color) {
            1
        } else {
            3
        });
    let [height, width] = match opts.size {
        Some(hw) => hw,
        None => {
            let (w0, h0) = (headers[0].width, headers[0].height);
            if let Some(i) = headers.iter().position(|h| (h.width, h.height) != (w0, h0)) {
                return Err(format_error(
                    &all[i].0,
                    format!(
                        "{}×{} pixels, while {} is {w0}×{h0}: set data.image_size to bring \
                         every image to one size",
                        headers[i].width,
                        headers[i].height,
                        shown(&all[0].0)
                    ),
                ));
            }
            [h0 as usize, w0 as usize]
        }
    };
    if opts.fit == Fit::Crop
        && let Some(i) = headers
            .iter()
            .position(|h| (h.height as usize) < height || (h.width as usize) < width)
    {
        return Err(format_error(
            &all[i].0,
            format!(
                "{}×{} pixels, smaller than data.image_size {width}×{height} \
                 (width × height), which data.fit = \"crop\" cuts out of it: \
                 use data.fit = \"resize\"",
                headers[i].width, headers[i].height
            ),
        ));
    }
    let need = (all.len() * channels * height * width) as f64;
    if let Some(available) = available
        && need > available
    {
        return Err(format_error(
            dir,
            format!(
                "{} images of {channels} × {height} × {width} bytes need {:.2} GB in memory, \
                 more than the {:.2} GB available: set a smaller data.image_size",
                all.len(),
                need / 1e9,
                available / 1e9
            ),
        ));
    }

    let shape = Shape {
        channels,
        height,
        width,
        fit: opts.fit,
    };
    let classes = class_names.len();
    let (train, train_converted) = read_set(&train_files, shape, classes, opts.split_seed)?;
    let (test, test_converted) =
        read_set(&test_files, shape, classes, opts.split_seed.wrapping_add(1))?;
    Ok(ImageData {
        train,
        test,
        class_names,
        converted: train_converted + test_converted,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The first error of a list of results, in list order (a parallel
/// `collect` into one `Result` would report any of them).
fn first_error<T>(results: Vec<Result<T, ImageDataError>>) -> Result<Vec<T>, ImageDataError> {
    results.into_iter().collect()
}

/// Whether `path` names a PNG or JPEG by its extension.
fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>, ImageDataError> {
    let read = |error| ImageDataError::Read {
        path: shown(dir),
        error,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        // Hidden files (.DS_Store, editors' swap files) are not data.
        if !file_name(&path).starts_with('.') {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The class folders of `dir` (its subfolders, in name order) with their
/// images: at least two classes, none empty.
fn class_folders(dir: &Path) -> Result<Vec<ClassFiles>, ImageDataError> {
    let all = entries(dir)?;
    let (dirs, files): (Vec<PathBuf>, Vec<PathBuf>) = all.into_iter().partition(|p| p.is_dir());
    if dirs.is_empty() {
        let loose = files.iter().filter(|f| is_image(f)).count();
        return Err(format_error(
            dir,
            if loose > 0 {
                format!(
                    "{loose} images but no class folders: put each class's images in a \
                     subfolder named after it"
                )
            } else {
                format!("no class folders: {HINT}")
            },
        ));
    }
    if dirs.len() > 256 {
        return Err(format_error(
            dir,
            format!("{} class folders; at most 256 are read", dirs.len()),
        ));
    }
    let classes = dirs
        .into_iter()
        .map(class_files)
        .collect::<Result<Vec<_>, _>>()?;
    if classes.len() < 2 {
        return Err(format_error(
            dir,
            format!(
                "one class folder (`{}`): a classifier needs at least two",
                file_name(&classes[0].dir)
            ),
        ));
    }
    Ok(classes)
}

/// A class folder's images; none is an error naming the folder, and so is
/// a name that is not UTF-8 (two such names can print alike, and the class
/// names are recorded as text).
fn class_files(dir: PathBuf) -> Result<ClassFiles, ImageDataError> {
    if dir.file_name().and_then(|n| n.to_str()).is_none() {
        return Err(format_error(
            &dir,
            "a class folder whose name is not valid UTF-8: rename it",
        ));
    }
    let (files, other): (Vec<PathBuf>, Vec<PathBuf>) = entries(&dir)?
        .into_iter()
        .partition(|p| p.is_file() && is_image(p));
    if files.is_empty() {
        let mut message = "empty class: no PNG or JPEG images (.png, .jpg, .jpeg)".to_string();
        if let Some(first) = other.first() {
            message += &format!(
                "; {} other entries ignored, such as `{}`",
                other.len(),
                file_name(first)
            );
        }
        return Err(format_error(&dir, message));
    }
    Ok(ClassFiles { dir, files })
}

/// The classes of `test/`, in the training set's label order: a class the
/// training set lacks is an error; one `test/` lacks has no test images.
fn test_classes(test_dir: &Path, names: &[String]) -> Result<Vec<ClassFiles>, ImageDataError> {
    let mut out: Vec<ClassFiles> = names
        .iter()
        .map(|n| ClassFiles {
            dir: test_dir.join(n),
            files: Vec::new(),
        })
        .collect();
    for path in entries(test_dir)?.into_iter().filter(|p| p.is_dir()) {
        if path.file_name().and_then(|n| n.to_str()).is_none() {
            return Err(format_error(
                &path,
                "a class folder whose name is not valid UTF-8: rename it",
            ));
        }
        let name = file_name(&path);
        let Some(k) = names.iter().position(|n| *n == name) else {
            return Err(format_error(
                &path,
                format!(
                    "a test class that `train/` does not have (its classes: {})",
                    names.join(", ")
                ),
            ));
        };
        out[k] = class_files(path)?;
    }
    Ok(out)
}

/// Each class's files split into training and test files: `fraction` of
/// them (rounded) held out, chosen from `seed`.
fn split(
    classes: Vec<ClassFiles>,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<ClassFiles>, Vec<ClassFiles>), ImageDataError> {
    let mut r = rng(seed, Stream::FolderSplit);
    let mut train = Vec::new();
    let mut test = Vec::new();
    for mut class in classes {
        let n = class.files.len();
        // Every class is tested: at least one image held out, at least one
        // kept for training.
        let held = ((n as f64 * fraction).round() as usize).max(1);
        if n < 2 {
            return Err(format_error(
                &class.dir,
                "1 image: a split needs at least 2 per class (one to train on, one to test)",
            ));
        }
        if held >= n {
            return Err(format_error(
                &class.dir,
                format!(
                    "{n} images: data.test_fraction = {fraction} holds out all of them, \
                     leaving none to train on"
                ),
            ));
        }
        for i in (1..n).rev() {
            class.files.swap(i, r.random_range(0..=i));
        }
        let mut test_files = class.files.split_off(n - held);
        // In name order within a class, as the unsplit folder.
        test_files.sort();
        class.files.sort();
        test.push(ClassFiles {
            dir: class.dir.clone(),
            files: test_files,
        });
        train.push(class);
    }
    Ok((train, test))
}

/// The images of `files` decoded straight into one buffer, in an order
/// shuffled from `seed` (so that the first n images are a random part of
/// every class), and how many had their colour converted. Each image is
/// written into its slot as it is decoded: the set is never held twice, so
/// the memory check's count (the set's bytes) is what it takes.
fn read_set(
    files: &[(PathBuf, u8)],
    shape: Shape,
    classes: usize,
    seed: u64,
) -> Result<(ImageSet, usize), ImageDataError> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    let mut r = rng(seed, Stream::FolderOrder);
    for i in (1..order.len()).rev() {
        order.swap(i, r.random_range(0..=i));
    }
    let size = shape.channels * shape.height * shape.width;
    let mut images = vec![0u8; files.len() * size];
    let results: Vec<Result<bool, ImageDataError>> = images
        .par_chunks_mut(size.max(1))
        .zip(order.par_iter())
        .map(|(slot, &i)| {
            let (bytes, converted) = decode(&files[i].0, shape)?;
            slot.copy_from_slice(&bytes);
            Ok(converted)
        })
        .collect();
    // The first error in file order, as the header pass reports it.
    let mut converted = 0;
    let mut first: Option<(usize, ImageDataError)> = None;
    for (result, &i) in results.into_iter().zip(&order) {
        match result {
            Ok(c) => converted += usize::from(c),
            Err(e) if first.as_ref().is_none_or(|(j, _)| i < *j) => first = Some((i, e)),
            Err(_) => {}
        }
    }
    if let Some((_, e)) = first {
        return Err(e);
    }
    let set = ImageSet {
        channels: shape.channels,
        height: shape.height,
        width: shape.width,
        classes,
        images,
        labels: order.iter().map(|&i| files[i].1).collect(),
    };
    Ok((set, converted))
}

/// What a file's header says.
struct Header {
    width: u32,
    height: u32,
    /// Colour, not grey (alpha aside).
    color: bool,
}

fn header(path: &Path) -> Result<Header, ImageDataError> {
    let open = |e: std::io::Error| ImageDataError::Read {
        path: shown(path),
        error: e,
    };
    let bad = |e: image::ImageError| {
        format_error(path, format!("does not decode as a PNG or JPEG image: {e}"))
    };
    let reader = image::io::Reader::new(BufReader::new(File::open(path).map_err(open)?))
        .with_guessed_format()
        .map_err(open)?;
    let (dims, color) = match reader.format() {
        Some(ImageFormat::Png) => {
            let d = PngDecoder::new(reader.into_inner()).map_err(bad)?;
            (d.dimensions(), d.color_type())
        }
        Some(ImageFormat::Jpeg) => {
            let d = JpegDecoder::new(reader.into_inner()).map_err(bad)?;
            (d.dimensions(), d.color_type())
        }
        Some(other) => {
            return Err(format_error(
                path,
                format!("is a {other:?} image; image_folder reads PNG and JPEG"),
            ));
        }
        None => {
            return Err(format_error(
                path,
                "does not decode as a PNG or JPEG image: its first bytes are neither",
            ));
        }
    };
    Ok(Header {
        width: dims.0,
        height: dims.1,
        color: color.has_color(),
    })
}

/// What every image becomes.
#[derive(Clone, Copy)]
struct Shape {
    channels: usize,
    height: usize,
    width: usize,
    fit: Fit,
}

/// The image as `C × H × W` bytes, and whether its colour was converted.
fn decode(path: &Path, shape: Shape) -> Result<(Vec<u8>, bool), ImageDataError> {
    let open = |e: std::io::Error| ImageDataError::Read {
        path: shown(path),
        error: e,
    };
    let image = image::io::Reader::new(BufReader::new(File::open(path).map_err(open)?))
        .with_guessed_format()
        .map_err(open)?
        .decode()
        .map_err(|e| format_error(path, format!("does not decode as a PNG or JPEG image: {e}")))?;
    let converted = image.color().has_color() != (shape.channels == 3);
    let (w, h) = (shape.width as u32, shape.height as u32);
    let image = if (image.width(), image.height()) == (w, h) {
        image
    } else {
        match shape.fit {
            Fit::Resize => image.resize_exact(w, h, FilterType::Triangle),
            Fit::Crop => image.crop_imm((image.width() - w) / 2, (image.height() - h) / 2, w, h),
        }
    };
    let bytes = match shape.channels {
        1 => DynamicImage::from(image.to_luma8()).into_bytes(),
        _ => planes(&image.to_rgb8().into_raw(), shape.height * shape.width),
    };
    Ok((bytes, converted))
}

/// Interleaved RGB (`H × W × 3`) as three planes (`3 × H × W`).
fn planes(rgb: &[u8], pixels: usize) -> Vec<u8> {
    let mut out = vec![0; 3 * pixels];
    for (p, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * pixels + p] = px[c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::testing::{TempDir, error_text};
    use image::{GrayImage, Luma, Rgb, RgbImage};

    fn grey(dir: &Path, name: &str, w: u32, h: u32, v: u8) {
        std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
        GrayImage::from_pixel(w, h, Luma([v]))
            .save(dir.join(name))
            .unwrap();
    }

    fn rgb(dir: &Path, name: &str, w: u32, h: u32, v: [u8; 3]) {
        std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
        RgbImage::from_pixel(w, h, Rgb(v))
            .save(dir.join(name))
            .unwrap();
    }

    fn opts() -> FolderOptions {
        FolderOptions::default()
    }

    /// `cats/` with 5 images and `dogs/` with 5, grey 4×3 (w×h), the value
    /// coding class and index.
    fn two_classes(name: &str) -> TempDir {
        let dir = TempDir::new(name);
        for i in 0..5 {
            grey(&dir.0, &format!("cats/c{i}.png"), 4, 3, 10 + i);
            grey(&dir.0, &format!("dogs/d{i}.png"), 4, 3, 100 + i);
        }
        dir
    }

    #[test]
    fn a_split_folder_keeps_every_image_once_with_its_class() {
        let dir = two_classes("folder-split");
        std::fs::write(dir.0.join("cats/.DS_Store"), b"junk").unwrap();
        let data = load_image_folder(&dir.0, &opts(), None).unwrap();
        assert_eq!(data.class_names, vec!["cats", "dogs"]);
        assert_eq!(
            (data.train.channels, data.train.height, data.train.width),
            (1, 3, 4)
        );
        // round(5 × 0.2) = 1 test image per class.
        assert_eq!(data.train.class_counts(), vec![4, 4]);
        assert_eq!(data.test.class_counts(), vec![1, 1]);
        let mut seen: Vec<u8> = Vec::new();
        for set in [&data.train, &data.test] {
            for i in 0..set.len() {
                let image = set.image(i);
                assert!(image.iter().all(|&v| v == image[0]));
                let class = if image[0] >= 100 { 1 } else { 0 };
                assert_eq!(set.labels[i], class);
                seen.push(image[0]);
            }
        }
        seen.sort();
        assert_eq!(seen, vec![10, 11, 12, 13, 14, 100, 101, 102, 103, 104]);
        assert_eq!(data.converted, 0);
        // The same seed, the same split and order; another seed, another.
        let again = load_image_folder(&dir.0, &opts(), None).unwrap();
        assert_eq!(again.train, data.train);
        let other = FolderOptions {
            split_seed: 5,
            test_fraction: Some(0.4),
            ..opts()
        };
        let other = load_image_folder(&dir.0, &other, None).unwrap();
        assert_eq!(other.test.class_counts(), vec![2, 2]);
    }

    #[test]
    fn train_and_test_folders_are_the_split_and_colour_is_converted() {
        let dir = TempDir::new("folder-tt");
        rgb(&dir.0, "train/a/1.png", 6, 6, [200, 0, 0]);
        grey(&dir.0, "train/a/2.png", 6, 6, 50);
        rgb(&dir.0, "train/b/1.jpg", 6, 6, [0, 0, 200]);
        grey(&dir.0, "test/b/9.png", 6, 6, 70);
        let data = load_image_folder(&dir.0, &opts(), None).unwrap();
        // One colour image: RGB, the two grey ones converted.
        assert_eq!(data.train.channels, 3);
        assert_eq!(data.converted, 2);
        assert_eq!((data.train.len(), data.test.len()), (3, 1));
        assert_eq!(data.test.labels, vec![1]);
        assert_eq!(data.test.image(0)[..36], [70; 36]);
        let red = (0..3)
            .map(|i| data.train.image(i))
            .find(|im| im[0] == 200)
            .expect("the red image");
        assert!(red[36..].iter().all(|&v| v == 0), "planes: R, then G and B");
        // Grey by request: the colour ones are converted.
        let grey_opts = FolderOptions {
            channels: Some(1),
            ..opts()
        };
        let g = load_image_folder(&dir.0, &grey_opts, None).unwrap();
        assert_eq!((g.train.channels, g.converted), (1, 2));
        // test_fraction with a split folder is an error naming the key.
        let e = error_text(load_image_folder(
            &dir.0,
            &FolderOptions {
                test_fraction: Some(0.5),
                ..opts()
            },
            None,
        ));
        assert!(e.contains("data.test_fraction"), "{e}");
    }

    #[test]
    fn sizes_are_resized_or_cropped_and_mixed_sizes_need_image_size() {
        let dir = TempDir::new("folder-size");
        grey(&dir.0, "a/1.png", 8, 8, 40);
        grey(&dir.0, "a/2.png", 8, 8, 40);
        grey(&dir.0, "b/1.png", 10, 6, 90);
        grey(&dir.0, "b/2.png", 8, 8, 90);
        let half = FolderOptions {
            test_fraction: Some(0.5),
            ..opts()
        };
        let e = error_text(load_image_folder(&dir.0, &half, None));
        assert!(
            e.contains("b/1.png") && e.contains("10×6") && e.contains("data.image_size"),
            "{e}"
        );
        let resized = FolderOptions {
            size: Some([4, 5]),
            ..half.clone()
        };
        let data = load_image_folder(&dir.0, &resized, None).unwrap();
        assert_eq!((data.train.height, data.train.width), (4, 5));
        assert_eq!(
            data.train.pixels() * data.train.len(),
            data.train.images.len()
        );
        let cropped = FolderOptions {
            size: Some([6, 6]),
            fit: Fit::Crop,
            ..half.clone()
        };
        let data = load_image_folder(&dir.0, &cropped, None).unwrap();
        assert!(data.train.images.iter().all(|&v| v == 40 || v == 90));
        let too_big = FolderOptions {
            size: Some([7, 7]),
            fit: Fit::Crop,
            ..half
        };
        let e = error_text(load_image_folder(&dir.0, &too_big, None));
        assert!(e.contains("b/1.png") && e.contains("smaller"), "{e}");
    }

    #[test]
    fn bad_folders_are_errors_naming_the_file_or_folder() {
        // A file that does not decode.
        let dir = two_classes("folder-bad");
        std::fs::write(dir.0.join("dogs/d3.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
        let e = error_text(load_image_folder(&dir.0, &opts(), None));
        assert!(
            e.contains("dogs/d3.png") && e.contains("does not decode"),
            "{e}"
        );
        std::fs::write(dir.0.join("dogs/d3.png"), b"plain text").unwrap();
        let e = error_text(load_image_folder(&dir.0, &opts(), None));
        assert!(
            e.contains("dogs/d3.png") && e.contains("does not decode"),
            "{e}"
        );
        // A JPEG cut short decodes its header but not its data.
        let dir = two_classes("folder-cut");
        rgb(&dir.0, "dogs/big.jpg", 4, 3, [1, 2, 3]);
        let jpeg = std::fs::read(dir.0.join("dogs/big.jpg")).unwrap();
        std::fs::write(dir.0.join("dogs/big.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
        let e = error_text(load_image_folder(&dir.0, &opts(), None));
        assert!(e.contains("dogs/big.jpg"), "{e}");

        // An empty class.
        let dir = two_classes("folder-empty");
        std::fs::create_dir_all(dir.0.join("birds")).unwrap();
        std::fs::write(dir.0.join("birds/notes.txt"), b"x").unwrap();
        let e = error_text(load_image_folder(&dir.0, &opts(), None));
        assert!(
            e.contains("birds") && e.contains("empty class") && e.contains("notes.txt"),
            "{e}"
        );
        // One class.
        let dir = TempDir::new("folder-one");
        grey(&dir.0, "only/1.png", 2, 2, 1);
        grey(&dir.0, "only/2.png", 2, 2, 1);
        let e = error_text(load_image_folder(&dir.0, &opts(), None));
        assert!(e.contains("one class folder (`only`)"), "{e}");
        // Images but no class folders.
        let dir = TempDir::new("folder-flat");
        grey(&dir.0, "1.png", 2, 2, 1);
        let e = error_text(load_image_folder(&dir.0, &opts(), None));
        assert!(e.contains("no class folders"), "{e}");
        // No folder at all.
        let e = error_text(load_image_folder(&dir.0.join("nope"), &opts(), None));
        assert!(e.contains("nope") && e.contains("no such file"), "{e}");
        // A test class the training set lacks.
        let dir = TempDir::new("folder-test-class");
        grey(&dir.0, "train/a/1.png", 2, 2, 1);
        grey(&dir.0, "train/b/1.png", 2, 2, 1);
        grey(&dir.0, "test/c/1.png", 2, 2, 1);
        let e = error_text(load_image_folder(&dir.0, &opts(), None));
        assert!(e.contains("test/c") && e.contains("a, b"), "{e}");
        // A class too small for the fraction.
        let dir = TempDir::new("folder-small");
        grey(&dir.0, "a/1.png", 2, 2, 1);
        grey(&dir.0, "b/1.png", 2, 2, 1);
        let e = error_text(load_image_folder(&dir.0, &opts(), None));
        assert!(
            e.contains("/a") && e.contains("at least 2 per class"),
            "{e}"
        );
        grey(&dir.0, "a/2.png", 2, 2, 1);
        grey(&dir.0, "b/2.png", 2, 2, 1);
        let most = FolderOptions {
            test_fraction: Some(0.8),
            ..opts()
        };
        let e = error_text(load_image_folder(&dir.0, &most, None));
        assert!(e.contains("/a") && e.contains("leaving none"), "{e}");
        // A small fraction still tests every class: one image of each.
        let few = FolderOptions {
            test_fraction: Some(0.1),
            ..opts()
        };
        let data = load_image_folder(&dir.0, &few, None).unwrap();
        assert_eq!(data.test.labels.len(), 2);
        assert_ne!(data.test.labels[0], data.test.labels[1]);
        // A file where the folder should be.
        let e = error_text(load_image_folder(&dir.0.join("a/1.png"), &opts(), None));
        assert!(
            e.contains("a/1.png") && e.contains("is a file, not a folder"),
            "{e}"
        );
        // Class names that are not UTF-8 (two would print alike) are refused.
        use std::os::unix::ffi::OsStrExt;
        let dir = TempDir::new("folder-utf8");
        let odd = dir.0.join(std::ffi::OsStr::from_bytes(b"a\xfe"));
        std::fs::create_dir_all(&odd).unwrap();
        grey(&odd, "1.png", 2, 2, 1);
        grey(&odd, "2.png", 2, 2, 1);
        grey(&dir.0, "b/1.png", 2, 2, 1);
        grey(&dir.0, "b/2.png", 2, 2, 1);
        let e = error_text(load_image_folder(&dir.0, &opts(), None));
        assert!(e.contains("not valid UTF-8"), "{e}");
    }

    #[test]
    fn the_memory_check_comes_before_decoding() {
        let dir = two_classes("folder-memory");
        // 10 images of 1 × 3 × 4 bytes: 120 bytes.
        load_image_folder(&dir.0, &opts(), Some(120.0)).unwrap();
        let e = error_text(load_image_folder(&dir.0, &opts(), Some(119.0)));
        assert!(
            e.contains("10 images") && e.contains("data.image_size"),
            "{e}"
        );
    }
}
