//! Realistic synthetic HL7 v2 messages as SS-MIX2 exports them (shared by the HL7 bench
//! and the intake load generator). Everything in them is made up.

#![allow(dead_code)]

/// A realistic RDE^O11 (OMP-01): four drugs, each ORC/RXE/TQ1/RXR.
pub fn rde_o11_for(patient: &str, control: u64) -> String {
    let mut m = format!(
        "MSH|^~\\&|HIS123|SEND|GW|RCV|20240401101010.123||RDE^O11^RDE_O11|{control}|P|2.5||||||UNICODE UTF-8\r\
         PID|0001||{patient}^^^^PI||宮奥^京愛^^^^^L^I~ミヤオク^キョウア^^^^^L^P||19480405|M|||^^^^422-8033^JPN^H^静岡県静岡市登呂１−３−５||^PRN^PH^^^^^^^^^054-000-0000|^WPN^PH^^^^^^^^^054-999-2455\r\
         PV1|0001|O|01^^^^^C||||110^医師^一郎^^^^^^^L^^^^^I|||01\r",
    );
    let drugs = [
        (
            "108665201",
            "ダーゼン錠（５mg)",
            "1",
            "3",
            "1013044400000000",
            "内服・経口・１日３回朝昼夕食後",
            "5",
        ),
        (
            "110626901",
            "パンスポリンＴ錠（１００mg)",
            "2",
            "6",
            "1013044400000000",
            "内服・経口・１日３回朝昼夕食後",
            "5",
        ),
        (
            "100607002",
            "アレピアチン１０倍散",
            "50",
            "100",
            "1012040400000000",
            "内服・経口・１日２回朝夕食後",
            "14",
        ),
        (
            "103835401",
            "ソラナックス０．４ｍｇ錠",
            "1",
            "2",
            "1012040400000000",
            "内服・経口・１日２回朝夕食後",
            "28",
        ),
    ];
    for (rp, (code, name, dose, daily, usage, usage_text, days)) in drugs.iter().enumerate() {
        m.push_str(&format!(
            "ORC|NW|000000011000185||{}|||||20240401103045|058^入力者^花子^^^^^^^L^^^^^I||110^医師^一郎^^^^^^^L^^^^^I|10^^^^^C||||01^内科^99XY1|VMDOCX01^^99XY2|||登呂病院|^^^^422-8033^JPN^^静岡県静岡市駿河区登呂3-1-1|^^^^^^^^^^^054-284-9122||||||O^外来患者オーダ^HL70482\r\
             RXE||{code}^{name}^HOT9|{dose}||TAB^錠^MR9P|||||15|TAB^錠^MR9P||||2011070112345||||{daily}^TAB&錠&MR9P||OHP^外来処方^MR9P~OHI^院内処方^MR9P\r\
             TQ1|1||{usage}&{usage_text}&JAMISDP01|||{days}^d|2024040100\r\
             RXR|PO^口^HL70162\r",
            rp + 1
        ));
    }
    m
}

/// A realistic OUL^R22 (OML-11): twelve OBX.
pub fn oul_r22_for(patient: &str, control: u64) -> String {
    let mut m = format!(
        "MSH|^~\\&|LIS|SEND|GW|RCV|20240405160000||OUL^R22^OUL_R22|{control}|P|2.5||||||UNICODE UTF-8\r\
         PID|0001||{patient}^^^^PI||宮奥^京愛^^^^^L^I~ミヤオク^キョウア^^^^^L^P||19700405|F|||^^^^422-8033^JPN^H^静岡県静岡市登呂１−３−５\r\
         PV1|0001|O|01^^^^^C\r\
         SPM|1|000000001219001||023^血清^JC10|||||||||||||202404050930\r\
         OBR|1|000000011000354|000000001219001|E001^生化学^99O03|||20240405|20240405||||||||607^医師一郎^^^^^^^^L^^^^^I||||||20240405103059\r\
         ORC|SC|000000011000354|000000001219001||CM||||20240405103059|||607^医師一郎^^^^^^^^L^^^^^I|01^^^^^C||||01^内科^99XY1||||登呂病院||||||||O^外来患者オーダ^HL70482\r",
    );
    let items = [
        ("3A010000002327101", "総蛋白", "7.2", "g/dL", "6.7-8.3"),
        ("3A015000002327101", "アルブミン", "4.9", "g/dL", "3.7-5.5"),
        ("3A016000002327102", "A/G比", "1.7", "", "1.2-2.0"),
        ("3B035000002327201", "AST", "24", "U/L", "10-40"),
        ("3B045000002327201", "ALT", "31", "U/L", "5-45"),
        ("3B090000002327101", "γ-GT", "48", "U/L", "0-79"),
        ("3D046000001906202", "HbA1c(NGSP)", "6.80", "%", "4.6-6.2"),
        ("3D010000001926101", "グルコース", "112", "mg/dL", "70-109"),
        (
            "3F077000002327101",
            "LDL-コレステロール",
            "142",
            "mg/dL",
            "70-139",
        ),
        (
            "3F070000002327101",
            "HDL-コレステロール",
            "58",
            "mg/dL",
            "40-99",
        ),
        ("3F015000002327101", "中性脂肪", "150", "mg/dL", "30-149"),
        (
            "3C015000002327101",
            "クレアチニン",
            "0.82",
            "mg/dL",
            "0.46-0.79",
        ),
    ];
    for (i, (code, name, value, unit, range)) in items.iter().enumerate() {
        m.push_str(&format!(
            "OBX|{}|NM|{code}^{name}^JC10^{}^{name}^99X03||{value}|{unit}^{unit}^ISO+|{range}|H|||F|||202404050930\r",
            i + 1,
            10100 + i
        ));
    }
    m
}

/// The same message as SS-MIX2 stores it: ISO-2022-JP, declared in MSH-18.
pub fn iso2022jp(text: &str) -> Vec<u8> {
    let declared = text.replace("UNICODE UTF-8", "~ISO IR87||ISO 2022-1994");
    encoding_rs::ISO_2022_JP.encode(&declared).0.into_owned()
}
