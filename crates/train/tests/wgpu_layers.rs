//! The image path layer by layer on the CPU (burn's flex) and on wgpu
//! (issue 5 note): each piece is built on both devices from the same host
//! weights and inputs, reduced to a scalar `Σ y·r` (`r` a fixed random
//! tensor, so every output element gets its own upstream gradient), and its
//! forward output and the gradients of its input and parameters are
//! compared, then a whole tiny ResNet-18 step.
//!
//! Finding (burn 0.22.1, wgpu on lavapipe): every layer agrees on its own,
//! but a *fused* chain of element-wise ops (burn-cubecl-fusion) computes
//! wrong values when one of its inputs is a view with a size-one axis whose
//! stride is 1, like `[2, 4, 1]` permuted to `[2, 1, 4]` (strides [4, 1, 1]).
//! burn-cubecl's conv permutes NCHW to NHWC, convolves and permutes back, so
//! a conv with ONE output channel hands its successor exactly such a view
//! (`[N, 1, H, W]`, strides [HW, 1, W, 1]); `relu(conv(x) + x)` and the
//! backward through BatchNorm and relu then go wrong. At width 1/64 the stem
//! and `layer1` of our ResNet-18 have one channel: their gradients are wrong
//! and everything downstream of them (layer2–4, fc) agrees to ~1e-6. At
//! width 1/32 (no one-channel stage) the whole step agrees. Eval mode is
//! right too: with the same weights the eval-mode features agree to 3e-7,
//! so the rank-1 eval features of `backends.rs` come from training on the
//! wrong gradients. Not our code.
//!
//! wgpu runs here on Mesa's software adapters (llvmpipe/lavapipe), which
//! compile a shader per kernel, so the shapes are tiny. Where no adapter is
//! installed the comparisons are skipped with a note. Run with `--nocapture`
//! for the table of differences of each piece.

use burn::module::{Module, ModuleVisitor, Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::AdaptiveAvgPool2dConfig;
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use models::ResNet18Config;
use train::classifier::{cross_entropy, initial_model};
use train::{Backend, device};

/// Tolerance of one layer: |cpu − wgpu| ≤ LAYER_RTOL · max|cpu| for every
/// element of an output. Both sides compute in f32 (ε ≈ 1.2e-7) but sum in
/// another order, which costs a few ulps per reduction: the layers below
/// differ by at most 4.5e-7 of their scale. 1e-5 is ~80 ulps.
const LAYER_RTOL: f32 = 1e-5;

/// Tolerance of a whole ResNet-18 step, per tensor: |cpu − wgpu| ≤
/// NET_ATOL + NET_RTOL · max|cpu|. The rounding differences of 20 layers
/// compound: gradients differ by up to ~1e-5 of their scale where they agree;
/// a few gradients are ~1e-5 in size (a parameter barely used on 4 images),
/// so differences of ~1e-7 there are noise, which the absolute 1e-6 covers.
/// Wrong gradients miss by 10–100% of their scale.
const NET_RTOL: f32 = 1e-4;
const NET_ATOL: f32 = 1e-6;

/// Named host copies of what one piece computed on one device.
type Outputs = Vec<(String, Vec<f32>)>;

/// One output compared: its name, max |cpu| and max |cpu − wgpu|.
struct Row {
    name: String,
    scale: f32,
    diff: f32,
}

/// The CPU and the wgpu autodiff devices, or None (with a note) where this
/// machine has no wgpu adapter.
fn devices() -> Option<(Device, Device)> {
    let cpu = device(Backend::Cpu).expect("the CPU is always there");
    match device(Backend::Wgpu) {
        Ok(gpu) => Some((cpu, gpu)),
        Err(e) => {
            eprintln!("note: {e}; CPU/wgpu comparison skipped");
            None
        }
    }
}

/// A seeded stream of values in [-1, 1) (splitmix64), the same on every
/// device because it is drawn on the host.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32 tensor")
}

fn out<const D: usize>(name: &str, t: Tensor<D>) -> (String, Vec<f32>) {
    (name.to_string(), host(t))
}

/// `Σ y·r` with `r` drawn from `draw`: a loss whose gradient at `y` is `r`.
fn weighted_sum<const D: usize>(y: &Tensor<D>, draw: &mut Draw) -> Tensor<1> {
    let r = tensor(draw.vec(y.shape().num_elements()), y.dims(), &y.device());
    (y.clone() * r).sum()
}

