//! Importing an AD CS CA key and its certificate into a token (seed 002): reading a PKCS#12/PFX
//! file with its password, or a PKCS#8 private key plus a certificate (DER or PEM), pairing the
//! key with the certificate whose public key is its own, and creating the private key, public
//! key and certificate objects with one `CKA_ID` (SHA-1 of the public key, as X.509 key
//! identifiers are made) and one label, all or none. Refusals, each with its reason: a wrong
//! password or damaged file, a PFX without a private key (what Windows exports when the key is
//! marked non-exportable), a key no certificate matches, an unsupported key type. A PFX with a
//! chain imports the key's own certificate; the others are reported, not imported
//! (simulator-defined: `certutil -importpfx` puts them in the Windows store, not the HSM).
use crate::runner::Stop;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, CertificateType, KeyType, ObjectClass, ObjectHandle};
use der::{Decode, Encode};
use hsmsim_consoles::backend::calls::Token;
use hsmsim_consoles::backend::objects;
use std::fmt;

/// Why a key and certificate cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PfxError {
    /// The password is wrong or the file is damaged.
    Unreadable(String),
    /// The PFX holds no private key.
    NoPrivateKey,
    /// No certificate's public key is the private key's.
    Mismatch,
    /// The file holds a key but no certificate.
    NoCertificate,
    /// A key type other than RSA or EC P-256/P-384.
    Unsupported(String),
}

impl fmt::Display for PfxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PfxError::Unreadable(why) => {
                write!(f, "wrong password or damaged file: {why}")
            }
            PfxError::NoPrivateKey => f.write_str(
                "the file holds no private key (was the key marked non-exportable when it was backed up?)",
            ),
            PfxError::Mismatch => {
                f.write_str("the private key and the certificate do not match")
            }
            PfxError::NoCertificate => f.write_str("the file holds no certificate for the key"),
            PfxError::Unsupported(what) => write!(f, "unsupported key: {what}"),
        }
    }
}

/// The private key's values, for `C_CreateObject`.
#[derive(Clone)]
pub enum KeyValues {
    Rsa {
        modulus: Vec<u8>,
        public_exponent: Vec<u8>,
        private_exponent: Vec<u8>,
        prime_1: Vec<u8>,
        prime_2: Vec<u8>,
        exponent_1: Vec<u8>,
        exponent_2: Vec<u8>,
        coefficient: Vec<u8>,
    },
    Ec {
        /// DER `ECParameters` (the named curve's OID).
        params: Vec<u8>,
        scalar: Vec<u8>,
        /// The uncompressed point.
        point: Vec<u8>,
    },
}

impl fmt::Debug for KeyValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyValues::Rsa { .. } => "KeyValues::Rsa(..)",
            KeyValues::Ec { .. } => "KeyValues::Ec(..)",
        })
    }
}

/// A private key paired with its certificate.
#[derive(Debug, Clone)]
pub struct KeyAndCert {
    pub key: KeyValues,
    /// The key's certificate, DER.
    pub certificate: Vec<u8>,
    /// Other certificates the file held (a chain), DER; not imported.
    pub others: Vec<Vec<u8>>,
    /// The certificate's subject, as text.
    pub subject: String,
    /// The public key as the certificate holds it (RSA: PKCS#1; EC: the point).
    pub public_key: Vec<u8>,
    /// `CKA_ID`: SHA-1 of `public_key`.
    pub id: Vec<u8>,
}

fn unsupported(e: impl fmt::Display) -> PfxError {
    PfxError::Unsupported(e.to_string())
}

