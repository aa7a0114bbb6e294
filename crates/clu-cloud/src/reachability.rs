//! Can traffic from a source reach a target on a port? The answer as VPC networking decides
//! it: security groups (stateful) of both ends, network ACLs (stateless, ordered, checked both
//! ways including the return traffic to the client's ephemeral ports) of both subnets, and the
//! route tables of both subnets.
//!
//! [`evaluate`] is a pure function over plain data ([`Side`], [`Flow`]) and does all the
//! deciding; the `network_check_reachability` tool only collects that data from EC2 and RDS.
//! A verdict names every blocking rule (which security group, network ACL or route table,
//! which direction, which rule number) or, when traffic passes, the allowing rule of every
//! check on the path.
//!
//! Address ranges are judged conservatively: when an end is a range (a subnet source, or an
//! RDS instance whose address is only known to lie in its subnet), an allow rule must cover
//! the whole range and a deny rule blocks as soon as it touches part of it. Addresses and rules
//! are IPv4 or IPv6, and a rule only ever matches traffic of its own family. Managed prefix
//! lists, in security group rules and routes, are evaluated through their entries, which the
//! tool reads with `GetManagedPrefixListEntries`; a list whose entries could not be read is
//! named in the notes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use clu_core::error::{Result, ToolError};
use clu_core::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{Bounded, grant};
use crate::network::{self, NetworkAcl, NetworkAclRule, Peer, Query, RouteTable, SecurityGroup};

// ---------------------------------------------------------------------------------------------
// Addresses.

/// An IPv4 or IPv6 CIDR block; a bare address parses as a `/32` or `/128`. Blocks of different
/// families never contain or overlap each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    network: u128,
    prefix: u8,
    ipv6: bool,
}

/// Text that is not an IP address or CIDR block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an IPv4 or IPv6 address or CIDR block")]
pub struct CidrError {
    text: String,
}

impl Cidr {
    /// Parses `10.0.0.0/16`, `10.0.0.7`, `2600:1f18::/56` or `2600:1f18::7`; host bits of a
    /// block are cleared.
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        let error = || CidrError { text: text.to_owned() };
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().map_err(|_| error())?)),
            None => (text.trim(), None),
        };
        let address = IpAddr::from_str(address).map_err(|_| error())?;
        let bits = if address.is_ipv6() { 128 } else { 32 };
        let prefix = prefix.unwrap_or(bits);
        if prefix > bits {
            return Err(error());
        }
        let host = Self::host(address);
        Ok(Self { network: host.network & mask(prefix, host.ipv6), prefix, ..host })
    }

    /// The block of one address.
    pub fn host(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self { network: u128::from(u32::from(v4)), prefix: 32, ipv6: false },
            IpAddr::V6(v6) => Self { network: u128::from(v6), prefix: 128, ipv6: true },
        }
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether the block is IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.ipv6
    }

    /// How many addresses the block holds, saturating at `u64::MAX` for large IPv6 blocks.
    pub fn size(&self) -> u64 {
        let host_bits = u32::from(self.bits() - self.prefix);
        if host_bits >= 64 { u64::MAX } else { 1u64 << host_bits }
    }

    fn bits(&self) -> u8 {
        if self.ipv6 { 128 } else { 32 }
    }

    /// Whether every address of `other` is in this block.
    pub fn contains(&self, other: &Cidr) -> bool {
        self.ipv6 == other.ipv6
            && self.prefix <= other.prefix
            && other.network & mask(self.prefix, self.ipv6) == self.network
    }

    /// Whether the two blocks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }
}

/// The network mask of `prefix` bits, in the low 32 bits for IPv4.
fn mask(prefix: u8, ipv6: bool) -> u128 {
    let bits: u32 = if ipv6 { 128 } else { 32 };
    let full: u128 = if ipv6 { u128::MAX } else { u128::from(u32::MAX) };
    if prefix == 0 { 0 } else { (full << (bits - u32::from(prefix))) & full }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ipv6 {
            write!(f, "{}/{}", Ipv6Addr::from(self.network), self.prefix)
        } else {
            let v4 = u32::try_from(self.network).unwrap_or_default();
            write!(f, "{}/{}", Ipv4Addr::from(v4), self.prefix)
        }
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Cidr::parse(&text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// The evaluator's input.

/// The transport protocol of a flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// ICMP; ports do not apply.
    Icmp,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
        }
    }
}

/// What is sent: a protocol, the target's port, and the client's ephemeral port range, which
/// the stateless network ACLs must let the replies reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// The protocol.
    pub protocol: Protocol,
    /// The target port (ignored for ICMP).
    pub port: u16,
    /// The client's ephemeral ports, first and last.
    pub ephemeral_ports: (u16, u16),
}

/// The ephemeral range of Linux clients, which EKS nodes and most pods are.
pub const LINUX_EPHEMERAL_PORTS: (u16, u16) = (32768, 60999);

