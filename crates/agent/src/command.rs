//! Running the package tools (`dpkg-query`, `rpm`, `apt-get -s`, `ip`): found on the usual
//! paths, in the C locale so their output parses the same everywhere, at low priority, with
//! a time limit and a bound on what is read.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// The most output one command may produce; a package list is a few hundred kilobytes.
const MOST_OUTPUT_BYTES: u64 = 32 * 1024 * 1024;

/// Where the tools live; systemd services may start with a short `PATH`.
const SEARCH_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The full path of `program`, searched in `PATH` and the usual system folders.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let from_env = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    from_env
        .into_iter()
        .chain(SEARCH_PATH.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Why a command gave no output to parse.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{program} is not installed")]
    Missing { program: String },
    #[error("{program} could not run: {source}")]
    Io {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} took longer than {seconds} s and was stopped")]
    TimedOut { program: String, seconds: u64 },
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

/// Runs `program` with `args` and returns its standard output as text (lossy UTF-8).
/// The child is killed when the time is up.
pub async fn run(program: &str, args: &[&str], limit: Duration) -> Result<String, CommandError> {
    let path = find_program(program).ok_or_else(|| CommandError::Missing {
        program: program.to_owned(),
    })?;
    let io = |source| CommandError::Io {
        program: program.to_owned(),
        source,
    };
    // `nice` lowers the tool's CPU priority so a report never slows the machine's real work.
    let mut command = match find_program("nice") {
        Some(nice) => {
            let mut command = tokio::process::Command::new(nice);
            command.args(["-n", "19"]).arg(&path);
            command
        }
        None => tokio::process::Command::new(&path),
    };
    command
        .args(args)
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(io)?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let finished = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            if let Some(pipe) = stdout.as_mut() {
                pipe.take(MOST_OUTPUT_BYTES).read_to_end(&mut out).await?;
            }
            Ok::<_, std::io::Error>(())
        };
        let read_err = async {
            if let Some(pipe) = stderr.as_mut() {
                pipe.take(64 * 1024).read_to_end(&mut err).await?;
            }
            Ok::<_, std::io::Error>(())
        };
        let (read_out, read_err) = tokio::join!(read_out, read_err);
        read_out?;
        read_err?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out, err))
    };
    let (status, out, err) = match tokio::time::timeout(limit, finished).await {
        Ok(result) => result.map_err(io)?,
        Err(_) => {
            return Err(CommandError::TimedOut {
                program: program.to_owned(),
                seconds: limit.as_secs(),
            });
        }
    };
    if !status.success() {
        return Err(CommandError::Failed {
            program: program.to_owned(),
            status,
            stderr: String::from_utf8_lossy(&err).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_tool_is_named() {
        let outcome = run("opsdesk-no-such-tool", &[], Duration::from_secs(5)).await;
        assert!(matches!(outcome, Err(CommandError::Missing { .. })));
    }

    #[tokio::test]
    async fn output_is_read_in_the_c_locale() -> Result<(), CommandError> {
        let output = run("sh", &["-c", "echo $LC_ALL"], Duration::from_secs(30)).await?;
        assert_eq!(output, "C\n");
        Ok(())
    }
}
