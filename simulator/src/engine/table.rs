//! A slot's objects in memory: its token objects (loaded from the store on first use) and the
//! session objects of this process, with indexes on `CKA_CLASS`, `CKA_LABEL` and `CKA_ID` (and
//! the unique id of token objects) so that finds and cross-process updates never scan. The
//! byte-valued indexes are keyed by a hash of the value, not a copy of it (memory per object
//! matters at 100,000 objects); every candidate is checked against the real value.
use crate::base::attribute::Attributes;
use crate::object::Object;
use cryptoki_sys::*;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Arc;

/// The hasher of the maps keyed by handles, classes and the indexes' value hashes: integers
/// the module assigns, PKCS#11 fixes or `RandomState` already hashed, which no caller picks
/// to collide, so one multiplication does (SipHash is a good part of a session key's
/// creation and destruction).
#[derive(Default, Clone, Copy)]
struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IntState = BuildHasherDefault<IntHasher>;
type HandleSet = HashSet<CK_OBJECT_HANDLE, IntState>;

/// Handles under one index key; most keys name a single object. Many objects may share a
/// key (a label given to every session's temporary key): adding and removing one costs O(1)
/// however many there are.
#[derive(Debug, Clone)]
enum Handles {
    One(CK_OBJECT_HANDLE),
    Many(HandleSet),
}

impl Handles {
    fn add(&mut self, h: CK_OBJECT_HANDLE) {
        match self {
            Handles::One(first) => *self = Handles::Many(HandleSet::from_iter([*first, h])),
            Handles::Many(set) => {
                set.insert(h);
            }
        }
    }
    /// Removes `h`; true when nothing is left.
    fn remove(&mut self, h: CK_OBJECT_HANDLE) -> bool {
        match self {
            Handles::One(only) => *only == h,
            Handles::Many(set) => {
                set.remove(&h);
                if set.len() == 1
                    && let Some(last) = set.iter().next().copied()
                {
                    *self = Handles::One(last);
                }
                false
            }
        }
    }
    fn iter(&self) -> impl Iterator<Item = CK_OBJECT_HANDLE> + '_ {
        let (one, many) = match self {
            Handles::One(h) => (Some(*h), None),
            Handles::Many(set) => (None, Some(set)),
        };
        one.into_iter().chain(many.into_iter().flatten().copied())
    }
    fn len(&self) -> usize {
        match self {
            Handles::One(_) => 1,
            Handles::Many(set) => set.len(),
        }
    }
}

/// Handles by the hash of a byte value.
type HashIndex = HashMap<u64, Handles, IntState>;

fn index_add(index: &mut HashIndex, key: Option<u64>, h: CK_OBJECT_HANDLE) {
    if let Some(key) = key {
        match index.get_mut(&key) {
            Some(handles) => handles.add(h),
            None => {
                index.insert(key, Handles::One(h));
            }
        }
    }
}

fn index_remove(index: &mut HashIndex, key: Option<u64>, h: CK_OBJECT_HANDLE) {
    if let Some(key) = key
        && index.get_mut(&key).is_some_and(|handles| handles.remove(h))
    {
        index.remove(&key);
    }
}

#[derive(Default)]
pub struct ObjectTable {
    /// True once the token's objects were read from the store.
    pub loaded: bool,
    objects: HashMap<CK_OBJECT_HANDLE, Arc<Object>, IntState>,
    hasher: RandomState,
    by_unique_id: HashIndex,
    by_label: HashIndex,
    by_id: HashIndex,
    by_class: HashMap<CK_OBJECT_CLASS, HandleSet, IntState>,
    /// Space the token objects take (`Object::storage_size`).
    token_bytes: u64,
}

impl ObjectTable {
    /// Space the token objects take, in bytes.
    pub fn token_bytes(&self) -> u64 {
        self.token_bytes
    }

    pub fn get(&self, h: CK_OBJECT_HANDLE) -> Option<&Arc<Object>> {
        self.objects.get(&h)
    }

    /// The index key of a value: its hash, or 0 for an empty one (the label and ID most
    /// objects have; a value hashing to 0 as well only adds a candidate to check).
    fn key(&self, value: Option<&[u8]>) -> Option<u64> {
        value.map(|v| {
            if v.is_empty() {
                0
            } else {
                self.hasher.hash_one(v)
            }
        })
    }

    /// The handle of the token object with this unique id.
    pub fn handle_of(&self, unique_id: &[u8]) -> Option<CK_OBJECT_HANDLE> {
        let handles = self.by_unique_id.get(&self.key(Some(unique_id))?)?;
        handles.iter().find(|h| {
            self.objects
                .get(h)
                .is_some_and(|o| o.unique_id() == unique_id)
        })
    }

    pub fn values(&self) -> impl Iterator<Item = &Arc<Object>> {
        self.objects.values()
    }

    /// Adds an object, replacing the one with its handle (and a token object with its unique
    /// id under another handle).
    pub fn insert(&mut self, object: Arc<Object>) {
        self.remove(object.handle);
        if object.is_token()
            && let Some(old) = self.handle_of(object.unique_id())
        {
            self.remove(old);
        }
        let h = object.handle;
        if object.is_token() {
            let key = self.key(Some(object.unique_id()));
            index_add(&mut self.by_unique_id, key, h);
            self.token_bytes += object.storage_size();
        }
        let (label, id) = (
            self.key(object.attrs.bytes(CKA_LABEL)),
            self.key(object.attrs.bytes(CKA_ID)),
        );
        index_add(&mut self.by_label, label, h);
        index_add(&mut self.by_id, id, h);
        self.by_class.entry(object.class()).or_default().insert(h);
        self.objects.insert(h, object);
    }

