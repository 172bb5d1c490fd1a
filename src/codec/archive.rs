//! Safe reading of file trees: zip, tar and tar.gz archives, and directories. One walker
//! with one set of [`Limits`] serves every archive kakari takes (SS-MIX2 storage trees,
//! 特定健診 submissions) and `kakari convert`'s inputs.
//!
//! Each file comes out as an [`Entry`]: its bytes, or why it was refused, skipped (hidden
//! and system files) or left unread (the caller's `wanted` filter said no: nothing is
//! decompressed for it). The rules, the same for every caller:
//!
//! * Names: `\` is read as `/` (Windows tools write it); absolute paths, drive letters,
//!   NULs and any `..` component refuse the entry. Links, devices and other special
//!   files are refused, never followed. Encrypted zip entries and unknown methods are
//!   refused.
//! * Sizes: an entry larger than `max_entry_bytes` (declared or actual), or whose
//!   decompressed/compressed ratio is over `max_ratio` (declared or actual: headers can
//!   lie), is refused; more than `max_entries` entries or `max_total_bytes` decompressed
//!   in all stops the walk ([`Stop::Limit`]).
//!
//! Refusals carry a [`Refusal`] kind so each format can report them under its own stable
//! error codes.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

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

/// Caps applied while walking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries (files, directories, links) in the tree.
    pub max_entries: usize,
    /// Largest decompressed file.
    pub max_entry_bytes: u64,
    /// Most decompressed bytes over all files read.
    pub max_total_bytes: u64,
    /// Highest decompressed/compressed ratio of one entry (zip bombs).
    pub max_ratio: u64,
}

impl Default for Limits {
    /// 5 million entries, 16 MiB per file, 256 GiB in all, ratio 200 (HL7 and CDA text
    /// compress 5-30 times; a ratio of 200 is only reached by crafted input).
    fn default() -> Self {
        Self {
            max_entries: 5_000_000,
            max_entry_bytes: 16 * 1024 * 1024,
            max_total_bytes: 256 * 1024 * 1024 * 1024,
            max_ratio: 200,
        }
    }
}

/// Why one entry was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unsafe name, link, device, encryption or unsupported method.
    Unsafe(&'static str),
    /// Over the per-file size or ratio limit.
    Limit(&'static str),
    /// The entry's data cannot be read (damaged, CRC failure).
    Damaged(&'static str),
}

impl Refusal {
    /// The fixed reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Unsafe(r) | Self::Limit(r) | Self::Damaged(r) => r,
        }
    }
}

/// Why the walk stopped before the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Not a readable archive of its kind, or damaged past reading.
    Invalid(&'static str),
    /// Entry count or total size over the limit.
    Limit(&'static str),
}

impl Stop {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Invalid(r) | Self::Limit(r) => r,
        }
    }
}

/// A file of the tree, or why it was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File {
        path: String,
        bytes: Vec<u8>,
    },
    /// `path` is the name as written (also when the name itself was refused; it is a
    /// location for the sender's report, never logged); `index` is the entry's 1-based
    /// position in the archive.
    Refused {
        path: String,
        index: usize,
        refusal: Refusal,
    },
    /// Hidden and system files (`.DS_Store`, `__MACOSX/`, `Thumbs.db`).
    Skipped {
        path: String,
        reason: &'static str,
    },
    /// The caller's filter did not want it; nothing was decompressed.
    Unread {
        path: String,
    },
}

const NOISE: &str = "not a storage file (hidden or system file)";

/// Checks an entry name: relative, no `..`, no drive letters or NULs. Returns it with `/`.
pub fn safe_name(name: &str) -> Result<String, &'static str> {
    let unified = name.replace('\\', "/");
    if unified.is_empty() {
        return Err("empty entry name");
    }
    if unified.starts_with('/') || unified.contains('\0') || unified.get(1..2) == Some(":") {
        return Err("absolute path");
    }
    if unified.split('/').any(|c| c == ".." || c.contains(':')) {
        return Err("path leaves the archive (..) or names a drive");
    }
    Ok(unified)
}

fn is_noise(path: &str) -> bool {
    path.split('/')
        .any(|c| c.starts_with('.') || c == "__MACOSX" || c.eq_ignore_ascii_case("Thumbs.db"))
}

