//! Segment order: does a message's sequence of segments fit the abstract message syntax
//! of its type, and what does kakari do when it does not?
//!
//! Each grammar is written with segment names, groups and the quantifiers `? * +`
//! (`MSH SFT* EVN PID PD1? (IN1 IN2? IN3*)*`) and compiled once into an anchored DFA over
//! the concatenated three-character names. One grammar serves HL7 v2.3 to v2.8: groups a
//! version added or made optional are optional (TQ1 came with v2.5, so an RDE without it
//! is a v2.4 order, not a broken one), and segments of later versions that kakari does
//! not read (`PRT`, `ARV`, `UAC` …) are simply not in it.
//!
//! The walk follows HL7's rules for the recipient (v2 chapter 2): segments that are
//! present but not expected are ignored and processing goes on. So
//!
//! * a segment the grammar does not name at all is reported (`hl7.segment_ignored`,
//!   warning, located) and skipped;
//! * a known segment where the grammar does not expect it is reported
//!   (`hl7.segment_order`, warning, located) and skipped by the walk; the mapping still
//!   reads it where it stands;
//! * when the message ends where its structure still requires segments, the shortest
//!   completion is computed: a required segment that was present but misplaced has been
//!   reported already; one that is nowhere in the message is an error (AE): without it
//!   the message's meaning cannot be read.
//!
//! Site-defined Z segments (`ZPR`, `ZI1`, `ZE1` …) may appear anywhere and are skipped
//! silently. Message types without a grammar here are not checked.

use std::collections::{HashSet, VecDeque};
use std::sync::LazyLock;

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::util::primitives::StateID;
use regex_automata::{Anchored, Input, MatchKind};

use super::location::{Location, SegmentName};
use super::message::Message;
use crate::error::{ErrorCode, Issue};

const ADT_FULL: &str = "MSH SFT* EVN PID PD1? ROL* NK1* PV1 PV2? ROL* DB1* OBX* AL1* DG1* DRG? \
     (PR1 ROL*)* OBX* GT1* (IN1 IN2? IN3* ROL*)* ACC? UB1? UB2? PDA?";
const ADT_SHORT: &str = "MSH SFT* EVN PID PD1? ROL* NK1* PV1 PV2? ROL* DB1* OBX* AL1* DG1* PDA?";
const PATIENT: &str = "(PID PD1? NTE* AL1* (PV1 PV2?)? (IN1 IN2? IN3?)* GT1? AL1*)?";

/// (message code, events, grammar). Events of v2.3 (`RDE^O01`, `RAS^O01`) share the
/// grammar of their v2.4+ successors.
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
    ("ADT", &["A60"], "MSH SFT* EVN PID PV1? PV2? (IAM NTE*)*"),
    ("PPR", &["ZD1"], "MSH SFT* PID PV1? (PRB NTE* ORC?)+"),
    (
        "OMD",
        &["O03"],
        "MSH SFT* NTE* PATIENT (ORC (TQ1 TQ2*)* (ODS+ NTE*)? (ODT NTE*)*)+",
    ),
    (
        "RDE",
        &["O11", "O01"],
        "MSH SFT* NTE* PATIENT (ORC (TQ1 TQ2*)* (RXO NTE* RXR+ (RXC+ NTE*)?)? RXE NTE* \
         (TQ1 TQ2*)* RXR+ (RXC+ NTE*)? (OBX NTE*)* FT1* BLG? CTI*)+",
    ),
    (
        "RAS",
        &["O17", "O01"],
        "MSH SFT* NTE* PATIENT (ORC (TQ1 TQ2*)* (RXO NTE* RXR+ (RXC+ NTE*)?)? \
         (RXE NTE* (TQ1 TQ2*)* RXR+ RXC*)? (RXA+ RXR (OBX NTE*)*)+ CTI*)+",
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
        "MSH SFT* NTE* (PID PD1? NTE* (IN1 IN2? IN3?)*)? (PV1 PV2?)? (SPM OBX* (SAC INV?)* \
         (OBR ORC? NTE* (TQ1 TQ2*)* (OBX TCD? SID* NTE*)* CTI*)+)+ DSC?",
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
        // v2.3 writes NK1 before NTE, v2.5 NTE before NK1; one message may carry several
        // patients' results (PATIENT_RESULT repeats).
        "ORU",
        &["R01"],
        "MSH SFT* ((PID PD1? (NTE|NK1)* (PV1 PV2?)? (IN1 IN2? IN3?)*)? (ORC? OBR NTE* \
         (TQ1 TQ2*)* CTD? (OBX NTE*)* FT1* CTI* (SPM OBX*)*)+)+ DSC?",
    ),
];

