//! Backup file handling on the client side.

use super::*;

#[test]
fn the_partial_file_sits_beside_the_target() {
    assert_eq!(
        partial_path(Path::new("/b/vault.backup")),
        PathBuf::from("/b/vault.backup.partial")
    );
    assert_eq!(partial_path(Path::new("x")), PathBuf::from("x.partial"));
}

#[test]
fn sizes_read_like_people_write_them() {
    assert_eq!(human(512), "512 bytes");
    assert_eq!(human(1536), "1.5 KiB");
    assert_eq!(human(3 * 1024 * 1024), "3.0 MiB");
}

#[cfg(unix)]
#[test]
fn backup_files_are_private_even_when_a_partial_existed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("b.partial");
    std::fs::write(&path, "old").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    drop(create_private(&path).expect("create"));
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read(&path).expect("read"), b"");
}
