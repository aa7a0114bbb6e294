//! `network_check_reachability` against moto: the tool collects the real security groups,
//! network ACLs, route tables and RDS placement, and the evaluator names what blocks.

mod net_fixtures;

use clu_core::guard::Recorder;
use net_fixtures::{World, assert_declared_equals_used, call, ok, seed};
use serde_json::{Value, json};

/// The reachability tool's answer to `input` in `world`, recorded by `recorder`.
async fn reach(world: &World, recorder: &Recorder, input: Value) -> Value {
    ok(&world.config, recorder, "network_check_reachability", input).await
}

fn blockers(output: &Value) -> Vec<(String, String, Option<i64>)> {
    output["verdict"]["blocked_by"]
        .as_array()
        .unwrap_or_else(|| panic!("no verdict in {output:#}"))
        .iter()
        .map(|hop| {
            (
                hop["check"].as_str().unwrap().to_owned(),
                hop["component"].as_str().unwrap().to_owned(),
                hop["rule_number"].as_i64(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_security_group_without_the_database_port_blocks_and_is_named() {
    let world = seed("reach-closed").await;
    let recorder = Recorder::new();
    let output =
        reach(&world, &recorder, json!({"source": world.app_instance, "target": world.closed_db}))
            .await;

    assert_eq!(output["verdict"]["reachable"], false, "{output:#}");
    assert_eq!(output["flow"]["port"], 5432, "the RDS instance's own port is the default");
    assert_eq!(
        blockers(&output),
        [("target_security_group_ingress".to_owned(), world.closed_db_group.clone(), None)]
    );
    let reason = output["verdict"]["blocked_by"][0]["reason"].as_str().unwrap();
    assert!(reason.contains(&world.closed_db_group) && reason.contains("tcp/5432"), "{reason}");
    assert_eq!(output["target_side"]["subnet"]["id"], world.data_subnet.as_str());
}

#[tokio::test]
async fn a_group_admitting_the_source_group_reaches_the_database_by_endpoint() {
    let world = seed("reach-open").await;
    let recorder = Recorder::new();
    let output = reach(
        &world,
        &recorder,
        json!({"source": world.app_instance, "target": world.open_db_endpoint}),
    )
    .await;

    let verdict = &output["verdict"];
    assert_eq!(verdict["reachable"], true, "{output:#}");
    let path: Vec<&str> =
        verdict["path"].as_array().unwrap().iter().map(|h| h["check"].as_str().unwrap()).collect();
    assert_eq!(
        path,
        [
            "source_security_group_egress",
            "source_route",
            "source_network_acl_egress",
            "target_network_acl_ingress",
            "target_security_group_ingress",
            "target_network_acl_return",
            "target_route",
            "source_network_acl_return",
        ]
    );
    let ingress = &verdict["path"][4];
    assert_eq!(ingress["component"], world.open_db_group.as_str());
    assert_eq!(
        ingress["rule"],
        format!("{}: tcp 5432 from security group {}", world.open_db_group, world.app_group)
    );
    assert_eq!(verdict["path"][1]["rule"], "10.0.0.0/16 -> local");
}

#[tokio::test]
async fn a_network_acl_deny_rule_blocks_with_its_number() {
    let world = seed("reach-acl").await;
    let recorder = Recorder::new();
    let output = reach(
        &world,
        &recorder,
        json!({"source": world.app_instance, "target": world.locked_instance, "port": 5432}),
    )
    .await;
    assert_eq!(output["verdict"]["reachable"], false, "{output:#}");
    assert_eq!(
        blockers(&output),
        [("target_network_acl_ingress".to_owned(), world.locked_acl.clone(), Some(90))]
    );

    // Another port passes the same ACL at rule 100 and the target group does not admit it.
    let other = reach(
        &world,
        &recorder,
        json!({"source": world.app_instance, "target": world.locked_instance, "port": 22}),
    )
    .await;
    let blocked = blockers(&other);
    assert_eq!(blocked.len(), 1, "{other:#}");
    assert_eq!(blocked[0].0, "target_security_group_ingress");
}

#[tokio::test]
async fn sources_by_subnet_and_group_and_targets_by_address() {
    let world = seed("reach-kinds").await;
    let recorder = Recorder::new();

    // A subnet has no groups of its own: the database's group admits only a group, so the
    // subnet's addresses are not admitted.
    let from_subnet =
        reach(&world, &recorder, json!({"source": world.app_subnet, "target": world.open_db}))
            .await;
    assert_eq!(from_subnet["verdict"]["reachable"], false, "{from_subnet:#}");
    assert_eq!(from_subnet["source_side"]["addresses"], "10.0.1.0/24");

    // A group is judged from a member interface: the app instance's.
    let from_group =
        reach(&world, &recorder, json!({"source": world.app_group, "target": world.open_db})).await;
    assert_eq!(from_group["verdict"]["reachable"], true, "{from_group:#}");

    // An address held by an interface resolves to that interface's groups and subnet.
    let to_address = reach(
        &world,
        &recorder,
        json!({"source": world.locked_instance, "target": world.app_instance_ip, "port": 8080}),
    )
    .await;
    assert_eq!(to_address["target_side"]["subnet"]["id"], world.app_subnet.as_str());
    assert_eq!(
        blockers(&to_address),
        [("target_security_group_ingress".to_owned(), world.app_group.clone(), None)]
    );

    // A rule admitting a managed prefix list that holds the locked subnet lets it in: the
    // tool reads the list's entries.
    let ec2 = aws_sdk_ec2::Client::new(&world.config);
    let list = ec2
        .create_managed_prefix_list()
        .prefix_list_name(format!("{}-locked", world.label))
        .address_family("IPv4")
        .max_entries(5)
        .entries(aws_sdk_ec2::types::AddPrefixListEntry::builder().cidr("10.0.4.0/24").build())
        .send()
        .await
        .unwrap();
    let list = list.prefix_list.unwrap().prefix_list_id.unwrap();
    let permission = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(8080)
        .to_port(8080)
        .prefix_list_ids(aws_sdk_ec2::types::PrefixListId::builder().prefix_list_id(&list).build())
        .build();
    ec2.authorize_security_group_ingress()
        .group_id(&world.app_group)
        .ip_permissions(permission)
        .send()
        .await
        .unwrap();
    let through_list = reach(
        &world,
        &recorder,
        json!({"source": world.locked_instance, "target": world.app_instance_ip, "port": 8080}),
    )
    .await;
    assert_eq!(through_list["verdict"]["reachable"], true, "{through_list:#}");
    assert_eq!(through_list["target_side"]["prefix_lists"][&list], json!(["10.0.4.0/24"]));
    assert_declared_equals_used(&recorder, "network_check_reachability");
}

#[tokio::test]
async fn missing_ends_are_a_clear_result_and_bad_ids_a_clear_error() {
    let world = seed("reach-missing").await;
    let recorder = Recorder::new();
    let output = reach(
        &world,
        &recorder,
        json!({"source": world.app_instance, "target": "clu-no-such-database"}),
    )
    .await;
    assert_eq!(output["unresolved"], "RDS instance clu-no-such-database not found");
    assert!(output.get("verdict").is_none());

    let output =
        reach(&world, &recorder, json!({"source": "i-0123456789abcdef0", "target": world.open_db}))
            .await;
    assert_eq!(output["unresolved"], "instance i-0123456789abcdef0 not found");

    let outcome = call(
        &world.config,
        &recorder,
        "network_check_reachability",
        json!({"source": "vpc-123", "target": world.open_db}),
    )
    .await;
    let error = outcome.result.unwrap_err();
    assert_eq!(error.code(), "invalid-input");
    assert!(error.to_string().contains("source `vpc-123` is not a subnet id"), "{error}");

    let outcome = call(
        &world.config,
        &recorder,
        "network_check_reachability",
        json!({"source": world.app_instance, "target": world.locked_instance}),
    )
    .await;
    let error = outcome.result.unwrap_err();
    assert!(error.to_string().contains("`port` is required"), "{error}");

    let outcome = call(
        &world.config,
        &recorder,
        "network_check_reachability",
        json!({"source": world.app_instance, "target": world.open_db, "ephemeral_ports": [60999, 32768]}),
    )
    .await;
    let error = outcome.result.unwrap_err();
    assert!(error.to_string().contains("must give the first port, then the last"), "{error}");
}
