//! Table-driven tests of the reachability evaluator over plain data.
//!
//! Every case starts from one healthy VPC (10.0.0.0/16): an application instance at
//! 10.0.1.10 in subnet-app, a database at 10.0.2.20 in subnet-db whose group admits the
//! application's group on 5432, allow-all network ACLs and the local route. Each case changes
//! one thing and says which check must block, or that the flow still passes.

use super::*;
use crate::network::{Route, SecurityGroupRule};

fn rule(protocol: &str, ports: Option<(i32, i32)>, peer: Peer) -> SecurityGroupRule {
    SecurityGroupRule {
        protocol: protocol.to_owned(),
        from_port: ports.map(|p| p.0),
        to_port: ports.map(|p| p.1),
        peer,
        description: None,
    }
}

fn cidr(text: &str) -> Peer {
    Peer::Cidr(text.to_owned())
}

fn group_peer(id: &str) -> Peer {
    Peer::SecurityGroup(id.to_owned())
}

fn group(
    id: &str,
    ingress: Vec<SecurityGroupRule>,
    egress: Vec<SecurityGroupRule>,
) -> SecurityGroup {
    SecurityGroup {
        id: id.to_owned(),
        name: Some(id.to_owned()),
        vpc_id: Some("vpc-1".to_owned()),
        description: None,
        ingress,
        egress,
    }
}

fn entry(
    number: i32,
    action: &str,
    protocol: &str,
    ports: Option<(i32, i32)>,
    block: &str,
) -> NetworkAclRule {
    NetworkAclRule {
        rule_number: number,
        action: action.to_owned(),
        protocol: protocol.to_owned(),
        from_port: ports.map(|p| p.0),
        to_port: ports.map(|p| p.1),
        cidr: block.to_owned(),
    }
}

fn allow_all() -> Vec<NetworkAclRule> {
    vec![
        entry(100, "allow", "all", None, "0.0.0.0/0"),
        entry(32767, "deny", "all", None, "0.0.0.0/0"),
    ]
}

fn acl(id: &str) -> NetworkAcl {
    NetworkAcl {
        id: id.to_owned(),
        name: None,
        vpc_id: Some("vpc-1".to_owned()),
        is_default: false,
        subnet_ids: vec![],
        ingress: allow_all(),
        egress: allow_all(),
    }
}

fn route(destination: &str, target: &str, state: &str) -> Route {
    Route {
        destination: destination.to_owned(),
        target: target.to_owned(),
        state: Some(state.to_owned()),
    }
}

fn table(id: &str, routes: Vec<Route>) -> RouteTable {
    RouteTable {
        id: id.to_owned(),
        name: None,
        vpc_id: Some("vpc-1".to_owned()),
        main: false,
        subnet_ids: vec![],
        routes,
    }
}

fn subnet(
    id: &str,
    vpc: &str,
    block: &str,
    acl_id: &str,
    table_id: &str,
    vpc_block: &str,
) -> SubnetSide {
    SubnetSide {
        id: id.to_owned(),
        vpc_id: Some(vpc.to_owned()),
        cidr: Some(Cidr::parse(block).unwrap()),
        network_acl: Some(acl(acl_id)),
        route_table: Some(table(table_id, vec![route(vpc_block, "local", "active")])),
    }
}

struct Scenario {
    source: Side,
    target: Side,
    flow: Flow,
}

fn healthy() -> Scenario {
    let source = Side {
        label: "instance i-app".to_owned(),
        addresses: Some(Cidr::parse("10.0.1.10").unwrap()),
        subnet: Some(subnet(
            "subnet-app",
            "vpc-1",
            "10.0.1.0/24",
            "acl-app",
            "rtb-app",
            "10.0.0.0/16",
        )),
        security_groups: Some(vec![group(
            "sg-app",
            vec![],
            vec![rule("all", None, cidr("0.0.0.0/0"))],
        )]),
        prefix_lists: BTreeMap::new(),
    };
    let target = Side {
        label: "RDS instance orders".to_owned(),
        addresses: Some(Cidr::parse("10.0.2.20").unwrap()),
        subnet: Some(subnet(
            "subnet-db",
            "vpc-1",
            "10.0.2.0/24",
            "acl-db",
            "rtb-db",
            "10.0.0.0/16",
        )),
        security_groups: Some(vec![group(
            "sg-db",
            vec![rule("tcp", Some((5432, 5432)), group_peer("sg-app"))],
            vec![],
        )]),
        prefix_lists: BTreeMap::new(),
    };
    let flow = Flow { protocol: Protocol::Tcp, port: 5432, ephemeral_ports: LINUX_EPHEMERAL_PORTS };
    Scenario { source, target, flow }
}

