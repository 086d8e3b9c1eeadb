//! One renderer per figure; each module documents what its figure shows.

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
