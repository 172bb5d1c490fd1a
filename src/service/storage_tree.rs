//! An SS-MIX2 storage tree as a sequence of files, whatever holds it: a zip, tar or
//! tar.gz archive (`POST /ssmix2`, `kakari convert`) or a directory (`kakari convert`).
//!
//! Each file comes out as an [`Entry`]: its bytes, or why it was refused (unsafe name,
//! link or device, over the per-file limit, zip bomb) or skipped (hidden and system
//! files). Refused outright: absolute or `..` paths, links and devices, entries larger
//! than `MAX_ENTRY_BYTES`, compression ratios above `MAX_RATIO` (zip bombs), more than
//! `MAX_ENTRIES` entries, more than `MAX_TOTAL_BYTES` decompressed in all.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::{ErrorCode, Issue, Problem};

pub const MAX_ENTRY_BYTES: u64 = 16 * 1024 * 1024;
pub const MAX_RATIO: u64 = 200;
pub const MAX_ENTRIES: usize = 5_000_000;
pub const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024 * 1024;

/// The archive kinds read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Zip,
    Tar,
    TarGz,
}

/// Recognises an archive by its first bytes.
pub fn sniff(head: &[u8]) -> Option<ArchiveKind> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(ArchiveKind::Zip)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some(ArchiveKind::TarGz)
    } else if head.get(257..262) == Some(b"ustar") {
        Some(ArchiveKind::Tar)
    } else {
        None
    }
}

fn refused(code: ErrorCode, message: &str) -> Problem {
    Problem::new(code, "archive", message)
}

/// A file taken from the tree, or why it was not.
pub enum Entry {
    File { path: String, bytes: Vec<u8> },
    Refused { path: String, issue: Issue },
    Skipped { path: String, reason: &'static str },
}

/// Checks an entry name: relative, no `..`, no drive letters or NULs. Returns it with `/`.
fn safe_name(name: &str) -> Result<String, &'static str> {
    let unified = name.replace('\\', "/");
    if unified.starts_with('/') || unified.contains('\0') || unified.get(1..2) == Some(":") {
        return Err("absolute path");
    }
    if unified.split('/').any(|c| c == "..") {
        return Err("path leaves the archive (..)");
    }
    Ok(unified)
}

fn is_noise(path: &str) -> bool {
    path.split('/')
        .any(|c| c.starts_with('.') || c == "__MACOSX" || c.eq_ignore_ascii_case("Thumbs.db"))
}

/// Reads an entry's bytes up to the cap.
fn read_capped(reader: &mut dyn Read, declared: u64) -> Result<Vec<u8>, &'static str> {
    if declared > MAX_ENTRY_BYTES {
        return Err("entry larger than the per-file limit");
    }
    let mut bytes = Vec::with_capacity(declared.min(MAX_ENTRY_BYTES) as usize);
    reader
        .take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|_| "entry data cannot be read")?;
    if bytes.len() as u64 > MAX_ENTRY_BYTES {
        return Err("entry larger than the per-file limit");
    }
    Ok(bytes)
}

fn unsafe_entry(path: String, why: &str) -> Entry {
    Entry::Refused {
        path,
        issue: Issue::error(ErrorCode::ArchiveUnsafeEntry, "archive entry", why),
    }
}

/// Counts entries and bytes against `MAX_ENTRIES` and `MAX_TOTAL_BYTES`.
#[derive(Default)]
struct Budget {
    total: u64,
    count: usize,
}

impl Budget {
    fn account(&mut self, size: u64) -> Result<(), Problem> {
        self.count += 1;
        self.total = self.total.saturating_add(size);
        if self.count > MAX_ENTRIES {
            return Err(refused(ErrorCode::ArchiveLimit, "too many entries"));
        }
        if self.total > MAX_TOTAL_BYTES {
            return Err(refused(
                ErrorCode::ArchiveLimit,
                "too many bytes once decompressed",
            ));
        }
        Ok(())
    }
}

