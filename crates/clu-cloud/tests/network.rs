//! The EC2 and ELBv2 views against moto, through the registry and the permission guard.

mod net_fixtures;

use clu_core::guard::Recorder;
use net_fixtures::{assert_declared_equals_used, ok, seed};
use serde_json::{Value, json};

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no `{key}` in {list}"))
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn subnets_report_free_addresses_and_flag_the_nearly_exhausted_one() {
    let world = seed("subnets").await;
    let recorder = Recorder::new();
    let output =
        ok(&world.config, &recorder, "ec2_describe_subnets", json!({"vpc_id": world.vpc})).await;

    let subnets = output["subnets"].as_array().unwrap();
    assert_eq!(subnets.len(), 4, "{output:#}");
    let tiny = subnets.iter().find(|s| s["id"] == world.tiny_subnet.as_str()).unwrap();
    assert_eq!(tiny["cidr"], "10.0.3.0/28");
    assert_eq!(tiny["usable_ips"], 11);
    assert_eq!(tiny["available_ips"], 1);
    assert_eq!(tiny["free_percent"], 9.1);
    assert_eq!(tiny["nearly_exhausted"], true);
    let app = subnets.iter().find(|s| s["id"] == world.app_subnet.as_str()).unwrap();
    assert_eq!(app["nearly_exhausted"], false);
    assert_eq!(app["availability_zone"], "us-east-1a");
    assert_eq!(output["truncated"], false);

    // A stricter threshold flags nothing more than it should; a looser one flags the tiny only.
    let loose = ok(
        &world.config,
        &recorder,
        "ec2_describe_subnets",
        json!({"vpc_id": world.vpc, "nearly_exhausted_below_percent": 5.0}),
    )
    .await;
    assert!(loose["subnets"].as_array().unwrap().iter().all(|s| s["nearly_exhausted"] == false));
    assert_declared_equals_used(&recorder, "ec2_describe_subnets");
}

#[tokio::test]
async fn every_view_is_bounded_and_marks_truncation() {
    let world = seed("bounded").await;
    let recorder = Recorder::new();
    let output = ok(
        &world.config,
        &recorder,
        "ec2_describe_subnets",
        json!({"vpc_id": world.vpc, "limit": 2}),
    )
    .await;
    assert_eq!(output["subnets"].as_array().unwrap().len(), 2);
    assert_eq!(output["truncated"], true);
}

#[tokio::test]
async fn a_missing_id_is_a_clear_result_not_an_error() {
    let world = seed("missing").await;
    let recorder = Recorder::new();
    let output = ok(
        &world.config,
        &recorder,
        "ec2_describe_instances",
        json!({"ids": ["i-0123456789abcdef0"]}),
    )
    .await;
    assert_eq!(output["instances"], json!([]));
    let why = output["not_found"].as_str().unwrap();
    assert!(why.contains("i-0123456789abcdef0"), "{why}");
}

#[tokio::test]
async fn security_group_rules_are_rendered_one_peer_per_rule() {
    let world = seed("groups").await;
    let recorder = Recorder::new();
    let output = ok(
        &world.config,
        &recorder,
        "ec2_describe_security_groups",
        json!({"ids": [world.closed_db_group, world.open_db_group]}),
    )
    .await;
    let groups = output["security_groups"].as_array().unwrap();
    let closed = groups.iter().find(|g| g["id"] == world.closed_db_group.as_str()).unwrap();
    assert_eq!(
        closed["ingress"],
        json!([{"protocol": "tcp", "from_port": 3306, "to_port": 3306, "security_group": world.app_group}])
    );
    assert_eq!(closed["egress"], json!([{"protocol": "all", "cidr": "0.0.0.0/0"}]));
    assert_declared_equals_used(&recorder, "ec2_describe_security_groups");
}

#[tokio::test]
async fn network_acls_list_rules_in_evaluation_order() {
    let world = seed("acls").await;
    let recorder = Recorder::new();
    let output = ok(
        &world.config,
        &recorder,
        "ec2_describe_network_acls",
        json!({"subnet_id": world.locked_subnet}),
    )
    .await;
    let acls = output["network_acls"].as_array().unwrap();
    assert_eq!(ids(&output, "network_acls"), std::slice::from_ref(&world.locked_acl));
    let ingress = &acls[0]["ingress"];
    assert_eq!(
        ingress[0],
        json!({"rule_number": 90, "action": "deny", "protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr": "10.0.1.0/24"})
    );
    assert_eq!(ingress[1]["rule_number"], 100);
    assert_eq!(acls[0]["subnet_ids"], json!([world.locked_subnet]));
    assert_declared_equals_used(&recorder, "ec2_describe_network_acls");
}

