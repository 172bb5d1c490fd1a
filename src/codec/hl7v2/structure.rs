//! Segment order: does a message's sequence of segments fit the abstract message syntax
//! of its type (HL7 v2.5 as SS-MIX2 profiles it)?
//!
//! Each grammar is written with segment names, groups and the quantifiers `? * +`
//! (`MSH SFT* EVN PID PD1? (IN1 IN2? IN3*)*`) and compiled once into an anchored DFA over
//! the concatenated three-character names. Walking the DFA one segment at a time finds
//! the first segment that cannot belong where it is, so the issue names it (`OBX[2]`).
//! Site-defined Z segments (`ZPR`, `ZI1`, `ZE1` …) may appear anywhere and are skipped.
//! Message types without a grammar here are not checked.

use std::sync::LazyLock;

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::{Anchored, Input, MatchKind};

use super::location::{Location, SegmentName};
use super::message::Message;
use crate::error::{ErrorCode, Issue};

const ADT_FULL: &str = "MSH SFT* EVN PID PD1? ROL* NK1* PV1 PV2? ROL* DB1* OBX* AL1* DG1* DRG? \
     (PR1 ROL*)* OBX* GT1* (IN1 IN2? IN3* ROL*)* ACC? UB1? UB2? PDA?";
const ADT_SHORT: &str = "MSH SFT* EVN PID PD1? ROL* NK1* PV1 PV2? ROL* DB1* OBX* AL1* DG1* PDA?";
const PATIENT: &str = "(PID PD1? NTE* (PV1 PV2?)? (IN1 IN2? IN3?)* GT1? AL1*)?";

/// (message code, events, grammar).
const GRAMMARS: &[(&str, &[&str], &str)] = &[
    (
        "ADT",
        &[
            "A01", "A03", "A04", "A05", "A08", "A13", "A14", "A16", "A28", "A31",
        ],
        ADT_FULL,
    ),
    (
        "ADT",
        &[
            "A02", "A09", "A10", "A11", "A12", "A15", "A21", "A22", "A23", "A25", "A26", "A27",
            "A52", "A53", "A54", "A55",
        ],
        ADT_SHORT,
    ),
    ("ADT", &["A60"], "MSH SFT* EVN PID PV1? PV2? IAM*"),
    ("PPR", &["ZD1"], "MSH SFT* PID PV1? (PRB NTE* ORC?)+"),
    (
        "OMD",
        &["O03"],
        "MSH SFT* NTE* PATIENT (ORC (TQ1 TQ2*)* (ODS+ NTE*)? (ODT NTE*)*)+",
    ),
    (
        "RDE",
        &["O11"],
        "MSH SFT* NTE* PATIENT (ORC (TQ1 TQ2*)* (RXO NTE* RXR+ (RXC+ NTE*)?)? RXE NTE* \
         (TQ1 TQ2*)+ RXR+ RXC* (OBX NTE*)* FT1* BLG? CTI*)+",
    ),
    (
        "RAS",
        &["O17"],
        "MSH SFT* NTE* PATIENT (ORC (TQ1 TQ2*)* (RXO NTE* RXR+ (RXC+ NTE*)?)? \
         (RXE (TQ1 TQ2*)+ RXR+ RXC*)? (RXA+ RXR (OBX NTE*)*)+ CTI*)+",
    ),
    (
        "OML",
        &["O33"],
        "MSH SFT* NTE* PATIENT (SPM OBX* SAC* (ORC (TQ1 TQ2*)* (OBR TCD? NTE* DG1* \
         (OBX TCD? NTE*)*)? FT1* CTI* BLG?)+)+",
    ),
    (
        "OUL",
        &["R22"],
        "MSH SFT* NTE* (PID PD1? NTE*)? (PV1 PV2?)? (SPM OBX* (SAC INV?)* (OBR ORC? NTE* \
         (TQ1 TQ2*)* (OBX TCD? SID* NTE*)* CTI*)+)+ DSC?",
    ),
    (
        "OMG",
        &["O19"],
        "MSH SFT* NTE* PATIENT (ORC (TQ1 TQ2*)* (OBR NTE* CTD? DG1* (OBX NTE*)* FT1* CTI* \
         BLG?)?)+",
    ),
    (
        "OMI",
        &["Z23"],
        "MSH SFT* PID PV1? (ORC (TQ1 TQ2*)* OBR NTE* (OBX|IPC)*)+",
    ),
    (
        "ORU",
        &["R01"],
        "MSH SFT* (PID PD1? NTE* NK1* (PV1 PV2?)?)? (ORC? OBR NTE* (TQ1 TQ2*)* CTD? \
         (OBX NTE*)* FT1* CTI* (SPM OBX*)*)+ DSC?",
    ),
];

