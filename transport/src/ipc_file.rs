//! The socket file an ipc bind made, and its removal when that bind ends.
//!
//! A bind removes any stale file at its path first (as libzmq does), so a
//! socket may rebind a path another one still "owns" while the first's
//! accept loop is winding down. The ending listener then removes the file
//! only if it is still the one it bound (same device and inode): otherwise
//! it would unlink the new listener's file and leave it unreachable.
//!
//! An `ipc://*` bind gets a fresh path, as in libzmq: a file in a new
//! private directory under the temporary directory, both removed when the
//! bind ends.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The file a bound ipc listener made at `path`.
#[derive(Debug)]
pub(crate) struct IpcFile {
    path: PathBuf,
    /// (device, inode) just after the bind; None if it could not be read.
    id: Option<(u64, u64)>,
    /// The directory made for it (an `ipc://*` bind), removed with it.
    own_dir: Option<PathBuf>,
}

impl IpcFile {
    /// The file now at `path`, just bound.
    pub(crate) fn bound_at(path: &Path) -> IpcFile {
        IpcFile {
            path: path.to_path_buf(),
            id: file_id(path),
            own_dir: None,
        }
    }

    /// A fresh path for an `ipc://*` bind, as libzmq makes one: `socket`
    /// in a new directory under the temporary directory. Returns the
    /// directory (to remove if the bind fails) and the path.
    pub(crate) fn fresh_path() -> io::Result<(PathBuf, PathBuf)> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        let pid = std::process::id();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir = base.join(format!("zmtp-ipc-{pid}-{n}-{nanos:x}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    let path = dir.join("socket");
                    return Ok((dir, path));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// This file, made in `dir` by [`IpcFile::fresh_path`]: the directory
    /// goes with it.
    pub(crate) fn in_own_dir(mut self, dir: PathBuf) -> IpcFile {
        self.own_dir = Some(dir);
        self
    }

    /// Removes the file if it is still the one bound; leaves alone one a
    /// later bind made at the same path.
    pub(crate) fn remove(&self) {
        if self.id.is_some() && file_id(&self.path) == self.id {
            let _ = std::fs::remove_file(&self.path);
        }
        if let Some(dir) = &self.own_dir {
            // Only if empty: nothing but our file was ever put there.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zmtp-ipc-file-{}-{name}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("sock");
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn an_ended_bind_removes_its_own_file() {
        let path = scratch("own");
        let listener = UnixListener::bind(&path).unwrap();
        let file = IpcFile::bound_at(&path);
        drop(listener);
        file.remove();
        assert!(!path.exists());
    }

    #[test]
    fn an_ended_bind_leaves_a_rebound_file_alone() {
        // test_rebind_ipc: the first PUSH closes, the second binds the same
        // path before the first's accept loop has removed "its" file.
        let path = scratch("rebound");
        let first = UnixListener::bind(&path).unwrap();
        let first_file = IpcFile::bound_at(&path);
        std::fs::remove_file(&path).unwrap();
        let second = UnixListener::bind(&path).unwrap();
        drop(first);
        first_file.remove();
        assert!(path.exists(), "the second bind's file was removed");
        std::os::unix::net::UnixStream::connect(&path).expect("second bind reachable");
        drop(second);
        let _ = std::fs::remove_file(&path);
    }
}
