//! The drug master: every drug code kakari can name and compare.
//!
//! Built once from the curated table `mappings/drugs.csv` and, when the operator
//! configures a masters directory, from the public masters found there (see
//! [`master_files`](super::master_files)). A `DrugMaster` is immutable; reloading builds
//! a new one and [`DrugMasterHandle`] swaps it in, so readers never see a half-built
//! master and never wait for a load.
//!
//! Keys (DESIGN §2, medication identity): `yj7`, the first 7 characters of the YJ or
//! 薬価基準 code, identifies "same ingredient, same route"; `class4`, the first 4, the
//! therapeutic class (薬効分類). YJ, 薬価基準 and 一般名 codes carry their keys in the code
//! itself; HOT and receipt codes get them through the master. Local codes never map.
//!
//! Every lookup that finds nothing is tallied per code system (with the distinct codes,
//! up to a cap) so an operator can see which codes the masters miss. Drug codes are not
//! patient data; nothing else is recorded.
//!
//! [`DrugMaster::identify`] gives a record's [`DrugIdentity`]: the `yj7` key from the most
//! specific public coding that maps, else from a local coding through the institution's
//! own table ([`local_drugs`](super::local_drugs), loaded from the same masters
//! directory), else the record's own code, marked unmapped. It does not tally: it is
//! called for every record of every medication list, and the intake paths already tally
//! the codes they receive.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::curated::CuratedTable;
use super::local_drugs::LocalDrugTables;
use super::master_files::{self, MasterKind, MasterRow, is_digits, is_yj};
use crate::domain::{
    Coding, DrugCodeSystem, DrugIdentity, DrugKey, IdentityBasis, InstitutionCode, Yj7,
};
use crate::error::{ErrorCode, Issue, Problem};

/// The curated table compiled into the binary.
pub const CURATED_DRUGS: &str = include_str!("../../mappings/drugs.csv");

/// Distinct unmapped codes remembered per system.
const UNMAPPED_CODES_CAP: usize = 1000;

/// Master files larger than this are refused (the full 支払基金 master is about 6 MB).
const MAX_MASTER_BYTES: u64 = 256 * 1024 * 1024;

/// What the master knows about one drug product.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrugEntry {
    pub name: Option<String>,
    /// Unit of the receipt code's quantity (`錠`, `ｇ`, `ｍＬ`).
    pub unit: Option<String>,
    /// 個別医薬品コード (YJ), 12 characters.
    pub yj: Option<String>,
    /// 薬価基準収載医薬品コード, 12 characters.
    pub price: Option<String>,
    /// Generic (ingredient) name, from the curated table.
    pub ingredient: Option<String>,
}

impl DrugEntry {
    /// Same ingredient and route: first 7 characters of the YJ (or 薬価基準) code.
    pub fn yj7(&self) -> Option<&str> {
        self.yj
            .as_deref()
            .or(self.price.as_deref())
            .and_then(|c| c.get(..7))
    }

    /// Therapeutic class: first 4 characters.
    pub fn class4(&self) -> Option<&str> {
        self.yj7().and_then(|c| c.get(..4))
    }
}

/// The code families the master indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Receipt,
    Hot9,
    Hot7,
    Hot13,
    Yj,
    Price,
}

const KEYS: usize = 6;

impl Key {
    fn slot(self) -> usize {
        self as usize
    }
}

/// Counts of lookups that found nothing, per code system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnmappedReport {
    pub systems: Vec<UnmappedSystem>,
}

/// Unmapped lookups of one code system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmappedSystem {
    /// `hot9`, `receipt`, `local`, …
    pub system: &'static str,
    /// Lookups that found nothing.
    pub lookups: u64,
    /// The distinct codes, sorted, at most 1000.
    pub codes: Vec<String>,
    /// True when more distinct codes were seen than are listed.
    pub truncated: bool,
}

