//! Test support shared by Clu's crates: real components, or the closest this machine allows.
//!
//! - [`moto`]: an AWS configuration pointed at a moto server.
//! - [`awsstub`]: a stub endpoint for awsJson services, for errors and behaviour moto lacks.
//! - [`converse`]: a Bedrock Converse and ConverseStream stub driven by a script of turns.
//! - [`cborstub`]: a stub endpoint for RPC v2 CBOR services, such as CloudWatch metrics.
//! - [`reststub`]: a stub endpoint for restJson1 (EKS) and awsQuery (IAM) services.
//! - [`apiserver`]: a plain-HTTP fake Kubernetes API server with realistic objects.
//! - [`helm`]: a stand-in `helm` executable that sends helm's requests to a cluster.

pub mod apiserver;
pub mod awsstub;
pub mod cborstub;
pub mod converse;
pub mod helm;
mod local;
pub mod moto;
pub mod reststub;
