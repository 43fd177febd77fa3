//! The ML-KEM proof by use of seed 001's migration (`evidence::prove_same_key`), on the
//! simulator's module: a key proven against itself (two sessions of one token, so no wrapping
//! is needed) passes, saying what was proven; another key of the same parameter set fails; and
//! neither leaves the shared-secret keys behind.
use cryptoki::object::{Attribute, MlKemParameterSetType, ObjectClass};
use hsmsim_conformance::evidence;
use hsmsim_conformance::target::{Environment, Role};
use hsmsim_consoles::backend::calls::Token;
use hsmsim_consoles::backend::module::find_sim_module;
use hsmsim_consoles::backend::objects::{self, KeySpec};
use hsmsim_consoles::backend::uri;

#[test]
fn an_ml_kem_key_is_proven_by_a_shared_secret_and_another_key_is_not() {
    let module = find_sim_module().expect("libhsmsim.so is built beside the test");
    let env = Environment::new(Some(module));
    let sim = uri::parse("sim").unwrap();
    let party = env.party(&sim, "sim", Role::Origin, "ACME-PKI").unwrap();
    let (a, b) = (party.session().unwrap(), party.session().unwrap());
    let origin = Token::new(&a, &party.module.raw, Some("origin"));
    let target = Token::new(&b, &party.module.raw, Some("target"));
    let spec = KeySpec::MlKem(MlKemParameterSetType::ML_KEM_768);
    let secret_keys = || {
        origin
            .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])
            .unwrap()
            .len()
    };
    let before = secret_keys();

    let original = objects::make_key(&origin, spec, "kem-proof-original", b"k1", true).unwrap();
    let proven = evidence::prove_same_key(spec, &origin, original, &target, original.key)
        .expect("a key decapsulates what its own public key encapsulated");
    assert!(proven.starts_with("CKM_ML_KEM: "), "{proven}");
    // ML-KEM-768's ciphertext is 1088 bytes.
    assert!(proven.contains("(1088-byte ciphertext)"), "{proven}");
    assert!(proven.contains("both round-trips equal"), "{proven}");

    let other = objects::make_key(&origin, spec, "kem-proof-other", b"k2", true).unwrap();
    let refused = evidence::prove_same_key(spec, &origin, original, &target, other.key);
    assert!(refused.is_err(), "another key must not pass: {refused:?}");

    // The shared secrets were session keys, destroyed after each proof.
    assert_eq!(secret_keys(), before);
    for made in [original, other] {
        for object in [Some(made.key), made.public].into_iter().flatten() {
            origin.destroy_object(object).unwrap();
        }
    }
    drop((a, b, party));
    hsmsim_conformance::target::finish();
}