#[derive(Debug, Default)]
struct Tally {
    lookups: u64,
    codes: BTreeSet<String>,
    truncated: bool,
}

/// What a load read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Files read with their kind and the number of usable rows.
    pub files: Vec<(PathBuf, &'static str, usize)>,
    /// Rows or files skipped, located by file and line.
    pub issues: Vec<Issue>,
    /// Drug products the master knows.
    pub entries: usize,
}

/// An immutable drug master.
#[derive(Debug, Default)]
pub struct DrugMaster {
    entries: Vec<DrugEntry>,
    /// One code → entry map per code family, indexed by `Key::slot`.
    index: [HashMap<String, usize>; KEYS],
    /// Per-institution local drug tables (`local-drugs/` in the masters directory).
    local: LocalDrugTables,
    unmapped: Mutex<BTreeMap<&'static str, Tally>>,
}

impl DrugMaster {
    /// The curated table only.
    pub fn curated() -> Result<Self, Problem> {
        let mut master = Self::default();
        master.add_curated("mappings/drugs.csv", CURATED_DRUGS)?;
        Ok(master)
    }

    /// The curated table plus every master file in `dir` (`y_*.csv`, `*hot*.csv|txt`)
    /// and the institutions' local drug tables (`local-drugs/<code>.csv`).
    /// Unusable rows are skipped and reported; a directory that cannot be listed or a
    /// file that cannot be read refuses the load (the previous master stays in use).
    pub fn load(dir: &Path) -> Result<(Self, LoadReport), Problem> {
        let mut master = Self::curated()?;
        let mut report = LoadReport::default();
        let listing = std::fs::read_dir(dir).map_err(|_| {
            Problem::new(
                ErrorCode::MappingInvalid,
                dir.display().to_string(),
                "masters directory cannot be listed",
            )
        })?;
        let mut files: Vec<(PathBuf, MasterKind)> = listing
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter_map(|p| MasterKind::of(&p).map(|k| (p, k)))
            .collect();
        // 支払基金 first: its names are the ones written on receipts.
        files.sort_by_key(|(p, k)| (*k != MasterKind::ReceiptDrug, p.clone()));
        for (path, kind) in files {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let unreadable = || {
                Problem::new(
                    ErrorCode::MappingInvalid,
                    path.display().to_string(),
                    "master file cannot be read",
                )
            };
            let size = std::fs::metadata(&path).map_err(|_| unreadable())?.len();
            if size > MAX_MASTER_BYTES {
                return Err(Problem::new(
                    ErrorCode::MappingInvalid,
                    path.display().to_string(),
                    "master file is larger than 256 MB",
                ));
            }
            let bytes = std::fs::read(&path).map_err(|_| unreadable())?;
            let text = master_files::decode(&bytes);
            let rows = master_files::read(kind, &name, &text, &mut report.issues);
            report.files.push((path.clone(), kind.as_str(), rows.len()));
            for row in rows {
                master.add_row(&row);
            }
        }
        let (local, local_files) = LocalDrugTables::load(dir, &mut report.issues)?;
        master.local = local;
        report.files.extend(
            local_files
                .into_iter()
                .map(|(path, rows)| (path, "local drug table", rows)),
        );
        report.entries = master.entries.len();
        Ok((master, report))
    }

    fn add_curated(&mut self, name: &str, text: &str) -> Result<(), Problem> {
        let table = CuratedTable::parse(name, text)?;
        // yj7 and class4 are derived from the codes (checked by the tests); not read.
        let rows = table.select(
            &[
                "receipt_code",
                "hot9",
                "yj_code",
                "price_code",
                "name",
                "ingredient",
                "unit",
            ],
            &["yj7", "class4"],
        )?;
        for row in &rows {
            // Fields in the order selected above.
            let get = |i: usize| row.opt(i).map(str::to_owned);
            let hot9 = get(1);
            let entry = self.add_row(&MasterRow {
                receipt: get(0).into_iter().collect(),
                hot7: hot9.as_deref().and_then(|h| h.get(..7)).map(str::to_owned),
                hot9,
                yj: get(2),
                price: get(3),
                name: get(4),
                unit: get(6),
                hot13: None,
            });
            if let Some(e) = entry.and_then(|i| self.entries.get_mut(i)) {
                e.ingredient = e.ingredient.take().or_else(|| get(5));
            }
        }
        Ok(())
    }

