//! The redactor every tool result passes before it reaches the model.
//!
//! A secret is replaced by a typed marker, `[redacted:KIND]`, where `KIND` is one of the stable
//! kebab-case names of [`Kind`]. Only the secret is replaced: the key name, the quotes, the scheme
//! and user of a URL and the scheme word of an `Authorization` header stay, so the model still
//! sees what was there.
//!
//! # How text is searched
//!
//! Almost every byte of a tool result is harmless, so one Aho-Corasick automaton scans the text
//! for short trigger strings (`AKIA`, `eyJ`, `://`, `-----BEGIN`, `token`, `pass`, `bearer`, …)
//! and a precise, hand-written matcher runs only at each hit, looking a bounded distance around
//! it. The text is therefore read once, whatever the number of rules, and a text without a hit
//! comes back borrowed. Triggers are matched case-sensitively, words in the three cases code
//! spells names in (`token`, `Token`, `TOKEN`), so a name spelled `tOKEN` is missed.
//!
//! The first secret found over a range wins it, and the matchers never see what lies before the
//! last range taken, just as a second pass would see only a marker there. Markers from an
//! earlier pass are never cut into, so redacting what was redacted changes nothing.
//!
//! Text that held a secret is scanned again after the secrets are replaced, until a scan finds
//! nothing, which makes redaction idempotent. The later scans are not searches: the triggers
//! of the replaced text follow from those of the scan before and from where the markers went,
//! so only the matchers run again, at the same triggers.
//!
//! # Rules for names that look sensitive
//!
//! A value is redacted for its key name alone (kind `sensitive-value`, or a more precise kind
//! when the value's shape or the name tells more) when all of these hold:
//!
//! - The name's head noun is sensitive. The head noun of a compound name is its last word, so
//!   `db_password`, `clientSecret`, `X-Amz-Security-Token` and `DD_API_KEY` are sensitive while
//!   `password_policy`, `passwordless`, `secretName`, `secretKeyRef`, `token_count`, `max_tokens`
//!   and `sessionAffinity` are not: a policy, a name or a reference *about* a secret is not one.
//!   `key` alone is not sensitive (label selectors are full of `"key": …`); a qualified key is
//!   (`api_key`, `access_key`, `private_key`, `secret_key`, `signing_key`, …). Pagination and
//!   idempotency tokens (`NextToken`, `nextForwardToken`, `ClientRequestToken`, …) are not
//!   credentials and are left alone, because the model needs them to page through results.
//! - The value is a string. In JSON, numbers, booleans and null are never redacted; in untyped
//!   text a bare number of at most five digits reads as a count, a port or a duration.
//! - The value is not empty, not already masked (`***`, `<redacted>`, or holding a marker), not a reference
//!   (`${DB_PASSWORD}`, `$(TOKEN)`, `{{ .Values.token }}`, `$TOKEN`), not a YAML block indicator
//!   (`|`, `>-`), and not one of a closed list of state words (`true`, `none`, `required`,
//!   `enabled`, `invalid`, `expired`, …) that describe a setting rather than hold a secret.
//! - For `PWD`-like names, the value is not a path: the shell's `PWD` is the working directory.
//!
//! References are never values: `valueFrom` in a pod's env list, `secretName: db-creds` and
//! `secretKeyRef` name where a secret lives, which the model may see.
//!
//! # Rules for recognisable secrets
//!
//! Vendor tokens, AWS access key IDs, JWTs and PEM private keys are recognised by shape wherever
//! they occur, on a word boundary and with the length the vendor documents (or a little less).
//! Base64 is redacted only in a secret context: under a sensitive name, as a JWT, as the
//! credentials of `Basic` (which must decode to printable `user:password`), or as a
//! base64-encoded PEM private key. A `Bearer` outside a sensitive key needs a token of at least
//! eight characters with both a letter and a digit, so prose such as "the Bearer token was
//! rejected" is left alone. UUIDs, SHA digests, image digests and Kubernetes resource versions
//! match no rule.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, LazyLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};
use serde::{Serialize, Serializer};
use serde_json::Value;
use smallvec::SmallVec;

macro_rules! kinds {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)*) => {
        /// What a redacted secret was, as its marker names it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Kind {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Kind {
            /// Every kind, in marker order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            /// The stable kebab-case name, as in the marker.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }

            /// The text that replaces a secret of this kind: `[redacted:KIND]`.
            pub fn marker(self) -> &'static str {
                match self {
                    $(Kind::$variant => concat!("[redacted:", $name, "]"),)*
                }
            }
        }
    };
}

kinds! {
    /// An AWS access key ID or another AWS unique ID (`AKIA…`, `ASIA…`, `AROA…`, …).
    AwsAccessKeyId => "aws-access-key-id",
    /// An AWS secret access key under a name such as `aws_secret_access_key`.
    AwsSecretKey => "aws-secret-key",
    /// An AWS session token under a name such as `SessionToken` or `X-Amz-Security-Token`.
    AwsSessionToken => "aws-session-token",
    /// A JSON Web Token: base64url segments separated by dots, the header starting `eyJ`.
    Jwt => "jwt",
    /// A PEM private key from its `BEGIN` line through its `END` line, or base64 of one.
    PrivateKey => "private-key",
    /// The password of a `scheme://user:password@host` URL.
    UrlCredentials => "url-credentials",
    /// The password of a database connection string or URL.
    ConnectionString => "connection-string",
    /// The token of a `Bearer` authorization.
    BearerToken => "bearer-token",
    /// The base64 `user:password` of a `Basic` authorization.
    BasicAuth => "basic-auth",
    /// A GitHub token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`).
    GithubToken => "github-token",
    /// A GitLab personal access token (`glpat-`).
    GitlabToken => "gitlab-token",
    /// A Slack token (`xoxb-`, `xoxp-`, …).
    SlackToken => "slack-token",
    /// A Stripe secret or restricted key (`sk_live_`, `rk_live_`, and their test forms).
    StripeKey => "stripe-key",
    /// A Google API key (`AIza…`).
    GoogleApiKey => "google-api-key",
    /// An npm access token (`npm_`).
    NpmToken => "npm-token",
    /// An OpenAI-style API key (`sk-…`).
    OpenaiApiKey => "openai-api-key",
    /// An Anthropic API key (`sk-ant-…`).
    AnthropicApiKey => "anthropic-api-key",
    /// A SendGrid API key (`SG.….…`).
    SendgridApiKey => "sendgrid-api-key",
    /// A value redacted because its key name looks sensitive.
    SensitiveValue => "sensitive-value",
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// How many secrets of each kind a redaction replaced; serialises as `{"kind": count}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redactions {
    counts: BTreeMap<Kind, usize>,
}

impl Redactions {
    /// How many secrets were replaced, over all kinds.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// How many secrets of `kind` were replaced.
    pub fn count(&self, kind: Kind) -> usize {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// Whether nothing was replaced.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The kinds that were replaced with their counts, in [`Kind`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Kind, usize)> + '_ {
        self.counts.iter().map(|(kind, count)| (*kind, *count))
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: &Redactions) {
        for (kind, count) in other.iter() {
            *self.counts.entry(kind).or_insert(0) += count;
        }
    }

    fn add(&mut self, kind: Kind) {
        *self.counts.entry(kind).or_insert(0) += 1;
    }
}

impl Serialize for Redactions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter().map(|(kind, count)| (kind.as_str(), count)))
    }
}

/// Replaces secrets in text and JSON with `[redacted:KIND]` markers.
///
/// Every rule is always on. The automaton is built once per process and shared, so a
/// `Redactor` is cheap to create, clone and send across threads.
#[derive(Clone)]
pub struct Redactor {
    triggers: Arc<AhoCorasick>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor").finish_non_exhaustive()
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

static SHARED: LazyLock<Redactor> = LazyLock::new(|| {
    let triggers = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .kind(Some(AhoCorasickKind::DFA))
        .build(TRIGGERS.iter().map(|trigger| trigger.pattern))
        .expect("the trigger table is a short list of literals");
    Redactor { triggers: Arc::new(triggers) }
});

/// Passes of the scan after the first, at most; real text never needs more than one.
const MAX_PASSES: usize = 32;

impl Redactor {
    /// A redactor with every rule.
    pub fn new() -> Self {
        SHARED.clone()
    }

