//! The figures of the study, one module each, and their registry.
//!
//! Adding a figure: write `figures/<id>.rs` with its plan per profile, its cell function, its
//! id, column and statistic names as constants, the typed `View` of its table, its claims and
//! key numbers over that view (the `Figure` trait), and add it to [`all`] (in the paper's order;
//! figures beyond the paper after them). Then a renderer of the view in `cfm-plot` (one line in
//! its list) and a snapshot test.

pub mod learned;

pub mod collapse;
pub mod efm_cost;
pub mod fig1a;
pub mod fig1a_mean;
pub mod fig1c;
pub mod fig2;
pub mod fig3;
pub mod fig4;
pub mod memorize;
pub mod prop2;
pub mod table1;

use crate::figure::Figure;
use crate::{Error, Result};

/// Every figure: the paper's in its order, then those beyond it. `reproduce` runs them in this
/// order and the report presents them in it.
pub fn all() -> Vec<&'static dyn Figure> {
    vec![
        &fig1a::Fig1a,
        &fig1a_mean::Fig1aMean,
        &fig1c::Fig1c,
        &memorize::Memorize,
        &fig2::Fig2,
        &fig3::Fig3,
        &fig4::Fig4,
        &table1::Table1,
        &efm_cost::EfmCost,
        &prop2::Prop2,
        &collapse::Collapse,
    ]
}

/// The figure named `id`, or an error listing the known ones.
pub fn get(id: &str) -> Result<&'static dyn Figure> {
    all().into_iter().find(|f| f.id() == id).ok_or_else(|| {
        let known: Vec<&str> = all().iter().map(|f| f.id()).collect();
        Error::invalid(format!("unknown figure '{id}': known figures are {}", known.join(", ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Profile;

    #[test]
    fn ids_are_unique_and_the_paper_comes_first() {
        let ids: Vec<&str> = all().iter().map(|f| f.id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
        let first_beyond = all().iter().position(|f| f.paper().is_none()).unwrap();
        assert!(all()[first_beyond..].iter().all(|f| f.paper().is_none()), "paper figures after beyond ones");
        for f in all() {
            for p in Profile::ALL {
                assert!(!f.plan(p).caption().is_empty(), "{} has no caption at {p}", f.id());
            }
            assert!(
                f.claims().iter().all(|c| c.figure == f.id()),
                "{}: a claim names another figure",
                f.id()
            );
        }
    }

    #[test]
    fn every_cell_a_cell_reads_exists_and_labels_are_unique() {
        for p in Profile::ALL {
            let ctx = crate::Context::new(p, "unused");
            for f in all() {
                let cells = crate::figure::cells(f, &ctx).unwrap();
                let mut labels: Vec<&str> = cells.iter().map(|c| c.label.as_str()).collect();
                labels.sort();
                let n = labels.len();
                labels.dedup();
                assert_eq!(labels.len(), n, "{} at {p}: two cells share a label", f.id());
                for c in &cells {
                    for (fig, label) in &c.after {
                        let theirs = crate::figure::cells(get(fig).unwrap(), &ctx).unwrap();
                        assert!(
                            theirs.iter().any(|t| &t.label == label),
                            "{} at {p}: {} reads {fig} cell {label}, which is not planned",
                            f.id(),
                            c.label
                        );
                    }
                }
            }
        }
    }
}
