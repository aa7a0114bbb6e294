//! A small account in moto with the faults the network, reachability and savings views exist
//! to find, seeded with plain SDK clients (tests may; shipped code may not).
//!
//! One VPC, 10.0.0.0/16 (moto does not mind that many tests reuse the block):
//! - subnet `app` (10.0.1.0/24, zone a) with the application instance in `sg-app`;
//! - subnet `data` (10.0.2.0/24, zone b), where the RDS instances live;
//! - subnet `locked` (10.0.4.0/24, zone a) whose own network ACL denies 5432 from `app` with
//!   rule 90, and an instance listening there;
//! - subnet `tiny` (10.0.3.0/28) with ten of its eleven addresses taken;
//! - `sg-db-closed` admits only 3306 (the database port is blocked), `sg-db-open` admits 5432
//!   from `sg-app`; database `closed` uses the first, `open` the second;
//! - an unattached 10 GiB gp2 volume and an attached 500 GiB gp2 volume;
//! - an ALB with no listener, an ALB whose listener forwards to a target group with no target,
//!   and a target group attached to nothing.

#![allow(dead_code, reason = "each test binary uses a different part of the fixture")]

use std::sync::Arc;

use aws_sdk_ec2::types::{Filter, IpPermission, RuleAction, UserIdGroupPair, VolumeType};
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ProtocolEnum};
use aws_types::SdkConfig;
use clu_core::CallOutcome;
use clu_core::guard::Recorder;
use clu_core::tool::ToolEnv;
use clu_testkit::moto;
use serde_json::Value;

pub(crate) const REGION: &str = "us-east-1";

pub(crate) struct World {
    pub(crate) config: SdkConfig,
    pub(crate) label: String,
    pub(crate) vpc: String,
    pub(crate) app_subnet: String,
    pub(crate) data_subnet: String,
    pub(crate) locked_subnet: String,
    pub(crate) tiny_subnet: String,
    pub(crate) app_group: String,
    pub(crate) closed_db_group: String,
    pub(crate) open_db_group: String,
    pub(crate) locked_acl: String,
    pub(crate) app_instance: String,
    pub(crate) app_instance_ip: String,
    pub(crate) locked_instance: String,
    pub(crate) closed_db: String,
    pub(crate) open_db: String,
    pub(crate) open_db_endpoint: String,
    pub(crate) unattached_volume: String,
    pub(crate) attached_volume: String,
    pub(crate) idle_lb: String,
    pub(crate) idle_lb_arn: String,
    pub(crate) no_target_lb: String,
    pub(crate) no_target_lb_arn: String,
    pub(crate) empty_group_arn: String,
    pub(crate) orphan_group_arn: String,
}