    /// `text` with its secrets replaced; borrowed when nothing was found.
    pub fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.redact_text_counting(text, &mut Redactions::default())
    }

    /// Like [`Redactor::redact_text`], adding what was replaced to `redactions`.
    pub fn redact_text_counting<'a>(
        &self,
        text: &'a str,
        redactions: &mut Redactions,
    ) -> Cow<'a, str> {
        self.redact_to_fixed_point(text, redactions, recording_limit(text.len()))
    }

    /// Scans `text` and splices what was found until a scan finds nothing, keeping at most
    /// `limit` triggers of one scan for the next.
    fn redact_to_fixed_point<'a>(
        &self,
        text: &'a str,
        redactions: &mut Redactions,
        limit: usize,
    ) -> Cow<'a, str> {
        let mut met = Met::new(limit);
        let mut found = Vec::new();
        self.scan(text.as_bytes(), Hits::Search, &mut met, &mut found);
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        let (mut redacted, spliced_all) = splice(text, &mut found, redactions);

        // Two rules can disagree on where a token ends (the base64 run after `Basic` runs on
        // into an access key ID after it, and decodes to credentials only once the ID is a
        // marker), so one pass may leave what a second would redact. Passing again until
        // nothing more is found makes redaction idempotent. Every pass turns text into
        // markers, which later passes never touch, so it ends; only text that held a secret
        // pays for the extra passes.
        //
        // A later pass does not search the text for triggers again: the triggers of the
        // spliced text are those of the pass before, moved by the splice, less those the
        // splice overwrote, plus a marker where each secret was (see [`spliced_hits`]). Only
        // when there were more than could be kept is the spliced text searched again.
        //
        // Nor does it run the matchers again at a trigger where they found nothing and read
        // nothing the splice changed: they would find nothing again (see [`Outcome::Settled`]).
        // That holds only while the pass finds nothing, since a secret found moves what the
        // matchers after it see; a pass that finds one is done again, checking every trigger.
        let mut replaced_all = spliced_all;
        for _ in 0..MAX_PASSES {
            let previous = met.complete().then(|| spliced_hits(&met.hits, &found, replaced_all));
            met.clear();
            found.clear();
            let bytes = redacted.as_bytes();
            match previous.as_deref() {
                None => self.scan(bytes, Hits::Search, &mut met, &mut found),
                Some(hits) => {
                    self.scan(
                        bytes,
                        Hits::Recorded { hits, pass_settled: true },
                        &mut met,
                        &mut found,
                    );
                    if !found.is_empty() {
                        met.clear();
                        found.clear();
                        let every = Hits::Recorded { hits, pass_settled: false };
                        self.scan(bytes, every, &mut met, &mut found);
                    }
                }
            }
            if found.is_empty() {
                break;
            }
            (redacted, replaced_all) = splice(&redacted, &mut found, redactions);
        }
        Cow::Owned(redacted)
    }

    /// Redacts every string in `value` in place: by the key it sits under, by the `name` of a
    /// `{"name": …, "value": …}` pair, after a `--flag` in an argument list, and by the text
    /// rules. Object keys are kept as they are.
    pub fn redact_value(&self, value: &mut Value) -> Redactions {
        let mut redactions = Redactions::default();
        self.walk(value, &mut redactions);
        redactions
    }

    /// Finds the secrets of `bytes`, sorted by start and disjoint, and records in `met` every
    /// trigger the scan met. One scan can leave a secret that a second finds;
    /// [`Redactor::redact_text_counting`] repeats it to a fixed point.
    fn scan(&self, bytes: &[u8], source: Hits<'_>, met: &mut Met, found: &mut Vec<Found>) {
        // What is taken, sorted and disjoint: secrets found so far, and the markers of an
        // earlier pass (as `None`), which a secret may never cut into. The first secret found
        // over a range wins it, and hits inside a taken range are not checked again.
        let mut taken: Vec<(Range<usize>, Option<Kind>)> = Vec::new();
        let mut at = 0;
        let mut next_recorded = 0;
        while at < bytes.len() {
            let hit = match source {
                Hits::Search => {
                    let input = Input::new(bytes).span(at..bytes.len());
                    let Some(hit) = self.triggers.find(input) else { break };
                    Hit {
                        start: hit.start(),
                        trigger: hit.pattern().as_usize(),
                        outcome: Outcome::Unknown,
                    }
                }
                Hits::Recorded { hits, pass_settled } => {
                    while hits.get(next_recorded).is_some_and(|hit| hit.start < at) {
                        next_recorded += 1;
                    }
                    let Some(&recorded) = hits.get(next_recorded) else { break };
                    let hit = Hit { outcome: Outcome::Unknown, ..recorded };
                    if pass_settled && recorded.outcome == Outcome::Settled {
                        met.record(hit);
                        at = hit.start + 1;
                        continue;
                    }
                    hit
                }
            };
            met.record(hit);
            at = hit.start + 1;
            let trigger = &TRIGGERS[hit.trigger];
            let hit = hit.start..hit.end();

            // The taken range that starts last at or before the hit.
            let before_hit = taken.partition_point(|(range, _)| range.start <= hit.start);
            let floor = match before_hit.checked_sub(1).map(|index| &taken[index].0) {
                Some(range) if range.end > hit.start => continue,
                Some(range) => range.end,
                None => 0,
            };

            if matches!(trigger.rule, Rule::Marker) {
                if let Some(end) = marker_end(bytes, hit.end) {
                    insert_if_free(&mut taken, hit.start..end, None);
                    at = end;
                }
                continue;
            }

            // Rules see nothing before the end of the last taken range: a second pass finds a
            // marker there, which is neither a quote, a name nor a word, just as the start of
            // the text is not. This is what keeps a second pass from finding more.
            let visible = &bytes[floor..];
            match trigger.rule.check(visible, hit.start - floor, hit.end - floor) {
                (Some(secret), _) => {
                    let range = secret.start + floor..secret.end + floor;
                    if !cuts_marker(bytes, &range) {
                        insert_if_free(&mut taken, range, Some(secret.kind));
                    }
                }
                (None, reach) => met.missed_last(reach.map(|reach| reach + floor)),
            }
        }
        found.extend(taken.into_iter().filter_map(|(range, kind)| {
            Some(Found { start: range.start, end: range.end, kind: kind? })
        }));
    }

    fn walk(&self, value: &mut Value, redactions: &mut Redactions) {
        match value {
            Value::String(text) => self.redact_string(text, redactions),
            Value::Array(items) => {
                let mut flag: Option<String> = None;
                for item in items {
                    let next_flag = match &*item {
                        Value::String(argument) if is_secret_flag(argument) => {
                            Some(argument.clone())
                        }
                        _ => None,
                    };
                    match (&flag, item) {
                        (Some(flag), Value::String(text)) => {
                            self.redact_keyed(flag.as_bytes(), text, redactions);
                        }
                        (_, other) => self.walk(other, redactions),
                    }
                    flag = next_flag;
                }
            }
            Value::Object(map) => {
                let pair_name = sensitive_pair_name(map);
                for (key, child) in map.iter_mut() {
                    match child {
                        Value::String(text) => match &pair_name {
                            Some(name) if is_pair_value_key(key) => {
                                self.redact_keyed(name.as_bytes(), text, redactions);
                            }
                            _ => self.redact_keyed(key.as_bytes(), text, redactions),
                        },
                        other => self.walk(other, redactions),
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Redacts `text`, the string value of the key `name`.
    fn redact_keyed(&self, name: &[u8], text: &mut String, redactions: &mut Redactions) {
        let secret = if is_sensitive_name(name) {
            judge_value(name, text.as_bytes(), 0, text.len(), Typing::Json)
        } else {
            None
        };
        match secret {
            Some(secret) => {
                let (redacted, _) = splice(text, &mut vec![secret], redactions);
                *text = self.redact_text_counting(&redacted, redactions).into_owned();
            }
            None => self.redact_string(text, redactions),
        }
    }

    fn redact_string(&self, text: &mut String, redactions: &mut Redactions) {
        if let Cow::Owned(redacted) = self.redact_text_counting(text, redactions) {
            *text = redacted;
        }
    }
}

/// Adds `range` to the sorted, disjoint `taken` unless it overlaps what is there.
fn insert_if_free(
    taken: &mut Vec<(Range<usize>, Option<Kind>)>,
    range: Range<usize>,
    kind: Option<Kind>,
) {
    if range.is_empty() {
        return;
    }
    let index = taken.partition_point(|(taken, _)| taken.start < range.start);
    let clear_before =
        index.checked_sub(1).is_none_or(|previous| taken[previous].0.end <= range.start);
    let clear_after = taken.get(index).is_none_or(|(next, _)| range.end <= next.start);
    if clear_before && clear_after {
        taken.insert(index, (range, kind));
    }
}

/// One secret found in a text: the bytes to replace and what they were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Found {
    start: usize,
    end: usize,
    kind: Kind,
}

/// A trigger met in a text: where it starts, its index in [`TRIGGERS`], and what its rule
/// made of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hit {
    start: usize,
    trigger: usize,
    outcome: Outcome,
}

/// What a scan learnt at a trigger, for the scan after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Nothing a later scan can use: the trigger was passed over, or its rule found a secret.
    Unknown,
    /// The rule found nothing, and read no byte at or after `reach`, if that is known.
    Missed { reach: Option<usize> },
    /// In the triggers handed to a later scan: the rule found nothing here in the text before
    /// the splice, and no byte it read changed, so it would find nothing again. That holds
    /// while the later scan has found nothing before it, so that it sees from where the
    /// earlier scan saw.
    Settled,
}

impl Hit {
    fn end(self) -> usize {
        self.start + TRIGGERS[self.trigger].pattern.len()
    }
}

/// The triggers a scan met, in order, up to a limit.
struct Met {
    /// Most texts a tool returns are short strings with a trigger or two, so the first few
    /// are kept on the stack.
    hits: SmallVec<[Hit; 8]>,
    limit: usize,
    overflowed: bool,
}

impl Met {
    fn new(limit: usize) -> Met {
        Met { hits: SmallVec::new(), limit, overflowed: false }
    }

    fn record(&mut self, hit: Hit) {
        if self.hits.len() < self.limit {
            self.hits.push(hit);
        } else {
            self.overflowed = true;
        }
    }

    /// Notes that the rule of the trigger recorded last found nothing, reading no byte at or
    /// after `reach` if that is known.
    fn missed_last(&mut self, reach: Option<usize>) {
        if let (Some(hit), false) = (self.hits.last_mut(), self.overflowed) {
            hit.outcome = Outcome::Missed { reach };
        }
    }

    /// Whether every trigger met was kept.
    fn complete(&self) -> bool {
        !self.overflowed
    }

    fn clear(&mut self) {
        self.hits.clear();
        self.overflowed = false;
    }
}

/// How many triggers of one pass are kept for the next: as many as fit in a quarter of the
/// text's size, and at least 1,024. Text denser in triggers than that is searched again by
/// each later pass instead.
fn recording_limit(length: usize) -> usize {
    (length / 4 / std::mem::size_of::<Hit>()).max(1024)
}

/// Where a scan takes its triggers from.
#[derive(Clone, Copy)]
enum Hits<'a> {
    /// From searching the text with the trigger automaton.
    Search,
    /// From a list known to hold, sorted by start, every trigger of the text outside its
    /// markers and the start of every marker; passing over those [`Outcome::Settled`] when
    /// `pass_settled` is set.
    Recorded { hits: &'a [Hit], pass_settled: bool },
}

/// The index of the `[redacted:` trigger in [`TRIGGERS`].
const MARKER_TRIGGER: usize = 0;

/// The triggers of the text [`splice`] makes by replacing `spliced` in a text whose scan met
/// `met`, in the form [`Hits::Recorded`] needs.
///
/// A scan meets every trigger of its text but those inside markers, which it steps over. The
/// spliced text differs only inside the spliced ranges, each now a marker, so its triggers are:
///
/// - the triggers met that lie wholly outside every spliced range, moved by the change in
///   length of the ranges before them;
/// - the start of each new marker;
/// - no trigger crossing the edge of a new marker: only `[redacted:` holds a `[` and no trigger
///   holds a `]`, so none can run into a marker, which starts with `[`, or out of one, which
///   ends with `]`.
///
/// The markers the text held before are unchanged, because no secret may cut into one.
///
/// With `settle`, a trigger whose rule missed is [`Outcome::Settled`] when no spliced range
/// starts before what the rule read ends, or none follows it at all. `settle` must be false
/// when the splice left out a range the scan took, since the scan after it would not see that
/// range as a marker and could see more.
fn spliced_hits(met: &[Hit], spliced: &[Found], settle: bool) -> Vec<Hit> {
    let mut hits = Vec::with_capacity(met.len() + spliced.len());
    // A position after the ranges replaced so far moves by what they added less what they
    // removed; everything removed lies before it, so the subtraction cannot underflow.
    let (mut added, mut removed) = (0, 0);
    let mut ranges = spliced.iter().peekable();
    let marker = |range: &Found, added: &mut usize, removed: &mut usize| {
        let start = range.start + *added - *removed;
        *added += range.kind.marker().len();
        *removed += range.end - range.start;
        Hit { start, trigger: MARKER_TRIGGER, outcome: Outcome::Unknown }
    };
    for &hit in met {
        while let Some(range) = ranges.next_if(|range| range.end <= hit.start) {
            hits.push(marker(range, &mut added, &mut removed));
        }
        let next = ranges.peek();
        if next.is_some_and(|range| range.start < hit.end()) {
            continue;
        }
        let unchanged = match (hit.outcome, next) {
            (Outcome::Missed { .. }, None) => true,
            (Outcome::Missed { reach: Some(reach) }, Some(next)) => reach <= next.start,
            _ => false,
        };
        let outcome = if settle && unchanged { Outcome::Settled } else { Outcome::Unknown };
        hits.push(Hit { start: hit.start + added - removed, trigger: hit.trigger, outcome });
    }
    for range in ranges {
        hits.push(marker(range, &mut added, &mut removed));
    }
    hits
}

/// `text` with every found range replaced by its marker, counting each in `redactions`.
///
/// Ranges arrive sorted and disjoint; one that overlaps its predecessor or does not fall on a
/// character boundary is skipped rather than trusted, and dropped from `found`, which is left
/// holding exactly the ranges replaced. Returns the text, and whether every range was replaced.
fn splice(text: &str, found: &mut Vec<Found>, redactions: &mut Redactions) -> (String, bool) {
    let ranges = found.len();
    // Room for every marker, so that a long text is never copied again to grow.
    let markers: usize = found.iter().map(|secret| secret.kind.marker().len()).sum();
    let mut out = String::with_capacity(text.len().saturating_add(markers));
    let mut copied = 0;
    found.retain(|secret| {
        let (Some(before), true) =
            (text.get(copied..secret.start), text.is_char_boundary(secret.end))
        else {
            return false;
        };
        if secret.end <= secret.start {
            return false;
        }
        out.push_str(before);
        out.push_str(secret.kind.marker());
        redactions.add(secret.kind);
        copied = secret.end;
        true
    });
    out.push_str(text.get(copied..).unwrap_or_default());
    let replaced_all = found.len() == ranges;
    (out, replaced_all)
}

/// A trigger string and the rule that checks the text around it.
struct Trigger {
    pattern: &'static [u8],
    rule: Rule,
}

const fn trigger(pattern: &'static str, rule: Rule) -> Trigger {
    Trigger { pattern: pattern.as_bytes(), rule }
}

/// Every trigger, matched case-sensitively. Words appear in the three cases code spells names
/// in (`token`, `Token`, `TOKEN`), which keeps the list under the 64 patterns that Teddy, the
/// SIMD searcher inside the automaton, handles at several GB/s; a case-insensitive automaton
/// cannot use it and runs several times slower.
static TRIGGERS: &[Trigger] = &[
    trigger("[redacted:", Rule::Marker),
    trigger("AKIA", Rule::AwsId),
    trigger("ASIA", Rule::AwsId),
    trigger("AGPA", Rule::AwsId),
    trigger("AIDA", Rule::AwsId),
    trigger("AROA", Rule::AwsId),
    trigger("ANPA", Rule::AwsId),
    trigger("ANVA", Rule::AwsId),
    trigger("AIPA", Rule::AwsId),
    trigger("eyJ", Rule::Jwt),
    trigger("-----BEGIN", Rule::Pem),
    trigger("LS0tLS1CRUdJ", Rule::EncodedPem),
    trigger("://", Rule::UrlPassword),
    trigger("bearer", Rule::Bearer),
    trigger("Bearer", Rule::Bearer),
    trigger("BEARER", Rule::Bearer),
    trigger("basic", Rule::Basic),
    trigger("Basic", Rule::Basic),
    trigger("BASIC", Rule::Basic),
    trigger("github_pat_", Rule::Vendor(Vendor::GithubFineGrained)),
    trigger("ghp_", Rule::Vendor(Vendor::Github)),
    trigger("gho_", Rule::Vendor(Vendor::Github)),
    trigger("ghu_", Rule::Vendor(Vendor::Github)),
    trigger("ghs_", Rule::Vendor(Vendor::Github)),
    trigger("ghr_", Rule::Vendor(Vendor::Github)),
    trigger("glpat-", Rule::Vendor(Vendor::Gitlab)),
    trigger("xox", Rule::Vendor(Vendor::Slack)),
    trigger("sk_live_", Rule::Vendor(Vendor::Stripe)),
    trigger("rk_live_", Rule::Vendor(Vendor::Stripe)),
    trigger("sk_test_", Rule::Vendor(Vendor::Stripe)),
    trigger("rk_test_", Rule::Vendor(Vendor::Stripe)),
    trigger("AIza", Rule::Vendor(Vendor::Google)),
    trigger("npm_", Rule::Vendor(Vendor::Npm)),
    trigger("sk-", Rule::Vendor(Vendor::SkPrefixed)),
    trigger("SG.", Rule::Vendor(Vendor::Sendgrid)),
    // Every sensitive head noun contains one of these; the name rule decides from the whole name.
    trigger("pass", Rule::Name),
    trigger("Pass", Rule::Name),
    trigger("PASS", Rule::Name),
    trigger("pwd", Rule::Name),
    trigger("Pwd", Rule::Name),
    trigger("PWD", Rule::Name),
    trigger("secret", Rule::Name),
    trigger("Secret", Rule::Name),
    trigger("SECRET", Rule::Name),
    trigger("token", Rule::Name),
    trigger("Token", Rule::Name),
    trigger("TOKEN", Rule::Name),
    trigger("key", Rule::Name),
    trigger("Key", Rule::Name),
    trigger("KEY", Rule::Name),
    trigger("auth", Rule::Name),
    trigger("Auth", Rule::Name),
    trigger("AUTH", Rule::Name),
    trigger("cred", Rule::Name),
    trigger("Cred", Rule::Name),
    trigger("CRED", Rule::Name),
    trigger("session", Rule::Name),
    trigger("Session", Rule::Name),
    trigger("SESSION", Rule::Name),
    trigger("cookie", Rule::Name),
    trigger("Cookie", Rule::Name),
    trigger("COOKIE", Rule::Name),
];

#[derive(Clone, Copy)]
enum Rule {
    AwsId,
    Jwt,
    Pem,
    EncodedPem,
    UrlPassword,
    Bearer,
    Basic,
    Vendor(Vendor),
    Name,
    /// A marker left by an earlier redaction.
    Marker,
}

#[derive(Clone, Copy)]
enum Vendor {
    Github,
    GithubFineGrained,
    Gitlab,
    Slack,
    Stripe,
    Google,
    Npm,
    SkPrefixed,
    Sendgrid,
}

impl Rule {
    /// The secret this rule finds at the trigger hit `start..end`, if any.
    fn apply(self, bytes: &[u8], start: usize, end: usize) -> Option<Found> {
        self.check(bytes, start, end).0
    }

    /// Like [`Rule::apply`]; when nothing is found, also an index that the rule read no byte
    /// at or after, where that is known without more work.
    fn check(self, bytes: &[u8], start: usize, end: usize) -> (Option<Found>, Option<usize>) {
        let secret = match self {
            Rule::AwsId => aws_id_at(bytes, start),
            Rule::Jwt => jwt_at(bytes, start),
            Rule::Pem => pem_at(bytes, start),
            Rule::EncodedPem => encoded_pem_at(bytes, start),
            // The authority is read no further than `MAX_AUTHORITY` bytes after the `://`.
            Rule::UrlPassword => {
                return match url_password(bytes, start, end) {
                    None => (None, Some(end + MAX_AUTHORITY)),
                    found => (found, None),
                };
            }
            Rule::Bearer => bearer_after(bytes, start, end),
            Rule::Basic => basic_after(bytes, start, end),
            Rule::Vendor(vendor) => vendor.token_at(bytes, start),
            // A name too long or not sensitive is turned down having read only the name and
            // the byte that ends it.
            Rule::Name => {
                let (name_start, name_end) = name_around(bytes, start, end);
                let name = &bytes[name_start..name_end];
                if name.len() > MAX_NAME || !is_sensitive_name(name) {
                    return (None, Some(name_end + 1));
                }
                keyed_value(bytes, name_start, name_end)
            }
            Rule::Marker => None,
        };
        (secret, None)
    }
}

/// Whether `range` overlaps a marker, including one the scan has not reached yet.
fn cuts_marker(bytes: &[u8], range: &Range<usize>) -> bool {
    // No marker is longer than this, so one that overlaps the range starts after it.
    const LONGEST_MARKER: usize = 48;
    let window_start = range.start.saturating_sub(LONGEST_MARKER);
    memchr::memmem::find_iter(&bytes[window_start..range.end], b"[redacted:").any(|offset| {
        let marker_start = window_start + offset;
        marker_end(bytes, marker_start + b"[redacted:".len())
            .is_some_and(|marker_end| marker_start < range.end && range.start < marker_end)
    })
}

/// The end of a marker whose kind starts at `from`, after its `]`.
fn marker_end(bytes: &[u8], from: usize) -> Option<usize> {
    let kind = run(bytes, from, |byte| byte.is_ascii_lowercase() || byte == b'-');
    (kind > 0 && at(bytes, from + kind) == Some(b']')).then_some(from + kind + 1)
}

/// How far a matcher looks for a closing quote, an `END` line or the end of a name.
const MAX_VALUE: usize = 64 * 1024;
const MAX_NAME: usize = 128;
const MAX_AUTHORITY: usize = 512;

/// A set of bytes for the matchers' tests of one byte at a time. `<[u8]>::contains` calls
/// `memchr`, whose setup costs far more than a lookup when it runs once per byte of a run.
struct ByteSet([bool; 256]);

impl ByteSet {
    const fn of(bytes: &[u8]) -> ByteSet {
        let mut set = [false; 256];
        let mut index = 0;
        while index < bytes.len() {
            set[bytes[index] as usize] = true;
            index += 1;
        }
        ByteSet(set)
    }

    fn contains(&self, byte: u8) -> bool {
        self.0[usize::from(byte)]
    }
}

static NAME_PUNCTUATION: ByteSet = ByteSet::of(b"_.-");
static SCHEME_PUNCTUATION: ByteSet = ByteSet::of(b"+.-");
static AUTHORITY_END: ByteSet = ByteSet::of(b"/?#\"'<>\\`");
static BEARER_PUNCTUATION: ByteSet = ByteSet::of(b"._~+/=-");
static PEM_PUNCTUATION: ByteSet = ByteSet::of(b"\\:,-");

fn at(bytes: &[u8], index: usize) -> Option<u8> {
    bytes.get(index).copied()
}

fn before(bytes: &[u8], index: usize) -> Option<u8> {
    index.checked_sub(1).and_then(|previous| at(bytes, previous))
}

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

fn is_base64(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/' || byte == b'='
}

fn run(bytes: &[u8], from: usize, class: impl Fn(u8) -> bool) -> usize {
    bytes.get(from..).map_or(0, |rest| rest.iter().take_while(|&&byte| class(byte)).count())
}

fn starts_with_at(bytes: &[u8], index: usize, prefix: &[u8]) -> bool {
    bytes.get(index..).is_some_and(|rest| rest.starts_with(prefix))
}

fn starts_with_ignore_case(bytes: &[u8], index: usize, prefix: &[u8]) -> bool {
    bytes
        .get(index..index.saturating_add(prefix.len()))
        .is_some_and(|window| window.eq_ignore_ascii_case(prefix))
}

/// `AKIA` and its siblings followed by exactly 16 uppercase letters and digits.
fn aws_id_at(bytes: &[u8], start: usize) -> Option<Found> {
    if before(bytes, start).is_some_and(|byte| byte.is_ascii_alphanumeric()) {
        return None;
    }
    let body = run(bytes, start + 4, |byte| byte.is_ascii_uppercase() || byte.is_ascii_digit());
    let end = start + 4 + body;
    let bounded = !at(bytes, end).is_some_and(|byte| byte.is_ascii_alphanumeric());
    (body == 16 && bounded).then_some(Found { start, end, kind: Kind::AwsAccessKeyId })
}

/// Three or more base64url segments, the first starting `eyJ` (`{"` encoded).
fn jwt_at(bytes: &[u8], start: usize) -> Option<Found> {
    if before(bytes, start).is_some_and(is_base64url) {
        return None;
    }
    let header = run(bytes, start, is_base64url);
    if header < 10 {
        return None;
    }
    let mut end = start + header;
    let mut segments = 1;
    while at(bytes, end) == Some(b'.') && segments < 5 {
        let segment = run(bytes, end + 1, is_base64url);
        if segment == 0 && segments != 2 {
            break;
        }
        if segments == 1 && segment < 4 {
            return None;
        }
        end += 1 + segment;
        segments += 1;
    }
    (segments >= 3).then_some(Found { start, end, kind: Kind::Jwt })
}

/// A PEM block whose label names a private key, through its `END` line.
///
/// The body is what may stand between the lines: base64, blanks, line breaks real or escaped
/// as `\n`, and the `Proc-Type`/`DEK-Info` headers of an encrypted key. A key cut short, as in a
/// truncated log line, is redacted through what there is of its body.
fn pem_at(bytes: &[u8], start: usize) -> Option<Found> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"-----END ";
    const DASHES: &[u8] = b"-----";
    if !starts_with_at(bytes, start, BEGIN) {
        return None;
    }
    let label_start = start + BEGIN.len();
    let label = run(bytes, label_start, |byte| byte.is_ascii_uppercase() || byte == b' ');
    memchr::memmem::find(&bytes[label_start..label_start + label], b"PRIVATE KEY")?;
    let header_end = label_start + label;
    if !starts_with_at(bytes, header_end, DASHES) {
        return None;
    }

    let body_start = header_end + DASHES.len();
    let limit = bytes.len().min(body_start + MAX_VALUE);
    let is_body =
        |byte: u8| is_base64(byte) || byte.is_ascii_whitespace() || PEM_PUNCTUATION.contains(byte);
    let mut end = body_start;
    while end < limit && is_body(bytes[end]) && !starts_with_at(bytes, end, DASHES) {
        end += 1;
    }
    if starts_with_at(bytes, end, END) {
        let end_label = end + END.len();
        let length = run(bytes, end_label, |byte| byte.is_ascii_uppercase() || byte == b' ');
        end = end_label + length;
        if starts_with_at(bytes, end, DASHES) {
            end += DASHES.len();
        }
    }
    Some(Found { start, end, kind: Kind::PrivateKey })
}

