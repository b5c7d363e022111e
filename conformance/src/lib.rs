//! kgroup's command-line library: the `kgroup assign` JSON contract and `kgroup bench`.
//!
//! Later issues add the trace format, the replayers and the simulator here; the `kgroup` binary
//! (src/main.rs) is a thin clap front over these modules.

pub mod assign_json;
pub mod bench;
pub mod check;
