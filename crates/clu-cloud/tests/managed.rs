//! RDS and ElastiCache views against moto: what a connectivity investigation needs from each
//! instance, cluster and group, with tags from ListTagsForResource.

mod aws_support;

use aws_support::Harness;
use clu_testkit::moto;
use serde_json::json;

fn rds_tag(key: &str, value: &str) -> aws_sdk_rds::types::Tag {
    aws_sdk_rds::types::Tag::builder().key(key).value(value).build()
}

#[tokio::test]
async fn rds_instances_and_clusters_are_described_with_their_tags() {
    let config = moto::sdk_config("eu-west-1").await;
    let rds = aws_sdk_rds::Client::new(&config);
    let instance = moto::unique_name("orders-db");
    let cluster = moto::unique_name("orders-aurora");
    rds.create_db_instance()
        .db_instance_identifier(&instance)
        .engine("postgres")
        .engine_version("16.3")
        .db_instance_class("db.t3.medium")
        .allocated_storage(50)
        .master_username("orders")
        .master_user_password("not-a-real-password-1")
        .multi_az(true)
        .vpc_security_group_ids("sg-0db")
        .tags(rds_tag("team", "orders"))
        .send()
        .await
        .unwrap();
    rds.create_db_cluster()
        .db_cluster_identifier(&cluster)
        .engine("aurora-postgresql")
        .master_username("orders")
        .master_user_password("not-a-real-password-2")
        .tags(rds_tag("tier", "data"))
        .send()
        .await
        .unwrap();
    let harness = Harness::new(config.clone());

    let instances =
        harness.call("rds_describe_db_instances", json!({"identifier": instance})).await;
    let clusters = harness.call("rds_describe_db_clusters", json!({"identifier": cluster})).await;

    let db = &instances["db_instances"][0];
    assert_eq!(db["identifier"], instance.as_str());
    assert_eq!(db["engine"], "postgres");
    assert_eq!(db["engine_version"], "16.3");
    assert_eq!(db["class"], "db.t3.medium");
    assert_eq!(db["multi_az"], true);
    assert_eq!(db["allocated_storage_gib"], 50);
    assert_eq!(db["port"], 5432);
    assert!(db["endpoint"].as_str().unwrap().contains(&instance), "{db:#}");
    assert_eq!(db["security_groups"][0]["id"], "sg-0db");
    assert_eq!(db["tags"], json!({"team": "orders"}));
    assert!(!instances.to_string().contains("not-a-real-password"));
    let aurora = &clusters["db_clusters"][0];
    assert_eq!(aurora["identifier"], cluster.as_str());
    assert_eq!(aurora["engine"], "aurora-postgresql");
    assert!(aurora["endpoint"].as_str().unwrap().contains(&cluster), "{aurora:#}");
    assert_eq!(aurora["tags"], json!({"tier": "data"}));
    harness.assert_declared_equals_used(&["rds_describe_db_instances", "rds_describe_db_clusters"]);

    let typed = clu_cloud::Cloud::new(&config).db_instances(None).await.unwrap();
    let mine = typed.db_instances.iter().find(|d| d.identifier.as_deref() == Some(&instance));
    assert_eq!(mine.unwrap().port, Some(5432));
}

#[tokio::test]
async fn elasticache_clusters_and_replication_groups_are_described_with_their_tags() {
    let config = moto::sdk_config("eu-west-1").await;
    let cache = aws_sdk_elasticache::Client::new(&config);
    let id = moto::unique_name("cache");
    let group = moto::unique_name("group");
    cache
        .create_cache_cluster()
        .cache_cluster_id(&id)
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(1)
        .tags(aws_sdk_elasticache::types::Tag::builder().key("team").value("web").build())
        .send()
        .await
        .unwrap();
    cache
        .create_replication_group()
        .replication_group_id(&group)
        .replication_group_description("sessions of the web tier")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .num_cache_clusters(2)
        .send()
        .await
        .unwrap();
    let harness = Harness::new(config);

    let clusters =
        harness.call("elasticache_describe_cache_clusters", json!({"identifier": id})).await;
    let groups =
        harness.call("elasticache_describe_replication_groups", json!({"identifier": group})).await;

    let sessions = &clusters["cache_clusters"][0];
    assert_eq!(sessions["id"], id.as_str());
    assert_eq!(sessions["engine"], "redis");
    assert_eq!(sessions["node_type"], "cache.t3.micro");
    assert_eq!(sessions["nodes"], 1);
    assert_eq!(sessions["tags"], json!({"team": "web"}));
    let replicated = &groups["replication_groups"][0];
    assert_eq!(replicated["id"], group.as_str());
    assert_eq!(replicated["description"], "sessions of the web tier");
    let primary = &replicated["node_groups"][0];
    assert_eq!(primary["primary_endpoint"]["port"], 6379, "{replicated:#}");
    assert_eq!(primary["members"][0]["role"], "primary");
    assert_eq!(replicated["automatic_failover"], "disabled");
    harness.assert_declared_equals_used(&[
        "elasticache_describe_cache_clusters",
        "elasticache_describe_replication_groups",
    ]);
}

#[tokio::test]
async fn a_missing_store_is_a_result_not_an_error() {
    let harness = Harness::new(moto::sdk_config("eu-west-1").await);
    let name = moto::unique_name("absent");

    let instance = harness.call("rds_describe_db_instances", json!({"identifier": name})).await;
    let cache =
        harness.call("elasticache_describe_cache_clusters", json!({"identifier": "absent1"})).await;

    assert_eq!(instance, json!({"found": false, "what": format!("RDS DB instance `{name}`")}));
    assert_eq!(cache["found"], false);
}