/// Base64 of a PEM private key, as in a ConfigMap's `binaryData` or a kubeconfig.
fn encoded_pem_at(bytes: &[u8], start: usize) -> Option<Found> {
    if before(bytes, start).is_some_and(is_base64) {
        return None;
    }
    let length = run(bytes, start, is_base64);
    let prefix = &bytes[start..start + length.min(96)];
    let decoded = decode_base64(prefix);
    let label_end = memchr::memmem::find(decoded.get(11..)?, b"-----")? + 11;
    let label = &decoded[11..label_end];
    memchr::memmem::find(label, b"PRIVATE KEY")?;
    Some(Found { start, end: start + length, kind: Kind::PrivateKey })
}

/// Decodes standard base64 up to the first byte outside the alphabet or the padding.
fn decode_base64(encoded: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::with_capacity(encoded.len() / 4 * 3 + 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    for &byte in encoded {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => break,
        };
        buffer = ((buffer << 6) | u32::from(sextet)) & 0xff_ffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            decoded.push((buffer >> bits) as u8);
        }
    }
    decoded
}

/// Database schemes whose URL passwords are reported as connection strings.
const DATABASE_SCHEMES: &[&[u8]] = &[
    b"postgres",
    b"postgresql",
    b"mysql",
    b"mariadb",
    b"mongodb",
    b"mongodb+srv",
    b"redis",
    b"rediss",
    b"amqp",
    b"amqps",
    b"sqlserver",
    b"mssql",
    b"oracle",
    b"cockroachdb",
    b"clickhouse",
];

