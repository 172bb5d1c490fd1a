//! Which person a member id denotes: the one rule the gateway's store and `kakari convert`
//! both apply, over an abstract lookup of the persons known so far (the `persons` table, or
//! a table in memory).
//!
//! A person is one member id (`保険者番号:記号:番号:枝番`). Without 枝番 the id is a whole
//! family's (`保険者番号:記号:番号`), so the facts the source gives (birth date, sex) choose
//! among the family's persons, and when they do not single one out the answer is
//! "ambiguous", never a guess:
//!
//! * **with 枝番**: the person with exactly this id; else the family's person first seen
//!   without 枝番, upgraded to this id, when the source gives a birth date or sex and
//!   neither contradicts it; else a new person;
//! * **without 枝番**: among the family's persons (with or without 枝番), the one whose
//!   known birth date and sex do not contradict the source's; none compatible and no
//!   branchless person of the family yet: a new (branchless) person; otherwise ambiguous,
//!   with the number of family members as candidates.
//!
//! A fact unknown on either side never contradicts. Filling in the facts of the person
//! chosen (first known value wins) is the caller's work.

use time::Date;

use super::member_id::MemberId;
use super::person::{Demographics, Sex};

/// What a source says about the person that can tell family members apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkFacts {
    pub birth_date: Option<Date>,
    pub sex: Option<Sex>,
}

impl LinkFacts {
    /// The birth date and sex of a source's demographics.
    pub fn of(demographics: &Demographics) -> Self {
        Self {
            birth_date: demographics.birth_date,
            sex: demographics.sex,
        }
    }

    /// True when the source gives neither a birth date nor a sex.
    pub fn is_empty(&self) -> bool {
        self.birth_date.is_none() && self.sex.is_none()
    }

    /// True when no fact known on both sides differs.
    pub fn compatible(&self, other: &LinkFacts) -> bool {
        fn agree<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
        }
        agree(self.birth_date, other.birth_date) && agree(self.sex, other.sex)
    }

    /// These facts with the gaps filled from `other` (a known value is kept).
    pub fn filled_from(&self, other: &LinkFacts) -> Self {
        Self {
            birth_date: self.birth_date.or(other.birth_date),
            sex: self.sex.or(other.sex),
        }
    }
}

/// A person known to the lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPerson<Id> {
    pub id: Id,
    /// The normalised member id the person is known by (`MemberId::key`).
    pub member_key: String,
    pub facts: LinkFacts,
}

/// The persons known so far.
pub trait PersonLookup {
    type Id: Copy;
    type Error;
    /// The person known by exactly this member key.
    fn by_member_key(&mut self, key: &str) -> Result<Option<KnownPerson<Self::Id>>, Self::Error>;
    /// Every person of a family (`MemberId::family_key`), with or without 枝番.
    fn by_family_key(
        &mut self,
        family_key: &str,
    ) -> Result<Vec<KnownPerson<Self::Id>>, Self::Error>;
}

/// What to do for a member id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonDecision<Id> {
    /// Link to this person (and fill in the facts it lacks).
    Existing(Id),
    /// This person was first seen without 枝番: it takes the member id's key (with 枝番).
    Upgrade(Id),
    /// A new person under the member id's key.
    Create,
    /// Several family members (or none compatible while a branchless one exists) match a
    /// member id without 枝番: link nothing and report it.
    Ambiguous { candidates: usize },
}

