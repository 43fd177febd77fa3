//! Attribute values as the engine holds them: the bytes a C caller would see (`CK_BBOOL` as one
//! byte, `CK_ULONG` native-endian), plus nested templates for `CKA_WRAP_TEMPLATE` and friends.
//! Also the type of every attribute the simulator knows, used to reject malformed templates.
use crate::base::error::{Result, err};
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// The bytes of one value: up to 16 inline (every boolean, integer, and most labels and IDs),
/// so a token's many small objects cost no allocation per attribute.
pub type ValueBytes = SmallVec<[u8; 16]>;

/// One attribute value.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttrValue {
    Bytes(ValueBytes),
    /// An attribute array (`CKF_ARRAY_ATTRIBUTE`): only plain byte values inside.
    Template(Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>),
}

/// A byte value is copied in one go (`SmallVec`'s own `clone` goes byte by byte, and every
/// new object clones a template's values).
impl Clone for AttrValue {
    fn clone(&self) -> Self {
        match self {
            AttrValue::Bytes(b) => AttrValue::Bytes(SmallVec::from_slice(b)),
            AttrValue::Template(t) => AttrValue::Template(t.clone()),
        }
    }
}

impl AttrValue {
    pub fn bool(v: bool) -> Self {
        AttrValue::Bytes(SmallVec::from_slice(&[v as u8]))
    }
    pub fn ulong(v: CK_ULONG) -> Self {
        AttrValue::Bytes(SmallVec::from_slice(&v.to_ne_bytes()))
    }
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            AttrValue::Bytes(b) => Some(b),
            AttrValue::Template(_) => None,
        }
    }
}

/// The shape of an attribute's value, which decides which lengths are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    Bool,
    Ulong,
    Bytes,
    Date,
    MechanismList,
    Template,
}

/// The kind of every standard attribute the simulator supports; `None` for unknown types.
pub fn attr_kind(t: CK_ATTRIBUTE_TYPE) -> Option<AttrKind> {
    use AttrKind::*;
    Some(match t {
        CKA_TOKEN
        | CKA_PRIVATE
        | CKA_MODIFIABLE
        | CKA_COPYABLE
        | CKA_DESTROYABLE
        | CKA_TRUSTED
        | CKA_SENSITIVE
        | CKA_ENCRYPT
        | CKA_DECRYPT
        | CKA_WRAP
        | CKA_UNWRAP
        | CKA_SIGN
        | CKA_SIGN_RECOVER
        | CKA_VERIFY
        | CKA_VERIFY_RECOVER
        | CKA_DERIVE
        | CKA_EXTRACTABLE
        | CKA_LOCAL
        | CKA_NEVER_EXTRACTABLE
        | CKA_ALWAYS_SENSITIVE
        | CKA_WRAP_WITH_TRUSTED
        | CKA_ALWAYS_AUTHENTICATE
        | CKA_ENCAPSULATE
        | CKA_DECAPSULATE => Bool,
        CKA_CLASS
        | CKA_KEY_TYPE
        | CKA_CERTIFICATE_TYPE
        | CKA_CERTIFICATE_CATEGORY
        | CKA_JAVA_MIDP_SECURITY_DOMAIN
        | CKA_NAME_HASH_ALGORITHM
        | CKA_MODULUS_BITS
        | CKA_VALUE_LEN
        | CKA_VALUE_BITS
        | CKA_KEY_GEN_MECHANISM
        | CKA_PRIME_BITS
        | CKA_SUB_PRIME_BITS
        | CKA_PROFILE_ID
        | CKA_PARAMETER_SET
        | crate::base::vendor_codes::CKA_USAGE_COUNT
        | crate::base::vendor_codes::CKA_USAGE_LIMIT => Ulong,
        CKA_START_DATE | CKA_END_DATE => Date,
        CKA_ALLOWED_MECHANISMS => MechanismList,
        CKA_WRAP_TEMPLATE
        | CKA_UNWRAP_TEMPLATE
        | CKA_DERIVE_TEMPLATE
        | CKA_ENCAPSULATE_TEMPLATE
        | CKA_DECAPSULATE_TEMPLATE => Template,
        CKA_LABEL
        | CKA_APPLICATION
        | CKA_VALUE
        | CKA_OBJECT_ID
        | CKA_ID
        | CKA_UNIQUE_ID
        | CKA_SUBJECT
        | CKA_ISSUER
        | CKA_SERIAL_NUMBER
        | CKA_URL
        | CKA_CHECK_VALUE
        | CKA_HASH_OF_SUBJECT_PUBLIC_KEY
        | CKA_HASH_OF_ISSUER_PUBLIC_KEY
        | CKA_AC_ISSUER
        | CKA_OWNER
        | CKA_ATTR_TYPES
        | CKA_MODULUS
        | CKA_PUBLIC_EXPONENT
        | CKA_PRIVATE_EXPONENT
        | CKA_PRIME_1
        | CKA_PRIME_2
        | CKA_EXPONENT_1
        | CKA_EXPONENT_2
        | CKA_COEFFICIENT
        | CKA_PUBLIC_KEY_INFO
        | CKA_EC_PARAMS
        | CKA_EC_POINT
        | CKA_PRIME
        | CKA_SUBPRIME
        | CKA_BASE
        | CKA_SEED
        | crate::base::vendor_codes::CKA_OUID => Bytes,
        _ => return None,
    })
}