/// Walks an archive, handing each entry to `sink` (which returns false to stop); stops
/// on a refusal of the whole archive.
pub fn walk_archive(
    file: File,
    kind: ArchiveKind,
    sink: &mut dyn FnMut(Entry) -> bool,
) -> Result<(), Problem> {
    let mut budget = Budget::default();
    let mut account = |size: u64| budget.account(size);
    match kind {
        ArchiveKind::Zip => {
            let mut zip = zip::ZipArchive::new(BufReader::new(file))
                .map_err(|_| refused(ErrorCode::ArchiveInvalid, "not a readable zip archive"))?;
            for i in 0..zip.len() {
                let mut entry = match zip.by_index(i) {
                    Ok(e) => e,
                    Err(_) => {
                        if !sink(unsafe_entry(
                            format!("entry {i}"),
                            "entry cannot be read (encrypted or unsupported method)",
                        )) {
                            return Ok(());
                        }
                        continue;
                    }
                };
                let raw_name = String::from_utf8_lossy(entry.name_raw()).into_owned();
                if entry.is_dir() {
                    continue;
                }
                let path = match safe_name(&raw_name) {
                    Ok(p) => p,
                    Err(why) => {
                        if !sink(unsafe_entry(raw_name, why)) {
                            return Ok(());
                        }
                        continue;
                    }
                };
                account(entry.size())?;
                let out = if entry.is_symlink() {
                    unsafe_entry(path, "links are refused")
                } else if entry.compressed_size() > 0
                    && entry.size() / entry.compressed_size().max(1) > MAX_RATIO
                {
                    unsafe_entry(path, "compression ratio too high (zip bomb)")
                } else if is_noise(&path) {
                    Entry::Skipped {
                        path,
                        reason: "not a storage file (hidden or system file)",
                    }
                } else {
                    let declared = entry.size();
                    match read_capped(&mut entry, declared) {
                        Ok(bytes) => Entry::File { path, bytes },
                        Err(why) => unsafe_entry(path, why),
                    }
                };
                if !sink(out) {
                    return Ok(());
                }
            }
        }
        ArchiveKind::Tar | ArchiveKind::TarGz => {
            let reader: Box<dyn Read> = match kind {
                ArchiveKind::TarGz => Box::new(flate2::read::GzDecoder::new(BufReader::new(file))),
                _ => Box::new(BufReader::new(file)),
            };
            let mut archive = tar::Archive::new(reader);
            let entries = archive
                .entries()
                .map_err(|_| refused(ErrorCode::ArchiveInvalid, "not a readable tar archive"))?;
            for entry in entries {
                let mut entry =
                    entry.map_err(|_| refused(ErrorCode::ArchiveInvalid, "damaged tar archive"))?;
                let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let kind = entry.header().entry_type();
                if kind.is_dir() {
                    continue;
                }
                let path = match safe_name(&raw_name) {
                    Ok(p) => p,
                    Err(why) => {
                        if !sink(unsafe_entry(raw_name, why)) {
                            return Ok(());
                        }
                        continue;
                    }
                };
                let size = entry.header().size().unwrap_or(u64::MAX);
                account(size.min(MAX_ENTRY_BYTES + 1))?;
                let out = if !kind.is_file() {
                    unsafe_entry(path, "links, devices and special files are refused")
                } else if is_noise(&path) {
                    Entry::Skipped {
                        path,
                        reason: "not a storage file (hidden or system file)",
                    }
                } else {
                    match read_capped(&mut entry, size) {
                        Ok(bytes) => Entry::File { path, bytes },
                        Err(why) => unsafe_entry(path, why),
                    }
                };
                if !sink(out) {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Lists the regular files under `root`, sorted, as paths relative to `root`'s parent
/// (so the root folder's name leads, as in an archive). Links are listed to be refused.
fn list_dir(root: &Path) -> Result<Vec<(String, std::path::PathBuf)>, Problem> {
    let unreadable = || {
        Problem::new(
            ErrorCode::ArchiveInvalid,
            "input",
            "directory cannot be read",
        )
    };
    let prefix = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), prefix)];
    while let Some((dir, name)) = stack.pop() {
        let mut children: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|_| unreadable())?
            .filter_map(Result::ok)
            .collect();
        children.sort_by_key(std::fs::DirEntry::file_name);
        // Depth first, in name order: push directories in reverse.
        let mut dirs = Vec::new();
        for child in children {
            let child_name = child.file_name().to_string_lossy().into_owned();
            let relative = if name.is_empty() {
                child_name
            } else {
                format!("{name}/{child_name}")
            };
            match child.file_type() {
                Ok(t) if t.is_dir() => dirs.push((child.path(), relative)),
                _ => out.push((relative, child.path())),
            }
        }
        stack.extend(dirs.into_iter().rev());
    }
    out.sort();
    Ok(out)
}

/// The number of files `walk_dir` will hand out (for progress).
pub fn count_dir(root: &Path) -> Result<u64, Problem> {
    Ok(list_dir(root)?.len() as u64)
}

/// The number of entries of an archive, when it can be known without reading it all.
pub fn count_archive(file: File, kind: ArchiveKind) -> Option<u64> {
    match kind {
        ArchiveKind::Zip => zip::ZipArchive::new(BufReader::new(file))
            .ok()
            .map(|z| z.len() as u64),
        ArchiveKind::Tar | ArchiveKind::TarGz => None,
    }
}

/// Walks a directory tree in name order, handing each file to `sink` (which returns false
/// to stop). Symbolic links and special files are refused, never followed.
pub fn walk_dir(root: &Path, sink: &mut dyn FnMut(Entry) -> bool) -> Result<(), Problem> {
    let mut budget = Budget::default();
    for (path, full) in list_dir(root)? {
        let out = match std::fs::symlink_metadata(&full) {
            Err(_) => unsafe_entry(path, "file cannot be read"),
            Ok(meta) if !meta.file_type().is_file() => {
                unsafe_entry(path, "links, devices and special files are refused")
            }
            Ok(_) if is_noise(&path) => Entry::Skipped {
                path,
                reason: "not a storage file (hidden or system file)",
            },
            Ok(meta) => {
                budget.account(meta.len().min(MAX_ENTRY_BYTES + 1))?;
                match File::open(&full) {
                    Ok(mut f) => match read_capped(&mut f, meta.len()) {
                        Ok(bytes) => Entry::File { path, bytes },
                        Err(why) => unsafe_entry(path, why),
                    },
                    Err(_) => unsafe_entry(path, "file cannot be read"),
                }
            }
        };
        if !sink(out) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_checked() {
        assert_eq!(safe_name("a/b/c").unwrap(), "a/b/c");
        assert_eq!(safe_name("a\\b").unwrap(), "a/b");
        assert!(safe_name("/etc/passwd").is_err());
        assert!(safe_name("a/../../x").is_err());
        assert!(safe_name("C:/x").is_err());
    }

    #[test]
    fn archives_are_recognised_by_their_bytes() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(ArchiveKind::Zip));
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Some(ArchiveKind::TarGz));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), Some(ArchiveKind::Tar));
        assert_eq!(sniff(b"MSH|"), None);
    }
}
