//! What a vendor model rules about objects and mechanisms, asked by the engine without naming
//! a vendor: the mechanisms and curves the firmware offers, who may create, change, destroy or
//! wrap out keys (Luna's read-only roles, Primus's security policy and Clones; which models
//! have PKCS#11 3.2's authenticated wrapping), the defaults of
//! a new key, the identity a new object is given (Luna's `CKA_OUID`, Primus's HSM-internal
//! names), key values a policy hides, a full partition, and Luna's key usage limits.
use super::{PartitionState, TokenModel, luna, primus};
use crate::base::attribute::Attributes;
use crate::base::error::{Result, err};
use crate::base::vendor_codes::{
    CKA_HSMSIM_PRIMUS_NAME, CKA_OUID, CKA_USAGE_COUNT, CKA_USAGE_LIMIT,
    CKR_CONTAINER_OBJECT_STORAGE_FULL, CKR_USER_NOT_AUTHORIZED,
};
use crate::crypto::ec::Curve;
use crate::object::rules::Origin;
use crate::store::records::TokenRecord;
use cryptoki_sys::*;

impl TokenModel {
    /// The Weierstrass curves the model's firmware offers for `CKK_EC` keys.
    pub fn ec_curves(&self) -> &'static [Curve] {
        match self {
            TokenModel::Soft => &Curve::ALL,
            TokenModel::Luna(_) => luna::EC_CURVES,
            TokenModel::Primus(_) => primus::EC_CURVES,
        }
    }

    /// `CKR_CURVE_NOT_SUPPORTED` for a new `CKK_EC` key (generated, created or unwrapped) on a
    /// curve the firmware does not offer. Other objects, and keys without `CKA_EC_PARAMS` (the
    /// key's own checks answer for those), pass.
    pub fn check_key_curve(&self, attrs: &Attributes) -> Result<()> {
        let Some(params) = attrs
            .bytes(CKA_EC_PARAMS)
            .filter(|_| attrs.ulong(CKA_KEY_TYPE) == Some(CKK_EC))
        else {
            return Ok(());
        };
        let curve = Curve::from_params(params)?;
        if self.ec_curves().contains(&curve) {
            Ok(())
        } else {
            Err(err(
                CKR_CURVE_NOT_SUPPORTED,
                format!("this token's firmware does not offer {}", curve.names()[0]),
            ))
        }
    }

    /// `CKR_MECHANISM_INVALID` unless the partition offers the mechanism: a Luna partition in
    /// FIPS mode lacks the non-FIPS ones, and ML-DSA / ML-KEM before firmware 7.9
    /// (simulator-defined); Primus lacks single DES, and ML-DSA / ML-KEM before firmware 3.2
    /// (Primus §1.5: "v3.2: ... also PQC"); a soft token offers all.
    pub fn check_mechanism(
        &self,
        record: &TokenRecord,
        mechanism: CK_MECHANISM_TYPE,
    ) -> Result<()> {
        match (self, PartitionState::of(record).as_deref()) {
            (TokenModel::Luna(d), Some(PartitionState::Luna(s))) => d.check_mechanism(s, mechanism),
            (TokenModel::Luna(d), _) => {
                d.check_mechanism(&luna::PartitionState::default(), mechanism)
            }
            (TokenModel::Primus(d), _) => primus::check_mechanism(d.firmware, mechanism),
            _ => Ok(()),
        }
    }

    /// The partition's Primus security policy, if it is a Primus partition.
    fn primus_policy(&self, record: &TokenRecord) -> Option<primus::SecurityPolicy> {
        match (self, PartitionState::of(record).as_deref()) {
            (TokenModel::Primus(_), Some(PartitionState::Primus(p))) => Some(*p),
            (TokenModel::Primus(_), _) => Some(primus::SecurityPolicy::default()),
            _ => None,
        }
    }

    /// Token objects may be created, changed or destroyed (a Primus Clone without
    /// `clone_modify` refuses, Primus §2.1).
    pub fn check_token_object_change(&self) -> Result<()> {
        match self {
            TokenModel::Primus(d) => d.check_object_change(),
            _ => Ok(()),
        }
    }

    /// Luna's Crypto User "can perform cryptographic operations using partition objects in a
    /// read-only capacity, but can only create public objects" (documented, `init_co_cu.htm`):
    /// creating, changing or destroying a private object as `user` is
    /// `CKR_USER_NOT_AUTHORIZED`. The Limited Crypto Officer gets the same rights
    /// (simulator-defined: the public documents do not list its permissions).
    pub fn check_object_change_by(&self, user: Option<CK_USER_TYPE>, private: bool) -> Result<()> {
        match self.read_only_role(user) {
            Some(name) if private => Err(err(
                CKR_USER_NOT_AUTHORIZED,
                format!("the {name} may create, change or destroy public objects only"),
            )),
            _ => Ok(()),
        }
    }

    /// A key may be wrapped out of the partition by `user`: refused to Luna's Crypto User and
    /// Limited Crypto Officer (simulator-defined, as their read-only rights), and where a
    /// Primus partition's security policy forbids export (Primus §1.7).
    pub fn check_key_export(&self, record: &TokenRecord, user: Option<CK_USER_TYPE>) -> Result<()> {
        if let Some(name) = self.read_only_role(user) {
            return Err(err(
                CKR_USER_NOT_AUTHORIZED,
                format!("the {name} does not export keys"),
            ));
        }
        match self.primus_policy(record) {
            Some(policy) => policy.check_export(),
            None => Ok(()),
        }
    }

    /// PKCS#11 3.2's authenticated key wrapping (`C_WrapKeyAuthenticated`,
    /// `C_UnwrapKeyAuthenticated`) exists on a soft token only: Luna and Primus partitions answer
    /// `CKR_FUNCTION_NOT_SUPPORTED` (simulator-defined: no vendor document describes the calls).
    pub fn check_authenticated_wrapping(&self) -> Result<()> {
        match self {
            TokenModel::Soft => Ok(()),
            TokenModel::Luna(_) | TokenModel::Primus(_) => Err(err(
                CKR_FUNCTION_NOT_SUPPORTED,
                "this partition's firmware has no authenticated key wrapping",
            )),
        }
    }

    /// Checks the vendor attributes a caller gives to a new object, a copy or a change, before
    /// the standard rules: Luna's usage limit within its range (`luna::check_usage_template`);
    /// on other models `CKA_USAGE_LIMIT` and `CKA_USAGE_COUNT` do not exist
    /// (`CKR_ATTRIBUTE_TYPE_INVALID`, as for any attribute type the token does not know).
    pub fn check_vendor_template(&self, template: &Attributes) -> Result<()> {
        match self {
            TokenModel::Luna(_) => luna::check_usage_template(template),
            _ => match [CKA_USAGE_LIMIT, CKA_USAGE_COUNT]
                .into_iter()
                .find(|t| template.contains(*t))
            {
                Some(t) => Err(err(
                    CKR_ATTRIBUTE_TYPE_INVALID,
                    format!("attribute type 0x{t:X} is Luna's; this token does not know it"),
                )),
                None => Ok(()),
            },
        }
    }

    /// The attributes the model completes after a new object's or a change's values are in
    /// place: a Luna key given a usage limit gets its count (`luna::complete_usage`).
    pub fn complete_vendor_attributes(&self, attrs: &mut Attributes) {
        if matches!(self, TokenModel::Luna(_)) {
            luna::complete_usage(attrs);
        }
    }

    /// Whether operations with a key count towards a usage limit (Luna's `CKA_USAGE_LIMIT`);
    /// keys without one (every key of other models) pay nothing more.
    pub fn limits_uses(&self, attrs: &Attributes) -> bool {
        matches!(self, TokenModel::Luna(_)) && luna::limits_uses(attrs)
    }

    /// One use of a key that `limits_uses`: the attribute change recording it, or the error
    /// when its limit is reached (`luna::count_use`).
    pub fn count_use(&self, attrs: &Attributes) -> Result<Attributes> {
        match self {
            TokenModel::Luna(_) => luna::count_use(attrs),
            _ => Ok(Attributes::new()),
        }
    }

    /// The model's rules for a new object, after the standard ones (`rules::build_object`):
    /// the curves its firmware offers; on Primus, its security policy on key import and its key
    /// defaults (Primus §1.6, §1.7).
    pub fn new_object_rules(
        &self,
        record: &TokenRecord,
        origin: Origin,
        template: &Attributes,
        attrs: &mut Attributes,
        class: CK_OBJECT_CLASS,
    ) -> Result<()> {
        self.check_key_curve(attrs)?;
        self.complete_vendor_attributes(attrs);
        let Some(policy) = self.primus_policy(record) else {
            return Ok(());
        };
        let imported = matches!(class, CKO_SECRET_KEY | CKO_PRIVATE_KEY)
            && matches!(origin, Origin::Create | Origin::Unwrap);
        if imported {
            policy.check_import()?;
        }
        primus::apply_key_defaults(template, attrs, class);
        Ok(())
    }

    /// An object's identity shared by its copies on other partitions (cloning, HA
    /// replication): its `CKA_OUID` (`identify_new_object`).
    pub fn shared_identity<'a>(&self, attrs: &'a Attributes) -> Option<&'a [u8]> {
        attrs.bytes(CKA_OUID)
    }

    /// The identity every new object is given besides `CKA_UNIQUE_ID`: a random 12-byte
    /// `CKA_OUID` (Luna's `CA_GetObjectUID`; simulator-defined: objects of every model carry one).
    /// `random` fills a buffer with random bytes (the engine's identifier pool).
    pub fn identify_new_object(
        &self,
        attrs: &mut Attributes,
        random: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<()> {
        let mut ouid = [0u8; 12];
        random(&mut ouid)?;
        attrs.set_bytes(CKA_OUID, ouid.to_vec());
        Ok(())
    }

    /// The secret values of keys read as sensitive (a Primus partition's security policy without
    /// extract, Primus §1.7).
    pub fn hides_key_values(&self, record: &TokenRecord) -> bool {
        self.primus_policy(record)
            .is_some_and(|p| !p.allows_extract())
    }

    /// The attribute holding an object's HSM-internal name where the model names objects
    /// (Primus §1.6: `label`, or `label@?!<uid>` for a later object of the same class and
    /// label).
    pub fn name_attribute(&self) -> Option<CK_ATTRIBUTE_TYPE> {
        matches!(self, TokenModel::Primus(_)).then_some(CKA_HSMSIM_PRIMUS_NAME)
    }

    /// `CKR_FUNCTION_NOT_SUPPORTED` unless the model names objects.
    pub fn check_names_objects(&self) -> Result<CK_ATTRIBUTE_TYPE> {
        self.name_attribute().ok_or_else(|| {
            err(
                CKR_FUNCTION_NOT_SUPPORTED,
                "HSM-internal names exist on Primus partitions only",
            )
        })
    }

    /// The HSM-internal name of an object labelled `label` with unique id `unique_id`;
    /// `taken`: another object of its class already has the name `label`.
    pub fn object_name(&self, label: &str, unique_id: &str, taken: bool) -> String {
        primus::hsm_name(label, unique_id, taken)
    }

    /// The label an object named `name` may have besides `name` itself (the part before a
    /// differentiator), if any.
    pub fn label_of_name<'a>(&self, name: &'a str) -> Option<&'a str> {
        name.split(primus::NAME_DIFFERENTIATOR)
            .next()
            .filter(|base| *base != name)
    }

    /// The object named `name` among the candidates `(handle, name, label)` (sorted, without
    /// duplicates): see `primus::find_by_name` for the ambiguous and not-found answers.
    pub fn find_by_name(
        &self,
        entries: &[(CK_OBJECT_HANDLE, String, String)],
        name: &str,
    ) -> Result<CK_OBJECT_HANDLE> {
        primus::find_by_name(entries, name)
    }

    /// `CKR_CONTAINER_OBJECT_STORAGE_FULL` (Luna's code, answered for every model's limited
    /// partitions) when `adding` bytes of token objects exceed a partition of `capacity` bytes
    /// holding `used`.
    pub fn check_capacity(&self, used: u64, adding: u64, capacity: u64) -> Result<()> {
        if used + adding > capacity {
            return Err(err(
                CKR_CONTAINER_OBJECT_STORAGE_FULL,
                format!(
                    "the partition is full: {used} of {capacity} bytes used, {adding} more needed"
                ),
            ));
        }
        Ok(())
    }
}
