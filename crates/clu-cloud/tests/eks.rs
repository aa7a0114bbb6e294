//! EKS views against moto for what it serves (clusters, nodegroups, Fargate profiles, tags)
//! and against a restJson1 stub for the rest (addons, versions and schemas, access entries and
//! policies, insights, updates, Pod Identity, identity provider configs).

mod aws_support;

use aws_support::Harness;
use clu_testkit::moto;
use clu_testkit::reststub::{RestReply, RestRequest, RestStub};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";

async fn seed_cluster(config: &aws_types::SdkConfig, name: &str) {
    let eks = aws_sdk_eks::Client::new(config);
    eks.create_cluster()
        .name(name)
        .version("1.31")
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/eks-cluster"))
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-a")
                .subnet_ids("subnet-b")
                .security_group_ids("sg-1")
                .build(),
        )
        .tags("team", "platform")
        .send()
        .await
        .unwrap();
    eks.create_nodegroup()
        .cluster_name(name)
        .nodegroup_name("general")
        .node_role(format!("arn:aws:iam::{ACCOUNT}:role/eks-node"))
        .subnets("subnet-a")
        .instance_types("m6i.large")
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .min_size(2)
                .max_size(6)
                .desired_size(3)
                .build(),
        )
        .labels("pool", "general")
        .send()
        .await
        .unwrap();
    eks.create_fargate_profile()
        .cluster_name(name)
        .fargate_profile_name("batch")
        .pod_execution_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/fargate"))
        .subnets("subnet-a")
        .selectors(aws_sdk_eks::types::FargateProfileSelector::builder().namespace("batch").build())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn clusters_nodegroups_fargate_profiles_and_tags_come_from_moto() {
    let config = moto::sdk_config("eu-west-1").await;
    let name = moto::unique_name("eks");
    seed_cluster(&config, &name).await;
    let harness = Harness::new(config.clone());

    let clusters = harness.call("eks_list_clusters", json!({})).await;
    let cluster = harness.call("eks_describe_cluster", json!({"cluster": name})).await;
    let nodegroups = harness.call("eks_list_nodegroups", json!({"cluster": name})).await;
    let profiles = harness.call("eks_list_fargate_profiles", json!({"cluster": name})).await;
    let arn = cluster["arn"].as_str().unwrap().to_owned();
    let tags = harness.call("eks_list_tags", json!({"resource_arn": arn})).await;

    assert!(clusters["clusters"].as_array().unwrap().contains(&json!(name)), "{clusters:#}");
    assert_eq!(cluster["name"], name.as_str());
    assert_eq!(cluster["status"], "ACTIVE");
    assert_eq!(cluster["version"], "1.31");
    assert_eq!(cluster["subnets"], json!(["subnet-a", "subnet-b"]));
    assert_eq!(cluster["security_groups"], json!(["sg-1"]));
    assert!(cluster["oidc_issuer"].as_str().unwrap().starts_with("https://oidc.eks.eu-west-1."));
    assert_eq!(cluster["tags"], json!({"team": "platform"}));
    let general = &nodegroups["nodegroups"][0];
    assert_eq!(general["name"], "general");
    assert_eq!(general["instance_types"], json!(["m6i.large"]));
    assert_eq!(
        (general["min_size"].clone(), general["desired_size"].clone()),
        (json!(2), json!(3))
    );
    assert_eq!(general["max_size"], 6);
    assert_eq!(general["labels"], json!({"pool": "general"}));
    assert_eq!(nodegroups["truncated"], false);
    let batch = &profiles["fargate_profiles"][0];
    assert_eq!(batch["name"], "batch");
    assert_eq!(batch["selectors"][0]["namespace"], "batch");
    assert_eq!(batch["pod_execution_role_arn"], format!("arn:aws:iam::{ACCOUNT}:role/fargate"));
    assert_eq!(tags["tags"], json!({"team": "platform"}));
    harness.assert_declared_equals_used(&[
        "eks_list_clusters",
        "eks_describe_cluster",
        "eks_list_nodegroups",
        "eks_list_fargate_profiles",
        "eks_list_tags",
    ]);

    let typed = clu_cloud::Cloud::new(&config).clusters(None).await.unwrap();
    assert!(typed.clusters.contains(&name));
}

