//! Which IAM actions authorize an AWS SDK operation.
//!
//! An SDK interceptor sees each call's operation name (`StartQuery`) and the SDK's service id
//! (`CloudWatch Logs`), the `sdkId` of the service's Smithy model. Most operations are authorized
//! by the action `<IAM prefix>:<operation name>`; the exceptions, such as S3's `ListBuckets`
//! needing `s3:ListAllMyBuckets`, are listed here. Every action returned is one the catalogue
//! knows, in the catalogue's spelling, so an operation the rule gets wrong is reported as
//! unmapped instead of being guessed.

use crate::{Action, Catalog};

/// Each SDK service id this map knows, with the IAM prefix of its actions.
const SERVICES: &[(&str, &str)] = &[
    ("Auto Scaling", "autoscaling"),
    ("Bedrock", "bedrock"),
    ("Bedrock Runtime", "bedrock"),
    ("CloudFormation", "cloudformation"),
    ("CloudTrail", "cloudtrail"),
    ("CloudWatch", "cloudwatch"),
    ("CloudWatch Logs", "logs"),
    ("Cost Explorer", "ce"),
    ("DynamoDB", "dynamodb"),
    ("EC2", "ec2"),
    ("ECR", "ecr"),
    ("EFS", "elasticfilesystem"),
    ("EKS", "eks"),
    ("ElastiCache", "elasticache"),
    ("Elastic Load Balancing", "elasticloadbalancing"),
    ("Elastic Load Balancing v2", "elasticloadbalancing"),
    ("IAM", "iam"),
    ("KMS", "kms"),
    ("Lambda", "lambda"),
    ("Marketplace Entitlement Service", "aws-marketplace"),
    ("Marketplace Metering", "aws-marketplace"),
    ("Organizations", "organizations"),
    ("Pricing", "pricing"),
    ("RDS", "rds"),
    ("Resource Groups Tagging API", "tag"),
    ("Route 53", "route53"),
    ("S3", "s3"),
    ("SNS", "sns"),
    ("SQS", "sqs"),
    ("SSM", "ssm"),
    ("STS", "sts"),
    ("Secrets Manager", "secretsmanager"),
    ("Service Quotas", "servicequotas"),
];

