//! The devnet env file, read only when the user asks for it.
//!
//! `phd-devnet up` writes the shared facts of a local stack (RPC URL, deployment, S3 endpoint,
//! role keys) to `.devnet/env`. A program reads it only with `--devnet` or when
//! `PHD_DEVNET_ENV` names the file, only if the file belongs to the user and nobody else can read
//! it, and says on stderr which file it used: a file planted in a cloned repository or a shared
//! directory must never silently point an owner at another chain, registry or storage.
//!
//! Values fill in what flags and the real environment leave unset, as clap defaults: nothing is
//! written into the process environment and the program is not re-executed, so no secret ends up
//! in `/proc/<pid>/environ` of a child.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use clap::{ArgMatches, Command};

use crate::CliError;

/// Names the env file explicitly (and so asks for it).
pub const DEVNET_ENV_VAR: &str = "PHD_DEVNET_ENV";
/// Names a role's secrets file explicitly (a keeper's, which has no fixed role name).
pub const DEVNET_SECRETS_VAR: &str = "PHD_DEVNET_SECRETS";
/// The flag that asks for `.devnet/env` of the current directory (or the nearest ancestor).
pub const DEVNET_FLAG: &str = "--devnet";

static LOADED: OnceLock<DevnetEnv> = OnceLock::new();

/// The variables of one env file.
#[derive(Debug, Clone, Default)]
pub struct DevnetEnv {
    path: Option<PathBuf>,
    vars: BTreeMap<String, String>,
}

impl DevnetEnv {
    /// Reads `path` after checking that it is a regular file owned by the current user and not
    /// readable or writable by group or others.
    pub fn load(path: &Path) -> Result<Self, CliError> {
        check_private(path)?;
        let vars = read_env_file(path)?.into_iter().collect();
        Ok(Self {
            path: Some(path.to_owned()),
            vars,
        })
    }

    /// Adds the variables of a role's secrets file (same checks as [`DevnetEnv::load`]); they
    /// win over the shared file's.
    pub fn merge_secrets(&mut self, path: &Path) -> Result<(), CliError> {
        check_private(path)?;
        self.vars.extend(read_env_file(path)?);
        Ok(())
    }

    /// The file these variables came from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The file's value of `key` (not the process environment).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// Sets every argument whose `env` variable is unset in the process environment but present
    /// in the file to default to the file's value, in `cmd` and all its subcommands.
    pub fn apply_defaults(&self, cmd: Command) -> Command {
        if self.vars.is_empty() {
            return cmd;
        }
        let cmd = cmd.mut_args(|arg| {
            let Some(name) = arg.get_env().and_then(|n| n.to_str()) else {
                return arg;
            };
            if std::env::var_os(name).is_some() {
                return arg;
            }
            match self.vars.get(name) {
                // clap keeps defaults for the life of the process; this runs once per process.
                // A required flag is satisfied by the file's value (clap does not count a
                // default as present for `required`).
                Some(v) => arg
                    .default_value(&*Box::leak(v.clone().into_boxed_str()))
                    .required(false),
                None => arg,
            }
        });
        cmd.mut_subcommands(|sub| self.apply_defaults(sub))
    }
}

/// A variable from the process environment, else from the env file loaded by [`parse`].
/// For values that are not clap flags (role keys of the devnet accounts).
pub fn env_var(key: &str) -> Option<String> {
    std::env::var(key)
        .ok()
        .or_else(|| LOADED.get().and_then(|e| e.get(key)).map(str::to_owned))
}

/// The env file loaded by [`parse`], if any.
pub fn loaded_env_file() -> Option<&'static Path> {
    LOADED.get().and_then(DevnetEnv::path)
}

/// Which env file the command line asks for: `PHD_DEVNET_ENV`, else with `--devnet` the nearest
/// `.devnet/env` from the current directory up. `None` when not asked.
pub fn requested_env_file(args: &[OsString]) -> Result<Option<PathBuf>, CliError> {
    if let Some(p) = std::env::var_os(DEVNET_ENV_VAR).filter(|p| !p.is_empty()) {
        return Ok(Some(PathBuf::from(p)));
    }
    let asked = args
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == DEVNET_FLAG);
    if !asked {
        return Ok(None);
    }
    let cwd = std::env::current_dir().map_err(|source| CliError::Read {
        path: PathBuf::from("."),
        source,
    })?;
    cwd.ancestors()
        .map(|d| d.join(".devnet").join("env"))
        .find(|p| p.is_file())
        .map(Some)
        .ok_or(CliError::NoDevnetEnv { from: cwd })
}

/// Parses the command line of `C`, filling unset flags from the devnet env file when asked for
/// (see the module docs). Adds the global `--devnet` flag. Exits with clap's message on bad
/// arguments, like `Parser::parse`.
pub fn parse<C: clap::Parser>() -> Result<C, CliError> {
    parse_inner::<C>(&[])
}

/// [`parse`] for a program acting as `role` (`user`, `customer`, `validator`, `manufacturer`,
/// …): with the shared env file it also reads that role's own secrets file,
/// `<env dir>/secrets/<role>.env` (or the file `PHD_DEVNET_SECRETS` names), when it exists.
/// The shared file holds only public facts; a role's keys and credentials are in its own file,
/// which no other role's program reads.
pub fn parse_as<C: clap::Parser>(role: &str) -> Result<C, CliError> {
    parse_inner::<C>(&[role])
}

