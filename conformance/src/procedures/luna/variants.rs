//! The Luna guide's variant matrix (seed 003): source firmware {5.x pre-PPSO, 6.21.2 pre-PPSO,
//! 6.22.0 PPSO} x authentication {password, PED} x destination era {7.0-7.4 (7.4.2), 7.7+
//! (7.7.1, a V0 partition)}, as variant ids `<source>-<auth>-<destination>` (`6.21.2-ped-7.7`).
//! The firmware era decides the source's login command; the authentication which credentials
//! the steps type (a PED partition takes keys, not passwords).

/// The source partition's firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// 5.x, pre-PPSO.
    Luna5,
    /// 6.21.2, the last pre-PPSO firmware.
    PrePpso6,
    /// 6.22.0, PPSO.
    Ppso6,
    /// 7.7.1: a V0 source, only in negative cases (the guide's sources are 5.x/6.x).
    Luna77,
}

impl Source {
    pub fn firmware(self) -> &'static str {
        match self {
            Source::Luna5 => "5.x",
            Source::PrePpso6 => "6.21.2",
            Source::Ppso6 => "6.22.0",
            Source::Luna77 => "7.7.1",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Source::Luna5 => "5.x",
            Source::PrePpso6 => "6.21.2",
            Source::Ppso6 => "6.22.0",
            Source::Luna77 => "7.7.1",
        }
    }

    /// The owner logs in with `partition login` (pre-PPSO), else `role login -name Crypto
    /// Officer` (PPSO 6.x; 7.x takes `co` too).
    pub fn login_command(self) -> &'static str {
        match self {
            Source::Luna5 | Source::PrePpso6 => "partition login",
            Source::Ppso6 => "role login -name Crypto Officer",
            Source::Luna77 => "role login -name co",
        }
    }
}

/// One variant of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LunaVariant {
    pub source: Source,
    pub ped: bool,
    /// The destination is 7.7+ (7.7.1) rather than 7.0-7.4 (7.4.2).
    pub target_77: bool,
}

impl LunaVariant {
    /// The variant negative cases and the as-printed variant use unless they need another:
    /// 6.21.2, password, 7.4.2.
    pub const BASE: LunaVariant = LunaVariant {
        source: Source::PrePpso6,
        ped: false,
        target_77: false,
    };

    pub fn id(&self) -> String {
        format!(
            "{}-{}-{}",
            self.source.id(),
            if self.ped { "ped" } else { "password" },
            if self.target_77 { "7.7" } else { "7.4" }
        )
    }

    pub fn describe(&self) -> String {
        let source = match self.source {
            Source::Luna5 => "source 5.x (pre-PPSO, `partition login`)",
            Source::PrePpso6 => "source 6.21.2 (pre-PPSO, `partition login`)",
            Source::Ppso6 => "source 6.22.0 (PPSO, `role login -name Crypto Officer`)",
            Source::Luna77 => "source 7.7.1 (V0)",
        };
        format!(
            "{source}, {} authentication on every HSM, destination {}",
            if self.ped {
                "PED (blue, black and red keys)"
            } else {
                "password"
            },
            if self.target_77 {
                "7.7.1 (7.7+ era, V0 partition)"
            } else {
                "7.4.2 (7.0-7.4 era)"
            }
        )
    }

    pub fn target_firmware(&self) -> &'static str {
        if self.target_77 { "7.7.1" } else { "7.4.2" }
    }

    /// The variant an id names.
    pub fn parse(id: &str) -> Option<LunaVariant> {
        matrix().into_iter().find(|v| v.id() == id)
    }
}

/// The matrix, in catalogue order.
pub fn matrix() -> Vec<LunaVariant> {
    let mut all = Vec::new();
    for source in [Source::Luna5, Source::PrePpso6, Source::Ppso6] {
        for ped in [false, true] {
            for target_77 in [false, true] {
                all.push(LunaVariant {
                    source,
                    ped,
                    target_77,
                });
            }
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_has_twelve_variants_each_named_once() {
        let all = matrix();
        assert_eq!(all.len(), 12);
        for v in &all {
            assert_eq!(LunaVariant::parse(&v.id()), Some(*v));
        }
        assert_eq!(
            LunaVariant::parse("6.22.0-ped-7.7").map(|v| v.source.login_command()),
            Some("role login -name Crypto Officer")
        );
        assert_eq!(LunaVariant::parse("6.22.0-ped-7.8"), None);
    }
}