/// The subnet one end of a flow sits in, with what governs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubnetSide {
    /// The subnet id.
    pub id: String,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// The subnet's block.
    pub cidr: Option<Cidr>,
    /// The network ACL associated with the subnet.
    pub network_acl: Option<NetworkAcl>,
    /// The route table serving the subnet (its own, or the VPC's main table).
    pub route_table: Option<RouteTable>,
}

/// One end of a flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// What the end is, for the verdict: `instance i-0abc`, `RDS instance orders`.
    pub label: String,
    /// The addresses traffic leaves from or goes to; none when unknown.
    pub addresses: Option<Cidr>,
    /// The subnet; none for an address outside every known subnet.
    pub subnet: Option<SubnetSide>,
    /// The security groups; none when the end has none of its own (a subnet, a bare address).
    pub security_groups: Option<Vec<SecurityGroup>>,
    /// The entries of the managed prefix lists this end's security groups and route table
    /// refer to, by prefix list id; a list missing here is noted as not evaluated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prefix_lists: BTreeMap<String, Vec<Cidr>>,
}

impl Side {
    fn group_ids(&self) -> BTreeSet<&str> {
        self.security_groups.iter().flatten().map(|g| g.id.as_str()).collect()
    }

    fn describe_addresses(&self) -> String {
        self.addresses.map_or_else(|| self.label.clone(), |a| a.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// The verdict.

/// Which check on the path a hop is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The source's security groups let the request out.
    SourceSecurityGroupEgress,
    /// The source subnet's route table has a route to the target.
    SourceRoute,
    /// The source subnet's network ACL lets the request out.
    SourceNetworkAclEgress,
    /// The target subnet's network ACL lets the request in.
    TargetNetworkAclIngress,
    /// The target's security groups let the request in.
    TargetSecurityGroupIngress,
    /// The target subnet's network ACL lets the reply out to the client's ephemeral ports.
    TargetNetworkAclReturn,
    /// The target subnet's route table has a route back to the source.
    TargetRoute,
    /// The source subnet's network ACL lets the reply in on the client's ephemeral ports.
    SourceNetworkAclReturn,
}

/// Which way a rule applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Inbound.
    Ingress,
    /// Outbound.
    Egress,
}

/// One check's decision: the component, the rule that decided, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// The check.
    pub check: Check,
    /// The security group(s), network ACL or route table that decided.
    pub component: String,
    /// The direction of the rule.
    pub direction: Direction,
    /// The network ACL rule number that decided, if a numbered rule did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_number: Option<i32>,
    /// The deciding rule, rendered, if a rule decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The decision in a sentence.
    pub reason: String,
}

/// The answer: reachable with the allowing path, or blocked by named rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether every check on the path allows the flow.
    pub reachable: bool,
    /// Every check that blocks the flow, in path order.
    pub blocked_by: Vec<Hop>,
    /// Every check that allows the flow, in path order.
    pub path: Vec<Hop>,
    /// What was not or could not be evaluated.
    pub notes: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The evaluator.

/// A port interval a rule covers; `None` is every port.
fn covers(rule_from: Option<i32>, rule_to: Option<i32>, from: u16, to: u16) -> bool {
    match (rule_from, rule_to) {
        (Some(a), Some(b)) => a <= i32::from(from) && i32::from(to) <= b,
        _ => true,
    }
}

fn touches(rule_from: Option<i32>, rule_to: Option<i32>, from: u16, to: u16) -> bool {
    match (rule_from, rule_to) {
        (Some(a), Some(b)) => a <= i32::from(to) && i32::from(from) <= b,
        _ => true,
    }
}

fn protocol_matches(rule: &str, protocol: Protocol) -> bool {
    rule == "all" || rule == protocol.as_str()
}

fn ports_text(from: Option<i32>, to: Option<i32>) -> String {
    match (from, to) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => "all ports".to_owned(),
    }
}

fn flow_text(protocol: Protocol, from: u16, to: u16) -> String {
    match protocol {
        Protocol::Icmp => "icmp".to_owned(),
        _ if from == to => format!("{}/{from}", protocol.as_str()),
        _ => format!("{}/{from}-{to}", protocol.as_str()),
    }
}

fn render_group_rule(
    group: &str,
    rule: &network::SecurityGroupRule,
    direction: Direction,
) -> String {
    let peer = match &rule.peer {
        Peer::Cidr(c) | Peer::Ipv6Cidr(c) => c.clone(),
        Peer::SecurityGroup(g) => format!("security group {g}"),
        Peer::PrefixList(p) => format!("prefix list {p}"),
    };
    let way = if direction == Direction::Ingress { "from" } else { "to" };
    format!("{group}: {} {} {way} {peer}", rule.protocol, ports_text(rule.from_port, rule.to_port))
}

fn render_acl_rule(rule: &NetworkAclRule, direction: Direction) -> String {
    let way = if direction == Direction::Ingress { "from" } else { "to" };
    format!(
        "#{} {} {} {} {way} {}",
        rule.rule_number,
        rule.action,
        rule.protocol,
        ports_text(rule.from_port, rule.to_port),
        rule.cidr
    )
}

struct Evaluation<'a> {
    flow: &'a Flow,
    verdict: Verdict,
}

