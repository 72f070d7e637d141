//! Secrets from the environment: a variable holding the secret, or `<variable>_FILE` naming a
//! file that holds it (systemd credentials: `LoadCredential=serbero-key:/etc/serbero/private.key`
//! with `Environment=SERBERO_PRIVATE_KEY_FILE=%d/serbero-key`). Messages name the variable and
//! the path, never the contents.

use std::path::Path;

use super::error::{invalid, ConfigError};
use super::{env_override, EnvLookup};

/// A secret and the variable it came from (`NAME` or `NAME_FILE`).
pub(super) struct Secret {
    pub value: String,
    pub variable: String,
}

/// The variable naming a file that holds the secret of `variable`.
pub(super) fn file_variable(variable: &str) -> String {
    format!("{variable}_FILE")
}

/// The secret of `variable` (trimmed, blank = unset), from the variable itself or from the file
/// `<variable>_FILE` names (its contents trimmed). `key` is the configuration key errors name.
/// Setting both, or naming a file that cannot be read or is empty, is an error; a file others
/// may read is a warning.
pub(super) fn from_env(
    env: EnvLookup,
    key: &str,
    variable: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Secret>, ConfigError> {
    let file_variable = file_variable(variable);
    let direct = env_override(env, variable);
    let path = env_override(env, &file_variable);
    match (direct, path) {
        (Some(_), Some(_)) => {
            Err(invalid(key, format!("both {variable} and {file_variable} are set; unset one of them")))
        }
        (Some(value), None) => Ok(Some(Secret { value, variable: variable.to_owned() })),
        (None, Some(path)) => {
            let value = read_secret_file(key, &file_variable, Path::new(&path), warnings)?;
            Ok(Some(Secret { value, variable: file_variable }))
        }
        (None, None) => Ok(None),
    }
}

fn read_secret_file(key: &str, variable: &str, path: &Path, warnings: &mut Vec<String>) -> Result<String, ConfigError> {
    let shown = path.display();
    // The I/O error names the failure (not found, permission denied, not UTF-8), not the bytes.
    let contents = std::fs::read_to_string(path)
        .map_err(|error| invalid(key, format!("cannot read {variable} ({shown}): {error}")))?;
    let value = contents.trim();
    if value.is_empty() {
        return Err(invalid(key, format!("{variable} ({shown}) is empty")));
    }
    if let Some(mode) = crate::file_mode::open_to_others(path) {
        warnings.push(format!(
            "{variable} ({shown}) is accessible to its group or others (mode {mode:04o}); \
             restrict it with `chmod 600 {shown}`"
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sk-file-secret-5d1c";

    /// A secret file in `dir` with `contents` and, on Unix, `mode`.
    fn secret_file(dir: &Path, name: &str, contents: &str, mode: u32) -> String {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        path.to_str().unwrap().to_owned()
    }

    /// The secret and its variable, or the error message; and the warnings.
    type Read = (Result<Option<(String, String)>, String>, Vec<String>);

    fn read(vars: &[(&str, &str)]) -> Read {
        let lookup = |name: &str| vars.iter().find(|(var, _)| *var == name).map(|(_, value)| value.to_string());
        let mut warnings = Vec::new();
        let result = from_env(&lookup, "k.key", "VAR", &mut warnings)
            .map(|secret| secret.map(|s| (s.value, s.variable)))
            .map_err(|error| error.to_string());
        (result, warnings)
    }

    #[test]
    fn a_secret_comes_from_the_variable_or_the_file_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let private = secret_file(dir.path(), "private", &format!("\n {SECRET} \n"), 0o600);
        let owner_read_only = secret_file(dir.path(), "credential", SECRET, 0o400);
        let empty = secret_file(dir.path(), "empty", " \n", 0o600);
        let absent = dir.path().join("absent").to_str().unwrap().to_owned();
        let a_directory = dir.path().to_str().unwrap().to_owned();
        let (padded_secret, padded_path) = (format!(" {SECRET}\n"), format!(" {owner_read_only} "));
        type Case<'a> = (Vec<(&'a str, &'a str)>, Result<Option<(&'a str, &'a str)>, String>);
        let cases: Vec<Case> = vec![
            (vec![], Ok(None)),
            (vec![("VAR", " "), ("VAR_FILE", "")], Ok(None)),
            (vec![("VAR", &padded_secret)], Ok(Some((SECRET, "VAR")))),
            (vec![("VAR_FILE", &private)], Ok(Some((SECRET, "VAR_FILE")))),
            (vec![("VAR_FILE", &padded_path)], Ok(Some((SECRET, "VAR_FILE")))),
            (vec![("VAR", " "), ("VAR_FILE", &private)], Ok(Some((SECRET, "VAR_FILE")))),
            (
                vec![("VAR", SECRET), ("VAR_FILE", &private)],
                Err("k.key: both VAR and VAR_FILE are set; unset one of them".to_owned()),
            ),
            (
                vec![("VAR_FILE", &absent)],
                Err(format!("k.key: cannot read VAR_FILE ({absent}): No such file or directory (os error 2)")),
            ),
            (vec![("VAR_FILE", &a_directory)], Err(format!("k.key: cannot read VAR_FILE ({a_directory}): "))),
            (vec![("VAR_FILE", &empty)], Err(format!("k.key: VAR_FILE ({empty}) is empty"))),
        ];
        for (vars, want) in cases {
            let (got, warnings) = read(&vars);
            match (&got, &want) {
                (Ok(got), Ok(want)) => {
                    assert_eq!(got.as_ref().map(|(v, n)| (v.as_str(), n.as_str())), *want, "{vars:?}")
                }
                (Err(got), Err(want)) => assert!(got.starts_with(want.as_str()), "{vars:?}: {got}"),
                _ => panic!("{vars:?}: got {got:?}, want {want:?}"),
            }
            assert!(warnings.is_empty(), "{vars:?}: {warnings:?}");
            if let Err(message) = got {
                assert!(!message.contains(SECRET) && !message.contains('\n'), "{message}");
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_others_may_read_is_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o640, 0o604, 0o620, 0o644, 0o666] {
            let path = secret_file(dir.path(), &format!("key-{mode:o}"), SECRET, mode);
            let (got, warnings) = read(&[("VAR_FILE", &path)]);
            assert_eq!(got.unwrap().unwrap().0, SECRET);
            assert_eq!(
                warnings,
                [format!(
                    "VAR_FILE ({path}) is accessible to its group or others (mode {mode:04o}); \
                     restrict it with `chmod 600 {path}`"
                )]
            );
        }
    }
}
