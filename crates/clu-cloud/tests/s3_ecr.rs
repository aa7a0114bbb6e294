//! S3 and ECR views against moto, with a bucket that has no encryption or policy, and a stub
//! S3 that refuses one sub-read, to show the failure reported in place. (moto 5.2.5 answers
//! GetBucketVersioning with a root element the SDK rejects, so versioning is checked against the
//! stub only.)

mod aws_support;

use aws_support::Harness;
use clu_testkit::moto;
use clu_testkit::reststub::{RestReply, RestStub};
use serde_json::{Value, json};

fn s3(config: &aws_types::SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config).force_path_style(true).build();
    aws_sdk_s3::Client::from_conf(conf)
}

async fn create_bucket(client: &aws_sdk_s3::Client, name: &str) {
    client
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_protected_bucket_and_a_bare_bucket_are_told_apart() {
    let config = moto::sdk_config("eu-west-1").await;
    let client = s3(&config);
    let prefix = moto::unique_name("bucket");
    let protected = format!("{prefix}-protected");
    let bare = format!("{prefix}-bare");
    create_bucket(&client, &protected).await;
    create_bucket(&client, &bare).await;
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecure", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [format!("arn:aws:s3:::{protected}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    }]});
    client.put_bucket_policy().bucket(&protected).policy(policy.to_string()).send().await.unwrap();
    client
        .put_bucket_encryption()
        .bucket(&protected)
        .server_side_encryption_configuration(
            aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder()
                .rules(
                    aws_sdk_s3::types::ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                                .kms_master_key_id("alias/orders")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    client
        .put_bucket_tagging()
        .bucket(&protected)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder().key("team").value("orders").build().unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let harness = Harness::new(config.clone());

    let listed = harness.call("s3_list_buckets", json!({"name_contains": prefix})).await;
    let good = harness.call("s3_describe_bucket", json!({"bucket": protected})).await;
    let weak = harness.call("s3_describe_bucket", json!({"bucket": bare})).await;

    let mut names: Vec<&str> =
        listed["buckets"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, [bare.as_str(), protected.as_str()]);
    assert_eq!(good["region"], "eu-west-1");
    assert_eq!(good["tags"], json!({"team": "orders"}));
    assert_eq!(good["policy"]["document"], policy);
    assert_eq!(
        good["policy"]["explanation"][0],
        format!(
            "Deny anyone to s3:* on arn:aws:s3:::{protected}/* when Bool `aws:SecureTransport` \
             is false"
        )
    );
    assert_eq!(
        good["encryption"],
        json!([{"algorithm": "aws:kms", "kms_key": "alias/orders", "bucket_key": false}])
    );
    assert_eq!(weak["policy"], Value::Null);
    assert_eq!(weak["tags"], Value::Null);
    assert_eq!(weak["encryption"], Value::Null, "{weak:#}");
    let findings = weak["findings"].to_string();
    assert!(findings.contains("no default encryption"), "{findings}");
    harness.assert_declared_equals_used(&["s3_list_buckets", "s3_describe_bucket"]);

    let typed = clu_cloud::Cloud::new(&config).buckets(None).await.unwrap();
    assert!(typed.buckets.iter().any(|b| b.name == protected));
}

#[tokio::test]
async fn a_missing_bucket_is_a_result_not_an_error() {
    let harness = Harness::new(moto::sdk_config("eu-west-1").await);
    let name = moto::unique_name("nowhere");

    let view = harness.call("s3_describe_bucket", json!({"bucket": name})).await;

    assert_eq!(view, json!({"found": false, "what": format!("S3 bucket `{name}`")}));
}

#[tokio::test]
async fn a_refused_sub_read_is_reported_in_place() {
    let stub = RestStub::start(|request| match request.query.split('=').next().unwrap_or_default() {
        "location" => RestReply::xml(
            r#"<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>"#,
        ),
        "policy" => RestReply::Xml(
            403,
            "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>".into(),
        ),
        "versioning" => RestReply::xml(
            r#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#,
        ),
        other => RestReply::Xml(
            404,
            format!("<Error><Code>NoSuch{other}</Code><Message>none</Message></Error>"),
        ),
    })
    .await;
    let harness = Harness::new(stub.sdk_config().await);

    let view = harness.call("s3_describe_bucket", json!({"bucket": "orders"})).await;

    assert_eq!(
        view["policy"],
        json!({
            "error": "tool `s3_describe_bucket` needs `s3:GetBucketPolicy` on `arn:aws:s3:::*`: \
                      Access Denied",
            "code": "iam-access-denied",
        })
    );
    assert_eq!(view["region"], "eu-west-1");
    assert_eq!(view["tags"], Value::Null);
    assert_eq!(view["versioning"]["status"], "Disabled");
    // Path-style addressing under an endpoint override: the bucket is the first segment.
    assert!(stub.requests().iter().all(|r| r.segments[0] == "orders"), "{:?}", stub.requests());
}

#[tokio::test]
async fn ecr_repositories_images_and_policies_are_read() {
    let config = moto::sdk_config("eu-west-1").await;
    let ecr = aws_sdk_ecr::Client::new(&config);
    let repository = moto::unique_name("orders-api");
    let open = moto::unique_name("open");
    for name in [&repository, &open] {
        ecr.create_repository()
            .repository_name(name)
            .image_scanning_configuration(
                aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                    .scan_on_push(true)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                   "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                    "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f"}]
    });
    ecr.put_image()
        .repository_name(&repository)
        .image_manifest(manifest.to_string())
        .image_tag("v1.4.2")
        .send()
        .await
        .unwrap();
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "NodesPull", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:role/eks-node"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    }]});
    ecr.set_repository_policy()
        .repository_name(&repository)
        .policy_text(policy.to_string())
        .send()
        .await
        .unwrap();
    let harness = Harness::new(config);

    let repositories =
        harness.call("ecr_describe_repositories", json!({"names": [repository, open]})).await;
    let images = harness.call("ecr_list_images", json!({"repository": repository})).await;
    let missing_tag = harness
        .call("ecr_list_images", json!({"repository": repository, "tags": ["v9.9.9"]}))
        .await;
    let with_policy =
        harness.call("ecr_get_repository_policy", json!({"repository": repository})).await;
    let without = harness.call("ecr_get_repository_policy", json!({"repository": open})).await;

    let first = &repositories["repositories"][0];
    assert_eq!(first["name"], repository.as_str());
    assert_eq!(first["scan_on_push"], true);
    assert!(first["uri"].as_str().unwrap().ends_with(&repository));
    let image = &images["images"][0];
    assert_eq!(image["tags"], json!(["v1.4.2"]));
    assert!(image["digest"].as_str().unwrap().starts_with("sha256:"), "{image:#}");
    assert!(image["pushed"].is_string());
    assert_eq!(missing_tag["found"], false, "{missing_tag:#}");
    assert!(missing_tag["what"].as_str().unwrap().contains("v9.9.9"));
    assert_eq!(with_policy["policy"]["document"], policy);
    assert_eq!(
        with_policy["policy"]["explanation"],
        json!(["Allow AWS `arn:aws:iam::123456789012:role/eks-node` to ecr:BatchGetImage, \
             ecr:GetDownloadUrlForLayer"])
    );
    assert_eq!(without["policy"], Value::Null);
    harness.assert_declared_equals_used(&[
        "ecr_describe_repositories",
        "ecr_list_images",
        "ecr_get_repository_policy",
    ]);

    let gone = harness
        .call("ecr_get_repository_policy", json!({"repository": moto::unique_name("gone")}))
        .await;
    assert_eq!(gone["found"], false);
}