impl Evaluation<'_> {
    fn allow(&mut self, hop: Hop) {
        self.verdict.path.push(hop);
    }

    fn block(&mut self, hop: Hop) {
        self.verdict.blocked_by.push(hop);
    }

    fn note(&mut self, note: String) {
        if !self.verdict.notes.contains(&note) {
            self.verdict.notes.push(note);
        }
    }

    /// Security groups are stateful: a request they let out (or in) has its reply let back.
    fn security_groups(&mut self, check: Check, owner: &Side, peer: &Side) {
        let direction = match check {
            Check::SourceSecurityGroupEgress => Direction::Egress,
            _ => Direction::Ingress,
        };
        let Some(groups) = &owner.security_groups else {
            self.note(format!(
                "{} has no security groups of its own; security groups were not evaluated for it",
                owner.label
            ));
            return;
        };
        let component = groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>().join(", ");
        let protocol = self.flow.protocol;
        let port = self.flow.port;
        let peer_groups = peer.group_ids();
        let flow = flow_text(protocol, port, port);
        for group in groups {
            let rules = if direction == Direction::Egress { &group.egress } else { &group.ingress };
            for rule in rules {
                if !protocol_matches(&rule.protocol, protocol) {
                    continue;
                }
                if protocol != Protocol::Icmp && !covers(rule.from_port, rule.to_port, port, port) {
                    continue;
                }
                let matched = match &rule.peer {
                    Peer::Cidr(text) | Peer::Ipv6Cidr(text) => {
                        match (Cidr::parse(text), peer.addresses) {
                            (Ok(block), Some(addresses)) => block.contains(&addresses),
                            (Ok(block), None) => block.prefix() == 0,
                            (Err(_), _) => false,
                        }
                    }
                    Peer::SecurityGroup(id) => {
                        if peer.security_groups.is_none() {
                            self.note(format!(
                                "{} refers to security group {id}, but {} has no security \
                                 groups to compare",
                                group.id, peer.label
                            ));
                        }
                        peer_groups.contains(id.as_str())
                    }
                    Peer::PrefixList(id) => match (owner.prefix_lists.get(id), peer.addresses) {
                        (Some(entries), Some(addresses)) => {
                            entries.iter().any(|entry| entry.contains(&addresses))
                        }
                        (Some(entries), None) => entries.iter().any(|e| e.prefix() == 0),
                        (None, _) => {
                            self.note(format!(
                                "{} has a rule for prefix list {id}, whose entries could not \
                                 be read; it was not evaluated",
                                group.id
                            ));
                            false
                        }
                    },
                };
                if matched {
                    self.allow(Hop {
                        check,
                        component: group.id.clone(),
                        direction,
                        rule_number: None,
                        rule: Some(render_group_rule(&group.id, rule, direction)),
                        reason: format!(
                            "{} allows {flow} {} {}",
                            group.id,
                            if direction == Direction::Egress { "to" } else { "from" },
                            peer.describe_addresses()
                        ),
                    });
                    return;
                }
            }
        }
        let (way, what) = match direction {
            Direction::Egress => ("outbound", format!("to {}", peer.describe_addresses())),
            Direction::Ingress => ("inbound", format!("from {}", peer.describe_addresses())),
        };
        self.block(Hop {
            check,
            component: component.clone(),
            direction,
            rule_number: None,
            rule: None,
            reason: format!(
                "no {way} rule of security group{} {component} allows {flow} {what}",
                if groups.len() == 1 { "" } else { "s" }
            ),
        });
    }

    /// Network ACLs are stateless and ordered: the lowest-numbered matching rule decides, and
    /// nothing matching means the final `*` rule denies.
    #[expect(clippy::too_many_arguments, reason = "one call per check reads clearest")]
    fn network_acl(
        &mut self,
        check: Check,
        acl: &NetworkAcl,
        direction: Direction,
        peer: Option<Cidr>,
        peer_label: &str,
        ports: (u16, u16),
        protocol: Protocol,
    ) {
        let rules = if direction == Direction::Ingress { &acl.ingress } else { &acl.egress };
        let (from, to) = ports;
        let flow = flow_text(protocol, from, to);
        let way = if direction == Direction::Ingress { "from" } else { "to" };
        for rule in rules {
            if !protocol_matches(&rule.protocol, protocol) {
                continue;
            }
            // A rule of the other address family never matches: `contains` and `overlaps` say
            // so below.
            let Ok(block) = Cidr::parse(&rule.cidr) else {
                continue;
            };
            let deny = rule.action != "allow";
            let ports_match = protocol == Protocol::Icmp
                || if deny {
                    touches(rule.from_port, rule.to_port, from, to)
                } else {
                    covers(rule.from_port, rule.to_port, from, to)
                };
            if !ports_match {
                continue;
            }
            let address_match = match peer {
                Some(peer) if deny => block.overlaps(&peer),
                Some(peer) => block.contains(&peer),
                None => block.prefix() == 0,
            };
            if !address_match {
                continue;
            }
            let hop = Hop {
                check,
                component: acl.id.clone(),
                direction,
                rule_number: Some(rule.rule_number),
                rule: Some(render_acl_rule(rule, direction)),
                reason: format!(
                    "network ACL {} rule #{} {} {flow} {way} {peer_label}",
                    acl.id,
                    rule.rule_number,
                    if deny { "denies" } else { "allows" }
                ),
            };
            if deny {
                self.block(hop);
            } else {
                self.allow(hop);
            }
            return;
        }
        self.block(Hop {
            check,
            component: acl.id.clone(),
            direction,
            rule_number: Some(32767),
            rule: Some("#* deny all".to_owned()),
            reason: format!(
                "no {} rule of network ACL {} matches {flow} {way} {peer_label}, so its final \
                 `*` rule denies it",
                if direction == Direction::Ingress { "inbound" } else { "outbound" },
                acl.id
            ),
        });
    }

    /// The longest-prefix route to `destination`, which must not be a blackhole, and must not
    /// send private addresses of another VPC to an internet or NAT gateway.
    fn route(
        &mut self,
        check: Check,
        from: &SubnetSide,
        prefix_lists: &BTreeMap<String, Vec<Cidr>>,
        destination: &Side,
    ) {
        let Some(table) = &from.route_table else {
            self.note(format!("subnet {} has no route table that could be read", from.id));
            return;
        };
        let Some(addresses) = destination.addresses else {
            self.note(format!(
                "the addresses of {} are unknown; routes were not evaluated",
                destination.label
            ));
            return;
        };
        let mut best: Option<(&network::Route, Cidr)> = None;
        for route in &table.routes {
            // A prefix list route matches through its entries, each at its own length.
            let blocks = match Cidr::parse(&route.destination) {
                Ok(block) => vec![block],
                Err(_) => match prefix_lists.get(&route.destination) {
                    Some(entries) => entries.clone(),
                    None => {
                        if route.destination.starts_with("pl-") {
                            self.note(format!(
                                "route table {} has a route to prefix list {}, whose entries \
                                 could not be read; it was not evaluated",
                                table.id, route.destination
                            ));
                        }
                        continue;
                    }
                },
            };
            for block in blocks {
                if block.contains(&addresses)
                    && best.is_none_or(|(_, b)| block.prefix() > b.prefix())
                {
                    best = Some((route, block));
                }
            }
        }
        let Some((route, block)) = best else {
            self.block(Hop {
                check,
                component: table.id.clone(),
                direction: Direction::Egress,
                rule_number: None,
                rule: None,
                reason: format!(
                    "route table {} of subnet {} has no route to {addresses}",
                    table.id, from.id
                ),
            });
            return;
        };
        let rule = Some(format!("{} -> {}", route.destination, route.target));
        let other_vpc = destination
            .subnet
            .as_ref()
            .and_then(|s| s.vpc_id.as_deref())
            .filter(|vpc| from.vpc_id.as_deref() != Some(*vpc));
        let reason = if route.state.as_deref() == Some("blackhole") {
            Err(format!(
                "route table {} sends {block} to {}, which no longer exists (blackhole)",
                table.id, route.target
            ))
        } else if let Some(vpc) = other_vpc
            && (route.target.starts_with("igw-") || route.target.starts_with("nat-"))
        {
            Err(format!(
                "route table {} sends {block} to {}, which cannot reach private addresses of \
                 {vpc}",
                table.id, route.target
            ))
        } else {
            if other_vpc.is_some() && route.target != "local" {
                self.note(format!(
                    "traffic leaves the VPC through {}; what lies beyond it was not evaluated",
                    route.target
                ));
            }
            Ok(format!("route table {} sends {block} to {}", table.id, route.target))
        };
        let (blocked, reason) = match reason {
            Ok(reason) => (false, reason),
            Err(reason) => (true, reason),
        };
        let hop = Hop {
            check,
            component: table.id.clone(),
            direction: Direction::Egress,
            rule_number: None,
            rule,
            reason,
        };
        if blocked { self.block(hop) } else { self.allow(hop) }
    }
}