pub(crate) async fn config() -> SdkConfig {
    moto::sdk_config(REGION).await
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Seeds a fresh world; every name carries `label` and the process's unique prefix.
pub(crate) async fn seed(label: &str) -> World {
    let config = config().await;
    let label = moto::unique_name(label);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let rds = aws_sdk_rds::Client::new(&config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);

    let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc.unwrap().vpc_id.unwrap();
    let subnet = |block: &'static str, zone: &'static str| {
        let ec2 = ec2.clone();
        let vpc = vpc.clone();
        async move {
            let created = ec2
                .create_subnet()
                .vpc_id(vpc)
                .cidr_block(block)
                .availability_zone(format!("{REGION}{zone}"))
                .send()
                .await
                .unwrap();
            created.subnet.unwrap().subnet_id.unwrap()
        }
    };
    let app_subnet = subnet("10.0.1.0/24", "a").await;
    let data_subnet = subnet("10.0.2.0/24", "b").await;
    let tiny_subnet = subnet("10.0.3.0/28", "a").await;
    let locked_subnet = subnet("10.0.4.0/24", "a").await;
    for _ in 0..10 {
        ec2.create_network_interface().subnet_id(&tiny_subnet).send().await.unwrap();
    }

    let group = |name: String| {
        let ec2 = ec2.clone();
        let vpc = vpc.clone();
        async move {
            let created = ec2
                .create_security_group()
                .group_name(name)
                .description("clu test")
                .vpc_id(vpc)
                .send()
                .await
                .unwrap();
            created.group_id.unwrap()
        }
    };
    let app_group = group(format!("{label}-app")).await;
    let closed_db_group = group(format!("{label}-db-closed")).await;
    let open_db_group = group(format!("{label}-db-open")).await;
    let locked_group = group(format!("{label}-locked")).await;
    let admit = |group: String, port: i32, from: String| {
        let ec2 = ec2.clone();
        async move {
            let permission = IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(port)
                .to_port(port)
                .user_id_group_pairs(UserIdGroupPair::builder().group_id(from).build())
                .build();
            ec2.authorize_security_group_ingress()
                .group_id(group)
                .ip_permissions(permission)
                .send()
                .await
                .unwrap();
        }
    };
    admit(closed_db_group.clone(), 3306, app_group.clone()).await;
    admit(open_db_group.clone(), 5432, app_group.clone()).await;
    admit(locked_group.clone(), 5432, app_group.clone()).await;

    // The locked subnet gets its own ACL: deny 5432 from the app subnet before allowing all.
    let acl = ec2.create_network_acl().vpc_id(&vpc).send().await.unwrap();
    let locked_acl = acl.network_acl.unwrap().network_acl_id.unwrap();
    let entry =
        |number: i32, egress: bool, action: RuleAction, ports: Option<i32>, block: &'static str| {
            let ec2 = ec2.clone();
            let acl = locked_acl.clone();
            async move {
                let mut request = ec2
                    .create_network_acl_entry()
                    .network_acl_id(acl)
                    .rule_number(number)
                    .egress(egress)
                    .rule_action(action)
                    .cidr_block(block);
                request = match ports {
                    Some(port) => request.protocol("6").port_range(
                        aws_sdk_ec2::types::PortRange::builder().from(port).to(port).build(),
                    ),
                    None => request.protocol("-1"),
                };
                request.send().await.unwrap();
            }
        };
    entry(90, false, RuleAction::Deny, Some(5432), "10.0.1.0/24").await;
    entry(100, false, RuleAction::Allow, None, "0.0.0.0/0").await;
    entry(100, true, RuleAction::Allow, None, "0.0.0.0/0").await;
    let current = ec2
        .describe_network_acls()
        .filters(filter("association.subnet-id", &locked_subnet))
        .send()
        .await
        .unwrap();
    let association = current.network_acls()[0]
        .associations()
        .iter()
        .find(|a| a.subnet_id() == Some(locked_subnet.as_str()))
        .and_then(|a| a.network_acl_association_id.clone())
        .unwrap();
    ec2.replace_network_acl_association()
        .association_id(association)
        .network_acl_id(&locked_acl)
        .send()
        .await
        .unwrap();

    let run = |subnet: String, group: String, name: String| {
        let ec2 = ec2.clone();
        async move {
            let tag = aws_sdk_ec2::types::Tag::builder().key("Name").value(name).build();
            let tags = aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                .tags(tag)
                .build();
            let run = ec2
                .run_instances()
                .image_id("ami-12c6146b")
                .min_count(1)
                .max_count(1)
                .subnet_id(subnet)
                .security_group_ids(group)
                .tag_specifications(tags)
                .send()
                .await
                .unwrap();
            let instance = run.instances()[0].clone();
            (instance.instance_id.unwrap(), instance.private_ip_address.unwrap())
        }
    };
    let (app_instance, app_instance_ip) =
        run(app_subnet.clone(), app_group.clone(), format!("{label}-app")).await;
    let (locked_instance, _) =
        run(locked_subnet.clone(), locked_group.clone(), format!("{label}-locked")).await;

    let subnet_group = format!("{label}-db");
    rds.create_db_subnet_group()
        .db_subnet_group_name(&subnet_group)
        .db_subnet_group_description("clu test")
        .subnet_ids(&app_subnet)
        .subnet_ids(&data_subnet)
        .send()
        .await
        .unwrap();
    let database = |name: String, group: String| {
        let rds = rds.clone();
        let subnet_group = subnet_group.clone();
        async move {
            let created = rds
                .create_db_instance()
                .db_instance_identifier(&name)
                .db_instance_class("db.t3.micro")
                .engine("postgres")
                .master_username("clu")
                .master_user_password("not-a-real-password")
                .allocated_storage(20)
                .db_subnet_group_name(subnet_group)
                .vpc_security_group_ids(group)
                .availability_zone(format!("{REGION}b"))
                .send()
                .await
                .unwrap();
            let endpoint = created.db_instance.unwrap().endpoint.unwrap().address.unwrap();
            (name, endpoint)
        }
    };
    let (closed_db, _) = database(format!("{label}-closed"), closed_db_group.clone()).await;
    let (open_db, open_db_endpoint) =
        database(format!("{label}-open"), open_db_group.clone()).await;

    let volume = |size: i32| {
        let ec2 = ec2.clone();
        async move {
            let created = ec2
                .create_volume()
                .size(size)
                .volume_type(VolumeType::Gp2)
                .availability_zone(format!("{REGION}a"))
                .send()
                .await
                .unwrap();
            created.volume_id.unwrap()
        }
    };
    let unattached_volume = volume(10).await;
    let attached_volume = volume(500).await;
    ec2.attach_volume()
        .volume_id(&attached_volume)
        .instance_id(&app_instance)
        .device("/dev/sdf")
        .send()
        .await
        .unwrap();

    // Load balancer names are at most 32 characters; the label's tail keeps them unique.
    let short = |suffix: &str| {
        let tail: String =
            label.chars().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
        format!("{}-{suffix}", tail.trim_start_matches('-')).replace('_', "-")
    };
    let balancer = |name: String| {
        let elb = elb.clone();
        let subnets = vec![app_subnet.clone(), data_subnet.clone()];
        async move {
            let created = elb
                .create_load_balancer()
                .name(&name)
                .set_subnets(Some(subnets))
                .send()
                .await
                .unwrap();
            (name, created.load_balancers()[0].load_balancer_arn.clone().unwrap())
        }
    };
    let target_group = |name: String| {
        let elb = elb.clone();
        let vpc = vpc.clone();
        async move {
            let created = elb
                .create_target_group()
                .name(name)
                .protocol(ProtocolEnum::Http)
                .port(80)
                .vpc_id(vpc)
                .send()
                .await
                .unwrap();
            created.target_groups()[0].target_group_arn.clone().unwrap()
        }
    };
    let (idle_lb, idle_lb_arn) = balancer(short("idle")).await;
    let (no_target_lb, no_target_lb_arn) = balancer(short("empty")).await;
    let empty_group_arn = target_group(short("tg-empty")).await;
    let orphan_group_arn = target_group(short("tg-orphan")).await;
    elb.create_listener()
        .load_balancer_arn(&no_target_lb_arn)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(&empty_group_arn)
                .build(),
        )
        .send()
        .await
        .unwrap();

    World {
        config,
        label,
        vpc,
        app_subnet,
        data_subnet,
        locked_subnet,
        tiny_subnet,
        app_group,
        closed_db_group,
        open_db_group,
        locked_acl,
        app_instance,
        app_instance_ip,
        locked_instance,
        closed_db,
        open_db,
        open_db_endpoint,
        unattached_volume,
        attached_volume,
        idle_lb,
        idle_lb_arn,
        no_target_lb,
        no_target_lb_arn,
        empty_group_arn,
        orphan_group_arn,
    }
}