/// The walk's running state: entry count and decompressed total against the limits.
struct Walker<'a> {
    limits: Limits,
    count: usize,
    total: u64,
    wanted: &'a dyn Fn(&str) -> bool,
    sink: &'a mut dyn FnMut(Entry) -> bool,
}

/// What to do with an entry once its name was checked.
enum Next {
    Read(String),
    Done,
}

impl<'a> Walker<'a> {
    fn new(
        limits: &Limits,
        wanted: &'a dyn Fn(&str) -> bool,
        sink: &'a mut dyn FnMut(Entry) -> bool,
    ) -> Self {
        Self {
            limits: *limits,
            count: 0,
            total: 0,
            wanted,
            sink,
        }
    }

    fn count_entry(&mut self) -> Result<(), Stop> {
        self.count += 1;
        if self.count > self.limits.max_entries {
            return Err(Stop::Limit("more entries than the limit"));
        }
        Ok(())
    }

    /// Hands `entry` on; false when the sink wants no more.
    fn emit(&mut self, entry: Entry) -> bool {
        (self.sink)(entry)
    }

    /// Checks a name and the filters; `Next::Read(path)` when the bytes should be read.
    fn admit(&mut self, raw_name: &str, special: Option<&'static str>) -> (Next, bool) {
        let path = match safe_name(raw_name) {
            Ok(p) => p,
            Err(why) => {
                let more = self.refuse(raw_name.to_owned(), Refusal::Unsafe(why));
                return (Next::Done, more);
            }
        };
        if let Some(why) = special {
            let more = self.refuse(path, Refusal::Unsafe(why));
            return (Next::Done, more);
        }
        if is_noise(&path) {
            let more = self.emit(Entry::Skipped {
                path,
                reason: NOISE,
            });
            return (Next::Done, more);
        }
        if !(self.wanted)(&path) {
            let more = self.emit(Entry::Unread { path });
            return (Next::Done, more);
        }
        (Next::Read(path), true)
    }

    fn refuse(&mut self, path: String, refusal: Refusal) -> bool {
        let index = self.count;
        self.emit(Entry::Refused {
            path,
            index,
            refusal,
        })
    }

    /// Reads an entry's bytes under the limits; `compressed` is the stored size when the
    /// container knows it (zip), for the ratio check.
    fn read(
        &mut self,
        path: String,
        reader: &mut dyn Read,
        declared: u64,
        compressed: Option<u64>,
    ) -> Result<bool, Stop> {
        const TOO_LARGE: Refusal = Refusal::Limit("entry larger than the per-file limit");
        const BOMB: Refusal = Refusal::Limit("compression ratio too high (zip bomb)");
        let (max, max_ratio) = (self.limits.max_entry_bytes, self.limits.max_ratio);
        let ratio_over =
            |size: u64| compressed.is_some_and(|c| c > 0 && size / c.max(1) > max_ratio);
        if declared > max {
            return Ok(self.refuse(path, TOO_LARGE));
        }
        if ratio_over(declared) {
            return Ok(self.refuse(path, BOMB));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(declared.min(1 << 20)).unwrap_or(0));
        if reader.take(max + 1).read_to_end(&mut bytes).is_err() {
            let damaged = Refusal::Damaged("entry data cannot be read (damaged or CRC failure)");
            return Ok(self.refuse(path, damaged));
        }
        let actual = bytes.len() as u64;
        if actual > max {
            return Ok(self.refuse(path, TOO_LARGE));
        }
        if ratio_over(actual) {
            return Ok(self.refuse(path, BOMB));
        }
        self.total = self.total.saturating_add(actual);
        if self.total > self.limits.max_total_bytes {
            return Err(Stop::Limit(
                "decompressed total over the limit; remaining entries not read",
            ));
        }
        Ok(self.emit(Entry::File { path, bytes }))
    }
}

/// Walks an archive, handing each entry to `sink` (which returns false to stop). Entries
/// whose path `wanted` refuses come out as [`Entry::Unread`]. Returns why the walk
/// stopped early, if the archive itself was at fault.
pub fn walk_archive<R: Read + Seek>(
    reader: R,
    kind: ArchiveKind,
    limits: &Limits,
    wanted: &dyn Fn(&str) -> bool,
    sink: &mut dyn FnMut(Entry) -> bool,
) -> Result<(), Stop> {
    let mut walker = Walker::new(limits, wanted, sink);
    match kind {
        ArchiveKind::Zip => walk_zip(reader, &mut walker),
        ArchiveKind::Tar => walk_tar(Box::new(BufReader::new(reader)), &mut walker),
        ArchiveKind::TarGz => walk_tar(
            Box::new(flate2::read::GzDecoder::new(BufReader::new(reader))),
            &mut walker,
        ),
    }
}