/// The key's values and its public key bytes, from PKCS#8.
fn key_from_pkcs8(der: &[u8]) -> Result<(KeyValues, Vec<u8>), PfxError> {
    let info = pkcs8::PrivateKeyInfoRef::try_from(der)
        .map_err(|e| PfxError::Unreadable(format!("the private key is not PKCS#8: {e}")))?;
    let oid = info.algorithm.oid;
    if oid == pkcs1::ALGORITHM_OID {
        let k = pkcs1::RsaPrivateKey::from_der(info.private_key.as_bytes()).map_err(unsupported)?;
        let public = pkcs1::RsaPublicKey {
            modulus: k.modulus,
            public_exponent: k.public_exponent,
        }
        .to_der()
        .map_err(unsupported)?;
        let v = |u: pkcs1::UintRef<'_>| u.as_bytes().to_vec();
        return Ok((
            KeyValues::Rsa {
                modulus: v(k.modulus),
                public_exponent: v(k.public_exponent),
                private_exponent: v(k.private_exponent),
                prime_1: v(k.prime1),
                prime_2: v(k.prime2),
                exponent_1: v(k.exponent1),
                exponent_2: v(k.exponent2),
                coefficient: v(k.coefficient),
            },
            public,
        ));
    }
    if oid == sec1::ALGORITHM_OID {
        let curve = info
            .algorithm
            .parameters_oid()
            .map_err(|e| PfxError::Unsupported(format!("EC key without a named curve: {e}")))?;
        let (params, alg): (&[u8], &'static aws_lc_rs::signature::EcdsaSigningAlgorithm) =
            match curve.to_string().as_str() {
                "1.2.840.10045.3.1.7" => (
                    objects::P256_PARAMS,
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                ),
                "1.3.132.0.34" => (
                    objects::P384_PARAMS,
                    &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                ),
                other => return Err(PfxError::Unsupported(format!("EC curve {other}"))),
            };
        let k = sec1::EcPrivateKey::from_der(info.private_key.as_bytes()).map_err(unsupported)?;
        // The public point, computed from the key when the file does not carry it.
        let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(alg, der)
            .map_err(|e| PfxError::Unsupported(format!("the EC key does not load: {e}")))?;
        use aws_lc_rs::signature::KeyPair;
        let point = pair.public_key().as_ref().to_vec();
        return Ok((
            KeyValues::Ec {
                params: params.to_vec(),
                scalar: k.private_key.to_vec(),
                point: point.clone(),
            },
            point,
        ));
    }
    Err(PfxError::Unsupported(format!("key algorithm {oid}")))
}

/// A certificate's subject (text) and public key bytes.
fn certificate_key(der: &[u8]) -> Result<(String, Vec<u8>), PfxError> {
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|e| PfxError::Unreadable(format!("a certificate does not parse: {e}")))?;
    let tbs = &cert.tbs_certificate();
    Ok((
        tbs.subject().to_string(),
        tbs.subject_public_key_info()
            .subject_public_key
            .raw_bytes()
            .to_vec(),
    ))
}

/// Pairs `pkcs8` with the certificate among `certs` that holds its public key.
pub fn pair(pkcs8: &[u8], certs: Vec<Vec<u8>>) -> Result<KeyAndCert, PfxError> {
    let (key, public_key) = key_from_pkcs8(pkcs8)?;
    let mut matching = None;
    let mut others = Vec::new();
    for der in certs {
        let (subject, cert_key) = certificate_key(&der)?;
        if matching.is_none() && cert_key == public_key {
            matching = Some((der, subject));
        } else {
            others.push(der);
        }
    }
    if others.is_empty() && matching.is_none() {
        return Err(PfxError::NoCertificate);
    }
    let (certificate, subject) = matching.ok_or(PfxError::Mismatch)?;
    let id = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &public_key)
        .as_ref()
        .to_vec();
    Ok(KeyAndCert {
        key,
        certificate,
        others,
        subject,
        public_key,
        id,
    })
}

/// Opens a PKCS#12/PFX file: its one private key (PKCS#8 DER) and its certificates (DER).
pub fn read_pfx(data: &[u8], password: &str) -> Result<(Vec<u8>, Vec<Vec<u8>>), PfxError> {
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(data, password)
        .map_err(|e| PfxError::Unreadable(e.to_string()))?;
    let key = match archive.keys.as_slice() {
        [] => return Err(PfxError::NoPrivateKey),
        [one] => one.key.as_der().to_vec(),
        many => {
            return Err(PfxError::Unsupported(format!(
                "the file holds {} private keys; export one CA key per file",
                many.len()
            )));
        }
    };
    let certs = archive
        .certs
        .iter()
        .map(|c| c.cert.as_der().to_vec())
        .collect();
    Ok((key, certs))
}