/// The password of `scheme://user:password@host`, the `://` being at `start..end`.
fn url_password(bytes: &[u8], start: usize, end: usize) -> Option<Found> {
    let scheme_length = bytes[..start]
        .iter()
        .rev()
        .take(32)
        .take_while(|&&byte| byte.is_ascii_alphanumeric() || SCHEME_PUNCTUATION.contains(byte))
        .count();
    let scheme = &bytes[start - scheme_length..start];
    if !scheme.first().is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let authority = bytes[end..]
        .iter()
        .take(MAX_AUTHORITY)
        .take_while(|&&byte| !byte.is_ascii_whitespace() && !AUTHORITY_END.contains(byte))
        .count();
    let authority = &bytes[end..end + authority];
    let at_sign = memchr::memrchr(b'@', authority)?;
    let colon = memchr::memchr(b':', &authority[..at_sign])?;
    let password = &authority[colon + 1..at_sign];
    if password.is_empty() || is_not_a_secret(b"password", password, Typing::Json) {
        return None;
    }
    let is_database = DATABASE_SCHEMES.iter().any(|known| scheme.eq_ignore_ascii_case(known));
    let kind = if is_database { Kind::ConnectionString } else { Kind::UrlCredentials };
    Some(Found { start: end + colon + 1, end: end + at_sign, kind })
}