/// Run `piece` on both devices and print a table of the differences; None
/// where there is no wgpu adapter.
fn compare(title: &str, piece: impl Fn(&Device) -> Outputs) -> Option<Vec<Row>> {
    let (cpu, gpu) = devices()?;
    let (a, b) = (piece(&cpu), piece(&gpu));
    assert_eq!(
        a.len(),
        b.len(),
        "{title}: the devices computed different pieces"
    );
    let mut table = format!(
        "{title}\n  {:<44} {:>5} {:>10} {:>10} {:>9}\n",
        "output", "n", "max|cpu|", "max|diff|", "rel"
    );
    let mut rows = Vec::new();
    for ((name, x), (name_b, y)) in a.into_iter().zip(b) {
        assert_eq!(name, name_b);
        assert_eq!(x.len(), y.len(), "{title}: {name}: lengths differ");
        let scale = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        // NaN on either side counts as an infinite difference.
        let diff = x.iter().zip(&y).fold(0.0f32, |m, (u, v)| {
            let d = (u - v).abs();
            if d.is_nan() { f32::INFINITY } else { m.max(d) }
        });
        let rel = diff / scale.max(f32::MIN_POSITIVE);
        table += &format!(
            "  {name:<44} {:>5} {scale:>10.3e} {diff:>10.3e} {rel:>9.2e}\n",
            x.len()
        );
        rows.push(Row { name, scale, diff });
    }
    eprint!("{table}");
    Some(rows)
}

/// |cpu − wgpu| ≤ atol + rtol · max|cpu| for every output.
fn assert_within(rows: Option<Vec<Row>>, rtol: f32, atol: f32) {
    for row in rows.iter().flatten() {
        assert!(
            row.diff <= atol + rtol * row.scale,
            "{}: max |cpu − wgpu| = {:.2e} with max |cpu| = {:.2e}",
            row.name,
            row.diff,
            row.scale
        );
    }
}

fn conv_layer(
    device: &Device,
    draw: &mut Draw,
    [cin, cout]: [usize; 2],
    k: usize,
    stride: usize,
) -> Conv2d {
    let pad = k / 2;
    let mut conv = Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device);
    conv.weight = Param::from_tensor(tensor(
        draw.vec(cout * cin * k * k),
        [cout, cin, k, k],
        device,
    ));
    conv
}

/// A bias-free conv `[cin → cout, k×k]`, padding k/2, on `[4, cin, 8, 8]`.
fn conv(device: &Device, channels: [usize; 2], k: usize, stride: usize) -> Outputs {
    let mut draw = Draw(k as u64 * 10 + stride as u64);
    let conv = conv_layer(device, &mut draw, channels, k, stride);
    let x = tensor(
        draw.vec(4 * channels[0] * 64),
        [4, channels[0], 8, 8],
        device,
    )
    .require_grad();
    let y = conv.forward(x.clone());
    let grads = weighted_sum(&y, &mut draw).backward();
    vec![
        out("forward", y),
        out("d input", x.grad(&grads).unwrap()),
        out("d weight", conv.weight.val().grad(&grads).unwrap()),
    ]
}

#[test]
fn conv3x3_stride1_agrees() {
    let rows = compare("Conv2d 3×3 stride 1, 2→4 channels, [4, 2, 8, 8]", |d| {
        conv(d, [2, 4], 3, 1)
    });
    assert_within(rows, LAYER_RTOL, 0.0);
}

#[test]
fn conv3x3_stride2_agrees() {
    let rows = compare("Conv2d 3×3 stride 2, 2→4 channels, [4, 2, 8, 8]", |d| {
        conv(d, [2, 4], 3, 2)
    });
    assert_within(rows, LAYER_RTOL, 0.0);
}

#[test]
fn conv1x1_stride2_agrees() {
    let rows = compare("Conv2d 1×1 stride 2, 2→4 channels, [4, 2, 8, 8]", |d| {
        conv(d, [2, 4], 1, 2)
    });
    assert_within(rows, LAYER_RTOL, 0.0);
}

