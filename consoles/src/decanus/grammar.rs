//! A Decanus terminal line as the terminal takes it: a menu path written as the seed writes
//! it (items separated by `>`, conventionally ` > `; each item trimmed; an item in typographic
//! “” or plain "" quotes has them removed and counts as quoted, which makes it a value where no
//! item of that name is expected), a number choosing an item of the current screen (`0`: back),
//! or one of the terminal's own commands (simulator-defined, lower-case, words split as the
//! Luna consoles split them: `card insert NAME --slot 1|2`, `card remove --slot 1|2`, `usb
//! insert DIR`, `usb remove`, `status`, `help`, `exit`). Lines starting with `#` are comments.
use crate::command_line::{SyntaxError, syntax, words};
use std::path::PathBuf;

/// One item of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    /// Written in quotes: a value unless an item of that name is expected.
    pub quoted: bool,
}

/// A card slot of the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    One,
    Two,
}

impl Slot {
    pub fn index(self) -> usize {
        match self {
            Slot::One => 0,
            Slot::Two => 1,
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Slot::One => 1,
            Slot::Two => 2,
        }
    }
}

/// The terminal's own commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalCommand {
    CardInsert { card: String, slot: Slot },
    CardRemove { slot: Slot },
    UsbInsert(PathBuf),
    UsbRemove,
    Status,
    Help,
    Exit,
}

/// What a line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// An empty line or a comment.
    Nothing,
    Command(TerminalCommand),
    /// A number: the item of the current screen (`0`: back to the screen above).
    Choose(usize),
    Path(Vec<Segment>),
}

const OPENING: [char; 2] = ['"', '\u{201C}'];

/// The quote that closes `open`.
fn closing(open: char) -> [char; 2] {
    if open == '"' {
        ['"', '"']
    } else {
        // “...” (and a plain " typed to close it).
        ['\u{201D}', '"']
    }
}

/// Splits a path at `>` outside quotes; each item trimmed, its quotes removed.
pub fn path(line: &str) -> Result<Vec<Segment>, SyntaxError> {
    let mut out = Vec::new();
    let mut raw = String::new();
    let mut open: Option<char> = None;
    for c in line.chars() {
        match open {
            Some(o) if closing(o).contains(&c) => {
                open = None;
                raw.push(c);
            }
            Some(_) => raw.push(c),
            None if c == '>' => out.push(segment(&std::mem::take(&mut raw))?),
            None => {
                if OPENING.contains(&c) {
                    open = Some(c);
                }
                raw.push(c);
            }
        }
    }
    if open.is_some() {
        return Err(syntax("a quote is not closed"));
    }
    out.push(segment(&raw)?);
    Ok(out)
}

fn segment(raw: &str) -> Result<Segment, SyntaxError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(syntax(
            "an item of the path is empty (items are separated by \" > \")",
        ));
    }
    let mut chars = text.chars();
    let first = chars.next().unwrap_or_default();
    let last = text.chars().next_back().unwrap_or_default();
    if OPENING.contains(&first) {
        let inner = &text[first.len_utf8()..];
        if inner.is_empty() || !closing(first).contains(&last) {
            return Err(syntax(format!(
                "{text}: write a quoted item as one value in quotes, e.g. \"ACME-PKI\""
            )));
        }
        let inner = &inner[..inner.len() - last.len_utf8()];
        if inner
            .chars()
            .any(|c| OPENING.contains(&c) || closing('\u{201C}').contains(&c))
        {
            return Err(syntax(format!(
                "{text}: a quoted item holds one value (a \" > \" separates items)"
            )));
        }
        return Ok(Segment {
            text: inner.to_string(),
            quoted: true,
        });
    }
    Ok(Segment {
        text: text.to_string(),
        quoted: false,
    })
}

fn slot(words: &[String]) -> Result<Slot, SyntaxError> {
    match words {
        [flag, n] if flag == "--slot" => match n.as_str() {
            "1" => Ok(Slot::One),
            "2" => Ok(Slot::Two),
            _ => Err(syntax(format!(
                "--slot {n}: the terminal has card slots 1 and 2"
            ))),
        },
        _ => Err(syntax("give the slot: --slot 1 or --slot 2")),
    }
}