fn source_acl(s: &mut Scenario) -> &mut NetworkAcl {
    s.source.subnet.as_mut().unwrap().network_acl.as_mut().unwrap()
}

fn target_acl(s: &mut Scenario) -> &mut NetworkAcl {
    s.target.subnet.as_mut().unwrap().network_acl.as_mut().unwrap()
}

fn target_groups(s: &mut Scenario) -> &mut SecurityGroup {
    &mut s.target.security_groups.as_mut().unwrap()[0]
}

fn source_groups(s: &mut Scenario) -> &mut SecurityGroup {
    &mut s.source.security_groups.as_mut().unwrap()[0]
}

fn source_routes(s: &mut Scenario) -> &mut Vec<Route> {
    &mut s.source.subnet.as_mut().unwrap().route_table.as_mut().unwrap().routes
}

/// What a case expects: reachable, or the first blocking check with its component and rule
/// number.
enum Expect {
    Reachable,
    Blocked(Check, &'static str, Option<i32>),
}

struct Case {
    name: &'static str,
    change: fn(&mut Scenario),
    expect: Expect,
}

fn move_target_to_other_vpc(s: &mut Scenario) {
    s.target.addresses = Some(Cidr::parse("172.16.5.9").unwrap());
    s.target.subnet =
        Some(subnet("subnet-far", "vpc-2", "172.16.5.0/24", "acl-far", "rtb-far", "172.16.0.0/16"));
    s.target.subnet.as_mut().unwrap().route_table.as_mut().unwrap().routes.push(route(
        "10.0.0.0/16",
        "pcx-1",
        "active",
    ));
    target_groups(s).ingress = vec![rule("tcp", Some((5432, 5432)), cidr("10.0.0.0/16"))];
}

const CASES: &[Case] = &[
    Case { name: "healthy path passes every check", change: |_| {}, expect: Expect::Reachable },
    Case {
        name: "target group without the port blocks ingress",
        change: |s| {
            target_groups(s).ingress = vec![rule("tcp", Some((3306, 3306)), group_peer("sg-app"))]
        },
        expect: Expect::Blocked(Check::TargetSecurityGroupIngress, "sg-db", None),
    },
    Case {
        name: "target group admitting the source subnet's block passes",
        change: |s| {
            target_groups(s).ingress = vec![rule("tcp", Some((5400, 5500)), cidr("10.0.1.0/24"))]
        },
        expect: Expect::Reachable,
    },
    Case {
        name: "target group admitting another block blocks",
        change: |s| {
            target_groups(s).ingress = vec![rule("tcp", Some((5432, 5432)), cidr("10.0.3.0/24"))]
        },
        expect: Expect::Blocked(Check::TargetSecurityGroupIngress, "sg-db", None),
    },
    Case {
        name: "target group referring to another group blocks",
        change: |s| {
            target_groups(s).ingress = vec![rule("tcp", Some((5432, 5432)), group_peer("sg-other"))]
        },
        expect: Expect::Blocked(Check::TargetSecurityGroupIngress, "sg-db", None),
    },
    Case {
        name: "udp rule does not admit tcp",
        change: |s| {
            target_groups(s).ingress = vec![rule("udp", Some((5432, 5432)), group_peer("sg-app"))]
        },
        expect: Expect::Blocked(Check::TargetSecurityGroupIngress, "sg-db", None),
    },
    Case {
        name: "all-protocol rule admits tcp",
        change: |s| target_groups(s).ingress = vec![rule("all", None, cidr("10.0.0.0/8"))],
        expect: Expect::Reachable,
    },
    Case {
        name: "source group sending only https blocks egress",
        change: |s| {
            source_groups(s).egress = vec![rule("tcp", Some((443, 443)), cidr("0.0.0.0/0"))]
        },
        expect: Expect::Blocked(Check::SourceSecurityGroupEgress, "sg-app", None),
    },
    Case {
        name: "source group egress to the target's group passes",
        change: |s| {
            source_groups(s).egress = vec![rule("tcp", Some((5432, 5432)), group_peer("sg-db"))]
        },
        expect: Expect::Reachable,
    },
    Case {
        name: "target ACL deny numbered before the allow blocks with its number",
        change: |s| {
            target_acl(s)
                .ingress
                .insert(0, entry(90, "deny", "tcp", Some((5432, 5432)), "10.0.1.0/24"))
        },
        expect: Expect::Blocked(Check::TargetNetworkAclIngress, "acl-db", Some(90)),
    },
    Case {
        name: "target ACL deny numbered after the allow does not apply",
        change: |s| {
            target_acl(s)
                .ingress
                .insert(1, entry(200, "deny", "tcp", Some((5432, 5432)), "10.0.1.0/24"))
        },
        expect: Expect::Reachable,
    },
    Case {
        name: "target ACL deny for other ports does not apply",
        change: |s| {
            target_acl(s).ingress.insert(0, entry(90, "deny", "tcp", Some((22, 22)), "0.0.0.0/0"))
        },
        expect: Expect::Reachable,
    },
    Case {
        name: "source ACL egress deny blocks the request",
        change: |s| source_acl(s).egress.insert(0, entry(50, "deny", "all", None, "10.0.2.0/24")),
        expect: Expect::Blocked(Check::SourceNetworkAclEgress, "acl-app", Some(50)),
    },
    Case {
        name: "target ACL without a return rule for ephemeral ports blocks replies at the final rule",
        change: |s| {
            target_acl(s).egress = vec![entry(100, "allow", "tcp", Some((1024, 2000)), "0.0.0.0/0")]
        },
        expect: Expect::Blocked(Check::TargetNetworkAclReturn, "acl-db", Some(32767)),
    },
    Case {
        name: "source ACL admitting replies on 32768-65535 passes",
        change: |s| {
            source_acl(s).ingress =
                vec![entry(100, "allow", "tcp", Some((32768, 65535)), "10.0.0.0/16")]
        },
        expect: Expect::Reachable,
    },
    Case {
        name: "source ACL admitting replies only on 49152-65535 blocks Linux clients",
        change: |s| {
            source_acl(s).ingress =
                vec![entry(100, "allow", "tcp", Some((49152, 65535)), "10.0.0.0/16")]
        },
        expect: Expect::Blocked(Check::SourceNetworkAclReturn, "acl-app", Some(32767)),
    },
    Case {
        name: "source subnet without any route blocks",
        change: |s| source_routes(s).clear(),
        expect: Expect::Blocked(Check::SourceRoute, "rtb-app", None),
    },
    Case {
        name: "peered VPC through an active peering passes",
        change: |s| {
            move_target_to_other_vpc(s);
            source_routes(s).push(route("172.16.0.0/16", "pcx-1", "active"));
        },
        expect: Expect::Reachable,
    },
    Case {
        name: "peered VPC through a blackhole route blocks",
        change: |s| {
            move_target_to_other_vpc(s);
            source_routes(s).push(route("172.16.0.0/16", "pcx-1", "blackhole"));
        },
        expect: Expect::Blocked(Check::SourceRoute, "rtb-app", None),
    },
    Case {
        name: "another VPC's private address through an internet gateway blocks",
        change: |s| {
            move_target_to_other_vpc(s);
            source_routes(s).push(route("0.0.0.0/0", "igw-1", "active"));
        },
        expect: Expect::Blocked(Check::SourceRoute, "rtb-app", None),
    },
    Case {
        name: "the longest prefix decides between two routes",
        change: |s| {
            move_target_to_other_vpc(s);
            source_routes(s).push(route("0.0.0.0/0", "igw-1", "active"));
            source_routes(s).push(route("172.16.5.0/24", "pcx-1", "active"));
        },
        expect: Expect::Reachable,
    },
    Case {
        name: "return route missing in the target subnet blocks",
        change: |s| {
            move_target_to_other_vpc(s);
            source_routes(s).push(route("172.16.0.0/16", "pcx-1", "active"));
            s.target.subnet.as_mut().unwrap().route_table.as_mut().unwrap().routes.pop();
        },
        expect: Expect::Blocked(Check::TargetRoute, "rtb-far", None),
    },
    Case {
        name: "same subnet ignores network ACLs",
        change: |s| {
            s.target.subnet = s.source.subnet.clone();
            source_acl(s).ingress.insert(0, entry(1, "deny", "all", None, "0.0.0.0/0"));
        },
        expect: Expect::Reachable,
    },
    Case {
        name: "subnet source needs a rule covering the whole subnet",
        change: |s| {
            s.source.addresses = Some(Cidr::parse("10.0.1.0/24").unwrap());
            s.source.security_groups = None;
            target_groups(s).ingress = vec![rule("tcp", Some((5432, 5432)), cidr("10.0.1.0/25"))];
        },
        expect: Expect::Blocked(Check::TargetSecurityGroupIngress, "sg-db", None),
    },
    Case {
        name: "subnet source is blocked by a deny touching part of it",
        change: |s| {
            s.source.addresses = Some(Cidr::parse("10.0.1.0/24").unwrap());
            s.source.security_groups = None;
            target_groups(s).ingress = vec![rule("tcp", Some((5432, 5432)), cidr("10.0.0.0/16"))];
            target_acl(s)
                .ingress
                .insert(0, entry(10, "deny", "tcp", Some((5432, 5432)), "10.0.1.128/25"));
        },
        expect: Expect::Blocked(Check::TargetNetworkAclIngress, "acl-db", Some(10)),
    },
    Case {
        name: "prefix list rules are not taken as allowing",
        change: |s| {
            target_groups(s).ingress =
                vec![rule("tcp", Some((5432, 5432)), Peer::PrefixList("pl-1".to_owned()))]
        },
        expect: Expect::Blocked(Check::TargetSecurityGroupIngress, "sg-db", None),
    },
];

#[test]
fn every_case_decides_as_expected() {
    for case in CASES {
        let mut scenario = healthy();
        (case.change)(&mut scenario);
        let verdict = evaluate(&scenario.source, &scenario.target, &scenario.flow);
        match case.expect {
            Expect::Reachable => {
                assert!(verdict.reachable, "{}: {:#?}", case.name, verdict.blocked_by);
                assert!(verdict.blocked_by.is_empty(), "{}", case.name);
            }
            Expect::Blocked(check, component, rule_number) => {
                assert!(!verdict.reachable, "{}: passed by {:#?}", case.name, verdict.path);
                let first = &verdict.blocked_by[0];
                assert_eq!(first.check, check, "{}: {first:#?}", case.name);
                assert_eq!(first.component, component, "{}: {first:#?}", case.name);
                assert_eq!(first.rule_number, rule_number, "{}: {first:#?}", case.name);
            }
        }
    }
}

#[test]
fn a_healthy_path_lists_the_allowing_rule_of_every_check_in_order() {
    let s = healthy();
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    let checks: Vec<Check> = verdict.path.iter().map(|h| h.check).collect();
    assert_eq!(
        checks,
        [
            Check::SourceSecurityGroupEgress,
            Check::SourceRoute,
            Check::SourceNetworkAclEgress,
            Check::TargetNetworkAclIngress,
            Check::TargetSecurityGroupIngress,
            Check::TargetNetworkAclReturn,
            Check::TargetRoute,
            Check::SourceNetworkAclReturn,
        ]
    );
    assert_eq!(verdict.path[4].rule.as_deref(), Some("sg-db: tcp 5432 from security group sg-app"));
    assert_eq!(verdict.path[3].rule_number, Some(100));
    assert_eq!(verdict.path[1].rule.as_deref(), Some("10.0.0.0/16 -> local"));
}

#[test]
fn a_blocking_security_group_is_named_in_the_reason() {
    let mut s = healthy();
    target_groups(&mut s).ingress.clear();
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    assert_eq!(
        verdict.blocked_by[0].reason,
        "no inbound rule of security group sg-db allows tcp/5432 from 10.0.1.10/32"
    );
    assert_eq!(verdict.blocked_by[0].direction, Direction::Ingress);
}

#[test]
fn every_blocking_check_is_reported_not_only_the_first() {
    let mut s = healthy();
    target_groups(&mut s).ingress.clear();
    target_acl(&mut s).ingress.insert(0, entry(90, "deny", "all", None, "0.0.0.0/0"));
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    let checks: Vec<Check> = verdict.blocked_by.iter().map(|h| h.check).collect();
    assert_eq!(checks, [Check::TargetNetworkAclIngress, Check::TargetSecurityGroupIngress]);
    assert_eq!(
        verdict.blocked_by[0].reason,
        "network ACL acl-db rule #90 denies tcp/5432 from 10.0.1.10/32"
    );
}

#[test]
fn what_was_not_evaluated_is_noted() {
    let mut s = healthy();
    s.target.security_groups = None;
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    assert!(verdict.reachable);
    assert!(
        verdict.notes.iter().any(|n| n.contains("has no security groups of its own")),
        "{:?}",
        verdict.notes
    );

    let mut s = healthy();
    target_groups(&mut s).ingress =
        vec![rule("tcp", Some((5432, 5432)), Peer::PrefixList("pl-1".into()))];
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    assert!(verdict.notes.iter().any(|n| n.contains("prefix list pl-1")), "{:?}", verdict.notes);

    let mut s = healthy();
    s.target.subnet = None;
    s.target.security_groups = None;
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    assert!(
        verdict.notes.iter().any(|n| n.contains("is in no known subnet")),
        "{:?}",
        verdict.notes
    );
}

#[test]
fn icmp_ignores_ports() {
    let mut s = healthy();
    s.flow.protocol = Protocol::Icmp;
    target_groups(&mut s).ingress = vec![rule("icmp", Some((8, 0)), cidr("10.0.0.0/16"))];
    assert!(evaluate(&s.source, &s.target, &s.flow).reachable);
    target_groups(&mut s).ingress = vec![rule("tcp", None, cidr("10.0.0.0/16"))];
    assert!(!evaluate(&s.source, &s.target, &s.flow).reachable);
}

#[test]
fn cidr_blocks_parse_contain_and_overlap() {
    let vpc = Cidr::parse("10.0.0.0/16").unwrap();
    let subnet = Cidr::parse("10.0.1.0/24").unwrap();
    let host = Cidr::parse("10.0.1.7").unwrap();
    let other = Cidr::parse("10.1.0.0/16").unwrap();
    let any = Cidr::parse("0.0.0.0/0").unwrap();
    assert!(vpc.contains(&subnet) && vpc.contains(&host) && subnet.contains(&host));
    assert!(!subnet.contains(&vpc));
    assert!(subnet.overlaps(&vpc) && vpc.overlaps(&subnet));
    assert!(!vpc.overlaps(&other));
    assert!(any.contains(&other));
    assert_eq!(Cidr::parse("10.0.1.77/24").unwrap().to_string(), "10.0.1.0/24");
    assert_eq!(host.to_string(), "10.0.1.7/32");
    assert_eq!(subnet.size(), 256);
    assert_eq!(any.size(), 1 << 32);
    for bad in ["10.0.0.0/33", "10.0.0/8", "fe80::/129", "", "10.0.0.0/x"] {
        let error = Cidr::parse(bad).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("`{bad}` is not an IPv4 or IPv6 address or CIDR block")
        );
    }
}