/// The one-channel convs of a width-1/64 ResNet (the stem 3→1, layer1's
/// 1→1) are right on their own: their output is read back directly, not
/// through a fused element-wise kernel.
#[test]
fn one_channel_conv_alone_agrees() {
    let rows = compare("Conv2d 3×3 stride 1, 3→1 channels, [4, 3, 8, 8]", |d| {
        conv(d, [3, 1], 3, 1)
    });
    assert_within(rows, LAYER_RTOL, 0.0);
    let rows = compare("Conv2d 3×3 stride 1, 1→1 channels, [4, 1, 8, 8]", |d| {
        conv(d, [1, 1], 3, 1)
    });
    assert_within(rows, LAYER_RTOL, 0.0);
}

/// A BatchNorm of `c` channels with γ, β drawn.
fn batch_norm(device: &Device, draw: &mut Draw, c: usize) -> BatchNorm {
    let mut bn = BatchNormConfig::new(c).init(device);
    let gamma = draw.vec(c).iter().map(|u| 1.0 + 0.5 * u).collect();
    bn.gamma = Param::from_tensor(tensor(gamma, [c], device));
    bn.beta = Param::from_tensor(tensor(draw.vec(c), [c], device));
    bn
}

/// An input `[4, c, 4, 4]` whose channels have means ~3 and variances ~4/3,
/// so the running statistics move visibly.
fn bn_input(draw: &mut Draw, c: usize, device: &Device) -> Tensor<4> {
    let values = draw.vec(4 * c * 16).iter().map(|u| 3.0 + 2.0 * u).collect();
    tensor(values, [4, c, 4, 4], device)
}

fn batch_norm_training(device: &Device, c: usize) -> Outputs {
    let mut draw = Draw(2);
    let bn = batch_norm(device, &mut draw, c);
    let x = bn_input(&mut draw, c, device).require_grad();
    let y = bn.forward(x.clone());
    let grads = weighted_sum(&y, &mut draw).backward();
    vec![
        out("forward", y),
        out("d input", x.grad(&grads).unwrap()),
        out("d gamma", bn.gamma.val().grad(&grads).unwrap()),
        out("d beta", bn.beta.val().grad(&grads).unwrap()),
        out("running mean (value_sync)", bn.running_mean.value_sync()),
        out("running var (value_sync)", bn.running_var.value_sync()),
    ]
}

#[test]
fn batch_norm_training_mode_agrees() {
    let rows = compare("BatchNorm training mode, [4, 3, 4, 4]", |d| {
        batch_norm_training(d, 3)
    });
    assert_within(rows, LAYER_RTOL, 0.0);
    let rows = compare("BatchNorm training mode, one channel, [4, 1, 4, 4]", |d| {
        batch_norm_training(d, 1)
    });
    assert_within(rows, LAYER_RTOL, 0.0);
}

#[test]
fn batch_norm_eval_mode_agrees() {
    let rows = compare("BatchNorm eval mode (valid()), [4, 3, 4, 4]", |device| {
        let plain = device.clone().without_autodiff();
        // The inference op alone, with running statistics set by hand.
        let mut draw = Draw(3);
        let mut bn = batch_norm(device, &mut draw, 3);
        let var = draw.vec(3).iter().map(|u| 1.5 + u).collect();
        bn.running_mean = RunningState::new(tensor(draw.vec(3), [3], device));
        bn.running_var = RunningState::new(tensor(var, [3], device));
        let given = bn.valid().forward(bn_input(&mut draw, 3, &plain));
        // The classifier's path: one training forward, then `valid()` and
        // an input on `device.without_autodiff()`.
        let mut draw = Draw(4);
        let bn = batch_norm(device, &mut draw, 3);
        bn.forward(bn_input(&mut draw, 3, device));
        let valid = bn.valid();
        let (mean, var) = (valid.running_mean.value(), valid.running_var.value());
        let after = valid.forward(bn_input(&mut draw, 3, &plain));
        vec![
            out("forward, stats given", given),
            out("running mean after a training forward", mean),
            out("running var after a training forward", var),
            out("forward after a training forward", after),
        ]
    });
    assert_within(rows, LAYER_RTOL, 0.0);
}