fn skip_blanks(bytes: &[u8], from: usize) -> usize {
    from + run(bytes, from, |byte| byte == b' ' || byte == b'\t')
}

/// The token after a `Bearer` scheme word at `start..end`.
fn bearer_after(bytes: &[u8], start: usize, end: usize) -> Option<Found> {
    if before(bytes, start).is_some_and(|byte| byte.is_ascii_alphanumeric()) {
        return None;
    }
    let token_start = skip_blanks(bytes, end);
    if token_start == end {
        return None;
    }
    let length = run(bytes, token_start, is_bearer_token_byte);
    let token = &bytes[token_start..token_start + length];
    let shaped = length >= 8
        && !is_bearer_or_basic(token)
        && token.iter().any(u8::is_ascii_digit)
        && token.iter().any(u8::is_ascii_alphabetic);
    if !shaped {
        return None;
    }
    let end = token_start + length;
    let is_jwt = jwt_at(bytes, token_start).is_some_and(|jwt| jwt.end == end);
    Some(Found {
        start: token_start,
        end,
        kind: if is_jwt { Kind::Jwt } else { Kind::BearerToken },
    })
}

fn is_bearer_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || BEARER_PUNCTUATION.contains(byte)
}

/// The credentials after a `Basic` scheme word, if they decode to printable `user:password`.
fn basic_after(bytes: &[u8], start: usize, end: usize) -> Option<Found> {
    if before(bytes, start).is_some_and(|byte| byte.is_ascii_alphanumeric()) {
        return None;
    }
    let token_start = skip_blanks(bytes, end);
    if token_start == end {
        return None;
    }
    let length = run(bytes, token_start, is_base64);
    let token = &bytes[token_start..token_start + length];
    is_basic_credentials(token).then_some(Found {
        start: token_start,
        end: token_start + length,
        kind: Kind::BasicAuth,
    })
}