/// Decides whether `flow` from `source` reaches `target`. Pure: everything it needs is given.
pub fn evaluate(source: &Side, target: &Side, flow: &Flow) -> Verdict {
    let mut evaluation = Evaluation {
        flow,
        verdict: Verdict { reachable: false, blocked_by: vec![], path: vec![], notes: vec![] },
    };
    let request_ports = (flow.port, flow.port);
    let return_ports = flow.ephemeral_ports;
    let source_subnet = source.subnet.as_ref();
    let target_subnet = target.subnet.as_ref();
    let same_subnet = matches!((source_subnet, target_subnet), (Some(a), Some(b)) if a.id == b.id);

    evaluation.security_groups(Check::SourceSecurityGroupEgress, source, target);

    if same_subnet {
        evaluation.note(
            "both ends are in the same subnet: routes and network ACLs do not apply".to_owned(),
        );
    } else {
        if let Some(subnet) = source_subnet {
            evaluation.route(Check::SourceRoute, subnet, &source.prefix_lists, target);
        }
        if let Some(acl) = source_subnet.and_then(|s| s.network_acl.as_ref()) {
            let label = target.describe_addresses();
            evaluation.network_acl(
                Check::SourceNetworkAclEgress,
                acl,
                Direction::Egress,
                target.addresses,
                &label,
                request_ports,
                flow.protocol,
            );
        }
        if let Some(acl) = target_subnet.and_then(|s| s.network_acl.as_ref()) {
            let label = source.describe_addresses();
            evaluation.network_acl(
                Check::TargetNetworkAclIngress,
                acl,
                Direction::Ingress,
                source.addresses,
                &label,
                request_ports,
                flow.protocol,
            );
        }
    }

    evaluation.security_groups(Check::TargetSecurityGroupIngress, target, source);

    if !same_subnet {
        if let Some(acl) = target_subnet.and_then(|s| s.network_acl.as_ref()) {
            let label = source.describe_addresses();
            evaluation.network_acl(
                Check::TargetNetworkAclReturn,
                acl,
                Direction::Egress,
                source.addresses,
                &label,
                return_ports,
                flow.protocol,
            );
        }
        if let Some(subnet) = target_subnet {
            evaluation.route(Check::TargetRoute, subnet, &target.prefix_lists, source);
        }
        if let Some(acl) = source_subnet.and_then(|s| s.network_acl.as_ref()) {
            let label = target.describe_addresses();
            evaluation.network_acl(
                Check::SourceNetworkAclReturn,
                acl,
                Direction::Ingress,
                target.addresses,
                &label,
                return_ports,
                flow.protocol,
            );
        }
    }
    if source_subnet.is_none() {
        evaluation.note(format!(
            "the subnet of {} is unknown: its route table and network ACL were not evaluated",
            source.label
        ));
    }
    if target_subnet.is_none() {
        evaluation.note(format!(
            "{} is in no known subnet: only the source side was evaluated",
            target.label
        ));
    }

    evaluation.verdict.reachable = evaluation.verdict.blocked_by.is_empty();
    evaluation.verdict
}

