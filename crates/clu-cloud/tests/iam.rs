//! IAM views against moto (roles, trust and permission policies, OIDC providers, EKS issuers)
//! and against an awsQuery stub for the policy simulator, which moto lacks. The fixtures hold
//! the faults the views exist to find: a trust naming the wrong service account, a cluster
//! issuer without an OIDC provider.

mod aws_support;

use aws_support::Harness;
use clu_testkit::moto;
use clu_testkit::reststub::{RestReply, RestStub};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";

fn irsa_trust(issuer_host: &str, operator: &str, subject: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "Irsa",
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer_host}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {operator: {
                format!("{issuer_host}:sub"): subject,
                format!("{issuer_host}:aud"): "sts.amazonaws.com",
            }}
        }]
    })
    .to_string()
}

async fn create_role(iam: &aws_sdk_iam::Client, name: &str, path: &str, trust: &str) {
    iam.create_role()
        .role_name(name)
        .path(path)
        .assume_role_policy_document(trust)
        .description("role of a test")
        .send()
        .await
        .unwrap();
}

fn role<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no role `{name}` in {view:#}"))
}

#[tokio::test]
async fn roles_show_the_service_accounts_their_trust_admits() {
    let config = moto::sdk_config("eu-west-1").await;
    let iam = aws_sdk_iam::Client::new(&config);
    let prefix = moto::unique_name("irsa");
    let host = format!("oidc.eks.eu-west-1.amazonaws.com/id/{}", prefix.to_uppercase());
    let wrong = format!("{prefix}-orders");
    let wildcard = format!("{prefix}-wide");
    let pod_identity = format!("{prefix}-pods");
    // The deployment runs as `orders/orders-api`, but the trust still names the old account.
    let trust = irsa_trust(&host, "StringEquals", "system:serviceaccount:orders:orders-api-old");
    create_role(&iam, &wrong, "/eks/", &trust).await;
    let trust = irsa_trust(&host, "StringLike", "system:serviceaccount:orders:*");
    create_role(&iam, &wildcard, "/", &trust).await;
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"]
    }]});
    create_role(&iam, &pod_identity, "/", &trust.to_string()).await;
    let harness_config = config.clone();
    let harness = Harness::new(config);

    let view = harness.call("iam_list_roles", json!({"name_contains": prefix})).await;

    assert_eq!(view["truncated"], false);
    assert_eq!(view["roles"].as_array().unwrap().len(), 3, "{view:#}");
    let orders = role(&view, &wrong);
    assert_eq!(orders["path"], "/eks/");
    assert_eq!(orders["arn"], format!("arn:aws:iam::{ACCOUNT}:role/eks/{wrong}"));
    assert_eq!(orders["pod_identity"], false);
    let irsa = &orders["irsa"][0];
    assert_eq!(irsa["issuer"], host.as_str());
    assert_eq!(irsa["audiences"], json!(["sts.amazonaws.com"]));
    assert_eq!(
        irsa["subjects"],
        json!([{
            "subject": "system:serviceaccount:orders:orders-api-old",
            "namespace": "orders",
            "service_account": "orders-api-old",
            "operator": "StringEquals",
            "wildcard": false,
        }])
    );
    assert_eq!(irsa["findings"], json!([]));

    let wide = role(&view, &wildcard);
    assert_eq!(wide["irsa"][0]["subjects"][0]["service_account"], "*");
    assert_eq!(wide["irsa"][0]["subjects"][0]["wildcard"], true);
    let findings = wide["irsa"][0]["findings"].to_string();
    assert!(findings.contains("wildcard"), "{findings}");

    let pods = role(&view, &pod_identity);
    assert_eq!(pods["pod_identity"], true);
    assert_eq!(pods["irsa"], json!([]));

    let only_pods = harness
        .call("iam_list_roles", json!({"name_contains": prefix, "pods_only": true, "limit": 2}))
        .await;
    assert_eq!(only_pods["roles"].as_array().unwrap().len(), 2);
    assert_eq!(only_pods["truncated"], true);
    harness.assert_declared_equals_used(&["iam_list_roles"]);

    let typed = clu_cloud::Cloud::new(&harness_config).roles(Some(1000)).await.unwrap();
    let orders = typed.roles.iter().find(|r| r.name == wrong).unwrap();
    assert_eq!(orders.irsa[0].subjects[0].service_account.as_deref(), Some("orders-api-old"));
}