    /// Adds or completes the entry a row describes; returns its index.
    fn add_row(&mut self, row: &MasterRow) -> Option<usize> {
        let mut keys: Vec<(Key, String)> = Vec::new();
        keys.extend(row.receipt.iter().map(|c| (Key::Receipt, c.clone())));
        keys.extend(row.hot13.iter().map(|c| (Key::Hot13, c.clone())));
        keys.extend(row.hot9.iter().map(|c| (Key::Hot9, c.clone())));
        keys.extend(row.yj.iter().map(|c| (Key::Yj, c.clone())));
        // HOT7 and 薬価基準 codes are shared by several products: they index the first
        // product seen, never merge products.
        let shared: Vec<(Key, String)> = row
            .hot7
            .iter()
            .map(|c| (Key::Hot7, c.clone()))
            .chain(row.price.iter().map(|c| (Key::Price, c.clone())))
            .collect();
        if keys.is_empty() && shared.is_empty() {
            return None;
        }
        let found = keys
            .iter()
            .find_map(|(k, code)| self.index.get(k.slot())?.get(code).copied());
        let at = match found {
            Some(i) => i,
            None => {
                self.entries.push(DrugEntry::default());
                self.entries.len() - 1
            }
        };
        let entry = self.entries.get_mut(at)?;
        entry.name = entry.name.take().or_else(|| row.name.clone());
        entry.unit = entry.unit.take().or_else(|| row.unit.clone());
        entry.yj = entry.yj.take().or_else(|| row.yj.clone());
        entry.price = entry.price.take().or_else(|| row.price.clone());
        for (key, code) in keys.into_iter().chain(shared) {
            if let Some(map) = self.index.get_mut(key.slot()) {
                map.entry(code).or_insert(at);
            }
        }
        Some(at)
    }