// ---------------------------------------------------------------------------------------------
// The tool: collect the data, then evaluate.

/// Input of `network_check_reachability`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReachabilityInput {
    /// Where traffic starts: a subnet id (`subnet-…`), a security group id (`sg-…`, judged
    /// from one of its network interfaces) or an instance id (`i-…`).
    #[schemars(length(min = 1, max = 256))]
    pub source: String,
    /// Where it goes: an RDS instance identifier or endpoint address, an instance id, or an
    /// IPv4 or IPv6 address.
    #[schemars(length(min = 1, max = 256))]
    pub target: String,
    /// The target port; defaults to an RDS target's own port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `tcp` (default), `udp` or `icmp`.
    #[serde(default)]
    pub protocol: Protocol,
    /// The client's ephemeral ports as `[first, last]`, for the network ACLs' return rules
    /// (default the Linux range 32768-60999).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_ports: Option<(u16, u16)>,
}

/// The result of `network_check_reachability`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reachability {
    /// The source as asked.
    pub source: String,
    /// The target as asked.
    pub target: String,
    /// The flow evaluated; none when an end could not be found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<Flow>,
    /// What the source resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_side: Option<Side>,
    /// What the target resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_side: Option<Side>,
    /// The verdict; none when an end could not be found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Why no verdict could be given, such as an instance that does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unresolved: Option<String>,
}

/// A resolved end before its subnet and groups are read.
struct Endpoint {
    label: String,
    addresses: Option<Cidr>,
    subnet_id: Option<String>,
    group_ids: Option<Vec<String>>,
    port: Option<u16>,
    notes: Vec<String>,
}

/// Either an end or why it cannot be found.
type Resolved = std::result::Result<Endpoint, String>;

/// Checks whether traffic between two ends passes the VPC's rules.
pub struct CheckReachability {
    spec: ToolSpec,
}

const LOOKUP: usize = 100;