/// Calls a Cloud tool through the tier's registry, recording what it used.
pub(crate) async fn call(
    config: &SdkConfig,
    recorder: &Recorder,
    tool: &str,
    input: Value,
) -> CallOutcome {
    let registry = clu_cloud::registry().unwrap();
    let env = ToolEnv {
        aws: Some(config.clone()),
        recorder: Some(recorder.clone()),
        arn_context: clu_policy::ArnContext { region: REGION.to_owned(), ..Default::default() },
        ..ToolEnv::default()
    };
    registry.call(&Arc::new(env), tool, input).await
}

/// The tool's result, or a panic naming its error.
pub(crate) async fn ok(config: &SdkConfig, recorder: &Recorder, tool: &str, input: Value) -> Value {
    let outcome = call(config, recorder, tool, input).await;
    match outcome.result {
        Ok(value) => value,
        Err(error) => panic!("{tool} failed: {error} ({})", error.code()),
    }
}

/// Asserts that `tool` used exactly the IAM actions it declares.
pub(crate) fn assert_declared_equals_used(recorder: &Recorder, tool: &str) {
    let registry = clu_cloud::registry().unwrap();
    let declared = registry.get(tool).unwrap().spec().permissions.actions();
    let used = recorder.actions_of(tool);
    assert_eq!(used, declared, "tool `{tool}`: used (left) differs from declared (right)");
}
