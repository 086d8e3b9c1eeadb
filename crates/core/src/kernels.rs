//! Vectorised row kernels of the closed form's fast path: logits and a shifted exponential.
//!
//! Each kernel body is written once as plain loops over 16 independent lanes and compiled three
//! times: for AVX-512, for AVX2 + FMA, and for the baseline target. The best one the CPU has is
//! chosen at run time, so the binary stays portable. Sums run over 16 lanes, so they do not
//! depend on the instruction set chosen.

const LANES: usize = 16;

/// The lowest flush threshold the exponential kernel accepts: `exp(-80)` is still a normal
/// `f32` (denormals start below `e^-87`).
pub const LOWEST_FLUSH: f32 = -80.0;

macro_rules! dispatch {
    ($body:ident, $avx512:ident, $avx2:ident, ($($arg:ident : $ty:ty),*) -> $ret:ty) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn $avx512($($arg: $ty),*) -> $ret { $body::<true>($($arg),*) }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2($($arg: $ty),*) -> $ret { $body::<true>($($arg),*) }
    };
}

/// The best kernel set this CPU has: 2 for AVX-512 (F and VL) with FMA, 1 for AVX2 with FMA, 0
/// for the baseline.
#[cfg(target_arch = "x86_64")]
pub(crate) fn level() -> u8 {
    use std::sync::OnceLock;
    static LEVEL: OnceLock<u8> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("fma")
        {
            2
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            1
        } else {
            0
        }
    })
}

/// No vector kernels off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn level() -> u8 {
    0
}

#[inline(always)]
fn fma<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `g[i] <- a * g[i] - q * norms[i]`; returns the largest value.
#[inline(always)]
fn logits_body<const FMA: bool>(g: &mut [f32], norms: &[f32], a: f32, q: f32) -> f32 {
    let mut mx = [f32::NEG_INFINITY; LANES];
    let mut gc = g.chunks_exact_mut(LANES);
    let mut nc = norms.chunks_exact(LANES);
    for (gs, ns) in (&mut gc).zip(&mut nc) {
        for j in 0..LANES {
            let v = fma::<FMA>(a, gs[j], -q * ns[j]);
            gs[j] = v;
            mx[j] = if v > mx[j] { v } else { mx[j] };
        }
    }
    let mut m = mx.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for (gv, nv) in gc.into_remainder().iter_mut().zip(nc.remainder()) {
        *gv = fma::<FMA>(a, *gv, -q * nv);
        m = m.max(*gv);
    }
    m
}

/// `exp(x)` for `x` in `[floor, 0]` (`floor >= LOWEST_FLUSH`): Cody-Waite range reduction and
/// the Cephes `expf` polynomial (relative error below 2e-7); 0 below `floor`.
#[inline(always)]
fn exp_neg<const FMA: bool>(x: f32, floor: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = if x < floor { floor } else { x };
    let f = fma::<FMA>(xc, LOG2E, MAGIC);
    let n = f - MAGIC;
    let r = fma::<FMA>(n, -LN2_LO, fma::<FMA>(n, -LN2_HI, xc));
    let mut p = 1.987_569_1e-4_f32;
    p = fma::<FMA>(p, r, 1.398_199_9e-3);
    p = fma::<FMA>(p, r, 8.333_452e-3);
    p = fma::<FMA>(p, r, 4.166_579_6e-2);
    p = fma::<FMA>(p, r, 1.666_666_5e-1);
    p = fma::<FMA>(p, r, 0.5);
    let y = fma::<FMA>(p * r, r, r) + 1.0;
    let k = f.to_bits() as i32 - MAGIC.to_bits() as i32;
    let scale = f32::from_bits(((k + 127) << 23) as u32);
    if x < floor { 0.0 } else { y * scale }
}