#[tokio::test]
async fn a_trust_whose_condition_names_another_issuer_is_a_finding() {
    let config = moto::sdk_config("eu-west-1").await;
    let iam = aws_sdk_iam::Client::new(&config);
    let name = moto::unique_name("copied-trust");
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/NEW")},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            "oidc.eks.eu-west-1.amazonaws.com/id/OLD:sub": "system:serviceaccount:web:web",
            "oidc.eks.eu-west-1.amazonaws.com/id/OLD:aud": "sts.amazonaws.com"
        }}
    }]});
    create_role(&iam, &name, "/", &trust.to_string()).await;
    let harness = Harness::new(config);

    let view = harness.call("iam_list_roles", json!({"name_contains": name})).await;

    let findings = role(&view, &name)["irsa"][0]["findings"].as_array().unwrap().clone();
    assert_eq!(findings.len(), 2, "{findings:#?}");
    assert!(
        findings[0]
            .as_str()
            .unwrap()
            .contains("names issuer `oidc.eks.eu-west-1.amazonaws.com/id/OLD`")
    );
}

#[tokio::test]
async fn one_role_has_its_trust_explained_and_every_policy_decoded() {
    let config = moto::sdk_config("eu-west-1").await;
    let iam = aws_sdk_iam::Client::new(&config);
    let name = moto::unique_name("orders-api");
    let host = "oidc.eks.eu-west-1.amazonaws.com/id/ORDERS";
    create_role(
        &iam,
        &name,
        "/",
        &irsa_trust(host, "StringEquals", "system:serviceaccount:orders:api"),
    )
    .await;
    let inline = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "ReadOrders", "Effect": "Allow", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::orders/*"
    }]});
    iam.put_role_policy()
        .role_name(&name)
        .policy_name("read-orders")
        .policy_document(inline.to_string())
        .send()
        .await
        .unwrap();
    let managed = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:ReceiveMessage"],
        "Resource": "arn:aws:sqs:eu-west-1:123456789012:orders"
    }]});
    let policy = iam
        .create_policy()
        .policy_name(moto::unique_name("orders-queue"))
        .policy_document(managed.to_string())
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    let policy_arn = policy.arn.unwrap();
    iam.attach_role_policy().role_name(&name).policy_arn(&policy_arn).send().await.unwrap();
    let harness = Harness::new(config.clone());

    let arn = format!("arn:aws:iam::{ACCOUNT}:role/{name}");
    let view = harness.call("iam_get_role", json!({"role": arn})).await;

    assert_eq!(view["name"], name.as_str());
    assert_eq!(view["trust"]["document"]["Statement"][0]["Sid"], "Irsa");
    let explanation = view["trust"]["explanation"][0].as_str().unwrap();
    assert!(
        explanation.starts_with(&format!(
            "Allow Federated `arn:aws:iam::{ACCOUNT}:oidc-provider/{host}` to \
         sts:AssumeRoleWithWebIdentity when StringEquals"
        )),
        "{explanation}"
    );
    assert!(explanation.contains("system:serviceaccount:orders:api"), "{explanation}");
    assert_eq!(view["trust"]["irsa"][0]["subjects"][0]["service_account"], "api");
    assert_eq!(view["trust"]["findings"], json!([]));
    assert_eq!(view["inline_policies"][0]["name"], "read-orders");
    assert_eq!(view["inline_policies"][0]["document"], inline);
    assert_eq!(
        view["inline_policies"][0]["explanation"],
        json!(["Allow the role's sessions to s3:GetObject on arn:aws:s3:::orders/*"])
    );
    assert_eq!(view["attached_policies"][0]["arn"], policy_arn.as_str());
    assert_eq!(view["attached_policies"][0]["default_version"], "v1");
    assert_eq!(view["attached_policies"][0]["document"], managed);
    assert_eq!(view["truncated"], false);
    harness.assert_declared_equals_used(&["iam_get_role"]);

    let cloud = clu_cloud::Cloud::new(&config);
    let typed = cloud.role(&name).await.unwrap().unwrap();
    assert_eq!(typed.inline_policies.len(), 1);
    assert_eq!(typed.trust.irsa[0].subjects[0].namespace.as_deref(), Some("orders"));
    assert!(cloud.role(&moto::unique_name("absent")).await.unwrap().is_none());
}

#[tokio::test]
async fn a_missing_role_is_a_result_not_an_error() {
    let harness = Harness::new(moto::sdk_config("eu-west-1").await);
    let name = moto::unique_name("nobody");

    let view = harness.call("iam_get_role", json!({"role": name})).await;

    assert_eq!(view, json!({"found": false, "what": format!("IAM role `{name}`")}));
}

async fn create_cluster(config: &aws_types::SdkConfig, name: &str) -> String {
    let eks = aws_sdk_eks::Client::new(config);
    let cluster = eks
        .create_cluster()
        .name(name)
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/eks"))
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder().subnet_ids("subnet-1").build(),
        )
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    cluster.identity.unwrap().oidc.unwrap().issuer.unwrap()
}

// moto gives every cluster of a region the same issuer, and IAM is global, so the cluster
// without a provider lives in a region no test creates a provider for.
#[tokio::test]
async fn a_cluster_issuer_without_an_oidc_provider_is_found() {
    let bare_config = moto::sdk_config("sa-east-1").await;
    let bare = moto::unique_name("bare");
    let bare_issuer = create_cluster(&bare_config, &bare).await;
    // Some other cluster's provider exists, so the view reads one and finds it is not the one:
    // whichever test of this moto server runs first, the account is never empty here.
    let other =
        format!("https://oidc.eks.sa-east-1.amazonaws.com/id/{}", moto::unique_name("other"));
    aws_sdk_iam::Client::new(&bare_config)
        .create_open_id_connect_provider()
        .url(&other)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
        .send()
        .await
        .unwrap();
    let harness = Harness::new(bare_config.clone());

    let view = harness.call("iam_list_oidc_providers", json!({"cluster": bare})).await;

    let check = &view["cluster"];
    assert_eq!(check["found"], true);
    assert_eq!(check["issuer"], bare_issuer.as_str());
    assert_eq!(check["has_provider"], false);
    assert_eq!(check["provider_arn"], Value::Null);
    assert!(check["finding"].as_str().unwrap().contains("has no IAM OIDC provider"), "{check:#}");
    harness.assert_declared_equals_used(&["iam_list_oidc_providers"]);

    let typed = clu_cloud::Cloud::new(&bare_config).oidc_check(Some(&bare)).await.unwrap();
    assert!(!typed.cluster.unwrap().has_provider);
}

#[tokio::test]
async fn a_cluster_issuer_with_its_oidc_provider_is_matched() {
    let config = moto::sdk_config("eu-west-1").await;
    let wired = moto::unique_name("wired");
    let issuer = create_cluster(&config, &wired).await;
    let host = issuer.trim_start_matches("https://").to_owned();
    let provider_arn = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}");
    let created = aws_sdk_iam::Client::new(&config)
        .create_open_id_connect_provider()
        .url(&issuer)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
        .send()
        .await;
    // Another test of this moto server may have made the region's provider already.
    if let Err(error) = created {
        let code =
            aws_sdk_iam::error::ProvideErrorMetadata::code(&error).unwrap_or_default().to_owned();
        assert_eq!(code, "EntityAlreadyExists", "{error:?}");
    }
    let harness = Harness::new(config);

    let view = harness.call("iam_list_oidc_providers", json!({"cluster": wired})).await;
    let missing = harness
        .call("iam_list_oidc_providers", json!({"cluster": moto::unique_name("gone")}))
        .await;

    let check = &view["cluster"];
    assert_eq!(check["has_provider"], true, "{view:#}");
    assert_eq!(check["provider_arn"], provider_arn.as_str());
    assert_eq!(check["finding"], Value::Null);
    let provider =
        view["providers"].as_array().unwrap().iter().find(|p| p["arn"] == provider_arn.as_str());
    let provider = provider.unwrap_or_else(|| panic!("no provider {provider_arn} in {view:#}"));
    assert_eq!(provider["client_ids"], json!(["sts.amazonaws.com"]));
    assert_eq!(provider["issuer"], host.as_str());
    assert_eq!(missing["cluster"]["found"], false);
    assert!(missing["cluster"]["finding"].as_str().unwrap().contains("no EKS cluster named"));
}

const GET_ROLE_XML: &str = r#"<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <GetRoleResult><Role>
    <Path>/agents/</Path>
    <Arn>arn:aws:iam::123456789012:role/agents/clu-ops-agent</Arn>
    <RoleName>clu-ops-agent</RoleName>
    <RoleId>AROAEXAMPLEID</RoleId>
    <CreateDate>2026-01-01T00:00:00Z</CreateDate>
    <AssumeRolePolicyDocument>%7B%7D</AssumeRolePolicyDocument>
  </Role></GetRoleResult>
  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>
</GetRoleResponse>"#;

const SIMULATE_XML: &str = r#"<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <SimulatePrincipalPolicyResult>
    <IsTruncated>false</IsTruncated>
    <EvaluationResults>
      <member>
        <EvalActionName>eks:DescribeCluster</EvalActionName>
        <EvalResourceName>*</EvalResourceName>
        <EvalDecision>allowed</EvalDecision>
        <MatchedStatements>
          <member>
            <SourcePolicyId>clu-cloud</SourcePolicyId>
            <SourcePolicyType>role</SourcePolicyType>
            <StartPosition><Line>3</Line><Column>5</Column></StartPosition>
            <EndPosition><Line>9</Line><Column>6</Column></EndPosition>
          </member>
        </MatchedStatements>
        <MissingContextValues/>
      </member>
      <member>
        <EvalActionName>s3:GetObject</EvalActionName>
        <EvalResourceName>*</EvalResourceName>
        <EvalDecision>implicitDeny</EvalDecision>
        <MatchedStatements/>
        <MissingContextValues/>
        <ResourceSpecificResults>
          <member>
            <EvalResourceName>arn:aws:s3:::orders/a</EvalResourceName>
            <EvalResourceDecision>implicitDeny</EvalResourceDecision>
            <MatchedStatements/>
            <MissingContextValues/>
          </member>
          <member>
            <EvalResourceName>arn:aws:s3:::reports/b</EvalResourceName>
            <EvalResourceDecision>explicitDeny</EvalResourceDecision>
            <MatchedStatements>
              <member><SourcePolicyId>deny-reports</SourcePolicyId><SourcePolicyType>role</SourcePolicyType></member>
            </MatchedStatements>
            <MissingContextValues><member>aws:SourceVpce</member></MissingContextValues>
          </member>
        </ResourceSpecificResults>
      </member>
    </EvaluationResults>
  </SimulatePrincipalPolicyResult>
  <ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata>
</SimulatePrincipalPolicyResponse>"#;

async fn simulator_stub() -> RestStub {
    RestStub::start(|request| match request.action().as_deref() {
        Some("GetRole") if request.form("RoleName").as_deref() == Some("clu-ops-agent") => {
            RestReply::xml(GET_ROLE_XML)
        }
        Some("GetRole") => RestReply::XmlError(404, "NoSuchEntity".into(), "no such role".into()),
        Some("SimulatePrincipalPolicy") => RestReply::xml(SIMULATE_XML),
        other => RestReply::XmlError(400, "InvalidAction".into(), format!("{other:?}")),
    })
    .await
}

#[tokio::test]
async fn the_simulator_resolves_an_assumed_role_and_reports_each_decision() {
    let stub = simulator_stub().await;
    let harness = Harness::new(stub.sdk_config().await);
    let session = format!("arn:aws:sts::{ACCOUNT}:assumed-role/clu-ops-agent/botocore-session-1");

    let view = harness
        .call(
            "iam_simulate_principal_policy",
            json!({
                "principal_arn": session,
                "actions": ["eks:DescribeCluster", "s3:GetObject"],
                "resources": ["arn:aws:s3:::orders/a", "arn:aws:s3:::reports/b"],
            }),
        )
        .await;

    assert_eq!(
        view,
        json!({
            "principal_arn": "arn:aws:iam::123456789012:role/agents/clu-ops-agent",
            "results": [
                {"action": "eks:DescribeCluster", "resource": "*", "decision": "allowed",
                 "matched_statements": [{"policy": "clu-cloud", "type": "role", "start_line": 3, "end_line": 9}]},
                {"action": "s3:GetObject", "resource": "arn:aws:s3:::orders/a", "decision": "implicitDeny",
                 "matched_statements": []},
                {"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/b", "decision": "explicitDeny",
                 "matched_statements": [{"policy": "deny-reports", "type": "role", "start_line": null, "end_line": null}],
                 "missing_context_values": ["aws:SourceVpce"]},
            ],
            "truncated": false,
        })
    );
    let requests = stub.requests();
    assert_eq!(requests[0].form("RoleName").as_deref(), Some("clu-ops-agent"));
    let simulate = &requests[1];
    assert_eq!(
        simulate.form("PolicySourceArn").as_deref(),
        Some("arn:aws:iam::123456789012:role/agents/clu-ops-agent")
    );
    assert_eq!(simulate.form_list("ActionNames"), ["eks:DescribeCluster", "s3:GetObject"]);
    assert_eq!(
        simulate.form_list("ResourceArns"),
        ["arn:aws:s3:::orders/a", "arn:aws:s3:::reports/b"]
    );
    harness.assert_declared_equals_used(&["iam_simulate_principal_policy"]);
}

#[tokio::test]
async fn the_simulator_takes_a_role_arn_as_it_is_and_bounds_the_results() {
    let stub = simulator_stub().await;
    let harness = Harness::new(stub.sdk_config().await);

    let view = harness
        .call(
            "iam_simulate_principal_policy",
            json!({
                "principal_arn": "arn:aws:iam::123456789012:role/other",
                "actions": ["eks:DescribeCluster", "s3:GetObject"],
                "limit": 2,
            }),
        )
        .await;

    assert_eq!(view["principal_arn"], "arn:aws:iam::123456789012:role/other");
    assert_eq!(view["results"].as_array().unwrap().len(), 2);
    assert_eq!(view["truncated"], true);
    let actions: Vec<String> = stub.requests().iter().filter_map(|r| r.action()).collect();
    assert_eq!(actions, ["SimulatePrincipalPolicy"]);
}

#[tokio::test]
async fn the_simulator_refuses_what_is_not_a_principal_and_reports_a_missing_role() {
    let stub = simulator_stub().await;
    let harness = Harness::new(stub.sdk_config().await);

    let error = harness
        .error(
            "iam_simulate_principal_policy",
            json!({"principal_arn": "arn:aws:s3:::not-a-principal", "actions": ["s3:GetObject"]}),
        )
        .await;
    assert_eq!(error.code(), "invalid-input");
    assert!(error.to_string().contains("`principal_arn`"), "{error}");

    let error = harness
        .error(
            "iam_simulate_principal_policy",
            json!({"principal_arn": "arn:aws:iam::1:role/x", "actions": ["not an action"]}),
        )
        .await;
    assert_eq!(error.code(), "invalid-input");
    assert!(error.to_string().contains("`not an action`"), "{error}");
    assert!(stub.requests().is_empty());

    let view = harness
        .call(
            "iam_simulate_principal_policy",
            json!({
                "principal_arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/gone/s"),
                "actions": ["s3:GetObject"],
            }),
        )
        .await;
    assert_eq!(view["found"], false);
}

#[tokio::test]
async fn access_denied_names_the_iam_action_and_resource() {
    let stub = RestStub::start(|_| {
        RestReply::XmlError(
            403,
            "AccessDenied".into(),
            "User is not authorized to perform: iam:SimulatePrincipalPolicy".into(),
        )
    })
    .await;
    let harness = Harness::new(stub.sdk_config().await);

    let error = harness
        .error(
            "iam_simulate_principal_policy",
            json!({"principal_arn": "arn:aws:iam::123456789012:role/x", "actions": ["s3:GetObject"]}),
        )
        .await;

    assert_eq!(error.code(), "iam-access-denied");
    assert_eq!(
        error.to_string(),
        "tool `iam_simulate_principal_policy` needs `iam:SimulatePrincipalPolicy` on \
         `arn:aws:iam::*:role/*`, `arn:aws:iam::*:user/*`: User is not authorized to perform: \
         iam:SimulatePrincipalPolicy"
    );
}