impl CheckReachability {
    /// The tool.
    pub fn new() -> Self {
        let permissions = Permissions {
            iam: vec![
                network::ec2_describe(&[
                    "ec2:DescribeInstances",
                    "ec2:DescribeNetworkAcls",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeRouteTables",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                ]),
                grant(
                    &["rds:DescribeDBInstances"],
                    &["arn:{partition}:rds:{region}:{account}:db:*"],
                ),
                // AWS-managed lists (S3, DynamoDB, CloudFront) are owned by the account `aws`,
                // so the account is left open.
                grant(
                    &["ec2:GetManagedPrefixListEntries"],
                    &["arn:{partition}:ec2:{region}:*:prefix-list/*"],
                ),
            ],
            rbac: vec![],
        };
        Self {
            spec: ToolSpec::new::<ReachabilityInput>(
                "network_check_reachability",
                "Check whether traffic from a source (subnet, security group or instance id) can \
                 reach a target (RDS instance identifier or endpoint, instance id or IPv4 or IPv6 \
                 address) on a port: evaluates both ends' security groups, both subnets' \
                 network ACLs in both directions (including replies to ephemeral ports) and \
                 their route tables. Names the blocking security group, ACL rule number or \
                 missing route, or lists the allowing rule of every check. Use it when a pod or \
                 node times out connecting to a database or service.",
                Tier::Cloud,
                Risk::Read,
                permissions,
            ),
        }
    }
}

impl Default for CheckReachability {
    fn default() -> Self {
        Self::new()
    }
}

fn one_instance(found: network::Instances, id: &str) -> Resolved {
    let Some(instance) = found.instances.into_iter().next() else {
        return Err(format!("instance {id} not found"));
    };
    let addresses = instance.private_ip.as_deref().and_then(|ip| Cidr::parse(ip).ok());
    Ok(Endpoint {
        label: format!("instance {id}"),
        addresses,
        subnet_id: instance.subnet_id,
        group_ids: Some(instance.security_group_ids),
        port: None,
        notes: vec![],
    })
}

async fn resolve_source(context: &ToolContext, source: &str) -> Result<Resolved> {
    if source.starts_with("i-") {
        let query = Query::new(1).ids(vec![source.to_owned()]);
        return Ok(one_instance(network::instances(context, &query).await?, source));
    }
    if source.starts_with("subnet-") {
        let query = Query::new(1).ids(vec![source.to_owned()]);
        let found = network::subnets(context, &query, 0.0).await?;
        let Some(subnet) = found.subnets.into_iter().next() else {
            return Ok(Err(format!("subnet {source} not found")));
        };
        return Ok(Ok(Endpoint {
            label: format!("subnet {source}"),
            addresses: subnet.cidr.as_deref().and_then(|c| Cidr::parse(c).ok()),
            subnet_id: Some(subnet.id),
            group_ids: None,
            port: None,
            notes: vec![],
        }));
    }
    if source.starts_with("sg-") {
        let groups = Query::new(1).ids(vec![source.to_owned()]);
        if network::security_groups(context, &groups).await?.security_groups.is_empty() {
            return Ok(Err(format!("security group {source} not found")));
        }
        let members = Query::new(1).filter("group-id", Some(source.to_owned()));
        let interfaces = network::network_interfaces(context, &members).await?;
        let Some(interface) = interfaces.network_interfaces.into_iter().next() else {
            return Ok(Ok(Endpoint {
                label: format!("security group {source}"),
                addresses: None,
                subnet_id: None,
                group_ids: Some(vec![source.to_owned()]),
                port: None,
                notes: vec![format!(
                    "no network interface uses {source}, so only its rules were evaluated"
                )],
            }));
        };
        return Ok(Ok(Endpoint {
            label: format!("security group {source}"),
            addresses: interface.private_ips.first().and_then(|ip| Cidr::parse(ip).ok()),
            subnet_id: interface.subnet_id,
            group_ids: Some(interface.security_group_ids),
            port: None,
            notes: vec![format!(
                "{source} was judged from its member network interface {}",
                interface.id
            )],
        }));
    }
    Err(ToolError::invalid_input(
        context.tool(),
        format!(
            "source `{source}` is not a subnet id (subnet-…), security group id (sg-…) or \
             instance id (i-…)"
        ),
    ))
}

async fn resolve_target(
    context: &ToolContext,
    target: &str,
    source_vpc: Option<&str>,
) -> Result<Resolved> {
    if target.starts_with("i-") {
        let query = Query::new(1).ids(vec![target.to_owned()]);
        return Ok(one_instance(network::instances(context, &query).await?, target));
    }
    if let Ok(address) = target.parse::<IpAddr>() {
        // Private addresses repeat across VPCs, so the holder is looked for where the source
        // is; a source of unknown VPC takes the first holder found.
        let by = if address.is_ipv6() {
            "ipv6-addresses.ipv6-address"
        } else {
            "addresses.private-ip-address"
        };
        let holders = Query::new(1)
            .filter(by, Some(address.to_string()))
            .filter("vpc-id", source_vpc.map(str::to_owned));
        let interfaces = network::network_interfaces(context, &holders).await?;
        if let Some(interface) = interfaces.network_interfaces.into_iter().next() {
            return Ok(Ok(Endpoint {
                label: format!("{address} (network interface {})", interface.id),
                addresses: Some(Cidr::host(address)),
                subnet_id: interface.subnet_id,
                group_ids: Some(interface.security_group_ids),
                port: None,
                notes: vec![],
            }));
        }
        let query = Query::new(LOOKUP).filter("vpc-id", source_vpc.map(str::to_owned));
        let subnets = network::subnets(context, &query, 0.0).await?;
        let host = Cidr::host(address);
        let subnet = subnets.subnets.into_iter().find(|s| {
            s.cidr.as_deref().and_then(|c| Cidr::parse(c).ok()).is_some_and(|c| c.contains(&host))
        });
        let note = match &subnet {
            Some(subnet) => format!(
                "no network interface holds {address}; it lies in subnet {}, whose security \
                 groups are unknown",
                subnet.id
            ),
            None => format!("{address} lies outside every subnet of the source's VPC"),
        };
        return Ok(Ok(Endpoint {
            label: address.to_string(),
            addresses: Some(host),
            subnet_id: subnet.map(|s| s.id),
            group_ids: None,
            port: None,
            notes: vec![note],
        }));
    }
    resolve_database(context, target).await
}

async fn resolve_database(context: &ToolContext, target: &str) -> Result<Resolved> {
    let client = clu_core::aws_client!(context, aws_sdk_rds)?;
    let is_endpoint = target.contains('.');
    let address = target.split(':').next().unwrap_or(target);
    let mut request = client.describe_db_instances();
    if !is_endpoint {
        request = request.db_instance_identifier(target);
    }
    let mut pages = request.into_paginator().send();
    let mut database = None;
    // An endpoint is looked for among a bounded number of instances, identifiers kept.
    let mut scanned = Bounded::new(LOOKUP * 10);
    'pages: while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                let missing = aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&error)
                    == Some("DBInstanceNotFound");
                if missing {
                    return Ok(Err(format!("RDS instance {target} not found")));
                }
                return Err(context.aws_error(error));
            }
        };
        for instance in page.db_instances.unwrap_or_default() {
            let matches = if is_endpoint {
                instance.endpoint.as_ref().and_then(|e| e.address.as_deref()) == Some(address)
            } else {
                instance.db_instance_identifier.as_deref() == Some(target)
            };
            if matches {
                database = Some(instance);
                break 'pages;
            }
            scanned.push(instance.db_instance_identifier.unwrap_or_default());
        }
        if scanned.is_full() {
            break;
        }
    }
    let Some(database) = database else {
        let searched = if scanned.is_full() {
            format!(" among the first {} RDS instances", scanned.items.len())
        } else {
            String::new()
        };
        return Ok(Err(format!(
            "no RDS instance has the identifier or endpoint {target}{searched}"
        )));
    };
    let name = database.db_instance_identifier.clone().unwrap_or_else(|| target.to_owned());
    let zone = database.availability_zone.clone();
    let subnets = database.db_subnet_group.as_ref().map(|g| g.subnets()).unwrap_or_default();
    let subnet = subnets
        .iter()
        .find(|s| {
            s.subnet_availability_zone.as_ref().and_then(|z| z.name.as_deref()) == zone.as_deref()
        })
        .or_else(|| subnets.first())
        .and_then(|s| s.subnet_identifier.clone());
    let group_ids = database
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id.clone())
        .collect();
    let port = database.endpoint.as_ref().and_then(|e| e.port).and_then(|p| u16::try_from(p).ok());
    let mut notes = vec![];
    if let Some(subnet) = &subnet {
        notes.push(format!(
            "RDS instance {name} was judged as any address of its subnet {subnet}{}",
            zone.as_ref().map(|z| format!(" in {z}")).unwrap_or_default()
        ));
    }
    Ok(Ok(Endpoint {
        label: format!("RDS instance {name}"),
        addresses: None,
        subnet_id: subnet,
        group_ids: Some(group_ids),
        port,
        notes,
    }))
}

