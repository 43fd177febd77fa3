//! The Primus Tools console on the simulator's module: the seed's six commands, parsed as seed
//! 001 writes them (prefix, connection placeholder, `> zmk.der` and all), run on a scratch
//! `primus` lab's two partitions (origin ACME-PKI, target ACME-DR) with their files in memory:
//! the key arrives on the target, and it is the origin's key, proven by use; ML-DSA and ML-KEM
//! keys are made and listed by their parameter set.
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectClass;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use hsmsim_consoles::backend::calls::Token;
use hsmsim_consoles::backend::module::{self, SimulatorLab, choose_token, find_sim_module};
use hsmsim_consoles::backend::objects;
use hsmsim_consoles::backend::uri::TokenSelector;
use hsmsim_consoles::files::MemoryFiles;
use hsmsim_consoles::primus_tools::{Output, Session, parse_documented};

/// Seed 001, "Key Migration - Symmetric Key", steps 1 to 6, as the seed writes them, each with
/// the party it runs on.
const SEED_001: [(&str, &str); 6] = [
    (
        "target",
        "java -jar primus-tools.jar CreateKey <HSM connection and credentials> -keyname zmk -type RSA -size 2048",
    ),
    (
        "target",
        "java -jar primus-tools.jar GetPublicKey <HSM connection and credentials> -keyname zmk > zmk.der",
    ),
    (
        "origin",
        "java -jar primus-tools.jar ImportPublicKey <HSM connection and credentials> -keyname zmk -keytype RSA -inputfile zmk.der",
    ),
    (
        "origin",
        "java -jar primus-tools.jar ExportKeyWrapped <HSM connection and credentials> -wrapkeyname zmk -keyname mig -keypassword pass-mig -outfile WrappedKey",
    ),
    (
        "target",
        "java -jar primus-tools.jar ImportKeyWrapped <HSM connection and credentials> -wrapkeyname zmk -infile WrappedKey -keyname mig -keypassword pass-mig",
    ),
    (
        "target",
        "java -jar primus-tools.jar ListKeyEntry <HSM connection and credentials> -keyname mig -keypassword pass-mig",
    ),
];

#[test]
fn the_seed_s_six_commands_move_the_key_and_it_is_the_same_key() {
    let path = find_sim_module().expect("libhsmsim.so is built beside the test");
    let dir = tempfile::tempdir().unwrap();
    let lab_file = hsmsim::estate::init_from_fixture("primus", dir.path(), false).unwrap();
    let lab = SimulatorLab {
        lab_file: Some(lab_file),
        host: None,
        state_dir: dir.path().to_path_buf(),
    };
    let module = module::open(&path, Some(&lab)).unwrap();
    let selection = hsmsim::estate::select(&hsmsim::estate::Choice {
        lab_file: lab.lab_file.clone(),
        host: None,
        state_dir: Some(lab.state_dir.clone()),
    })
    .unwrap();
    let user_pin = |token: &str| {
        selection
            .lab
            .partitions()
            .into_iter()
            .filter_map(|(_, _, preset)| preset)
            .find(|p| p.label == token)
            .and_then(|p| p.user_pin)
            .expect("the fixture documents the user PIN")
    };
    let session = |token: &str| {
        let selector = TokenSelector {
            token: Some(token.into()),
            ..TokenSelector::default()
        };
        let slot = choose_token(&module, &selector).unwrap();
        let session = module.pkcs11.open_rw_session(slot).unwrap();
        let pin = AuthPin::new(user_pin(token).into());
        session.login(UserType::User, Some(&pin)).unwrap();
        session
    };
    let (o_session, t_session) = (session("ACME-PKI"), session("ACME-DR"));
    let origin = Token::new(&o_session, &module.raw, Some("origin"));
    let target = Token::new(&t_session, &module.raw, Some("target"));
    let mut files = MemoryFiles::default();

    // The seed assumes the key to migrate exists, extractable.
    let precondition =
        parse_documented("CreateKey -keyname mig -type AES -size 256 -flags extractable").unwrap();
    let made = Session::new(&origin, "ACME-PKI", &mut files)
        .run_invocation(&precondition)
        .unwrap();
    assert_eq!(
        made,
        Output::Text("created AES key \"mig\" (256) on \"ACME-PKI\"\n".into())
    );

    let mut last = Output::Nothing;
    for (party, line) in SEED_001 {
        let invocation = parse_documented(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let (tok, label) = match party {
            "origin" => (&origin, "ACME-PKI"),
            _ => (&target, "ACME-DR"),
        };
        last = Session::new(tok, label, &mut files)
            .run_invocation(&invocation)
            .unwrap_or_else(|e| panic!("{line}: {e:?}"));
    }
    // ListKeyEntry shows the key on the target.
    let Output::Text(listing) = last else {
        panic!("ListKeyEntry prints text: {last:?}")
    };
    assert!(
        listing.starts_with("key \"mig\" on \"ACME-DR\"\n"),
        "{listing}"
    );
    assert!(listing.contains("type    AES (32 bytes)"), "{listing}");
    assert!(!listing.contains("nonextractable"), "{listing}");

    // The same key: what the origin's key encrypts, the copy decrypts.
    let original = objects::find_one(&origin, "mig", ObjectClass::SECRET_KEY).unwrap();
    let copy = objects::find_one(&target, "mig", ObjectClass::SECRET_KEY).unwrap();
    let (iv, data) = ([7u8; 16], b"seed 001, key migration".to_vec());
    let ciphertext = origin
        .encrypt(&Mechanism::AesCbcPad(iv), original, &data)
        .unwrap();
    assert_ne!(ciphertext, data);
    let plaintext = target
        .decrypt(&Mechanism::AesCbcPad(iv), copy, &ciphertext)
        .unwrap();
    assert_eq!(
        plaintext, data,
        "the copy decrypts what the original encrypted"
    );

    // A post-quantum key (the fixture's Primus runs firmware 3.2): made by its parameter set,
    // listed with it.
    for (line, shown) in [
        (
            "CreateKey -keyname pq -type ML-DSA -size 65 -flags extractable",
            "type    ML_DSA (ML-DSA-65)",
        ),
        (
            "CreateKey -keyname kem -type ML-KEM -size 1024",
            "type    ML_KEM (ML-KEM-1024)",
        ),
    ] {
        let mut session = Session::new(&origin, "ACME-PKI", &mut files);
        session
            .run_invocation(&parse_documented(line).unwrap())
            .unwrap_or_else(|e| panic!("{line}: {e:?}"));
        let name = if line.contains("ML-DSA") { "pq" } else { "kem" };
        let listing = session
            .run_invocation(&parse_documented(&format!("ListKeyEntry -keyname {name}")).unwrap())
            .unwrap();
        let Output::Text(listing) = listing else {
            panic!("ListKeyEntry prints text: {listing:?}")
        };
        assert!(listing.contains(shown), "{listing}");
        let usage = if name == "pq" { "sign" } else { "decapsulate" };
        assert!(listing.contains(usage), "{listing}");
    }
    assert!(
        parse_documented("CreateKey -keyname bad -type ML-DSA -size 66")
            .map(|i| Session::new(&origin, "ACME-PKI", &mut files).run_invocation(&i))
            .unwrap()
            .is_err()
    );
    drop((o_session, t_session));
    module::finish();
}
