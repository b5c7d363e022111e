//! kgroup's command-line library: the `kgroup assign` JSON contract, `kgroup bench`, `kgroup
//! check`, the conformance replayer (`replay`) and the seeded simulator (`sim`, `kgroup sim`).
//!
//! Later issues add trace generation from the model and the adapter and wire targets here; the
//! `kgroup` binary (src/main.rs) is a thin clap front over these modules.

pub mod assign_json;
pub mod bench;
pub mod check;
pub mod replay;
pub mod sim;