/// Checks a value's length against its attribute's kind (`CKR_ATTRIBUTE_TYPE_INVALID` for an
/// unknown type, `CKR_ATTRIBUTE_VALUE_INVALID` for a malformed value).
pub fn check_value(t: CK_ATTRIBUTE_TYPE, value: &AttrValue) -> Result<()> {
    let kind = attr_kind(t).ok_or_else(|| {
        err(
            CKR_ATTRIBUTE_TYPE_INVALID,
            format!("attribute type 0x{t:X} is not supported"),
        )
    })?;
    let ok = match (kind, value) {
        (AttrKind::Template, AttrValue::Template(inner)) => {
            for (it, iv) in inner {
                check_value(*it, &AttrValue::Bytes(SmallVec::from_slice(iv)))?;
            }
            true
        }
        (AttrKind::Template, AttrValue::Bytes(_)) | (_, AttrValue::Template(_)) => false,
        (AttrKind::Bool, AttrValue::Bytes(b)) => b.len() == 1 && b[0] <= 1,
        (AttrKind::Ulong, AttrValue::Bytes(b)) => b.len() == size_of::<CK_ULONG>(),
        (AttrKind::Date, AttrValue::Bytes(b)) => {
            b.is_empty() || (b.len() == 8 && b.iter().all(u8::is_ascii_digit))
        }
        (AttrKind::MechanismList, AttrValue::Bytes(b)) => b.len() % size_of::<CK_ULONG>() == 0,
        (AttrKind::Bytes, AttrValue::Bytes(_)) => true,
    };
    if ok {
        Ok(())
    } else {
        Err(err(
            CKR_ATTRIBUTE_VALUE_INVALID,
            format!("attribute 0x{t:X} has a value of the wrong size or form"),
        ))
    }
}

/// An ordered set of attributes (an object's, or a caller's template), kept as a vector sorted
/// by type: compact for the many small objects a token holds, and binary-searched on lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes(Vec<(CK_ATTRIBUTE_TYPE, AttrValue)>);