/// Decides which person `member` denotes, given what the source says of them.
pub fn decide<L: PersonLookup>(
    member: &MemberId,
    given: LinkFacts,
    lookup: &mut L,
) -> Result<PersonDecision<L::Id>, L::Error> {
    let family = member.family_key();
    if member.branch().is_some() {
        if let Some(p) = lookup.by_member_key(&member.key())? {
            return Ok(PersonDecision::Existing(p.id));
        }
        return Ok(match lookup.by_member_key(&family)? {
            Some(p) if !given.is_empty() && p.facts.compatible(&given) => {
                PersonDecision::Upgrade(p.id)
            }
            _ => PersonDecision::Create,
        });
    }
    let members = lookup.by_family_key(&family)?;
    let mut matching = members.iter().filter(|p| p.facts.compatible(&given));
    Ok(match (matching.next(), matching.next()) {
        (Some(one), None) => PersonDecision::Existing(one.id),
        (None, _) if !members.iter().any(|p| p.member_key == family) => PersonDecision::Create,
        _ => PersonDecision::Ambiguous {
            candidates: members.len(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    /// Persons in a list; ids are positions.
    #[derive(Default)]
    struct Known(Vec<(String, String, LinkFacts)>);

    impl Known {
        fn add(&mut self, member: &str, facts: LinkFacts) -> usize {
            let m = MemberId::parse(member).unwrap();
            self.0.push((m.key(), m.family_key(), facts));
            self.0.len() - 1
        }
    }

    impl PersonLookup for Known {
        type Id = usize;
        type Error = std::convert::Infallible;
        fn by_member_key(&mut self, key: &str) -> Result<Option<KnownPerson<usize>>, Self::Error> {
            Ok(self
                .0
                .iter()
                .position(|(k, _, _)| k == key)
                .map(|i| person(i, &self.0[i])))
        }
        fn by_family_key(&mut self, family: &str) -> Result<Vec<KnownPerson<usize>>, Self::Error> {
            Ok(self
                .0
                .iter()
                .enumerate()
                .filter(|(_, (_, f, _))| f == family)
                .map(|(i, p)| person(i, p))
                .collect())
        }
    }

    fn person(id: usize, (key, _, facts): &(String, String, LinkFacts)) -> KnownPerson<usize> {
        KnownPerson {
            id,
            member_key: key.clone(),
            facts: *facts,
        }
    }

    fn facts(birth: Option<Date>, sex: Option<Sex>) -> LinkFacts {
        LinkFacts {
            birth_date: birth,
            sex,
        }
    }

    fn run(known: &mut Known, member: &str, given: LinkFacts) -> PersonDecision<usize> {
        let Ok(d) = decide(&MemberId::parse(member).unwrap(), given, known);
        d
    }

    const FATHER: &str = "06139463:12:345:01";
    const CHILD: &str = "06139463:12:345:02";
    const CARD: &str = "06139463:12:345";

    #[test]
    fn a_member_id_with_branch_is_its_person_whatever_the_facts() {
        let mut known = Known::default();
        assert_eq!(
            run(&mut known, FATHER, LinkFacts::default()),
            PersonDecision::Create
        );
        let father = known.add(FATHER, facts(Some(date!(1970 - 01 - 01)), Some(Sex::Male)));
        let other = facts(Some(date!(2000 - 01 - 01)), Some(Sex::Female));
        assert_eq!(
            run(&mut known, FATHER, other),
            PersonDecision::Existing(father)
        );
        // Full-width digits and spacing are the same member id.
        assert_eq!(
            run(&mut known, "06139463:１２:３４５:1", LinkFacts::default()),
            PersonDecision::Existing(father)
        );
    }

    #[test]
    fn a_branchless_person_is_upgraded_only_by_agreeing_facts() {
        let mut known = Known::default();
        let card = known.add(CARD, facts(Some(date!(1970 - 01 - 01)), None));
        // No facts: nothing to agree with, so a new person.
        assert_eq!(
            run(&mut known, FATHER, LinkFacts::default()),
            PersonDecision::Create
        );
        let male = facts(None, Some(Sex::Male));
        assert_eq!(run(&mut known, FATHER, male), PersonDecision::Upgrade(card));
        let other_birth = facts(Some(date!(2005 - 05 - 05)), None);
        assert_eq!(run(&mut known, CHILD, other_birth), PersonDecision::Create);
    }

    #[test]
    fn a_family_card_links_the_one_compatible_member_and_reports_several() {
        let mut known = Known::default();
        // No family member yet: a branchless person is created.
        assert_eq!(
            run(&mut known, CARD, LinkFacts::default()),
            PersonDecision::Create
        );
        let father = known.add(FATHER, facts(Some(date!(1970 - 01 - 01)), Some(Sex::Male)));
        let child = known.add(CHILD, facts(Some(date!(2005 - 05 - 05)), Some(Sex::Female)));
        let by_birth = facts(Some(date!(2005 - 05 - 05)), None);
        assert_eq!(
            run(&mut known, CARD, by_birth),
            PersonDecision::Existing(child)
        );
        let by_sex = facts(None, Some(Sex::Male));
        assert_eq!(
            run(&mut known, CARD, by_sex),
            PersonDecision::Existing(father)
        );
        assert_eq!(
            run(&mut known, CARD, LinkFacts::default()),
            PersonDecision::Ambiguous { candidates: 2 }
        );
        // Nobody compatible and no branchless person: a new, branchless one.
        let mother = facts(Some(date!(1972 - 02 - 02)), Some(Sex::Female));
        assert_eq!(run(&mut known, CARD, mother), PersonDecision::Create);
    }

    #[test]
    fn an_incompatible_card_next_to_a_branchless_person_is_ambiguous() {
        let mut known = Known::default();
        known.add(CARD, facts(Some(date!(1970 - 01 - 01)), Some(Sex::Male)));
        let someone_else = facts(Some(date!(2005 - 05 - 05)), None);
        assert_eq!(
            run(&mut known, CARD, someone_else),
            PersonDecision::Ambiguous { candidates: 1 }
        );
    }

    #[test]
    fn unknown_facts_never_contradict() {
        let known = facts(Some(date!(1970 - 01 - 01)), None);
        assert!(known.compatible(&facts(None, Some(Sex::Female))));
        assert!(!known.compatible(&facts(Some(date!(1970 - 01 - 02)), None)));
        assert_eq!(
            known.filled_from(&facts(Some(date!(1999 - 01 - 01)), Some(Sex::Male))),
            facts(Some(date!(1970 - 01 - 01)), Some(Sex::Male))
        );
    }
}
