//! The Migrate Service tests' fixture (simulator/tests/ccc/lab.rs) for the browser test: the
//! luna-ccc lab with its services managed by CCC, its PED variant, and a crypto officer's
//! challenge set and activated as LunaSH sets them. The included file names what its includer
//! imports.
use cryptoki_sys::*;
use hsmsim::base::error::Result;
use hsmsim::base::ids::PartitionId;
use hsmsim::base::secrets::seal::{
    DEFAULT_PIN_KDF_ITERATIONS, PIN_KDF_ITERATIONS_VARIABLE, PinSeal, SealContext,
    pin_kdf_iterations,
};
use hsmsim::estate::ccc::*;
use hsmsim::estate::*;
use hsmsim::lab::{built_in_text, ped_variant, without_cloning};
use hsmsim::models::luna::{ped::PedKey, ped_colour};

#[path = "../../../simulator/tests/ccc/lab.rs"]
pub mod lab;