#[test]
fn adaptive_avg_pool_to_1x1_agrees() {
    let rows = compare("AdaptiveAvgPool2d to 1×1", |device| {
        let pool = AdaptiveAvgPool2dConfig::new([1, 1]).init();
        let mut draw = Draw(5);
        let mut rows = Vec::new();
        for (shape, label) in [
            ([4, 8, 2, 2], "[4, 8, 2, 2]"),
            ([4, 3, 5, 5], "[4, 3, 5, 5]"),
        ] {
            let x = tensor(draw.vec(shape.iter().product()), shape, device).require_grad();
            let y = pool.forward(x.clone());
            let grads = weighted_sum(&y, &mut draw).backward();
            rows.push(out(&format!("forward {label}"), y));
            rows.push(out(&format!("d input {label}"), x.grad(&grads).unwrap()));
        }
        rows
    });
    assert_within(rows, LAYER_RTOL, 0.0);
}

#[test]
fn relu_and_residual_add_agree() {
    let rows = compare("relu(a) and relu(a + b), [4, 4, 4, 4]", |device| {
        let mut draw = Draw(6);
        let shape = [4, 4, 4, 4];
        let a = tensor(draw.vec(256), shape, device).require_grad();
        let b = tensor(draw.vec(256), shape, device).require_grad();
        let y = relu(a.clone());
        let grads = weighted_sum(&y, &mut draw).backward();
        let da = a.grad(&grads).unwrap();
        let z = relu(a.clone() + b.clone());
        let grads = weighted_sum(&z, &mut draw).backward();
        vec![
            out("relu forward", y),
            out("relu d input", da),
            out("relu(a + b) forward", z),
            out("relu(a + b) d a", a.grad(&grads).unwrap()),
            out("relu(a + b) d b", b.grad(&grads).unwrap()),
        ]
    });
    assert_within(rows, LAYER_RTOL, 0.0);
}

#[test]
fn cross_entropy_agrees() {
    let rows = compare(
        "classifier cross-entropy (log_softmax), [4, 10]",
        |device| {
            let mut draw = Draw(8);
            let logits = tensor(draw.vec(40), [4, 10], device).require_grad();
            let (loss, _) = cross_entropy(logits.clone(), &[3, 1, 4, 1], 10, device);
            let grads = loss.backward();
            vec![
                out("loss", loss),
                out("d logits", logits.grad(&grads).unwrap()),
            ]
        },
    );
    assert_within(rows, LAYER_RTOL, 0.0);
}

/// The smallest case, no conv and no autodiff: `t` is `[2, 4, 1]` permuted
/// to `[2, 1, 4]` (strides [4, 1, 1]: the size-one axis has stride 1, as a
/// one-channel conv output has), `z` is contiguous, and `(t + z)·2` is one
/// fused kernel. `t + z` alone (no fusion) is right.
#[test]
#[ignore = "burn 0.22.1 wgpu fusion bug: (t + z)*2 with t = [2,4,1].permute([0,2,1]) gives \
            [0,202,404,606,2,204,406,608] for [0,202,404,606,808,1010,1212,1414] \
            (max |diff| 806, 57% of max|cpu|)"]
fn fused_elementwise_on_a_view_with_a_unit_axis_of_stride_one_agrees() {
    let rows = compare("(t + z)·2, t = [2, 4, 1] permuted to [2, 1, 4]", |device| {
        let plain = device.clone().without_autodiff();
        let seq: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let t: Tensor<3> = tensor(seq.clone(), [2, 4, 1], &plain).permute([0, 2, 1]);
        let z = tensor(seq.iter().map(|v| 100.0 * v).collect(), [2, 1, 4], &plain);
        let y = (t + z).mul_scalar(2.0);
        let values = host(y.clone());
        eprintln!("  values on {:?}: {values:?}", device);
        vec![out("forward", y)]
    });
    assert_within(rows, LAYER_RTOL, 0.0);
}

/// The symptom at layer level: a 1→1 conv followed by a skip connection and
/// relu (layer1 of a width-1/64 ResNet without its BatchNorms).
#[test]
#[ignore = "burn 0.22.1 wgpu fusion bug: relu(conv(x) + x) with a 1→1 channel conv: forward off by \
            96% of max|cpu| (2.23 of 2.33), d input by 80%, d weight by 73%; the conv alone agrees \
            to 2e-7 (one_channel_conv_alone_agrees)"]