/// Reads a PKCS#12/PFX file and pairs its key with its certificate.
pub fn from_pfx(data: &[u8], password: &str) -> Result<KeyAndCert, PfxError> {
    let (key, certs) = read_pfx(data, password)?;
    pair(&key, certs)
}

/// Reads a private key file (PKCS#8, DER or PEM) and a certificate file (DER or PEM) as the
/// `pair` inputs.
pub fn read_pkcs8_and_certificate(
    key: &[u8],
    certificate: &[u8],
) -> Result<(Vec<u8>, Vec<Vec<u8>>), PfxError> {
    Ok((
        der_of(key, &["PRIVATE KEY"])?,
        vec![der_of(certificate, &["CERTIFICATE"])?],
    ))
}

/// DER from DER or PEM bytes (text before the PEM block, such as OpenSSL's "Bag Attributes",
/// is skipped); a PEM block of another kind than `wanted` says what it is instead.
fn der_of(bytes: &[u8], wanted: &[&str]) -> Result<Vec<u8>, PfxError> {
    let start = bytes.windows(10).position(|w| w == b"-----BEGIN");
    let Some(start) = start else {
        return Ok(bytes.to_vec());
    };
    let (label, der) = pem_rfc7468::decode_vec(&bytes[start..])
        .map_err(|e| PfxError::Unreadable(format!("bad PEM: {e}")))?;
    if wanted.contains(&label) {
        return Ok(der);
    }
    Err(PfxError::Unsupported(match label {
        "ENCRYPTED PRIVATE KEY" => {
            "an encrypted PKCS#8 key: decrypt it first (openssl pkcs8 -in KEY -out KEY.p8)".into()
        }
        "RSA PRIVATE KEY" | "EC PRIVATE KEY" => format!(
            "a {label} (PKCS#1 / SEC 1) file: convert it to PKCS#8 (openssl pkcs8 -topk8 -nocrypt)"
        ),
        other => format!(
            "a PEM {other:?} block where {} was expected",
            wanted.join(" or ")
        ),
    }))
}

/// Reads an unencrypted PKCS#8 private key and a certificate (each DER or PEM).
pub fn from_pkcs8_and_certificate(key: &[u8], certificate: &[u8]) -> Result<KeyAndCert, PfxError> {
    let (key, certs) = read_pkcs8_and_certificate(key, certificate)?;
    pair(&key, certs)
}

/// The PKI fixtures (`fixtures/pki/`, made by its `make.sh`), built in for the AD CS scenarios.
pub mod fixtures {
    /// The fixtures' PFX password.
    pub const PASSWORD: &str = "Pfx-Pass-01";
    pub const ADCS_CA_PFX: &[u8] = include_bytes!("../../fixtures/pki/adcs-ca.pfx");
    pub const ADCS_CA_LEGACY_PFX: &[u8] = include_bytes!("../../fixtures/pki/adcs-ca-legacy.pfx");
    pub const ADCS_CA_CHAIN_PFX: &[u8] = include_bytes!("../../fixtures/pki/adcs-ca-chain.pfx");
    pub const ADCS_CA_NOKEY_PFX: &[u8] = include_bytes!("../../fixtures/pki/adcs-ca-nokey.pfx");
    pub const ADCS_EC_CA_PFX: &[u8] = include_bytes!("../../fixtures/pki/adcs-ec-ca.pfx");
    pub const ADCS_CA_KEY_P8: &[u8] = include_bytes!("../../fixtures/pki/adcs-ca.key.p8");
    pub const ADCS_CA_CRT_DER: &[u8] = include_bytes!("../../fixtures/pki/adcs-ca.crt.der");
    pub const OTHER_CRT_PEM: &[u8] = include_bytes!("../../fixtures/pki/other.crt.pem");
}

