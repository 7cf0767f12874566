//! What the floors beside the benchmark figures are made of.
//!
//! A figure's floor (scripts/bench/summarise.py) is the larger of its FLOP
//! time at this machine's peak and its memory time at the bandwidth of the
//! cache level its working set fits in. `report` measures both, all cores at
//! once (each core on its own buffers), and prints one JSON line; the
//! benchmarks print the FLOPs and bytes of their work ([`two_layer_work`],
//! [`resnet18_training_flops`]).
//!
//! - peak: independent FMA chains in the widest vectors the CPU has
//!   (AVX-512, else AVX2 + FMA, else scalar), 2 FLOPs a lane.
//! - bandwidth: `y += a·x` over buffers half the size of each level (per
//!   core; the last level shared), 12 bytes an element (x and y read, y
//!   written), the pattern of a fused SGD update; and memory at 256 MB a core.

use rayon::prelude::*;
use std::hint::black_box;
use std::time::Instant;

/// One cache level as the kernel reports it.
struct Level {
    name: String,
    /// Bytes per core: a shared level's size divided by the cores sharing it.
    bytes_per_core: usize,
}

/// The data and unified caches of cpu0 (sysfs), innermost first.
fn levels() -> Vec<Level> {
    let mut out = Vec::new();
    for index in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{index}");
        let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            break;
        };
        if kind.trim() == "Instruction" {
            continue;
        }
        let size = size.trim();
        let bytes = match size.strip_suffix('K') {
            Some(k) => k.parse::<usize>().unwrap_or(0) << 10,
            None => match size.strip_suffix('M') {
                Some(m) => m.parse::<usize>().unwrap_or(0) << 20,
                None => size.parse().unwrap_or(0),
            },
        };
        let sharing = read("shared_cpu_list")
            .map(|l| cpu_count(l.trim()))
            .unwrap_or(1)
            .clamp(1, rayon::current_num_threads().max(1));
        if bytes > 0 {
            out.push(Level {
                name: format!("L{}", level.trim()),
                bytes_per_core: bytes / sharing,
            });
        }
    }
    out
}

/// CPUs in a list such as "0-3,8".
fn cpu_count(list: &str) -> usize {
    list.split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap_or(0) + 1 - a.parse::<usize>().unwrap_or(0),
            None => 1,
        })
        .sum()
}

/// FMA chains: enough to cover a 4-cycle latency on two ports.
const CHAINS: usize = 12;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_512(rounds: usize) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let mut acc = [_mm512_set1_ps(1.0); CHAINS];
    for _ in 0..rounds {
        for c in acc.iter_mut() {
            *c = _mm512_fmadd_ps(*c, a, b);
        }
    }
    acc.iter().map(|&c| _mm512_reduce_add_ps(c)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_256(rounds: usize) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut acc = [_mm256_set1_ps(1.0); CHAINS];
    for _ in 0..rounds {
        for c in acc.iter_mut() {
            *c = _mm256_fmadd_ps(*c, a, b);
        }
    }
    let mut lanes = [0.0f32; 8];
    let mut total = 0.0;
    for c in acc {
        // SAFETY: `lanes` holds eight f32.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), c) };
        total += lanes.iter().sum::<f32>();
    }
    total
}

fn fma_scalar(rounds: usize) -> f32 {
    let mut acc = [1.0f32; CHAINS];
    for _ in 0..rounds {
        for c in acc.iter_mut() {
            *c = *c * 0.999_999 + 1e-7;
        }
    }
    acc.iter().sum()
}

/// (vector name, f32 lanes, the FMA loop) of the widest vectors here.
fn widest() -> (&'static str, usize, fn(usize) -> f32) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return ("avx512", 16, |r| unsafe { fma_512(r) });
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return ("avx2+fma", 8, |r| unsafe { fma_256(r) });
        }
    }
    ("scalar", 1, fma_scalar)
}

