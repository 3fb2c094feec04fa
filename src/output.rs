//! Files keyaudit writes: checked before any network call, written whole or not at all.
//!
//! A scan can take minutes; an output path that cannot work must fail in the first
//! millisecond (exit 2, nothing happened), not after the crawl. So every destination is
//! checked up front: its directory exists and takes a new file, it is not a directory or a
//! special file, it is not one of the files being read, and no two outputs share a file
//! (compared by canonical path, and by inode for files that exist, so symlinks and hard
//! links are caught too). Reports and inventories are then written to a temporary file in
//! the same directory and renamed over the destination, so a failed write never leaves half
//! a report where a whole one is expected.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How a destination is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Written whole through a temporary file and a rename (reports, inventories).
    Replace,
    /// Appended to in place and also read (remediate's audit log).
    Append,
}

/// A file keyaudit will write, named as the user named it.
#[derive(Debug, Clone)]
pub struct Destination<'a> {
    pub flag: &'a str,
    pub path: &'a Path,
    pub mode: Mode,
}

/// A file keyaudit will read.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub flag: &'a str,
    pub path: &'a Path,
}

/// Checks every destination on its own, then against the inputs and each other. The error
/// is one line naming the flag and path; nothing has been written.
pub fn check(destinations: &[Destination], inputs: &[Input]) -> Result<(), String> {
    let mut seen: Vec<(&Destination, Identity)> = Vec::new();
    for destination in destinations {
        let identity = check_one(destination)
            .map_err(|e| format!("{} {}: {e}", destination.flag, destination.path.display()))?;
        for input in inputs {
            if Identity::of_existing(input.path).is_some_and(|other| other.same(&identity)) {
                return Err(format!(
                    "{} {}: that is the {} file being read; keyaudit never writes over its input",
                    destination.flag,
                    destination.path.display(),
                    input.flag
                ));
            }
        }
        if let Some((first, _)) = seen.iter().find(|(_, other)| other.same(&identity)) {
            return Err(format!(
                "{} {} and {} {} are the same file: give each output its own path",
                first.flag,
                first.path.display(),
                destination.flag,
                destination.path.display()
            ));
        }
        seen.push((destination, identity));
    }
    Ok(())
}

/// The directory a path's file lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn check_one(destination: &Destination) -> Result<Identity, String> {
    let path = destination.path;
    if path.file_name().is_none() {
        return Err("not a file path".into());
    }
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(format!("directory {} does not exist", dir.display()));
    }
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return Err("is a directory".into()),
        Ok(meta) if !meta.is_file() => {
            return Err("not a regular file (a device, pipe or socket); give a plain file path".into())
        }
        Ok(_) if destination.mode == Mode::Append => {
            // The log is read whole and appended to: both must work on this very file.
            OpenOptions::new()
                .read(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open it: {e}"))?;
        }
        Ok(_) | Err(_) => {
            // A new file in that directory: proves it can take the temporary file (or the
            // new log), whatever permissions, ACLs or read-only mounts say.
            tempfile::Builder::new()
                .prefix(".keyaudit-check-")
                .tempfile_in(dir)
                .map_err(|e| format!("cannot write in directory {}: {e}", dir.display()))?;
        }
    }
    Identity::of(path).map_err(|e| format!("cannot resolve the path: {e}"))
}

/// What makes two paths the same file: the canonical path, and for an existing file its
/// device and inode (hard links).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    canonical: PathBuf,
    inode: Option<(u64, u64)>,
}

impl Identity {
    fn of(path: &Path) -> io::Result<Identity> {
        if let Some(identity) = Identity::of_existing(path) {
            return Ok(identity);
        }
        let name = path.file_name().ok_or_else(|| io::Error::other("not a file path"))?;
        Ok(Identity { canonical: fs::canonicalize(parent_dir(path))?.join(name), inode: None })
    }

    fn of_existing(path: &Path) -> Option<Identity> {
        let canonical = fs::canonicalize(path).ok()?;
        Some(Identity { inode: inode(&canonical), canonical })
    }

