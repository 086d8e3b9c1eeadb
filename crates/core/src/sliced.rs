//! The sliced product `c = a b^T`: each output's inner product summed in `f32` over slices of
//! [`SLICE`] coordinates and across slices in `f64`, at nearly the cost of a plain `f32`
//! product.
//!
//! ```text
//! c_ij = fl32( sum_s fl64( sum_{p in slice s} a_ip b_jp ) ),   slices s = [32 s, 32 s + 32),
//! ```
//!
//! each slice's sum taken along `p` in order with fused multiply-adds from 0, the slices added
//! in order from 0 in `f64`, the total rounded once to `f32`. A length-`k` `f32` sum errs by up
//! to about `sqrt(k) u |a_i| |b_j|` (`u = 2^-24`, statistically); sliced, by
//! `sqrt(SLICE) u sum_s |a_is| |b_js| <= sqrt(SLICE) u |a_i| |b_j|` (Cauchy-Schwarz over the
//! slices) whatever `k` is. The closed form takes it where the plain product's error bound fails
//! its tolerance and this one's does not ([`crate::closed_form`], route 1b).
//!
//! A register-blocked kernel computes a tile of outputs over one slice in `f32` registers, then
//! adds them into the tile's `f64` sums: the `f32` partial sums never reach memory. The operands
//! are packed by blocks of `KC` coordinates, the tile's `f64` sums stay in cache, and the
//! output is split into fixed blocks of `TASK` (one parallel task each), so the results do not
//! depend on the number of threads. The kernel is compiled for AVX-512 (8 x 32 tiles) and
//! AVX2 (6 x 16), chosen at run time; every output is summed in the same order whatever the tile,
//! so both give the same bits. Without FMA (the plain loop) the multiply-adds are not fused and
//! the last bits differ, as for every other product of the crate on such CPUs.

use std::cell::Cell;

use rayon::prelude::*;

use crate::matrix::with_scratch;

/// Coordinates per slice: the `f32` sums run over at most this many terms.
pub const SLICE: usize = 32;

/// Coordinates packed at a time (a whole number of slices).
const KC: usize = 128;

/// Rows and columns of the output per task: fixed, so that the results do not depend on the
/// thread count; a task's packed operands and `f64` sums fit in a core's cache.
const TASK: (usize, usize) = (256, 128);

/// The output, written by tasks that each own a block of it.
struct Output(*mut f32);
// SAFETY: the tasks write disjoint blocks of the output, which outlives them.
unsafe impl Sync for Output {}

impl Output {
    /// The `len` values from `offset` on.
    ///
    /// # Safety
    /// They lie in the output, and no other task touches them.
    #[allow(clippy::mut_from_ref)]
    unsafe fn block(&self, offset: usize, len: usize) -> &mut [f32] {
        // SAFETY: as the caller promises.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(offset), len) }
    }
}

/// `c = a b^T` for row-major `a` (`m x k`), `b` (`n x k`), `c` (`m x n`, overwritten), summed
/// in slices as the module says; the output's blocks in parallel when `parallel`.
pub fn sliced_nt(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32], parallel: bool) {
    with_packed(&a[..m * k], k, parallel, |a| a.times_t(n, b, c, parallel))
}

/// The rows of `a` packed for the tile kernel of this CPU: made once by [`with_packed`], then
/// multiplied by any number of `b`s ([`Packed::times_t`]), as the closed form does chunk after
/// chunk of references.
pub struct Packed<'a> {
    rows: usize,
    k: usize,
    panels: &'a [f32],
}

