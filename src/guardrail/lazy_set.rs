//! [`LazySet`]: many patterns read in one pass by a lazy DFA, saying which
//! of them match or where each one's matches end.
//!
//! `regex`'s `RegexSet` answers "which patterns match" too, but it puts a
//! literal prefilter in front of the automaton when the patterns start
//! with words; with a hundred patterns that start with a few hundred
//! words, the prefilter stops at nearly every word and costs more than the
//! automaton it was meant to spare (measured on the injection rules: more
//! than half of the set's time). The lazy DFA here reads every byte once,
//! with no prefilter.

use std::fmt;
use std::ops::Range;
use std::panic::{RefUnwindSafe, UnwindSafe};

use regex_automata::hybrid::dfa::{Cache, OverlappingState, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::pool::Pool;
use regex_automata::{Input, MatchKind, PatternSet};

use crate::error::{Error, Result};

/// Makes a cache for a [`LazySet`]'s DFA.
type NewCache = Box<dyn Fn() -> Cache + Send + Sync + UnwindSafe + RefUnwindSafe>;

/// Patterns read together by one lazy DFA that reports every match of
/// every pattern (`MatchKind::All`, overlapping). Shared between threads:
/// each search takes a cache from a pool.
pub(crate) struct LazySet {
    dfa: DFA,
    caches: Pool<Cache, NewCache>,
}

impl fmt::Debug for LazySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazySet")
            .field("patterns", &self.dfa.pattern_len())
            .finish_non_exhaustive()
    }
}

impl LazySet {
    /// The set of `sources`, whose compiled automaton and cache each stay
    /// within `limit` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Config`], saying `what`, when a pattern does not compile
    /// or the patterns together pass `limit`.
    pub(crate) fn new<S: AsRef<str>>(sources: &[S], limit: usize, what: &'static str) -> Result<Self> {
        let dfa = DFA::builder()
            .configure(DFA::config().match_kind(MatchKind::All).cache_capacity(limit))
            .thompson(thompson::Config::new().nfa_size_limit(Some(limit)))
            .build_many(sources)
            .map_err(|e| Error::config_with(what, e))?;
        let for_caches = dfa.clone();
        let new_cache: NewCache = Box::new(move || for_caches.create_cache());
        Ok(Self {
            dfa,
            caches: Pool::new(new_cache),
        })
    }

    /// Calls `found` with the pattern and the end of every match within
    /// `window` of `text`, in the order of the ends; `false` when the
    /// automaton gave up (after some of them): a Unicode word boundary
    /// next to a non-ASCII byte, or a cache cleared too often.
    pub(crate) fn ends(&self, text: &str, window: Range<usize>, mut found: impl FnMut(usize, usize)) -> bool {
        let mut cache = self.caches.get();
        let input = Input::new(text).span(window);
        let mut state = OverlappingState::start();
        loop {
            if self
                .dfa
                .try_search_overlapping_fwd(&mut cache, &input, &mut state)
                .is_err()
            {
                return false;
            }
            match state.get_match() {
                Some(end) => found(end.pattern().as_usize(), end.offset()),
                None => return true,
            }
        }
    }

    /// The patterns that match somewhere in `text`, or `None` when the
    /// automaton gave up (see [`ends`](Self::ends)).
    ///
    /// Most texts match none: an earliest search, which reads with the
    /// automaton's fast loop and stops at the first match, says so;
    /// only a text with a match is read again for which patterns.
    pub(crate) fn which(&self, text: &str) -> Option<PatternSet> {
        let mut cache = self.caches.get();
        let mut matched = PatternSet::new(self.dfa.pattern_len());
        let any = self
            .dfa
            .try_search_fwd(&mut cache, &Input::new(text).earliest(true))
            .ok()?;
        if any.is_none() {
            return Some(matched);
        }
        self.dfa
            .try_which_overlapping_matches(&mut cache, &Input::new(text), &mut matched)
            .ok()?;
        Some(matched)
    }
}
