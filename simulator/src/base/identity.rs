//! The simulator's own identity, as a plain soft token and the library report it: manufacturer,
//! model and library version (`CK_INFO`, `CK_TOKEN_INFO` of soft tokens). Vendor models report
//! their vendor's identity instead.
use cryptoki_sys::CK_VERSION;

pub const MANUFACTURER: &str = "hsmsim";
pub const MODEL: &str = "hsmsim soft HSM";

/// The library's own version (`CK_INFO.libraryVersion`).
pub const LIBRARY_VERSION: CK_VERSION = CK_VERSION { major: 0, minor: 1 };
