//! kgroup's command-line library: the `kgroup assign` JSON contract, `kgroup bench`, `kgroup
//! check`, and the conformance replayer (`replay`) with its adapter-process target (`adapter`).
//!
//! Later issues add trace generation from the model, the wire target and the simulator here; the
//! `kgroup` binary (src/main.rs) is a thin clap front over these modules.

pub mod adapter;
pub mod assign_json;
pub mod bench;
pub mod check;
pub mod generate;
pub mod replay;
