//! The figures of the study, one module each, and their registry.

mod common;
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

use crate::claims::Claim;
use crate::figure::Figure;
use crate::{Error, Result};

/// Every figure, in the order `reproduce` runs them.
pub fn all() -> Vec<&'static dyn Figure> {
    vec![
        &fig1a::Fig1a,
        &fig1a_mean::Fig1aMean,
        &fig1c::Fig1c,
        &memorize::Memorize,
        &prop2::Prop2,
        &collapse::Collapse,
        &fig2::Fig2,
        &fig3::Fig3,
        &fig4::Fig4,
        &table1::Table1,
        &efm_cost::EfmCost,
    ]
}

/// The figure named `id`, or an error listing the known ones.
pub fn get(id: &str) -> Result<&'static dyn Figure> {
    all().into_iter().find(|f| f.id() == id).ok_or_else(|| {
        let known: Vec<&str> = all().iter().map(|f| f.id()).collect();
        Error::invalid(format!("unknown figure '{id}': known figures are {}", known.join(", ")))
    })
}

/// The claims decided by figure `id`.
pub fn claims_of(id: &str) -> Vec<Claim> {
    match id {
        "fig1a" => fig1a::claims(),
        "fig1a_mean" => fig1a_mean::claims(),
        "fig1c" => fig1c::claims(),
        "memorize" => memorize::claims(),
        "prop2" => prop2::claims(),
        "fig2" => fig2::claims(),
        "fig3" => fig3::claims(),
        "fig4" => fig4::claims(),
        "efm_cost" => efm_cost::claims(),
        _ => Vec::new(),
    }
}