/// [`parse_as`] for a program that acts for several roles at once (`phd-web` signs for the
/// buyer and for the owner): each role's secrets file that exists is read, in order.
pub fn parse_as_roles<C: clap::Parser>(roles: &[&str]) -> Result<C, CliError> {
    parse_inner::<C>(roles)
}

/// Where `role`'s secrets file is for the shared env file `env_file`.
pub fn role_secrets_file(env_file: &Path, role: &str) -> PathBuf {
    env_file
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("secrets")
        .join(format!("{role}.env"))
}

fn parse_inner<C: clap::Parser>(roles: &[&str]) -> Result<C, CliError> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let env = match requested_env_file(&args)? {
        Some(path) => {
            let mut env = DevnetEnv::load(&path)?;
            eprintln!("using devnet env file {}", path.display());
            let explicit = std::env::var_os(DEVNET_SECRETS_VAR)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from);
            let secrets: Vec<PathBuf> = match explicit {
                Some(p) => vec![p],
                None => roles
                    .iter()
                    .map(|r| role_secrets_file(&path, r))
                    .filter(|p| p.exists())
                    .collect(),
            };
            for s in secrets {
                env.merge_secrets(&s)?;
                eprintln!("using secrets file {}", s.display());
            }
            env
        }
        None => DevnetEnv::default(),
    };
    let cmd = env.apply_defaults(with_devnet_flag(C::command()));
    let _ = LOADED.set(env);
    let matches: ArgMatches = cmd.get_matches_from(args);
    C::from_arg_matches(&matches).map_err(|e| e.exit())
}

fn with_devnet_flag(cmd: Command) -> Command {
    cmd.arg(
        clap::Arg::new("phd-devnet-env")
            .long("devnet")
            .global(true)
            .action(clap::ArgAction::SetTrue)
            .help("Read unset settings from .devnet/env (written by `phd-devnet up`); PHD_DEVNET_ENV names another file"),
    )
}

/// Parses a `KEY=VALUE` env file (blank lines and `#` comments ignored, optional `export `
/// prefix and surrounding quotes stripped).
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = line.split_once('=').ok_or(CliError::EnvSyntax {
            path: path.to_owned(),
            line: i + 1,
        })?;
        let k = k.trim();
        if k.is_empty() {
            return Err(CliError::EnvSyntax {
                path: path.to_owned(),
                line: i + 1,
            });
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|source| CliError::Read {
        path: path.to_owned(),
        source,
    })?;
    let refuse = |reason: String| {
        Err(CliError::UnsafeEnvFile {
            path: path.to_owned(),
            reason,
        })
    };
    if !meta.is_file() {
        return refuse("not a regular file".into());
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return refuse(format!(
            "owned by uid {}, not by you (uid {me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return refuse(format!(
            "mode {:o} lets others read or change it; chmod 600 it",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(path: &Path) -> Result<(), CliError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|source| CliError::Read {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_syntax() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("env");
        let _ = std::fs::write(&p, "# c\nA=1\nexport B=\"two words\"\n\nC='x=y'\n");
        let vars = read_env_file(&p).unwrap_or_default();
        assert_eq!(
            vars,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x=y".into())
            ]
        );
        let _ = std::fs::write(&p, "nope\n");
        assert!(read_env_file(&p).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn refuses_files_others_can_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("env");
        let _ = std::fs::write(&p, "PHD_RPC_URL=http://evil:8545\n");
        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644));
        let err = DevnetEnv::load(&p)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("chmod 600"), "{err}");
        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        let env = DevnetEnv::load(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(env.get("PHD_RPC_URL"), Some("http://evil:8545"));
    }

    #[test]
    fn not_asked_means_not_read() {
        // Without --devnet (and PHD_DEVNET_ENV unset in the test environment) nothing is read,
        // even when .devnet/env exists in the current directory or above.
        if std::env::var_os(DEVNET_ENV_VAR).is_none() {
            let args: Vec<OsString> =
                vec!["prog".into(), "list".into(), "--".into(), "--devnet".into()];
            assert!(matches!(requested_env_file(&args), Ok(None)));
        }
    }

    #[test]
    fn file_values_become_defaults_flags_win() {
        use clap::{FromArgMatches, Parser};
        #[derive(Debug, Parser)]
        struct Cli {
            #[arg(long, env = "PHD_TEST_ONLY_FROM_FILE_X", default_value = "builtin")]
            x: String,
            #[arg(long, env = "PHD_TEST_ONLY_FROM_FILE_Y")]
            y: Option<String>,
        }
        let env = DevnetEnv {
            path: None,
            vars: [(
                "PHD_TEST_ONLY_FROM_FILE_X".to_string(),
                "from-file".to_string(),
            )]
            .into_iter()
            .collect(),
        };
        let cmd = env.apply_defaults(with_devnet_flag(<Cli as clap::CommandFactory>::command()));
        let m = cmd
            .clone()
            .try_get_matches_from(["p", "--devnet"])
            .unwrap_or_else(|e| panic!("{e}"));
        let cli = Cli::from_arg_matches(&m).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.x, "from-file");
        assert_eq!(cli.y, None);
        let m = cmd
            .try_get_matches_from(["p", "--x", "flag"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Cli::from_arg_matches(&m).map(|c| c.x).unwrap_or_default(),
            "flag"
        );
    }
}
