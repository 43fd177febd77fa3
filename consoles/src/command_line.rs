//! The command-line grammar the Luna consoles share (LunaCM and LunaSH): a
//! line is split into words at spaces (double quotes keep spaces in one word), the first one
//! or two words name the command from a table of groups, and the rest are `-option value`
//! pairs. Command words and option names are case-insensitive and may be abbreviated to any
//! unambiguous prefix; values keep their case. Every bad input is a [`SyntaxError`]
//! sentence. Also the [`Prompts`] a console asks its missing passwords and its proceed
//! answers through.
use std::fmt;

/// Where a command's missing passwords and its proceed answers come from.
pub trait Prompts {
    /// A password asked without echo; `None` when there is no one to ask.
    fn secret(&mut self, question: &str) -> Option<String>;
    /// The answer to `question` (the proceed prompt, printed by the implementation); `None`
    /// at the end of the input.
    fn answer(&mut self, question: &str) -> Option<String>;
}

/// A console's command table: each group's name and its commands (none: the group word is
/// the command, as `help`).
pub type Groups = [(&'static str, &'static [&'static str])];

/// The command a line names: its group, its command (`""` for a group without commands) and
/// the words after them.
pub type Named<'a> = (&'static str, &'static str, &'a [String]);

/// Why a line is not a command, as a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(pub String);

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn syntax(message: impl Into<String>) -> SyntaxError {
    SyntaxError(message.into())
}

/// Splits a line into words: spaces separate, double quotes group (and are removed).
pub fn words(line: &str) -> Result<Vec<String>, SyntaxError> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err(syntax("a double quote is not closed"));
    }
    if in_word {
        out.push(current);
    }
    Ok(out)
}

/// The one name of `names` that `typed` abbreviates (case-insensitive); an exact match wins.
pub fn resolve<'a>(typed: &str, names: &[&'a str], what: &str) -> Result<&'a str, SyntaxError> {
    let typed_lower = typed.to_ascii_lowercase();
    if let Some(exact) = names.iter().find(|n| **n == typed_lower) {
        return Ok(exact);
    }
    let matches: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !typed_lower.is_empty() && n.starts_with(&typed_lower))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(syntax(format!(
            "{typed:?}: unknown {what}; {what}s: {}",
            names.join(", ")
        ))),
        many => Err(syntax(format!(
            "{typed:?} is ambiguous: it could be {}",
            many.join(" or ")
        ))),
    }
}

/// The options given, by full name, with their values.
pub struct Given {
    options: Vec<(&'static str, String)>,
}

impl Given {
    /// The options in `words`: names abbreviated from `known`; `flags` take no value; a value
    /// of an option in `multi_word` may run over several words (joined with spaces).
    pub fn parse(
        words: &[String],
        known: &'static [&'static str],
        flags: &[&str],
        multi_word: &[&str],
    ) -> Result<Given, SyntaxError> {
        let mut options: Vec<(&'static str, String)> = Vec::new();
        let mut current: Option<(&'static str, Vec<String>)> = None;
        let finish = |current: Option<(&'static str, Vec<String>)>,
                      options: &mut Vec<(&'static str, String)>|
         -> Result<(), SyntaxError> {
            if let Some((name, values)) = current {
                if flags.contains(&name) {
                    if !values.is_empty() {
                        return Err(syntax(format!(
                            "-{name} takes no value (found {:?})",
                            values.join(" ")
                        )));
                    }
                } else if values.is_empty() {
                    return Err(syntax(format!("-{name} needs a value")));
                } else if values.len() > 1 && !multi_word.contains(&name) {
                    return Err(syntax(format!(
                        "-{name} takes one value, found {:?} (quote a value with spaces)",
                        values.join(" ")
                    )));
                }
                if options.iter().any(|(n, _)| *n == name) {
                    return Err(syntax(format!("-{name} is given twice")));
                }
                options.push((name, values.join(" ")));
            }
            Ok(())
        };
        for word in words {
            let is_option = word.len() > 1
                && word.starts_with('-')
                && word[1..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic());
            if is_option {
                let name = resolve(&word[1..], known, "option").map_err(|e| {
                    if known.is_empty() {
                        syntax(format!("this command takes no options (found {word:?})"))
                    } else {
                        e
                    }
                })?;
                finish(current.take(), &mut options)?;
                current = Some((name, Vec::new()));
            } else {
                match current.as_mut() {
                    Some((_, values)) => values.push(word.clone()),
                    None => {
                        return Err(syntax(format!(
                            "{word:?} is not an option (options start with a dash)"
                        )));
                    }
                }
            }
        }
        finish(current, &mut options)?;
        Ok(Given { options })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn required(&self, name: &str) -> Result<&str, SyntaxError> {
        self.get(name)
            .ok_or_else(|| syntax(format!("-{name} is required")))
    }
}

pub fn number(option: &str, text: &str) -> Result<u64, SyntaxError> {
    text.trim()
        .parse()
        .map_err(|_| syntax(format!("-{option} {text:?}: a number is expected")))
}

pub fn numbers(option: &str, text: &str) -> Result<Vec<u64>, SyntaxError> {
    text.split(',')
        .map(|n| number(option, n))
        .collect::<Result<_, _>>()
}

/// The group and command the first words of `words` name in `groups` (`None` for no words).
pub fn command_of<'a>(
    words: &'a [String],
    groups: &'static Groups,
) -> Result<Option<Named<'a>>, SyntaxError> {
    let Some(first) = words.first() else {
        return Ok(None);
    };
    let group_names: Vec<&str> = groups.iter().map(|(g, _)| *g).collect();
    let group = resolve(first, &group_names, "command")?;
    let commands = groups
        .iter()
        .find(|(g, _)| *g == group)
        .map(|(_, c)| *c)
        .unwrap_or_default();
    if commands.is_empty() {
        return Ok(Some((group, "", &words[1..])));
    }
    let Some(second) = words.get(1) else {
        return Err(syntax(format!(
            "`{group}` needs a command: {}",
            commands.join(", ")
        )));
    };
    let command = resolve(second, commands, &format!("`{group}` command"))?;
    Ok(Some((group, command, &words[2..])))
}

/// `help`: each command's syntax and what it does.
pub fn help_text(commands: &[(&str, &str)]) -> String {
    let mut out =
        String::from("\nCommands (options may be abbreviated; case does not matter):\n\n");
    for (syntax, what) in commands {
        out.push_str(&format!("  {syntax}\n      {what}\n"));
    }
    out
}
