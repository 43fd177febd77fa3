//! Seed 000 through the C ABI: keys made on the on-premises partition ACME-PKI, the partition
//! backed up and restored into the blank CloudHSM partition by the estate (what the Decanus
//! terminal and `hsmsim cloudhsm restore` run), then the customer's PKCS#11 view of CloudHSM:
//! the token ACME-PKI in its slot, the same PIN, every object with the same attributes, and
//! the keys proven equal by use; the source unchanged.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::estate::primus::{self, BackupRequest, RestoreRequest};
use hsmsim::models::primus::CardKind;
use hsmsim::pkcs11::*;

const PIN: &[u8] = b"Pkcs11-AcmePki-01";
const YELLOW_PIN: &str = "34567890";

/// The attributes compared between a source object and its restored copy (`CKA_UNIQUE_ID`
/// aside: the lab's store gives the copy its own).
const COMPARED: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_KEY_TYPE,
    CKA_LABEL,
    CKA_ID,
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_MODIFIABLE,
    CKA_COPYABLE,
    CKA_DESTROYABLE,
    CKA_SENSITIVE,
    CKA_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
    CKA_NEVER_EXTRACTABLE,
    CKA_LOCAL,
    CKA_KEY_GEN_MECHANISM,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_DERIVE,
    CKA_VALUE,
    CKA_VALUE_LEN,
    CKA_MODULUS,
    CKA_MODULUS_BITS,
    CKA_PUBLIC_EXPONENT,
    CKA_PRIVATE_EXPONENT,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_START_DATE,
    CKA_END_DATE,
    hsmsim::models::primus::CKA_HSMSIM_PRIMUS_NAME,
];

/// Each key of the session's token (its profile objects aside), by (label, class): every compared attribute as the
/// token answers it (its value, or the refusal).
fn described(s: CK_SESSION_HANDLE) -> Vec<Vec<Result<Vec<u8>, CK_RV>>> {
    let mut all: Vec<Vec<Result<Vec<u8>, CK_RV>>> =
        [CKO_SECRET_KEY, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY]
            .into_iter()
            .flat_map(|class| find(s, Template::new().ulong(CKA_CLASS, class)))
            .map(|o| {
                COMPARED
                    .iter()
                    .map(|t| get_attr(s, o, *t).map_err(|(rv, _)| rv))
                    .collect()
            })
            .collect();
    all.sort_by(|a, b| (&a[2], &a[0]).cmp(&(&b[2], &b[0])));
    all
}

fn one(s: CK_SESSION_HANDLE, label: &[u8], class: CK_OBJECT_CLASS) -> CK_OBJECT_HANDLE {
    let found = find(
        s,
        Template::new()
            .bytes(CKA_LABEL, label)
            .ulong(CKA_CLASS, class),
    );
    assert_eq!(found.len(), 1, "{}", String::from_utf8_lossy(label));
    found[0]
}

fn sign(s: CK_SESSION_HANDLE, m: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE) -> Vec<u8> {
    assert_eq!(init(C_SignInit, s, &mut mech(m), key), CKR_OK);
    produce(C_Sign, s, b"seed 000").unwrap()
}

