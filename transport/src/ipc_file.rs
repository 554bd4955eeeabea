//! The socket file an ipc bind made, and its removal when that bind ends.
//!
//! A bind removes any stale file at its path first (as libzmq does), so a
//! socket may rebind a path another one still "owns" while the first's
//! accept loop is winding down. The ending listener then removes the file
//! only if it is still the one it bound (same device and inode): otherwise
//! it would unlink the new listener's file and leave it unreachable.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The file a bound ipc listener made at `path`.
#[derive(Debug)]
pub(crate) struct IpcFile {
    path: PathBuf,
    /// (device, inode) just after the bind; None if it could not be read.
    id: Option<(u64, u64)>,
}

impl IpcFile {
    /// The file now at `path`, just bound.
    pub(crate) fn bound_at(path: &Path) -> IpcFile {
        IpcFile {
            path: path.to_path_buf(),
            id: file_id(path),
        }
    }

    /// Removes the file if it is still the one bound; leaves alone one a
    /// later bind made at the same path.
    pub(crate) fn remove(&self) {
        if self.id.is_some() && file_id(&self.path) == self.id {
            let _ = std::fs::remove_file(&self.path);
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
