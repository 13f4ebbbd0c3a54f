//! The AWS operations, one file per area of the API: each file is an
//! `impl Kms` block holding that area's operations (named as in AWS, in
//! snake case) with their own validators, limits and helpers beside them.

mod admin;
mod aliases;
mod asymmetric;
mod grants;
mod identity;
mod import;
mod key_policies;
mod keys;
mod lifecycle;
mod multi_region;
mod rotation;
mod seed;
mod symmetric;

pub use self::grants::*;
pub use self::key_policies::*;
pub use self::keys::*;
pub use self::multi_region::*;
pub(in crate::kms) use self::rotation::*;
pub use self::seed::*;
pub(in crate::kms) use self::symmetric::*;