fn is_basic_credentials(token: &[u8]) -> bool {
    if token.len() < 4 || token.len() > 1024 {
        return false;
    }
    let decoded = decode_base64(token);
    decoded.contains(&b':') && decoded.iter().all(|byte| (0x20..0x7f).contains(byte))
}

impl Vendor {
    /// The vendor token starting at `start`, its prefix already matched exactly.
    fn token_at(self, bytes: &[u8], start: usize) -> Option<Found> {
        let boundary = match self {
            Vendor::SkPrefixed => is_base64url,
            _ => is_word,
        };
        if before(bytes, start).is_some_and(boundary) {
            return None;
        }
        let alphanumeric = |byte: u8| byte.is_ascii_alphanumeric();
        let (prefix, length, kind) = match self {
            Vendor::Github => (4, run(bytes, start + 4, alphanumeric), Kind::GithubToken),
            Vendor::GithubFineGrained => (11, run(bytes, start + 11, is_word), Kind::GithubToken),
            Vendor::Gitlab => (6, run(bytes, start + 6, is_base64url), Kind::GitlabToken),
            Vendor::Slack => {
                let variant = at(bytes, start + 3)?;
                if !b"abposr".contains(&variant) || at(bytes, start + 4) != Some(b'-') {
                    return None;
                }
                let body = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'-';
                (5, run(bytes, start + 5, body), Kind::SlackToken)
            }
            Vendor::Stripe => (8, run(bytes, start + 8, alphanumeric), Kind::StripeKey),
            Vendor::Google => (4, run(bytes, start + 4, is_base64url), Kind::GoogleApiKey),
            Vendor::Npm => (4, run(bytes, start + 4, alphanumeric), Kind::NpmToken),
            Vendor::SkPrefixed => {
                let length = run(bytes, start + 3, is_base64url);
                let body = &bytes[start + 3..start + 3 + length];
                if !body.iter().any(u8::is_ascii_digit) {
                    return None;
                }
                let kind = if body.starts_with(b"ant-") {
                    Kind::AnthropicApiKey
                } else {
                    Kind::OpenaiApiKey
                };
                (3, length, kind)
            }
            Vendor::Sendgrid => {
                let first = run(bytes, start + 3, is_base64url);
                if first < 16 || at(bytes, start + 3 + first) != Some(b'.') {
                    return None;
                }
                let second = run(bytes, start + 4 + first, is_base64url);
                if second < 30 {
                    return None;
                }
                (3, first + 1 + second, Kind::SendgridApiKey)
            }
        };
        let minimum = match self {
            Vendor::Github => 30,
            Vendor::GithubFineGrained => 22,
            Vendor::Gitlab => 20,
            Vendor::Slack => 10,
            Vendor::Stripe => 16,
            Vendor::Google => 35,
            Vendor::Npm => 36,
            Vendor::SkPrefixed => 20,
            Vendor::Sendgrid => 0,
        };
        (length >= minimum).then_some(Found { start, end: start + prefix + length, kind })
    }
}

/// A secret recognised by its own shape at `start`, whatever name it sits under.
fn shaped_secret_at(bytes: &[u8], start: usize) -> Option<Found> {
    let rest = bytes.get(start..)?;
    let trigger = TRIGGERS.iter().find(|trigger| {
        !matches!(trigger.rule, Rule::Name | Rule::Marker) && rest.starts_with(trigger.pattern)
    })?;
    trigger.rule.apply(bytes, start, start + trigger.pattern.len())
}

/// The shaped secret that is the whole value `start..end`, or runs past its end.
fn shaped_value(bytes: &[u8], start: usize, end: usize) -> Option<Found> {
    let shaped = shaped_secret_at(bytes, start)?;
    bytes[shaped.end.min(end)..end].iter().all(u8::is_ascii_whitespace).then_some(shaped)
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || NAME_PUNCTUATION.contains(byte)
}

/// A quote around a key or value: `"`, `'`, or `\"` inside a JSON string.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    Double,
    Single,
    Escaped,
}

impl Quote {
    fn len(self) -> usize {
        match self {
            Quote::Double | Quote::Single => 1,
            Quote::Escaped => 2,
        }
    }

    fn opening_at(bytes: &[u8], index: usize) -> Option<Quote> {
        match at(bytes, index)? {
            b'"' => Some(Quote::Double),
            b'\'' => Some(Quote::Single),
            b'\\' if at(bytes, index + 1) == Some(b'"') => Some(Quote::Escaped),
            _ => None,
        }
    }

    fn ending_at(bytes: &[u8], end: usize) -> Option<Quote> {
        match before(bytes, end)? {
            b'"' if before(bytes, end - 1) == Some(b'\\') => Some(Quote::Escaped),
            b'"' => Some(Quote::Double),
            b'\'' => Some(Quote::Single),
            _ => None,
        }
    }

    fn is_at(self, bytes: &[u8], index: usize) -> bool {
        Quote::opening_at(bytes, index) == Some(self)
    }

    /// The end of a string whose contents start at `from`, the index of its closing quote.
    fn closing_from(self, bytes: &[u8], from: usize) -> Option<usize> {
        let window = bytes.get(from..bytes.len().min(from + MAX_VALUE))?;
        let mut index = 0;
        while index < window.len() {
            match (self, window[index]) {
                (Quote::Double, b'\\') => index += 2,
                (Quote::Double, b'"') | (Quote::Single, b'\'') => return Some(from + index),
                (Quote::Escaped, b'\\') if window.get(index + 1) == Some(&b'"') => {
                    return Some(from + index);
                }
                (Quote::Escaped, b'\\') => index += 2,
                _ => index += 1,
            }
        }
        None
    }
}

/// The name around the hit `start..end`, as its start and end.
fn name_around(bytes: &[u8], start: usize, end: usize) -> (usize, usize) {
    let name_start = start - bytes[..start].iter().rev().take_while(|&&b| is_name_byte(b)).count();
    (name_start, end + run(bytes, end, is_name_byte))
}

/// The value of the sensitive name at `name_start..name_end`: `name=value`, `name: value`,
/// `"name": "value"`, or the `value` of a `name`/`value` pair whose name is sensitive.
fn keyed_value(bytes: &[u8], name_start: usize, name_end: usize) -> Option<Found> {
    let name = &bytes[name_start..name_end];

    let quote = Quote::ending_at(bytes, name_start).filter(|quote| quote.is_at(bytes, name_end));
    let after_name = name_end + quote.map_or(0, Quote::len);
    let separator = skip_blanks(bytes, after_name);
    let separator_length = match (at(bytes, separator), at(bytes, separator + 1)) {
        (Some(b'='), Some(b'>')) => 2,
        (Some(b'='), Some(b'=')) | (Some(b':'), Some(b':')) => return None,
        (Some(b'=' | b':'), _) => 1,
        _ => return pair_value(bytes, name_start, name_end, quote),
    };
    let value_start = skip_blanks(bytes, separator + separator_length);
    let context = if preceded_by_semicolon(bytes, name_start) {
        Delimiting::Semicolons
    } else if is_header_name(name) {
        Delimiting::Line
    } else {
        Delimiting::Token
    };
    let (value_start, mut value_end) = delimit_value(bytes, value_start, context)?;
    // `token=Bearer abc`: the scheme word alone is not the value.
    if is_bearer_or_basic(&bytes[value_start..value_end]) && at(bytes, value_end) == Some(b' ') {
        let credentials = skip_blanks(bytes, value_end);
        let credentials_end = delimit_value(bytes, credentials, context)?.1;
        if is_bearer_or_basic(&bytes[credentials..credentials_end]) {
            return None;
        }
        value_end = credentials_end;
    }
    let mut secret = judge_value(name, bytes, value_start, value_end, Typing::Text)?;
    let in_list = context == Delimiting::Semicolons || at(bytes, value_end) == Some(b';');
    if in_list && secret.kind == Kind::SensitiveValue && is_password_name(name) {
        secret.kind = Kind::ConnectionString;
    }
    Some(secret)
}