    /// Drug products known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn get(&self, key: Key, code: &str) -> Option<&DrugEntry> {
        self.index
            .get(key.slot())?
            .get(code)
            .and_then(|&i| self.entries.get(i))
    }

    /// The entry for a coding, without tallying a miss.
    fn find(&self, coding: &Coding) -> Option<&DrugEntry> {
        let code = coding.code.trim();
        match DrugCodeSystem::of(coding) {
            DrugCodeSystem::ReceiptDrug => self.get(Key::Receipt, code),
            DrugCodeSystem::Hot9 => self.get(Key::Hot9, code).or_else(|| {
                // SS-MIX2 feeds label receipt codes (6xxxxxxxx) as HOT9.
                (is_digits(code, 9) && code.starts_with('6'))
                    .then(|| self.get(Key::Receipt, code))
                    .flatten()
            }),
            DrugCodeSystem::Hot13 => self
                .get(Key::Hot13, code)
                .or_else(|| code.get(..9).and_then(|h| self.get(Key::Hot9, h))),
            DrugCodeSystem::Hot7 => self.get(Key::Hot7, code),
            DrugCodeSystem::Yj => self
                .get(Key::Yj, code)
                .or_else(|| self.get(Key::Price, code)),
            DrugCodeSystem::DrugPriceList => self
                .get(Key::Price, code)
                .or_else(|| self.get(Key::Yj, code)),
            DrugCodeSystem::GenericName | DrugCodeSystem::Local => None,
        }
    }

    /// The entry for a coding; a miss is tallied in the unmapped report.
    pub fn lookup(&self, coding: &Coding) -> Option<&DrugEntry> {
        let found = self.find(coding);
        if found.is_none() {
            self.tally(coding);
        }
        found
    }

    /// A display name for any drug coding the master knows.
    pub fn display_name(&self, coding: &Coding) -> Option<&str> {
        self.lookup(coding).and_then(|e| e.name.as_deref())
    }

    /// The unit a receipt or HOT code's quantities are in.
    pub fn unit(&self, coding: &Coding) -> Option<&str> {
        self.find(coding).and_then(|e| e.unit.as_deref())
    }

    /// The common key (first 7 characters of YJ / 薬価基準): "same ingredient, same
    /// route". YJ, 薬価基準 and 一般名 codes give it themselves.
    pub fn yj7(&self, coding: &Coding) -> Option<String> {
        self.key(coding, DrugCodeSystem::of(coding), true)
            .map(|k| k.as_str().to_owned())
    }

    /// The key of one coding of family `system`; a master miss is tallied when `tally`.
    fn key(&self, coding: &Coding, system: DrugCodeSystem, tally: bool) -> Option<Yj7> {
        let code = coding.code.trim();
        if matches!(
            system,
            DrugCodeSystem::Yj | DrugCodeSystem::DrugPriceList | DrugCodeSystem::GenericName
        ) && is_yj(code)
        {
            return Yj7::of_code(code);
        }
        let entry = if tally {
            self.lookup(coding)
        } else {
            self.find(coding)
        };
        entry.and_then(DrugEntry::yj7).and_then(Yj7::of_code)
    }

    /// Which drug a record's codings name. Public codings are tried from the most
    /// specific family (YJ, 薬価基準, 一般名, HOT13, HOT9, HOT7, receipt code); then local
    /// codings through `institution`'s local table. A drug nothing maps keeps its own
    /// code as key (a public coding before a local one), or its name when it has no code.
    pub fn identify(
        &self,
        codings: &[Coding],
        institution: Option<&InstitutionCode>,
        name: Option<&str>,
    ) -> DrugIdentity {
        let families: Vec<(DrugCodeSystem, &Coding)> =
            codings.iter().map(|c| (DrugCodeSystem::of(c), c)).collect();
        let mut public: Vec<&(DrugCodeSystem, &Coding)> = families
            .iter()
            .filter(|(s, _)| *s != DrugCodeSystem::Local)
            .collect();
        public.sort_by_key(|(s, _)| specificity(*s));
        for (system, coding) in &public {
            if let Some(key) = self.key(coding, *system, false) {
                return DrugIdentity {
                    key: DrugKey::Yj7(key),
                    basis: IdentityBasis::Coded(*system),
                };
            }
        }
        let mut via_table: Option<&Coding> = None;
        if let Some(institution) = institution {
            for (_, coding) in families.iter().filter(|(s, _)| *s == DrugCodeSystem::Local) {
                let Some(target) = self.local.lookup(institution, coding) else {
                    continue;
                };
                if let Some(key) = self.key(target, DrugCodeSystem::of(target), false) {
                    return DrugIdentity {
                        key: DrugKey::Yj7(key),
                        basis: IdentityBasis::LocalTable(institution.clone()),
                    };
                }
                via_table = via_table.or(Some(target));
            }
        }
        if let (Some(target), Some(institution)) = (via_table, institution) {
            return DrugIdentity {
                key: code_key(target),
                basis: IdentityBasis::LocalTable(institution.clone()),
            };
        }
        let own = public
            .first()
            .map(|(_, c)| *c)
            .or_else(|| codings.iter().find(|c| !c.code.trim().is_empty()));
        let key = match (own, name.map(str::trim).filter(|n| !n.is_empty())) {
            (Some(coding), _) => code_key(coding),
            (None, Some(name)) => DrugKey::Name(name.to_owned()),
            (None, None) => DrugKey::Name(String::new()),
        };
        DrugIdentity {
            key,
            basis: IdentityBasis::Unmapped,
        }
    }

    /// The therapeutic class (first 4 characters of YJ / 薬価基準).
    pub fn class4(&self, coding: &Coding) -> Option<String> {
        self.yj7(coding).and_then(|k| k.get(..4).map(str::to_owned))
    }

    fn tally(&self, coding: &Coding) {
        let system = match DrugCodeSystem::of(coding) {
            DrugCodeSystem::Hot9 => "hot9",
            DrugCodeSystem::Hot7 => "hot7",
            DrugCodeSystem::Hot13 => "hot13",
            DrugCodeSystem::Yj => "yj",
            DrugCodeSystem::DrugPriceList => "price-list",
            DrugCodeSystem::ReceiptDrug => "receipt",
            DrugCodeSystem::GenericName => "generic-name",
            DrugCodeSystem::Local => "local",
        };
        let mut unmapped = self.unmapped.lock().unwrap_or_else(PoisonError::into_inner);
        let tally = unmapped.entry(system).or_default();
        tally.lookups = tally.lookups.saturating_add(1);
        let code = coding.code.trim();
        // Local codes are listed by count only: a clinic's own code can be anything.
        if system != "local" && !tally.codes.contains(code) {
            if tally.codes.len() < UNMAPPED_CODES_CAP {
                tally.codes.insert(code.to_owned());
            } else {
                tally.truncated = true;
            }
        }
    }

    /// Lookups that found nothing since this master was built.
    pub fn unmapped(&self) -> UnmappedReport {
        let unmapped = self.unmapped.lock().unwrap_or_else(PoisonError::into_inner);
        UnmappedReport {
            systems: unmapped
                .iter()
                .map(|(system, t)| UnmappedSystem {
                    system,
                    lookups: t.lookups,
                    codes: t.codes.iter().cloned().collect(),
                    truncated: t.truncated,
                })
                .collect(),
        }
    }
}