/// Operations not authorized by `<prefix>:<operation>`: service id, operation, and the actions
/// the call needs, all of them.
const EXCEPTIONS: &[(&str, &str, &[&str])] = &[
    ("Bedrock Runtime", "Converse", &["bedrock:InvokeModel"]),
    ("Bedrock Runtime", "ConverseStream", &["bedrock:InvokeModelWithResponseStream"]),
    ("Bedrock Runtime", "StartAsyncInvoke", &["bedrock:InvokeModel"]),
    ("Lambda", "Invoke", &["lambda:InvokeFunction"]),
    ("Lambda", "InvokeWithResponseStream", &["lambda:InvokeFunction"]),
    // S3 names many permissions after the older REST API rather than the operation, and lets
    // one permission cover reading and deleting a configuration, or several upload steps.
    ("S3", "CompleteMultipartUpload", &["s3:PutObject"]),
    ("S3", "CopyObject", &["s3:GetObject", "s3:PutObject"]),
    ("S3", "CreateMultipartUpload", &["s3:PutObject"]),
    ("S3", "DeleteBucketAnalyticsConfiguration", &["s3:PutAnalyticsConfiguration"]),
    ("S3", "DeleteBucketCors", &["s3:PutBucketCORS"]),
    ("S3", "DeleteBucketEncryption", &["s3:PutEncryptionConfiguration"]),
    (
        "S3",
        "DeleteBucketIntelligentTieringConfiguration",
        &["s3:PutIntelligentTieringConfiguration"],
    ),
    ("S3", "DeleteBucketInventoryConfiguration", &["s3:PutInventoryConfiguration"]),
    ("S3", "DeleteBucketLifecycle", &["s3:PutLifecycleConfiguration"]),
    ("S3", "DeleteBucketMetricsConfiguration", &["s3:PutMetricsConfiguration"]),
    ("S3", "DeleteBucketOwnershipControls", &["s3:PutBucketOwnershipControls"]),
    ("S3", "DeleteBucketReplication", &["s3:PutReplicationConfiguration"]),
    ("S3", "DeleteBucketTagging", &["s3:PutBucketTagging"]),
    ("S3", "DeleteObjects", &["s3:DeleteObject"]),
    ("S3", "DeletePublicAccessBlock", &["s3:PutBucketPublicAccessBlock"]),
    ("S3", "GetBucketAccelerateConfiguration", &["s3:GetAccelerateConfiguration"]),
    ("S3", "GetBucketAnalyticsConfiguration", &["s3:GetAnalyticsConfiguration"]),
    ("S3", "GetBucketEncryption", &["s3:GetEncryptionConfiguration"]),
    ("S3", "GetBucketIntelligentTieringConfiguration", &["s3:GetIntelligentTieringConfiguration"]),
    ("S3", "GetBucketInventoryConfiguration", &["s3:GetInventoryConfiguration"]),
    ("S3", "GetBucketLifecycleConfiguration", &["s3:GetLifecycleConfiguration"]),
    ("S3", "GetBucketMetricsConfiguration", &["s3:GetMetricsConfiguration"]),
    ("S3", "GetBucketNotificationConfiguration", &["s3:GetBucketNotification"]),
    ("S3", "GetBucketReplication", &["s3:GetReplicationConfiguration"]),
    ("S3", "GetObjectAttributes", &["s3:GetObject", "s3:GetObjectAttributes"]),
    ("S3", "GetObjectLockConfiguration", &["s3:GetBucketObjectLockConfiguration"]),
    ("S3", "GetPublicAccessBlock", &["s3:GetBucketPublicAccessBlock"]),
    ("S3", "HeadBucket", &["s3:ListBucket"]),
    ("S3", "HeadObject", &["s3:GetObject"]),
    ("S3", "ListBucketAnalyticsConfigurations", &["s3:GetAnalyticsConfiguration"]),
    (
        "S3",
        "ListBucketIntelligentTieringConfigurations",
        &["s3:GetIntelligentTieringConfiguration"],
    ),
    ("S3", "ListBucketInventoryConfigurations", &["s3:GetInventoryConfiguration"]),
    ("S3", "ListBucketMetricsConfigurations", &["s3:GetMetricsConfiguration"]),
    ("S3", "ListBuckets", &["s3:ListAllMyBuckets"]),
    ("S3", "ListDirectoryBuckets", &["s3express:ListAllMyDirectoryBuckets"]),
    ("S3", "ListMultipartUploads", &["s3:ListBucketMultipartUploads"]),
    ("S3", "ListObjectVersions", &["s3:ListBucketVersions"]),
    ("S3", "ListObjects", &["s3:ListBucket"]),
    ("S3", "ListObjectsV2", &["s3:ListBucket"]),
    ("S3", "ListParts", &["s3:ListMultipartUploadParts"]),
    ("S3", "PutBucketAccelerateConfiguration", &["s3:PutAccelerateConfiguration"]),
    ("S3", "PutBucketAnalyticsConfiguration", &["s3:PutAnalyticsConfiguration"]),
    ("S3", "PutBucketEncryption", &["s3:PutEncryptionConfiguration"]),
    ("S3", "PutBucketIntelligentTieringConfiguration", &["s3:PutIntelligentTieringConfiguration"]),
    ("S3", "PutBucketInventoryConfiguration", &["s3:PutInventoryConfiguration"]),
    ("S3", "PutBucketLifecycleConfiguration", &["s3:PutLifecycleConfiguration"]),
    ("S3", "PutBucketMetricsConfiguration", &["s3:PutMetricsConfiguration"]),
    ("S3", "PutBucketNotificationConfiguration", &["s3:PutBucketNotification"]),
    ("S3", "PutBucketReplication", &["s3:PutReplicationConfiguration"]),
    ("S3", "PutObjectLockConfiguration", &["s3:PutBucketObjectLockConfiguration"]),
    ("S3", "PutPublicAccessBlock", &["s3:PutBucketPublicAccessBlock"]),
    ("S3", "SelectObjectContent", &["s3:GetObject"]),
    ("S3", "UploadPart", &["s3:PutObject"]),
    ("S3", "UploadPartCopy", &["s3:GetObject", "s3:PutObject"]),
];