/// Runs `f` on the rows of `a` (row-major, `k` wide) packed in a buffer the thread keeps.
pub fn with_packed<R>(a: &[f32], k: usize, parallel: bool, f: impl FnOnce(Packed<'_>) -> R) -> R {
    assert!(k > 0 && a.len().is_multiple_of(k));
    let rows = a.len() / k;
    let level = crate::kernels::level();
    let width = match level {
        2 => 64,
        1 => 16,
        _ => 4,
    };
    with_scratch(&PACKED, rows.div_ceil(width) * width * k, |panels| {
        match level {
            2 => pack::<64>(a, k, panels, parallel),
            1 => pack::<16>(a, k, panels, parallel),
            _ => pack::<4>(a, k, panels, parallel),
        }
        f(Packed { rows, k, panels })
    })
}

impl Packed<'_> {
    /// `c = a b^T` for row-major `b` (`n x k`) and `c` (`rows x n`, overwritten), summed in
    /// slices as the module says; the output's blocks in parallel when `parallel`.
    pub fn times_t(&self, n: usize, b: &[f32], c: &mut [f32], parallel: bool) {
        let (m, k) = (self.rows, self.k);
        assert!(b.len() >= n * k && c.len() >= m * n);
        let (ap, b, c) = (self.panels, &b[..n * k], &mut c[..m * n]);
        match crate::kernels::level() {
            #[cfg(target_arch = "x86_64")]
            2 => run::<64, 6>(ap, m, k, b, c, parallel, tile_avx512),
            #[cfg(target_arch = "x86_64")]
            1 => run::<16, 6>(ap, m, k, b, c, parallel, tile_avx2),
            _ => run::<4, 4>(ap, m, k, b, c, parallel, tile_plain::<4, 4>),
        }
    }
}

/// A tile kernel: adds the sliced sums of `kc` coordinates of `QR` packed rows of `a` (`ap`:
/// `kc x QR`, by coordinate) and `RB` rows of `b` (`b[j]` points at coordinate `k0` of row `j`)
/// into the `f64` sums at `sums`, transposed (`sums[j * lds + i]` for row `i` of `a`, row `j` of
/// `b`). `kc` is a whole number of slices, except at the end of `k`.
type Tile<const RB: usize> =
    unsafe fn(kc: usize, ap: &[f32], b: [*const f32; RB], sums: &mut [f64], lds: usize);

/// Zeros standing in for the rows of `b` past its last, in a group of `RB`.
static ZEROS: [f32; KC] = [0.0; KC];

thread_local! {
    /// The rows of `a` packed by panels of `QR` (`[panel][p][row]`, all `k` coordinates).
    static PACKED: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// A task's `f64` sums, transposed.
    static SUMS: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
}

