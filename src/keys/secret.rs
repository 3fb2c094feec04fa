//! The one place a SecretAccessKey exists in keyaudit, and the only ways out of it.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::Refusal;

/// A secret access key. No `Display`, and `Debug` is redacted, so it cannot end up in a
/// log line or an error message by accident; [`SecretSink`] is the only reader.
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where the user asked the secret to go. Prepared before the key is created, so a
/// secret is never created without a place to put it.
#[derive(Debug)]
pub enum SecretSink {
    /// A new file, mode 0600, opened (created) already.
    File { path: PathBuf, file: File },
    /// Standard output, asked for explicitly with `--show-secret`.
    Stdout,
}

impl SecretSink {
    /// Creates the secret file now: new only (never overwrites), owner-only permissions.
    pub fn create_file(path: &Path) -> Result<SecretSink, Refusal> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(file) => Ok(SecretSink::File { path: path.to_path_buf(), file }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Refusal(format!(
                "--secret-file {}: the file exists; keyaudit never overwrites a secret file, choose a new path",
                path.display()
            ))),
            Err(e) => Err(Refusal(format!("--secret-file {}: cannot create it: {e}", path.display()))),
        }
    }

    /// Writes the new key in the shape `aws iam create-access-key` prints.
    pub fn write(
        self,
        user: &str,
        access_key_id: &str,
        secret: &Secret,
        created: &str,
    ) -> std::io::Result<String> {
        let document = serde_json::json!({"AccessKey": {
            "UserName": user,
            "AccessKeyId": access_key_id,
            "Status": "Active",
            "SecretAccessKey": secret.0,
            "CreateDate": created,
        }});
        let text = format!("{document:#}\n");
        match self {
            SecretSink::File { path, mut file } => {
                if let Err(e) = file.write_all(text.as_bytes()).and_then(|()| file.sync_all()) {
                    // Part of a secret is no use to anyone; leave no file behind.
                    drop(file);
                    let _ = std::fs::remove_file(&path);
                    return Err(e);
                }
                Ok(format!(
                    "secret access key written to {} (mode 0600); it cannot be retrieved again",
                    path.display()
                ))
            }
            SecretSink::Stdout => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(text.as_bytes())?;
                stdout.flush()?;
                Ok("secret access key printed above (--show-secret); it cannot be retrieved again"
                    .to_string())
            }
        }
    }

    /// Removes a secret file that never received a secret (the key was not created).
    pub fn discard(self) {
        if let SecretSink::File { path, file } = self {
            drop(file);
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into());
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn secret_file_is_new_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let sink = SecretSink::create_file(&path).unwrap();
        let note = sink.write("u", "AKIA1", &Secret::new("s3cr3t".into()), "2026-01-01T00:00:00Z").unwrap();
        assert!(note.contains("0600"));
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written["AccessKey"]["SecretAccessKey"], "s3cr3t");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(SecretSink::create_file(&path).unwrap_err().0.contains("never overwrites"));
    }
}