struct Grammar {
    code: &'static str,
    events: &'static [&'static str],
    /// Every segment name the grammar uses.
    names: Vec<[u8; 3]>,
    dfa: dense::DFA<Vec<u32>>,
}

static COMPILED: LazyLock<Vec<Grammar>> = LazyLock::new(|| {
    GRAMMARS
        .iter()
        .filter_map(|(code, events, grammar)| {
            let grammar = grammar.replace("PATIENT", PATIENT);
            let pattern = to_regex(&grammar);
            dense::Builder::new()
                .configure(
                    dense::Config::new()
                        .match_kind(MatchKind::All)
                        .start_kind(StartKind::Anchored),
                )
                .build(&pattern)
                .ok()
                .map(|dfa| Grammar {
                    code,
                    events,
                    names: names_of(&grammar),
                    dfa,
                })
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

/// The distinct segment names of a grammar, in order of first use.
fn names_of(grammar: &str) -> Vec<[u8; 3]> {
    let mut names: Vec<[u8; 3]> = Vec::new();
    let bytes: Vec<u8> = grammar
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii_uppercase()
            && let Some(name) = bytes
                .get(i..i + 3)
                .and_then(|n| <[u8; 3]>::try_from(n).ok())
        {
            if !names.contains(&name) {
                names.push(name);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    names
}

fn step(dfa: &dense::DFA<Vec<u32>>, mut state: StateID, name: &[u8; 3]) -> StateID {
    for &b in name {
        state = dfa.next_state(state, b);
    }
    state
}

fn accepts(dfa: &dense::DFA<Vec<u32>>, state: StateID) -> bool {
    dfa.is_match_state(dfa.next_eoi_state(state))
}

/// The shortest run of segments that completes a message from `state` (breadth first).
fn shortest_completion(grammar: &Grammar, state: StateID) -> Vec<[u8; 3]> {
    let dfa = &grammar.dfa;
    let mut seen: HashSet<StateID> = HashSet::from([state]);
    let mut queue: VecDeque<(StateID, Vec<[u8; 3]>)> = VecDeque::from([(state, Vec::new())]);
    while let Some((at, path)) = queue.pop_front() {
        if accepts(dfa, at) {
            return path;
        }
        for name in &grammar.names {
            let next = step(dfa, at, name);
            if !dfa.is_dead_state(next) && seen.insert(next) {
                let mut longer = path.clone();
                longer.push(*name);
                queue.push_back((next, longer));
            }
        }
    }
    Vec::new()
}

/// The most warnings about single segments one message gets; past it, one more says how
/// many were not listed (a message of 100,000 stray segments must not make a reply of
/// 100,000 ERR segments).
pub const MAX_SEGMENT_WARNINGS: usize = 100;

fn limit_reports(issues: &mut Vec<Issue>) {
    if issues.len() <= MAX_SEGMENT_WARNINGS {
        return;
    }
    let rest = issues.split_off(MAX_SEGMENT_WARNINGS);
    let location = rest.first().map(|i| i.location.clone()).unwrap_or_default();
    issues.push(Issue::warning(
        ErrorCode::Hl7SegmentIgnored,
        location,
        format!(
            "{} more segments were not expected here or are not part of the structure; ignored, not listed",
            rest.len()
        ),
    ));
}

/// Checks the segment order of `message` against the grammar of its type (see the
/// module documentation for what is a warning and what an error). Returns no issue for
/// types without a grammar.
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
    let mut issues = Vec::new();
    let mut misplaced: Vec<[u8; 3]> = Vec::new();
    let mut last: Option<Location> = None;
    for segment in message.segments() {
        let name = segment.name();
        if name.0[0] == b'Z' || name == SegmentName::UNREADABLE {
            continue;
        }
        if !grammar.names.contains(&name.0) {
            issues.push(Issue::warning(
                ErrorCode::Hl7SegmentIgnored,
                segment.location().to_string(),
                format!("segment is not part of the {type_name} structure kakari reads; ignored"),
            ));
            continue;
        }
        let next = step(dfa, state, &name.0);
        if dfa.is_dead_state(next) {
            issues.push(Issue::warning(
                ErrorCode::Hl7SegmentOrder,
                segment.location().to_string(),
                format!(
                    "segment is not expected here in a {type_name} message; read where it stands"
                ),
            ));
            misplaced.push(name.0);
            continue;
        }
        state = next;
        last = Some(segment.location());
    }
    limit_reports(&mut issues);
    if accepts(dfa, state) {
        return issues;
    }
    let missing: Vec<String> = shortest_completion(grammar, state)
        .into_iter()
        .filter(|name| !misplaced.contains(name))
        .map(|name| SegmentName(name).to_string())
        .collect();
    if !missing.is_empty() {
        issues.push(Issue::error(
            ErrorCode::Hl7SegmentOrder,
            last.map_or_else(|| "MSH".to_owned(), |l| l.to_string()),
            format!(
                "message ends before a segment its {type_name} structure requires ({})",
                missing.join(", ")
            ),
        ));
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(text: &str) -> Vec<(String, ErrorCode, bool)> {
        let m = Message::parse_str(text).unwrap();
        check(&m)
            .into_iter()
            .map(|i| (i.location.clone(), i.code, i.is_error()))
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
        assert_eq!(
            names_of("MSH PD1? (IN1 IN2)* PD1"),
            [*b"MSH", *b"PD1", *b"IN1", *b"IN2"]
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
    fn unknown_and_misplaced_segments_are_located_warnings() {
        // PRT (v2.7) is not in the structure; IAM belongs to no RDE; a TQ1 after the RXR
        // stands where it is not expected: all three are read past with a warning. The
        // second order has no TQ1 at all, as in v2.4: well formed.
        let text = format!(
            "{HEAD}PID|1\rORC|NW\rPRT|1\rRXE||1\rRXR|PO\rTQ1|1\rIAM|1\rORC|NW\rRXE||2\rRXR|IV\r"
        );
        assert_eq!(
            issues(&text),
            [
                ("PRT".to_owned(), ErrorCode::Hl7SegmentIgnored, false),
                ("TQ1".to_owned(), ErrorCode::Hl7SegmentOrder, false),
                ("IAM".to_owned(), ErrorCode::Hl7SegmentIgnored, false),
            ]
        );
        let swapped = format!("{HEAD}PID|1\rORC|NW\rRXE||1\rTQ1|1\rTQ2|1\rPID|2\rRXR|PO\r");
        assert_eq!(
            issues(&swapped),
            [("PID[2]".to_owned(), ErrorCode::Hl7SegmentOrder, false)]
        );
    }

    #[test]
    fn a_required_segment_that_is_nowhere_is_an_error() {
        let truncated = format!("{HEAD}PID|1\rORC|NW\rRXE||1\r");
        assert_eq!(
            issues(&truncated),
            [("RXE".to_owned(), ErrorCode::Hl7SegmentOrder, true)]
        );
        let m = Message::parse_str(&truncated).unwrap();
        assert!(check(&m)[0].message.ends_with("requires (RXR)"));
        // An order without its drug: RXE is required and absent.
        let no_drug = format!("{HEAD}PID|1\rORC|NW\rRXR|PO\r");
        let found = issues(&no_drug);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0],
            ("RXR".to_owned(), ErrorCode::Hl7SegmentOrder, false)
        );
        assert!(found[1].2, "{found:?}");
    }

    #[test]
    fn v2_3_and_v2_8_shapes_of_oru_r01_are_read() {
        let v23 = "MSH|^~\\&|A|B|||||ORU^R01|1|P|2.3\rPID|1||7\rNK1|1\rNTE|1\rPV1|1\rOBR|1\rOBX|1|NM\rNTE|1\r";
        assert!(issues(v23).is_empty());
        let v28 = "MSH|^~\\&|A|B|||||ORU^R01^ORU_R01|1|P|2.8\rPID|1||7\rPRT|1\rARV|1\rPV1|1\rORC|RE\rOBR|1\rOBX|1|NM\rPRT|1\rSPM|1\r";
        let codes: Vec<ErrorCode> = issues(v28).into_iter().map(|(_, c, _)| c).collect();
        assert_eq!(codes, [ErrorCode::Hl7SegmentIgnored; 3]);
    }

    #[test]
    fn a_flood_of_stray_segments_gives_a_bounded_report() {
        let text = format!(
            "{HEAD}PID|1\rORC|NW\rRXE||1\rRXR|PO\r{}",
            "PRT|1\r".repeat(5000)
        );
        let found = issues(&text);
        assert_eq!(found.len(), MAX_SEGMENT_WARNINGS + 1);
        assert!(
            found
                .iter()
                .all(|(_, code, error)| *code == ErrorCode::Hl7SegmentIgnored && !error)
        );
        assert_eq!(found[MAX_SEGMENT_WARNINGS].0, "PRT[101]");
    }

    #[test]
    fn types_without_a_grammar_are_not_checked() {
        assert!(issues("MSH|^~\\&|A|B|||||ZZZ^Z99|1|P|2.5\rIAM|1\r").is_empty());
    }
}