/// `c = a b^T` from the rows of `a` packed by panels of `QR` (`ap`), `m x k`, with `tile` on
/// groups of `RB` rows of `b` (`n x k`, `n` from `b`'s length).
fn run<const QR: usize, const RB: usize>(
    ap: &[f32],
    m: usize,
    k: usize,
    b: &[f32],
    c: &mut [f32],
    parallel: bool,
    tile: Tile<RB>,
) {
    let n = b.len() / k;
    let (tr, tc) = TASK;
    debug_assert!(tr % QR == 0);
    let col_blocks = n.div_ceil(tc);
    let tasks = m.div_ceil(tr) * col_blocks;
    let out = Output(c.as_mut_ptr());
    // Task `t`: rows `r0..r0 + rows` of `a` and `c0..c0 + cols` of `b`.
    let task = |t: usize| {
        let (r0, c0) = (t / col_blocks * tr, t % col_blocks * tc);
        let (rows, cols) = (tr.min(m - r0), tc.min(n - c0));
        let (rp, cp) = (rows.div_ceil(QR) * QR, cols.div_ceil(RB) * RB);
        with_scratch(&SUMS, cp * rp, |sums| {
            sums.fill(0.0);
            // Each panel of `a` stays in the core's first-level cache while the rows of `b`
            // stream past it.
            for k0 in (0..k).step_by(KC) {
                let kc = KC.min(k - k0);
                for (panel, at) in ap[r0 * k..(r0 + rp) * k].chunks_exact(QR * k).enumerate() {
                    let at = &at[k0 * QR..(k0 + kc) * QR];
                    for (g, group) in sums.chunks_exact_mut(RB * rp).enumerate() {
                        let row = |j: usize| {
                            let r = c0 + g * RB + j;
                            if r < c0 + cols { b[r * k + k0..].as_ptr() } else { ZEROS.as_ptr() }
                        };
                        // SAFETY: the kernel for this CPU's level; the panel's coordinates
                        // k0..k0 + kc, the group's rows of b from k0 (or zeros) with kc
                        // values each, and the tile's sums lie in their buffers.
                        unsafe { tile(kc, at, std::array::from_fn(row), &mut group[panel * QR..], rp) };
                    }
                }
            }
            // Transposed into the output by blocks of 16 x 16, which stay in cache.
            for rb in (0..rows).step_by(16) {
                for jb in (0..cols).step_by(16) {
                    let len = cols.min(jb + 16) - jb;
                    for r in rb..rows.min(rb + 16) {
                        // SAFETY: row r0 + r, columns c0 + jb..c0 + jb + len lie in the m x n
                        // output, and belong to this task alone.
                        let dst = unsafe { out.block((r0 + r) * n + c0 + jb, len) };
                        dst.iter_mut().enumerate().for_each(|(j, o)| *o = sums[(jb + j) * rp + r] as f32);
                    }
                }
            }
        })
    };
    if parallel {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// Packs the rows of `x` (row stride `k`) by panels of `R` rows, each panel by coordinate
/// (`out[panel][p][r]`), zeros past the last row; the panels in parallel when `parallel`.
fn pack<const R: usize>(x: &[f32], k: usize, out: &mut [f32], parallel: bool) {
    let rows = x.len() / k;
    let panel = |(i, dst): (usize, &mut [f32])| {
        let valid = rows.saturating_sub(i * R).min(R);
        if valid < R {
            dst.fill(0.0);
        }
        // By blocks of 16 coordinates, so that the block's rows of `dst` stay in cache.
        for p0 in (0..k).step_by(16) {
            let pn = 16.min(k - p0);
            for r in 0..valid {
                let src = &x[(i * R + r) * k + p0..][..pn];
                for (p, &v) in src.iter().enumerate() {
                    dst[(p0 + p) * R + r] = v;
                }
            }
        }
    };
    if parallel {
        out.par_chunks_mut(R * k).enumerate().for_each(panel);
    } else {
        out.chunks_mut(R * k).enumerate().for_each(panel);
    }
}

/// The tile kernel as plain loops: the baseline without FMA (unfused multiply-adds).
unsafe fn tile_plain<const QR: usize, const RB: usize>(
    kc: usize,
    ap: &[f32],
    b: [*const f32; RB],
    sums: &mut [f64],
    lds: usize,
) {
    for s in (0..kc).step_by(SLICE) {
        let mut acc = [[0f32; QR]; RB];
        for p in s..kc.min(s + SLICE) {
            for (j, row) in acc.iter_mut().enumerate() {
                // SAFETY: each row of b holds kc values from its pointer (the caller's promise).
                let bv = unsafe { *b[j].add(p) };
                for (i, v) in row.iter_mut().enumerate() {
                    *v += ap[p * QR + i] * bv;
                }
            }
        }
        for (j, row) in acc.iter().enumerate() {
            for (i, &v) in row.iter().enumerate() {
                sums[j * lds + i] += v as f64;
            }
        }
    }
}

/// The register-blocked tile kernels: `$nv` vectors of `$lanes` packed rows of `a` by `$rb` rows
/// of `b`, `$nv x $rb` registers of `f32` sums per slice, added into the `f64` sums by `$flush`
/// (`$v` the register, `$dst` where its first value goes).
macro_rules! tile_kernel {
    (
        $(#[$doc:meta])* $name:ident, $feature:literal, $vec:ty, $lanes:literal, $nv:literal, $rb:literal,
        $zero:ident, $load:ident, $set1:ident, $fmadd:ident,
        |$v:ident, $dst:ident| $flush:block
    ) => {
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name(kc: usize, ap: &[f32], b: [*const f32; $rb], sums: &mut [f64], lds: usize) {
            use std::arch::x86_64::*;
            const QR: usize = $nv * $lanes;
            assert!(ap.len() >= kc * QR && sums.len() >= ($rb - 1) * lds + QR);
            let (ap, sums) = (ap.as_ptr(), sums.as_mut_ptr());
            let mut s = 0;
            while s < kc {
                let end = kc.min(s + SLICE);
                let mut acc: [[$vec; $nv]; $rb] = [[$zero(); $nv]; $rb];
                for p in s..end {
                    let mut a = [$zero(); $nv];
                    for (v, a) in a.iter_mut().enumerate() {
                        // SAFETY: p < kc: within the packed panel (asserted above).
                        *a = unsafe { $load(ap.add(p * QR + v * $lanes)) };
                    }
                    for (row, acc) in b.iter().zip(acc.iter_mut()) {
                        // SAFETY: each row of b holds kc values from its pointer (the caller's
                        // promise).
                        let bv = $set1(unsafe { *row.add(p) });
                        for (acc, &a) in acc.iter_mut().zip(&a) {
                            *acc = $fmadd(a, bv, *acc);
                        }
                    }
                }
                for (j, acc) in acc.iter().enumerate() {
                    for (v, &$v) in acc.iter().enumerate() {
                        // SAFETY: row j of the transposed tile, one vector of it (asserted above).
                        let $dst = unsafe { sums.add(j * lds + v * $lanes) };
                        $flush
                    }
                }
                s = end;
            }
        }
    };
}

tile_kernel!(
    /// The AVX-512 tile kernel: 64 rows of `a` by 6 of `b`, 24 registers of `f32` sums per slice.
    ///
    /// # Safety
    /// The CPU has AVX-512F, AVX-512VL and FMA; `ap` holds `kc x 64` values, each row of `b` `kc` from its
    /// pointer, and `sums` 6 rows of stride `lds` with 64 values each.
    tile_avx512, "avx512f,avx512vl,avx2,fma", __m512, 16, 4, 6,
    _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps,
    |v, dst| {
        // AVX-512VL lets the 256-bit halves live in all 32 registers (without it the sums
        // would be confined to the 16 that AVX2 instructions reach, and spill).
        let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        let hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))));
        // SAFETY: dst..dst + 16 lie in the tile.
        unsafe {
            _mm512_storeu_pd(dst, _mm512_add_pd(_mm512_loadu_pd(dst), lo));
            _mm512_storeu_pd(dst.add(8), _mm512_add_pd(_mm512_loadu_pd(dst.add(8)), hi));
        }
    }
);