#[tokio::test]
async fn route_tables_gateways_and_vpcs_of_one_vpc() {
    let world = seed("routes").await;
    let recorder = Recorder::new();
    let vpc = json!({"vpc_id": world.vpc});

    let tables = ok(&world.config, &recorder, "ec2_describe_route_tables", vpc.clone()).await;
    let main = &tables["route_tables"][0];
    assert_eq!(main["main"], true);
    assert!(
        main["routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["destination"] == "10.0.0.0/16" && r["target"] == "local"),
        "{tables:#}"
    );

    let vpcs = ok(&world.config, &recorder, "ec2_describe_vpcs", json!({"ids": [world.vpc]})).await;
    assert_eq!(vpcs["vpcs"][0]["cidr"], "10.0.0.0/16");
    assert_eq!(vpcs["vpcs"][0]["is_default"], false);

    let nats = ok(&world.config, &recorder, "ec2_describe_nat_gateways", vpc.clone()).await;
    assert_eq!(nats["nat_gateways"], json!([]));
    let gateways =
        ok(&world.config, &recorder, "ec2_describe_internet_gateways", vpc.clone()).await;
    assert_eq!(gateways["internet_gateways"], json!([]));

    for tool in [
        "ec2_describe_route_tables",
        "ec2_describe_vpcs",
        "ec2_describe_nat_gateways",
        "ec2_describe_internet_gateways",
    ] {
        assert_declared_equals_used(&recorder, tool);
    }
}

#[tokio::test]
async fn instances_interfaces_and_volumes_of_the_world() {
    let world = seed("compute").await;
    let recorder = Recorder::new();

    let instances = ok(
        &world.config,
        &recorder,
        "ec2_describe_instances",
        json!({"subnet_id": world.app_subnet}),
    )
    .await;
    let instance = &instances["instances"][0];
    assert_eq!(instance["id"], world.app_instance.as_str());
    assert_eq!(instance["private_ip"], world.app_instance_ip.as_str());
    assert_eq!(instance["security_group_ids"], json!([world.app_group]));
    assert_eq!(instance["name"], format!("{}-app", world.label));
    assert_eq!(instance["state"], "running");

    let interfaces = ok(
        &world.config,
        &recorder,
        "ec2_describe_network_interfaces",
        json!({"subnet_id": world.tiny_subnet}),
    )
    .await;
    assert_eq!(interfaces["network_interfaces"].as_array().unwrap().len(), 10);

    let volumes = ok(
        &world.config,
        &recorder,
        "ec2_describe_volumes",
        json!({"ids": [world.unattached_volume, world.attached_volume]}),
    )
    .await;
    let volumes = volumes["volumes"].as_array().unwrap();
    let free = volumes.iter().find(|v| v["id"] == world.unattached_volume.as_str()).unwrap();
    assert_eq!(free["state"], "available");
    assert_eq!(free["attached_to"], json!([]));
    assert_eq!(free["volume_type"], "gp2");
    let used = volumes.iter().find(|v| v["id"] == world.attached_volume.as_str()).unwrap();
    assert_eq!(used["attached_to"], json!([world.app_instance]));
    assert_eq!(used["size_gib"], 500);

    for tool in
        ["ec2_describe_instances", "ec2_describe_network_interfaces", "ec2_describe_volumes"]
    {
        assert_declared_equals_used(&recorder, tool);
    }
}

#[tokio::test]
async fn load_balancers_come_with_listeners_target_groups_and_health() {
    let world = seed("elb").await;
    let recorder = Recorder::new();
    let output = ok(&world.config, &recorder, "elb_describe_load_balancers", json!({})).await;

    let balancers = output["load_balancers"].as_array().unwrap();
    let idle = balancers.iter().find(|b| b["name"] == world.idle_lb.as_str()).unwrap();
    assert_eq!(idle["kind"], "application");
    assert_eq!(idle["listeners"], json!([]));
    assert_eq!(idle["target_groups"], json!([]));
    let empty = balancers.iter().find(|b| b["name"] == world.no_target_lb.as_str()).unwrap();
    assert_eq!(empty["listeners"][0]["port"], 80);
    let group = &empty["target_groups"][0];
    assert_eq!(group["arn"], world.empty_group_arn.as_str());
    assert_eq!(
        empty["listeners"][0]["default_actions"],
        json!([format!("forward:{}", group["name"].as_str().unwrap())])
    );
    assert_eq!(group["targets"], json!([]));
    let orphans = output["unattached_target_groups"].as_array().unwrap();
    assert!(orphans.iter().any(|g| g["arn"] == world.orphan_group_arn.as_str()), "{output:#}");

    let named = ok(
        &world.config,
        &recorder,
        "elb_describe_load_balancers",
        json!({"names": [world.no_target_lb]}),
    )
    .await;
    assert_eq!(named["load_balancers"].as_array().unwrap().len(), 1);
    assert_eq!(named["unattached_target_groups"], json!([]));

    let missing = ok(
        &world.config,
        &recorder,
        "elb_describe_load_balancers",
        json!({"names": ["clu-no-such-balancer"]}),
    )
    .await;
    assert_eq!(missing["load_balancers"], json!([]));
    assert!(missing["not_found"].is_string(), "{missing:#}");
    assert_declared_equals_used(&recorder, "elb_describe_load_balancers");
}

#[tokio::test]
async fn the_typed_library_methods_read_the_same_views() {
    let world = seed("typed").await;
    let cloud = clu_cloud::Cloud::new(&world.config);
    let subnets = cloud
        .subnets(&clu_cloud::network::SubnetsInput {
            vpc_id: Some(world.vpc.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(subnets.subnets.len(), 4);
    assert!(subnets.subnets.iter().any(|s| s.nearly_exhausted && s.id == world.tiny_subnet));

    let groups = cloud
        .security_groups(&clu_cloud::network::VpcInput {
            ids: vec![world.open_db_group.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        groups.security_groups[0].ingress[0].peer,
        clu_cloud::network::Peer::SecurityGroup(world.app_group.clone())
    );
    let balancers = cloud.load_balancers(&Default::default()).await.unwrap();
    assert!(balancers.load_balancers.iter().any(|b| b.name == world.idle_lb));
}