#[test]
fn ipv6_blocks_parse_contain_and_never_mix_with_ipv4() {
    let vpc = Cidr::parse("2600:1f18:abcd:1200::/56").unwrap();
    let subnet = Cidr::parse("2600:1f18:abcd:1201::/64").unwrap();
    let host = Cidr::parse("2600:1f18:abcd:1201::7").unwrap();
    assert!(vpc.contains(&subnet) && subnet.contains(&host) && host.is_ipv6());
    assert_eq!(Cidr::parse("2600:1f18:abcd:1201::7/56").unwrap(), vpc);
    assert_eq!(host.to_string(), "2600:1f18:abcd:1201::7/128");
    assert_eq!(subnet.size(), u64::MAX, "2^64 addresses saturate");
    let every_v6 = Cidr::parse("::/0").unwrap();
    let every_v4 = Cidr::parse("0.0.0.0/0").unwrap();
    let v4 = Cidr::parse("10.0.1.7").unwrap();
    assert!(every_v6.contains(&host) && !every_v6.contains(&v4));
    assert!(!every_v4.contains(&host) && !every_v4.overlaps(&host));
}

/// The healthy scenario moved to IPv6: both ends and both subnets have IPv6 addresses, and
/// every IPv4 rule is joined by its IPv6 twin.
fn healthy_ipv6() -> Scenario {
    let mut s = healthy();
    s.source.addresses = Some(Cidr::parse("2600:1f18:abcd:1201::10").unwrap());
    s.target.addresses = Some(Cidr::parse("2600:1f18:abcd:1202::20").unwrap());
    for side in [&mut s.source, &mut s.target] {
        let subnet = side.subnet.as_mut().unwrap();
        let table = subnet.route_table.as_mut().unwrap();
        table.routes.push(route("2600:1f18:abcd:1200::/56", "local", "active"));
        let acl = subnet.network_acl.as_mut().unwrap();
        for rules in [&mut acl.ingress, &mut acl.egress] {
            rules.insert(0, entry(101, "allow", "all", None, "::/0"));
        }
    }
    source_groups(&mut s).egress.push(rule("all", None, Peer::Ipv6Cidr("::/0".into())));
    s
}