/// The prefix lists an end's security groups and its subnet's route table refer to.
fn referenced_prefix_lists(end: &Side) -> BTreeSet<String> {
    let in_groups =
        end.security_groups.iter().flatten().flat_map(|g| g.ingress.iter().chain(&g.egress));
    let mut ids: BTreeSet<String> = in_groups
        .filter_map(|rule| match &rule.peer {
            Peer::PrefixList(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let routes = end.subnet.iter().filter_map(|s| s.route_table.as_ref()).flat_map(|t| &t.routes);
    ids.extend(routes.filter(|r| r.destination.starts_with("pl-")).map(|r| r.destination.clone()));
    ids
}

/// The most entries read of one prefix list; AWS allows a list at most 1,000.
const PREFIX_LIST_ENTRIES: usize = 1000;

/// The entries of prefix list `id`, or none when it does not exist (its rule or route is then
/// noted as not evaluated).
async fn prefix_list_entries(context: &ToolContext, id: &str) -> Result<Option<Vec<Cidr>>> {
    let client = clu_core::aws_client!(context, aws_sdk_ec2)?;
    let mut pages =
        client.get_managed_prefix_list_entries().prefix_list_id(id).into_paginator().send();
    let mut entries = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                let code = aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&error);
                if matches!(
                    code,
                    Some("InvalidPrefixListID.NotFound" | "InvalidPrefixListId.NotFound")
                ) {
                    return Ok(None);
                }
                return Err(context.aws_error(error));
            }
        };
        for entry in page.entries.unwrap_or_default() {
            if let Some(block) = entry.cidr.as_deref().and_then(|c| Cidr::parse(c).ok()) {
                entries.push(block);
            }
        }
        if entries.len() >= PREFIX_LIST_ENTRIES {
            break;
        }
    }
    Ok(Some(entries))
}

