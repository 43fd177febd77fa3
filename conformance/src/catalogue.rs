//! The procedure catalogue: every documented procedure the suite replays, as data
//! (`procedures/*.toml`, built in): its id, source, tags, parties, preconditions, documented
//! steps (the vendor's command as written in the seed and the PKCS#11 calls that carry it
//! out), expected outcome, variant matrix and negative cases.
use crate::target::Role;
use serde::Deserialize;

/// The catalogue files, built into the program.
const SOURCES: &[(&str, &str)] = &[
    (
        "procedures/primus.toml",
        include_str!("../procedures/primus.toml"),
    ),
    (
        "procedures/luna.toml",
        include_str!("../procedures/luna.toml"),
    ),
    (
        "procedures/ccc.toml",
        include_str!("../procedures/ccc.toml"),
    ),
    (
        "procedures/oasis.toml",
        include_str!("../procedures/oasis.toml"),
    ),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    procedure: Vec<Procedure>,
}

/// One documented procedure.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Procedure {
    pub id: String,
    pub title: String,
    pub source: String,
    pub tags: Vec<String>,
    pub parties: Vec<Role>,
    pub preconditions: Vec<String>,
    pub outcome: Vec<String>,
    pub variants: Vec<Variant>,
    /// A variant matrix the procedure also runs in (`luna`: the Luna guide's source firmware x
    /// authentication x destination era), expanded into `variants` after the listed ones.
    #[serde(default)]
    pub matrix: Option<String>,
    /// The built-in lab the procedure's scenarios start from (a copy per scenario).
    #[serde(default)]
    pub lab: Option<String>,
    #[serde(default)]
    pub negatives: Vec<Negative>,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// One documented step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub n: u32,
    pub party: Role,
    pub title: String,
    /// The vendor's command as the seed writes it.
    pub vendor: String,
    /// The PKCS#11 (or `CA_*`) calls that carry it out.
    pub calls: String,
}

/// One entry of the variant matrix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub id: String,
    pub what: String,
}

/// One documented failure case: the step that must refuse, and what must hold afterwards.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Negative {
    pub id: String,
    pub step: u32,
    pub what: String,
    /// The variant whose key type and transport the case uses (default: the first).
    #[serde(default)]
    pub variant: Option<String>,
}

impl Procedure {
    pub fn step(&self, n: u32) -> Option<&Step> {
        self.steps.iter().find(|s| s.n == n)
    }
}

/// Every procedure of the catalogue, in file order.
pub fn procedures() -> Vec<Procedure> {
    SOURCES
        .iter()
        .flat_map(|(name, text)| {
            toml::from_str::<File>(text)
                .unwrap_or_else(|e| panic!("the built-in catalogue {name} does not parse: {e}"))
                .procedure
        })
        .map(|mut p| {
            if let Some(matrix) = &p.matrix {
                p.variants.extend(matrix_variants(matrix));
            }
            p
        })
        .collect()
}

/// The variants of a named matrix.
fn matrix_variants(matrix: &str) -> Vec<Variant> {
    match matrix {
        "luna" => crate::procedures::luna::variants::matrix()
            .into_iter()
            .map(|v| Variant {
                id: v.id(),
                what: v.describe(),
            })
            .collect(),
        other => panic!("the built-in catalogue names an unknown variant matrix {other:?}"),
    }
}

/// The catalogue as Markdown: what `docs/procedures.md` holds (`hsmsim conformance list
/// --format markdown` writes it; a CLI test fails when the committed file is stale).
pub fn markdown() -> String {
    use std::fmt::Write;
    let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
    let mut out = String::from(
        "# The procedures the conformance suite replays\n\n\
         Generated from `conformance/procedures/*.toml` by \
         `hsmsim conformance list --format markdown > docs/procedures.md`; do not edit by hand.\n\
         Each procedure runs once per variant and once per negative case \
         (`hsmsim conformance run --procedure ID --variant VARIANT`).\n",
    );
    for p in procedures() {
        let parties: Vec<String> = p.parties.iter().map(|r| r.to_string()).collect();
        let _ = write!(
            out,
            "\n## `{}`\n\n{}\n\n- Source: {}\n- Tags: {}\n- Parties: {}\n",
            p.id,
            p.title,
            p.source,
            p.tags.join(", "),
            parties.join(", ")
        );
        out.push_str("\n### Preconditions\n\n");
        for c in &p.preconditions {
            let _ = writeln!(out, "- {c}");
        }
        out.push_str("\n### Steps\n\n| # | Party | Step | Vendor command | PKCS#11 calls |\n|---|---|---|---|---|\n");
        for s in &p.steps {
            let party = s.party.to_string();
            let _ = writeln!(
                out,
                "| {} | {party} | {} | `{}` | {} |",
                s.n,
                cell(&s.title),
                cell(&s.vendor),
                cell(&s.calls)
            );
        }
        out.push_str("\n### Expected outcome\n\n");
        for c in &p.outcome {
            let _ = writeln!(out, "- {c}");
        }
        out.push_str("\n### Variants\n\n| Variant | What |\n|---|---|\n");
        for v in &p.variants {
            let _ = writeln!(out, "| `{}` | {} |", v.id, cell(&v.what));
        }
        if !p.negatives.is_empty() {
            out.push_str("\n### Negative cases\n\n| Case | Refused at step | What must hold |\n|---|---|---|\n");
            for n in &p.negatives {
                let _ = writeln!(
                    out,
                    "| `negative:{}` | {} | {} |",
                    n.id,
                    n.step,
                    cell(&n.what)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_and_is_consistent() {
        let all = procedures();
        let ids: Vec<&str> = all.iter().map(|p| p.id.as_str()).collect();
        assert!(ids.contains(&"primus.key-migration.symmetric"), "{ids:?}");
        assert!(ids.contains(&"primus.key-migration.asymmetric"), "{ids:?}");
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "ids are unique");
        for p in &all {
            let numbers: Vec<u32> = p.steps.iter().map(|s| s.n).collect();
            let expected: Vec<u32> = (1..=p.steps.len() as u32).collect();
            assert_eq!(numbers, expected, "{}: steps are numbered 1..n", p.id);
            for n in &p.negatives {
                assert!(
                    p.step(n.step).is_some(),
                    "{}: negative {} names a step",
                    p.id,
                    n.id
                );
                if let Some(v) = &n.variant {
                    assert!(p.variants.iter().any(|x| &x.id == v), "{}: {v}", p.id);
                }
            }
            for s in &p.steps {
                assert!(p.parties.contains(&s.party), "{}: step {} party", p.id, s.n);
            }
            assert!(!p.variants.is_empty(), "{}: has variants", p.id);
        }
    }
}