#[tokio::test]
async fn a_view_reads_the_agents_own_cluster_unless_told_another() {
    let config = moto::sdk_config("eu-west-1").await;
    let name = moto::unique_name("own");
    seed_cluster(&config, &name).await;

    let own = Harness::with_cluster(config.clone(), &name);
    let described = own.call("eks_describe_cluster", json!({})).await;
    assert_eq!(described["name"], name.as_str());

    let unknown = Harness::new(config);
    let error = unknown.error("eks_list_nodegroups", json!({})).await;
    assert_eq!(error.code(), "invalid-input");
    assert!(error.to_string().contains("`cluster` is required"), "{error}");
}

#[tokio::test]
async fn a_missing_cluster_is_a_result_not_an_error() {
    let harness = Harness::new(moto::sdk_config("eu-west-1").await);
    let name = moto::unique_name("absent");

    // moto answers ListNodegroups of a missing cluster with a 500, so only DescribeCluster is
    // asked here; the stub tests cover a list of a missing cluster.
    let described = harness.call("eks_describe_cluster", json!({"cluster": name})).await;

    assert_eq!(described, json!({"found": false, "what": format!("EKS cluster `{name}`")}));
}

const ADMIN: &str = "arn:aws:iam::123456789012:role/admin";
const DEV: &str = "arn:aws:iam::123456789012:role/dev";

fn configuration_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"replicaCount": {"type": "integer", "minimum": 1}},
    })
}

