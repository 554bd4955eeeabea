//! The cluster layer: a peer manager that carries opaque serialized chunks
//! between cluster nodes, with per-peer cache epochs, back-pressure and a C
//! ABI. Filled by the serializer-bridge work; today it only names the layer
//! it builds on.

pub use zmtp_transport;