/// An SDK operation for which no IAM action is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no IAM action is known for operation `{operation}` of AWS service `{service}`")]
pub struct UnmappedOperation {
    /// The SDK service id, such as `CloudWatch Logs`.
    pub service: String,
    /// The operation name, such as `StartQuery`.
    pub operation: String,
}

/// The IAM prefix of the service with this SDK service id, such as `logs` for `CloudWatch Logs`.
pub fn iam_prefix(sdk_service_id: &str) -> Option<&'static str> {
    SERVICES.iter().find(|(id, _)| *id == sdk_service_id).map(|&(_, prefix)| prefix)
}

/// The IAM actions that together authorize `operation` of the service with `sdk_service_id`.
///
/// Fails when the service is not in this map, or when the naming rule gives an action the
/// embedded catalogue does not know, which means the operation needs an entry among the
/// exceptions (or the catalogue is older than the SDK).
pub fn actions_for(
    sdk_service_id: &str,
    operation: &str,
) -> Result<Vec<Action>, UnmappedOperation> {
    let unmapped = || UnmappedOperation {
        service: sdk_service_id.to_owned(),
        operation: operation.to_owned(),
    };
    let prefix = iam_prefix(sdk_service_id).ok_or_else(unmapped)?;
    let catalog = Catalog::embedded();
    let known = |text: &str| catalog.lookup(text).map(|info| info.action.clone());

    let exception = EXCEPTIONS
        .iter()
        .find(|(service, name, _)| *service == sdk_service_id && *name == operation);
    match exception {
        Some((_, _, actions)) => {
            actions.iter().map(|action| known(action).ok_or_else(unmapped)).collect()
        }
        None => {
            known(&format!("{prefix}:{operation}")).map(|action| vec![action]).ok_or_else(unmapped)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(service: &str, operation: &str) -> Vec<String> {
        let actions = actions_for(service, operation).unwrap_or_else(|error| panic!("{error}"));
        actions.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_exception_names_known_actions() {
        for (service, operation, targets) in EXCEPTIONS {
            assert!(iam_prefix(service).is_some(), "{service} is not a mapped service");
            for target in *targets {
                assert!(
                    Catalog::embedded().lookup(target).is_some(),
                    "{service} {operation}: `{target}` is not in the catalogue"
                );
            }
            assert_eq!(actions(service, operation).len(), targets.len());
        }
    }

    #[test]
    fn exceptions_are_listed_once_and_sorted() {
        let keys: Vec<_> =
            EXCEPTIONS.iter().map(|(service, operation, _)| (service, operation)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn service_ids_are_unique_and_their_prefixes_known() {
        let mut ids: Vec<_> = SERVICES.iter().map(|(id, _)| id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), SERVICES.len());
        for (id, prefix) in SERVICES {
            assert!(Catalog::embedded().service(prefix).is_some(), "{id}: no service `{prefix}`");
        }
    }

    #[test]
    fn operations_map_by_the_naming_rule() {
        for (service, operation, expected) in [
            ("EC2", "DescribeVpcs", "ec2:DescribeVpcs"),
            ("EC2", "DescribeInstances", "ec2:DescribeInstances"),
            ("CloudWatch Logs", "StartQuery", "logs:StartQuery"),
            ("CloudWatch Logs", "GetQueryResults", "logs:GetQueryResults"),
            ("CloudWatch Logs", "DescribeLogGroups", "logs:DescribeLogGroups"),
            ("CloudWatch Logs", "FilterLogEvents", "logs:FilterLogEvents"),
            ("CloudWatch", "GetMetricData", "cloudwatch:GetMetricData"),
            ("CloudWatch", "ListMetrics", "cloudwatch:ListMetrics"),
            ("CloudWatch", "DescribeAlarms", "cloudwatch:DescribeAlarms"),
            ("Secrets Manager", "GetSecretValue", "secretsmanager:GetSecretValue"),
            ("Secrets Manager", "ListSecrets", "secretsmanager:ListSecrets"),
            ("EKS", "ListAddons", "eks:ListAddons"),
            ("EKS", "DescribeCluster", "eks:DescribeCluster"),
            ("IAM", "SimulatePrincipalPolicy", "iam:SimulatePrincipalPolicy"),
            ("IAM", "GetRole", "iam:GetRole"),
            ("Cost Explorer", "GetCostAndUsage", "ce:GetCostAndUsage"),
            ("Marketplace Metering", "RegisterUsage", "aws-marketplace:RegisterUsage"),
            ("Marketplace Metering", "MeterUsage", "aws-marketplace:MeterUsage"),
            ("STS", "GetCallerIdentity", "sts:GetCallerIdentity"),
            ("STS", "AssumeRole", "sts:AssumeRole"),
            ("Bedrock Runtime", "InvokeModel", "bedrock:InvokeModel"),
            ("S3", "GetObject", "s3:GetObject"),
            ("S3", "GetBucketPolicy", "s3:GetBucketPolicy"),
            (
                "Elastic Load Balancing v2",
                "DescribeLoadBalancers",
                "elasticloadbalancing:DescribeLoadBalancers",
            ),
            (
                "Elastic Load Balancing",
                "DescribeLoadBalancers",
                "elasticloadbalancing:DescribeLoadBalancers",
            ),
            ("RDS", "DescribeDBInstances", "rds:DescribeDBInstances"),
            ("ElastiCache", "DescribeCacheClusters", "elasticache:DescribeCacheClusters"),
            ("ECR", "DescribeRepositories", "ecr:DescribeRepositories"),
            ("ECR", "GetAuthorizationToken", "ecr:GetAuthorizationToken"),
            ("Auto Scaling", "DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingGroups"),
            ("Pricing", "GetProducts", "pricing:GetProducts"),
        ] {
            assert_eq!(actions(service, operation), [expected], "{service} {operation}");
        }
    }

    #[test]
    fn exceptions_override_the_rule() {
        assert_eq!(actions("S3", "ListBuckets"), ["s3:ListAllMyBuckets"]);
        assert_eq!(actions("S3", "ListObjectsV2"), ["s3:ListBucket"]);
        assert_eq!(actions("S3", "CopyObject"), ["s3:GetObject", "s3:PutObject"]);
        assert_eq!(actions("Bedrock Runtime", "Converse"), ["bedrock:InvokeModel"]);
        assert_eq!(
            actions("Bedrock Runtime", "ConverseStream"),
            ["bedrock:InvokeModelWithResponseStream"]
        );
    }

    #[test]
    fn returns_the_catalogue_spelling() {
        assert_eq!(actions("S3", "GetBucketCors"), ["s3:GetBucketCORS"]);
    }

    #[test]
    fn an_unknown_service_or_operation_is_unmapped() {
        let error = actions_for("Frobnicator", "Frob").unwrap_err();
        assert_eq!(
            error,
            UnmappedOperation { service: "Frobnicator".into(), operation: "Frob".into() }
        );
        assert_eq!(
            error.to_string(),
            "no IAM action is known for operation `Frob` of AWS service `Frobnicator`"
        );
        assert!(actions_for("EC2", "DescribeUnicorns").is_err());
        assert!(actions_for("EC2", "Describe Vpcs").is_err());
        assert_eq!(iam_prefix("Frobnicator"), None);
        assert_eq!(iam_prefix("CloudWatch Logs"), Some("logs"));
    }
}