/// EKS as its restJson1 wire format answers for cluster `prod`.
fn eks_stub(request: &RestRequest) -> RestReply {
    let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    let epoch = 1_767_225_600.0;
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["clusters", "prod", "addons"]) => {
            RestReply::ok(json!({"addons": ["vpc-cni", "coredns"]}))
        }
        ("GET", ["clusters", "prod", "addons", "vpc-cni"]) => RestReply::ok(json!({"addon": {
            "addonName": "vpc-cni", "clusterName": "prod", "status": "DEGRADED",
            "addonVersion": "v1.18.0-eksbuild.1",
            "health": {"issues": [{"code": "InsufficientNumberOfReplicas", "message": "aws-node is not ready", "resourceIds": ["aws-node"]}]},
            "addonArn": "arn:aws:eks:eu-west-1:123456789012:addon/prod/vpc-cni/1",
            "createdAt": epoch, "modifiedAt": epoch,
            "serviceAccountRoleArn": "arn:aws:iam::123456789012:role/vpc-cni",
            "configurationValues": "{\"env\":{\"WARM_IP_TARGET\":\"5\"}}",
        }})),
        ("GET", ["clusters", "prod", "addons", "coredns"]) => RestReply::ok(json!({"addon": {
            "addonName": "coredns", "clusterName": "prod", "status": "ACTIVE",
            "addonVersion": "v1.11.4-eksbuild.2", "podIdentityAssociations": ["a-9"],
        }})),
        ("GET", ["addons", "supported-versions"]) => RestReply::ok(json!({"addons": [{
            "addonName": "vpc-cni", "type": "networking", "publisher": "eks", "owner": "aws",
            "addonVersions": [
                {"addonVersion": "v1.19.2-eksbuild.1", "compatibilities": [
                    {"clusterVersion": "1.31", "platformVersions": ["*"], "defaultVersion": true},
                    {"clusterVersion": "1.30", "platformVersions": ["*"], "defaultVersion": false}],
                 "requiresConfiguration": false, "requiresIamPermissions": true},
                {"addonVersion": "v1.18.0-eksbuild.1", "compatibilities": [
                    {"clusterVersion": "1.30", "platformVersions": ["*"], "defaultVersion": true}],
                 "requiresConfiguration": false, "requiresIamPermissions": true},
            ],
        }]})),
        ("GET", ["addons", "configuration-schemas"])
            if request.query_param("addonName").as_deref() == Some("coredns") =>
        {
            RestReply::ok(json!({
                "addonName": "coredns", "addonVersion": "v1.11.4-eksbuild.2",
                "configurationSchema": configuration_schema().to_string(),
                "podIdentityConfiguration": [],
            }))
        }
        ("GET", ["addons", "configuration-schemas"]) => RestReply::JsonError(
            404,
            "ResourceNotFoundException".into(),
            "no such addon version".into(),
        ),
        ("GET", ["clusters", "prod", "access-entries"]) => {
            RestReply::ok(json!({"accessEntries": [ADMIN, DEV]}))
        }
        ("GET", ["clusters", "prod", "access-entries", principal]) => {
            RestReply::ok(json!({"accessEntry": {
                "clusterName": "prod", "principalArn": principal, "type": "STANDARD",
                "username": principal, "kubernetesGroups": if *principal == DEV { json!(["developers"]) } else { json!([]) },
                "createdAt": epoch, "modifiedAt": epoch,
            }}))
        }
        ("GET", ["clusters", "prod", "access-entries", principal, "access-policies"]) => {
            let (policy, scope) = if *principal == ADMIN {
                ("AmazonEKSClusterAdminPolicy", json!({"type": "cluster"}))
            } else {
                ("AmazonEKSEditPolicy", json!({"type": "namespace", "namespaces": ["orders"]}))
            };
            RestReply::ok(
                json!({"clusterName": "prod", "principalArn": principal, "associatedAccessPolicies": [{
                    "policyArn": format!("arn:aws:eks::aws:cluster-access-policy/{policy}"),
                    "accessScope": scope, "associatedAt": epoch, "modifiedAt": epoch,
                }]}),
            )
        }
        ("GET", ["access-policies"]) => RestReply::ok(json!({"accessPolicies": [
            {"name": "AmazonEKSAdminPolicy", "arn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy"},
            {"name": "AmazonEKSViewPolicy", "arn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"},
        ]})),
        ("POST", ["clusters", "prod", "insights"]) => RestReply::ok(json!({"insights": [{
            "id": "ins-1", "name": "Deprecated APIs removed in Kubernetes v1.32",
            "category": "UPGRADE_READINESS", "kubernetesVersion": "1.32",
            "lastRefreshTime": epoch, "description": "Checks for usage of deprecated APIs",
            "insightStatus": {"status": "ERROR", "reason": "Deprecated API usage detected"},
        }]})),
        ("GET", ["clusters", "prod", "insights", "ins-1"]) => RestReply::ok(json!({"insight": {
            "id": "ins-1", "name": "Deprecated APIs removed in Kubernetes v1.32",
            "category": "UPGRADE_READINESS", "kubernetesVersion": "1.32",
            "insightStatus": {"status": "ERROR", "reason": "Deprecated API usage detected"},
            "recommendation": "Update manifests and clients to the replacement API",
            "resources": [{"insightStatus": {"status": "ERROR"}, "kubernetesResourceUri": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas"}],
            "categorySpecificSummary": {"deprecationDetails": [{
                "usage": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas",
                "replacedWith": "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
                "stopServingVersion": "1.32", "startServingReplacementVersion": "1.29",
                "clientStats": [{"userAgent": "helm/3.14", "numberOfRequestsLast30Days": 12, "lastRequestTime": epoch}],
            }]},
        }})),
        ("GET", ["clusters", "prod", "updates"]) => RestReply::ok(json!({"updateIds": ["u-1"]})),
        ("GET", ["clusters", "prod", "updates", "u-1"]) => RestReply::ok(json!({"update": {
            "id": "u-1", "status": "Failed", "type": "VersionUpdate", "createdAt": epoch,
            "params": [{"type": "Version", "value": "1.32"}],
            "errors": [{"errorCode": "PodEvictionFailure", "errorMessage": "a PodDisruptionBudget blocks eviction", "resourceIds": ["orders/api"]}],
        }})),
        ("GET", ["clusters", "prod", "pod-identity-associations"]) => {
            RestReply::ok(json!({"associations": [{
                "clusterName": "prod", "namespace": "orders", "serviceAccount": "api",
                "associationArn": "arn:aws:eks:eu-west-1:123456789012:podidentityassociation/prod/a-1",
                "associationId": "a-1",
            }]}))
        }
        ("GET", ["clusters", "prod", "pod-identity-associations", "a-1"]) => {
            RestReply::ok(json!({"association": {
                "clusterName": "prod", "namespace": "orders", "serviceAccount": "api",
                "roleArn": "arn:aws:iam::123456789012:role/orders-api", "associationId": "a-1",
                "associationArn": "arn:aws:eks:eu-west-1:123456789012:podidentityassociation/prod/a-1",
                "createdAt": epoch,
            }}))
        }
        ("GET", ["clusters", "prod", "identity-provider-configs"]) => {
            RestReply::ok(json!({"identityProviderConfigs": [{"type": "oidc", "name": "corp"}]}))
        }
        ("POST", ["clusters", "prod", "identity-provider-configs", "describe"]) => {
            RestReply::ok(json!({
                "identityProviderConfig": {"oidc": {
                    "identityProviderConfigName": "corp", "clusterName": "prod",
                    "issuerUrl": "https://login.corp.example", "clientId": "kubernetes",
                    "usernameClaim": "email", "groupsClaim": "groups", "status": "ACTIVE",
                    "requiredClaims": {"hd": "corp.example"},
                }},
            }))
        }
        _ => RestReply::JsonError(
            404,
            "ResourceNotFoundException".into(),
            format!("no route for {}", request.path),
        ),
    }
}

