//! Standard normal variates by the ziggurat method (Marsaglia and Tsang 2000, "The Ziggurat
//! Method for Generating Random Variables", J. Stat. Software 5(8)), 256 layers.
//!
//! The density `f(x) = exp(-x^2 / 2)` (unnormalised) is covered by 256 layers of equal area
//! `v`: a base layer (the rectangle `[0, x_1] x [0, f(x_1)]` plus the tail beyond `r = x_1`)
//! and 255 rectangles `[0, x_i] x [f(x_i), f(x_{i+1})]`, with
//!
//! ```text
//! v = r f(r) + integral_r^inf f = r f(r) + sqrt(pi / 2) erfc(r / sqrt 2),   r = 3.6541528853610088
//! x_0 = v / f(r),  x_1 = r,  x_{i+1} = sqrt(-2 ln(v / x_i + f(x_i))),  x_256 = 0
//! ```
//!
//! One 64-bit draw picks a layer `i` (its low 8 bits) and a point `u x_i` with `u` uniform on
//! `[-1, 1)` (its top 53 bits); the point is accepted at once when `|u x_i| < x_{i+1}` (about
//! 99% of draws), else by the exact test against `f` (or, in the base layer, by Marsaglia's tail
//! algorithm). The result is exactly normally distributed up to the resolution of the draws.
//! Tables and the rare exact tests use the `libm` crate, so the values are the same on every
//! machine.

use std::sync::OnceLock;

use crate::rng::Stream;

/// `r = x_1`, the start of the tail.
const R: f64 = 3.654_152_885_361_009;

/// The layer edges `x_0 ..= x_256` and the density at them.
struct Tables {
    x: [f64; 257],
    f: [f64; 257],
}

fn density(x: f64) -> f64 {
    libm::exp(-0.5 * x * x)
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let v =
            R * density(R) + (std::f64::consts::PI / 2.0).sqrt() * libm::erfc(R / std::f64::consts::SQRT_2);
        let mut x = [0.0; 257];
        x[0] = v / density(R);
        x[1] = R;
        for i in 1..255 {
            x[i + 1] = (-2.0 * libm::log(v / x[i] + density(x[i]))).sqrt();
        }
        x[256] = 0.0;
        let mut f = [0.0; 257];
        for i in 0..257 {
            f[i] = density(x[i]);
        }
        Tables { x, f }
    })
}

/// A uniform in `(0, 1]` (never 0, so its logarithm is finite).
fn open_uniform(s: &mut Stream) -> f64 {
    1.0 - s.uniform()
}

/// One standard normal variate from `s`.
#[cfg(test)]
pub(crate) fn normal(s: &mut Stream) -> f64 {
    normal_with(tables(), s)
}

/// `out.len()` standard normal variates from `s`, as `f32`.
pub(crate) fn fill(s: &mut Stream, out: &mut [f32]) {
    let t = tables();
    out.iter_mut().for_each(|v| *v = normal_with(t, s) as f32);
}

/// One standard normal variate from `s`, with the tables at hand.
#[inline]
fn normal_with(t: &Tables, s: &mut Stream) -> f64 {
    loop {
        let bits = s.next_u64();
        let i = (bits & 0xff) as usize;
        let u = (bits >> 11) as f64 * (2.0 / (1u64 << 53) as f64) - 1.0;
        let x = u * t.x[i];
        if x.abs() < t.x[i + 1] {
            return x;
        }
        if i == 0 {
            // The tail beyond r, by Marsaglia's method (1964).
            loop {
                let a = libm::log(open_uniform(s)) / R;
                let b = libm::log(open_uniform(s));
                if -2.0 * b >= a * a {
                    return if u < 0.0 { a - R } else { R - a };
                }
            }
        }
        if t.f[i + 1] + (t.f[i] - t.f[i + 1]) * s.uniform() < density(x) {
            return x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_close_the_ziggurat() {
        let t = tables();
        // Published values (256-layer tables of Marsaglia and Tsang).
        assert!((t.x[0] - 3.910_757_959_537_09).abs() < 1e-9, "{}", t.x[0]);
        assert!((t.x[2] - 3.449_278_298_560_964).abs() < 1e-9, "{}", t.x[2]);
        // The recurrence lands on the top of the density.
        assert!(t.x[255] > 0.0 && t.x[255] < 0.3, "{}", t.x[255]);
        assert!(t.x.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn distribution_matches_the_normal_cdf() {
        let mut s = Stream::new(11);
        let n = 400_000;
        let z: Vec<f64> = (0..n).map(|_| normal(&mut s)).collect();
        let mean = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.006 && (var - 1.0).abs() < 0.008, "{mean} {var}");
        // Phi(x) at a few points, including deep in the tail handled by the base layer.
        for (x, phi) in [
            (-3.0, 0.001_349_898),
            (-1.0, 0.158_655_254),
            (0.0, 0.5),
            (0.5, 0.691_462_461),
            (4.0, 0.999_968_329),
        ] {
            let got = z.iter().filter(|&&v| v <= x).count() as f64 / n as f64;
            let sd = (phi * (1.0 - phi) / n as f64).sqrt();
            assert!((got - phi).abs() < 5.0 * sd + 1e-6, "P(Z <= {x}) = {got}, want {phi}");
        }
    }
}
