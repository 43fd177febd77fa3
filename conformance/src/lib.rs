//! hsmsim-conformance: the procedure catalogue and its runner. The procedures themselves arrive
//! with the conformance issue; today this crate only names the mechanisms of the module under
//! test, which the runner will use for capability discovery.

/// The `CKM_*` names the simulator implements, in registry order.
pub fn simulator_mechanism_names() -> Vec<&'static str> {
    hsmsim::mechanisms::MECHANISMS
        .iter()
        .map(|m| m.name)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_the_core_mechanisms() {
        let names = super::simulator_mechanism_names();
        assert!(names.contains(&"CKM_RSA_PKCS"));
        assert!(names.contains(&"CKM_AES_KEY_WRAP_KWP"));
    }
}