#[tokio::test]
async fn addons_are_described_with_their_health_role_and_configuration() {
    let stub = RestStub::start(eks_stub).await;
    let config = stub.sdk_config().await;
    let harness = Harness::with_cluster(config.clone(), "prod");

    let view = harness.call("eks_list_addons", json!({})).await;

    let cni = &view["addons"][0];
    assert_eq!(cni["name"], "vpc-cni");
    assert_eq!(cni["status"], "DEGRADED");
    assert_eq!(cni["health_issues"][0]["code"], "InsufficientNumberOfReplicas");
    assert_eq!(cni["service_account_role_arn"], "arn:aws:iam::123456789012:role/vpc-cni");
    assert_eq!(cni["configuration_values"], json!({"env": {"WARM_IP_TARGET": "5"}}));
    assert_eq!(cni["created"], "2026-01-01T00:00:00Z");
    assert_eq!(view["addons"][1]["pod_identity_associations"], json!(["a-9"]));
    assert_eq!(view["truncated"], false);

    let bounded = harness.call("eks_list_addons", json!({"limit": 1})).await;
    assert_eq!(bounded["addons"].as_array().unwrap().len(), 1);
    assert_eq!(bounded["truncated"], true);
    harness.assert_declared_equals_used(&["eks_list_addons"]);

    let typed = clu_cloud::Cloud::new(&config).addons("prod").await.unwrap().unwrap();
    assert_eq!(typed.addons[1].version.as_deref(), Some("v1.11.4-eksbuild.2"));
    assert!(clu_cloud::Cloud::new(&config).addons("other").await.unwrap().is_none());
}

#[tokio::test]
async fn addon_versions_and_configuration_schemas_are_read() {
    let stub = RestStub::start(eks_stub).await;
    let harness = Harness::new(stub.sdk_config().await);

    let versions = harness
        .call(
            "eks_describe_addon_versions",
            json!({"addon_name": "vpc-cni", "versions_per_addon": 1}),
        )
        .await;
    let schema = harness
        .call(
            "eks_describe_addon_configuration",
            json!({"addon_name": "coredns", "addon_version": "v1.11.4-eksbuild.2"}),
        )
        .await;
    let absent = harness
        .call(
            "eks_describe_addon_configuration",
            json!({"addon_name": "nothing", "addon_version": "v0"}),
        )
        .await;

    let cni = &versions["addons"][0];
    assert_eq!(cni["versions"].as_array().unwrap().len(), 1);
    assert_eq!(cni["versions_truncated"], true);
    assert_eq!(
        cni["versions"][0],
        json!({
            "version": "v1.19.2-eksbuild.1",
            "cluster_versions": ["1.31", "1.30"],
            "default_for": ["1.31"],
            "requires_configuration": false,
            "requires_iam_permissions": true,
        })
    );
    assert_eq!(schema["configuration_schema"], configuration_schema());
    assert_eq!(absent["found"], false);
    let request =
        stub.requests().into_iter().find(|r| r.path == "/addons/supported-versions").unwrap();
    assert_eq!(request.query_param("addonName").as_deref(), Some("vpc-cni"));
    harness.assert_declared_equals_used(&[
        "eks_describe_addon_versions",
        "eks_describe_addon_configuration",
    ]);
}

