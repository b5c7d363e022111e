//! kgroup's command-line library: the `kgroup assign` JSON contract, `kgroup bench`, `kgroup
//! check`, the conformance replayer (`replay`) with its adapter-process target (`adapter`), the
//! corpus generator (`generate`) and the seeded simulator (`sim`, `kgroup sim`).
//!
//! Later issues add the wire target here; the
//! `kgroup` binary (src/main.rs) is a thin clap front over these modules.

pub mod adapter;
pub mod assign_json;
pub mod bench;
pub mod check;
pub mod generate;
pub mod replay;
pub mod sim;