/// `g[i] <- exp(g[i] - m)` (0 when `g[i] - m < floor`); returns `sum_i g[i]`, when `entropy` is
/// set `sum_i g[i] * (old g[i] - m)` (the entropy's accumulator, else 0), and the number of
/// values not flushed.
#[inline(always)]
fn exp_body<const FMA: bool>(g: &mut [f32], m: f32, floor: f32, entropy: bool) -> (f32, f32, usize) {
    let mut s = [0f32; LANES];
    let mut e = [0f32; LANES];
    let mut kept = [0u32; LANES];
    let mut gc = g.chunks_exact_mut(LANES);
    for gs in &mut gc {
        for j in 0..LANES {
            let x = gs[j] - m;
            let w = exp_neg::<FMA>(x, floor);
            gs[j] = w;
            s[j] += w;
            kept[j] += u32::from(x >= floor);
            if entropy {
                e[j] = fma::<FMA>(w, x, e[j]);
            }
        }
    }
    let (mut s1, mut e1) = (s.iter().sum::<f32>(), e.iter().sum::<f32>());
    let mut k1: usize = kept.iter().map(|&k| k as usize).sum();
    for gv in gc.into_remainder() {
        let x = *gv - m;
        let w = exp_neg::<FMA>(x, floor);
        *gv = w;
        s1 += w;
        k1 += usize::from(x >= floor);
        if entropy {
            e1 += w * x;
        }
    }
    (s1, e1, k1)
}