struct Grammar {
    code: &'static str,
    events: &'static [&'static str],
    dfa: dense::DFA<Vec<u32>>,
}

static COMPILED: LazyLock<Vec<Grammar>> = LazyLock::new(|| {
    GRAMMARS
        .iter()
        .filter_map(|(code, events, grammar)| {
            let pattern = to_regex(&grammar.replace("PATIENT", PATIENT));
            dense::Builder::new()
                .configure(
                    dense::Config::new()
                        .match_kind(MatchKind::All)
                        .start_kind(StartKind::Anchored),
                )
                .build(&pattern)
                .ok()
                .map(|dfa| Grammar { code, events, dfa })
        })
        .collect()
});

/// `MSH SFT* (IN1 IN2?)*` → `(?:MSH)(?:SFT)*(?:(?:IN1)(?:IN2)?)*$`.
fn to_regex(grammar: &str) -> String {
    let chars: Vec<char> = grammar.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = String::with_capacity(chars.len() * 2);
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_ascii_uppercase() {
            out.push_str("(?:");
            out.extend(chars.get(i..i + 3).unwrap_or_default());
            out.push(')');
            i += 3;
            continue;
        }
        if c == '(' {
            out.push_str("(?:");
        } else {
            out.push(c);
        }
        i += 1;
    }
    out.push('$');
    out
}

/// Checks the segment order of `message` against the grammar of its type. Returns no
/// issue for types without a grammar.
pub fn check(message: &Message<'_>) -> Vec<Issue> {
    let (code, event, _) = message.message_type();
    let Some(grammar) = COMPILED
        .iter()
        .find(|g| g.code == code && g.events.contains(&event.as_ref()))
    else {
        return Vec::new();
    };
    let dfa = &grammar.dfa;
    let Ok(mut state) = dfa.start_state_forward(&Input::new("").anchored(Anchored::Yes)) else {
        return Vec::new();
    };
    let type_name = format!("{code}^{event}");
    let mut last: Option<Location> = None;
    for segment in message.segments() {
        let name = segment.name();
        if name.0[0] == b'Z' || name == SegmentName::UNREADABLE {
            continue;
        }
        for &b in &name.0 {
            state = dfa.next_state(state, b);
        }
        if dfa.is_dead_state(state) {
            return vec![Issue::error(
                ErrorCode::Hl7SegmentOrder,
                segment.location().to_string(),
                format!("segment is not allowed here in a {type_name} message"),
            )];
        }
        last = Some(segment.location());
    }
    state = dfa.next_eoi_state(state);
    if dfa.is_match_state(state) {
        Vec::new()
    } else {
        vec![Issue::error(
            ErrorCode::Hl7SegmentOrder,
            last.map_or_else(|| "MSH".to_owned(), |l| l.to_string()),
            format!("message ends before a segment its {type_name} structure requires"),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(text: &str) -> Vec<(String, String)> {
        let m = Message::parse_str(text).unwrap();
        check(&m)
            .into_iter()
            .map(|i| (i.location, i.message))
            .collect()
    }

    const HEAD: &str = "MSH|^~\\&|A|B|||||RDE^O11|1|P|2.5\r";

    #[test]
    fn every_grammar_compiles() {
        assert_eq!(COMPILED.len(), GRAMMARS.len());
        assert_eq!(
            to_regex("MSH PD1? (IN1 IN2)*"),
            "(?:MSH)(?:PD1)?(?:(?:IN1)(?:IN2))*$"
        );
    }

    #[test]
    fn a_well_formed_order_passes_and_z_segments_are_skipped() {
        let text = format!(
            "{HEAD}PID|1\rPV1|1\rORC|NW\rRXE||1\rTQ1|1\rRXR|PO\rZXX|1\rORC|NW\rRXE||2\rTQ1|1\rRXR|PO\rRXC|B\r"
        );
        assert!(issues(&text).is_empty());
    }

    #[test]
    fn the_first_misplaced_segment_is_named() {
        let text = format!("{HEAD}PID|1\rORC|NW\rRXE||1\rTQ1|1\rRXR|PO\rIAM|1\rORC|NW\r");
        assert_eq!(
            issues(&text),
            [(
                "IAM".to_owned(),
                "segment is not allowed here in a RDE^O11 message".to_owned()
            )]
        );
        let truncated = format!("{HEAD}PID|1\rORC|NW\rRXE||1\r");
        assert_eq!(issues(&truncated)[0].0, "RXE");
    }

    #[test]
    fn types_without_a_grammar_are_not_checked() {
        assert!(issues("MSH|^~\\&|A|B|||||ZZZ^Z99|1|P|2.5\rIAM|1\r").is_empty());
    }
}
