//! Link flags for the cdylib: `-z nodelete` keeps libhsmsim.so mapped after a host unloads it,
//! because aws-lc registers thread-local destructors that would otherwise run in unmapped code.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rerun-if-changed=build.rs");
}
