//! Every curated table in `mappings/` is well formed: source and version headers, a header
//! row, rows that parse, codes of the right shape, and derived keys consistent with the
//! codes they derive from.

use std::collections::HashSet;
use std::path::PathBuf;

use kakari::mapping::curated::CuratedTable;
use kakari::mapping::master_files::{is_digits, is_yj};

fn mappings_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/mappings"))
}

/// Checks a drug table row by row; returns the problems found.
fn check_drugs(name: &str, table: &CuratedTable) -> Vec<String> {
    let mut problems = Vec::new();
    let columns = [
        "receipt_code",
        "hot9",
        "yj_code",
        "price_code",
        "yj7",
        "class4",
        "name",
        "ingredient",
        "unit",
    ];
    let mut at = Vec::new();
    for c in columns {
        match table.column(c) {
            Some(i) => at.push(i),
            None => problems.push(format!("{name}: missing column {c}")),
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    let mut seen = HashSet::new();
    for row in &table.rows {
        let get = |i: usize| row.fields.get(at[i]).map_or("", String::as_str);
        let (receipt, hot9, yj, price) = (get(0), get(1), get(2), get(3));
        let (yj7, class4, drug) = (get(4), get(5), get(6));
        let mut bad = |what: &str| problems.push(format!("{name} line {}: {what}", row.line));
        if receipt.is_empty() && hot9.is_empty() {
            bad("neither receipt_code nor hot9");
        }
        if !receipt.is_empty() && !is_digits(receipt, 9) {
            bad("receipt_code is not 9 digits");
        }
        if !hot9.is_empty() && !is_digits(hot9, 9) {
            bad("hot9 is not 9 digits");
        }
        for (label, code) in [("yj_code", yj), ("price_code", price)] {
            if !code.is_empty() && !is_yj(code) {
                bad(&format!("{label} is not a 12-character YJ-form code"));
            }
        }
        if !yj.is_empty() && !price.is_empty() && yj.get(..7) != price.get(..7) {
            bad("yj_code and price_code name different ingredients");
        }
        let key = if yj.is_empty() { price } else { yj };
        if yj7 != key.get(..7).unwrap_or("") {
            bad("yj7 is not the first 7 characters of yj_code (or price_code)");
        }
        if class4 != yj7.get(..4).unwrap_or("") {
            bad("class4 is not the first 4 characters of yj7");
        }
        if drug.is_empty() {
            bad("name is empty");
        }
        for code in [receipt, hot9] {
            if !code.is_empty() && !seen.insert(code.to_owned()) {
                bad("code appears on more than one row");
            }
        }
    }
    problems
}

#[test]
fn every_mapping_file_is_well_formed() {
    let mut checked = 0;
    let mut problems = Vec::new();
    let entries = std::fs::read_dir(mappings_dir()).expect("mappings/ exists");
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("csv") {
            continue;
        }
        let name = format!(
            "mappings/{}",
            path.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned())
        );
        let text = std::fs::read_to_string(&path).expect("mapping files are UTF-8");
        let table = match CuratedTable::parse(&name, &text) {
            Ok(t) => t,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        if table.licence.is_none() {
            problems.push(format!("{name}: no '# licence:' line"));
        }
        if table.rows.is_empty() {
            problems.push(format!("{name}: no rows"));
        }
        if table.column("receipt_code").is_some() {
            problems.extend(check_drugs(&name, &table));
        }
        checked += 1;
    }
    assert!(checked >= 1, "no tables found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_drug_check_catches_an_inconsistent_key() {
    let text = "# source: t\n# version: 1\nreceipt_code,hot9,yj_code,price_code,yj7,class4,name,ingredient,unit\n612170710,,,2171022F2025,2171023,2171,x,,\n";
    let table = CuratedTable::parse("t.csv", text).expect("parses");
    let problems = check_drugs("t.csv", &table);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("line 4"));
}