/// The objects an import made.
#[derive(Debug, Clone, Copy)]
pub struct Imported {
    pub private: ObjectHandle,
    pub public: ObjectHandle,
    pub certificate: ObjectHandle,
}

/// Creates the private key (sensitive; extractable only when asked), its public key and the
/// certificate on the token, with one label and `CKA_ID`; all or none.
pub fn import(
    tok: &Token<'_>,
    kc: &KeyAndCert,
    label: &str,
    extractable: bool,
) -> Result<Imported, Stop> {
    let common = |class: ObjectClass, private: bool| {
        vec![
            Attribute::Class(class),
            Attribute::Token(true),
            Attribute::Private(private),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(kc.id.clone()),
        ]
    };
    let mut private = common(ObjectClass::PRIVATE_KEY, true);
    private.extend([
        Attribute::Sensitive(true),
        Attribute::Extractable(extractable),
        Attribute::Sign(true),
    ]);
    let mut public = common(ObjectClass::PUBLIC_KEY, false);
    public.push(Attribute::Verify(true));
    match &kc.key {
        KeyValues::Rsa {
            modulus,
            public_exponent,
            private_exponent,
            prime_1,
            prime_2,
            exponent_1,
            exponent_2,
            coefficient,
        } => {
            private.extend([
                Attribute::KeyType(KeyType::RSA),
                Attribute::Modulus(modulus.clone()),
                Attribute::PublicExponent(public_exponent.clone()),
                Attribute::PrivateExponent(private_exponent.clone()),
                Attribute::Prime1(prime_1.clone()),
                Attribute::Prime2(prime_2.clone()),
                Attribute::Exponent1(exponent_1.clone()),
                Attribute::Exponent2(exponent_2.clone()),
                Attribute::Coefficient(coefficient.clone()),
                Attribute::Decrypt(true),
            ]);
            public.extend([
                Attribute::KeyType(KeyType::RSA),
                Attribute::Modulus(modulus.clone()),
                Attribute::PublicExponent(public_exponent.clone()),
                Attribute::Encrypt(true),
            ]);
        }
        KeyValues::Ec {
            params,
            scalar,
            point,
        } => {
            let ec_point = der::asn1::OctetString::new(point.clone())
                .and_then(|o| o.to_der())
                .map_err(|e| Stop::fail(format!("cannot encode the EC point: {e}")))?;
            private.extend([
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(params.clone()),
                Attribute::Value(scalar.clone()),
            ]);
            public.extend([
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(params.clone()),
                Attribute::EcPoint(ec_point),
            ]);
        }
    }
    let cert = x509_cert::Certificate::from_der(&kc.certificate)
        .map_err(|e| Stop::fail(format!("the certificate does not parse: {e}")))?;
    let tbs = cert.tbs_certificate();
    let encode = |r: Result<Vec<u8>, der::Error>| {
        r.map_err(|e| Stop::fail(format!("cannot encode the certificate's fields: {e}")))
    };
    let mut certificate = common(ObjectClass::CERTIFICATE, false);
    certificate.extend([
        Attribute::CertificateType(CertificateType::X_509),
        Attribute::Subject(encode(tbs.subject().to_der())?),
        Attribute::Issuer(encode(tbs.issuer().to_der())?),
        Attribute::SerialNumber(encode(tbs.serial_number().to_der())?),
        Attribute::Value(kc.certificate.clone()),
    ]);
    let mut made = Vec::new();
    let outcome = (|| -> Result<Imported, Stop> {
        let p = tok.create_object(&private)?;
        made.push(p);
        let q = tok.create_object(&public)?;
        made.push(q);
        let c = tok.create_object(&certificate)?;
        made.push(c);
        Ok(Imported {
            private: p,
            public: q,
            certificate: c,
        })
    })();
    if outcome.is_err() {
        for o in made {
            let _ = tok.destroy_object(o);
        }
    }
    outcome
}