#[tokio::test]
async fn access_entries_come_with_their_access_policies_and_scopes() {
    let stub = RestStub::start(eks_stub).await;
    let harness = Harness::new(stub.sdk_config().await);

    let entries = harness.call("eks_list_access_entries", json!({"cluster": "prod"})).await;
    let one = harness
        .call("eks_list_access_entries", json!({"cluster": "prod", "principal_arn": DEV}))
        .await;
    let policies = harness.call("eks_list_access_policies", json!({})).await;

    let admin = &entries["access_entries"][0];
    assert_eq!(admin["principal_arn"], ADMIN);
    assert_eq!(admin["access_policies"][0]["scope"], "cluster");
    let dev = &one["access_entries"];
    assert_eq!(dev.as_array().unwrap().len(), 1);
    assert_eq!(dev[0]["kubernetes_groups"], json!(["developers"]));
    assert_eq!(
        dev[0]["access_policies"][0],
        json!({
            "policy_arn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
            "scope": "namespace",
            "namespaces": ["orders"],
            "associated": "2026-01-01T00:00:00Z",
        })
    );
    assert_eq!(policies["access_policies"][1]["name"], "AmazonEKSViewPolicy");
    // The principal ARN travels as one path segment.
    assert!(stub.requests().iter().any(|r| r.segments.last().map(String::as_str) == Some(DEV)));
    harness.assert_declared_equals_used(&["eks_list_access_entries", "eks_list_access_policies"]);
}

#[tokio::test]
async fn insights_are_listed_and_one_is_described_with_its_deprecations() {
    let stub = RestStub::start(eks_stub).await;
    let harness = Harness::with_cluster(stub.sdk_config().await, "prod");

    let listed = harness
        .call("eks_insights", json!({"category": "UPGRADE_READINESS", "statuses": ["ERROR"]}))
        .await;
    let described = harness.call("eks_insights", json!({"insight_id": "ins-1"})).await;
    let absent = harness.call("eks_insights", json!({"insight_id": "ins-404"})).await;

    assert_eq!(
        listed["insights"][0]["status"],
        json!({"status": "ERROR", "reason": "Deprecated API usage detected"})
    );
    let filter = stub.requests().into_iter().find(|r| r.method == "POST").unwrap().json();
    assert_eq!(
        filter["filter"],
        json!({"categories": ["UPGRADE_READINESS"], "statuses": ["ERROR"]})
    );
    assert_eq!(described["recommendation"], "Update manifests and clients to the replacement API");
    assert_eq!(
        described["deprecations"][0]["replaced_with"],
        "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"
    );
    assert_eq!(described["deprecations"][0]["clients"][0]["requests_last_30_days"], 12);
    assert_eq!(absent["found"], false);
    harness.assert_declared_equals_used(&["eks_insights"]);
}

#[tokio::test]
async fn updates_pod_identity_and_identity_providers_are_described() {
    let stub = RestStub::start(eks_stub).await;
    let harness = Harness::with_cluster(stub.sdk_config().await, "prod");

    let updates = harness.call("eks_updates", json!({})).await;
    let one = harness.call("eks_updates", json!({"update_id": "u-1"})).await;
    let associations =
        harness.call("eks_list_pod_identity_associations", json!({"namespace": "orders"})).await;
    let providers = harness.call("eks_list_identity_provider_configs", json!({})).await;

    assert_eq!(updates["updates"][0], one);
    assert_eq!(one["status"], "Failed");
    assert_eq!(one["params"], json!([{"type": "Version", "value": "1.32"}]));
    assert_eq!(one["errors"][0]["code"], "PodEvictionFailure");
    let association = &associations["associations"][0];
    assert_eq!(association["role_arn"], "arn:aws:iam::123456789012:role/orders-api");
    assert_eq!(
        (association["namespace"].clone(), association["service_account"].clone()),
        (json!("orders"), json!("api"))
    );
    let request = stub
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("pod-identity-associations"))
        .unwrap();
    assert_eq!(request.query_param("namespace").as_deref(), Some("orders"));
    let corp = &providers["identity_provider_configs"][0];
    assert_eq!(corp["issuer_url"], "https://login.corp.example");
    assert_eq!(corp["required_claims"], json!({"hd": "corp.example"}));
    assert_eq!(corp["type"], "oidc");
    harness.assert_declared_equals_used(&[
        "eks_updates",
        "eks_list_pod_identity_associations",
        "eks_list_identity_provider_configs",
    ]);
}

#[tokio::test]
async fn access_denied_names_the_eks_action_and_the_declared_cluster() {
    let stub = RestStub::start(|_| {
        RestReply::JsonError(403, "AccessDeniedException".into(), "not authorized".into())
    })
    .await;
    let harness = Harness::new(stub.sdk_config().await);

    let error = harness.error("eks_list_addons", json!({"cluster": "prod"})).await;

    assert_eq!(error.code(), "iam-access-denied");
    assert_eq!(
        error.to_string(),
        "tool `eks_list_addons` needs `eks:ListAddons` on `arn:aws:eks:*:*:cluster/*`: not authorized"
    );
}