    pub fn remove(&mut self, h: CK_OBJECT_HANDLE) -> Option<Arc<Object>> {
        let object = self.objects.remove(&h)?;
        if object.is_token() {
            let key = self.key(Some(object.unique_id()));
            index_remove(&mut self.by_unique_id, key, h);
            self.token_bytes = self.token_bytes.saturating_sub(object.storage_size());
        }
        let (label, id) = (
            self.key(object.attrs.bytes(CKA_LABEL)),
            self.key(object.attrs.bytes(CKA_ID)),
        );
        index_remove(&mut self.by_label, label, h);
        index_remove(&mut self.by_id, id, h);
        if let Some(set) = self.by_class.get_mut(&object.class()) {
            set.remove(&h);
            if set.is_empty() {
                self.by_class.remove(&object.class());
            }
        }
        Some(object)
    }

    /// Removes every token object (they were erased); session objects stay.
    pub fn remove_token_objects(&mut self) {
        let token_objects: Vec<_> = self
            .objects
            .values()
            .filter(|o| o.is_token())
            .map(|o| o.handle)
            .collect();
        for h in token_objects {
            self.remove(h);
        }
    }

    /// Forgets every object (the token was replaced); the next use loads it again.
    pub fn clear(&mut self) {
        *self = ObjectTable::default();
    }

    /// The objects that may match `template`: those under the most selective indexed
    /// attribute it names (values with the same hash included), or all of them. Callers check
    /// every attribute.
    pub fn candidates(&self, template: &Attributes) -> Vec<Arc<Object>> {
        // Per indexed attribute the template names: its handles (`None`: no object has it).
        let mut indexed: Vec<Option<&Handles>> = Vec::new();
        for (attr, index) in [
            (CKA_LABEL, &self.by_label),
            (CKA_ID, &self.by_id),
            (CKA_UNIQUE_ID, &self.by_unique_id),
        ] {
            if let Some(key) = self.key(template.bytes(attr)) {
                indexed.push(index.get(&key));
            }
        }
        let best = indexed
            .into_iter()
            .min_by_key(|h| h.map_or(0, Handles::len));
        if let Some(handles) = best {
            return handles.map_or_else(Vec::new, |handles| {
                handles
                    .iter()
                    .filter_map(|h| self.objects.get(&h).cloned())
                    .collect()
            });
        }
        if let Some(class) = template.ulong(CKA_CLASS) {
            return self.by_class.get(&class).map_or_else(Vec::new, |set| {
                set.iter()
                    .filter_map(|h| self.objects.get(h).cloned())
                    .collect()
            });
        }
        self.objects.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Lifetime;

    fn object(h: CK_OBJECT_HANDLE, label: &[u8], class: CK_OBJECT_CLASS) -> Arc<Object> {
        let mut a = Attributes::new();
        a.set_ulong(CKA_CLASS, class);
        a.set_bytes(CKA_LABEL, label.to_vec());
        a.set_bytes(CKA_UNIQUE_ID, format!("uid{h}").into_bytes());
        Arc::new(Object::new(h, 0, Lifetime::Token, a))
    }

    fn handles(v: Vec<Arc<Object>>) -> Vec<CK_OBJECT_HANDLE> {
        let mut h: Vec<_> = v.iter().map(|o| o.handle).collect();
        h.sort_unstable();
        h
    }

    #[test]
    fn indexes_follow_inserts_replacements_and_removals() {
        let mut t = ObjectTable::default();
        t.insert(object(1, b"a", CKO_DATA));
        t.insert(object(2, b"a", CKO_SECRET_KEY));
        t.insert(object(3, b"b", CKO_SECRET_KEY));
        let mut by_label = Attributes::new();
        by_label.set_bytes(CKA_LABEL, b"a".to_vec());
        assert_eq!(handles(t.candidates(&by_label)), vec![1, 2]);
        let mut by_class = Attributes::new();
        by_class.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
        assert_eq!(handles(t.candidates(&by_class)), vec![2, 3]);
        // Relabel 2 from "a" to "c".
        t.insert(object(2, b"c", CKO_SECRET_KEY));
        assert_eq!(handles(t.candidates(&by_label)), vec![1]);
        t.remove(1);
        assert!(t.candidates(&by_label).is_empty());
        assert_eq!(t.handle_of(b"uid3"), Some(3));
        // The same token object under a new handle replaces the old one.
        let mut a = object(3, b"b", CKO_SECRET_KEY).attrs.clone();
        a.set_bytes(CKA_UNIQUE_ID, b"uid3".to_vec());
        t.insert(Arc::new(Object::new(9, 0, Lifetime::Token, a)));
        assert!(t.get(3).is_none());
        assert_eq!(t.handle_of(b"uid3"), Some(9));
        assert_eq!(handles(t.candidates(&Attributes::new())), vec![2, 9]);
    }
}