/// The terminal command `words` name (lower-case words only: a menu item in capitals is
/// never one), `None` when the first word is none of them.
fn command(words: &[String]) -> Result<Option<TerminalCommand>, SyntaxError> {
    let rest = |n: usize| &words[n.min(words.len())..];
    let none = |name: &str, extra: &[String]| {
        if extra.is_empty() {
            Ok(())
        } else {
            Err(syntax(format!(
                "`{name}` takes nothing more (found {:?})",
                extra.join(" ")
            )))
        }
    };
    let Some(first) = words.first() else {
        return Ok(None);
    };
    Ok(Some(match first.as_str() {
        "card" => match words.get(1).map(String::as_str) {
            Some("insert") => {
                let [card, more @ ..] = rest(2) else {
                    return Err(syntax("card insert NAME --slot 1|2: give the card's name"));
                };
                TerminalCommand::CardInsert {
                    card: card.clone(),
                    slot: slot(more)?,
                }
            }
            Some("remove") => TerminalCommand::CardRemove {
                slot: slot(rest(2))?,
            },
            _ => {
                return Err(syntax(
                    "`card` needs `insert NAME --slot 1|2` or `remove --slot 1|2`",
                ));
            }
        },
        "usb" => match words.get(1).map(String::as_str) {
            Some("insert") => match rest(2) {
                [dir] => TerminalCommand::UsbInsert(PathBuf::from(dir)),
                _ => return Err(syntax("usb insert DIR: give one directory (the drive)")),
            },
            Some("remove") => {
                none("usb remove", rest(2))?;
                TerminalCommand::UsbRemove
            }
            _ => return Err(syntax("`usb` needs `insert DIR` or `remove`")),
        },
        "status" => {
            none("status", rest(1))?;
            TerminalCommand::Status
        }
        "help" => {
            none("help", rest(1))?;
            TerminalCommand::Help
        }
        "exit" => {
            none("exit", rest(1))?;
            TerminalCommand::Exit
        }
        _ => return Ok(None),
    }))
}

/// Parses one line.
pub fn parse(line: &str) -> Result<Line, SyntaxError> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(Line::Nothing);
    }
    if let Ok(n) = trimmed.parse::<usize>() {
        return Ok(Line::Choose(n));
    }
    if !trimmed.contains('>')
        && let Ok(w) = words(trimmed)
        && let Some(command) = command(&w)?
    {
        return Ok(Line::Command(command));
    }
    path(trimmed).map(Line::Path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<(String, bool)> {
        match parse(line).unwrap() {
            Line::Path(p) => p.into_iter().map(|s| (s.text, s.quoted)).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn paths_split_at_the_arrow_and_quotes_mark_values() {
        assert_eq!(
            texts("SETUP > CONFIGURATION > SECURITY > USER > “Management access” > enabled"),
            [
                ("SETUP".into(), false),
                ("CONFIGURATION".into(), false),
                ("SECURITY".into(), false),
                ("USER".into(), false),
                ("Management access".into(), true),
                ("enabled".into(), false),
            ]
        );
        assert_eq!(
            texts("ROLES > USER > MGMT Password > \"ACME-PKI\""),
            [
                ("ROLES".into(), false),
                ("USER".into(), false),
                ("MGMT Password".into(), false),
                ("ACME-PKI".into(), true),
            ]
        );
        // A quoted value may hold the separator, and spaces around it do not matter.
        assert_eq!(
            texts("ONBOARD>\"a > b\" >  “2300”"),
            [
                ("ONBOARD".into(), false),
                ("a > b".into(), true),
                ("2300".into(), true),
            ]
        );
        // Single items and names with dots.
        assert_eq!(texts("LOGIN"), [("LOGIN".into(), false)]);
        assert_eq!(
            texts("SYSTEM > DIAG. DEVICE > LICENSE")[1],
            ("DIAG. DEVICE".into(), false)
        );
    }

    #[test]
    fn bad_paths_are_sentences() {
        for (line, why) in [
            ("BACKUP > > CREATE", "is empty"),
            ("BACKUP >", "is empty"),
            ("USER > \"ACME", "not closed"),
            ("USER > “ACME", "not closed"),
            ("USER > \"A\" B", "one value in quotes"),
        ] {
            let e = parse(line).unwrap_err();
            assert!(e.0.contains(why), "{line}: {e}");
        }
    }

    #[test]
    fn terminal_commands_numbers_and_comments() {
        assert_eq!(parse("  ").unwrap(), Line::Nothing);
        assert_eq!(parse("# a comment > x").unwrap(), Line::Nothing);
        assert_eq!(parse("3").unwrap(), Line::Choose(3));
        assert_eq!(parse("0").unwrap(), Line::Choose(0));
        assert_eq!(
            parse("card insert so-1 --slot 2").unwrap(),
            Line::Command(TerminalCommand::CardInsert {
                card: "so-1".into(),
                slot: Slot::Two
            })
        );
        assert_eq!(
            parse("card remove --slot 1").unwrap(),
            Line::Command(TerminalCommand::CardRemove { slot: Slot::One })
        );
        assert_eq!(
            parse("usb insert \"/tmp/my usb\"").unwrap(),
            Line::Command(TerminalCommand::UsbInsert("/tmp/my usb".into()))
        );
        for (line, command) in [
            ("usb remove", TerminalCommand::UsbRemove),
            ("status", TerminalCommand::Status),
            ("help", TerminalCommand::Help),
            ("exit", TerminalCommand::Exit),
        ] {
            assert_eq!(parse(line).unwrap(), Line::Command(command));
        }
        // Capitals are menu items, not commands.
        assert_eq!(texts("STATUS"), [("STATUS".into(), false)]);
        for (line, why) in [
            ("card insert so-1", "--slot 1 or --slot 2"),
            ("card insert so-1 --slot 3", "slots 1 and 2"),
            ("card insert", "the card's name"),
            ("card eject --slot 1", "`card` needs"),
            ("usb insert", "one directory"),
            ("status now", "takes nothing more"),
        ] {
            let e = parse(line).unwrap_err();
            assert!(e.0.contains(why), "{line}: {e}");
        }
    }
}