#[test]
fn acme_pki_restored_on_cloudhsm_answers_the_customer_like_the_source() {
    let lab = TextLab::new(hsmsim::lab::built_in_text("primus").unwrap());
    let s0 = user_session_on(0, PIN);
    aes_key(s0, |t| {
        t.bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, b"aes")
            .bytes(CKA_ID, b"\x01")
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true)
    });
    let pair = |m, label: &[u8], public: Template| {
        generate_key_pair(
            s0,
            m,
            public
                .bool(CKA_TOKEN, true)
                .bool(CKA_VERIFY, true)
                .bytes(CKA_LABEL, label),
            Template::new()
                .bool(CKA_TOKEN, true)
                .bool(CKA_SIGN, true)
                .bytes(CKA_LABEL, label)
                .bytes(CKA_ID, label),
        )
        .unwrap()
    };
    pair(
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        b"rsa",
        Template::new().ulong(CKA_MODULUS_BITS, 2048),
    );
    let (ec_public, _) = pair(
        CKM_EC_KEY_PAIR_GEN,
        b"ec",
        Template::new().bytes(CKA_EC_PARAMS, P256),
    );
    let source = described(s0);
    assert_eq!(source.len(), 5);

    // The estate's steps: SO cards, the Yellow card, the backup, the restore.
    let sel = lab.selection();
    let d = "primus-onprem";
    primus::create_card(&sel, d, CardKind::So, "so-1", "12345678", None).unwrap();
    primus::create_card(&sel, d, CardKind::So, "so-2", "23456789", None).unwrap();
    primus::create_empty_card(&sel, d, CardKind::PartitionBackup, "yellow").unwrap();
    let so = vec![
        ("so-1".to_string(), "12345678".to_string()),
        ("so-2".to_string(), "23456789".to_string()),
    ];
    let p = "primus-onprem/ACME-PKI";
    primus::create_partition_backup_card(&sel, p, &so, "yellow", None, YELLOW_PIN, YELLOW_PIN)
        .unwrap();
    let usb = lab.dir.path().join("usb");
    std::fs::create_dir(&usb).unwrap();
    let made = primus::create_partition_backup(
        &sel,
        &BackupRequest {
            partition: p,
            partition_password: "Pkcs11-AcmePki-01",
            usb: &usb,
        },
    )
    .unwrap();
    primus::restore_partition_backup(
        &sel,
        &RestoreRequest {
            target: "cloudhsm/restore",
            file: &made.file,
            card_device: d,
            card: "yellow",
            card_pin: YELLOW_PIN,
            password: &made.password,
        },
    )
    .unwrap();

    // The customer's view of CloudHSM: slot 3 (cloudhsm/restore), label ACME-PKI, same PIN.
    assert_eq!(&token_info(3).label[..9], b"ACME-PKI ");
    let s3 = open_session(3, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(
        login(s3, CKU_USER, b"Pkcs11-AcmeCloud-01"),
        CKR_PIN_INCORRECT
    );
    assert_eq!(login(s3, CKU_USER, PIN), CKR_OK);
    assert_eq!(
        described(s3),
        source,
        "every object, attribute by attribute"
    );
    assert_eq!(described(s0), source, "the source unchanged");

    // The keys work alike: RSA PKCS#1 v1.5 signatures are equal, the AES key decrypts what
    // the source's encrypted, an ECDSA signature of the copy verifies with the source's key.
    assert_eq!(
        sign(s3, CKM_SHA256_RSA_PKCS, one(s3, b"rsa", CKO_PRIVATE_KEY)),
        sign(s0, CKM_SHA256_RSA_PKCS, one(s0, b"rsa", CKO_PRIVATE_KEY))
    );
    let plain = [7u8; 32];
    assert_eq!(
        init(
            C_EncryptInit,
            s0,
            &mut mech(CKM_AES_ECB),
            one(s0, b"aes", CKO_SECRET_KEY)
        ),
        CKR_OK
    );
    let ciphertext = produce(C_Encrypt, s0, &plain).unwrap();
    assert_eq!(
        init(
            C_DecryptInit,
            s3,
            &mut mech(CKM_AES_ECB),
            one(s3, b"aes", CKO_SECRET_KEY)
        ),
        CKR_OK
    );
    assert_eq!(produce(C_Decrypt, s3, &ciphertext).unwrap(), plain);
    let signature = sign(s3, CKM_ECDSA_SHA256, one(s3, b"ec", CKO_PRIVATE_KEY));
    assert_eq!(
        init(C_VerifyInit, s0, &mut mech(CKM_ECDSA_SHA256), ec_public),
        CKR_OK
    );
    assert_eq!(verify(s0, b"seed 000", &signature), CKR_OK);
}