/// Reads a subnet with its network ACL and route table (its own, or the VPC's main one).
async fn subnet_side(context: &ToolContext, id: &str) -> Result<Option<SubnetSide>> {
    let query = Query::new(1).ids(vec![id.to_owned()]);
    let Some(subnet) = network::subnets(context, &query, 0.0).await?.subnets.into_iter().next()
    else {
        return Ok(None);
    };
    let associated = Query::new(1).filter("association.subnet-id", Some(id.to_owned()));
    let network_acl = network::network_acls(context, &associated).await?.network_acls.pop();
    let mut route_table = network::route_tables(context, &associated).await?.route_tables.pop();
    if route_table.is_none() {
        let main = Query::new(1)
            .filter("vpc-id", subnet.vpc_id.clone())
            .filter("association.main", Some("true".to_owned()));
        route_table = network::route_tables(context, &main).await?.route_tables.pop();
    }
    Ok(Some(SubnetSide {
        id: subnet.id,
        vpc_id: subnet.vpc_id,
        cidr: subnet.cidr.as_deref().and_then(|c| Cidr::parse(c).ok()),
        network_acl,
        route_table,
    }))
}

fn side(endpoint: &Endpoint, subnet: Option<SubnetSide>, groups: &[SecurityGroup]) -> Side {
    let addresses = endpoint.addresses.or_else(|| subnet.as_ref().and_then(|s| s.cidr));
    let security_groups = endpoint
        .group_ids
        .as_ref()
        .map(|ids| groups.iter().filter(|g| ids.contains(&g.id)).cloned().collect::<Vec<_>>());
    Side {
        label: endpoint.label.clone(),
        addresses,
        subnet,
        security_groups,
        prefix_lists: BTreeMap::new(),
    }
}

#[async_trait]
impl Tool for CheckReachability {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: ReachabilityInput = context.parse_input(input)?;
        let mut report = Reachability {
            source: input.source.clone(),
            target: input.target.clone(),
            flow: None,
            source_side: None,
            target_side: None,
            verdict: None,
            unresolved: None,
        };
        let unresolved = |mut report: Reachability, why: String| {
            report.unresolved = Some(why);
            serde_json::to_value(report)
                .map_err(|e| ToolError::failed(context.tool(), e.to_string()))
        };

        let source = match resolve_source(context, input.source.trim()).await? {
            Ok(source) => source,
            Err(why) => return unresolved(report, why),
        };
        let source_subnet = match &source.subnet_id {
            Some(id) => subnet_side(context, id).await?,
            None => None,
        };
        let source_vpc = source_subnet.as_ref().and_then(|s| s.vpc_id.clone());
        let target =
            match resolve_target(context, input.target.trim(), source_vpc.as_deref()).await? {
                Ok(target) => target,
                Err(why) => return unresolved(report, why),
            };
        let Some(port) = input.port.or(target.port) else {
            return Err(ToolError::invalid_input(
                context.tool(),
                format!("`port` is required: {} has no port of its own", target.label),
            ));
        };

        let mut group_ids: Vec<String> =
            source.group_ids.iter().chain(target.group_ids.iter()).flatten().cloned().collect();
        group_ids.sort();
        group_ids.dedup();
        let groups = if group_ids.is_empty() {
            Vec::new()
        } else {
            let query = Query::new(group_ids.len()).ids(group_ids);
            network::security_groups(context, &query).await?.security_groups
        };

        let target_subnet = match &target.subnet_id {
            Some(id) => subnet_side(context, id).await?,
            None => None,
        };
        let mut source_side = side(&source, source_subnet, &groups);
        let mut target_side = side(&target, target_subnet, &groups);
        for end in [&mut source_side, &mut target_side] {
            for id in referenced_prefix_lists(end) {
                if let Some(entries) = prefix_list_entries(context, &id).await? {
                    end.prefix_lists.insert(id, entries);
                }
            }
        }
        let ephemeral_ports = input.ephemeral_ports.unwrap_or(LINUX_EPHEMERAL_PORTS);
        if ephemeral_ports.0 > ephemeral_ports.1 {
            return Err(ToolError::invalid_input(
                context.tool(),
                format!(
                    "`ephemeral_ports` [{}, {}] must give the first port, then the last",
                    ephemeral_ports.0, ephemeral_ports.1
                ),
            ));
        }
        let flow = Flow { protocol: input.protocol, port, ephemeral_ports };
        let mut verdict = evaluate(&source_side, &target_side, &flow);
        let resolution_notes = source.notes.iter().chain(target.notes.iter()).cloned();
        verdict.notes.splice(0..0, resolution_notes);

        report.flow = Some(flow);
        report.source_side = Some(source_side);
        report.target_side = Some(target_side);
        report.verdict = Some(verdict);
        serde_json::to_value(report).map_err(|e| ToolError::failed(context.tool(), e.to_string()))
    }
}

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![Arc::new(CheckReachability::new())]
}

impl crate::Cloud {
    /// Whether traffic passes from a source to a target, as `network_check_reachability`
    /// decides it.
    pub async fn check_reachability(&self, input: &ReachabilityInput) -> Result<Reachability> {
        self.call_typed("network_check_reachability", input).await
    }
}

#[cfg(test)]
mod tests;
