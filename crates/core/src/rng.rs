//! Seeded random streams.
//!
//! Every random draw of the project comes from a [`Stream`]: a ChaCha8 generator (whose output
//! is stable across `rand_chacha` versions) keyed by a root seed and a path of labels such as
//! `"fig1a" / "two-moons" / "pairs"`. A child stream depends only on its parent's key and its
//! label, never on how many numbers the parent has drawn, so cells can be added, removed or run
//! in any order without changing each other's draws. Normal variates use our own Box-Muller
//! transform rather than `rand_distr`, whose samplers may change between releases.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// A labelled, seeded random stream.
/// Values per independently drawn chunk of [`Stream::normal_vec_fast`].
pub const FAST_CHUNK: usize = 8192;

#[derive(Clone, Debug)]
pub struct Stream {
    key: u64,
    rng: ChaCha8Rng,
    spare_normal: Option<f64>,
}

/// 64-bit FNV-1a of `bytes`: a fixed, documented hash for labels.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// SplitMix64 finaliser: spreads the bits of a key.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Stream {
    /// The root stream of `seed`.
    pub fn new(seed: u64) -> Self {
        Self::from_key(mix(seed ^ 0x005e_ed0f_f10e_u64))
    }

    fn from_key(key: u64) -> Self {
        let mut bytes = [0u8; 32];
        for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&mix(key.wrapping_add(i as u64 * 0x9e37_79b9_7f4a_7c15)).to_le_bytes());
        }
        Self { key, rng: ChaCha8Rng::from_seed(bytes), spare_normal: None }
    }

    /// The child stream named `label`; independent of the draws already made on `self`.
    pub fn derive(&self, label: &str) -> Stream {
        Self::from_key(mix(self.key ^ fnv1a(label.as_bytes()).rotate_left(17)))
    }

    /// The child stream numbered `i` (for per-item streams: per sample, per seed, per cell).
    pub fn derive_index(&self, i: u64) -> Stream {
        Self::from_key(mix(self.key.wrapping_add(mix(i ^ 0x1d5e_c7ed))))
    }

    /// 64 uniform random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform on `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform on `[lo, hi)`.
    pub fn uniform_in(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal variate (Box-Muller; the second value of each pair is kept for the next call).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]: log is finite
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare_normal = Some(r * s);
        r * c
    }

    /// `n` standard normal variates as `f32`.
    pub fn normal_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.normal() as f32).collect()
    }

    /// `n` standard normal `f32` values by the ziggurat method (`crate::ziggurat`), several
    /// times faster than [`Stream::normal_vec`] (and a different sequence): chunk `c` of
    /// [`FAST_CHUNK`] values comes from `self.derive_index(c)`, so the chunks are drawn in
    /// parallel and the values depend only on this stream's key and `n`, not on the thread
    /// count. `self` is not advanced. Used for the training noise, where the draws per step are
    /// many.
    pub fn normal_vec_fast(&self, n: usize) -> Vec<f32> {
        use rayon::prelude::*;
        let mut out = vec![0f32; n];
        out.par_chunks_mut(FAST_CHUNK).enumerate().for_each(|(c, chunk)| {
            crate::ziggurat::fill(&mut self.derive_index(c as u64), chunk);
        });
        out
    }

    /// Uniform integer in `0..n` (unbiased, Lemire's method). `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as usize;
            }
        }
    }

    /// Fisher-Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// A uniformly random permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }

    /// `k` distinct indices of `0..n`, uniformly, in random order (`k <= n`).
    pub fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        assert!(k <= n, "cannot choose {k} of {n}");
        let mut p: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            p.swap(i, j);
        }
        p.truncate(k);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_ignore_parent_draws() {
        let a = Stream::new(7);
        let mut b = Stream::new(7);
        b.normal_vec(100);
        assert_eq!(a.derive("x").next_u64(), b.derive("x").next_u64());
        assert_ne!(a.derive("x").next_u64(), a.derive("y").next_u64());
        assert_ne!(a.derive_index(0).next_u64(), a.derive_index(1).next_u64());
        assert_ne!(Stream::new(7).next_u64(), Stream::new(8).next_u64());
    }

    #[test]
    fn normal_moments() {
        let mut s = Stream::new(1);
        let z: Vec<f64> = (0..200_000).map(|_| s.normal()).collect();
        let mean = z.iter().sum::<f64>() / z.len() as f64;
        let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / z.len() as f64;
        let kurt = z.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / z.len() as f64 / (var * var);
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.01, "{var}");
        assert!((kurt - 3.0).abs() < 0.05, "{kurt}");
    }

    #[test]
    fn below_is_uniform_and_choose_is_distinct() {
        let mut s = Stream::new(2);
        let mut counts = [0usize; 6];
        for _ in 0..60_000 {
            counts[s.below(6)] += 1;
        }
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
        let mut c = s.choose(100, 40);
        c.sort();
        c.dedup();
        assert_eq!(c.len(), 40);
    }

    #[test]
    fn fast_normals_are_reproducible_and_thread_independent() {
        let s = Stream::new(5);
        let a = s.normal_vec_fast(3 * FAST_CHUNK + 17);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(a, one.install(|| s.normal_vec_fast(3 * FAST_CHUNK + 17)));
        assert_eq!(&a[..100], &s.normal_vec_fast(100)[..]);
        assert_ne!(a[..100], Stream::new(6).normal_vec_fast(100)[..]);
    }
}