fn walk_zip<R: Read + Seek>(reader: R, walker: &mut Walker<'_>) -> Result<(), Stop> {
    let mut zip = zip::ZipArchive::new(BufReader::new(reader))
        .map_err(|_| Stop::Invalid("not a readable zip archive"))?;
    if zip.len() > walker.limits.max_entries {
        return Err(Stop::Limit("more entries than the limit"));
    }
    for i in 0..zip.len() {
        walker.count_entry()?;
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(_) => {
                let more = walker.emit(Entry::Refused {
                    path: format!("entry[{}]", i + 1),
                    index: i + 1,
                    refusal: Refusal::Unsafe(
                        "entry cannot be read (encrypted, unsupported method or damaged header)",
                    ),
                });
                if !more {
                    return Ok(());
                }
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let raw_name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let special = if entry.is_symlink() {
            Some("links are refused")
        } else if entry.enclosed_name().is_none() && safe_name(&raw_name).is_ok() {
            Some("path leaves the archive")
        } else {
            None
        };
        let (next, more) = walker.admit(&raw_name, special);
        let more = match next {
            Next::Done => more,
            Next::Read(path) => {
                let (declared, compressed) = (entry.size(), entry.compressed_size());
                walker.read(path, &mut entry, declared, Some(compressed))?
            }
        };
        if !more {
            return Ok(());
        }
    }
    Ok(())
}

fn walk_tar(reader: Box<dyn Read + '_>, walker: &mut Walker<'_>) -> Result<(), Stop> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|_| Stop::Invalid("not a readable tar archive"))?;
    for entry in entries {
        walker.count_entry()?;
        let mut entry = entry.map_err(|_| Stop::Invalid("damaged tar archive"))?;
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        let special = (!kind.is_file()).then_some("links, devices and special files are refused");
        let (next, more) = walker.admit(&raw_name, special);
        let more = match next {
            Next::Done => more,
            Next::Read(path) => {
                let declared = entry.header().size().unwrap_or(u64::MAX);
                walker.read(path, &mut entry, declared, None)?
            }
        };
        if !more {
            return Ok(());
        }
    }
    Ok(())
}