/// How an unquoted value ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Delimiting {
    /// At a blank or punctuation, as in `key=value` and logfmt.
    Token,
    /// At `;` only, as in ADO connection strings where passwords may hold blanks.
    Semicolons,
    /// At the end of the line, as in an HTTP header.
    Line,
}

/// Whether the name directly follows a `;`, as in `Server=db;Password=…`. A blank after the
/// `;` reads as prose or a cookie list, where values end at a blank.
fn preceded_by_semicolon(bytes: &[u8], name_start: usize) -> bool {
    before(bytes, name_start) == Some(b';')
}

/// The contents of the value starting at `start`, quoted or not.
fn delimit_value(bytes: &[u8], start: usize, delimiting: Delimiting) -> Option<(usize, usize)> {
    if let Some(quote) = Quote::opening_at(bytes, start) {
        let contents = start + quote.len();
        return Some((contents, quote.closing_from(bytes, contents)?));
    }
    static TOKEN_END: ByteSet = ByteSet::of(b" \t\r\n,;&\"'}])<>\\|`");
    static SEMICOLONS_END: ByteSet = ByteSet::of(b"\r\n;\"'\\");
    static LINE_END: ByteSet = ByteSet::of(b"\r\n\"'\\");
    let stop = match delimiting {
        Delimiting::Token => &TOKEN_END,
        Delimiting::Semicolons => &SEMICOLONS_END,
        Delimiting::Line => &LINE_END,
    };
    let length = bytes[start..].iter().take(MAX_VALUE).take_while(|&&b| !stop.contains(b)).count();
    let mut end = start + length;
    // A value cut by the limit ends on a character boundary, so that it can be replaced.
    while end > start && at(bytes, end).is_some_and(|byte| byte & 0xc0 == 0x80) {
        end -= 1;
    }
    while end > start && bytes[end - 1] == b' ' {
        end -= 1;
    }
    Some((start, end))
}

/// The `value` of a `name`/`value` pair whose `name` is the sensitive name at
/// `name_start..name_end`, as in a pod's env list in JSON (`{"name": "DB_PASSWORD", "value":
/// "…"}`) or YAML (`- name: DB_PASSWORD` then `value: …` on the next line).
fn pair_value(
    bytes: &[u8],
    name_start: usize,
    name_end: usize,
    quote: Option<Quote>,
) -> Option<Found> {
    let quote_length = quote.map_or(0, Quote::len);
    let mut index = name_start - quote_length;
    while before(bytes, index) == Some(b' ') {
        index -= 1;
    }
    if before(bytes, index) != Some(b':') {
        return None;
    }
    index -= 1;
    while before(bytes, index) == Some(b' ') {
        index -= 1;
    }
    let name_key_end =
        index - quote.and_then(|_| Quote::ending_at(bytes, index)).map_or(0, Quote::len);
    let name_key_start = name_key_end.checked_sub(4)?;
    if !bytes[name_key_start..name_key_end].eq_ignore_ascii_case(b"name")
        || before(bytes, name_key_start).is_some_and(is_word)
    {
        return None;
    }

    let mut index = skip_blanks(bytes, name_end + quote_length);
    match quote {
        Some(_) => {
            if at(bytes, index) != Some(b',') {
                return None;
            }
            index = skip_space(bytes, index + 1);
        }
        None => {
            index = skip_line_break(bytes, index)?;
            index = skip_blanks(bytes, index);
        }
    }
    let key_quote = Quote::opening_at(bytes, index);
    index += key_quote.map_or(0, Quote::len);
    if !starts_with_ignore_case(bytes, index, b"value") {
        return None;
    }
    index += 5;
    if let Some(key_quote) = key_quote {
        if !key_quote.is_at(bytes, index) {
            return None;
        }
        index += key_quote.len();
    }
    index = skip_blanks(bytes, index);
    if at(bytes, index) != Some(b':') {
        return None;
    }
    let value_start = skip_blanks(bytes, index + 1);
    let (value_start, value_end) = delimit_value(bytes, value_start, Delimiting::Line)?;
    judge_value(&bytes[name_start..name_end], bytes, value_start, value_end, Typing::Text)
}

fn skip_space(bytes: &[u8], from: usize) -> usize {
    from + run(bytes, from, |byte| byte.is_ascii_whitespace())
}

/// The index after a line break at `index`, real or escaped as `\n` inside a JSON string.
fn skip_line_break(bytes: &[u8], index: usize) -> Option<usize> {
    match (at(bytes, index)?, at(bytes, index + 1)) {
        (b'\r', Some(b'\n')) => Some(index + 2),
        (b'\n', _) => Some(index + 1),
        (b'\\', Some(b'n')) => Some(index + 2),
        _ => None,
    }
}

/// Whether values are typed (JSON strings) or untyped text, where a bare number is a number.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Typing {
    Json,
    Text,
}

/// The secret in `bytes[start..end]`, the value of the sensitive name `name`.
fn judge_value(
    name: &[u8],
    bytes: &[u8],
    start: usize,
    end: usize,
    typing: Typing,
) -> Option<Found> {
    let value = &bytes[start..end];
    // A secret with a shape of its own keeps its precise kind, and a PEM key in unquoted text
    // runs past the first blank that ended the value.
    if let Some(shaped) = shaped_value(bytes, start, end) {
        return Some(shaped);
    }
    if is_not_a_secret(name, value, typing) {
        return None;
    }

    // An authorization keeps its scheme word so the model can tell Bearer from Basic.
    if let Some(space) = memchr::memchr(b' ', value)
        && space > 0
        && value[..space].iter().all(|byte| byte.is_ascii_alphanumeric() || *byte == b'-')
        && (is_authorization_name(name) || is_bearer_or_basic(&value[..space]))
    {
        let credentials = skip_blanks(value, space);
        if is_not_a_secret(name, &value[credentials..], typing)
            || is_bearer_or_basic(&value[credentials..])
        {
            return None;
        }
        let credentials = start + credentials;
        if let Some(shaped) = shaped_value(bytes, credentials, end) {
            return Some(shaped);
        }
        let scheme = &value[..space];
        let kind = if scheme.eq_ignore_ascii_case(b"bearer") {
            Kind::BearerToken
        } else if scheme.eq_ignore_ascii_case(b"basic") {
            Kind::BasicAuth
        } else {
            Kind::SensitiveValue
        };
        return Some(Found { start: credentials, end, kind });
    }

    let normalized = Normalized::new(name);
    let kind = if (normalized.ends_with(b"secretaccesskey") || normalized.ends_with(b"secretkey"))
        && value.len() == 40
        && value.iter().all(|&byte| is_base64(byte))
    {
        Kind::AwsSecretKey
    } else if normalized.ends_with(b"sessiontoken") || normalized.ends_with(b"securitytoken") {
        Kind::AwsSessionToken
    } else {
        Kind::SensitiveValue
    };
    Some(Found { start, end, kind })
}

/// Words that describe a setting or a state rather than hold a secret.
const STATE_WORDS: &[&[u8]] = &[
    b"true",
    b"false",
    b"null",
    b"nil",
    b"none",
    b"undefined",
    b"yes",
    b"no",
    b"on",
    b"off",
    b"enabled",
    b"disabled",
    b"required",
    b"optional",
    b"present",
    b"absent",
    b"missing",
    b"invalid",
    b"expired",
    b"empty",
    b"set",
    b"unset",
    b"ok",
    b"success",
    b"failed",
    b"failure",
    b"denied",
    b"granted",
    b"valid",
    b"unknown",
    b"redacted",
    b"hidden",
    b"masked",
    b"filtered",
    b"<redacted>",
    b"<hidden>",
    b"<masked>",
    b"[filtered]",
];