    fn same(&self, other: &Identity) -> bool {
        self.canonical == other.canonical || (self.inode.is_some() && self.inode == other.inode)
    }
}

#[cfg(unix)]
fn inode(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|meta| (meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn inode(_: &Path) -> Option<(u64, u64)> {
    None
}

/// Writes `bytes` to `path` whole or not at all: a temporary file in the same directory,
/// synced, then renamed over `path`. A symlink is followed (its target is replaced), and an
/// existing file keeps its permissions; a new one gets the same as `std::fs::write` would.
pub fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |out| out.write_all(bytes))
}

/// Like [`write_whole`], with the content written by `write` straight into the temporary
/// file (buffered): a large report is never held in memory whole.
pub fn write_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut builder = tempfile::Builder::new();
    builder.prefix(".keyaudit-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Passed to open(2), so the umask applies, as for any new file.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder.tempfile_in(parent_dir(&target))?;
    if let Ok(meta) = fs::metadata(&target) {
        temp.as_file().set_permissions(meta.permissions())?;
    }
    {
        let mut buffered = io::BufWriter::with_capacity(1 << 16, temp.as_file_mut());
        write(&mut buffered)?;
        buffered.flush()?;
    }
    temp.as_file().sync_all()?;
    temp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// Opens a file only if it is a regular file: a FIFO would block the open or the read
/// forever, and a device such as /dev/zero never ends.
pub fn open_regular(path: &Path, options: &OpenOptions) -> io::Result<File> {
    if let Ok(meta) = fs::metadata(path) {
        if !meta.is_file() {
            return Err(not_regular());
        }
    }
    let file = options.open(path)?;
    // Checked again on the open file, in case the path changed in between.
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

fn not_regular() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")
}

/// Text for a terminal: control characters (ANSI escapes included), Unicode line separators
/// and bidirectional overrides are written as Rust escapes (`\n`, `\u{1b}`), so a hostile
/// input (a file's contents, a path, a value from IAM or an inventory) cannot drive the
/// terminal or reorder what is shown. With `keep_newlines`, `\n` stays (table cells use it).
pub fn escape_controls(text: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_invisible_format(c) => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)))
            }
            c => out.push(c),
        }
    }
    out
}

/// Characters that are not control characters but still move or reorder text on a terminal:
/// line and paragraph separators, and the bidirectional embeddings, overrides and isolates
/// ("Trojan Source").
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out<'a>(flag: &'a str, path: &'a Path) -> Destination<'a> {
        Destination { flag, path, mode: Mode::Replace }
    }

    #[test]
    fn bad_destinations_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("inventory.json");
        fs::write(&input, "{}").unwrap();
        let report = dir.path().join("r.json");
        let missing = dir.path().join("no/such/r.json");
        let cases: Vec<(Vec<Destination>, &str)> = vec![
            (vec![out("--output", dir.path())], "is a directory"),
            (vec![out("--output", &missing)], "does not exist"),
            (vec![out("--output", Path::new("/dev/null"))], "not a regular file"),
            (vec![out("--output", &input)], "the --inventory file being read"),
            (vec![out("--output", &report), out("--save-inventory", &report)], "are the same file"),
        ];
        for (destinations, expected) in cases {
            let error = check(&destinations, &[Input { flag: "--inventory", path: &input }]).unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
        }
        // The same file by another name (dir/./r.json) is still the same file.
        let dotted = dir.path().join(".").join("r.json");
        assert!(check(&[out("--output", &report), out("--output", &dotted)], &[]).is_err());
        assert!(check(&[out("--output", &report), out("--save-inventory", &input)], &[]).is_ok());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "checking leaves no file behind");
    }

    #[test]
    fn write_whole_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        fs::write(&path, "old, longer content").unwrap();
        write_whole(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_whole(&dir.path().join("gone/r.csv"), b"x").is_err());
    }

    #[test]
    fn special_files_are_not_opened() {
        let error = open_regular(Path::new("/dev/zero"), OpenOptions::new().read(true)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }
}
