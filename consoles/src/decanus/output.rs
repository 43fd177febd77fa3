//! What the Decanus terminal shows (simulator-defined layouts: the vendor documents name the
//! menus and messages, not the screens): a menu screen (its path, then its items numbered,
//! `0  BACK` below the top), the answer of an operation, and a refusal `ERROR: <sentence>
//! (<CKR_NAME>)`, or `ERROR: <sentence>` for a line the terminal cannot take.
use crate::backend::outcome::rv_name;
use cryptoki_sys::CK_RV;

use super::menu::{Item, Kind, Mode};

/// How a line ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Done,
    /// The device (or the terminal, for a card or drive that is not there) refused.
    Refused(CK_RV),
    /// The line could not run: not a path, a command or a number of the screen; a value
    /// nobody could give.
    Usage,
}

/// What one line showed and how it ended; `exit` ends the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub status: Status,
    pub exit: bool,
}

impl Reply {
    pub fn done(text: String) -> Reply {
        Reply {
            text,
            status: Status::Done,
            exit: false,
        }
    }

    pub fn refused(rv: CK_RV, detail: &str) -> Reply {
        Reply {
            text: format!("ERROR: {detail} ({})\n", rv_name(rv)),
            status: Status::Refused(rv),
            exit: false,
        }
    }

    pub fn usage(detail: &str) -> Reply {
        Reply {
            text: format!("ERROR: {detail}\n"),
            status: Status::Usage,
            exit: false,
        }
    }
}

/// A menu screen: where it is, then its items.
pub fn screen(mode: Mode, path: &[&str], items: &[Item]) -> String {
    let title = if path.is_empty() {
        "MAIN MENU".to_string()
    } else {
        path.join(" > ")
    };
    let mut out = format!("[{}] {title}\n", mode.title());
    for (n, item) in items.iter().enumerate() {
        let mark = match item.kind {
            Kind::Menu(_) => " >",
            _ => "",
        };
        out.push_str(&format!("  {:>2}  {}{mark}\n", n + 1, item.name));
    }
    if !path.is_empty() {
        out.push_str("   0  BACK\n");
    }
    out
}

/// A release as the terminal shows it (`Rel. v2.1.3`).
pub fn release((a, b, c): (u8, u8, u8)) -> String {
    format!("Rel. v{a}.{b}.{c}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decanus::menu::{self, Mode};

    #[test]
    fn screens_number_their_items_and_refusals_name_the_code() {
        let items = menu::menu_at(Mode::DeviceAdministration, &["BACKUP"]).unwrap();
        assert_eq!(
            screen(Mode::DeviceAdministration, &["BACKUP"], items),
            "[Device Administration] BACKUP\n   1  PARTITION BACKUP >\n   2  DEVICE BACKUP\n   0  BACK\n"
        );
        let top = screen(
            Mode::PartitionAdministration,
            &[],
            Mode::PartitionAdministration.root(),
        );
        assert!(top.starts_with("[Partition Administration] MAIN MENU\n   1  ONBOARD\n"));
        assert!(!top.contains("BACK\n"));
        assert_eq!(
            Reply::refused(cryptoki_sys::CKR_PIN_INVALID, "the PINs differ").text,
            "ERROR: the PINs differ (CKR_PIN_INVALID)\n"
        );
        assert_eq!(release((2, 1, 3)), "Rel. v2.1.3");
    }
}
