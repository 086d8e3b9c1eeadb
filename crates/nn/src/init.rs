//! Seeded weight initialisation.
//!
//! candle's CPU random generator cannot be seeded, so no weight is ever drawn from it. Models are
//! built through a [`VarBuilder`] whose backend creates each variable of a [`VarMap`] from our
//! own stream `root.derive(name)`, where `name` is the variable's full dotted path
//! (`input_blocks.1.0.in_layers.2.weight`). A variable's initial value therefore depends only on
//! the seed and its name: not on the order in which layers are built, nor on the thread count.
//!
//! Layers ask for [`Init::Uniform`] with the bounds of PyTorch's defaults (see
//! [`crate::models::layers`]) or [`Init::Const`] (normalisation scales and shifts, and the
//! zero-initialised output convolutions of the U-Net). Values are drawn in `f64` and rounded to
//! `f32`, in row-major order.

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use cfm_core::Stream;

/// Creates the variables of a [`VarMap`]: drawn from `root.derive(name)`, or zeros when there
/// is no stream (a model about to receive saved values).
struct SeededVars {
    map: VarMap,
    root: Option<Stream>,
}

/// `n` values of the distribution `init`, from `stream`.
fn draw(init: Init, n: usize, stream: &mut Stream) -> candle_core::Result<Vec<f32>> {
    Ok(match init {
        Init::Const(v) => vec![v as f32; n],
        Init::Uniform { lo, up } => (0..n).map(|_| stream.uniform_in(lo, up) as f32).collect(),
        Init::Randn { .. } | Init::Kaiming { .. } => {
            candle_core::bail!(
                "unsupported initialisation {init:?}: layers ask for uniform or constant values"
            )
        }
    })
}

impl SimpleBackend for SeededVars {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let mut vars = self.map.data().lock().expect("variable map lock poisoned");
        if let Some(var) = vars.get(name) {
            if var.shape() != &s {
                candle_core::bail!("variable {name} requested with shape {s:?} but has {:?}", var.shape());
            }
            return Ok(var.as_tensor().clone());
        }
        let values = match &self.root {
            Some(root) => draw(h, s.elem_count(), &mut root.derive(name))?,
            None => vec![0.0; s.elem_count()],
        };
        let var = Var::from_tensor(&Tensor::from_vec(values, s, dev)?.to_dtype(dtype)?)?;
        let tensor = var.as_tensor().clone();
        vars.insert(name.to_string(), var);
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("variable {name} requested without a shape")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.map.data().lock().expect("variable map lock poisoned").contains_key(name)
    }
}

/// A builder that creates `f32` variables in `map` on `device`, each drawn from
/// `root.derive(name)`, or zeros when `root` is `None`.
pub(crate) fn seeded_builder(map: &VarMap, root: Option<Stream>, device: &Device) -> VarBuilder<'static> {
    VarBuilder::from_backend(Box::new(SeededVars { map: map.clone(), root }), DType::F32, device.clone())
}

/// The variables of `map`, sorted by name: the fixed order of optimiser and EMA states.
pub(crate) fn sorted_vars(map: &VarMap) -> Vec<(String, Var)> {
    let vars = map.data().lock().expect("variable map lock poisoned");
    let mut out: Vec<(String, Var)> = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_depend_on_seed_and_name_only() {
        let dev = Device::Cpu;
        let build = |seed: u64, order: [&str; 2]| {
            let map = VarMap::new();
            let vb = seeded_builder(&map, Some(Stream::new(seed)), &dev);
            for name in order {
                vb.get_with_hints((3, 2), name, Init::Uniform { lo: -0.5, up: 0.5 }).unwrap();
            }
            sorted_vars(&map)
                .into_iter()
                .map(|(n, v)| (n, v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()))
                .collect::<Vec<_>>()
        };
        let a = build(1, ["a", "b"]);
        assert_eq!(a, build(1, ["b", "a"]));
        assert_ne!(a, build(2, ["a", "b"]));
        assert_ne!(a[0].1, a[1].1);
        assert!(a.iter().flat_map(|(_, v)| v).all(|v| (-0.5..0.5).contains(v)));
    }
}