impl Attributes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a template from (type, value) pairs, rejecting duplicates with conflicting values
    /// (`CKR_TEMPLATE_INCONSISTENT`) and malformed values.
    pub fn from_template(items: Vec<(CK_ATTRIBUTE_TYPE, AttrValue)>) -> Result<Self> {
        let mut out = Attributes(Vec::with_capacity(items.len()));
        for (t, v) in items {
            check_value(t, &v)?;
            if let Some(old) = out.get(t)
                && *old != v
            {
                return Err(err(
                    CKR_TEMPLATE_INCONSISTENT,
                    format!("attribute 0x{t:X} is given twice with different values"),
                ));
            }
            out.set(t, v);
        }
        Ok(out)
    }

    fn position(&self, t: CK_ATTRIBUTE_TYPE) -> std::result::Result<usize, usize> {
        self.0.binary_search_by_key(&t, |(k, _)| *k)
    }

    pub fn get(&self, t: CK_ATTRIBUTE_TYPE) -> Option<&AttrValue> {
        self.position(t).ok().map(|i| &self.0[i].1)
    }
    pub fn contains(&self, t: CK_ATTRIBUTE_TYPE) -> bool {
        self.position(t).is_ok()
    }
    pub fn set(&mut self, t: CK_ATTRIBUTE_TYPE, v: AttrValue) {
        match self.position(t) {
            Ok(i) => self.0[i].1 = v,
            Err(i) => self.0.insert(i, (t, v)),
        }
    }
    pub fn set_bool(&mut self, t: CK_ATTRIBUTE_TYPE, v: bool) {
        self.set(t, AttrValue::bool(v));
    }
    pub fn set_ulong(&mut self, t: CK_ATTRIBUTE_TYPE, v: CK_ULONG) {
        self.set(t, AttrValue::ulong(v));
    }
    pub fn set_bytes(&mut self, t: CK_ATTRIBUTE_TYPE, v: impl Into<Vec<u8>>) {
        self.set(t, AttrValue::Bytes(SmallVec::from_vec(v.into())));
    }
    pub fn remove(&mut self, t: CK_ATTRIBUTE_TYPE) -> Option<AttrValue> {
        self.position(t).ok().map(|i| self.0.remove(i).1)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Releases spare capacity (objects held for a long time).
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
    /// Releases spare capacity only past a few attributes' worth (simulator-defined: up to 8
    /// spare entries stay, sparing a reallocation per new object; `rules::build_object`
    /// leaves fewer).
    pub fn shrink_if_loose(&mut self) {
        if self.0.capacity() - self.0.len() > 8 {
            self.0.shrink_to_fit();
        }
    }
    /// Splits off the attributes `pick` selects, leaving the others here.
    pub fn split_off_where(&mut self, pick: impl Fn(CK_ATTRIBUTE_TYPE) -> bool) -> Attributes {
        let (picked, kept) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|(t, _)| pick(*t));
        self.0 = kept;
        Attributes(picked)
    }
    pub fn bytes(&self, t: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.get(t).and_then(AttrValue::as_bytes)
    }
    /// A boolean attribute, `None` when absent.
    pub fn bool(&self, t: CK_ATTRIBUTE_TYPE) -> Option<bool> {
        self.bytes(t).and_then(|b| b.first()).map(|b| *b != 0)
    }
    /// A boolean attribute with a default.
    pub fn flag(&self, t: CK_ATTRIBUTE_TYPE, default: bool) -> bool {
        self.bool(t).unwrap_or(default)
    }
    pub fn ulong(&self, t: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        self.bytes(t)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(CK_ULONG::from_ne_bytes)
    }
    /// A required byte attribute: `CKR_TEMPLATE_INCOMPLETE` when absent.
    pub fn require_bytes(&self, t: CK_ATTRIBUTE_TYPE) -> Result<&[u8]> {
        self.bytes(t).ok_or_else(|| {
            err(
                CKR_TEMPLATE_INCOMPLETE,
                format!("attribute 0x{t:X} is required"),
            )
        })
    }
    pub fn require_ulong(&self, t: CK_ATTRIBUTE_TYPE) -> Result<CK_ULONG> {
        self.ulong(t).ok_or_else(|| {
            err(
                CKR_TEMPLATE_INCOMPLETE,
                format!("attribute 0x{t:X} is required"),
            )
        })
    }
    /// The mechanisms listed in `CKA_ALLOWED_MECHANISMS`, if the attribute is present.
    pub fn mechanism_list(&self, t: CK_ATTRIBUTE_TYPE) -> Option<Vec<CK_MECHANISM_TYPE>> {
        self.bytes(t).map(|b| {
            b.chunks_exact(8)
                .map(|c| CK_ULONG::from_ne_bytes(c.try_into().expect("8-byte chunk")))
                .collect()
        })
    }
    /// True when every attribute of `template` is present here with the same value.
    pub fn matches(&self, template: &Attributes) -> bool {
        template.0.iter().all(|(t, v)| self.get(*t) == Some(v))
    }
    pub fn iter(&self) -> impl Iterator<Item = (&CK_ATTRIBUTE_TYPE, &AttrValue)> {
        self.0.iter().map(|(t, v)| (t, v))
    }
    /// The attributes, sorted by type.
    pub fn as_slice(&self) -> &[(CK_ATTRIBUTE_TYPE, AttrValue)] {
        &self.0
    }

    /// Several sorted lists of attributes (each with one value per type) made into one set,
    /// the first list that has a type giving its value: one pass into one allocation, with
    /// `room` to spare for attributes added afterwards.
    pub fn layered(layers: &[&[(CK_ATTRIBUTE_TYPE, AttrValue)]], room: usize) -> Attributes {
        let Some((last, upper)) = layers.split_last() else {
            return Attributes::new();
        };
        // The upper layers are small (a template, computed values): merged by reference first,
        // then once through the last (the defaults, most of the object).
        let mut top: SmallVec<[&(CK_ATTRIBUTE_TYPE, AttrValue); 16]> = SmallVec::new();
        for item in upper.iter().flat_map(|l| l.iter()) {
            if !top.iter().any(|(t, _)| *t == item.0) {
                top.push(item);
            }
        }
        top.sort_unstable_by_key(|(t, _)| *t);
        let mut out = Vec::with_capacity(top.len() + last.len() + room);
        let mut next = top.iter().peekable();
        for item in last.iter() {
            while let Some(upper) = next.next_if(|(t, _)| *t < item.0) {
                out.push((*upper).clone());
            }
            match next.next_if(|(t, _)| *t == item.0) {
                Some(upper) => out.push((*upper).clone()),
                None => out.push(item.clone()),
            }
        }
        out.extend(next.map(|item| (*item).clone()));
        Attributes(out)
    }

    /// Copies every attribute of `other` over this one.
    pub fn merge(&mut self, other: &Attributes) {
        for (t, v) in &other.0 {
            self.set(*t, v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layered_takes_the_first_layer_with_a_type_in_type_order() {
        let mut base = Attributes::new();
        base.set_bool(CKA_TOKEN, true);
        base.set_bool(CKA_SIGN, false);
        let mut over = Attributes::new();
        over.set_bool(CKA_SIGN, true);
        over.set_bytes(CKA_VALUE, vec![7u8; 3]);
        let defaults = [
            (CKA_CLASS, AttrValue::ulong(CKO_DATA)),
            (CKA_TOKEN, AttrValue::bool(false)),
            (CKA_LABEL, AttrValue::Bytes(Default::default())),
            (CKA_SIGN, AttrValue::bool(false)),
            (CKA_VERIFY, AttrValue::bool(true)),
        ];
        let m = Attributes::layered(&[over.as_slice(), base.as_slice(), &defaults], 2);
        let types: Vec<_> = m.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            types,
            [
                CKA_CLASS, CKA_TOKEN, CKA_LABEL, CKA_VALUE, CKA_SIGN, CKA_VERIFY
            ]
        );
        assert_eq!(m.bool(CKA_TOKEN), Some(true), "base beats a default");
        assert_eq!(m.bool(CKA_SIGN), Some(true), "over beats base");
        assert_eq!(m.bytes(CKA_VALUE), Some(&[7u8, 7, 7][..]));
        assert_eq!(m.bool(CKA_VERIFY), Some(true));
        assert!(m.0.capacity() >= m.len() + 2);
        assert_eq!(Attributes::layered(&[], 0), Attributes::new());
    }

    #[test]
    fn rejects_bad_bool_and_ulong_sizes() {
        assert_eq!(
            check_value(CKA_TOKEN, &AttrValue::Bytes(smallvec::smallvec![1, 0]))
                .unwrap_err()
                .rv,
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(
            check_value(CKA_CLASS, &AttrValue::Bytes(smallvec::smallvec![1, 0, 0]))
                .unwrap_err()
                .rv,
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(
            check_value(0x7FFF_FFF0, &AttrValue::Bytes(smallvec::smallvec![]))
                .unwrap_err()
                .rv,
            CKR_ATTRIBUTE_TYPE_INVALID
        );
        assert!(check_value(CKA_LABEL, &AttrValue::Bytes(b"x".as_slice().into())).is_ok());
    }

    #[test]
    fn conflicting_duplicates_are_inconsistent() {
        let r = Attributes::from_template(vec![
            (CKA_TOKEN, AttrValue::bool(true)),
            (CKA_TOKEN, AttrValue::bool(false)),
        ]);
        assert_eq!(r.unwrap_err().rv, CKR_TEMPLATE_INCONSISTENT);
        let same = Attributes::from_template(vec![
            (CKA_TOKEN, AttrValue::bool(true)),
            (CKA_TOKEN, AttrValue::bool(true)),
        ])
        .unwrap();
        assert_eq!(same.bool(CKA_TOKEN), Some(true));
    }
}