/// Order in which a record's public codings are tried (most specific first).
fn specificity(system: DrugCodeSystem) -> u8 {
    match system {
        DrugCodeSystem::Yj => 0,
        DrugCodeSystem::DrugPriceList => 1,
        DrugCodeSystem::GenericName => 2,
        DrugCodeSystem::Hot13 => 3,
        DrugCodeSystem::Hot9 => 4,
        DrugCodeSystem::Hot7 => 5,
        DrugCodeSystem::ReceiptDrug => 6,
        DrugCodeSystem::Local => 7,
    }
}

/// The exact-code key of a coding no table maps.
fn code_key(coding: &Coding) -> DrugKey {
    DrugKey::Code {
        system: coding.system.clone(),
        code: coding.code.trim().to_owned(),
    }
}

/// The master in use, swappable without restart.
#[derive(Debug)]
pub struct DrugMasterHandle {
    current: RwLock<Arc<DrugMaster>>,
}

impl DrugMasterHandle {
    pub fn new(master: DrugMaster) -> Self {
        Self {
            current: RwLock::new(Arc::new(master)),
        }
    }

    /// The master to use for one request or batch.
    pub fn current(&self) -> Arc<DrugMaster> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Builds a new master (curated table, plus `dir` when given) and swaps it in. On
    /// error the master in use is kept. The unmapped tally starts afresh.
    pub fn reload(&self, dir: Option<&Path>) -> Result<LoadReport, Problem> {
        let (master, report) = match dir {
            Some(dir) => DrugMaster::load(dir)?,
            None => {
                let master = DrugMaster::curated()?;
                let entries = master.len();
                (
                    master,
                    LoadReport {
                        entries,
                        ..LoadReport::default()
                    },
                )
            }
        };
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(master);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::code_system::KnownSystem;

    fn coding(system: KnownSystem, code: &str) -> Coding {
        Coding::new(system.uri(), code, None)
    }

    #[test]
    fn brands_and_generics_of_one_ingredient_share_yj7_and_statins_share_class4() {
        let m = DrugMaster::curated().unwrap();
        let norvasc = m.yj7(&coding(KnownSystem::Hot9, "103299401"));
        let generic = m.yj7(&coding(KnownSystem::ReceiptDrug, "620007870"));
        assert_eq!(norvasc.as_deref(), Some("2171022"));
        assert_eq!(norvasc, generic);
        let pravastatin = m.class4(&coding(KnownSystem::ReceiptDrug, "610454085"));
        let simvastatin = m.class4(&coding(KnownSystem::Hot9, "103466001"));
        assert_eq!(pravastatin.as_deref(), Some("2189"));
        assert_eq!(pravastatin, simvastatin);
        assert_ne!(
            m.yj7(&coding(KnownSystem::ReceiptDrug, "610454085")),
            m.yj7(&coding(KnownSystem::Hot9, "103466001"))
        );
    }

    #[test]
    fn every_code_family_reaches_the_same_product() {
        let m = DrugMaster::curated().unwrap();
        for c in [
            coding(KnownSystem::Hot9, "103835401"),
            coding(KnownSystem::Hot7, "1038354"),
            coding(KnownSystem::Hot13, "1038354010101"),
            coding(KnownSystem::Yj, "2233002F1174"),
            coding(KnownSystem::ReceiptDrug, "610453119"),
        ] {
            assert_eq!(m.display_name(&c), Some("ムコダイン錠２５０ｍｇ"), "{c:?}");
        }
        // YJ and 一般名 codes carry their own key.
        assert_eq!(
            m.yj7(&coding(KnownSystem::GenericName, "2171022F2ZZZ"))
                .as_deref(),
            Some("2171022")
        );
        // A receipt code labelled HOT9 (as SS-MIX2 feeds do) still maps.
        assert!(
            m.display_name(&coding(KnownSystem::Hot9, "620098801"))
                .is_some()
        );
        assert_eq!(
            m.unit(&coding(KnownSystem::ReceiptDrug, "620098801")),
            Some("錠")
        );
    }

    #[test]
    fn identify_prefers_public_codes_then_the_institution_table_then_the_own_code() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("local-drugs");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(
            folder.join("1319999999.csv"),
            "# source: t\n# version: 1\n# licence: t\nlocal_system,local_code,target_system,target_code,name\n,L1,receipt,620098801,\n,L2,hot9,199999901,\n",
        )
        .unwrap();
        let (m, report) = DrugMaster::load(dir.path()).unwrap();
        assert!(
            report
                .files
                .iter()
                .any(|f| f.1 == "local drug table" && f.2 == 2)
        );
        let clinic = InstitutionCode::parse("1319999999").unwrap();
        let other = InstitutionCode::parse("1311111111").unwrap();
        let local = |code: &str| Coding::new("urn:kakari:local:1319999999:99LOC", code, None);

        // A YJ code carries its key; it wins over a HOT9 of another product.
        let both = [
            coding(KnownSystem::Hot9, "103835401"),
            coding(KnownSystem::Yj, "2171022F2025"),
        ];
        let id = m.identify(&both, None, None);
        assert_eq!(id.key, DrugKey::Yj7(Yj7::of_code("2171022").unwrap()));
        assert_eq!(id.basis, IdentityBasis::Coded(DrugCodeSystem::Yj));

        // A local code maps through its own institution's table only.
        let id = m.identify(&[local("L1")], Some(&clinic), None);
        assert_eq!(
            id.key.yj7().map(|k| k.to_string()).as_deref(),
            Some("1149019")
        );
        assert_eq!(id.basis, IdentityBasis::LocalTable(clinic.clone()));
        let id = m.identify(&[local("L1")], Some(&other), None);
        assert_eq!(id.basis, IdentityBasis::Unmapped);
        assert_eq!(
            id.key,
            DrugKey::Code {
                system: "urn:kakari:local:1319999999:99LOC".into(),
                code: "L1".into()
            }
        );

        // A table target the masters do not know: compared by that public code.
        let id = m.identify(&[local("L2")], Some(&clinic), None);
        assert!(!id.is_mapped());
        assert_eq!(
            id.key,
            DrugKey::Code {
                system: KnownSystem::Hot9.uri().into(),
                code: "199999901".into()
            }
        );

        // Unmapped: a public code before a local one; no code at all: the name.
        let id = m.identify(
            &[local("X"), coding(KnownSystem::Hot9, "199999902")],
            Some(&clinic),
            None,
        );
        assert_eq!(
            id.key,
            DrugKey::Code {
                system: KnownSystem::Hot9.uri().into(),
                code: "199999902".into()
            }
        );
        let id = m.identify(&[], None, Some(" 院内製剤 "));
        assert_eq!(id.key, DrugKey::Name("院内製剤".into()));
        // Identification does not tally misses.
        assert!(m.unmapped().systems.is_empty());
    }

