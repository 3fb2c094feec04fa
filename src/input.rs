//! Files keyaudit reads: read whole, but never without end.
//!
//! An input path can name anything: `/dev/zero` or `/dev/urandom` would be read forever (and
//! grow memory with it), a FIFO until its writer stops. So a device is refused outright, and
//! any other input is read up to a limit that no real file of its kind comes near: past it,
//! the read stops with an error instead of going on. Pipes (`--inventory /dev/stdin`) still
//! work, up to the same limit. A FIFO is opened without blocking (a plain open waits for a
//! writer forever): with no writer it is refused at once, never read as an empty file.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The most bytes of an inventory or a JSON report: 1,000 accounts of 5,000 users (IAM's
/// per-account quota) with two keys each are ~3 GB as pretty JSON.
pub const LIMIT_INVENTORY: u64 = 4 << 30;
/// A credential report has at most 5,001 rows of 22 columns: a few MB.
pub const LIMIT_CREDENTIAL_REPORT: u64 = 256 << 20;
/// Config files and account lists are written by hand.
pub const LIMIT_SMALL: u64 = 16 << 20;

/// Reads `path` as UTF-8 text of at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    let file = open(path)?;
    let kind = file.metadata()?.file_type();
    if is_device(&kind) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a device, not a file"));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.is_empty() && is_fifo(&kind) {
        // Nobody was writing: "nothing" here is not an empty config or inventory.
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a pipe with no writer: nothing to read"));
    }
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {} MiB, more than any file of its kind", limit >> 20),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8 text ({e})")))
}

/// Opens for reading without waiting for a FIFO's writer, then makes reads blocking again
/// (a FIFO with a writer is read as it comes; with none, a read says end of file at once).
#[cfg(unix)]
fn open(path: &Path) -> io::Result<File> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, Mode, OFlags};
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())?;
    let flags = fcntl_getfl(&fd)?;
    fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
    Ok(File::from(fd))
}

#[cfg(not(unix))]
fn open(path: &Path) -> io::Result<File> {
    File::open(path)
}

#[cfg(unix)]
fn is_device(kind: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_char_device() || kind.is_block_device()
}

#[cfg(not(unix))]
fn is_device(_: &std::fs::FileType) -> bool {
    false
}

#[cfg(unix)]
fn is_fifo(kind: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_fifo()
}

#[cfg(not(unix))]
fn is_fifo(_: &std::fs::FileType) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_oversized_inputs_are_refused_at_once() {
        let error = read_text(Path::new("/dev/zero"), LIMIT_INVENTORY).unwrap_err();
        assert!(error.to_string().contains("a device"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.toml");
        std::fs::write(&path, vec![b'#'; 2048]).unwrap();
        let error = read_text(&path, 1024).unwrap_err();
        assert!(error.to_string().contains("larger than"), "{error}");
        assert_eq!(read_text(&path, 4096).unwrap().len(), 2048);
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(read_text(&path, 4096).unwrap_err().to_string().contains("not UTF-8"));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_with_no_writer_is_refused_at_once_and_one_with_a_writer_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        let (done, wait) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || done.send(read_text(&path, LIMIT_SMALL).map_err(|e| e.to_string())));
        let read = wait
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("read_text must not wait for a writer");
        assert!(read.unwrap_err().contains("a pipe with no writer"));

        // A writer that wrote and left: its data waits in the pipe (held open by a reader),
        // and is read whole.
        use rustix::fs::{Mode, OFlags};
        let _holder = rustix::fs::open(&fifo, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()).unwrap();
        std::fs::write(&fifo, b"fail-on = \"high\"\n").unwrap();
        assert_eq!(read_text(&fifo, LIMIT_SMALL).unwrap(), "fail-on = \"high\"\n");
    }
}
