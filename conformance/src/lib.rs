//! kgroup's command-line library: the `kgroup assign` JSON contract, `kgroup bench`, `kgroup
//! check`, and the conformance replayer (`replay`).
//!
//! Later issues add trace generation from the model, the adapter and wire targets and the
//! simulator here; the `kgroup` binary (src/main.rs) is a thin clap front over these modules.

pub mod assign_json;
pub mod bench;
pub mod check;
pub mod generate;
pub mod replay;