    #[test]
    fn misses_are_tallied_per_system_and_local_codes_are_not_listed() {
        let m = DrugMaster::curated().unwrap();
        assert!(m.lookup(&coding(KnownSystem::Hot9, "199999901")).is_none());
        assert!(m.lookup(&coding(KnownSystem::Hot9, "199999901")).is_none());
        assert!(
            m.lookup(&Coding::new("http://clinic.example/drugs", "X1", None))
                .is_none()
        );
        let report = m.unmapped();
        let hot9 = report.systems.iter().find(|s| s.system == "hot9").unwrap();
        assert_eq!(
            (hot9.lookups, hot9.codes.clone()),
            (2, vec!["199999901".to_owned()])
        );
        let local = report.systems.iter().find(|s| s.system == "local").unwrap();
        assert_eq!((local.lookups, local.codes.len()), (1, 0));
    }

    #[test]
    fn reload_reads_the_masters_directory_and_swaps_the_master() {
        let dir = tempfile::tempdir().unwrap();
        let y = "\"0\",\"Y\",\"699999901\",\"6\",\"試験錠１ｍｇ\",\"1\",\"x\",\"33\",\"1\",\"錠\",\"1\",\"1.00\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"1\",\"1.00\",\"0\",\"0\",\"1\",\"\",\"20240401\",\"99999999\",\"9999999F1010\",\"1\",\"0\",\"試験錠\"\r\n";
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(y);
        std::fs::write(dir.path().join("y_TEST.csv"), &sjis).unwrap();
        let hot = "基準番号（ＨＯＴコード）,処方用番号（ＨＯＴ７）,薬価基準収載医薬品コード,個別医薬品コード,レセプト電算処理システムコード（１）,販売名\n999999901,9999999,9999999F1010,9999999F1029,699999901,試験錠１ｍｇ\nbad,row\n";
        std::fs::write(dir.path().join("MEDIS_HOT9.TXT"), hot).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();

        let handle = DrugMasterHandle::new(DrugMaster::curated().unwrap());
        let probe = coding(KnownSystem::Hot9, "999999901");
        assert!(handle.current().display_name(&probe).is_none());
        let before = handle.current();
        let report = handle.reload(Some(dir.path())).unwrap();
        assert_eq!(report.files.len(), 2);
        assert_eq!(report.issues.len(), 1);
        assert_eq!(report.issues[0].location, "MEDIS_HOT9.TXT line 3");
        let after = handle.current();
        assert_eq!(after.display_name(&probe), Some("試験錠１ｍｇ"));
        assert_eq!(after.yj7(&probe).as_deref(), Some("9999999"));
        assert_eq!(
            after.unit(&coding(KnownSystem::ReceiptDrug, "699999901")),
            Some("錠")
        );
        // A reader holding the old master keeps a consistent view.
        assert!(before.display_name(&probe).is_none());
        // A failed reload keeps the master in use.
        assert!(handle.reload(Some(&dir.path().join("missing"))).is_err());
        assert!(handle.current().display_name(&probe).is_some());
    }
}
