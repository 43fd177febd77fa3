//! The bottom layer: what every other layer uses and that uses nothing of the crate: errors
//! and their `CK_RV` names, attribute values, the simulator's clock, file access, random
//! numbers, the secrets kit, and the numbers (return codes, attribute types) the vendors define.
pub mod attribute;
pub mod clock;
pub mod error;
pub mod files;
pub mod identity;
pub mod ids;
pub mod random;
pub mod secrets;
pub mod throttle;
pub mod vendor_codes;