/// Proves the imported key and the certificate belong together: a signature made by the token
/// verifies with the certificate's public key (checked in software, aws-lc). The evidence says
/// what was signed and verified.
pub fn prove_pair(tok: &Token<'_>, imported: &Imported, kc: &KeyAndCert) -> Result<String, Stop> {
    use aws_lc_rs::signature::{self, UnparsedPublicKey};
    let mut data = vec![0u8; 64];
    let _ = aws_lc_rs::rand::fill(&mut data);
    let (ok, evidence) = match &kc.key {
        KeyValues::Rsa { .. } => {
            let sig = tok.sign(&Mechanism::Sha256RsaPkcs, imported.private, &data)?;
            let ok = UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &kc.public_key)
                .verify(&data, &sig)
                .is_ok();
            (
                ok,
                format!(
                    "CKM_SHA256_RSA_PKCS: the token's {}-byte signature of {} random bytes verified in software (aws-lc) with the certificate's public key",
                    sig.len(),
                    data.len()
                ),
            )
        }
        KeyValues::Ec { params, .. } => {
            let (hash, alg) = if params.as_slice() == objects::P256_PARAMS {
                (
                    &aws_lc_rs::digest::SHA256,
                    &signature::ECDSA_P256_SHA256_FIXED,
                )
            } else {
                (
                    &aws_lc_rs::digest::SHA384,
                    &signature::ECDSA_P384_SHA384_FIXED,
                )
            };
            let digest = aws_lc_rs::digest::digest(hash, &data);
            let raw = tok.sign(&Mechanism::Ecdsa, imported.private, digest.as_ref())?;
            let ok = UnparsedPublicKey::new(alg, &kc.public_key)
                .verify(&data, &raw)
                .is_ok();
            (
                ok,
                format!(
                    "CKM_ECDSA: the token's {}-byte signature of a digest of {} random bytes verified in software (aws-lc) with the certificate's public key",
                    raw.len(),
                    data.len()
                ),
            )
        }
    };
    if ok {
        Ok(evidence)
    } else {
        Err(Stop::fail(
            "the token's signature does not verify with the certificate's public key",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../fixtures/pki/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    const PW: &str = "Pfx-Pass-01";

    #[test]
    fn pfx_files_pair_the_key_with_its_certificate() {
        for file in [
            "adcs-ca.pfx",
            "adcs-ca-legacy.pfx",
            "adcs-ca-chain.pfx",
            "adcs-ec-ca.pfx",
        ] {
            let kc = from_pfx(&fixture(file), PW).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(kc.subject.contains("Issuing CA"), "{file}: {}", kc.subject);
            assert_eq!(kc.id.len(), 20);
        }
        let chain = from_pfx(&fixture("adcs-ca-chain.pfx"), PW).unwrap();
        assert_eq!(chain.others.len(), 1, "the root stays out");
        let single = from_pfx(&fixture("adcs-ca.pfx"), PW).unwrap();
        assert_eq!(
            chain.certificate, single.certificate,
            "the key's own certificate"
        );
    }

    #[test]
    fn refusals_say_why() {
        assert!(matches!(
            from_pfx(&fixture("adcs-ca.pfx"), "wrong-password"),
            Err(PfxError::Unreadable(_))
        ));
        assert_eq!(
            from_pfx(&fixture("adcs-ca-nokey.pfx"), PW).unwrap_err(),
            PfxError::NoPrivateKey
        );
        assert_eq!(
            from_pkcs8_and_certificate(&fixture("adcs-ca.key.p8"), &fixture("other.crt.pem"))
                .unwrap_err(),
            PfxError::Mismatch
        );
        let kc =
            from_pkcs8_and_certificate(&fixture("adcs-ca.key.pem"), &fixture("adcs-ca.crt.der"))
                .unwrap();
        assert_eq!(
            kc.certificate,
            from_pfx(&fixture("adcs-ca.pfx"), PW).unwrap().certificate
        );
    }
}