tile_kernel!(
    /// The AVX2 tile kernel: 16 rows of `a` by 6 of `b`, 12 registers of `f32` sums per slice.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `ap` holds `kc x 16` values, each row of `b` `kc` from its
    /// pointer, and `sums` 6 rows of stride `lds` with 16 values each.
    tile_avx2, "avx2,fma", __m256, 8, 2, 6,
    _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps,
    |v, dst| {
        let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v));
        // SAFETY: dst..dst + 8 lie in the tile.
        unsafe {
            _mm256_storeu_pd(dst, _mm256_add_pd(_mm256_loadu_pd(dst), lo));
            _mm256_storeu_pd(dst.add(4), _mm256_add_pd(_mm256_loadu_pd(dst.add(4)), hi));
        }
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The module's formula as plain loops, multiply-adds fused or not.
    fn spec(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], fused: bool) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut total = 0f64;
                for p0 in (0..k).step_by(SLICE) {
                    let terms = (p0..k.min(p0 + SLICE)).map(|p| (a[i * k + p], b[j * k + p]));
                    let part = terms.fold(0f32, |s, (x, y)| if fused { x.mul_add(y, s) } else { s + x * y });
                    total += part as f64;
                }
                c[i * n + j] = total as f32;
            }
        }
        c
    }

    /// Packs `a` by panels of `QR` and runs `tile` on it.
    #[allow(clippy::too_many_arguments)]
    fn packed_run<const QR: usize, const RB: usize>(
        m: usize,
        k: usize,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
        parallel: bool,
        tile: Tile<RB>,
    ) {
        let mut panels = vec![f32::NAN; m.div_ceil(QR) * QR * k];
        pack::<QR>(a, k, &mut panels, parallel);
        run::<QR, RB>(&panels, m, k, b, c, parallel, tile);
    }

    /// Bit for bit the module's formula on every shape (edges of tiles, of packed blocks and of
    /// tasks, thin ones), with every kernel this CPU has, on one thread or several.
    #[test]
    fn sliced_products_follow_the_formula_bit_for_bit() {
        let mut s = crate::Stream::new(9);
        for (m, n, k) in
            [(1, 1, 1), (1, 5, 70), (3, 1, 33), (2, 2, 32), (13, 33, 257), (300, 270, 600), (64, 17, 3072)]
        {
            let a = s.normal_vec(m * k);
            let b = s.normal_vec(n * k);
            let mut kernels: Vec<(&str, bool)> = vec![("plain", false)];
            #[cfg(target_arch = "x86_64")]
            {
                if crate::kernels::level() >= 1 {
                    kernels.push(("avx2", true));
                }
                if crate::kernels::level() >= 2 {
                    kernels.push(("avx512", true));
                }
            }
            for (name, fused) in kernels {
                let want = spec(m, n, k, &a, &b, fused);
                for threads in [1, 2, 3] {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    let mut c = vec![f32::NAN; m * n];
                    let par = threads > 1;
                    pool.install(|| match name {
                        "plain" => packed_run::<4, 4>(m, k, &a, &b, &mut c, par, tile_plain::<4, 4>),
                        #[cfg(target_arch = "x86_64")]
                        "avx2" => packed_run::<16, 6>(m, k, &a, &b, &mut c, par, tile_avx2),
                        #[cfg(target_arch = "x86_64")]
                        _ => packed_run::<64, 6>(m, k, &a, &b, &mut c, par, tile_avx512),
                        #[cfg(not(target_arch = "x86_64"))]
                        _ => unreachable!(),
                    });
                    assert_eq!(c, want, "{name}: {m} x {n} x {k}, {threads} threads");
                }
            }
            // The entry point takes this CPU's kernel.
            let mut c = vec![f32::NAN; m * n];
            sliced_nt(m, n, k, &a, &b, &mut c, true);
            assert_eq!(c, spec(m, n, k, &a, &b, crate::kernels::level() >= 1), "sliced_nt: {m} x {n} x {k}");
        }
    }

    /// At k = 3072 the sliced sums err less than the plain `f32` product's, over all outputs.
    #[test]
    fn sliced_sums_are_closer_to_the_exact_product() {
        let mut s = crate::Stream::new(10);
        let (m, n, k) = (64, 64, 3072);
        let (a, b) = (s.normal_vec(m * k), s.normal_vec(n * k));
        let (mut plain, mut sliced) = (vec![0f32; m * n], vec![0f32; m * n]);
        crate::matrix::faer_nt(m, n, k, &a, &b, &mut plain, false, false);
        sliced_nt(m, n, k, &a, &b, &mut sliced, false);
        let err = |c: &[f32]| -> f64 {
            let exact = |o: usize| crate::matrix::dot(&a[o / n * k..][..k], &b[o % n * k..][..k]);
            (0..m * n).map(|o| (c[o] as f64 - exact(o)).abs()).sum()
        };
        assert!(err(&sliced) * 2.0 < err(&plain), "sliced {} vs plain {}", err(&sliced), err(&plain));
    }
}
