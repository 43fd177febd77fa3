//! CCC's service templates (seed 004, Managing Service Templates): added, copied, viewed,
//! edited and deleted. A template's capabilities are checked against a device when a service
//! is created from it (`models::ccc::check_capabilities`); here its name and partition size.
use super::*;
use crate::lab::ccc::CccTemplate;
use crate::models::ccc;

/// The templates, in the order they were added.
pub fn ccc_templates(selection: &LabSelection) -> Result<Vec<CccTemplate>> {
    Ok(ccc_state(selection)?.ccc.templates)
}

/// The template named `name` (View).
pub fn ccc_template(selection: &LabSelection, name: &str) -> Result<CccTemplate> {
    let state = ccc_state(selection)?;
    Ok(state.ccc.templates[template_at(&state, name)?].clone())
}

/// Adds `template`. Refused when its name is empty or taken (simulator-defined) or its
/// partition size is outside 1000 to 99999999 bytes (documented (seed 004)).
pub fn add_ccc_template(selection: &LabSelection, template: CccTemplate) -> Result<()> {
    check_template(&template)?;
    update_ccc(selection, |state| {
        if state.ccc.templates.iter().any(|t| t.name == template.name) {
            return Err(refused(format!(
                "CCC template \"{}\" exists",
                template.name
            )));
        }
        state.ccc.templates.push(template);
        Ok(())
    })
}

/// Copies template `from` as `name` (Copy Template), refused as `add_ccc_template` refuses.
pub fn copy_ccc_template(selection: &LabSelection, from: &str, name: &str) -> Result<()> {
    update_ccc(selection, |state| {
        let mut copy = state.ccc.templates[template_at(state, from)?].clone();
        copy.name = name.into();
        check_template(&copy)?;
        if state.ccc.templates.iter().any(|t| t.name == name) {
            return Err(refused(format!("CCC template \"{name}\" exists")));
        }
        state.ccc.templates.push(copy);
        Ok(())
    })
}

/// Replaces the template named `template.name` (Edit), checked as `add_ccc_template` checks.
/// Services created from it keep their partitions (simulator-defined: a template is read
/// when a service is created).
pub fn edit_ccc_template(selection: &LabSelection, template: CccTemplate) -> Result<()> {
    check_template(&template)?;
    update_ccc(selection, |state| {
        let at = template_at(state, &template.name)?;
        state.ccc.templates[at] = template;
        Ok(())
    })
}

/// Deletes a template ("You can delete a service template at any time", documented (seed
/// 004)): its services keep its name.
pub fn delete_ccc_template(selection: &LabSelection, name: &str) -> Result<()> {
    update_ccc(selection, |state| {
        let at = template_at(state, name)?;
        state.ccc.templates.remove(at);
        Ok(())
    })
}

fn check_template(template: &CccTemplate) -> Result<()> {
    if template.name.is_empty() {
        return Err(refused("a template name is not empty"));
    }
    ccc::check_partition_size(&template.name, template.partition_size).map_err(refused)
}

/// Where template `name` is; `CKR_ARGUMENTS_BAD` naming the templates otherwise.
pub(super) fn template_at(state: &CccState, name: &str) -> Result<usize> {
    named_at(&state.ccc.templates, |x| &x.name, "template", name)
}

/// The template's capabilities, as the model's rules take them.
pub(super) fn capabilities(template: &CccTemplate) -> ccc::Capabilities {
    ccc::Capabilities {
        authentication: template.authentication,
        per_partition_so: template.per_partition_so,
        scalable_key_storage: template.scalable_key_storage,
        secure_trusted_channel: template.secure_trusted_channel,
    }
}
