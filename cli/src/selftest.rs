//! `hsmsim selftest`: every mechanism family exercised through the engine on one token, with a
//! verdict and a time per step. Keys are session objects, so the token is left as it was.
use cryptoki_sys::*;
use hsmsim::base::attribute::Attributes;
use hsmsim::base::error::{Error, Result, err};
use hsmsim::crypto::{MechParams, Mechanism};
use hsmsim::engine::{Call, Engine, Output};
use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

/// A logged-in session and the calls a step needs, one-shot only.
struct Token<'a> {
    engine: &'a Engine,
    session: CK_SESSION_HANDLE,
}

fn data(out: Output) -> Result<Vec<u8>> {
    match out {
        Output::Data(d) => Ok(d),
        other => Err(err(
            CKR_GENERAL_ERROR,
            format!("unexpected output {other:?}"),
        )),
    }
}

fn template(items: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Attributes {
    let mut t = Attributes::new();
    for (k, v) in items {
        t.set_bytes(*k, v.clone());
    }
    t
}

fn ulong(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

const P256: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const ED25519: &[u8] = &[0x06, 0x03, 0x2B, 0x65, 0x70];

impl Token<'_> {
    fn encrypt(&self, m: &Mechanism, key: CK_OBJECT_HANDLE, input: &[u8]) -> Result<Vec<u8>> {
        self.engine.encrypt_init(self.session, m, key)?;
        data(
            self.engine
                .encrypt(self.session, input, Call::OneShot, Some(usize::MAX))?,
        )
    }
    fn decrypt(&self, m: &Mechanism, key: CK_OBJECT_HANDLE, input: &[u8]) -> Result<Vec<u8>> {
        self.engine.decrypt_init(self.session, m, key)?;
        data(
            self.engine
                .decrypt(self.session, input, Call::OneShot, Some(usize::MAX))?,
        )
    }
    fn sign(&self, m: &Mechanism, key: CK_OBJECT_HANDLE, input: &[u8]) -> Result<Vec<u8>> {
        self.engine.sign_init(self.session, m, key, false)?;
        data(
            self.engine
                .sign(self.session, input, Call::OneShot, Some(usize::MAX))?,
        )
    }
    fn verify(&self, m: &Mechanism, key: CK_OBJECT_HANDLE, input: &[u8], sig: &[u8]) -> Result<()> {
        self.engine.verify_init(self.session, m, key, false)?;
        self.engine.verify(self.session, input, sig, Call::OneShot)
    }

    /// Encrypts and decrypts a message and checks the round trip.
    fn round_trip(
        &self,
        m: &Mechanism,
        enc: CK_OBJECT_HANDLE,
        dec: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        let message = b"hsmsim self-test message, 48 bytes long........";
        let ct = self.encrypt(m, enc, message)?;
        if ct.as_slice() == message.as_slice() {
            return Err(err(
                CKR_GENERAL_ERROR,
                "the ciphertext equals the plaintext",
            ));
        }
        let pt = self.decrypt(m, dec, &ct)?;
        if pt != message {
            return Err(err(
                CKR_GENERAL_ERROR,
                "decryption did not give the plaintext back",
            ));
        }
        Ok(())
    }

    /// Signs, verifies, and checks that a changed message fails.
    fn sign_verify(
        &self,
        m: &Mechanism,
        private: CK_OBJECT_HANDLE,
        public: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        let sig = self.sign(m, private, b"hsmsim self-test")?;
        self.verify(m, public, b"hsmsim self-test", &sig)?;
        match self.verify(m, public, b"hsmsim self-tesT", &sig) {
            Err(e) if e.rv == CKR_SIGNATURE_INVALID => Ok(()),
            Err(e) => Err(e),
            Ok(()) => Err(err(CKR_GENERAL_ERROR, "a changed message verified")),
        }
    }

    fn secret(
        &self,
        m: CK_MECHANISM_TYPE,
        extra: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
    ) -> Result<CK_OBJECT_HANDLE> {
        self.engine
            .generate_key(self.session, &Mechanism::new(m), &template(extra))
    }

    /// A key pair with the usages its steps need named in both templates: vendors differ on
    /// what an unnamed usage defaults to (Primus makes every usage the template does not name
    /// false once it names one), so the self-test names them all and runs on every kind of
    /// partition.
    fn pair(
        &self,
        m: CK_MECHANISM_TYPE,
        public: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let (public_usages, private_usages): (&[CK_ATTRIBUTE_TYPE], &[CK_ATTRIBUTE_TYPE]) = match m
        {
            CKM_RSA_PKCS_KEY_PAIR_GEN => (
                &[CKA_VERIFY, CKA_ENCRYPT, CKA_WRAP],
                &[CKA_SIGN, CKA_DECRYPT, CKA_UNWRAP],
            ),
            CKM_EC_KEY_PAIR_GEN => (&[CKA_VERIFY], &[CKA_SIGN, CKA_DERIVE]),
            _ => (&[CKA_VERIFY], &[CKA_SIGN]),
        };
        let mut public = public.to_vec();
        public.extend(public_usages.iter().map(|&a| (a, vec![1])));
        let mut private = vec![(CKA_EXTRACTABLE, vec![1])];
        private.extend(private_usages.iter().map(|&a| (a, vec![1])));
        self.engine.generate_key_pair(
            self.session,
            &Mechanism::new(m),
            &template(&public),
            &template(&private),
        )
    }

    fn wrap_unwrap(
        &self,
        m: &Mechanism,
        wrapping: CK_OBJECT_HANDLE,
        unwrapping: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        let target = self.secret(
            CKM_AES_KEY_GEN,
            &[(CKA_VALUE_LEN, ulong(32)), (CKA_EXTRACTABLE, vec![1])],
        )?;
        let wrapped =
            data(
                self.engine
                    .wrap_key(self.session, m, wrapping, target, Some(usize::MAX))?,
            )?;
        let t = template(&[
            (CKA_CLASS, ulong(CKO_SECRET_KEY)),
            (CKA_KEY_TYPE, ulong(CKK_AES)),
        ]);
        let copy = self
            .engine
            .unwrap_key(self.session, m, unwrapping, &wrapped, &t)?;
        let ecb = Mechanism::new(CKM_AES_ECB);
        let ct = self.encrypt(&ecb, target, &[7u8; 32])?;
        if self.decrypt(&ecb, copy, &ct)? != [7u8; 32] {
            return Err(err(
                CKR_GENERAL_ERROR,
                "the unwrapped key differs from the original",
            ));
        }
        Ok(())
    }
}

type Step<'a> = (&'static str, Box<dyn Fn(&Token) -> Result<()> + 'a>);

fn steps<'a>() -> Vec<Step<'a>> {
    let iv = MechParams::Bytes(vec![9u8; 16]);
    vec![
        (
            "AES-256 CBC_PAD encrypt/decrypt",
            Box::new(move |t: &Token| {
                let k = t.secret(CKM_AES_KEY_GEN, &[(CKA_VALUE_LEN, ulong(32))])?;
                t.round_trip(&Mechanism::with(CKM_AES_CBC_PAD, iv.clone()), k, k)
            }),
        ),
        (
            "AES-128 GCM encrypt/decrypt",
            Box::new(|t: &Token| {
                let k = t.secret(CKM_AES_KEY_GEN, &[(CKA_VALUE_LEN, ulong(16))])?;
                let gcm = MechParams::Gcm {
                    iv: vec![1u8; 12],
                    aad: b"aad".to_vec(),
                    tag_bits: 128,
                };
                t.round_trip(&Mechanism::with(CKM_AES_GCM, gcm), k, k)
            }),
        ),
        (
            "AES CMAC sign/verify",
            Box::new(|t: &Token| {
                let k = t.secret(CKM_AES_KEY_GEN, &[(CKA_VALUE_LEN, ulong(32))])?;
                t.sign_verify(&Mechanism::new(CKM_AES_CMAC), k, k)
            }),
        ),
        (
            "AES KEY_WRAP_KWP wrap/unwrap",
            Box::new(|t: &Token| {
                let k = t.secret(CKM_AES_KEY_GEN, &[(CKA_VALUE_LEN, ulong(32))])?;
                t.wrap_unwrap(&Mechanism::new(CKM_AES_KEY_WRAP_KWP), k, k)
            }),
        ),
        (
            "DES3 CBC_PAD encrypt/decrypt",
            Box::new(|t: &Token| {
                let k = t.secret(CKM_DES3_KEY_GEN, &[])?;
                t.round_trip(
                    &Mechanism::with(CKM_DES3_CBC_PAD, MechParams::Bytes(vec![3u8; 8])),
                    k,
                    k,
                )
            }),
        ),
        (
            "HMAC-SHA256 sign/verify",
            Box::new(|t: &Token| {
                let k = t.secret(CKM_GENERIC_SECRET_KEY_GEN, &[(CKA_VALUE_LEN, ulong(32))])?;
                t.sign_verify(&Mechanism::new(CKM_SHA256_HMAC), k, k)
            }),
        ),
        (
            "RSA-2048 SHA256_RSA_PKCS and PSS",
            Box::new(|t: &Token| {
                let (public, private) = t.pair(
                    CKM_RSA_PKCS_KEY_PAIR_GEN,
                    &[(CKA_MODULUS_BITS, ulong(2048))],
                )?;
                t.sign_verify(&Mechanism::new(CKM_SHA256_RSA_PKCS), private, public)?;
                let pss = MechParams::Pss {
                    hash: CKM_SHA256,
                    mgf: CKG_MGF1_SHA256,
                    salt_len: 32,
                };
                t.sign_verify(
                    &Mechanism::with(CKM_SHA256_RSA_PKCS_PSS, pss),
                    private,
                    public,
                )
            }),
        ),
        (
            "RSA-2048 OAEP and RSA_AES_KEY_WRAP",
            Box::new(|t: &Token| {
                let (public, private) = t.pair(
                    CKM_RSA_PKCS_KEY_PAIR_GEN,
                    &[(CKA_MODULUS_BITS, ulong(2048))],
                )?;
                let oaep = MechParams::Oaep {
                    hash: CKM_SHA256,
                    mgf: CKG_MGF1_SHA256,
                    source_data: vec![],
                };
                t.round_trip(&Mechanism::with(CKM_RSA_PKCS_OAEP, oaep), public, private)?;
                let wrap = MechParams::RsaAesKeyWrap {
                    aes_key_bits: 256,
                    hash: CKM_SHA256,
                    mgf: CKG_MGF1_SHA256,
                    source_data: vec![],
                };
                t.wrap_unwrap(
                    &Mechanism::with(CKM_RSA_AES_KEY_WRAP, wrap),
                    public,
                    private,
                )
            }),
        ),
        (
            "EC P-256 ECDSA_SHA256 and ECDH",
            Box::new(|t: &Token| {
                let (a_pub, a_priv) =
                    t.pair(CKM_EC_KEY_PAIR_GEN, &[(CKA_EC_PARAMS, P256.to_vec())])?;
                let (b_pub, b_priv) =
                    t.pair(CKM_EC_KEY_PAIR_GEN, &[(CKA_EC_PARAMS, P256.to_vec())])?;
                t.sign_verify(&Mechanism::new(CKM_ECDSA_SHA256), a_priv, a_pub)?;
                let derive = |private, peer| -> Result<Vec<u8>> {
                    let point = match t
                        .engine
                        .get_attributes(t.session, peer, &[CKA_EC_POINT])?
                        .pop()
                    {
                        Some(hsmsim::engine::AttrLookup::Value(v)) => {
                            v.as_bytes().unwrap_or_default().to_vec()
                        }
                        _ => return Err(err(CKR_GENERAL_ERROR, "no CKA_EC_POINT")),
                    };
                    let m = Mechanism::with(
                        CKM_ECDH1_DERIVE,
                        MechParams::Ecdh {
                            kdf: CKD_NULL,
                            shared_data: vec![],
                            public_data: point,
                        },
                    );
                    let tmpl = template(&[
                        (CKA_CLASS, ulong(CKO_SECRET_KEY)),
                        (CKA_KEY_TYPE, ulong(CKK_AES)),
                        (CKA_VALUE_LEN, ulong(32)),
                    ]);
                    let key = t.engine.derive_key(t.session, &m, private, &tmpl)?;
                    t.encrypt(&Mechanism::new(CKM_AES_ECB), key, &[0u8; 16])
                };
                if derive(a_priv, b_pub)? != derive(b_priv, a_pub)? {
                    return Err(err(CKR_GENERAL_ERROR, "the two ECDH sides disagree"));
                }
                Ok(())
            }),
        ),
        (
            "Ed25519 EDDSA sign/verify",
            Box::new(|t: &Token| {
                let (public, private) = t.pair(
                    CKM_EC_EDWARDS_KEY_PAIR_GEN,
                    &[(CKA_EC_PARAMS, ED25519.to_vec())],
                )?;
                t.sign_verify(&Mechanism::new(CKM_EDDSA), private, public)
            }),
        ),
        (
            "SHA-256 digest (FIPS 180 \"abc\")",
            Box::new(|t: &Token| {
                t.engine
                    .digest_init(t.session, &Mechanism::new(CKM_SHA256))?;
                let d = data(
                    t.engine
                        .digest(t.session, b"abc", Call::OneShot, Some(64))?,
                )?;
                if d[..4] != [0xba, 0x78, 0x16, 0xbf] {
                    return Err(err(CKR_GENERAL_ERROR, "wrong SHA-256 of \"abc\""));
                }
                Ok(())
            }),
        ),
    ]
}

/// Runs every step; the exit code is 0 only when all pass.
pub fn run(engine: &Engine, slot: CK_SLOT_ID, pin: &str, json: bool) -> ExitCode {
    let session = match engine
        .open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .and_then(|s| engine.login(s, CKU_USER, pin.as_bytes()).map(|_| s))
    {
        Ok(s) => s,
        Err(e) => {
            return crate::report_error(
                &format!("cannot log in to the token in slot {slot}: {e}"),
                Some(hsmsim::base::error::rv_name(e.rv)),
                2,
            );
        }
    };
    let token = Token { engine, session };
    let mut results = Vec::new();
    for (name, step) in steps() {
        let start = Instant::now();
        let outcome: std::result::Result<(), Error> = step(&token);
        results.push((name, outcome, start.elapsed().as_secs_f64() * 1000.0));
    }
    let _ = engine.close_session(session);
    let failed = results.iter().filter(|r| r.1.is_err()).count();
    if json {
        let rows: Vec<_> = results
            .iter()
            .map(|(n, o, ms)| json!({"step": n, "status": if o.is_ok() {"pass"} else {"fail"},
                                     "detail": o.as_ref().err().map(|e| e.to_string()), "duration_ms": ms}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"slot": slot, "results": rows, "failed": failed}))
                .expect("JSON")
        );
    } else {
        println!("{:<40} {:<6} {:>9}", "step", "result", "ms");
        for (n, o, ms) in &results {
            println!(
                "{:<40} {:<6} {:>9.1}",
                n,
                if o.is_ok() { "pass" } else { "FAIL" },
                ms
            );
            if let Err(e) = o {
                println!("    {e}");
            }
        }
        println!(
            "{} of {} steps passed",
            results.len() - failed,
            results.len()
        );
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
