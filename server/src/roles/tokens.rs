//! The token set: the `--auth-token` (an admin named [`ADMIN_TOKEN_NAME`]) and the
//! `[[token]]` entries of the `--auth-file`:
//!
//! ```toml
//! [[token]]
//! name = "analyst"
//! token = "a long random string"
//! role = "read"        # read | write | admin
//! ```
//!
//! Names and tokens are unique; a presented token is compared with every entry in
//! constant time (`subtle`), so timing tells neither which entry nor how much of it
//! matched.

use std::path::Path;
use std::sync::Arc;

use subtle::{ConditionallySelectable, ConstantTimeEq};
use toml_edit::{DocumentMut, Item, Table};

use super::{Caller, Role};

/// The name of the `--auth-token`'s caller (role admin).
pub const ADMIN_TOKEN_NAME: &str = "admin";

struct Entry {
    name: Arc<str>,
    token: Box<[u8]>,
    role: Role,
}

/// The tokens the server accepts.
pub struct TokenSet {
    entries: Vec<Entry>,
}

impl TokenSet {
    /// The `--auth-token` (if any) and the entries of `file`'s text (if any). Errors
    /// name the file, the entry and what is wrong with it.
    pub fn build(
        admin_token: Option<&str>,
        file: Option<(&Path, &str)>,
    ) -> Result<TokenSet, String> {
        let mut entries = Vec::new();
        if let Some(t) = admin_token {
            entries.push(Entry {
                name: Arc::from(ADMIN_TOKEN_NAME),
                token: t.as_bytes().into(),
                role: Role::Admin,
            });
        }
        if let Some((path, text)) = file {
            let at = |e: String| format!("auth file {}: {e}", path.display());
            for entry in parse_entries(text).map_err(at)? {
                check_unique(&entries, &entry).map_err(at)?;
                entries.push(entry);
            }
        }
        Ok(TokenSet { entries })
    }

    /// The caller `given` names, if it is one of the tokens.
    pub fn lookup(&self, given: &[u8]) -> Option<Caller> {
        let mut found = u32::MAX;
        // No early exit: every entry is compared, whichever matches.
        for (k, e) in self.entries.iter().enumerate() {
            found.conditional_assign(&(k as u32), e.token.as_ref().ct_eq(given));
        }
        self.entries.get(found as usize).map(|e| Caller {
            name: e.name.clone(),
            role: e.role,
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

fn check_unique(before: &[Entry], e: &Entry) -> Result<(), String> {
    for b in before {
        let by_flag = &*b.name == ADMIN_TOKEN_NAME && b.role == Role::Admin;
        if b.name == e.name {
            return Err(if by_flag {
                format!("name '{}' is taken by --auth-token", e.name)
            } else {
                format!("name '{}' appears twice", e.name)
            });
        }
        if bool::from(b.token.as_ref().ct_eq(&e.token)) {
            return Err(format!(
                "tokens '{}' and '{}' are the same token",
                b.name, e.name
            ));
        }
    }
    Ok(())
}

fn parse_entries(text: &str) -> Result<Vec<Entry>, String> {
    let doc: DocumentMut = text.parse().map_err(|e| format!("not TOML: {e}"))?;
    for (key, _) in doc.iter() {
        if key != "token" {
            return Err(format!("unknown key '{key}' (expected [[token]] entries)"));
        }
    }
    let Some(item) = doc.get("token") else {
        return Ok(Vec::new());
    };
    let tables = item
        .as_array_of_tables()
        .ok_or("'token' must be [[token]] entries")?;
    tables
        .iter()
        .enumerate()
        .map(|(k, t)| entry(t).map_err(|e| format!("[[token]] #{}: {e}", k + 1)))
        .collect()
}

fn entry(t: &Table) -> Result<Entry, String> {
    for (key, _) in t.iter() {
        if !["name", "token", "role"].contains(&key) {
            return Err(format!("unknown key '{key}' (expected name, token, role)"));
        }
    }
    let text = |key: &str| -> Result<&str, String> {
        match t.get(key) {
            None | Some(Item::None) => Err(format!("'{key}' is missing")),
            Some(i) => match i.as_str() {
                Some("") => Err(format!("'{key}' is empty")),
                Some(s) => Ok(s),
                None => Err(format!("'{key}' must be a string")),
            },
        }
    };
    let name = text("name")?;
    let role = text("role").map_err(|e| format!("entry '{name}': {e}"))?;
    let role = Role::parse(role)
        .ok_or_else(|| format!("entry '{name}': role '{role}' is not one of read, write, admin"))?;
    let token = text("token").map_err(|e| format!("entry '{name}': {e}"))?;
    Ok(Entry {
        name: Arc::from(name),
        token: token.as_bytes().into(),
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[token]]
name = "analyst"
token = "read-secret"
role = "read"

[[token]]
name = "loader"
token = "write-secret"
role = "write"
"#;

    fn build(admin: Option<&str>, text: &str) -> Result<TokenSet, String> {
        TokenSet::build(admin, Some((Path::new("/etc/arrayq/tokens.toml"), text)))
    }

    fn who(set: &TokenSet, token: &str) -> Option<(String, Role)> {
        set.lookup(token.as_bytes())
            .map(|c| (c.name.to_string(), c.role))
    }

    #[test]
    fn looks_up_file_entries_and_the_flag_token() {
        let set = build(Some("root-secret"), FILE).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(
            who(&set, "read-secret"),
            Some(("analyst".into(), Role::Read))
        );
        assert_eq!(
            who(&set, "write-secret"),
            Some(("loader".into(), Role::Write))
        );
        assert_eq!(
            who(&set, "root-secret"),
            Some(("admin".into(), Role::Admin))
        );
        assert_eq!(who(&set, "read-secre"), None);
        assert_eq!(who(&set, ""), None);
    }

    #[test]
    fn bad_files_are_refused_naming_the_problem() {
        let dup_name =
            format!("{FILE}\n[[token]]\nname = \"analyst\"\ntoken = \"x\"\nrole = \"read\"\n");
        let dup_token = format!(
            "{FILE}\n[[token]]\nname = \"other\"\ntoken = \"read-secret\"\nrole = \"admin\"\n"
        );
        let admin_name = "[[token]]\nname = \"admin\"\ntoken = \"x\"\nrole = \"read\"\n";
        let bad_role = "[[token]]\nname = \"ops\"\ntoken = \"x\"\nrole = \"root\"\n";
        let no_token = "[[token]]\nname = \"ops\"\nrole = \"read\"\n";
        let cases = [
            (dup_name.as_str(), "name 'analyst' appears twice"),
            (
                dup_token.as_str(),
                "tokens 'analyst' and 'other' are the same token",
            ),
            (admin_name, "name 'admin' is taken by --auth-token"),
            (
                bad_role,
                "[[token]] #1: entry 'ops': role 'root' is not one of read, write, admin",
            ),
            (no_token, "[[token]] #1: entry 'ops': 'token' is missing"),
            (
                "[token]\nname = \"a\"\n",
                "'token' must be [[token]] entries",
            ),
            (
                "[[tokens]]\n",
                "unknown key 'tokens' (expected [[token]] entries)",
            ),
        ];
        for (text, problem) in cases {
            let e = build(Some("root-secret"), text).err().unwrap();
            assert_eq!(e, format!("auth file /etc/arrayq/tokens.toml: {problem}"));
        }
        let e = build(None, "[[token]\n").err().unwrap();
        assert!(
            e.starts_with("auth file /etc/arrayq/tokens.toml: not TOML: "),
            "{e}"
        );
    }
}
