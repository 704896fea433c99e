//! Connection strings: `${VAR}` from the environment (so passwords never sit in job
//! files), driver names resolved to their library files, and secrets kept out of every
//! message.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use odbc_api::{Connection, ConnectionOptions, Environment};

/// A connection string ready for the driver manager, and the values that must never be
/// shown (everything substituted from the environment).
pub struct Resolved {
    pub text: String,
    pub secrets: Vec<String>,
}

impl Resolved {
    /// `text` with every secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }
}

pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// The process-wide ODBC environment (one per process, as ODBC wants).
pub fn environment() -> Result<&'static Environment> {
    static ENV: std::sync::OnceLock<Result<Environment, String>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| Environment::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| anyhow!("cannot set up ODBC: {e}"))
}

/// Opens a connection; errors name the source, never the connection string.
pub fn connect(
    template: &str,
    job_dir: &Path,
    what: &str,
) -> Result<(Connection<'static>, Resolved)> {
    let resolved = resolve(template, job_dir, what)?;
    let conn = environment()?
        .connect_with_connection_string(&resolved.text, ConnectionOptions::default())
        .map_err(|e| {
            anyhow!(
                "{what}: cannot connect: {}",
                resolved.redact(&e.to_string())
            )
        })?;
    Ok((conn, resolved))
}

/// Options for psqlODBC added to a PostgreSQL connection string, each unless the user
/// set it already (other drivers ignore unknown keys, but they are not given them).
pub fn with_postgres_options(connection: &str, options: &[(&str, &str)]) -> String {
    let lower = connection.to_ascii_lowercase();
    if !(lower.contains("postgres") || lower.contains("psqlodbc")) {
        return connection.to_string();
    }
    let mut out = connection.trim_end().to_string();
    for (key, value) in options {
        if lower.contains(&format!("{}=", key.to_ascii_lowercase())) {
            continue;
        }
        if !out.is_empty() && !out.ends_with(';') {
            out.push(';');
        }
        out.push_str(&format!("{key}={value};"));
    }
    out
}

/// Substitutes `${VAR}` and resolves `Driver={Name}` to the driver's file. `${JOB_DIR}`
/// is the job file's folder (for file databases such as SQLite), and no secret.
pub fn resolve(template: &str, job_dir: &Path, what: &str) -> Result<Resolved> {
    let dir = job_dir.display().to_string();
    let with_dir = template.replace("${JOB_DIR}", &dir);
    let (text, secrets) = substitute(&with_dir, what, |name| std::env::var(name).ok())?;
    Ok(Resolved {
        text: resolve_driver(&text, &odbcinst_files()),
        secrets,
    })
}

/// `${VAR}` → the variable's value; a missing variable is an error naming it.
pub fn substitute(
    template: &str,
    what: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(String, Vec<String>)> {
    let mut out = String::with_capacity(template.len());
    let mut secrets = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            bail!("{what}: `${{` without a closing `}}` in the connection string");
        };
        let name = &after[..end];
        let value = lookup(name).ok_or_else(|| {
            anyhow!("{what}: environment variable {name} is not set (the connection string uses ${{{name}}})")
        })?;
        out.push_str(&value);
        secrets.push(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok((out, secrets))
}

/// Where unixODBC keeps its driver list.
fn odbcinst_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(dir) = std::env::var_os("ODBCSYSINI") {
        files.push(Path::new(&dir).join("odbcinst.ini"));
    }
    files.push(PathBuf::from("/etc/odbcinst.ini"));
    files.push(PathBuf::from("/usr/local/etc/odbcinst.ini"));
    files
}

/// Folders where Debian and others put driver libraries named without a path.
const DRIVER_DIRS: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu/odbc",
    "/usr/lib/aarch64-linux-gnu/odbc",
    "/usr/lib/odbc",
    "/usr/local/lib",
];

/// `Driver={PostgreSQL Unicode}` → `Driver=/usr/lib/.../psqlodbcw.so` when odbcinst.ini
/// knows the name (the vendored driver manager does not look there by itself). Anything
/// else is left as written.
pub fn resolve_driver(conn: &str, ini_files: &[PathBuf]) -> String {
    let lower = conn.to_ascii_lowercase();
    let Some(at) = lower.find("driver=") else {
        return conn.to_string();
    };
    let value_start = at + "driver=".len();
    let rest = &conn[value_start..];
    let (name, len) = if let Some(inner) = rest.strip_prefix('{') {
        match inner.find('}') {
            Some(end) => (&inner[..end], end + 2),
            None => return conn.to_string(),
        }
    } else {
        let end = rest.find(';').unwrap_or(rest.len());
        (&rest[..end], end)
    };
    if name.starts_with('/') {
        return conn.to_string();
    }
    let Some(file) = ini_files.iter().find_map(|f| driver_file(f, name)) else {
        return conn.to_string();
    };
    format!(
        "{}{}{}",
        &conn[..value_start],
        file.display(),
        &conn[value_start + len..]
    )
}

fn driver_file(ini: &Path, name: &str) -> Option<PathBuf> {
    let text = std::fs::read_to_string(ini).ok()?;
    let mut in_section = false;
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = section.trim().eq_ignore_ascii_case(name.trim());
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && key.trim().eq_ignore_ascii_case("driver")
        {
            let file = PathBuf::from(value.trim());
            if file.is_absolute() {
                return Some(file);
            }
            return DRIVER_DIRS
                .iter()
                .map(|d| Path::new(d).join(&file))
                .find(|p| p.exists())
                .or(Some(file));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_options_are_added_unless_given() {
        let pg = "Driver={PostgreSQL ANSI};Server=db;BatchSize=50";
        assert_eq!(
            with_postgres_options(pg, &[("BatchSize", "10000"), ("UseDeclareFetch", "1")]),
            "Driver={PostgreSQL ANSI};Server=db;BatchSize=50;UseDeclareFetch=1;"
        );
        let maria = "Driver={MariaDB Unicode};Server=db";
        assert_eq!(with_postgres_options(maria, &[("BatchSize", "1")]), maria);
    }

    #[test]
    fn variables_are_substituted_and_remembered_as_secrets() {
        let env = |n: &str| (n == "PW").then(|| "s3cr3t".to_string());
        let (text, secrets) = substitute("Uid=t;Pwd=${PW};", "source `erp`", env).unwrap();
        assert_eq!(text, "Uid=t;Pwd=s3cr3t;");
        assert_eq!(
            redact("login failed for Pwd=s3cr3t", &secrets),
            "login failed for Pwd=***"
        );
        let err = substitute("Pwd=${NOPE}", "source `erp`", env).unwrap_err();
        assert!(err.to_string().contains("NOPE is not set"), "{err}");
    }

    #[test]
    fn driver_names_resolve_through_odbcinst() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("odbcinst.ini");
        std::fs::write(
            &ini,
            "[PostgreSQL Unicode]\nDescription=x\nDriver=/opt/psqlodbcw.so\n\n[Other]\nDriver=/x.so\n",
        )
        .unwrap();
        assert_eq!(
            resolve_driver(
                "Driver={PostgreSQL Unicode};Server=h",
                std::slice::from_ref(&ini)
            ),
            "Driver=/opt/psqlodbcw.so;Server=h"
        );
        assert_eq!(
            resolve_driver("DRIVER=Other;X=1", std::slice::from_ref(&ini)),
            "DRIVER=/x.so;X=1"
        );
        assert_eq!(
            resolve_driver("Driver={Unknown};X=1", &[ini]),
            "Driver={Unknown};X=1"
        );
    }
}