fn relu_of_a_one_channel_conv_plus_its_input_agrees() {
    let rows = compare("relu(conv(x) + x), 1→1 channels, [4, 1, 8, 8]", |device| {
        let mut draw = Draw(11);
        let x = tensor(draw.vec(256), [4, 1, 8, 8], device).require_grad();
        let conv = conv_layer(device, &mut draw, [1, 1], 3, 1);
        let y = relu(conv.forward(x.clone()) + x.clone());
        let forward = out("forward", y.clone());
        let grads = weighted_sum(&y, &mut draw).backward();
        vec![
            forward,
            out("d input", x.grad(&grads).unwrap()),
            out("d weight", conv.weight.val().grad(&grads).unwrap()),
        ]
    });
    assert_within(rows, LAYER_RTOL, 0.0);
}

/// Every float tensor of a module under its path (`layer2.0.bn1.gamma`);
/// with `grads`, the gradient of each parameter instead (running statistics
/// have none and are left out).
struct Collect<'a> {
    prefix: &'static str,
    path: Vec<String>,
    grads: Option<&'a GradientsParams>,
    out: Outputs,
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = match self.grads {
            Some(grads) => grads.get::<D>(param.id),
            None => Some(param.val()),
        };
        if let Some(value) = value {
            let name = format!("{} {}", self.prefix, self.path.join("."));
            self.out.push((name, host(value)));
        }
    }
}

fn collect<M: Module>(
    module: &M,
    prefix: &'static str,
    grads: Option<&GradientsParams>,
) -> Outputs {
    let mut visitor = Collect {
        prefix,
        path: Vec::new(),
        grads,
        out: Vec::new(),
    };
    module.visit(&mut visitor);
    visitor.out
}

/// The classifier's step on a ResNet-18 (3 channels in, 10 classes) on
/// `[4, 3, 16, 16]`: forward, cross-entropy, the gradient of every
/// parameter, eval-mode features (running statistics after that one
/// training forward), one SGD step at λ = 0.05, the next loss, and the
/// weights, running statistics and eval-mode features after it.
fn resnet_step(device: &Device, width: f64) -> Outputs {
    let side = 16;
    let config = ResNet18Config {
        in_channels: 3,
        num_classes: 10,
        width,
    };
    let net = initial_model(&config, 7, device);
    let mut draw = Draw(9);
    let pixels = draw.vec(4 * 3 * side * side);
    let labels = [3u8, 1, 4, 1];
    let plain = device.clone().without_autodiff();
    let eval_input = || tensor(pixels.clone(), [4, 3, side, side], &plain);
    let x = tensor(pixels.clone(), [4, 3, side, side], device);
    let (logits, features) = net.forward_with_features(x.clone());
    let (loss, _) = cross_entropy(logits.clone(), &labels, 10, device);
    let mut rows = vec![
        out("logits", logits),
        out("features (train mode)", features),
        out("loss", loss.clone()),
    ];
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    rows.extend(collect(&net, "grad", Some(&grads)));
    rows.push(out(
        "features (eval mode)",
        net.valid().features(eval_input()),
    ));
    let net = SgdConfig::new().init().step(0.05, net, grads);
    let (loss, _) = cross_entropy(net.forward(x), &labels, 10, device);
    rows.push(out("loss after one SGD step", loss));
    let valid = net.valid();
    rows.extend(collect(&valid, "after step", None));
    rows.push(out(
        "features after step (eval mode)",
        valid.features(eval_input()),
    ));
    rows
}

/// Width 1/32: 2, 4, 8, 16 channels, no one-channel stage.
#[test]
fn resnet18_width_1_32_step_agrees() {
    let rows = compare("ResNet-18 width 1/32, [4, 3, 16, 16]", |d| {
        resnet_step(d, 1.0 / 32.0)
    });
    assert_within(rows, NET_RTOL, NET_ATOL);
}

/// Width 1/64, the `backends.rs` cell's net: the stem and layer1 have one
/// channel.
#[test]
#[ignore = "burn 0.22.1 wgpu fusion bug (see the fused_elementwise test): at width 1/64 the stem \
            and layer1 have one channel; the gradients of conv1, bn1 and layer1.* differ by 78–1720% \
            of their scale, layer2–4 and fc agree to 1e-5; the loss after one SGD step differs by \
            0.036 of 2.757 (1.3%)"]
fn resnet18_width_1_64_step_agrees() {
    let rows = compare("ResNet-18 width 1/64, [4, 3, 16, 16]", |d| {
        resnet_step(d, 1.0 / 64.0)
    });
    assert_within(rows, NET_RTOL, NET_ATOL);
}