/// Lists the entries under `root`, sorted, as paths relative to `root`'s parent (so the
/// root folder's name leads, as in an archive). Links are listed, to be refused.
fn list_dir(root: &Path) -> Result<Vec<(String, PathBuf)>, Stop> {
    let unreadable = Stop::Invalid("directory cannot be read");
    // The tree is named by its folder; a folder the user chose that is itself hidden
    // (`.cache/tree`) is not noise inside the tree, so it does not name the entries.
    let prefix = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !is_noise(n))
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), prefix)];
    while let Some((dir, name)) = stack.pop() {
        let mut children: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|_| unreadable)?
            .filter_map(Result::ok)
            .collect();
        children.sort_by_key(std::fs::DirEntry::file_name);
        for child in children {
            let child_name = child.file_name().to_string_lossy().into_owned();
            let relative = if name.is_empty() {
                child_name
            } else {
                format!("{name}/{child_name}")
            };
            match child.file_type() {
                Ok(t) if t.is_dir() => stack.push((child.path(), relative)),
                _ => out.push((relative, child.path())),
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The number of files `walk_dir` will hand out (for progress).
pub fn count_dir(root: &Path) -> Result<u64, Stop> {
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

/// Walks a directory tree in name order, with the archive rules (symbolic links and
/// special files refused, never followed; the same limits).
pub fn walk_dir(
    root: &Path,
    limits: &Limits,
    wanted: &dyn Fn(&str) -> bool,
    sink: &mut dyn FnMut(Entry) -> bool,
) -> Result<(), Stop> {
    let mut walker = Walker::new(limits, wanted, sink);
    for (name, full) in list_dir(root)? {
        walker.count_entry()?;
        let meta = std::fs::symlink_metadata(&full);
        let special = match &meta {
            Err(_) => Some("file cannot be read"),
            Ok(m) if !m.file_type().is_file() => {
                Some("links, devices and special files are refused")
            }
            Ok(_) => None,
        };
        let (next, more) = walker.admit(&name, special);
        let more = match next {
            Next::Done => more,
            Next::Read(path) => {
                let declared = meta.as_ref().map_or(0, std::fs::Metadata::len);
                match File::open(&full) {
                    Ok(mut f) => walker.read(path, &mut f, declared, None)?,
                    Err(_) => walker.refuse(path, Refusal::Damaged("file cannot be read")),
                }
            }
        };
        if !more {
            break;
        }
    }
    Ok(())
}

/// Every entry wanted.
pub fn everything(_: &str) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    #[test]
    fn entry_names_are_checked() {
        assert_eq!(safe_name("a/b/c").unwrap(), "a/b/c");
        assert_eq!(safe_name("a\\b").unwrap(), "a/b");
        assert!(safe_name("/etc/passwd").is_err());
        assert!(safe_name("a/../../x").is_err());
        assert!(safe_name("..\\x").is_err());
        assert!(safe_name("C:/x").is_err());
        assert!(safe_name("a/C:x").is_err());
        assert!(safe_name("").is_err());
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

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        {
            let mut zip = zip::ZipWriter::new(&mut out);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            for (name, bytes) in files {
                zip.start_file(*name, options).unwrap();
                zip.write_all(bytes).unwrap();
            }
            zip.finish().unwrap();
        }
        out.into_inner()
    }

    fn walk(bytes: &[u8], limits: &Limits) -> (Vec<Entry>, Result<(), Stop>) {
        let mut seen = Vec::new();
        let result = walk_archive(
            Cursor::new(bytes),
            ArchiveKind::Zip,
            limits,
            &|p: &str| !p.ends_with(".xsd"),
            &mut |e| {
                seen.push(e);
                true
            },
        );
        (seen, result)
    }

    #[test]
    fn files_are_read_refused_skipped_or_left_unread() {
        let bomb = vec![b'A'; 1_000_000];
        let zip = zip_of(&[
            ("root/a.txt", b"hello"),
            ("root/schema.xsd", b"<xs:schema/>"),
            ("root/.DS_Store", b"x"),
            ("root/bomb.txt", &bomb),
        ]);
        let (seen, result) = walk(&zip, &Limits::default());
        assert_eq!(result, Ok(()));
        assert_eq!(
            seen[0],
            Entry::File {
                path: "root/a.txt".into(),
                bytes: b"hello".to_vec()
            }
        );
        assert_eq!(
            seen[1],
            Entry::Unread {
                path: "root/schema.xsd".into()
            }
        );
        assert!(matches!(seen[2], Entry::Skipped { .. }));
        assert!(matches!(
            seen[3],
            Entry::Refused {
                refusal: Refusal::Limit(_),
                ..
            }
        ));
    }

    #[test]
    fn a_hidden_root_folder_does_not_hide_its_files() {
        let root = tempfile::Builder::new()
            .prefix(".hidden")
            .tempdir()
            .unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        std::fs::write(root.path().join("sub/a.txt"), b"a").unwrap();
        std::fs::write(root.path().join("sub/.DS_Store"), b"x").unwrap();
        let mut seen = Vec::new();
        let walked = walk_dir(root.path(), &Limits::default(), &everything, &mut |e| {
            seen.push(e);
            true
        });
        assert_eq!(walked, Ok(()));
        assert!(matches!(seen[0], Entry::Skipped { .. }), "{seen:?}");
        assert_eq!(
            seen[1],
            Entry::File {
                path: "sub/a.txt".into(),
                bytes: b"a".to_vec()
            }
        );
    }

    #[test]
    fn the_total_and_the_entry_count_stop_the_walk() {
        let zip = zip_of(&[("a", b"0123456789"), ("b", b"0123456789")]);
        let small = Limits {
            max_total_bytes: 15,
            ..Limits::default()
        };
        assert!(matches!(walk(&zip, &small).1, Err(Stop::Limit(_))));
        let few = Limits {
            max_entries: 1,
            ..Limits::default()
        };
        assert!(matches!(walk(&zip, &few).1, Err(Stop::Limit(_))));
        assert!(matches!(
            walk(b"PK\x03\x04garbage", &Limits::default()).1,
            Err(Stop::Invalid(_))
        ));
    }
}
