//! The PKCS#11 client side every console uses, whatever module answers (this simulator's
//! `libhsmsim.so` or any other): `module` loads modules and finds their tokens, `uri` names
//! tokens (RFC 7512), `calls` is the recorded [`calls::Token`] every operation goes through,
//! `raw` makes the few calls cryptoki cannot (Luna's `CA_*` extensions among them), `objects`
//! does what commands do with objects (make, find, snapshot, compare, prove by use), and
//! `outcome` says how an operation stopped.
pub mod calls;
pub mod module;
pub mod objects;
pub mod outcome;
pub mod raw;
pub mod uri;
