//! kgroup-core: the production implementation of Kafka's classic consumer-group protocol.
//!
//! - [`records`]: the `__consumer_offsets` record formats (keys and values, versioned as Kafka
//!   versions them).
//! - [`log`]: a durable append-only file log with a CRC per record and an explicit fsync policy.
//! - [`store`]: committed offsets, pending transactional offsets and group metadata, as replaying
//!   the log yields them; [`store::Durable`] couples the store with its log.
//!
//! Architecture Invariant: kgroup-core is pure and deterministic apart from [`log`]'s file IO;
//! it never depends on kgroup-model.

pub mod log;
pub mod records;
pub mod store;