/// Whether `value`, under the sensitive name `name`, is plainly not a secret.
fn is_not_a_secret(name: &[u8], value: &[u8], typing: Typing) -> bool {
    let masked = value.len() >= 3
        && value.iter().all(|&byte| byte == value[0])
        && b"*xX#".contains(&value[0]);
    let reference = value.starts_with(b"${")
        || value.starts_with(b"$(")
        || value.starts_with(b"{{")
        || (value.first() == Some(&b'$')
            && value.get(1).is_some_and(|byte| byte.is_ascii_alphabetic() || *byte == b'_'));
    let block_indicator = value.len() <= 3 && value.iter().all(|byte| b"|>-+".contains(byte));
    let digits = value.iter().filter(|byte| byte.is_ascii_digit()).count();
    let bare_number = typing == Typing::Text
        && digits > 0
        && digits <= 5
        && value.iter().all(|byte| byte.is_ascii_digit() || *byte == b'.' || *byte == b'-');
    let working_directory = Normalized::new(name).ends_with(b"pwd")
        && (value.starts_with(b"/") || value.starts_with(b"~"));
    value.is_empty()
        || memchr::memmem::find(value, b"[redacted:").is_some()
        || masked
        || reference
        || block_indicator
        || bare_number
        || working_directory
        || value.starts_with(b"{")
        || value.starts_with(b"[")
        || STATE_WORDS.iter().any(|word| value.eq_ignore_ascii_case(word))
}

/// How many letters of a name [`Normalized`] keeps: more than the longest ending it is asked
/// about.
const NAME_TAIL: usize = 32;

/// The last letters of a name, lowercased with its separators removed and kept on the stack,
/// with a map back to the original bytes so that word boundaries can be checked. Only the last
/// [`NAME_TAIL`] letters are kept, because every question asked of a name is how it ends.
struct Normalized {
    letters: [u8; NAME_TAIL],
    origins: [u8; NAME_TAIL],
    /// How many letters are kept, at the end of the arrays.
    length: usize,
    /// Whether the kept letters are all the letters of the name.
    whole: bool,
}

impl Normalized {
    fn new(name: &[u8]) -> Self {
        let name = &name[..name.len().min(MAX_NAME)];
        let mut normalized =
            Normalized { letters: [0; NAME_TAIL], origins: [0; NAME_TAIL], length: 0, whole: true };
        for (index, &byte) in name.iter().enumerate().rev() {
            if byte.is_ascii_alphanumeric() {
                if normalized.length == NAME_TAIL {
                    normalized.whole = false;
                    break;
                }
                normalized.length += 1;
                normalized.letters[NAME_TAIL - normalized.length] = byte.to_ascii_lowercase();
                normalized.origins[NAME_TAIL - normalized.length] = index as u8;
            }
        }
        normalized
    }

    fn as_bytes(&self) -> &[u8] {
        &self.letters[NAME_TAIL - self.length..]
    }

    fn ends_with(&self, suffix: &[u8]) -> bool {
        debug_assert!(suffix.len() < NAME_TAIL, "an ending longer than the letters kept");
        self.as_bytes().ends_with(suffix)
    }

    /// Whether the last `suffix_length` letters start a word of `name`: at its start, after a
    /// separator, or at a lower-to-upper case change.
    fn starts_word(&self, name: &[u8], suffix_length: usize) -> bool {
        debug_assert!(suffix_length < NAME_TAIL, "a word longer than the letters kept");
        let Some(first) = self.length.checked_sub(suffix_length) else { return false };
        if suffix_length == 0 {
            return false;
        }
        if first == 0 {
            // The word starts the name, unless letters before it were not kept.
            return self.whole;
        }
        let origins = &self.origins[NAME_TAIL - self.length..];
        let origin = usize::from(origins[first]);
        let previous = usize::from(origins[first - 1]);
        origin != previous + 1
            || (name[origin].is_ascii_uppercase() && !name[previous].is_ascii_uppercase())
    }
}

/// Head nouns that make a name sensitive when the name ends with them.
const SENSITIVE_ENDINGS: &[&[u8]] = &[
    b"password",
    b"passwd",
    b"passphrase",
    b"pwd",
    b"secret",
    b"token",
    b"apikey",
    b"accesskey",
    b"secretkey",
    b"privatekey",
    b"signingkey",
    b"encryptionkey",
    b"masterkey",
    b"appkey",
    b"applicationkey",
    b"clientkey",
    b"authkey",
    b"licensekey",
    b"sessionkey",
    b"credential",
    b"credentials",
    b"creds",
    b"authorization",
    b"cookie",
    b"session",
    b"sessionid",
];

/// Head nouns that make a name sensitive only as a whole word: `db_pass` but not `bypass`.
const SENSITIVE_WORDS: &[&[u8]] = &[b"pass", b"auth"];

/// Tokens that page or deduplicate requests rather than grant access.
const NON_CREDENTIAL_TOKENS: &[&[u8]] = &[
    b"nexttoken",
    b"nextpagetoken",
    b"pagetoken",
    b"paginationtoken",
    b"continuetoken",
    b"continuationtoken",
    b"startingtoken",
    b"forwardtoken",
    b"backwardtoken",
    b"sequencetoken",
    b"resumetoken",
    b"synctoken",
    b"clienttoken",
    b"clientrequesttoken",
    b"idempotencytoken",
    b"cancellationtoken",
];

/// Whether a key or variable named `name` holds a secret, by its head noun.
fn is_sensitive_name(name: &[u8]) -> bool {
    if name.len() > MAX_NAME {
        return false;
    }
    let normalized = Normalized::new(name);
    if NON_CREDENTIAL_TOKENS.iter().any(|ending| normalized.ends_with(ending)) {
        return false;
    }
    SENSITIVE_ENDINGS.iter().any(|ending| normalized.ends_with(ending))
        || SENSITIVE_WORDS
            .iter()
            .any(|word| normalized.ends_with(word) && normalized.starts_word(name, word.len()))
}

fn is_bearer_or_basic(scheme: &[u8]) -> bool {
    scheme.eq_ignore_ascii_case(b"bearer") || scheme.eq_ignore_ascii_case(b"basic")
}

fn is_password_name(name: &[u8]) -> bool {
    let normalized = Normalized::new(name);
    [&b"password"[..], b"passwd", b"pwd"].iter().any(|ending| normalized.ends_with(ending))
}

fn is_authorization_name(name: &[u8]) -> bool {
    let normalized = Normalized::new(name);
    normalized.ends_with(b"authorization")
        || (normalized.ends_with(b"auth") && normalized.starts_word(name, 4))
}

/// Header-like names whose values run to the end of the line, blanks included.
fn is_header_name(name: &[u8]) -> bool {
    let normalized = Normalized::new(name);
    normalized.ends_with(b"authorization") || normalized.ends_with(b"cookie")
}

/// Whether an argument such as `--password` or `-token` takes a secret as the next argument.
fn is_secret_flag(argument: &str) -> bool {
    let bytes = argument.as_bytes();
    bytes.first() == Some(&b'-')
        && !bytes.contains(&b'=')
        && bytes.iter().all(|&byte| is_name_byte(byte))
        && is_sensitive_name(bytes)
}

/// The sensitive `name` of a `{"name": …, "value": …}` pair, as in a pod's env list.
fn sensitive_pair_name(map: &serde_json::Map<String, Value>) -> Option<String> {
    if !map.keys().any(|key| is_pair_value_key(key)) {
        return None;
    }
    ["name", "Name", "key", "Key"].iter().find_map(|key| match map.get(*key) {
        Some(Value::String(name)) if is_sensitive_name(name.as_bytes()) => Some(name.clone()),
        _ => None,
    })
}

fn is_pair_value_key(key: &str) -> bool {
    key == "value" || key == "Value"
}

#[cfg(test)]
mod tests;