#[test]
fn ipv6_flows_are_decided_by_ipv6_rules_only() {
    let s = healthy_ipv6();
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    assert!(verdict.reachable, "{:#?}", verdict.blocked_by);
    assert_eq!(verdict.path[1].rule.as_deref(), Some("2600:1f18:abcd:1200::/56 -> local"));

    // Only IPv4 routes: no route to an IPv6 address.
    let mut s = healthy_ipv6();
    source_routes(&mut s).retain(|r| !r.destination.contains(':'));
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    assert_eq!(verdict.blocked_by[0].check, Check::SourceRoute, "{:#?}", verdict.blocked_by);

    // An IPv4 deny of everything does not touch IPv6 traffic; an IPv6 one does.
    let mut s = healthy_ipv6();
    target_acl(&mut s).ingress.insert(0, entry(50, "deny", "all", None, "0.0.0.0/0"));
    assert!(evaluate(&s.source, &s.target, &s.flow).reachable);
    target_acl(&mut s)
        .ingress
        .insert(0, entry(40, "deny", "tcp", Some((5432, 5432)), "2600:1f18:abcd:1201::/64"));
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    assert_eq!(verdict.blocked_by[0].rule_number, Some(40), "{:#?}", verdict.blocked_by);

    // A security group allowing the IPv6 block of the source lets it in.
    let mut s = healthy_ipv6();
    target_groups(&mut s).ingress =
        vec![rule("tcp", Some((5432, 5432)), Peer::Ipv6Cidr("2600:1f18:abcd:1201::/64".into()))];
    assert!(evaluate(&s.source, &s.target, &s.flow).reachable);
    target_groups(&mut s).ingress = vec![rule("tcp", Some((5432, 5432)), cidr("0.0.0.0/0"))];
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    assert_eq!(verdict.blocked_by[0].check, Check::TargetSecurityGroupIngress);
}