/// Peak f32 FLOP/s of one core, measured with every core busy.
fn peak_flops_per_core(quick: bool) -> (&'static str, f64) {
    let (name, lanes, run) = widest();
    let rounds = if quick { 2_000_000 } else { 20_000_000 };
    let threads = rayon::current_num_threads();
    let best = (0..3)
        .map(|_| {
            let seconds: Vec<f64> = (0..threads)
                .into_par_iter()
                .map(|_| {
                    let started = Instant::now();
                    black_box(run(black_box(rounds)));
                    started.elapsed().as_secs_f64()
                })
                .collect();
            seconds.iter().cloned().fold(0.0, f64::max)
        })
        .fold(f64::INFINITY, f64::min);
    let flops = (rounds * CHAINS * lanes * 2) as f64;
    (name, flops / best)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn axpy_wide(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

fn axpy_portable(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// Bytes/s of one core doing `y += a·x` over `bytes` of x and y together,
/// with every core doing the same on its own buffers.
fn bandwidth_per_core(bytes: usize, quick: bool) -> f64 {
    let n = (bytes / 8).max(1024);
    #[cfg(target_arch = "x86_64")]
    let wide = std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let wide = false;
    // About 2 GB (quick: 0.4 GB) of traffic a core, at least 3 passes.
    let passes = (((if quick { 4e8 } else { 2e9 }) / (12 * n) as f64) as usize).max(3);
    let threads = rayon::current_num_threads();
    let seconds: Vec<f64> = (0..threads)
        .into_par_iter()
        .map(|t| {
            let x = vec![1e-3f32 * (t + 1) as f32; n];
            let mut y = vec![0.0f32; n];
            let mut best = f64::INFINITY;
            for _ in 0..3 {
                let started = Instant::now();
                for p in 0..passes {
                    let a = if p % 2 == 0 { 1e-6 } else { -1e-6 };
                    if wide {
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: the CPU has AVX-512F (and so AVX2 and FMA).
                        unsafe {
                            axpy_wide(a, &x, &mut y)
                        };
                    } else {
                        axpy_portable(a, &x, &mut y);
                    }
                    black_box(&mut y);
                }
                best = best.min(started.elapsed().as_secs_f64());
            }
            best
        })
        .collect();
    let slowest = seconds.iter().cloned().fold(0.0, f64::max);
    (12 * n * passes) as f64 / slowest
}

/// `machine`: one JSON line with the cores, the peak and each level.
pub fn report(quick: bool) {
    let cores = rayon::current_num_threads();
    let (vector, peak) = peak_flops_per_core(quick);
    let mut levels: Vec<String> = levels()
        .iter()
        .map(|l| {
            let bw = bandwidth_per_core(l.bytes_per_core / 2, quick);
            format!(
                "{{\"name\":\"{}\",\"bytes_per_core\":{},\"bytes_per_s_per_core\":{bw:.4e}}}",
                l.name, l.bytes_per_core
            )
        })
        .collect();
    let dram = 256 << 20;
    levels.push(format!(
        "{{\"name\":\"DRAM\",\"bytes_per_core\":null,\"bytes_per_s_per_core\":{:.4e}}}",
        bandwidth_per_core(dram, quick)
    ));
    println!(
        "{{\"bench\":\"machine_peak\",\"cores\":{cores},\"vector\":\"{vector}\",\"flops_per_s_per_core\":{peak:.4e},\"levels\":[{}]}}",
        levels.join(",")
    );
}

/// The work of one step of one d → h → d cell at batch size `batch` (no
/// biases), for the floor: FLOPs, the bytes a step must move at least (every
/// parameter and optimizer moment read and written once; a batch's data,
/// activations and errors stay in L1), and the working set (parameters and
/// moments).
pub struct Work {
    pub flops: f64,
    pub bytes: f64,
    pub working_set: f64,
}

impl Work {
    pub fn json(&self) -> String {
        format!(
            "\"flops_per_cell_step\":{:.0},\"bytes_per_cell_step\":{:.0},\"working_set_bytes\":{:.0}",
            self.flops, self.bytes, self.working_set
        )
    }
}

/// FLOPs: z = W₁x and out = W₂a (2·B·h·d each), δ = W₂ᵀe (2·B·d·h) and the
/// two weight gradients (2·B·h·d each): 10·B·h·d; the update is 2 FLOPs a
/// weight for SGD and about 10 for Adam (moments, bias corrections, square
/// root, division).
pub fn two_layer_work(d: usize, h: usize, batch: usize, adam: bool) -> Work {
    let weights = (2 * d * h) as f64;
    let per_weight = if adam { 10.0 } else { 2.0 };
    let arrays = if adam { 3.0 } else { 1.0 }; // W, and Adam's m and v
    Work {
        flops: 10.0 * (batch * d * h) as f64 + per_weight * weights,
        bytes: arrays * weights * 4.0 * 2.0,
        working_set: arrays * weights * 4.0,
    }
}

/// FLOPs of one training image through the CIFAR-stem ResNet-18 of
/// crates/models/src/resnet.rs: each convolution's 2·O·C·k²·H·W forward and
/// twice that backward (input and weight gradients), the head likewise;
/// batch norm, ReLU and pooling are a few FLOPs an activation and left out.
pub fn resnet18_training_flops(width: f64, in_channels: usize, side: usize, classes: usize) -> f64 {
    let conv = |c_in: usize, c_out: usize, k: usize, out_side: usize| {
        2.0 * (c_out * c_in * k * k * out_side * out_side) as f64
    };
    let mut forward = conv(in_channels, models::resnet::channels(width, 0), 3, side);
    let (mut c_in, mut size) = (models::resnet::channels(width, 0), side);
    for stage in 0..4 {
        let c = models::resnet::channels(width, stage);
        for block in 0..2 {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            let out = size.div_ceil(stride);
            forward += conv(c_in, c, 3, out) + conv(c, c, 3, out);
            if stride != 1 || c_in != c {
                forward += conv(c_in, c, 1, out);
            }
            (c_in, size) = (c, out);
        }
    }
    forward += 2.0 * (c_in * classes) as f64;
    3.0 * forward
}