/// `sum_k (x_k - t r_k)^2` over 16 lanes.
#[inline(always)]
fn dist_body<const FMA: bool>(x: &[f32], r: &[f32], t: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut xc = x.chunks_exact(LANES);
    let mut rc = r.chunks_exact(LANES);
    for (xs, rs) in (&mut xc).zip(&mut rc) {
        for j in 0..LANES {
            let d = fma::<FMA>(-t, rs[j], xs[j]);
            acc[j] = fma::<FMA>(d, d, acc[j]);
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (a, b) in xc.remainder().iter().zip(rc.remainder()) {
        let d = a - t * b;
        s += d * d;
    }
    s
}

/// Appends to `out` the indices of the values of `row` above `threshold`, skipping blocks of 16
/// that have none after one vectorised comparison.
#[inline(always)]
fn above_body<const FMA: bool>(row: &[f32], threshold: f32, out: &mut Vec<u32>) {
    let mut blocks = row.chunks_exact(LANES);
    for (b, blk) in (&mut blocks).enumerate() {
        let mut any = false;
        for &v in blk {
            any |= v > threshold;
        }
        if any {
            for (j, &v) in blk.iter().enumerate() {
                if v > threshold {
                    out.push((b * LANES + j) as u32);
                }
            }
        }
    }
    let base = row.len() - blocks.remainder().len();
    for (j, &v) in blocks.remainder().iter().enumerate() {
        if v > threshold {
            out.push((base + j) as u32);
        }
    }
}

/// `acc <- acc + sum_j w_j x_j` over the non-zero `w_j` (`x_j`: row `j` of `xs`, `d` wide),
/// skipping blocks of 16 weights that are all zero after one vectorised comparison.
#[inline(always)]
fn sparse_body<const FMA: bool>(acc: &mut [f32], w: &[f32], xs: &[f32]) {
    let d = acc.len();
    for (b, blk) in w.chunks(LANES).enumerate() {
        let mut any = false;
        for &v in blk {
            any |= v != 0.0;
        }
        if !any {
            continue;
        }
        for (j, &wj) in blk.iter().enumerate() {
            if wj != 0.0 {
                let row = &xs[(b * LANES + j) * d..(b * LANES + j + 1) * d];
                for (a, &x) in acc.iter_mut().zip(row) {
                    *a = fma::<FMA>(wj, x, *a);
                }
            }
        }
    }
}

/// `g[j] <- a * sum_k x[k] cols[k * stride + j] - q * norms[j]`: logits straight from references
/// stored by column; returns the largest value.
#[inline(always)]
fn logits_cols_body<const FMA: bool>(
    g: &mut [f32],
    x: &[f32],
    cols: &[f32],
    stride: usize,
    norms: &[f32],
    a: f32,
    q: f32,
) -> f32 {
    let mut mx = [f32::NEG_INFINITY; LANES];
    let mut gc = g.chunks_exact_mut(LANES);
    let mut nc = norms.chunks_exact(LANES);
    for (b, (gs, ns)) in (&mut gc).zip(&mut nc).enumerate() {
        let mut acc = [0f32; LANES];
        for (k, &xk) in x.iter().enumerate() {
            let off = k * stride + b * LANES;
            let col: &[f32; LANES] = cols[off..off + LANES].try_into().expect("16 values");
            for l in 0..LANES {
                acc[l] = fma::<FMA>(xk, col[l], acc[l]);
            }
        }
        for l in 0..LANES {
            let v = fma::<FMA>(a, acc[l], -q * ns[l]);
            gs[l] = v;
            mx[l] = if v > mx[l] { v } else { mx[l] };
        }
    }
    let mut m = mx.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let base = g.len() / LANES * LANES;
    for j in base..g.len() {
        let mut acc = 0f32;
        for (k, &xk) in x.iter().enumerate() {
            acc = fma::<FMA>(xk, cols[k * stride + j], acc);
        }
        g[j] = fma::<FMA>(a, acc, -q * norms[j]);
        m = m.max(g[j]);
    }
    m
}

/// `acc[k] <- acc[k] + sum_j w[j] cols[k * stride + j]`: the weighted sum of references stored by
/// column.
#[inline(always)]
fn wsum_cols_body<const FMA: bool>(acc: &mut [f32], w: &[f32], cols: &[f32], stride: usize) {
    for (k, out) in acc.iter_mut().enumerate() {
        let col = &cols[k * stride..k * stride + w.len()];
        let mut s = [0f32; LANES];
        let mut wc = w.chunks_exact(LANES);
        let mut cc = col.chunks_exact(LANES);
        for (ws, cs) in (&mut wc).zip(&mut cc) {
            for l in 0..LANES {
                s[l] = fma::<FMA>(ws[l], cs[l], s[l]);
            }
        }
        let mut t: f32 = s.iter().sum();
        for (&wj, &cj) in wc.remainder().iter().zip(cc.remainder()) {
            t = fma::<FMA>(wj, cj, t);
        }
        *out += t;
    }
}

/// `acc[k] <- ((acc[k] + sum_j dw_j r_j[k]) / s - x[k]) / omt`, the sums in `f64` (in `sum`),
/// each term added in order: the closed form's velocity from its accumulators and corrections.
/// No fused multiply-add, so that every instruction set gives the same bits.
#[inline(always)]
fn velocity_body<const FMA: bool>(
    acc: &mut [f32],
    terms: &[(f64, &[f32])],
    x: &[f32],
    (s, omt): (f64, f64),
    sum: &mut [f64],
) {
    for (o, &a) in sum.iter_mut().zip(acc.iter()) {
        *o = a as f64;
    }
    for &(dw, r) in terms {
        for (o, &v) in sum.iter_mut().zip(r) {
            *o += dw * v as f64;
        }
    }
    for ((a, &o), &xv) in acc.iter_mut().zip(sum.iter()).zip(x) {
        *a = ((o / s - xv as f64) / omt) as f32;
    }
}

dispatch!(logits_body, logits_avx512, logits_avx2, (g: &mut [f32], norms: &[f32], a: f32, q: f32) -> f32);
dispatch!(logits_cols_body, logits_cols_avx512, logits_cols_avx2, (g: &mut [f32], x: &[f32], cols: &[f32], stride: usize, norms: &[f32], a: f32, q: f32) -> f32);
dispatch!(wsum_cols_body, wsum_cols_avx512, wsum_cols_avx2, (acc: &mut [f32], w: &[f32], cols: &[f32], stride: usize) -> ());
dispatch!(sparse_body, sparse_avx512, sparse_avx2, (acc: &mut [f32], w: &[f32], xs: &[f32]) -> ());
dispatch!(above_body, above_avx512, above_avx2, (row: &[f32], threshold: f32, out: &mut Vec<u32>) -> ());
dispatch!(dist_body, dist_avx512, dist_avx2, (x: &[f32], r: &[f32], t: f32) -> f32);
dispatch!(velocity_body, velocity_avx512, velocity_avx2, (acc: &mut [f32], terms: &[(f64, &[f32])], x: &[f32], st: (f64, f64), sum: &mut [f64]) -> ());
dispatch!(exp_body, exp_avx512, exp_avx2, (g: &mut [f32], m: f32, floor: f32, entropy: bool) -> (f32, f32, usize));

/// `g[i] <- a * g[i] - q * norms[i]` (the closed form's logits from a row of inner products);
/// returns the row maximum.
pub fn logits(g: &mut [f32], norms: &[f32], a: f32, q: f32) -> f32 {
    assert_eq!(g.len(), norms.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `level` checked that the CPU has the features each variant is compiled for.
    unsafe {
        match level() {
            2 => return logits_avx512(g, norms, a, q),
            1 => return logits_avx2(g, norms, a, q),
            _ => {}
        }
    }
    logits_body::<false>(g, norms, a, q)
}

/// `acc <- acc + sum_j w_j xs[j]` over the non-zero weights, `xs` holding `w.len()` rows of
/// `acc.len()` values: the sparse alternative to the second matrix product of the closed form
/// when nearly every weight has been flushed to zero.
pub fn sparse_accumulate(acc: &mut [f32], w: &[f32], xs: &[f32]) {
    assert_eq!(xs.len(), w.len() * acc.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `level` checked that the CPU has the features each variant is compiled for.
    unsafe {
        match level() {
            2 => return sparse_avx512(acc, w, xs),
            1 => return sparse_avx2(acc, w, xs),
            _ => {}
        }
    }
    sparse_body::<false>(acc, w, xs)
}

/// The logits of one query `x` against `g.len()` references stored by column (`cols[k * stride +
/// j]` is coordinate `k` of reference `j`): `g[j] <- a <x, x_j> - q norms[j]`, without a matrix
/// product, for small dimensions where a product's packing costs more than the arithmetic.
/// Returns the largest value.
pub fn logits_cols(
    g: &mut [f32],
    x: &[f32],
    cols: &[f32],
    stride: usize,
    norms: &[f32],
    a: f32,
    q: f32,
) -> f32 {
    assert!(norms.len() == g.len() && (x.is_empty() || cols.len() >= (x.len() - 1) * stride + g.len()));
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `level` checked that the CPU has the features each variant is compiled for.
    unsafe {
        match level() {
            2 => return logits_cols_avx512(g, x, cols, stride, norms, a, q),
            1 => return logits_cols_avx2(g, x, cols, stride, norms, a, q),
            _ => {}
        }
    }
    logits_cols_body::<false>(g, x, cols, stride, norms, a, q)
}

/// `acc[k] <- acc[k] + sum_j w[j] cols[k * stride + j]`: the weighted sum of references stored by
/// column, as [`logits_cols`].
pub fn wsum_cols(acc: &mut [f32], w: &[f32], cols: &[f32], stride: usize) {
    assert!(acc.is_empty() || cols.len() >= (acc.len() - 1) * stride + w.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `level` checked that the CPU has the features each variant is compiled for.
    unsafe {
        match level() {
            2 => return wsum_cols_avx512(acc, w, cols, stride),
            1 => return wsum_cols_avx2(acc, w, cols, stride),
            _ => {}
        }
    }
    wsum_cols_body::<false>(acc, w, cols, stride)
}

/// Appends to `out` the indices `j` with `row[j] > threshold` (in increasing order).
pub fn above(row: &[f32], threshold: f32, out: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `level` checked that the CPU has the features each variant is compiled for.
    unsafe {
        match level() {
            2 => return above_avx512(row, threshold, out),
            1 => return above_avx2(row, threshold, out),
            _ => {}
        }
    }
    above_body::<false>(row, threshold, out)
}

/// `||x - t r||^2` in `f32` from differences (no cancellation: every term is a square), for the
/// EFM estimator, whose reference sets change from sample to sample.
pub fn dist_scaled(x: &[f32], r: &[f32], t: f32) -> f32 {
    assert_eq!(x.len(), r.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `level` checked that the CPU has the features each variant is compiled for.
    unsafe {
        match level() {
            2 => return dist_avx512(x, r, t),
            1 => return dist_avx2(x, r, t),
            _ => {}
        }
    }
    dist_body::<false>(x, r, t)
}

/// The velocity of one query from its accumulators, in place: `acc[k] <- ((acc[k] + sum_j dw_j
/// r_j[k]) / s - x[k]) / (1 - t)` for `terms` `(dw_j, r_j)` and `omt = 1 - t`, summed in `f64`
/// (`sum`, as long as `acc`, is scratch). The same bits on every instruction set.
pub fn velocity(acc: &mut [f32], terms: &[(f64, &[f32])], x: &[f32], s: f64, omt: f64, sum: &mut [f64]) {
    assert!(x.len() == acc.len() && sum.len() == acc.len() && terms.iter().all(|t| t.1.len() == acc.len()));
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `level` checked that the CPU has the features each variant is compiled for.
    unsafe {
        match level() {
            2 => return velocity_avx512(acc, terms, x, (s, omt), sum),
            1 => return velocity_avx2(acc, terms, x, (s, omt), sum),
            _ => {}
        }
    }
    velocity_body::<false>(acc, terms, x, (s, omt), sum)
}

/// `g[i] <- exp(g[i] - m)` (every `g[i] <= m`), flushed to 0 where `g[i] - m < floor`
/// (`floor >= LOWEST_FLUSH`): flushed terms produce no denormal numbers, and no work in the
/// sparse accumulation. Returns the sum of the new values, if `entropy`
/// `sum_i exp(g[i] - m) (g[i] - m)` (else 0), and how many values were not flushed.
pub fn exp_shifted(g: &mut [f32], m: f32, floor: f32, entropy: bool) -> (f32, f32, usize) {
    assert!(floor >= LOWEST_FLUSH, "flush threshold {floor} would produce denormals");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `level` checked that the CPU has the features each variant is compiled for.
    unsafe {
        match level() {
            2 => return exp_avx512(g, m, floor, entropy),
            1 => return exp_avx2(g, m, floor, entropy),
            _ => {}
        }
    }
    exp_body::<false>(g, m, floor, entropy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_and_flushes() {
        let xs: Vec<f32> = (0..60_000).map(|i| -(i as f32) * 1e-3).collect();
        let mut g = xs.clone();
        let (s, e, kept) = exp_shifted(&mut g, 0.0, -60.0, true);
        assert_eq!(kept, xs.len());
        let (mut s64, mut e64) = (0f64, 0f64);
        for (x, y) in xs.iter().zip(&g) {
            let want = (*x as f64).exp();
            assert!(((*y as f64) - want).abs() <= 3e-7 * want, "exp({x}) = {y}, want {want}");
            s64 += want;
            e64 += want * *x as f64;
        }
        assert!((s as f64 - s64).abs() < 1e-5 * s64);
        assert!((e as f64 - e64).abs() < 1e-5 * e64.abs());
        let mut low = vec![-60.5f32, -100.0, -1e30, f32::NEG_INFINITY];
        assert_eq!(exp_shifted(&mut low, 0.0, -60.0, false).2, 0);
        assert_eq!(low, vec![0.0; 4]);
    }

    #[test]
    fn indices_above_a_threshold() {
        let row: Vec<f32> = (0..50).map(|i| ((i * 7) % 11) as f32).collect();
        let mut out = Vec::new();
        above(&row, 8.5, &mut out);
        let want: Vec<u32> = (0..50u32).filter(|&i| row[i as usize] > 8.5).collect();
        assert_eq!(out, want);
    }

    #[test]
    fn sparse_accumulation_matches_dense() {
        let (n, d) = (37, 5);
        let xs: Vec<f32> = (0..n * d).map(|i| (i as f32 * 0.3).sin()).collect();
        let w: Vec<f32> = (0..n).map(|j| if j % 7 == 3 { j as f32 * 0.1 } else { 0.0 }).collect();
        let mut acc = vec![1.0f32; d];
        sparse_accumulate(&mut acc, &w, &xs);
        for k in 0..d {
            let want: f32 = 1.0 + (0..n).map(|j| w[j] * xs[j * d + k]).sum::<f32>();
            assert!((acc[k] - want).abs() < 1e-5);
        }
    }

    #[test]
    fn scaled_distance() {
        let x: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin()).collect();
        let r: Vec<f32> = (0..37).map(|i| (i as f32 * 0.11).cos()).collect();
        let want: f64 = x.iter().zip(&r).map(|(a, b)| (*a as f64 - 0.7 * *b as f64).powi(2)).sum();
        assert!((dist_scaled(&x, &r, 0.7) as f64 - want).abs() < 1e-5 * want);
    }

    #[test]
    fn logits_and_max() {
        let mut g: Vec<f32> = (0..37).map(|i| i as f32).collect();
        let norms: Vec<f32> = (0..37).map(|i| (i * i) as f32 * 0.1).collect();
        let m = logits(&mut g, &norms, 2.0, 0.5);
        let want: Vec<f32> = (0..37).map(|i| 2.0 * i as f32 - 0.05 * (i * i) as f32).collect();
        for (a, b) in g.iter().zip(&want) {
            assert!((a - b).abs() < 1e-4);
        }
        assert_eq!(m, want.iter().copied().fold(f32::MIN, f32::max));
    }
    #[test]
    fn velocity_matches_the_scalar_formula_bit_for_bit() {
        let d = 37;
        let acc0: Vec<f32> = (0..d).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let x: Vec<f32> = (0..d).map(|i| (i as f32 * 0.11).cos()).collect();
        let (r1, r2): (Vec<f32>, Vec<f32>) =
            ((0..d).map(|i| i as f32 * 0.1).collect(), x.iter().map(|v| -v).collect());
        let terms = [(0.25f64, &r1[..]), (-1e-3, &r2[..])];
        let (s, omt) = (1.7, 0.4);
        let mut acc = acc0.clone();
        velocity(&mut acc, &terms, &x, s, omt, &mut vec![0.0; d]);
        for k in 0..d {
            let sum = acc0[k] as f64 + 0.25 * r1[k] as f64 + -1e-3 * r2[k] as f64;
            assert_eq!(acc[k].to_bits(), (((sum / s - x[k] as f64) / omt) as f32).to_bits(), "k = {k}");
        }
    }

    #[test]
    fn column_logits_and_weighted_sums() {
        let (n, d, stride) = (37, 3, 41);
        let cols: Vec<f32> = (0..d * stride).map(|i| (i as f32 * 0.37).sin()).collect();
        let x = [0.5f32, -1.0, 2.0];
        let norms: Vec<f32> = (0..n).map(|j| j as f32 * 0.1).collect();
        let mut g = vec![0f32; n];
        let m = logits_cols(&mut g, &x, &cols, stride, &norms, 2.0, 0.5);
        for j in 0..n {
            let dot: f32 = (0..d).map(|k| x[k] * cols[k * stride + j]).sum();
            assert!((g[j] - (2.0 * dot - 0.5 * norms[j])).abs() < 1e-5);
        }
        assert_eq!(m, g.iter().copied().fold(f32::MIN, f32::max));
        let w: Vec<f32> = (0..n).map(|j| (j as f32 * 0.2).cos()).collect();
        let mut acc = vec![1.0f32; d];
        wsum_cols(&mut acc, &w, &cols, stride);
        for k in 0..d {
            let want = 1.0 + (0..n).map(|j| w[j] * cols[k * stride + j]).sum::<f32>();
            assert!((acc[k] - want).abs() < 1e-4);
        }
    }
}