#[test]
fn prefix_lists_are_evaluated_through_their_entries() {
    let mut s = healthy();
    target_groups(&mut s).ingress =
        vec![rule("tcp", Some((5432, 5432)), Peer::PrefixList("pl-app".into()))];
    s.target.prefix_lists.insert("pl-app".into(), vec![Cidr::parse("10.0.1.0/24").unwrap()]);
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    assert!(verdict.reachable, "{:#?}", verdict.blocked_by);
    assert!(!verdict.notes.iter().any(|n| n.contains("pl-app")), "{:?}", verdict.notes);

    s.target.prefix_lists.insert("pl-app".into(), vec![Cidr::parse("10.9.0.0/16").unwrap()]);
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    assert_eq!(verdict.blocked_by[0].check, Check::TargetSecurityGroupIngress);

    // A route to a prefix list takes part in the longest-prefix choice through its entries:
    // its /24 entry beats the /16 local route.
    let mut s = healthy();
    source_routes(&mut s).push(route("pl-db", "pcx-9", "blackhole"));
    s.source.prefix_lists.insert("pl-db".into(), vec![Cidr::parse("10.0.2.0/24").unwrap()]);
    let verdict = evaluate(&s.source, &s.target, &s.flow);
    let hop = &verdict.blocked_by[0];
    assert_eq!(hop.check, Check::SourceRoute, "{:#?}", verdict.blocked_by);
    assert!(
        hop.reason.contains("blackhole") && hop.reason.contains("10.0.2.0/24"),
        "{}",
        hop.reason
    );
}
